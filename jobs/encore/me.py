"""`encore me --input PATH [--input PATH ...] [--timezone Z] [--data DIR]`: a
self-hoster's own Wrapped, for every year their history covers, in one command.

What it does, in one Spark session (product.md, the CLI table):

1. a share secret: ``ENCORE_SHARE_SECRET`` if set, else one random secret made once in
   the data root (``.share-secret``, mode 0600) — nothing to set up;
2. every ``--input`` (any of the four export formats, folder, file or zip; detected)
   ingested for one local listener, ``me`` (the id never leaves the machine), with the
   listener's zone (``--timezone``, else inferred from the plays' country, see
   docs/ingest.md) and plays that two sources both hold counted once;
3. the recap of every year with plays in its window, oldest first (so each later year
   knows its history: ``new_artists`` and ``minutes_change_pct``);
4. every year whose recap changed (or whose page is missing) rendered: page, cards,
   summary PNG and the Top Songs playlist files;
5. ``index.html`` at the data root: one tile per year, readable from ``file://``.

A second run with a newer export adds what is new and renders only the years whose
recap changed (``.me-state.json`` holds each year's recap digest).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import time
from typing import TYPE_CHECKING

from encore.platform import datasets, locks, storage
from encore.platform.args import run_id
from encore.platform.context import RunContext
from encore.platform.errors import EncoreError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

ME = "me"
"""The listener's id: local, never in a URL (pages are named by an HMAC token)."""
DEFAULT_ROOT = "var/me"
SECRET_FILE = ".share-secret"
STATE_FILE = ".me-state.json"
INDEX = "index.html"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--input",
        action="append",
        required=True,
        metavar="PATH",
        help="an export: folder, file or .zip (Spotify extended or account data, ListenBrainz, "
        "Last.fm CSV); repeat for several",
    )
    p.add_argument(
        "--timezone",
        metavar="ZONE",
        help="your IANA time zone (e.g. Asia/Kolkata); default: inferred from your plays' country, else UTC",
    )
    p.add_argument(
        "--data",
        default=DEFAULT_ROOT,
        metavar="DIR",
        help=f"where everything goes (default {DEFAULT_ROOT})",
    )
    p.add_argument("--run-id", type=run_id, help="identifier for this run (default: time-based)")
    p.add_argument("--spark-profile", help="Spark profile from conf/encore.toml (default: local)")
    p.add_argument("--no-png", action="store_true", help="skip the summary images (faster)")


def _say(line: str) -> None:
    import sys

    print(f"[me] {line}", file=sys.stderr, flush=True)


def personal_secret(root: str) -> str:
    """The share secret of a personal data root: the environment's, else the one kept in
    ``root/.share-secret`` (made once, 0600). Returns where it came from."""
    from encore.platform.config import SECRET_ENV

    if os.environ.get(SECRET_ENV):
        return f"${SECRET_ENV}"
    path = os.path.join(root, SECRET_FILE)
    if not os.path.exists(path):
        os.makedirs(root, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
    if os.stat(path).st_mode & 0o077:
        os.chmod(path, 0o600)
    with open(path, encoding="utf-8") as f:
        value = f.read().strip()
    if len(value) < 16:
        raise EncoreError(
            f"{path}: the share secret is too short (delete the file to make a new one)"
        )
    os.environ[SECRET_ENV] = value  # this process's stages read it from there
    return path


def _digest(row: dict) -> str:
    return hashlib.sha256(json.dumps(row, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def _rules_of(cfg: dict) -> str:
    """What a recap is computed by besides the plays: the time-zone rules' release and
    the [recaps] settings (a change of either recomputes every year)."""
    from encore.platform import localtime

    text = json.dumps(cfg.get("recaps", {}), sort_keys=True, default=str)
    return f"tzdata {localtime.VERSION}; recaps {hashlib.sha256(text.encode()).hexdigest()[:12]}"


def _load_state(root: str) -> dict:
    path = os.path.join(root, STATE_FILE)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _save_state(root: str, state: dict) -> None:
    storage.write_bytes_atomic(
        os.path.join(root, STATE_FILE),
        (json.dumps(state, indent=1, sort_keys=True) + "\n").encode("utf-8"),
    )


def year_digests(spark: SparkSession, root: str, user_id: str = ME) -> dict[int, str]:
    """{UTC year: a digest of the listener's plays that year} (count and an XOR of row
    hashes, one aggregate): what tells a second run which years changed."""
    from pyspark.sql import functions as F

    events = datasets.read_events(spark, root, required=False)
    if "year" not in events.columns:  # no events/ at all: nothing was kept
        return {}
    h = F.xxhash64(
        "event_id", "ts", "ms_played", "kind", "artist_name", "track_name", "private_session"
    )
    rows = (
        events.where(F.col("user_id") == user_id)
        .groupBy("year")
        .agg(F.count(F.lit(1)).alias("n"), F.bit_xor(h).alias("h"))
        .collect()
    )
    return {int(r["year"]): f"{r['n']}:{r['h']}" for r in rows}


def _zone_of(spark, root: str, user_id: str = ME) -> str | None:
    users = datasets.read_dimension(spark, root, "users")
    if users is None:
        return None
    from pyspark.sql import functions as F

    row = users.where(F.col("user_id") == user_id).select("timezone").first()
    return row["timezone"] if row else None


def main(args: argparse.Namespace, cfg: dict) -> int:
    """`encore me`: the parsed flags -> :func:`run`."""
    ctx = RunContext(
        data=args.data, cfg=cfg, run_id=args.run_id or "", spark_profile=args.spark_profile
    )
    return run(ctx, inputs=args.input, timezone=args.timezone, png=not args.no_png)


def run(
    ctx: RunContext, *, inputs: list[str], timezone: str | None = None, png: bool = True
) -> int:
    """Ingest ``inputs`` for the local listener, recap every year they cover, render the
    years that changed and write the index; the stages run as functions in one session."""
    from dataclasses import replace

    from encore.ingest import exports
    from encore.recaps import job as recaps
    from encore.render import job as render

    started = time.monotonic()
    cfg, root, run_id = ctx.cfg, ctx.data, ctx.run_id
    if "://" in root:
        raise EncoreError(
            f"--data {root}: `encore me` keeps your data in a local folder (e.g. {DEFAULT_ROOT})"
        )
    for path in inputs:
        if not os.path.exists(path):
            raise EncoreError(
                f"--input {path}: no such file or folder (give your export's folder, file or .zip)"
            )
    if timezone:
        exports.check_timezone(timezone)
    where = personal_secret(root)
    _say(f"data root {root}; share secret from {where}")
    spark = ctx.session("me")
    if not ctx.spark_profile:
        # one listener: every listener-partitioned step lands in one partition anyway,
        # and more shuffle partitions would only add empty tasks to every stage
        spark.conf.set("spark.sql.shuffle.partitions", "1")

    for i, path in enumerate(inputs, 1):
        _say(f"step 1/3, input {i}/{len(inputs)}: {path}")
        with locks.hold(root, "ingest", f"{run_id}-in{i}"):
            exports.ingest_export(
                spark,
                cfg,
                root=root,
                run_id=f"{run_id}-in{i}",
                source=None,
                input_path=path,
                user_id=ME,
                timezone=timezone,
            )

    digests = year_digests(spark, root)
    years = sorted(digests)
    if not years:
        raise EncoreError(f"no plays were kept from {', '.join(inputs)}: nothing to recap")
    state = _load_state(root)
    before = state.get("years") or {}
    zone = _zone_of(spark, root)
    rules = _rules_of(cfg)
    # a year is recomputed when its plays changed or an earlier year's did (new_artists
    # and minutes_change_pct read the history), when the zone or the rules changed (a
    # tzdata update moves local hours; so does [recaps] in the settings), or when its
    # recap is missing; otherwise the stored recap stands
    stale = [
        y
        for y in years
        if zone != state.get("zone")
        or rules != state.get("rules")
        or (before.get(str(y)) or {}).get("events") != digests[y]
        or not storage.exists(datasets.recaps_path(root, y))
    ]
    todo = [y for y in years if stale and y >= min(stale)]
    _say(
        f"step 2/3, recaps: {len(years)} year(s) with plays ({', '.join(map(str, years))}); "
        f"{'computing ' + ', '.join(map(str, todo)) if todo else 'none changed'}"
    )
    done: dict[str, dict] = {}
    changed: list[int] = []
    for year in years:
        if year in todo:
            with locks.hold(root, f"recaps-{year}", run_id):
                recaps.run(replace(ctx, year=year, run_id=f"{run_id}-r{year}"))
        rows = spark.read.parquet(datasets.recaps_path(root, year)).collect()
        row = rows[0].asDict(recursive=True) if rows else None
        if row is None:  # no play inside this year's window (e.g. only late December)
            done[str(year)] = {"events": digests[year], "digest": None, "recap": None}
            continue
        digest = _digest(row)
        previous = before.get(str(year)) or {}
        page = _page_of(root, year) if row.get("eligible") else None
        if digest != previous.get("digest") or (row.get("eligible") and page is None):
            changed.append(year)
        done[str(year)] = {"events": digests[year], "digest": digest, "recap": _tile(row)}

    _say(f"step 3/3, pages: {', '.join(map(str, changed)) or 'none changed'}")
    for year in changed:
        if not done[str(year)]["recap"]["eligible"]:
            continue
        with locks.hold(root, f"render-{year}", run_id):
            render.run(replace(ctx, year=year, run_id=f"{run_id}-p{year}"), png=png)
    for year, entry in done.items():
        page = _page_of(root, int(year)) if entry["recap"] and entry["recap"]["eligible"] else None
        entry["page"] = os.path.relpath(page, root) if page else None
    _save_state(
        root,
        {
            "zone": zone,
            "rules": rules,
            "years": {y: {"events": e["events"], "digest": e["digest"]} for y, e in done.items()},
        },
    )
    index = write_index(root, done, cfg)
    _say(
        f"done in {time.monotonic() - started:.1f} s: {len(years)} year(s), {len(changed)} page(s) rendered"
    )
    print(f"Your Encore: file://{os.path.abspath(index)}")
    return 0


def _page_of(root: str, year: int) -> str | None:
    """The listener's page folder of ``year`` under the current secret, if it exists."""
    from encore.platform import share
    from encore.platform.config import share_secret
    from encore.render import site_path

    folder = os.path.join(
        site_path(root, year), share.share_token(share_secret(demo=False), ME, year)
    )
    return os.path.join(folder, INDEX) if os.path.exists(os.path.join(folder, INDEX)) else None


def _tile(row: dict) -> dict:
    top = (row.get("top_artists") or [None])[0]
    return {
        "eligible": bool(row.get("eligible")),
        "minutes": int(row.get("listening_minutes") or 0),
        "streams": int(row.get("streams") or 0),
        "top_artist": (top or {}).get("artist_name"),
        "top_track": ((row.get("top_tracks") or [None])[0] or {}).get("track_name"),
    }


def write_index(root: str, years: dict[str, dict], cfg: dict) -> str:
    """``index.html`` at the data root: one tile per year (newest first), from file://."""
    from encore.render import make_env

    env = make_env("en")
    tiles = [
        {
            "year": int(y),
            **(e["recap"] or {"eligible": False, "minutes": 0, "streams": 0}),
            "page": e.get("page"),
            "empty": e["recap"] is None,
        }
        for y, e in sorted(years.items(), reverse=True)
    ]
    html = env.get_template("page/years.html").render(
        tiles=tiles,
        min_streams=cfg["recaps"]["eligible_min_streams"],
        min_artists=cfg["recaps"]["eligible_min_distinct_artists"],
    )
    path = os.path.join(root, INDEX)
    storage.write_bytes_atomic(path, html.encode("utf-8"))
    return path
