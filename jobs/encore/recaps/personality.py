"""The listening personality (recap-rules.md, "Listening personality"): its four
letters and the columns they are read from — the release-year median, the streams of
the year's global top artists, the artists new to the listener."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from encore.recaps.ranking import ranking_order, share_at_least


def new_artists(artist_stats: DataFrame, earlier: DataFrame) -> DataFrame:
    """(user_id, new_artists) for listeners with a stream before the window start; the
    others get no row (→ null: we can't know what is new to them)."""
    with_history = earlier.select("user_id").distinct()
    known_before = earlier.where(F.col("artist_name").isNotNull())
    fresh = (
        artist_stats.select("user_id", "artist_name")
        .join(known_before, ["user_id", "artist_name"], "left_anti")
        .groupBy("user_id")
        .agg(F.count(F.lit(1)).alias("fresh"))
    )
    return with_history.join(fresh, "user_id", "left").select(
        "user_id", F.coalesce(F.col("fresh"), F.lit(0)).alias("new_artists")
    )


def release_year_median(plays: DataFrame, tracks: DataFrame | None) -> DataFrame | None:
    """(user_id, dated_streams, median_release_year): the lower median of the release years
    of the listener's streams whose track (by uri) has a known year in the catalog."""
    if tracks is None:
        return None
    years = (
        tracks.where(F.col("track_uri").isNotNull() & F.col("release_year").isNotNull())
        .groupBy("track_uri")
        .agg(F.min("release_year").alias("release_year"))
    )
    per_year = (
        plays.where(F.col("is_stream") & F.col("track_uri").isNotNull())
        .groupBy("user_id", "track_uri")
        .agg(F.count(F.lit(1)).alias("n"))
        .join(years, "track_uri")
        .groupBy("user_id", "release_year")
        .agg(F.sum("n").alias("n"))
    )
    mine = Window.partitionBy("user_id")
    cumulative = per_year.select(
        "user_id",
        "release_year",
        F.sum("n")
        .over(
            mine.orderBy("release_year").rowsBetween(Window.unboundedPreceding, Window.currentRow)
        )
        .alias("upto"),
        F.sum("n").over(mine).alias("dated_streams"),
    )
    # sorted list index ⌊(k−1)/2⌋ (0-based) = the first year whose running count exceeds it
    median = (
        cumulative.where(F.col("upto") >= F.floor((F.col("dated_streams") - 1) / 2) + 1)
        .groupBy("user_id")
        .agg(
            F.first("dated_streams").alias("dated_streams"),
            F.min("release_year").alias("median_release_year"),
        )
    )
    return median.join(streamed_era(per_year), "user_id")


def streamed_era(per_year: DataFrame) -> DataFrame:
    """(user_id, era): the five-year span 5·⌊release_year / 5⌋ with the most streams, the
    later span on a tie (recap-rules.md, "Listening era"), from (user_id, release_year, n).
    Whether enough streams are dated is decided with the personality's rule in the recap."""
    spans = per_year.groupBy(
        "user_id", (F.floor(F.col("release_year") / 5) * 5).cast("int").alias("span")
    ).agg(F.sum("n").alias("n"))
    # structs compare field by field: most streams first, then the later span
    return spans.groupBy("user_id").agg(F.max(F.struct("n", "span"))["span"].alias("era"))


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
