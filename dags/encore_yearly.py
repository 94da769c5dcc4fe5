"""
### encore_yearly — the year's recaps, facts, pages and delivery list

Runs once a year at 03:00 UTC on 1 December, after the recap window (1 January to
16 November, conf `[recaps]`) has closed. The year is the run's logical date, so a
past year is re-run with a backfill or by triggering with the **year** param.

    plan -> ingest -> recaps  -> render -> publish
                   \\-> facts  ------------/

Every Spark stage is `spark-submit jobs/main.py <stage>` through the connection
`spark_default` (`local[*]` when undefined; set it to a cluster master to run on a
cluster). Each stage writes its year's partition atomically, so a retried or repeated
run replaces it with the same result; facts reuse the stored DP release.
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Asset, Param, dag, task
from encore_common import BUDGET_POOL, DEFAULT_ARGS, FIRST_YEAR, LAST_YEAR, EncoreSparkJob

EVENTS = Asset(name="encore_events", uri="x-encore://events")
RECAPS = Asset(name="encore_recaps", uri="x-encore://recaps")
FACTS = Asset(name="encore_facts", uri="x-encore://facts")
SITE = Asset(name="encore_site", uri="x-encore://site")


@dag(
    dag_id="encore_yearly",
    schedule="0 3 1 12 *",
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    tags=["encore"],
    params={
        "year": Param(
            None,
            type=["null", "integer"],
            minimum=FIRST_YEAR,
            maximum=LAST_YEAR,
            title="Recap year",
            description="Leave empty for the run's own year (the scheduled run on 1 December). "
            "Set it to re-run a past year.",
        ),
        "demo": Param(
            False,
            type="boolean",
            title="Generated data (demo)",
            description="Only for generated data: share links use Encore's labelled demo secret "
            "instead of ENCORE_SHARE_SECRET. Never for real listeners.",
        ),
    },
)
def encore_yearly():
    @task(multiple_outputs=True)
    def plan(params=None, dag_run=None) -> dict:
        """The run's year, data root and run id, and each stage's arguments."""
        from encore_common import closed_year, data_root, safe_run_id

        year = int(params["year"] or closed_year(dag_run))
        root = data_root()
        run_id = safe_run_id(dag_run.run_id)
        common = ["--data", root, "--run-id", run_id]
        yearly = [*common, "--year", str(year)]
        demo = ["--demo"] if params["demo"] else []
        print(f"encore_yearly: year {year}, data root {root}, run id {run_id}")
        return {
            "year": year,
            "data_root": root,
            "run_id": run_id,
            "ingest": ["ingest", *common],
            "recaps": ["recaps", *yearly],
            "facts": ["facts", *yearly],
            "render": ["render", *yearly, *demo],
            "publish": ["publish", *yearly, *demo],
        }

    run = plan()
    ingest = EncoreSparkJob(task_id="ingest", application_args=run["ingest"], outlets=[EVENTS])
    recaps = EncoreSparkJob(
        task_id="recaps", application_args=run["recaps"], inlets=[EVENTS], outlets=[RECAPS]
    )
    facts = EncoreSparkJob(
        task_id="facts",
        application_args=run["facts"],
        inlets=[EVENTS],
        outlets=[FACTS],
        pool=BUDGET_POOL,
    )
    render = EncoreSparkJob(
        task_id="render", application_args=run["render"], inlets=[RECAPS], outlets=[SITE]
    )
    publish = EncoreSparkJob(
        task_id="publish", application_args=run["publish"], inlets=[RECAPS, FACTS, SITE]
    )

    ingest >> [recaps, facts]
    recaps >> render
    [render, facts] >> publish


encore_yearly()
