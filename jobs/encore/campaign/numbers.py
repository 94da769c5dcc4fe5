"""Numbers for people: what a campaign line sees of a released fact.

A fact's noisy values never reach a template: each is rounded to at most three
significant digits and never finer than the noise (:func:`round_for_people`), then
written for the locale with Babel ("28,800" / "28.800", "31%" / "31 %"). When the
rounding hid something the number reads "about 28,800", in the words of the locale's
catalog (``templates/locales/<locale>/LC_MESSAGES/encore.po``, the recap pages' catalogs;
English is the source language).

A suppressed count is never a number in copy; a line that declares it can say so
(``bounds``) sees its stored 95 % upper bound instead, as ``at_most`` ("fewer than 50").
"""

from __future__ import annotations

import functools
import math

from encore import facts
from encore.facts import catalog as fc
from encore.render import translations
from encore.render.settings import SOURCE_LOCALE, supported_locales


@functools.cache
def catalog_locale(locale: str) -> str | None:
    """The shipped catalog a locale takes its words from: its own, else its language's
    (``de_AT`` -> ``de``); None when neither is shipped."""
    known = supported_locales()
    for candidate in (locale, locale.split("_")[0]):
        if candidate in known:
            return candidate
    return None


def round_for_people(value: float, error95: float | None = None) -> int:
    """Three significant digits at most, and never finer than the noise's magnitude."""
    v = abs(value)
    if v < 1:
        return 0
    step = 10 ** max(0, math.floor(math.log10(v)) - 2)
    if error95 and error95 >= 10:
        step = max(step, 10 ** math.floor(math.log10(error95)))
    return int(round(value / step) * step)


def format_number(n: float, locale: str) -> str:
    from babel.numbers import format_decimal

    return format_decimal(n, locale=locale, format="#,##0")


def format_about(value: float, error95: float | None, locale: str) -> str:
    """The number as people read it: exact when the noise allows, else "about N"."""
    rounded = round_for_people(value, error95)
    text = format_number(rounded, locale)
    if rounded == round(value) and (error95 or 0) < 1:
        return text
    words = translations(catalog_locale(locale) or SOURCE_LOCALE)
    return words.gettext("about %(n)s") % {"n": text}


def format_percent(share: float, locale: str, error95: float | None = None) -> str:
    """A share as a whole percent in the locale's pattern; with its noise (``error95``,
    as a share), never finer than the noise: +-22 points prints "about 30%", not "31%"."""
    from babel.numbers import format_percent as bp

    points = max(0.0, min(1.0, share)) * 100
    step = 1.0
    if error95 and error95 * 100 >= 10:
        step = 10.0 ** math.floor(math.log10(error95 * 100))
    rounded = min(100.0, round(points / step) * step)
    text = bp(rounded / 100, locale=locale)  # the locale's own pattern
    if step == 1.0:
        return text
    words = translations(catalog_locale(locale) or SOURCE_LOCALE)
    return words.gettext("about %(n)s") % {"n": text}


def market_name(market: str, locale: str) -> str:
    """The market's name in the locale's language (Babel), e.g. DE -> Germany / Deutschland."""
    from babel import Locale

    return Locale.parse(locale).territories.get(market, market)


def bound_view(b: dict, locale: str) -> dict:
    """What a template sees of a suppressed key: only its 95 % upper bound, already a
    round number (facts.bounds), for "fewer than {{ at_most }}" — no about, no number."""
    v = {"label": b["label"], "suppressed": True, "at_most": format_number(b["upper95"], locale)}
    for dim, cols in b["dims"].items():
        v[dim] = " — ".join(str(x) for x in cols.values())
    return v


def fact_view(
    spec: fc.FactSpec, released: facts.ReleasedFact, locale: str, *, bounds: bool = False
) -> dict | None:
    """What a template sees of a fact: rounded, localised strings, never raw noisy values.

    Without ``bounds``, None when nothing of the fact was released (suppressed). With
    ``bounds`` (the line declares it can say "fewer than N", ``bounds = [...]`` in the
    copy file), a suppressed key that has a stored upper bound is seen through
    :func:`bound_view` instead: ``suppressed`` true and ``at_most`` only; a fully
    suppressed fact is then ``{id, title, suppressed, at_most, label, by}``."""
    lines = facts.answer(spec, released.rows)
    if not lines:
        return _bounds_only(spec, released, locale) if bounds else None
    shares = spec.kind == "average" and spec.metric == "work_hours_share"

    def line_view(ln: dict) -> dict:
        # a median's error is a rank bound (listeners), not in the value's unit
        err = None if spec.kind == "median" else ln["error95"]
        v = {
            "label": ln["label"],
            "about": format_about(ln["value"], err, locale),
            "number": format_number(round_for_people(ln["value"], err), locale),
        }
        if ln.get("share") is not None:
            # the share's noise, in share units: the count's error over the group's total
            # (value / share); the total's own noise moves it less, and is left out
            share_err = None
            if ln["error95"] and ln["value"]:
                share_err = ln["error95"] * ln["share"] / ln["value"]
            v["percent"] = format_percent(ln["share"], locale, share_err)
        if shares:
            v["percent"] = format_percent(ln["value"], locale, ln["error95"])
            v["about"] = v["number"] = v["percent"]
        if ln.get("n"):
            # the listener count has its own noise: never finer than it ("about 60")
            v["listeners"] = format_about(ln["n"], ln.get("n_error95"), locale)
        for dim, cols in ln["dims"].items():
            v[dim] = " — ".join(str(x) for x in cols.values())
        return v

    views = [line_view(ln) for ln in lines]
    by: dict[str, dict] = {}
    if spec.per or spec.share_per:
        for ln, v in zip(lines, views, strict=True):
            for dim, group in (ln["group"] or {}).items():
                if spec.share_per:
                    by.setdefault(dim, {}).setdefault(group, []).append(v)
                else:
                    by.setdefault(dim, {}).setdefault(group, v)
    elif len(spec.keys) == 1:
        by[spec.keys[0]] = {v[spec.keys[0]]: v for v in views}
        if bounds:  # a suppressed key of a partly released fact: its bound only
            for b in facts.bounds(spec, released.rows):
                bv = bound_view(b, locale)
                by[spec.keys[0]].setdefault(bv[spec.keys[0]], bv)
    view = {"id": spec.id, "title": spec.title, "suppressed": False, "top": views, "by": by}
    view.update(
        {
            k: views[0][k]
            for k in ("label", "about", "number", "percent", "listeners")
            if k in views[0]
        }
    )
    return view


def _bounds_only(spec: fc.FactSpec, released: facts.ReleasedFact, locale: str) -> dict | None:
    """A fully suppressed fact as a line that accepts bounds sees it; None without a bound."""
    found = [bound_view(b, locale) for b in facts.bounds(spec, released.rows)]
    if not found:
        return None
    by = {spec.keys[0]: {v[spec.keys[0]]: v for v in found}} if len(spec.keys) == 1 else {}
    return {
        "id": spec.id,
        "title": spec.title,
        "suppressed": True,
        "label": found[0]["label"],
        "at_most": found[0]["at_most"],
        "by": by,
    }
