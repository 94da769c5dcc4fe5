"""
### encore_data_request — a listener's download or erasure request

Triggered (never scheduled) by the service when a listener asks for their data or
asks to be erased (privacy.md, "The listener's controls"):

* **export** runs `encore export-user`: a zip with the listener's canonical events (no
  IP addresses), recap JSON, cards and a plain-language README under `exports/`.
* **erase** runs `encore erase-user`: the listener is added to `privacy/erasures/` and
  their recap row, page, cards, share link and export package are deleted; every
  later run excludes them.

The user id never becomes a file name, and it is in no argument list: the job reads it
from an environment variable the task sets when it starts (`--user-id-env`), so the
`plan` XCom, the rendered arguments and the task log hold no id. The run's conf (the
form) does; clear it with Airflow's tools (docs/data-rights.md).
"""

from __future__ import annotations

from datetime import UTC, datetime

from airflow.sdk import Param, dag, task
from encore_common import DEFAULT_ARGS, EncoreSparkJob


@dag(
    dag_id="encore_data_request",
    schedule=None,
    start_date=datetime(2025, 1, 1, tzinfo=UTC),
    catchup=False,
    default_args=DEFAULT_ARGS,
    doc_md=__doc__,
    tags=["encore", "privacy"],
    params={
        "user_id": Param(
            "",
            type="string",
            minLength=1,
            maxLength=128,
            # identity.USER_ID_PATTERN, the rule ingest, export-user and erase-user apply
            # (tests/jobs/test_erasure.py checks the two are one rule)
            pattern=r"^[A-Za-z0-9_.:@+\-]{1,128}$",
            title="Listener's user id",
            description="The user_id exactly as in the users table.",
        ),
        "action": Param(
            "export",
            type="string",
            enum=["export", "erase"],
            values_display={
                "export": "Download: build the listener's data package",
                "erase": "Erase: remove the listener from every output, now and in every later run",
            },
            title="Request",
            description="What the listener asked for.",
        ),
        "demo": Param(
            False,
            type="boolean",
            title="Generated data (demo)",
            description="Only for generated data: use Encore's labelled demo share secret.",
        ),
    },
)
def encore_data_request():
    @task(multiple_outputs=True)
    def plan(params=None, dag_run=None) -> dict:
        """The job's arguments (without the id); the location of the package for an export."""
        from encore_common import USER_ID_ENV, data_root, safe_run_id

        root = data_root()
        command = {"export": "export-user", "erase": "erase-user"}[params["action"]]
        args = [
            command,
            "--data",
            root,
            # the id itself is handed over in the task's environment (USER_ID_ENV), set
            # at run time: never in this XCom, the rendered arguments or the log
            "--user-id-env",
            USER_ID_ENV,
            "--run-id",
            safe_run_id(dag_run.run_id),
        ]
        if params["demo"]:
            args.append("--demo")
        return {"args": args, "data_root": root, "exports": f"{root.rstrip('/')}/exports"}

    run = plan()
    EncoreSparkJob(
        task_id="data_request", application_args=run["args"], retries=1, user_id_param="user_id"
    )


encore_data_request()
