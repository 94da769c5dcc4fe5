"""Issue 15 (items 9 and 14) on the Airflow side: releases of privacy budget never run at
once, and Airflow's password file and logs are for this user only."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

from conftest import DAGS, REPO

POOL = "encore_privacy_budget"


def test_budget_spending_tasks_share_one_pool_and_campaign_runs_one_at_a_time(dagbag):
    yearly, campaign = dagbag.dags["encore_yearly"], dagbag.dags["encore_campaign"]
    assert yearly.get_task("facts").pool == POOL
    assert campaign.get_task("campaign").pool == POOL
    assert campaign.max_active_runs == 1 and yearly.max_active_runs == 1
    # the pool's other tasks are not in it (they spend no budget)
    others = {t.task_id for d in dagbag.dags.values() for t in d.tasks if t.pool == POOL}
    assert others == {"facts", "campaign"}


def test_every_place_that_sets_up_airflow_creates_the_one_slot_pool():
    from encore_common import BUDGET_POOL

    assert BUDGET_POOL == POOL
    for path in (
        REPO / "scripts" / "airflow-standalone.sh",
        REPO / "jobs" / "encore" / "tools" / "demo.py",
        REPO / "tests" / "airflow" / "conftest.py",
    ):
        text = path.read_text()
        assert POOL in text and "pools" in text and "set" in text, path


def test_airflow_password_file_and_logs_are_private(tmp_path):
    """scripts/airflow-env.sh (used by make airflow, encore demo and these tests) makes the
    generated password file 0600 before Airflow writes it, and Airflow's task log
    settings give new log files 0600 and folders 0700."""
    home, data = tmp_path / "airflow", tmp_path / "data"
    home.mkdir()
    pw = home / "simple_auth_manager_passwords.json.generated"
    pw.write_text("{}")
    pw.chmod(0o644)  # left by an older setup
    probe = (
        "from airflow.sdk.log import init_log_file; import os, sys; "
        "p = init_log_file('dag_id=x/run_id=y/task_id=z/attempt=1.log'); "
        "print(oct(os.stat(p).st_mode & 0o777), oct(os.stat(p.parent).st_mode & 0o777))"
    )
    out = subprocess.run(
        [
            "bash",
            "-c",
            'source "$0" "$1" "$2" && umask 022 && exec "$3" -c "$4"',
            str(REPO / "scripts" / "airflow-env.sh"),
            str(home),
            str(data),
            sys.executable,
            probe,
        ],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs")},
    ).stdout.split()
    assert stat.S_IMODE(pw.stat().st_mode) == 0o600
    assert out[-2:] == ["0o600", "0o700"], out
    assert DAGS.is_dir()
