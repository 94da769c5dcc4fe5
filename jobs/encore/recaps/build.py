"""The recap rows: every column group joined on ``user_id``, cast to exactly
``schemas.RECAP`` and checked; and the benchmark's core columns from the same functions."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from encore.platform import schemas
from encore.recaps.percentile import top_artist_percent, top_track_percent
from encore.recaps.personality import (
    common_streams,
    listening_era_and_age,
    new_artists,
    personality,
    release_year_median,
)
from encore.recaps.plays import earlier_streams, window_plays
from encore.recaps.ranking import stream_stats
from encore.recaps.tops import (
    monthly_top_artist,
    ranked_artists,
    ranked_tracks,
    top_albums,
    top_artists,
    top_genres,
    top_podcasts,
    top_tracks_and_songs,
)
from encore.recaps.totals import days, minutes_change_pct, totals_and_clock


def core_columns(plays: DataFrame, rules: dict) -> DataFrame:
    """Only the benchmark's core columns (bench.CORE_COLUMNS), from the same column-group
    functions the recap uses: what `encore bench` times against DuckDB."""
    artist_stats = stream_stats(plays, ["artist_name"])
    track_stats = stream_stats(plays, ["artist_name", "track_name"])
    base = totals_and_clock(plays, artist_stats, track_stats, rules)
    out = (
        base.select("user_id", "listening_minutes", "streams", "peak_hour")
        .join(top_artists(ranked_artists(artist_stats), rules), "user_id", "left")
        .join(
            top_tracks_and_songs(ranked_tracks(track_stats), rules).select("user_id", "top_tracks"),
            "user_id",
            "left",
        )
        .join(
            days(plays).select("user_id", "busiest_day", "longest_streak_days"), "user_id", "left"
        )
    )
    return out.select(
        "user_id",
        "listening_minutes",
        "streams",
        F.coalesce("top_artists", F.array()).alias("top_artists"),
        F.coalesce("top_tracks", F.array()).alias("top_tracks"),
        "peak_hour",
        "busiest_day",
        F.coalesce("longest_streak_days", F.lit(0)).alias("longest_streak_days"),
    )


# Spark's hash aggregate of collect_list (ObjectHashAggregate) falls back to sorting once a
# task holds 128 groups; the recap's per-listener collects (release years, stream dates)
# hold one group per listener of the task — hundreds — so they always sorted: 8.7 s of
# 2 cores' 36 s in the final stage at 5 M plays. A task holds at most plays_per_task plays,
# and these lists hold at most one element per play, so keeping every group in the hash
# map is bounded by the task's plays.
OBJECT_HASH_GROUPS = ("spark.sql.objectHashAggregate.sortBased.fallbackThreshold", "1000000")


def session_settings(spark: SparkSession) -> None:
    """The session settings the recap's plan is written for (OBJECT_HASH_GROUPS)."""
    spark.conf.set(*OBJECT_HASH_GROUPS)


TOP_LISTS = ("top_tracks", "top_artists", "top_albums", "top_genres", "top_podcasts", "top_songs")


def recaps_from_plays(
    plays: DataFrame,
    earlier: DataFrame,
    tracks: DataFrame | None,
    artists: DataFrame | None,
    previous: DataFrame | None,
    *,
    year: int,
    rules: dict,
) -> DataFrame:
    """Every recap column from the (cached) window plays; see build_recaps.

    What more than one column group reads is cached, so that Spark computes it once
    (a plan that reads a DataFrame twice computes it twice): the per-listener totals,
    the per-artist statistics (seven readers) and the top artist and track lists (whose
    heads are the percentiles' #1 items)."""
    artist_stats = stream_stats(plays, ["artist_name"]).cache()
    track_stats = stream_stats(plays, ["artist_name", "track_name"])
    # cached: the recap row's base and, through ``eligible``, the percentile's population;
    # the input being partitioned by listener already, there is no shuffle output for
    # Spark to reuse, and it would compute the totals twice
    base = totals_and_clock(plays, artist_stats, track_stats, rules).cache()
    tracks_top = top_tracks_and_songs(ranked_tracks(track_stats), rules).cache()
    artists_top = top_artists(ranked_artists(artist_stats), rules).cache()
    eligible = base.where(F.col("eligible")).select("user_id")
    parts: list[DataFrame | None] = [
        tracks_top,
        artists_top,
        top_albums(plays, rules),
        top_genres(artist_stats, artists, rules),
        top_podcasts(plays, rules),
        top_artist_percent(artist_stats, artists_top, eligible, rules),
        top_track_percent(track_stats, tracks_top, eligible, rules),
        days(plays),
        monthly_top_artist(plays),
        new_artists(artist_stats, earlier),
        release_year_median(plays, tracks),
        common_streams(artist_stats, rules),
    ]
    last, change = minutes_change_pct(previous)
    parts.append(last)
    recap = base
    for part in parts:
        if part is not None:
            recap = recap.join(part, "user_id", "left")
    # one projection for what a missing part or a listener without rows in it leaves
    # null (a column per withColumn would make Spark analyse the growing plan each time)
    present = set(recap.columns)
    col = lambda c: F.col(c) if c in present else F.lit(None)  # noqa: E731
    filled = {c: F.coalesce(col(c), F.array()) for c in TOP_LISTS}
    filled.update(
        {
            c: col(c).cast("long")
            for c in ("dated_streams", "median_release_year", "common_streams", "new_artists")
        }
    )
    filled.update(
        era=col("era").cast("long"),
        distinct_genres=F.coalesce(col("distinct_genres"), F.lit(0)),
        monthly_top_artist=F.coalesce(
            col("monthly_top_artist"), F.array_repeat(F.lit(None).cast("string"), 12)
        ),
        longest_streak_days=F.coalesce(col("longest_streak_days"), F.lit(0)),
        top_artist_percent=F.when(F.col("eligible"), col("top_artist_percent")),
        top_track_percent=F.when(F.col("eligible"), col("top_track_percent")),
    )
    kept = [c for c in recap.columns if c not in filled]
    recap = recap.select(*kept, *[e.alias(c) for c, e in filled.items()])
    era, age = listening_era_and_age(year)
    recap = recap.select(
        "*",
        F.lit(year).alias("year"),
        personality(year, rules).alias("personality"),
        change.alias("minutes_change_pct"),
        era.alias("listening_era"),
        age.alias("listening_age"),
    )
    return conform(recap)


def conform(recap: DataFrame) -> DataFrame:
    """Exactly schemas.RECAP's columns, in order, with its types; checked."""
    target = schemas.spark_schema(schemas.RECAP)
    out = recap.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in target.fields])
    got = [(f.name, f.dataType.simpleString()) for f in out.schema.fields]
    want = [(f.name, f.dataType.simpleString()) for f in target.fields]
    if got != want:
        raise AssertionError(f"recap schema drifted from schemas.RECAP: {got} != {want}")
    return out


def build_recaps(
    events: DataFrame,
    users: DataFrame | None,
    tracks: DataFrame | None,
    artists: DataFrame | None,
    erased: DataFrame,
    previous_recaps: DataFrame | None,
    *,
    year: int,
    rules: dict,
    timezone: str | None = None,
) -> DataFrame:
    """recaps/year=Y: one row per non-erased listener with any play in the window.

    ``events`` in schemas.EVENT (optionally with the year/month partition columns),
    ``users``/``tracks``/``artists`` the dimension tables or None when absent, ``erased`` a
    user_id column, ``previous_recaps`` last year's recaps or None; ``rules`` = cfg["recaps"].
    The window plays and the per-listener totals are cached (the caller may
    ``spark.catalog.clearCache()`` after writing)."""
    session_settings(events.sparkSession)
    plays = window_plays(events, users, erased, year=year, rules=rules, timezone=timezone).cache()
    earlier = earlier_streams(events, erased, year=year, rules=rules)
    return recaps_from_plays(
        plays, earlier, tracks, artists, previous_recaps, year=year, rules=rules
    )
