"""Listener data rights: ``export_user`` (export.py, download-your-data) and
``erase_user`` (erase.py, erasure); job.py is the two commands. ``from encore import
rights`` gives the names other packages and the tests use."""

from encore.platform.identity import check_user_id
from encore.platform.share import export_token
from encore.rights.erase import USER_DATASETS, erase_user, is_erased, scrub_lines
from encore.rights.export import EXPORT_README, export_user

__all__ = [
    "EXPORT_README",
    "USER_DATASETS",
    "check_user_id",
    "erase_user",
    "export_token",
    "export_user",
    "is_erased",
    "scrub_lines",
]
