"""Private share links (privacy.md, "Security around recaps").

A listener's recap page lives at ``site/Y/<token>/`` where ``token`` is the first 26
characters of base32(HMAC-SHA256(secret, "user_id:Y")), lower case. The token is
unguessable without the secret and never reveals the user id; no listing of tokens
is ever published.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

TOKEN_LENGTH = 26


def share_token(secret: bytes, user_id: str, year: int) -> str:
    digest = hmac.new(secret, f"{user_id}:{year}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii")[:TOKEN_LENGTH].lower()

