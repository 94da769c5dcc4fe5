"""Issue 15, items 6, 8, 9, 11-14: the security review's findings, each reproduced here
with the hostile input in it (docs/reliability.md, "Hardening (issue 15: ...)")."""

from __future__ import annotations

import json
import os
import signal
import stat
import zipfile
from pathlib import Path

import pytest

from encore.ingest import exports
from encore.platform.errors import EncoreError

PLAY = {
    "ts": "2025-03-01T10:00:00Z",
    "ms_played": 200000,
    "platform": "ios",
    "conn_country": "FR",
    "master_metadata_track_name": "Mine",
    "master_metadata_album_artist_name": "Me",
    "spotify_track_uri": "spotify:track:4uLU6hMCjMI75M1A2tKUQC",
}


def _export(folder: Path, name: str = "Streaming_History_Audio_2025.json", plays=(PLAY,)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(list(plays)))
    return folder


def _fail_after(seconds: int):
    """A test that would block on old code (a FIFO) fails instead of hanging."""

    def expired(signum, frame):
        raise AssertionError(f"still reading after {seconds} s: the export reader blocked")

    signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)


# --- item 6: personal exports read only their own regular files, capped -------------------------
def test_export_link_to_another_listeners_export_is_refused(tmp_path):
    other = _export(tmp_path / "other", plays=[{**PLAY, "master_metadata_track_name": "Not mine"}])
    mine = _export(tmp_path / "mine")
    os.symlink(
        other / "Streaming_History_Audio_2025.json", mine / "Streaming_History_Audio_2024.json"
    )
    with pytest.raises(
        EncoreError, match=r"Streaming_History_Audio_2024\.json: is a symbolic link"
    ) as err:
        exports.collect(str(mine), None, "usr_me")
    assert "\n" not in str(err.value)


def test_export_link_to_a_folder_outside_is_refused(tmp_path):
    other = _export(tmp_path / "other")
    mine = _export(tmp_path / "mine")
    os.symlink(other, mine / "more")
    with pytest.raises(EncoreError, match=r"more: is a symbolic link"):
        exports.collect(str(mine), None, "usr_me")


@pytest.mark.parametrize("target", ["/proc/self/environ", "/dev/zero"])
def test_export_link_to_a_special_file_is_refused(tmp_path, target, monkeypatch):
    monkeypatch.setenv("ENCORE_SHARE_SECRET", "secret-that-must-not-leak-0123456789")
    monkeypatch.setattr(
        exports.reading, "MAX_ENTRY_BYTES", 1 << 20
    )  # old code: /dev/zero reads for ever
    mine = _export(tmp_path / "mine")
    os.symlink(target, mine / "endsong_0.json")
    with pytest.raises(EncoreError, match=r"endsong_0\.json: is a symbolic link"):
        exports.collect(str(mine), None, "usr_me")


@pytest.mark.parametrize("target", ["/proc/self/environ", "/dev/zero"])
def test_special_file_given_as_the_export_is_refused(target, monkeypatch):
    monkeypatch.setattr(exports.reading, "MAX_ENTRY_BYTES", 1 << 20)
    with pytest.raises(
        EncoreError, match=r"(gives more bytes than its size|is not a regular file)"
    ):
        list(exports.read_entries(target))


def test_export_fifo_is_refused_not_read(tmp_path):
    mine = _export(tmp_path / "mine")
    os.mkfifo(mine / "StreamingHistory0.json")
    _fail_after(10)
    try:
        with pytest.raises(
            EncoreError, match=r"StreamingHistory0\.json: is not a regular file \(a FIFO\)"
        ):
            exports.collect(str(mine), None, "usr_me")
    finally:
        signal.alarm(0)


def test_bytes_read_per_export_are_capped(tmp_path, monkeypatch):
    mine = tmp_path / "mine"
    for i in range(4):
        _export(mine, f"Streaming_History_Audio_202{i}.json", plays=[PLAY] * 20)
    size = (mine / "Streaming_History_Audio_2020.json").stat().st_size
    monkeypatch.setattr(
        exports.reading, "MAX_TOTAL_BYTES", 3 * size
    )  # each file fits, the four do not
    with pytest.raises(
        EncoreError,
        match=r"--input .*mine: more than .* read by Streaming_History_Audio_2023\.json",
    ):
        exports.collect(str(mine), None, "usr_me")


def test_zip_entry_that_is_a_link_is_refused(tmp_path):
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("Streaming_History_Audio_2025.json", json.dumps([PLAY]))
        link = zipfile.ZipInfo("endsong_0.json")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/proc/self/environ")
    with pytest.raises(
        EncoreError, match=r"entry 'endsong_0\.json': is not a regular file \(a symbolic link\)"
    ):
        exports.collect(str(path), None, "usr_me")


# --- item 14: a damaged zip is a bad input, not a crash --------------------------------------------
def test_damaged_zip_entry_is_a_one_line_bad_input_error(tmp_path):
    path = tmp_path / "export.zip"
    body = json.dumps([PLAY] * 50).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("Streaming_History_Audio_2025.json", body)
    raw = bytearray(path.read_bytes())
    at = raw.index(body[:40]) + 20
    raw[at] ^= 0xFF  # one flipped byte: the CRC no longer matches
    path.write_bytes(bytes(raw))
    with pytest.raises(
        EncoreError,
        match=r"export\.zip: entry 'Streaming_History_Audio_2025\.json' cannot be read "
        r"\(BadZipFile",
    ) as err:
        exports.collect(str(path), None, "usr_me")
    assert "\n" not in str(err.value)


# --- item 9: a release is exclusive on every root; the ledger is checked before and after --------
YEAR = 2025
RACE_CATALOG = {
    "top_artist": {
        "kind": "count",
        "source": "streams",
        "keys": ["artist"],
        "max_groups": 1,
        "max_rows_per_group": 1,
        "weight": 1,
    },
    "top_artists": {
        "kind": "count",
        "source": "streams",
        "keys": ["artist"],
        "max_groups": 2,
        "max_rows_per_group": 1,
        "weight": 1,
    },
}


@pytest.fixture(scope="module")
def race_world(spark, cfg):
    import copy

    from pyspark.sql import functions as F

    from encore import facts
    from encore.facts import catalog as fc

    c = copy.deepcopy(cfg)
    c["facts"]["catalog"] = RACE_CATALOG
    c["facts"]["reserve_weight"] = 1
    c["privacy"]["min_count"] = 5
    c["privacy"]["epsilon_per_year"] = 3.0  # each fact: weight 1 of 3, epsilon 1.0
    streams = (
        spark.range(120)
        .select(
            F.concat(F.lit("listener-"), (F.col("id") % 60).cast("string")).alias("user_id"),
            F.when(F.col("id") < 60, "Artist A").otherwise("Artist B").alias("artist_name"),
            F.lit("ios").alias("platform"),
            F.lit("FR").alias("country"),
            F.lit("25-34").alias("age_band"),
            F.lit(12).cast("long").alias("hour"),
            F.lit("2025-03-03").alias("local_date"),
            F.lit(None).cast("string").alias("track_name"),
            F.lit(None).cast("string").alias("album_name"),
        )
        .cache()
    )
    artists = spark.createDataFrame(
        [("Artist A", []), ("Artist B", [])], "artist_name string, genres array<string>"
    )
    inputs = facts.Inputs(private={"streams": streams}, artists=artists)
    return c, {s.id: s for s in fc.catalog(c)}, inputs


def _root(tmp_path, kind: str) -> str:
    folder = tmp_path / "data"
    folder.mkdir(parents=True)
    return str(folder) if kind == "local" else f"file://{folder}"


def _seed_ledger(root: str, epsilon: float) -> None:
    from encore import facts
    from encore.platform import storage

    entry = {
        "year": YEAR,
        "fact_id": "earlier",
        "signature": "earlier",
        "params": {},
        "epsilon": epsilon,
        "delta": 0.0,
        "mechanism": "",
        "time": "2025-12-01T00:00:00Z",
        "run_id": "earlier",
    }
    storage.write_text_atomic(
        storage.join(facts.ledger_path(root, YEAR), "earlier.jsonl"), json.dumps(entry) + "\n"
    )


def _at_once(spark, root, c, inputs, spec_lists):
    """Every release in its own thread, all started together; (results, errors)."""
    import threading

    from encore import facts

    barrier = threading.Barrier(len(spec_lists))
    results, errors = {}, {}

    def one(i, specs):
        try:
            barrier.wait()
            results[i] = facts.release(spark, root, YEAR, specs, c, f"race-{i}", inputs=inputs)
        except BaseException as err:  # anything, kept so the assertion shows it (a thread's
            errors[i] = err  # own exception would otherwise vanish from the report)

    threads = [threading.Thread(target=one, args=(i, s)) for i, s in enumerate(spec_lists)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    stuck = [t for t in threads if t.is_alive()]
    if stuck:  # say where it hangs rather than report a missing result
        import sys
        import traceback

        frames = sys._current_frames()
        where = "".join(
            f"\n--- {t.name}\n" + "".join(traceback.format_stack(frames[t.ident])) for t in stuck
        )
        raise AssertionError(f"{len(stuck)} release(s) still running after 600 s:{where}")
    assert set(results) | set(errors) == set(range(len(spec_lists))), (
        "a release thread ended with neither a result nor an error",
        results,
        errors,
    )
    return results, errors


@pytest.mark.parametrize(
    "kind",
    [
        "local",
        pytest.param(
            "file-uri",
            marks=pytest.mark.xfail(
                strict=False,
                reason="open defect (issue 20's closing note): on a :// root one of the two "
                "release threads sometimes ends with neither a result nor a caught "
                "exception, so no release happens; seen 3 times in 5 runs since "
                "2026-12-02, cause not found",
            ),
        ),
    ],
)
def test_two_releases_at_once_never_exceed_the_budget_nor_draw_a_fact_twice(
    spark, race_world, tmp_path, kind
):
    from encore import facts
    from encore.platform.errors import BudgetExceeded
    from encore.platform.locks import RunLocked

    c, specs, inputs = race_world
    total = c["privacy"]["epsilon_per_year"]

    # the same fact asked twice at once: drawn once, its release never overwritten
    root = _root(tmp_path / "same", kind)
    results, errors = _at_once(
        spark, root, c, inputs, [[specs["top_artist"]], [specs["top_artist"]]]
    )
    assert results, errors
    assert all(isinstance(e, RunLocked) for e in errors.values()), errors
    ledger = facts.read_ledger(root, YEAR)
    assert [e["fact_id"] for e in ledger] == ["top_artist"], ledger
    runs = {r["run_id"] for r in facts.load_released(root, YEAR)}
    assert len(runs) == 1 and runs == {ledger[0]["run_id"]}

    # two facts that each fit in what is left, but not both: never both released
    root = _root(tmp_path / "both", kind)
    _seed_ledger(root, total - 1.5)  # 1.5 left; each fact needs 1.0
    results, errors = _at_once(
        spark, root, c, inputs, [[specs["top_artist"]], [specs["top_artists"]]]
    )
    # at most one goes on; on a :// root both may withdraw (each saw the other's claim:
    # locks.exclusive), never both go on
    assert len(results) <= 1, (results, errors)
    assert len(results) == 1 or kind == "file-uri", (results, errors)
    assert all(isinstance(e, RunLocked | BudgetExceeded) for e in errors.values()), errors
    used, _ = facts.spent(root, YEAR)
    assert used <= total * 1.000001, f"epsilon {used} spent of {total}"
    released = {r["fact_id"] for r in facts.load_released(root, YEAR)}
    assert released == (set(next(iter(results.values()))) if results else set())


@pytest.mark.parametrize("kind", ["local", "file-uri"])
def test_release_withdraws_when_the_ledger_moved_under_it(spark, race_world, tmp_path, kind):
    """A writer that did not take the lock (an older job, a hand edit) adds a ledger
    entry while the release is being evaluated: the release publishes nothing and
    leaves no spend of its own."""
    from encore import facts
    from encore.platform.locks import RunLocked

    c, specs, inputs = race_world
    root = _root(tmp_path, kind)

    def meanwhile(line: str) -> None:
        if line.startswith("evaluating"):
            _seed_ledger(root, 0.5)

    with pytest.raises(
        RunLocked, match=r"privacy ledger for 2025 changed while this release was computed"
    ):
        facts.release(
            spark, root, YEAR, [specs["top_artist"]], c, "late", inputs=inputs, say=meanwhile
        )
    assert [e["fact_id"] for e in facts.read_ledger(root, YEAR)] == ["earlier"]
    assert facts.load_released(root, YEAR) == []


def _library_scratch(spark) -> list[str]:
    """Tumult's scratch databases in the session's catalog, and any folder of one left
    in the Spark warehouse."""
    from urllib.parse import urlparse

    names = [d.name for d in spark.catalog.listDatabases() if d.name.startswith("tumult_temp_")]
    warehouse = urlparse(spark.conf.get("spark.sql.warehouse.dir")).path
    folders = sorted(os.listdir(warehouse)) if os.path.isdir(warehouse) else []
    return names + [f for f in folders if f.startswith("tumult_temp_")]


def test_no_draw_outlives_its_release(spark, race_world, tmp_path):
    """The library writes every noisy answer it draws to a table of its own database in
    the Spark warehouse (``tumult_temp_<time>_<uuid>``) and left it there: each run of
    `encore facts` left one under ./spark-warehouse of wherever it was started, with the
    raw noisy value of every suppressed key, and a release that withdrew (the ledger
    moved) left draws that no ledger entry counts. A release now drops it once the
    values are in hand, published or withdrawn, and the next release still works."""
    from encore import facts
    from encore.platform.locks import RunLocked

    c, specs, inputs = race_world
    import tempfile
    from urllib.parse import urlparse

    # a session Encore starts keeps its warehouse out of the folder it was started in
    warehouse = Path(urlparse(spark.conf.get("spark.sql.warehouse.dir")).path)
    assert warehouse != Path.cwd() / "spark-warehouse", warehouse
    assert warehouse.parent == Path(tempfile.gettempdir()), warehouse
    assert warehouse.name.startswith("encore-spark-warehouse-"), warehouse

    first = facts.release(
        spark, _root(tmp_path / "a", "local"), YEAR, [specs["top_artist"]], c, "a", inputs=inputs
    )
    assert first["top_artist"].values() and _library_scratch(spark) == []

    root = _root(tmp_path / "b", "local")

    def meanwhile(line: str) -> None:
        if line.startswith("evaluating"):
            _seed_ledger(root, 0.5)

    with pytest.raises(RunLocked, match="changed while this release was computed"):
        facts.release(
            spark, root, YEAR, [specs["top_artist"]], c, "late", inputs=inputs, say=meanwhile
        )
    assert _library_scratch(spark) == []  # the withdrawn draw is not kept either

    again = facts.release(
        spark, _root(tmp_path / "c", "local"), YEAR, [specs["top_artists"]], c, "c", inputs=inputs
    )
    assert again["top_artists"].values() and _library_scratch(spark) == []


def test_only_the_scratch_of_processes_that_no_longer_run_is_removed(tmp_path, monkeypatch):
    """A killed release's draws stay in its scratch warehouse (its exit hook never ran);
    the next local session removes the folders of this user's Encore processes that no
    longer run, and nothing else: not a live process's, not another user's, not a link
    (tests/jobs/test_reliability.py kills a release for real)."""
    import subprocess
    import tempfile

    from encore.platform import spark as sp

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.Popen(["true"])  # noqa: S607
    gone.wait()
    dead, live = gone.pid, os.getpid()
    assert not sp._alive(dead) and sp._alive(live)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not Encore's")
    folders = {
        "dead": f"{sp.SCRATCH_PREFIX}{dead}-a1b2",
        "live": f"{sp.SCRATCH_PREFIX}{live}-c3d4",
        "no pid": f"{sp.SCRATCH_PREFIX}g2the68g",
        "not ours": f"spark-{dead}-e5f6",
        "theirs": f"{sp.SCRATCH_PREFIX}{dead}-g7h8",
    }
    for name in folders.values():
        (tmp_path / name / "tumult_temp_1.db").mkdir(parents=True)
    link = tmp_path / f"{sp.SCRATCH_PREFIX}{dead}-link"
    link.symlink_to(outside)
    as_root = os.geteuid() == 0
    if as_root:  # only root can give a folder to another user
        os.chown(tmp_path / folders["theirs"], 12345, 12345)

    removed = sp.remove_dead_scratch()

    expect_gone = {"dead"} | (set() if as_root else {"theirs"})
    assert sorted(removed) == sorted(str(tmp_path / folders[k]) for k in expect_gone)
    for key, name in folders.items():
        assert (tmp_path / name).exists() == (key not in expect_gone), key
    assert link.is_symlink() and (outside / "keep.txt").read_text() == "not Encore's"
    # this process's own (made now, or when its session started) is named by its process
    # id and private
    made = sp.scratch_warehouse()
    assert os.path.basename(made).startswith(f"{sp.SCRATCH_PREFIX}{live}-"), made
    assert stat.S_IMODE(os.stat(made).st_mode) == 0o700


def test_claims_on_a_uri_root_let_one_run_in_at_a_time(tmp_path):
    """``locks.exclusive`` on a :// root (file:// here): eight threads race for it,
    twenty rounds; two are never inside at once."""
    import threading
    import time

    from encore.platform import locks
    from encore.platform.locks import RunLocked

    root = f"file://{tmp_path}"
    inside, overlaps, entered = [0], [], [0]
    guard = threading.Lock()
    for _ in range(20):
        barrier = threading.Barrier(8)

        def one(barrier=barrier):
            barrier.wait()
            try:
                with locks.exclusive(root, "ledger-2025", "race"):
                    with guard:
                        inside[0] += 1
                        entered[0] += 1
                        if inside[0] > 1:
                            overlaps.append(inside[0])
                    time.sleep(0.01)
                    with guard:
                        inside[0] -= 1
            except RunLocked:
                pass

        threads = [threading.Thread(target=one) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not overlaps
    assert entered[0] >= 1
    assert os.listdir(tmp_path / "locks" / "ledger-2025.claims") == []


# --- item 11: campaign templates render in a child with a memory cap and a hard kill -----------
from test_campaign import _released, _render  # noqa: E402
from test_facts import CATALOG, _cfg  # noqa: E402


@pytest.fixture()
def cspecs(cfg):
    from encore.facts import catalog as fc

    return {s.id: s for s in fc.catalog(_cfg(cfg, CATALOG))}


GOOD_LINE = (["titled"], "{{ f.titled.about }} playlists are called God is a man.")


def _titled(specs):
    return {"titled": _released(specs["titled"], [({"phrase": "God is a man"}, 120, 6)])}


@pytest.mark.parametrize(
    "evil",
    [
        "{{ 'x'|center(4*10**8) }}",
        "{{ '%0300000000d'|format(1) }}",
        "{{ '%0300000000d' % 1 }}",
        "{{ 'x'|indent(400000000, true) }}",
        "{{ 'abc'|replace('', 'x' * 1000) }}",
        "{{ range(10)|batch(400000000, 'x')|list|length }}",
        "{% set a = 'x' * 200000 %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}"
        "{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}{% set a = a ~ a %}"
        "{% set a = a ~ a %}{% set a = a ~ a %}{{ a|length }}",
    ],
    ids=["center", "format-filter", "percent", "indent", "replace", "batch", "doubling-sets"],
)
def test_campaign_template_that_allocates_hundreds_of_mb_is_refused_and_the_export_goes_on(
    tmp_path, cspecs, evil
):
    out = _render(
        tmp_path, cspecs, {"evil": (["titled"], evil), "good": GOOD_LINE}, _titled(cspecs)
    )
    assert [r["line"] for r in out.copy] == ["good"]
    [note] = out.notes
    assert note.startswith("FR/en/evil: refused: "), note
    assert (
        "would build more than" in note or "needs more than" in note or "output longer" in note
    ), note


@pytest.mark.parametrize(
    "evil",
    [
        "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
        "{{ lipsum(10**6) }}",
    ],
)
def test_campaign_templates_have_no_namespace_nor_lipsum(tmp_path, cspecs, evil):
    out = _render(
        tmp_path, cspecs, {"evil": (["titled"], evil), "good": GOOD_LINE}, _titled(cspecs)
    )
    assert [r["line"] for r in out.copy] == ["good"]
    assert out.notes[0].startswith("FR/en/evil: dropped: no released value for "), out.notes


@pytest.mark.parametrize(
    "evil",
    ["{{ 'x'.ljust(400000000) }}", "{{ '{:>400000000}'.format(1) }}", "{{ 'x'.zfill(400000000) }}"],
)
def test_padding_str_methods_are_refused_by_the_sandbox(tmp_path, cspecs, evil):
    with pytest.raises(EncoreError, match=r"refused by the sandbox"):
        _render(tmp_path, cspecs, {"evil": (["titled"], evil)}, _titled(cspecs))


def test_one_c_call_that_runs_for_ever_is_killed(tmp_path):
    """(((3**64)**64)**64)**64 is one C call of ~20 s: no signal handler runs during it,
    the parent's kill does."""
    import time

    from encore.campaign.sandbox import Renderer

    with Renderer(seconds=1.0) as renderer:
        started = time.monotonic()
        status, reason = renderer.render(
            "{{ ((((3 ** 64) ** 64) ** 64) ** 64) % 7 }}",
            {},
            autoescape=False,
            max_chars=600,
            what="FR/en/slow",
        )
        took = time.monotonic() - started
        assert (status, reason) == (
            "refused",
            "FR/en/slow: rendering took longer than 1 s (stopped)",
        )
        assert took < 5
        # a new child takes over for the next line
        assert renderer.render("{{ 6 * 7 }}", {}, autoescape=False, max_chars=600, what="next") == (
            "ok",
            "42",
        )


def test_the_address_space_cap_stops_what_no_filter_check_sees():
    from encore.campaign.sandbox import Renderer

    with Renderer(memory_mb=64) as renderer:
        status, reason = renderer.render(
            "{% set a = (range(99999)|list) %}{% set b = a + a %}{% set b = b + b %}"
            "{% set b = b + b %}{% set b = b + b %}{% set b = b + b %}{% set b = b + b %}"
            "{% set b = b + b %}{% set b = b + b %}{{ b|length }}",
            {},
            autoescape=False,
            max_chars=600,
            what="FR/en/lists",
        )
        assert (status, reason) == ("refused", "FR/en/lists: needs more than 64 MB of memory")


# --- item 14: a template's TypeError / ZeroDivisionError is a one-line bad-input error -----------
@pytest.mark.parametrize(
    "evil,error",
    [
        ("{{ 1 / 0 }}", "ZeroDivisionError"),
        ("{{ 'a' + 1 }}", "TypeError"),
        ("{{ 'a' + }}", "template syntax error"),
    ],
)
def test_broken_campaign_template_is_a_one_line_bad_input_error(tmp_path, cspecs, evil, error):
    with pytest.raises(
        EncoreError, match=rf"campaign test_camp.*copy\.en\.toml line 'evil'.*{error}"
    ) as err:
        _render(tmp_path, cspecs, {"evil": (["titled"], evil)}, _titled(cspecs))
    assert "\n" not in str(err.value)


# --- item 12: copy.md is escaped Markdown; billboards cannot embed local files -------------------
EVIL_LABEL = "[x](javascript:alert(1)) <img src=x onerror=alert(1)> **bold** # 1. | a |"


def _unescape_markdown(text: str) -> str:
    import html
    import re

    return html.unescape(re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text))


def test_copy_md_escapes_markdown_and_html_from_fact_labels(tmp_path, cspecs):
    from encore.campaign import definition, export, rendering

    released = {"artists": _released(cspecs["artists"], [({"artist_name": EVIL_LABEL}, 9000, 40)])}
    copy = {
        "top": (
            ["artists"],
            "{{ f.artists.top[0].label }} wins with {{ f.artists.top[0].about }} plays.",
        )
    }
    camp = definition.load_campaign("test_camp", _campaign_folder(tmp_path, copy))
    out = rendering.render_campaign(
        camp, {"artists": cspecs["artists"]}, released, year=YEAR, locales=["en"], markets=["FR"]
    )
    folder = export.write_export(str(tmp_path / "data"), YEAR, camp, out, "run-md", png=False)
    md = (Path(folder) / "copy.md").read_text()
    [line] = [ln for ln in md.splitlines() if "wins with" in ln]
    body = line.split("**: ", 1)[1]
    assert "<" not in body and ">" not in body  # no HTML tag survives
    assert "](" not in body and "**" not in body and "[x]" not in body  # no link, no emphasis
    assert (
        _unescape_markdown(body) == out.copy[0]["text"]
    )  # and the reader still sees the label as typed
    assert out.copy[0]["text"].startswith(EVIL_LABEL)


def _campaign_folder(tmp_path, lines, svg=None):
    from test_campaign import _campaign

    root = _campaign(tmp_path, lines)
    if svg is not None:
        (root / "test_camp" / "billboard.svg").write_text(svg, encoding="utf-8")
    return root


def _red_png(path: Path) -> None:
    import struct
    import zlib

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 10 for _ in range(10))

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", 10, 10, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    "href", ["ABS", "secret.png", "file:///etc/hostname", "data:image/svg+xml;base64,PHN2Zy8+"]
)
def test_billboard_that_embeds_a_local_image_is_refused(tmp_path, cspecs, href, monkeypatch):
    from encore.campaign import definition, rendering

    _red_png(tmp_path / "secret.png")
    monkeypatch.chdir(tmp_path)
    href = str(tmp_path / "secret.png") if href == "ABS" else href
    svg = (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="800" height="200">'
        f'<image xlink:href="{href}" width="800" height="200"/>{{% for l in lines %}}<text>{{{{ l }}}}</text>'
        "{% endfor %}</svg>"
    )
    camp = definition.load_campaign(
        "test_camp", _campaign_folder(tmp_path / "c", {"god": GOOD_LINE}, svg)
    )
    out = rendering.render_campaign(
        camp,
        {"titled": cspecs["titled"]},
        _titled(cspecs),
        year=YEAR,
        locales=["en"],
        markets=["FR"],
    )
    assert out.billboards == {}
    assert [r["line"] for r in out.copy] == ["god"]  # the copy line itself is fine
    assert out.notes == [
        f"FR/en/god: billboard refused: the SVG references {href[:80]!r}: only #id and "
        "data:image/png|jpeg|gif|webp are allowed"
    ]


def test_billboards_are_rasterised_with_an_empty_resources_folder(tmp_path, monkeypatch):
    """Even an SVG that reached the rasteriser cannot pull in a file next to where the job runs."""
    from encore.campaign import definition, export, rendering

    _red_png(tmp_path / "secret.png")
    monkeypatch.chdir(tmp_path)
    camp = definition.Campaign("c", "T", "", ["en"], ["FR"], [], [])
    head = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    made = rendering.Export(
        [],
        [],
        {
            "with": head + '<image href="secret.png" width="10" height="10"/></svg>',
            "blank": head + "</svg>",
        },
        {},
    )
    folder = Path(export.write_export(str(tmp_path / "data"), YEAR, camp, made, "run-png"))
    assert (folder / "billboards" / "with.png").read_bytes() == (
        folder / "billboards" / "blank.png"
    ).read_bytes()


# --- item 8: the public demo secret only on a data root the generator made ------------------------
@pytest.mark.parametrize(
    "command",
    [
        ["render", "--year", "2025"],
        ["publish", "--year", "2025"],
        ["export-user", "--user-id", "usr_someone"],
        ["erase-user", "--user-id", "usr_someone"],
    ],
    ids=lambda c: c[0],
)
def test_demo_secret_is_refused_on_real_data(tmp_path, monkeypatch, capsys, command):
    from encore import cli
    from encore.platform import config

    monkeypatch.delenv(config.SECRET_ENV, raising=False)
    real = tmp_path / "real"
    (real / "users").mkdir(parents=True)  # a data root `encore generate` did not make
    code = cli.main([command[0], "--data", str(real), *command[1:], "--demo"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert f"--demo: {real} was not made by `encore generate` or `encore demo`" in err
    assert not (real / "site").exists() and not (real / "reports").exists()


def test_demo_secret_is_accepted_on_a_generated_root_only(tmp_path, monkeypatch):
    from encore.platform import config
    from encore.tools import generate

    monkeypatch.delenv(config.SECRET_ENV, raising=False)
    made = str(tmp_path / "made")
    generate.generate(made, users=3, years=[2025], seed=5, mean_plays=3)
    assert config.is_generated(made)
    assert config.share_secret(demo=True, root=made) == config.DEMO_SECRET
    with pytest.raises(config.ConfigError, match="was not made by `encore generate`"):
        config.share_secret(demo=True, root=str(tmp_path / "elsewhere"))
    monkeypatch.setenv(config.SECRET_ENV, "a-real-secret-of-enough-length")
    assert (
        config.share_secret(demo=True, root=str(tmp_path / "elsewhere"))
        == b"a-real-secret-of-enough-length"
    )


# --- item 13: quarantine redaction by parsing and by pattern; endsong's personal fields ---------
IP4, IP6 = "81.2.69.160", "2001:db8::ff00:42:8329"
PLATFORM_BAD = {
    "user_id": "usr_q",
    "ts": "2025-03-01T10:00:00Z",
    "ms_played": -5,
    "platform": "ios",
    "master_metadata_track_name": "T",
    "master_metadata_album_artist_name": "A",
}


@pytest.mark.parametrize(
    "record",
    [
        json.dumps({**PLATFORM_BAD, "ip_addr": 1364411808}),  # numeric: 81.83.x.x as an integer
        json.dumps({**PLATFORM_BAD, "IP_ADDR": 1364411808}),
        json.dumps({**PLATFORM_BAD, "ip_addr": "host-1364411808"}).replace(
            '"ip_addr"', '"ip\\u005faddr"'
        ),
        json.dumps({**PLATFORM_BAD, "ip_addr": "host-1364411808"}).replace(
            '"ip_addr"', '"ip_add\\u0072"'
        ),
        json.dumps({**PLATFORM_BAD, "platform": f"android via {IP4}."}),  # trailing-dot IPv4
        json.dumps({**PLATFORM_BAD, "platform": f"web {IP6}"}),
        json.dumps({**PLATFORM_BAD, "platform": "web ::ffff:10.20.30.40"}),
        json.dumps({**PLATFORM_BAD, "IP_ADDR": 1364411808})[:-3],  # cut short: bad JSON, by pattern
    ],
    ids=[
        "numeric",
        "upper-case-key",
        "escaped-key",
        "escaped-key-end",
        "trailing-dot",
        "ipv6",
        "v4-mapped",
        "bad-json-numeric",
    ],
)
def test_quarantine_redacts_every_form_of_ip_address(spark, cfg, record):
    from encore.ingest import canonical

    df = spark.createDataFrame([(record, "raw/events/f.jsonl")], "value string, source_file string")
    [row] = (
        canonical.parse_events(
            df.select("value", "source_file"), ingest_cfg=cfg["ingest"], source="platform-log"
        )
        .select("reason", "record")
        .collect()
    )
    assert row.reason is not None
    kept = row.record
    for secret in (IP4, IP6, "136441", "10.20.30.40", "81.2.69", "db8::", "::ffff"):
        assert secret not in kept, kept
    assert "usr_q" in kept  # the rest of the record is kept for the person who reads quarantine


def test_rejected_endsong_rows_keep_neither_username_nor_user_agent(spark, cfg, tmp_path):
    row = {
        "ts": "2016-07-21T19:44:02Z",
        "username": "alice-the-listener",
        "platform": "Android OS",
        "ms_played": -1,
        "conn_country": "SE",
        "ip_addr_decrypted": IP4,
        "user_agent_decrypted": "unknown Mozilla/5.0 (Linux; Android 6.0) secret-agent",
        "master_metadata_track_name": "Cheap Thrills",
        "master_metadata_album_artist_name": "Sia",
        "spotify_track_uri": "spotify:track:27SdWb2rFzO6GWiYDBTD9j",
    }
    folder = _export(tmp_path / "export", "endsong_0.json", plays=[row])
    exports.ingest_export(
        spark,
        cfg,
        root=str(tmp_path / "data"),
        run_id="q1",
        source=None,
        input_path=str(folder),
        user_id="usr_q",
        quiet=True,
    )
    import pyarrow.parquet as pq

    [kept] = pq.read_table(tmp_path / "data" / "quarantine").to_pylist()
    assert kept["reason"] == "negative_ms"
    for secret in ("alice-the-listener", "secret-agent", "Mozilla", IP4):
        assert secret not in kept["record"], kept["record"]
    assert '"username":"<redacted>"' in kept["record"] and "Cheap Thrills" in kept["record"]


# --- item 14: --run-id is validated; the plain-text email is one line per value -------------------
@pytest.mark.parametrize("bad", ["../../outside", "a/b", "run\nid", "-x", ".hidden", "x" * 129, ""])
def test_cli_run_id_is_validated_like_the_dags_do(tmp_path, capsys, bad):
    from encore import cli

    with pytest.raises(SystemExit) as exit_:  # argparse's error: one line, exit 2
        cli.main(["publish", "--data", str(tmp_path / "data"), "--year", "2025", f"--run-id={bad}"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert "argument --run-id:" in err and "is not a run id" in err and err.count("\n") == 1
    assert not (tmp_path / "data").exists() and not (tmp_path / "outside").exists()


def test_cli_run_id_accepts_what_the_dags_pass():
    from encore import cli

    for good in ("manual__2026-12-01T03-00-00-00-00", "20261201T030000Z-1a2b3c", "test-run", "g1"):
        assert cli.run_id(good) == good


def test_plain_text_email_strips_line_breaks_and_bidi_controls():
    from encore.publish import job as publish

    evil = "Evil\r\nBcc: victim@example.com\r\n\r\nClick \u202ehttp://evil\u202c\u2066x\u2069\u200f\u2028end"
    subject, text, html = publish.EmailRenderer().render(
        locale="en",
        year=2025,
        minutes=10,
        top_artist=evil,
        page_url="https://encore.example/2025/tok/index.html",
    )
    assert "\r" not in text and "\r" not in subject
    assert not any(line.startswith("Bcc:") for line in text.splitlines())
    for ch in "\u202e\u202c\u2066\u2069\u200f\u2028":
        assert ch not in text and ch not in html
    assert "Your top artist: Evil Bcc: victim@example.com Click http://evil x end." in text


# --- a suppressed average or median gives nothing of its count away (2026-12-07 review) ----
@pytest.mark.parametrize("kind", ["average", "median"])
def test_a_suppressed_rows_stored_error_does_not_give_its_count_back(cfg, kind):
    """privacy.md: a count below min_count "is reported as suppressed, not as a number".
    An average's error95 is sum_error / n and a median's 2 ln(20 (n+1)) / eps, so with
    the error of a suppressed row stored, n = sum_error / error95 came back exactly
    (the store kept error95 on every row)."""
    import math

    from encore.facts import catalog as fc
    from encore.facts import store
    from encore.facts.evaluation import Evaluated

    fact_id = "work_hours_share_by_age" if kind == "average" else "median_minutes_by_country"
    spec = next(s for s in fc.catalog(cfg) if s.id == fact_id)
    sum_err, stat_eps = 0.9, 0.1125

    def err(n):
        return sum_err / n if kind == "average" else 2 * math.log(20 * (n + 1)) / stat_eps

    released, suppressed = 412.4, 23.2  # noisy group counts; min_count is 50
    col = spec.key_columns[0]
    rows = [
        {
            "key": {col: "a"},
            "value": 0.31,
            "n": released,
            "suppressed": False,
            "error95": err(released),
            "share": None,
        },
        {
            "key": {col: "b"},
            "value": 0.4,
            "n": suppressed,
            "suppressed": True,
            "error95": err(suppressed),
            "share": None,
        },
    ]
    ev = Evaluated(spec, rows, 0.15, 0.0, kind, "")
    stored = {r["key"]: r for r in store.rows_of(ev, "r1", "2026-12-07T00:00:00Z") if r["key"]}
    shown = stored[json.dumps({col: "a"})]
    hidden = stored[json.dumps({col: "b"})]
    assert shown["n"] == 412 and shown["error95"] == pytest.approx(err(released))
    assert hidden["suppressed"] is True
    assert (hidden["value"], hidden["n"], hidden["share"], hidden["error95"]) == (None,) * 4


def test_a_suppressed_counts_stored_error_is_the_querys_one_number(cfg):
    """A count's error95 is the same for every key of its query: a suppressed row keeps it
    (with its upper bound), and it says nothing of that row's count."""
    from encore.facts import catalog as fc
    from encore.facts import store
    from encore.facts.evaluation import Evaluated

    spec = next(s for s in fc.catalog(cfg) if s.id == "top_artists")
    rows = [
        {
            "key": {"artist_name": "아이유"},
            "value": 812.0,
            "n": None,
            "suppressed": False,
            "error95": 61.0,
            "share": None,
        },
        {
            "key": {"artist_name": "Arijit Singh"},
            "value": 12.0,
            "n": None,
            "suppressed": True,
            "error95": 61.0,
            "upper95": 80,
            "share": None,
        },
    ]
    stored = [
        r for r in store.rows_of(Evaluated(spec, rows, 0.3, 0.0, "count", ""), "r", "t") if r["key"]
    ]
    assert [(r["value"], r["error95"], r["upper95"]) for r in stored] == [
        (None, 61.0, 80),
        (812.0, 61.0, None),
    ]


def test_the_campaign_preview_template_is_rendered_in_the_sandbox(tmp_path, monkeypatch):
    """templates/campaign/ is the folder marketing edits (privacy.md: render it in Jinja's
    sandbox); preview.html from there was rendered by a plain environment in the process
    that holds ENCORE_SHARE_SECRET, and gave it away."""
    from jinja2.exceptions import SecurityError

    from encore.campaign.export import preview_environment

    monkeypatch.setenv("ENCORE_SHARE_SECRET", "s3cret-share-key-0123")
    (tmp_path / "preview.html").write_text(
        '{{ cycler.__init__.__globals__.os.environ.get("ENCORE_SHARE_SECRET") }}'
    )
    (tmp_path / "huge.html").write_text('{{ "x" * 10**7 }}')  # the driver's memory
    (tmp_path / "fine.html").write_text("<p>{{ title }}: {{ lines|length }} lines</p>")
    env = preview_environment(tmp_path)
    for name in ("preview.html", "huge.html"):
        with pytest.raises(SecurityError):
            env.get_template(name).render()
    assert env.get_template("fine.html").render(title="Wrapped <2026>", lines=[1, 2]) == (
        "<p>Wrapped &lt;2026&gt;: 2 lines</p>"
    )
