"""Local time from the IANA rules the project ships, not from the JVM.

recap-rules.md ("Local time"): hours, days and months follow the newest IANA rules,
the same on every machine and every engine, whatever time-zone data its JVM carries.
The rules come from the ``tzdata`` package (PyPI, pinned in pyproject.toml), read with
the standard library's ``zoneinfo`` straight from the package's files (never the
system's /usr/share/zoneinfo, never the JVM's ``tzdb.dat``).

For a run, the rules become a small table of UTC-offset intervals per zone
(:func:`offset_table`: zone, [from, until), offset in seconds) for the window the run
reads; Spark joins it, broadcast, on the zone and the play's UTC instant and adds the
offset with built-in functions (:func:`with_local_ts`), so no Python runs per play.
DuckDB (the bench's cross-check) is given the same table. A zone the database does not
know, or none, means UTC (counted by the caller).

Updating the rules is a dependency bump of ``tzdata``; :data:`VERSION` (e.g. ``2026f``)
is written in the recaps and facts reports.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import tzdata

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

VERSION: str = tzdata.IANA_VERSION
"""The IANA release the shipped rules are (``tzdata.IANA_VERSION``)."""

# Offsets are sampled this far apart and each change is then found to the second by
# bisection. No zone has changed its offset twice within 6 hours since 1970 (the
# test compares every hour of 2024-2027 for a set of hard zones against zoneinfo).
_STEP_S = 6 * 3600
# The table covers the window plus this margin on each side.
_MARGIN = timedelta(days=2)


@functools.cache
def zone_names() -> frozenset[str]:
    """Every zone name the shipped database has (tzdata's own ``zones`` list)."""
    text = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


def is_zone(name: object) -> bool:
    """True for a zone name the shipped database knows (exact spelling)."""
    return isinstance(name, str) and name in zone_names()


def require_zone(name: str, what: str = "--timezone") -> str:
    """``name`` if the shipped database knows it, else the one-line error of bad input."""
    from encore.platform.errors import EncoreError

    if not is_zone(name):
        raise EncoreError(
            f"{what} {name!r} is not an IANA time zone name (e.g. Europe/Paris, "
            f"Asia/Kolkata, America/Vancouver; tzdata {VERSION})"
        )
    return name


@functools.cache
def zone(name: str) -> ZoneInfo:
    """The shipped rules of ``name`` (KeyError for a name the database lacks)."""
    if not is_zone(name):
        raise KeyError(name)
    with resources.files("tzdata.zoneinfo").joinpath(*name.split("/")).open("rb") as fh:
        return ZoneInfo.from_file(fh, key=name)


def utc_offset(name: str, epoch_s: int) -> int:
    """The UTC offset of zone ``name`` at an instant, in seconds."""
    return int(datetime.fromtimestamp(epoch_s, zone(name)).utcoffset().total_seconds())


def intervals(name: str, start: datetime, end: datetime) -> list[tuple[int, int, int]]:
    """``[(from_s, until_s, offset_s), ...]``: the zone's offsets over [start, end) as
    contiguous epoch-second intervals, one per period of constant offset."""
    lo_s, hi_s = int(start.timestamp()), int(end.timestamp())
    out: list[tuple[int, int, int]] = []
    begin, current, t = lo_s, utc_offset(name, lo_s), lo_s
    while t < hi_s:
        nxt = min(t + _STEP_S, hi_s)
        # the range's last second is in it (hi_s is not): a change in the last step counts
        probe = nxt if nxt < hi_s else hi_s - 1
        if probe > t and utc_offset(name, probe) != current:
            a, b = t, probe  # offset(a) == current != offset(b): find the first second that differs
            while b - a > 1:
                mid = (a + b) // 2
                if utc_offset(name, mid) == current:
                    a = mid
                else:
                    b = mid
            out.append((begin, b, current))
            begin, current, t = b, utc_offset(name, b), b
            continue
        t = nxt
    out.append((begin, hi_s, current))
    return out


def offset_rows(
    zones: Iterable[str | None], start: datetime, end: datetime
) -> list[tuple[str, datetime, datetime, int]]:
    """(zone, from, until, offset_s) rows for every known zone of ``zones`` over the
    window [start, end) widened by a margin; unknown names are left out (→ UTC)."""
    lo, hi = start - _MARGIN, end + _MARGIN
    rows = []
    for name in sorted({z for z in zones if is_zone(z)}):
        for a, b, off in intervals(name, lo, hi):
            rows.append((name, datetime.fromtimestamp(a, UTC), datetime.fromtimestamp(b, UTC), off))
    return rows


OFFSET_SCHEMA = "_tz_zone string, _tz_from timestamp, _tz_until timestamp, _tz_offset_s int"


def offset_table(
    spark: SparkSession, zones: Iterable[str | None], start: datetime, end: datetime
) -> DataFrame:
    """The offset intervals as a small Spark DataFrame (see :data:`OFFSET_SCHEMA`)."""
    return spark.createDataFrame(offset_rows(zones, start, end), OFFSET_SCHEMA)


def with_local_ts(
    df: DataFrame,
    offsets: DataFrame,
    *,
    zone_col: str = "timezone",
    ts_col: str = "ts",
    out: str = "local_ts",
) -> DataFrame:
    """``df`` with ``out``: the wall-clock time of ``ts_col`` in the zone named by
    ``zone_col`` (a column name or a literal zone via ``F.lit`` in the caller), as a
    timestamp read in the session's UTC. No interval (null or unknown zone) → UTC.

    A broadcast hash join on the zone with the instant's interval as a condition (each
    play meets the few intervals of its zone), then ``ts + offset`` in microseconds."""
    from pyspark.sql import functions as F

    joined = df.join(
        F.broadcast(offsets),
        (F.col(zone_col) == F.col("_tz_zone"))
        & (F.col(ts_col) >= F.col("_tz_from"))
        & (F.col(ts_col) < F.col("_tz_until")),
        "left",
    )
    offset_us = F.coalesce(F.col("_tz_offset_s"), F.lit(0)).cast("long") * F.lit(1_000_000)
    return joined.withColumn(
        out, F.timestamp_micros(F.unix_micros(F.col(ts_col)) + offset_us)
    ).drop("_tz_zone", "_tz_from", "_tz_until", "_tz_offset_s")


# --- a personal export's zone ----------------------------------------------------


@functools.cache
def _country_zones() -> dict[str, tuple[str, ...]]:
    """ISO 3166 alpha-2 → its zones, in zone.tab's order (the principal zone first)."""
    text = resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text(encoding="utf-8")
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        code, _coords, name, *_ = line.split("\t")
        out.setdefault(code, []).append(name)
    return {k: tuple(v) for k, v in out.items()}


# Codes the platforms write that zone.tab (ISO 3166) does not list, as the country whose
# zones they keep: XK (Kosovo, a user-assigned code) keeps Serbia's Central European Time.
_ZONE_TAB_ALIAS = {"XK": "RS"}


def known_country(country: str | None) -> bool:
    """Whether zone.tab (or an alias above) lists ``country``'s zones."""
    code = (country or "").upper()
    return _ZONE_TAB_ALIAS.get(code, code) in _country_zones()


def single_zone(country: str | None, start: datetime, end: datetime) -> str | None:
    """The one zone of ``country`` over [start, end), or None.

    A country has a single time zone when every zone zone.tab lists for it keeps the
    same offsets over the span (Germany: Europe/Berlin and Europe/Busingen agree; Spain:
    the Canaries do not; the United States, Brazil, China: several). The principal zone
    (zone.tab's first for the country) is the answer."""
    names = _country_zones().get(
        _ZONE_TAB_ALIAS.get((country or "").upper(), (country or "").upper())
    )
    if not names:
        return None
    first = intervals(names[0], start, end)
    if all(intervals(n, start, end) == first for n in names[1:]):
        return names[0]
    return None


def choose_export_zone(
    country_counts: dict[str | None, int], start: datetime, end: datetime, *, share: float = 0.9
) -> tuple[str, str]:
    """(zone, why) for a personal export without ``--timezone``: the zone of the country
    of at least ``share`` of the plays when that country has a single zone; else UTC."""
    total = sum(country_counts.values())
    known = {c: n for c, n in country_counts.items() if c}
    if not total or not known:
        return "UTC", "the export names no country (conn_country): using UTC"
    country, n = max(known.items(), key=lambda kv: (kv[1], kv[0]))
    pct = 100.0 * n / total
    if n < share * total:
        top = ", ".join(
            f"{c} {100.0 * k / total:.0f} %"
            for c, k in sorted(known.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
        )
        return (
            "UTC",
            f"plays come from several countries ({top}; {share:.0%} of one is needed): using UTC",
        )
    if not known_country(country):
        return (
            "UTC",
            f"{pct:.0f} % of plays are from {country}, a code the time-zone database does not "
            "know (zone.tab): using UTC; pass --timezone",
        )
    name = single_zone(country, start, end)
    if name is None:
        return (
            "UTC",
            f"{pct:.0f} % of plays are from {country}, which has more than one time zone: using UTC",
        )
    return name, f"{pct:.0f} % of plays are from {country}, whose time zone is {name}"
