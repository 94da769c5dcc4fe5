"""The one source of truth for every dataset's columns (data-contracts.md).

Each schema is a pyarrow schema; the Spark schema is derived from it with
``spark_schema(...)``. docs/data.md documents every column in plain words
(tests/jobs/test_docs.py checks it).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    from pyspark.sql.types import StructType

# --- raw listening log: Spotify extended streaming history + user_id -------------
RAW_EVENT = pa.schema(
    [
        ("user_id", pa.string()),
        ("ts", pa.string()),  # UTC time playback stopped, YYYY-MM-DDTHH:MM:SSZ
        ("ms_played", pa.int64()),
        ("platform", pa.string()),
        ("conn_country", pa.string()),
        ("ip_addr", pa.string()),  # personal data: dropped at ingest, never stored
        ("master_metadata_track_name", pa.string()),
        ("master_metadata_album_artist_name", pa.string()),
        ("master_metadata_album_album_name", pa.string()),
        ("spotify_track_uri", pa.string()),
        ("episode_name", pa.string()),
        ("episode_show_name", pa.string()),
        ("spotify_episode_uri", pa.string()),
        ("audiobook_title", pa.string()),
        ("audiobook_uri", pa.string()),
        ("audiobook_chapter_uri", pa.string()),
        ("audiobook_chapter_title", pa.string()),
        ("reason_start", pa.string()),
        ("reason_end", pa.string()),
        ("shuffle", pa.bool_()),
        ("skipped", pa.bool_()),
        ("offline", pa.bool_()),
        ("offline_timestamp", pa.int64()),
        ("incognito_mode", pa.bool_()),
    ]
)

# --- dimension tables -----------------------------------------------------------
USERS = pa.schema(
    [
        ("user_id", pa.string()),
        ("country", pa.string()),
        ("birth_year", pa.int32()),  # nullable
        ("timezone", pa.string()),  # IANA, nullable -> UTC
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("marketing_opt_out", pa.bool_()),
    ]
)

TRACKS = pa.schema(
    [
        ("track_uri", pa.string()),
        ("track_name", pa.string()),
        ("artist_name", pa.string()),
        ("album_name", pa.string()),
        ("release_year", pa.int32()),  # nullable
        ("duration_ms", pa.int64()),
    ]
)

ARTISTS = pa.schema([("artist_name", pa.string()), ("genres", pa.list_(pa.string()))])

PLAYLISTS = pa.schema(
    [
        ("playlist_id", pa.string()),
        ("owner_user_id", pa.string()),
        ("title", pa.string()),
        ("track_uris", pa.list_(pa.string())),
    ]
)

ERASURES = pa.schema([("user_id", pa.string()), ("requested_at", pa.timestamp("us", tz="UTC"))])
# privacy/erasures_done/: the requests carried out everywhere (rights/erase.py); not a raw input
ERASURES_DONE = pa.schema([("user_id", pa.string()), ("done_at", pa.timestamp("us", tz="UTC"))])

# Where each dimension table lives under raw/ (input) and under the data root (ingested).
DIMENSIONS: dict[str, pa.Schema] = {
    "users": USERS,
    "catalog/tracks": TRACKS,
    "catalog/artists": ARTISTS,
    "playlists": PLAYLISTS,
    "privacy/erasures": ERASURES,
}

# --- canonical events -----------------------------------------------------------
EVENT = pa.schema(
    [
        ("event_id", pa.string()),
        ("user_id", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),
        ("ms_played", pa.int64()),
        ("kind", pa.string()),
        ("track_uri", pa.string()),
        ("track_name", pa.string()),
        ("artist_name", pa.string()),
        ("album_name", pa.string()),
        ("episode_uri", pa.string()),
        ("episode_name", pa.string()),
        ("show_name", pa.string()),
        ("platform", pa.string()),
        ("country", pa.string()),
        ("private_session", pa.bool_()),
        ("skipped", pa.bool_()),
        ("shuffle", pa.bool_()),
        ("offline", pa.bool_()),
        ("reason_start", pa.string()),
        ("reason_end", pa.string()),
        ("source", pa.string()),
    ]
)

QUARANTINE = pa.schema(
    [
        ("record", pa.string()),  # the rejected record, verbatim
        ("reason", pa.string()),
        ("source_file", pa.string()),
        ("run_id", pa.string()),
    ]
)

# --- recaps -----------------------------------------------------------------------
_TOP_TRACK = pa.struct(
    [
        ("track_name", pa.string()),
        ("artist_name", pa.string()),
        ("streams", pa.int64()),
        ("minutes", pa.int64()),
    ]
)
_TOP_ARTIST = pa.struct(
    [("artist_name", pa.string()), ("streams", pa.int64()), ("minutes", pa.int64())]
)
_TOP_ALBUM = pa.struct(
    [("album_name", pa.string()), ("artist_name", pa.string()), ("streams", pa.int64())]
)
_TOP_GENRE = pa.struct([("genre", pa.string()), ("streams", pa.int64())])
_TOP_PODCAST = pa.struct([("show_name", pa.string()), ("minutes", pa.int64())])
_TOP_SONG = pa.struct([("track_name", pa.string()), ("artist_name", pa.string())])

RECAP = pa.schema(
    [
        ("user_id", pa.string()),
        ("year", pa.int32()),
        ("eligible", pa.bool_()),
        ("listening_minutes", pa.int64()),
        ("music_minutes", pa.int64()),
        ("podcast_minutes", pa.int64()),
        ("streams", pa.int64()),
        ("distinct_tracks", pa.int64()),
        ("distinct_artists", pa.int64()),
        ("top_tracks", pa.list_(_TOP_TRACK)),
        ("top_artists", pa.list_(_TOP_ARTIST)),
        ("top_albums", pa.list_(_TOP_ALBUM)),
        ("top_genres", pa.list_(_TOP_GENRE)),
        ("top_podcasts", pa.list_(_TOP_PODCAST)),
        ("top_songs", pa.list_(_TOP_SONG)),
        ("top_artist_percent", pa.float64()),
        ("hourly_minutes", pa.list_(pa.int64())),
        ("peak_hour", pa.int32()),
        ("monthly_minutes", pa.list_(pa.int64())),
        ("monthly_top_artist", pa.list_(pa.string())),
        ("busiest_day", pa.date32()),
        ("busiest_day_minutes", pa.int64()),
        ("longest_streak_days", pa.int32()),
        ("new_artists", pa.int32()),
        ("personality", pa.string()),
        ("minutes_change_pct", pa.float64()),
        ("distinct_genres", pa.int64()),
        ("top_track_percent", pa.float64()),
        ("listening_era", pa.int32()),
        ("listening_age", pa.int32()),
    ]
)


def spark_schema(schema: pa.Schema) -> StructType:
    """The Spark StructType for a pyarrow schema (all fields nullable)."""
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def column_names(schema: pa.Schema) -> list[str]:
    return [f.name for f in schema]
