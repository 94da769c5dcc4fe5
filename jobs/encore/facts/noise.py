"""What the library says about its noise: the one adapter over Tumult Analytics'
private API.

Encore computes no noise, sensitivity or selection itself; the report's error figures
come from the library's own description of the noise a query draws. Tumult exposes
that description only as the private ``Session._noise_info``: this module is the one
place that calls it (or any other private ``tmlt`` name), so a library upgrade that
moves it breaks here and nowhere else. The rest of the package reads the result
through ``describe`` and ``error95``; ``upper_bound95`` turns a suppressed count into
the honest "fewer than N" its release supports (privacy.md, "Display").
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tmlt.analytics import PrivacyBudget, Query, Session


def noise_info(session: Session, query: Query, budget: PrivacyBudget) -> list[dict]:
    """The noise ``session`` would add to ``query`` evaluated at ``budget``: one dict per
    draw, with ``noise_mechanism`` (an enum, read by its ``name``) and
    ``noise_parameter`` (a scale; the variance for Gaussian mechanisms)."""
    # the one call of a private tmlt name (see the module's docstring)
    return session._noise_info(query, budget)  # noqa: SLF001


def describe(info: list[dict]) -> str:
    """The noise in a few words for the ledger and the report, e.g. ``geometric(scale=3.333)``."""
    parts = []
    for i in info:
        mech = getattr(i.get("noise_mechanism"), "name", str(i.get("noise_mechanism"))).lower()
        parts.append(f"{mech}(scale={i.get('noise_parameter'):.4g})")
    return " + ".join(parts)


def error95(info: dict) -> float | None:
    """Half-width of the 95 % interval of one noise draw, from the library's noise info."""
    return error_at(info, 0.05)


def error_at(info: dict, p: float) -> float | None:
    """The smallest half-width t with P(|noise| > t) <= ``p`` for one draw (None: a
    mechanism whose tail is not known here)."""
    mech = getattr(info.get("noise_mechanism"), "name", "")
    b = float(info.get("noise_parameter") or 0)
    if b <= 0:
        return 0.0
    if mech == "LAPLACE":
        return b * math.log(1 / p)
    if mech == "GEOMETRIC":  # two-sided geometric, P(k) ∝ exp(-|k|/b)
        a = math.exp(-1 / b)
        if a == 0.0:  # a scale so small (an enormous epsilon) that no draw is ever non-zero
            return 0.0
        # P(|X| > t) = 2 a^(t+1) / (1 + a) <= p
        t = math.log(p * (1 + a) / 2) / math.log(a) - 1
        return float(max(0, math.ceil(t)))
    if mech in ("GAUSSIAN", "DISCRETE_GAUSSIAN"):  # the library reports the variance
        z = 1.96 if p == 0.05 else NormalDist().inv_cdf(1 - p / 2)
        return z * math.sqrt(b)
    return None


def selection_error95(info: dict, keys: int) -> float | None:
    """The half-width that the *largest* of ``keys`` independent noise draws stays within
    in 95 % of releases (a union bound: each draw's tail at 5 % / keys).

    What a value must beat when it is shown because it ranked first among ``keys``
    noisy values: ranking picks the biggest noise, so among 24,000 tracks played by
    nobody on one day the top one is a draw of ~5× the single-draw 95 % error, not a
    track anyone played (docs/facts.md, "Top lists and noise")."""
    return error_at(info, 0.05 / max(1, keys))


def upper_bound95(value: float, error95: float | None) -> float | None:
    """What a suppressed count can still say: the upper end of its 95 % interval (the
    noisy value plus its 95 % error) rounded *up*, strictly, to a round number people
    say — 1, 2 or 5 times a power of ten, at least 10 — so that "fewer than N" holds
    whenever the interval does (31 -> 50, 50 -> 100, 19 -> 20, negative -> 10).

    Post-processing of the noisy value alone: it spends no budget. Only this rounded
    bound is stored, never ``value``; None when the noise's error is unknown."""
    if error95 is None:
        return None
    bound = value + error95
    n = 10.0
    while n <= bound:
        n = _next_round(n)
    return n


def _next_round(n: float) -> float:
    """The round number after ``n`` in the 1-2-5 series (10 -> 20 -> 50 -> 100)."""
    exp = math.floor(math.log10(n))
    lead = round(n / 10**exp)
    return float({1: 2, 2: 5}.get(lead, 10) * 10**exp)
