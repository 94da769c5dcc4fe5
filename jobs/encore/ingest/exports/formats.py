"""The personal-export formats Encore reads (data-contracts.md, "Personal exports"),
the checks on the command's arguments, and which format a file is."""

from __future__ import annotations

import re

from encore.ingest.exports.reading import Entry
from encore.platform import identity, localtime
from encore.platform.errors import EncoreError

FORMATS: dict[str, str] = {
    "spotify-extended": "Spotify extended streaming history (Streaming_History_Audio_*.json, "
    "Streaming_History_Video_*.json, endsong_*.json)",
    "spotify-account": "Spotify account data (StreamingHistory*.json music and podcast files)",
    "listenbrainz": "ListenBrainz export (zip with listens/<year>/<month>.jsonl, or JSONL)",
    "lastfm-csv": "Last.fm scrobbles CSV (uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid)",
}
# Formats without a duration: a play counts as the track's length, else the default.
WITHOUT_MS = {"listenbrainz", "lastfm-csv"}

LASTFM_HEADER = [
    "uts",
    "utc_time",
    "artist",
    "artist_mbid",
    "album",
    "album_mbid",
    "track",
    "track_mbid",
]


def supported_formats_text() -> str:
    return ", ".join(FORMATS)


def check_args(
    *, source: str | None, input_path: str | None, user_id: str | None, timezone: str | None
) -> None:
    """A personal export's options, each bad one a one-line EncoreError naming its flag."""
    if source and source not in FORMATS:
        raise EncoreError(
            f"unknown --source {source!r}: supported formats are {supported_formats_text()}"
        )
    if not input_path:
        raise EncoreError(
            "a personal export needs --input PATH (a folder, a file or a .zip) and --user-id U"
        )
    if user_id is None:
        raise EncoreError("a personal export needs --user-id U: whose plays these are")
    identity.check_user_id(user_id)  # the same rule as export-user and erase-user
    if timezone:
        check_timezone(timezone)


def check_timezone(tz: str) -> None:
    localtime.require_zone(tz)


_NAME_RULES = [
    (
        "spotify-extended",
        re.compile(r"(^|/)(Streaming_History_(Audio|Video)_[^/]*|endsong(_\d+)?)\.json$", re.I),
    ),
    ("spotify-account", re.compile(r"(^|/)StreamingHistory[^/]*\.json$", re.I)),
    ("listenbrainz", re.compile(r"(^|/)listens/\d{4}/\d{1,2}\.jsonl$", re.I)),
]


def detect(entry: Entry) -> str | None:
    """The format of one file, from its name, else from a peek at its content."""
    for fmt, rule in _NAME_RULES:
        if rule.search(entry.name):
            return fmt
    low = entry.name.lower()
    head = entry.data[:4096].decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    if low.endswith(".csv"):
        first = head.splitlines()[0] if head else ""
        return (
            "lastfm-csv"
            if [c.strip().lower() for c in first.split(",")][:3] == LASTFM_HEADER[:3]
            else None
        )
    if low.endswith((".jsonl", ".ndjson")):
        return "listenbrainz" if '"listened_at"' in head.split("\n", 1)[0] else None
    if low.endswith(".json") and head.startswith("["):
        if '"listened_at"' in head:
            return "listenbrainz"
        if '"ms_played"' in head and '"ts"' in head:
            return "spotify-extended"
        if '"endTime"' in head and '"msPlayed"' in head:
            return "spotify-account"
    return None
