"""Releasing facts (privacy.md, "Global facts: insights, never raw data"; docs/facts.md).

How a release works:

1. The population (``population.population_tables``) keeps privacy.md's population
   and nothing else, *before* any of it reaches the DP library.
2. Every fact is evaluated by Tumult Analytics with the listener as the protected
   unit (``evaluation``); what the noise is comes from the library (``noise``).
3. The year's budget is split by weight; the ledger (``ledger``) records every
   release. A request that does not fit in what is left fails with ``BudgetExceeded``
   before any data is read, and releases nothing. Releases are exclusive per root and
   year on every kind of root (``locks.exclusive``), and the ledger is checked again
   before and after the spend is written: a release that finds it moved withdraws
   (``LedgerMoved``) and publishes nothing.
4. Released values are immutable (``store``): asking again for a released fact (same
   query and the same ranking and shares, ``FactSpec.released_as``, whatever its id)
   returns the stored value and spends nothing. The report
   (``report``) is rewritten after each release.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from encore.facts import catalog as fc
from encore.facts.catalog import FactSpec
from encore.facts.evaluation import evaluate_fact, library_scratch, open_session
from encore.facts.ledger import append_ledger, ledger_files, ledger_moved, require_budget
from encore.facts.population import Inputs, read_inputs
from encore.facts.report import write_report
from encore.facts.store import (
    ReleasedFact,
    as_released,
    by_signature,
    load_released,
    publish_rows,
    rows_of,
    stored_release,
)
from encore.platform import locks, storage
from encore.platform.errors import EncoreError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def release(
    spark: SparkSession,
    root: str,
    year: int,
    specs: list[FactSpec],
    cfg: dict,
    run_id: str,
    *,
    inputs: Inputs | None = None,
    say: Callable[[str], None] | None = None,
) -> dict[str, ReleasedFact]:
    """Release ``specs`` for ``year`` and return every one of them by id.

    Facts already released (same query) come back from storage and spend nothing. The
    rest are evaluated together if — and only if — their budget fits in what the
    ledger says is left of the year's total; otherwise ``BudgetExceeded`` is raised and
    nothing is released. ``inputs`` lets tests hand in their own population.
    """
    say = say or (lambda _line: None)
    ids = [s.id for s in specs]
    if len(set(ids)) != len(ids):
        raise EncoreError(f"fact ids must be unique, got {ids}")
    # releases are stored by their query: two ids asking one query would be stored as one
    # release holding both draws (and each id would read the other's values)
    same: dict[str, str] = {}
    for spec in specs:
        if spec.signature in same:
            raise EncoreError(
                f"facts {same[spec.signature]!r} and {spec.id!r} ask the same release (same "
                "source, keys, filters and bounds, both ranked or not, the same shares): "
                "release one of them, or change the other's parameters"
            )
        same[spec.signature] = spec.id
    # one release at a time per root and year (an O_EXCL lock file, or claims on :// roots)
    with locks.exclusive(root, f"ledger-{year}", run_id):
        stored_rows = load_released(root, year)
        stored = by_signature(stored_rows)
        stored_ids = {r["fact_id"]: r["signature"] for r in stored_rows}
        out: dict[str, ReleasedFact] = {}
        todo: list[FactSpec] = []
        for spec in specs:
            rows = stored_release(spec, stored)
            if rows is not None:
                out[spec.id] = as_released(spec, rows, reused=True)
            elif spec.id in stored_ids:
                raise EncoreError(
                    f"fact {spec.id!r} was already released for {year} with other parameters; "
                    "releases are immutable: give the changed fact a new id"
                )
            else:
                todo.append(spec)
        if not todo:
            return out
        seen = ledger_files(root, year)
        require_budget(root, year, todo, cfg)  # before any data is read
        ours = inputs is None
        if ours:
            inputs = read_inputs(spark, root, year, cfg, {s.source for s in todo})
        try:
            return _release_todo(
                root, year, specs, todo, out, stored_rows, inputs, cfg, run_id, say, seen
            )
        finally:
            if ours:
                for df in inputs.private.values():
                    df.unpersist()


def _release_todo(root, year, specs, todo, out, stored_rows, inputs, cfg, run_id, say, seen):
    """release(), once the inputs are there: evaluate, record the spend, publish."""
    need = [fc.budget_for(s, cfg) for s in todo]
    unavailable = []
    for spec in todo:
        why = inputs.missing.get(spec.source) or next(
            (inputs.missing[k] for k in spec.keys if k in inputs.missing), None
        )
        if why:
            unavailable.append((spec, why))
    if unavailable:
        say("skipped " + "; ".join(f"{s.id} ({why})" for s, why in unavailable))
        todo = [s for s in todo if s not in {u for u, _ in unavailable}]
        if not todo:
            return out
        need = [fc.budget_for(s, cfg) for s in todo]
    evaluated = []
    with library_scratch():  # the draws are kept in memory only, published or not
        session = open_session(inputs, todo, sum(e for e, _ in need), sum(d for _, d in need))
        for spec in todo:
            say(f"evaluating {spec.id} (epsilon {fc.budget_for(spec, cfg)[0]:.4g})")
            evaluated.append(evaluate_fact(session, spec, inputs, year, cfg))
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    # check, then write, then check again: the budget was checked against ``seen``; if
    # the ledger moved since (a release that did not honour the lock), this one
    # withdraws before anything is published. The spend is recorded before the values
    # are published: a crash in between over-counts the budget, never under-counts it.
    now_files = ledger_files(root, year)
    if now_files != seen:
        raise ledger_moved(year, seen, now_files)
    mine = append_ledger(
        root,
        year,
        [
            {
                "year": year,
                "fact_id": ev.spec.id,
                "signature": ev.spec.signature,
                "params": ev.spec.identity(),
                "epsilon": ev.epsilon,
                "delta": ev.delta,
                "mechanism": ev.mechanism,
                "time": now,
                "run_id": run_id,
            }
            for ev in evaluated
        ],
        run_id,
    )
    now_files = ledger_files(root, year)
    if now_files - seen - {posixpath.basename(mine)}:
        storage.delete(mine)  # the values drawn are never published, so they spent nothing
        raise ledger_moved(year, seen, now_files - {posixpath.basename(mine)})
    new_rows = [row for ev in evaluated for row in rows_of(ev, run_id, now)]
    publish_rows(root, year, stored_rows + new_rows, run_id)
    fresh = by_signature(new_rows)
    for ev in evaluated:
        out[ev.spec.id] = as_released(ev.spec, fresh[ev.spec.signature], reused=False)
    write_report(root, year, cfg)
    return {s.id: out[s.id] for s in specs if s.id in out}
