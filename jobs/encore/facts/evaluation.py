"""Evaluating facts with Tumult Analytics (docs/facts.md, "Mechanism").

Every fact is a query of the catalog evaluated in a ``Session`` whose protected change
is ``AddRowsWithID("user_id")``: the listener is the protected unit, each query
enforces the fact's contribution bounds (``MaxGroupsPerID`` + ``MaxRowsPerGroupPerID``,
or ``MaxRowsPerID(1)`` on per-listener rows), keys are public (catalog, countries, age
bands, hours, platforms, named phrases and tracks) or chosen by the library's
partition selection (``get_groups``). No noise, sensitivity or selection is computed
here; what the noise is comes from ``noise``.
"""

from __future__ import annotations

import contextlib
import math
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from encore.facts import catalog as fc
from encore.facts import noise
from encore.facts.catalog import DIMENSIONS, FactSpec
from encore.facts.ledger import TOLERANCE
from encore.facts.population import Inputs, normalise_phrase
from encore.facts.shares import with_shares
from encore.platform.errors import EncoreError

if TYPE_CHECKING:
    from tmlt.analytics import KeySet, Session

ID_SPACE = "listener"

# Spark's notice that the library declares its pandas UDFs the old way, printed 4-5 times
# per `encore facts` between the command's own lines: nothing a person can act on.
warnings.filterwarnings(
    "ignore", message=r"In Python 3\.6\+ and Spark 3\.0\+", category=UserWarning
)


def _truncation_column(spec: FactSpec) -> str:
    """The column whose groups bound a listener's contribution (the most specific one)."""
    return DIMENSIONS[spec.keys[-1]]["columns"][-1]


def public_keys(spec: FactSpec, inputs: Inputs, cfg: dict) -> KeySet | None:
    """The public KeySet of a fact (None for privately selected keys)."""
    from pyspark.sql import functions as F
    from tmlt.analytics import KeySet

    if spec.private_keys:
        return None
    keyset = None
    for dim in spec.keys:
        if dim == "artist":
            ks = KeySet.from_dataframe(
                inputs.artists.select("artist_name").where("artist_name IS NOT NULL").distinct()
            )
        elif dim == "track" and spec.tracks:
            ks = KeySet.from_tuples([(a, t) for t, a in spec.tracks], ["artist_name", "track_name"])
        elif dim == "track":
            ks = KeySet.from_dataframe(
                inputs.tracks.select("artist_name", "track_name")
                .where("artist_name IS NOT NULL AND track_name IS NOT NULL")
                .distinct()
            )
        elif dim == "album":
            ks = KeySet.from_dataframe(
                inputs.tracks.select("artist_name", "album_name")
                .where("artist_name IS NOT NULL AND album_name IS NOT NULL")
                .distinct()
            )
        elif dim == "genre":
            ks = KeySet.from_dataframe(_artist_genres(inputs).select("genre").distinct())
        elif dim == "country":
            ks = KeySet.from_dict({"country": list(spec.markets or fc.countries(cfg))})
        elif dim == "age_band":
            ks = KeySet.from_dict({"age_band": fc.age_band_labels(cfg)})
        elif dim == "platform":
            ks = KeySet.from_dict({"platform": list(cfg["facts"]["platforms"])})
        elif dim == "hour":
            ks = KeySet.from_dict({"hour": list(range(24))})
        elif dim == "phrase":
            ks = KeySet.from_dict({"phrase": list(spec.phrases)})
        else:  # pragma: no cover - the catalog validator refuses this
            raise EncoreError(f"fact {spec.id}: dimension {dim} has no public keys")
        keyset = ks if keyset is None else keyset * ks
    del F
    return keyset


def _artist_genres(inputs: Inputs):
    from pyspark.sql import functions as F

    return (
        inputs.artists.select("artist_name", F.explode("genres").alias("genre"))
        .where("genre IS NOT NULL")
        .distinct()
    )


def _base_query(spec: FactSpec, year: int, restrict_source: str | None):
    from tmlt.analytics import ColumnType, QueryBuilder

    q = QueryBuilder(spec.source)
    if spec.date:
        q = q.filter(f"local_date = '{year}-{spec.date}'")  # both parts validated digits
    if "genre" in spec.keys:
        q = q.join_public("artist_genres")  # each stream credits every genre of its artist
    if restrict_source:
        q = q.join_public(restrict_source)  # only the named keys' rows reach the bounds
    if "phrase" in spec.keys:
        wanted = [(normalise_phrase(p), p) for p in spec.phrases]

        def phrases_in_title(row, wanted=wanted):
            title = row["title"] or ""
            return [{"phrase": label} for norm, label in wanted if norm in title]

        q = q.flat_map(phrases_in_title, {"phrase": ColumnType.VARCHAR}, augment=True)
    # only the columns the fact reads reach the library's truncation: it sorts and
    # hashes (sha2) every column of every row, and a streams row carries nine
    # (docs/facts.md, "How a release reads its data")
    return q.select(["user_id", *spec.key_columns, *([spec.metric] if spec.metric else [])])


def _bounded(q, spec: FactSpec):
    from tmlt.analytics import MaxGroupsPerID, MaxRowsPerGroupPerID

    col = _truncation_column(spec)
    rows = 1 if spec.unit == "listeners" else spec.max_rows_per_group
    return q.enforce(MaxGroupsPerID(col, spec.max_groups)).enforce(MaxRowsPerGroupPerID(col, rows))


@dataclass
class Evaluated:
    """One fact as the library answered it, before it is stored (``store.rows_of`` stores it)."""

    spec: FactSpec
    rows: list[dict]  # key (dict) -> value, n, suppressed, error95, upper95 (suppressed counts)
    epsilon: float
    delta: float
    mechanism: str
    note: str


def evaluate_fact(
    session: Session, spec: FactSpec, inputs: Inputs, year: int, cfg: dict
) -> Evaluated:
    """Evaluate one fact in ``session``, spending exactly its budget."""
    from pyspark.sql import functions as F
    from tmlt.analytics import (
        ApproxDPBudget,
        KeySet,
        MaxGroupsPerID,
        MaxRowsPerGroupPerID,
        MaxRowsPerID,
    )

    spark = inputs.private[spec.source].sparkSession
    eps, delta = fc.budget_for(spec, cfg)
    min_count = cfg["privacy"]["min_count"]
    restrict = None
    if spec.tracks:
        restrict = f"named_{spec.signature}"
        with contextlib.suppress(ValueError):  # already added by an earlier fact in this session
            session.add_public_dataframe(
                restrict,
                spark.createDataFrame(
                    [(a, t) for t, a in spec.tracks], "artist_name string, track_name string"
                ),
            )
    mechanisms: list[str] = []
    note = ""
    bar = None  # what a count must beat to be released (count facts)

    if spec.private_keys:
        # the library's partition selection picks the open-ended keys (show or title)
        col = DIMENSIONS[spec.keys[0]]["columns"][0]
        sel_eps = eps * cfg["facts"]["selection_share"]
        select = (
            _base_query(spec, year, restrict)
            .enforce(MaxGroupsPerID(col, spec.max_groups))
            .enforce(MaxRowsPerGroupPerID(col, 1))
            .get_groups([col])
        )
        selected = session.evaluate(select, ApproxDPBudget(sel_eps, delta)).where(
            F.col(col).isNotNull()
        )
        selected_keys = [r[col] for r in selected.collect()]
        mechanisms.append(f"partition selection(eps={sel_eps:.4g}, delta={delta:.3g})")
        eps_count = eps - sel_eps
        if not selected_keys:
            return Evaluated(
                spec,
                [],
                eps,
                delta,
                " + ".join(mechanisms),
                "no key passed private selection: nothing to count",
            )
        keys = KeySet.from_dict({col: selected_keys})
    else:
        eps_count = eps
        keys = public_keys(spec, inputs, cfg)

    rows: list[dict] = []
    if spec.kind == "count":
        q = _bounded(_base_query(spec, year, restrict), spec).groupby(keys).count(name="value")
        budget = ApproxDPBudget(eps_count, 0)
        info = noise.noise_info(session, q, budget)
        result = session.evaluate(q, budget).collect()
        err = noise.error95(info[0]) if info else None
        # a top list shows the keys that ranked first, and ranking picks the biggest
        # noise: a shown value must beat the largest of the fact's draws, not one draw
        # (docs/facts.md, "Top lists and noise"). Post-processing: no budget.
        bar = err
        if info and (spec.top or spec.per):
            bar = noise.selection_error95(info[0], len(result))
        mechanisms.append(noise.describe(info))
        for r in result:
            value = float(r["value"])
            key = {c: r[c] for c in spec.key_columns}
            # below min_count (privacy.md), or not distinguishable from noise around zero
            # ("never more precision than the noise supports")
            too_small = value < min_count or (bar is not None and value <= bar)
            rows.append(
                {
                    "key": key,
                    "value": value,
                    "n": None,
                    "suppressed": too_small,
                    "error95": err,
                    "share": None,
                    # what a suppressed count can still honestly say ("fewer than 50"),
                    # post-processing of the noisy value (privacy.md, "Display")
                    "upper95": noise.upper_bound95(value, err) if too_small else None,
                }
            )
        if spec.share_per:  # post-processing: the rule is the one every reader applies
            rows = with_shares(spec, rows)
    else:
        count_eps = eps_count * cfg["facts"]["count_share"]
        stat_eps = eps_count - count_eps
        base = _base_query(spec, year, restrict).enforce(MaxRowsPerID(1))
        cq = base.clone().groupby(keys).count(name="n")
        count_info = noise.noise_info(session, cq, ApproxDPBudget(count_eps, 0))
        counts = {
            tuple(r[c] for c in spec.key_columns): float(r["n"])
            for r in session.evaluate(cq, ApproxDPBudget(count_eps, 0)).collect()
        }
        grouped = base.clone().groupby(keys)
        sq = (
            grouped.average(spec.metric, spec.low, spec.high, name="value")
            if spec.kind == "average"
            else grouped.median(spec.metric, spec.low, spec.high, name="value")
        )
        stat_info = noise.noise_info(session, sq, ApproxDPBudget(stat_eps, 0))
        # the group's listener count is noisy too, and is shown ("about 60 listeners"):
        # its error is one number for every key of the query
        n_err = noise.error95(count_info[0]) if count_info else None
        mechanisms.append("count " + noise.describe(count_info))
        mechanisms.append(f"{spec.kind} " + noise.describe(stat_info))
        for r in session.evaluate(sq, ApproxDPBudget(stat_eps, 0)).collect():
            key = {c: r[c] for c in spec.key_columns}
            n = counts.get(tuple(key[c] for c in spec.key_columns), 0.0)
            value = min(max(float(r["value"]), spec.low), spec.high)  # noise can leave [low, high]
            if spec.kind == "average":
                sum_err = noise.error95(stat_info[0]) if stat_info else None
                err = None if sum_err is None or n <= 0 else sum_err / n
                # meaningless when the noise spans a quarter of the possible range
                vague = err is None or err >= (spec.high - spec.low) / 4
            else:  # exponential mechanism: a bound on the rank error, in listeners
                err = None if n <= 0 else 2 * math.log(20 * (n + 1)) / stat_eps
                vague = (
                    err is None or err >= n / 4
                )  # the released rank could be outside the quartiles
            rows.append(
                {
                    "key": key,
                    "value": value,
                    "n": n,
                    "suppressed": n < min_count or vague,
                    "error95": err,
                    "n_error95": n_err,
                    "share": None,
                }
            )
    note = note or _note(spec, rows, min_count, bar)
    return Evaluated(spec, rows, eps, delta, " + ".join(m for m in mechanisms if m), note)


# What a ranked count's note says (and a release stored before released_as was part of
# its identity is recognised as ranked by: store.stored_release).
RANKED_NOTE = "ranked, so also within the largest"


def _note(spec: FactSpec, rows: list[dict], min_count: int, bar: float | None) -> str:
    """How many keys were released and why the rest were suppressed (the report's line)."""
    released = sum(1 for r in rows if not r["suppressed"])
    if spec.kind == "count":
        why = f"noisy value below min_count {min_count}"
        if rows and rows[0]["error95"] is not None:
            why += f" or within the noise's 95 % error ±{rows[0]['error95']:,.0f}"
            if (spec.top or spec.per) and bar is not None:
                why += f"; {RANKED_NOTE} of its {len(rows):,} draws ±{bar:,.0f}"
    else:
        why = (
            f"noisy number of listeners below min_count {min_count}, or too few listeners for the "
            f"noise to leave a meaningful {spec.kind}"
        )
    return f"{len(rows)} keys: {released} released, {len(rows) - released} suppressed ({why})"


# The library writes every answer it draws to a table of its own database in the Spark
# warehouse (one per process, tumult_temp_<time>_<uuid>: the noisy values, those of
# suppressed keys included) and drops it only at interpreter exit, when a Spark session
# is still up: a CLI run left it in ./spark-warehouse of its working folder, and a
# release that withdrew kept draws that no ledger entry counts. The releases of this
# process (tests run two in threads) share it; the last one to finish drops it.
_scratch_users = 0
_scratch_guard = threading.Lock()


@contextlib.contextmanager
def library_scratch() -> Iterator[None]:
    """Evaluate facts inside this: on leaving (values collected, or an error), the
    library's database of draws is dropped with its files, unless another release of
    this process is still evaluating; the library makes it again when next needed."""
    from tmlt.analytics.utils import cleanup

    global _scratch_users
    with _scratch_guard:
        _scratch_users += 1
    try:
        yield
    finally:
        with _scratch_guard:
            _scratch_users -= 1
            if _scratch_users == 0:
                cleanup()  # DROP DATABASE IF EXISTS <its database> CASCADE


def open_session(inputs: Inputs, specs: list[FactSpec], epsilon: float, delta: float) -> Session:
    """A Tumult Analytics session over the private tables the facts need, with the
    listener as the protected unit, holding exactly the budget of this release."""
    from tmlt.analytics import AddRowsWithID, ApproxDPBudget, Session

    builder = (
        Session.Builder()
        .with_privacy_budget(
            ApproxDPBudget(epsilon * (1 + TOLERANCE), min(delta * (1 + TOLERANCE), 1.0))
        )
        .with_id_space(ID_SPACE)
    )
    for source in sorted({s.source for s in specs}):
        builder = builder.with_private_dataframe(
            source, inputs.private[source], protected_change=AddRowsWithID("user_id", ID_SPACE)
        )
    if any("genre" in s.keys for s in specs):
        builder = builder.with_public_dataframe("artist_genres", _artist_genres(inputs))
    return builder.build()
