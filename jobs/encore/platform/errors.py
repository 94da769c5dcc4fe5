"""Errors a person can act on. Each carries a one-line message naming what was
wrong (the file, the record, the flag) and how to fix it; the CLI prints it and
exits non-zero."""


class EncoreError(Exception):
    """A refused input or an impossible request; the message is shown as is."""

    exit_code = 2


class BudgetExceeded(EncoreError):
    """A release would spend more privacy budget than the year has left."""

    exit_code = 3
