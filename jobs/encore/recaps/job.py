"""`encore recaps --data DIR --year Y`: one row per listener with every column of
recap-rules.md, written to ``recaps/year=Y/`` and published atomically.

Shape of the job (set-based Spark, DataFrame API only, no Python UDF, nothing
per-listener on the driver):

1. ``window_plays``: the one scan of the window's plays — erased listeners removed
   first, the listener's local time attached, ``private`` and ``is_stream`` flags —
   shuffled once by ``user_id`` and cached, because every column group below reads it
   and groups, ranks or joins by listener (so none of them shuffles it again).
2. ``earlier_streams``: the only other read of the events, for ``new_artists``:
   (user, artist) of the streams before the window start.
3. One small function per column group (totals and clock, top lists, days, monthly
   top artist, new artists, percentile, personality, change vs last year), each
   returning one row per listener, joined on ``user_id`` in ``recaps_from_plays``.
4. ``conform``: cast to exactly ``schemas.RECAP`` and check it.

Decisions the rules leave open are written down in docs/recaps.md ("Decisions").
"""

from __future__ import annotations

import argparse
import time
from datetime import datetime
from decimal import Decimal

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from encore.platform import config, datasets, localtime, schemas, storage
from encore.platform.args import add_common
from encore.platform.context import RunContext
from encore.platform.spark import require_utc

MS_PER_MINUTE = 60000


# --- small shared pieces -----------------------------------------------------------


def window_bounds(rules: dict, year: int) -> tuple[datetime, datetime]:
    """The recap window [start, end) of ``year`` as aware UTC datetimes (config's rule)."""
    return config.window_datetimes({"recaps": rules}, year)


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


def _share_at_least(part: Column, whole: Column, share: float) -> Column:
    """part ≥ share × whole, in exact decimal arithmetic (no float rounding at 50 %)."""
    return part.cast("decimal(20,0)") >= F.lit(Decimal(str(share))) * whole.cast("decimal(20,0)")


def zone_census(users: DataFrame | None) -> dict[str | None, int]:
    """{zone name or None: listeners} of the users table (a few hundred rows at most)."""
    if users is None:
        return {}
    rows = users.groupBy("timezone").agg(F.countDistinct("user_id").alias("n")).collect()
    return {r["timezone"]: r["n"] for r in rows}


def zone_report(census: dict[str | None, int], timezone: str | None = None) -> dict:
    """What the local-time rules were for a run: the tzdata release, the zones used, and
    how many listeners' zone the database does not know (their clock is UTC)."""
    if timezone is not None:
        return {
            "tzdata": localtime.VERSION,
            "zones": 1,
            "override": timezone,
            "unknown_zone_listeners": 0,
        }
    unknown = {z: n for z, n in census.items() if z is not None and not localtime.is_zone(z)}
    return {
        "tzdata": localtime.VERSION,
        "zones": sum(1 for z in census if localtime.is_zone(z)),
        "unknown_zone_listeners": sum(unknown.values()),
        "unknown_zones": sorted(unknown)[:20],
        "no_zone_listeners": census.get(None, 0),
    }


# --- the one scan ---------------------------------------------------------------


def listener_timezones(users: DataFrame | None, known: list[str]) -> DataFrame | None:
    """(user_id, timezone) for listeners whose zone the shipped database knows; others
    (null or unknown) fall back to UTC."""
    if users is None:
        return None
    return (
        users.select("user_id", "timezone")
        .where(F.col("timezone").isin(known))
        .groupBy("user_id")
        .agg(F.min("timezone").alias("timezone"))  # one zone per id, deterministic
    )


def window_plays(
    events: DataFrame,
    users: DataFrame | None,
    erased: DataFrame,
    *,
    year: int,
    rules: dict,
    timezone: str | None = None,
    partitions: int | None = None,
    census: dict[str | None, int] | None = None,
) -> DataFrame:
    """The in-window plays of non-erased listeners with local date / hour / month,
    hash-partitioned by user_id into ``partitions`` (default: spark.sql.shuffle.partitions).

    Local time follows the shipped IANA rules (encore.localtime), not the JVM's.
    ``timezone`` (``--timezone``, a personal export) overrides every listener's zone;
    ``census`` (zone_census of ``users``) saves a pass when the caller has it."""
    spark = events.sparkSession
    require_utc(spark, "recaps")  # the local wall clock is a timestamp read in the session zone
    start, end = window_bounds(rules, year)
    plays = events
    if "year" in plays.columns:  # partition pruning: events/year=Y is the UTC year of ts
        plays = plays.where(F.col("year") == year)
    plays = plays.where((F.col("ts") >= F.lit(start)) & (F.col("ts") < F.lit(end)))
    plays = datasets.without_erased(plays, erased)
    if timezone is not None:
        plays = plays.withColumn("timezone", F.lit(timezone))
        known = [timezone] if localtime.is_zone(timezone) else []
    else:
        if census is None:
            census = zone_census(users)
        known = sorted(z for z in census if localtime.is_zone(z))
        zones = listener_timezones(users, known)
        if zones is not None and known:
            plays = plays.join(zones, "user_id", "left")
        else:
            plays = plays.withColumn("timezone", F.lit(None).cast("string"))
    plays = localtime.with_local_ts(plays, localtime.offset_table(spark, known, start, end))
    local = F.col("local_ts")
    private = F.coalesce(F.col("private_session"), F.lit(False))
    columns = plays.select(
        "user_id",
        "ms_played",
        "kind",
        "track_uri",
        "track_name",
        "artist_name",
        "album_name",
        "show_name",
        private.alias("private"),
        (
            (F.col("kind") == "track") & (F.col("ms_played") >= rules["stream_min_ms"]) & ~private
        ).alias("is_stream"),
        F.to_date(local).alias("local_date"),
        F.hour(local).alias("local_hour"),
        F.month(local).alias("local_month"),
    )
    # One shuffle by listener, here: every column group groups, ranks and joins by
    # user_id, and an input already hash-partitioned by it (and cached) needs no further
    # exchange for any of them. At 10 M plays this took recaps from 109 s to 74 s.
    return columns.repartition(
        partitions or int(spark.conf.get("spark.sql.shuffle.partitions")), "user_id"
    )


def partitions_for(events: DataFrame, year: int, plays_per_task: int) -> int:
    """How many listener partitions the window plays get: spark.sql.shuffle.partitions, or
    more so that no task holds more than ``plays_per_task`` plays (every column group of a
    partition runs in one task, so this bounds a task's memory as the data grows). The
    year's row count comes from Parquet metadata: no column is read."""
    default = int(events.sparkSession.conf.get("spark.sql.shuffle.partitions"))
    rows = (
        events.where(F.col("year") == year).count() if "year" in events.columns else events.count()
    )
    return max(default, -(-rows // plays_per_task))


def earlier_streams(events: DataFrame, erased: DataFrame, *, year: int, rules: dict) -> DataFrame:
    """(user_id, artist_name) of every stream before the window start (artist may be null:
    it still proves the listener has history)."""
    start, _ = window_bounds(rules, year)
    ev = events
    if "year" in ev.columns:
        ev = ev.where(F.col("year") <= year)
    ev = ev.where(
        (F.col("ts") < F.lit(start))
        & (F.col("kind") == "track")
        & (F.col("ms_played") >= rules["stream_min_ms"])
        & ~F.coalesce(F.col("private_session"), F.lit(False))
    )
    return datasets.without_erased(ev.select("user_id", "artist_name"), erased).distinct()


# --- column groups (each: one row per listener that has something) ----------------


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


def stream_stats(plays: DataFrame, keys: list[str]) -> DataFrame:
    """(user_id, *keys, streams, ms) over streams whose identity ``keys`` are all known."""
    streams = plays.where(F.col("is_stream"))
    for k in keys:
        streams = streams.where(F.col(k).isNotNull())
    return streams.groupBy("user_id", *keys).agg(
        F.count(F.lit(1)).alias("streams"), F.sum("ms_played").alias("ms")
    )


def top_tracks_and_songs(track_stats: DataFrame, rules: dict) -> DataFrame:
    """top_tracks (top_n with streams and minutes) and top_songs (top_songs_n), one ranking."""
    n = max(rules["top_n"], rules["top_songs_n"])
    tracks = ranked(track_stats, ["user_id"], ranking_order("artist_name", "track_name"))
    item = F.struct("track_name", "artist_name", "streams", minutes("ms").alias("minutes"))
    return top_list(tracks, n, item, "_tracks").select(
        "user_id",
        F.slice("_tracks", 1, rules["top_n"]).alias("top_tracks"),
        F.transform(
            F.slice("_tracks", 1, rules["top_songs_n"]),
            lambda t: F.struct(
                t["track_name"].alias("track_name"), t["artist_name"].alias("artist_name")
            ),
        ).alias("top_songs"),
    )


def ranked_artists(artist_stats: DataFrame) -> DataFrame:
    return ranked(artist_stats, ["user_id"], ranking_order("artist_name"))


def top_artists(artists_ranked: DataFrame, rules: dict) -> DataFrame:
    item = F.struct("artist_name", "streams", minutes("ms").alias("minutes"))
    return top_list(artists_ranked, rules["top_n"], item, "top_artists")


def top_albums(plays: DataFrame, rules: dict) -> DataFrame:
    albums = ranked(
        stream_stats(plays, ["artist_name", "album_name"]),
        ["user_id"],
        ranking_order("artist_name", "album_name"),
    )
    return top_list(
        albums, rules["top_n"], F.struct("album_name", "artist_name", "streams"), "top_albums"
    )


def artist_genres(artists: DataFrame) -> DataFrame:
    """(artist_name, genre) pairs, each once; null and blank genres dropped."""
    return (
        artists.select("artist_name", F.explode("genres").alias("genre"))
        .where(F.col("genre").isNotNull() & (F.trim(F.col("genre")) != ""))
        .distinct()
    )


def top_genres(artist_stats: DataFrame, artists: DataFrame | None, rules: dict) -> DataFrame | None:
    """Each stream credits 1 to every genre of its artist; credits desc, genre asc."""
    if artists is None:
        return None
    credits = (
        artist_stats.join(artist_genres(artists), "artist_name")
        .groupBy("user_id", "genre")
        .agg(F.sum("streams").alias("streams"))
    )
    genres = ranked(credits, ["user_id"], [F.col("streams").desc(), F.col("genre").asc()])
    return top_list(genres, rules["top_n"], F.struct("genre", "streams"), "top_genres")


def top_podcasts(plays: DataFrame, rules: dict) -> DataFrame:
    """Non-private episode plays of any length by show: Σ ms desc, then show name."""
    shows = (
        plays.where(
            (F.col("kind") == "episode") & ~F.col("private") & F.col("show_name").isNotNull()
        )
        .groupBy("user_id", "show_name")
        .agg(F.sum("ms_played").alias("ms"))
    )
    shows = ranked(shows, ["user_id"], [F.col("ms").desc(), F.col("show_name").asc()])
    return top_list(
        shows, rules["top_n"], F.struct("show_name", minutes("ms").alias("minutes")), "top_podcasts"
    )


def days(plays: DataFrame) -> DataFrame:
    """busiest_day(+minutes) over non-private plays; longest_streak_days over stream days."""
    per_day = (
        plays.where(~F.col("private"))
        .groupBy("user_id", "local_date")
        .agg(
            F.sum("ms_played").alias("ms"),
            F.max(F.col("is_stream").cast("int")).alias("has_stream"),
        )
    )
    # the smallest (−ms, date): the largest Σ ms, the earliest date on ties
    busiest = (
        per_day.groupBy("user_id")
        .agg(
            F.min(F.struct((-F.col("ms")).alias("neg_ms"), F.col("local_date").alias("day"))).alias(
                "b"
            )
        )
        .select(
            "user_id",
            F.col("b.day").alias("busiest_day"),
            minutes(-F.col("b.neg_ms")).alias("busiest_day_minutes"),
        )
    )
    # gaps and islands: consecutive dates minus their row number share one anchor date
    stream_days = per_day.where(F.col("has_stream") == 1).withColumn(
        "anchor",
        F.date_sub(
            "local_date", F.row_number().over(Window.partitionBy("user_id").orderBy("local_date"))
        ),
    )
    streak = (
        stream_days.groupBy("user_id", "anchor")
        .agg(F.count(F.lit(1)).alias("run"))
        .groupBy("user_id")
        .agg(F.max("run").alias("longest_streak_days"))
    )
    return busiest.join(streak, "user_id", "left")


def monthly_top_artist(plays: DataFrame) -> DataFrame:
    """Per local month, the #1 artist by ranking order over that month's streams."""
    per_month = ranked(
        stream_stats(plays, ["local_month", "artist_name"]),
        ["user_id", "local_month"],
        ranking_order("artist_name"),
    )
    firsts = per_month.where(F.col("_rank") == 1)
    return firsts.groupBy("user_id").agg(
        F.array(
            *[F.max(F.when(F.col("local_month") == m, F.col("artist_name"))) for m in range(1, 13)]
        ).alias("monthly_top_artist")
    )


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
    return (
        cumulative.where(F.col("upto") >= F.floor((F.col("dated_streams") - 1) / 2) + 1)
        .groupBy("user_id")
        .agg(
            F.first("dated_streams").alias("dated_streams"),
            F.min("release_year").alias("median_release_year"),
        )
    )


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
    loyal = F.when(_share_at_least(top5, F.col("streams"), rules["loyal_share"]), "L").otherwise(
        "V"
    )
    dated = F.coalesce(F.col("dated_streams"), F.lit(0))
    new = (
        F.when(dated * 2 < F.col("streams"), None)
        .when(F.col("median_release_year") >= year - rules["new_release_years"], "N")
        .otherwise("T")
    )
    common = F.when(
        _share_at_least(
            F.coalesce(F.col("common_streams"), F.lit(0)), F.col("streams"), rules["common_share"]
        ),
        "C",
    ).otherwise("U")
    explorer = (
        F.when(F.col("new_artists").isNull(), None)
        .when(
            _share_at_least(
                F.col("new_artists"), F.col("distinct_artists"), rules["explorer_share"]
            ),
            "E",
        )
        .otherwise("F")
    )
    # concat is null as soon as one letter is
    return F.when(F.col("eligible"), F.concat(loyal, new, common, explorer))


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


# --- assembly -------------------------------------------------------------------


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
            top_tracks_and_songs(track_stats, rules).select("user_id", "top_tracks"),
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
    """Every recap column from the (cached) window plays; see build_recaps."""
    artist_stats = stream_stats(plays, ["artist_name"])
    track_stats = stream_stats(plays, ["artist_name", "track_name"])
    # cached: the recap row's base and, through ``eligible``, the percentile's population;
    # the input being partitioned by listener already, there is no shuffle output for
    # Spark to reuse, and it would compute the totals twice
    base = totals_and_clock(plays, artist_stats, track_stats, rules).cache()
    artists_ranked = ranked_artists(artist_stats)
    eligible = base.where(F.col("eligible")).select("user_id")
    parts: list[DataFrame | None] = [
        top_tracks_and_songs(track_stats, rules),
        top_artists(artists_ranked, rules),
        top_albums(plays, rules),
        top_genres(artist_stats, artists, rules),
        top_podcasts(plays, rules),
        top_artist_percent(artists_ranked, eligible, rules),
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
    names = {c for p in parts if p is not None for c in p.columns}
    missing = lambda c: F.col(c) if c in names else F.lit(None)  # noqa: E731
    empty = lambda c: F.coalesce(missing(c), F.array())  # noqa: E731
    recap = recap.select(
        "*",
        *[
            empty(c).alias(f"_{c}")
            for c in (
                "top_tracks",
                "top_artists",
                "top_albums",
                "top_genres",
                "top_podcasts",
                "top_songs",
            )
        ],
    )
    for c in ("top_tracks", "top_artists", "top_albums", "top_genres", "top_podcasts", "top_songs"):
        recap = recap.drop(c).withColumnRenamed(f"_{c}", c)
    for c in ("dated_streams", "median_release_year", "common_streams", "new_artists"):
        if c not in recap.columns:
            recap = recap.withColumn(c, F.lit(None).cast("long"))
    if "top_artist_percent" not in recap.columns:
        recap = recap.withColumn("top_artist_percent", F.lit(None).cast("double"))
    recap = recap.select(
        "*",
        F.lit(year).alias("year"),
        F.coalesce(
            F.col("monthly_top_artist"), F.array_repeat(F.lit(None).cast("string"), 12)
        ).alias("_monthly_top_artist"),
        F.coalesce(F.col("longest_streak_days"), F.lit(0)).alias("_longest_streak_days"),
        F.when(F.col("eligible"), F.col("top_artist_percent")).alias("_top_artist_percent"),
        personality(year, rules).alias("personality"),
        change.alias("minutes_change_pct"),
    )
    for c in ("monthly_top_artist", "longest_streak_days", "top_artist_percent"):
        recap = recap.drop(c).withColumnRenamed(f"_{c}", c)
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
    plays = window_plays(events, users, erased, year=year, rules=rules, timezone=timezone).cache()
    earlier = earlier_streams(events, erased, year=year, rules=rules)
    return recaps_from_plays(
        plays, earlier, tracks, artists, previous_recaps, year=year, rules=rules
    )


# --- command line -----------------------------------------------------------------


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
    earlier = earlier_streams(events, erased, year=year, rules=rules)
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
