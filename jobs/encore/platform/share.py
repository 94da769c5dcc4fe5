"""Private share links and export folders (privacy.md, "Security around recaps").

Every token is the first 26 characters of base32(HMAC-SHA256(secret, message)), lower
case, where the message starts with its purpose and a NUL byte (domain separation):

- a listener's recap page lives at ``site/Y/<share_token>/``, message ``page\\0<user_id>:Y``;
- their download-your-data package at ``exports/<export_token>/``, message ``export\\0<user_id>``.

So no token of one kind can equal a token of another kind (before this prefix,
``export_token(s, "2025")`` was ``share_token(s, "export", 2025)``). Tokens are
unguessable without the secret and never reveal the user id; no listing of tokens is
ever published.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

TOKEN_LENGTH = 26
PURPOSES = ("page", "export")


def token(secret: bytes, purpose: str, payload: str) -> str:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    message = purpose.encode("ascii") + b"\0" + payload.encode("utf-8")
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii")[:TOKEN_LENGTH].lower()


def share_token(secret: bytes, user_id: str, year: int) -> str:
    return token(secret, "page", f"{user_id}:{int(year)}")


def export_token(secret: bytes, user_id: str) -> str:
    return token(secret, "export", user_id)
