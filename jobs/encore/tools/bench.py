"""`encore bench` / `make bench`: the benchmark.

Generates (or reuses) a dataset of about ``--plays`` plays, runs ingest, recaps, facts
and render stage by stage in one Spark session, and records per stage the wall time,
plays/s and the peak memory of the driver (the Python process), the JVM (driver and
executors: one process in local mode) and the Python workers Spark starts. Then it runs
an independent DuckDB implementation of the core recap columns on the same canonical
events, checks that every listener's answers are equal, and reports the Spark / DuckDB
time ratio; right after ingest, DuckDB does ingest's job on the same raw files
(``oracle_ingest``) and must produce the same events. The Speed issue's ratios close
``bench.md`` (``GOALS``). Results: ``DIR/bench.json`` and ``DIR/bench.md``.

Why one module: it is one command whose parts only make sense together — the stage
loop, the memory sampler, the cross-checks and the tables that print what they
measured; the SQL of the other engine lives in ``oracle`` and ``oracle_ingest``.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import threading
import time

from encore.platform import config, datasets, schemas, storage
from encore.platform.context import RunContext
from encore.platform.errors import EncoreError
from encore.tools.oracle import CORE_COLUMNS
from encore.tools.oracle import all_recaps as duckdb_all_recaps
from encore.tools.oracle import core_recaps as duckdb_core_recaps
from encore.tools.oracle_ingest import compare_events as compare_duckdb_events
from encore.tools.oracle_ingest import ingest_events as duckdb_ingest_events

__all__ = [
    "CORE_COLUMNS",
    "compare_duckdb_events",
    "duckdb_all_recaps",
    "duckdb_core_recaps",
    "duckdb_ingest_events",
]

# The Speed issue's goals (docs/benchmark.md): each ratio, the direction it must go, and
# its target; the bench prints every one beside what it measured.
GOALS = (
    ("ingest / DuckDB (same raw files → events)", "ingest_over_duckdb", "<=", 5.0),
    ("recaps stage / DuckDB (every recap column)", "recaps_over_duckdb_all", "<=", 3.0),
    ("facts stage / recaps stage", "facts_over_recaps", "<=", 1.0),
    ("summary PNGs per second per core", "pngs_per_core_s", ">=", 50.0),
)

# The stages a yearly run takes after ingest, timed one after the other: their sum is the
# "yearly run" figure (docs/benchmark.md).
YEARLY = ("recaps", "facts", "render", "publish")
DEFAULT_STAGES = ("ingest", *YEARLY)
# every column of recaps/year=Y that DuckDB recomputes and the recaps stage must equal
ALL_COLUMNS = tuple(c for c in schemas.column_names(schemas.RECAP) if c not in ("user_id", "year"))


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--plays",
        type=int,
        default=10_000_000,
        help="about how many plays to generate (default 10M)",
    )
    p.add_argument(
        "--out",
        default="var/bench",
        metavar="DIR",
        help="where data and results go (default var/bench)",
    )
    p.add_argument("--year", type=int, default=2025)
    p.add_argument(
        "--mean-plays",
        type=int,
        default=250,
        help="plays per listener per year in the generated data",
    )
    p.add_argument(
        "--stages",
        default=",".join(DEFAULT_STAGES),
        help=f"comma-separated stages to time (default: {','.join(DEFAULT_STAGES)})",
    )
    p.add_argument(
        "--svg-only",
        action="store_true",
        help="render without the summary PNGs (SVG cards and pages only)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--spark-profile", help="Spark profile from conf/encore.toml (default: local)")


class MemorySampler:
    """Peak RSS of this process, the Spark JVM and Spark's Python workers, sampled."""

    def __init__(self, interval: float = 0.25):
        import psutil

        self.psutil = psutil
        self.interval = interval
        self.peak = {"driver_python_mb": 0.0, "jvm_mb": 0.0, "python_workers_mb": 0.0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        me = self.psutil.Process()
        rss = {"driver_python_mb": me.memory_info().rss, "jvm_mb": 0, "python_workers_mb": 0}
        for child in me.children(recursive=True):
            try:
                name = child.name()
                mem = child.memory_info().rss
            except self.psutil.Error:
                continue
            if "java" in name:
                rss["jvm_mb"] += mem
            elif "python" in name:
                rss["python_workers_mb"] += mem
        for k, v in rss.items():
            self.peak[k] = max(self.peak[k], v / 2**20)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self._sample()
        self.peak = {k: round(v, 1) for k, v in self.peak.items()}


def _stage_function(stage: str, args: argparse.Namespace, data: str, functions: dict):
    """The function the bench times for ``stage`` (the pipeline's, with the bench's twists)."""
    if stage == "ingest":
        # every raw file, every time: a re-run of the bench on the same data must time
        # the same work, not the incremental "nothing new" run (docs/ingest.md)
        from encore.ingest import job as ingest

        return functools.partial(ingest.run, reread=True)
    if stage == "facts":
        # releases are immutable: on data a bench run released before, the facts stage
        # would read the stored values and time nothing. The bench's own generated
        # root starts the year's releases afresh, so every run times the same work.
        from encore.facts.ledger import ledger_path

        generated = storage.exists(storage.join(data, config.GENERATED_MARKER))
        for done in (datasets.facts_path(data, args.year), ledger_path(data, args.year)):
            if generated and storage.exists(done):
                print(f"[bench] removing the bench's earlier releases: {done}", flush=True)
                storage.delete(done)
        return functions[stage]
    if stage == "render" and args.svg_only:
        from encore.render import job as render

        return functools.partial(render.run, demo=True, png=False)
    return functions[stage]


def main(args: argparse.Namespace, cfg: dict) -> int:
    from encore import pipeline
    from encore.tools import generate

    if args.plays < 1000:
        raise EncoreError("--plays must be at least 1000")
    wanted = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = [s for s in wanted if s not in pipeline.STAGES]
    if unknown:
        raise EncoreError(
            f"--stages {unknown[0]}: not a stage; the stages are {', '.join(pipeline.STAGES)}"
        )
    data = os.path.join(args.out, "data")
    years = [args.year - 1, args.year]
    # two years of history: the recap year and the one before (new_artists, change vs last year)
    users = max(50, round(args.plays / (args.mean_plays * 1.28 * len(years))))  # measured: 1.28
    summary_path = os.path.join(data, "raw", "_planted", "summary.json")
    results: dict = {
        "plays_target": args.plays,
        "year": args.year,
        "stages": {},
        "machine": _machine(),
    }
    if storage.exists(summary_path) and storage.read_json(summary_path).get("users") == users:
        print(f"[bench] reusing generated data in {data}", flush=True)
        gen = storage.read_json(summary_path)
    else:
        print(
            f"[bench] generating about {args.plays:,} plays for {users:,} listeners ...", flush=True
        )
        t0 = time.monotonic()
        with MemorySampler() as mem:
            gen = generate.generate(
                data,
                users=users,
                years=years,
                seed=args.seed,
                mean_plays=args.mean_plays,
                progress=True,
            )
        wall = time.monotonic() - t0
        results["stages"]["generate"] = {
            "wall_s": round(wall, 2),
            "plays_per_s": round(gen["plays"] / wall),
            **mem.peak,
        }
    results["plays"] = gen["plays"]
    results["listeners"] = gen["users"]
    functions = pipeline.stage_functions(demo=True)
    for stage in wanted:
        print(f"[bench] === {stage} ===", flush=True)
        run_id = f"bench-{stage}-{storage.new_run_id()}"
        ctx = RunContext(
            data=data, cfg=cfg, year=args.year, run_id=run_id, spark_profile=args.spark_profile
        )
        function = _stage_function(stage, args, data, functions)
        t0 = time.monotonic()
        with MemorySampler() as mem:
            code = function(ctx)
        wall = time.monotonic() - t0
        if code:
            raise EncoreError(f"stage {stage} failed with exit code {code}")
        results["stages"][stage] = {
            "wall_s": round(wall, 2),
            "plays_per_s": round(gen["plays"] / wall),
            **mem.peak,
            "driver_live_heap_mb": driver_live_heap_mb(),
        }
        if stage == "ingest":
            results["ingest_duckdb"] = _duckdb_ingest(args.out, data, cfg, wall)
        if stage == "render":
            rep = storage.read_json(storage.join(data, "reports", f"render-{run_id}.json"))
            cards = int(rep.get("wrote", {}).get("cards", 0))
            pngs = int(rep.get("wrote", {}).get("pngs", 0))
            pages = int(rep.get("wrote", {}).get("pages", 0))
            task_s = float(rep.get("render_task_s") or 0)
            png_s = float(rep.get("png_task_s") or 0)
            results["stages"][stage].update(
                cards=cards,
                pngs=pngs,
                png_task_s=round(png_s, 2),
                pngs_exact=int(rep.get("pngs_exact") or 0),
                pngs_outlined=int(rep.get("pngs_outlined") or 0),
                pngs_per_core_s=round(pngs / png_s, 1) if pngs and png_s else None,
                # with PNGs on, a listener's cards, page and summary PNG share the time
                listeners_per_core_s=round(pages / task_s, 1) if task_s else None,
                svg_cards_per_core_s=round(cards / task_s) if task_s and not pngs else None,
            )
    timed = results["stages"]
    if all(s in timed for s in YEARLY):
        results["yearly_s"] = round(sum(timed[s]["wall_s"] for s in YEARLY), 2)

    if "recaps" in results["stages"] and "wall_s" in results["stages"]["recaps"]:
        print("[bench] === duckdb cross-check ===", flush=True)
        t0 = time.monotonic()
        duck = duckdb_core_recaps(data, args.year, cfg)
        duck_s = time.monotonic() - t0
        spark_rows = spark_core_recaps(data, args.year)
        mismatches = compare_core(spark_rows, duck)
        print("[bench] === spark, the same columns ===", flush=True)
        same_s, same_rows = spark_same_columns(data, args.year, cfg, args.spark_profile)
        mismatches += compare_core(same_rows, duck)
        print("[bench] === duckdb, every recap column ===", flush=True)
        t0 = time.monotonic()
        duck_all = duckdb_all_recaps(data, args.year, cfg)
        duck_all_s = time.monotonic() - t0
        mismatches += compare_core(
            spark_core_recaps(data, args.year, ALL_COLUMNS), duck_all, ALL_COLUMNS
        )
        results["duckdb"] = {
            "wall_s": round(duck_s, 2),
            "listeners": len(duck),
            "agreed": not mismatches,
            "mismatches": mismatches[:10],
            "mismatch_count": len(mismatches),
            "spark_same_columns_s": round(same_s, 2),
            "spark_over_duckdb": round(same_s / duck_s, 2),
            "recaps_stage_over_duckdb": round(results["stages"]["recaps"]["wall_s"] / duck_s, 2),
            "all_columns_s": round(duck_all_s, 2),
            "recaps_stage_over_duckdb_all": round(
                results["stages"]["recaps"]["wall_s"] / duck_all_s, 2
            ),
        }
    results["goals"] = goal_values(results)
    os.makedirs(args.out, exist_ok=True)
    storage.write_json_atomic(os.path.join(args.out, "bench.json"), results)
    table = markdown_table(results)
    storage.write_text_atomic(os.path.join(args.out, "bench.md"), table)
    print(table)
    print(f"[bench] results: {os.path.join(args.out, 'bench.json')} and bench.md")
    ing = results.get("ingest_duckdb")
    if ing and not ing["equal"]:
        print(
            f"[bench] INGEST CROSS-CHECK FAILED: {ing['only_spark']} events only in Spark's "
            f"events/, {ing['only_duckdb']} only in DuckDB's (e.g. {ing['example']})",
            flush=True,
        )
        return 1
    if results.get("duckdb") and not results["duckdb"]["agreed"]:
        print(
            f"[bench] CROSS-CHECK FAILED: {results['duckdb']['mismatch_count']} listeners differ",
            flush=True,
        )
        return 1
    return 0


def _duckdb_ingest(out: str, data: str, cfg: dict, spark_s: float) -> dict:
    """DuckDB doing ingest's job on the same raw files (``oracle.ingest_events``), timed,
    and its events compared with Spark's ``events/`` row by row."""
    print("[bench] === duckdb, the same ingest ===", flush=True)
    target = os.path.join(out, "duckdb-events")
    storage.delete(target)
    t0 = time.monotonic()
    counts = duckdb_ingest_events(data, target, cfg)
    duck_s = time.monotonic() - t0
    check = compare_duckdb_events(os.path.join(data, "events"), target)
    storage.delete(target)
    return {
        "wall_s": round(duck_s, 2),
        **counts,
        **check,
        "ingest_over_duckdb": round(spark_s / duck_s, 2),
    }


def goal_values(results: dict) -> dict:
    """Every ratio of GOALS this run measured (absent: the stages it needs were not run)."""
    stages = results["stages"]
    wall = {k: v.get("wall_s") for k, v in stages.items()}
    found = {
        "ingest_over_duckdb": (results.get("ingest_duckdb") or {}).get("ingest_over_duckdb"),
        "recaps_over_duckdb_all": (results.get("duckdb") or {}).get("recaps_stage_over_duckdb_all"),
        "facts_over_recaps": round(wall["facts"] / wall["recaps"], 2)
        if wall.get("facts") and wall.get("recaps")
        else None,
        "pngs_per_core_s": stages.get("render", {}).get("pngs_per_core_s"),
    }
    return {k: v for k, v in found.items() if v is not None}


def goals_table(results: dict) -> list[str]:
    values = results.get("goals") or {}
    if not values:
        return []
    lines = ["", "| goal | measured | target | met |", "| --- | ---: | ---: | --- |"]
    for title, key, way, target in GOALS:
        v = values.get(key)
        unit = "" if key == "pngs_per_core_s" else "x"
        if v is None:
            lines.append(f"| {title} | not run | {way} {target:g}{unit} | — |")
            continue
        met = v <= target if way == "<=" else v >= target
        lines.append(
            f"| {title} | {v:g}{unit} | {way} {target:g}{unit} | {'yes' if met else 'no'} |"
        )
    return lines


def driver_live_heap_mb() -> float | None:
    """What the driver JVM still holds after a stage: its heap in use right after a full
    GC. With a cluster master this is the driver alone (executors are other JVMs); in
    local mode the executors share the JVM, but their caches are released by then."""
    from pyspark.sql import SparkSession

    session = SparkSession.getActiveSession()
    if session is None:
        return None
    jvm = session.sparkContext._jvm  # noqa: SLF001 - py4j: the only way to the driver JVM
    jvm.java.lang.System.gc()
    rt = jvm.java.lang.Runtime.getRuntime()
    return round((rt.totalMemory() - rt.freeMemory()) / 2**20, 1)


def _machine() -> dict:
    import psutil

    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }


def markdown_table(results: dict) -> str:
    m = results["machine"]
    lines = [
        f"Benchmark: {results['plays']:,} plays, {results['listeners']:,} listeners, recap year {results['year']} "
        f"on {m['cpus']} CPUs / {m['memory_gb']} GB ({m['platform']}, Python {m['python']})",
        "",
        "| stage | wall s | plays/s | driver Python MB | JVM MB (peak RSS) | driver JVM live heap MB "
        "| Python workers MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for stage, r in results["stages"].items():
        heap = r.get("driver_live_heap_mb")
        lines.append(
            f"| {stage} | {r['wall_s']:.1f} | {r['plays_per_s']:,} | {r['driver_python_mb']:,.0f} | "
            f"{r['jvm_mb']:,.0f} | {'—' if heap is None else f'{heap:,.0f}'} | "
            f"{r['python_workers_mb']:,.0f} |"
        )
    if results.get("yearly_s") is not None:
        lines += [
            "",
            f"**Yearly run** ({' → '.join(YEARLY)}, render "
            f"{'with summary PNGs' if results['stages']['render'].get('pngs') else 'SVG only'}): "
            f"**{results['yearly_s']:.1f} s**.",
        ]
    lines += goals_table(results)
    ing = results.get("ingest_duckdb")
    if ing:
        lines += [
            "",
            f"Ingest: DuckDB read the same {ing['files']} raw files into {ing['events']:,} events "
            f"in {ing['wall_s']:.1f} s (ingest / DuckDB = **{ing['ingest_over_duckdb']}x**); "
            + (
                "every event equal to Spark's events/ (all columns)."
                if ing["equal"]
                else f"NOT equal: {ing['only_spark']:,} rows only in Spark's events/, "
                f"{ing['only_duckdb']:,} only in DuckDB's."
            ),
        ]
    r = results["stages"].get("render", {})
    if r.get("cards") and r.get("pngs"):
        lines += [
            "",
            f"Render: {r['cards']:,} SVG cards and {r['pngs']:,} summary PNGs, "
            f"{r['listeners_per_core_s']:,} listeners/s per core (cards, page and PNG); "
            f"the PNGs alone took {r.get('png_task_s', 0):,.1f} core-s = "
            f"{r.get('pngs_per_core_s') or 0:,} PNGs/s per core; "
            f"{r.get('pngs_outlined', 0):,} of them with Indic, Sinhala, Khmer or Myanmar "
            "runs outlined for the fast renderer and "
            f"{r.get('pngs_exact', 0):,} by the exact renderer (docs/render.md).",
        ]
    elif r.get("cards"):
        lines += [
            "",
            f"Render: {r['cards']:,} SVG cards, {r['svg_cards_per_core_s']:,} cards/s per core "
            "(--svg-only: no summary PNGs).",
        ]
    d = results.get("duckdb")
    if d:
        lines += [
            "",
            f"Core recap columns ({', '.join(CORE_COLUMNS)}), {d['listeners']:,} listeners: "
            f"DuckDB {d['wall_s']:.1f} s, Spark {d['spark_same_columns_s']:.1f} s "
            f"(same columns, the recap job's own functions) = **{d['spark_over_duckdb']}x**; "
            f"the whole recaps stage (all columns, checks, report) / DuckDB = "
            f"{d['recaps_stage_over_duckdb']}x; cross-check "
            f"{'agreed' if d['agreed'] else 'FAILED'} (recaps stage and same-columns run).",
        ]
    if d and d.get("all_columns_s"):
        lines += [
            "",
            f"Every recap column ({len(ALL_COLUMNS)}): DuckDB {d['all_columns_s']:.1f} s; the "
            f"recaps stage / DuckDB = **{d['recaps_stage_over_duckdb_all']}x**; every listener's "
            f"row {'equal' if d['agreed'] else 'NOT equal (see mismatches)'}.",
        ]
    return "\n".join(lines) + "\n"


def spark_same_columns(
    data: str, year: int, cfg: dict, profile: str | None
) -> tuple[float, dict[str, dict]]:
    """Spark computing only the core columns with the recap job's own functions, from the
    same events DuckDB reads (erased listeners removed, local time zones): the timed part
    is read + compute + write to Parquet, like DuckDB's read + compute + fetch."""
    import tempfile

    from encore import recaps
    from encore.platform import datasets
    from encore.platform.spark import get_session, plays_per_task

    spark = get_session(cfg, "bench", profile)
    recaps.session_settings(spark)
    rules = cfg["recaps"]
    # a local folder: the bench's driver and executors share this machine's disk
    out = tempfile.mkdtemp(prefix="encore-bench-")
    try:
        t0 = time.monotonic()
        events = datasets.read_events(spark, data)
        parts = recaps.partitions_for(events, year, plays_per_task(spark))
        plays = recaps.window_plays(
            events,
            datasets.read_dimension(spark, data, "users"),
            datasets.erased_user_ids(spark, data),
            year=year,
            rules=rules,
            partitions=parts,
        ).cache()
        recaps.core_columns(plays, rules).write.mode("overwrite").parquet(out)
        wall = time.monotonic() - t0
        return wall, spark_core_recaps_at(out)
    finally:
        spark.catalog.clearCache()
        storage.delete(out)


def spark_core_recaps(
    data: str, year: int, columns: tuple[str, ...] = CORE_COLUMNS
) -> dict[str, dict]:
    """The same columns, as the Spark recap job wrote them."""
    return spark_core_recaps_at(os.path.join(data, "recaps", f"year={year}"), columns)


def spark_core_recaps_at(path: str, columns: tuple[str, ...] = CORE_COLUMNS) -> dict[str, dict]:
    import pyarrow.parquet as pq

    table = pq.read_table(path, columns=["user_id", *columns])
    return {r.pop("user_id"): r for r in table.to_pylist()}


def compare_core(
    spark_rows: dict[str, dict],
    duck_rows: dict[str, dict],
    columns: tuple[str, ...] = CORE_COLUMNS,
) -> list[dict]:
    """Every difference between the two engines' rows, by column (no listener named)."""
    mismatches: list[dict] = []
    for uid in sorted(set(spark_rows) | set(duck_rows)):
        a, b = spark_rows.get(uid), duck_rows.get(uid)
        if a is None or b is None:
            mismatches.append({"listener": "only in " + ("duckdb" if a is None else "spark")})
            continue
        for col in columns:
            va, vb = _norm(a[col]), _norm(b[col])
            if va != vb:
                mismatches.append({"column": col, "spark": va, "duckdb": vb})
    return mismatches


def _norm(v):
    if isinstance(v, list):
        return [_norm(x) for x in v]
    if isinstance(v, dict):
        return {k: _norm(x) for k, x in sorted(v.items())}
    if hasattr(v, "isoformat"):
        return v.isoformat()
    return v
