"""Shares of a ``share_per`` fact (docs/facts.md): post-processing of released values,
one rule for the release that stores them and for every reader of a release."""

from __future__ import annotations

import json
from collections import defaultdict

from encore.facts.catalog import DIMENSIONS, FactSpec


def with_shares(spec: FactSpec, rows: list[dict]) -> list[dict]:
    """Rows (stored, or a release's own) with ``share`` worked out from the released
    values: each released key's value over its ``share_per`` group's *released* total (a
    denominator that included suppressed values would let a reader subtract one back
    out), none in a group with one released key (it would always read 100 %) or for a
    suppressed key. Post-processing, so any release of the query can show shares; the
    release and every reader apply this one rule."""
    cols = DIMENSIONS[spec.share_per]["columns"]

    def group(r: dict) -> tuple:
        key = json.loads(r["key"]) if isinstance(r["key"], str) else r["key"]
        return tuple(key.get(c) for c in cols)

    shown = [r for r in rows if not r["suppressed"] and r["value"] is not None]
    members: dict[tuple, list[dict]] = defaultdict(list)
    for r in shown:
        members[group(r)].append(r)
    out = []
    for r in rows:
        share = None
        if not r["suppressed"] and r["value"] is not None:
            peers = members[group(r)]
            total = sum(p["value"] for p in peers)
            share = r["value"] / total if len(peers) > 1 and total > 0 else None
        out.append(r | {"share": share})
    return out
