"""`encore campaign`: campaign copy and billboards built only from released facts.

A campaign lives in ``templates/campaign/<name>/``:

- ``manifest.toml`` — title, description, default locales and markets, the catalog
  facts it uses (``facts = [...]``) and campaign-specific facts (``[facts.<id>]``,
  the shape of ``[facts.catalog.*]``: a phrase, a track, a date...);
- ``copy.<locale>.toml`` — the lines, each ``[[line]]`` with ``id``, ``channel``
  (``billboard``, ``social``, ``press``), ``facts`` (the ids it uses) and ``text``, a
  Jinja template;
- ``billboard.svg`` — the wide billboard image, one per billboard line.

The command asks the facts job for any fact not yet released (budget-checked; a
request that does not fit fails with ``BudgetExceeded`` and nothing is exported),
then renders every line for every (market, locale) in Jinja's
``ImmutableSandboxedEnvironment`` with ``StrictUndefined``, autoescape for SVG/HTML,
in a child process with a memory cap and a hard time limit (sandbox.py). A
line sees only the facts it names, as numbers already rounded for people per locale
(Babel); a line whose fact is suppressed or missing is dropped, and one that hits a
limit is refused, the reason recorded in the notes.

Output: ``campaigns/Y/<campaign>/<run>/`` with ``copy.csv`` (formula injection
neutralised), ``copy.json``, ``copy.md`` (Markdown-escaped), ``billboards/*.svg|png``
(only self-contained SVGs are rasterised, with an empty resources folder) and
``facts-used.json``; staged, then swapped in atomically.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import re
import tempfile
import textwrap
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from encore import facts
from encore.campaign.sandbox import (  # noqa: F401 - the sandbox's names, as campaign.* too
    MAX_LINE_CHARS,
    MAX_SVG_CHARS,
    RENDER_SECONDS,
    Record,
    Renderer,
    RenderLimit,
    frozen,
    render_limited,
    sandbox,
)
from encore.facts import catalog as fc
from encore.platform import config, datasets, storage
from encore.platform.context import RunContext
from encore.platform.errors import EncoreError

CAMPAIGNS_DIR = config.REPO_ROOT / "templates" / "campaign"
CHANNELS = ("billboard", "social", "press")
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_LOCALE = re.compile(r"[a-z]{2,3}(_[A-Z]{2})?")
_MARKET = re.compile(r"[A-Z]{2}")
FONT_CANDIDATES = (
    config.REPO_ROOT / "templates" / "fonts" / "DejaVuSans.ttf",
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
)
ABOUT = {
    "en": "about {n}",
    "de": "rund {n}",
    "fr": "environ {n}",
    "es": "unos {n}",
    "sv": "cirka {n}",
    "pt": "cerca de {n}",
    "it": "circa {n}",
    "nl": "ongeveer {n}",
}


# --------------------------------------------------------------------------------------
# Campaign definitions
# --------------------------------------------------------------------------------------
@dataclass
class Line:
    id: str
    channel: str
    facts: tuple[str, ...]
    text: str


@dataclass
class Campaign:
    name: str
    title: str
    description: str
    locales: list[str]
    markets: list[str]
    catalog_facts: list[str]
    own_facts: list[fc.FactSpec]
    copy: dict[str, list[Line]] = field(default_factory=dict)  # locale -> lines
    folder: Path | None = None

    def specs(self, cfg: dict) -> dict[str, fc.FactSpec]:
        catalog = {s.id: s for s in fc.catalog(cfg)}
        out = {}
        for fid in self.catalog_facts:
            if fid not in catalog:
                raise EncoreError(
                    f"campaign {self.name}: manifest.toml facts: {fid!r} is not in the fact "
                    "catalog (conf/encore.toml [facts.catalog]); declare it under [facts.<id>]"
                )
            out[fid] = catalog[fid]
        for spec in self.own_facts:
            if spec.id in out:
                raise EncoreError(f"campaign {self.name}: fact {spec.id!r} is declared twice")
            out[spec.id] = spec
        return out


def list_campaigns(root: Path = CAMPAIGNS_DIR) -> list[str]:
    return (
        sorted(p.name for p in root.iterdir() if (p / "manifest.toml").is_file())
        if root.is_dir()
        else []
    )


def load_campaign(name: str, root: Path = CAMPAIGNS_DIR) -> Campaign:
    """Read and check a campaign folder; errors name the file and the key."""
    if not _NAME.fullmatch(name or ""):
        raise EncoreError(
            f"--campaign {name!r}: use the folder name of a campaign ({', '.join(list_campaigns(root))})"
        )
    folder = root / name
    manifest_path = folder / "manifest.toml"
    if not manifest_path.is_file():
        raise EncoreError(
            f"--campaign {name}: no {manifest_path} (known: {', '.join(list_campaigns(root)) or 'none'})"
        )
    try:
        m = tomllib.loads(manifest_path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise EncoreError(f"{manifest_path}: not valid TOML: {err}") from None
    allowed = {"title", "description", "locales", "markets", "facts"}
    for k in m:
        if k not in allowed:
            raise EncoreError(
                f"{manifest_path}: unknown key {k!r} (known: {', '.join(sorted(allowed))})"
            )
    facts_decl = m.get("facts", {})
    if isinstance(facts_decl, list):  # only catalog facts
        catalog_ids, own = facts_decl, {}
    elif isinstance(facts_decl, dict):
        catalog_ids = facts_decl.get("catalog", [])
        own = {k: v for k, v in facts_decl.items() if k != "catalog"}
    else:
        raise EncoreError(f"{manifest_path}: facts must be a list of catalog ids or a table")
    own_specs = []
    for fid, body in own.items():
        try:
            own_specs.append(fc.spec_from_dict(fid, body, where=f"facts.{fid}"))
        except config.ConfigError as err:
            raise EncoreError(f"{manifest_path}: {err}") from None
    locales = m.get("locales", ["en"])
    markets = m.get("markets", [])
    for loc in locales:
        _check_locale(loc, str(manifest_path))
    for mk in markets:
        _check_market(mk, str(manifest_path))
    camp = Campaign(
        name,
        m.get("title", name),
        m.get("description", ""),
        locales,
        markets,
        list(catalog_ids),
        own_specs,
        folder=folder,
    )
    for path in sorted(folder.glob("copy.*.toml")):
        locale = path.name[len("copy.") : -len(".toml")]
        _check_locale(locale, str(path))
        camp.copy[locale] = _load_copy(path)
    return camp


def _check_locale(loc: str, where: str) -> None:
    from babel import Locale, UnknownLocaleError

    if not isinstance(loc, str) or not _LOCALE.fullmatch(loc):
        raise EncoreError(f"{where}: locale {loc!r} must look like en or pt_BR")
    try:
        Locale.parse(loc)
    except (UnknownLocaleError, ValueError):
        raise EncoreError(f"{where}: unknown locale {loc!r}") from None


def _check_market(mk: str, where: str) -> None:
    if not isinstance(mk, str) or not _MARKET.fullmatch(mk):
        raise EncoreError(f"{where}: market {mk!r} must be an ISO country code like US")


def _load_copy(path: Path) -> list[Line]:
    try:
        body = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise EncoreError(f"{path}: not valid TOML: {err}") from None
    lines, seen = [], set()
    for i, ln in enumerate(body.get("line", [])):
        where = f"{path}: line {i + 1}"
        missing = [k for k in ("id", "channel", "facts", "text") if k not in ln]
        if missing:
            raise EncoreError(f"{where}: missing {', '.join(missing)}")
        if not _NAME.fullmatch(str(ln["id"])) or ln["id"] in seen:
            raise EncoreError(f"{where}: id {ln['id']!r} must be a unique lower-case name")
        if ln["channel"] not in CHANNELS:
            raise EncoreError(f"{where}: channel must be one of {', '.join(CHANNELS)}")
        if not isinstance(ln["facts"], list) or not ln["facts"]:
            raise EncoreError(f"{where}: facts must name the fact ids the line uses")
        seen.add(ln["id"])
        lines.append(Line(ln["id"], ln["channel"], tuple(ln["facts"]), str(ln["text"])))
    return lines


# --------------------------------------------------------------------------------------
# Numbers for people
# --------------------------------------------------------------------------------------
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
    rounded = round_for_people(value, error95)
    text = format_number(rounded, locale)
    if rounded == round(value) and (error95 or 0) < 1:
        return text
    return ABOUT.get(locale.split("_")[0], ABOUT["en"]).format(n=text)


def format_percent(share: float, locale: str) -> str:
    from babel.numbers import format_percent as bp

    return bp(
        round(max(0.0, min(1.0, share)) * 100) / 100, locale=locale
    )  # the locale's own pattern


def market_name(market: str, locale: str) -> str:
    """The market's name in the locale's language (Babel), e.g. DE -> Germany / Deutschland."""
    from babel import Locale

    return Locale.parse(locale).territories.get(market, market)


def fact_view(spec: fc.FactSpec, released: facts.ReleasedFact, locale: str) -> dict | None:
    """What a template sees of a fact: rounded, localised strings, never raw noisy values.
    None when nothing of the fact was released (suppressed)."""
    lines = facts.answer(spec, released.rows)
    if not lines:
        return None
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
            v["percent"] = format_percent(ln["share"], locale)
        if shares:
            v["percent"] = format_percent(ln["value"], locale)
            v["about"] = v["number"] = v["percent"]
        if ln.get("n"):
            v["listeners"] = format_about(ln["n"], None, locale)
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
    view = {"id": spec.id, "title": spec.title, "top": views, "by": by}
    view.update(
        {
            k: views[0][k]
            for k in ("label", "about", "number", "percent", "listeners")
            if k in views[0]
        }
    )
    return view


# --------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------
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


@dataclass
class Export:
    copy: list[dict]
    notes: list[str]
    billboards: dict[str, str]  # file stem -> SVG
    facts_used: dict[str, dict]


def render_campaign(
    camp: Campaign,
    specs: dict[str, fc.FactSpec],
    released: dict[str, facts.ReleasedFact],
    *,
    year: int,
    locales: list[str],
    markets: list[str],
) -> Export:
    """Every line for every (market, locale), rendered in a child process under memory
    and time limits (sandbox.Renderer); no I/O besides the templates.

    A line that hits a limit is refused with the reason in the notes; a broken
    template (syntax, TypeError, ZeroDivisionError...) or one the sandbox refuses is a
    bad input: EncoreError naming the file and the line."""
    svg_source = (
        (camp.folder / "billboard.svg").read_text(encoding="utf-8") if camp.folder else None
    )
    if svg_source:
        _compile(svg_source, f"campaign {camp.name}: billboard.svg")
    copy_rows, notes, billboards, used = [], [], {}, {}
    with Renderer() as renderer:
        for locale in locales:
            if locale not in camp.copy:
                raise EncoreError(
                    f"campaign {camp.name}: no copy for locale {locale!r} "
                    f"(copy.{locale}.toml; available: {', '.join(sorted(camp.copy))})"
                )
            views = {}
            for fid, spec in specs.items():
                views[fid] = fact_view(spec, released[fid], locale) if fid in released else None
            for line in camp.copy[locale]:
                source = f"copy.{locale}.toml line {line.id!r}"
                unknown = [f for f in line.facts if f not in specs]
                if unknown:
                    raise EncoreError(
                        f"campaign {camp.name}: {source} uses {unknown[0]!r}, "
                        "which the manifest does not declare"
                    )
                _compile(line.text, f"campaign {camp.name}: {source}")
                for market in markets:
                    where = f"{market}/{locale}/{line.id}"
                    gone = [f for f in line.facts if views.get(f) is None]
                    if gone:
                        notes.append(
                            f"{where}: dropped: fact {gone[0]} is suppressed or was not released"
                        )
                        continue
                    context = {
                        "f": {f: views[f] for f in line.facts},
                        "market": market,
                        "locale": locale,
                        "market_name": market_name(market, locale),
                        "year": year,
                    }
                    status, text = renderer.render(
                        line.text,
                        context,
                        autoescape=False,
                        max_chars=MAX_LINE_CHARS,
                        what=where,
                        name=source,
                    )
                    if status == "undefined":
                        missing = re.findall(r"'([^']*)'", text)
                        what = (
                            f"no released value for {missing[-1]!r}"
                            if missing
                            else "a value it uses is missing"
                        )
                        notes.append(
                            f"{where}: dropped: {what} (suppressed, or not released for this market)"
                        )
                        continue
                    if status == "refused":
                        notes.append(f"{where}: refused: {text.removeprefix(where + ': ')}")
                        continue
                    _template_failed(camp, source, where, status, text)
                    text = " ".join(text.split())
                    if not text or "None" in text.split():
                        notes.append(f"{where}: dropped: empty or missing value")
                        continue
                    copy_rows.append(
                        {
                            "campaign": camp.name,
                            "year": year,
                            "market": market,
                            "locale": locale,
                            "channel": line.channel,
                            "line": line.id,
                            "text": text,
                            "facts": ",".join(line.facts),
                        }
                    )
                    for f in line.facts:
                        used[f] = _fact_used(specs[f], released[f])
                    if line.channel == "billboard" and svg_source:
                        stem = f"{market}-{locale}-{line.id}"
                        status, svg = renderer.render(
                            svg_source,
                            {
                                **billboard_layout(text),
                                "title": camp.title,
                                "market": market,
                                "locale": locale,
                                "year": year,
                            },
                            autoescape=True,
                            max_chars=MAX_SVG_CHARS,
                            what=f"billboard {stem}",
                            name="billboard.svg",
                        )
                        if status == "refused":
                            notes.append(
                                f"{where}: billboard refused: {svg.removeprefix(f'billboard {stem}: ')}"
                            )
                            continue
                        _template_failed(camp, "billboard.svg", where, status, svg)
                        problem = svg_problem(svg)
                        if problem:
                            notes.append(f"{where}: billboard refused: {problem}")
                            continue
                        billboards[stem] = svg
    return Export(copy_rows, notes, billboards, used)


def _compile(source: str, where: str) -> None:
    """A template that does not compile is the author's to fix (compiling runs nothing)."""
    from jinja2.exceptions import TemplateSyntaxError

    try:
        sandbox().parse(source)
    except TemplateSyntaxError as err:
        raise EncoreError(
            f"{where}: template syntax error on line {err.lineno}: {err.message}; fix the template"
        ) from None


def _template_failed(camp: Campaign, source: str, where: str, status: str, reason: str) -> None:
    reason = " ".join(reason.split())  # one line
    if status == "security":
        raise EncoreError(
            f"campaign {camp.name} {where}: the template was refused by the sandbox: {reason}"
        )
    if status == "undefined":
        raise EncoreError(
            f"campaign {camp.name} {where}: {source} uses a value that does not exist: {reason}"
        )
    if status == "error":
        raise EncoreError(
            f"campaign {camp.name} {where}: {source} failed: {reason}; fix the template"
        )


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~:\"'=])")
_HREF = re.compile(r"""(?:^|[\s"'])(?:[\w.-]+:)?href\s*=\s*(["'])(.*?)\1""", re.S | re.I)
_IMAGE_DATA = re.compile(r"data:image/(png|jpeg|gif|webp);base64,", re.I)


def markdown_text(text: str) -> str:
    """Text for copy.md that Markdown shows as typed: HTML is inert (&lt; &gt; &amp;),
    every Markdown punctuation is backslash-escaped (no links, images, emphasis,
    headings or tables from a fact's label), and it stays on one line."""
    text = " ".join(str(text).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MD_SPECIAL.sub(r"\\\1", text)


def svg_problem(svg: str) -> str | None:
    """Why a billboard may not be rasterised, or None. It may reference only its own
    elements (#id) and embedded raster images: no file, URL or nested SVG (resvg would
    read an absolute path whatever its resources folder), and no DOCTYPE/ENTITY."""
    if re.search(r"<!(DOCTYPE|ENTITY)", svg, re.I):
        return "the SVG declares a DOCTYPE or ENTITY"
    for _, href in _HREF.findall(svg):
        ref = href.strip()
        if not ref.startswith("#") and not _IMAGE_DATA.match(ref):
            return f"the SVG references {ref[:80]!r}: only #id and data:image/png|jpeg|gif|webp are allowed"
    if re.search(r"url\(\s*['\"]?(?!#)", svg, re.I) or "@import" in svg.lower():
        return "the SVG's CSS references something outside the SVG"
    return None


def billboard_layout(text: str) -> dict:
    """Wrap a line for the 1920x640 billboard: big type for short lines, smaller for long."""
    layouts = ((36, 76), (46, 60), (60, 46), (80, 34))
    width, size = next(
        ((w, s) for w, s in layouts if len(textwrap.wrap(text, w)) <= 4), layouts[-1]
    )
    return {
        "lines": textwrap.wrap(text, width)[:6],
        "font_size": size,
        "line_height": round(size * 1.2),
    }


def _fact_used(spec: fc.FactSpec, released: facts.ReleasedFact) -> dict:
    return {
        "id": spec.id,
        "title": spec.title,
        "signature": spec.signature,
        "epsilon": released.epsilon,
        "delta": released.delta,
        "mechanism": released.mechanism,
        "released_at": released.released_at,
        "values": [
            {"key": ln["key"], "value": ln["value"], "share": ln["share"], "error95": ln["error95"]}
            for ln in facts.answer(spec, released.rows)
        ],
    }


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


def export_campaign(
    root: str,
    year: int,
    name: str,
    cfg: dict,
    run_id: str,
    *,
    locales=None,
    markets=None,
    spark_factory=None,
    say=None,
    campaigns_dir: Path = CAMPAIGNS_DIR,
    png: bool = True,
):
    """Release what the campaign still needs, render, write. Returns (folder, Export)."""
    say = say or (lambda _l: None)
    camp = load_campaign(name, campaigns_dir)
    locales = list(locales or camp.locales)
    markets = list(markets or camp.markets)
    for loc in locales:
        _check_locale(loc, "--locale")
    for mk in markets:
        _check_market(mk, "--market")
    if not markets:
        raise EncoreError(
            f"campaign {name}: no market: pass --market CC or set markets in the manifest"
        )
    specs = camp.specs(cfg)
    stored = {r["signature"] for r in facts.load_released(root, year)}
    missing = [s for s in specs.values() if s.signature not in stored]
    spark = None
    if missing:
        say(
            f"releasing {len(missing)} fact(s) not yet released: {', '.join(s.id for s in missing)}"
        )
        spark = spark_factory() if spark_factory else None
        if spark is None:
            raise EncoreError(
                f"campaign {name}: facts {', '.join(s.id for s in missing)} are not released yet "
                "and no Spark session was given"
            )
    released = facts.release(spark, root, year, list(specs.values()), cfg, run_id, say=say)
    export = render_campaign(camp, specs, released, year=year, locales=locales, markets=markets)
    folder = write_export(root, year, camp, export, run_id, png=png)
    return folder, export


def add_arguments(p: argparse.ArgumentParser) -> None:
    from encore.platform.args import add_common

    add_common(p, year=True)
    p.add_argument(
        "--campaign", required=True, metavar="NAME", help="a folder of templates/campaign/"
    )
    p.add_argument(
        "--locale",
        action="append",
        default=[],
        metavar="L",
        help="language, e.g. en, de (repeatable)",
    )
    p.add_argument(
        "--market",
        action="append",
        default=[],
        metavar="CC",
        help="market country code (repeatable)",
    )


def main(args: argparse.Namespace, cfg: dict) -> int:
    """`encore campaign`: the parsed flags -> :func:`run`."""
    return run(
        RunContext.from_args(args, cfg),
        campaign=args.campaign,
        locales=args.locale,
        markets=args.market,
    )


def run(
    ctx: RunContext,
    *,
    campaign: str,
    locales: list[str] | None = None,
    markets: list[str] | None = None,
) -> int:
    """Export ``campaign``'s copy and billboards for the year from its released facts
    (Spark starts only if a fact must still be released)."""
    report = ctx.report("campaign")
    report.phase("export")
    folder, export = export_campaign(
        ctx.data,
        ctx.need_year("campaign"),
        campaign,
        ctx.cfg,
        report.run_id,
        locales=locales,
        markets=markets,
        spark_factory=lambda: ctx.session("campaign"),
        say=report.say,
    )
    report.wrote("copy lines", len(export.copy))
    report.wrote("billboards", len(export.billboards))
    for n in export.notes:
        report.note(n)
    report.wrote("folder", folder)
    report.finish()
    return 0
