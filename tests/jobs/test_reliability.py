"""Reliability guarantees (docs/reliability.md), each proven against the real jobs run
as the CLI runs them, in separate processes:

- a crash in the middle of writing never leaves a half-written output: the dataset stays
  complete and readable, and a re-run converges to an uninterrupted run's output;
- the same input gives the same output: recaps row for row, pages and cards byte for byte,
  facts identical (releases are stored) with the ledger unchanged;
- two runs for the same stage and year never write at once: the second fails clearly;
- no IP address, no secret and no user id reaches a published output (a campaign
  export included: the pipeline runs none, so the scan's fixture exports one).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest
from scanning import file_texts, find_ipv4, tree_digest

from encore.platform import config

pytestmark = pytest.mark.slow
BIN = os.path.dirname(sys.executable)


def _encore(*args: str, wait: bool = True, env_extra: dict | None = None):
    env = dict(
        os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable, **(env_extra or {})
    )
    cmd = [os.path.join(BIN, "encore"), *args]
    if wait:
        return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    return subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )


def _rows(path: str, key: str) -> list[dict]:
    return sorted(pq.read_table(path).to_pylist(), key=lambda r: str(r[key]))


def _staging_under(root: str) -> str | None:
    for dirpath, dirnames, _ in os.walk(root):
        for d in dirnames:
            if "__staging-" in d:
                return os.path.join(dirpath, d)
    return None


def _kill_when(
    args: list[str], trigger, timeout: float = 600, env_extra: dict | None = None
) -> list[str]:
    """Start a command and SIGKILL its whole process group the moment ``trigger(stderr
    lines so far)`` is true; returns those lines."""
    import threading

    proc = _encore(*args, wait=False, env_extra=env_extra)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: [lines.append(x) for x in proc.stderr], daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if trigger(lines):
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                return lines
            if proc.poll() is not None:
                reader.join(5)
                raise AssertionError(
                    f"{args[0]} finished before it could be killed:\n{''.join(lines)[-2000:]}"
                )
            time.sleep(0.02)
        raise AssertionError("the moment to kill never came")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _kill_while_writing(args: list[str], root: str) -> str:
    """SIGKILL a command once it is writing a staging folder; returns that folder."""
    seen: list[str] = []

    def writing(_lines):
        staged = _staging_under(root)
        if staged:
            seen.append(staged)
        return bool(staged)

    _kill_when(args, writing)
    return seen[0]


@pytest.fixture()
def root(pipeline_data, tmp_path):
    """A private copy of the session's fully run data root."""
    src, year = pipeline_data
    dst = str(tmp_path / "data")
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("locks"))
    return dst, year


def test_recaps_crash_then_rerun(root):
    data, year = root
    final = os.path.join(data, "recaps", f"year={year}")
    before = _rows(final, "user_id")
    staged = _kill_while_writing(
        [
            "recaps",
            "--data",
            data,
            "--year",
            str(year),
            "--spark-profile",
            "test",
            "--run-id",
            "crash",
        ],
        data,
    )
    assert os.path.basename(staged).startswith(f".year={year}.__staging-")
    assert _rows(final, "user_id") == before  # the previous complete version, still current
    done = _encore(
        "recaps",
        "--data",
        data,
        "--year",
        str(year),
        "--spark-profile",
        "test",
        "--run-id",
        "again",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert _rows(final, "user_id") == before  # same input, same recaps, row for row
    assert _staging_under(data) is None


def test_render_crash_then_rerun_is_byte_identical(root):
    data, year = root
    site = os.path.join(data, "site", str(year))
    before = tree_digest(site)
    assert any(n.endswith("index.html") for n in before) and any(
        n.endswith("summary.png") for n in before
    )
    _kill_while_writing(
        [
            "render",
            "--data",
            data,
            "--year",
            str(year),
            "--demo",
            "--spark-profile",
            "test",
            "--run-id",
            "crash",
        ],
        data,
    )
    assert tree_digest(site) == before
    done = _encore(
        "render", "--data", data, "--year", str(year), "--demo", "--spark-profile", "test"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert tree_digest(site) == before  # pages, cards and PNGs byte for byte
    assert _staging_under(data) is None


def test_facts_rerun_returns_stored_releases_and_spends_nothing(root):
    data, year = root
    facts_dir, ledger_dir = (
        os.path.join(data, "facts", f"year={year}"),
        os.path.join(data, "ledger"),
    )
    before_facts, before_ledger = tree_digest(facts_dir), tree_digest(ledger_dir)
    assert before_facts and before_ledger
    done = _encore(
        "facts", "--data", data, "--year", str(year), "--spark-profile", "test", "--run-id", "retry"
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert tree_digest(facts_dir) == before_facts
    assert tree_digest(ledger_dir) == before_ledger


def _scratch_in(tmp: str) -> dict[str, list[str]]:
    """The Spark warehouses Encore's sessions made in ``tmp``, each with what it holds."""
    return {
        d: sorted(os.listdir(os.path.join(tmp, d)))
        for d in sorted(os.listdir(tmp))
        if d.startswith("encore-spark-warehouse-")
    }


def test_facts_crash_during_first_release_then_rerun(root, tmp_path):
    data, year = root
    for rel in ("facts", "ledger"):
        shutil.rmtree(os.path.join(data, rel), ignore_errors=True)
    tmp = tmp_path / "tmp"  # the commands' temp folder, to see what a killed one leaves
    tmp.mkdir()
    env = {"TMPDIR": str(tmp)}
    facts = ["facts", "--data", data, "--year", str(year), "--spark-profile", "test"]
    # killed while the DP queries run: the values are drawn but not yet stored
    _kill_when(
        [*facts, "--run-id", "crash"],
        lambda lines: sum("evaluating" in x for x in lines) >= 3,
        env_extra=env,
    )
    facts_dir = os.path.join(data, "facts", f"year={year}")
    assert not os.path.exists(facts_dir)  # nothing half-released
    assert _staging_under(data) is None or "facts" not in _staging_under(data)
    # the killed run's draws (two facts evaluated) are in its scratch warehouse ...
    ((killed, held),) = _scratch_in(str(tmp)).items()
    assert len(held) == 1 and held[0].startswith("tumult_temp_"), held
    assert os.listdir(os.path.join(tmp, killed, held[0])), "no draw was written"
    done = _encore(*facts, "--run-id", "again", env_extra=env)
    assert done.returncode == 0, done.stderr[-3000:]
    # the command's own lines, without Spark's notice about the library's pandas UDFs
    assert "In Python 3.6+ and Spark 3.0+" not in done.stderr, done.stderr[-3000:]
    assert os.listdir(facts_dir)
    assert _staging_under(data) is None
    # ... and the next run removed them, and its own folder when it exited
    assert _scratch_in(str(tmp)) == {}


def test_ingest_crash_with_new_input_then_rerun(root, tmp_path):
    data, _ = root
    # a new day's log arrives: a second generated dataset's events, as another raw file
    from encore.tools import generate

    extra = tmp_path / "extra"
    generate.generate(str(extra), users=40, years=[2025], seed=99, mean_plays=60)
    shutil.copy(
        extra / "raw" / "events" / "part-00000.jsonl.gz",
        os.path.join(data, "raw", "events", "late.jsonl.gz"),
    )
    reference = tmp_path / "reference"
    shutil.copytree(data, reference)
    ok = _encore("ingest", "--data", str(reference), "--run-id", "reference")
    assert ok.returncode == 0, ok.stderr[-3000:]
    expected = _rows(os.path.join(reference, "events"), "event_id")

    events = os.path.join(data, "events")
    before = _rows(events, "event_id")
    _kill_while_writing(["ingest", "--data", data, "--run-id", "crash"], data)
    after_crash = _rows(events, "event_id")
    # every month is either its old or its new complete version: nothing half-written
    assert (
        {r["event_id"] for r in before}
        <= {r["event_id"] for r in after_crash}
        <= {r["event_id"] for r in expected}
    )
    done = _encore("ingest", "--data", data, "--run-id", "again")
    assert done.returncode == 0, done.stderr[-3000:]
    assert _rows(events, "event_id") == expected  # converges to the uninterrupted run
    assert _staging_under(data) is None


def test_concurrent_runs_of_a_year_never_mix(root):
    data, year = root
    first = _encore(
        "recaps",
        "--data",
        data,
        "--year",
        str(year),
        "--spark-profile",
        "test",
        "--run-id",
        "first",
        wait=False,
    )
    lock = os.path.join(data, "locks", f"recaps-{year}.lock")
    try:
        for _ in range(500):
            if os.path.exists(lock):
                break
            time.sleep(0.02)
        assert os.path.exists(lock)
        second = _encore(
            "recaps",
            "--data",
            data,
            "--year",
            str(year),
            "--spark-profile",
            "test",
            "--run-id",
            "second",
        )
        assert second.returncode == 75
        assert (
            "another run is writing recaps-2025" in second.stderr and "run first" in second.stderr
        )
        assert second.stderr.count("\n") == 1  # one line
    finally:
        out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err[-3000:]
    assert not os.path.exists(lock)


CAMPAIGN = "year_end_billboards"  # what the demo's encore_campaign form runs by default


@pytest.fixture(scope="module")
def campaigned(pipeline_data):
    """The session's fully run data root with a campaign exported too (the yearly
    pipeline runs none), through the CLI as the encore_campaign DAG runs it."""
    from encore import cli

    data, year = pipeline_data
    code = cli.main(
        [
            "campaign",
            "--data",
            data,
            "--year",
            str(year),
            "--campaign",
            CAMPAIGN,
            "--spark-profile",
            "test",
            "--run-id",
            "test-campaign",
        ]
    )
    assert code == 0
    return data, year


def test_published_outputs_hold_no_ip_no_secret_no_user_id(campaigned):
    data, year = campaigned
    user_ids = set()
    with open(os.path.join(data, "raw", "users", "users.jsonl"), encoding="utf-8") as f:
        for line in f:
            user_ids.add(json.loads(line)["user_id"])
    # no IP address anywhere Encore wrote (only the raw input the platform dropped off has them)
    assert find_ipv4(data, skip=lambda rel: rel.startswith("raw/")) == {}
    # no secret anywhere
    demo_secret = config.share_secret(demo=True)
    for rel, body in file_texts(data):
        assert demo_secret not in body, rel
    # no user id in anything published: facts, ledger, campaigns, reports, the site
    published = ("facts/", "ledger/", "campaigns/", "reports/", "site/")
    scanned = dict.fromkeys(published, 0)
    needles = [u.encode() for u in user_ids]
    for rel, body in file_texts(data):
        if rel.startswith(published):
            scanned[rel[: rel.index("/") + 1]] += 1
            leaked = [n for n in needles if n in body]
            assert not leaked, f"{rel} names listener(s) {leaked[:2]}"
    # an empty folder would pass the scan: each one holds what the run wrote
    assert all(scanned.values()), (
        f"nothing was scanned under {[p for p, n in scanned.items() if not n]}"
    )
    assert os.listdir(os.path.join(data, "campaigns", str(year), CAMPAIGN))


def test_quarantine_keeps_records_without_their_ip(pipeline_data):
    data, _ = pipeline_data
    raw_ips = set()
    for name in os.listdir(os.path.join(data, "raw", "events")):
        with gzip.open(os.path.join(data, "raw", "events", name), "rb") as f:
            raw_ips.update(
                ip.decode() for ip in __import__("re").findall(rb'"ip_addr":"([0-9.]+)"', f.read())
            )
    assert raw_ips
    assert find_ipv4(os.path.join(data, "quarantine")) == {}
