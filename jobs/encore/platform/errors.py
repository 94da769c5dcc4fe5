"""Errors a person can act on. Each carries a one-line message naming what was
wrong (the file, the record, the flag) and how to fix it; the CLI prints it and
exits non-zero."""


class EncoreError(Exception):
    """A refused input or an impossible request; the message is shown as is."""

    exit_code = 2


class BudgetExceeded(EncoreError):
    """A release would spend more privacy budget than the year has left."""

    exit_code = 3


PERSON_MUST_FIX = frozenset({EncoreError.exit_code, BudgetExceeded.exit_code})
"""The exit codes that mean "a person must fix this; retrying cannot help". The DAGs
(``dags/encore_common``, another Python environment) fail such a task at once, without
retries; any other code (a lost executor, a run lock held: 75) is retried.
tests/jobs/test_rules.py keeps the DAGs' copy equal to this one."""
