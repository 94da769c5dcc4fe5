"""Shared fixtures for the jobs tests: one SparkSession for the whole run
(local[1], one shuffle partition, UI off, UTC), and the validated config."""

from __future__ import annotations

import os
import sys

import pytest

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def cfg():
    from encore.platform import config

    return config.load()


@pytest.fixture(scope="session")
def spark():
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[1]")
        .appName("encore-tests")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.default.parallelism", "1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.ansi.enabled", "true")
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.driver.memory", "2g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
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
