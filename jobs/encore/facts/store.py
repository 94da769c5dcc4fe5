"""Released values, immutable (docs/facts.md, "Releases are immutable").

``facts/year=Y/part-00000.parquet`` holds every released value: one row per key plus
one summary row per fact (``FACT_ROW``). A fact's identity is its signature (a hash of
its query); a release rewrites the file with the old rows and its new ones, staged and
swapped in atomically, never changing a stored row. A released count below
``min_count`` is stored as suppressed, without its number: only its 95 % upper bound,
rounded up to a round number (``upper95``, ``noise.upper_bound95``), is kept with it,
so that copy can say "fewer than 50" without the noisy value ever being stored.
"""

from __future__ import annotations

import io
import json
import re
from collections import defaultdict
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.parquet as pq

from encore.facts.catalog import FactSpec
from encore.facts.evaluation import RANKED_NOTE, Evaluated
from encore.facts.shares import with_shares
from encore.platform import datasets, storage

# Beyond this many keys, a fact stores only its released (unsuppressed) keys and a count
# of the rest; below it, every key gets a row (suppressed ones without a number).
EXPLICIT_KEYS_MAX = 64
FACTS_FILE = "part-00000.parquet"


# One row per released key, plus one summary row per fact (key = null). The year is
# in the path (facts/year=Y/), not in the rows, so `spark.read.parquet("facts")` works.
FACT_ROW = pa.schema(
    [
        ("fact_id", pa.string()),  # the id it was first released under
        ("signature", pa.string()),  # hash of the query: the release's identity
        ("kind", pa.string()),
        ("key", pa.string()),  # JSON object column -> value; null on the fact's summary row
        ("value", pa.float64()),  # the noisy value; null when suppressed or on the summary row
        ("n", pa.float64()),  # average/median: the noisy number of listeners in the group
        ("share", pa.float64()),  # share_per facts: value / sum of the group's released values
        ("suppressed", pa.bool_()),
        ("error95", pa.float64()),  # half-width of the noise's 95 % interval, in value units
        # average/median: the same for the noisy listener count n (one number per query);
        # null elsewhere, and on releases stored before it existed
        ("n_error95", pa.float64()),
        # suppressed counts only: noisy value + error95 rounded up to 1/2/5 x 10^k, >= 10
        # (noise.upper_bound95); null elsewhere, and on releases stored before it existed
        ("upper95", pa.float64()),
        ("epsilon", pa.float64()),
        ("delta", pa.float64()),
        ("mechanism", pa.string()),
        ("note", pa.string()),
        ("params", pa.string()),  # JSON of the release's identity (FactSpec.identity)
        ("released_at", pa.string()),
        ("run_id", pa.string()),
    ]
)


def load_released(root: str, year: int) -> list[dict]:
    """Every stored row of ``facts/year=Y/`` (see FACT_ROW), or [] before the first release."""
    final = datasets.facts_path(root, year)
    storage.recover(final)
    path = storage.join(final, FACTS_FILE)
    if not storage.exists(path):
        return []
    table = pq.read_table(pa.BufferReader(storage.read_bytes(path)))
    return table.to_pylist()


def publish_rows(root: str, year: int, rows: list[dict], run_id: str) -> None:
    """Stage ``rows`` (every stored row and the new ones) and swap them in atomically."""
    final = datasets.facts_path(root, year)
    staged = storage.staging_path(final, run_id)
    storage.delete(staged)
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=FACT_ROW), buf)
    storage.write_bytes_atomic(storage.join(staged, FACTS_FILE), buf.getvalue())
    storage.write_bytes_atomic(storage.join(staged, "_SUCCESS"), b"")
    storage.publish(staged, final, run_id)


@dataclass
class ReleasedFact:
    """A fact as released: its rows (suppressed ones without a value) and what it cost."""

    spec: FactSpec
    rows: list[dict]  # the stored rows with a key (summary row excluded)
    epsilon: float
    delta: float
    mechanism: str
    note: str
    released_at: str
    run_id: str
    reused: bool  # True when this call returned a stored release and spent nothing
    signature: str | None = None  # the stored release's (a legacy one may not be spec's)

    def values(self) -> list[tuple[dict, float | None]]:
        return [(json.loads(r["key"]), r["value"]) for r in self.rows]


def by_signature(rows: list[dict]) -> dict[str, list[dict]]:
    """Stored rows grouped by release (the signature of its query)."""
    out: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        out[r["signature"]].append(r)
    return out


def stored_release(spec: FactSpec, stored: dict[str, list[dict]]) -> list[dict] | None:
    """The stored rows of ``spec``'s release (``stored`` is ``by_signature``), or None.

    A release stored before display options were part of a release's identity carries
    the query's hash alone (``legacy_signature``) and no ``released_as`` in its params.
    It is ``spec``'s release if what it stored fits what ``spec`` computes at release:
    for a ranked count, the stricter bar (its note says so: ``RANKED_NOTE``) or nothing
    shown (shares are worked out on reading, ``shares.with_shares``). The id alone is not enough: a
    fact released plain and later made ranked under the same id kept its one-draw bar
    (found by review, 2026-12-08). When it does not fit, None: the fact is drawn again,
    or, under the id that released it, refused as a changed fact."""
    rows = stored.get(spec.signature)
    if rows is not None or spec.signature == spec.legacy_signature:
        return rows
    old = stored.get(spec.legacy_signature)
    if old is None:
        return None
    summary = next(r for r in old if r["key"] is None)
    if "released_as" in json.loads(summary["params"] or "{}"):
        return None  # stored since: a release of another identity
    shown = [r for r in old if r["key"] is not None and not r["suppressed"]]
    if spec.released_as.get("ranked") and shown and RANKED_NOTE not in (summary["note"] or ""):
        return None
    return old


_COUNT_NOISE = re.compile(r"^count (\w+)\(scale=([0-9.eE+-]+)\)")


def count_error95(mechanism: str | None) -> float | None:
    """The 95 % error of an average's or median's listener count, from its stored
    mechanism ("count geometric(scale=0.8) + median ..."; noise.describe), or None."""
    from types import SimpleNamespace

    from encore.facts import noise

    found = _COUNT_NOISE.match(mechanism or "")
    if not found:
        return None
    info = {
        "noise_mechanism": SimpleNamespace(name=found[1].upper()),
        "noise_parameter": float(found[2]),
    }
    return noise.error95(info)


def as_released(spec: FactSpec, stored: list[dict], reused: bool) -> ReleasedFact:
    """A stored release (its summary row and keyed rows) as a ``ReleasedFact``."""
    summary = next(r for r in stored if r["key"] is None)
    keyed = [r for r in stored if r["key"] is not None]
    if spec.share_per:
        keyed = with_shares(spec, keyed)
    if spec.kind in ("average", "median") and any(r.get("n_error95") is None for r in keyed):
        # stored before n_error95 existed: the count's noise is in the mechanism's words
        err = count_error95(summary["mechanism"])
        keyed = [r if r.get("n_error95") is not None else r | {"n_error95": err} for r in keyed]
    return ReleasedFact(
        spec,
        keyed,
        summary["epsilon"],
        summary["delta"],
        summary["mechanism"],
        summary["note"],
        summary["released_at"],
        summary["run_id"],
        reused,
        summary["signature"],
    )


def rows_of(ev: Evaluated, run_id: str, now: str) -> list[dict]:
    """The rows an evaluated fact is stored as (see FACT_ROW); suppressed values never are."""
    spec = ev.spec
    params = json.dumps(spec.identity(), sort_keys=True, ensure_ascii=False)
    common = {
        "fact_id": spec.id,
        "signature": spec.signature,
        "kind": spec.kind,
        "epsilon": ev.epsilon,
        "delta": ev.delta,
        "mechanism": ev.mechanism,
        "params": params,
        "released_at": now,
        "run_id": run_id,
    }
    out = [
        {
            **common,
            "key": None,
            "value": None,
            "n": None,
            "share": None,
            "suppressed": None,
            "error95": None,
            "n_error95": None,
            "upper95": None,
            "note": ev.note,
        }
    ]
    explicit = len(ev.rows) <= EXPLICIT_KEYS_MAX
    for r in sorted(
        ev.rows, key=lambda r: json.dumps(r["key"], sort_keys=True, ensure_ascii=False)
    ):
        if r["suppressed"] and not explicit:
            continue  # counted in the note; a suppressed value is never stored
        out.append(
            {
                **common,
                "key": json.dumps(r["key"], sort_keys=True, ensure_ascii=False),
                "value": None if r["suppressed"] else r["value"],
                "n": None if r["suppressed"] or r["n"] is None else round(r["n"]),
                "share": None if r["suppressed"] else r.get("share"),
                "suppressed": bool(r["suppressed"]),
                # an average's or median's error is a function of its group's noisy
                # count (sum error / n; 2 ln(20 (n+1)) / eps): stored beside a
                # suppressed row it would give the count back. A count's is one number
                # for every key of the query, so it stays.
                "error95": r["error95"] if not r["suppressed"] or spec.kind == "count" else None,
                "n_error95": r.get("n_error95"),
                "upper95": r.get("upper95") if r["suppressed"] else None,
                "note": None,
            }
        )
    return out
