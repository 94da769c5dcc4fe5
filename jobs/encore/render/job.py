"""`encore render`: story cards, a summary PNG and a private recap page for every
eligible listener (issue 6; privacy.md "Security around recaps").

For each eligible listener of year Y this writes, under ``site/Y/<token>/``::

    index.html      the cards as a story (tap, arrow keys, swipe), share + download
    *.svg           1080x1920 story cards from templates/cards/*.svg
    summary.png     the summary card rasterised with resvg (the Noto set, fonts.py)
    recap.json      the recap's numbers (never the user id)

``token`` is ``share.share_token(secret, user_id, Y)``; user ids never become names.
Nothing is written for ineligible or erased listeners and no list of tokens exists.

Rendering happens inside Spark: ``build_site`` runs ``mapInArrow`` over the recaps;
each partition compiles the templates once (one Jinja environment per locale it
meets), writes its listeners' files straight into a staging site folder and yields
one row of counts. The driver only sums those rows, then swaps the staging folder in
as ``site/Y`` (storage.publish), so a re-render replaces the year atomically.

What a card shows comes from the recap (recap-rules.md); how it looks lives in the
templates; the numbers here are only layout (chart geometry, text fitting).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import time
import unicodedata
from collections.abc import Iterator
from datetime import date, datetime
from datetime import time as dtime
from functools import cache
from io import BytesIO
from typing import Any

from encore.platform import share, storage
from encore.platform.context import RunContext
from encore.render import fonts
from encore.render import settings as render_conf
from encore.render.settings import RenderSettings

CARD_W, CARD_H = 1080, 1920
PERSONALITY = re.compile(r"^[LV][NT][CU][EF]$")
SUMMARY_PNG = "summary.png"
PAGE = "index.html"
RECAP_JSON = "recap.json"
PLAYLIST_M3U = "top-songs.m3u8"
PLAYLIST_XSPF = "top-songs.xspf"
PLAYLIST_JSPF = "top-songs.jspf"
# card name -> template; the order is the story's order. A card whose data is missing
# (no genres known, no personality) is left out for that listener.
CARDS: tuple[tuple[str, str], ...] = (
    ("minutes", "cards/minutes.svg"),
    ("top-artist", "cards/top_artist.svg"),
    ("top-songs", "cards/top_songs.svg"),
    ("top-genres", "cards/top_genres.svg"),
    ("clock", "cards/clock.svg"),
    ("months", "cards/months.svg"),
    ("personality", "cards/personality.svg"),
    ("summary", "cards/summary.svg"),
)
COUNTS_SCHEMA = "pages long, cards long, pngs long, bytes long, render_s double"


# --- text: cleaning and fitting user-derived names -------------------------------------

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


# --- locales ----------------------------------------------------------------------------


@cache
def translations(locale: str):
    """Babel translations parsed from the .po catalog in the repo (no compiled .mo)."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po
    from babel.support import NullTranslations, Translations

    if locale == render_conf.SOURCE_LOCALE:
        return NullTranslations()
    po = render_conf.templates_dir() / "locales" / locale / "LC_MESSAGES" / "encore.po"
    with open(po, "rb") as f:
        catalog = read_po(f, locale=locale)
    buf = BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return Translations(fp=buf, domain="encore")


def html_lang(locale: str) -> str:
    return locale.replace("_", "-")


def make_env(locale: str):
    """A Jinja environment for one locale: autoescaping for html/xml/svg, strict
    undefined, gettext from the locale's catalog, Babel formatting filters."""
    from babel import Locale
    from babel.dates import format_skeleton, format_time, get_month_names
    from babel.numbers import format_decimal, format_percent
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
    from markupsafe import Markup

    env = Environment(
        loader=FileSystemLoader(str(render_conf.templates_dir())),
        autoescape=select_autoescape(["html", "htm", "xml", "svg"]),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
    )
    env.install_gettext_translations(translations(locale), newstyle=True)
    loc = Locale.parse(locale)
    months = get_month_names("abbreviated", context="stand-alone", locale=loc)
    env.filters.update(
        number=lambda n: format_decimal(n, locale=loc),
        change=lambda p: format_percent(p / 100, "+#,##0.#%;-#,##0.#%", locale=loc),
        top_percent=lambda p: format_percent(p / 100, "#,##0.#%", locale=loc),
        day=lambda d: format_skeleton("MMMMd", d, locale=loc),
        hour=lambda h: format_time(dtime(int(h)), "short", locale=loc),
        month=lambda m: months[int(m)],
        fit=fit,
        wrap=wrap,
    )
    env.globals.update(
        lang=html_lang(locale),
        locale=locale,
        font_size_for=font_size_for,
        runs=fonts.layout,
        font_stack=Markup(fonts.STACK),
    )  # a constant, not data
    return env


def story_script() -> tuple[Any, str]:
    """The page's one script (templates/page/story.js, static: no user data) and the
    CSP hash that allows exactly it."""
    import base64
    import hashlib

    from markupsafe import Markup

    js = (render_conf.templates_dir() / "page" / "story.js").read_text(encoding="utf-8")
    if "</" in js:
        raise ValueError("story.js must not contain '</' (it is inlined in a <script>)")
    digest = base64.b64encode(hashlib.sha256(js.encode("utf-8")).digest()).decode("ascii")
    return Markup(js), f"sha256-{digest}"  # a static file from the repo, never user data


# --- one listener ----------------------------------------------------------------------


def _fmt_date(d: Any) -> str | None:
    if d is None:
        return None
    if isinstance(d, datetime):
        return d.date().isoformat()
    if isinstance(d, date):
        return d.isoformat()
    return str(d)


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


def listener_view(recap: dict) -> dict:
    """The recap as the templates see it: names cleaned, charts laid out, and which
    cards this listener gets. ``recap`` is one row of recaps/ as a dict."""
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
    ][:5]
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
    ][:5]
    top_genres = [
        dict(g, genre=clean_text(g.get("genre")), streams=_count(g, "streams"))
        for g in (recap.get("top_genres") or [])
        if clean_text(g.get("genre"))
    ][:5]
    top_podcasts = [
        clean_text(p.get("show_name"))
        for p in (recap.get("top_podcasts") or [])
        if clean_text(p.get("show_name"))
    ]
    personality = recap.get("personality")
    if not (isinstance(personality, str) and PERSONALITY.match(personality)):
        personality = None
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
        "top_artist_percent": recap.get("top_artist_percent") if top_artists else None,
        "top_tracks": top_tracks,
        "top_genres": top_genres,
        "clock": clock_bars(recap.get("hourly_minutes")),
        "clock_labels": clock_labels(),
        "peak_hour": recap.get("peak_hour"),
        "months": month_bars(recap.get("monthly_minutes"), recap.get("monthly_top_artist")),
        "busiest_day": busiest if isinstance(busiest, date) else None,
        "busiest_day_minutes": int(recap.get("busiest_day_minutes") or 0),
        "streak": int(recap.get("longest_streak_days") or 0),
        "new_artists": recap.get("new_artists"),
        "personality": personality,
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
        "summary": True,
    }
    view["cards"] = [name for name, _ in CARDS if present[name]]
    return view


def recap_json(recap: dict, *, token: str, locale: str, cards: list[dict], share_url: str) -> str:
    """recap.json: what the page shows, as data. Never the user id."""
    body = {k: v for k, v in recap.items() if k not in ("user_id", "eligible", "country")}
    body["busiest_day"] = _fmt_date(body.get("busiest_day"))
    doc = {
        "year": int(recap["year"]),
        "token": token,
        "locale": locale,
        "share_url": share_url,
        "cards": cards,
        "summary_png": SUMMARY_PNG,
        "recap": body,
    }
    return json.dumps(doc, ensure_ascii=False, indent=1, default=str) + "\n"


class Renderer:
    """Templates compiled once (per process, per partition) and reused for every
    listener: one Jinja environment per locale, created when first needed."""

    def __init__(
        self,
        *,
        secret: bytes,
        settings: RenderSettings,
        png: bool = True,
        card_fonts: bool | None = None,
    ):
        self.secret = secret
        self.settings = settings
        self.png = png
        # the glyphs inside every card, so the page can turn any card into a PNG
        self.card_fonts = png if card_fonts is None else card_fonts
        self._envs: dict[str, Any] = {}
        self._script: tuple[Any, str] | None = None
        fonts.check()  # a clear error before the first card, not boxes in the PNGs

    def templates(self, locale: str) -> dict:
        if locale not in self._envs:
            env = make_env(locale)
            gettext = translations(locale).gettext
            self._envs[locale] = {
                "cards": {name: env.get_template(path) for name, path in CARDS},
                "page": env.get_template("page/index.html"),
                "alt": env.get_template("page/_alt.html").module,
                "title": lambda y, _t=gettext: _t("My Encore %(year)s — Top Songs") % {"year": y},
            }
            if self._script is None:
                self._script = story_script()
        return self._envs[locale]

    def locale_for(self, country: str | None) -> str:
        return self.settings.locale_for(country)

    def rasterise(self, svg: str) -> bytes:
        import resvg_py

        # only the families this card names: resvg-py builds its font database per call
        files = fonts.files_for(fonts.families_in(svg))
        return bytes(
            resvg_py.svg_to_bytes(
                svg_string=svg, font_files=files, skip_system_fonts=True, background="#121212"
            )
        )

    def render(self, recap: dict, *, country: str | None = None) -> tuple[str, dict[str, bytes]]:
        """(token, {file name: bytes}) for one eligible listener."""
        year = int(recap["year"])
        token = share.share_token(self.secret, str(recap["user_id"]), year)
        locale = self.locale_for(country if country is not None else recap.get("country"))
        tpl = self.templates(locale)
        view = listener_view(recap)
        files: dict[str, bytes] = {}
        cards = []
        svgs = {}
        for name in view["cards"]:
            svgs[name] = svg = tpl["cards"][name].render(view=view, card=name)
            alt = getattr(tpl["alt"], name.replace("-", "_"))(view)
            cards.append({"name": name, "file": f"{name}.svg", "alt": alt})
            if name == "summary" and self.png:
                files[SUMMARY_PNG] = self.rasterise(svg)
        if self.card_fonts:
            svgs = fonts.embed(svgs)
        for name, svg in svgs.items():
            files[f"{name}.svg"] = svg.encode("utf-8")
        share_url = f"{self.settings.base_url}{year}/{token}/" if self.settings.base_url else ""
        title = tpl["title"](year)
        files.update(playlist_files(recap, title))
        script, script_hash = self._script
        page = tpl["page"].render(
            view=view,
            cards=cards,
            has_png=self.png,
            share_url=share_url,
            script=script,
            script_hash=script_hash,
            playlists=PLAYLIST_M3U in files,
        )
        files[PAGE] = page.encode("utf-8")
        plain_cards = [{"file": c["file"], "alt": c["alt"].unescape()} for c in cards]
        files[RECAP_JSON] = recap_json(
            recap, token=token, locale=locale, cards=plain_cards, share_url=share_url
        ).encode("utf-8")
        return token, files


# --- Top Songs as playlist files -------------------------------------------------------


def playlist_files(recap: dict, title: str) -> dict[str, bytes]:
    """The recap's ``top_songs`` (the top 100 tracks, recap-rules.md: "for the Your Top
    Songs playlist") as M3U8 (``#EXTINF`` lines), XSPF and JSPF (what ListenBrainz
    imports), by artist and title: no file paths or service ids, which a recap does not
    have; importers (ListenBrainz, playlist converters) match by name. Nothing when the
    listener has no top song."""
    from xml.sax.saxutils import escape

    tracks = [
        (clean_text(t.get("artist_name")) or "", clean_text(t.get("track_name")) or "")
        for t in (recap.get("top_songs") or [])
    ]
    tracks = [(a, t) for a, t in tracks if a and t]
    if not tracks:
        return {}

    def one_line(text: str) -> str:  # no line break can start another M3U directive
        return " ".join(text.split())

    m3u = ["#EXTM3U", f"#PLAYLIST:{one_line(title)}"]
    for artist, track in tracks:
        m3u += [
            f"#EXTINF:-1,{one_line(artist)} - {one_line(track)}",
            f"#EXTART:{one_line(artist)}",
            f"{one_line(artist)} - {one_line(track)}",
        ]
    xspf = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<playlist version="1" xmlns="http://xspf.org/ns/0/">',
        f"  <title>{escape(title)}</title>",
        "  <trackList>",
    ]
    for artist, track in tracks:
        xspf.append(
            f"    <track><creator>{escape(artist)}</creator><title>{escape(track)}</title></track>"
        )
    xspf += ["  </trackList>", "</playlist>"]
    jspf = {"playlist": {"title": title, "track": [{"creator": a, "title": t} for a, t in tracks]}}
    return {
        PLAYLIST_M3U: ("\n".join(m3u) + "\n").encode("utf-8"),
        PLAYLIST_XSPF: ("\n".join(xspf) + "\n").encode("utf-8"),
        PLAYLIST_JSPF: (json.dumps(jspf, ensure_ascii=False, indent=1) + "\n").encode("utf-8"),
    }


# --- writing ---------------------------------------------------------------------------


def _write_files(folder: str, files: dict[str, bytes]) -> int:
    """Write one listener's files into their (staging) folder; returns bytes written."""
    total = 0
    if "://" not in folder:
        os.makedirs(folder, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
            total += len(data)
        return total
    for name, data in files.items():  # object stores: one put per file
        storage.write_bytes_atomic(storage.join(folder, name), data)
        total += len(data)
    return total


def render_partition(
    batches: Iterator, *, out_dir: str, secret: bytes, settings: RenderSettings, png: bool = True
) -> Iterator:
    """mapInArrow body: render every listener of the partition into ``out_dir`` and
    yield one row of counts. Templates are compiled once here, for the partition."""
    import pyarrow as pa

    started = time.perf_counter()
    renderer = Renderer(secret=secret, settings=settings, png=png)
    pages = cards = pngs = written = 0
    for batch in batches:
        for recap in batch.to_pylist():
            if not recap.get("eligible"):
                continue  # belt and braces: the query already filters them out
            token, files = renderer.render(recap)
            written += _write_files(storage.join(out_dir, token), files)
            pages += 1
            cards += sum(1 for n in files if n.endswith(".svg"))
            pngs += int(SUMMARY_PNG in files)
    yield pa.RecordBatch.from_pydict(
        {
            "pages": [pages],
            "cards": [cards],
            "pngs": [pngs],
            "bytes": [written],
            "render_s": [time.perf_counter() - started],
        }
    )


def eligible_recaps(spark, recaps, users=None, erased=None):
    """The recaps to render: eligible listeners only, erased ones dropped, with the
    listener's country (for the locale) when the users table is there."""
    from pyspark.sql import functions as F

    df = recaps.where(F.col("eligible") == F.lit(True))
    if erased is not None:
        df = df.join(erased.select("user_id"), on="user_id", how="left_anti")
    if users is not None:
        df = df.join(
            users.select("user_id", "country").dropDuplicates(["user_id"]), on="user_id", how="left"
        )
    else:
        df = df.withColumn("country", F.lit(None).cast("string"))
    return df


def build_site(
    spark,
    recaps,
    *,
    out_dir: str,
    secret: bytes,
    settings: RenderSettings,
    users=None,
    erased=None,
    png: bool = True,
):
    """A one-row DataFrame of totals (pages, cards, pngs, bytes, render_s); evaluating it
    renders every eligible listener into ``out_dir`` from the executors."""
    from pyspark.sql import functions as F

    df = eligible_recaps(spark, recaps, users, erased)

    def per_partition(batches):
        return render_partition(batches, out_dir=out_dir, secret=secret, settings=settings, png=png)

    counts = df.mapInArrow(per_partition, COUNTS_SCHEMA)
    return counts.agg(*(F.sum(c).alias(c) for c in ("pages", "cards", "pngs", "bytes", "render_s")))


def site_path(root: str, year: int) -> str:
    return storage.join(root, "site", str(year))


# --- command line ------------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    from encore.platform.args import add_common

    add_common(p, year=True)
    p.add_argument(
        "--demo", action="store_true", help="generated data: allow the labelled demo share secret"
    )
    p.add_argument(
        "--no-png",
        action="store_true",
        help="skip the summary PNGs and the fonts inside the cards (faster previews)",
    )


def main(args: argparse.Namespace, cfg: dict) -> int:
    """`encore render`: the parsed flags -> :func:`run`."""
    return run(RunContext.from_args(args, cfg), demo=args.demo, png=not args.no_png)


def run(ctx: RunContext, *, demo: bool = False, png: bool = True) -> int:
    """Every eligible listener's page, cards and (with ``png``) summary PNG for the
    year -> site/year=Y/. ``demo`` allows the labelled demo share secret."""
    from encore.platform import datasets
    from encore.platform.config import share_secret
    from encore.platform.errors import EncoreError

    cfg, data, year = ctx.cfg, ctx.data, ctx.need_year("render")
    secret = share_secret(demo=demo, root=data)  # before anything else: refuse early
    fonts.check()  # the driver too: one clear line instead of a failed Spark task
    settings = render_conf.settings(cfg)
    report = ctx.report("render")
    report.set("year", year)
    recaps_uri = datasets.recaps_path(data, year)
    if not storage.exists(recaps_uri):
        raise EncoreError(
            f"no recaps for {year} at {recaps_uri}: run `encore recaps --data {data} --year {year}` first"
        )
    spark = ctx.session("render")
    report.phase("render")
    recaps = spark.read.parquet(recaps_uri)
    users = datasets.read_dimension(spark, data, "users")
    erased = datasets.erased_user_ids(spark, data)
    final = site_path(data, year)
    staged = storage.staging_path(final, report.run_id)
    storage.delete(staged)
    started = time.monotonic()
    try:
        totals = build_site(
            spark,
            recaps,
            out_dir=staged,
            secret=secret,
            settings=settings,
            users=users,
            erased=erased,
            png=png,
        ).collect()[0]
        if not storage.exists(staged):  # nobody eligible: publish an empty year
            storage.write_bytes_atomic(storage.join(staged, ".keep"), b"")
        report.phase("publish")
        storage.publish(staged, final, report.run_id)
    except BaseException:
        storage.discard(staged)
        raise
    seconds = time.monotonic() - started
    pages, cards, pngs = (
        int(totals["pages"] or 0),
        int(totals["cards"] or 0),
        int(totals["pngs"] or 0),
    )
    report.wrote("pages", pages)
    report.wrote("cards", cards)
    report.wrote("pngs", pngs)
    report.wrote("bytes", int(totals["bytes"] or 0))
    report.set("site", final)
    report.set("render_task_s", round(float(totals["render_s"] or 0.0), 3))
    report.finish()
    print(
        f"render {year}: {pages} pages, {cards} cards, {pngs} PNGs written to {final} "
        f"in {seconds:.1f} s"
    )
    return 0
