"""Every script and emoji in the cards and the summary PNG (issue 17): the Noto set,
text measured with the real glyphs, right-to-left names, no .notdef box, a golden PNG."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import render_samples as S

from encore import render
from encore.platform.errors import EncoreError
from encore.render import fonts
from encore.render import settings as render_conf

GOLDEN = Path(__file__).parent / "golden"
SVG_NS = "{http://www.w3.org/2000/svg}"
SECRET = b"test-secret-0123456789"

# Names from real exports of listeners in India (issue 17) and the rest of the world.
WORLD_ARTISTS = ["시작", "少年", "लिङ्गाष्टकम्", "അംശം", "فيروز"]
WORLD_TRACKS = [
    ("시작 (Start-Up OST) 가호 스타트업 오리지널 사운드트랙", "Gaho 가호"),
    ("少年", "梦然"),
    ("लिङ्गाष्टकम्", "S. P. Balasubrahmanyam"),
    ("അംശം", "Sushin Shyam"),
    ("🎸🔥 Rock 👩‍👩‍👧‍👦", "مرحبا بالعالم"),
]


def world_recap(user_id: str = "usr_world") -> dict:
    return S.recap(
        user_id,
        top_artists=[
            {"artist_name": n, "streams": 400 - i, "minutes": 900 - i}
            for i, n in enumerate(WORLD_ARTISTS)
        ],
        top_tracks=[
            {"track_name": t, "artist_name": a, "streams": 90 - i, "minutes": 300}
            for i, (t, a) in enumerate(WORLD_TRACKS)
        ],
        top_genres=[{"genre": "k-pop 🇰🇷", "streams": 10}],
        monthly_top_artist=WORLD_ARTISTS * 2 + ["שלום", "Ελλάδα"],
    )


@pytest.fixture(scope="module")
def world():
    renderer = render.Renderer(
        secret=SECRET, settings=render_conf.RenderSettings(), card_fonts=False
    )
    _, files = renderer.render(world_recap(), country="US")
    return renderer, files


def _runs(svg: bytes):
    """(family, text) of every piece of text a card draws."""
    for el in ET.fromstring(svg).iter(f"{SVG_NS}text"):
        if el.text and el.text.strip():
            yield fonts.BASE, el.text
        for span in el.iter(f"{SVG_NS}tspan"):
            yield span.get("font-family", fonts.BASE), span.text or ""


def _glyphs(family: str, text: str, bold: bool = False) -> list[int]:
    import uharfbuzz as hb

    buf = hb.Buffer()
    buf.add_str("".join(c for c in text if not fonts.ignorable(ord(c))))
    buf.guess_segment_properties()
    hb.shape(fonts.face(family, bold).hb_font, buf, {})
    return [g.codepoint for g in buf.glyph_infos]


# --- the font set ----------------------------------------------------------------------------


def test_the_font_set_is_installed_and_covers_every_script():
    assert fonts.missing() == []
    samples = {
        "Latin é": "Noto Sans",
        "Ωμέγα": "Noto Sans",
        "Жизнь": "Noto Sans",
        "مرحبا": "Noto Sans Arabic",
        "שלום": "Noto Sans Hebrew",
        "लिङ्गाष्टकम्": "Noto Sans Devanagari",
        "অংশ": "Noto Sans Bengali",
        "தமிழ்": "Noto Sans Tamil",
        "അംശം": "Noto Sans Malayalam",
        "สวัสดี": "Noto Sans Thai",
        "少年": "Noto Sans CJK SC",
        "さくら": "Noto Sans CJK JP",
        "시작": "Noto Sans CJK KR",
        "🎸": "Noto Color Emoji",
        "👩‍👩‍👧‍👦": "Noto Color Emoji",
        "🇰🇷": "Noto Color Emoji",
    }
    for text, family in samples.items():
        assert fonts.itemize(text) == ((family, text),), text


def test_render_start_names_the_missing_package(monkeypatch, tmp_path):
    monkeypatch.setenv("ENCORE_FONT_DIRS", str(tmp_path))
    with pytest.raises(EncoreError, match="fonts-noto-cjk") as err:
        render.Renderer(secret=SECRET, settings=render_conf.RenderSettings())
    message = str(err.value)
    assert "\n" not in message
    assert "fonts-noto-core" in message and "fonts-noto-color-emoji" in message


def test_a_mixed_name_is_one_run_per_font_placed_by_its_measured_width():
    runs = fonts.layout("BTS 방탄소년단 🎸", 100, 40)
    assert [r["family"] for r in runs] == [None, "Noto Sans CJK KR", "Noto Color Emoji"]
    assert runs[0]["x"] == 100
    assert runs[1]["x"] == pytest.approx(100 + render.text_width("BTS ", 40), abs=0.1)
    assert all(a["x"] < b["x"] for a, b in zip(runs, runs[1:], strict=False))


def test_uncovered_codepoints_are_left_out_and_logged(caplog):
    with caplog.at_level("WARNING", logger="encore.render.fonts"):
        assert fonts.itemize("a\u0378b") == (("Noto Sans", "ab"),)  # U+0378: unassigned
    assert "U+0378" in caplog.text


# --- fitting with the real glyphs ------------------------------------------------------------


def _pixels(png: bytes):
    """An RGB array of a PNG (Pillow decodes it; render_samples.decode_png is too slow
    for whole cards)."""
    import io

    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        assert im.format == "PNG"
        return np.asarray(im.convert("RGB"), dtype=np.int16)


def _ink_right_edge(png: bytes) -> int:
    import numpy as np

    cols = np.nonzero((_pixels(png)[:, :, 0] > 128).any(axis=0))[0]  # white glyphs on black
    return int(cols.max())


@pytest.mark.parametrize(
    "text,family",
    [
        ("시작 스타트업 오리지널 사운드트랙 가호", "Noto Sans CJK KR"),
        ("लिङ्गाष्टकम् शिवाष्टकम्", "Noto Sans Devanagari"),
        ("അംശം മലയാളം", "Noto Sans Malayalam"),
    ],
)
def test_measured_width_is_the_drawn_width(text, family):
    """The width fit() believes equals where resvg's glyphs really end (within 3 %)."""
    import resvg_py

    size = 48
    measured = render.text_width(text, size, bold=True)
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="1080" height="120">'
        f'<text x="10" y="80" font-size="{size}" font-weight="bold" fill="#fff" '
        f'font-family="{family}">{text}</text></svg>'
    )
    png = bytes(
        resvg_py.svg_to_bytes(
            svg_string=svg,
            font_files=fonts.files_for([family]),
            skip_system_fonts=True,
            background="#000000",
        )
    )
    drawn = _ink_right_edge(png) - 10
    assert abs(drawn - measured) <= 0.03 * measured + 4, (drawn, measured)


def test_a_long_korean_title_is_cut_where_it_fits():
    title = "시작 스타트업 오리지널 사운드트랙 " * 4
    cut = render.fit(title, 400, 36, bold=True)
    assert cut.endswith("…") and cut.startswith("시작 스타트업")
    assert render.text_width(cut, 36, bold=True) <= 400
    # one cluster more would not fit: the cut is at the last place that fits
    parts = fonts.clusters(title)
    n = len(fonts.clusters(cut[:-1]))
    while parts[n] == " ":
        n += 1
    longer = "".join(parts[: n + 1]) + "…"
    assert render.text_width(longer, 36, bold=True) > 400
    # the old per-character guess (1.05 em a syllable) cut this after 10 syllables
    assert len(cut) > 11


def test_cuts_never_split_a_conjunct_or_an_emoji_sequence():
    for text in ("लिङ्गाष्टकम्" * 10, "👩‍👩‍👧‍👦" * 20, "🇰🇷🇯🇵" * 20):
        cut = render.fit(text, 300, 40)
        assert cut.endswith("…")
        body = cut[:-1]
        assert text.startswith(body)
        assert fonts.clusters(body) == fonts.clusters(text)[: len(fonts.clusters(body))]


# --- right to left ---------------------------------------------------------------------------


def test_right_to_left_names_are_laid_out_right_to_left():
    (run,) = fonts.layout("مرحبا بالعالم 2", 80, 40)
    assert run["text"] == "\u2067مرحبا بالعالم 2\u2069"  # a right-to-left isolate
    runs = fonts.layout("فيروز Live", 80, 40)  # first strong letter is Arabic: RTL order
    assert [r["family"] for r in runs] == [None, "Noto Sans Arabic"]
    assert runs[0]["text"] == "Live" and runs[0]["x"] == 80
    # the space between them is a gap on the Arabic word's left (its logical end)
    assert runs[1]["x"] == pytest.approx(80 + render.text_width("Live ", 40), abs=0.2)
    assert not runs[1]["text"].endswith(" \u2069")
    assert fonts.layout("Live فيروز", 80, 40)[0]["text"].startswith("Live")


# --- the world listener's cards and golden PNG ------------------------------------------------


def test_no_glyph_is_a_notdef_box(world):
    """Every run of every card is drawn by a family that has each of its glyphs."""
    _, files = world
    seen = set()
    for name, data in files.items():
        if not name.endswith(".svg"):
            continue
        for family, text in _runs(data):
            seen.add(family)
            missing = [
                f"U+{ord(c):04X}"
                for c in text
                if not fonts.ignorable(ord(c)) and not fonts.covers(family, ord(c))
            ]
            assert missing == [], (name, family, text, missing)
            for bold in (False, True):
                assert 0 not in _glyphs(family, text, bold), (name, family, text)
    assert {
        "Noto Sans CJK KR",
        "Noto Sans CJK SC",
        "Noto Sans Devanagari",
        "Noto Sans Malayalam",
        "Noto Sans Arabic",
        "Noto Sans Hebrew",
        "Noto Color Emoji",
    } <= seen


@pytest.mark.parametrize("locale", render_conf.supported_locales())
def test_every_card_in_every_locale_draws_only_covered_glyphs(locale):
    """Every card (the listening-age card, the song badge and the genre count included)
    in every shipped locale, French's no-break spaces and guillemets too: each run's
    family has every glyph, so no .notdef box in the PNG or the browser."""
    renderer = render.Renderer(
        secret=SECRET,
        settings=render_conf.RenderSettings(country_locales={"XX": locale}),
        card_fonts=False,
        png=False,
    )
    _, files = renderer.render(world_recap(), country="XX")
    cards = sorted(n for n in files if n.endswith(".svg"))
    assert cards == sorted(f"{name}.svg" for name, _ in render.CARDS)
    for name in cards:
        for family, text in _runs(files[name]):
            missing = [
                f"U+{ord(c):04X}"
                for c in text
                if not fonts.ignorable(ord(c)) and not fonts.covers(family, ord(c))
            ]
            assert missing == [], (locale, name, family, text, missing)


def _compare(png: bytes, golden: bytes) -> tuple[float, float]:
    """(mean absolute difference per channel, share of pixels off by more than 48)."""
    a, b = _pixels(png), _pixels(golden)
    assert a.shape == b.shape == (1920, 1080, 3)
    d = abs(a - b).max(axis=2)
    return float(d.mean()), float((d > 48).mean())


def test_world_summary_png_matches_golden(world):
    """The reviewed look of a summary with Hangul, CJK, Devanagari, Malayalam, Arabic and
    emoji names. After an intended change: ENCORE_UPDATE_GOLDEN=1, then look at the PNG."""
    _, files = world
    golden = GOLDEN / "summary-world.png"
    if os.environ.get("ENCORE_UPDATE_GOLDEN"):
        golden.write_bytes(files["summary.png"])
    mean, off = _compare(files["summary.png"], golden.read_bytes())
    assert mean < 1.0 and off < 0.002, (mean, off)
    # and the comparison can fail: the same card without its names is far off
    svg = files["summary.svg"].decode()
    for name in WORLD_ARTISTS:
        svg = svg.replace(name, "")
    renderer, _ = world
    mean, off = _compare(renderer.rasterise(svg), golden.read_bytes())
    assert off > 0.002, off


# --- fonts inside the cards -------------------------------------------------------------------


def test_cards_carry_the_glyphs_they_draw_as_data_fonts():
    """Each card embeds a subset of every family and weight it draws (so a canvas can
    draw it), taken from the font set only; resvg draws the card the same with it."""
    import base64
    import io
    import re

    from fontTools.ttLib import TTFont

    renderer = render.Renderer(secret=SECRET, settings=render_conf.RenderSettings())
    recap = S.recap(top_artists=[{"artist_name": "लिङ्गाष्टकम्", "streams": 9, "minutes": 9}])
    _, files = renderer.render(recap, country="US")
    svg = files["top-artist.svg"].decode()
    rules = re.findall(
        r'@font-face\{font-family:"([^"]+)";font-weight:([^;]+);'
        r'src:url\(data:font/woff;base64,([A-Za-z0-9+/=]+)\) format\("woff"\)\}',
        svg,
    )
    assert {(f, w) for f, w, _ in rules} == {
        ("Noto Sans", "400"),
        ("Noto Sans", "700"),
        ("Noto Sans Devanagari", "700"),
    }
    assert "http" not in svg.split("<style>")[1].split("</style>")[0]  # nothing from another host
    for family, weight, data in rules:
        font = TTFont(io.BytesIO(base64.b64decode(data)))
        cmap = font.getBestCmap()
        drawn = {
            c
            for fam, text in _runs(files["top-artist.svg"])
            if fam == family
            for c in text
            if not fonts.ignorable(ord(c))
        }
        if weight == "700" and family == "Noto Sans Devanagari":
            assert {ord(c) for c in "लिङ्गाष्टकम्"} <= set(cmap)
        assert len(cmap) < 200  # a subset, not the whole font
        assert drawn and any(ord(c) in cmap for c in drawn)
    assert len(files["top-artist.svg"]) < 80_000
    plain = render.Renderer(secret=SECRET, settings=render_conf.RenderSettings(), card_fonts=False)
    _, bare = plain.render(recap, country="US")
    assert renderer.rasterise(svg) == plain.rasterise(bare["top-artist.svg"].decode())


TRICKY = [
    "कम्🎸",
    "लिङ्गाष्टकम्🔥 (Live)",
    "ab👩‍👩‍👧‍👦 👍🏽 🇩🇪 ❤️ 1️⃣ 🏳️‍🌈",
    "시작\u200d🏳️‍🌈",
    "अംശം\u200dف",
    "👍🏽\u200d(",
    "فيروز 🎸 Live",
    "e\u0301\u0301\u0301 ไทย",
]


def test_tricky_sequences_keep_every_covered_character_and_render(caplog):
    """Junk joins (a virama or ZWJ before another script, an emoji after a conjunct) are
    split so each character still gets a font; resvg draws them all without failing."""
    for name in TRICKY:
        kept = "".join(t for _, t in fonts.itemize(name))
        assert kept == name, name  # nothing dropped: every character here has a font
        for family, text in fonts.itemize(name):
            assert all(fonts.ignorable(ord(c)) or fonts.covers(family, ord(c)) for c in text)
    renderer = render.Renderer(
        secret=SECRET, settings=render_conf.RenderSettings(), card_fonts=False
    )
    recap = S.recap(
        top_artists=[{"artist_name": n, "streams": 5, "minutes": 5} for n in TRICKY[:5]],
        top_tracks=[
            {"track_name": n, "artist_name": n, "streams": 5, "minutes": 5} for n in TRICKY[3:]
        ],
    )
    _, files = renderer.render(recap, country="US")
    assert files["summary.png"][:8] == b"\x89PNG\r\n\x1a\n"
    assert "left out" not in caplog.text


def test_card_font_subsets_are_the_same_bytes_on_every_run():
    """A re-render must be byte-identical (test_reliability, the yearly DAG twice): the
    subset may not stamp the time it was made into its head table."""
    import time

    from encore.render import fonts

    make = fonts.subset_woff.__wrapped__  # past the per-process cache
    first = make("Noto Sans", False, frozenset("Kesariya 시작"))
    time.sleep(1.1)  # head.modified has one-second resolution
    assert make("Noto Sans", False, frozenset("Kesariya 시작")) == first


def _shaped(font, text: str) -> list[tuple]:
    """(cluster, advance, offsets, outline or bitmap) of every glyph ``font`` shapes
    ``text`` into: what a browser draws, independent of glyph ids (a subset renumbers)."""
    import uharfbuzz as hb
    from fontTools.pens.recordingPen import RecordingPen

    buf = hb.Buffer()
    buf.add_str(text)
    buf.guess_segment_properties()
    hb.shape(font, buf, {})
    out = []
    for info, pos in zip(buf.glyph_infos, buf.glyph_positions, strict=True):
        pen = RecordingPen()
        font.draw_glyph_with_pen(info.codepoint, pen)
        png = font.get_glyph_color_png(info.codepoint)
        out.append(
            (
                info.cluster,
                pos.x_advance,
                pos.x_offset,
                pos.y_offset,
                tuple(pen.value),
                bytes(png.data) if png else b"",
            )
        )
    return out


@pytest.mark.parametrize("bold", [False, True], ids=["regular", "bold"])
def test_a_card_font_subset_shapes_and_draws_every_family_like_the_whole_font(bold):
    """The subset a card embeds (HarfBuzz's subsetter) must give the browser the same
    glyphs, outlines and positions as the installed font for each family's sample:
    joining, conjuncts, stacked marks, ZWJ emoji, kana and Hangul (test_raster.SAMPLES).
    The Kannada and Khmer samples drew other glyphs in the browser with both the
    fontTools subsets and the first HarfBuzz ones (fonts._shaping_closure)."""
    import io

    import uharfbuzz as hb
    from fontTools.ttLib import TTFont
    from test_raster import SAMPLES

    # and what makes the shaper look up characters the text does not hold: a vowel sign
    # it decomposes (Kannada ೀ, Tamil ொ, Malayalam ൊ, Bengali ো, Sinhala ො; Khmer's
    # split vowels ើ ឿ ៀ ោ ៅ), a mark with no base (drawn on a dotted circle), é as one
    # code point
    samples = list(SAMPLES.items()) + [
        ("Noto Sans Kannada", "ಶ್ರೀ ಕೀರ್ತಿ"),
        ("Noto Sans Tamil", "கொ பொன்னு"),
        ("Noto Sans Malayalam", "കൊച്ചി"),
        ("Noto Sans Bengali", "কোলকাতা"),
        ("Noto Sans Sinhala", "කොළඹ"),
        ("Noto Sans Khmer", "ដើរ ឿ ខៀវ កោះ ចៅ"),
        ("Noto Sans Devanagari", "ि गीत"),
        ("Noto Sans", "Beyonc\u00e9"),
    ]
    for family, text in samples:
        f = fonts.face(family, bold)
        woff = fonts.subset_woff.__wrapped__(family, bold, frozenset(text))
        font = TTFont(io.BytesIO(woff))
        assert font.flavor == "woff"
        font.flavor = None
        sfnt = io.BytesIO()
        font.save(sfnt)
        sub = hb.Font(hb.Face(hb.Blob(sfnt.getvalue())))
        whole = hb.Font(hb.Face(hb.Blob.from_file_path(f.path), f.index))
        # a subset, not the whole font (a conjunct script keeps its ligature closure)
        assert len(font.getGlyphOrder()) < min(400, whole.face.glyph_count / 2), family
        assert _shaped(sub, text) == _shaped(whole, text), family


def test_the_render_cost_script_measures_every_scene():
    """scripts/render-cost.py (docs/render.md's per-script table) runs and reports each
    scene, with Bollywood names outlined for the fast PNG renderer and the others drawn
    by it as text."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, str(root / "scripts" / "render-cost.py"), "--listeners", "1"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    rows = {line.split("|")[1].strip(): line for line in out.splitlines()[2:]}
    assert set(rows) == {"Latin", "K-pop", "J-pop", "Bollywood"}
    # Devanagari runs outlined for the fast renderer (raster.outlined); nothing exact
    assert rows["Bollywood"].rstrip().endswith("| 1 of 1 | 0 of 1 |")
    for scene in ("Latin", "K-pop", "J-pop"):
        assert rows[scene].rstrip().endswith("| 0 of 1 | 0 of 1 |")
    for arg, says in (("x", "invalid int value"), ("0", "must be at least 1")):
        bad = subprocess.run(
            [sys.executable, str(root / "scripts" / "render-cost.py"), "--listeners", arg],
            capture_output=True,
            text=True,
        )
        assert bad.returncode == 2 and says in bad.stderr, bad.stderr
