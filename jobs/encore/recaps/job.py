"""`encore recaps --data DIR --year Y`: one row per listener with every column of
recap-rules.md, written to ``recaps/year=Y/`` and published atomically.

Shape of the stage (set-based Spark, DataFrame API only, no Python UDF, nothing
per-listener on the driver), one module per step:

1. ``plays.window_plays``: the one scan of the window's plays — erased listeners
   removed first, the listener's local time attached, ``private`` and ``is_stream``
   flags — shuffled once by ``user_id`` and cached, because every column group below
   reads it and groups, ranks or joins by listener (so none of them shuffles it again).
2. ``plays.earlier_streams``: the only other read of the events, for ``new_artists``:
   (user, artist) of the streams before the window start, shuffled by listener too.
3. One small function per column group, each returning one row per listener:
   ``totals`` (totals and clock, days, change vs last year), ``tops`` (top lists,
   monthly top artist), ``percentile``, ``personality`` (and the columns its letters
   read); ``ranking`` holds what they share.
4. ``build.recaps_from_plays`` joins them on ``user_id``; ``build.conform`` casts to
   exactly ``schemas.RECAP`` and checks it.

This module is the command: its arguments, and ``run``, which reads the inputs,
reports, and writes. Decisions the rules leave open are written down in docs/recaps.md
("Decisions").
"""

from __future__ import annotations

import argparse
import time

from pyspark.sql import functions as F

from encore.platform import datasets, localtime, storage
from encore.platform.args import add_common
from encore.platform.context import RunContext
from encore.recaps.build import recaps_from_plays, session_settings
from encore.recaps.plays import (
    earlier_streams,
    partitions_for,
    window_plays,
    zone_census,
    zone_report,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common(p, year=True)
    p.add_argument(
        "--timezone",
        metavar="ZONE",
        help="IANA time zone for every listener (a personal export); default: users table, else UTC",
    )


def main(args: argparse.Namespace, cfg: dict) -> int:
    """`encore recaps`: the parsed flags -> :func:`run`."""
    return run(RunContext.from_args(args, cfg), timezone=args.timezone)


def run(ctx: RunContext, *, timezone: str | None = None) -> int:
    """The year's recap per listener -> recaps/year=Y/. ``timezone`` puts every
    listener's clock in one zone (a personal root), else each listener's own."""
    rules, year, root = ctx.cfg["recaps"], ctx.need_year("recaps"), ctx.data
    report = ctx.report("recaps")
    spark = ctx.session("recaps")
    if timezone is not None:
        localtime.require_zone(timezone)

    session_settings(spark)
    report.phase("reading inputs")
    events = datasets.read_events(spark, root)
    users = datasets.read_dimension(spark, root, "users")
    if users is None and timezone is None:
        report.skipped("local time zones", "no users table: every listener's clock is UTC")
    tracks = datasets.read_dimension(spark, root, "catalog/tracks")
    if tracks is None:
        report.skipped("release years", "no catalog/tracks: personality is null for everyone")
    artists = datasets.read_dimension(spark, root, "catalog/artists")
    if artists is None:
        report.skipped("genres", "no catalog/artists: top_genres is empty for everyone")
    erased = datasets.erased_user_ids(spark, root)
    previous = None
    last_path = datasets.recaps_path(root, year - 1)
    storage.recover(last_path)
    if storage.is_dir(last_path) and storage.listdir(last_path):
        previous = spark.read.parquet(last_path)
    else:
        report.note(f"no recaps for {year - 1}: minutes_change_pct is null for everyone")

    report.phase("scanning the window's plays")
    from encore.platform.spark import plays_per_task

    parts = partitions_for(events, year, plays_per_task(spark))
    report.set("listener_partitions", parts)
    census = zone_census(users) if timezone is None else {}
    zones = zone_report(census, timezone)
    report.set("local_time", zones)
    report.say(
        f"local time: IANA tzdata {zones['tzdata']} (the project's, not the JVM's), {zones['zones']} zone(s)"
        + (
            f"; {zones['unknown_zone_listeners']} listener(s) in a zone it does not know "
            f"({', '.join(zones['unknown_zones'])}) count as UTC"
            if zones["unknown_zone_listeners"]
            else ""
        )
    )
    plays = window_plays(
        events,
        users,
        erased,
        year=year,
        rules=rules,
        timezone=timezone,
        partitions=parts,
        census=census,
    ).cache()
    n_plays = plays.count()
    report.read("plays in window", n_plays)
    if n_plays == 0:
        report.note(f"no plays in the {year} window: the recaps dataset will be empty")

    report.phase("computing and writing recaps")
    started = time.monotonic()
    earlier = earlier_streams(events, erased, year=year, rules=rules, partitions=parts)
    recaps = recaps_from_plays(plays, earlier, tracks, artists, previous, year=year, rules=rules)
    final = datasets.recaps_path(root, year)
    datasets.write_dataset(recaps, final, run_id=report.run_id)
    compute_s = time.monotonic() - started
    spark.catalog.clearCache()

    report.phase("checking what was written")
    row = (
        spark.read.parquet(final)
        .agg(
            F.count(F.lit(1)).alias("rows"),
            F.coalesce(F.sum(F.col("eligible").cast("long")), F.lit(0)).alias("eligible"),
        )
        .first()
    )
    report.wrote(f"recaps/year={year}", row["rows"])
    report.set("eligible", row["eligible"])
    report.say(f"eligible listeners: {row['eligible']} of {row['rows']}")
    wall = time.monotonic() - report.started
    report.set("plays_per_s", round(n_plays / wall) if wall > 0 else None)
    report.say(
        f"{n_plays} plays in {wall:.1f} s ({n_plays / max(wall, 1e-9):,.0f} plays/s; "
        f"recap computation and write {compute_s:.1f} s)"
    )
    report.finish()
    return 0
