"""Rendering without Spark: escaping of hostile names in every template, a golden card,
chart scaling at the extremes, the PNG's text, languages and plural forms."""

from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
import render_samples as S

from encore import render
from encore.platform import share
from encore.platform.config import ConfigError
from encore.render import fonts
from encore.render import settings as render_conf

GOLDEN = Path(__file__).parent / "golden"
SECRET = b"test-secret-0123456789"
LOCALES = render_conf.supported_locales()
SVG_NS = "{http://www.w3.org/2000/svg}"
ALLOWED_SVG = {
    "svg",
    "title",
    "defs",
    "linearGradient",
    "stop",
    "rect",
    "circle",
    "text",
    "g",
    "line",
}


@pytest.fixture(scope="module")
def renderer():
    # card fonts (per-listener font subsets) are tested in test_render_fonts.py and the
    # browser test: subsetting every hostile name in every locale would take a minute
    return render.Renderer(
        secret=SECRET,
        settings=render_conf.RenderSettings(
            country_locales={"DE": "de", "ES": "es", "BR": "pt_BR", "FR": "fr"}
        ),
        card_fonts=False,
    )


def _country(locale: str) -> str:
    return {"en": "US", "de": "DE", "es": "ES", "pt_BR": "BR", "fr": "FR"}[locale]


def _svg_shape(svg: bytes) -> list[tuple[str, tuple[str, ...]]]:
    """Each element's tag and attribute names, in document order (what an injection changes).
    A name's font runs (<tspan> with a position and a family of the font set) depend on
    its scripts, so they are checked here and left out of the shape."""
    root = ET.fromstring(svg)  # raises on anything that is not well-formed XML
    shape = []
    for el in root.iter():
        tag = el.tag.replace(SVG_NS, "")
        if tag == "tspan":
            assert set(el.attrib) <= {"x", "font-family"}, el.attrib
            assert el.get("font-family", fonts.BASE) in fonts.ALL_NAMES, el.attrib
            assert len(el) == 0  # a run holds text only
            continue
        shape.append((tag, tuple(sorted(el.attrib))))
    return shape


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, tuple[str, ...]]] = []
        self.texts: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, tuple(sorted(k for k, _ in attrs))))

    def handle_data(self, data):
        self.texts.append(data)


def _html_shape(page: bytes) -> list[tuple[str, tuple[str, ...]]]:
    p = _Tags()
    p.feed(page.decode("utf-8"))
    p.close()
    return p.tags


# --- escaping ------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("name", S.HOSTILE_NAMES, ids=range(len(S.HOSTILE_NAMES)))
def test_hostile_names_cannot_inject_into_any_card_or_page(renderer, name, locale):
    """Every template, every locale: the hostile listener's files have exactly the element
    structure of a listener with plain names, every SVG is well-formed XML, and the page
    holds no element the template did not write."""
    country = _country(locale)
    _, hostile = renderer.render(S.hostile(name), country=country)
    _, plain = renderer.render(S.hostile("Plain Name"), country=country)
    assert set(hostile) == set(plain)
    svgs = [n for n in hostile if n.endswith(".svg")]
    assert len(svgs) == len(render.CARDS)  # every card template was exercised
    for card in svgs:
        shape = _svg_shape(hostile[card])
        assert shape == _svg_shape(plain[card]), card
        assert {tag for tag, _ in shape} <= ALLOWED_SVG
        assert not any(a.startswith("on") for _, attrs in shape for a in attrs)
        assert b"<script" not in hostile[card] and b"<evil" not in hostile[card]
    assert _html_shape(hostile["index.html"]) == _html_shape(plain["index.html"])
    assert hostile["index.html"].count(b"<script") == 1
    assert b"<evil" not in hostile["index.html"] and b"<img src=x" not in hostile["index.html"]
    doc = json.loads(hostile["recap.json"])
    assert doc["recap"]["top_artists"][0]["artist_name"] == name  # data stays data


def test_names_are_escaped_not_dropped(renderer):
    _, files = renderer.render(S.hostile("Tom & Jerry's <b>"), country="US")
    svg = files["top-artist.svg"].decode()
    assert "Tom &amp; Jerry&#39;s &lt;b&gt;" in svg
    root = ET.fromstring(files["top-artist.svg"])
    assert any((t.text or "").startswith("Tom & Jerry's <b>") for t in root.iter(f"{SVG_NS}text"))


def test_long_names_are_ellipsised_to_fit(renderer):
    _, files = renderer.render(S.hostile("x" * 500), country="US")
    for card in ("top-artist.svg", "top-songs.svg", "summary.svg", "months.svg"):
        texts = [t.text or "" for t in ET.fromstring(files[card]).iter(f"{SVG_NS}text")]
        long = [t for t in texts if "x" * 10 in t]
        assert long, card
        assert all(t.endswith("…") and len(t) < 60 for t in long), (card, long)


def test_clean_text_removes_what_xml_cannot_hold():
    assert render.clean_text("a\x00b\x0bc\ufffed\u202ee\nf") == "abcde f"
    assert render.clean_text("👩‍👩‍👧") == "👩‍👩‍👧"  # zero-width joiners kept
    assert render.clean_text("a" + "\u0301" * 50) == "a\u0301\u0301"
    assert render.clean_text(None) == ""


def test_fit_and_wrap_respect_width():
    assert render.fit("Short", 500, 40) == "Short"
    cut = render.fit("W" * 100, 400, 40, bold=True)
    assert cut.endswith("…") and render.text_width(cut, 40, bold=True) <= 400
    lines = render.wrap("word " * 60, 500, 40, 3)
    assert len(lines) == 3 and lines[-1].endswith("…")
    assert all(render.text_width(x, 40) <= 500 for x in lines)


# --- golden card ---------------------------------------------------------------------------


def test_top_songs_card_matches_golden_file(renderer):
    """The golden file is the reviewed look of one card. After an intended change:
    ENCORE_UPDATE_GOLDEN=1 pytest tests/jobs/test_render.py -k golden, then review the diff."""
    _, files = renderer.render(S.recap(), country="US")
    golden = GOLDEN / "top-songs.en.svg"
    if os.environ.get("ENCORE_UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_bytes(files["top-songs.svg"])
    assert files["top-songs.svg"].decode() == golden.read_text(encoding="utf-8")


# --- chart scaling ---------------------------------------------------------------------------


def _radius(x, y, cx=540, cy=980):
    return ((x - cx) ** 2 + (y - cy) ** 2) ** 0.5


def test_clock_with_one_play_draws_no_bar_and_stays_inside():
    bars = render.clock_bars(S.one_play()["hourly_minutes"])
    assert len(bars) == 24
    assert all((b["x1"], b["y1"]) == (b["x2"], b["y2"]) for b in bars)  # nothing to show
    assert all(b["share"] == 0 for b in bars)


def test_clock_at_twenty_hours_a_day_reaches_the_rim_and_no_further():
    bars = render.clock_bars(S.marathon()["hourly_minutes"])
    lengths = [_radius(b["x2"], b["y2"]) for b in bars]
    assert max(lengths) == pytest.approx(400, abs=0.2)
    assert all(150 - 0.2 <= r <= 400 + 0.2 for r in lengths)
    assert [b["hour"] for b in bars if b["share"] == 1.0] == list(range(20))
    assert all(b["share"] == 0 for b in bars[20:])


def test_clock_scales_relative_to_the_busiest_hour():
    bars = render.clock_bars([0] * 12 + [100, 50] + [0] * 10)
    assert _radius(bars[12]["x2"], bars[12]["y2"]) == pytest.approx(400, abs=0.2)
    assert _radius(bars[13]["x2"], bars[13]["y2"]) == pytest.approx(275, abs=0.2)


def test_clock_survives_bad_arrays():
    assert len(render.clock_bars(None)) == 24
    assert len(render.clock_bars([5, -3, None])) == 24
    assert all(b["minutes"] >= 0 for b in render.clock_bars([-10] * 30))


def test_month_bars_scale_to_the_busiest_month():
    rows = render.month_bars(S.marathon()["monthly_minutes"], ["A"] * 12)
    assert max(r["width"] for r in rows) == 730
    assert rows[11]["width"] == 0
    assert all(0 <= r["width"] <= 730 for r in rows)
    flat = render.month_bars([0] * 12, [None] * 12)
    assert all(r["width"] == 0 and r["artist"] == "" for r in flat)


@pytest.mark.parametrize("sample", [S.one_play, S.marathon, S.recap])
def test_every_drawn_shape_stays_on_the_card(renderer, sample):
    _, files = renderer.render(sample(), country="US")
    for card in (n for n in files if n.endswith(".svg")):
        for el in ET.fromstring(files[card]).iter():
            a = el.attrib
            for key in ("x", "x1", "x2", "cx"):
                if key in a:
                    assert 0 <= float(a[key]) <= render.CARD_W, (card, el.tag, a)
            for key in ("y", "y1", "y2", "cy"):
                if key in a:
                    assert 0 <= float(a[key]) <= render.CARD_H, (card, el.tag, a)
            if el.tag == f"{SVG_NS}rect" and "width" in a and "x" in a:
                assert float(a["x"]) + float(a["width"]) <= render.CARD_W, (card, a)


# --- the summary PNG -------------------------------------------------------------------------

ACCENT = (0x1E, 0xD7, 0x60)  # the summary card's green (ranks, minutes)
MINUTES_BOX = (80, 1290, 540, 1410)  # where the big minutes number is drawn


def test_summary_png_really_contains_text(renderer):
    _, files = renderer.render(S.recap(), country="US")
    png = files["summary.png"]
    width, height, _ = S.decode_png(png)
    assert (width, height) == (1080, 1920)
    with_text = S.count_pixels(png, MINUTES_BOX, ACCENT)
    svg = files["summary.svg"].decode()
    no_text = renderer.rasterise(re.sub(r"<text[^>]*>.*?</text>", "", svg))
    without_text = S.count_pixels(no_text, MINUTES_BOX, ACCENT)
    assert without_text == 0
    assert with_text > 3000, with_text  # "12,345" in 110 px bold glyphs
    # the white names at the top: many bright pixels only when text is drawn
    names_box = (130, 470, 520, 1000)
    assert S.count_pixels(png, names_box, (255, 255, 255)) > 2000
    assert S.count_pixels(no_text, names_box, (255, 255, 255)) == 0


def test_png_uses_the_noto_set_only(renderer):
    _, files = renderer.render(S.recap(), country="US")
    used = fonts.files_for(fonts.families_in(files["summary.svg"].decode()))
    assert [Path(f).name for f in used] == ["NotoSans-Regular.ttf", "NotoSans-Bold.ttf"]
    assert all(Path(f).is_file() for f in used)


# --- languages -------------------------------------------------------------------------------


def test_country_picks_the_locale_with_english_fallback():
    settings = render_conf.RenderSettings(country_locales={"DE": "de", "BR": "pt_BR"})
    assert settings.locale_for("DE") == "de"
    assert settings.locale_for("br") == "pt_BR"
    assert settings.locale_for("JP") == "en"
    assert settings.locale_for(None) == "en"


@pytest.mark.parametrize(
    "locale,expected",
    [
        ("en", ["12,345", "minutes", "In 2025 you listened for", "+12.5% compared with 2024"]),
        (
            "de",
            [
                "12.345",
                "Minuten",
                "2025 hast du so lange gehört",
                "+12,5% im Vergleich zu 2024",
                "14. März",
            ],
        ),
        ("es", ["12.345", "minutos", "En 2025 escuchaste", "14 de marzo"]),
        ("pt_BR", ["12.345", "minutos", "Em 2025 você ouviu", "14 de março"]),
        # Babel's French groups digits with a narrow no-break space (U+202F)
        (
            "fr",
            [
                "12\u202f345",
                "minutes",
                "En 2025, tu as écouté",
                "14 mars",
                "+12,5% par rapport à 2024",
            ],
        ),
    ],
)
def test_numbers_dates_and_copy_follow_the_locale(renderer, locale, expected):
    _, files = renderer.render(S.recap(), country=_country(locale))
    svg = files["minutes.svg"].decode()
    for text in expected:
        assert text in svg, (locale, text)
    assert f'lang="{render.html_lang(locale)}"' in files["index.html"].decode()
    assert json.loads(files["recap.json"])["locale"] == locale


@pytest.mark.parametrize(
    "locale,one,many",
    [
        ("en", "1 day in a row", "2 days in a row"),
        ("de", "1 Tag am Stück", "2 Tage am Stück"),
        ("es", "1 día seguido", "2 días seguidos"),
        ("pt_BR", "1 dia seguido", "2 dias seguidos"),
        ("fr", "1 jour d’affilée", "2 jours d’affilée"),
    ],
)
def test_plural_forms(renderer, locale, one, many):
    _, files = renderer.render(S.recap(longest_streak_days=2), country=_country(locale))
    assert many in files["minutes.svg"].decode()
    env = render.make_env(locale)  # the same catalog message, rendered for 1 and 2
    tpl = env.from_string(
        "{% trans count=k, n=k %}{{ n }} day in a row{% pluralize %}"
        "{{ n }} days in a row{% endtrans %}"
    )
    assert tpl.render(k=1) == one
    assert tpl.render(k=2) == many


def test_every_template_message_is_translated():
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    method_map = [("cards/**.svg", "jinja2"), ("page/**.html", "jinja2")]
    options = {
        "**": {"extensions": "jinja2.ext.i18n", "trim_blocks": "True", "lstrip_blocks": "True"}
    }
    wanted = {
        m[2] if isinstance(m[2], str) else m[2][0]
        for m in extract_from_dir(str(render_conf.templates_dir()), method_map, options)
    }
    assert len(wanted) > 50
    for locale in LOCALES[1:]:
        po = render_conf.templates_dir() / "locales" / locale / "LC_MESSAGES" / "encore.po"
        catalog = read_po(po.open("rb"), locale=locale)
        done = {
            m.id if isinstance(m.id, str) else m.id[0]
            for m in catalog
            if m.id and (all(m.string) if isinstance(m.string, tuple) else m.string)
        }
        assert wanted <= done, (locale, sorted(wanted - done))
        assert not [m.id for m in catalog if m.id and m.fuzzy], locale


def _msgids(messages) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in messages if m.id}


def test_every_shipped_catalog_translates_every_message_of_the_pot():
    """templates/locales/encore.pot is what docs/render.md's extraction gives (templates
    and the messages written in Python), and every shipped catalog translates each of
    its messages, every plural form, with the same placeholders and none fuzzy."""
    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
    from babel.messages.pofile import read_po

    locales_dir = render_conf.templates_dir() / "locales"
    pot = read_po((locales_dir / "encore.pot").open("rb"))
    extracted = set()
    for folder, method_map, options in (
        (
            render_conf.templates_dir(),
            [("cards/**.svg", "jinja2"), ("page/**.html", "jinja2")],
            {
                "**": {
                    "extensions": "jinja2.ext.i18n",
                    "trim_blocks": "True",
                    "lstrip_blocks": "True",
                }
            },
        ),
        (Path(render.__file__).parents[1], [("**.py", "python")], {}),
    ):
        for m in extract_from_dir(
            str(folder),
            method_map,
            options,
            keywords={**DEFAULT_KEYWORDS, "_t": None},
        ):
            extracted.add(m[2] if isinstance(m[2], str) else m[2][0])
    assert _msgids(pot) == extracted, "encore.pot is stale: run docs/render.md's pybabel extract"
    assert "fr" in LOCALES and len(LOCALES) >= 5
    for locale in LOCALES[1:]:
        catalog = read_po((locales_dir / locale / "LC_MESSAGES" / "encore.po").open("rb"))
        for message in pot:
            if not message.id:
                continue
            got = catalog.get(message.id)
            assert got is not None, (locale, message.id)
            strings = got.string if isinstance(got.string, tuple) else (got.string,)
            assert strings and all(strings) and not got.fuzzy, (locale, message.id)
            ids = message.id if isinstance(message.id, tuple) else (message.id,)
            wanted = set(re.findall(r"%\((\w+)\)s", " ".join(ids)))
            for text in strings:
                assert set(re.findall(r"%\((\w+)\)s", text)) == wanted, (locale, text)


@pytest.mark.parametrize("locale", LOCALES)
def test_all_sixteen_personalities_have_a_name_and_a_line(renderer, locale):
    copy = render.make_env(locale).get_template("cards/_copy.svg").module
    codes = [a + b + c + d for a in "LV" for b in "NT" for c in "CU" for d in "EF"]
    names = {code: str(copy.personality_name(code)) for code in codes}
    lines = {code: str(copy.personality_line(code)) for code in codes}
    assert len(set(names.values())) == 16 and len(set(lines.values())) == 16
    if locale != "en":  # really translated, not the English source
        english = render.make_env("en").get_template("cards/_copy.svg").module
        assert sum(names[c] != str(english.personality_name(c)) for c in codes) >= 12
    for code in ("LNCE", "VTUF"):
        _, files = renderer.render(S.recap(personality=code), country=_country(locale))
        svg = ET.fromstring(files["personality.svg"])
        texts = " ".join(t.text or "" for t in svg.iter(f"{SVG_NS}text"))
        assert names[code] in texts
        assert " ".join(lines[code].split()[:3]) in texts


# --- page, json, cards present -----------------------------------------------------------


def test_cards_without_data_are_left_out(renderer):
    _, files = renderer.render(S.one_play(), country="US")
    assert "top-genres.svg" not in files and "personality.svg" not in files
    assert {"minutes.svg", "clock.svg", "months.svg", "summary.svg", "summary.png"} <= set(files)
    page = files["index.html"].decode()
    assert "top-genres.svg" not in page and page.count("<img ") == 6


def _texts(svg: bytes) -> list[str]:
    return ["".join(el.itertext()).strip() for el in ET.fromstring(svg).iter(f"{SVG_NS}text")]


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize(
    "case,recap,label,value",
    [
        ("no genres: top podcast", dict(top_genres=[]), "Top podcast", "Night Talks"),
        (
            "no genres, no podcast: artists",
            dict(top_genres=None, top_podcasts=[]),
            "Different artists",
            "120",
        ),
        (
            "nameless genre and podcast",
            dict(
                top_genres=[{"genre": " ", "streams": 3}],
                top_podcasts=[{"show_name": None, "minutes": 3}],
            ),
            "Different artists",
            "120",
        ),
    ],
)
def test_no_empty_blocks_missing_data_is_replaced(renderer, locale, case, recap, label, value):
    """A personal export has no genres: the summary shows something the listener has
    instead, in every locale, and never a dash, 'None' or an empty line."""
    _, files = renderer.render(S.recap(**recap), country=_country(locale))
    texts = _texts(files["summary.svg"])
    label = str(render.translations(locale).gettext(label))
    assert label in texts and value in "".join(texts).replace(".", "").replace(",", ""), (
        case,
        texts,
    )
    assert str(render.translations(locale).gettext("Top genre")) not in texts
    assert "top-genres.svg" not in files
    doc = json.loads(files["recap.json"])
    summary_alt = [c["alt"] for c in doc["cards"] if c["file"] == "summary.svg"][0]
    assert label in summary_alt and "–" not in summary_alt and "None" not in summary_alt


@pytest.mark.parametrize("locale", LOCALES)
def test_no_empty_blocks_in_any_card(renderer, locale):
    """Nameless entries are left out, a missing artist line is not drawn, no release
    years means no personality card; no card holds an empty text, a dash or 'None'."""
    sparse = S.recap(
        top_tracks=[
            {"track_name": "Only Song", "artist_name": None, "streams": None, "minutes": 3},
            {"track_name": "", "artist_name": "Ghost", "streams": 2, "minutes": 1},
        ],
        top_artists=[
            {"artist_name": None, "streams": 9, "minutes": 9},
            {"artist_name": "Named", "streams": None, "minutes": None},
        ],
        top_genres=[],
        top_podcasts=[],
        distinct_artists=0,
        personality=None,
        top_artist_percent=None,
        minutes_change_pct=None,
    )
    for recap in (
        sparse,
        S.one_play(),
        S.recap(hourly_minutes=None, peak_hour=None, monthly_minutes=None, monthly_top_artist=None),
    ):
        _, files = renderer.render(recap, country=_country(locale))
        assert "personality.svg" not in files or recap.get("personality")
        for name, data in files.items():
            if name.endswith(".svg"):
                texts = _texts(data)
                assert all(texts), (name, texts)  # no empty line
                assert not [t for t in texts if t in ("–", "-", "None") or "None" in t], (
                    name,
                    texts,
                )
        alts = " ".join(c["alt"] for c in json.loads(files["recap.json"])["cards"])
        assert "None" not in alts and "– ." not in alts
    _, files = renderer.render(sparse, country=_country(locale))
    assert "Ghost" not in files["top-songs.svg"].decode()  # the nameless track is left out
    assert [t for t in _texts(files["summary.svg"]) if t == "Named"]
    assert str(render.translations(locale).gettext("Top genre")) not in _texts(files["summary.svg"])
    _, files = renderer.render(
        S.recap(hourly_minutes=None, peak_hour=None, monthly_minutes=None, monthly_top_artist=None),
        country=_country(locale),
    )
    assert "clock.svg" not in files and "months.svg" not in files  # no data, no chart


def test_recap_json_and_page_never_hold_the_user_id(renderer):
    uid = "usr_secret_identity_42"
    token, files = renderer.render(S.recap(user_id=uid), country="US")
    assert token == share.share_token(SECRET, uid, 2025)
    for name, data in files.items():
        assert uid.encode() not in data, name
    doc = json.loads(files["recap.json"])
    assert "user_id" not in doc["recap"] and doc["token"] == token
    assert [c["file"] for c in doc["cards"]] == [f"{n}.svg" for n, _ in render.CARDS]
    assert all(c["alt"] for c in doc["cards"])


def test_page_is_self_contained_and_accessible(renderer):
    _, files = renderer.render(S.recap(), country="DE")
    page = files["index.html"].decode()
    assert '<html lang="de"' in page
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing from another host
    assert "@import" not in page and "url(" not in page
    script, digest = render.story_script()
    assert f"<script>{script}</script>" in page and f"'{digest}'" in page
    assert "prefers-reduced-motion" in page
    imgs = re.findall(r'<img src="([^"]+)" alt="([^"]+)"', page)
    assert len(imgs) == len(render.CARDS) and all(alt.strip() for _, alt in imgs)
    assert 'href="summary.png" download=' in page


def test_share_url_uses_the_configured_base():
    r = render.Renderer(
        secret=SECRET, settings=render_conf.RenderSettings(base_url="https://recap.example.com/")
    )
    token, files = r.render(S.recap(), country="US")
    doc = json.loads(files["recap.json"])
    assert doc["share_url"] == f"https://recap.example.com/2025/{token}/"


# --- config --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body,message",
    [
        ({"default_locale": "xx"}, "default_locale: must be one of"),
        ({"country_locales": {"de": "de"}}, "country_locales.de: not a two-letter"),
        ({"country_locales": {"DE": "klingon"}}, "country_locales.DE: must be one of"),
        ({"base_url": "javascript:alert(1)"}, "base_url: must be empty or an http"),
        ({"colour": "red"}, "colour: unknown key"),
    ],
)
def test_render_config_errors_name_the_key(cfg, body, message):
    from encore.platform import config

    raw = {k: v for k, v in cfg.items()}
    raw["render"] = body
    with pytest.raises(ConfigError, match=re.escape(message)):
        config.validate(raw, source="encore.toml")


def test_render_settings_from_the_shipped_config(cfg):
    s = render_conf.settings(cfg)
    assert s.default_locale == "en"
    assert (
        s.locale_for("BR") == "pt_BR" and s.locale_for("DE") == "de" and s.locale_for("MX") == "es"
    )
    assert s.locale_for("FR") == "fr"


def _with_top_n(cfg: dict, top_n: int) -> dict:
    return {**cfg, "recaps": {**cfg["recaps"], "top_n": top_n}}


def _many_entries(n: int = 7) -> dict:
    return S.recap(
        top_artists=[
            {"artist_name": f"Artist {i}", "streams": 90 - i, "minutes": 9} for i in range(n)
        ],
        top_tracks=[
            {"track_name": f"Song {i}", "artist_name": "Velvet", "streams": 90 - i, "minutes": 9}
            for i in range(n)
        ],
        top_genres=[{"genre": f"genre {i}", "streams": 90 - i} for i in range(n)],
    )


def test_top_lists_follow_the_configured_top_n(cfg):
    """How many entries a top list shows is [recaps] top_n (one place, read by settings):
    render cuts every list to it, never to a number of its own."""
    assert render_conf.settings(cfg).top_n == cfg["recaps"]["top_n"]
    for top_n in (1, 3, render_conf.CARD_ROWS):
        settings = render_conf.settings(_with_top_n(cfg, top_n))
        view = render.listener_view(_many_entries(), top_n=settings.top_n)
        assert [len(view[k]) for k in ("top_artists", "top_tracks", "top_genres")] == [top_n] * 3
        assert [t["track_name"] for t in view["top_tracks"]] == [f"Song {i}" for i in range(top_n)]


def test_a_top_n_the_cards_cannot_hold_is_a_config_error(cfg):
    with pytest.raises(ConfigError, match=r"recaps\.top_n: the cards have room for 5 entries"):
        render_conf.settings(_with_top_n(cfg, render_conf.CARD_ROWS + 1))


def test_the_cards_show_top_n_rows(cfg):
    settings = render_conf.settings(_with_top_n(cfg, 2))
    # without the #1 song's percentile badge, which repeats its name above the list
    no_badge = dict(_many_entries(), top_track_percent=None)
    _, files = render.Renderer(secret=SECRET, settings=settings, png=False).render(no_badge)
    songs = [t for t in _texts(files["top-songs.svg"]) if t.startswith("Song ")]
    assert songs == ["Song 0", "Song 1"]
    summary = _texts(files["summary.svg"])
    assert [t for t in summary if t.startswith("Artist ")] == ["Artist 0", "Artist 1"]


def test_one_jinja_setup_for_cards_pages_emails_and_campaigns():
    """Render, publish and campaign get their Jinja environments from
    platform/templating.py: nobody else builds one or installs gettext."""
    package = Path(render.__file__).resolve().parents[1]
    found = []
    for path in sorted(package.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        for needle in ("Environment(", "select_autoescape", "install_gettext", "read_po"):
            if needle in text and path.name != "templating.py":
                found.append(f"{path.relative_to(package)}: {needle}")
    assert found == []


# --- Top Songs as playlist files ----------------------------------------------------------


def test_playlist_files_follow_top_songs_and_survive_hostile_names():
    songs = [
        {"artist_name": "아이유", "track_name": "밤편지"},
        {"artist_name": "A\n#EXTINF:-1,evil", "track_name": "<b>&amp;</b>"},  # a line break, markup
        {"artist_name": "", "track_name": "no artist"},  # left out
        {"artist_name": "فيروز", "track_name": "كيفك إنت"},
    ]
    files = render.playlist_files(
        {"top_songs": songs, "top_tracks": songs[:1]}, "My Encore 2025 — Top Songs"
    )
    m3u = files[render.PLAYLIST_M3U].decode("utf-8").splitlines()
    assert m3u[:2] == ["#EXTM3U", "#PLAYLIST:My Encore 2025 — Top Songs"]
    # three entries of three lines each, in top_songs order; the break cannot start a directive
    assert [ln for ln in m3u if ln.startswith("#EXTINF")] == [
        "#EXTINF:-1,아이유 - 밤편지",
        "#EXTINF:-1,A #EXTINF:-1,evil - <b>&amp;</b>",
        "#EXTINF:-1,فيروز - كيفك إنت",
    ]
    assert len(m3u) == 2 + 3 * 3
    tree = ET.fromstring(files[render.PLAYLIST_XSPF])
    ns = "{http://xspf.org/ns/0/}"
    got = [
        (t.find(f"{ns}creator").text, t.find(f"{ns}title").text) for t in tree.iter(f"{ns}track")
    ]
    assert got == [
        ("아이유", "밤편지"),
        ("A #EXTINF:-1,evil", "<b>&amp;</b>"),
        ("فيروز", "كيفك إنت"),
    ]
    jspf = json.loads(files[render.PLAYLIST_JSPF])
    assert [t["title"] for t in jspf["playlist"]["track"]] == ["밤편지", "<b>&amp;</b>", "كيفك إنت"]
    assert (
        render.playlist_files({"top_songs": [], "top_tracks": songs}, "t") == {}
    )  # no songs, no files


def test_pages_content_security_policy_allows_exactly_their_own_script(renderer):
    """The recap page's one inline script runs (its hash is in script-src) and nothing
    else may load from anywhere; the years index allows no script at all."""
    import base64
    import hashlib

    class Head(HTMLParser):
        def __init__(self):
            super().__init__()
            self.csp, self.scripts, self._in = None, [], False

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "meta" and a.get("http-equiv") == "Content-Security-Policy":
                self.csp = a["content"]  # entities decoded, as a browser reads it
            self._in = tag == "script"

        def handle_data(self, data):
            if self._in:
                self.scripts.append(data)

        def handle_endtag(self, tag):
            self._in = False

    _, files = renderer.render(S.recap())
    page = Head()
    page.feed(files["index.html"].decode("utf-8"))
    assert len(page.scripts) == 1
    digest = base64.b64encode(hashlib.sha256(page.scripts[0].encode("utf-8")).digest()).decode()
    rules = dict(r.strip().split(" ", 1) for r in page.csp.split(";"))
    assert rules["default-src"] == "'none'" and rules["script-src"] == f"'sha256-{digest}'"
    years = Head()
    years.feed(
        render.make_env("en")
        .get_template("page/years.html")
        .render(tiles=[], min_streams=30, min_artists=5)
    )
    rules = dict(r.strip().split(" ", 1) for r in years.csp.split(";"))
    assert rules["default-src"] == "'none'" and "script-src" not in rules and years.scripts == []


# --- issue 19: listening age, the #1 song's percentile, the genre count ---------------------

NEW_COLUMNS = ("distinct_genres", "top_track_percent", "listening_era", "listening_age")


def _card_text(svg: bytes) -> str:
    """Every text of a card, runs joined, one line each."""
    return "\n".join(_texts(svg))


def _alt(files: dict, card: str) -> str:
    return [c["alt"] for c in json.loads(files["recap.json"])["cards"] if c["file"] == card][0]


@pytest.mark.parametrize(
    "locale,age_line,era_line",
    [
        ("en", "You listen like you're 32", "Your year sounded like 2010–2014"),
        ("fr", "Tu écoutes comme si tu avais 32\u00a0ans", "Ton année sonnait comme 2010–2014"),
        ("de", "Du hörst Musik, als wärst du 32", "Dein Jahr klang nach 2010–2014"),
    ],
)
def test_listening_age_card_says_the_age_and_the_era(renderer, locale, age_line, era_line):
    """recap-rules.md's example: in 2026 an era of 2010 is a listening age of
    2026 − 2012 + 18 = 32. The card shows both, after personality and before summary."""
    recap = S.recap(year=2026, listening_era=2010, listening_age=32)
    _, files = renderer.render(recap, country=_country(locale))
    texts = _texts(files["listening-age.svg"])
    said = " ".join(texts)  # a sentence may wrap onto two lines
    assert "32" in texts and age_line in said and era_line in said, texts
    assert [t for t in texts if t in ("2010", "2011", "2012", "2013", "2014")] == [
        "2010",
        "2011",
        "2012",
        "2013",
        "2014",
    ]
    assert _alt(files, "listening-age.svg") == f"{age_line}. {era_line}."
    order = [c["file"] for c in json.loads(files["recap.json"])["cards"]]
    assert order.index("personality.svg") + 1 == order.index("listening-age.svg")
    assert order.index("listening-age.svg") + 1 == order.index("summary.svg")
    page = files["index.html"].decode()
    assert '<img src="listening-age.svg" alt="' in page


def test_listening_age_plural_follows_the_locale():
    """French says "1 an" / "2 ans" (nplurals=2, n > 1); English has no noun."""
    fr = render.make_env("fr").get_template("cards/_copy.svg").module
    assert str(fr.listening_age(1)) == "Tu écoutes comme si tu avais 1\u00a0an"
    assert str(fr.listening_age(2)) == "Tu écoutes comme si tu avais 2\u00a0ans"
    es = render.make_env("es").get_template("cards/_copy.svg").module
    assert str(es.listening_age(1)).endswith("1\u00a0año")
    assert str(es.listening_age(40)).endswith("40\u00a0años")


@pytest.mark.parametrize(
    "case,overrides",
    [
        ("age null", dict(listening_age=None, listening_era=None)),
        ("era null, age set", dict(listening_era=None)),
        ("age not a whole number", dict(listening_age=31.5)),
        ("age a string", dict(listening_age="32")),
        ("age a boolean", dict(listening_age=True)),
    ],
)
def test_no_listening_age_card_without_an_age(renderer, case, overrides):
    _, files = renderer.render(S.recap(**overrides), country="US")
    assert "listening-age.svg" not in files, case
    assert "listening-age.svg" not in files["index.html"].decode()
    assert len([n for n in files if n.endswith(".svg")]) == len(render.CARDS) - 1


def test_a_recap_without_the_new_columns_still_renders(renderer):
    """A recaps/ row written before issue 19: every other card, no new line, no error."""
    old = {k: v for k, v in S.recap().items() if k not in NEW_COLUMNS}
    _, files = renderer.render(old, country="FR")
    assert "listening-age.svg" not in files
    assert {"top-songs.svg", "top-genres.svg", "summary.svg", "index.html"} <= set(files)
    assert "auditeurs de ce titre" not in files["top-songs.svg"].decode()
    assert "Tu as écouté" not in files["top-genres.svg"].decode()


@pytest.mark.parametrize(
    "locale,badge",
    [
        ("en", "You are in the top 2% of this song's listeners"),
        ("de", "Du gehörst zu den Top 2% der Hörer:innen dieses Songs"),
        ("fr", "Tu es dans le top 2% des auditeurs de ce titre"),
    ],
)
def test_top_song_percentile_badge(renderer, locale, badge):
    _, files = renderer.render(S.recap(top_track_percent=2.0), country=_country(locale))
    texts = _texts(files["top-songs.svg"])
    i = texts.index(badge)
    assert texts[i + 1] == "Golden Hour"  # the song it is about, under it
    assert _alt(files, "top-songs.svg").endswith(f"Golden Hour: {badge}.")
    # the same format as the top-artist badge: 0.5 -> "0.5%"
    _, files = renderer.render(S.recap(top_track_percent=0.5), country=_country(locale))
    assert badge.replace("2%", "0.5%" if locale == "en" else "0,5%") in _texts(
        files["top-songs.svg"]
    )


def test_no_top_artist_badge_beside_an_artist_it_is_not_about(renderer):
    """The percent is computed for the recap's #1 artist; when that #1 has no name it is
    left out and the #2 is drawn first: the badge must not claim the #2's listeners."""
    recap = S.recap(
        top_artists=[
            {"artist_name": "\u3000", "streams": 500, "minutes": 2000},
            *S.recap()["top_artists"],
        ]
    )
    _, files = renderer.render(recap, country="US")
    svg = files["top-artist.svg"].decode()
    assert "Velvet Lanes" in svg  # drawn first now
    assert "of their listeners" not in svg
    assert "of their listeners" not in _alt(files, "top-artist.svg")
    # with a named #1 the same percent is shown
    _, files = renderer.render(S.recap(), country="US")
    assert "You are in the top 1% of their listeners" in _texts(files["top-artist.svg"])


def test_no_top_song_badge_without_a_percent_or_a_named_first_song(renderer):
    for recap in (
        S.recap(top_track_percent=None),
        # the #1 has no name: the percent is its, not the song shown first
        S.recap(
            top_tracks=[
                {"track_name": " ", "artist_name": "X", "streams": 200, "minutes": 9},
                *S.recap()["top_tracks"],
            ]
        ),
    ):
        _, files = renderer.render(recap, country="US")
        svg = files["top-songs.svg"].decode()
        assert "of this song's listeners" not in svg
        assert svg.count("<rect") == 1  # the backdrop only: no badge
        assert 'y="420" font-size="56" font-weight="bold">Your top songs<' in svg
        assert "this song" not in _alt(files, "top-songs.svg")


@pytest.mark.parametrize(
    "locale,n,line",
    [
        ("en", 1, "You streamed 1 genre"),
        ("en", 14, "You streamed 14 genres"),
        ("en", 1234, "You streamed 1,234 genres"),
        ("fr", 1, "Tu as écouté 1 genre"),
        ("fr", 14, "Tu as écouté 14 genres"),
        ("de", 1, "Du hast 1 Genre gestreamt"),
        ("pt_BR", 2, "Você ouviu 2 gêneros"),
    ],
)
def test_genre_count_with_plural_forms(renderer, locale, n, line):
    _, files = renderer.render(S.recap(distinct_genres=n), country=_country(locale))
    assert line in _texts(files["top-genres.svg"])
    assert _alt(files, "top-genres.svg").endswith(f" {line}.")


@pytest.mark.parametrize("n", [0, None, -3])
def test_no_genre_count_without_genres(renderer, n):
    _, files = renderer.render(S.recap(distinct_genres=n), country="US")
    assert not [t for t in _texts(files["top-genres.svg"]) if "genre" in t and "streamed" in t]
    assert "streamed" not in _alt(files, "top-genres.svg")
