"""The listener's totals: minutes, streams, distinct counts, eligibility, the hour and
month clocks, the busiest day and longest streak, and the change vs last year."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from encore.recaps.ranking import minutes


def totals_and_clock(
    plays: DataFrame, artist_stats: DataFrame, track_stats: DataFrame, rules: dict
) -> DataFrame:
    """Minutes, streams, distinct counts, eligibility, the hour and month clocks.

    Built from three cheap aggregations instead of one wide one: plain sums over the
    plays; the clocks from Σ ms per (hour, month) first, so the 36 conditional sums run
    over at most 288 rows per listener instead of every play; and the distinct counts
    as the number of rows of the per-artist and per-track stream statistics (a
    ``count(DISTINCT ...)`` would make Spark copy every play once per distinct group)."""
    ms = F.col("ms_played")
    stream = F.col("is_stream")
    sums = plays.groupBy("user_id").agg(
        F.coalesce(F.sum(ms), F.lit(0)).alias("listening_ms"),
        F.coalesce(F.sum(F.when(F.col("kind") == "track", ms)), F.lit(0)).alias("music_ms"),
        F.coalesce(F.sum(F.when(F.col("kind") == "episode", ms)), F.lit(0)).alias("podcast_ms"),
        F.count(F.when(stream, True)).alias("streams"),
        F.count(F.when(~F.col("private"), True)).alias("public_plays"),
    )
    slot_ms = (
        plays.where(~F.col("private"))
        .groupBy("user_id", "local_hour", "local_month")
        .agg(F.sum(ms).alias("ms"))
    )
    hour_ms = [
        F.coalesce(F.sum(F.when(F.col("local_hour") == h, F.col("ms"))), F.lit(0))
        for h in range(24)
    ]
    month_ms = [
        F.coalesce(F.sum(F.when(F.col("local_month") == m, F.col("ms"))), F.lit(0))
        for m in range(1, 13)
    ]
    clock = slot_ms.groupBy("user_id").agg(
        F.array(*hour_ms).alias("hourly_ms"), F.array(*month_ms).alias("monthly_ms")
    )
    n_artists = artist_stats.groupBy("user_id").agg(F.count(F.lit(1)).alias("distinct_artists"))
    n_tracks = track_stats.groupBy("user_id").agg(F.count(F.lit(1)).alias("distinct_tracks"))
    agg = (
        sums.join(clock, "user_id", "left")
        .join(n_artists, "user_id", "left")
        .join(n_tracks, "user_id", "left")
    )
    zeros = lambda n: F.array_repeat(F.lit(0).cast("long"), n)  # noqa: E731
    agg = agg.select(
        "user_id",
        "listening_ms",
        "music_ms",
        "podcast_ms",
        "streams",
        "public_plays",
        F.coalesce(F.col("distinct_artists"), F.lit(0)).alias("distinct_artists"),
        F.coalesce(F.col("distinct_tracks"), F.lit(0)).alias("distinct_tracks"),
        F.coalesce(F.col("hourly_ms"), zeros(24)).alias("hourly_ms"),
        F.coalesce(F.col("monthly_ms"), zeros(12)).alias("monthly_ms"),
    )
    return agg.select(
        "user_id",
        (
            (F.col("streams") >= rules["eligible_min_streams"])
            & (F.col("distinct_artists") >= rules["eligible_min_distinct_artists"])
        ).alias("eligible"),
        minutes("listening_ms").alias("listening_minutes"),
        minutes("music_ms").alias("music_minutes"),
        minutes("podcast_ms").alias("podcast_minutes"),
        "streams",
        "distinct_tracks",
        "distinct_artists",
        F.transform("hourly_ms", lambda x: minutes(x)).alias("hourly_minutes"),
        # earliest hour with the largest unfloored Σ ms; null without non-private plays
        F.when(
            F.col("public_plays") > 0, F.array_position("hourly_ms", F.array_max("hourly_ms")) - 1
        ).alias("peak_hour"),
        F.transform("monthly_ms", lambda x: minutes(x)).alias("monthly_minutes"),
    )


def days(plays: DataFrame) -> DataFrame:
    """busiest_day(+minutes) over non-private plays; longest_streak_days over stream days.

    One aggregation per (listener, local date), then one row per listener: the busiest
    day is the smallest (−ms, date) — the largest Σ ms, the earliest date on ties — and
    the streak one pass (``aggregate``) over the listener's sorted stream dates (at most
    366), counting a run up while each date follows the one before."""
    per_day = (
        plays.where(~F.col("private"))
        .groupBy("user_id", "local_date")
        .agg(
            F.sum("ms_played").alias("ms"),
            F.max(F.col("is_stream").cast("int")).alias("has_stream"),
        )
    )
    listeners = per_day.groupBy("user_id").agg(
        F.min(F.struct((-F.col("ms")).alias("neg_ms"), F.col("local_date").alias("day"))).alias(
            "b"
        ),
        # collect_list skips the nulls: the dates with a stream
        F.array_sort(F.collect_list(F.when(F.col("has_stream") == 1, F.col("local_date")))).alias(
            "_stream_days"
        ),
    )
    return listeners.select(
        "user_id",
        F.col("b.day").alias("busiest_day"),
        minutes(-F.col("b.neg_ms")).alias("busiest_day_minutes"),
        longest_run(F.col("_stream_days")).alias("longest_streak_days"),
    )


def longest_run(dates: Column) -> Column:
    """The longest run of consecutive dates in a sorted array of distinct dates; null when
    it is empty (the recap makes that 0)."""
    start = F.struct(
        F.lit(None).cast("date").alias("prev"),
        F.lit(0).alias("run"),
        F.lit(0).alias("best"),
    )

    def step(acc: Column, day: Column) -> Column:
        run = F.when(F.date_diff(day, acc["prev"]) == 1, acc["run"] + 1).otherwise(F.lit(1))
        return F.struct(
            day.alias("prev"), run.alias("run"), F.greatest(acc["best"], run).alias("best")
        )

    best = F.aggregate(dates, start, step)["best"]
    return F.when(F.size(dates) > 0, best)


def minutes_change_pct(previous: DataFrame | None) -> tuple[DataFrame | None, Column]:
    """(last year's minutes per listener, the rounded change column)."""
    if previous is None:
        return None, F.lit(None).cast("double")
    last = previous.select("user_id", F.col("listening_minutes").alias("last_minutes"))
    last_m = F.col("last_minutes").cast("decimal(20,0)")
    change = (F.col("listening_minutes").cast("decimal(20,0)") - last_m) * 100 / last_m
    pct = F.when(
        F.col("last_minutes").isNotNull() & (F.col("last_minutes") != 0),
        F.round(change, 1).cast("double"),
    )  # ROUND is half-up on the exact decimal
    return last, pct
