"""`encore generate`: synthetic but realistic raw logs and dimension tables.

What it writes under ``--out`` (data-contracts.md, the raw side):

- ``raw/events/part-NNNNN.jsonl.gz`` — the platform's listening log, gzip JSON Lines;
- ``raw/users/users.jsonl``, ``raw/catalog/tracks.jsonl``, ``raw/catalog/artists.jsonl``,
  ``raw/playlists/playlists.jsonl.gz``, ``raw/privacy/erasures/erasures.jsonl``;
- ``raw/_planted/dirty.jsonl`` — a key to the dirty records it planted on purpose
  (file, line, the ingest reason code it must get), so tests can check ingest; and
  ``raw/_planted/summary.json`` with the counts (plays, private, dirty, duplicates).

How the data behaves: artist popularity follows a Zipf law, and about a quarter of the
artists, at every popularity, are named in Hangul, Japanese, Devanagari or Arabic with
their tracks and albums (tools/scenes.py: what real catalogues make render pay); each listener has
favourite artists that drift from year to year, a daily rhythm in their own time
zone, listening sessions with skips and shuffle, ~3 % private sessions, podcasts
(~10 % of minutes) and a few audiobooks. Playlists carry common titles used by
thousands, rare user-typed ones, and the seed's example: "God is a man" as a rare
title and the track "God Is a Woman" on many playlists.

Same seed, same bytes: every chunk of listeners has its own random stream derived
from (seed, chunk), gzip headers carry no time. Memory stays flat as --users grows:
listeners are generated and written a chunk at a time.

This module writes the files; what goes into them comes from two neighbours:
``encore.tools.world`` (countries, names, titles and the :class:`Catalog` of artists,
tracks, shows) and ``encore.tools.listening`` (a listener's year of sessions as log
lines in their time zone, and the dirty records planted among them).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from encore.platform.errors import EncoreError
from encore.platform.years import FIRST_YEAR, LAST_YEAR, is_year
from encore.tools.listening import (
    PLATFORMS,
    make_dirty,
    offset_table,
    user_year_lines,
)
from encore.tools.world import (
    COMMON_TITLES,
    COUNTRIES,
    RARE_TITLE_NOUNS,
    RARE_TITLE_PARTS,
    SEED_TITLE,
    Catalog,
    b62,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, metavar="DIR", help="data root to write raw/ under")
    p.add_argument("--users", type=int, required=True, metavar="N", help="number of listeners")
    p.add_argument(
        "--years", required=True, metavar="Y1,Y2", help="years of listening, e.g. 2025,2026"
    )
    p.add_argument(
        "--seed", type=int, default=1, metavar="S", help="random seed (same seed, same bytes)"
    )
    p.add_argument(
        "--mean-plays",
        type=int,
        default=250,
        metavar="P",
        help="average plays per listener per year (default 250)",
    )
    p.add_argument(
        "--dirty-rate",
        type=float,
        default=0.004,
        metavar="R",
        help="share of planted dirty records (default 0.004)",
    )
    p.add_argument("--chunk-users", type=int, default=500, help="listeners per output file")


def parse_years(text: str) -> list[int]:
    try:
        years = sorted({int(x) for x in text.split(",") if x.strip()})
    except ValueError:
        raise EncoreError(
            f"--years must be comma-separated years like 2025,2026, got {text!r}"
        ) from None
    if not years or not all(is_year(y) for y in years):
        raise EncoreError(
            f"--years must list years between {FIRST_YEAR} and {LAST_YEAR}, got {text!r}"
        )
    return years


def main(args: argparse.Namespace, _cfg: dict) -> int:
    years = parse_years(args.years)
    if args.users < 1:
        raise EncoreError("--users must be at least 1")
    if not 0 <= args.dirty_rate < 0.5:
        raise EncoreError("--dirty-rate must be in [0, 0.5)")
    if args.mean_plays < 1:
        raise EncoreError("--mean-plays must be at least 1")
    summary = generate(
        args.out,
        users=args.users,
        years=years,
        seed=args.seed,
        mean_plays=args.mean_plays,
        dirty_rate=args.dirty_rate,
        chunk_users=args.chunk_users,
        progress=True,
    )
    print(json.dumps(summary, indent=2))
    return 0


def _gzip_writer(path: str):
    raw = open(path, "wb")  # noqa: SIM115 - closed by the caller through the pair
    gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6)
    return raw, io.BufferedWriter(gz, buffer_size=1 << 20), gz


def mark_generated(root: str, **about: object) -> None:
    """The marker that lets `--demo` use the public demo secret on this root (config.check_demo_root)."""
    from encore.platform import config, storage

    storage.write_json_atomic(
        os.path.join(root, config.GENERATED_MARKER),
        {
            "made_by": "encore generate",
            "note": "synthetic data: the demo share secret is accepted here",
            **about,
        },
    )


def generate(
    out: str,
    *,
    users: int,
    years: list[int],
    seed: int = 1,
    mean_plays: int = 250,
    dirty_rate: float = 0.004,
    chunk_users: int = 500,
    progress: bool = False,
) -> dict:
    started = time.monotonic()
    raw_root = os.path.join(out, "raw")
    for sub in ("events", "users", "catalog", "playlists", "privacy/erasures", "_planted"):
        os.makedirs(os.path.join(raw_root, sub), exist_ok=True)
    # clear earlier output of this generator, so a re-run with fewer chunks leaves nothing stale
    for name in os.listdir(os.path.join(raw_root, "events")):
        if name.startswith("part-") and name.endswith(".jsonl.gz"):
            os.remove(os.path.join(raw_root, "events", name))

    base = np.random.default_rng([seed, 0])
    n_artists = int(min(6000, max(300, users * 1.2)))
    cat = Catalog(base, n_artists, np.random.default_rng([seed, 7]))
    _write_catalog(raw_root, cat)
    offsets = {tz: offset_table(tz, years) for _, tzs, _ in COUNTRIES for tz in tzs}

    totals = {
        "plays": 0,
        "private_plays": 0,
        "episode_plays": 0,
        "audiobook_plays": 0,
        "ms_total": 0,
        "ms_episode": 0,
        "dirty": 0,
        "duplicates": 0,
        "users": users,
        "opted_out": 0,
        "erased": 0,
        "years": years,
        "seed": seed,
        "files": 0,
    }
    dirty_key = open(os.path.join(raw_root, "_planted", "dirty.jsonl"), "w", encoding="utf-8")  # noqa: SIM115
    users_f = open(os.path.join(raw_root, "users", "users.jsonl"), "w", encoding="utf-8")  # noqa: SIM115
    erasures: list[dict] = []
    playlist_owners: list[tuple[str, int]] = []
    try:
        n_chunks = (users + chunk_users - 1) // chunk_users
        for chunk in range(n_chunks):
            lo, hi = chunk * chunk_users, min(users, (chunk + 1) * chunk_users)
            rng = np.random.default_rng([seed, 1, chunk])
            fname = f"part-{chunk:05d}.jsonl.gz"
            path = os.path.join(raw_root, "events", fname)
            _write_chunk(
                path,
                f"raw/events/{fname}",
                rng,
                cat,
                offsets,
                lo,
                hi,
                years,
                mean_plays,
                dirty_rate,
                totals,
                users_f,
                dirty_key,
                erasures,
                playlist_owners,
            )
            totals["files"] += 1
            if progress:
                print(
                    f"[generate] chunk {chunk + 1}/{n_chunks}: listeners {hi}/{users}, plays so far {totals['plays']:,}",
                    flush=True,
                )
    finally:
        dirty_key.close()
        users_f.close()
    _write_playlists(raw_root, cat, playlist_owners, np.random.default_rng([seed, 2]))
    with open(
        os.path.join(raw_root, "privacy", "erasures", "erasures.jsonl"), "w", encoding="utf-8"
    ) as f:
        for e in erasures:
            f.write(json.dumps(e) + "\n")
    totals["erased"] = len(erasures)
    totals["playlists"] = len(playlist_owners)
    totals["private_share"] = round(totals["private_plays"] / max(1, totals["plays"]), 4)
    totals["podcast_minutes_share"] = round(totals["ms_episode"] / max(1, totals["ms_total"]), 4)
    totals["wall_s"] = round(time.monotonic() - started, 2)
    with open(os.path.join(raw_root, "_planted", "summary.json"), "w", encoding="utf-8") as f:
        json.dump({k: v for k, v in totals.items() if k != "wall_s"}, f, indent=2, sort_keys=True)
    mark_generated(out, seed=seed, users=users, years=years)
    if progress:
        print(
            f"[generate] wrote {totals['plays']:,} plays ({totals['dirty']} dirty, {totals['duplicates']} duplicates) "
            f"for {users} listeners in {totals['wall_s']} s under {raw_root}",
            flush=True,
        )
    return totals


def _write_catalog(raw_root: str, cat: Catalog) -> None:
    with open(os.path.join(raw_root, "catalog", "tracks.jsonl"), "w", encoding="utf-8") as f:
        for t in range(len(cat.track_names)):
            f.write(
                json.dumps(
                    {
                        "track_uri": cat.track_uri[t],
                        "track_name": cat.track_names[t],
                        "artist_name": cat.artist_names[cat.track_artist[t]],
                        "album_name": cat.album_names[t],
                        "release_year": int(cat.release_year[t])
                        if cat.release_year_known[t]
                        else None,
                        "duration_ms": int(cat.duration_ms[t]),
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    with open(os.path.join(raw_root, "catalog", "artists.jsonl"), "w", encoding="utf-8") as f:
        for a, name in enumerate(cat.artist_names):
            f.write(
                json.dumps(
                    {"artist_name": name, "genres": cat.artist_genres[a]}, ensure_ascii=False
                )
                + "\n"
            )


def _write_chunk(
    path,
    rel,
    rng,
    cat,
    offsets,
    lo,
    hi,
    years,
    mean_plays,
    dirty_rate,
    totals,
    users_f,
    dirty_key,
    erasures,
    playlist_owners,
) -> None:
    raw, out, gz = _gzip_writer(path)
    line_no = 0
    country_w = np.array([w for _, _, w in COUNTRIES], dtype=float)
    country_w /= country_w.sum()
    first_year = years[0]
    try:
        for u in range(lo, hi):
            uid = "usr_" + b62(rng, 12)
            ci = int(rng.choice(len(COUNTRIES), p=country_w))
            country, tzs, _ = COUNTRIES[ci]
            tz = tzs[int(rng.integers(0, len(tzs)))]
            tz_known = rng.random() > 0.02
            birth = int(
                rng.choice(
                    [
                        rng.integers(1950, 1965),
                        rng.integers(1965, 1981),
                        rng.integers(1981, 1997),
                        rng.integers(1997, 2011),
                    ],
                    p=[0.08, 0.17, 0.35, 0.40],
                )
            )
            # some listeners join in a later year: they have no earlier history
            join_year = (
                first_year
                if (len(years) == 1 or rng.random() > 0.15)
                else years[int(rng.integers(1, len(years)))]
            )
            opt_out = bool(rng.random() < 0.05)
            totals["opted_out"] += opt_out
            created = datetime(join_year, 1, 1, tzinfo=UTC) - timedelta(
                days=int(rng.integers(1, 900))
            )
            users_f.write(
                json.dumps(
                    {
                        "user_id": uid,
                        "country": country,
                        "birth_year": birth if rng.random() > 0.03 else None,
                        "timezone": tz if tz_known else None,
                        "created_at": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        "marketing_opt_out": opt_out,
                    }
                )
                + "\n"
            )
            if rng.random() < 0.002 or (u == lo + 7 and lo == 0):
                erasures.append(
                    {
                        "user_id": uid,
                        "requested_at": f"{years[-1]}-10-0{int(rng.integers(1, 9))}T12:00:00Z",
                    }
                )
            for _ in range(int(rng.poisson(2.2))):
                playlist_owners.append((uid, int(rng.integers(0, 1 << 31))))
            tz_epoch0, tz_offs = offsets[tz]
            platform_main = PLATFORMS[int(rng.integers(0, len(PLATFORMS)))]
            ip = f"{rng.integers(11, 223)}.{rng.integers(0, 256)}.{rng.integers(0, 256)}.{rng.integers(1, 255)}"
            podcaster = rng.random() < 0.35
            hour_peak = rng.choice([8.0, 13.0, 18.0, 21.0, 23.0])
            favs = np.searchsorted(cat.artist_cum, rng.random(25) * cat.artist_cum[-1])
            activity = rng.lognormal(0, 0.8)
            for year in years:
                if year < join_year:
                    continue
                # favourite artists drift: about a third replaced each year
                drift = rng.random(len(favs)) < 0.33
                favs[drift] = np.searchsorted(
                    cat.artist_cum, rng.random(int(drift.sum())) * cat.artist_cum[-1]
                )
                n_plays = int(rng.poisson(mean_plays * activity)) + 5
                lines = user_year_lines(
                    rng,
                    cat,
                    uid,
                    country,
                    ip,
                    platform_main,
                    podcaster,
                    hour_peak,
                    favs,
                    year,
                    first_year,
                    n_plays,
                    tz_epoch0,
                    tz_offs,
                    totals,
                )
                for line in lines:
                    r = rng.random()
                    if r < dirty_rate:
                        bad, reason = make_dirty(rng, line, year)
                        out.write(bad)
                        line_no += 1
                        dirty_key.write(
                            json.dumps({"file": rel, "line": line_no, "reason": reason}) + "\n"
                        )
                        totals["dirty"] += 1
                        continue
                    out.write(line.encode("utf-8"))
                    line_no += 1
                    if r > 1 - dirty_rate / 2:  # an exact duplicate (a client retry)
                        out.write(line.encode("utf-8"))
                        line_no += 1
                        totals["duplicates"] += 1
    finally:
        out.flush()
        gz.close()
        raw.close()


def _write_playlists(raw_root: str, cat: Catalog, owners: list[tuple[str, int]], rng) -> None:
    path = os.path.join(raw_root, "playlists", "playlists.jsonl.gz")
    raw, out, gz = _gzip_writer(path)
    try:
        for i, (owner, _) in enumerate(owners):
            r = rng.random()
            if r < 0.015:
                title = SEED_TITLE
            elif r < 0.72:
                title = COMMON_TITLES[min(int(rng.zipf(1.4)) - 1, len(COMMON_TITLES) - 1)]
            else:
                title = f"{rng.choice(RARE_TITLE_PARTS)} {rng.choice(RARE_TITLE_NOUNS)}"
                if rng.random() < 0.5:
                    title += f" {int(rng.integers(1, 999))}"
            n = int(rng.integers(5, 60))
            tracks = cat.random_tracks(rng, n)
            uris = list(dict.fromkeys(cat.track_uri[int(t)] for t in tracks))
            if rng.random() < 0.25 and cat.track_uri[cat.seed_track] not in uris:
                uris.insert(int(rng.integers(0, len(uris) + 1)), cat.track_uri[cat.seed_track])
            out.write(
                (
                    json.dumps(
                        {
                            "playlist_id": f"pl_{i:08d}",
                            "owner_user_id": owner,
                            "title": title,
                            "track_uris": uris,
                        },
                        ensure_ascii=False,
                    )
                    + "\n"
                ).encode("utf-8")
            )
    finally:
        out.flush()
        gz.close()
        raw.close()
