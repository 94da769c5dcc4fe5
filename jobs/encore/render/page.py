"""One listener's recap folder: the story cards, the page (``index.html``), the summary
PNG, ``recap.json`` and the Top Songs playlists, rendered by ``Renderer`` from a recap.

The Jinja environment is the shared one (platform/templating.py) with the cards'
filters and globals on top: text fitting and the font runs (text.py, fonts.py) and
the locale's formats. The page's one script is a static file, allowed by its hash.
"""

from __future__ import annotations

import json
import time
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from encore.platform import share, templating
from encore.render import fonts, raster
from encore.render import settings as render_conf
from encore.render.cards import CARDS, listener_view
from encore.render.playlists import PLAYLIST_M3U, playlist_files
from encore.render.settings import RenderSettings
from encore.render.text import fit, font_size_for, locale_filters, wrap

if TYPE_CHECKING:
    from babel.support import NullTranslations
    from jinja2 import Environment

SUMMARY_PNG = "summary.png"
PAGE = "index.html"
RECAP_JSON = "recap.json"
CATALOG = "encore"  # templates/locales/<locale>/LC_MESSAGES/encore.po
html_lang = templating.html_lang


# --- locales ----------------------------------------------------------------------------


def translations(locale: str) -> NullTranslations:
    """The cards' and page's translations for ``locale`` (templates/locales/)."""
    return templating.translations(render_conf.templates_dir() / "locales", CATALOG, locale)


def make_env(locale: str) -> Environment:
    """A Jinja environment for one locale (templating.environment: autoescaping for
    html/xml/svg, strict undefined, gettext from the locale's catalog, ``number``) with
    the cards' filters: Babel's formats, text fitting, the font runs."""
    from markupsafe import Markup

    env = templating.environment(
        render_conf.templates_dir(),
        locale=locale,
        locales_dir=render_conf.templates_dir() / "locales",
        domain=CATALOG,
    )
    env.filters.update(locale_filters(locale), fit=fit, wrap=wrap)
    env.globals.update(
        font_size_for=font_size_for,
        runs=fonts.layout,
        font_stack=Markup(fonts.STACK),  # a constant, not data
    )
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
        self.png_s = 0.0  # seconds spent in rasterise()
        self.png_exact = 0  # PNGs drawn by the exact (slower) renderer: raster.py
        self.png_outlined = 0  # PNGs whose Indic (...) runs were outlined for the fast one
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
        started = time.perf_counter()
        png, how = raster.png(svg)
        self.png_outlined += how == "outlined"
        self.png_exact += how == "exact"
        self.png_s += time.perf_counter() - started  # the bench's PNGs per second per core
        return png

    def render(self, recap: dict, *, country: str | None = None) -> tuple[str, dict[str, bytes]]:
        """(token, {file name: bytes}) for one eligible listener."""
        year = int(recap["year"])
        token = share.share_token(self.secret, str(recap["user_id"]), year)
        locale = self.locale_for(country if country is not None else recap.get("country"))
        tpl = self.templates(locale)
        view = listener_view(recap, top_n=self.settings.top_n)
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
