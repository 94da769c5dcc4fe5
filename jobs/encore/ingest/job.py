"""`encore ingest`: raw logs (or one listener's personal export) -> canonical events.

    encore ingest --data DIR
    encore ingest --data DIR --source FORMAT --input PATH --user-id U [--timezone TZ]

The platform run reads the dimension tables under raw/ (users, catalog, playlists,
erasures; encore/ingest/dimensions.py) and the listening log under ``raw/events/**`` (gzip
or plain JSON Lines, or CSV), tags every line with the rules of encore/ingest/canonical.py,
and publishes:

- ``events/year=Y/month=M/`` — accepted plays, de-duplicated by event_id, merged with
  what is already there (only the months that gain a play are rewritten);
- ``quarantine/`` — every rejected record with its reason and source file;
- ``reports/ingest-<run>.json`` — per file: read = accepted + quarantined + duplicates.

One pass over the input: the raw lines are parsed once into a staging Parquet file
under the data root, and every count and output is computed from that.
A personal export (``--source``/``--input``) goes through encore/ingest/exports.py, which
turns the export into the same lines and calls back into this module.
docs/ingest.md explains the rules and decisions.
"""

from __future__ import annotations

import argparse

from pyspark.sql import SparkSession

from encore.ingest import canonical, dimensions, events
from encore.ingest.events import ingest_lines
from encore.ingest.files import list_files, read_lines, supported
from encore.platform import datasets, storage
from encore.platform.args import add_common
from encore.platform.errors import EncoreError
from encore.platform.report import Report
from encore.platform.spark import require_utc


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common(p)
    from encore.ingest.exports import FORMATS

    p.add_argument(
        "--source",
        metavar="FORMAT",
        help=f"a personal export's format: {', '.join(FORMATS)} (default: detected from the files)",
    )
    p.add_argument(
        "--input", metavar="PATH", help="the personal export: a folder, a file or a .zip"
    )
    p.add_argument("--user-id", metavar="U", help="whose export it is (the user_id its plays get)")
    p.add_argument(
        "--timezone",
        metavar="TZ",
        help="the listener's IANA time zone, e.g. Europe/Paris (stored in users/, used by recaps)",
    )


def run(args: argparse.Namespace, cfg: dict) -> int:
    from encore.platform.spark import get_session

    personal = any(getattr(args, a, None) for a in ("source", "input", "user_id", "timezone"))
    if personal:
        from encore.ingest import exports

        exports.check_args(args)
    run_id = args.run_id or storage.new_run_id()
    spark = get_session(cfg, "ingest", getattr(args, "spark_profile", None))
    if personal:
        from encore.ingest import exports

        return exports.ingest_export(
            spark,
            cfg,
            root=args.data,
            run_id=run_id,
            source=args.source,
            input_path=args.input,
            user_id=args.user_id,
            timezone=args.timezone,
        )
    ingest_platform(spark, cfg, root=args.data, run_id=run_id)
    return 0


# --- the platform run --------------------------------------------------------------------
def ingest_platform(
    spark: SparkSession, cfg: dict, *, root: str, run_id: str, quiet: bool = False
) -> dict:
    """Dimensions, then the listening log. Returns the report body."""

    require_utc(spark, "ingest")
    report = Report("ingest", root, run_id, quiet=quiet)
    raw = datasets.path(root, "raw")
    if not storage.is_dir(raw):
        if events.has_data(
            datasets.path(root, datasets.EVENTS)
        ):  # e.g. a self-hoster's personal exports only
            report.skipped("raw", "no raw/ folder: nothing new to ingest; events/ is left as it is")
            report.finish()
            return report.body
        raise EncoreError(
            f"no raw/ folder under {root}: run `encore generate --out {root} ...` or pass "
            "--source/--input/--user-id for a personal export"
        )
    work = datasets.path(root, f".ingest-{run_id}")
    try:
        report.phase("dimension tables")
        dim = dimensions.ingest_all(spark, root=root, run_id=run_id, work=work, report=report)

        report.phase("listening log")
        found, other = supported(list_files(datasets.path(root, "raw", "events")))
        for rel in other:
            report.skipped(f"raw/events/{rel}", "not .jsonl/.json/.csv (optionally .gz): not read")
        events_result = ingest_lines(
            spark,
            cfg,
            root=root,
            run_id=run_id,
            work=work,
            report=report,
            lines=read_lines(spark, root, [f for f, _ in found]) if found else None,
            files=[f"raw/events/{rel}" for _, rel in found],
            source=canonical.SOURCE_PLATFORM,
            extra_rejected=dim["rejected"],
            extra_files=dim["files"],
            missing_ms="reject",
        )
        report.set("dimensions", dim["summary"])
    finally:
        storage.delete(work)
    report.finish()
    return {**report.body, **events_result}
