"""How a generated listener listens: a year of listening sessions as raw log lines,
placed in the listener's own time zone, and the dirty records planted among them.

A listener's day and hour are drawn in local time and turned into UTC with the zone's
offset from the shipped IANA rules (encore.platform.localtime, as recaps read them).
Each planted dirty record is one good line spoiled in one way, with the reason code
ingest must give it (:data:`DIRTY_KINDS`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from encore.platform import localtime

if TYPE_CHECKING:
    from encore.tools.world import Catalog

PLATFORMS = ["android", "ios", "web_player", "windows", "osx", "cast_to_device", "linux"]
REASON_END_DONE = "trackdone"
REASONS_SKIP = ["fwdbtn", "backbtn", "clickrow", "endplay"]


def offset_table(tz_name: str, years: list[int]) -> tuple[int, np.ndarray]:
    """UTC offsets (seconds) at local noon for every day of the years: day 0 = Jan 1 of years[0]."""
    tz = localtime.zone(tz_name)  # the shipped IANA rules, as recaps use them
    start = datetime(years[0], 1, 1, 12)
    n_days = (datetime(years[-1] + 1, 1, 1) - datetime(years[0], 1, 1)).days
    offs = np.empty(n_days, dtype=np.int64)
    for d in range(n_days):
        offs[d] = int((start + timedelta(days=d)).replace(tzinfo=tz).utcoffset().total_seconds())
    epoch0 = int(datetime(years[0], 1, 1, tzinfo=UTC).timestamp())
    return epoch0, offs


def user_year_lines(
    rng: np.random.Generator,
    cat: Catalog,
    uid: str,
    country: str,
    ip: str,
    platform_main: str,
    podcaster: bool,
    hour_peak: float,
    favs: np.ndarray,
    year: int,
    first_year: int,
    n_plays: int,
    tz_epoch0: int,
    tz_offs: np.ndarray,
    totals: dict[str, int],
) -> list[str]:
    """One listener's plays of ``year`` as JSON Lines (sessions of ~8 plays at local
    hours around ``hour_peak``), counting what was generated into ``totals``."""
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


def make_dirty(rng: np.random.Generator, line: str, year: int) -> tuple[bytes, str]:
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
