"""The top-listener percents (recap-rules.md, "Top-listener percent"): "you're in the top
1% of X's listeners", for the listener's #1 artist and, the same way, their #1 track."""

from __future__ import annotations

from decimal import Decimal

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def top_percent(
    ranked_stats: DataFrame, identity: list[str], eligible: DataFrame, rules: dict, name: str
) -> DataFrame:
    """(user_id, ``name``) for eligible listeners whose #1 item (by ``identity``: an artist,
    or an (artist, track)) has ≥ ``percentile_min_listeners`` listeners.

    ``ranked_stats`` is (user_id, *identity, streams, ms, _rank) in ranking order. The
    population of item X is every eligible listener with ≥ 1 stream of X; a listener's
    place in it is 1 + the number with strictly more streams (rank()). That is computed
    from how many listeners have each stream count — (item, streams, n) — so the ranking
    window runs over a few rows per item, not over every listener of a hit (the skew a
    window partitioned by item would have)."""
    top1 = (
        ranked_stats.where(F.col("_rank") == 1)
        .join(eligible, "user_id", "left_semi")
        .select("user_id", *identity, "streams")
    )
    counts = (
        ranked_stats.select("user_id", *identity, "streams")
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


def top_artist_percent(artists_ranked: DataFrame, eligible: DataFrame, rules: dict) -> DataFrame:
    """(user_id, top_artist_percent): the listener's #1 artist."""
    return top_percent(artists_ranked, ["artist_name"], eligible, rules, "top_artist_percent")


def top_track_percent(tracks_ranked: DataFrame, eligible: DataFrame, rules: dict) -> DataFrame:
    """(user_id, top_track_percent): the listener's #1 track, the first of ``top_tracks``
    (a track is (artist_name, track_name), as everywhere in the recap)."""
    return top_percent(
        tracks_ranked, ["artist_name", "track_name"], eligible, rules, "top_track_percent"
    )
