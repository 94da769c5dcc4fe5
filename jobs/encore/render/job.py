"""`encore render`: story cards, a summary PNG and a private recap page for every
eligible listener (issue 6; privacy.md "Security around recaps").

For each eligible listener of year Y this writes, under ``site/Y/<token>/``::

    index.html      the cards as a story (tap, arrow keys, swipe), share + download
    *.svg           1080x1920 story cards from templates/cards/*.svg
    summary.png     the summary card rasterised with resvg (the Noto set, fonts.py; raster.py)
    recap.json      the recap's numbers (never the user id)

``token`` is ``share.share_token(secret, user_id, Y)``; user ids never become names.
Nothing is written for ineligible or erased listeners and no list of tokens exists.

Rendering happens inside Spark: ``build_site`` runs ``mapInArrow`` over the recaps;
each partition compiles the templates once (one Jinja environment per locale it
meets), writes its listeners' files straight into a staging site folder and yields
one row of counts. The driver only sums those rows, then swaps the staging folder in
as ``site/Y`` (storage.publish), so a re-render replaces the year atomically.

This module is the Spark side and the command; one listener's files are made by
``page.Renderer`` from ``cards`` (which cards, the recap as templates see it),
``text`` (names fitted with the real glyphs, fonts.py), ``playlists`` (Top Songs)
and the shared Jinja set-up (platform/templating.py). What a card shows comes from the
recap (recap-rules.md); how it looks lives in the templates.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from encore.platform import storage
from encore.platform.context import RunContext
from encore.render import fonts
from encore.render import settings as render_conf
from encore.render.page import SUMMARY_PNG, Renderer
from encore.render.settings import RenderSettings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

COUNTS_SCHEMA = (
    "pages long, cards long, pngs long, bytes long, render_s double, png_s double, pngs_exact long, "
    "pngs_outlined long"
)


# --- writing ---------------------------------------------------------------------------


def _write_files(folder: str, files: dict[str, bytes]) -> int:
    """Write one listener's files into their (staging) folder; returns bytes written."""
    total = 0
    if "://" not in folder:
        os.makedirs(folder, exist_ok=True)
        for name, data in files.items():
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
            total += len(data)
        return total
    for name, data in files.items():  # object stores: one put per file
        storage.write_bytes_atomic(storage.join(folder, name), data)
        total += len(data)
    return total


def render_partition(
    batches: Iterator, *, out_dir: str, secret: bytes, settings: RenderSettings, png: bool = True
) -> Iterator:
    """mapInArrow body: render every listener of the partition into ``out_dir`` and
    yield one row of counts. Templates are compiled once here, for the partition."""
    import pyarrow as pa

    started = time.perf_counter()
    renderer = Renderer(secret=secret, settings=settings, png=png)
    pages = cards = pngs = written = 0
    for batch in batches:
        for recap in batch.to_pylist():
            if not recap.get("eligible"):
                continue  # belt and braces: the query already filters them out
            token, files = renderer.render(recap)
            written += _write_files(storage.join(out_dir, token), files)
            pages += 1
            cards += sum(1 for n in files if n.endswith(".svg"))
            pngs += int(SUMMARY_PNG in files)
    yield pa.RecordBatch.from_pydict(
        {
            "pages": [pages],
            "cards": [cards],
            "pngs": [pngs],
            "bytes": [written],
            "render_s": [time.perf_counter() - started],
            "png_s": [renderer.png_s],
            "pngs_exact": [renderer.png_exact],
            "pngs_outlined": [renderer.png_outlined],
        }
    )


def eligible_recaps(
    recaps: DataFrame, users: DataFrame | None = None, erased: DataFrame | None = None
) -> DataFrame:
    """The recaps to render: eligible listeners only, erased ones dropped, with the
    listener's country (for the locale) when the users table is there."""
    from pyspark.sql import functions as F

    df = recaps.where(F.col("eligible") == F.lit(True))
    if erased is not None:
        df = df.join(erased.select("user_id"), on="user_id", how="left_anti")
    if users is not None:
        df = df.join(
            users.select("user_id", "country").dropDuplicates(["user_id"]), on="user_id", how="left"
        )
    else:
        df = df.withColumn("country", F.lit(None).cast("string"))
    return df


def build_site(
    recaps: DataFrame,
    *,
    out_dir: str,
    secret: bytes,
    settings: RenderSettings,
    users: DataFrame | None = None,
    erased: DataFrame | None = None,
    png: bool = True,
) -> DataFrame:
    """A one-row DataFrame of totals (pages, cards, pngs, bytes, render_s); evaluating it
    renders every eligible listener into ``out_dir`` from the executors."""
    from pyspark.sql import functions as F

    df = eligible_recaps(recaps, users, erased)

    def per_partition(batches):
        return render_partition(batches, out_dir=out_dir, secret=secret, settings=settings, png=png)

    counts = df.mapInArrow(per_partition, COUNTS_SCHEMA)
    return counts.agg(
        *(
            F.sum(c).alias(c)
            for c in (
                "pages",
                "cards",
                "pngs",
                "bytes",
                "render_s",
                "png_s",
                "pngs_exact",
                "pngs_outlined",
            )
        )
    )


def site_path(root: str, year: int) -> str:
    return storage.join(root, "site", str(year))


# --- command line ------------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    from encore.platform.args import add_common

    add_common(p, year=True)
    p.add_argument(
        "--demo", action="store_true", help="generated data: allow the labelled demo share secret"
    )
    p.add_argument(
        "--no-png",
        action="store_true",
        help="skip the summary PNGs and the fonts inside the cards (faster previews)",
    )


def main(args: argparse.Namespace, cfg: dict) -> int:
    """`encore render`: the parsed flags -> :func:`run`."""
    return run(RunContext.from_args(args, cfg), demo=args.demo, png=not args.no_png)


def run(ctx: RunContext, *, demo: bool = False, png: bool = True) -> int:
    """Every eligible listener's page, cards and (with ``png``) summary PNG for the
    year -> site/year=Y/. ``demo`` allows the labelled demo share secret."""
    from encore.platform import datasets
    from encore.platform.config import share_secret
    from encore.platform.errors import EncoreError

    cfg, data, year = ctx.cfg, ctx.data, ctx.need_year("render")
    secret = share_secret(demo=demo, root=data)  # before anything else: refuse early
    fonts.check()  # the driver too: one clear line instead of a failed Spark task
    settings = render_conf.settings(cfg)
    report = ctx.report("render")
    report.set("year", year)
    recaps_uri = datasets.recaps_path(data, year)
    if not storage.exists(recaps_uri):
        raise EncoreError(
            f"no recaps for {year} at {recaps_uri}: run `encore recaps --data {data} --year {year}` first"
        )
    spark = ctx.session("render")
    report.phase("render")
    recaps = spark.read.parquet(recaps_uri)
    users = datasets.read_dimension(spark, data, "users")
    erased = datasets.erased_user_ids(spark, data)
    final = site_path(data, year)
    staged = storage.staging_path(final, report.run_id)
    storage.delete(staged)
    started = time.monotonic()
    try:
        totals = build_site(
            recaps,
            out_dir=staged,
            secret=secret,
            settings=settings,
            users=users,
            erased=erased,
            png=png,
        ).collect()[0]
        if not storage.exists(staged):  # nobody eligible: publish an empty year
            storage.write_bytes_atomic(storage.join(staged, ".keep"), b"")
        report.phase("publish")
        storage.publish(staged, final, report.run_id)
    except BaseException:
        storage.discard(staged)
        raise
    seconds = time.monotonic() - started
    pages, cards, pngs = (
        int(totals["pages"] or 0),
        int(totals["cards"] or 0),
        int(totals["pngs"] or 0),
    )
    report.wrote("pages", pages)
    report.wrote("cards", cards)
    report.wrote("pngs", pngs)
    report.wrote("bytes", int(totals["bytes"] or 0))
    report.set("site", final)
    report.set("render_task_s", round(float(totals["render_s"] or 0.0), 3))
    report.set("png_task_s", round(float(totals["png_s"] or 0.0), 3))  # inside render_task_s
    # a card naming an Indic, Sinhala, Khmer or Myanmar family: those runs outlined for the
    # fast renderer, or (what the outliner does not reproduce) drawn by resvg-py
    report.set("pngs_outlined", int(totals["pngs_outlined"] or 0))
    report.set("pngs_exact", int(totals["pngs_exact"] or 0))
    report.finish()
    print(
        f"render {year}: {pages} pages, {cards} cards, {pngs} PNGs written to {final} "
        f"in {seconds:.1f} s"
    )
    return 0
