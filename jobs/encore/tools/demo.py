"""`encore demo` / `make demo`: generate a small dataset, run the real DAGs on it with
Airflow (`airflow dags test`, SQLite in an ignored folder of the repo), then print
where the outputs are.

    1. encore generate            (skipped when the same dataset is already there)
    2. encore_yearly              year Y, demo share secret: ingest, recaps ∥ facts, render, publish
    3. encore_campaign            its default params (the form as the marketing team sees it)
    4. the paths of a sample recap page, its summary PNG, the campaign copy and preview, the facts
       report and the run report

Airflow lives in its own environment (.venv-airflow); the DAGs submit the Spark jobs
with this environment's spark-submit (scripts/airflow-env.sh wires both).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime

from encore.platform import config, storage
from encore.platform.errors import EncoreError
from encore.tools import generate

# The one-slot pool the DAGs' facts and campaign tasks share (dags/encore_common: BUDGET_POOL)
BUDGET_POOL = "encore_privacy_budget"
BUDGET_POOL_DESCRIPTION = "Encore: one privacy-budget release at a time (facts, campaign)"


def private_log(path: str) -> None:
    """An empty log file only this user can read (Airflow's output can show its password)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def default_year(today: datetime | None = None) -> int:
    """The latest year whose yearly run is due: the encore_campaign form's default too."""
    today = today or datetime.now(UTC)
    return today.year if today.month == 12 else today.year - 1


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--data",
        default="var/demo",
        metavar="DIR",
        help="where the demo data goes (default var/demo)",
    )
    p.add_argument(
        "--airflow-home",
        default="var/airflow",
        metavar="DIR",
        help="Airflow's home for the demo: SQLite database and logs (default var/airflow)",
    )
    p.add_argument("--users", type=int, default=600, help="listeners to generate (default 600)")
    p.add_argument(
        "--mean-plays",
        type=int,
        default=120,
        help="average plays per listener and year (default 120)",
    )
    p.add_argument(
        "--year", type=int, default=None, help="the recap year (default: the latest closed year)"
    )
    p.add_argument("--seed", type=int, default=1)


def _airflow(home: str, data: str, *argv: str, log: str) -> float:
    """Run an `airflow` command with Encore's wiring; its output goes to ``log``."""
    repo = str(config.REPO_ROOT)
    airflow = os.path.join(repo, ".venv-airflow", "bin", "airflow")
    if not os.path.exists(airflow):
        raise EncoreError(
            f"{airflow} not found: run `make setup` first (Airflow lives in .venv-airflow)"
        )
    script = os.path.join(repo, "scripts", "airflow-env.sh")
    cmd = [
        "bash",
        "-c",
        'source "$0" "$1" "$2" && shift 2 && exec "$@"',
        script,
        home,
        data,
        airflow,
        *argv,
    ]
    started = time.monotonic()
    with open(log, "ab") as out:
        code = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=repo)
    if code:
        tail = open(log, encoding="utf-8", errors="replace").read().splitlines()[-15:]
        raise EncoreError(
            f"`airflow {' '.join(argv)}` failed (exit {code}); last lines of {log}:\n"
            + "\n".join(tail)
        )
    return time.monotonic() - started


def _newest(paths: list[str]) -> str | None:
    paths = [p for p in paths if os.path.exists(p)]
    return max(paths, key=os.path.getmtime) if paths else None


def _facts_report(manifest: dict) -> str | None:
    """The facts job's readable report (released facts, budget spent) if it wrote one,
    else its JSON stage report."""
    readable = os.path.join(manifest["datasets"]["facts"], "_REPORT.md")
    return readable if os.path.exists(readable) else manifest["reports"].get("facts")


def main(args: argparse.Namespace, _cfg: dict) -> int:
    started = time.monotonic()
    data, home = os.path.abspath(args.data), os.path.abspath(args.airflow_home)
    year = args.year or default_year()
    years = [year, year + 1]
    marker = os.path.join(data, "demo.json")  # what was generated here, by `encore demo`
    want = {"users": args.users, "years": years, "seed": args.seed, "mean_plays": args.mean_plays}
    if storage.exists(marker) and storage.read_json(marker) == want:
        print(f"[demo] reusing generated data in {data}/raw", flush=True)
    else:
        if storage.listdir(data) and not storage.exists(marker):
            raise EncoreError(
                f"{data} is not empty and was not made by `encore demo`: pick another --data"
            )
        for name in storage.listdir(data):  # another demo dataset: start clean
            shutil.rmtree(os.path.join(data, name), ignore_errors=True)
        print(f"[demo] generating {args.users} listeners for {years} in {data}/raw", flush=True)
        generate.generate(
            data,
            users=args.users,
            years=years,
            seed=args.seed,
            mean_plays=args.mean_plays,
            progress=True,
        )
        storage.write_json_atomic(marker, want)

    os.makedirs(home, exist_ok=True)
    log = os.path.join(home, "demo.log")
    private_log(log)
    if not os.path.exists(os.path.join(home, "airflow.db")):
        print(f"[demo] creating Airflow's SQLite database in {home}", flush=True)
        _airflow(home, data, "db", "migrate", log=log)
    _airflow(home, data, "pools", "set", BUDGET_POOL, "1", BUDGET_POOL_DESCRIPTION, log=log)
    print(
        f"[demo] airflow dags test encore_yearly (year {year}): ingest -> recaps | facts -> render -> publish "
        f"(log: {log})",
        flush=True,
    )
    took = _airflow(
        home,
        data,
        "dags",
        "test",
        "encore_yearly",
        "-c",
        json.dumps({"year": year, "demo": True}),
        log=log,
    )
    print(f"[demo] encore_yearly succeeded in {took:.0f} s", flush=True)
    print("[demo] airflow dags test encore_campaign (default params)", flush=True)
    took = _airflow(home, data, "dags", "test", "encore_campaign", log=log)
    print(f"[demo] encore_campaign succeeded in {took:.0f} s", flush=True)

    manifest = storage.read_json(os.path.join(data, "manifests", f"{year}.json"))
    site = manifest["datasets"]["site"]
    pages = sorted(
        n for n in os.listdir(site) if os.path.isfile(os.path.join(site, n, "index.html"))
    )
    if not pages:
        raise EncoreError(f"no recap pages in {site}: see {log}")
    sample = os.path.join(site, pages[0])
    campaign_copy = _newest(
        [
            os.path.join(root, "copy.md")
            for root, _, files in os.walk(os.path.join(data, "campaigns", str(year)))
            if "copy.md" in files
        ]
    )
    preview = (
        os.path.join(os.path.dirname(campaign_copy), "preview.html") if campaign_copy else None
    )
    outputs = [
        ("sample recap page", os.path.join(sample, "index.html")),
        ("its summary card", os.path.join(sample, "summary.png")),
        ("campaign copy", campaign_copy),
        ("campaign preview", preview),
        ("facts report", _facts_report(manifest)),
        ("run report", manifest["run_report"]),
    ]
    print(
        f"\nEncore demo ({year}, {len(pages)} recap pages) in {time.monotonic() - started:.0f} s:"
    )
    missing = []
    for label, path in outputs:
        print(f"  {label:18s} {path}")
        if not path or not os.path.exists(path):
            missing.append(label)
    print(f"\n  open the page:     file://{os.path.join(sample, 'index.html')}")
    if preview:
        print(f"  open the campaign: file://{preview}")
    print(f"  Airflow UI:        make airflow  (these runs are in {home})")
    if missing:
        print(f"[demo] missing: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0
