"""The adapters: each record of an export becomes one JSON line in the raw log's field
names. They only *rename*; the shared parser (encore/ingest/canonical.py) applies the
rules, so an export gets the same reason codes, text rules and event_id as the log."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field

from encore.ingest.exports.formats import LASTFM_HEADER, supported_formats_text
from encore.ingest.exports.reading import Entry
from encore.platform import schemas
from encore.platform.errors import EncoreError

_RAW_FIELDS = {f.name for f in schemas.RAW_EVENT} - {"ip_addr", "user_id"}


@dataclass
class Records:
    """What the adapters produce for one file: (value, original) pairs of UTF-8 bytes."""

    rows: list[tuple[bytes, bytes | None]] = field(default_factory=list)
    problem: str | None = None


def _dump(obj) -> bytes:
    # surrogateescape gives back any invalid UTF-8 bytes the file had, so the shared
    # parser sees them and says bad_encoding.
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode(
        "utf-8", "surrogateescape"
    )


def _load_json(entry: Entry):
    return json.loads(entry.data.decode("utf-8-sig", "surrogateescape"))


def _json_array(entry: Entry, mapper, user_id: str) -> Records:
    out = Records()
    try:
        items = _load_json(entry)
    except (ValueError, RecursionError) as err:  # RecursionError: absurdly deep nesting
        out.problem = f"not valid JSON ({err.__class__.__name__}): counted as one bad_json record"
        out.rows.append((entry.data[:1_000_000], None))
        return out
    if not isinstance(items, list):
        items = [items]
    for item in items:
        original = _dump(item)
        out.rows.append(
            (_dump(mapper(item, user_id)) if isinstance(item, dict) else original, original)
        )
    return out


def _json_lines(entry: Entry, mapper, user_id: str) -> Records:
    out = Records()
    for line in entry.data.split(b"\n"):
        if not line.strip():
            continue
        try:
            item = json.loads(line.decode("utf-8", "surrogateescape"))
        except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
            out.rows.append((line.rstrip(b"\r"), None))  # the parser says bad_json
            continue
        original = line.rstrip(b"\r")
        out.rows.append(
            (_dump(mapper(item, user_id)) if isinstance(item, dict) else original, original)
        )
    return out


def map_spotify_extended(item: dict, user_id: str) -> dict:
    # username, ip_addr(_decrypted), user_agent_decrypted and any unknown field are dropped
    mapped = {k: v for k, v in item.items() if k in _RAW_FIELDS}
    mapped["user_id"] = user_id
    return mapped


def map_spotify_account(item: dict, user_id: str) -> dict:
    mapped = {"user_id": user_id, "ts": item.get("endTime"), "ms_played": item.get("msPlayed")}
    if "podcastName" in item or "episodeName" in item:
        mapped["episode_show_name"] = item.get("podcastName")
        mapped["episode_name"] = item.get("episodeName")
    else:
        mapped["master_metadata_album_artist_name"] = item.get("artistName")
        mapped["master_metadata_track_name"] = item.get("trackName")
    return mapped


_SPOTIFY_TRACK_URL = re.compile(r"open\.spotify\.com/track/([A-Za-z0-9]{22})")


def map_listenbrainz(item: dict, user_id: str) -> dict:
    meta = item.get("track_metadata") if isinstance(item.get("track_metadata"), dict) else {}
    info = meta.get("additional_info") if isinstance(meta.get("additional_info"), dict) else {}
    mapped = {
        "user_id": user_id,
        "ts": item.get("listened_at"),
        "master_metadata_track_name": meta.get("track_name"),
        "master_metadata_album_artist_name": meta.get("artist_name"),
        "master_metadata_album_album_name": meta.get("release_name"),
    }
    duration = info.get("duration_ms")
    if (
        duration is None
        and isinstance(info.get("duration"), int | float)
        and not isinstance(info.get("duration"), bool)
    ):
        duration = int(info["duration"] * 1000)  # some submitters send seconds
    if duration is not None:
        mapped["track_duration_ms"] = duration
    match = _SPOTIFY_TRACK_URL.search(str(info.get("spotify_id") or ""))
    if match:
        mapped["spotify_track_uri"] = f"spotify:track:{match.group(1)}"
    return mapped


def _lastfm(entry: Entry, user_id: str) -> Records:
    out = Records()
    text = entry.data.decode("utf-8-sig", "surrogateescape")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        return out
    header = [c.strip().lower() for c in rows[0]]
    if header[:3] != LASTFM_HEADER[:3]:
        rows.insert(0, LASTFM_HEADER)  # exports without a header line
        header = LASTFM_HEADER
    for row in rows[1:]:
        if not any(c.strip() for c in row):
            continue
        record = dict(zip(header, row, strict=False))
        if len(row) > len(header):
            record["_extra"] = row[len(header) :]
        mapped = {
            "user_id": user_id,
            "ts": record.get("uts") or None,
            "master_metadata_album_artist_name": record.get("artist"),
            "master_metadata_album_album_name": record.get("album"),
            "master_metadata_track_name": record.get("track"),
        }
        out.rows.append((_dump(mapped), _dump(record)))
    return out


def to_records(fmt: str, entry: Entry, user_id: str) -> Records:
    if fmt == "spotify-extended":
        return _json_array(entry, map_spotify_extended, user_id)
    if fmt == "spotify-account":
        return _json_array(entry, map_spotify_account, user_id)
    if fmt == "listenbrainz":
        if entry.name.lower().endswith(".json"):
            return _json_array(entry, map_listenbrainz, user_id)
        return _json_lines(entry, map_listenbrainz, user_id)
    if fmt == "lastfm-csv":
        return _lastfm(entry, user_id)
    raise EncoreError(f"unknown format {fmt!r}: supported formats are {supported_formats_text()}")
