"""The summary PNG: one card's SVG drawn at 1080×1920 (issue 20, "Summary PNG").

Two renderers of the same resvg/tiny-skia pipeline, chosen per card by the families it
names:

- **fast** (``svg2png-py``: resvg 0.47): one font database per process, loaded once with
  every family of ``FAST_FAMILIES``; the card is drawn to raw pixels and encoded by
  ``fpng`` (a fast, lossless PNG writer). About 30 ms per card here.
- **exact** (``resvg-py``: resvg 0.48.1): builds a font database from files on every call
  and encodes with the ``png`` crate's default deflate. About 110-150 ms per card.

Both draw the same pixels for every family of ``FAST_FAMILIES`` (tests/jobs/test_raster.py
renders each family's sample text with both and compares every pixel). They do not for the
scripts shaped by the Indic and Universal Shaping Engines — Devanagari, Bengali, Tamil,
Malayalam, Khmer, Myanmar, Sinhala...: resvg 0.47's shaper breaks their conjuncts (a
Devanagari "ङ्ग" drawn as two letters and a virama), which 0.48 fixed. A card naming any of
those families is drawn by the exact renderer, so no name loses its shape for speed.
"""

from __future__ import annotations

import tempfile
from functools import cache
from typing import Any

from encore.render import fonts

BACKGROUND = (0x12, 0x12, 0x12)  # under the card's own background rect (never visible)

# Shaped the same by resvg 0.47 and 0.48 (test_raster checks every one, pixel by pixel).
FAST_FAMILIES = frozenset(
    {
        fonts.BASE,
        "Noto Sans Arabic",
        "Noto Sans Hebrew",
        "Noto Sans Thai",
        "Noto Sans Lao",
        "Noto Sans Georgian",
        "Noto Sans Armenian",
        "Noto Sans Ethiopic",
        "Noto Sans Thaana",
        *fonts.CJK_FACES,
        "Noto Sans Symbols",
        "Noto Sans Symbols2",  # the file's own name, no space (not "Symbols 2")
        "Noto Sans Math",
        fonts.EMOJI,
        "DejaVu Sans",
    }
)


def fast(families: set[str] | frozenset[str]) -> bool:
    """Whether a card naming ``families`` may be drawn by the fast renderer."""
    return families <= FAST_FAMILIES


@cache
def _nothing() -> str:
    """An empty folder, for the renderers' ``resources_dir``: both resolve a relative href
    (``<image href="x.png">``) from the working folder unless given one. Our cards
    reference no file (names are escaped text); this is the second line of defence."""
    return _EMPTY.setdefault("dir", tempfile.TemporaryDirectory(prefix="encore-raster-")).name


_EMPTY: dict[str, tempfile.TemporaryDirectory] = {}  # removed when the process exits


@cache
def _font_db() -> Any:
    """The fast renderer's font database: every file of FAST_FAMILIES, once per process
    (the files are memory-mapped: ~3 ms, no copy)."""
    import svg2png_py

    db = svg2png_py.FontDatabase()
    for path in fonts.files_for(sorted(FAST_FAMILIES)):
        db.load_font_file(path)
    return db


@cache
def _options() -> Any:
    import svg2png_py

    return svg2png_py.RenderOptions(resources_dir=_nothing())


def png_fast(svg: str) -> bytes:
    import fpng
    import svg2png_py

    rgba, width, height = svg2png_py.svg_to_rgba(
        svg,
        _font_db(),
        bg_color=(*BACKGROUND, 255),
        options=_options(),
    )
    # opaque everywhere (an opaque background under everything), so the premultiplied
    # pixels are the straight ones and alpha is 255: an RGBA PNG of exactly these pixels
    return fpng.from_bytes(rgba, width, height, 4)


def png_exact(svg: str, families: set[str] | frozenset[str]) -> bytes:
    import resvg_py

    # only the families this card names: resvg-py builds its font database per call
    return bytes(
        resvg_py.svg_to_bytes(
            svg_string=svg,
            font_files=fonts.files_for(families),
            skip_system_fonts=True,
            background="#{:02x}{:02x}{:02x}".format(*BACKGROUND),
            resources_dir=_nothing(),
        )
    )
