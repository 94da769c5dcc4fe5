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
import csv
import gzip
import io
import json
import posixpath
import re
import zipfile
from datetime import UTC, datetime

from encore.platform import datasets, identity, locks, schemas, share, storage
from encore.platform.args import add_common
from encore.platform.config import share_secret
from encore.platform.context import RunContext
from encore.platform.errors import EncoreError
from encore.platform.report import Report

check_user_id = identity.check_user_id  # the one rule (identity.py), also used by ingest
export_token = share.export_token

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
    p.add_argument(
        "--demo", action="store_true", help="generated data: allow the labelled demo secret"
    )
    if command == "export-user":
        p.add_argument("--out", metavar="PATH", help="also copy the zip here")


def main_for(command: str, args: argparse.Namespace, cfg: dict) -> int:
    """`encore export-user` / `encore erase-user`: the parsed flags -> the stage."""
    ctx = RunContext.from_args(args, cfg)
    if command == "export-user":
        return export(ctx, user_id=args.user_id, demo=args.demo, out=args.out)
    return erase(ctx, user_id=args.user_id, demo=args.demo)


def export(ctx: RunContext, *, user_id: str, demo: bool = False, out: str | None = None) -> int:
    """Build ``user_id``'s download-your-data package (and copy it to ``out``)."""
    check_user_id(user_id)
    secret = share_secret(demo=demo, root=ctx.data)
    export_user(ctx.session("export-user"), ctx.data, user_id, secret, run_id=ctx.run_id, out=out)
    return 0


def erase(ctx: RunContext, *, user_id: str, demo: bool = False) -> int:
    """Erase ``user_id`` from every output, for good (docs/privacy.md)."""
    check_user_id(user_id)
    secret = share_secret(demo=demo, root=ctx.data)
    erase_user(ctx.session("erase-user"), ctx.data, user_id, secret, run_id=ctx.run_id)
    return 0


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
- playlists/<year>/top-songs.m3u8, .xspf, .jspf: your Top Songs of the year as playlist
  files (by artist and title; ListenBrainz imports JSPF and XSPF).
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


def export_user(
    spark,
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
        rows = (
            spark.read.parquet(storage.join(recaps_root, name))
            .where(F.col("user_id") == user_id)
            .collect()
        )
        if rows:
            recaps[year] = _jsonable(rows[0].asDict(recursive=True))
    report.read("recaps", len(recaps))
    if n_events == 0 and not recaps and not _in_users(spark, root, user_id):
        raise EncoreError(
            f"unknown user id {user_id!r}: no events, recaps or user record under {root}"
        )

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
        "files", {"listening_history": len(by_year), "recaps": len(recaps), "cards": cards}
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

    return (
        datasets.erased_user_ids(spark, root).where(F.col("user_id") == user_id).limit(1).count()
        > 0
    )


# ------------------------------------------------------------------------------- erase
# a page URL on the delivery list ends in <year>/<token>/ (or .../index.html for file://)
_PAGE_URL = re.compile(r"/(\d{4})/([a-z2-7]{" + str(share.TOKEN_LENGTH) + r"})/(?:index\.html)?$")


def erase_user(spark, root: str, user_id: str, secret: bytes, *, run_id: str | None = None) -> dict:
    """Erase a listener everywhere; returns {what: count removed}.

    Holds the data root's erasure lock (locks.hold_exclusive): no ingest, recaps,
    render, publish or export runs while it works, and it refuses while one does."""
    check_user_id(user_id)
    report = Report("erase-user", root, run_id)
    with locks.hold_exclusive(root, report.run_id):
        return _erase(spark, root, user_id, secret, report)


def _erase(spark, root: str, user_id: str, secret: bytes, report: Report) -> dict:
    from pyspark.sql import functions as F

    removed: dict[str, int] = {}

    report.phase("recording the request")
    if _is_erased(spark, root, user_id):
        report.note("the erasure request was already recorded")
    else:
        erasures = datasets.read_dimension(spark, root, "privacy/erasures")
        new = spark.createDataFrame(
            [(user_id, datetime.now(UTC))], schemas.spark_schema(schemas.ERASURES)
        )
        merged = new if erasures is None else erasures.unionByName(new)
        datasets.write_dataset(
            merged.coalesce(1), datasets.path(root, "privacy", "erasures"), run_id=report.run_id
        )
        report.wrote("privacy/erasures", "1 request recorded")

    # Before the delivery rows go: they record every page the listener had, whatever
    # secret made it (a rotated secret would otherwise leave old pages online).
    report.phase("finding the listener's pages")
    pages = _pages_on_delivery_list(spark, root, user_id)
    site = datasets.path(root, "site")
    for year in storage.listdir(site):
        if year.isdigit():
            pages.add((year, share.share_token(secret, user_id, int(year))))

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
            datasets.write_dataset(
                kept.coalesce(max(1, df.rdd.getNumPartitions())), part, run_id=report.run_id
            )
            rel_part = posixpath.relpath(part, root) if "://" not in root else part
            removed[rel_part] = n
            report.wrote(f"rewrote {rel_part}", f"-{n} rows")

    report.phase("removing quarantined records")
    removed.update(_scrub_quarantine(spark, root, user_id, report))

    report.phase("removing pages, cards and exports")
    deleted_pages = 0
    for year, token in sorted(pages):
        page = storage.join(site, year, token)
        if storage.is_dir(page):
            storage.delete(page)
            deleted_pages += 1
            removed[f"site/{year}/<token>"] = removed.get(f"site/{year}/<token>", 0) + 1
    if deleted_pages:
        report.wrote("deleted pages", deleted_pages)
    exports = _export_packages(root, user_id, secret)
    for folder in exports:
        storage.delete(folder)
    if exports:
        removed["exports/<token>"] = len(exports)
        report.wrote("deleted export packages", len(exports))

    report.phase("scrubbing raw input files")
    removed.update(_scrub_raw(root, user_id, report))

    report.phase("scrubbing reports")
    removed.update(_scrub_reports(root, user_id, report))

    if not removed:
        report.note(
            "nothing held this listener: the request is recorded, so later runs exclude them"
        )
    report.set("removed", removed)
    report.finish()
    return removed


def _pages_on_delivery_list(spark, root: str, user_id: str) -> set[tuple[str, str]]:
    """(year, token) of every page the delivery lists give the listener."""
    from pyspark.sql import functions as F

    found: set[tuple[str, str]] = set()
    for part in _leaf_partitions(datasets.path(root, "deliveries")):
        df = spark.read.parquet(part)
        if not {"user_id", "page_url"} <= set(df.columns):
            continue
        for row in (
            df.where(F.col("user_id") == user_id).select("page_url").collect()
        ):  # one listener's rows
            match = _PAGE_URL.search(row.page_url or "")
            if match:
                found.add((match.group(1), match.group(2)))
    return found


def _export_packages(root: str, user_id: str, secret: bytes) -> list[str]:
    """The listener's export folders: the current secret's, and any other package whose
    content says it is theirs (a package made under an earlier secret)."""
    base = datasets.path(root, "exports")
    found = []
    for name in storage.listdir(base):
        folder = storage.join(base, name)
        if name == export_token(secret, user_id):
            found.append(folder)
            continue
        package = storage.join(folder, "encore-export.zip")
        if storage.exists(package) and _package_owner(storage.read_bytes(package)) == user_id:
            found.append(folder)
    return found


def _package_owner(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for name in sorted(zf.namelist()):
                if name.startswith(("listening_history/", "recaps/")):
                    text = zf.read(name).decode("utf-8", "replace")
                    first = text.splitlines()[0] if name.endswith(".jsonl") else text
                    owner = json.loads(first).get("user_id")
                    if owner:
                        return owner
    except (zipfile.BadZipFile, ValueError, IndexError, AttributeError):
        return None
    return None


def _scrub_quarantine(spark, root: str, user_id: str, report: Report) -> dict[str, int]:
    """Drop the quarantined records whose user field names the listener exactly
    (identity.named_ids_col); records that do not parse are matched by pattern."""
    from pyspark.sql import functions as F

    removed: dict[str, int] = {}
    qpath = datasets.path(root, "quarantine")
    by_pattern = kept_mentions = 0
    for part in _leaf_partitions(qpath):
        df = spark.read.parquet(part)
        tagged = df.select(
            "*",
            identity.names_any(
                identity.named_ids_col(F.col("record"), F.col("source_file")), [user_id]
            ).alias("_named"),
            F.from_json(
                "record",
                "x STRING, _corrupt_record STRING",
                {"columnNameOfCorruptRecord": "_corrupt_record"},
            ).alias("_r"),
        )
        broken = F.col("_r").isNull() | F.col("_r._corrupt_record").isNotNull()
        counts = tagged.agg(
            F.count_if("_named").alias("named"),
            F.count_if(F.col("_named") & broken).alias("by_pattern"),
            F.count_if(~F.col("_named") & broken & F.col("record").contains(user_id)).alias(
                "kept_mentions"
            ),
        ).first()
        kept_mentions += counts.kept_mentions
        if not counts.named:
            continue
        by_pattern += counts.by_pattern
        datasets.write_dataset(
            tagged.where(~F.col("_named")).select(*df.columns).coalesce(1),
            part,
            run_id=report.run_id,
        )
        rel = "quarantine" if part == qpath else f"quarantine/{posixpath.relpath(part, qpath)}"
        removed[rel if "://" not in qpath else part] = counts.named
        report.wrote("rewrote quarantine", f"-{counts.named} records")
    if by_pattern:
        report.note(
            f"{by_pattern} quarantined records that are not valid JSON named the listener in their "
            "user_id field (read by pattern): removed"
        )
    if kept_mentions:
        report.note(
            f"{kept_mentions} quarantined records that are not valid JSON contain the id's text but not "
            "as their user_id: kept (another listener's, or unknown)"
        )
    report.set(
        "quarantine_unparseable",
        {"removed_by_pattern": by_pattern, "kept_mentioning_text": kept_mentions},
    )
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


def scrub_lines(data: bytes, user_id: str, *, is_csv: bool) -> tuple[bytes, dict[str, int]]:
    """The file without the records that name the listener in their user field
    (exactly); every other byte unchanged. Counts: removed, removed_by_pattern (lines
    that do not parse, matched by the ``"user_id": "<id>"`` pattern), kept_unparseable."""
    counts = {"removed": 0, "removed_by_pattern": 0, "kept_unparseable": 0}
    lines = data.splitlines(keepends=True)
    if is_csv:
        return _scrub_csv(lines, user_id, counts)
    kept = []
    for line in lines:
        if not line.strip():
            kept.append(line)
            continue
        ids, parsed = identity.named_ids(line)
        if user_id in ids:
            counts["removed"] += 1
            counts["removed_by_pattern"] += 0 if parsed else 1
            continue
        counts["kept_unparseable"] += 0 if parsed else 1
        kept.append(line)
    return b"".join(kept), counts


def _scrub_csv(lines: list[bytes], user_id: str, counts: dict) -> tuple[bytes, dict[str, int]]:
    # csv.reader pulls one physical line at a time, so each record's own lines (a
    # quoted field may span several) are known and kept byte for byte
    consumed: list[int] = []

    def feed():
        for i, line in enumerate(lines):
            consumed.append(i)
            yield line.decode("utf-8", "surrogateescape")

    out: list[bytes] = []
    header = None
    start = 0
    for row in csv.reader(feed()):
        end = len(consumed)
        raw = lines[start:end]
        start = end
        if header is None:
            header = [h.lstrip("\ufeff") for h in row]
            out += raw
            continue
        if user_id in identity.row_ids(dict(zip(header, row, strict=False))):
            counts["removed"] += 1
            continue
        out += raw
    out += lines[start:]
    return b"".join(out), counts


def _scrub_raw(root: str, user_id: str, report: Report) -> dict[str, int]:
    """Rewrite the raw inputs (JSON Lines / CSV, gzip'd or not, on any root storage can
    write) without the listener's records, so a later ingest cannot bring them back.
    raw/privacy/ stays: the erasure requests are what keeps the listener out."""
    from encore.ingest.files import RAW_SUFFIXES, list_files

    removed: dict[str, int] = {}
    raw_root = datasets.path(root, "raw")
    totals = {"removed": 0, "removed_by_pattern": 0, "kept_unparseable": 0}
    try:
        files = list_files(raw_root)
    except (OSError, ValueError) as err:  # e.g. no filesystem driver for the scheme
        report.note(
            f"raw/ could not be listed ({err.__class__.__name__}: {err}); raw files were NOT scrubbed: "
            "ingest still drops the listener's records (privacy/erasures/), delete them at the source"
        )
        report.set("raw_scrubbed", False)
        return removed
    for full, rel in files:
        if rel.split("/", 1)[0] == "privacy":
            continue
        name = rel.lower()
        gz = name.endswith(".gz")
        if not name.endswith(RAW_SUFFIXES):
            continue
        data = _read_stored_bytes(full)
        if gz:
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError):
                report.note(f"raw/{rel} is not a readable gzip file: not scrubbed")
                continue
        if user_id.encode("utf-8") not in data:
            continue  # cheap: a file that does not contain the id's text cannot name it
        body, counts = scrub_lines(data, user_id, is_csv=name.removesuffix(".gz").endswith(".csv"))
        for k, v in counts.items():
            totals[k] += v
        if not counts["removed"]:
            continue
        if gz:
            bio = io.BytesIO()
            with gzip.GzipFile(filename="", mode="wb", fileobj=bio, mtime=0) as f:
                f.write(body)
            body = bio.getvalue()
        storage.write_bytes_atomic(full, body)
        removed[f"raw/{rel}"] = counts["removed"]
        report.wrote(f"scrubbed raw/{rel}", f"-{counts['removed']} records")
    if totals["removed_by_pattern"]:
        report.note(
            f"{totals['removed_by_pattern']} raw lines that are not valid JSON named the listener in their "
            "user_id field (read by pattern): removed"
        )
    if totals["kept_unparseable"]:
        report.note(
            f"{totals['kept_unparseable']} raw lines that are not valid JSON contain the id's text but do "
            "not name it in a user_id field: kept"
        )
    report.set("raw_scrubbed", True)
    report.set(
        "raw_unparseable", {k: totals[k] for k in ("removed_by_pattern", "kept_unparseable")}
    )
    return removed


def _read_stored_bytes(uri: str) -> bytes:
    """The file's bytes as stored (pyarrow would otherwise gunzip a .gz on the fly)."""
    fs, path = storage.split_uri(uri)
    with fs.open_input_stream(path, compression=None) as f:
        return f.read()


def _mentions(user_id: str):
    # the id as a whole word: erasing usr_1 never rewrites a mention of usr_10
    return re.compile(r"(?<![A-Za-z0-9_.@+\-])" + re.escape(user_id) + r"(?![A-Za-z0-9_.@+\-])")


def _scrub_reports(root: str, user_id: str, report: Report) -> dict[str, int]:
    """reports/ keeps no identifier of the listener: the ingest report of their own
    export is deleted (all of it is about them: files, dates, time zone), and so is any
    copy of its summary in another report (a run report gathers its stages'); any other
    report that names them has the id replaced by "<erased>"."""
    removed: dict[str, int] = {}
    base = datasets.path(root, "reports")
    pattern = _mentions(user_id)
    bodies: dict[str, tuple[str, object]] = {}
    for name in storage.listdir(base):
        if name.endswith(".json"):
            text = storage.read_text(storage.join(base, name))
            try:
                bodies[name] = (text, json.loads(text))
            except ValueError:
                bodies[name] = (text, None)
    own = sorted(
        n
        for n, (_, body) in bodies.items()
        if isinstance(body, dict) and _is_own_export_report(body, user_id)
    )
    for name in own:
        storage.delete(storage.join(base, name))
    rewritten = 0
    for name, (text, body) in bodies.items():
        if name in own:
            continue
        if body is None:
            if pattern.search(text):
                storage.write_text_atomic(storage.join(base, name), pattern.sub("<erased>", text))
                rewritten += 1
            continue
        cleaned = _replace(_without_summaries_of(body, own), pattern)
        if cleaned != body:
            storage.write_json_atomic(storage.join(base, name), cleaned)
            rewritten += 1
    if own:
        removed["reports/<ingest reports of their exports>"] = len(own)
        report.wrote("deleted reports", len(own))
    if rewritten:
        removed["reports/<reports naming them>"] = rewritten
        report.wrote("rewrote reports", rewritten)
    return removed


def _without_summaries_of(value, names: list[str]):
    """``value`` with every dict that summarises one of the reports ``names`` (it holds
    their path) replaced by a note."""
    if not names:
        return value
    if isinstance(value, dict):
        if any(
            isinstance(v, str) and v.endswith(tuple(f"/{n}" for n in names)) for v in value.values()
        ):
            return {"erased": "a listener's own export: removed at their erasure"}
        return {k: _without_summaries_of(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_summaries_of(v, names) for v in value]
    return value


def _is_own_export_report(body: dict, user_id: str) -> bool:
    files = (body.get("reconciliation") or {}).get("files") or {}
    return (
        "export" in body
        and bool(files)
        and all(identity.export_source_user(f) == user_id for f in files)
    )


def _replace(value, pattern):
    if isinstance(value, dict):
        return {pattern.sub("<erased>", k): _replace(v, pattern) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, pattern) for v in value]
    if isinstance(value, str):
        return pattern.sub("<erased>", value)
    return value
