"""``encore export-user``: a listener's download-your-data package (privacy.md, "The
listener's controls"; docs/data-rights.md).

A zip with the listener's canonical events (never an IP address: ingest drops it),
their recaps for every year, their cards and Top Songs playlists, their users row, the
playlists they own, their rejected (quarantined) records, and a README
explaining every file and field in plain language. It is written under
``exports/<export token>/`` (an HMAC of the user id: user ids never become file names).
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from encore.platform import datasets, locks, schemas, share, storage
from encore.platform.errors import EncoreError
from encore.platform.identity import check_user_id
from encore.platform.report import Report
from encore.platform.share import export_token
from encore.rights.erase import is_erased

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

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
- playlists/<year>/top-songs.m3u8, .xspf, .jspf: your Top Songs of the year as playlist
  files (by artist and title; ListenBrainz imports JSPF and XSPF).
- cards/<year>/*.svg and summary.png: your story cards and summary image, where you
  had enough listening that year for a recap page.
- profile.json: what we know about your account (country, birth year, time zone,
  when you joined, whether you opted out of marketing), when the service sent it.
- playlists/owned.jsonl: the playlists you made (title and the songs in them).
- rejected.jsonl: records of your listening we could not use, exactly as they
  arrived, each with why it was rejected (e.g. a play with no time) and the file it
  came from. They are counted in nothing.
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
- distinct_genres: how many different genres your streams belonged to.
- top_track_percent: the same as top_artist_percent, for your most-streamed song.
- listening_era: the five years of release dates you streamed most (2010 means
  2010-2014), when at least half of your streams have a known release year.
- listening_age: the age you would be if this year's music were the soundtrack of your
  late teens (this year - (listening_era + 2) + 18).

Statistics about many listeners
-------------------------------
Encore also publishes a few fun facts about all listeners together ("the most
streamed song on Valentine's Day"). Those are computed with differential privacy:
random noise, sized so that no fact can reveal whether any one person - you
included - was in the data at all. If you opted out of marketing, your plays were not
used for them. If you ask us to erase your data, facts already released are not
recomputed: they never depended on you in a way anyone could detect.
"""


def export_user(
    spark: SparkSession,
    root: str,
    user_id: str,
    secret: bytes,
    *,
    run_id: str | None = None,
    out: str | None = None,
) -> str:
    """Build the listener's package; returns its path (which is not printed: it holds
    the export token)."""
    check_user_id(user_id)
    report = Report("export-user", root, run_id)
    with locks.hold(root, "export-user", report.run_id):  # never beside an erasure
        return _export(spark, root, user_id, secret, report, out)


def _export(spark, root: str, user_id: str, secret: bytes, report: Report, out: str | None) -> str:
    if is_erased(spark, root, user_id):
        # no id in the message: it reaches logs (the DAG's task log) that outlive erasure
        raise EncoreError("this listener asked to be erased: there is no data to export")
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
        rows = (
            spark.read.parquet(storage.join(recaps_root, name))
            .where(F.col("user_id") == user_id)
            .collect()
        )
        if rows:
            recaps[year] = _jsonable(rows[0].asDict(recursive=True))
    report.read("recaps", len(recaps))
    if n_events == 0 and not recaps and not _in_users(spark, root, user_id):
        raise EncoreError(f"unknown user id: no events, recaps or user record for it under {root}")

    report.phase("reading the profile, playlists and rejected records")
    profile, owned, rejected = _dimension_rows(spark, root, user_id)
    report.read("profile", len(profile))
    report.read("playlists", len(owned))
    report.read("rejected records", len(rejected))

    report.phase("building the zip")
    buf = io.BytesIO()
    cards = 0
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for year, lines in sorted(by_year.items()):
            _zip_write(
                zf, f"listening_history/{year}.jsonl", ("\n".join(lines) + "\n").encode("utf-8")
            )
        for year, recap in sorted(recaps.items()):
            _zip_write(
                zf,
                f"recaps/{year}.json",
                json.dumps(recap, indent=2, ensure_ascii=False).encode("utf-8"),
            )
            page = storage.join(root, "site", str(year), share.share_token(secret, user_id, year))
            for name in storage.listdir(page):
                if name.endswith((".svg", ".png")):
                    _zip_write(
                        zf, f"cards/{year}/{name}", storage.read_bytes(storage.join(page, name))
                    )
                    cards += 1
                elif name.startswith("top-songs."):  # the Top Songs playlist files
                    _zip_write(
                        zf, f"playlists/{year}/{name}", storage.read_bytes(storage.join(page, name))
                    )
        _zip_account(zf, profile, owned, rejected)
        _zip_write(
            zf,
            "README.txt",
            EXPORT_README.format(
                made=datetime.now(UTC).strftime("%Y-%m-%d"),
                n_events=n_events,
                first=first or "-",
                last=last or "-",
                recap_years=", ".join(map(str, sorted(recaps))) or "none",
            ).encode("utf-8"),
        )
    target = storage.join(root, "exports", export_token(secret, user_id), "encore-export.zip")
    storage.write_bytes_atomic(target, buf.getvalue())
    # neither the report nor the log names the token (reports and logs outlive an erasure)
    report.wrote("zip", "exports/<the listener's export token>/encore-export.zip")
    report.wrote(
        "files",
        {
            "listening_history": len(by_year),
            "recaps": len(recaps),
            "cards": cards,
            "profile": len(profile),
            "playlists": len(owned),
            "rejected": len(rejected),
        },
    )
    if out:
        storage.write_bytes_atomic(out, buf.getvalue())
        report.wrote("copy", out)
    report.finish()
    print(
        "export written under exports/ (the folder is the listener's export token, not printed)"
        + (f"; copy at {out}" if out else "")
    )
    return target


def _zip_account(zf: zipfile.ZipFile, profile: list, owned: list, rejected: list) -> None:
    """profile.json, playlists/owned.jsonl and rejected.jsonl (each only if not empty)."""
    if profile:
        _zip_write(
            zf, "profile.json", json.dumps(profile[0], indent=2, ensure_ascii=False).encode()
        )
    for name, rows in (("playlists/owned.jsonl", owned), ("rejected.jsonl", rejected)):
        if rows:
            body = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)
            _zip_write(zf, name, body.encode("utf-8"))


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


def _dimension_rows(spark, root: str, user_id: str) -> tuple[list, list, list]:
    """The listener's users row, the playlists they own and their quarantined records
    (matched as erasure matches them: identity.named_ids_col), as JSON-able dicts."""
    from pyspark.sql import functions as F

    from encore.platform import identity

    users = datasets.read_dimension(spark, root, "users")
    profile = (
        []
        if users is None
        else [_jsonable(r.asDict()) for r in users.where(F.col("user_id") == user_id).collect()]
    )
    playlists = datasets.read_dimension(spark, root, "playlists")
    owned = (
        []
        if playlists is None
        else [
            _jsonable(r.asDict(recursive=True))
            for r in playlists.where(F.col("owner_user_id") == user_id)
            .orderBy("playlist_id")
            .collect()
        ]
    )
    qpath = datasets.path(root, "quarantine")
    q = datasets.read_if_present(spark, qpath, schemas.QUARANTINE)
    rejected = (
        []
        if q is None
        else [
            r.asDict()
            for r in q.where(
                identity.names_any(
                    identity.named_ids_col(F.col("record"), F.col("source_file")), [user_id]
                )
            )
            .select("record", "reason", "source_file")
            .orderBy("source_file", "record")
            .collect()
        ]
    )
    return profile, owned, rejected


def _in_users(spark, root: str, user_id: str) -> bool:
    from pyspark.sql import functions as F

    users = datasets.read_dimension(spark, root, "users")
    return users is not None and users.where(F.col("user_id") == user_id).limit(1).count() > 0
