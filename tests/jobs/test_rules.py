"""One place per rule (docs/development.md, "The house"), and the copies kept equal to it.

The DAGs run in Airflow's environment, which cannot import ``encore``: the few rules
they need (the years a form accepts, the exit codes that fail a task without retries,
the languages the campaign form offers) are repeated there. These tests read the DAG
files with ``ast`` (no Airflow here) and compare each copy with its one place. Pure
Python, no Spark.
"""

from __future__ import annotations

import argparse
import ast
import copy
import tomllib
from pathlib import Path

import pytest

from encore.campaign import definition
from encore.platform import config, errors, localtime, locks, years
from encore.platform.args import add_common
from encore.platform.errors import EncoreError
from encore.render.settings import supported_locales
from encore.tools import generate, world

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
COMMON = DAGS / "encore_common" / "__init__.py"
PACKAGE = ROOT / "jobs" / "encore"


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _constants(path: Path) -> dict[str, object]:
    """The module-level ``NAME = <literal>`` of a file."""
    found = {}
    for node in _tree(path).body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name) and node.value is not None:
            try:
                found[target.id] = ast.literal_eval(node.value)
            except ValueError:
                pass  # not a literal (a call, a comprehension...)
    return found


def _params(path: Path) -> list[tuple[str, dict[str, ast.expr]]]:
    """(name, keywords) of every ``"name": Param(...)`` of a DAG file."""
    found = []
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if (
                    isinstance(key, ast.Constant)
                    and isinstance(value, ast.Call)
                    and getattr(value.func, "id", None) == "Param"
                ):
                    found.append((key.value, {kw.arg: kw.value for kw in value.keywords}))
    return found


# --- years -------------------------------------------------------------------------------
def test_the_dags_year_range_is_years_py():
    common = _constants(COMMON)
    assert (common["FIRST_YEAR"], common["LAST_YEAR"]) == (years.FIRST_YEAR, years.LAST_YEAR), (
        "dags/encore_common FIRST_YEAR/LAST_YEAR differ from jobs/encore/platform/years.py"
    )


def test_every_year_param_of_the_dags_takes_that_range():
    common = _constants(COMMON)

    def value(node: ast.expr) -> object:
        return common.get(node.id) if isinstance(node, ast.Name) else ast.literal_eval(node)

    year_params = []
    for path in sorted(DAGS.glob("*.py")):
        for name, kw in _params(path):
            if name == "year" or {"minimum", "maximum"} & set(kw):
                year_params.append(path.name)
                got = (value(kw["minimum"]), value(kw["maximum"]))
                assert got == (years.FIRST_YEAR, years.LAST_YEAR), (path.name, name, got)
    assert sorted(year_params) == ["encore_campaign.py", "encore_yearly.py"]


def _cli_year(text: str) -> int:
    p = argparse.ArgumentParser(exit_on_error=False)
    add_common(p, data=False, year=True)
    return p.parse_args(["--year", text]).year


def _with_ingest(**keys) -> dict:
    raw = tomllib.loads(config.DEFAULT_CONFIG.read_text(encoding="utf-8"))
    raw = copy.deepcopy(raw)
    raw["ingest"].update(keys)
    return config.validate(raw, source="conf")


@pytest.mark.parametrize("year", [years.FIRST_YEAR, years.LAST_YEAR])
def test_the_first_and_last_years_are_taken_everywhere(year):
    assert _cli_year(str(year)) == year
    assert generate.parse_years(str(year)) == [year]
    _with_ingest(earliest_year=year, latest_year=year)


@pytest.mark.parametrize("year", [years.FIRST_YEAR - 1, years.LAST_YEAR + 1])
def test_a_year_outside_is_refused_everywhere(year):
    with pytest.raises(argparse.ArgumentError, match="year out of range"):
        _cli_year(str(year))
    with pytest.raises(EncoreError, match="--years must list years between"):
        generate.parse_years(str(year))
    for key in ("earliest_year", "latest_year"):
        with pytest.raises(config.ConfigError, match=rf"ingest\.{key}: must be between"):
            _with_ingest(**{key: year})


def test_the_shipped_config_lies_inside_the_range():
    ingest = config.load()["ingest"]
    assert years.is_year(ingest["earliest_year"]) and years.is_year(ingest["latest_year"])


# --- exit codes ----------------------------------------------------------------------------
def test_the_dags_fail_at_once_on_the_codes_a_person_must_fix():
    copied = _constants(COMMON)["PERSON_MUST_FIX"]
    assert {int(code) for code in copied} == set(errors.PERSON_MUST_FIX), (
        "dags/encore_common PERSON_MUST_FIX differs from encore.platform.errors.PERSON_MUST_FIX"
    )
    assert errors.PERSON_MUST_FIX == {errors.EncoreError.exit_code, errors.BudgetExceeded.exit_code}
    assert locks.RunLocked.exit_code not in errors.PERSON_MUST_FIX  # a held lock: retried


# --- languages -----------------------------------------------------------------------------
def _copy_locales() -> set[str]:
    return {
        p.name[len("copy.") : -len(".toml")]
        for p in (ROOT / "templates" / "campaign").glob("*/copy.*.toml")
    }


def test_the_campaign_form_offers_the_shipped_languages():
    offered = _constants(DAGS / "encore_campaign.py")["LANGUAGES"]
    assert set(offered) == _copy_locales(), (
        "dags/encore_campaign.py LANGUAGES must name exactly the locales of "
        "templates/campaign/*/copy.<locale>.toml"
    )


def test_every_shipped_campaign_language_has_a_catalog():
    assert _copy_locales() <= set(supported_locales())
    for name in definition.list_campaigns():
        definition.load_campaign(name)  # refuses a locale without a catalog


# --- time zones ----------------------------------------------------------------------------
def test_time_zones_come_from_localtime_only():
    """zoneinfo and tzdata are read in platform/localtime.py only; nothing asks the JVM."""
    elsewhere = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "platform" / "localtime.py":
            continue
        text = path.read_text(encoding="utf-8")
        for node in ast.walk(ast.parse(text)):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elsewhere += [
                f"{path.relative_to(ROOT)}:{node.lineno}: {n}"
                for n in names
                if n.split(".")[0] in ("zoneinfo", "tzdata", "pytz", "dateutil")
            ]
        elsewhere += [
            f"{path.relative_to(ROOT)}: {fn}"
            for fn in ("from_utc_timestamp", "to_utc_timestamp")
            if fn in text
        ]
    assert not elsewhere, "time zones read outside platform/localtime.py:\n" + "\n".join(elsewhere)


def test_the_generators_zones_are_known():
    assert all(localtime.is_zone(z) for _, zones, _ in world.COUNTRIES for z in zones)


def test_the_campaign_forms_extras_limits_are_the_jobs():
    """dags/encore_campaign.py repeats the job's limits on extra phrases and tracks as
    JSON schema (it cannot import encore): the same numbers, and its patterns refuse
    what the job's checks refuse."""
    import re

    from encore.campaign import definition

    form = _constants(DAGS / "encore_campaign.py")
    assert (form["MAX_EXTRAS"], form["MAX_EXTRA_CHARS"]) == (
        definition.MAX_EXTRAS,
        definition.MAX_EXTRA_CHARS,
    )
    text, word = form["_TEXT"], form["_WORD"]
    phrase = re.compile(rf"^{text}*{word}{text}*$")
    track = re.compile(rf"^\s*{word}{text}* (—|-) \s*{word}{text}*$")
    for value in ("road trip", "", "  ", "a\x1bb", "x\u202ey", "tab\there", "Ünï 🎧"):
        try:
            definition.check_phrase(value)
            ok = True
        except ValueError:
            ok = False
        assert bool(phrase.match(value)) == ok, value
    for value in (
        "Ariadne Grand — God Is a Woman",
        "Jay-Z - 99 Problems",
        "Jay-Z",
        " — x",
        "A — b\x07",
    ):
        try:
            definition.check_track(value)
            ok = True
        except ValueError:
            ok = False
        assert bool(track.match(value)) == ok, value
