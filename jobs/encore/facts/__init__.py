"""Differentially private global facts (docs/facts.md): the stage's public API.

Other packages write ``from encore import facts`` and call ``facts.release(...)``,
``facts.load_released(...)``, ``facts.answer(...)``, ``facts.bounds(...)``. The modules:

- ``catalog``: the ``[facts]`` section — fact specs, validation, the budget split;
- ``population``: the private tables, built before the DP library sees any data;
- ``evaluation``: each fact evaluated by Tumult Analytics (listener = protected unit);
- ``noise``: the one adapter over the library's private noise description;
- ``ledger``: the year's budget — spent, what is left, ``ledger/year=Y/*.jsonl``;
- ``store``: released values, immutable (``facts/year=Y/``);
- ``releases``: ``release()`` — budget check, evaluation, spend, publication;
- ``report``: answers as people read them and ``_REPORT.md``;
- ``job``: the ``encore facts`` command.
"""

from encore.facts.evaluation import Evaluated, evaluate_fact, open_session
from encore.facts.ledger import LedgerMoved, ledger_path, read_ledger, spent
from encore.facts.noise import error95
from encore.facts.population import (
    Inputs,
    eligible_listeners,
    population_tables,
    prepared,
    read_inputs,
)
from encore.facts.releases import release
from encore.facts.report import answer, bounds, plain_error, write_report
from encore.facts.store import FACT_ROW, ReleasedFact, load_released

__all__ = [
    "FACT_ROW",
    "Evaluated",
    "Inputs",
    "LedgerMoved",
    "ReleasedFact",
    "answer",
    "bounds",
    "eligible_listeners",
    "error95",
    "evaluate_fact",
    "ledger_path",
    "load_released",
    "open_session",
    "plain_error",
    "population_tables",
    "prepared",
    "read_inputs",
    "read_ledger",
    "release",
    "spent",
    "write_report",
]
