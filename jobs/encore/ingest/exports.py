"""Personal exports: one listener's own listening history, brought to Encore.

    encore ingest --source FORMAT --input PATH --user-id U [--timezone TZ] [--data DIR]

Adapters for ``spotify-extended``, ``spotify-account``, ``listenbrainz`` and
``lastfm-csv`` (data-contracts.md, "Personal exports") only *rename*: each record
becomes one JSON line in the raw log's field names, and the line goes through the
same parser as the platform log (encore/ingest/canonical.py: same reason codes, same text
rules, same event_id). Exports are small, so reading them happens in Python on the
driver; the rules run in Spark.

``PATH`` is a folder, a file or a ``.zip`` (read in memory, never extracted: entries
with absolute or ``..`` paths are refused, and so are entries bigger than
``MAX_ENTRY_BYTES`` or compressed more than ``MAX_RATIO`` times). Only regular files
are read: links, devices, FIFOs and files whose real path leaves the folder refuse
the export, and the bytes actually read are capped per file and per export.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from encore.platform import datasets, identity, localtime, schemas, storage
from encore.platform.errors import EncoreError
from encore.platform.report import Report

FORMATS: dict[str, str] = {
    "spotify-extended": "Spotify extended streaming history (Streaming_History_Audio_*.json, "
    "Streaming_History_Video_*.json, endsong_*.json)",
    "spotify-account": "Spotify account data (StreamingHistory*.json music and podcast files)",
    "listenbrainz": "ListenBrainz export (zip with listens/<year>/<month>.jsonl, or JSONL)",
    "lastfm-csv": "Last.fm scrobbles CSV (uts,utc_time,artist,artist_mbid,album,album_mbid,track,track_mbid)",
}
# Formats without a duration: a play counts as the track's length, else the default.
WITHOUT_MS = {"listenbrainz", "lastfm-csv"}

MAX_ENTRY_BYTES = 512 * 1024 * 1024
MAX_TOTAL_BYTES = 2 * 1024 * 1024 * 1024
MAX_RATIO = 200
MAX_ENTRIES = 20_000

_RAW_FIELDS = {f.name for f in schemas.RAW_EVENT} - {"ip_addr", "user_id"}
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


def check_args(args: argparse.Namespace) -> None:
    if args.source and args.source not in FORMATS:
        raise EncoreError(
            f"unknown --source {args.source!r}: supported formats are {supported_formats_text()}"
        )
    if not args.input:
        raise EncoreError(
            "a personal export needs --input PATH (a folder, a file or a .zip) and --user-id U"
        )
    if args.user_id is None:
        raise EncoreError("a personal export needs --user-id U: whose plays these are")
    identity.check_user_id(args.user_id)  # the same rule as export-user and erase-user
    if args.timezone:
        check_timezone(args.timezone)


def check_timezone(tz: str) -> None:
    localtime.require_zone(tz)


# --- reading the input: folder, file or zip -------------------------------------------------
@dataclass
class Entry:
    name: str  # path inside the export, '/'-separated
    data: bytes


class _Budget:
    """The bytes actually read from one export, across its files and zip entries."""

    def __init__(self, label: str):
        self.label, self.total = label, 0

    def take(self, n: int, name: str) -> None:
        self.total += n
        if self.total > MAX_TOTAL_BYTES:
            raise EncoreError(
                f"{self.label}: more than {_size(MAX_TOTAL_BYTES)} read by {name}; "
                "refusing it: is this really one listener's export?"
            )


def read_entries(path: str) -> Iterator[Entry]:
    """Every file of the export, zips opened in memory (with their guards).

    Only regular files are read: a symbolic link, a device, a FIFO or a socket anywhere
    in the export refuses the whole export (naming it), and so does a file whose real
    path is outside the folder. The bytes read are capped per file
    (``MAX_ENTRY_BYTES``) and per export (``MAX_TOTAL_BYTES``), counting what is
    actually read rather than what the file system or a zip header claims."""
    if not os.path.lexists(path):
        raise EncoreError(f"--input {path}: no such file or folder")
    budget = _Budget(f"--input {path}")
    real = os.path.realpath(path)  # the path given is the caller's; links inside it are not
    if os.path.isdir(real):
        top = real
        for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
            for d in list(dirnames):
                if os.path.islink(os.path.join(dirpath, d)):
                    filenames.append(d)  # refused below, as a link
            dirnames[:] = sorted(
                d
                for d in dirnames
                if not d.startswith(".") and not os.path.islink(os.path.join(dirpath, d))
            )
            for name in sorted(set(filenames)):
                if name.startswith("."):
                    continue
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, top).replace(os.sep, "/")
                yield from _file_entries(full, rel, top=top, budget=budget)
    else:
        yield from _file_entries(real, os.path.basename(path), top=None, budget=budget)


def _refuse(rel: str, what: str) -> EncoreError:
    return EncoreError(
        f"{rel}: {what}; an export is read only from the regular files inside it: "
        "remove it or copy the real file into the export"
    )


def _read_regular(full: str, rel: str, *, top: str | None, budget: _Budget, limit: int) -> bytes:
    """The bytes of one regular file, opened without following links, at most ``limit``."""
    try:
        st = os.lstat(full)
    except OSError as err:
        raise EncoreError(f"{rel}: cannot be read ({err.strerror})") from None
    if stat.S_ISLNK(st.st_mode):
        raise _refuse(rel, f"is a symbolic link (to {os.readlink(full)!r})")
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(rel, f"is not a regular file ({_kind(st.st_mode)})")
    if top is not None:
        real = os.path.realpath(full)
        if os.path.commonpath([top, real]) != top:
            raise _refuse(rel, f"resolves outside the export ({real})")
    try:
        fd = os.open(
            full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        )
    except OSError as err:
        raise EncoreError(
            f"{rel}: cannot be read ({err.strerror}); is it a link or a special file?"
        ) from None
    with os.fdopen(fd, "rb") as f:
        opened = os.fstat(f.fileno())
        if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (
            st.st_dev,
            st.st_ino,
        ):
            raise _refuse(rel, "changed while it was opened")
        if opened.st_size > limit:
            raise EncoreError(
                f"{rel}: larger than {_size(limit)}; is this really one listener's export?"
            )
        chunks, size = [], 0
        while True:
            chunk = f.read(min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            size += len(chunk)
            budget.take(len(chunk), rel)
            if size > limit:
                raise EncoreError(
                    f"{rel}: larger than {_size(limit)}; is this really one listener's export?"
                )
            chunks.append(chunk)
    data = b"".join(chunks)
    if len(data) > opened.st_size:  # /proc and friends: size 0, content generated on read
        raise _refuse(rel, "gives more bytes than its size (a /proc or /sys file?)")
    return data


def _size(n: int) -> str:
    return f"{n >> 20} MB" if n >= 1 << 20 else f"{n} bytes"


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "a special file"


def _file_entries(full: str, rel: str, *, top: str | None, budget: _Budget) -> Iterator[Entry]:
    is_zip = rel.lower().endswith(
        ".zip"
    )  # a zip's own cap is the export's; its entries have theirs
    data = _read_regular(
        full, rel, top=top, budget=budget, limit=MAX_TOTAL_BYTES if is_zip else MAX_ENTRY_BYTES
    )
    if is_zip:
        yield from _zip_entries(data, rel, budget)
        return
    yield Entry(rel, data)


_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,
    RuntimeError,
    ValueError,
    OSError,
)


def _zip_entries(raw: bytes, rel: str, budget: _Budget) -> Iterator[Entry]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except _ZIP_ERRORS:
        raise EncoreError(f"{rel}: not a readable .zip file; download the export again") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > MAX_ENTRIES:
            raise EncoreError(f"{rel}: {len(infos)} entries; refusing more than {MAX_ENTRIES}")
        total = 0
        for info in infos:
            name = info.filename.replace("\\", "/")
            parts = name.split("/")
            if name.startswith("/") or ".." in parts or re.match(r"^[A-Za-z]:", name):
                raise EncoreError(
                    f"{rel}: entry {name!r} points outside the archive (zip-slip); refusing it"
                )
            if any(p.startswith(".") or p == "__MACOSX" for p in parts):
                continue
            mode = info.external_attr >> 16  # unix mode; zips made elsewhere leave the type bits 0
            if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
                raise _refuse(
                    f"{rel}: entry {name!r}",
                    f"is not a regular file ({'a symbolic link' if stat.S_ISLNK(mode) else _kind(mode)})",
                )
            if info.file_size > MAX_ENTRY_BYTES or (
                info.compress_size
                and info.file_size > MAX_RATIO * info.compress_size
                and info.file_size > 1 << 20
            ):
                raise EncoreError(
                    f"{rel}: entry {name!r} is too large or too compressed to be an export; refusing it"
                )
            total += info.file_size
            if total > MAX_TOTAL_BYTES:
                raise EncoreError(
                    f"{rel}: more than {MAX_TOTAL_BYTES >> 20} MB uncompressed; refusing it"
                )
            try:
                with zf.open(info) as f:
                    data = f.read(MAX_ENTRY_BYTES + 1)  # the header can lie about sizes
            except _ZIP_ERRORS as err:
                raise EncoreError(
                    f"{rel}: entry {name!r} cannot be read ({err.__class__.__name__}: {err}); "
                    "the zip is damaged: download the export again"
                ) from None
            if len(data) > MAX_ENTRY_BYTES:
                raise EncoreError(f"{rel}: entry {name!r} is larger than it claims; refusing it")
            budget.take(len(data), f"{rel}/{name}")
            yield Entry(f"{rel}/{name}", data)


# --- detecting the format -----------------------------------------------------------------
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


# --- adapters: rename only ---------------------------------------------------------------
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


# --- the run --------------------------------------------------------------------------------
def collect(
    input_path: str, source: str | None, user_id: str
) -> tuple[str, dict[str, Records], list[str]]:
    """(format, {file: records}, files skipped) for an export."""
    entries = list(read_entries(input_path))
    detected = {e.name: detect(e) for e in entries}
    if source is None:
        found = sorted({f for f in detected.values() if f})
        if not found:
            raise EncoreError(
                f"--input {input_path}: no listening history recognised; supported formats are "
                f"{supported_formats_text()} (pass --source FORMAT if the file names were changed)"
            )
        if len(found) > 1:
            raise EncoreError(
                f"--input {input_path} holds more than one format ({', '.join(found)}): "
                "pass --source FORMAT to choose one"
            )
        source = found[0]
    chosen = [e for e in entries if detected[e.name] == source]
    if not chosen and len(entries) == 1:
        chosen = entries  # one file, format given: trust --source
    if not chosen:
        raise EncoreError(f"--input {input_path}: no {source} files found ({FORMATS[source]})")
    skipped = [e.name for e in entries if e not in chosen]
    return source, {e.name: to_records(source, e, user_id) for e in chosen}, skipped


def ingest_export(
    spark: SparkSession,
    cfg: dict,
    *,
    root: str,
    run_id: str,
    source: str | None,
    input_path: str,
    user_id: str,
    timezone: str | None = None,
    quiet: bool = False,
) -> int:
    from encore.ingest.events import ingest_lines
    from encore.platform.spark import require_utc

    identity.check_user_id(user_id)
    if timezone:
        check_timezone(timezone)
    require_utc(spark, "ingest")
    erased = {r.user_id for r in datasets.erased_user_ids(spark, root).collect()}
    if user_id in erased:
        raise EncoreError(
            f"listener {user_id!r} asked for erasure (privacy/erasures/): their export is not ingested"
        )
    fmt, by_file, skipped = collect(input_path, source, user_id)
    report = Report("ingest", root, run_id, quiet=quiet)
    report.set("export", {"format": fmt, "files": sorted(by_file), "skipped_files": skipped})
    report.say(f"{FORMATS[fmt]}: {len(by_file)} file(s)")  # logs outlive an erasure: no user id
    for name in skipped:
        report.skipped(name, f"not a {fmt} listening-history file")
    label = os.path.basename(os.path.normpath(input_path))
    source_of = {
        name: identity.export_source(user_id, f"{label}/{name}" if name != label else label)
        for name in by_file
    }
    rows = []
    for name, recs in by_file.items():
        if recs.problem:
            report.note(f"{name}: {recs.problem}")
        rows += [(value, original, source_of[name]) for value, original in recs.rows]
    lines = (
        spark.createDataFrame(rows, "value binary, original binary, source_file string").select(
            F.col("value").cast("string").alias("value"),
            F.col("original").cast("string").alias("original"),
            "source_file",
        )
        if rows
        else None
    )
    durations = None
    if fmt in WITHOUT_MS:
        tracks = datasets.read_dimension(spark, root, "catalog/tracks")
        if tracks is not None:
            durations = (
                tracks.where(F.col("duration_ms").isNotNull())
                .groupBy(
                    F.lower("track_name").alias("track_key"),
                    F.lower("artist_name").alias("artist_key"),
                )
                .agg(F.min("duration_ms").alias("duration_ms"))
            )
    work = datasets.path(root, f".ingest-{run_id}")
    try:
        report.phase("plays")
        result = ingest_lines(
            spark,
            cfg,
            root=root,
            run_id=run_id,
            work=work,
            report=report,
            lines=lines,
            files=sorted(source_of.values()),
            source=fmt,
            missing_ms="default" if fmt in WITHOUT_MS else "reject",
            durations=durations,
        )
        report.phase("other sources")
        drop_cross_source_duplicates(spark, root, user_id, run_id, report)
        report.phase("listener")
        save_listener(spark, root, user_id, timezone, run_id, report, cfg=cfg)
    finally:
        storage.delete(work)
    _listener_summary(report, result)
    report.finish()
    return 0


def save_listener(
    spark: SparkSession,
    root: str,
    user_id: str,
    timezone: str | None,
    run_id: str,
    report: Report,
    *,
    cfg: dict | None = None,
) -> None:
    """Make sure users/ has a row for the listener, with their time zone.

    A personal export carries no zone (recap-rules.md, "Local time"): ``--timezone``
    sets it; else a zone stored earlier is kept; else, when at least 90 % of the
    listener's plays come from one country (``conn_country``) that has a single time
    zone, that zone is stored; otherwise none (UTC). The command says which and why.

    A new row is opted out of marketing: someone who brings their own export has not
    agreed to their plays feeding campaigns."""
    users = datasets.read_dimension(spark, root, "users")
    user_schema = schemas.spark_schema(schemas.USERS)
    mine = users.where(F.col("user_id") == user_id) if users is not None else None
    existing = mine.collect() if mine is not None else []
    stored = next((r["timezone"] for r in existing if r["timezone"]), None)
    share = ((cfg or {}).get("ingest") or {}).get("export_zone_share") or 0.9
    if timezone:
        zone, how, why = timezone, "--timezone", f"set by --timezone {timezone}"
    elif stored:
        zone, how, why = stored, "stored", f"stored by an earlier ingest ({stored})"
    else:
        detected, why = _detect_zone(spark, root, user_id, share)
        zone, how = (detected, "detected") if detected != "UTC" else (None, "fallback")
    shown = zone or "UTC"
    report.set("timezone", {"zone": shown, "how": how, "why": why, "tzdata": localtime.VERSION})
    report.say(f"time zone: {shown} ({why})")
    if how != "--timezone":
        report.say(
            "  to use another, ingest again with --timezone ZONE (e.g. --timezone Asia/Kolkata); "
            "recaps then follow it"
        )
    if existing and (how in ("stored", "fallback") or existing[0]["timezone"] == zone):
        return  # nothing to change
    row = spark.createDataFrame([(user_id, None, None, zone, None, True)], user_schema)
    if users is None:
        table = row
    else:
        if existing:
            row = mine.withColumn("timezone", F.lit(zone).cast("string"))
        table = users.where(F.col("user_id") != user_id).unionByName(row.select(*users.columns))
    datasets.write_dataset(
        table.coalesce(1).sortWithinPartitions("user_id"),
        datasets.path(root, "users"),
        run_id=run_id,
    )
    report.wrote(
        "users row", f"the listener's (time zone {shown})"
    )  # no user id: logs outlive an erasure


def _detect_zone(spark: SparkSession, root: str, user_id: str, share: float) -> tuple[str, str]:
    """(zone or "UTC", why) from the countries of the listener's plays in events/."""
    events = datasets.read_events(spark, root, required=False)
    rows = (
        events.where(F.col("user_id") == user_id)
        .groupBy("country")
        .agg(F.count(F.lit(1)).alias("n"), F.min("ts").alias("first"), F.max("ts").alias("last"))
        .collect()
    )
    if not rows:
        return "UTC", "no plays to look at: using UTC"
    first = min(r["first"] for r in rows)
    last = max(r["last"] for r in rows)
    start, end = (
        first.replace(tzinfo=first.tzinfo or UTC),
        last.replace(tzinfo=last.tzinfo or UTC),
    )
    return localtime.choose_export_zone(
        {r["country"]: r["n"] for r in rows}, start, end + timedelta(seconds=1), share=share
    )


# --- one play in two sources -----------------------------------------------------
# data-contracts.md: a play another source of the same listener already holds is a
# duplicate. Richer first: the kept record is the one with the real ms_played.
RICHNESS = {"spotify-extended": 0, "spotify-account": 1, "listenbrainz": 2, "lastfm-csv": 3}
CROSS_SOURCE_TOLERANCE_S = 60
"""Two plays of the same track whose start times differ by at most this are one play."""


def _same_play_key(df: DataFrame) -> DataFrame:
    """Track plays with (artist, track) normalised and the play's start instant in
    seconds: a Spotify ``ts`` is when playback stopped, so it started ``ms_played``
    earlier; ListenBrainz ``listened_at`` and Last.fm ``uts`` are the start itself."""

    def norm(c):
        return F.lower(F.regexp_replace(F.trim(F.col(c)), r"\s+", " "))

    rich = F.coalesce(
        *[F.when(F.col("source") == k, F.lit(v)) for k, v in RICHNESS.items()], F.lit(None)
    )
    start = F.when(F.col("source").isin(*sorted(WITHOUT_MS)), F.unix_seconds("ts")).otherwise(
        F.unix_seconds("ts") - F.floor(F.coalesce(F.col("ms_played"), F.lit(0)) / 1000)
    )
    return (
        df.where(
            (F.col("kind") == "track")
            & F.col("artist_name").isNotNull()
            & F.col("track_name").isNotNull()
        )
        .select(
            "event_id",
            "user_id",
            "year",
            "month",
            norm("artist_name").alias("k_artist"),
            norm("track_name").alias("k_track"),
            rich.alias("rich"),
            start.alias("start_s"),
        )
        .where(F.col("rich").isNotNull())
    )


def cross_source_duplicates(
    events: DataFrame, tolerance_s: int = CROSS_SOURCE_TOLERANCE_S
) -> DataFrame:
    """(event_id, year, month) of the poorer copy of every play two sources of one
    listener both hold: same normalised artist and track, starts at most
    ``tolerance_s`` apart. Matching is one to one (each play pairs with its nearest
    counterpart, both ways), so a real repeat one track-length later counts twice."""
    from pyspark.sql import Window

    k = _same_play_key(events)
    a, b = k.alias("a"), k.alias("b")
    pairs = a.join(
        b,
        (F.col("a.user_id") == F.col("b.user_id"))
        & (F.col("a.k_artist") == F.col("b.k_artist"))
        & (F.col("a.k_track") == F.col("b.k_track"))
        & (F.col("a.rich") < F.col("b.rich"))
        & (F.abs(F.col("a.start_s") - F.col("b.start_s")) <= tolerance_s),
    )
    pairs = pairs.select(
        F.col("a.event_id").alias("keep"),
        F.col("b.event_id").alias("drop"),
        F.col("b.year").alias("year"),
        F.col("b.month").alias("month"),
        F.col("b.rich").alias("drop_rich"),
        F.abs(F.col("a.start_s") - F.col("b.start_s")).alias("gap"),
    )
    by_drop = Window.partitionBy("drop").orderBy("gap", "keep")
    by_keep = Window.partitionBy("keep", "drop_rich").orderBy(
        "gap", "drop"
    )  # one partner per source
    return (
        pairs.withColumn("r1", F.row_number().over(by_drop))
        .withColumn("r2", F.row_number().over(by_keep))
        .where((F.col("r1") == 1) & (F.col("r2") == 1))
        .select(F.col("drop").alias("event_id"), "year", "month")
    )


def drop_cross_source_duplicates(
    spark: SparkSession, root: str, user_id: str, run_id: str, report: Report
) -> int:
    """Remove from events/ the poorer copy of each of the listener's plays that two of
    their sources hold; returns how many. Idempotent: a second run finds none."""
    from encore.ingest.events import month_filter, replace_months

    events = datasets.read_events(spark, root, required=False)
    if "year" not in events.columns:  # no events/ yet (e.g. every play was quarantined)
        report.set("cross_source_duplicates", 0)
        return 0
    mine = events.where(F.col("user_id") == user_id)
    drops = cross_source_duplicates(mine).collect()
    report.set("cross_source_duplicates", len(drops))
    if not drops:
        return 0
    months = sorted({(r["year"], r["month"]) for r in drops})
    ids = spark.createDataFrame([(r["event_id"],) for r in drops], "event_id string")
    cols = schemas.column_names(schemas.EVENT) + ["year", "month"]
    kept = (
        events.where(month_filter(months))
        .join(F.broadcast(ids), "event_id", "left_anti")
        .select(*cols)
    )
    replace_months(root, kept, months, run_id)
    report.say(
        f"{len(drops)} play(s) were already in another of your sources (same track within "
        f"{CROSS_SOURCE_TOLERANCE_S} s): counted once, the richer record kept"
    )
    return len(drops)


def _listener_summary(report: Report, result: dict) -> None:
    from encore.ingest.canonical import REASONS

    t = result["reconciliation"]["total"]
    skipped = t["quarantined"] + t["duplicates"]
    report.say(f"plays read {t['read']}, kept {t['accepted']}, skipped {skipped}")
    if t["duplicates"]:
        report.say(f"  {t['duplicates']:>6}  duplicates (the same play twice, e.g. in two files)")
    for reason, n in t["reasons"].items():
        report.say(f"  {n:>6}  {reason}: {REASONS.get(reason, reason)}")
    span = report.body.get("date_range") or {}
    if span.get("first"):
        report.say(f"plays from {span['first'][:10]} to {span['last'][:10]} (UTC)")
    ev = result["events"]
    report.say(f"new in events/: {ev['new']}; already there: {ev['already_present']}")
