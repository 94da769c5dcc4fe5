"""Shared fixtures for the jobs tests: one SparkSession for the whole run (the `test`
profile of conf/encore.toml: local[1], one shuffle partition, UI off, UTC), the
validated config, and no ENCORE_* variable from the caller's shell."""

from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

# Tests see the environment they set themselves, never the caller's: a developer's
# exported ENCORE_SHARE_SECRET, ENCORE_CONFIG or ENCORE_HOME (scripts/airflow-env.sh
# exports it) would change what the jobs read and fail tests that expect the demo
# secret or this checkout's conf/. ENCORE_HOME is read when encore.platform.config is
# imported, so the caller's are dropped here, before any test module imports encore;
# the autouse fixture below drops any a test left in os.environ for the next one.
# Switches meant for the tests themselves are kept.
TEST_SWITCHES = frozenset({"ENCORE_UPDATE_GOLDEN"})


def _encore_vars() -> list[str]:
    return [k for k in os.environ if k.startswith("ENCORE_") and k not in TEST_SWITCHES]


for _name in _encore_vars():
    del os.environ[_name]


@pytest.fixture(autouse=True)
def _no_encore_env_but_the_tests_own(monkeypatch):
    """Every ENCORE_* variable the test does not set itself (with monkeypatch.setenv) is
    unset, and put back as it was after the test."""
    for name in _encore_vars():
        monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def cfg():
    from encore.platform import config

    return config.load()


@pytest.fixture(scope="session")
def spark(cfg):
    from encore.platform.spark import get_session

    session = get_session(cfg, "tests", "test")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def pipeline_data(tmp_path_factory, spark, cfg):
    """A small generated dataset run through every stage that exists (once per session),
    in this process's Spark session: (data root, recap year)."""
    from encore import pipeline
    from encore.platform.context import RunContext
    from encore.tools import generate

    root = str(tmp_path_factory.mktemp("pipeline") / "data")
    generate.generate(root, users=150, years=[2024, 2025], seed=11, mean_plays=70, chunk_users=75)
    ctx = RunContext(data=root, cfg=cfg, year=2025, run_id="test-run", spark=spark)
    assert pipeline.run(ctx, demo=True) == 0
    return root, 2025
