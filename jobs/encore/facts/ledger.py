"""The budget ledger (docs/facts.md, "Budget and ledger").

The year's budget (conf ``[privacy]``) is split by weight (``catalog.budget_for``);
``ledger/year=Y/*.jsonl`` records every release, one new file per release, written
atomically and never rewritten. ``spent`` sums it; ``require_budget`` refuses a
request that does not fit in what is left (``BudgetExceeded``) before any data is
read; ``ledger_files`` lets a release see whether the ledger moved under it
(``LedgerMoved``).
"""

from __future__ import annotations

import json
import uuid

from encore.facts import catalog as fc
from encore.facts.catalog import FactSpec
from encore.platform import datasets, storage
from encore.platform.errors import BudgetExceeded
from encore.platform.locks import RunLocked

TOLERANCE = 1e-9  # floating-point slack when summing epsilons


def ledger_path(root: str, year: int) -> str:
    return datasets.path(root, "ledger", f"year={year}")


def read_ledger(root: str, year: int) -> list[dict]:
    """Every ledger entry of the year, oldest file first."""
    folder = ledger_path(root, year)
    entries = []
    for name in storage.listdir(folder):
        if name.endswith(".jsonl") and not name.startswith((".", "_")):
            for line in storage.read_text(storage.join(folder, name)).splitlines():
                if line.strip():
                    entries.append(json.loads(line))
    return entries


def spent(root: str, year: int) -> tuple[float, float]:
    """(epsilon, delta) spent on ``year`` so far, by the ledger."""
    entries = read_ledger(root, year)
    return sum(e["epsilon"] for e in entries), sum(e["delta"] for e in entries)


def require_budget(root: str, year: int, specs: list[FactSpec], cfg: dict) -> None:
    """Raise ``BudgetExceeded`` unless releasing ``specs`` fits in what is left of the
    year's budget; the message says what was asked and what is left."""
    total_eps, total_delta = (
        cfg["privacy"]["epsilon_per_year"],
        cfg["privacy"]["delta_per_year"],
    )
    used_eps, used_delta = spent(root, year)
    need = [fc.budget_for(s, cfg) for s in specs]
    need_eps, need_delta = sum(e for e, _ in need), sum(d for _, d in need)
    if used_eps + need_eps > total_eps * (
        1 + TOLERANCE
    ) or used_delta + need_delta > total_delta * (1 + TOLERANCE):
        raise BudgetExceeded(
            f"privacy budget for {year} exceeded: releasing {', '.join(s.id for s in specs)} needs "
            f"epsilon {need_eps:.4g} / delta {need_delta:.3g}, but only epsilon "
            f"{max(0.0, total_eps - used_eps):.4g} / delta {max(0.0, total_delta - used_delta):.3g} "
            f"of {total_eps:g} / {total_delta:g} is left (ledger: {ledger_path(root, year)}); nothing was released"
        )


def append_ledger(root: str, year: int, entries: list[dict], run_id: str) -> str:
    """A new file per release: the ledger is append-only, each file written atomically."""
    path = storage.join(ledger_path(root, year), f"{run_id}-{uuid.uuid4().hex[:6]}.jsonl")
    text = "".join(json.dumps(e, sort_keys=True, ensure_ascii=False) + "\n" for e in entries)
    storage.write_text_atomic(path, text)
    return path


class LedgerMoved(RunLocked):
    """The ledger changed between the budget check and the write: another release ran."""


def ledger_files(root: str, year: int) -> frozenset[str]:
    """The ledger's file names: a release compares them before and after it writes."""
    return frozenset(
        n
        for n in storage.listdir(ledger_path(root, year))
        if n.endswith(".jsonl") and not n.startswith((".", "_"))
    )


def ledger_moved(year: int, seen: frozenset[str], now: frozenset[str]) -> LedgerMoved:
    return LedgerMoved(
        f"privacy ledger for {year} changed while this release was computed ({', '.join(sorted(now - seen))} "
        "appeared: another release ran at the same time); nothing was released: run again"
    )
