"""The top-listener percents (recap-rules.md, "Top-listener percent"): "you're in the top
1% of X's listeners", for the listener's #1 artist and, the same way, their #1 track."""

from __future__ import annotations

from decimal import Decimal

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def top_percent(
    stats: DataFrame,
    top1: DataFrame,
    identity: list[str],
    eligible: DataFrame,
    rules: dict,
    name: str,
) -> DataFrame:
    """(user_id, ``name``) for eligible listeners whose #1 item (by ``identity``: an artist,
    or an (artist, track)) has ≥ ``percentile_min_listeners`` listeners.

    ``stats`` is (user_id, *identity, streams, ...) per listener and item; ``top1`` is
    (user_id, *identity, streams) of each listener's #1 item in ranking order (the head
    of the listener's top list, so the ranking is not sorted again here). The
    population of item X is every eligible listener with ≥ 1 stream of X; a listener's
    place in it is 1 + the number with strictly more streams (rank()). That is computed
    from how many listeners have each stream count — (item, streams, n) — so the ranking
    window runs over a few rows per item, not over every listener of a hit (the skew a
    window partitioned by item would have)."""
    top1 = top1.join(eligible, "user_id", "left_semi").select("user_id", *identity, "streams")
    counts = (
        stats.select("user_id", *identity, "streams")
        .join(eligible, "user_id", "left_semi")
        .join(top1.select(*identity).distinct(), identity, "left_semi")
        .groupBy(*identity, "streams")
        .agg(F.count(F.lit(1)).alias("n"))
    )
    by_item = Window.partitionBy(*identity)
    more = by_item.orderBy(F.col("streams").desc()).rowsBetween(Window.unboundedPreceding, -1)
    placed = counts.select(
        *identity,
        "streams",
        (F.coalesce(F.sum("n").over(more), F.lit(0)) + 1).alias("place"),
        F.sum("n").over(by_item).alias("listeners"),
    )
    # smallest bucket b with b ≥ 100·rank/n ⇔ b·n ≥ 100·rank, in exact decimals
    buckets = F.array(
        *[F.lit(Decimal(str(b))).cast("decimal(10,4)") for b in rules["percentile_buckets"]]
    )
    fitting = F.filter(
        buckets,
        lambda b: (
            b * F.col("listeners").cast("decimal(20,0)")
            >= F.col("place").cast("decimal(20,0)") * 100
        ),
    )
    return (
        top1.join(placed, [*identity, "streams"])
        .where(F.col("listeners") >= rules["percentile_min_listeners"])
        .select("user_id", F.array_min(fitting).cast("double").alias(name))
    )


def head(top: DataFrame, column: str, fields: list[str]) -> DataFrame:
    """(user_id, *fields) of the first item of each listener's top list ``column``."""
    first = F.get(F.col(column), 0)
    return top.select("user_id", *[first[f].alias(f) for f in fields]).where(
        F.col(fields[0]).isNotNull()
    )


def top_artist_percent(
    artist_stats: DataFrame, top_artists: DataFrame, eligible: DataFrame, rules: dict
) -> DataFrame:
    """(user_id, top_artist_percent): the listener's #1 artist, the first of
    ``top_artists``."""
    top1 = head(top_artists, "top_artists", ["artist_name", "streams"])
    return top_percent(artist_stats, top1, ["artist_name"], eligible, rules, "top_artist_percent")


def top_track_percent(
    track_stats: DataFrame, top_tracks: DataFrame, eligible: DataFrame, rules: dict
) -> DataFrame:
    """(user_id, top_track_percent): the listener's #1 track, the first of ``top_tracks``
    (a track is (artist_name, track_name), as everywhere in the recap)."""
    top1 = head(top_tracks, "top_tracks", ["artist_name", "track_name", "streams"])
    return top_percent(
        track_stats, top1, ["artist_name", "track_name"], eligible, rules, "top_track_percent"
    )
