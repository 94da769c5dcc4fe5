"""`encore publish`: the last stage of the yearly run. It writes

* ``deliveries/year=Y/`` — the **delivery list** for the service's mailer (Parquet): one
  row per listener who has a recap page (eligible, not erased) with the page's URL
  under ``[render] base_url`` and a notification email rendered from
  ``templates/email/`` (subject, plain text, HTML) in the listener's language. Encore
  never sends mail. The list names user ids next to share links, so it is internal:
  it lives beside the datasets, never under ``site/``.
* ``manifests/Y.json`` — what the year's run published: each dataset's location and
  counts, and the stage reports of the run. No tokens, no user ids.
* ``reports/run-<run>.json`` — the run report: every stage's counts, rejections,
  skips, notes and timings in one file (plus this stage's own ``publish-<run>.json``).

The emails are rendered inside Spark (``mapInArrow``): each partition computes its
listeners' share tokens and compiles the templates once per language it meets; the
driver only writes the result and reads back a count per language.
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from encore.platform import config, datasets, share, storage, templating
from encore.platform.context import RunContext
from encore.platform.errors import EncoreError
from encore.render import settings as render_conf

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

STAGES = ("ingest", "recaps", "facts", "render")  # whose reports the run report gathers
DELIVERY_COLUMNS = ("user_id", "year", "locale", "page_url", "subject", "body_text", "body_html")
DELIVERY_SCHEMA = (
    "user_id string, year int, locale string, page_url string, "
    "subject string, body_text string, body_html string"
)
EMAIL_TEMPLATES = ("subject.txt", "body.txt", "body.html")
EMAIL_CATALOG = "email"  # templates/email/locales/<locale>/LC_MESSAGES/email.po


def deliveries_path(root: str, year: int) -> str:
    return datasets.path(root, "deliveries", f"year={year}")


def manifest_path(root: str, year: int) -> str:
    return datasets.path(root, "manifests", f"{year}.json")


def site_path(root: str, year: int) -> str:
    return datasets.path(root, "site", str(year))


# --- email templates -------------------------------------------------------------------


def email_dir() -> Path:
    return config.REPO_ROOT / "templates" / "email"


def email_locales() -> tuple[str, ...]:
    """English (the templates' language) plus every locale with an email catalog."""
    return templating.catalog_locales(email_dir() / "locales", EMAIL_CATALOG)


# Line breaks (CR, LF and Unicode's), other control characters and the bidi controls
# (embeddings, overrides, isolates, marks) that could forge lines or reorder the text
# of a plain-text email; a user-derived value never carries them into one.
_NOT_IN_A_LINE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]+"
)


def one_line(value: str) -> str:
    """A value for a plain-text email or a subject: one line, no control or bidi characters."""
    return " ".join(_NOT_IN_A_LINE.sub(" ", str(value)).split())


class EmailRenderer:
    """The notification email, compiled once per language per process (partition)."""

    def __init__(self) -> None:
        self._templates: dict[str, dict] = {}
        self.locales = email_locales()

    def _for(self, locale: str) -> dict:
        if locale not in self._templates:
            env = templating.environment(
                email_dir(),
                locale=locale,
                locales_dir=email_dir() / "locales",
                domain=EMAIL_CATALOG,
            )
            self._templates[locale] = {name: env.get_template(name) for name in EMAIL_TEMPLATES}
        return self._templates[locale]

    def locale_for(self, wanted: str) -> str:
        return wanted if wanted in self.locales else templating.SOURCE_LOCALE

    def render(
        self, *, locale: str, year: int, minutes: int, top_artist: str | None, page_url: str
    ) -> tuple[str, str, str]:
        """(subject, plain text, HTML). User-derived text (the artist) is escaped in HTML."""
        tpl = self._for(locale)
        view = {
            "year": year,
            "minutes": int(minutes or 0),
            "top_artist": one_line(top_artist or ""),
            "page_url": one_line(page_url),
        }
        subject = " ".join(tpl["subject.txt"].render(**view).split())
        text = tpl["body.txt"].render(**view).strip() + "\n"
        html = tpl["body.html"].render(subject=subject, **view)
        return subject, text, html


def page_base(settings: render_conf.RenderSettings, root: str) -> str:
    """Where year pages are reachable: ``[render] base_url``, or for a local data root
    without one, the site folder as a file:// URL (handy for the demo; a real service
    sets base_url)."""
    if settings.base_url:
        return settings.base_url
    if "://" not in str(root):
        return Path(os.path.abspath(datasets.path(root, "site"))).as_uri() + "/"
    return ""


def page_url(base: str, year: int, token: str) -> str:
    if base.startswith("file://"):
        return f"{base}{year}/{token}/index.html"
    return f"{base}{year}/{token}/"


def delivery_partition(
    batches: Iterator, *, secret: bytes, settings: render_conf.RenderSettings, base: str
) -> Iterator:
    """mapInArrow body: one delivery row per listener of the partition."""
    import pyarrow as pa

    emails = EmailRenderer()
    for batch in batches:
        rows = {c: [] for c in DELIVERY_COLUMNS}
        for rec in batch.to_pylist():
            year = int(rec["year"])
            token = share.share_token(secret, str(rec["user_id"]), year)
            locale = emails.locale_for(settings.locale_for(rec.get("country")))
            url = page_url(base, year, token)
            subject, text, html = emails.render(
                locale=locale,
                year=year,
                minutes=rec["listening_minutes"],
                top_artist=rec.get("top_artist"),
                page_url=url,
            )
            for col, val in zip(
                DELIVERY_COLUMNS,
                (rec["user_id"], year, locale, url, subject, text, html),
                strict=True,
            ):
                rows[col].append(val)
        yield pa.RecordBatch.from_pydict(rows, schema=_arrow_schema())


def _arrow_schema():
    import pyarrow as pa

    return pa.schema([(c, pa.int32() if c == "year" else pa.string()) for c in DELIVERY_COLUMNS])


def build_deliveries(
    recaps: DataFrame,
    *,
    secret: bytes,
    settings: render_conf.RenderSettings,
    base: str,
    users: DataFrame | None = None,
    erased: DataFrame | None = None,
) -> DataFrame:
    """The delivery list: who gets a page is render's rule (``eligible_recaps``)."""
    from pyspark.sql import functions as F

    from encore.render import eligible_recaps

    listeners = eligible_recaps(recaps, users, erased).select(
        "user_id",
        "year",
        "listening_minutes",
        "country",
        F.try_element_at("top_artists", F.lit(1)).getField("artist_name").alias("top_artist"),
    )

    def per_partition(batches):
        return delivery_partition(batches, secret=secret, settings=settings, base=base)

    return listeners.mapInArrow(per_partition, DELIVERY_SCHEMA)


# --- reports ---------------------------------------------------------------------------


def stage_report(root: str, stage: str, run_id: str, year: int) -> tuple[str | None, dict | None]:
    """The stage's report of this run (same run id, as the DAG passes one), else the
    newest report of that stage for this year (``encore run`` gives stages their own ids)."""
    exact = datasets.path(root, "reports", f"{stage}-{run_id}.json")
    if storage.exists(exact):
        return exact, storage.read_json(exact)
    names = sorted(
        (
            n
            for n in storage.listdir(datasets.path(root, "reports"))
            if n.startswith(f"{stage}-") and n.endswith(".json")
        ),
        reverse=True,
    )
    for name in names:
        uri = datasets.path(root, "reports", name)
        body = storage.read_json(uri)
        if body.get("year") in (year, None):
            return uri, body
    return None, None


def _summary(body: dict) -> dict:
    keep = ("run_id", "wall_s", "read", "wrote", "rejected", "skipped", "notes", "timings_s")
    return {k: body[k] for k in keep if k in body}


# --- command line ----------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    from encore.platform.args import add_common

    add_common(p, year=True)
    p.add_argument(
        "--demo", action="store_true", help="generated data: allow the labelled demo share secret"
    )


def main(args: argparse.Namespace, cfg: dict) -> int:
    """`encore publish`: the parsed flags -> :func:`run`."""
    return run(RunContext.from_args(args, cfg), demo=args.demo)


def run(ctx: RunContext, *, demo: bool = False) -> int:
    """The year's delivery list, manifest and run report (the run's stage reports under
    the same run id). ``demo`` allows the labelled demo share secret."""
    from encore.platform.config import share_secret

    root, year = ctx.data, ctx.need_year("publish")
    secret = share_secret(demo=demo, root=root)  # refuse early, before Spark starts
    settings = render_conf.settings(ctx.cfg)
    report = ctx.report("publish")
    report.set("year", year)
    recaps_uri = datasets.recaps_path(root, year)
    if not storage.exists(recaps_uri):
        raise EncoreError(
            f"no recaps for {year} at {recaps_uri}: run `encore recaps --data {root} --year {year}` first"
        )
    site_uri = site_path(root, year)
    storage.recover(site_uri)
    if not storage.is_dir(site_uri):
        raise EncoreError(
            f"no recap pages for {year} at {site_uri}: run `encore render --data {root} --year {year}` first"
        )
    base = page_base(settings, root)
    if not settings.base_url:
        report.note(
            "render.base_url is empty: page links point at "
            + (base or "relative paths")
            + "; set it to the public URL of site/ before mailing anyone"
        )
    missing = [x for x in render_conf.supported_locales() if x not in email_locales()]
    if missing:
        report.note(
            f"no email catalog for {', '.join(missing)}: those listeners get the English email"
        )

    spark = ctx.session("publish")
    report.phase("deliveries")
    recaps = spark.read.parquet(recaps_uri)
    users = datasets.read_dimension(spark, root, "users")
    erased = datasets.erased_user_ids(spark, root)
    report.read("recaps", recaps_uri)
    deliveries = build_deliveries(
        recaps, secret=secret, settings=settings, base=base, users=users, erased=erased
    )
    final = deliveries_path(root, year)
    datasets.write_dataset(deliveries, final, run_id=report.run_id)
    by_locale = {
        r["locale"]: int(r["count"])
        for r in spark.read.parquet(final).groupBy("locale").count().collect()
    }  # one row per language
    total = sum(by_locale.values())
    report.wrote("deliveries", total)
    report.set("deliveries_by_locale", dict(sorted(by_locale.items())))

    report.phase("manifest")
    stages = {}
    for stage in STAGES:
        uri, body = stage_report(root, stage, report.run_id, year)
        if body is not None:
            stages[stage] = {"report": uri, **_summary(body)}
        else:
            report.skipped(f"{stage} report", "not found under reports/")
    pages = (stages.get("render", {}).get("wrote") or {}).get("pages")
    if pages is not None and int(pages) != total:
        report.note(f"render wrote {pages} pages but {total} listeners are on the delivery list")
    manifest = {
        "year": year,
        "run_id": report.run_id,
        "datasets": {
            "events": datasets.path(root, datasets.EVENTS),
            "recaps": recaps_uri,
            "facts": datasets.facts_path(root, year),
            "site": site_uri,
            "deliveries": final,
        },
        "deliveries": {
            "listeners": total,
            "by_locale": dict(sorted(by_locale.items())),
            "page_base": base,
            "internal": True,
        },
        "reports": {stage: body["report"] for stage, body in stages.items()},
        "run_report": datasets.path(root, "reports", f"run-{report.run_id}.json"),
    }
    storage.write_json_atomic(manifest_path(root, year), manifest)
    report.wrote("manifest", manifest_path(root, year))
    run_report = {
        "year": year,
        "run_id": report.run_id,
        "stages": stages,
        "publish": {
            "deliveries": total,
            "by_locale": manifest["deliveries"]["by_locale"],
            "notes": report.body["notes"],
        },
        "manifest": manifest_path(root, year),
    }
    storage.write_json_atomic(manifest["run_report"], run_report)
    report.wrote("run report", manifest["run_report"])
    report.finish()
    print(
        f"publish {year}: {total} deliveries in {final}; manifest {manifest_path(root, year)}; "
        f"run report {manifest['run_report']}"
    )
    return 0
