"""The same jobs, unchanged, on a real Spark standalone cluster (a master and two
workers on 127.0.0.1), through the same spark-submit entry point the DAG uses, with the
encore package shipped as --py-files: recaps and rendered cards must be identical to a
local run."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest
from scanning import tree_digest

from encore import pipeline
from encore.platform import config
from encore.tools import generate

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.dirname(sys.executable)
YEAR = 2025

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A standalone master and two one-core workers from the jobs environment."""
    logs = tmp_path_factory.mktemp("spark-cluster")
    port, ui = _free_port(), _free_port()
    env = dict(
        os.environ,
        SPARK_LOCAL_IP="127.0.0.1",
        SPARK_NO_DAEMONIZE="1",
        SPARK_WORKER_DIR=str(logs / "work"),
        PYSPARK_PYTHON=sys.executable,
    )
    procs = [
        subprocess.Popen(
            [
                os.path.join(BIN, "spark-class"),
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--webui-port",
                str(ui),
            ],
            stdout=open(logs / "master.log", "w"),
            stderr=subprocess.STDOUT,
            env=env,
        )
    ]
    try:
        _wait_port(port)
        url = f"spark://127.0.0.1:{port}"
        for i in range(2):
            procs.append(
                subprocess.Popen(
                    [
                        os.path.join(BIN, "spark-class"),
                        "org.apache.spark.deploy.worker.Worker",
                        url,
                        "--host",
                        "127.0.0.1",
                        "--cores",
                        "1",
                        "--memory",
                        "1g",
                        "--webui-port",
                        str(_free_port()),
                    ],
                    stdout=open(logs / f"worker{i}.log", "w"),
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            )
        time.sleep(4)
        yield url
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def _pyfiles(tmp) -> str:
    """The jobs package as a zip, the way it is shipped to a cluster (docs/cluster.md)."""
    base = os.path.join(tmp, "encore-jobs")
    return shutil.make_archive(base, "zip", root_dir=os.path.join(REPO, "jobs"), base_dir="encore")


def _submit(master: str, data: str, stage: str, pyfiles: str | None, extra: list[str]) -> None:
    cmd = [
        os.path.join(BIN, "spark-submit"),
        "--master",
        master,
        "--conf",
        "spark.sql.shuffle.partitions=4",
        "--conf",
        f"spark.pyspark.python={sys.executable}",
        "--conf",
        "spark.executor.memory=768m",
        "--conf",
        "spark.ui.enabled=false",
        "--conf",
        f"spark.executorEnv.ENCORE_HOME={REPO}",
    ]
    if pyfiles:
        cmd += ["--py-files", pyfiles]
    year = [] if stage == "ingest" else ["--year", str(YEAR)]
    cmd += [
        os.path.join(REPO, "jobs", "main.py"),
        stage,
        "--data",
        data,
        *year,
        "--run-id",
        f"{stage}-test",
        *extra,
    ]
    env = dict(
        os.environ, SPARK_LOCAL_IP="127.0.0.1", PYSPARK_PYTHON=sys.executable, ENCORE_HOME=REPO
    )
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    assert done.returncode == 0, (
        f"{stage} on {master} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    )


def _recap_rows(data: str) -> list[dict]:
    table = pq.read_table(os.path.join(data, "recaps", f"year={YEAR}"))
    return sorted(table.to_pylist(), key=lambda r: r["user_id"])


def test_cluster_run_equals_local_run(cluster, tmp_path):
    raw = tmp_path / "raw-source"
    generate.generate(str(raw), users=120, years=[YEAR - 1, YEAR], seed=3, mean_plays=60)
    stages = [s for s in pipeline.STAGES if s in ("ingest", "recaps", "render")]
    pyfiles = _pyfiles(str(tmp_path))
    roots = {}
    for label, master, pf in (("local", "local[2]", None), ("cluster", cluster, pyfiles)):
        data = str(tmp_path / label)
        shutil.copytree(raw / "raw", os.path.join(data, "raw"))
        # still generated data: the marker that lets --demo use the demo secret goes along
        shutil.copy(raw / config.GENERATED_MARKER, os.path.join(data, config.GENERATED_MARKER))
        for stage in stages:
            _submit(master, data, stage, pf, ["--demo"] if stage == "render" else [])
        roots[label] = data
    local, remote = _recap_rows(roots["local"]), _recap_rows(roots["cluster"])
    assert len(local) > 50
    assert local == remote
    if "render" in stages:
        a = tree_digest(os.path.join(roots["local"], "site"))
        b = tree_digest(os.path.join(roots["cluster"], "site"))
        assert a and a == b
