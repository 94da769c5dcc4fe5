"""The summary PNG's two renderers (render/raster.py, issue 20): the fast one is used only
where it draws exactly what the exact one draws, and every family is found by its name."""

from __future__ import annotations

import io
import re
from xml.sax.saxutils import escape

import numpy as np
import pytest
import render_samples as S
from PIL import Image
from test_render_fonts import world_recap

from encore import render
from encore.render import fonts, raster
from encore.render import settings as render_conf

# A name in each family of the set, with the shaping that family is there for:
# joining (Arabic), conjuncts (Indic), stacked marks (Thai), ZWJ emoji, kana and Hangul.
SAMPLES = {
    "Noto Sans": "Beyoncé Ñandú Ørjan Ελλάδα Москва “ffi” ½",
    "Noto Sans Arabic": "فيروز مرحبا بالعالم عمرو دياب ١٢٣",
    "Noto Sans Hebrew": "שלום עומר אדם",
    "Noto Sans Devanagari": "लिङ्गाष्टकम् अरिजीत सिंह क्षत्रिय",
    "Noto Sans Bengali": "রবীন্দ্রসংগীত শ্রেয়া",
    "Noto Sans Gurmukhi": "ਦਿਲਜੀਤ ਦੋਸਾਂਝ",
    "Noto Sans Gujarati": "ગુજરાતી ગીત",
    "Noto Sans Oriya": "ଓଡ଼ିଆ ଗୀତ",
    "Noto Sans Tamil": "இளையராஜா ஸ்ரீ",
    "Noto Sans Telugu": "తెలుగు పాట శ్రీ",
    "Noto Sans Kannada": "ಕನ್ನಡ ಹಾಡು ಶ್ರೀ",
    "Noto Sans Malayalam": "അംശം സുഷിൻ ശ്യാം",
    "Noto Sans Sinhala": "සිංහල ගීතය",
    "Noto Sans Thai": "เพลงไทย ลิซ่า",
    "Noto Sans Lao": "ເພງລາວ",
    "Noto Sans Khmer": "ចម្រៀងខ្មែរ",
    "Noto Sans Myanmar": "မြန်မာသီချင်း",
    "Noto Sans Georgian": "ქართული სიმღერა",
    "Noto Sans Armenian": "Հայերեն երգ",
    "Noto Sans Ethiopic": "የኢትዮጵያ ሙዚቃ",
    "Noto Sans Thaana": "ދިވެހި ލަވަ",
    "Noto Sans CJK SC": "少年 梦然 周杰伦",
    "Noto Sans CJK JP": "米津玄師 ヨルシカ あいみょん",
    "Noto Sans CJK KR": "시작 가호 방탄소년단",
    "Noto Sans Symbols": "♩♪♫",
    "Noto Sans Symbols2": "⯁ ▬ ⛝ 🮲🮳",
    "Noto Sans Math": "∑∫√∞",
    "Noto Color Emoji": "🎸🔥 👩‍👩‍👧‍👦 🇰🇷",
    "DejaVu Sans": "DejaVu ☃",
}


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def _sample_svg(family: str, *, runs: bool = False) -> str:
    """Four lines of the family's sample; ``runs``: as the cards write a name (a tspan
    naming the family inside a text, fonts.layout), else the family on the text."""
    text = escape(SAMPLES[family])
    lines = [(40, False), (40, True), (28, False), (64, True)]
    body = "".join(
        f'<text x="20" y="{80 + i * 90}" font-size="{size}"'
        f"{' font-weight=' + chr(34) + 'bold' + chr(34) if bold else ''}"
        + (
            f'><tspan font-family="{family}">{text}</tspan></text>'
            if runs
            else f' font-family="{family}">{text}</text>'
        )
        for i, (size, bold) in enumerate(lines)
    )
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="1080" height="420" fill="#ffffff">{body}</svg>'


def test_every_family_of_the_set_has_a_sample():
    assert set(SAMPLES) == set(fonts.ALL_NAMES)
    for family, text in SAMPLES.items():
        drawn = [c for c in text if c != " " and not fonts.ignorable(ord(c))]
        assert all(fonts.covers(family, ord(c)) for c in drawn), family


@pytest.mark.parametrize("family", sorted(SAMPLES))
def test_the_fast_renderer_is_used_exactly_where_it_draws_the_same_pixels(family):
    """Both renderers draw each family's sample; the fast one is allowed for a family iff
    not one pixel differs. A renderer upgrade that changes either side fails here."""
    svg = _sample_svg(family)
    exact = _pixels(raster.png_exact(svg, {family}))
    fast = _pixels(raster.png_fast(svg))
    # the sample is really drawn (a family resvg cannot find by its name draws nothing)
    assert (exact.max(axis=2) > 0x40).sum() > 1000, family
    differing = int((np.abs(exact - fast).max(axis=2) > 0).sum())
    assert (differing == 0) == (family in raster.FAST_FAMILIES), (family, differing)


def test_every_family_name_is_the_name_its_font_file_declares():
    """resvg and fontdb find a family by the name inside the file: "Noto Sans Symbols 2"
    matched nothing (the file says "Noto Sans Symbols2"), so its symbols were not drawn."""
    from fontTools.ttLib import TTFont

    for family in fonts.ALL_NAMES:
        for bold in (False, True):
            face = fonts.face(family, bold)
            names = TTFont(face.path, fontNumber=face.index, lazy=True)["name"]
            declared = {names.getDebugName(1), names.getDebugName(16)}
            assert family in declared, (family, face.path, declared)


@pytest.fixture(scope="module")
def renderer():
    return render.Renderer(
        secret=b"test-secret-0123456789", settings=render_conf.RenderSettings(), card_fonts=False
    )


def _east_recap() -> dict:
    return S.recap(
        "usr_east",
        top_artists=[
            {"artist_name": n, "streams": 400 - i, "minutes": 900 - i}
            for i, n in enumerate(["시작", "少年", "米津玄師", "فيروز", "Ελλάδα"])
        ],
        top_tracks=[
            {"track_name": t, "artist_name": a, "streams": 90 - i, "minutes": 300}
            for i, (t, a) in enumerate(
                [
                    ("시작 가호", "Gaho"),
                    ("少年", "梦然"),
                    ("Lemon レモン", "米津玄師"),
                    ("🎸🔥 Rock 👩‍👩‍👧‍👦", "مرحبا"),
                    ("שלום", "עומר אדם"),
                ]
            )
        ],
    )


def test_a_latin_and_an_east_asian_summary_are_drawn_as_resvg_draws_their_text(renderer):
    """The fast path outlines every plain text (raster.outlined): the PNG is the fast
    renderer's drawing of the outlined card, and its pixels are resvg's own text drawn
    by either renderer, but for edge pixels off by a few levels (float rounding)."""
    for recap in (S.recap(), _east_recap()):
        _, files = renderer.render(recap, country="US")
        svg = files["summary.svg"].decode()
        assert raster.fast(fonts.families_in(svg))
        png, how = raster.png(svg)
        assert how == "fast" and files["summary.png"] == png
        paths = raster.outlined(svg)
        assert png == raster.png_fast(paths)
        for theirs in (raster.png_fast(svg), raster.png_exact(svg, fonts.families_in(svg))):
            most, share = _close(_pixels(png), _pixels(theirs))
            assert most <= 16 and share < 0.0002, (recap["user_id"], most, share)
        assert _pixels(png).shape == (1920, 1080, 3)
        # what stays text: the emoji and the right-to-left runs, nothing else
        left = [re.sub("<[^>]+>", "", t) for t in re.findall(r"<text[^>]*>(.*?)</text>", paths)]
        if recap["user_id"] == "usr_east":
            assert "시작" not in paths and "少年" not in paths and "Ελλάδα" not in paths
            # فيروز, the emoji track, مرحبا, שלום and עומר אדם
            assert len(left) == 5 and all(
                any(fonts.first_strong_rtl(c) or ord(c) > 0x1F000 for c in t) for t in left
            ), left
        else:
            assert left == []


def _close(mine: np.ndarray, theirs: np.ndarray) -> tuple[int, float]:
    """(largest channel difference, share of pixels that differ at all)."""
    d = np.abs(mine - theirs).max(axis=2)
    return int(d.max()), float((d > 0).mean())


@pytest.mark.parametrize("family", sorted(set(SAMPLES) - raster.FAST_FAMILIES))
def test_an_outlined_run_draws_what_the_exact_renderer_draws(family):
    """Every family the fast renderer cannot shape, outlined (HarfBuzz + the same font,
    one path per run) and drawn by the fast renderer, at four sizes in both weights: the
    exact renderer's pixels, but for edge pixels off by a few levels (float rounding)."""
    svg = _sample_svg(family, runs=True)
    paths = raster.outlined(svg)
    assert paths is not None and "<tspan" not in paths and paths.count("<path") == 4
    most, share = _close(_pixels(raster.png_fast(paths)), _pixels(raster.png_exact(svg, {family})))
    assert most <= 16 and share < 0.0005, (most, share)
    # and unoutlined, the fast renderer breaks them (why the outliner exists)
    assert not np.array_equal(
        _pixels(raster.png_fast(svg)), _pixels(raster.png_exact(svg, {family}))
    ) or family in ("Noto Sans Khmer",)


def test_a_summary_with_indic_names_has_them_outlined_for_the_fast_path(renderer):
    _, files = renderer.render(world_recap(), country="US")
    svg = files["summary.svg"].decode()
    assert {"Noto Sans Devanagari", "Noto Sans Malayalam"} <= fonts.families_in(svg)
    assert not raster.fast(fonts.families_in(svg))
    paths = raster.outlined(svg)
    assert paths is not None
    assert "Noto Sans Devanagari" not in paths and "Noto Sans Malayalam" not in paths
    assert "시작" not in paths and "فيروز" in paths  # right-to-left runs stay text
    assert files["summary.png"] == raster.png_fast(paths)
    most, share = _close(
        _pixels(files["summary.png"]),
        _pixels(raster.png_exact(svg, fonts.families_in(svg))),
    )
    assert most <= 16 and share < 0.0005, (most, share)


@pytest.mark.parametrize(
    "text",
    [
        '<text x="540" y="90" font-size="40" text-anchor="middle"><tspan font-family="Noto Sans Devanagari">गीत</tspan></text>',
        '<text x="5" y="90" font-size="40" transform="rotate(3)"><tspan font-family="Noto Sans Tamil">பாட</tspan></text>',
        '<text x="5" y="90" font-size="40"><tspan font-family="Noto Sans Devanagari" dx="4">गीत</tspan></text>',
        '<text x="5" y="90" font-size="40"><tspan font-family="Noto Sans Devanagari"> गीत</tspan></text>',
        '<text x="5" y="90" font-size="40"><tspan font-family="Noto Sans Devanagari">गी  त</tspan></text>',
        '<text x="5" y="90"><tspan font-family="Noto Sans Devanagari">गीत</tspan></text>',
        '<text x="5" y="90" font-size="40" font-weight="300"><tspan font-family="Noto Sans Devanagari">गीत</tspan></text>',
    ],
    ids=["anchor", "transform", "dx", "leading-space", "double-space", "no-size", "weight"],
)
def test_what_the_outliner_cannot_reproduce_goes_to_the_exact_renderer(text):
    svg = f'<svg xmlns="http://www.w3.org/2000/svg" width="400" height="120" fill="#ffffff">{text}</svg>'
    assert raster.outlined(svg) is None
    png, how = raster.png(svg)
    assert how == "exact" and png == raster.png_exact(svg, fonts.families_in(svg))


def test_an_outlined_run_keeps_its_paint_and_its_neighbours():
    """A mixed name: the Latin run stays text, the Devanagari run becomes a path with the
    text's fill and opacity, after the text (painting order kept)."""
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="600" height="120" fill="#ffffff" '
        "font-family=\"'Noto Sans', sans-serif\">"
        '<rect width="600" height="120" fill="#141414"/>'
        '<text x="5" y="90" font-size="40" fill="#1ed760" fill-opacity="0.75">'
        '<tspan x="5">Arijit </tspan><tspan x="120.5" font-family="Noto Sans Devanagari">गीत</tspan>'
        "</text></svg>"
    )
    paths = raster.outlined(svg)
    assert paths is not None
    assert '<tspan x="5">Arijit </tspan></text><path d="M' in paths
    assert 'fill="#1ed760" fill-opacity="0.75"' in paths.split("<path")[1]
    most, share = _close(
        _pixels(raster.png_fast(paths)),
        _pixels(raster.png_exact(svg, {"Noto Sans", "Noto Sans Devanagari"})),
    )
    assert most <= 16 and share < 0.001, (most, share)


@pytest.mark.parametrize("draw", ["fast", "exact"])
def test_a_relative_href_finds_no_file(draw, tmp_path, monkeypatch):
    """Both renderers resolve ``<image href="x.png">`` from the working folder unless given
    an empty one: a card can never pull a file into a PNG (names are escaped text; this is
    the second line of defence)."""
    Image.new("RGB", (50, 50), (255, 0, 0)).save(tmp_path / "red.png")
    monkeypatch.chdir(tmp_path)
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" width="100" height="100">'
        '<image href="red.png" width="50" height="50"/></svg>'
    )
    png = raster.png_fast(svg) if draw == "fast" else raster.png_exact(svg, set())
    red = (_pixels(png) == (255, 0, 0)).all(axis=2).sum()
    assert red == 0


# Korean names with spaces between Hangul syllables: Noto Sans CJK's 'calt' widens that
# space in HarfBuzz, not in resvg (raster._FEATURES)
HANGUL_SPACES = ["하입 보이", "소주 한 잔 임창정", "벚꽃 엔딩 버스커 버스커", "한국어, 노래! 1·2"]


@pytest.mark.parametrize(
    "family,text",
    [(f, SAMPLES[f]) for f in sorted(raster.FAST_FAMILIES)]
    + [("Noto Sans CJK KR", t) for t in HANGUL_SPACES],
)
def test_a_fast_family_outlined_draws_what_resvg_draws(family, text, monkeypatch):
    """Every family the fast renderer draws itself, outlined for speed: the same pixels as
    both renderers' own text, but for edge pixels off by a few levels. What resvg lays out
    itself (emoji bitmaps, right-to-left runs) stays text, and then nothing differs."""
    monkeypatch.setitem(SAMPLES, family, text)
    svg = _sample_svg(family, runs=True)
    paths = raster.outlined(svg)
    stays = family == fonts.EMOJI or fonts.first_strong_rtl(text)
    assert paths.count("<text") == (4 if stays else 0) and paths.count("<path") == (
        0 if stays else 4
    )
    mine = _pixels(raster.png_fast(paths))
    for theirs in (raster.png_fast(svg), raster.png_exact(svg, {family})):
        most, share = _close(mine, _pixels(theirs))
        assert most <= 16 and share < 0.0005, (most, share)


def test_a_hangul_space_is_drawn_as_resvg_spaces_it():
    """HarfBuzz's default features widen "하입 보이"'s space by 53 units of 1000 (2 px at
    36 px): shaped so, the outlined name is off by whole glyphs from resvg's."""
    import uharfbuzz as hb

    font = fonts.face("Noto Sans CJK KR", True).hb_font

    def advances(features: dict) -> list[int]:
        buf = hb.Buffer()
        buf.add_str("하입 보이")
        buf.guess_segment_properties()
        hb.shape(font, buf, features)
        return [p.x_advance for p in buf.glyph_positions]

    assert advances({})[2] == 280 and advances(raster._FEATURES["Noto Sans CJK KR"])[2] == 227


def _card(body: str, root: str = "") -> str:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="600" height="120" '
        f'font-family="{fonts.STACK}" fill="#ffffff"{root}>'
        f'<rect width="600" height="120" fill="#141414"/>{body}</svg>'
    )


def test_a_plain_card_text_is_one_path_in_the_cards_font_with_its_paint():
    svg = _card(
        '<text x="5" y="90" font-size="40" font-weight="bold" fill="#1ed760" fill-opacity="0.75">Top 12,345 — Ñandú</text>'
    )
    paths = raster.outlined(svg)
    assert "<text" not in paths and paths.count("<path") == 1
    path = paths.split("<path")[1]
    assert 'fill="#1ed760"' in path and 'fill-opacity="0.75"' in path
    assert 'transform="matrix(0.04 0 0 -0.04 5.0 90.0)"' in path  # 40 px of 1000 units, y up
    most, share = _close(_pixels(raster.png_fast(paths)), _pixels(raster.png_exact(svg, set())))
    assert most <= 16 and share < 0.001, (most, share)


@pytest.mark.parametrize(
    "body,root",
    [
        (
            '<text x="5" y="90" font-size="40">Ꭰ Cherokee</text>',
            "",
        ),  # not in Noto Sans: resvg falls back
        ('<text x="5" y="90" font-size="40"> Lead</text>', ""),  # collapsed white space
        ('<text x="5" y="90" font-size="40">Two  spaces</text>', ""),
        ('<text x="5" y="90" font-size="40" text-anchor="end">Anchored</text>', ""),
        ('<text x="5 25 45" y="90" font-size="40">Placed</text>', ""),
        ('<text x="5" y="90">No size</text>', ""),
        ('<text x="5" y="90" font-size="40" font-weight="300">Light</text>', ""),
        ('<text x="5" y="90" font-size="40">Beyon\u00adcé</text>', ""),  # a soft hyphen
        ('<text x="5" y="90" font-size="40">Spaced</text>', ' letter-spacing="3"'),
        ('<g><text x="5" y="90" font-size="40">Grouped</text></g>', ""),
        (
            '<g><text x="5" y="90" font-size="40"><tspan font-family="Noto Sans">In a group</tspan></text></g>',
            "",
        ),
        (
            '<text x="5" y="90" font-size="40"><tspan font-family="Noto Sans">Styled root</tspan></text>',
            ' word-spacing="9"',
        ),
        (
            '<text x="5" y="90" font-size="40"> <tspan font-family="Noto Sans">Lead</tspan></text>',
            "",
        ),
        ('<text x="5" y="90" font-size="40">A<tspan dy="4">b</tspan></text>', ""),
    ],
    ids=[
        "fallback",
        "leading-space",
        "double-space",
        "anchor",
        "positions",
        "no-size",
        "weight",
        "ignorable",
        "root-style",
        "group",
        "group-span",
        "root-style-span",
        "space-before-span",
        "dy",
    ],
)
def test_what_the_outliner_does_not_reproduce_stays_text_for_resvg(body, root):
    """A card of only fast families never goes to the exact renderer: what the outliner
    does not reproduce exactly is left to resvg as text, and the PNG is resvg's."""
    svg = _card(body, root)
    paths = raster.outlined(svg)
    assert paths.count("<text") == 1 and "<path" not in paths
    png, how = raster.png(svg)
    assert how == "fast" and np.array_equal(_pixels(png), _pixels(raster.png_fast(svg)))


def test_a_summary_png_maps_no_fresh_pages_for_its_canvas():
    """The 8.3 MB canvas and its copy stay in malloc's heap (raster._keep_large_buffers):
    mapped afresh, every PNG cost ~9,500 page faults here, 8–9 ms of a ~10 ms PNG. A new
    process, as a Spark worker is, counts the faults of five PNGs after the first."""
    import subprocess
    import sys
    from pathlib import Path

    script = (
        "import resource\n"
        "from encore.render import raster\n"
        "svg = open(0).read()\n"
        "raster.png(svg)\n"
        "f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt\n"
        "for _ in range(5): raster.png(svg)\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0) / 5)\n"
    )
    jobs = Path(raster.__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", script],
        input=_card('<text x="5" y="90" font-size="40">Minutes listened 12,345</text>')
        .replace('height="120"', 'height="1920"')
        .replace('width="600"', 'width="1080"'),
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(jobs), "PATH": "/usr/bin:/bin"},
    )
    faults = float(out.stdout.strip())
    assert faults < 2000, faults
