"""`encore facts`: differentially private global facts, a budget ledger and immutable
releases (privacy.md, "Global facts: insights, never raw data"; docs/facts.md).

The command releases the fact catalog (or the ``--fact`` ids) for a year, then writes
the report. How a release works: ``releases``; the other modules are listed in the
package's docstring (``encore/facts/__init__.py``).
"""

from __future__ import annotations

import argparse

from encore.facts import catalog as fc
from encore.facts.ledger import spent
from encore.facts.releases import release
from encore.facts.report import REPORT_FILE, answer, write_report
from encore.facts.store import by_signature, load_released, stored_release
from encore.platform import datasets, localtime, storage
from encore.platform.context import RunContext
from encore.platform.errors import EncoreError


def add_arguments(p: argparse.ArgumentParser) -> None:
    from encore.platform.args import add_common

    add_common(p, year=True)
    p.add_argument(
        "--fact",
        action="append",
        default=[],
        metavar="ID",
        help="release only this catalog fact (repeatable); default: the whole catalog",
    )


def main(args: argparse.Namespace, cfg: dict) -> int:
    """`encore facts`: the parsed flags -> :func:`run`."""
    return run(RunContext.from_args(args, cfg), facts=tuple(args.fact or ()))


def run(ctx: RunContext, *, facts: tuple[str, ...] = ()) -> int:
    """Release the year's facts (all of the catalog, or the ids in ``facts``) within the
    year's budget, and write the facts report."""
    cfg, root, year = ctx.cfg, ctx.data, ctx.need_year("facts")
    report = ctx.report("facts")
    specs = fc.catalog(cfg)
    if facts:
        known = {s.id for s in specs}
        unknown = [f for f in facts if f not in known]
        if unknown:
            raise EncoreError(
                f"--fact {unknown[0]}: not in the fact catalog ({', '.join(sorted(known))})"
            )
        specs = [s for s in specs if s.id in facts]
    report.phase("release")
    stored = by_signature(load_released(root, year))
    # a re-run with everything released reads storage only: no Spark session at all
    done = all(stored_release(s, stored) is not None for s in specs)
    spark = None if done else ctx.session("facts")
    released = release(spark, root, year, specs, cfg, report.run_id, say=report.say)
    spent_now = 0.0
    for spec in specs:
        fact = released.get(spec.id)
        if fact is None:
            report.skipped(spec.id, "its input table is missing")
            continue
        shown = answer(spec, fact.rows)
        status = "stored, nothing spent" if fact.reused else f"epsilon {fact.epsilon:.4g} spent"
        report.wrote(f"fact {spec.id}", f"{len(shown)} lines ({status}); {fact.note}")
        if not fact.reused:
            spent_now += fact.epsilon
    if released:
        write_report(root, year, cfg)  # deterministic: a re-run rewrites the same text
    used_eps, used_delta = spent(root, year)
    report.set("local_time", {"tzdata": localtime.VERSION})  # hour, work hours, Valentine's Day
    report.set("epsilon_spent_this_run", spent_now)
    report.set("epsilon_spent_year", used_eps)
    report.set("delta_spent_year", used_delta)
    report.note(
        f"budget {year}: epsilon {used_eps:.4g} of {cfg['privacy']['epsilon_per_year']:g} spent "
        f"({spent_now:.4g} by this run); report {storage.join(datasets.facts_path(root, year), REPORT_FILE)}"
    )
    report.finish()
    return 0
