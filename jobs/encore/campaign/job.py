"""`encore campaign`: campaign copy and billboards built only from released facts.

The command reads the campaign's folder (``templates/campaign/<name>/``: manifest,
copy per locale, billboard; :mod:`encore.campaign.definition`), asks the facts job for
any fact not yet released (budget-checked; a request that does not fit fails with
``BudgetExceeded`` and nothing is exported), renders every line for every (market,
locale) in the sandbox (:mod:`encore.campaign.rendering`, :mod:`encore.campaign.sandbox`),
each line seeing only the facts it names as numbers rounded for people
(:mod:`encore.campaign.numbers`), and writes the export
(:mod:`encore.campaign.export`): ``campaigns/Y/<campaign>/<run>/``, staged, then
swapped in atomically. A line whose fact is suppressed or missing is dropped, one that
hits a limit is refused, the reason recorded in the notes.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from encore import facts
from encore.campaign.definition import (
    CAMPAIGNS_DIR,
    check_extras,
    check_locale,
    check_market,
    check_phrase,
    check_track,
    load_campaign,
)
from encore.campaign.export import write_export
from encore.campaign.rendering import render_campaign
from encore.facts import catalog as fc
from encore.facts.store import by_signature, stored_release
from encore.platform.context import RunContext
from encore.platform.errors import EncoreError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from encore.campaign.rendering import Export


def export_campaign(
    root: str,
    year: int,
    name: str,
    cfg: dict,
    run_id: str,
    *,
    locales: list[str] | None = None,
    markets: list[str] | None = None,
    spark_factory: Callable[[], SparkSession] | None = None,
    say: Callable[[str], None] | None = None,
    campaigns_dir: Path = CAMPAIGNS_DIR,
    png: bool = True,
    phrases: list[str] | None = None,
    tracks: list[str] | None = None,
) -> tuple[str, Export]:
    """Release what the campaign still needs, render, write. Returns (folder, Export).

    ``phrases`` and ``tracks`` (``"Artist — Title"``) are the export's extra facts
    (``catalog.extra_fact``), released with the campaign's own in one budget-checked
    request and seen by copy as ``f.extra_phrases`` / ``f.extra_tracks``."""
    say = say or (lambda _l: None)
    extra_phrases, extra_tracks = check_extras(list(phrases or []), list(tracks or []))
    camp = load_campaign(name, campaigns_dir)
    locales = list(locales or camp.locales)
    markets = list(markets or camp.markets)
    for loc in locales:
        check_locale(loc, "--locale")
    for mk in markets:
        check_market(mk, "--market")
    if not markets:
        raise EncoreError(
            f"campaign {name}: no market: pass --market CC or set markets in the manifest"
        )
    specs, groups = with_extras(camp.specs(cfg), extra_phrases, extra_tracks, cfg)
    stored = by_signature(facts.load_released(root, year))
    missing = [s for s in specs.values() if stored_release(s, stored) is None]
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
    export = render_campaign(
        camp, specs, released, year=year, locales=locales, markets=markets, groups=groups
    )
    budget = {"total": cfg["privacy"]["epsilon_per_year"], "spent": facts.spent(root, year)[0]}
    folder = write_export(root, year, camp, export, run_id, png=png, budget=budget)
    return folder, export


def with_extras(
    specs: dict[str, fc.FactSpec],
    phrases: list[str],
    tracks: list[tuple[str, str]],
    cfg: dict,
) -> tuple[dict[str, fc.FactSpec], dict[str, list[str]]]:
    """The campaign's facts plus one per extra phrase and track, and the fact ids each
    extra group (``f.extra_phrases`` / ``f.extra_tracks``) reads.

    An extra that asks the query of a fact already here (marketing asks for the track
    the billboard already counts, or the same phrase twice in another case) is that
    fact: the group reads its release, nothing is drawn twice, and the release never
    sees two ids for one query (which it refuses)."""
    specs = dict(specs)
    # by what they count: "God is a man" asked as "god is a man" is the same count
    by_query = {s.counts_as: s.id for s in specs.values()}
    groups: dict[str, list[str]] = {"extra_phrases": [], "extra_tracks": []}
    for group, what, values in (
        ("extra_phrases", "phrase", phrases),
        ("extra_tracks", "track", tracks),
    ):
        for value in values:
            spec = fc.extra_fact(what, value, cfg)
            fid = by_query.setdefault(spec.counts_as, spec.id)
            specs.setdefault(fid, spec)
            if fid not in groups[group]:
                groups[group].append(fid)
    return specs, groups


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
    p.add_argument(
        "--phrase",
        action="append",
        default=[],
        type=_arg(check_phrase),
        metavar="TEXT",
        help="an extra playlist-title phrase to count, released once from the year's "
        "reserve (repeatable, at most 10; copy sees f.extra_phrases)",
    )
    p.add_argument(
        "--track",
        action="append",
        default=[],
        type=_arg(lambda v: " — ".join(check_track(v))),
        metavar="'ARTIST — TITLE'",
        help="an extra track: how many playlists contain it, released once from the "
        "year's reserve (repeatable, at most 10; copy sees f.extra_tracks)",
    )


def _arg(check: Callable[[str], object]) -> Callable[[str], object]:
    """An argparse type from a check that raises ValueError with a one-line reason."""

    def parse(value: str) -> object:
        try:
            return check(value)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    parse.__name__ = check.__name__
    return parse


def main(args: argparse.Namespace, cfg: dict) -> int:
    """`encore campaign`: the parsed flags -> :func:`run`."""
    return run(
        RunContext.from_args(args, cfg),
        campaign=args.campaign,
        locales=args.locale,
        markets=args.market,
        phrases=args.phrase,
        tracks=args.track,
    )


def run(
    ctx: RunContext,
    *,
    campaign: str,
    locales: list[str] | None = None,
    markets: list[str] | None = None,
    phrases: list[str] | None = None,
    tracks: list[str] | None = None,
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
        phrases=phrases,
        tracks=tracks,
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
