"""A campaign export written: ``campaigns/Y/<campaign>/<run>/``, staged, then swapped in.

``copy.csv`` (formula injection neutralised), ``copy.json``, ``copy.md`` (Markdown-escaped),
``billboards/*.svg|png`` (only self-contained SVGs reach here; resvg rasterises them
with an empty resources folder) and ``facts-used.json``.
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from pathlib import Path
from typing import Any

from encore.campaign.definition import Campaign
from encore.campaign.rendering import Export
from encore.platform import config, datasets, storage

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
    root: str, year: int, camp: Campaign, export: Export, run_id: str, *, png: bool = True
) -> str:
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
    storage.publish(staged, final, run_id)
    return final
