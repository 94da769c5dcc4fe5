"""Campaign export: the sandbox, formula injection, dropped lines, locale formatting,
and an end-to-end export (facts released on demand) scanned for leaks."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path

import pytest
from test_facts import CATALOG, EPS, SECRET_TITLE, YEAR, _cfg, world  # noqa: F401 - fixture

from encore import facts
from encore.campaign import definition, numbers, rendering
from encore.campaign import export as campaign_export
from encore.campaign import job as campaign
from encore.facts import catalog as fc
from encore.platform.errors import BudgetExceeded, EncoreError


def _released(spec, rows, eps=0.5):
    """A ReleasedFact as facts.load_released would return it (hand-made, no Spark); a
    suppressed row (value None) may carry its stored upper bound as a 4th item."""
    stored = [
        {
            "key": json.dumps(k, sort_keys=True),
            "value": None if v is None else float(v),
            "n": None,
            "suppressed": v is None,
            "error95": err,
            "upper95": rest[0] if rest else None,
        }
        for k, v, err, *rest in rows
    ]
    return facts.ReleasedFact(
        spec, stored, eps, 0.0, "geometric(scale=2)", "", "2025-11-20T00:00:00Z", "r1", True
    )


def _campaign(tmp_path: Path, lines: dict[str, tuple], own: str = "", locales=("en", "de")) -> Path:
    folder = tmp_path / "campaigns" / "test_camp"
    folder.mkdir(parents=True)
    (folder / "manifest.toml").write_text(
        'title = "Test"\nlocales = ["en", "de"]\nmarkets = ["FR", "DE"]\n[facts]\n'
        'catalog = ["titled", "artists", "minutes"]\n' + own,
        encoding="utf-8",
    )
    for loc in locales:
        body = "".join(
            f'[[line]]\nid = "{lid}"\nchannel = "billboard"\nfacts = {json.dumps(fs)}\ntext = {json.dumps(text)}\n'
            + (f"bounds = {json.dumps(more[0])}\n" if more else "")
            + "\n"
            for lid, (fs, text, *more) in lines.items()
        )
        (folder / f"copy.{loc}.toml").write_text(body, encoding="utf-8")
    (folder / "billboard.svg").write_text(
        '<svg xmlns="http://www.w3.org/2000/svg" width="800" height="200" font-size="{{ font_size }}">{% for l in lines %}'
        '<text x="10" y="{{ 40 + loop.index0 * 40 }}" font-family="DejaVu Sans">{{ l }}</text>{% endfor %}</svg>',
        encoding="utf-8",
    )
    return tmp_path / "campaigns"


@pytest.fixture()
def specs(cfg):
    c = _cfg(cfg, CATALOG)
    return {s.id: s for s in fc.catalog(c)}


GOD = (
    "{% if f.titled.suppressed %}“God is a man”: fewer than {{ f.titled.at_most }} playlists."
    "{% else %}“God is a man”: {{ f.titled.about }} playlists.{% endif %}"
    " Top: {{ f.artists.top[0].label }}, {{ f.artists.top[0].about }}."
)


def test_a_line_with_bounds_states_a_suppressed_count_as_fewer_than(tmp_path, specs):
    """A suppressed count reaches copy only as its stored upper bound, and only in a
    line that lists it under `bounds`; the other side suppressed still drops the line."""
    titled = _released(specs["titled"], [({"phrase": "God is a man"}, None, 22, 50.0)])
    artists = _released(specs["artists"], [({"artist_name": "Ariadne"}, 2438, 300)])
    released = {"titled": titled, "artists": artists}
    lines = {
        "god": (["titled", "artists"], GOD, ["titled"]),
        "plain": (["titled", "artists"], GOD),  # no bounds: suppressed drops it, as before
        "peek": (["titled"], "{{ f.titled.about }}", ["titled"]),  # a bound has no about
    }
    out = _render(tmp_path, specs, lines, released, locales=("en", "de"))
    texts = {(r["locale"], r["line"]): r["text"] for r in out.copy}
    assert texts[("en", "god")] == (
        "“God is a man”: fewer than 50 playlists. Top: Ariadne, about 2,400."
    )
    assert texts[("de", "god")].endswith("Top: Ariadne, rund 2.400.")
    assert [r["bounds"] for r in out.copy] == ["titled", "titled"]
    assert set(texts) == {("en", "god"), ("de", "god")}
    assert any(n.startswith("FR/en/plain: dropped: fact titled is suppressed") for n in out.notes)
    assert any(n.startswith("FR/en/peek: dropped: no released value") for n in out.notes)
    assert out.facts_used["titled"]["values"] == []
    assert out.facts_used["titled"]["bounds"] == [
        {"key": {"phrase": "God is a man"}, "upper95": 50.0}
    ]
    # released: the same line says the number, not a bound
    released["titled"] = _released(specs["titled"], [({"phrase": "God is a man"}, 312, 22)])
    out = _render(tmp_path / "2", specs, lines, released)
    assert out.copy[0]["text"].startswith("“God is a man”: about 310 playlists.")
    assert out.copy[0]["bounds"] == ""
    # the other side suppressed too: dropped as before
    released["titled"] = titled
    released["artists"] = _released(specs["artists"], [({"artist_name": "Ariadne"}, None, 300)])
    out = _render(tmp_path / "3", specs, {"god": lines["god"]}, released)
    assert out.copy == [] and out.notes == [
        "FR/en/god: dropped: fact artists is suppressed or was not released"
    ]
    # a release stored before bounds existed has none: dropped, never a guess
    released["artists"] = artists
    released["titled"] = _released(specs["titled"], [({"phrase": "God is a man"}, None, 22)])
    out = _render(tmp_path / "4", specs, {"god": lines["god"]}, released)
    assert out.copy == [] and "fact titled is suppressed" in out.notes[0]


def test_bounds_must_name_facts_of_the_line(tmp_path):
    root = _campaign(tmp_path, {"x": (["titled"], "{{ f.titled.about }}", ["artists"])})
    with pytest.raises(EncoreError, match="line 1: bounds must list facts of the line's facts"):
        definition.load_campaign("test_camp", root)


def _render(tmp_path, specs, lines, released, markets=("FR",), locales=("en",)):
    camp = definition.load_campaign("test_camp", _campaign(tmp_path, lines))
    return rendering.render_campaign(
        camp,
        {k: specs[k] for k in ("titled", "artists", "minutes")},
        released,
        year=YEAR,
        locales=list(locales),
        markets=list(markets),
    )


def test_locale_formatting():
    assert numbers.format_about(28802, 999, "en") == "about 28,800"
    assert numbers.format_about(28802, 999, "de") == "rund 28.800"
    assert numbers.format_about(9, 0, "en") == "9"  # exact when the noise allows it
    assert numbers.format_about(2438, 999, "en") == "about 2,400"  # never finer than the noise
    assert numbers.format_percent(0.312, "en") == "31%"
    assert numbers.format_percent(0.312, "de") == "31\xa0%"
    # a share's noise (review 2026-12-07): +-22 points printed "31%"; never finer than it
    assert numbers.format_percent(0.312, "en", 0.22) == "about 30%"
    assert numbers.format_percent(0.312, "de", 0.22) == "rund 30\xa0%"
    assert numbers.format_percent(0.312, "en", 0.04) == "31%"  # +-4 points: whole percents
    assert numbers.market_name("DE", "de") == "Deutschland"


def test_a_groups_listener_count_is_never_finer_than_its_noise():
    """Review finding (2026-12-07): the noisy listener count of an average's group was
    printed exact ("57") under +-80 of noise; it reads "about 60" now (round_for_people:
    steps of 10 for an error of 10-99). A release stored before the count's error was
    kept has none, and prints as before."""
    spec = fc.spec_from_dict(
        "work_hours_share_by_age",
        {
            "kind": "average",
            "source": "listeners",
            "keys": ["age_band"],
            "metric": "work_hours_share",
            "low": 0,
            "high": 1,
            "weight": 1,
        },
    )
    row = {
        "key": json.dumps({"age_band": "18-24"}),
        "value": 0.3124,
        "n": 57.0,
        "share": None,
        "suppressed": False,
        "error95": 0.22,
        "n_error95": 80.0,
    }
    released = facts.ReleasedFact(spec, [row], 0.15, 0, "", "", "", "r", True)
    [line] = numbers.fact_view(spec, released, "en")["top"]
    assert (line["listeners"], line["percent"]) == ("about 60", "about 30%")
    assert numbers.fact_view(spec, released, "de")["top"][0]["listeners"] == "rund 60"
    old = facts.ReleasedFact(spec, [row | {"n_error95": None}], 0.15, 0, "", "", "", "r", True)
    assert numbers.fact_view(spec, old, "en")["top"][0]["listeners"] == "57"


def test_a_share_is_never_finer_than_its_noise():
    """A share among a group's released keys is value / total, so a count's error of
    +-150 over a total of 1,000 is +-15 points: "about 30%", not "30%" (review,
    2026-12-07, found for the work-hours share; the same holds for share_per counts).
    An error of +-60 (6 points) keeps whole percents."""
    spec = fc.spec_from_dict(
        "platform_share",
        {
            "kind": "count",
            "source": "streams",
            "keys": ["age_band", "platform"],
            "share_per": "age_band",
            "weight": 1,
        },
    )

    def view(err):
        rows = [
            {
                "key": json.dumps({"age_band": "18-24", "platform": p}),
                "value": v,
                "n": None,
                "share": v / 1000,
                "suppressed": False,
                "error95": err,
            }
            for p, v in (("ios", 320.0), ("android", 680.0))
        ]
        released = facts.ReleasedFact(spec, rows, 0.15, 0, "", "", "", "r", True)
        return [ln["percent"] for ln in numbers.fact_view(spec, released, "en")["top"]]

    assert view(150.0) == ["about 70%", "about 30%"]
    assert view(60.0) == ["68%", "32%"]


def test_the_words_around_numbers_come_from_the_catalogs():
    """ "about 28,800" is a catalog message (templates/locales), translated in every
    shipped locale, extracted from the code the way docs/render.md extracts it."""
    from babel.messages.extract import extract_from_dir
    from babel.messages.pofile import read_po

    from encore.render.settings import supported_locales, templates_dir

    code = Path(numbers.__file__).parent
    wanted = {m[2] for m in extract_from_dir(str(code), [("**.py", "python")])}
    assert "about %(n)s" in wanted
    for locale in supported_locales()[1:]:
        po = templates_dir() / "locales" / locale / "LC_MESSAGES" / "encore.po"
        catalog = read_po(po.open("rb"), locale=locale)
        for msgid in wanted:
            message = catalog.get(msgid)
            assert message and message.string and not message.fuzzy, (locale, msgid)
        word = catalog.get("about %(n)s").string
        number = numbers.format_number(28800, locale)
        assert numbers.format_about(28802, 999, locale) == word % {"n": number}
    assert numbers.format_about(28802, 999, "de_AT") == "rund 28.800"  # the language's catalog


def test_a_locale_without_a_catalog_is_refused(tmp_path):
    root = _campaign(tmp_path, {"x": (["titled"], "{{ f.titled.about }}")}, locales=("en", "nl"))
    with pytest.raises(EncoreError, match=r"copy\.nl\.toml: locale 'nl' has no catalog"):
        definition.load_campaign("test_camp", root)
    with pytest.raises(EncoreError, match=r"--locale: locale 'it' has no catalog"):
        definition.check_locale("it", "--locale")


def test_sandbox_refuses_internals_and_oversized_output(tmp_path, specs):
    released = {"titled": _released(specs["titled"], [({"phrase": "God is a man"}, 120, 6)])}
    for evil in (
        "{{ f.titled.__class__ }}",
        "{{ f.titled.top.__class__.__mro__ }}",
        "{{ f.titled.about.__class__.__init__.__globals__ }}",
        "{{ f.titled.top.count.__self__ }}",
        "{{ f.titled._data }}",
    ):
        with pytest.raises(EncoreError, match="refused by the sandbox"):
            _render(tmp_path / str(hash(evil)), specs, {"x": (["titled"], evil)}, released)
    with pytest.raises(EncoreError, match="refused by the sandbox"):
        _render(tmp_path / "big1", specs, {"x": (["titled"], "{{ 'x' * 100000000 }}")}, released)
    # too much output: the line is refused with the reason, the export goes on
    out = _render(
        tmp_path / "big2",
        specs,
        {"x": (["titled"], "{% for i in range(99999) %}lots of text {% endfor %}")},
        released,
    )
    assert out.copy == [] and out.notes == ["FR/en/x: refused: output longer than 600 characters"]
    # a missing key named like a dict method is just missing: the line drops
    out = _render(
        tmp_path / "pop",
        specs,
        {"x": (["titled"], "{{ f.titled.by.phrase['pop'].about }}")},
        released,
    )
    assert out.copy == [] and "dropped" in out.notes[0]
    # a line sees only the facts it names
    out = _render(tmp_path / "scope", specs, {"x": (["titled"], "{{ f.artists.about }}")}, released)
    assert out.copy == [] and "dropped" in out.notes[0]


def test_suppressed_fact_drops_its_line_and_formula_injection_is_neutralised(tmp_path, specs):
    released = {
        "titled": _released(specs["titled"], [({"phrase": "God is a man"}, None, 6)]),  # suppressed
        "artists": _released(
            specs["artists"],
            [
                ({"artist_name": '=HYPERLINK("http://x")'}, 9000, 40),
                ({"artist_name": "Quiet Echo"}, 700, 40),
            ],
        ),
        "minutes": _released(specs["minutes"], [({"country": "FR"}, 1234.5, 30)]),
    }
    lines = {
        "god": (["titled"], "{{ f.titled.about }} playlists are called God is a man."),
        "top": (
            ["artists"],
            "{{ f.artists.top[0].label }} wins {{ year }} with {{ f.artists.top[0].about }} plays.",
        ),
        "mins": (
            ["minutes"],
            "{{ market_name }}: {{ f.minutes.by.country[market].about }} minutes.",
        ),
    }
    out = _render(tmp_path, specs, lines, released, markets=("FR", "DE"), locales=("en", "de"))
    texts = {(r["market"], r["locale"], r["line"]): r["text"] for r in out.copy}
    assert not any(k[2] == "god" for k in texts)  # suppressed: dropped, never "None"
    assert sum("god: dropped: fact titled is suppressed" in n for n in out.notes) == 4
    assert texts[("FR", "en", "mins")] == "France: about 1,230 minutes."
    assert texts[("FR", "de", "mins")] == "Frankreich: rund 1.230 minutes."
    assert ("DE", "en", "mins") not in texts  # no released value for DE: dropped with a note
    assert any(n.startswith("DE/en/mins: dropped") for n in out.notes)
    assert texts[("FR", "en", "top")] == '=HYPERLINK("http://x") wins 2025 with about 9,000 plays.'
    for r in out.copy:
        assert "None" not in r["text"]
    csv_text = campaign_export.to_csv(out.copy, ["market", "locale", "line", "text"])
    cells = [row.split(",", 3)[3] for row in csv_text.splitlines()[1:]]
    assert any(c.startswith("\"'=HYPERLINK") for c in cells)
    assert not any(c.startswith(("=", '"=', "+", "-", "@")) for c in cells)
    for bad in ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1"):
        assert campaign_export.neutralise_cell(bad) == "'" + bad
    assert campaign_export.neutralise_cell("fine") == "fine"
    # user-derived text is escaped in the billboard SVG
    svg = out.billboards["FR-en-top"]
    assert "&#34;http://x&#34;" in svg or "&quot;http://x&quot;" in svg


def _write_world(tables, root):
    """The test world as the datasets the ingest stage writes."""
    from pyspark.sql import functions as F

    ev = tables["events"].withColumn("year", F.year("ts")).withColumn("month", F.month("ts"))
    ev.write.partitionBy("year", "month").parquet(os.path.join(root, "events"))
    for name, path in (
        ("users", "users"),
        ("tracks", "catalog/tracks"),
        ("artists", "catalog/artists"),
        ("playlists", "playlists"),
        ("erasures", "privacy/erasures"),
    ):
        tables[name].write.parquet(os.path.join(root, path))


def _shown(root: str, fact_id: str, truth: float, locale: str = "en") -> str:
    """The copy's text for the one released key of ``fact_id``, once its noisy value is
    checked against the true count by the release's own error: within 4 x its 95 %
    error, which a geometric draw exceeds in 4 to 28 of a million releases, by its scale
    (noise.error95 at scales 0.4-12; a fixed band of ±4 around 40 failed in ~2 % of runs
    at the extras' small epsilon)."""
    (row,) = [
        r
        for r in facts.load_released(root, YEAR)
        if r["fact_id"] == fact_id and r["key"] is not None
    ]
    assert not row["suppressed"] and abs(row["value"] - truth) <= 4 * max(1.0, row["error95"]), row
    return numbers.format_about(row["value"], row["error95"], locale)


def test_export_end_to_end_releases_missing_facts_and_leaks_nothing(world, cfg, spark, tmp_path):  # noqa: F811
    root = str(tmp_path / "data")
    _write_world(world, root)
    c = _cfg(cfg, CATALOG, min_count=5, epsilon=EPS)
    lines = {
        "god": (["titled"], "“God is a man”: {{ f.titled.about }} playlists."),
        "chill": (["chill"], "{{ f.chill.about }} playlists are chill."),
        "nobody": (["nobody"], "{{ f.nobody.about }} playlists say nobody."),
        "top": (["artists"], "Top: {{ f.artists.top[0].label }} ({{ f.artists.top[0].about }})."),
        "mins": (["minutes"], "{{ market_name }}: {{ f.minutes.by.country[market].about }} min."),
        "ex": (
            ["extra_phrases", "extra_tracks"],
            "{% for p in f.extra_phrases.top %}“{{ p.phrase }}”: {{ p.about }}. {% endfor %}"
            "{{ f.extra_tracks.by.track['Artist A — Song A'].about }} playlists with Song A.",
        ),
    }
    own = (
        '[facts.chill]\nkind = "count"\nsource = "playlists"\nkeys = ["phrase"]\nphrases = ["chill"]\nweight = 1\n'
        '[facts.nobody]\nkind = "count"\nsource = "playlists"\nkeys = ["phrase"]\nphrases = ["no such title"]\nweight = 1\n'
    )
    cdir = _campaign(tmp_path, lines, own)
    folder, export = campaign.export_campaign(
        root, YEAR, "test_camp", c, "camp1", spark_factory=lambda: spark, campaigns_dir=cdir
    )
    ledger = facts.read_ledger(root, YEAR)
    assert sorted(e["fact_id"] for e in ledger) == [
        "artists",
        "chill",
        "minutes",
        "nobody",
        "titled",
    ]
    texts = {(r["market"], r["locale"], r["line"]): r["text"] for r in export.copy}
    # 40 owners of a "chill" playlist, 20 of "God is a man": the copy shows the release
    assert texts[("FR", "en", "chill")] == f"{_shown(root, 'chill', 40)} playlists are chill."
    assert (
        texts[("FR", "de", "god")]
        == f"“God is a man”: {_shown(root, 'titled', 20, 'de')} playlists."
    )
    assert not any(k[2] == "nobody" for k in texts) and any("nobody" in n for n in export.notes)
    assert {f["id"] for f in json.load(open(os.path.join(folder, "facts-used.json")))} == {
        "artists",
        "chill",
        "minutes",
        "titled",
    }
    names = sorted(os.listdir(os.path.join(folder, "billboards")))
    assert "FR-en-god.svg" in names and "FR-en-god.png" in names
    assert open(os.path.join(folder, "billboards", "FR-en-god.png"), "rb").read(4) == b"\x89PNG"

    # every number a person reads is a released value, rounded (or the year)
    rounded = set()
    for r in facts.load_released(root, YEAR):
        if r["value"] is not None:
            for loc in ("en", "de"):
                err = None if r["kind"] == "median" else r["error95"]
                rounded.add(numbers.format_number(numbers.round_for_people(r["value"], err), loc))
    for r in export.copy:
        for number in re.findall(r"\d[\d.,]*\d|\d", r["text"]):
            assert number in rounded or number == str(YEAR), (number, r["text"])
    # no user id, no unselected playlist title, in any file
    user_ids = {r["user_id"] for r in world["users"].collect()}
    for dirpath, _, files in os.walk(folder):
        for name in files:
            data = open(os.path.join(dirpath, name), "rb").read().decode("utf-8", "replace")
            assert "user_id" not in data and SECRET_TITLE not in data, name
            assert not any(u in data for u in user_ids), name

    # a second export spends nothing; a campaign fact beyond the budget fails cleanly
    before = facts.read_ledger(root, YEAR)
    campaign.export_campaign(
        root, YEAR, "test_camp", c, "camp2", spark_factory=lambda: None, campaigns_dir=cdir
    )
    assert facts.read_ledger(root, YEAR) == before
    assert "*/en/ex: dropped: no extra phrases were asked for" in export.notes

    # extra phrases and tracks (the form's): released once, from what is left (1/6 of
    # the budget: two extras of weight 0.5 of 6), seen by the copy, in the export
    _, ex = campaign.export_campaign(
        root,
        YEAR,
        "test_camp",
        c,
        "camp-x1",
        spark_factory=lambda: spark,
        campaigns_dir=cdir,
        phrases=["  Chill "],
        tracks=["Artist A — Song A"],
    )
    added = [e for e in facts.read_ledger(root, YEAR) if e not in before]
    assert sorted((e["fact_id"].rsplit("_", 1)[0], e["params"]["source"]) for e in added) == [
        ("extra_phrase", "playlists"),
        ("extra_track", "playlist_tracks"),
    ]
    assert sum(e["epsilon"] for e in added) == pytest.approx(EPS * 2 * 0.5 / 6)
    texts = {(r["market"], r["locale"], r["line"]): r["text"] for r in ex.copy}
    # 40 "Chill" playlists; 60 playlists hold Song A
    phrase_id, track_id = sorted(e["fact_id"] for e in added)
    assert texts[("FR", "en", "ex")] == (
        f"“chill”: {_shown(root, phrase_id, 40)}. {_shown(root, track_id, 60)} playlists with Song A."
    )
    assert [r["used"] for r in ex.copy if r["line"] == "ex"][0] == sorted(
        e["fact_id"] for e in added
    )
    # the same phrase again (any case and spacing): the stored release, nothing spent
    spent_before = facts.read_ledger(root, YEAR)
    _, again = campaign.export_campaign(
        root,
        YEAR,
        "test_camp",
        c,
        "camp-x2",
        spark_factory=lambda: None,
        campaigns_dir=cdir,
        phrases=["CHILL"],
        tracks=["Artist A - Song A"],
    )
    assert facts.read_ledger(root, YEAR) == spent_before
    assert {r["text"] for r in again.copy if r["line"] == "ex"} == {
        r["text"] for r in ex.copy if r["line"] == "ex"
    }
    # a request the budget cannot cover fails before anything is released, saying what is left
    with pytest.raises(
        BudgetExceeded, match=r"needs epsilon 2\.5 .* but only epsilon 0 / .* is left"
    ):
        campaign.export_campaign(
            root,
            YEAR,
            "test_camp",
            c,
            "camp-x3",
            spark_factory=lambda: spark,
            campaigns_dir=cdir,
            phrases=["chill", "road trip"],
        )
    assert facts.read_ledger(root, YEAR) == spent_before
    assert not os.path.exists(os.path.join(root, "campaigns", str(YEAR), "test_camp", "camp-x3"))
    before = spent_before
    c2 = copy.deepcopy(c)
    c2["privacy"]["epsilon_per_year"] = EPS * 0.9  # less than already spent
    (cdir / "test_camp" / "manifest.toml").write_text(
        (cdir / "test_camp" / "manifest.toml").read_text()
        + own.replace("chill", "relax")
        .replace("nobody", "noone")
        .replace("such title", "such name")
    )
    with pytest.raises(BudgetExceeded, match="nothing was released"):
        campaign.export_campaign(
            root, YEAR, "test_camp", c2, "camp3", spark_factory=lambda: spark, campaigns_dir=cdir
        )
    assert facts.read_ledger(root, YEAR) == before
    assert not os.path.exists(os.path.join(root, "campaigns", str(YEAR), "test_camp", "camp3"))


def test_shipped_campaigns_load_and_name_only_declared_facts(cfg):
    for name in ("year_end_billboards", "press_kit"):
        camp = definition.load_campaign(name)
        specs = camp.specs(cfg)
        assert set(camp.copy) == {"en", "de", "fr"} == set(camp.locales)
        ids = {loc: [ln.id for ln in lines] for loc, lines in camp.copy.items()}
        assert ids["fr"] == ids["de"] == ids["en"], name  # the same lines in every language
        for locale, lines in camp.copy.items():
            assert lines, locale
            for line in lines:
                known = set(specs) | set(definition.EXTRA_GROUPS)
                assert set(line.facts) <= known, (name, locale, line.id)
    with pytest.raises(EncoreError, match="--campaign"):
        definition.load_campaign("../etc")


def test_an_extra_asking_a_campaign_facts_query_is_that_fact(cfg):
    """Marketing asks for the track the billboard already counts ("God Is a Woman" is
    year_end_billboards' playlists_with_track) and for "love" in another case: each
    extra is the campaign's own fact, not a second id for one query (which a release
    refuses: the scheduler's run of the form failed so), and nothing is drawn twice."""
    base = definition.load_campaign("year_end_billboards").specs(cfg)
    specs, groups = campaign.with_extras(
        base,
        ["LOVE", "road trip", "Road  Trip"],
        [("Ariadne Grand", "God Is a Woman"), ("Ariadne Grand", "God is a man")],
        cfg,
    )
    road = fc.extra_fact("phrase", "road trip", cfg).id
    man = fc.extra_fact("track", ("Ariadne Grand", "God is a man"), cfg).id
    assert groups == {
        "extra_phrases": ["love_playlists", road],
        "extra_tracks": ["playlists_with_track", man],
    }
    assert set(specs) == set(base) | {road, man}
    assert len({s.signature for s in specs.values()}) == len(specs)  # what release requires
    assert set(base) == set(definition.load_campaign("year_end_billboards").specs(cfg))


@pytest.mark.parametrize("asked", ["God is a man", "god is a man", "GOD  IS A MAN"])
def test_an_extra_phrase_in_any_case_is_the_catalogs_fact(cfg, asked):
    """The catalog's playlists_titled counts "God is a man" (as typed); an extra phrase is
    case-folded ("god is a man"), so its signature differed and the form's extra drew a
    second, fresh noise for the same count (privacy.md: a second export "never draws
    fresh noise for the same fact")."""
    base = definition.load_campaign("year_end_billboards").specs(cfg)
    assert base["playlists_titled"].phrases == ("God is a man",)
    specs, groups = campaign.with_extras(base, [asked], [], cfg)
    assert groups["extra_phrases"] == ["playlists_titled"]
    assert set(specs) == set(base)


def test_demo_data_billboards_say_god_is_a_man_in_every_language(spark, cfg, tmp_path):
    """Issue #19's done-when, on the demo's own data (`encore demo`: 600 listeners,
    seed 1, 120 plays on average): "God is a man" is a rare title, suppressed in ~97 %
    of releases, and yet the billboard line is there in en, de and fr — as an upper
    bound — next to "God Is a Woman", which is released."""
    from encore import pipeline
    from encore.platform.context import RunContext
    from encore.tools import generate

    root = str(tmp_path / "demo")
    generate.generate(root, users=600, years=[YEAR, YEAR + 1], seed=1, mean_plays=120)
    ctx = RunContext(data=root, cfg=cfg, year=YEAR, run_id="demo-run", spark=spark)
    assert pipeline.run(ctx, stages=("ingest",)) == 0
    folder, export = campaign.export_campaign(
        root, YEAR, "year_end_billboards", cfg, "camp-demo", spark_factory=lambda: spark
    )
    stored = {
        json.loads(r["key"] or "{}").get("phrase"): r for r in facts.load_released(root, YEAR)
    }
    # a rare title: its noisy count is suppressed in ~97 % of releases, and the line says
    # "fewer than N"; with noise of +-60 (geometric, scale 20, eps 0.15) it passes the bar
    # about 1 release in 40 and the line gives the number instead (the test once assumed
    # "always", and failed so on a clean clone). Either way the line is there in 3 languages.
    suppressed = stored["God is a man"]["suppressed"]
    assert (stored["God is a man"]["value"] is None) == suppressed
    god = {r["locale"]: r["text"] for r in export.copy if r["line"] == "god"}
    assert set(god) == {"en", "de", "fr"}
    n_en, n_de, n_fr = r"\d+(,\d{3})*", r"\d+(\.\d{3})*", r"\d+(\u202f\d{3})*"
    first = (
        {
            "en": rf"“God is a man” is the title of fewer than {n_en} playlists\. ",
            "de": rf"Weniger als {n_de} Playlists heißen „God is a man“\. ",
            "fr": rf"Moins de {n_fr} playlists s’appellent « God is a man »\. ",
        }
        if suppressed
        else {
            "en": rf"“God is a man” is the title of (about )?{n_en} playlists\. ",
            "de": rf"„God is a man“ heißen (rund )?{n_de} Playlists\. ",
            "fr": rf"(environ )?{n_fr} playlists s’appellent « God is a man »\. ",
        }
    )
    second = {
        "en": rf"“God Is a Woman” is on about {n_en}\.",
        "de": rf"„God Is a Woman“ ist auf rund {n_de}\.",
        "fr": rf"« God Is a Woman » figure dans environ {n_fr}\.",
    }
    for locale, text in god.items():
        assert re.fullmatch(first[locale] + second[locale], text), text
    print(god)


@pytest.mark.parametrize(
    ("flag", "value", "reason"),
    [
        ("--phrase", "", "phrase is empty"),
        ("--phrase", "   ", "phrase is empty"),
        ("--phrase", "x" * 101, "is longer than 100 characters"),
        ("--phrase", "a\x1bb", "contains a control character"),
        ("--phrase", "evil\u202eexe", "contains a control character"),
        ("--track", "Ariadne Grand", "must be written 'Artist — Title'"),
        ("--track", " — God Is a Woman", "track artist is empty"),
        ("--track", "Ariadne Grand — " + "y" * 101, "track title 'yyy"),
    ],
)
def test_bad_extra_phrases_and_tracks_are_refused_with_one_line(flag, value, reason, capsys):
    import argparse

    p = argparse.ArgumentParser(prog="encore campaign")
    campaign.add_arguments(p)
    base = ["--data", "d", "--year", "2025", "--campaign", "c"]
    with pytest.raises(SystemExit) as exit_:
        p.parse_args([*base, f"{flag}={value}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2
    assert err[-1].startswith(f"encore campaign: error: argument {flag}: ") and reason in err[-1]
    assert "\x1b" not in err[-1] and "\u202e" not in err[-1]  # shown escaped, never raw


def test_extras_are_cleaned_deduplicated_and_limited():
    phrases, tracks = definition.check_extras(
        ["road  trip", "road trip", "Jazz"], ["Jay-Z - 99 Problems", "A — B - C"]
    )
    assert phrases == ["road trip", "Jazz"]
    assert tracks == [("Jay-Z", "99 Problems"), ("A", "B - C")]  # the first separator splits
    with pytest.raises(EncoreError, match=r"--phrase: at most 10 per export, got 11"):
        definition.check_extras([f"p{i}" for i in range(11)], [])
    with pytest.raises(EncoreError, match=r"--track: track 'x' must be written"):
        definition.check_extras([], ["x"])
    # the same phrase in any case is the same fact (one release); tracks are exact
    a = fc.extra_fact("phrase", "Road  Trip", _cfg_extra())
    assert a == fc.extra_fact("phrase", "road trip", _cfg_extra())
    assert a.phrases == ("road trip",) and a.weight == 0.5 and a.max_rows_per_group == 3
    t = fc.extra_fact("track", ("Ariadne Grand", "God Is a Woman"), _cfg_extra())
    assert t.tracks == (("God Is a Woman", "Ariadne Grand"),) and t.source == "playlist_tracks"
    assert t.id != fc.extra_fact("track", ("ariadne grand", "God Is a Woman"), _cfg_extra()).id


def _cfg_extra():
    from encore.platform import config

    return config.load()
