"""The shared back half of every ingest (platform log, dimension tables, personal
exports): reconciliation (read = accepted + quarantined + duplicates + erased), the
erasure list applied to every record, and publication of events/ and quarantine/."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from encore.ingest import canonical
from encore.platform import datasets, identity, schemas, storage
from encore.platform.errors import EncoreError
from encore.platform.report import Report


# --- counting -------------------------------------------------------------------------
def reconcile(tagged: DataFrame, kept: DataFrame, files: list[str]) -> dict:
    """Per source file and in total: read = accepted + quarantined + duplicates + erased.

    ``tagged`` has one row per record read (source_file, reason, and ``erased`` when
    the record names a listener in privacy/erasures/: counted there, stored nowhere);
    ``kept`` one row per distinct accepted record (source_file of the copy kept). A
    file's duplicates are its accepted-looking records whose copy was kept elsewhere
    or earlier."""
    per_file: dict[str, dict] = {f: _zero() for f in files}
    flag = F.col("erased") if "erased" in tagged.columns else F.lit(False)
    for row in tagged.groupBy("source_file", "reason", flag.alias("erased")).count().collect():
        entry = per_file.setdefault(row.source_file, _zero())
        entry["read"] += row["count"]
        if row.erased:
            entry["erased"] += row["count"]
        elif row.reason is None:
            entry["_valid"] += row["count"]
        else:
            entry["quarantined"] += row["count"]
            entry["reasons"][row.reason] = entry["reasons"].get(row.reason, 0) + row["count"]
    for row in kept.groupBy("source_file").count().collect():
        per_file.setdefault(row.source_file, _zero())["accepted"] += row["count"]
    total = _zero()
    for entry in per_file.values():
        entry["duplicates"] = entry.pop("_valid") - entry["accepted"]
        entry["reasons"] = dict(sorted(entry["reasons"].items()))
        for k in ("read", "accepted", "quarantined", "duplicates", "erased"):
            total[k] += entry[k]
        for reason, n in entry["reasons"].items():
            total["reasons"][reason] = total["reasons"].get(reason, 0) + n
    total.pop("_valid")
    total["reasons"] = dict(sorted(total["reasons"].items()))
    balanced = all(
        e["read"] == e["accepted"] + e["quarantined"] + e["duplicates"] + e["erased"]
        and e["duplicates"] >= 0
        for e in [*per_file.values(), total]
    )
    return {"files": dict(sorted(per_file.items())), "total": total, "balanced": balanced}


def _zero() -> dict:
    return {
        "read": 0,
        "accepted": 0,
        "quarantined": 0,
        "duplicates": 0,
        "erased": 0,
        "reasons": {},
        "_valid": 0,
    }


def erased_flag(erased_ids: list[str], *, user_col: str | None = "user_id") -> Column:
    """Does a tagged record belong to an erased listener? Its parsed user column, or for a
    rejected record, the user fields it names (identity.named_ids_col), compared exactly."""
    if not erased_ids:
        return F.lit(False)
    named = identity.names_any(
        identity.named_ids_col(F.col("record"), F.col("source_file")), erased_ids
    )
    flag = F.col("reason").isNotNull() & named
    if user_col is not None:
        flag = F.coalesce(F.col(user_col).isin(sorted(set(erased_ids))), F.lit(False)) | flag
    return F.coalesce(flag, F.lit(False))


def without_erased_records(rows: DataFrame, erased_ids: list[str]) -> DataFrame:
    """Quarantine rows (record, source_file) that name no erased listener."""
    if not erased_ids:
        return rows
    return rows.where(
        ~identity.names_any(
            identity.named_ids_col(F.col("record"), F.col("source_file")), erased_ids
        )
    )


# --- publishing -------------------------------------------------------------------------
def has_data(uri: str) -> bool:
    storage.recover(uri)
    return storage.is_dir(uri) and any(not n.startswith((".", "_")) for n in storage.listdir(uri))


def month_filter(parts: list[tuple[int, int]]) -> Column:
    cond = F.lit(False)
    for y, m in parts:
        cond = cond | ((F.col("year") == y) & (F.col("month") == m))
    return cond


def publish_events(
    spark: SparkSession, root: str, accepted: DataFrame, erased: DataFrame, run_id: str
) -> dict:
    """Merge accepted events into events/ by event_id; rewrite only the months that gain
    a play. Returns counts: new, already_present, erased (not stored), months written.

    The first publication swaps the whole dataset in at once. Later ones build every
    changed month in staging and swap each ``year=Y/month=M`` folder in with one
    rename; a month is either its old or its new complete version (docs/ingest.md)."""
    final = datasets.path(root, datasets.EVENTS)
    cols = schemas.column_names(schemas.EVENT) + ["year", "month"]
    accepted = accepted.select(*cols)
    stored = datasets.without_erased(accepted, erased).select(*cols)
    n_accepted = accepted.count()
    n_stored = stored.count()
    result = {"accepted": n_accepted, "erased_not_stored": n_accepted - n_stored}
    if not has_data(final):
        if n_stored == 0:
            result.update(new=0, already_present=0, months_written=[])
            return result
        months = sorted(
            (r.year, r.month) for r in stored.select("year", "month").distinct().collect()
        )
        datasets.write_dataset(
            _layout(stored), final, run_id=run_id, partition_by=["year", "month"]
        )
        result.update(
            new=n_stored, already_present=0, months_written=[f"{y}-{m:02d}" for y, m in months]
        )
        return result

    touched = [(r.year, r.month) for r in stored.select("year", "month").distinct().collect()]
    existing = datasets.read_events(spark, root).where(month_filter(touched)).select(*cols)
    fresh = stored.join(existing.select("event_id"), on="event_id", how="left_anti")
    by_month = {
        (r.year, r.month): r["count"] for r in fresh.groupBy("year", "month").count().collect()
    }
    n_new = sum(by_month.values())
    result.update(new=n_new, already_present=n_stored - n_new)
    months = sorted(by_month)
    result["months_written"] = [f"{y}-{m:02d}" for y, m in months]
    if not months:
        return result
    merged = datasets.without_erased(
        existing.where(month_filter(months)).unionByName(fresh.where(month_filter(months))), erased
    ).select(*cols)
    replace_months(root, merged, months, run_id)
    return result


def replace_months(
    root: str, months_df: DataFrame, months: list[tuple[int, int]], run_id: str
) -> None:
    """Swap in the complete new version of each ``year=Y/month=M`` of events/ from
    ``months_df`` (which holds every row those months keep), one rename per month."""
    final = datasets.path(root, datasets.EVENTS)
    staged = storage.staging_path(final, run_id)
    storage.delete(staged)
    try:
        _layout(months_df).write.mode("overwrite").partitionBy("year", "month").parquet(staged)
        for y, m in months:
            month = storage.join(staged, f"year={y}", f"month={m}")
            if not storage.exists(month):  # every row of the month went: an empty month
                storage.delete(storage.join(final, f"year={y}", f"month={m}"))
                continue
            storage.publish(month, storage.join(final, f"year={y}", f"month={m}"), run_id)
    finally:
        storage.discard(staged)


def _layout(events: DataFrame) -> DataFrame:
    # one file per month, rows in (user, time) order: compact, and stable across runs
    return events.repartition("year", "month").sortWithinPartitions("user_id", "ts", "event_id")


def publish_quarantine(
    spark: SparkSession,
    root: str,
    rejected: DataFrame,
    files: list[str],
    run_id: str,
    erased_ids: list[str] | None = None,
) -> int:
    """quarantine/ = earlier rows of files not read in this run + this run's rows, none
    naming an erased listener. Re-reading a file replaces its rows, so re-ingesting
    never doubles the quarantine."""
    final = datasets.path(root, datasets.QUARANTINE)
    cols = schemas.column_names(schemas.QUARANTINE)
    rows = rejected.select("record", "reason", "source_file", F.lit(run_id).alias("run_id"))
    if has_data(final):
        read_now = spark.createDataFrame([(f,) for f in files], "source_file string")
        earlier = spark.read.schema(schemas.spark_schema(schemas.QUARANTINE)).parquet(final)
        earlier = without_erased_records(earlier, erased_ids or [])
        rows = (
            earlier.join(F.broadcast(read_now), on="source_file", how="left_anti")
            .select(*cols)
            .unionByName(rows)
        )
    staged_rows = (
        rows.select(*cols).coalesce(1).sortWithinPartitions("source_file", "reason", "record")
    )
    datasets.write_dataset(staged_rows, final, run_id=run_id)
    return spark.read.parquet(final).where(F.col("run_id") == run_id).count()


def ingest_lines(
    spark: SparkSession,
    cfg: dict,
    *,
    root: str,
    run_id: str,
    work: str,
    report: Report,
    lines: DataFrame | None,
    files: list[str],
    source: str | Column,
    missing_ms: str,
    durations: DataFrame | None = None,
    extra_rejected: DataFrame | None = None,
    extra_files: list[str] | None = None,
    nothing_read: str = "no listening-log files found",
) -> dict:
    """The shared back half of every ingest: tag, stage, count, publish, report
    (``nothing_read``: what the report says when ``lines`` is None)."""
    # the erasure requests (a short list of people): every record naming one of them is
    # counted as erased and stored nowhere, neither in events/ nor in quarantine/
    erased = datasets.erased_user_ids(spark, root)
    erased_ids = sorted(r.user_id for r in erased.collect())
    if lines is None:
        report.skipped("raw/events", nothing_read)
        tagged_files: list[str] = []
        rec = {
            "files": {},
            "total": {k: 0 for k in ("read", "accepted", "quarantined", "duplicates", "erased")}
            | {"reasons": {}},
            "balanced": True,
        }
        rejected = None
        pub = {
            "accepted": 0,
            "new": 0,
            "already_present": 0,
            "erased_not_stored": 0,
            "months_written": [],
        }
    else:
        tagged_path = storage.join(work, "tagged")
        tagged = canonical.parse_events(
            lines,
            ingest_cfg=cfg["ingest"],
            source=source,
            missing_ms=missing_ms,
            durations=durations,
        )
        tagged = tagged.withColumn("erased", erased_flag(erased_ids))
        tagged.write.mode("overwrite").parquet(tagged_path)  # the one pass over the input
        tagged = spark.read.parquet(tagged_path)
        accepted_path = storage.join(work, "accepted")
        canonical.accepted_events(tagged.where(~F.col("erased"))).write.mode("overwrite").parquet(
            accepted_path
        )
        accepted = spark.read.parquet(accepted_path)

        report.phase("reconcile")
        rec = reconcile(tagged, accepted, files)
        tagged_files = list(rec["files"])
        rejected = tagged.where(F.col("reason").isNotNull() & ~F.col("erased"))
        filled = {
            r.ms_filled: r["count"]
            for r in tagged.where(F.col("ms_filled").isNotNull())
            .groupBy("ms_filled")
            .count()
            .collect()
        }
        if filled.get("track_length"):
            report.note(
                f"{filled['track_length']} plays had no duration: counted as the track's length"
            )
        if filled.get("default"):
            report.note(
                f"{filled['default']} plays had no duration and no known track length: counted as "
                f"{cfg['ingest']['default_ms_played'] // 1000} s (ingest.default_ms_played)"
            )
        report.set("ms_played_from_track_length", filled.get("track_length", 0))
        report.set("ms_played_defaulted", filled.get("default", 0))
        span = accepted.agg(F.min("ts").alias("first"), F.max("ts").alias("last")).first()
        report.set(
            "date_range",
            {
                "first": str(span.first) if span.first else None,
                "last": str(span.last) if span.last else None,
            },
        )

        report.phase("publish events")
        pub = publish_events(spark, root, accepted, erased, run_id)

    report.phase("publish quarantine")
    all_rejected = [
        r.select("record", "reason", "source_file")
        for r in (rejected, extra_rejected)
        if r is not None
    ]
    quarantine_files = tagged_files + list(extra_files or [])
    written_q = None
    if all_rejected or quarantine_files:
        union = all_rejected[0] if all_rejected else None
        for r in all_rejected[1:]:
            union = union.unionByName(r)
        if union is None:
            union = spark.createDataFrame([], "record string, reason string, source_file string")
        written_q = publish_quarantine(spark, root, union, quarantine_files, run_id, erased_ids)

    rec_total = rec["total"]
    if not rec["balanced"]:  # cannot happen unless a rule above is broken: refuse to hide it
        raise EncoreError(
            f"ingest reconciliation does not add up: {rec_total}; nothing was hidden, see {work}"
        )
    report.set("reconciliation", rec)
    report.set("events", pub)
    report.set("quarantine_rows_written", written_q)
    report.read("records", rec_total["read"])
    report.say(
        f"        = accepted {rec_total['accepted']} + quarantined {rec_total['quarantined']} "
        f"+ duplicates {rec_total['duplicates']} + erased {rec_total['erased']}"
    )
    for reason, n in rec_total["reasons"].items():
        report.rejected(reason, n)
    report.wrote("events (new)", pub["new"])
    if pub["already_present"]:
        report.say(
            f"        {pub['already_present']} accepted plays were already in events/ (re-ingest)"
        )
    if rec_total["erased"]:
        report.say(f"        {rec_total['erased']} records of erased listeners were not stored")
    report.wrote("months rewritten", len(pub["months_written"]))
    if written_q is not None:
        report.wrote("quarantine rows (this run)", written_q)
    return {"reconciliation": rec, "events": pub}
