"""Two runs for the same stage and year never write at the same time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from encore.platform import locks


def test_second_holder_fails_clearly(tmp_path):
    with locks.hold(str(tmp_path), "recaps-2025", "run-a"):
        with pytest.raises(
            locks.RunLocked, match=r"another run is writing recaps-2025 \(pid \d+, run run-a"
        ):
            with locks.hold(str(tmp_path), "recaps-2025", "run-b"):
                pass
        with locks.hold(str(tmp_path), "recaps-2024", "run-c"):  # another year is independent
            pass
    # released: the next run gets it
    with locks.hold(str(tmp_path), "recaps-2025", "run-d"):
        pass
    assert os.listdir(tmp_path / "locks") == []


def test_lock_held_by_another_process(tmp_path):
    code = (
        "import sys, time; sys.path.insert(0, {!r}); from encore.platform import locks\n"
        "with locks.hold({!r}, 'render-2025', 'other'):\n    print('held', flush=True); time.sleep(30)\n".format(
            os.path.join(os.path.dirname(__file__), "..", "..", "jobs"), str(tmp_path)
        )
    )
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(locks.RunLocked, match="run other"):
            with locks.hold(str(tmp_path), "render-2025"):
                pass
    finally:
        holder.kill()
        holder.wait()
    # the holder died without cleaning up: its lock is stale and is taken over
    assert (tmp_path / "locks" / "render-2025.lock").exists()
    with locks.hold(str(tmp_path), "render-2025", "after"):
        assert json.load(open(tmp_path / "locks" / "render-2025.lock"))["run_id"] == "after"


def test_stale_lock_from_dead_pid_is_taken_over(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    time.sleep(0.05)
    os.makedirs(tmp_path / "locks")
    import socket

    (tmp_path / "locks" / "facts-2025.lock").write_text(
        json.dumps({"pid": dead.pid, "host": socket.gethostname(), "run_id": "crashed"})
    )
    with locks.hold(str(tmp_path), "facts-2025", "new"):
        pass
