"""A campaign export written: ``campaigns/Y/<campaign>/<run>/``, staged, then swapped in.

``copy.csv`` (formula injection neutralised), ``copy.json``, ``copy.md`` (Markdown-escaped),
``billboards/*.svg|png`` (only self-contained SVGs reach here; resvg rasterises them
with an empty resources folder), ``facts-used.json``, ``preview.html`` (every line per
market and language, its billboard, the facts it used and their ε, the budget left,
what was dropped and why; self-contained, readable from ``file://``) and ``note.md``
(the same in brief for the Airflow run's note, at most 1,000 characters).
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from encore.campaign.definition import Campaign
from encore.campaign.rendering import Export
from encore.platform import config, datasets, storage

if TYPE_CHECKING:
    from jinja2 import Environment

FONT_CANDIDATES = (
    config.REPO_ROOT / "templates" / "fonts" / "DejaVuSans.ttf",
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
)
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~:\"'=])")


def neutralise_cell(value: Any) -> Any:
    """CSV formula injection: a cell starting with = + - @ (or a tab/CR) gets a quote."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(rows: list[dict], columns: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for r in rows:
        w.writerow([neutralise_cell(r.get(c, "")) for c in columns])
    return buf.getvalue()


def markdown_text(text: str) -> str:
    """Text for copy.md that Markdown shows as typed: HTML is inert (&lt; &gt; &amp;),
    every Markdown punctuation is backslash-escaped (no links, images, emphasis,
    headings or tables from a fact's label), and it stays on one line."""
    text = " ".join(str(text).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def _font_files() -> list[str]:
    return [str(p) for p in FONT_CANDIDATES if p.is_file()][:1]


def write_export(
    root: str,
    year: int,
    camp: Campaign,
    export: Export,
    run_id: str,
    *,
    png: bool = True,
    budget: dict | None = None,
) -> str:
    """Write the export (module docstring); ``budget`` ({total, spent} ε of the year,
    after this export's releases) goes into preview.html and note.md."""
    final = datasets.path(root, "campaigns", str(year), camp.name, run_id)
    staged = storage.staging_path(final, run_id)
    storage.delete(staged)
    columns = ["campaign", "year", "market", "locale", "channel", "line", "text", "facts"]
    storage.write_text_atomic(storage.join(staged, "copy.csv"), to_csv(export.copy, columns))
    storage.write_json_atomic(
        storage.join(staged, "copy.json"),
        {
            "campaign": camp.name,
            "title": camp.title,
            "year": year,
            "run_id": run_id,
            "lines": export.copy,
            "notes": export.notes,
        },
    )
    esc = markdown_text
    md = [f"# {esc(camp.title)} — {year}", "", esc(camp.description), "", f"Run {esc(run_id)}.", ""]
    for r in export.copy:
        md.append(
            f"- **{esc(r['market'])} / {esc(r['locale'])} / {esc(r['channel'])} / {esc(r['line'])}**: "
            f"{esc(r['text'])}"
        )
    md += ["", "## Notes", ""] + [f"- {esc(n)}" for n in export.notes or ["none"]]
    storage.write_text_atomic(storage.join(staged, "copy.md"), "\n".join(md) + "\n")
    storage.write_json_atomic(
        storage.join(staged, "facts-used.json"),
        sorted(export.facts_used.values(), key=lambda f: f["id"]),
    )
    fonts = _font_files()
    with tempfile.TemporaryDirectory(prefix="encore-resvg-") as nothing:
        for stem, svg in export.billboards.items():
            storage.write_text_atomic(storage.join(staged, "billboards", f"{stem}.svg"), svg)
            if png:
                import resvg_py

                # an empty resources folder: a relative href finds nothing (absolute ones
                # were refused by svg_problem when the billboard was rendered)
                data = bytes(
                    resvg_py.svg_to_bytes(
                        svg_string=svg,
                        font_files=fonts,
                        skip_system_fonts=bool(fonts),
                        resources_dir=nothing,
                    )
                )
                storage.write_bytes_atomic(storage.join(staged, "billboards", f"{stem}.png"), data)
    budget = budget or {"total": float("nan"), "spent": float("nan")}
    storage.write_text_atomic(
        storage.join(staged, "preview.html"),
        preview_html(camp, year, run_id, export, budget, png=png),
    )
    storage.write_text_atomic(
        storage.join(staged, "note.md"), run_note(camp, year, export, budget, final)
    )
    storage.publish(staged, final, run_id)
    return final


FILES = ("copy.csv", "copy.json", "copy.md", "facts-used.json", "preview.html", "note.md")
NOTE_MAX_CHARS = 1000  # Airflow's limit on a DAG run's note
_WHERE = re.compile(r"^([A-Z]{2}|\*)/([A-Za-z_]+)/([a-z0-9_-]+): (.*)$", re.S)


def _eps(x: float) -> str:
    return "?" if x != x else f"{x:.3g}"


def _dropped(notes: list[str]) -> tuple[list[dict], list[str]]:
    """Notes split into per-line drops ({market, locale, line, why}) and the rest."""
    drops, other = [], []
    for n in notes:
        m = _WHERE.match(n)
        if m:
            drops.append(
                {
                    "market": m[1],
                    "locale": m[2],
                    "line": m[3],
                    "why": m[4].removeprefix("dropped: "),
                }
            )
        else:
            other.append(n)
    return drops, other


def preview_environment(folder: Path) -> Environment:
    """The environment preview.html is rendered in: the campaign sandbox (privacy.md:
    templates/campaign/ is the folder marketing edits, and this process holds the data
    root and the share secret), its size limits included, autoescaped, over ``folder``."""
    from jinja2 import FileSystemLoader

    from encore.campaign.sandbox import sandbox

    env = sandbox(autoescape=True)
    env.loader = FileSystemLoader(str(folder))
    return env


def preview_html(
    camp: Campaign, year: int, run_id: str, export: Export, budget: dict, *, png: bool = True
) -> str:
    """preview.html: every line per market and language with its billboard (relative
    link), the facts it used with their ε, the year's budget left, what was dropped and
    why. Self-contained (inline CSS, no script, a CSP that allows nothing else), every
    value escaped by Jinja's autoescape; no noisy value is in its context."""
    from babel import Locale

    env = preview_environment(config.REPO_ROOT / "templates" / "campaign")
    used = export.facts_used
    drops, other = _dropped(export.notes)
    order: list[tuple[str, str]] = []
    for r in export.copy:
        order.append((r["market"], r["locale"]))
    for d in drops:
        if d["market"] != "*":
            order.append((d["market"], d["locale"]))
    groups = []
    for market, locale in dict.fromkeys(order):
        lines = []
        for r in export.copy:
            if (r["market"], r["locale"]) != (market, locale):
                continue
            stem = f"{market}-{locale}-{r['line']}"
            image = None
            if stem in export.billboards:
                image = f"billboards/{stem}.{'png' if png else 'svg'}"
            bounds = set(filter(None, r.get("bounds", "").split(",")))
            lines.append(
                {
                    **{k: r[k] for k in ("market", "locale", "line", "channel", "text")},
                    "image": image,
                    "facts": [
                        {
                            "id": f,
                            "title": used[f]["title"],
                            "epsilon": _eps(used[f]["epsilon"]),
                            "bound": f in bounds,
                        }
                        for f in r.get("used") or r["facts"].split(",")
                        if f in used
                    ],
                }
            )
        groups.append(
            {
                "market": market,
                "locale": locale,
                "language": f"{Locale.parse(locale).english_name} ({locale})",
                "lines": lines,
                "dropped": [
                    d for d in drops if d["market"] in (market, "*") and d["locale"] == locale
                ],
            }
        )
    return env.get_template("preview.html").render(
        title=camp.title,
        description=camp.description,
        year=year,
        run_id=run_id,
        n_lines=len(export.copy),
        n_dropped=len(drops),
        budget={
            "total": _eps(budget["total"]),
            "spent": _eps(budget["spent"]),
            "left": _eps(max(0.0, budget["total"] - budget["spent"])),
        },
        files=[*FILES, f"billboards/ ({len(export.billboards)} images)"],
        groups=groups,
        other_notes=other,
        facts_used=[
            {
                "id": f["id"],
                "title": f["title"],
                "epsilon": _eps(f["epsilon"]),
                "delta": f"{f['delta']:.3g}",
                "released_at": f["released_at"],
            }
            for f in sorted(used.values(), key=lambda f: f["id"])
        ],
    )


def _fit(header: list[str], items: list[str], room: int) -> list[str]:
    """``header`` and the first ``items`` that fit in ``room`` characters (newlines counted),
    then "… N more in the preview" when some did not."""
    out, size = list(header), len("\n".join(header))
    for i, item in enumerate(items):
        rest = f"- … {len(items) - i} more in the preview"
        last = i == len(items) - 1
        if size + 1 + len(item) + (0 if last else 1 + len(rest)) > room:
            return [*out, rest]
        out.append(item)
        size += 1 + len(item)
    return out


def run_note(camp: Campaign, year: int, export: Export, budget: dict, folder: str) -> str:
    """note.md: the Airflow run's note (Markdown, at most 1,000 characters): one
    example of every line, what was dropped and why (grouped), where the preview and
    the files are. Every value Markdown-escaped; no noisy value."""
    esc = markdown_text
    drops, other = _dropped(export.notes)
    markets = {r["market"] for r in export.copy} | {d["market"] for d in drops} - {"*"}
    locales = {r["locale"] for r in export.copy} | {d["locale"] for d in drops}
    head = (
        f"**{esc(camp.title)} {year}**: {len(export.copy)} lines in {len(markets)} markets "
        f"× {len(locales)} languages, {len(drops)} dropped; privacy budget left: "
        f"ε {_eps(max(0.0, budget['total'] - budget['spent']))} of {_eps(budget['total'])}"
    )
    tail = [
        "",
        f"**Preview**: {esc(storage.join(folder, 'preview.html'))}",
        f"**Files** in {esc(folder)}: {esc(', '.join(FILES[:4]))}, billboards/ "
        f"({len(export.billboards)} images)",
    ]
    seen_lines: dict[str, dict] = {}
    for r in export.copy:
        seen_lines.setdefault(r["line"], r)
    items = [
        f"- {esc(r['line'])} ({esc(r['market'])}/{esc(r['locale'])}): {esc(r['text'])}"
        for r in seen_lines.values()
    ]
    why: dict[tuple[str, str], set] = {}
    for d in drops:
        why.setdefault((d["line"], d["why"]), set()).add(f"{d['market']}/{d['locale']}")
    dropped = [
        f"- {esc(line)} ({len(where)}×): {esc(reason)}" for (line, reason), where in why.items()
    ] + [f"- {esc(n)}" for n in other]
    # each section keeps what fits and says how many more are in the preview; the dropped
    # lines keep at least half of the room when they need it (a long copy line must not
    # push "what was dropped and why" out of the note)
    room = NOTE_MAX_CHARS - len("\n".join([head, *tail])) - 2
    need = len("\n".join(dropped)) + 40 if dropped else 0
    lines_part = _fit(["", "**Lines**"], items, room - min(need, room // 2))
    out = lines_part
    if dropped:
        out += _fit(["", "**Dropped**"], dropped, room - len("\n".join(lines_part)) - 1)
    return "\n".join([head, *out, *tail])[:NOTE_MAX_CHARS] + "\n"
