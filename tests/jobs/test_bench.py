"""The benchmark's independent DuckDB implementation agrees with the Spark recap job
(and the comparison would notice if it did not)."""

from __future__ import annotations

import copy

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


def test_duckdb_agrees_on_the_percents_genres_and_era(pipeline_data, cfg, spark):
    """MORE_COLUMNS, listener by listener: the recap job's output with the shipped rules,
    and a recomputation with a population floor of 5 so that the percents are not all
    null on 150 listeners (every column must have known values, or it checks nothing)."""
    from encore import recaps
    from encore.platform import datasets

    root, year = pipeline_data
    stored = bench.spark_core_recaps(root, year, bench.MORE_COLUMNS)
    assert (
        bench.compare_core(stored, bench.duckdb_more_recaps(root, year, cfg), bench.MORE_COLUMNS)
        == []
    )

    low = copy.deepcopy(cfg)
    low["recaps"]["percentile_min_listeners"] = 5
    df = recaps.build_recaps(
        datasets.read_events(spark, root),
        datasets.read_dimension(spark, root, "users"),
        datasets.read_dimension(spark, root, "catalog/tracks"),
        datasets.read_dimension(spark, root, "catalog/artists"),
        datasets.erased_user_ids(spark, root),
        None,
        year=year,
        rules=low["recaps"],
    )
    rows = {r["user_id"]: r.asDict() for r in df.select("user_id", *bench.MORE_COLUMNS).collect()}
    spark.catalog.clearCache()
    duck = bench.duckdb_more_recaps(root, year, low)
    for col in bench.MORE_COLUMNS:
        known = [r[col] for r in rows.values() if r[col] not in (None, 0)]
        assert len(known) >= 5, col
    assert len({r["listening_era"] for r in rows.values()} - {None}) >= 2
    assert bench.compare_core(rows, duck, bench.MORE_COLUMNS) == []
    # and the comparison notices a difference in each of them
    some = next(u for u, r in rows.items() if r["top_track_percent"] is not None)
    broken = copy.deepcopy(rows)
    broken[some].update(
        top_track_percent=None,
        listening_era=(broken[some]["listening_era"] or 2000) + 5,
        distinct_genres=broken[some]["distinct_genres"] + 1,
    )
    found = bench.compare_core(broken, duck, bench.MORE_COLUMNS)
    assert {m["column"] for m in found} == {"top_track_percent", "listening_era", "distinct_genres"}


def test_markdown_table_reports_the_yearly_run_and_png_render():
    def stage(wall: float, **more) -> dict:
        return {
            "wall_s": wall,
            "plays_per_s": 1,
            "driver_python_mb": 1.0,
            "jvm_mb": 1.0,
            "python_workers_mb": 1.0,
            **more,
        }

    results = {
        "plays": 1000,
        "listeners": 10,
        "year": 2025,
        "machine": {"cpus": 2, "memory_gb": 24.0, "platform": "Linux", "python": "3.12.1"},
        "stages": {
            "recaps": stage(3.0),
            "facts": stage(5.5),
            "render": stage(4.0, cards=90, pngs=10, listeners_per_core_s=2.5),
            "publish": stage(1.25),
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


def test_markdown_table_reports_every_stage():
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
