"""The render stage: story cards, summary PNGs and a private recap page per listener.

- ``job.py``: the Spark side (``build_site``, ``eligible_recaps``) and the command;
- ``page.py``: one listener's folder (``Renderer``), the Jinja environment, recap.json;
- ``cards.py``: which cards a listener gets and the recap as the templates see it;
- ``text.py``: names cleaned and fitted, the locale's formats;
- ``playlists.py``: Top Songs as M3U8, XSPF and JSPF;
- ``fonts.py``: the Noto set, text runs and shaping; ``settings.py``: ``[render]``.

``from encore import render`` gives the names other stages and the tests use.
"""

from encore.render.cards import (
    CARD_H,
    CARD_W,
    CARDS,
    clock_bars,
    clock_labels,
    listener_view,
    month_bars,
)
from encore.render.job import build_site, eligible_recaps, render_partition, site_path
from encore.render.page import (
    PAGE,
    RECAP_JSON,
    SUMMARY_PNG,
    Renderer,
    html_lang,
    make_env,
    recap_json,
    story_script,
    translations,
)
from encore.render.playlists import PLAYLIST_JSPF, PLAYLIST_M3U, PLAYLIST_XSPF, playlist_files
from encore.render.settings import CARD_ROWS, RenderSettings
from encore.render.text import clean_text, fit, font_size_for, text_width, wrap

__all__ = [
    "CARDS",
    "CARD_H",
    "CARD_ROWS",
    "CARD_W",
    "PAGE",
    "PLAYLIST_JSPF",
    "PLAYLIST_M3U",
    "PLAYLIST_XSPF",
    "RECAP_JSON",
    "SUMMARY_PNG",
    "RenderSettings",
    "Renderer",
    "build_site",
    "clean_text",
    "clock_bars",
    "clock_labels",
    "eligible_recaps",
    "fit",
    "font_size_for",
    "html_lang",
    "listener_view",
    "make_env",
    "month_bars",
    "playlist_files",
    "recap_json",
    "render_partition",
    "site_path",
    "story_script",
    "text_width",
    "translations",
    "wrap",
]
