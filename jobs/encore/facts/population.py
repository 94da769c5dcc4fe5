"""The population of a facts release, built *before* any of it reaches the DP library
(privacy.md, "Global facts"; docs/facts.md, "Population").

``population_tables`` keeps non-private plays inside the year's window of listeners
who have not opted out of marketing use and are not erased (playlists of those
listeners likewise). The tables keep ``user_id`` only as the privacy id.
``read_inputs`` reads them from a data root, with the public tables the keys come from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from encore.facts import catalog as fc
from encore.platform import config, datasets, localtime

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession


def _age_band_expr(cfg: dict, year: int):
    from pyspark.sql import functions as F

    bands = cfg["facts"]["age_bands"]
    labels = fc.age_band_labels(cfg)
    age = F.lit(year) - F.col("birth_year")
    expr = None
    for i, lo in enumerate(bands):
        hi = bands[i + 1] if i + 1 < len(bands) else None
        cond = (age >= lo) if hi is None else ((age >= lo) & (age < hi))
        expr = F.when(cond, labels[i]) if expr is None else expr.when(cond, labels[i])
    return expr.otherwise(F.lit(None).cast("string"))


def normalise_title(col: str | Column) -> Column:
    """Playlist titles and phrases are compared case-folded with single spaces."""
    from pyspark.sql import functions as F

    return F.trim(
        F.regexp_replace(F.lower(F.col(col) if isinstance(col, str) else col), r"\s+", " ")
    )


normalise_phrase = fc.normalise_phrase  # how phrases are compared (catalog.py)


def eligible_listeners(users: DataFrame, erasures: DataFrame) -> DataFrame:
    """Listeners whose data may enter a fact: not opted out (an unknown choice counts
    as opted out) and not erased."""
    from pyspark.sql import functions as F

    kept = users.filter(F.col("marketing_opt_out") == F.lit(False))
    return datasets.without_erased(kept, erasures)


def population_tables(
    events: DataFrame,
    users: DataFrame,
    erasures: DataFrame,
    *,
    year: int,
    cfg: dict,
    tracks: DataFrame | None = None,
    playlists: DataFrame | None = None,
    sources: tuple[str, ...] = fc.SOURCES,
) -> dict[str, DataFrame]:
    """The private tables handed to the DP session, one per source, each keyed by
    ``user_id`` (the privacy id). Pure: DataFrames in, DataFrames out.

    Only non-private plays (``private_session = false``; unknown counts as private) in
    the recap window of eligible listeners; playlists of eligible owners.
    """
    from pyspark.sql import functions as F

    start, end = config.window_bounds(cfg, year)
    listeners = eligible_listeners(users, erasures).select(
        "user_id", "country", "timezone", _age_band_expr(cfg, year).alias("age_band")
    )
    plays = events
    if "year" in plays.columns:  # partition pruning on events/year=Y
        plays = plays.filter(F.col("year") == year)
    plays = (
        plays.filter(
            (F.col("ts") >= F.to_timestamp(F.lit(start)))
            & (F.col("ts") < F.to_timestamp(F.lit(end)))
        )
        .filter(F.col("private_session") == F.lit(False))
        .drop("country")  # the market is the listener's country (users), not the connection's
        .join(listeners, "user_id", "inner")
    )
    # Local time from the shipped IANA rules (encore.localtime), not the JVM's: the
    # offsets of the zones the listeners have (one small distinct over users).
    zones = [r["timezone"] for r in users.select("timezone").distinct().collect()]
    window = config.window_datetimes(cfg, year)
    plays = (
        localtime.with_local_ts(plays, localtime.offset_table(plays.sparkSession, zones, *window))
        .withColumn("hour", F.hour("local_ts").cast("long"))
        .withColumn("local_date", F.date_format("local_ts", "yyyy-MM-dd"))
        .withColumn("minutes", F.col("ms_played").cast("double") / 60000.0)
    )
    wh = cfg["facts"]["work_hours"]
    work = (
        F.dayofweek("local_ts").between(2, 6) & (F.col("hour") >= wh[0]) & (F.col("hour") < wh[1])
    )
    out: dict[str, DataFrame] = {}
    common = ["user_id", "platform", "country", "age_band", "hour", "local_date"]
    if "streams" in sources:
        out["streams"] = plays.filter(
            (F.col("kind") == "track") & (F.col("ms_played") >= cfg["recaps"]["stream_min_ms"])
        ).select(*common, "artist_name", "track_name", "album_name")
    if "episodes" in sources:
        out["episodes"] = plays.filter(F.col("kind") == "episode").select(*common, "show_name")
    if "listeners" in sources:
        music = F.when(F.col("kind") == "track", F.col("minutes")).otherwise(0.0)
        out["listeners"] = plays.groupBy("user_id", "country", "age_band").agg(
            F.sum("minutes").alias("minutes"),
            F.try_divide(F.sum(F.when(work, music).otherwise(0.0)), F.sum(music)).alias(
                "work_hours_share"
            ),
        )
    if playlists is not None and ("playlists" in sources or "playlist_tracks" in sources):
        owned = playlists.withColumnRenamed("owner_user_id", "user_id").join(
            listeners.select("user_id"), "user_id", "inner"
        )
        if "playlists" in sources:
            out["playlists"] = owned.select("user_id", normalise_title("title").alias("title"))
        if "playlist_tracks" in sources and tracks is not None:
            catalog_tracks = tracks.select("track_uri", "artist_name", "track_name")
            out["playlist_tracks"] = (
                owned.select("user_id", "playlist_id", F.explode("track_uris").alias("track_uri"))
                .join(catalog_tracks, "track_uri", "inner")
                .select("user_id", "playlist_id", "artist_name", "track_name")
                .distinct()  # a playlist counts once per track
                .drop("playlist_id")
            )
    return out


@dataclass
class Inputs:
    """What a release needs: the private tables and the public ones (catalog keys)."""

    private: dict[str, DataFrame]
    artists: DataFrame | None = None  # catalog/artists (artist_name, genres)
    tracks: DataFrame | None = None  # catalog/tracks
    missing: dict[str, str] = field(
        default_factory=dict
    )  # source/dimension -> why it is unavailable


def read_inputs(spark: SparkSession, root: str, year: int, cfg: dict, sources: set[str]) -> Inputs:
    events = datasets.read_events(spark, root)
    users = datasets.read_dimension(spark, root, "users", required=True)
    erasures = datasets.erased_user_ids(spark, root)
    tracks = datasets.read_dimension(spark, root, "catalog/tracks")
    artists = datasets.read_dimension(spark, root, "catalog/artists")
    playlists = datasets.read_dimension(spark, root, "playlists")
    missing = {}
    if playlists is None:
        missing.update(playlists="no playlists table", playlist_tracks="no playlists table")
    if tracks is None:
        missing.update(
            track="no catalog/tracks table",
            album="no catalog/tracks table",
            playlist_tracks="no catalog/tracks table",
        )
    if artists is None:
        missing.update(artist="no catalog/artists table", genre="no catalog/artists table")
    private = population_tables(
        events,
        users,
        erasures,
        year=year,
        cfg=cfg,
        tracks=tracks,
        playlists=playlists,
        sources=tuple(sorted(sources)),
    )
    return Inputs(private=prepared(private), artists=artists, tracks=tracks, missing=missing)


def prepared(private: dict[str, DataFrame]) -> dict[str, DataFrame]:
    """The private tables as the facts read them: hash-partitioned by ``user_id`` once,
    and cached (release() unpersists them).

    Cached: each fact is one or more Tumult queries, i.e. Spark jobs over its source
    table; without the cache every one re-reads the events, joins the listeners and
    converts time zones again. Partitioned by the privacy id: the library bounds each
    listener's contribution with window functions partitioned by ``user_id`` (and more
    columns), which a table already partitioned by ``user_id`` satisfies, so a fact's
    truncation shuffles nothing; without it every fact shuffled its whole table. Rows,
    and so the rows truncation keeps (it orders by a hash of their values), are the
    same: the released values' distribution does not change (tests/jobs/test_facts.py)."""
    return {name: df.repartition("user_id").cache() for name, df in private.items()}
