"""The benchmark's independent DuckDB implementation agrees with the Spark recap job
(and the comparison would notice if it did not)."""

from __future__ import annotations

import copy
import os
from pathlib import Path

from encore.tools import bench


def test_duckdb_agrees_with_spark_recaps(pipeline_data, cfg):
    root, year = pipeline_data
    duck = bench.duckdb_core_recaps(root, year, cfg)
    spark_rows = bench.spark_core_recaps(root, year)
    assert len(duck) > 100
    assert set(duck) == set(spark_rows)
    assert bench.compare_core(spark_rows, duck) == []


def test_same_columns_run_agrees_with_duckdb(pipeline_data, cfg):
    """The Spark side of the timed comparison (core columns only, the recap job's own
    functions) gives DuckDB's answers too: the ratio compares equal work."""
    root, year = pipeline_data
    duck = bench.duckdb_core_recaps(root, year, cfg)
    seconds, rows = bench.spark_same_columns(root, year, cfg, "test")
    assert seconds > 0 and set(rows) == set(duck)
    assert bench.compare_core(rows, duck) == []


def test_duckdb_agrees_on_every_recap_column(pipeline_data, cfg, spark, tmp_path):
    """Every column of recaps/year=Y, listener by listener: the recaps stage's output with
    the shipped rules; then, on a copy of the data, two years of recaps (so that
    minutes_change_pct is known) with a population floor of 5 so that the percents are not
    all null on 150 listeners. Every column must have known values, or it checks nothing."""
    import shutil

    from encore.platform.context import RunContext
    from encore.recaps import job as recaps_job

    root, year = pipeline_data
    stored = bench.spark_core_recaps(root, year, bench.ALL_COLUMNS)
    assert len(bench.ALL_COLUMNS) == 28
    assert (
        bench.compare_core(stored, bench.duckdb_all_recaps(root, year, cfg), bench.ALL_COLUMNS)
        == []
    )

    copy_root = tmp_path / "data"
    for part in ("events", "users", "catalog", "privacy"):
        if (Path(root) / part).is_dir():
            shutil.copytree(Path(root) / part, copy_root / part)
    low = copy.deepcopy(cfg)
    low["recaps"]["percentile_min_listeners"] = 5
    for y in (year - 1, year):
        ctx = RunContext(data=str(copy_root), cfg=low, year=y, run_id=f"oracle-{y}", spark=spark)
        assert recaps_job.run(ctx) == 0
    rows = bench.spark_core_recaps(str(copy_root), year, bench.ALL_COLUMNS)
    duck = bench.duckdb_all_recaps(str(copy_root), year, low)
    for col in bench.ALL_COLUMNS:
        known = [r[col] for r in rows.values() if r[col] not in (None, 0, [], False)]
        assert len(known) >= 5, col
    assert len({r["listening_era"] for r in rows.values()} - {None}) >= 2
    assert len({r["personality"] for r in rows.values()} - {None}) >= 3
    assert bench.compare_core(rows, duck, bench.ALL_COLUMNS) == []
    # and the comparison notices a difference in any of them
    some = next(u for u, r in rows.items() if r["top_track_percent"] is not None)
    broken = copy.deepcopy(rows)
    broken[some].update(
        top_track_percent=None,
        listening_era=(broken[some]["listening_era"] or 2000) + 5,
        distinct_genres=broken[some]["distinct_genres"] + 1,
        monthly_minutes=[m + 1 for m in broken[some]["monthly_minutes"]],
    )
    found = bench.compare_core(broken, duck, bench.ALL_COLUMNS)
    assert {m["column"] for m in found} == {
        "top_track_percent",
        "listening_era",
        "distinct_genres",
        "monthly_minutes",
    }


def test_duckdb_ingest_gives_spark_events_row_for_row(pipeline_data, cfg, tmp_path):
    """DuckDB doing ingest's job on the same raw files (the bench's ingest ratio) makes
    exactly Spark's events/, every column of every row (ids, casts, NFC, dedup, erasures);
    and the comparison notices one changed value."""
    import duckdb

    from encore.tools import oracle_ingest as oracle

    root, _ = pipeline_data
    out = str(tmp_path / "duck-events")
    counts = oracle.ingest_events(root, out, cfg)
    check = oracle.compare_events(str(Path(root) / "events"), out)
    assert check["equal"], check
    assert check["spark_rows"] == check["duckdb_rows"] == counts["events"] > 5000
    # the raw log has planted bad records and duplicates: fewer events than valid lines
    assert counts["parsed"] > counts["valid"] > counts["events"]

    changed = str(tmp_path / "changed")
    os.makedirs(changed)
    cols = ", ".join(oracle.EVENT_COLUMNS)
    duckdb.sql(
        f"COPY (SELECT * EXCLUDE (rn) REPLACE (CASE WHEN rn = 1 THEN ms_played + 1 "
        f"ELSE ms_played END AS ms_played) FROM (SELECT {cols}, row_number() OVER () AS rn "
        f"FROM read_parquet('{out}/**/*.parquet', hive_partitioning = false))) "
        f"TO '{changed}/part-0.parquet' (FORMAT parquet)"
    )
    found = oracle.compare_events(str(Path(root) / "events"), changed)
    assert (found["equal"], found["only_spark"], found["only_duckdb"]) == (False, 1, 1)
    assert not any("usr_" in v for v in found["example"])  # bench output names no listener


def test_oracle_rounds_the_change_half_away_from_zero():
    from encore.tools import oracle

    assert oracle.change_pct(17, 80) == -78.8  # −78.75 exactly
    assert oracle.change_pct(18, 10) == 80.0
    assert oracle.change_pct(7, 6) == 16.7  # 16.666…
    assert oracle.change_pct(5, 0) is None and oracle.change_pct(5, None) is None


def _stage(wall: float, **more) -> dict:
    """One stage's row of bench results, memory figures filled in."""
    return {
        "wall_s": wall,
        "plays_per_s": 1,
        "driver_python_mb": 1.0,
        "jvm_mb": 1.0,
        "python_workers_mb": 1.0,
        **more,
    }


def test_markdown_table_reports_the_yearly_run_and_png_render():
    results = {
        "plays": 1000,
        "listeners": 10,
        "year": 2025,
        "machine": {"cpus": 2, "memory_gb": 24.0, "platform": "Linux", "python": "3.12.1"},
        "stages": {
            "recaps": _stage(3.0),
            "facts": _stage(5.5),
            "render": _stage(
                4.0, cards=90, pngs=10, listeners_per_core_s=2.5, pngs_exact=3, pngs_outlined=4
            ),
            "publish": _stage(1.25),
        },
        "yearly_s": 13.75,
    }
    table = bench.markdown_table(results)
    # 3.0 + 5.5 + 4.0 + 1.25, worked by hand
    assert (
        "**Yearly run** (recaps → facts → render → publish, render with summary PNGs): **13.8 s**"
        in table
    )
    assert "Render: 90 SVG cards and 10 summary PNGs, 2.5 listeners/s per core" in table
    # render/raster.py's outlined and slow paths
    assert "; 4 of them with Indic, Sinhala, Khmer or Myanmar runs outlined" in table
    assert "and 3 by the exact renderer" in table
    # an --svg-only run says so (it said "with summary PNGs" at 20 M plays, 2026-12-03)
    results["stages"]["render"] = _stage(4.0, cards=90, pngs=0, svg_cards_per_core_s=11.0)
    assert "render → publish, render SVG only): **13.8 s**" in bench.markdown_table(results)


def test_bench_prints_every_goal_ratio():
    """The Speed issue's ratios, worked by hand: ingest 300 s / DuckDB 20 s = 15x;
    recaps 120 / 40 = 3x (met: not above 3); facts 150 / recaps 120 = 1.25x; PNGs
    40 in 4 core-s = 10 per second per core. A goal whose stage did not run says so."""

    results = {
        "plays": 1000,
        "listeners": 10,
        "year": 2025,
        "machine": {"cpus": 2, "memory_gb": 24.0, "platform": "Linux", "python": "3.12.1"},
        "stages": {
            "ingest": _stage(300.0),
            "recaps": _stage(120.0),
            "facts": _stage(150.0),
            "render": _stage(
                9.0,
                cards=360,
                pngs=40,
                listeners_per_core_s=5.0,
                png_task_s=4.0,
                pngs_per_core_s=10.0,
            ),
        },
        "ingest_duckdb": {
            "wall_s": 20.0,
            "files": 3,
            "events": 990,
            "equal": True,
            "only_spark": 0,
            "only_duckdb": 0,
            "ingest_over_duckdb": 15.0,
        },
        "duckdb": {"recaps_stage_over_duckdb_all": 3.0},
    }
    results["goals"] = bench.goal_values(results)
    assert results["goals"] == {
        "ingest_over_duckdb": 15.0,
        "recaps_over_duckdb_all": 3.0,
        "facts_over_recaps": 1.25,
        "pngs_per_core_s": 10.0,
    }
    table = bench.goals_table(results)
    assert "| ingest / DuckDB (same raw files → events) | 15x | <= 5x | no |" in table
    assert "| recaps stage / DuckDB (every recap column) | 3x | <= 3x | yes |" in table
    assert "| facts stage / recaps stage | 1.25x | <= 1x | no |" in table
    assert "| summary PNGs per second per core | 10 | >= 50 | no |" in table
    del results["stages"]["facts"]
    results["goals"] = bench.goal_values(results)
    assert "| facts stage / recaps stage | not run | <= 1x | — |" in bench.goals_table(results)


def test_cross_check_catches_a_difference(pipeline_data, cfg):
    root, year = pipeline_data
    duck = bench.duckdb_core_recaps(root, year, cfg)
    spark_rows = copy.deepcopy(bench.spark_core_recaps(root, year))
    some = next(u for u, r in spark_rows.items() if r["top_artists"])
    spark_rows[some]["top_artists"][0]["streams"] += 1
    spark_rows[some]["peak_hour"] = (spark_rows[some]["peak_hour"] or 0) + 1
    found = bench.compare_core(spark_rows, duck)
    assert {m["column"] for m in found} == {"top_artists", "peak_hour"}
    assert all("usr_" not in str(m) for m in found)  # bench output names no listener


def test_markdown_table_reports_every__stage():
    results = {
        "plays": 1000,
        "listeners": 10,
        "year": 2025,
        "machine": {"cpus": 2, "memory_gb": 24.0, "platform": "Linux", "python": "3.12.1"},
        "stages": {
            "ingest": {
                "wall_s": 2.0,
                "plays_per_s": 500,
                "driver_python_mb": 80.0,
                "jvm_mb": 900.0,
                "python_workers_mb": 0.0,
            },
            "recaps": {
                "wall_s": 3.0,
                "plays_per_s": 333,
                "driver_python_mb": 81.0,
                "jvm_mb": 950.0,
                "driver_live_heap_mb": 102.4,
                "python_workers_mb": 0.0,
            },
            "render": {
                "wall_s": 4.0,
                "plays_per_s": 250,
                "driver_python_mb": 90.0,
                "jvm_mb": 990.0,
                "driver_live_heap_mb": 99.0,
                "python_workers_mb": 300.0,
                "cards": 8000,
                "svg_cards_per_core_s": 1250,
            },
        },
        "duckdb": {
            "wall_s": 0.5,
            "listeners": 10,
            "agreed": True,
            "spark_same_columns_s": 1.0,
            "spark_over_duckdb": 2.0,
            "recaps_stage_over_duckdb": 4.0,
        },
    }
    table = bench.markdown_table(results)
    assert "| ingest | 2.0 | 500 | 80 | 900 | — | 0 |" in table
    assert "| recaps | 3.0 | 333 | 81 | 950 | 102 | 0 |" in table
    assert "facts" not in table  # a stage not asked for has no row
    assert "Render: 8,000 SVG cards, 1,250 cards/s per core" in table
    assert "Yearly run" not in table  # facts and publish were not timed
    assert "DuckDB 0.5 s, Spark 1.0 s" in table and "= **2.0x**" in table
    assert (
        "whole recaps stage (all columns, checks, report) / DuckDB = 4.0x; cross-check agreed"
        in table
    )


def test_the_facts_stage_starts_the_bench_roots_releases_afresh(tmp_path):
    """Releases are immutable: a second bench run on the same data timed a facts stage
    that only read the stored values. The bench removes the year's releases and ledger
    on its own generated root first, and never on a root without the generated marker."""
    import argparse

    from encore.facts.ledger import ledger_path
    from encore.platform import config, datasets

    args = argparse.Namespace(year=2025, svg_only=False)
    stages = {"facts": "the pipeline's facts"}
    for marked in (False, True):
        root = str(tmp_path / f"marked-{marked}")
        done = [datasets.facts_path(root, 2025), ledger_path(root, 2025)]
        for d in done:
            os.makedirs(d)
            Path(d, "part-0.json").write_text("{}")
        other = datasets.facts_path(root, 2024)
        os.makedirs(other)
        if marked:
            Path(root, config.GENERATED_MARKER).write_text("{}")
        assert bench._stage_function("facts", args, root, stages) == "the pipeline's facts"
        assert [os.path.exists(d) for d in done] == [not marked, not marked]
        assert os.path.exists(other)  # another year's releases stay
