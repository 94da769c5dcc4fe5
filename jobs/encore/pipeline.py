"""`encore run`: the yearly pipeline in order, locally, in one process (one Spark
session shared by the stages). The Airflow DAG `encore_yearly` runs the same stages
as separate spark-submit tasks."""

from __future__ import annotations

import argparse
import importlib
import time

from encore.platform import locks
from encore.platform.args import add_common

# stage, module; a stage whose module is not built yet is skipped with a note
STAGES: list[tuple[str, str]] = [
    ("ingest", "encore.ingest.job"),
    ("recaps", "encore.recaps.job"),
    ("facts", "encore.facts.job"),
    ("render", "encore.render.job"),
    ("publish", "encore.publish.job"),
]


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_common(p, year=True)
    p.add_argument(
        "--demo", action="store_true", help="generated data: allow the labelled demo share secret"
    )


def stage_args(stage: str, args: argparse.Namespace) -> argparse.Namespace:
    """The argument namespace a stage's own sub-command would have received."""
    mod = importlib.import_module(dict(STAGES)[stage])
    parser = argparse.ArgumentParser(prog=f"encore {stage}")
    mod.add_arguments(parser)
    argv = ["--data", args.data]
    known = {a.dest for a in parser._actions}
    if "year" in known:
        argv += ["--year", str(args.year)]
    if "run_id" in known and getattr(args, "run_id", None):
        argv += ["--run-id", args.run_id]
    if "spark_profile" in known and getattr(args, "spark_profile", None):
        argv += ["--spark-profile", args.spark_profile]
    if "demo" in known and getattr(args, "demo", False):
        argv += ["--demo"]
    return parser.parse_args(argv)


def available_stages() -> list[tuple[str, str]]:
    found = []
    for stage, module in STAGES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise
            continue
        found.append((stage, module))
    return found


def run(args: argparse.Namespace, cfg: dict) -> int:
    started = time.monotonic()
    stages = available_stages()
    missing = [s for s, _ in STAGES if s not in dict(stages)]
    if missing:
        print(f"[run] not built yet, skipped: {', '.join(missing)}", flush=True)
    for stage, module in stages:
        print(f"[run] === {stage} ({args.year}) ===", flush=True)
        mod = importlib.import_module(module)
        with locks.hold(
            args.data, locks.lock_name(stage, args.year), getattr(args, "run_id", None)
        ):
            code = mod.run(stage_args(stage, args), cfg)
        if code:
            print(
                f"[run] stage {stage} failed with exit code {code}; later stages not run",
                flush=True,
            )
            return code
    print(
        f"[run] yearly pipeline for {args.year} finished in {time.monotonic() - started:.1f} s",
        flush=True,
    )
    return 0
