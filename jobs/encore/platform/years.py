"""The years Encore works with: one range for every place that takes a year.

The CLI's ``--year``, ``encore generate --years``, the config's ``[ingest] earliest_year``
and ``latest_year``, and the ``year`` Param of the DAG forms all accept
``FIRST_YEAR..LAST_YEAR`` (inclusive) and nothing else.

``FIRST_YEAR`` is 2002: no source Encore reads (data-contracts.md: the platform's log,
Spotify, ListenBrainz and Last.fm exports) holds a real listen before it. ListenBrainz,
which also keeps imported Last.fm histories, refuses any listen before 2002-10-01, the
date "before which most Last.fm data is rubbish". The platform's own log starts later:
conf's ``earliest_year = 2006`` is the knob that says which plays are plausible, and it
must lie inside this range. ``LAST_YEAR`` (2100) only catches a typo such as 20255.

The DAGs run in Airflow's environment, which cannot import ``encore``: they repeat the
two numbers (``dags/encore_common``) and tests/jobs/test_rules.py keeps them equal.
"""

from __future__ import annotations

FIRST_YEAR = 2002
LAST_YEAR = 2100


def problem(year: object) -> str | None:
    """Why ``year`` is not a year Encore works with, or None (the shape the config's
    checks use: ``ingest.earliest_year: must be between 2002 and 2100, got 1990``)."""
    if isinstance(year, bool) or not isinstance(year, int):
        return f"must be a year, got {year!r}"
    if not FIRST_YEAR <= year <= LAST_YEAR:
        return f"must be between {FIRST_YEAR} and {LAST_YEAR}, got {year}"
    return None


def is_year(year: object) -> bool:
    """True for a year inside ``FIRST_YEAR..LAST_YEAR``."""
    return problem(year) is None
