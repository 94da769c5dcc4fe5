"""The DAG files: they import cleanly and fast, stay on the Airflow 3 SDK, never pull
Spark, pandas or the jobs' code into the scheduler, and their forms reject bad input."""

from __future__ import annotations

import ast
import copy
import json
import subprocess
import sys
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from conftest import DAGS

DAG_IDS = {"encore_yearly", "encore_campaign", "encore_data_request"}


def test_dagbag_imports_every_dag_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == DAG_IDS


def test_parsing_is_fast_and_light():
    """In a fresh interpreter (Airflow already imported, as in the DAG processor): parsing
    the DAG folder takes < 2 s and imports neither Spark, pandas nor the jobs package."""
    probe = f"""
import json, sys, time
import airflow.sdk, airflow.providers.apache.spark.operators.spark_submit
from airflow.dag_processing.dagbag import BundleDagBag
before = set(sys.modules)
t = time.monotonic()
bag = BundleDagBag(dag_folder={str(DAGS)!r}, bundle_path={str(DAGS)!r})
took = time.monotonic() - t
new = set(sys.modules) - before
print(json.dumps({{"took": took, "dags": sorted(bag.dag_ids), "errors": list(bag.import_errors),
                   "heavy": sorted(m for m in new if m.split(".")[0] in ("pyspark", "pandas", "encore", "jinja2", "numpy"))}}))
"""
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["errors"] == []
    assert set(result["dags"]) == DAG_IDS
    assert result["heavy"] == []
    assert result["took"] < 2.0, f"parsing took {result['took']:.2f} s"


ALLOWED_IMPORTS = {
    "__future__",
    "datetime",
    "tomllib",
    "os",
    "re",
    "pathlib",
    "typing",
    "airflow.sdk",
    "airflow.sdk.exceptions",
    "encore_common",
    "airflow.providers.apache.spark.operators.spark_submit",
}


@pytest.mark.parametrize("path", sorted(DAGS.rglob("*.py")), ids=lambda p: p.name)
def test_module_level_imports_are_the_sdk_only(path):
    """STYLE.md: `from airflow.sdk import ...` in the DAGs; nothing heavy at module level."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add(node.module)
    assert found <= ALLOWED_IMPORTS, (
        f"{path.name} imports {sorted(found - ALLOWED_IMPORTS)} at module level"
    )


def test_ruff_airflow3_rules_pass():
    ruff = DAGS.parent / ".venv" / "bin" / "ruff"
    if not ruff.exists():
        pytest.skip("ruff lives in the jobs environment (.venv)")
    run = subprocess.run(
        [str(ruff), "check", "--select", "AIR3", str(DAGS)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout


def test_yearly_shape(dagbag):
    dag = dagbag.dags["encore_yearly"]
    assert dag.timetable.expression == "0 3 1 12 *"
    down = {t.task_id: sorted(t.downstream_task_ids) for t in dag.tasks}
    assert down["ingest"] == ["facts", "recaps"]
    assert down["recaps"] == ["render"]
    assert down["facts"] == ["publish"] and down["render"] == ["publish"]
    for task_id in ("ingest", "recaps", "facts", "render", "publish"):
        task = dag.get_task(task_id)
        assert type(task).__name__ == "EncoreSparkJob" and task._conn_id == "spark_default"
        assert task.retries >= 1 and task.retry_exponential_backoff > 1
    outlets = {t.task_id: [a.name for a in t.outlets] for t in dag.tasks}
    assert outlets["ingest"] == ["encore_events"] and outlets["render"] == ["encore_site"]
    assert outlets["recaps"] == ["encore_recaps"] and outlets["facts"] == ["encore_facts"]


# --- the forms: JSON-schema validation of a trigger's conf ------------------------------


def validated(dagbag, dag_id: str, conf: dict) -> dict:
    """What creating a run does with a trigger's conf: the DAG's params updated with it,
    then validated against each Param's JSON schema."""
    params = copy.deepcopy(dagbag.dags[dag_id].params)
    params.update(conf)
    return params.validate()


def test_campaign_form_offers_the_shipped_campaigns(dagbag):
    param = dagbag.dags["encore_campaign"].params.get_param("campaign")
    shipped = sorted(
        p.parent.name for p in (DAGS.parent / "templates" / "campaign").glob("*/manifest.toml")
    )
    assert shipped and sorted(param.schema["enum"]) == shipped
    assert set(param.schema["values_display"]) == set(shipped)
    for name in ("year", "campaign", "locales", "markets", "extra_phrases", "extra_tracks"):
        p = dagbag.dags["encore_campaign"].params.get_param(name)
        assert p.schema.get("title") and p.description, name


def test_campaign_form_accepts_good_input(dagbag):
    camp = dagbag.dags["encore_campaign"].params.get_param("campaign").schema["enum"][0]
    out = validated(
        dagbag,
        "encore_campaign",
        {"year": 2025, "campaign": camp, "locales": ["en"], "markets": ["US"]},
    )
    assert out["campaign"] == camp and out["locales"] == ["en"]
    assert validated(dagbag, "encore_campaign", {})["locales"] == []  # the defaults are valid
    extras = validated(
        dagbag,
        "encore_campaign",
        {
            "extra_phrases": ["road trip", "-starts with a dash", "Ünïcödé 🎧"],
            "extra_tracks": ["Ariadne Grand — God Is a Woman", "Jay-Z - 99 Problems"],
        },
    )
    assert extras["extra_phrases"][0] == "road trip" and len(extras["extra_tracks"]) == 2


@pytest.mark.parametrize(
    "bad",
    [
        {"campaign": "no_such_campaign"},
        {"campaign": "../../etc"},
        {"locales": ["xx"]},
        {"markets": ["ZZ"]},
        {"markets": "US"},  # not a list
        {"locales": ["en", "en"]},  # twice
        {"year": 1900},
        {"year": "2025"},  # a string, not a number
        {"extra_phrases": [""]},
        {"extra_phrases": ["   "]},
        {"extra_phrases": ["x" * 101]},
        {"extra_phrases": ["bell\x07"]},
        {"extra_phrases": ["evil\u202eexe"]},
        {"extra_phrases": [f"phrase {i}" for i in range(11)]},  # too many
        {"extra_phrases": "road trip"},  # not a list
        {"extra_tracks": ["Ariadne Grand"]},  # no 'Artist — Title'
        {"extra_tracks": [" — God Is a Woman"]},
        {"extra_tracks": ["Ariadne Grand — God\nIs a Woman"]},
    ],
)
def test_campaign_form_rejects_bad_input(dagbag, bad):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):
        validated(dagbag, "encore_campaign", bad)


@pytest.mark.parametrize(
    "bad", [{"user_id": ""}, {"user_id": "../x"}, {"user_id": "u1", "action": "delete"}]
)
def test_data_request_form_rejects_bad_input(dagbag, bad):
    from airflow.sdk.exceptions import ParamValidationError

    with pytest.raises(ParamValidationError):
        validated(dagbag, "encore_data_request", bad)


def test_yearly_form(dagbag):
    from airflow.sdk.exceptions import ParamValidationError

    assert validated(dagbag, "encore_yearly", {})["year"] is None
    assert validated(dagbag, "encore_yearly", {"year": 2024})["year"] == 2024
    with pytest.raises(ParamValidationError):
        validated(dagbag, "encore_yearly", {"year": "last"})


# --- the small rules in encore_common ---------------------------------------------------


def run_of(run_type: str, logical: datetime | None, after: datetime):
    return SimpleNamespace(run_type=run_type, logical_date=logical, run_after=after)


def test_year_of_a_run(dagbag):
    from encore_common import closed_year

    dec1 = datetime(2025, 12, 1, 3, tzinfo=UTC)
    assert closed_year(run_of("scheduled", dec1, dec1)) == 2025
    assert closed_year(run_of("backfill", datetime(2023, 12, 1, 3, tzinfo=UTC), dec1)) == 2023
    # a manual run: the latest year whose yearly run is due
    assert (
        closed_year(
            run_of("manual", datetime(2026, 11, 29, tzinfo=UTC), datetime(2026, 11, 29, tzinfo=UTC))
        )
        == 2025
    )
    assert closed_year(run_of("manual", None, datetime(2026, 12, 2, tzinfo=UTC))) == 2026


def test_run_ids_become_safe_file_names(dagbag):
    from encore_common import safe_run_id

    assert (
        safe_run_id("manual__2026-12-01T03:00:00.123+00:00")
        == "manual__2026-12-01T03-00-00.123-00-00"
    )
    assert safe_run_id("../../etc/passwd") == "etc-passwd"
    assert "/" not in safe_run_id("a/b") and safe_run_id("///") == "run"


def test_the_jobs_message_is_what_the_task_fails_with(dagbag):
    from encore_common import job_error

    out = (
        "Cannot execute: spark-submit ... Error code is: 3.\nLast spark-submit output:\n"
        "[campaign] export ...\nencore campaign: error: the 2025 budget cannot cover love_playlists: "
        "epsilon 0.15 needed, 0.0 left\n26/11/29 INFO ShutdownHookManager: Shutdown hook called"
    )
    assert job_error(out) == (
        "encore campaign: error: the 2025 budget cannot cover love_playlists: "
        "epsilon 0.15 needed, 0.0 left"
    )
    assert (
        job_error("Cannot execute: spark-submit. Error code is: 1.\njava.lang.OutOfMemoryError")
        is None
    )
