"""One writer per output: two runs for the same stage and year never mix their outputs.

A run takes ``locks/<stage>-<year>.lock`` under the data root before it writes (created
with O_EXCL, so exactly one run gets it) and removes it when done. A second run fails at
once with a message naming the holder; a lock whose process is gone (same host) is stale
and is taken over. Local data roots only: on object stores the scheduler (one active
DAG run per year, max_active_runs=1) is what serialises runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator

from encore.platform.errors import EncoreError


class RunLocked(EncoreError):
    exit_code = 75  # EX_TEMPFAIL: try again later


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


ERASURE = "erase-user"


def _holder(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            holder = json.load(f)
    except (OSError, ValueError):
        holder = {}
    return holder if isinstance(holder, dict) else {}


def _held(path: str) -> dict | None:
    """The holder of a lock file if it is live (a dead process on this host: None)."""
    if not os.path.exists(path):
        return None
    holder = _holder(path)
    if (
        holder.get("host") == socket.gethostname()
        and isinstance(holder.get("pid"), int)
        and not _alive(holder["pid"])
    ):
        return None
    return holder


def _describe(name: str, holder: dict) -> str:
    return f"{name} (pid {holder.get('pid')}, run {holder.get('run_id')}, started {holder.get('started')})"


@contextlib.contextmanager
def hold(data_root: str, name: str, run_id: str | None = None) -> Iterator[str | None]:
    """The lock of one stage (and year); refused while an erasure runs on the root."""
    with _take(data_root, name, run_id) as path:
        if path is not None and name != ERASURE:
            eraser = _held(os.path.join(os.path.dirname(path), f"{ERASURE}.lock"))
            if eraser is not None:
                raise RunLocked(
                    f"an erasure is running on this data root, {_describe(ERASURE, eraser)}: "
                    f"{name} waits for it; try again when it has finished"
                )
        yield path


@contextlib.contextmanager
def hold_exclusive(data_root: str, run_id: str | None = None) -> Iterator[str | None]:
    """The erasure lock: no other run of the root may write while it is held."""
    with _take(data_root, ERASURE, run_id) as path:
        if path is not None:
            folder = os.path.dirname(path)
            for entry in sorted(os.listdir(folder)):
                if not entry.endswith(".lock") or entry == f"{ERASURE}.lock":
                    continue
                other = _held(os.path.join(folder, entry))
                if other is not None:
                    raise RunLocked(
                        f"another run is writing this data root, {_describe(entry[:-5], other)}: "
                        "the erasure waits for it; try again when it has finished"
                    )
        yield path


@contextlib.contextmanager
def _take(data_root: str, name: str, run_id: str | None = None) -> Iterator[str | None]:
    if "://" in str(data_root):
        yield None
        return
    folder = os.path.join(data_root, "locks")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{name}.lock")
    me = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "run_id": run_id,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                with open(path, encoding="utf-8") as f:
                    holder = json.load(f)
            except (OSError, ValueError):
                holder = {}
            same_host = holder.get("host") == me["host"]
            if same_host and isinstance(holder.get("pid"), int) and not _alive(holder["pid"]):
                os.remove(path)  # stale: its process died without cleaning up
                continue
            raise RunLocked(
                f"another run is writing {name} (pid {holder.get('pid')}, run {holder.get('run_id')}, "
                f"started {holder.get('started')}): wait for it to finish, or delete {path} if it died on another host"
            ) from None
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(me, f)
        break
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


@contextlib.contextmanager
def exclusive(data_root: str, name: str, run_id: str | None = None) -> Iterator[str | None]:
    """``hold`` on every kind of data root.

    Local roots: the O_EXCL lock file above. Object stores and HDFS (``://`` roots) have
    no create-exclusive file, so a run writes its own claim
    ``locks/<name>.claims/<time>-<random>.json`` and then lists the claims: any other
    live claim means another run may hold the lock, so it withdraws its claim and
    fails (RunLocked). Two runs can both withdraw, never both go on: whichever writes
    its claim second sees the first one when it lists (the stores are
    read-after-write consistent). A claim of a dead process on this host is stale."""
    if "://" not in str(data_root):
        with hold(data_root, name, run_id) as path:
            yield path
        return
    import uuid

    from encore.platform import storage

    folder = storage.join(data_root, "locks", f"{name}.claims")
    me = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "run_id": run_id,
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    mine_name = f"{time.time_ns():020d}-{uuid.uuid4().hex}.json"
    mine = storage.join(folder, mine_name)
    storage.write_json_atomic(mine, me)
    try:
        for other in storage.listdir(folder):
            if other == mine_name or other.startswith(".") or not other.endswith(".json"):
                continue  # '.' files: another run's claim still being written (it will see ours)
            path = storage.join(folder, other)
            try:
                holder = storage.read_json(path)
            except (OSError, ValueError):
                continue  # withdrawn between the listing and the read
            if (
                holder.get("host") == me["host"]
                and isinstance(holder.get("pid"), int)
                and not _alive(holder["pid"])
            ):
                with contextlib.suppress(OSError):
                    storage.delete(path)  # stale: its process died without withdrawing it
                continue
            raise RunLocked(
                f"another run is writing {name} (pid {holder.get('pid')} on {holder.get('host')}, "
                f"run {holder.get('run_id')}, started {holder.get('started')}): wait for it to finish, "
                f"or delete {path} if it died"
            )
        yield mine
    finally:
        with contextlib.suppress(OSError):
            storage.delete(mine)


def lock_name(command: str, year: int | None) -> str:
    """ingest writes every year's events: one lock for it; other stages lock a year."""
    return command if command == "ingest" or year is None else f"{command}-{year}"
