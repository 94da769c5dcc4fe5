"""What the Encore DAGs share: where the jobs environment is, how a Spark job is
submitted, and the small rules that turn a run into arguments (year, run id, data root).

Only the standard library and the Spark provider are imported here: the scheduler
parses the DAG files every 30 s, and Spark, Jinja-based rendering and pandas live in
the jobs environment, never in Airflow's.

Settings, all optional (environment of the scheduler/workers, or Airflow Variables):

    ENCORE_HOME            the Encore checkout (jobs/main.py, conf/, templates/); default: this repo
    ENCORE_SPARK_SUBMIT    spark-submit of the jobs environment; default: $ENCORE_HOME/.venv/bin/spark-submit
    ENCORE_PYSPARK_PYTHON  Python of the jobs environment; default: $ENCORE_HOME/.venv/bin/python
    Variable encore_data_root   the data root (path or s3a:// / hdfs:// URI);
                                default: $ENCORE_DATA_ROOT or $ENCORE_HOME/var/data

The Spark master comes from the connection ``spark_default`` (``local[*]`` when it is
not defined); pointing it at a cluster master is the only change needed for a cluster.

Every task that can spend privacy budget (encore_yearly's ``facts``, encore_campaign's
``campaign``) runs in the one-slot pool ``BUDGET_POOL``, so two releases never run at
once whatever DAG started them (the job's ledger lock is the second line of defence).
The pool is created by ``make airflow``, ``encore demo`` and the tests; elsewhere:

    airflow pools set encore_privacy_budget 1 "Encore: one privacy-budget release at a time"
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException

ENCORE_HOME = Path(os.environ.get("ENCORE_HOME") or Path(__file__).resolve().parents[2])
SPARK_SUBMIT = os.environ.get("ENCORE_SPARK_SUBMIT") or str(
    ENCORE_HOME / ".venv" / "bin" / "spark-submit"
)
JOBS_PYTHON = os.environ.get("ENCORE_PYSPARK_PYTHON") or str(
    ENCORE_HOME / ".venv" / "bin" / "python"
)
ENTRY_POINT = str(ENCORE_HOME / "jobs" / "main.py")
DATA_ROOT_VARIABLE = "encore_data_root"
BUDGET_POOL = "encore_privacy_budget"  # one slot: see the module docstring

# Spark jobs retry on what can be transient (an executor lost, a busy cluster) with
# exponential back-off: 2 min, 4 min, capped at 30 min.
DEFAULT_ARGS: dict[str, Any] = {
    "owner": "encore",
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=30),
}

# `encore <command>: error: <one line>` is how every job reports a problem a person
# must fix: bad input, a missing stage (exit code 2), privacy budget exhausted (3).
# Retrying cannot help. The codes are encore.platform.errors.PERSON_MUST_FIX, repeated
# here because this environment cannot import encore (tests/jobs/test_rules.py keeps
# the two equal).
_JOB_ERROR = re.compile(r"(encore [\w-]+: error: .+)")
_EXIT_CODE = re.compile(r"Error code is: (\d+)")
# The job's environment variable for a data request's user id (encore.rights.job's
# USER_ID_ENV, read by `--user-id-env`; tests/jobs/test_erasure.py checks they agree).
USER_ID_ENV = "ENCORE_REQUEST_USER_ID"
PERSON_MUST_FIX = {"2", "3"}  # errors.EncoreError, errors.BudgetExceeded

# The years a form's `year` Param accepts: encore.platform.years.FIRST_YEAR..LAST_YEAR,
# repeated here for the same reason (tests/jobs/test_rules.py keeps them equal).
FIRST_YEAR = 2002
LAST_YEAR = 2100


def default_data_root() -> str:
    return os.environ.get("ENCORE_DATA_ROOT") or str(ENCORE_HOME / "var" / "data")


def data_root() -> str:
    """The data root for this run (called inside a task, never at parse time)."""
    from airflow.sdk import Variable

    return Variable.get(DATA_ROOT_VARIABLE, default=default_data_root())


def safe_run_id(run_id: str) -> str:
    """Airflow's run id made safe for file names (Encore names staging folders and
    reports after it): ``manual__2026-12-01T03:00:00+00:00`` -> ``manual__2026-12-01T03-00-00-00-00``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", run_id).strip("-.") or "run"


def closed_year(dag_run) -> int:
    """The year a run is about when no year is given: a scheduled run (1 December) or a
    backfill is about its logical date's year; a manual run is about the latest year
    whose yearly run is due (in December this year, before that last year)."""
    run_type = getattr(dag_run.run_type, "value", dag_run.run_type)
    if run_type in ("scheduled", "backfill") and dag_run.logical_date is not None:
        return dag_run.logical_date.year
    when = dag_run.run_after or dag_run.logical_date
    return when.year if when.month == 12 else when.year - 1


def job_error(text: str) -> str | None:
    """The job's own one-line error from spark-submit's output, if it printed one."""
    found = _JOB_ERROR.findall(text)
    return found[-1].strip() if found else None


class EncoreSparkJob(SparkSubmitOperator):
    """``spark-submit jobs/main.py <command> ...`` with the jobs environment's
    spark-submit and Python, through the ``spark_default`` connection.

    ``application_args`` is usually an XComArg of the DAG's plan task (the whole
    argument list, decided once per run). A job that exits with Encore's
    "person must fix this" code fails the task at once with the job's message,
    without retries; anything else (a lost executor, an OOM) is retried.
    """

    ui_color = "#f4a261"

    def __init__(self, *, task_id: str, user_id_param: str | None = None, **kwargs: Any) -> None:
        # a listener's id (the data-request form's param of this name) goes to the job
        # in its environment (USER_ID_ENV), set in execute: after the templates are
        # rendered and stored, so it is in no rendered field, XCom or log line
        self.user_id_param = user_id_param
        kwargs.setdefault("application", ENTRY_POINT)
        kwargs.setdefault("conn_id", "spark_default")
        kwargs.setdefault("spark_binary", SPARK_SUBMIT)
        kwargs.setdefault("name", f"encore-{task_id}")
        kwargs.setdefault(
            "env_vars",
            {
                "PYSPARK_PYTHON": JOBS_PYTHON,
                "PYSPARK_DRIVER_PYTHON": JOBS_PYTHON,
                "ENCORE_HOME": str(ENCORE_HOME),
            },
        )
        kwargs.setdefault(
            "conf",
            {"spark.pyspark.python": JOBS_PYTHON, "spark.pyspark.driver.python": JOBS_PYTHON},
        )
        super().__init__(task_id=task_id, **kwargs)

    def execute(self, context) -> None:
        if self.user_id_param:
            from airflow.sdk.log import mask_secret

            user_id = str(context["params"][self.user_id_param])
            # on YARN or Kubernetes the provider turns env_vars into --conf options of the
            # command line it logs: masked there, and in any other line, from now on
            # (Airflow masks values of 5 characters or more)
            mask_secret(user_id)
            self.env_vars = {**(self.env_vars or {}), USER_ID_ENV: user_id}
        self.log.info("encore %s", " ".join(str(a) for a in self.application_args or []))
        try:
            super().execute(context)
        except AirflowException as err:
            text = str(err)
            code = _EXIT_CODE.search(text)
            reason = job_error(text)
            if reason and code and code.group(1) in PERSON_MUST_FIX:
                raise AirflowFailException(reason) from None
            raise


# The connection encore_campaign's last task uses to set its run's note through the
# public REST API (Airflow 3 tasks have no database access, and the Task SDK's
# execution API has no call for a run's note): an HTTP connection whose host is the API
# server's URL and whose login/password belong to a user allowed to edit DAG runs.
# `make airflow` (scripts/airflow-standalone.sh) creates it; without it the note is
# only printed in the task's log.
API_CONNECTION = "encore_airflow_api"
NOTE_MAX_CHARS = 1000  # Airflow's limit on a DAG run's note


def _api_base(conn) -> str:
    host = (conn.host or "").rstrip("/")
    if "://" not in host:
        host = f"{conn.schema or 'http'}://{host}"
    if conn.port and host.count(":") < 2:
        host = f"{host}:{conn.port}"
    return host


def set_run_note(dag_id: str, run_id: str, note: str, *, timeout: float = 30.0) -> bool:
    """Set a DAG run's note (Markdown) through ``PATCH /api/v2/dags/{dag_id}/dagRuns/
    {run_id}?update_mask=note``, authenticated with a token from ``POST /auth/token``
    with the login of the connection ``API_CONNECTION``. False (nothing set) when that
    connection does not exist; an HTTP error raises with the server's answer."""
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    from airflow.sdk import Connection

    try:
        conn = Connection.get(API_CONNECTION)
    except Exception:  # noqa: BLE001 - AirflowNotFoundException and its runtime variants
        return False
    base = _api_base(conn)

    def call(method: str, path: str, body: dict, token: str | None = None) -> dict:
        req = urllib.request.Request(
            base + path,
            method=method,
            data=json.dumps(body).encode("utf-8"),
            headers={
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {token}"} if token else {}),
            },
        )
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - the configured API server
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as err:
            detail = err.read()[:300].decode("utf-8", "replace")
            raise AirflowException(f"{method} {path}: HTTP {err.code}: {detail}") from None

    token = call("POST", "/auth/token", {"username": conn.login, "password": conn.password})
    quote = urllib.parse.quote
    call(
        "PATCH",
        f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}?update_mask=note",
        {"note": note[:NOTE_MAX_CHARS]},
        token["access_token"],
    )
    return True
