"""`encore generate`: synthetic but realistic raw logs and dimension tables.

What it writes under ``--out`` (data-contracts.md, the raw side):

- ``raw/events/part-NNNNN.jsonl.gz`` — the platform's listening log, gzip JSON Lines;
- ``raw/users/users.jsonl``, ``raw/catalog/tracks.jsonl``, ``raw/catalog/artists.jsonl``,
  ``raw/playlists/playlists.jsonl.gz``, ``raw/privacy/erasures/erasures.jsonl``;
- ``raw/_planted/dirty.jsonl`` — a key to the dirty records it planted on purpose
  (file, line, the ingest reason code it must get), so tests can check ingest; and
  ``raw/_planted/summary.json`` with the counts (plays, private, dirty, duplicates).

How the data behaves: artist popularity follows a Zipf law; each listener has
favourite artists that drift from year to year, a daily rhythm in their own time
zone, listening sessions with skips and shuffle, ~3 % private sessions, podcasts
(~10 % of minutes) and a few audiobooks. Playlists carry common titles used by
thousands, rare user-typed ones, and the seed's example: "God is a man" as a rare
title and the track "God Is a Woman" on many playlists.

Same seed, same bytes: every chunk of listeners has its own random stream derived
from (seed, chunk), gzip headers carry no time. Memory stays flat as --users grows:
listeners are generated and written a chunk at a time.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import os
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from encore.platform.errors import EncoreError

# country, IANA time zones, weight
COUNTRIES: list[tuple[str, tuple[str, ...], float]] = [
    ("US", ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"), 20),
    ("GB", ("Europe/London",), 7),
    ("DE", ("Europe/Berlin",), 7),
    ("FR", ("Europe/Paris",), 6),
    ("BR", ("America/Sao_Paulo",), 8),
    ("MX", ("America/Mexico_City",), 5),
    ("SE", ("Europe/Stockholm",), 3),
    ("ES", ("Europe/Madrid",), 4),
    ("IT", ("Europe/Rome",), 3),
    ("NL", ("Europe/Amsterdam",), 2),
    ("PL", ("Europe/Warsaw",), 2),
    ("TR", ("Europe/Istanbul",), 2),
    ("CA", ("America/Toronto", "America/Vancouver"), 3),
    ("AR", ("America/Argentina/Buenos_Aires",), 2),
    ("JP", ("Asia/Tokyo",), 4),
    ("KR", ("Asia/Seoul",), 2),
    ("IN", ("Asia/Kolkata",), 5),
    ("ID", ("Asia/Jakarta",), 3),
    ("PH", ("Asia/Manila",), 2),
    ("AU", ("Australia/Sydney", "Australia/Perth"), 3),
    ("NZ", ("Pacific/Auckland",), 1),
    ("NG", ("Africa/Lagos",), 1),
    ("ZA", ("Africa/Johannesburg",), 1),
]

GENRES = [
    "pop",
    "dance pop",
    "rock",
    "indie rock",
    "alternative",
    "hip hop",
    "rap",
    "trap",
    "r&b",
    "soul",
    "jazz",
    "blues",
    "country",
    "folk",
    "singer-songwriter",
    "electronic",
    "house",
    "techno",
    "drum and bass",
    "ambient",
    "classical",
    "metal",
    "punk",
    "reggaeton",
    "latin pop",
    "k-pop",
    "j-pop",
    "afrobeats",
    "funk",
    "lo-fi",
    "gospel",
    "bossa nova",
]

_WORDS_A = [
    "Velvet",
    "Neon",
    "Silver",
    "Midnight",
    "Golden",
    "Paper",
    "Electric",
    "Crystal",
    "Wild",
    "Lunar",
    "Quiet",
    "Violet",
    "Static",
    "Ocean",
    "Burning",
    "Hollow",
    "Sugar",
    "Northern",
    "Glass",
    "Little",
    "Broken",
    "Cosmic",
    "Honey",
    "Iron",
    "Scarlet",
    "Dream",
    "Echo",
    "Saint",
]
_WORDS_B = [
    "Echoes",
    "Tigers",
    "Hearts",
    "Rivers",
    "Ghosts",
    "Machines",
    "Lights",
    "Wolves",
    "Kids",
    "Satellites",
    "Parade",
    "Club",
    "Orchestra",
    "Season",
    "Avenue",
    "Riot",
    "Garden",
    "Signal",
    "Harbor",
    "Horizon",
    "Collective",
    "Mirrors",
    "Foxes",
    "Radio",
    "Youth",
    "Bloom",
    "Cartel",
]
_FIRST = [
    "Ava",
    "Leo",
    "Mia",
    "Noah",
    "Zoe",
    "Luca",
    "Ines",
    "Kai",
    "Sofia",
    "Omar",
    "Yuki",
    "Nia",
    "Ezra",
    "Lena",
    "Mateo",
    "Aria",
    "Jonas",
    "Amara",
    "Felix",
    "Rosa",
    "Hugo",
    "Maya",
    "Ravi",
]
_LAST = [
    "Vance",
    "Moreau",
    "Okafor",
    "Lindqvist",
    "Tanaka",
    "Reyes",
    "Novak",
    "Castell",
    "Hart",
    "Sato",
    "Bianchi",
    "Adeyemi",
    "Kowalski",
    "Silva",
    "Kim",
    "Duarte",
    "Ferreira",
    "Nakamura",
]
_SONG_A = [
    "Summer",
    "Lonely",
    "Golden",
    "Electric",
    "Broken",
    "Midnight",
    "Blue",
    "Dancing",
    "Falling",
    "Crazy",
    "Sweet",
    "Lost",
    "Wild",
    "Secret",
    "Paper",
    "Fire",
    "Slow",
    "Perfect",
    "Heavy",
    "Neon",
]
_SONG_B = [
    "Heart",
    "Night",
    "Love",
    "Rain",
    "Dreams",
    "City",
    "Eyes",
    "Road",
    "Sky",
    "Girl",
    "Boy",
    "Waves",
    "Lights",
    "Roses",
    "Stars",
    "Ghost",
    "Money",
    "Fever",
    "Season",
    "Party",
    "Echo",
]
_SHOW_A = [
    "The Daily",
    "Morning",
    "Deep",
    "Curious",
    "True Crime",
    "Weekend",
    "Late Night",
    "Tiny",
    "Big",
    "Honest",
    "Nerdy",
    "Slow",
    "Loud",
    "Quiet",
    "Global",
    "Local",
]
_SHOW_B = [
    "Talk",
    "Minutes",
    "Stories",
    "Science",
    "History",
    "Money",
    "Football",
    "Comedy Hour",
    "Brief",
    "Mysteries",
    "Interviews",
    "Tech",
    "Kitchen",
    "Sessions",
    "News",
]
COMMON_TITLES = [
    "chill",
    "gym",
    "Workout",
    "road trip",
    "study",
    "party",
    "sad songs",
    "sleep",
    "running",
    "Focus",
    "throwbacks",
    "summer vibes",
    "car",
    "favorites",
    "my playlist",
    "rainy day",
    "love songs",
    "morning",
    "dinner",
    "cleaning",
]
RARE_TITLE_PARTS = ["songs for", "music for", "my", "the", "late", "best of", "vibes for", "mood:"]
RARE_TITLE_NOUNS = [
    "grandma",
    "the bus",
    "Tuesday",
    "crying in the club",
    "the void",
    "tax season",
    "my cat",
    "hiking",
    "a heist",
    "dishes",
    "Lisbon",
    "exam week",
    "the ferry",
    "dragons",
]
SEED_TITLE = "God is a man"
SEED_TRACK = ("God Is a Woman", "Ariadne Grand")

PLATFORMS = ["android", "ios", "web_player", "windows", "osx", "cast_to_device", "linux"]
REASON_END_DONE = "trackdone"
REASONS_SKIP = ["fwdbtn", "backbtn", "clickrow", "endplay"]


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
    if not years or not all(1990 <= y <= 2100 for y in years):
        raise EncoreError(f"--years must list years between 1990 and 2100, got {text!r}")
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


# --------------------------------------------------------------------------------------
class Catalog:
    """Artists (Zipf-popular), their tracks and albums, shows and episodes, audiobooks."""

    def __init__(self, rng: np.random.Generator, n_artists: int):
        self.n_artists = n_artists
        names: list[str] = []
        seen: set[str] = set()
        i = 0
        while len(names) < n_artists:
            if i % 3 == 0:
                name = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
            elif i % 3 == 1:
                name = f"The {rng.choice(_WORDS_A)} {rng.choice(_WORDS_B)}"
            else:
                name = f"{rng.choice(_WORDS_A)} {rng.choice(_WORDS_B)}"
            i += 1
            if name in seen:
                name = f"{name} {len(names)}"
            seen.add(name)
            names.append(name)
        names[2] = SEED_TRACK[1]  # the seed's popular artist, rank 3
        # a few names that exercise Unicode normalisation and escaping downstream
        if n_artists > 40:
            names[17] = "Beyonce\u0301 & The Fa\u0308hre"  # decomposed accents (NFD on purpose)
            names[29] = "Sigur Ros <Live>"
        self.artist_names = names
        ranks = np.arange(1, n_artists + 1)
        w = 1.0 / ranks**1.07
        self.artist_p = w / w.sum()
        self.artist_cum = np.cumsum(self.artist_p)
        self.artist_genres = [
            sorted(set(rng.choice(GENRES, size=int(rng.integers(0, 4)), replace=False).tolist()))
            for _ in range(n_artists)
        ]
        # tracks: popular artists have more tracks
        per_artist = np.clip((30 / ranks**0.35).astype(int), 4, 30)
        self.track_artist = np.repeat(np.arange(n_artists), per_artist)
        self.artist_first_track = np.concatenate([[0], np.cumsum(per_artist)[:-1]])
        self.artist_n_tracks = per_artist
        n_tracks = len(self.track_artist)
        self.track_names = [f"{rng.choice(_SONG_A)} {rng.choice(_SONG_B)}" for _ in range(n_tracks)]
        for a in range(n_artists):  # names unique within an artist
            first, n = self.artist_first_track[a], per_artist[a]
            used: set[str] = set()
            for t in range(first, first + n):
                if self.track_names[t] in used:
                    self.track_names[t] = f"{self.track_names[t]} (Part {t - first + 1})"
                used.add(self.track_names[t])
        seed_track = int(self.artist_first_track[2])
        self.track_names[seed_track] = SEED_TRACK[0]
        self.seed_track = seed_track
        album_of = rng.integers(0, 3, size=n_tracks)
        self.album_names = [
            None
            if (t % 23 == 5)
            else f"{self.track_names[self.artist_first_track[self.track_artist[t]]]} Vol. {album_of[t] + 1}"
            for t in range(n_tracks)
        ]
        years = rng.integers(1960, 2027, size=n_tracks)
        recent = rng.random(n_tracks) < 0.55
        years[recent] = rng.integers(2019, 2027, size=int(recent.sum()))
        self.release_year = years
        self.release_year_known = rng.random(n_tracks) > 0.08
        self.duration_ms = rng.integers(95_000, 330_000, size=n_tracks)
        self.track_uri = [f"spotify:track:{_b62(rng, 22)}" for _ in range(n_tracks)]
        # shows and episodes
        n_shows = max(20, n_artists // 15)
        self.show_names = list(
            dict.fromkeys(
                f"{rng.choice(_SHOW_A)} {rng.choice(_SHOW_B)}" for _ in range(n_shows * 2)
            )
        )[:n_shows]
        n_shows = len(self.show_names)
        sw = 1.0 / np.arange(1, n_shows + 1) ** 1.1
        self.show_cum = np.cumsum(sw / sw.sum())
        self.episodes_per_show = 40
        self.episode_uri = [
            f"spotify:episode:{_b62(rng, 22)}" for _ in range(n_shows * self.episodes_per_show)
        ]
        self.episode_len = rng.integers(12 * 60_000, 75 * 60_000, size=len(self.episode_uri))
        self.audiobooks = [
            (
                f"The {rng.choice(_WORDS_A)} {rng.choice(_SONG_B)}",
                f"spotify:audiobook:{_b62(rng, 22)}",
            )
            for _ in range(12)
        ]
        self._frag_cache: dict[int, str] = {}

    def track_fragment(self, t: int) -> str:
        frag = self._frag_cache.get(t)
        if frag is None:
            album = self.album_names[t]
            frag = (
                f'"master_metadata_track_name":{json.dumps(self.track_names[t], ensure_ascii=False)},'
                f'"master_metadata_album_artist_name":{json.dumps(self.artist_names[self.track_artist[t]], ensure_ascii=False)},'
                f'"master_metadata_album_album_name":{json.dumps(album, ensure_ascii=False)},'
                f'"spotify_track_uri":"{self.track_uri[t]}",'
                '"episode_name":null,"episode_show_name":null,"spotify_episode_uri":null,'
                '"audiobook_title":null,"audiobook_uri":null,"audiobook_chapter_uri":null,"audiobook_chapter_title":null'
            )
            self._frag_cache[t] = frag
        return frag

    def episode_fragment(self, e: int) -> str:
        show = self.show_names[e // self.episodes_per_show]
        return (
            '"master_metadata_track_name":null,"master_metadata_album_artist_name":null,'
            '"master_metadata_album_album_name":null,"spotify_track_uri":null,'
            f'"episode_name":{json.dumps(f"{show} #{e % self.episodes_per_show + 1}", ensure_ascii=False)},'
            f'"episode_show_name":{json.dumps(show, ensure_ascii=False)},"spotify_episode_uri":"{self.episode_uri[e]}",'
            '"audiobook_title":null,"audiobook_uri":null,"audiobook_chapter_uri":null,"audiobook_chapter_title":null'
        )

    def audiobook_fragment(self, b: int, chapter: int) -> str:
        title, uri = self.audiobooks[b]
        return (
            '"master_metadata_track_name":null,"master_metadata_album_artist_name":null,'
            '"master_metadata_album_album_name":null,"spotify_track_uri":null,'
            '"episode_name":null,"episode_show_name":null,"spotify_episode_uri":null,'
            f'"audiobook_title":{json.dumps(title)},"audiobook_uri":"{uri}",'
            f'"audiobook_chapter_uri":"{uri}:ch{chapter}","audiobook_chapter_title":"Chapter {chapter}"'
        )

    def random_tracks(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n tracks by global popularity: a Zipf artist, then a Zipf-ish track of theirs."""
        artists = np.searchsorted(self.artist_cum, rng.random(n) * self.artist_cum[-1])
        return self.tracks_of(rng, artists)

    def tracks_of(self, rng: np.random.Generator, artists: np.ndarray) -> np.ndarray:
        n_t = self.artist_n_tracks[artists]
        pick = np.minimum((rng.random(len(artists)) ** 2.2 * n_t).astype(int), n_t - 1)
        return self.artist_first_track[artists] + pick


_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _b62(rng: np.random.Generator, n: int) -> str:
    return "".join(_B62[i] for i in rng.integers(0, 62, size=n))


def _offset_table(tz_name: str, years: list[int]) -> tuple[int, np.ndarray]:
    """UTC offsets (seconds) at local noon for every day of the years: day 0 = Jan 1 of years[0]."""
    tz = ZoneInfo(tz_name)
    start = datetime(years[0], 1, 1, 12)
    n_days = (datetime(years[-1] + 1, 1, 1) - datetime(years[0], 1, 1)).days
    offs = np.empty(n_days, dtype=np.int64)
    for d in range(n_days):
        offs[d] = int((start + timedelta(days=d)).replace(tzinfo=tz).utcoffset().total_seconds())
    epoch0 = int(datetime(years[0], 1, 1, tzinfo=UTC).timestamp())
    return epoch0, offs


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
    cat = Catalog(base, n_artists)
    _write_catalog(raw_root, cat)
    offsets = {tz: _offset_table(tz, years) for _, tzs, _ in COUNTRIES for tz in tzs}

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
            uid = "usr_" + _b62(rng, 12)
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
                lines = _user_year_lines(
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
                        bad, reason = _make_dirty(rng, line, year)
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


def _user_year_lines(
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
) -> list[str]:
    # sessions of ~8 plays; each starts at a local day and hour
    n_sessions = max(1, n_plays // 8)
    days_in_year = (datetime(year + 1, 1, 1) - datetime(year, 1, 1)).days
    day0 = (datetime(year, 1, 1) - datetime(first_year, 1, 1)).days
    s_day = rng.integers(0, days_in_year, size=n_sessions)
    s_hour = np.mod(rng.normal(hour_peak, 3.5, size=n_sessions), 24)
    s_private = rng.random(n_sessions) < 0.03
    s_shuffle = rng.random(n_sessions) < 0.45
    s_platform = np.where(
        rng.random(n_sessions) < 0.8, platform_main, rng.choice(PLATFORMS, size=n_sessions)
    )
    s_len = rng.poisson(7, size=n_sessions) + 1
    lines: list[str] = []
    for s in range(n_sessions):
        day = day0 + int(s_day[s])
        local_start = day * 86400 + int(s_hour[s] * 3600)
        t = tz_epoch0 + local_start - int(tz_offs[min(day, len(tz_offs) - 1)])
        n = int(s_len[s])
        kind_r = rng.random(n)
        from_favs = rng.random(n) < 0.55
        tracks = np.where(
            from_favs,
            cat.tracks_of(rng, favs[rng.integers(0, len(favs), size=n)]),
            cat.random_tracks(rng, n),
        )
        skip_r = rng.random(n)
        private = "true" if s_private[s] else "false"
        shuffle = "true" if s_shuffle[s] else "false"
        platform = s_platform[s]
        offline = rng.random() < 0.05
        for i in range(n):
            if podcaster and kind_r[i] < 0.045:
                show = int(np.searchsorted(cat.show_cum, rng.random()))
                e = show * cat.episodes_per_show + int(rng.integers(0, cat.episodes_per_show))
                ms = int(cat.episode_len[e] * rng.uniform(0.2, 1.0))
                frag, kind = cat.episode_fragment(e), "episode"
                r_start, r_end, skipped = "clickrow", "endplay", "false"
            elif kind_r[i] > 0.997:
                b = int(rng.integers(0, len(cat.audiobooks)))
                ms = int(rng.integers(5, 40) * 60_000)
                frag, kind = cat.audiobook_fragment(b, int(rng.integers(1, 30))), "audiobook"
                r_start, r_end, skipped = "clickrow", "endplay", "false"
            else:
                tr = int(tracks[i])
                dur = int(cat.duration_ms[tr])
                if skip_r[i] < 0.22:  # a skip, mostly before 30 s
                    ms = (
                        int(rng.integers(0, 29_000))
                        if skip_r[i] < 0.17
                        else int(rng.integers(30_000, dur))
                    )
                    r_end, skipped = REASONS_SKIP[int(rng.integers(0, len(REASONS_SKIP)))], "true"
                else:
                    ms = dur
                    r_end, skipped = REASON_END_DONE, "false"
                frag, kind = cat.track_fragment(tr), "track"
                r_start = "trackdone" if i else "clickrow"
            t += ms // 1000 + 1
            ts = datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            off_ts = str(t - ms // 1000) if offline else "null"
            lines.append(
                f'{{"ts":"{ts}","user_id":"{uid}","ms_played":{ms},"platform":"{platform}",'
                f'"conn_country":"{country}","ip_addr":"{ip}",{frag},"reason_start":"{r_start}",'
                f'"reason_end":"{r_end}","shuffle":{shuffle},"skipped":{skipped},'
                f'"offline":{"true" if offline else "false"},"offline_timestamp":{off_ts},'
                f'"incognito_mode":{private}}}\n'
            )
            totals["plays"] += 1
            totals["ms_total"] += ms
            if private == "true":
                totals["private_plays"] += 1
            if kind == "episode":
                totals["episode_plays"] += 1
                totals["ms_episode"] += ms
            elif kind == "audiobook":
                totals["audiobook_plays"] += 1
    return lines


# The dirty records planted on purpose, and the reason code ingest must give each.
DIRTY_KINDS = (
    "bad_json",
    "bad_encoding",
    "missing_user_id",
    "bad_ts",
    "negative_ms",
    "implausible_ms",
    "bad_type:ms_played",
    "bad_type:shuffle",
    "missing_ts",
    "not_an_object",
    "unknown_kind",
)


def _make_dirty(rng, line: str, year: int) -> tuple[bytes, str]:
    """Spoil a good line in one way; return the bytes and the reason ingest must give.
    (The spoiled play is counted in totals['plays'] as generated; ingest rejects it.)"""
    kind = DIRTY_KINDS[int(rng.integers(0, len(DIRTY_KINDS)))]
    rec = json.loads(line)
    if kind == "bad_json":
        return line[: max(5, len(line) // 2)].encode("utf-8") + b"\n", kind
    if kind == "bad_encoding":
        name_key = next(
            (
                k
                for k in ("master_metadata_track_name", "episode_name", "audiobook_title")
                if rec.get(k)
            ),
            None,
        )
        body = json.dumps(rec, ensure_ascii=False)
        if name_key:
            body = body.replace(
                json.dumps(rec[name_key], ensure_ascii=False), '"\x00BROKEN\x00"', 1
            )
        return body.encode("utf-8").replace(b"\x00BROKEN\x00", b"Caf\xe9 \xff\xfe") + b"\n", kind
    if kind == "missing_user_id":
        if rng.random() < 0.5:
            del rec["user_id"]
        else:
            rec["user_id"] = None
    elif kind == "bad_ts":
        rec["ts"] = rng.choice(
            ["1970-01-01T00:00:00Z", "2099-03-01T10:00:00Z", f"{year}-13-45T25:61:00Z", "yesterday"]
        )
    elif kind == "missing_ts":
        del rec["ts"]
    elif kind == "negative_ms":
        rec["ms_played"] = -int(rng.integers(1, 100_000))
    elif kind == "implausible_ms":
        rec["ms_played"] = int(rng.integers(90_000_000, 10_000_000_000))
    elif kind == "bad_type:ms_played":
        rec["ms_played"] = rng.choice(["three minutes", "12e", "NaN"])
    elif kind == "bad_type:shuffle":
        rec["shuffle"] = rng.choice(["yes", "maybe", "2"])
    elif kind == "not_an_object":
        return (json.dumps([rec["user_id"], rec["ts"]]) + "\n").encode("utf-8"), kind
    elif kind == "unknown_kind":
        for k in (
            "master_metadata_track_name",
            "master_metadata_album_artist_name",
            "master_metadata_album_album_name",
            "spotify_track_uri",
            "episode_name",
            "episode_show_name",
            "spotify_episode_uri",
            "audiobook_title",
            "audiobook_uri",
            "audiobook_chapter_uri",
            "audiobook_chapter_title",
        ):
            rec[k] = None
    return (json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8"), kind


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
