"""Listener data rights (privacy.md, "The listener's controls"):

- ``encore export-user --data DIR --user-id U``: a zip with the listener's canonical
  events (never an IP address: ingest drops it), their recaps for every year, their
  cards, and a README explaining every file and field in plain language.
- ``encore erase-user --data DIR --user-id U``: records the request in
  ``privacy/erasures/``, then removes the listener from every dataset that holds them,
  rewriting only the partitions and files that do, each swapped in atomically.
  Idempotent: a second erasure changes nothing. Later runs exclude the listener because
  every job filters erasures first. Released facts are not re-drawn (see README text).

User ids never become file names: an export lives under ``exports/<export token>/``,
an HMAC of the user id with the share secret.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import hmac
import io
import json
import os
import posixpath
import re
import zipfile
from datetime import UTC, datetime

from . import datasets, schemas, share, storage
from .cli import add_common
from .config import share_secret
from .errors import EncoreError
from .report import Report

_USER_ID_OK = re.compile(r"^[A-Za-z0-9_.:@+\-]{1,128}$")

# Parquet datasets that hold one row per listener and something: (path under root, id column,
# partition depth). Partitioned ones are rewritten partition by partition.
USER_DATASETS: list[tuple[str, str]] = [
    ("events", "user_id"),
    ("recaps", "user_id"),
    ("deliveries", "user_id"),
    ("users", "user_id"),
    ("playlists", "owner_user_id"),
]


def add_arguments_for(command: str, p: argparse.ArgumentParser) -> None:
    add_common(p)
    p.add_argument("--user-id", required=True, metavar="U", help="the listener's user id")
    p.add_argument("--demo", action="store_true", help="generated data: allow the labelled demo secret")
    if command == "export-user":
        p.add_argument("--out", metavar="PATH", help="also copy the zip here")


def add_arguments(p: argparse.ArgumentParser) -> None:  # for pipeline-style callers
    add_arguments_for("export-user", p)


def run_for(command: str, args: argparse.Namespace, cfg: dict) -> int:
    check_user_id(args.user_id)
    secret = share_secret(demo=args.demo, root=args.data)
    from .spark import get_session

    spark = get_session(cfg, command, args.spark_profile)
    if command == "export-user":
        export_user(spark, args.data, args.user_id, secret, run_id=args.run_id, out=args.out)
    else:
        erase_user(spark, args.data, args.user_id, secret, run_id=args.run_id)
    return 0


def check_user_id(user_id: str) -> None:
    """Refuse ids that could act as paths or break a filter ('../../etc', NUL bytes)."""
    if not _USER_ID_OK.match(user_id or ""):
        raise EncoreError(
            f"--user-id {user_id!r} is not a user id: use 1-128 letters, digits or _ . : @ + -"
        )


def export_token(secret: bytes, user_id: str) -> str:
    digest = hmac.new(secret, f"export:{user_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode("ascii")[: share.TOKEN_LENGTH].lower()


# ------------------------------------------------------------------------------ export
EXPORT_README = """\
Your Encore data
================

This package holds everything Encore, the yearly-recap system of this music
service, keeps about your listening. It was made on {made} at your request.

Files
-----
- listening_history/<year>.jsonl: every play we kept, one JSON object per line,
  oldest first. {n_events} plays in all, from {first} to {last} (UTC).
- recaps/<year>.json: your yearly recap for each year we computed one
  ({recap_years}).
- cards/<year>/*.svg and summary.png: your story cards and summary image, where you
  had enough listening that year for a recap page.
- README.txt: this file.

The fields of a play (listening_history)
----------------------------------------
- event_id: a fingerprint of the play, used to drop duplicates the app sent twice.
- user_id: your account's identifier.
- ts: when playback STOPPED, in UTC (not your local time).
- ms_played: how long it played, in milliseconds (60,000 ms = one minute).
- kind: track (music), episode (podcast) or audiobook.
- track_uri, track_name, artist_name, album_name: the song, for music.
- episode_uri, episode_name, show_name: the podcast episode, for podcasts.
- platform: the device or app it played on.
- country: the country you were connected from.
- private_session: true when you listened in a private session. Such plays count
  towards your own minutes in your recap and towards NOTHING else: not your top lists,
  not your listening clock, not any statistic about listeners, not any campaign.
- skipped, shuffle, offline: whether you skipped, listened on shuffle, or offline.
- reason_start, reason_end: why playback started and ended (trackdone = the track
  finished, fwdbtn = you pressed next, ...).
- source: where the record came from (the service's own log, or an export you uploaded).

What we never keep
------------------
Your IP address is dropped the moment a play enters Encore and is stored nowhere,
so it is not in this package either.

Your recap (recaps/<year>.json)
-------------------------------
A "stream" is a play of a song for 30 seconds or more outside a private session.
The year's window runs from 1 January to 15 November (UTC).
- user_id, year: whose recap, and which year.
- eligible: true when you had at least 30 streams of at least 5 artists; only then do
  you get cards and a recap page.
- listening_minutes: all your minutes in the window, private sessions included.
- music_minutes, podcast_minutes: the same for music only and podcasts only.
- streams: your number of streams.
- distinct_tracks, distinct_artists: how many different songs and artists you streamed.
- top_tracks, top_artists, top_albums: your top 5, ranked by streams, then time listened.
- top_genres: the genres of the artists you streamed, each stream counting once per genre.
- top_podcasts: the shows you listened to most, by time.
- top_songs: your top 100 songs, for your "Top Songs" playlist.
- top_artist_percent: "you're in the top X % of this artist's listeners", shown only
  to you, computed among at least 100 listeners.
- hourly_minutes: your minutes in each hour of the day, in your own time zone.
- peak_hour: the hour you listened most.
- monthly_minutes: your minutes in each month.
- monthly_top_artist: your top artist of each month.
- busiest_day, busiest_day_minutes: the day you listened most, and how much.
- longest_streak_days: most days in a row with at least one stream.
- new_artists: artists you streamed for the first time ever this year.
- personality: your four-letter listening personality.
- minutes_change_pct: how your minutes changed from last year, in percent.

Statistics about many listeners
-------------------------------
Encore also publishes a few fun facts about all listeners together ("the most
streamed song on Valentine's Day"). Those are computed with differential privacy:
random noise, sized so that no fact can reveal whether any one person - you
included - was in the data at all. If you opted out of marketing, your plays were not
used for them. If you ask us to erase your data, facts already released are not
recomputed: they never depended on you in a way anyone could detect.
"""


def export_user(spark, root: str, user_id: str, secret: bytes, *, run_id: str | None = None,
                out: str | None = None) -> str:
    report = Report("export-user", root, run_id)
    if _is_erased(spark, root, user_id):
        raise EncoreError(f"user {user_id!r} asked to be erased: there is no data to export")
    from pyspark.sql import functions as F

    report.phase("reading the listener's events")
    events = datasets.read_events(spark, root, required=False).where(F.col("user_id") == user_id)
    events = events.select(*schemas.column_names(schemas.EVENT)).orderBy("ts", "event_id")
    by_year: dict[int, list[str]] = {}
    n_events, first, last = 0, None, None
    for row in events.toLocalIterator():  # one listener's history, streamed
        rec = row.asDict()
        ts = rec["ts"]
        rec["ts"] = ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if ts else None
        by_year.setdefault(ts.year, []).append(json.dumps(rec, ensure_ascii=False, sort_keys=True))
        n_events += 1
        first = first or rec["ts"]
        last = rec["ts"]
    report.read("events", n_events)

    report.phase("reading recaps")
    recaps: dict[int, dict] = {}
    recaps_root = datasets.path(root, "recaps")
    for name in storage.listdir(recaps_root):
        if not name.startswith("year="):
            continue
        year = int(name[5:])
        rows = spark.read.parquet(storage.join(recaps_root, name)).where(F.col("user_id") == user_id).collect()
        if rows:
            recaps[year] = _jsonable(rows[0].asDict(recursive=True))
    report.read("recaps", len(recaps))
    if n_events == 0 and not recaps and not _in_users(spark, root, user_id):
        raise EncoreError(f"unknown user id {user_id!r}: no events, recaps or user record under {root}")

    report.phase("building the zip")
    buf = io.BytesIO()
    cards = 0
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for year, lines in sorted(by_year.items()):
            _zip_write(zf, f"listening_history/{year}.jsonl", ("\n".join(lines) + "\n").encode("utf-8"))
        for year, recap in sorted(recaps.items()):
            _zip_write(zf, f"recaps/{year}.json", json.dumps(recap, indent=2, ensure_ascii=False).encode("utf-8"))
            page = storage.join(root, "site", str(year), share.share_token(secret, user_id, year))
            for name in storage.listdir(page):
                if name.endswith((".svg", ".png")):
                    _zip_write(zf, f"cards/{year}/{name}", storage.read_bytes(storage.join(page, name)))
                    cards += 1
        _zip_write(zf, "README.txt", EXPORT_README.format(
            made=datetime.now(UTC).strftime("%Y-%m-%d"), n_events=n_events, first=first or "-",
            last=last or "-", recap_years=", ".join(map(str, sorted(recaps))) or "none").encode("utf-8"))
    target = storage.join(root, "exports", export_token(secret, user_id), "encore-export.zip")
    storage.write_bytes_atomic(target, buf.getvalue())
    # the report names no token: reports outlive an erasure (the path is printed below)
    report.wrote("zip", "exports/<the listener's export token>/encore-export.zip")
    report.wrote("files", {"listening_history": len(by_year), "recaps": len(recaps), "cards": cards})
    if out:
        storage.write_bytes_atomic(out, buf.getvalue())
        report.wrote("copy", out)
    report.finish()
    print(target)
    return target


def _zip_write(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=(2000, 1, 1, 0, 0, 0))  # stable bytes
    info.compress_type = zipfile.ZIP_DEFLATED
    zf.writestr(info, data)


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _in_users(spark, root: str, user_id: str) -> bool:
    from pyspark.sql import functions as F

    users = datasets.read_dimension(spark, root, "users")
    return users is not None and users.where(F.col("user_id") == user_id).limit(1).count() > 0


def _is_erased(spark, root: str, user_id: str) -> bool:
    from pyspark.sql import functions as F

    return datasets.erased_user_ids(spark, root).where(F.col("user_id") == user_id).limit(1).count() > 0


# ------------------------------------------------------------------------------- erase
def erase_user(spark, root: str, user_id: str, secret: bytes, *, run_id: str | None = None) -> dict:
    """Erase a listener everywhere; returns {what: count removed}."""
    from pyspark.sql import functions as F

    report = Report("erase-user", root, run_id)
    removed: dict[str, int] = {}

    report.phase("recording the request")
    if _is_erased(spark, root, user_id):
        report.note("the erasure request was already recorded")
    else:
        erasures = datasets.read_dimension(spark, root, "privacy/erasures")
        new = spark.createDataFrame(
            [(user_id, datetime.now(UTC))], schemas.spark_schema(schemas.ERASURES))
        merged = new if erasures is None else erasures.unionByName(new)
        datasets.write_dataset(merged.coalesce(1), datasets.path(root, "privacy", "erasures"), run_id=report.run_id)
        report.wrote("privacy/erasures", "1 request recorded")

    report.phase("removing the listener's rows")
    for rel, column in USER_DATASETS:
        base = datasets.path(root, rel)
        for part in _leaf_partitions(base):
            df = spark.read.parquet(part)
            if column not in df.columns:
                continue
            hits = df.where(F.col(column) == user_id).limit(1).count()
            if not hits:
                continue
            n = df.where(F.col(column) == user_id).count()
            kept = df.where((F.col(column) != user_id) | F.col(column).isNull())
            datasets.write_dataset(kept.coalesce(max(1, df.rdd.getNumPartitions())), part, run_id=report.run_id)
            rel_part = posixpath.relpath(part, root) if "://" not in root else part
            removed[rel_part] = n
            report.wrote(f"rewrote {rel_part}", f"-{n} rows")

    report.phase("removing quarantined records")
    qpath = datasets.path(root, "quarantine")
    for part in _leaf_partitions(qpath):
        df = spark.read.parquet(part)
        needle = json.dumps(user_id)  # "usr_x" as it appears inside a JSON record
        # platform-log rows name the listener inside the record; personal-export rows
        # also in source_file ("export:<user>:<file>")
        match = (F.col("record").contains(needle) | F.col("record").contains(user_id)
                 | F.col("source_file").contains(f"export:{user_id}:"))
        if df.where(match).limit(1).count():
            n = df.where(match).count()
            datasets.write_dataset(df.where(~match), part, run_id=report.run_id)
            removed[f"quarantine/{posixpath.relpath(part, qpath)}"] = n
            report.wrote("rewrote quarantine", f"-{n} records")

    report.phase("removing pages, cards and exports")
    site = datasets.path(root, "site")
    for year in storage.listdir(site):
        if not year.isdigit():
            continue
        page = storage.join(site, year, share.share_token(secret, user_id, int(year)))
        if storage.exists(page):
            storage.delete(page)
            removed[f"site/{year}/<token>"] = 1
            report.wrote(f"deleted site/{year}/<page>", 1)
    export_dir = datasets.path(root, "exports", export_token(secret, user_id))
    if storage.exists(export_dir):
        storage.delete(export_dir)
        removed["exports/<token>"] = 1
        report.wrote("deleted export package", 1)

    report.phase("scrubbing raw input files")
    removed.update(_scrub_raw(root, user_id, report))

    if not removed:
        report.note("nothing held this listener: the request is recorded, so later runs exclude them")
    report.set("removed", removed)
    report.finish()
    return removed


def _leaf_partitions(base: str) -> list[str]:
    """The folders under ``base`` that hold Parquet files directly (partition leaves)."""
    storage.recover(base)
    if not storage.is_dir(base):
        return []
    names = storage.listdir(base)
    subdirs = [n for n in names if "=" in n and not n.startswith((".", "_"))]
    if not subdirs:
        return [base] if any(n.endswith(".parquet") for n in names) else []
    out: list[str] = []
    for n in subdirs:
        out.extend(_leaf_partitions(storage.join(base, n)))
    return out


def _scrub_raw(root: str, user_id: str, report: Report) -> dict[str, int]:
    """Rewrite raw JSON Lines / CSV inputs that mention the listener, without them.
    (The platform's landing zone: a later ingest must not bring them back.)"""
    removed: dict[str, int] = {}
    raw_root = datasets.path(root, "raw")
    if "://" in raw_root or not os.path.isdir(raw_root):
        return removed
    needle = user_id.encode("utf-8")
    for dirpath, dirnames, files in os.walk(raw_root):
        # the erasure requests themselves stay: they are what keeps the listener out
        dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) != os.path.join(raw_root, "privacy")]
        for name in sorted(files):
            path = os.path.join(dirpath, name)
            if not name.endswith((".jsonl", ".jsonl.gz", ".json", ".csv", ".csv.gz", ".gz")):
                continue
            opener = gzip.open if name.endswith(".gz") else open
            with opener(path, "rb") as f:
                data = f.read()
            if needle not in data:
                continue
            lines = data.splitlines(keepends=True)
            kept = [ln for ln in lines if needle not in ln]
            body = b"".join(kept)
            if name.endswith(".gz"):
                bio = io.BytesIO()
                with gzip.GzipFile(filename="", mode="wb", fileobj=bio, mtime=0) as gz:
                    gz.write(body)
                body = bio.getvalue()
            storage.write_bytes_atomic(path, body)
            rel = os.path.relpath(path, root)
            removed[rel] = len(lines) - len(kept)
            report.wrote(f"scrubbed {rel}", f"-{len(lines) - len(kept)} lines")
    return removed
