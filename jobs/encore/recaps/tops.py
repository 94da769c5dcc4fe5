"""The top lists (tracks and songs, artists, albums, genres, podcasts) and each local
month's top artist, all in recap-rules.md's ranking order."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from encore.recaps.ranking import minutes, ranked, ranking_order, stream_stats, top_list


def ranked_tracks(track_stats: DataFrame) -> DataFrame:
    return ranked(track_stats, ["user_id"], ranking_order("artist_name", "track_name"))


def top_tracks_and_songs(tracks_ranked: DataFrame, rules: dict) -> DataFrame:
    """top_tracks (top_n with streams and minutes) and top_songs (top_songs_n), one ranking
    (``tracks_ranked`` = ranked_tracks(track_stats))."""
    n = max(rules["top_n"], rules["top_songs_n"])
    tracks = tracks_ranked
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
    """(user_id, top_genres, distinct_genres): each stream credits 1 to every genre of its
    artist; the top list by credits desc, genre asc, and how many genres were credited
    (one aggregation over the listener's credited genres)."""
    if artists is None:
        return None
    credits = (
        artist_stats.join(artist_genres(artists), "artist_name")
        .groupBy("user_id", "genre")
        .agg(F.sum("streams").alias("streams"))
    )
    genres = ranked(credits, ["user_id"], [F.col("streams").desc(), F.col("genre").asc()])
    item = F.struct(F.col("_rank").alias("r"), F.struct("genre", "streams").alias("item"))
    return (
        genres.groupBy("user_id")
        .agg(
            # collect_list skips the nulls: only the first top_n ranks are kept
            F.array_sort(F.collect_list(F.when(F.col("_rank") <= rules["top_n"], item))).alias(
                "_ranked"
            ),
            F.count(F.lit(1)).alias("distinct_genres"),
        )
        .select(
            "user_id",
            F.transform("_ranked", lambda x: x["item"]).alias("top_genres"),
            "distinct_genres",
        )
    )


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
