#!/usr/bin/env python3
"""Write a synthetic Spotify extended-history export of N plays (for timing `encore me`).

    python scripts/sample-export.py --plays 10000 --out /tmp/my_spotify_data

Plays span 2025-01-01 .. 2026-11-30 (two recap years), from India, over 300 artists
whose popularity is Zipf-like; names mix Latin, Hangul, kana/kanji and Devanagari.
Same --seed, same bytes.
"""

import argparse
import json
import os
import random
from datetime import UTC, datetime, timedelta

NAMES = [
    "Arijit Singh",
    "BLACKPINK",
    "YOASOBI",
    "아이유",
    "Shreya Ghoshal",
    "Ado",
    "A. R. Rahman",
    "NewJeans",
    "米津玄師",
    "Taylor Swift",
    "Diljit Dosanjh",
    "BTS",
    "King Gnu",
    "Anuv Jain",
]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--plays", type=int, default=10000)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args()
    rng = random.Random(a.seed)
    artists = [NAMES[i] if i < len(NAMES) else f"Artist {i:03d}" for i in range(300)]
    weights = [1 / (i + 1) for i in range(len(artists))]
    start, span = datetime(2025, 1, 1, tzinfo=UTC), timedelta(days=698).total_seconds()
    rows = []
    for _ in range(a.plays):
        i = rng.choices(range(len(artists)), weights)[0]
        t = start + timedelta(seconds=rng.random() * span)
        ms = rng.choice([rng.randint(5_000, 29_000), rng.randint(150_000, 260_000)])
        rows.append(
            {
                "ts": t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "platform": "android",
                "ms_played": ms,
                "conn_country": "IN",
                "ip_addr": "49.36.0.1",
                "master_metadata_track_name": f"Song {rng.randint(1, 12)}",
                "master_metadata_album_artist_name": artists[i],
                "master_metadata_album_album_name": "Album",
                "spotify_track_uri": f"spotify:track:{i:011d}{rng.randint(1, 12):011d}",
                "episode_name": None,
                "episode_show_name": None,
                "spotify_episode_uri": None,
                "reason_start": "clickrow",
                "reason_end": "trackdone",
                "shuffle": False,
                "skipped": ms < 30_000,
                "offline": False,
                "offline_timestamp": None,
                "incognito_mode": False,
            }
        )
    rows.sort(key=lambda r: r["ts"])
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "Streaming_History_Audio_2025-2026_0.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(rows, f, ensure_ascii=False)
    print(f"{len(rows)} plays -> {path}")


if __name__ == "__main__":
    main()
