"""
### encore_campaign — a campaign export for the marketing team

Fill in the form (**Trigger** ▸ the form below) and the run writes the campaign's copy,
billboards and the facts it used to `campaigns/<year>/<campaign>/<run>/` under the data
root; the **export_location** task shows the folder in its log and XCom.

Every number comes from a released, differentially private fact. A campaign that
needs a fact not yet released spends privacy budget on it once; when the year's budget
cannot cover it the run fails with the facts job's message and nothing is released.
One campaign run at a time, and its job waits for a yearly run's facts task (they
share the pool `encore_privacy_budget`): two releases never race for the budget.

The form checks its input (a campaign that does not exist, an unknown language or
market) before a run is created.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime

from airflow.sdk import Param, dag, task
from encore_common import (
    BUDGET_POOL,
    DEFAULT_ARGS,
    ENCORE_HOME,
    FIRST_YEAR,
    LAST_YEAR,
    EncoreSparkJob,
)

# The name of each language the shipped campaigns are written in, in that language:
# exactly the locales of templates/campaign/*/copy.<locale>.toml (tests/jobs/test_rules.py
# keeps this list equal to them, and each of them has a catalog under templates/locales/).
LANGUAGES = {
    "en": "English",
    "de": "Deutsch",
    "fr": "Français",
}


def shipped_campaigns() -> dict[str, dict]:
    """templates/campaign/<name>/manifest.toml and its copy files, read cheaply at parse
    time (a few small files): name -> {title, locales, markets}. A campaign's locales are
    those it has copy for (copy.<locale>.toml): what `encore campaign --locale` accepts."""
    found = {}
    for manifest in sorted((ENCORE_HOME / "templates" / "campaign").glob("*/manifest.toml")):
        try:
            body = tomllib.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError):
            continue  # a broken campaign is not offered; `encore campaign` names the problem
        found[manifest.parent.name] = {
            "title": str(body.get("title") or manifest.parent.name.replace("_", " ").capitalize()),
            "locales": sorted(
                p.name[len("copy.") : -len(".toml")] for p in manifest.parent.glob("copy.*.toml")
            ),
            "markets": [str(x) for x in body.get("markets", [])],
        }
    return found


CAMPAIGNS = shipped_campaigns()
LOCALES = sorted({x for c in CAMPAIGNS.values() for x in c["locales"]}) or ["en"]
MARKETS = sorted({x for c in CAMPAIGNS.values() for x in c["markets"]}) or ["US"]


@dag(
    dag_id="encore_campaign",
    schedule=None,
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,  # two exports at once could both pass the budget check
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    tags=["encore", "marketing"],
    params={
        "year": Param(
            None,
            type=["null", "integer"],
            minimum=FIRST_YEAR,
            maximum=LAST_YEAR,
            title="Year",
            description="Whose facts to use. Leave empty for the latest year that has had its yearly run "
            "(from 1 December: this year; before: last year).",
        ),
        "campaign": Param(
            "year_end_billboards"
            if "year_end_billboards" in CAMPAIGNS
            else next(iter(CAMPAIGNS), ""),
            type="string",
            enum=list(CAMPAIGNS) or [""],
            values_display={name: c["title"] for name, c in CAMPAIGNS.items()},
            title="Campaign",
            description="One of the campaigns in templates/campaign/.",
        ),
        "locales": Param(
            [],
            type="array",
            items={"type": "string", "enum": LOCALES},
            uniqueItems=True,
            examples=LOCALES,
            values_display={x: LANGUAGES.get(x, x) for x in LOCALES},
            title="Languages",
            description="Write the copy in these languages. None selected: every language the campaign has.",
        ),
        "markets": Param(
            [],
            type="array",
            items={"type": "string", "enum": MARKETS},
            uniqueItems=True,
            examples=MARKETS,
            title="Markets",
            description="Countries (ISO codes) to export for. None selected: every market the campaign has.",
        ),
    },
)
def encore_campaign():
    @task(multiple_outputs=True)
    def plan(params=None, dag_run=None) -> dict:
        """The job's arguments and where the export will be."""
        from encore_common import closed_year, data_root, safe_run_id

        year = int(params["year"] or closed_year(dag_run))
        root = data_root()
        run_id = safe_run_id(dag_run.run_id)
        args = [
            "campaign",
            "--data",
            root,
            "--year",
            str(year),
            "--campaign",
            params["campaign"],
            "--run-id",
            run_id,
        ]
        for locale in params["locales"]:
            args += ["--locale", locale]
        for market in params["markets"]:
            args += ["--market", market]
        export = f"{root.rstrip('/')}/campaigns/{year}/{params['campaign']}/{run_id}"
        return {"args": args, "export": export}

    @task
    def export_location(export: str) -> str:
        """The export folder, in the log and in XCom (a path, never the copy itself)."""
        import os

        if "://" not in export:
            if not os.path.isdir(export):
                raise FileNotFoundError(
                    f"the campaign job finished but wrote no export at {export}"
                )
            for name in sorted(os.listdir(export)):
                print(f"  {name}")
        print(f"campaign export: {export}")
        return export

    run = plan()
    # the same one-slot pool as encore_yearly's facts: one privacy-budget release at a time
    campaign = EncoreSparkJob(task_id="campaign", application_args=run["args"], pool=BUDGET_POOL)
    location = export_location(run["export"])
    campaign >> location


encore_campaign()
