"""The fonts every card is drawn with (issue 17): Noto for the world's scripts, one
table of families, loaded once per process.

resvg (the PNG) and the browser (the page, the canvas) are given the same families.
Text is laid out here, not left to the rasteriser's fallback: resvg falls back one font
per text and shapes a whole text with the script of its first letter, so a name that
mixes scripts would lose glyphs or conjuncts. Instead every user-derived text is split
into *runs*, each drawn entirely by one family that covers all its characters, and
each run is measured by shaping it with HarfBuzz (the engine resvg's rustybuzz ports),
so fitting and positions use the real glyph advances.

The set (``FAMILIES``) comes from Debian's ``fonts-noto-core``, ``fonts-noto-cjk`` and
``fonts-noto-color-emoji`` (SIL Open Font License 1.1); DejaVu Sans from the repository
is the last resort. ``ENCORE_FONT_DIRS`` (os.pathsep-separated) replaces the Debian
folders, e.g. on a cluster whose workers keep the fonts elsewhere.

Why one module: the family table, the coverage sets, run itemizing, HarfBuzz
measuring and the per-card subsets all read the same per-process caches of loaded
faces (``face``, ``_coverage``, ``_hb_font``); split, each part would import the
others' private caches. It is ~500 lines because it is one table and one algorithm.
"""

from __future__ import annotations

import logging
import os
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from encore.platform import config
from encore.platform.errors import EncoreError

if TYPE_CHECKING:
    import uharfbuzz as hb

log = logging.getLogger(__name__)

DEBIAN_DIRS = ("/usr/share/fonts/truetype/noto", "/usr/share/fonts/opentype/noto")
BASE = "Noto Sans"  # the cards' own family: Latin, Greek, Cyrillic
EMOJI = "Noto Color Emoji"
# The SVG/HTML stack: Noto first; the rest only matters for copy the runs do not cover.
STACK = "'Noto Sans', 'DejaVu Sans', sans-serif"


@dataclass(frozen=True)
class Family:
    name: str
    regular: str
    bold: str | None  # None: the regular face is used for bold text too
    package: str  # where the files come from (the error names it)
    index: int = 0  # face in a .ttc collection


# Priority order: a character goes to the first family that has it (emoji clusters to
# Noto Color Emoji first). CJK: one collection, the face chosen by the text (kana ->
# JP, Hangul -> KR, else SC); the faces cover the same characters.
_CORE = "fonts-noto-core"
FAMILIES: tuple[Family, ...] = (
    Family(BASE, "NotoSans-Regular.ttf", "NotoSans-Bold.ttf", _CORE),
    Family("Noto Sans Arabic", "NotoSansArabic-Regular.ttf", "NotoSansArabic-Bold.ttf", _CORE),
    Family("Noto Sans Hebrew", "NotoSansHebrew-Regular.ttf", "NotoSansHebrew-Bold.ttf", _CORE),
    *(
        Family(f"Noto Sans {s}", f"NotoSans{s}-Regular.ttf", f"NotoSans{s}-Bold.ttf", _CORE)
        for s in (
            "Devanagari",
            "Bengali",
            "Gurmukhi",
            "Gujarati",
            "Oriya",
            "Tamil",
            "Telugu",
            "Kannada",
            "Malayalam",
            "Sinhala",
            "Thai",
            "Lao",
            "Khmer",
            "Myanmar",
            "Georgian",
            "Armenian",
            "Ethiopic",
            "Thaana",
        )
    ),
    Family(
        "Noto Sans CJK SC", "NotoSansCJK-Regular.ttc", "NotoSansCJK-Bold.ttc", "fonts-noto-cjk", 2
    ),
    Family("Noto Sans Symbols", "NotoSansSymbols-Regular.ttf", "NotoSansSymbols-Bold.ttf", _CORE),
    Family("Noto Sans Symbols2", "NotoSansSymbols2-Regular.ttf", None, _CORE),
    Family("Noto Sans Math", "NotoSansMath-Regular.ttf", None, _CORE),
    Family(EMOJI, "NotoColorEmoji.ttf", None, "fonts-noto-color-emoji"),
    Family(
        "DejaVu Sans",
        "DejaVuSans.ttf",
        "DejaVuSans-Bold.ttf",
        "templates/fonts (in the repository)",
    ),
)
CJK_FACES = {"Noto Sans CJK JP": 0, "Noto Sans CJK KR": 1, "Noto Sans CJK SC": 2}
ALL_NAMES = frozenset([f.name for f in FAMILIES] + list(CJK_FACES))

_IGNORABLE = {
    0x00AD,
    0x034F,
    0x061C,
    0x180E,
    0x200B,
    0x200C,
    0x200D,
    0x200E,
    0x200F,
    0x2060,
    0x2061,
    0x2062,
    0x2063,
    0x2064,
    0x2066,
    0x2067,
    0x2068,
    0x2069,
    0xFEFF,
}
RLI, PDI = "\u2067", "\u2069"


def ignorable(code: int) -> bool:
    """Default-ignorable: drawn as nothing by any font (joiners, marks of direction,
    variation selectors, tags), so it needs no glyph."""
    return (
        code in _IGNORABLE
        or 0xFE00 <= code <= 0xFE0F
        or 0xE0000 <= code <= 0xE0FFF
        or 0x202A <= code <= 0x202E
    )


def font_dirs() -> list[Path]:
    env = os.environ.get("ENCORE_FONT_DIRS")
    dirs = [Path(d) for d in env.split(os.pathsep) if d] if env else [Path(d) for d in DEBIAN_DIRS]
    return [*dirs, config.REPO_ROOT / "templates" / "fonts"]


def _find(name: str) -> Path | None:
    for d in font_dirs():
        if (d / name).is_file():
            return d / name
    return None


def missing() -> list[tuple[str, str]]:
    """(file, package) for every font file of the set that is not installed."""
    out = []
    for fam in FAMILIES:
        for name in (fam.regular, fam.bold):
            if name and _find(name) is None:
                out.append((name, fam.package))
    return out


def check() -> None:
    """Raise a one-line EncoreError naming the missing packages (render start, driver
    and every executor)."""
    gone = missing()
    if gone:
        packages = sorted({p for _, p in gone})
        raise EncoreError(
            f"render needs the Noto fonts: {len(gone)} font files missing (e.g. {gone[0][0]}) "
            f"in {', '.join(str(d) for d in font_dirs()[:-1])}: install {' '.join(packages)} "
            "(`make fonts`, or `apt-get install` as root; on a cluster, on every worker)"
        )


@dataclass
class Face:
    family: str
    path: str
    index: int
    bold: bool

    @property
    def hb_font(self) -> hb.Font:
        return _hb_font(self.path, self.index)


@cache
def _hb_font(path: str, index: int) -> hb.Font:
    import uharfbuzz as hb

    face = hb.Face(hb.Blob.from_file_path(path), index)
    return hb.Font(face)


@cache
def _coverage(path: str, index: int) -> frozenset[int]:
    return frozenset(_hb_font(path, index).face.unicodes)


@cache
def face(family: str, bold: bool) -> Face:
    """The installed face of ``family`` (bold when the family has one)."""
    fam = _family(family)
    name = fam.bold if (bold and fam.bold) else fam.regular
    path = _find(name)
    if path is None:
        check()
        raise EncoreError(f"font file {name} not found")
    index = CJK_FACES.get(family, fam.index)
    return Face(family, str(path), index, bool(bold and fam.bold))


@cache
def _family(name: str) -> Family:
    if name in CJK_FACES:
        name = "Noto Sans CJK SC"
    for fam in FAMILIES:
        if fam.name == name:
            return fam
    raise KeyError(name)


def covers(family: str, code: int) -> bool:
    f = face(family, False)
    return code in _coverage(f.path, f.index)


def files_for(families: Iterable[str]) -> list[str]:
    """The font files resvg needs to draw ``families`` (regular and bold)."""
    out: list[str] = []
    for name in dict.fromkeys([BASE, *families]):
        for bold in (False, True):
            path = face(name, bold).path
            if path not in out:
                out.append(path)
    return out


# --- clusters, runs ---------------------------------------------------------------------


def _emojiish(code: int) -> bool:
    return 0x1F000 <= code <= 0x1FAFF or 0x2600 <= code <= 0x27BF or 0x2300 <= code <= 0x23FF


def _joins_previous(ch: str, cluster: str) -> bool:
    code = ord(ch)
    prev = cluster[-1]
    if unicodedata.category(ch) in ("Mn", "Mc", "Me"):
        return True
    if code in (0x200D, 0x200C, 0x20E3) or 0xFE00 <= code <= 0xFE0F or 0xE0020 <= code <= 0xE007F:
        return True
    if 0x1F3FB <= code <= 0x1F3FF:  # skin tone
        return True
    if ord(prev) == 0x200D and len(cluster) > 1:  # a ZWJ sequence: emoji to emoji, or in a script
        before = ord(cluster[-2]) if not (0xFE00 <= ord(cluster[-2]) <= 0xFE0F) else ord(cluster[0])
        return (_emojiish(code) and _emojiish(before)) or abs(code - before) < 0x80
    if unicodedata.combining(prev) == 9:  # after a virama: a conjunct, in the same script
        return unicodedata.category(ch).startswith("L") and abs(code - ord(prev)) < 0x80
    return False


def clusters(text: str) -> list[str]:
    """Characters grouped so a cut or a font change never splits a base from its marks,
    a conjunct from its virama, an emoji from its joiners, modifiers or flag partner."""
    out: list[str] = []
    regional = 0
    for ch in text:
        code = ord(ch)
        if 0x1F1E6 <= code <= 0x1F1FF:
            regional += 1
            if regional % 2 == 0 and out:
                out[-1] += ch
                continue
        else:
            regional = 0
        if out and _joins_previous(ch, out[-1]):
            out[-1] += ch
        else:
            out.append(ch)
    return out


def _is_emoji(cluster: str) -> bool:
    return any(0x1F000 <= ord(c) <= 0x1FAFF or ord(c) in (0xFE0F, 0x20E3) for c in cluster)


def _neutral(cluster: str) -> bool:
    cat = unicodedata.category(cluster[0])
    return cat[0] in "PZS" or cat == "Nd"


def _cjk_face(text: str) -> str:
    if any(0x3040 <= ord(c) <= 0x30FF or 0x31F0 <= ord(c) <= 0x31FF for c in text):
        return "Noto Sans CJK JP"
    if any(
        0xAC00 <= ord(c) <= 0xD7AF or 0x1100 <= ord(c) <= 0x11FF or 0x3130 <= ord(c) <= 0x318F
        for c in text
    ):
        return "Noto Sans CJK KR"
    return "Noto Sans CJK SC"


def _family_for(cluster: str) -> str | None:
    codes = [ord(c) for c in cluster if not ignorable(ord(c))]
    if not codes:
        return None  # only ignorables: goes with its neighbour
    order = FAMILIES
    if _is_emoji(cluster):
        order = (_family(EMOJI), *FAMILIES)
    for fam in order:
        if all(covers(fam.name, c) for c in codes):
            return fam.name
    return ""  # nobody has it


@lru_cache(maxsize=65536)
def itemize(text: str) -> tuple[tuple[str, str], ...]:
    """``text`` as runs ((family, text), ...), each family covering all of its run.
    Spaces, punctuation and digits stay in the current run when its font has them.
    Clusters no font has are dropped (and logged): never a .notdef box."""
    if text.isascii() and text.isprintable():
        return ((BASE, text),) if text else ()  # the common case: Noto Sans has it all
    runs: list[list[str]] = []
    pending = clusters(text)
    pending.reverse()
    while pending:
        cl = pending.pop()
        fam = _family_for(cl)
        if fam == "" and len(cl) > 1:  # no font has the whole cluster: try its characters
            pending.extend(reversed(cl))
            continue
        if fam == "":
            log.warning("no font has U+%04X: left out", ord(cl))
            continue
        if runs and (
            fam is None
            or (
                _neutral(cl)
                and runs[-1][0] != EMOJI
                and all(covers(runs[-1][0], ord(c)) for c in cl if not ignorable(ord(c)))
            )
        ):
            runs[-1][1] += cl
            continue
        if fam is None:
            fam = BASE
        if runs and runs[-1][0] == fam:
            runs[-1][1] += cl
        else:
            runs.append([fam, cl])
    cjk = _cjk_face(text)
    return tuple((cjk if f == "Noto Sans CJK SC" else f, t) for f, t in runs)


@lru_cache(maxsize=65536)
def _run_em(family: str, text: str, bold: bool) -> float:
    import uharfbuzz as hb

    f = face(family, bold)
    font = f.hb_font
    buf = hb.Buffer()
    buf.add_str(text)
    buf.guess_segment_properties()
    hb.shape(font, buf, {})
    return sum(p.x_advance for p in buf.glyph_positions) / font.face.upem


def width_em(text: str, *, bold: bool = False) -> float:
    """The shaped width of ``text`` in em, as drawn (runs, each in its own font)."""
    return sum(_run_em(fam, t, bold) for fam, t in itemize(text))


def first_strong_rtl(text: str) -> bool:
    for ch in text:
        d = unicodedata.bidirectional(ch)
        if d in ("L",):
            return False
        if d in ("R", "AL"):
            return True
    return False


def layout(text: str, x: float, size: float, *, bold: bool = False) -> list[dict]:
    """The runs of ``text`` placed from ``x``: [{family, text, x}] with family None for
    the card's own font and x None when the run needs no position of its own (a text
    of one run). A right-to-left text is one isolate per run, runs in visual order."""
    runs = list(itemize(text))
    if not runs:
        return []
    rtl = first_strong_rtl(text)
    if len(runs) == 1:
        fam, t = runs[0]
        return [
            {
                "family": None if fam == BASE else fam,
                "text": f"{RLI}{t}{PDI}" if rtl else t,
                "x": None,
            }
        ]
    if rtl:
        runs.reverse()
    out = []
    pos = x
    for fam, t in runs:
        before = after = ""
        if rtl:  # a run's logical end is on its left: its spaces become gaps, not trailing
            body = t.strip(" ")
            before, after = t[len(t.rstrip(" ")) :], t[: len(t) - len(t.lstrip(" "))]
            t = body
            if not t:
                pos += _run_em(fam, before + after, bold) * size
                continue
        pos += _run_em(fam, before, bold) * size if before else 0.0
        out.append(
            {
                "family": None if fam == BASE else fam,
                "text": f"{RLI}{t}{PDI}" if rtl and first_strong_rtl(t) else t,
                "x": round(pos, 1),
            }
        )
        pos += _run_em(fam, t + after, bold) * size
    return out


def families_in(svg: str) -> set[str]:
    """The families an SVG of ours names (its tspans' font-family attributes)."""
    import re

    return {m for m in re.findall(r'font-family="([^"\']+)"', svg) if m in ALL_NAMES}


# --- fonts inside the cards (the browser's SVG -> canvas -> PNG) -----------------------------


def _chars_by_face(svg: str) -> dict[tuple[str, bool], set[str]]:
    """{(family, bold): characters} of what an SVG of ours draws."""
    import xml.etree.ElementTree as ET

    ns = "{http://www.w3.org/2000/svg}"
    out: dict[tuple[str, bool], set[str]] = {}
    for text in ET.fromstring(svg).iter(f"{ns}text"):
        bold = text.get("font-weight") == "bold"
        out.setdefault((BASE, bold), set()).update(text.text or "")
        for span in text.iter(f"{ns}tspan"):
            out.setdefault((span.get("font-family", BASE), bold), set()).update(span.text or "")
            out[(BASE, bold)].update(span.tail or "")
    # joiners and variation selectors stay: the emoji font's ligatures need them
    return {k: v for k, v in out.items() if v}


@lru_cache(maxsize=512)
def subset_woff(family: str, bold: bool, chars: frozenset[str]) -> bytes:
    """A WOFF font of ``family`` with only the glyphs ``chars`` need (and the shaping
    rules between them), for an @font-face inside a card.

    HarfBuzz's subsetter (hb-subset, through uharfbuzz): ~5-15 ms for a CJK face where
    fontTools' subsetter took 0.6-0.8 s (it decompiles the collection's cmap, layout
    tables and CFF charstrings on every call), which made a listener with Japanese or
    Korean names cost 1-2 s of CPU to render (docs/render.md). fontTools only wraps the
    small result as WOFF. Hinting, glyph names and all names but family/subfamily are
    dropped; .notdef keeps its outline; the default layout features are kept (every
    script's shaping features: test_render_fonts shapes each family's sample with the
    subset and the whole font and requires the same glyphs at the same places)."""
    import io

    import uharfbuzz as hb
    from fontTools.ttLib import TTFont

    f = face(family, bold)
    spec = hb.SubsetInput()
    spec.unicode_set.update(_shaping_closure(chars, _coverage(f.path, f.index)))
    spec.name_id_set.clear()
    spec.name_id_set.update((1, 2))
    # no hinting: resvg draws unhinted outlines, and so does the browser then
    spec.flags = hb.SubsetFlags.NO_HINTING | hb.SubsetFlags.NOTDEF_OUTLINE
    subset = hb.subset(_hb_font(f.path, f.index).face, spec)
    if subset is None:
        raise EncoreError(f"font subset of {family} failed (HarfBuzz)")
    # recalcTimestamp=False: the subset keeps the source font's head.modified, so the same
    # card is the same bytes on every run (re-renders are byte-identical)
    font = TTFont(io.BytesIO(subset.blob.data), recalcTimestamp=False, recalcBBoxes=False)
    font.flavor = "woff"
    buf = io.BytesIO()
    font.save(buf)
    font.close()
    return buf.getvalue()


# HarfBuzz's Khmer shaper splits these vowel signs into U+17C1 plus the sign (not a
# Unicode decomposition: hb-ot-shaper-khmer.cc); without U+17C1 in the subset's cmap the
# browser draws the sign unsplit, unlike the installed font.
_SPLIT_VOWELS = {c: "\u17c1" for c in "\u17be\u17bf\u17c0\u17c4\u17c5"}
_DOTTED_CIRCLE = 0x25CC


def _shaping_closure(chars: Iterable[str], covered: frozenset[int]) -> set[int]:
    """The code points a subset needs for ``chars`` to shape as with the whole font.

    The shaper looks characters up in the cmap that the text does not contain: it
    decomposes a vowel sign (Kannada ೀ U+0CC0 -> U+0CBF U+0CD5, canonically; Khmer's split
    vowels, above) when the font has the parts, and draws a dotted circle (U+25CC) for a
    broken cluster when the font has one. Neither subsetter adds these, so a card's
    "ಶ್ರೀ" drew other glyphs in the browser than in the PNG (found by
    test_render_fonts' subset test; the fontTools subsets had the same defect)."""
    import unicodedata

    codes: set[int] = set()
    for c in chars:
        codes.add(ord(c))
        codes.update(ord(d) for d in unicodedata.normalize("NFD", c))
        if c in _SPLIT_VOWELS:
            codes.add(ord(_SPLIT_VOWELS[c]))
    if _DOTTED_CIRCLE in covered and any(unicodedata.category(c) in ("Mn", "Mc") for c in chars):
        codes.add(_DOTTED_CIRCLE)
    return codes & covered | {ord(c) for c in chars}


_ASCII = frozenset(chr(c) for c in range(0x20, 0x7F)) | frozenset("…·–")


def _font_face(family: str, bold: bool, woff: bytes) -> str:
    import base64

    has_bold = _family(family).bold is not None
    weight = (700 if bold else 400) if has_bold else "100 900"  # one face: no fake bold
    data = base64.b64encode(woff).decode("ascii")
    return (
        f'@font-face{{font-family:"{family}";font-weight:{weight};'
        f'src:url(data:font/woff;base64,{data}) format("woff")}}'
    )


def embed(svgs: dict[str, str]) -> dict[str, str]:
    """The listener's cards with the glyphs they draw embedded as data: @font-face rules
    (an SVG drawn into a canvas cannot fetch fonts). One subset per family and weight
    for all of the listener's cards (a CJK subset is still 5-15 ms: not to repeat for
    every card). The base family's subset always holds printable ASCII, so
    listeners whose Latin text is plain ASCII share one cached subset per process.
    Families and CSS come from the font set, never from data."""
    per_card = {name: _chars_by_face(svg) for name, svg in svgs.items()}
    union: dict[tuple[str, bool], set[str]] = {}
    for faces in per_card.values():
        for key, chars in faces.items():
            union.setdefault(key, set()).update(chars)
    for key, chars in union.items():
        if key[0] == BASE:  # most listeners' base glyphs are all ASCII: one cached subset
            chars.update(_ASCII)
    rules = {
        key: _font_face(key[0], key[1], subset_woff(key[0], key[1], frozenset(chars)))
        for key, chars in sorted(union.items())
    }
    out = {}
    for name, svg in svgs.items():
        css = "".join(rules[key] for key in sorted(per_card[name]))
        out[name] = svg.replace("<defs>", f"<defs>\n<style>{css}</style>", 1) if css else svg
    return out
