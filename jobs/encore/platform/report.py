"""What every command tells its user: what it read, wrote and rejected, and how long
it took. A Report prints as it goes (long work shows progress) and is saved as JSON
under reports/ at the end."""

from __future__ import annotations

import sys
import time
from typing import Any

from encore.platform import storage


class Report:
    def __init__(
        self, stage: str, data_root: str, run_id: str | None = None, *, quiet: bool = False
    ):
        self.stage = stage
        self.data_root = data_root
        self.run_id = run_id or storage.new_run_id()
        self.quiet = quiet
        self.started = time.monotonic()
        self.body: dict[str, Any] = {
            "stage": stage,
            "run_id": self.run_id,
            "read": {},
            "wrote": {},
            "rejected": {},
            "skipped": [],
            "notes": [],
            "timings_s": {},
        }
        self._phase_start: float | None = None
        self._phase: str | None = None

    def say(self, line: str) -> None:
        if not self.quiet:
            print(f"[{self.stage}] {line}", file=sys.stderr, flush=True)

    def phase(self, name: str) -> None:
        """Start a named phase; the previous one is timed. Prints progress."""
        now = time.monotonic()
        if self._phase is not None:
            self.body["timings_s"][self._phase] = round(now - self._phase_start, 3)
        self._phase, self._phase_start = name, now
        self.say(f"{name} ...")

    def read(self, what: str, count: Any) -> None:
        self.body["read"][what] = count
        self.say(f"read    {what}: {count}")

    def wrote(self, what: str, count: Any) -> None:
        self.body["wrote"][what] = count
        self.say(f"wrote   {what}: {count}")

    def rejected(self, what: str, count: Any) -> None:
        self.body["rejected"][what] = count
        self.say(f"rejected {what}: {count}")

    def skipped(self, what: str, why: str) -> None:
        self.body["skipped"].append({"what": what, "why": why})
        self.say(f"skipped {what}: {why}")

    def note(self, text: str) -> None:
        self.body["notes"].append(text)
        self.say(f"note    {text}")

    def set(self, key: str, value: Any) -> None:
        self.body[key] = value

    def finish(self, *, save: bool = True) -> str | None:
        self.phase("done")
        self.body["timings_s"].pop("done", None)
        self.body["wall_s"] = round(time.monotonic() - self.started, 3)
        path = None
        if save:
            path = storage.join(self.data_root, "reports", f"{self.stage}-{self.run_id}.json")
            storage.write_json_atomic(path, self.body)
            self.say(f"report  {path}")
        self.say(f"finished in {self.body['wall_s']:.1f} s")
        return path
