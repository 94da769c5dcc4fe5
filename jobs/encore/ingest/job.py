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
A personal export (``--source``/``--input``) goes through encore/ingest/exports/, which
turns the export into the same lines and calls back into this module.
docs/ingest.md explains the rules and decisions.
"""

from __future__ import annotations

import argparse

from pyspark.sql import SparkSession

from encore.ingest import canonical, dimensions, events
from encore.ingest.events import ingest_lines
from encore.ingest.files import list_files, new_or_changed, read_lines, supported, write_manifest
from encore.platform import config, datasets, locks, storage
from encore.platform.args import add_common
from encore.platform.context import RunContext
from encore.platform.errors import EncoreError
from encore.platform.report import Report
from encore.platform.spark import require_utc
from encore.rights.erase import carry_out_erasures


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
        "--reread",
        action="store_true",
        help="read every raw/events file again, not only the new or changed ones",
    )
    p.add_argument(
        "--timezone",
        metavar="TZ",
        help="the listener's IANA time zone, e.g. Europe/Paris (stored in users/, used by recaps)",
    )


def main(args: argparse.Namespace, cfg: dict) -> int:
    """`encore ingest`: the parsed flags -> :func:`run`."""
    return run(
        RunContext.from_args(args, cfg),
        source=args.source,
        input_path=args.input,
        user_id=args.user_id,
        timezone=args.timezone,
        reread=args.reread,
    )


def run(
    ctx: RunContext,
    *,
    source: str | None = None,
    input_path: str | None = None,
    user_id: str | None = None,
    timezone: str | None = None,
    reread: bool = False,
) -> int:
    """The platform's raw logs, or (with ``input_path``) one listener's personal export.
    ``reread``: read every raw/events file, not only those new or changed since read."""
    if any((source, input_path, user_id, timezone)):
        from encore.ingest import exports

        exports.check_args(source=source, input_path=input_path, user_id=user_id, timezone=timezone)
        with locks.hold(ctx.data, "ingest", ctx.run_id):
            return exports.ingest_export(
                ctx.session("ingest"),
                ctx.cfg,
                root=ctx.data,
                run_id=ctx.run_id,
                source=source,
                input_path=input_path,
                user_id=user_id,
                timezone=timezone,
            )
    with locks.hold(ctx.data, "ingest", ctx.run_id):
        ingest_platform(
            ctx.session("ingest"),
            ctx.cfg,
            root=ctx.data,
            run_id=ctx.run_id,
            quiet=ctx.quiet,
            reread=reread,
        )
    # the dump's erasure requests are carried out once its data is published, under the
    # erasure lock (no stage may write beside it), so ingest's own lock is released first
    carry_out_erasures(
        ctx.session("ingest"),
        ctx.data,
        config.known_share_secret(ctx.data),
        run_id=ctx.run_id,
        quiet=ctx.quiet,
    )
    return 0


# --- the platform run --------------------------------------------------------------------
def ingest_platform(
    spark: SparkSession,
    cfg: dict,
    *,
    root: str,
    run_id: str,
    quiet: bool = False,
    reread: bool = False,
) -> dict:
    """Dimensions, then the listening log: the raw/events files that are new or changed
    since a run read them (all of them with ``reread``). Returns the report body."""

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
        every = found
        found, prints, unchanged = new_or_changed(root, every, every=reread)
        report.set("raw_files", {"found": len(every), "read": len(found), "unchanged": unchanged})
        if unchanged:
            report.skipped(
                f"{unchanged} raw/events files",
                "read before and unchanged (same size and SHA-256): not read again; "
                "`encore ingest --reread` reads every file",
            )
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
            nothing_read="no new or changed listening-log files"
            if every
            else "no listening-log files found",
        )
        report.set("dimensions", dim["summary"])
        write_manifest(root, prints, found, run_id)  # only once events/ is published
    finally:
        storage.delete(work)
    report.finish()
    return {**report.body, **events_result}
