"""The listening personality (recap-rules.md, "Listening personality"): its four
letters and the columns they are read from — the release-year median, the streams of
the year's global top artists, the artists new to the listener."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from encore.recaps.ranking import ranking_order, share_at_least


def new_artists(artist_stats: DataFrame, earlier: DataFrame) -> DataFrame:
    """(user_id, new_artists) for listeners with a stream before the window start; the
    others get no row (→ null: we can't know what is new to them).

    ``earlier`` is earlier_streams: (user_id, artist_name) rows partitioned by listener
    like ``artist_stats``. The two go through one aggregation per (listener, artist) —
    the year's artists marked ``now`` — and one per listener: an artist is new when no
    earlier row has it, a listener has history when any earlier row (even with a null
    artist) is theirs. One reader, so the earlier years are scanned once (two readers
    of different columns would each scan them), and no shuffle: both sides are already
    partitioned by listener."""
    marks = artist_stats.select("user_id", "artist_name", F.lit(True).alias("now")).unionByName(
        earlier.select("user_id", "artist_name", F.lit(False).alias("now"))
    )
    per_artist = marks.groupBy("user_id", "artist_name").agg(
        F.min("now").alias("only_now")  # true iff no earlier row has this artist
    )
    return (
        per_artist.groupBy("user_id")
        .agg(
            F.count(F.when(F.col("only_now"), True)).alias("new_artists"),
            F.max(~F.col("only_now")).alias("_history"),
        )
        .where(F.col("_history"))
        .select("user_id", "new_artists")
    )


def release_year_median(plays: DataFrame, tracks: DataFrame | None) -> DataFrame | None:
    """(user_id, dated_streams, median_release_year, era): the lower median of the release
    years of the listener's streams whose track (by uri) has a known year in the catalog,
    and the listener's era (streamed_era).

    One aggregation of the plays per (listener, release year), then one row per listener
    with that listener's years as a sorted array, from which the median and the era are
    each one pass (``aggregate``): a listener has at most a few dozen release years."""
    if tracks is None:
        return None
    years = (
        tracks.where(F.col("track_uri").isNotNull() & F.col("release_year").isNotNull())
        .groupBy("track_uri")
        .agg(F.min("release_year").alias("release_year"))
    )
    per_year = (
        plays.where(F.col("is_stream") & F.col("track_uri").isNotNull())
        .join(years, "track_uri")
        .groupBy("user_id", "release_year")
        .agg(F.count(F.lit(1)).alias("n"))
    )
    listeners = per_year.groupBy("user_id").agg(
        F.array_sort(F.collect_list(F.struct("release_year", "n"))).alias("_years"),
        F.sum("n").alias("dated_streams"),
    )
    return listeners.select(
        "user_id",
        "dated_streams",
        median_year(F.col("_years"), F.col("dated_streams")).alias("median_release_year"),
        streamed_era(F.col("_years")).alias("era"),
    )


def median_year(years: Column, dated: Column) -> Column:
    """The lower median of (release_year, n) sorted by year with Σ n = ``dated``: sorted
    list index ⌊(k−1)/2⌋ (0-based) = the first year whose running count exceeds it."""
    target = F.floor((dated - 1) / 2) + 1
    start = F.struct(F.lit(0).cast("long").alias("upto"), F.lit(None).cast("int").alias("year"))
    found = F.aggregate(
        years,
        start,
        lambda acc, y: F.struct(
            (acc["upto"] + y["n"]).alias("upto"),
            F.coalesce(
                acc["year"], F.when(acc["upto"] + y["n"] >= target, y["release_year"])
            ).alias("year"),
        ),
    )
    return found["year"]


def streamed_era(years: Column) -> Column:
    """The era: the five-year span 5·⌊release_year / 5⌋ with the most streams, the later
    span on a tie (recap-rules.md, "Listening era"), from (release_year, n) sorted by year.
    A span's years are adjacent in the sorted array, so one pass keeps the running total
    of the current span and the largest (total, span) so far — structs compare field by
    field, so the later span wins a tie. Whether enough streams are dated is decided with
    the personality's rule in the recap."""
    best = F.struct(F.lit(0).cast("long").alias("n"), F.lit(None).cast("int").alias("span"))
    start = F.struct(
        F.lit(None).cast("int").alias("span"), F.lit(0).cast("long").alias("n"), best.alias("best")
    )

    def step(acc: Column, y: Column) -> Column:
        span = (F.floor(y["release_year"] / 5) * 5).cast("int")
        n = F.when(acc["span"] == span, acc["n"] + y["n"]).otherwise(y["n"])
        here = F.struct(n.alias("n"), span.alias("span"))
        return F.struct(
            span.alias("span"), n.alias("n"), F.greatest(acc["best"], here).alias("best")
        )

    return F.aggregate(years, start, step)["best"]["span"]


def half_dated() -> Column:
    """At least half of the listener's streams have a known release year: the condition of
    the personality's second letter and of the listening era."""
    return F.coalesce(F.col("dated_streams"), F.lit(0)) * 2 >= F.col("streams")


def listening_era_and_age(year: int) -> tuple[Column, Column]:
    """listening_era and listening_age = Y − (era + 2) + 18, for eligible listeners with
    at least half of their streams dated; null otherwise."""
    era = F.when(F.col("eligible") & half_dated(), F.col("era"))
    return era, F.lit(year - 2 + 18) - era


def global_top_artists(artist_stats: DataFrame, rules: dict) -> DataFrame:
    """The year's top artists by streams of all (non-erased, non-private) listeners."""
    totals = artist_stats.groupBy("artist_name").agg(
        F.sum("streams").alias("streams"), F.sum("ms").alias("ms")
    )
    return (
        totals.orderBy(*ranking_order("artist_name"))
        .limit(rules["global_top_artists_n"])
        .select("artist_name")
    )


def common_streams(artist_stats: DataFrame, rules: dict) -> DataFrame:
    """(user_id, common_streams): streams of the global top artists."""
    return (
        artist_stats.join(
            F.broadcast(global_top_artists(artist_stats, rules)), "artist_name", "left_semi"
        )
        .groupBy("user_id")
        .agg(F.sum("streams").alias("common_streams"))
    )


def personality(year: int, rules: dict) -> Column:
    """Four letters from the joined columns; null when ineligible or a letter is unknown."""
    top5 = F.aggregate("top_artists", F.lit(0).cast("long"), lambda acc, a: acc + a["streams"])
    loyal = F.when(share_at_least(top5, F.col("streams"), rules["loyal_share"]), "L").otherwise("V")
    new = (
        F.when(~half_dated(), None)
        .when(F.col("median_release_year") >= year - rules["new_release_years"], "N")
        .otherwise("T")
    )
    common = F.when(
        share_at_least(
            F.coalesce(F.col("common_streams"), F.lit(0)), F.col("streams"), rules["common_share"]
        ),
        "C",
    ).otherwise("U")
    explorer = (
        F.when(F.col("new_artists").isNull(), None)
        .when(
            share_at_least(
                F.col("new_artists"), F.col("distinct_artists"), rules["explorer_share"]
            ),
            "E",
        )
        .otherwise("F")
    )
    # concat is null as soon as one letter is
    return F.when(F.col("eligible"), F.concat(loyal, new, common, explorer))
