"""The listener's row in ``users/``: their time zone, given, kept or detected."""

from __future__ import annotations

from datetime import UTC, timedelta

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from encore.platform import datasets, localtime, schemas
from encore.platform.report import Report


def save_listener(
    spark: SparkSession,
    root: str,
    user_id: str,
    timezone: str | None,
    run_id: str,
    report: Report,
    *,
    cfg: dict | None = None,
) -> None:
    """Make sure users/ has a row for the listener, with their time zone.

    A personal export carries no zone (recap-rules.md, "Local time"): ``--timezone``
    sets it; else a zone stored earlier is kept; else, when at least 90 % of the
    listener's plays come from one country (``conn_country``) that has a single time
    zone, that zone is stored; otherwise none (UTC). The command says which and why.

    A new row is opted out of marketing: someone who brings their own export has not
    agreed to their plays feeding campaigns."""
    users = datasets.read_dimension(spark, root, "users")
    user_schema = schemas.spark_schema(schemas.USERS)
    mine = users.where(F.col("user_id") == user_id) if users is not None else None
    existing = mine.collect() if mine is not None else []
    stored = next((r["timezone"] for r in existing if r["timezone"]), None)
    share = ((cfg or {}).get("ingest") or {}).get("export_zone_share") or 0.9
    if timezone:
        zone, how, why = timezone, "--timezone", f"set by --timezone {timezone}"
    elif stored:
        zone, how, why = stored, "stored", f"stored by an earlier ingest ({stored})"
    else:
        detected, why = _detect_zone(spark, root, user_id, share)
        zone, how = (detected, "detected") if detected != "UTC" else (None, "fallback")
    shown = zone or "UTC"
    report.set("timezone", {"zone": shown, "how": how, "why": why, "tzdata": localtime.VERSION})
    report.say(f"time zone: {shown} ({why})")
    if how != "--timezone":
        report.say(
            "  to use another, ingest again with --timezone ZONE (e.g. --timezone Asia/Kolkata); "
            "recaps then follow it"
        )
    if existing and (how in ("stored", "fallback") or existing[0]["timezone"] == zone):
        return  # nothing to change
    row = spark.createDataFrame([(user_id, None, None, zone, None, True)], user_schema)
    if users is None:
        table = row
    else:
        if existing:
            row = mine.withColumn("timezone", F.lit(zone).cast("string"))
        table = users.where(F.col("user_id") != user_id).unionByName(row.select(*users.columns))
    datasets.write_dataset(
        table.coalesce(1).sortWithinPartitions("user_id"),
        datasets.path(root, "users"),
        run_id=run_id,
    )
    report.wrote(
        "users row", f"the listener's (time zone {shown})"
    )  # no user id: logs outlive an erasure


def _detect_zone(spark: SparkSession, root: str, user_id: str, share: float) -> tuple[str, str]:
    """(zone or "UTC", why) from the countries of the listener's plays in events/."""
    events = datasets.read_events(spark, root, required=False)
    rows = (
        events.where(F.col("user_id") == user_id)
        .groupBy("country")
        .agg(F.count(F.lit(1)).alias("n"), F.min("ts").alias("first"), F.max("ts").alias("last"))
        .collect()
    )
    if not rows:
        return "UTC", "no plays to look at: using UTC"
    first = min(r["first"] for r in rows)
    last = max(r["last"] for r in rows)
    start, end = (
        first.replace(tzinfo=first.tzinfo or UTC),
        last.replace(tzinfo=last.tzinfo or UTC),
    )
    return localtime.choose_export_zone(
        {r["country"]: r["n"] for r in rows}, start, end + timedelta(seconds=1), share=share
    )
