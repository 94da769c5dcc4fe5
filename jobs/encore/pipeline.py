"""`encore run`: the yearly pipeline in order, locally, in one process: one Spark
session and one run id shared by the stages, each called as a function (its
``run(ctx, ...)``) under its own lock. The Airflow DAG `encore_yearly` runs the same
stages as separate spark-submit tasks."""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable

from encore.platform import locks
from encore.platform.args import add_common
from encore.platform.context import RunContext

STAGES = ("ingest", "recaps", "facts", "render", "publish")
"""The yearly stages, in order (the DAG's task order too)."""


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common(p, year=True)
    p.add_argument(
        "--demo", action="store_true", help="generated data: allow the labelled demo share secret"
    )


def stage_functions(*, demo: bool = False) -> dict[str, Callable[[RunContext], int]]:
    """Each yearly stage as a function of the run context, with ``encore run``'s options."""
    from encore.facts import job as facts
    from encore.ingest import job as ingest
    from encore.publish import job as publish
    from encore.recaps import job as recaps
    from encore.render import job as render

    return {
        "ingest": ingest.run,
        "recaps": recaps.run,
        "facts": facts.run,
        "render": lambda ctx: render.run(ctx, demo=demo),
        "publish": lambda ctx: publish.run(ctx, demo=demo),
    }


def main(args: argparse.Namespace, cfg: dict) -> int:
    """`encore run`: the parsed flags -> :func:`run`."""
    return run(RunContext.from_args(args, cfg), demo=args.demo)


def run(ctx: RunContext, *, demo: bool = False, stages: tuple[str, ...] = STAGES) -> int:
    """Run ``stages`` (default: all, in order) for ``ctx.year``; stop at the first that
    fails and return its exit code."""
    year = ctx.need_year("run")
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        from encore.platform.errors import EncoreError

        raise EncoreError(f"unknown stage {unknown[0]!r}: the stages are {', '.join(STAGES)}")
    started = time.monotonic()
    functions = stage_functions(demo=demo)
    for stage in stages:
        print(f"[run] === {stage} ({year}) ===", flush=True)
        # ingest takes its own lock, then the erasure lock for the dump's requests
        lock = (
            contextlib.nullcontext()
            if stage == "ingest"
            else locks.hold(ctx.data, locks.lock_name(stage, year), ctx.run_id)
        )
        with lock:
            code = functions[stage](ctx)
        if code:
            print(
                f"[run] stage {stage} failed with exit code {code}; later stages not run",
                flush=True,
            )
            return code
    print(
        f"[run] yearly pipeline for {year} finished in {time.monotonic() - started:.1f} s",
        flush=True,
    )
    return 0
