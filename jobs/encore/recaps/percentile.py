"""The top-listener percent (recap-rules.md, "Top-listener percent"): "you're in the top
1% of X's listeners"."""

from __future__ import annotations

from decimal import Decimal

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def top_artist_percent(artists_ranked: DataFrame, eligible: DataFrame, rules: dict) -> DataFrame:
    """(user_id, top_artist_percent) for eligible listeners whose #1 artist has ≥ min listeners.

    The population of artist A is every eligible listener with ≥ 1 stream of A; a
    listener's place in it is 1 + the number with strictly more streams (rank()). That is
    computed from how many listeners have each stream count — (artist, streams, n) —
    so the ranking window runs over a few rows per artist, not over every listener of a
    hit artist (the skew a window partitioned by artist would have)."""
    top1 = (
        artists_ranked.where(F.col("_rank") == 1)
        .join(eligible, "user_id", "left_semi")
        .select("user_id", "artist_name", "streams")
    )
    counts = (
        artists_ranked.select("user_id", "artist_name", "streams")
        .join(eligible, "user_id", "left_semi")
        .join(top1.select("artist_name").distinct(), "artist_name", "left_semi")
        .groupBy("artist_name", "streams")
        .agg(F.count(F.lit(1)).alias("n"))
    )
    by_artist = Window.partitionBy("artist_name")
    more = by_artist.orderBy(F.col("streams").desc()).rowsBetween(Window.unboundedPreceding, -1)
    placed = counts.select(
        "artist_name",
        "streams",
        (F.coalesce(F.sum("n").over(more), F.lit(0)) + 1).alias("place"),
        F.sum("n").over(by_artist).alias("listeners"),
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
        top1.join(placed, ["artist_name", "streams"])
        .where(F.col("listeners") >= rules["percentile_min_listeners"])
        .select("user_id", F.array_min(fitting).cast("double").alias("top_artist_percent"))
    )
