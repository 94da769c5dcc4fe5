"""
### encore_campaign — a campaign export for the marketing team

Fill in the form (**Trigger** ▸ the form below) and the run writes the campaign's copy,
billboards and the facts it used to `campaigns/<year>/<campaign>/<run>/` under the data
root; the **export_location** task shows the folder in its log and XCom, and the last
task, **run_note**, writes the run's **note** (above the run in the UI): the copy lines,
what was dropped and why, and where `preview.html` (every line, its billboard, the facts
and ε it used) and the files are.

Every number comes from a released, differentially private fact. A campaign that
needs a fact not yet released spends privacy budget on it once; when the year's budget
cannot cover it the run fails with the facts job's message and nothing is released.
One campaign run at a time, and its job waits for a yearly run's facts task (they
share the pool `encore_privacy_budget`): two releases never race for the budget.

The form checks its input (a campaign that does not exist, an unknown language or
market, an empty, too long or control-character phrase or track, more than 10 of
either) before a run is created. **Extra phrases** and **extra tracks** (`Artist —
Title`) are counted in playlists and released once each from what is left of the
year's budget; a second export with the same phrase reuses the release.
"""

from __future__ import annotations

import tomllib
from datetime import UTC, datetime, timedelta

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


# The extra phrases and tracks the form takes: the job's --phrase / --track checks
# (encore.campaign.definition: MAX_EXTRAS, MAX_EXTRA_CHARS, control characters),
# repeated as JSON schema so that a bad form or REST API trigger is refused (HTTP 400)
# before a run is created (tests/jobs/test_rules.py keeps the two equal).
MAX_EXTRAS = 10
MAX_EXTRA_CHARS = 100
_TEXT = r"[^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"  # no control character
_WORD = r"[^\s\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]"  # and not a space
PHRASE_PATTERN = rf"^{_TEXT}*{_WORD}{_TEXT}*$"
TRACK_PATTERN = rf"^\s*{_WORD}{_TEXT}* (—|-) \s*{_WORD}{_TEXT}*$"

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
        "extra_phrases": Param(
            [],
            type="array",
            items={
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_EXTRA_CHARS,
                "pattern": PHRASE_PATTERN,
            },
            maxItems=MAX_EXTRAS,
            uniqueItems=True,
            title="Extra playlist phrases",
            description="Optional, one per line: words to count in playlist titles (e.g. "
            "'road trip'), case-insensitive. Each is released once from what is left of the "
            "year's privacy budget; the copy shows them as f.extra_phrases.",
        ),
        "extra_tracks": Param(
            [],
            type="array",
            items={
                "type": "string",
                "minLength": 5,
                "maxLength": 2 * MAX_EXTRA_CHARS + 3,
                "pattern": TRACK_PATTERN,
            },
            maxItems=MAX_EXTRAS,
            uniqueItems=True,
            title="Extra tracks",
            description="Optional, one per line, written 'Artist — Title' (or 'Artist - Title'): "
            "how many playlists contain the track. Released once from what is left of the "
            "year's privacy budget; the copy shows them as f.extra_tracks.",
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
        # --opt=value: a phrase starting with "-" is never taken for an option
        args += [f"--phrase={p}" for p in params.get("extra_phrases") or []]
        args += [f"--track={t}" for t in params.get("extra_tracks") or []]
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

    @task(retries=1, retry_delay=timedelta(seconds=15))
    def run_note(export: str, dag_run=None) -> str:
        """The run's note, as the marketer sees it in the UI: the copy lines, what was
        dropped and why, where preview.html and the files are — the export's note.md
        (written by the job, at most 1,000 characters), set through the REST API."""
        import os

        from encore_common import API_CONNECTION, set_run_note

        path = os.path.join(export, "note.md")
        if "://" in export or not os.path.isfile(path):
            note = f"Campaign export: {export} (open preview.html there)"
        else:
            with open(path, encoding="utf-8") as f:
                note = f.read()
        print(note)
        if not set_run_note(dag_run.dag_id, dag_run.run_id, note):
            print(f"no connection {API_CONNECTION}: the run's note was not set (docs/airflow.md)")
        return note

    run = plan()
    # the same one-slot pool as encore_yearly's facts: one privacy-budget release at a time
    campaign = EncoreSparkJob(task_id="campaign", application_args=run["args"], pool=BUDGET_POOL)
    location = export_location(run["export"])
    campaign >> location
    run_note(location)


encore_campaign()
