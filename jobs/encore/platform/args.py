"""The command-line flags every data command shares (--data, --year, --run-id,
--spark-profile) and their rules. Stages declare their own flags with these; the CLI
(encore.cli) only dispatches."""

from __future__ import annotations

import argparse
import re

from encore.platform import years


def add_common(p: argparse.ArgumentParser, *, data: bool = True, year: bool = False) -> None:
    """Flags shared by the data commands."""
    if data:
        p.add_argument(
            "--data",
            metavar="DIR",
            help="data root (local path or s3a:// / hdfs:// URI); default: conf paths.data_root",
        )
    if year:
        p.add_argument(
            "--year", type=_year, required=True, metavar="Y", help="the recap year, e.g. 2025"
        )
    p.add_argument(
        "--run-id",
        type=run_id,
        help="identifier for this run (default: time-based); the DAGs pass "
        "theirs: letters, digits, '.', '_' and '-', at most 128, starting and ending with a letter, "
        "digit or '_'",
    )
    p.add_argument(
        "--spark-profile", help="Spark profile from conf/encore.toml (local, test, cluster)"
    )


# what dags/encore_common.safe_run_id produces: the run id names staging folders and reports
_RUN_ID = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9._-]{0,126}[A-Za-z0-9_])?")


def run_id(text: str) -> str:
    """--run-id: a file-name-safe word (it becomes part of paths), checked with fullmatch."""
    if not _RUN_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a run id: use letters, digits, '.', '_' and '-' (at most 128, starting and "
            "ending with a letter, digit or '_'), e.g. 20261201T030000Z-1a2b3c"
        )
    return text


def _year(text: str) -> int:
    try:
        y = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a year: {text!r}") from None
    if not years.is_year(y):
        raise argparse.ArgumentTypeError(
            f"year out of range {years.FIRST_YEAR}..{years.LAST_YEAR}: {y}"
        )
    return y
