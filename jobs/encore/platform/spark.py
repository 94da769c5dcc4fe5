"""Building the SparkSession from a config profile. The session is always injected
into the jobs' pure functions. The one module-level state is the process's scratch
warehouse folder (``scratch_warehouse``), made once per process."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# The profile's plays_per_task, carried in the session for the jobs (recaps.partitions_for).
PLAYS_PER_TASK = "spark.encore.playsPerTask"
DEFAULT_PLAYS_PER_TASK = 250_000


WAREHOUSE = "spark.sql.warehouse.dir"
SCRATCH_PREFIX = "encore-spark-warehouse-"  # + the process id + "-" + mkdtemp's suffix
_scratch_warehouse: list[str] = []  # this process's, made at its first local session


def scratch_warehouse() -> str:
    """A private folder (mode 0700, under the system's temp folder) for the Spark
    warehouse of a local session, removed when the process exits.

    Encore writes no table to the warehouse; the DP library does (its scratch database
    of draws, dropped after each release: ``facts.evaluation.library_scratch``). Spark's
    default, ./spark-warehouse, put it in whatever folder a command was started from.
    A process killed mid-release cannot remove its folder: the next one removes it.
    """
    if not _scratch_warehouse:
        remove_dead_scratch()
        path = tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-")
        atexit.register(shutil.rmtree, path, True)
        _scratch_warehouse.append(path)
    return _scratch_warehouse[0]


def remove_dead_scratch() -> list[str]:
    """Remove the scratch warehouses of this user's Encore processes that no longer run
    (killed, so their exit hook never ran; a killed release's draws are in them).
    A folder of a live process, of another user, or not a plain folder is left alone."""
    import stat

    tmp, removed = tempfile.gettempdir(), []
    for name in os.listdir(tmp):
        pid = name.removeprefix(SCRATCH_PREFIX).split("-", 1)[0]
        if not name.startswith(SCRATCH_PREFIX) or not pid.isdigit() or _alive(int(pid)):
            continue
        path = os.path.join(tmp, name)
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            continue
        if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid():
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def plays_per_task(session: SparkSession) -> int:
    """The session's plays_per_task (the default for a session not made by get_session)."""
    return int(session.conf.get(PLAYS_PER_TASK, str(DEFAULT_PLAYS_PER_TASK)))


def get_session(cfg: dict, app_name: str, profile: str | None = None) -> SparkSession:
    """A SparkSession for ``app_name`` with the settings every Encore job relies on.

    Under ``spark-submit`` the master and resources come from the submit command (the
    DAG's connection) and are left alone; from the CLI they come from the profile.
    """
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    name = profile or os.environ.get("ENCORE_SPARK_PROFILE") or cfg["spark"]["profile"]
    try:
        prof = cfg["spark"]["profiles"][name]
    except KeyError:
        from encore.platform.errors import EncoreError

        raise EncoreError(
            f"unknown Spark profile {name!r}: choose one of {', '.join(cfg['spark']['profiles'])} "
            "(conf/encore.toml [spark.profiles])"
        ) from None
    builder = SparkSession.builder.appName(f"encore-{app_name}")
    under_submit = "SPARK_SUBMIT_OPTS" in os.environ or os.environ.get("ENCORE_UNDER_SPARK_SUBMIT")
    if not under_submit:
        builder = builder.master(prof["master"]).config(
            "spark.driver.memory", prof.get("driver_memory", "2g")
        )
        if prof["master"].startswith("local") and WAREHOUSE not in prof.get("conf", {}):
            # a cluster's warehouse must be storage every executor shares: its own setting
            builder = builder.config(WAREHOUSE, scratch_warehouse())
    builder = (
        builder.config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.ansi.enabled", "true")
        .config("spark.sql.shuffle.partitions", str(prof.get("shuffle_partitions", 8)))
        .config(PLAYS_PER_TASK, str(prof.get("plays_per_task", DEFAULT_PLAYS_PER_TASK)))
        .config("spark.sql.sources.partitionOverwriteMode", "dynamic")
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    )
    for key, value in prof.get("conf", {}).items():
        # a TOML boolean (e.g. "spark.ui.enabled" = false) as Spark writes one: false, not False
        builder = builder.config(key, str(value).lower() if isinstance(value, bool) else str(value))
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session


# Session time zones that are UTC by another name.
UTC_NAMES = ("UTC", "Etc/UTC", "GMT", "Z")


def require_utc(session: SparkSession, stage: str) -> None:
    """Every stage reads and writes instants as UTC and computes local time itself
    (encore.platform.localtime): a session in another zone would shift every clock."""
    tz = session.conf.get("spark.sql.session.timeZone")
    if tz not in UTC_NAMES:
        from encore.platform.errors import EncoreError

        raise EncoreError(
            f"{stage}: the Spark session's time zone is {tz}: Encore needs "
            "spark.sql.session.timeZone=UTC (spark.get_session sets it)"
        )
