"""A real browser on a real recap page: Debian's headless Chromium driven by Playwright
opens the page from file:// and from a localhost server, steps through every card
(arrow keys, taps, swipe), screenshots it, and checks there is no console error and no
request outside the page's own folder."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path

import pytest
import render_samples as S
from test_render_fonts import _pixels, world_recap

from encore import render
from encore.render import settings as render_conf

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not os.path.exists(CHROMIUM), reason="needs Debian's chromium: run `make browser`"
    ),
]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """Two recap pages side by side (a typical listener in German, a hostile one)."""
    root = tmp_path_factory.mktemp("site") / "2025"
    renderer = render.Renderer(
        secret=b"browser-test-secret!",
        settings=render_conf.RenderSettings(country_locales={"DE": "de"}),
    )
    pages = {}
    for key, recap, country in [
        ("typical", S.recap(), "DE"),
        ("world", world_recap(), "US"),
        ("hostile", S.hostile('"><img src=x onerror=alert(1)><script>alert(2)</script>'), "US"),
    ]:
        token, files = renderer.render(recap, country=country)
        folder = root / token
        folder.mkdir(parents=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        pages[key] = folder
    return root, pages


@pytest.fixture(scope="module")
def server(site):
    root, _ = site
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _open(browser, url: str, **context_args):
    context = browser.new_context(viewport={"width": 420, "height": 860}, **context_args)
    page = context.new_page()
    seen = {"console": [], "requests": [], "dialogs": [], "errors": []}
    page.on("console", lambda m: seen["console"].append((m.type, m.text)))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.on("dialog", lambda d: (seen["dialogs"].append(d.message), d.dismiss()))
    page.goto(url)
    page.wait_for_load_state("load")
    return context, page, seen


def _not_blank(png: bytes) -> int:
    """Distinct colours in a coarse sample of the screenshot (a blank page has 1)."""
    width, height, rows = S.decode_png(png)
    colours = set()
    for y in range(0, height, 7):
        row = rows[y]
        for x in range(0, width, 7):
            colours.add((row[4 * x] // 16, row[4 * x + 1] // 16, row[4 * x + 2] // 16))
    return len(colours)


def _current(page) -> int:
    return int(page.get_attribute("body", "data-card"))


def _check_current_card(page, n: int) -> None:
    visible = page.locator(".card:not([hidden])")
    assert visible.count() == 1
    assert visible.get_attribute("id") == f"card-{n}"
    # lazy images load once shown; a blocked or broken image never gets a width
    page.wait_for_function(
        "() => { const i = document.querySelector('.card:not([hidden]) img');"
        " return i.complete && i.naturalWidth === 1080; }",
        timeout=5000,
    )


@pytest.mark.parametrize("how", ["file", "http"])
def test_story_steps_through_every_card(browser, site, server, how):
    root, pages = site
    folder = pages["typical"]
    url = (
        folder.joinpath("index.html").as_uri()
        if how == "file"
        else f"{server}/{folder.name}/index.html"
    )
    prefix = url.rsplit("/", 1)[0] + "/"
    context, page, seen = _open(browser, url)
    try:
        assert page.get_attribute("html", "lang") == "de"
        total = page.locator(".card").count()
        assert total == len(render.CARDS)
        assert _current(page) == 1
        _check_current_card(page, 1)
        shots = []
        for n in range(2, total + 1):
            page.keyboard.press("ArrowRight")
            assert _current(page) == n
            _check_current_card(page, n)
            shots.append(page.screenshot())
        page.keyboard.press("ArrowRight")  # past the end: stays on the last card
        assert _current(page) == total
        page.keyboard.press("ArrowLeft")
        assert _current(page) == total - 1
        page.keyboard.press("Home")
        assert _current(page) == 1
        box = page.locator(".story").bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.8, box["y"] + box["height"] * 0.5)  # tap right
        assert _current(page) == 2
        page.mouse.click(box["x"] + box["width"] * 0.1, box["y"] + box["height"] * 0.3)  # tap left
        assert _current(page) == 1
        page.click(".nav.next")
        assert _current(page) == 2
        for png in shots:
            assert _not_blank(png) > 20
        assert not [m for m in seen["console"] if m[0] in ("error", "warning")], seen["console"]
        assert seen["errors"] == []
        outside = [u for u in seen["requests"] if not u.startswith(prefix)]
        assert outside == [], outside
        assert any(u.endswith("months.svg") for u in seen["requests"])
    finally:
        context.close()


@pytest.mark.parametrize(
    "size", [(1200, 900), (1920, 1080), (768, 1024), (600, 800), (420, 860), (360, 640)]
)
def test_arrows_never_cover_the_card(browser, site, server, size):
    """The previous/next buttons sit beside the card (below it on a narrow window), never
    over it: a card's ranks, labels and clock hours run to its edges (the 2026-12 page put
    the arrows on the card's middle edges, over "6:00 AM", "Jun" and rank 4 at 1200 px).
    Both stay in the window, clickable, and the card is wholly visible."""
    _, pages = site
    width, height = size
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        page.goto(f"{server}/{pages['world'].name}/index.html")
        page.wait_for_load_state("load")
        story = page.locator(".story").bounding_box()
        assert story["x"] >= 0 and story["x"] + story["width"] <= width + 0.5, (size, story)
        assert story["y"] >= 0 and story["y"] + story["height"] <= height + 0.5, (size, story)
        assert story["height"] == pytest.approx(story["width"] * 16 / 9, abs=2)
        # as large as the window lets it be: its width or its height all but the margins,
        # the buttons below and the share row
        assert story["width"] >= min(540, width - 152) or story["height"] >= height - 160, (
            size,
            story,
        )
        for which in ("prev", "next"):
            nav = page.locator(f".nav.{which}").bounding_box()
            assert nav["width"] >= 44 and nav["height"] >= 44, (which, nav)  # a finger's target
            in_window = 0 <= nav["x"] and nav["x"] + nav["width"] <= width
            in_window = in_window and 0 <= nav["y"] and nav["y"] + nav["height"] <= height
            assert in_window, (size, which, nav)
            apart = (
                nav["x"] + nav["width"] <= story["x"]
                or nav["x"] >= story["x"] + story["width"]
                or nav["y"] >= story["y"] + story["height"]
                or nav["y"] + nav["height"] <= story["y"]
            )
            assert apart, (size, which, nav, story)
        page.click(".nav.next")
        assert _current(page) == 2
        page.click(".nav.prev")
        assert _current(page) == 1
        assert page.locator(".nav.prev").is_disabled()
    finally:
        context.close()


@pytest.mark.parametrize("size", [(1200, 900), (390, 844)])
def test_without_javascript_every_card_can_be_scrolled_to(browser, site, server, size):
    """With JavaScript off the page is a plain column of every card (no story, no
    buttons), starting at the top of the page: a centred column taller than the window
    had put its first cards above the top, where no scroll reaches (seen at both sizes)."""
    _, pages = site
    width, height = size
    context = browser.new_context(
        viewport={"width": width, "height": height}, java_script_enabled=False
    )
    page = context.new_page()
    try:
        page.goto(f"{server}/{pages['world'].name}/index.html")
        page.wait_for_load_state("load")
        cards = page.locator(".card img")
        assert cards.count() == len(render.CARDS)
        first = cards.first.bounding_box()
        assert 0 <= first["y"] < height and first["x"] >= 0, (size, first)
        assert first["x"] + first["width"] <= width + 0.5, (size, first)
        assert not page.locator(".nav.prev").is_visible()
        assert not page.locator(".nav.next").is_visible()
        # scrolled to the end, the last card (taller than a 900 px window) ends on screen
        page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
        last = page.locator(".card img").last.bounding_box()
        assert 0 < last["y"] + last["height"] <= height, (size, last)
        assert page.locator("#download").is_visible()
    finally:
        context.close()


def test_swipe_on_a_touch_screen(browser, site, server):
    _, pages = site
    context, page, seen = _open(
        browser, f"{server}/{pages['typical'].name}/index.html", has_touch=True, is_mobile=True
    )
    try:

        def swipe(dx):
            page.evaluate(
                """(dx) => {
                const s = document.querySelector('.story');
                const t = (x) => new Touch({identifier: 1, target: s, clientX: x, clientY: 300});
                s.dispatchEvent(new TouchEvent('touchstart', {changedTouches: [t(300)], bubbles: true}));
                s.dispatchEvent(new TouchEvent('touchend', {changedTouches: [t(300 + dx)], bubbles: true, cancelable: true}));
            }""",
                dx,
            )

        swipe(-150)
        assert _current(page) == 2
        swipe(150)
        assert _current(page) == 1
        assert seen["errors"] == []
    finally:
        context.close()


def test_hostile_page_runs_no_injected_script(browser, site, server):
    _, pages = site
    url = f"{server}/{pages['hostile'].name}/index.html"
    context, page, seen = _open(browser, url)
    try:
        total = page.locator(".card").count()
        for _ in range(total):
            page.keyboard.press("ArrowRight")
        assert _current(page) == total
        assert seen["dialogs"] == []  # no alert() ever ran
        assert page.locator("script").count() == 1
        assert page.locator("img").count() == total  # only the cards' images
        assert not [m for m in seen["console"] if m[0] == "error"], seen["console"]
        prefix = url.rsplit("/", 1)[0] + "/"
        assert [u for u in seen["requests"] if not u.startswith(prefix)] == []
    finally:
        context.close()


def test_reduced_motion_turns_animation_off(browser, site, server):
    _, pages = site
    context, page, _ = _open(
        browser, f"{server}/{pages['typical'].name}/index.html", reduced_motion="reduce"
    )
    try:
        name = page.evaluate(
            "() => getComputedStyle(document.querySelector('.card img')).animationName"
        )
        assert name == "none"
    finally:
        context.close()
    context, page, _ = _open(browser, f"{server}/{pages['typical'].name}/index.html")
    try:
        name = page.evaluate(
            "() => getComputedStyle(document.querySelector('.card img')).animationName"
        )
        assert name == "appear"
    finally:
        context.close()


def test_share_falls_back_to_download_without_web_share(browser, site, server):
    _, pages = site
    context, page, seen = _open(
        browser, f"{server}/{pages['typical'].name}/index.html", accept_downloads=True
    )
    try:
        has_share = page.evaluate("() => typeof navigator.share")
        if has_share != "undefined":
            page.evaluate(
                "() => { Object.defineProperty(navigator, 'share', {value: undefined}); }"
            )
        with page.expect_download() as info:
            page.click("#share")
        assert info.value.suggested_filename == "encore-2025-minutes.png"  # the card on screen
        assert seen["errors"] == []
    finally:
        context.close()


def _card_number(page, card: str) -> int:
    files = page.eval_on_selector_all(".card img", "els => els.map(e => e.getAttribute('src'))")
    return files.index(f"{card}.svg") + 1


@pytest.mark.parametrize("card", ["top-songs", "months", "summary"])
def test_any_card_downloads_as_the_png_the_server_draws(browser, site, server, card):
    """Download image on a card: the page draws the card's SVG (fonts inside) into a
    canvas; the file is a 1080x1920 PNG matching resvg's rasterisation of that SVG."""
    _, pages = site
    folder = pages["world"]
    prefix = f"{server}/{folder.name}/"
    context, page, seen = _open(browser, prefix + "index.html", accept_downloads=True)
    try:
        n = _card_number(page, card)
        for _ in range(n - 1):
            page.keyboard.press("ArrowRight")
        _check_current_card(page, n)
        with page.expect_download() as info:
            page.click("#download")
        assert info.value.suggested_filename == f"encore-2025-{card}.png"
        png = Path(info.value.path()).read_bytes()
        mine = _pixels(png)
        assert mine.shape == (1920, 1080, 3)
        svg = (folder / f"{card}.svg").read_text(encoding="utf-8")
        theirs = _pixels(
            render.Renderer(
                secret=b"x" * 20, settings=render_conf.RenderSettings(), png=False
            ).rasterise(svg)
        )
        diff = abs(mine - theirs).max(axis=2)
        # two rasterisers (Skia, resvg) anti-alias edges differently; glyphs and layout agree
        assert float(diff.mean()) < 1.5 and float((diff > 64).mean()) < 0.005, (
            float(diff.mean()),
            float((diff > 64).mean()),
        )
        assert not [m for m in seen["console"] if m[0] == "error"], seen["console"]
        assert [
            u
            for u in seen["requests"]
            if not u.startswith(prefix) and not u.startswith("blob:") and not u.startswith("data:")
        ] == []
    finally:
        context.close()


def test_share_sends_the_card_on_screen_as_a_png_file(browser, site, server):
    _, pages = site
    context, page, seen = _open(browser, f"{server}/{pages['world'].name}/index.html")
    try:
        page.evaluate("""() => {
            window.shared = null;
            navigator.canShare = (d) => !!(d && d.files);
            navigator.share = async (d) => {
                const f = d.files[0];
                const bytes = new Uint8Array(await f.arrayBuffer());
                window.shared = {name: f.name, type: f.type, title: d.title,
                                 head: Array.from(bytes.slice(0, 24))};
            };
        }""")
        page.keyboard.press("End")
        page.click("#share")
        page.wait_for_function("() => window.shared !== null", timeout=10000)
        shared = page.evaluate("() => window.shared")
        assert shared["name"] == "encore-2025-summary.png" and shared["type"] == "image/png"
        head = bytes(shared["head"])
        assert head[:8] == b"\x89PNG\r\n\x1a\n"
        assert (
            int.from_bytes(head[16:20], "big") == 1080
            and int.from_bytes(head[20:24], "big") == 1920
        )
        assert seen["errors"] == []
    finally:
        context.close()


def test_page_folder_is_all_a_host_needs(site):
    _, pages = site
    names = sorted(p.name for p in Path(pages["typical"]).iterdir())
    assert names == sorted(
        [
            "index.html",
            "recap.json",
            "summary.png",
            *[f"{n}.svg" for n, _ in render.CARDS],
            render.PLAYLIST_M3U,
            render.PLAYLIST_XSPF,
            render.PLAYLIST_JSPF,
        ]
    )
