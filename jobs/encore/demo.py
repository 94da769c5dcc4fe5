"""`encore demo` / `make demo`: generate a small dataset and run the yearly pipeline
on it, then print where the outputs are."""

from __future__ import annotations

import argparse
import os

from . import generate, pipeline, storage


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="var/demo", metavar="DIR", help="where the demo data goes (default var/demo)")
    p.add_argument("--users", type=int, default=2000, help="listeners to generate (default 2000)")
    p.add_argument("--year", type=int, default=2025, help="the recap year (default 2025)")
    p.add_argument("--seed", type=int, default=1)


def run(args: argparse.Namespace, cfg: dict) -> int:
    years = [args.year, args.year + 1]
    summary_path = os.path.join(args.data, "raw", "_planted", "summary.json")
    if storage.exists(summary_path) and storage.read_json(summary_path).get("users") == args.users:
        print(f"[demo] reusing generated data in {args.data}/raw", flush=True)
    else:
        generate.generate(args.data, users=args.users, years=years, seed=args.seed, mean_plays=200, progress=True)
    run_args = argparse.Namespace(data=args.data, year=args.year, run_id=None, spark_profile=None, demo=True)
    code = pipeline.run(run_args, cfg)
    if code:
        return code
    print("\nEncore demo outputs:")
    for label, rel in [("raw input", "raw"), ("canonical events", "events"), ("recaps", f"recaps/year={args.year}"),
                       ("facts", f"facts/year={args.year}"), ("site", f"site/{args.year}"), ("reports", "reports")]:
        path = os.path.join(args.data, rel)
        if storage.exists(path):
            print(f"  {label:18s} {os.path.abspath(path)}")
    return 0
