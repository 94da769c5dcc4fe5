"""`encore bench` / `make bench`: the benchmark.

Generates (or reuses) a dataset of about ``--plays`` plays, runs ingest, recaps, facts
and render stage by stage in one Spark session, and records per stage the wall time,
plays/s and the peak memory of the driver (the Python process), the JVM (driver and
executors: one process in local mode) and the Python workers Spark starts. Then it runs
an independent DuckDB implementation of the core recap columns on the same canonical
events, checks that every listener's answers are equal, and reports the Spark / DuckDB
time ratio. Results: ``DIR/bench.json`` and ``DIR/bench.md``.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import threading
import time

from encore.platform import config, storage
from encore.platform.context import RunContext
from encore.platform.errors import EncoreError

CORE_COLUMNS = (
    "listening_minutes",
    "streams",
    "top_artists",
    "top_tracks",
    "peak_hour",
    "busiest_day",
    "longest_streak_days",
)
# Checked listener by listener against the recap job's output (not timed): the columns
# that need the catalogs and the eligible population.
# The stages a yearly run takes after ingest, timed one after the other: their sum is the
# "yearly run" figure (docs/benchmark.md).
YEARLY = ("recaps", "facts", "render", "publish")
DEFAULT_STAGES = ("ingest", *YEARLY)
MORE_COLUMNS = (
    "top_artist_percent",
    "top_track_percent",
    "distinct_genres",
    "listening_era",
    "listening_age",
)


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
        if stage == "render" and args.svg_only:
            from encore.render import job as render

            function = functools.partial(render.run, demo=True, png=False)
        else:
            function = functions[stage]
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
        if stage == "render":
            rep = storage.read_json(storage.join(data, "reports", f"render-{run_id}.json"))
            cards = int(rep.get("wrote", {}).get("cards", 0))
            pngs = int(rep.get("wrote", {}).get("pngs", 0))
            pages = int(rep.get("wrote", {}).get("pages", 0))
            task_s = float(rep.get("render_task_s") or 0)
            results["stages"][stage].update(
                cards=cards,
                pngs=pngs,
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
        more = compare_core(
            spark_core_recaps(data, args.year, MORE_COLUMNS),
            duckdb_more_recaps(data, args.year, cfg),
            MORE_COLUMNS,
        )
        mismatches += more
        results["duckdb"] = {
            "wall_s": round(duck_s, 2),
            "listeners": len(duck),
            "agreed": not mismatches,
            "mismatches": mismatches[:10],
            "mismatch_count": len(mismatches),
            "spark_same_columns_s": round(same_s, 2),
            "spark_over_duckdb": round(same_s / duck_s, 2),
            "recaps_stage_over_duckdb": round(results["stages"]["recaps"]["wall_s"] / duck_s, 2),
        }
    os.makedirs(args.out, exist_ok=True)
    storage.write_json_atomic(os.path.join(args.out, "bench.json"), results)
    table = markdown_table(results)
    storage.write_text_atomic(os.path.join(args.out, "bench.md"), table)
    print(table)
    print(f"[bench] results: {os.path.join(args.out, 'bench.json')} and bench.md")
    if results.get("duckdb") and not results["duckdb"]["agreed"]:
        print(
            f"[bench] CROSS-CHECK FAILED: {results['duckdb']['mismatch_count']} listeners differ",
            flush=True,
        )
        return 1
    return 0


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
            f"**Yearly run** ({' → '.join(YEARLY)}, render with summary PNGs): "
            f"**{results['yearly_s']:.1f} s**.",
        ]
    r = results["stages"].get("render", {})
    if r.get("cards") and r.get("pngs"):
        lines += [
            "",
            f"Render: {r['cards']:,} SVG cards and {r['pngs']:,} summary PNGs, "
            f"{r['listeners_per_core_s']:,} listeners/s per core (cards, page and PNG).",
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
            f"{'agreed' if d['agreed'] else 'FAILED'} (recaps stage and same-columns run; "
            f"and {', '.join(MORE_COLUMNS)} of the recaps stage, untimed).",
        ]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- DuckDB
def duckdb_core_recaps(data: str, year: int, cfg: dict) -> dict[str, dict]:
    """An independent implementation of the core recap columns (recap-rules.md), in SQL
    on DuckDB, reading the same canonical events. Returns {user_id: {column: value}}."""
    import duckdb

    r = cfg["recaps"]
    start, end = f"{year}-{r['window_start']} 00:00:00+00", f"{year}-{r['window_end']} 00:00:00+00"
    con = duckdb.connect()
    con.execute(f"SET threads TO {os.cpu_count() or 1}")
    con.execute("SET enable_progress_bar = false")
    events = os.path.join(data, "events", "**", "*.parquet")
    users = os.path.join(data, "users", "*.parquet")
    erased = _erased_sql(data)
    # Local time: the same IANA offsets the recap job uses (encore.localtime, the shipped
    # tzdata), not DuckDB's ICU data, so the two agree by construction.
    zones = [
        z
        for (z,) in con.execute(f"SELECT DISTINCT timezone FROM read_parquet('{users}')").fetchall()
    ]
    con.register("tz_offsets", _offsets_arrow(zones, *config.window_datetimes(cfg, year)))
    sql = f"""
    WITH tz AS (  -- a zone the shipped database does not know counts as UTC, as in the recap job
      SELECT user_id, min(timezone) AS tz FROM read_parquet('{users}')
      WHERE timezone IN (SELECT zone FROM tz_offsets) GROUP BY user_id
    ),
    plays AS (
      SELECT e.user_id, e.ts, e.ms_played, e.kind, e.private_session, e.artist_name, e.track_name,
             timezone('UTC', e.ts) + to_seconds(coalesce(o.offset_s, 0)) AS local_ts,
             (e.kind = 'track' AND e.ms_played >= {r["stream_min_ms"]} AND NOT coalesce(e.private_session, false)) AS is_stream
      FROM read_parquet('{events}', hive_partitioning = true) e
      LEFT JOIN tz USING (user_id)
      LEFT JOIN tz_offsets o ON o.zone = tz.tz AND e.ts >= o.t_from AND e.ts < o.t_until
      WHERE e.year = {year} AND e.ts >= TIMESTAMPTZ '{start}' AND e.ts < TIMESTAMPTZ '{end}'
        AND e.user_id NOT IN ({erased})
    ),
    totals AS (
      SELECT user_id, sum(ms_played) // 60000 AS listening_minutes, count(*) FILTER (WHERE is_stream) AS streams
      FROM plays GROUP BY user_id
    ),
    artist_streams AS (
      SELECT user_id, artist_name, count(*) AS streams, sum(ms_played) AS ms FROM plays
      WHERE is_stream AND artist_name IS NOT NULL
      GROUP BY user_id, artist_name
    ),
    top_artists AS (
      SELECT user_id, list({{'artist_name': artist_name, 'streams': streams, 'minutes': ms // 60000}}
                           ORDER BY streams DESC, ms DESC, artist_name ASC)[1:{r["top_n"]}] AS top_artists
      FROM artist_streams GROUP BY user_id
    ),
    track_streams AS (
      SELECT user_id, artist_name, track_name, count(*) AS streams, sum(ms_played) AS ms FROM plays
      WHERE is_stream AND artist_name IS NOT NULL AND track_name IS NOT NULL
      GROUP BY user_id, artist_name, track_name
    ),
    top_tracks AS (
      SELECT user_id, list({{'track_name': track_name, 'artist_name': artist_name, 'streams': streams, 'minutes': ms // 60000}}
                           ORDER BY streams DESC, ms DESC, artist_name ASC, track_name ASC)[1:{r["top_n"]}] AS top_tracks
      FROM track_streams GROUP BY user_id
    ),
    hours AS (
      SELECT user_id, hour(local_ts) AS h, sum(ms_played) AS ms FROM plays
      WHERE NOT coalesce(private_session, false) GROUP BY ALL
    ),
    peak AS (SELECT user_id, arg_max(h, ms * 100 - h) AS peak_hour FROM hours GROUP BY user_id),
    days AS (
      SELECT user_id, CAST(local_ts AS DATE) AS d, sum(ms_played) AS ms FROM plays
      WHERE NOT coalesce(private_session, false) GROUP BY ALL
    ),
    busiest AS (
      SELECT user_id, arg_max(d, ms * 100000 - (d - DATE '1970-01-01')) AS busiest_day,
             max(ms) // 60000 AS busiest_day_minutes
      FROM days GROUP BY user_id
    ),
    stream_days AS (SELECT DISTINCT user_id, CAST(local_ts AS DATE) AS d FROM plays WHERE is_stream),
    islands AS (
      SELECT user_id, d - CAST(row_number() OVER (PARTITION BY user_id ORDER BY d) AS INTEGER) AS grp
      FROM stream_days
    ),
    streaks AS (
      SELECT user_id, max(n) AS longest_streak_days FROM (SELECT user_id, grp, count(*) AS n FROM islands GROUP BY ALL)
      GROUP BY user_id
    )
    SELECT t.user_id, t.listening_minutes, t.streams, coalesce(a.top_artists, []) AS top_artists,
           coalesce(k.top_tracks, []) AS top_tracks, p.peak_hour, b.busiest_day,
           coalesce(s.longest_streak_days, 0) AS longest_streak_days
    FROM totals t
    LEFT JOIN top_artists a USING (user_id) LEFT JOIN top_tracks k USING (user_id)
    LEFT JOIN peak p USING (user_id) LEFT JOIN busiest b USING (user_id) LEFT JOIN streaks s USING (user_id)
    """
    out: dict[str, dict] = {}
    cur = con.execute(sql)
    cols = [d[0] for d in cur.description]
    for row in cur.fetchall():
        rec = dict(zip(cols, row, strict=True))
        out[rec.pop("user_id")] = rec
    return out


def _erased_sql(data: str) -> str:
    erasures_dir = os.path.join(data, "privacy", "erasures")
    if os.path.isdir(erasures_dir) and any(
        f.endswith(".parquet") for f in os.listdir(erasures_dir)
    ):
        return f"SELECT user_id FROM read_parquet('{erasures_dir}/*.parquet')"
    return "SELECT NULL::VARCHAR AS user_id WHERE false"


def _table_sql(data: str, name: str, columns: str) -> str:
    """A dimension table in DuckDB, or an empty one of the same columns when absent."""
    folder = os.path.join(data, name)
    if os.path.isdir(folder) and any(f.endswith(".parquet") for f in os.listdir(folder)):
        return f"SELECT * FROM read_parquet('{folder}/*.parquet')"
    return f"SELECT * FROM (VALUES ({', '.join('NULL' for _ in columns.split(','))})) t({columns}) WHERE false"


def duckdb_more_recaps(data: str, year: int, cfg: dict) -> dict[str, dict]:
    """MORE_COLUMNS (recap-rules.md: the percents, the genre count, the listening era and
    age), independently in SQL on DuckDB from the same events and catalogs; none of
    them depends on local time. Returns {user_id: {column: value}} for every listener
    with a play in the window."""
    import duckdb

    r = cfg["recaps"]
    start, end = f"{year}-{r['window_start']} 00:00:00+00", f"{year}-{r['window_end']} 00:00:00+00"
    con = duckdb.connect()
    con.execute(f"SET threads TO {os.cpu_count() or 1}")
    con.execute("SET enable_progress_bar = false")
    events = os.path.join(data, "events", "**", "*.parquet")
    tracks = _table_sql(data, "catalog/tracks", "track_uri, release_year")
    artists = _table_sql(data, "catalog/artists", "artist_name, genres")
    buckets = ", ".join(f"{b}::DECIMAL(10,4)" for b in r["percentile_buckets"])

    def percent(identity: str) -> str:
        """The top-listener percent of the listener's #1 item (ranking order), its
        population the eligible listeners with a stream of that item."""
        return f"""(
      WITH items AS (
        SELECT user_id, {identity}, count(*) AS n, sum(ms_played) AS ms FROM streams
        WHERE {" AND ".join(f"{c} IS NOT NULL" for c in identity.split(", "))} GROUP BY ALL
      ),
      pop AS (SELECT * FROM items WHERE user_id IN (SELECT user_id FROM eligible)),
      first AS (
        SELECT * FROM pop
        QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY n DESC, ms DESC, {identity}) = 1
      ),
      placed AS (
        SELECT f.user_id, 1 + count(*) FILTER (WHERE p.n > f.n) AS place, count(*) AS listeners
        FROM first f JOIN pop p USING ({identity}) GROUP BY f.user_id
      )
      SELECT user_id, list_min(list_filter([{buckets}],
               lambda b: b * listeners::DECIMAL(20,0) >= place::DECIMAL(20,0) * 100))::DOUBLE AS pct
      FROM placed WHERE listeners >= {r["percentile_min_listeners"]}
    )"""

    sql = f"""
    WITH plays AS (
      SELECT user_id, ms_played, artist_name, track_name, track_uri,
             (kind = 'track' AND ms_played >= {r["stream_min_ms"]} AND NOT coalesce(private_session, false)) AS is_stream
      FROM read_parquet('{events}', hive_partitioning = true)
      WHERE year = {year} AND ts >= TIMESTAMPTZ '{start}' AND ts < TIMESTAMPTZ '{end}'
        AND user_id NOT IN ({_erased_sql(data)})
    ),
    streams AS (SELECT * FROM plays WHERE is_stream),
    listeners AS (
      SELECT user_id, count(*) FILTER (WHERE is_stream) AS streams,
             count(DISTINCT artist_name) FILTER (WHERE is_stream) AS distinct_artists
      FROM plays GROUP BY user_id
    ),
    eligible AS (
      SELECT user_id FROM listeners
      WHERE streams >= {r["eligible_min_streams"]} AND distinct_artists >= {r["eligible_min_distinct_artists"]}
    ),
    genre_of AS (
      SELECT DISTINCT artist_name, genre FROM (SELECT artist_name, unnest(genres) AS genre FROM ({artists}))
      WHERE genre IS NOT NULL AND trim(genre) <> ''
    ),
    genres AS (
      SELECT s.user_id, count(DISTINCT g.genre) AS distinct_genres
      FROM streams s JOIN genre_of g USING (artist_name) GROUP BY s.user_id
    ),
    years AS (
      SELECT track_uri, min(release_year) AS release_year FROM ({tracks})
      WHERE track_uri IS NOT NULL AND release_year IS NOT NULL GROUP BY track_uri
    ),
    spans AS (
      SELECT s.user_id, CAST(floor(y.release_year / 5) * 5 AS INTEGER) AS span, count(*) AS n
      FROM streams s JOIN years y USING (track_uri) GROUP BY ALL
    ),
    eras AS (
      SELECT user_id, first(span ORDER BY n DESC, span DESC) AS era, sum(n) AS dated
      FROM spans GROUP BY user_id
    ),
    artist_pct AS {percent("artist_name")},
    track_pct AS {percent("artist_name, track_name")}
    SELECT l.user_id, a.pct AS top_artist_percent, t.pct AS top_track_percent,
           coalesce(g.distinct_genres, 0) AS distinct_genres,
           CASE WHEN l.user_id IN (SELECT user_id FROM eligible) AND 2 * e.dated >= l.streams
                THEN e.era END AS listening_era
    FROM listeners l
    LEFT JOIN artist_pct a USING (user_id) LEFT JOIN track_pct t USING (user_id)
    LEFT JOIN genres g USING (user_id) LEFT JOIN eras e USING (user_id)
    """
    out: dict[str, dict] = {}
    cur = con.execute(sql)
    cols = [d[0] for d in cur.description]
    for row in cur.fetchall():
        rec = dict(zip(cols, row, strict=True))
        era = rec["listening_era"]
        rec["listening_age"] = None if era is None else year - (era + 2) + 18
        out[rec.pop("user_id")] = rec
    return out


def _offsets_arrow(zones, start, end):
    """localtime.offset_rows as an Arrow table for DuckDB (instants as UTC timestamps)."""
    import pyarrow as pa

    from encore.platform import localtime

    rows = localtime.offset_rows(zones, start, end)
    utc = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "zone": pa.array([r[0] for r in rows], pa.string()),
            "t_from": pa.array([r[1] for r in rows], utc),
            "t_until": pa.array([r[2] for r in rows], utc),
            "offset_s": pa.array([r[3] for r in rows], pa.int64()),
        }
    )


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
