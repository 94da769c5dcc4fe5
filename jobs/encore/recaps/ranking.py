"""The small pieces every column group shares: minutes from milliseconds, the ranking
order of recap-rules.md, top-n lists, exact shares, per-listener stream statistics."""

from __future__ import annotations

from decimal import Decimal

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

MS_PER_MINUTE = 60000


def minutes(ms: Column | str) -> Column:
    """⌊ms / 60000⌋ as a long (exact for any realistic sum: < 2^53 ms)."""
    return (
        F.floor(F.col(ms) / MS_PER_MINUTE) if isinstance(ms, str) else F.floor(ms / MS_PER_MINUTE)
    )


def ranking_order(*identity: str) -> list[Column]:
    """recap-rules.md's ranking order: streams desc, Σ ms desc, then the identity
    ascending. Spark compares strings as UTF-8 bytes, which is code-point order."""
    return [F.col("streams").desc(), F.col("ms").desc(), *[F.col(c).asc() for c in identity]]


def ranked(df: DataFrame, by: list[str], order: list[Column]) -> DataFrame:
    """``df`` with ``_rank`` = 1, 2, ... within each ``by`` group in ``order`` (a total order)."""
    return df.withColumn("_rank", F.row_number().over(Window.partitionBy(*by).orderBy(*order)))


def top_list(ranked_df: DataFrame, n: int, item: Column, name: str) -> DataFrame:
    """(user_id, name): the first ``n`` items of each listener as an array in rank order."""
    return (
        ranked_df.where(F.col("_rank") <= n)
        .groupBy("user_id")
        .agg(
            F.array_sort(
                F.collect_list(F.struct(F.col("_rank").alias("r"), item.alias("item")))
            ).alias("_ranked")
        )
        .select("user_id", F.transform("_ranked", lambda x: x["item"]).alias(name))
    )


def share_at_least(part: Column, whole: Column, share: float) -> Column:
    """part ≥ share × whole, in exact decimal arithmetic (no float rounding at 50 %)."""
    return part.cast("decimal(20,0)") >= F.lit(Decimal(str(share))) * whole.cast("decimal(20,0)")


def stream_stats(plays: DataFrame, keys: list[str]) -> DataFrame:
    """(user_id, *keys, streams, ms) over streams whose identity ``keys`` are all known."""
    streams = plays.where(F.col("is_stream"))
    for k in keys:
        streams = streams.where(F.col(k).isNotNull())
    return streams.groupBy("user_id", *keys).agg(
        F.count(F.lit(1)).alias("streams"), F.sum("ms_played").alias("ms")
    )
