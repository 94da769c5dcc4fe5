"""The run: read the export, keep the files of its format, turn them into raw-log lines
and ingest those through the platform's own back half (encore/ingest/events.py); then
drop the plays another of the listener's sources holds, and store the listener's row."""

from __future__ import annotations

import os

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from encore.ingest.exports.adapters import Records, to_records
from encore.ingest.exports.duplicates import drop_cross_source_duplicates
from encore.ingest.exports.formats import (
    FORMATS,
    WITHOUT_MS,
    check_timezone,
    detect,
    supported_formats_text,
)
from encore.ingest.exports.listener import save_listener
from encore.ingest.exports.reading import read_entries
from encore.platform import datasets, identity, storage
from encore.platform.errors import EncoreError
from encore.platform.report import Report


def collect(
    input_path: str, source: str | None, user_id: str
) -> tuple[str, dict[str, Records], list[str]]:
    """(format, {file: records}, files skipped) for an export."""
    entries = list(read_entries(input_path))
    detected = {e.name: detect(e) for e in entries}
    if source is None:
        found = sorted({f for f in detected.values() if f})
        if not found:
            raise EncoreError(
                f"--input {input_path}: no listening history recognised; supported formats are "
                f"{supported_formats_text()} (pass --source FORMAT if the file names were changed)"
            )
        if len(found) > 1:
            raise EncoreError(
                f"--input {input_path} holds more than one format ({', '.join(found)}): "
                "pass --source FORMAT to choose one"
            )
        source = found[0]
    chosen = [e for e in entries if detected[e.name] == source]
    if not chosen and len(entries) == 1:
        chosen = entries  # one file, format given: trust --source
    if not chosen:
        raise EncoreError(f"--input {input_path}: no {source} files found ({FORMATS[source]})")
    skipped = [e.name for e in entries if e not in chosen]
    return source, {e.name: to_records(source, e, user_id) for e in chosen}, skipped


def ingest_export(
    spark: SparkSession,
    cfg: dict,
    *,
    root: str,
    run_id: str,
    source: str | None,
    input_path: str,
    user_id: str,
    timezone: str | None = None,
    quiet: bool = False,
) -> int:
    from encore.ingest.events import ingest_lines
    from encore.platform.spark import require_utc

    identity.check_user_id(user_id)
    if timezone:
        check_timezone(timezone)
    require_utc(spark, "ingest")
    erased = {r.user_id for r in datasets.erased_user_ids(spark, root).collect()}
    if user_id in erased:
        raise EncoreError(
            "this listener asked for erasure (privacy/erasures/): their export is not ingested"
        )
    fmt, by_file, skipped = collect(input_path, source, user_id)
    report = Report("ingest", root, run_id, quiet=quiet)
    report.set("export", {"format": fmt, "files": sorted(by_file), "skipped_files": skipped})
    report.say(f"{FORMATS[fmt]}: {len(by_file)} file(s)")  # logs outlive an erasure: no user id
    for name in skipped:
        report.skipped(name, f"not a {fmt} listening-history file")
    label = os.path.basename(os.path.normpath(input_path))
    source_of = {
        name: identity.export_source(user_id, f"{label}/{name}" if name != label else label)
        for name in by_file
    }
    rows = []
    for name, recs in by_file.items():
        if recs.problem:
            report.note(f"{name}: {recs.problem}")
        rows += [(value, original, source_of[name]) for value, original in recs.rows]
    lines = (
        spark.createDataFrame(rows, "value binary, original binary, source_file string").select(
            F.col("value").cast("string").alias("value"),
            F.col("original").cast("string").alias("original"),
            "source_file",
        )
        if rows
        else None
    )
    durations = None
    if fmt in WITHOUT_MS:
        tracks = datasets.read_dimension(spark, root, "catalog/tracks")
        if tracks is not None:
            durations = (
                tracks.where(F.col("duration_ms").isNotNull())
                .groupBy(
                    F.lower("track_name").alias("track_key"),
                    F.lower("artist_name").alias("artist_key"),
                )
                .agg(F.min("duration_ms").alias("duration_ms"))
            )
    work = datasets.path(root, f".ingest-{run_id}")
    try:
        report.phase("plays")
        result = ingest_lines(
            spark,
            cfg,
            root=root,
            run_id=run_id,
            work=work,
            report=report,
            lines=lines,
            files=sorted(source_of.values()),
            source=fmt,
            missing_ms="default" if fmt in WITHOUT_MS else "reject",
            durations=durations,
        )
        report.phase("other sources")
        drop_cross_source_duplicates(spark, root, user_id, run_id, report)
        report.phase("listener")
        save_listener(spark, root, user_id, timezone, run_id, report, cfg=cfg)
    finally:
        storage.delete(work)
    _listener_summary(report, result)
    report.finish()
    return 0


def _listener_summary(report: Report, result: dict) -> None:
    from encore.ingest.canonical import REASONS

    t = result["reconciliation"]["total"]
    skipped = t["quarantined"] + t["duplicates"]
    report.say(f"plays read {t['read']}, kept {t['accepted']}, skipped {skipped}")
    if t["duplicates"]:
        report.say(f"  {t['duplicates']:>6}  duplicates (the same play twice, e.g. in two files)")
    for reason, n in t["reasons"].items():
        report.say(f"  {n:>6}  {reason}: {REASONS.get(reason, reason)}")
    span = report.body.get("date_range") or {}
    if span.get("first"):
        report.say(f"plays from {span['first'][:10]} to {span['last'][:10]} (UTC)")
    ev = result["events"]
    report.say(f"new in events/: {ev['new']}; already there: {ev['already_present']}")
