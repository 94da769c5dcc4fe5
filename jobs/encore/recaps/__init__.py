"""Recaps: one row per listener with every column of recap-rules.md (docs/recaps.md).

``job`` is the command; ``plays``, ``ranking``, ``totals``, ``tops``, ``percentile``,
``personality`` and ``build`` are its steps (see job.py). The names below are what other
packages and the tests use."""

from encore.recaps.build import (
    build_recaps,
    conform,
    core_columns,
    recaps_from_plays,
    session_settings,
)
from encore.recaps.plays import (
    earlier_streams,
    partitions_for,
    window_plays,
    zone_census,
    zone_report,
)

__all__ = [
    "build_recaps",
    "conform",
    "core_columns",
    "earlier_streams",
    "partitions_for",
    "recaps_from_plays",
    "session_settings",
    "window_plays",
    "zone_census",
    "zone_report",
]
