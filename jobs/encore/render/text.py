"""Text on the cards: user-derived names cleaned and fitted (measured with the real
glyphs, fonts.py), and numbers, dates and hours formatted by Babel for the locale.

Everything here works on raw text: escaping is the templates' job.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import time as dtime
from typing import Any

from encore.render import fonts

_DROP = {
    # bidi embeddings / overrides would flip the text around them; isolates and marks stay
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
}
_SPACE = {"\t", "\n", "\r", "\u2028", "\u2029", "\x85"}


def clean_text(value: Any) -> str:
    """A user-derived name made safe to lay out: characters XML cannot hold (controls,
    surrogates, non-characters) and bidi overrides removed, line breaks made spaces,
    runs of combining marks capped at 2. Escaping is the templates' job, not this."""
    if value is None:
        return ""
    out: list[str] = []
    marks = 0
    for ch in str(value):
        if ch in _SPACE:
            ch = " "
        cat = unicodedata.category(ch)
        code = ord(ch)
        if ch in _DROP or (cat == "Cc" and ch != " ") or cat in ("Cs", "Co"):
            continue
        if 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE:
            continue  # non-characters are not allowed in XML
        if cat in ("Mn", "Me"):
            marks += 1
            if marks > 2:
                continue
        else:
            marks = 0
        out.append(ch)
    return re.sub(r" {2,}", " ", "".join(out)).strip()


def text_width(text: str, size: float, *, bold: bool = False) -> float:
    """The drawn width in px: each run shaped in the font that draws it (fonts.py)."""
    return fonts.width_em(text, bold=bold) * size


def fit(value: Any, max_px: float, size: float, *, bold: bool = False) -> str:
    """Clean ``value`` and shorten it with an ellipsis so it fits in ``max_px`` at
    font ``size``, measured with the real glyphs and cut between clusters (never inside
    a conjunct or an emoji sequence). Works on the raw text: escaping happens after."""
    text = clean_text(value)
    if text_width(text, size, bold=bold) <= max_px:
        return text
    parts = fonts.clusters(text)

    def shortened(n: int) -> str:
        short = "".join(parts[:n]).rstrip()
        while short and unicodedata.category(short[-1]) in ("Mn", "Me", "Cf", "Zs"):
            short = short[:-1]  # no dangling joiner, mark or space before the ellipsis
        return short + "…"

    lo, hi = 0, len(parts)  # the longest prefix that fits, by bisection
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if text_width(shortened(mid), size, bold=bold) <= max_px:
            lo = mid
        else:
            hi = mid - 1
    return shortened(lo)


def wrap(
    value: Any, max_px: float, size: float, max_lines: int = 3, *, bold: bool = False
) -> list[str]:
    """Break text into at most ``max_lines`` lines that fit ``max_px`` (the last one
    ellipsised if the text is longer). Plain strings: the template escapes them."""
    words = clean_text(value).split(" ")
    lines: list[str] = []
    line = ""
    for i, word in enumerate(words):
        candidate = f"{line} {word}" if line else word
        if text_width(candidate, size, bold=bold) <= max_px or not line:
            line = candidate
            continue
        lines.append(line)
        line = word
        if len(lines) == max_lines - 1:
            line = " ".join(words[i:])
            break
    if line:
        lines.append(line)
    return [fit(x, max_px, size, bold=bold) for x in lines[:max_lines]]


def font_size_for(value: Any, max_px: float, sizes: tuple[int, ...], *, bold: bool = True) -> int:
    """The largest of ``sizes`` at which ``value`` fits in one line (else the smallest)."""
    text = clean_text(value)
    for size in sizes:
        if text_width(text, size, bold=bold) <= max_px:
            return size
    return sizes[-1]


def locale_filters(locale: str) -> dict:
    """The card and page filters that format for ``locale`` (Babel): a change in
    percent, a top-percent badge, a day, an hour, a month's short name."""
    from babel import Locale
    from babel.dates import format_skeleton, format_time, get_month_names
    from babel.numbers import format_percent

    loc = Locale.parse(locale)
    months = get_month_names("abbreviated", context="stand-alone", locale=loc)
    return {
        "change": lambda p: format_percent(p / 100, "+#,##0.#%;-#,##0.#%", locale=loc),
        "top_percent": lambda p: format_percent(p / 100, "#,##0.#%", locale=loc),
        "day": lambda d: format_skeleton("MMMMd", d, locale=loc),
        "hour": lambda h: format_time(dtime(int(h)), "short", locale=loc),
        "month": lambda m: months[int(m)],
    }
