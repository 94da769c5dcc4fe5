"""The campaign preview (preview.html) in a real browser — Debian's headless Chromium
driven by Playwright, from file:// — and the Airflow run's note (note.md), on an export
of hand-made releases (no Spark)."""

from __future__ import annotations

import os

import pytest
from test_campaign import GOD, _campaign, _released, specs  # noqa: F401 - fixture
from test_facts import YEAR

from encore.campaign import definition, rendering
from encore.campaign import export as campaign_export

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
HOSTILE = "<img src=x onerror=alert(1)>[x](javascript:alert(2))"


@pytest.fixture()
def exported(tmp_path, specs):  # noqa: F811
    """An export with a god line stated as a bound, a hostile label and a dropped line."""
    released = {
        "titled": _released(specs["titled"], [({"phrase": "God is a man"}, None, 22, 50.0)]),
        "artists": _released(
            specs["artists"],
            [({"artist_name": "Ariadne Grand"}, 2438, 300), ({"artist_name": HOSTILE}, 900, 300)],
        ),
        "minutes": _released(specs["minutes"], [({"country": "FR"}, 1234.5, 30)]),
    }
    lines = {
        "god": (["titled", "artists"], GOD, ["titled"]),
        "evil": (["artists"], "{{ f.artists.top[1].label }} is second."),
        "mins": (["minutes"], "{{ market_name }}: {{ f.minutes.by.country[market].about }} min."),
    }
    camp = definition.load_campaign("test_camp", _campaign(tmp_path, lines))
    export = rendering.render_campaign(
        camp,
        {k: specs[k] for k in ("titled", "artists", "minutes")},
        released,
        year=YEAR,
        locales=["en", "de"],
        markets=["FR", "DE"],
    )
    root = str(tmp_path / "data")
    folder = campaign_export.write_export(
        root, YEAR, camp, export, "run-1", budget={"total": 3.0, "spent": 2.25}
    )
    return folder


def test_the_run_note_says_the_lines_what_was_dropped_and_where(exported):
    note = open(os.path.join(exported, "note.md"), encoding="utf-8").read()
    assert len(note) <= 1000
    md = campaign_export.markdown_text
    assert md("“God is a man”: fewer than 50 playlists. Top: Ariadne Grand, about 2,400.") in note
    assert "privacy budget left: ε 0.75 of 3" in note
    assert "- mins (2×): " + md("no released value for 'DE'") in note  # DE/en and DE/de
    assert f"**Preview**: {campaign_export.markdown_text(exported + '/preview.html')}" in note
    assert "<img" not in note and "](javascript" not in note  # escaped, inert
    assert "2438" not in note and "2,438" not in note  # never a noisy value


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="needs Debian's chromium")
def test_preview_opens_from_file_with_lines_images_and_reasons(exported):
    from playwright.sync_api import sync_playwright

    html = open(os.path.join(exported, "preview.html"), encoding="utf-8").read()
    assert "2438" not in html and "2,438" not in html  # no noisy value reaches the preview
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page()
            seen = {"requests": [], "dialogs": [], "errors": []}
            page.on("request", lambda r: seen["requests"].append(r.url))
            page.on("pageerror", lambda e: seen["errors"].append(str(e)))
            page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
            page.goto(f"file://{exported}/preview.html")
            page.wait_for_load_state("load")
            god = page.locator("#FR-en li[data-line='god'] .text").inner_text()
            assert (
                god == "“God is a man”: fewer than 50 playlists. Top: Ariadne Grand, about 2,400."
            )
            facts = page.locator("#FR-en li[data-line='god'] .facts").inner_text()
            assert "titled" in facts and "upper bound" in facts and "ε 0.5" in facts
            assert "ε 0.75 left" in page.locator("#budget-left").inner_text()
            # the billboard image loads (relative link, beside the page)
            img = page.locator("#FR-en li[data-line='god'] img.billboard")
            assert img.get_attribute("src") == "billboards/FR-en-god.png"
            assert page.evaluate("(i) => i.complete && i.naturalWidth > 0", img.element_handle())
            # the dropped line and why
            why = page.locator("#DE-en li.dropped[data-line='mins'] .why").inner_text()
            assert why.startswith("Dropped: no released value for 'DE'")
            # the hostile label is text, not markup
            evil = page.locator("#FR-en li[data-line='evil'] .text").inner_text()
            assert evil == f"{HOSTILE} is second."
            assert page.locator("img[src=x]").count() == 0
            assert not seen["dialogs"] and not seen["errors"], seen
            assert all(u.startswith(f"file://{exported}/") for u in seen["requests"]), seen
        finally:
            browser.close()


def test_the_run_note_keeps_what_was_dropped_when_the_lines_are_long():
    """Long copy lines must not push "what was dropped and why" out of the 1,000-character
    note (seen under the real scheduler: five long lines, four drops, no Dropped section)."""
    from types import SimpleNamespace

    from encore.campaign.rendering import Export

    copy = [
        {"market": "US", "locale": "en", "line": f"line{i}", "text": "x" * 230} for i in range(5)
    ]
    notes = [
        f"US/en/drop{i}: dropped: fact f{i} is suppressed or was not released" for i in range(4)
    ]
    export = Export(copy=copy, notes=notes, billboards={}, facts_used={})
    camp = SimpleNamespace(title="Thanks for the year")
    note = campaign_export.run_note(camp, 2025, export, {"total": 3.0, "spent": 2.0}, "/x/run")
    assert len(note) <= 1000
    assert "**Lines**" in note and "**Dropped**" in note
    assert "- drop0 (1×): fact f0 is suppressed or was not released" in note
    assert "more in the preview" in note  # the lines that did not fit are counted
    assert "**Preview**: /x/run/preview\\.html" in note
