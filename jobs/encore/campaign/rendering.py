"""A campaign's lines and billboards, rendered for every (market, locale).

Each line is a Jinja template that sees only the facts it names, as numbers for people
(encore.campaign.numbers); a suppressed fact it lists under ``bounds`` it sees as its
95 % upper bound only (``at_most``, "fewer than 50"). It renders in Jinja's ``ImmutableSandboxedEnvironment`` with
``StrictUndefined``, in a child process under memory and time limits
(encore.campaign.sandbox). A line whose fact is suppressed (and not in its ``bounds``) or missing is dropped, one
that hits a limit is refused, the reason in the notes; a broken template is the
author's to fix (EncoreError naming the file and the line). A billboard line also
renders the campaign's ``billboard.svg``, which may reference nothing outside itself.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

from encore import facts
from encore.campaign.definition import EXTRA_GROUPS, Campaign
from encore.campaign.numbers import fact_view, market_name
from encore.campaign.sandbox import MAX_LINE_CHARS, MAX_SVG_CHARS, Renderer, sandbox
from encore.facts import catalog as fc
from encore.platform.errors import EncoreError

_HREF = re.compile(r"""(?:^|[\s"'])(?:[\w.-]+:)?href\s*=\s*(["'])(.*?)\1""", re.S | re.I)
_IMAGE_DATA = re.compile(r"data:image/(png|jpeg|gif|webp);base64,", re.I)


@dataclass
class Export:
    copy: list[dict]
    notes: list[str]
    billboards: dict[str, str]  # file stem -> SVG
    facts_used: dict[str, dict]


def _not_rendered(status: str, text: str, where: str) -> str | None:
    """The note for a line the sandbox did not render (a missing value, a limit), or
    None when it rendered or failed as a template (the caller raises for that)."""
    if status == "undefined":
        missing = re.findall(r"'([^']*)'", text)
        what = f"no released value for {missing[-1]!r}" if missing else "a value it uses is missing"
        return f"{where}: dropped: {what} (suppressed, or not released for this market)"
    if status == "refused":
        return f"{where}: refused: {text.removeprefix(where + ': ')}"
    return None


def render_campaign(
    camp: Campaign,
    specs: dict[str, fc.FactSpec],
    released: dict[str, facts.ReleasedFact],
    *,
    year: int,
    locales: list[str],
    markets: list[str],
    groups: dict[str, list[str]] | None = None,
) -> Export:
    """Every line for every (market, locale), rendered in a child process under memory
    and time limits (encore.campaign.sandbox.Renderer). No I/O: the templates were read
    by load_campaign, the facts by the caller.

    A line that hits a limit is refused with the reason in the notes; a broken
    template (syntax, TypeError, ZeroDivisionError...) or one the sandbox refuses is a
    bad input: EncoreError naming the file and the line."""
    groups = {g: list((groups or {}).get(g, [])) for g in EXTRA_GROUPS}
    svg_source = camp.billboard
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
            view = _Views(specs, released, groups, locale)
            for line in camp.copy[locale]:
                source = f"copy.{locale}.toml line {line.id!r}"
                if not _line_usable(camp, line, specs, groups, locale, source, notes):
                    continue
                for market in markets:
                    where = f"{market}/{locale}/{line.id}"
                    seen = {f: view(f, f in line.bounds) for f in line.facts}
                    gone = [f for f in line.facts if seen[f] is None]
                    if gone:
                        notes.append(
                            f"{where}: dropped: fact {gone[0]} is suppressed or was not released"
                        )
                        continue
                    context = {
                        "f": seen,
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
                    note = _not_rendered(status, text, where)
                    if note:
                        notes.append(note)
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
                    for fid in (m for f in line.facts for m in groups.get(f, [f])):
                        if fid in released:
                            used[fid] = _fact_used(specs[fid], released[fid])
                    copy_rows[-1]["bounds"] = ",".join(
                        f for f in line.bounds if seen[f].get("suppressed")
                    )
                    copy_rows[-1]["used"] = sorted(
                        m for f in line.facts for m in groups.get(f, [f]) if m in released
                    )
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


class _Views:
    """What lines of one locale see of each fact (or extras group), computed once."""

    def __init__(self, specs, released, groups, locale):
        self.specs, self.released, self.groups, self.locale = specs, released, groups, locale
        self.cache: dict[tuple[str, bool], dict | None] = {}

    def __call__(self, fid: str, bounds: bool) -> dict | None:
        if (fid, bounds) not in self.cache:
            if fid in self.groups:
                found = group_view(fid, [self(m, bounds) for m in self.groups[fid]])
            elif fid in self.released:
                found = fact_view(self.specs[fid], self.released[fid], self.locale, bounds=bounds)
            else:
                found = None
            self.cache[(fid, bounds)] = found
        return self.cache[(fid, bounds)]


def _line_usable(camp, line, specs, groups, locale, source, notes) -> bool:
    """Refuse a line naming an undeclared fact (EncoreError) or a broken template; note
    and skip one that uses an extras group nobody asked for."""
    unknown = [f for f in line.facts if f not in specs and f not in groups]
    if unknown:
        raise EncoreError(
            f"campaign {camp.name}: {source} uses {unknown[0]!r}, "
            "which the manifest does not declare"
        )
    _compile(line.text, f"campaign {camp.name}: {source}")
    unasked = [f for f in line.facts if f in groups and not groups[f]]
    if unasked:
        what = unasked[0].replace("_", " ")
        notes.append(f"*/{locale}/{line.id}: dropped: no {what} were asked for")
        return False
    return True


def group_view(group: str, members: list[dict | None]) -> dict | None:
    """Several one-key facts (an export's extra phrases or tracks) seen as one:
    ``top`` lists the released ones in the order they were asked, ``by.<dim>[key]``
    every one the line may see (a suppressed one as its bound, with ``bounds``)."""
    seen = [m for m in members if m is not None]
    if not seen:
        return None
    top = [v for m in seen for v in m.get("top", ())]
    by: dict[str, dict] = {}
    for m in seen:
        for dim, entries in m["by"].items():
            by.setdefault(dim, {}).update(entries)
    return {
        "id": group,
        "title": group.replace("_", " "),
        "suppressed": not top,
        "top": top,
        "by": by,
    }


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
        "signature": released.signature or spec.signature,  # the stored release's
        "epsilon": released.epsilon,
        "delta": released.delta,
        "mechanism": released.mechanism,
        "released_at": released.released_at,
        "values": [
            {"key": ln["key"], "value": ln["value"], "share": ln["share"], "error95": ln["error95"]}
            for ln in facts.answer(spec, released.rows)
        ],
        # suppressed keys: only the stored, rounded-up 95 % bound ("fewer than N")
        "bounds": [
            {"key": b["key"], "upper95": b["upper95"]} for b in facts.bounds(spec, released.rows)
        ],
    }
