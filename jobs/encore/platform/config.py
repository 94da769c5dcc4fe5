"""Encore's settings: one TOML file (conf/encore.toml), loaded and validated here only.

Every key is declared once in ``SCHEMA`` with its type and allowed range. An unknown
key, a wrong type or an out-of-range value raises ``ConfigError`` naming the key,
e.g. ``conf/encore.toml: recaps.stream_min_ms: must be >= 0, got -1``.

Secrets are never read from the file: see ``share_secret()``.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from encore.platform import years

REPO_ROOT = Path(os.environ.get("ENCORE_HOME") or Path(__file__).resolve().parents[3])
"""Where conf/ and templates/ live. On a cluster the package travels as a zip
(--py-files) and the resources as an archive: ENCORE_HOME points at them."""
DEFAULT_CONFIG = REPO_ROOT / "conf" / "encore.toml"
CONFIG_ENV = "ENCORE_CONFIG"
SECRET_ENV = "ENCORE_SHARE_SECRET"


class ConfigError(ValueError):
    """A setting is missing, unknown, of the wrong type or out of range."""


@dataclass(frozen=True)
class Key:
    """One setting: its type, whether it may be left out, and a range check."""

    type: type | tuple[type, ...]
    default: Any = None
    required: bool = True
    check: Callable[[Any], str | None] | None = None  # returns an error text or None


def _at_least(low: float) -> Callable[[Any], str | None]:
    return lambda v: None if v >= low else f"must be >= {low}, got {v}"


def _between(low: float, high: float) -> Callable[[Any], str | None]:
    return lambda v: None if low <= v <= high else f"must be between {low} and {high}, got {v}"


def _positive(v: Any) -> str | None:
    return None if v > 0 else f"must be > 0, got {v}"


def _month_day(v: str) -> str | None:
    if not re.fullmatch(r"\d{2}-\d{2}", v):
        return f"must be MM-DD, got {v!r}"
    try:
        date(2000, int(v[:2]), int(v[3:]))  # 2000 is a leap year: 02-29 is allowed
    except ValueError:
        return f"is not a calendar date: {v!r}"
    return None


def _sorted_percents(v: list) -> str | None:
    if not v or any(not isinstance(x, int | float) or isinstance(x, bool) for x in v):
        return "must be a non-empty list of numbers"
    if list(v) != sorted(v) or not all(0 < x <= 100 for x in v):
        return "must be ascending percentages in (0, 100]"
    return None


def _profile(v: dict) -> str | None:
    allowed = {
        "master": str,
        "shuffle_partitions": int,
        "driver_memory": str,
        "plays_per_task": int,
        "conf": dict,
    }
    for name, body in v.items():
        if not isinstance(body, dict):
            return f"profile {name!r} must be a table"
        for k, val in body.items():
            if k not in allowed:
                return f"profile {name!r}: unknown key {k!r} (allowed: {', '.join(allowed)})"
            if not isinstance(val, allowed[k]) or isinstance(val, bool):
                return f"profile {name!r}: {k} must be {allowed[k].__name__}"
        if "master" not in body:
            return f"profile {name!r}: master is required"
        for k in ("shuffle_partitions", "plays_per_task"):
            if body.get(k, 1) < 1:
                return f"profile {name!r}: {k} must be >= 1"
    return None


# section -> key -> Key. Sections whose keys are open-ended (a map of names) use
# a single "*" entry validated as a whole.
SCHEMA: dict[str, dict[str, Key]] = {
    "paths": {"data_root": Key(str)},
    "recaps": {
        "window_start": Key(str, check=_month_day),
        "window_end": Key(str, check=_month_day),
        "stream_min_ms": Key(int, check=_at_least(0)),
        "eligible_min_streams": Key(int, check=_at_least(0)),
        "eligible_min_distinct_artists": Key(int, check=_at_least(0)),
        "top_n": Key(int, check=_between(1, 100)),
        "top_songs_n": Key(int, check=_between(1, 1000)),
        "percentile_min_listeners": Key(int, check=_at_least(1)),
        "percentile_buckets": Key(list, check=_sorted_percents),
        "global_top_artists_n": Key(int, check=_at_least(1)),
        "loyal_share": Key(float, check=_between(0, 1)),
        "new_release_years": Key(int, check=_at_least(0)),
        "common_share": Key(float, check=_between(0, 1)),
        "explorer_share": Key(float, check=_between(0, 1)),
    },
    "ingest": {
        "max_ms_played": Key(int, check=_positive),
        "earliest_year": Key(int, check=years.problem),  # inside years.FIRST_YEAR..LAST_YEAR
        "latest_year": Key(int, check=years.problem),
        "default_ms_played": Key(int, check=_positive),
        "export_zone_share": Key(float, default=0.9, required=False, check=_between(0.5, 1)),
    },
    "privacy": {
        "epsilon_per_year": Key(float, check=_positive),
        "delta_per_year": Key(float, check=_between(0, 1e-3)),
        "min_count": Key(int, check=_at_least(0)),
    },
    "spark": {
        "profile": Key(str),
        "profiles": Key(dict, check=_profile),
    },
}

# Sections that later stages own and validate themselves (their module registers a
# validator here at import time via ``register_section``).
_SECTION_VALIDATORS: dict[str, Callable[[dict], None]] = {}


def register_section(
    name: str, keys: dict[str, Key] | None = None, validator: Callable[[dict], None] | None = None
) -> None:
    """Declare a config section owned by a stage (facts, render, campaigns...)."""
    if keys is not None:
        SCHEMA[name] = keys
    if validator is not None:
        _SECTION_VALIDATORS[name] = validator


def _type_name(t: type | tuple[type, ...]) -> str:
    if isinstance(t, tuple):
        return " or ".join(x.__name__ for x in t)
    return t.__name__


def _validate_value(where: str, key: Key, value: Any) -> Any:
    expected = key.type
    # TOML ints are acceptable where a float is expected (epsilon = 3).
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    ok = isinstance(value, expected) and not (isinstance(value, bool) and expected in (int, float))
    if not ok:
        raise ConfigError(
            f"{where}: must be {_type_name(expected)}, got {type(value).__name__} {value!r}"
        )
    if key.check is not None:
        problem = key.check(value)
        if problem:
            raise ConfigError(f"{where}: {problem}")
    return value


def validate(raw: dict, *, source: str = "config") -> dict:
    """Return a validated copy of ``raw`` or raise ConfigError naming the bad key."""
    _import_stage_sections()
    out: dict = {}
    for section, body in raw.items():
        if section not in SCHEMA and section not in _SECTION_VALIDATORS:
            raise ConfigError(
                f"{source}: unknown section [{section}] (known: {', '.join(sorted(SCHEMA) + sorted(_SECTION_VALIDATORS))})"
            )
        if not isinstance(body, dict):
            raise ConfigError(f"{source}: [{section}] must be a table")
        if section in _SECTION_VALIDATORS and section not in SCHEMA:
            try:
                _SECTION_VALIDATORS[section](body)
            except ConfigError as err:
                raise ConfigError(f"{source}: {section}.{err}") from None
            out[section] = body
            continue
        keys = SCHEMA[section]
        clean: dict = {}
        for name, value in body.items():
            if name not in keys:
                raise ConfigError(
                    f"{source}: {section}.{name}: unknown key (known: {', '.join(keys)})"
                )
            clean[name] = _validate_value(f"{source}: {section}.{name}", keys[name], value)
        for name, key in keys.items():
            if name not in clean:
                if key.required:
                    raise ConfigError(f"{source}: {section}.{name}: missing")
                clean[name] = key.default
        if section in _SECTION_VALIDATORS:
            try:
                _SECTION_VALIDATORS[section](clean)
            except ConfigError as err:
                raise ConfigError(f"{source}: {section}.{err}") from None
        out[section] = clean
    for section in SCHEMA:
        if section not in out:
            raise ConfigError(f"{source}: section [{section}] is missing")
    _cross_checks(out, source)
    return out


def _cross_checks(cfg: dict, source: str) -> None:
    r = cfg["recaps"]
    if r["window_start"] >= r["window_end"]:
        raise ConfigError(f"{source}: recaps.window_end: must be after window_start")
    i = cfg["ingest"]
    if i["earliest_year"] > i["latest_year"]:
        raise ConfigError(f"{source}: ingest.latest_year: must be >= earliest_year")
    s = cfg["spark"]
    if s["profile"] not in s["profiles"]:
        raise ConfigError(
            f"{source}: spark.profile: {s['profile']!r} is not one of the profiles "
            f"({', '.join(s['profiles'])})"
        )


def _import_stage_sections() -> None:
    """Stage modules declare their own sections; importing them registers those."""
    import importlib

    for module in ("encore.facts.catalog", "encore.render.settings"):
        importlib.import_module(module)


def load(path: str | os.PathLike | None = None) -> dict:
    """Load and validate the settings file (``$ENCORE_CONFIG`` or conf/encore.toml)."""
    path = Path(path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: config file not found (set {CONFIG_ENV} or pass --config)"
        ) from None
    except tomllib.TOMLDecodeError as err:
        raise ConfigError(f"{path}: not valid TOML: {err}") from None
    return validate(raw, source=str(path))


DEMO_SECRET = b"encore-demo-secret-not-for-production"
GENERATED_MARKER = "encore-generated.json"  # written by `encore generate` (and so `encore demo`)


def is_generated(root: str) -> bool:
    """True when ``root`` is a data root that `encore generate` / `encore demo` made."""
    from encore.platform import storage

    return storage.exists(storage.join(str(root), GENERATED_MARKER))


def check_demo_root(root: str | None) -> None:
    """The demo secret is public (anyone can compute its share links from a user id):
    it is accepted only on a data root that the generator made."""
    if root is None or not is_generated(root):
        raise ConfigError(
            f"--demo: {root or 'the data root'} was not made by `encore generate` or `encore demo` (no "
            f"{GENERATED_MARKER} there): the demo share secret is only for generated data, since anyone can "
            f"compute its links; set {SECRET_ENV} instead"
        )


def share_secret(*, demo: bool, root: str | None = None) -> bytes:
    """The share-link secret, from the environment only.

    A demo run without one uses a fixed, clearly-labelled demo secret, and only on a
    generated data root (``root``; the CLI checks every ``--demo`` the same way); any
    other run refuses to start (privacy.md, "Security around recaps"). Without ``root``
    this only returns the demo secret's value (tests compare against it).
    """
    value = os.environ.get(SECRET_ENV, "")
    if value:
        if len(value) < 16:
            raise ConfigError(f"{SECRET_ENV} is too short: use at least 16 characters")
        return value.encode("utf-8")
    if demo:
        if root is not None:
            check_demo_root(root)
        return DEMO_SECRET
    raise ConfigError(
        f"{SECRET_ENV} is not set: a non-demo run needs the share-link secret "
        "(export it, or use --demo for generated data)"
    )


def known_share_secret(root: str) -> bytes | None:
    """The share secret a stage that does not make pages can use to find them (ingest,
    carrying out the dump's erasure requests): the environment's, else the demo secret
    on a generated root, else None (pages are then found through the delivery lists)."""
    if os.environ.get(SECRET_ENV, ""):
        return share_secret(demo=False)
    return DEMO_SECRET if is_generated(root) else None


def window_bounds(cfg: dict, year: int) -> tuple[str, str]:
    """The recap window of ``year`` as UTC timestamps 'YYYY-MM-DD 00:00:00' [start, end)."""
    r = cfg["recaps"]
    return f"{year}-{r['window_start']} 00:00:00", f"{year}-{r['window_end']} 00:00:00"


def window_datetimes(cfg: dict, year: int) -> tuple[datetime, datetime]:
    """:func:`window_bounds` as aware UTC datetimes [start, end)."""
    return tuple(
        datetime.strptime(b, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        for b in window_bounds(cfg, year)
    )
