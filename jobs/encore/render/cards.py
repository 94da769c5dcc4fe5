"""The story cards and what they show: which cards a listener gets, the recap as the
templates see it (``listener_view``: names cleaned, top lists cut to ``top_n``), and the
charts' geometry. What a card shows comes from the recap (recap-rules.md); how it looks
lives in templates/cards/; the numbers here are only layout.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any

from encore.render.settings import CARD_ROWS
from encore.render.text import clean_text, fit

CARD_W, CARD_H = 1080, 1920
PERSONALITY = re.compile(r"^[LV][NT][CU][EF]$")
# card name -> template; the order is the story's order. A card whose data is missing
# (no genres known, no personality, no listening age) is left out for that listener.
CARDS: tuple[tuple[str, str], ...] = (
    ("minutes", "cards/minutes.svg"),
    ("top-artist", "cards/top_artist.svg"),
    ("top-songs", "cards/top_songs.svg"),
    ("top-genres", "cards/top_genres.svg"),
    ("clock", "cards/clock.svg"),
    ("months", "cards/months.svg"),
    ("personality", "cards/personality.svg"),
    ("listening-age", "cards/listening_age.svg"),
    ("summary", "cards/summary.svg"),
)


# --- chart geometry ----------------------------------------------------------------------


def _values(raw: Any, n: int) -> list[int]:
    """``n`` non-negative ints from a recap array (missing or short arrays count as 0)."""
    vals = list(raw or [])[:n]
    vals += [0] * (n - len(vals))
    return [max(0, int(v or 0)) for v in vals]


def clock_bars(
    hourly: Any, *, cx: float = 540, cy: float = 980, inner: float = 150, outer: float = 400
) -> list[dict]:
    """The listening clock: one bar per local hour, radiating from a circle of radius
    ``inner``; the busiest hour reaches ``outer``. Hour 0 points up, clockwise.
    Every bar stays within [inner, outer] whatever the values (0, 1, millions)."""
    vals = _values(hourly, 24)
    top = max(vals)
    bars = []
    for hour, minutes in enumerate(vals):
        share_of_top = minutes / top if top else 0.0
        length = (outer - inner) * share_of_top
        angle = math.radians(hour * 15 + 7.5 - 90)
        r2 = inner + max(length, 0.0)
        bars.append(
            {
                "hour": hour,
                "minutes": minutes,
                "share": round(share_of_top, 4),
                "x1": round(cx + inner * math.cos(angle), 1),
                "y1": round(cy + inner * math.sin(angle), 1),
                "x2": round(cx + r2 * math.cos(angle), 1),
                "y2": round(cy + r2 * math.sin(angle), 1),
            }
        )
    return bars


def clock_labels(*, cx: float = 540, cy: float = 980, radius: float = 455) -> list[dict]:
    out = []
    for hour in (0, 6, 12, 18):
        angle = math.radians(hour * 15 - 90)
        out.append(
            {
                "hour": hour,
                "x": round(cx + radius * math.cos(angle), 1),
                "y": round(cy + radius * math.sin(angle) + 14, 1),
            }
        )
    return out


def month_bars(
    monthly: Any,
    top_artists: Any,
    *,
    x: float = 250,
    max_width: float = 730,
    y0: float = 420,
    step: float = 112,
) -> list[dict]:
    """Month rows: bar width proportional to the month's minutes (the busiest month is
    ``max_width``), never negative, never wider than the card."""
    vals = _values(monthly, 12)
    names = list(top_artists or [])[:12]
    names += [None] * (12 - len(names))
    top = max(vals)
    rows = []
    for i, minutes in enumerate(vals):
        width = max_width * (minutes / top) if top else 0.0
        rows.append(
            {
                "month": i + 1,
                "minutes": minutes,
                "x": x,
                "y": round(y0 + i * step, 1),
                "width": round(width, 1),
                "artist": fit(names[i], 690, 30) if names[i] else "",
            }
        )
    return rows


# --- one listener ----------------------------------------------------------------------


def _count(entry: dict, key: str) -> int:
    return max(0, int(entry.get(key) or 0))


def _highlight(
    top_genres: list[dict], top_podcasts: list[str], distinct_artists: int
) -> dict | None:
    """The summary's last block: the top genre, else (no genre data, as in every personal
    export) the top podcast, else how many artists; None leaves the block out."""
    if top_genres:
        return {"kind": "genre", "value": top_genres[0]["genre"]}
    if top_podcasts:
        return {"kind": "podcast", "value": top_podcasts[0]}
    if distinct_artists > 0:
        return {"kind": "artists", "value": distinct_artists}
    return None


def _whole(value: Any) -> int | None:
    """An int column as an int; None for null or anything that is not a whole number."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number == value else None


def _first_named(raw: Any, key: str) -> bool:
    """True when the recap's #1 entry has a name: a percent computed for that #1 must
    not be shown beside another entry that moved up because a nameless #1 was left out."""
    first = list(raw or [])[:1]
    return bool(first) and bool(clean_text((first[0] or {}).get(key)))


def listener_view(recap: dict, *, top_n: int = CARD_ROWS) -> dict:
    """The recap as the templates see it: names cleaned, charts laid out, and which
    cards this listener gets. ``recap`` is one row of recaps/ as a dict; each top list
    keeps its first ``top_n`` named entries (``[recaps] top_n``, RenderSettings.top_n)."""
    year = int(recap["year"])
    # An entry without a name is left out, never drawn as an empty line (issue 17).
    top_artists = [
        dict(
            a,
            artist_name=clean_text(a.get("artist_name")),
            streams=_count(a, "streams"),
            minutes=_count(a, "minutes"),
        )
        for a in (recap.get("top_artists") or [])
        if clean_text(a.get("artist_name"))
    ][:top_n]
    top_tracks = [
        dict(
            t,
            track_name=clean_text(t.get("track_name")),
            artist_name=clean_text(t.get("artist_name")),
            streams=_count(t, "streams"),
            minutes=_count(t, "minutes"),
        )
        for t in (recap.get("top_tracks") or [])
        if clean_text(t.get("track_name"))
    ][:top_n]
    top_genres = [
        dict(g, genre=clean_text(g.get("genre")), streams=_count(g, "streams"))
        for g in (recap.get("top_genres") or [])
        if clean_text(g.get("genre"))
    ][:top_n]
    top_podcasts = [
        clean_text(p.get("show_name"))
        for p in (recap.get("top_podcasts") or [])
        if clean_text(p.get("show_name"))
    ]
    personality = recap.get("personality")
    if not (isinstance(personality, str) and PERSONALITY.match(personality)):
        personality = None
    era, age = _whole(recap.get("listening_era")), _whole(recap.get("listening_age"))
    if era is None or age is None:
        era = age = None  # the card says both: "like you're 32 — it sounded like 2010–2014"
    busiest = recap.get("busiest_day")
    if isinstance(busiest, datetime):
        busiest = busiest.date()
    view = {
        "year": year,
        "minutes": int(recap.get("listening_minutes") or 0),
        "music_minutes": int(recap.get("music_minutes") or 0),
        "podcast_minutes": int(recap.get("podcast_minutes") or 0),
        "streams": int(recap.get("streams") or 0),
        "distinct_artists": int(recap.get("distinct_artists") or 0),
        "distinct_tracks": int(recap.get("distinct_tracks") or 0),
        "change_pct": recap.get("minutes_change_pct"),
        "top_artists": top_artists,
        "top_artist": top_artists[0] if top_artists else None,
        "top_artist_percent": (
            recap.get("top_artist_percent")
            if top_artists and _first_named(recap.get("top_artists"), "artist_name")
            else None
        ),
        "top_tracks": top_tracks,
        # the columns of issue 19 are read with .get: a recap row without them renders
        "top_track_percent": (
            recap.get("top_track_percent")
            if top_tracks and _first_named(recap.get("top_tracks"), "track_name")
            else None
        ),
        "top_genres": top_genres,
        "distinct_genres": max(0, _whole(recap.get("distinct_genres")) or 0),
        "clock": clock_bars(recap.get("hourly_minutes")),
        "clock_labels": clock_labels(),
        "peak_hour": recap.get("peak_hour"),
        "months": month_bars(recap.get("monthly_minutes"), recap.get("monthly_top_artist")),
        "busiest_day": busiest if isinstance(busiest, date) else None,
        "busiest_day_minutes": int(recap.get("busiest_day_minutes") or 0),
        "streak": int(recap.get("longest_streak_days") or 0),
        "new_artists": recap.get("new_artists"),
        "personality": personality,
        "listening_era": era,
        "listening_age": age,
        "highlight": _highlight(top_genres, top_podcasts, int(recap.get("distinct_artists") or 0)),
    }
    present = {
        "minutes": True,
        "top-artist": view["top_artist"] is not None,
        "top-songs": bool(top_tracks),
        "top-genres": bool(top_genres),
        "clock": any(b["minutes"] for b in view["clock"]) or view["peak_hour"] is not None,
        "months": any(m["minutes"] or m["artist"] for m in view["months"]),
        "personality": personality is not None,
        "listening-age": age is not None,
        "summary": True,
    }
    view["cards"] = [name for name, _ in CARDS if present[name]]
    return view
