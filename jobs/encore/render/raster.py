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
Devanagari "ङ्ग" drawn as two letters and a virama), which 0.48 fixed. So a card naming any
of those families has those runs **outlined** first (:func:`outlined`): shaped by HarfBuzz
(what resvg 0.48's rustybuzz ports) with the same font file, and drawn as one filled path
per run — what resvg itself does with a text run — then the card goes to the fast
renderer. test_raster compares every such family's sample and whole summaries against
the exact renderer (at most a few pixels differ, by at most 15 of 255). A card whose text
uses anything the outliner does not reproduce (an anchor, a transform, spacing, collapsed
white space) is drawn by the exact renderer, so no name loses its shape for speed.
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


def png(svg: str) -> tuple[bytes, str]:
    """A card's PNG and how it was drawn: "fast" (only FAST_FAMILIES), "outlined" (the
    other families' runs as paths, then fast) or "exact" (resvg-py)."""
    families = fonts.families_in(svg)
    if fast(families):
        return png_fast(svg), "fast"
    paths = outlined(svg)
    if paths is not None:
        return png_fast(paths), "outlined"
    return png_exact(svg, families), "exact"


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


_SVG = "{http://www.w3.org/2000/svg}"
# attributes of a <text> (and of its outlined <tspan>) the outliner reproduces; anything
# else (text-anchor, transform, dx, letter-spacing...) sends the card to the exact renderer
_TEXT_ATTRS = frozenset({"x", "y", "font-size", "font-weight", "fill", "fill-opacity"})
_PAINT = ("fill", "fill-opacity")


def outlined(svg: str) -> str | None:
    """``svg`` with every run in a family outside FAST_FAMILIES drawn as a path, or None
    when a run cannot be outlined exactly as resvg would draw it (then: png_exact)."""
    import xml.etree.ElementTree as ET

    ET.register_namespace("", _SVG[1:-1])
    root = ET.fromstring(svg)
    parents = {child: parent for parent in root.iter() for child in parent}
    for text in list(root.iter(f"{_SVG}text")):
        spans = [
            t
            for t in text.iter(f"{_SVG}tspan")
            if t.get("font-family") and t.get("font-family") not in FAST_FAMILIES
        ]
        if not spans:
            continue
        if set(text.attrib) - _TEXT_ATTRS or "font-size" not in text.attrib:
            return None
        size = float(text.get("font-size"))
        bold = text.get("font-weight") == "bold"
        if text.get("font-weight") not in (None, "bold"):
            return None
        parent = parents[text]
        at = list(parent).index(text)
        paths = []
        for span in spans:
            run = span.text or ""
            if set(span.attrib) - {"x", "font-family"} or len(span) or not run:
                return None
            if run != run.strip() or "  " in run or any(c in run for c in "\t\n\r"):
                return None  # SVG's white-space collapsing: left to the exact renderer
            d = _outline(
                span.get("font-family"),
                bold,
                run,
                float(span.get("x", text.get("x", 0))),
                float(text.get("y", 0)),
                size,
            )
            path = ET.Element(f"{_SVG}path", {"d": d})
            for name in _PAINT:
                if text.get(name) is not None:
                    path.set(name, text.get(name))
            paths.append(path)
            _remove_keeping_tail(text, span)
        if not (text.text or "").strip() and not len(text):
            parent.remove(text)
            at -= 1
        for i, path in enumerate(paths, 1):
            parent.insert(at + i, path)
    return ET.tostring(root, encoding="unicode")


def _remove_keeping_tail(text: Any, span: Any) -> None:
    tail = span.tail or ""
    children = list(text)
    i = children.index(span)
    if i == 0:
        text.text = (text.text or "") + tail
    else:
        children[i - 1].tail = (children[i - 1].tail or "") + tail
    text.remove(span)


def _outline(family: str, bold: bool, run: str, x: float, y: float, size: float) -> str:
    """One path of ``run`` shaped by HarfBuzz in ``family``'s font, its baseline at (x, y):
    every glyph's outline scaled to ``size`` and placed where the shaper put it, as one
    path (so overlapping glyphs fill once, as in resvg's text)."""
    import uharfbuzz as hb
    from fontTools.pens.svgPathPen import SVGPathPen
    from fontTools.pens.transformPen import TransformPen

    font = fonts.face(family, bold).hb_font
    k = size / font.face.upem
    buf = hb.Buffer()
    buf.add_str(run)
    buf.guess_segment_properties()
    hb.shape(font, buf, {})
    pen = SVGPathPen(None, ntos=lambda v: f"{v:.3f}".rstrip("0").rstrip("."))
    advance = 0
    for info, pos in zip(buf.glyph_infos, buf.glyph_positions, strict=True):
        origin = (x + (advance + pos.x_offset) * k, y - pos.y_offset * k)
        font.draw_glyph_with_pen(info.codepoint, TransformPen(pen, (k, 0, 0, -k, *origin)))
        advance += pos.x_advance
    return pen.getCommands() or "M0 0"


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
