"""Reading a release the way people do (docs/facts.md, "Report").

``answer`` turns a fact's stored rows into lines — top lists, top per group, shares,
one number — post-processing released values only; ``plain_error`` says the noise's
typical error in plain words; ``write_report`` writes ``facts/year=Y/_REPORT.md``.
"""

from __future__ import annotations

import json
from collections import defaultdict

from encore.facts import catalog as fc
from encore.facts.catalog import DIMENSIONS, FactSpec
from encore.facts.ledger import spent
from encore.facts.store import as_released, by_signature, load_released, stored_release
from encore.platform import datasets, storage

REPORT_FILE = "_REPORT.md"


def _label(key: dict) -> str:
    if "track_name" in key:
        return f"{key['track_name']} — {key['artist_name']}"
    if "album_name" in key:
        return f"{key['album_name']} — {key['artist_name']}"
    return " / ".join(str(v) for v in key.values())


def answer(spec: FactSpec, rows: list[dict]) -> list[dict]:
    """The fact's answer as lines: {"group": ..., "label": ..., "key": ..., "value": ...,
    "share": ...}. Post-processing of released values only; suppressed keys never appear."""
    shown = [
        (json.loads(r["key"]) if isinstance(r["key"], str) else r["key"], r)
        for r in rows
        if not r["suppressed"] and r["value"] is not None
    ]
    lines: list[dict] = []

    def line(group, key, r, share=None):
        dims = {d: {c: key[c] for c in DIMENSIONS[d]["columns"]} for d in spec.keys}
        return {
            "group": group,
            "label": _label(key),
            "key": key,
            "dims": dims,
            "value": r["value"],
            "n": r.get("n"),
            "n_error95": r.get("n_error95"),
            "share": share,
            "error95": r["error95"],
        }

    if spec.per:
        for dim in spec.per:
            cols = DIMENSIONS[dim]["columns"]
            groups: dict = defaultdict(list)
            for key, r in shown:
                groups[tuple(key[c] for c in cols)].append((key, r))
            for g in sorted(groups, key=lambda t: [str(x) for x in t]):
                ranked = sorted(
                    groups[g], key=lambda kr: (-kr[1]["value"], json.dumps(kr[0], sort_keys=True))
                )
                for key, r in ranked[: spec.top or 1]:
                    rest = {k: v for k, v in key.items() if k not in cols}
                    lines.append(
                        {**line({dim: " / ".join(map(str, g))}, key, r), "label": _label(rest)}
                    )
        return lines
    if spec.share_per:  # shares were computed at release over every key of the group
        cols = DIMENSIONS[spec.share_per]["columns"]
        for key, r in sorted(
            shown, key=lambda kr: ([str(kr[0][c]) for c in cols], -kr[1]["value"])
        ):
            g = tuple(key[c] for c in cols)
            rest = {k: v for k, v in key.items() if k not in cols}
            lines.append(
                {
                    **line({spec.share_per: " / ".join(map(str, g))}, key, r, r.get("share")),
                    "label": _label(rest),
                }
            )
        return lines
    ranked = sorted(shown, key=lambda kr: (-kr[1]["value"], json.dumps(kr[0], sort_keys=True)))
    for key, r in ranked[: spec.top] if spec.top else ranked:
        lines.append(line(None, key, r))
    return lines


def bounds(spec: FactSpec, rows: list[dict]) -> list[dict]:
    """The suppressed keys that still have something honest to say: {"label", "key",
    "dims", "upper95"} with the stored 95 % upper bound (already rounded up at release;
    store.FACT_ROW). Never a noisy value: a suppressed row has none."""
    out = []
    for r in rows:
        if r["suppressed"] and r.get("upper95") is not None:
            key = json.loads(r["key"]) if isinstance(r["key"], str) else r["key"]
            dims = {d: {c: key[c] for c in DIMENSIONS[d]["columns"]} for d in spec.keys}
            out.append({"label": _label(key), "key": key, "dims": dims, "upper95": r["upper95"]})
    return sorted(out, key=lambda b: json.dumps(b["key"], sort_keys=True, ensure_ascii=False))


def plain_error(spec: FactSpec, err: float | None) -> str:
    """The noise's typical error in plain words."""
    if err is None:
        return "error not available"
    if spec.kind == "count":
        unit = (
            "listeners"
            if spec.unit == "listeners"
            else ("playlists" if spec.source.startswith("playlist") else "plays")
        )
        return f"±{err:,.0f} {unit} in 95 % of releases"
    if spec.kind == "average" and spec.metric == "work_hours_share":
        return f"±{100 * err:.1f} percentage points in 95 % of releases"
    if spec.kind == "average":
        return f"±{err:,.1f} in 95 % of releases"
    return f"its rank is within ±{err:,.0f} listeners of the true median in 95 % of releases"


def _fmt_value(spec: FactSpec, value: float) -> str:
    if spec.kind == "count":
        return f"{value:,.0f}"
    if spec.metric == "work_hours_share":
        return f"{100 * value:.1f} %"
    return f"{value:,.0f}"


def write_report(root: str, year: int, cfg: dict) -> str:
    """facts/year=Y/_REPORT.md: every released fact, its answer or why it is suppressed,
    its epsilon and the noise's typical error in plain words."""
    rows = load_released(root, year)
    by_sig = by_signature(rows)
    catalog = {s.signature: s for s in fc.catalog(cfg)}
    order = {sig: i for i, sig in enumerate(catalog)}
    total_eps, total_delta = cfg["privacy"]["epsilon_per_year"], cfg["privacy"]["delta_per_year"]
    used_eps, used_delta = spent(root, year)
    out = [
        f"# Released facts, {year}",
        "",
        "Differentially private (Tumult Analytics; the protected unit is the listener). "
        "Values are noisy on purpose; a count below "
        f"{cfg['privacy']['min_count']} is suppressed and never stored.",
        "",
        f"Budget spent: epsilon {used_eps:.4g} of {total_eps:g}, delta {used_delta:.3g} of {total_delta:g}.",
        "",
    ]
    for sig, stored in sorted(
        by_sig.items(),
        key=lambda kv: (kv[1][0]["released_at"], order.get(kv[0], len(order)), kv[1][0]["fact_id"]),
    ):
        summary = next(r for r in stored if r["key"] is None)
        spec = catalog.get(sig) or _spec_from_params(summary)
        if sig not in catalog:  # stored before display options were identity: same id
            spec = next(
                (s for s in catalog.values() if stored_release(s, {sig: stored}) is stored),
                spec,
            )
        fact = as_released(spec, stored, reused=True)
        out += [
            f"## {summary['fact_id']}: {spec.title}",
            "",
            f"- epsilon {fact.epsilon:.4g}, delta {fact.delta:.3g}; mechanism: {fact.mechanism}",
            f"- released {fact.released_at} by run {fact.run_id}; {fact.note}",
        ]
        errs = [r["error95"] for r in fact.rows if r["error95"] is not None and not r["suppressed"]]
        if errs:
            out.append(f"- typical error: {plain_error(spec, max(errs))}")
        lines = answer(spec, fact.rows)
        if not lines:
            out += [
                "",
                "**suppressed** — no value above the minimum count"
                if fact.rows or "selection" in fact.note
                else "**suppressed** — nothing to release",
                "",
            ]
            out += [
                f"- {b['label']}: fewer than {b['upper95']:,.0f} in 95 % of releases"
                for b in bounds(spec, fact.rows)[:10]
            ]
            out += [""] if out[-1] else []
            continue
        out.append("")
        for ln in lines:
            group = "".join(f"{k}={v}: " for k, v in (ln["group"] or {}).items())
            share = ""
            if ln["share"] is not None:
                share = f" ({100 * ln['share']:.1f} %"
                if ln["error95"] and ln["value"]:  # the count's error over the group's total
                    share += f" ±{100 * ln['error95'] * ln['share'] / ln['value']:.0f} points"
                share += ")"
            n = f" (about {ln['n']:,.0f} listeners" if ln.get("n") else ""
            if n and ln.get("n_error95"):
                n += f", ±{ln['n_error95']:,.0f} in 95 % of releases"
            n += ")" if n else ""
            out.append(f"- {group}{ln['label']}: {_fmt_value(spec, ln['value'])}{share}{n}")
        suppressed = (
            [r for r in fact.rows if r["suppressed"]] if not spec.per and not spec.top else []
        )
        for r in suppressed[:10]:
            bound = r.get("upper95")
            fewer = f" (fewer than {bound:,.0f} in 95 % of releases)" if bound is not None else ""
            out.append(f"- {_label(json.loads(r['key']))}: suppressed{fewer}")
        if len(suppressed) > 10:
            out.append(f"- ... and {len(suppressed) - 10} more suppressed")
        out.append("")
    path = storage.join(datasets.facts_path(root, year), REPORT_FILE)
    storage.write_text_atomic(path, "\n".join(out))
    return path


def _spec_from_params(summary: dict) -> FactSpec:
    """A FactSpec for a stored release that is not in the current catalog (campaign facts)."""
    p = json.loads(summary["params"])
    released_as = p.pop("released_as", None) or {}
    body = {k: v for k, v in p.items() if v not in (None, [], ())}
    if released_as.get("share_per"):
        body["share_per"] = released_as["share_per"]
    body["private_keys"] = bool(p.get("private_keys"))
    body["weight"] = 1
    return fc.spec_from_dict(summary["fact_id"], body)
