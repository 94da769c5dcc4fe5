"""Listener data rights (privacy.md, "The listener's controls"):

- ``encore export-user --data DIR --user-id U``: a zip with the listener's canonical
  events (never an IP address: ingest drops it), their recaps for every year, their
  cards, and a README explaining every file and field in plain language.
- ``encore erase-user --data DIR --user-id U``: records the request in
  ``privacy/erasures/``, then removes the listener from every dataset that holds them,
  rewriting only the partitions and files that do, each swapped in atomically.
  Idempotent: a second erasure changes nothing. Later runs exclude the listener because
  every job filters erasures first. Released facts are not re-drawn (see README text).

User ids never become file names: an export lives under ``exports/<export token>/``,
an HMAC of the user id with the share secret. The package is built in export.py, the
erasure done in erase.py; this module is the two commands.
"""

from __future__ import annotations

import argparse

from encore.platform.args import add_common
from encore.platform.config import share_secret
from encore.platform.context import RunContext
from encore.platform.errors import EncoreError
from encore.platform.identity import check_user_id
from encore.rights.erase import erase_user
from encore.rights.export import export_user

# The environment variable the data-request DAG hands the id through (--user-id-env), so
# that it is in no command line, Airflow XCom, rendered template or task log.
USER_ID_ENV = "ENCORE_REQUEST_USER_ID"


def add_arguments_for(command: str, p: argparse.ArgumentParser) -> None:
    add_common(p)
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--user-id", metavar="U", help="the listener's user id")
    who.add_argument(
        "--user-id-env",
        metavar="VAR",
        help=f"read the user id from environment variable VAR (the DAG's {USER_ID_ENV}): "
        "it then appears in no command line or log",
    )
    p.add_argument(
        "--demo", action="store_true", help="generated data: allow the labelled demo secret"
    )
    if command == "export-user":
        p.add_argument("--out", metavar="PATH", help="also copy the zip here")


def main_for(command: str, args: argparse.Namespace, cfg: dict) -> int:
    """`encore export-user` / `encore erase-user`: the parsed flags -> the stage."""
    user_id = args.user_id
    if args.user_id_env is not None:
        import os

        user_id = os.environ.get(args.user_id_env)
        if not user_id:
            raise EncoreError(
                f"--user-id-env {args.user_id_env}: the variable is not set or empty; set it "
                "to the listener's user id, or pass --user-id"
            )
        # the rule's message must not print the id either (it would reach the log)
        try:
            check_user_id(user_id)
        except EncoreError:
            raise EncoreError(
                f"--user-id-env {args.user_id_env}: the value is not a user id: use 1-128 "
                "letters, digits or _ . : @ + -"
            ) from None
    ctx = RunContext.from_args(args, cfg)
    if command == "export-user":
        return export(ctx, user_id=user_id, demo=args.demo, out=args.out)
    return erase(ctx, user_id=user_id, demo=args.demo)


def _secret(root: str, demo: bool) -> bytes:
    """The share secret: on a personal root (`encore me`) without ENCORE_SHARE_SECRET,
    the one its pages were made with (``.share-secret``); else ``share_secret``."""
    import os

    from encore import me
    from encore.platform.config import SECRET_ENV

    own = os.path.join(root, me.SECRET_FILE)
    if not demo and not os.environ.get(SECRET_ENV) and "://" not in root and os.path.exists(own):
        me.personal_secret(root)
    return share_secret(demo=demo, root=root)


def export(ctx: RunContext, *, user_id: str, demo: bool = False, out: str | None = None) -> int:
    """Build ``user_id``'s download-your-data package (and copy it to ``out``)."""
    check_user_id(user_id)
    secret = _secret(ctx.data, demo)
    export_user(ctx.session("export-user"), ctx.data, user_id, secret, run_id=ctx.run_id, out=out)
    return 0


def erase(ctx: RunContext, *, user_id: str, demo: bool = False) -> int:
    """Erase ``user_id`` from every output, for good (docs/privacy.md)."""
    check_user_id(user_id)
    secret = _secret(ctx.data, demo)
    erase_user(ctx.session("erase-user"), ctx.data, user_id, secret, run_id=ctx.run_id)
    return 0
