"""Airflow-side tests: the real DAG files, a real Airflow (SQLite in a temp
AIRFLOW_HOME, wired by scripts/airflow-env.sh exactly like `make demo` and
`make airflow`), and real spark-submit from the jobs environment.

The environment is set before Airflow is imported (Airflow reads it at import time).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAGS = REPO / "dags"
JOBS_PYTHON = REPO / ".venv" / "bin" / "python"
AIRFLOW_BIN = Path(sys.executable).parent / "airflow"
YEAR = 2025

_HOME = Path(tempfile.mkdtemp(prefix="encore-airflow-tests-"))
DATA_ROOT = _HOME / "data"


def airflow_env(home: Path, data: Path) -> dict[str, str]:
    """The environment scripts/airflow-env.sh gives Airflow (one place for the wiring)."""
    out = subprocess.run(
        [
            "bash",
            "-c",
            'source "$0" "$1" "$2" && env -0',
            str(REPO / "scripts" / "airflow-env.sh"),
            str(home),
            str(data),
        ],
        check=True,
        capture_output=True,
    ).stdout
    env = dict(item.split("=", 1) for item in out.decode().split("\0") if "=" in item)
    return {k: v for k, v in env.items() if k.startswith(("AIRFLOW", "ENCORE", "SPARK_"))}


# Tests see this wiring, never the caller's ENCORE_* variables: an exported
# ENCORE_SHARE_SECRET, ENCORE_CONFIG or ENCORE_HOME (a `source scripts/airflow-env.sh`
# for another checkout) would reach airflow-env.sh's defaults and every spark-submit.
for _name in [k for k in os.environ if k.startswith("ENCORE_")]:
    del os.environ[_name]
os.environ.update(airflow_env(_HOME / "airflow", DATA_ROOT))
WIRING = {k: v for k, v in os.environ.items() if k.startswith("ENCORE_")}


@pytest.fixture(autouse=True)
def _no_encore_env_but_the_wiring(monkeypatch):
    """Every ENCORE_* variable is the wiring's, or unset, unless the test sets it itself
    (with monkeypatch.setenv); put back as it was after the test."""
    for name in [k for k in os.environ if k.startswith("ENCORE_")]:
        if name not in WIRING:
            monkeypatch.delenv(name)
        elif os.environ[name] != WIRING[name]:
            monkeypatch.setenv(name, WIRING[name])


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: runs real Spark jobs through Airflow (minutes)")


@pytest.fixture(scope="session")
def airflow_db():
    """Airflow's SQLite metadata database, migrated once."""
    subprocess.run([str(AIRFLOW_BIN), "db", "migrate"], check=True, capture_output=True)
    # the one-slot pool of the budget-spending tasks, as `make airflow` and `encore demo` create it
    subprocess.run(
        [
            str(AIRFLOW_BIN),
            "pools",
            "set",
            "encore_privacy_budget",
            "1",
            "Encore: one privacy-budget release at a time (facts, campaign)",
        ],
        check=True,
        capture_output=True,
    )
    return Path(os.environ["AIRFLOW_HOME"])


@pytest.fixture(scope="session")
def dagbag():
    from airflow.dag_processing.dagbag import BundleDagBag

    # BundleDagBag puts the DAG folder on sys.path, as the DAG processor and workers do
    return BundleDagBag(dag_folder=DAGS, bundle_path=DAGS)


def run_dag(dagbag, dag_id: str, conf: dict | None = None):
    """One run of a real DAG with dag.test(): tasks run here, Spark jobs through spark-submit."""
    dag = dagbag.dags[dag_id]
    assert dag is not None, dagbag.import_errors
    return dag.test(run_conf=conf)


@pytest.fixture(scope="session")
def generated_data():
    """A tiny generated dataset (jobs environment), once per session."""
    subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "encore"),
            "generate",
            "--out",
            str(DATA_ROOT),
            "--users",
            "200",
            "--years",
            f"{YEAR},{YEAR + 1}",
            "--mean-plays",
            "80",
            "--seed",
            "3",
        ],
        check=True,
        capture_output=True,
    )
    return DATA_ROOT


@pytest.fixture(scope="session")
def yearly_run(airflow_db, dagbag, generated_data):
    """encore_yearly once for YEAR (demo secret): the data the other DAG tests use."""
    run = run_dag(dagbag, "encore_yearly", {"year": YEAR, "demo": True})
    assert run.state == "success", f"encore_yearly ended {run.state}"
    return run


def _rows_digest(path: Path, key: str | None) -> dict:
    import pyarrow.parquet as pq

    rows = pq.read_table(path).to_pylist()
    lines = sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)
    return {"rows": len(lines), "sha256": hashlib.sha256("\n".join(lines).encode()).hexdigest()}


def outputs_digest(root: Path, year: int) -> dict:
    """What a yearly run produced for ``year``, independent of file names and row order:
    recaps, facts and deliveries by content; every site file by its bytes."""
    site = root / "site" / str(year)
    files = {
        str(p.relative_to(site)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(site.rglob("*"))
        if p.is_file()
    }
    return {
        "recaps": _rows_digest(root / "recaps" / f"year={year}", "user_id"),
        "facts": _rows_digest(root / "facts" / f"year={year}", None),
        "deliveries": _rows_digest(root / "deliveries" / f"year={year}", "user_id"),
        "site": files,
    }
