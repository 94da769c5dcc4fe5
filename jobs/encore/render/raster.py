"""The summary PNG: one card's SVG drawn at 1080×1920 (issue 20, "Summary PNG").

Two renderers of the same resvg/tiny-skia pipeline, chosen per card by the families it
names:

- **fast** (``svg2png-py``: resvg 0.47): one font database per process, loaded once with
  every family of ``FAST_FAMILIES``; the card is drawn to raw pixels and encoded by
  ``fpng`` (a fast, lossless PNG writer). About 10 ms per summary here.
- **exact** (``resvg-py``: resvg 0.48.1): builds a font database from files on every call
  and encodes with the ``png`` crate's default deflate. About 110-150 ms per card.

Both draw the same pixels for every family of ``FAST_FAMILIES`` (tests/jobs/test_raster.py
renders each family's sample text with both and compares every pixel). They do not for the
scripts shaped by the Indic and Universal Shaping Engines — Devanagari, Bengali, Tamil,
Malayalam, Khmer, Myanmar, Sinhala...: resvg 0.47's shaper breaks their conjuncts (a
Devanagari "ङ्ग" drawn as two letters and a virama), which 0.48 fixed.

Before the fast renderer sees a card, its text is **outlined** (:func:`outlined`): each run
shaped by HarfBuzz (what resvg's rustybuzz ports) with the font file resvg would use and
drawn as one filled path — what resvg itself does with a text run. Runs in the Indic
families must be (that is how they reach the fast renderer at all); every other *plain*
run is, for speed: resvg spent ~20 of a summary's ~21 ms drawing laying out its 34 texts,
and a run's path is the glyphs' outlines, each made once per process, placed by one move
each. test_raster compares every family's sample and whole summaries against both
renderers' own text (at most a few edge pixels differ, by at most 16 of 255). What the
outliner does not reproduce stays text: in a fast family, resvg draws it (an emoji, a
right-to-left run, a character the card's font lacks); in an Indic family, the card goes
to the exact renderer (an anchor, a transform, spacing, collapsed white space), so no name
loses its shape for speed.
"""

from __future__ import annotations

import tempfile
from functools import cache, lru_cache
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

    _keep_large_buffers()

    db = svg2png_py.FontDatabase()
    for path in fonts.files_for(sorted(FAST_FAMILIES)):
        db.load_font_file(path)
    return db


def _keep_large_buffers() -> None:
    """Let glibc's malloc reuse the canvas instead of mapping fresh pages for it.

    A 1080×1920 canvas is 8.3 MB, and so is its copy handed to Python: above glibc's
    mmap threshold, each is mapped on allocation and unmapped on free, so every PNG paid
    ~9,500 page faults (zeroed pages) between them: 8–9 ms, as much again as the PNG's
    own work, in a fresh process; less after glibc's threshold happened to adapt
    (docs/render.md; test_raster counts them). Raising the threshold
    (to glibc's maximum, 32 MB) and the trim threshold keeps those buffers in the heap.
    Elsewhere than glibc (macOS) this is a no-op."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, 32 << 20)
    mallopt(m_trim_threshold, 64 << 20)


@cache
def _options() -> Any:
    import svg2png_py

    return svg2png_py.RenderOptions(resources_dir=_nothing())


def png(svg: str) -> tuple[bytes, str]:
    """A card's PNG and how it was drawn: "fast" (only FAST_FAMILIES), "outlined" (the
    other families' runs had to be paths) or "exact" (resvg-py). Either way the fast
    renderer is given the card with every run it can outline as a path (:func:`outlined`):
    resvg's text layout is most of its time, the paths' fill a tenth of it."""
    families = fonts.families_in(svg)
    paths = outlined(svg)
    if paths is not None:
        return png_fast(paths), "fast" if fast(families) else "outlined"
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
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
# attributes of a <text> (and of its outlined <tspan>) the outliner reproduces; anything
# else (text-anchor, transform, dx, letter-spacing...) sends the card to the exact renderer
_TEXT_ATTRS = frozenset({"x", "y", "font-size", "font-weight", "fill", "fill-opacity"})
_PAINT = ("fill", "fill-opacity")
# the root attributes a card of ours has (templates/cards/_card.svg); a root with any other
# (a font-size, letter-spacing, a style...) changes how text is drawn: its texts stay text
_ROOT_ATTRS = frozenset({"width", "height", "viewBox", "font-family", "fill", _XML_LANG})
# bidirectional classes a fast family's run must not have to be outlined: resvg reorders
# right-to-left text itself (the cards' Arabic and Hebrew runs stay text)
_BIDI = frozenset({"R", "AL", "AN", "LRE", "LRO", "RLE", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"})


def outlined(svg: str) -> str | None:
    """``svg`` with its text drawn as paths where that draws what resvg would, or None
    when a run in a family outside FAST_FAMILIES cannot be (then: png_exact).

    Two kinds of run become paths, each shaped by HarfBuzz with the font file resvg would
    use and drawn as one filled path (so overlapping glyphs fill once, as in resvg's text):

    - every run in a family outside FAST_FAMILIES (resvg 0.47 breaks their conjuncts);
    - every other run of a *plain* text (:func:`_plain_runs`: the attributes, white space,
      direction and glyph coverage the outliner reproduces exactly) — for speed: resvg
      spends ~0.5 ms laying out each text (a summary: ~20 ms of its ~21), and the path of
      a run is the glyphs' cached outlines (:func:`_glyph`) with one offset each.

    What is not plain (an emoji, a right-to-left run, a character the card's font lacks,
    a text with an anchor or a transform) stays text for resvg."""
    import xml.etree.ElementTree as ET

    ET.register_namespace("", _SVG[1:-1])
    root = ET.fromstring(svg)
    plain_root = not set(root.attrib) - _ROOT_ATTRS  # nothing on the root restyles text
    base = fonts.BASE if plain_root and root.get("font-family") == fonts.STACK else None
    parents = {child: parent for parent in root.iter() for child in parent}
    for text in list(root.iter(f"{_SVG}text")):
        parent = parents[text]
        alone = plain_root and parent is root  # nothing around the text styles it
        plain = _plain_runs(text, base if alone else None, alone=alone)
        if plain is not None:
            drawn = [
                _run_path(text, fam, run, x, strict=fam in FAST_FAMILIES) for fam, run, x in plain
            ]
            if all(p is not None for p in drawn):
                at = list(parent).index(text)
                parent.remove(text)
                for i, path in enumerate(drawn):
                    parent.insert(at + i, path)
                continue
        spans = [
            t
            for t in text.iter(f"{_SVG}tspan")
            if t.get("font-family") and t.get("font-family") not in FAST_FAMILIES
        ]
        if not spans:
            continue
        if not _drawable(text):
            return None
        at = list(parent).index(text)
        paths = []
        for span in spans:
            run = span.text or ""
            if set(span.attrib) - {"x", "font-family"} or len(span) or not run:
                return None
            if not _uncollapsed(run) or run.endswith(" "):
                return None  # SVG's white-space collapsing: left to the exact renderer
            x = _number(span.get("x", text.get("x", "0")))
            if x is None:
                return None
            path = _run_path(text, span.get("font-family"), run, x, strict=False)
            if path is None:
                return None
            paths.append(path)
            _remove_keeping_tail(text, span)
        if not (text.text or "").strip() and not len(text):
            parent.remove(text)
            at -= 1
        for i, path in enumerate(paths, 1):
            parent.insert(at + i, path)
    return ET.tostring(root, encoding="unicode")


def _number(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:  # a list of positions ("10 20 30"): not ours to reproduce
        return None


def _drawable(text: Any) -> bool:
    """A <text> whose own attributes the outliner reproduces."""
    return (
        not set(text.attrib) - _TEXT_ATTRS
        and _number(text.get("font-size")) is not None
        and text.get("font-weight") in (None, "bold")
        and _number(text.get("x", "0")) is not None
        and _number(text.get("y", "0")) is not None
    )


def _uncollapsed(run: str) -> bool:
    """A non-empty run SVG's white-space collapsing leaves as it is where it starts and
    inside (no leading or doubled space, no tab or line break): nothing moves."""
    return bool(run) and run[0] != " " and "  " not in run and not any(c in run for c in "\t\n\r")


def _plain_text(run: str, family: str) -> bool:
    """A run resvg would lay out exactly as :func:`_run_path` does."""
    import unicodedata

    if not _uncollapsed(run):
        return False  # SVG's white-space collapsing moves what follows
    if family not in FAST_FAMILIES:
        return True  # the outliner's own families: conjuncts and joiners are its job
    if family == fonts.EMOJI:
        return False  # colour bitmaps, not outlines
    return not any(fonts.ignorable(ord(c)) or unicodedata.bidirectional(c) in _BIDI for c in run)


def _plain_runs(text: Any, base: str | None, *, alone: bool) -> list[tuple[str, str, float]] | None:
    """[(family, run, x)] of a <text> made only of runs the outliner reproduces — its own
    text in the card's family, or tspans naming a family and placed by x (fonts.layout)
    — else None. ``base``: the family of a run that names none (the card root's stack's
    first), or None (such a run stays text). ``alone``: nothing around the text (a group,
    a root attribute) changes how it is drawn; else only Indic-family runs are outlined,
    as before."""
    if not _drawable(text):
        return None
    x0 = _number(text.get("x", "0"))
    if not len(text):
        run = text.text or ""
        if base is None or not _plain_text(run, base):
            return None
        return [(base, run, x0)]
    if text.text:
        return None  # text before the first run: white space SVG would collapse, or more
    runs = []
    for i, span in enumerate(text):
        if span.tag != f"{_SVG}tspan" or len(span) or span.tail:
            return None
        if set(span.attrib) - {"x", "font-family"} or (i and "x" not in span.attrib):
            return None
        family = span.get("font-family") or base
        x = _number(span.get("x", text.get("x", "0")))
        run = span.text or ""
        if family is None or x is None or family not in fonts.ALL_NAMES:
            return None
        if family in FAST_FAMILIES and not alone:
            return None  # a group or a styled root around it: resvg's to draw
        if not _plain_text(run, family):
            return None
        runs.append((family, run, x))
    return runs


def _remove_keeping_tail(text: Any, span: Any) -> None:
    tail = span.tail or ""
    children = list(text)
    i = children.index(span)
    if i == 0:
        text.text = (text.text or "") + tail
    else:
        children[i - 1].tail = (children[i - 1].tail or "") + tail
    text.remove(span)


def _run_path(text: Any, family: str, run: str, x: float, *, strict: bool) -> Any | None:
    """The <path> of ``run`` in ``family`` at the text's size, weight and paint, its
    baseline starting at (x, the text's y); None when ``strict`` and a character has no
    glyph in the font (resvg would fall back to another font: the run stays text)."""
    import xml.etree.ElementTree as ET

    size = float(text.get("font-size"))
    d = _outline(family, text.get("font-weight") == "bold", run, strict=strict)
    if d is None:
        return None
    k = size / fonts.face(family, text.get("font-weight") == "bold").hb_font.face.upem
    y = float(text.get("y", "0"))
    # the glyphs in font units, y up; the run's one transform puts them at size, y down
    path = ET.Element(f"{_SVG}path", {"d": d, "transform": f"matrix({k!r} 0 0 {-k!r} {x!r} {y!r})"})
    for name in _PAINT:
        if text.get(name) is not None:
            path.set(name, text.get(name))
    return path


def _outline(family: str, bold: bool, run: str, *, strict: bool = False) -> str | None:
    """One path of ``run`` shaped by HarfBuzz in ``family``'s font, in font units from
    the origin: each glyph its cached outline after one absolute move to where the shaper
    put it. None when ``strict`` and the font has no glyph for a character (.notdef)."""
    import uharfbuzz as hb

    font = fonts.face(family, bold).hb_font
    buf = hb.Buffer()
    buf.add_str(run)
    buf.guess_segment_properties()
    hb.shape(font, buf, _FEATURES.get(family, {}))
    parts = []
    ax = ay = 0
    for info, pos in zip(buf.glyph_infos, buf.glyph_positions, strict=True):
        if strict and info.codepoint == 0:
            return None
        glyph = _glyph(family, bold, info.codepoint)
        if glyph is not None:
            gx, gy, rest = glyph
            parts.append(f"M{_n(ax + pos.x_offset + gx)} {_n(ay + pos.y_offset + gy)}{rest}")
        ax += pos.x_advance
        ay += pos.y_advance
    return "".join(parts) or "M0 0"


# resvg's shaper does not apply Noto Sans CJK's contextual space between Hangul syllables
# (its 'calt' widens "하입 보이"'s space from 227 to 280 units); HarfBuzz does
_FEATURES = {"Noto Sans CJK KR": {"calt": False}}


def _n(v: float) -> str:
    return str(int(v)) if v == int(v) else f"{v:.3f}".rstrip("0").rstrip(".")


@lru_cache(maxsize=1 << 14)  # 16 k glyphs: ~6 MB of paths (a CJK glyph ~350 B, at most ~1 KB)
def _glyph(family: str, bold: bool, gid: int) -> tuple[float, float, str] | None:
    """A glyph's outline in font units as (x, y of its first point, the rest as relative
    commands), or None for a glyph with no outline (a space). Relative, so that placing
    the glyph is one absolute move: ~600 glyphs a summary, each outlined once per process."""
    pen = _RelativePen()
    fonts.face(family, bold).hb_font.draw_glyph_with_pen(gid, pen)
    if pen.start is None:
        return None
    return pen.start[0], pen.start[1], "".join(pen.out)


class _RelativePen:
    """A fontTools-style pen writing SVG path commands relative to the previous point
    (after the first move), closing each contour; numbers as _n writes them."""

    def __init__(self) -> None:
        self.start: tuple[float, float] | None = None
        self.out: list[str] = []
        self.at = (0.0, 0.0)
        self.contour = (0.0, 0.0)

    def _rel(self, *points: tuple[float, float]) -> str:
        x0, y0 = self.at
        return " ".join(f"{_n(x - x0)} {_n(y - y0)}" for x, y in points)

    def moveTo(self, p: tuple[float, float]) -> None:  # noqa: N802 (the pen protocol)
        if self.start is None:
            self.start = p
        else:
            self.out.append("m" + self._rel(p))
        self.at = self.contour = p

    def lineTo(self, p: tuple[float, float]) -> None:  # noqa: N802
        self.out.append("l" + self._rel(p))
        self.at = p

    def qCurveTo(self, *points: tuple[float, float]) -> None:  # noqa: N802
        # HarfBuzz gives one control point and the end point per call
        self.out.append("q" + self._rel(*points))
        self.at = points[-1]

    def curveTo(self, *points: tuple[float, float]) -> None:  # noqa: N802
        self.out.append("c" + self._rel(*points))
        self.at = points[-1]

    def closePath(self) -> None:  # noqa: N802
        self.out.append("z")
        self.at = self.contour  # SVG: after a close, the point is the contour's first

    def endPath(self) -> None:  # noqa: N802
        pass  # an open contour: the point stays its last, as in SVG


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
