"""``encore erase-user``: remove a listener from everything Encore holds (privacy.md,
"The listener's controls"; docs/data-rights.md).

The request is recorded in ``privacy/erasures/`` first; then every dataset that holds
the listener is rewritten without them, only the partitions and files that do, each
swapped in atomically: the Parquet datasets, the quarantine, their pages and export
packages, the raw input files and the reports. Idempotent: a second erasure changes
nothing. Later runs exclude the listener because every job filters erasures first.
Released facts are not re-drawn (the export's README says why).

``carry_out_erasures`` does the same for the requests the platform's dump brings
(ingest calls it once the dump is published), all pending ids in one pass; what is done
is listed in ``privacy/erasures_done/``.

Why one module: recording, finding pages and packages, the Parquet rewrite, the
quarantine, raw and report scrubs are the steps of one erasure, share its exact-id
rule and its report, and run in this order under one lock; split, each part would be
called from here only.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import posixpath
import re
import zipfile
from collections.abc import Collection
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from encore.platform import datasets, identity, locks, schemas, share, storage
from encore.platform.identity import check_user_id
from encore.platform.report import Report
from encore.platform.share import export_token

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# The Parquet datasets that hold rows about a listener: (path under the data root, the
# column holding the user id). Partitioned ones are rewritten partition by partition.
USER_DATASETS: list[tuple[str, str]] = [
    ("events", "user_id"),
    ("recaps", "user_id"),
    ("deliveries", "user_id"),
    ("users", "user_id"),
    ("playlists", "owner_user_id"),
]
# The requests carried out (privacy/erasures/ minus this is what is still to do).
DONE = "privacy/erasures_done"


def is_erased(spark: SparkSession, root: str, user_id: str) -> bool:
    """Whether the listener's erasure request is recorded (privacy/erasures/)."""
    from pyspark.sql import functions as F

    return (
        datasets.erased_user_ids(spark, root).where(F.col("user_id") == user_id).limit(1).count()
        > 0
    )


# a page URL on the delivery list ends in <year>/<token>/ (or .../index.html for file://)
_PAGE_URL = re.compile(r"/(\d{4})/([a-z2-7]{" + str(share.TOKEN_LENGTH) + r"})/(?:index\.html)?$")


def erase_user(
    spark: SparkSession, root: str, user_id: str, secret: bytes, *, run_id: str | None = None
) -> dict:
    """Erase a listener everywhere; returns {what: count removed}.

    Holds the data root's erasure lock (locks.hold_exclusive): no ingest, recaps,
    render, publish or export runs while it works, and it refuses while one does."""
    check_user_id(user_id)
    report = Report("erase-user", root, run_id)
    with locks.hold_exclusive(root, report.run_id):
        _record_request(spark, root, user_id, report)
        return _erase(spark, root, [user_id], secret, report)


def pending_erasures(spark: SparkSession, root: str) -> list[str]:
    """The recorded erasure requests (privacy/erasures/) not yet carried out
    (privacy/erasures_done/): those the platform's dump brought, and any whose
    `erase-user` did not finish. A root from before the done list has every request pending."""
    requested = datasets.erased_user_ids(spark, root)
    done = _done(spark, root)
    if done is not None:
        requested = requested.join(done.select("user_id"), "user_id", "left_anti")
    return sorted(r.user_id for r in requested.collect())


def carry_out_erasures(
    spark: SparkSession,
    root: str,
    secret: bytes | None,
    *,
    run_id: str | None = None,
    quiet: bool = False,
) -> dict:
    """Carry out every pending erasure request as `erase-user` does, in one pass over
    each dataset (docs/data-rights.md, "Requests in the platform's dump"). Holds the
    erasure lock; returns {what: count removed} ({} when nothing is pending)."""
    report = Report("erase-requests", root, run_id, quiet=quiet)
    with locks.hold_exclusive(root, report.run_id):
        ids = pending_erasures(spark, root)
        if not ids:
            return {}
        report.read("privacy/erasures", f"{len(ids)} requests not yet carried out")
        if secret is None:
            report.note(
                "ENCORE_SHARE_SECRET is not set: pages are found through the delivery lists "
                "only, so the requests stay pending: every ingest carries them out again "
                "until one runs with the secret and can look for a page never published"
            )
        return _erase(spark, root, ids, secret, report, mark_done=secret is not None)


def _record_request(spark, root: str, user_id: str, report: Report) -> None:
    report.phase("recording the request")
    if is_erased(spark, root, user_id):
        report.note("the erasure request was already recorded")
        return
    erasures = datasets.read_dimension(spark, root, "privacy/erasures")
    new = spark.createDataFrame(
        [(user_id, datetime.now(UTC))], schemas.spark_schema(schemas.ERASURES)
    )
    merged = new if erasures is None else erasures.unionByName(new)
    datasets.write_dataset(
        merged.coalesce(1), datasets.path(root, "privacy", "erasures"), run_id=report.run_id
    )
    report.wrote("privacy/erasures", "1 request recorded")


def _done(spark, root: str):
    return datasets.read_if_present(
        spark, datasets.path(root, *DONE.split("/")), schemas.ERASURES_DONE
    )


def _mark_done(spark, root: str, user_ids: list[str], report: Report) -> None:
    """Add ``user_ids`` to privacy/erasures_done/ (those already there are not added
    again: a second erasure changes no byte)."""
    from pyspark.sql import functions as F

    done = _done(spark, root)
    have = (
        set()
        if done is None
        else {r.user_id for r in done.where(F.col("user_id").isin(user_ids)).collect()}
    )
    new = [(u, datetime.now(UTC)) for u in user_ids if u not in have]
    if not new:
        return
    rows = spark.createDataFrame(new, schemas.spark_schema(schemas.ERASURES_DONE))
    merged = rows if done is None else done.unionByName(rows)
    datasets.write_dataset(
        merged.coalesce(1), datasets.path(root, *DONE.split("/")), run_id=report.run_id
    )
    report.wrote(DONE, f"{len(new)} erasures carried out")


def _erase(
    spark,
    root: str,
    user_ids: list[str],
    secret: bytes | None,
    report: Report,
    *,
    mark_done: bool = True,
) -> dict:
    """Remove ``user_ids`` (recorded in privacy/erasures/) from everything the root holds."""
    from pyspark.sql import functions as F

    removed: dict[str, int] = {}

    # Before the delivery rows go: they record every page the listener had, whatever
    # secret made it (a rotated secret would otherwise leave old pages online).
    report.phase("finding the listener's pages")
    pages = _pages_on_delivery_list(spark, root, user_ids)
    site = datasets.path(root, "site")
    for year in storage.listdir(site):
        if year.isdigit() and secret is not None:
            pages.update((year, share.share_token(secret, u, int(year))) for u in user_ids)

    report.phase("removing the listener's rows")
    for rel, column in USER_DATASETS:
        base = datasets.path(root, rel)
        for part in _leaf_partitions(base):
            df = spark.read.parquet(part)
            if column not in df.columns:
                continue
            theirs = F.col(column).isin(user_ids)
            hits = df.where(theirs).limit(1).count()
            if not hits:
                continue
            n = df.where(theirs).count()
            kept = df.where(~theirs | F.col(column).isNull())
            datasets.write_dataset(
                kept.coalesce(max(1, df.rdd.getNumPartitions())), part, run_id=report.run_id
            )
            rel_part = posixpath.relpath(part, root) if "://" not in root else part
            removed[rel_part] = n
            report.wrote(f"rewrote {rel_part}", f"-{n} rows")

    report.phase("removing quarantined records")
    removed.update(_scrub_quarantine(spark, root, user_ids, report))

    report.phase("removing pages, cards and exports")
    removed.update(_delete_pages_and_packages(root, pages, user_ids, secret, report))

    report.phase("scrubbing raw input files")
    removed.update(_scrub_raw(root, user_ids, report))

    report.phase("scrubbing reports")
    removed.update(_scrub_reports(root, user_ids, report))

    if mark_done:
        _mark_done(spark, root, user_ids, report)
    if not removed:
        report.note(
            "nothing held this listener: the request is recorded, so later runs exclude them"
        )
    report.set("removed", removed)
    report.finish()
    return removed


def _delete_pages_and_packages(
    root: str,
    pages: set[tuple[str, str]],
    user_ids: list[str],
    secret: bytes | None,
    report: Report,
) -> dict[str, int]:
    """Delete the page folders (cards, summary PNG, page, recap.json), a personal root's
    index and state, and the export packages of ``user_ids``."""
    removed: dict[str, int] = {}
    site = datasets.path(root, "site")
    deleted_pages = 0
    for year, token in sorted(pages):
        page = storage.join(site, year, token)
        if storage.is_dir(page):
            storage.delete(page)
            deleted_pages += 1
            removed[f"site/{year}/<token>"] = removed.get(f"site/{year}/<token>", 0) + 1
    if deleted_pages:
        report.wrote("deleted pages", deleted_pages)
    personal = _personal_files(root, user_ids)
    for path in personal:
        storage.delete(path)
    if personal:
        removed["<personal root: index.html, .me-state.json>"] = len(personal)
        report.wrote("deleted the personal root's index and state", len(personal))
    exports = _export_packages(root, user_ids, secret)
    for folder in exports:
        storage.delete(folder)
    if exports:
        removed["exports/<token>"] = len(exports)
        report.wrote("deleted export packages", len(exports))
    return removed


def _pages_on_delivery_list(spark, root: str, user_ids: list[str]) -> set[tuple[str, str]]:
    """(year, token) of every page the delivery lists give the listeners."""
    from pyspark.sql import functions as F

    found: set[tuple[str, str]] = set()
    for part in _leaf_partitions(datasets.path(root, "deliveries")):
        df = spark.read.parquet(part)
        if not {"user_id", "page_url"} <= set(df.columns):
            continue
        for row in (
            df.where(F.col("user_id").isin(user_ids)).select("page_url").collect()
        ):  # the erased listeners' rows only
            match = _PAGE_URL.search(row.page_url or "")
            if match:
                found.add((match.group(1), match.group(2)))
    return found


def _personal_files(root: str, user_ids: list[str]) -> list[str]:
    """On a personal root (`encore me`: one listener, ``me``), the years index (each
    year's top artist, minutes and page link) and the state (each year's play count)."""
    from encore import me

    if me.ME not in user_ids:
        return []
    # the state last: it marks the root as personal, so an erasure that stops between
    # the two is done again in full by the next one
    paths = [storage.join(root, "index.html"), storage.join(root, me.STATE_FILE)]
    if not storage.exists(paths[1]):
        return []  # a platform root: its index.html (if any) is not a listener's
    return [p for p in paths if storage.exists(p)]


def _export_packages(root: str, user_ids: list[str], secret: bytes | None) -> list[str]:
    """The listeners' export folders: the current secret's, and any other package whose
    content says it is theirs (a package made under an earlier secret)."""
    base = datasets.path(root, "exports")
    tokens = set() if secret is None else {export_token(secret, u) for u in user_ids}
    found = []
    for name in storage.listdir(base):
        folder = storage.join(base, name)
        if name in tokens:
            found.append(folder)
            continue
        package = storage.join(folder, "encore-export.zip")
        if storage.exists(package) and _package_owner(storage.read_bytes(package)) in user_ids:
            found.append(folder)
    return found


def _package_owner(data: bytes) -> str | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for name in sorted(zf.namelist()):
                if name.startswith(("listening_history/", "recaps/")):
                    text = zf.read(name).decode("utf-8", "replace")
                    first = text.splitlines()[0] if name.endswith(".jsonl") else text
                    owner = json.loads(first).get("user_id")
                    if owner:
                        return owner
    except (zipfile.BadZipFile, ValueError, IndexError, AttributeError):
        return None
    return None


def _scrub_quarantine(spark, root: str, user_ids: list[str], report: Report) -> dict[str, int]:
    """Drop the quarantined records whose user field names the listener exactly
    (identity.named_ids_col); records that do not parse are matched by pattern."""
    from pyspark.sql import functions as F

    removed: dict[str, int] = {}
    qpath = datasets.path(root, "quarantine")
    by_pattern = kept_mentions = 0
    for part in _leaf_partitions(qpath):
        df = spark.read.parquet(part)
        tagged = df.select(
            "*",
            identity.names_any(
                identity.named_ids_col(F.col("record"), F.col("source_file")), user_ids
            ).alias("_named"),
            F.from_json(
                "record",
                "x STRING, _corrupt_record STRING",
                {"columnNameOfCorruptRecord": "_corrupt_record"},
            ).alias("_r"),
        )
        broken = F.col("_r").isNull() | F.col("_r._corrupt_record").isNotNull()
        counts = tagged.agg(
            F.count_if("_named").alias("named"),
            F.count_if(F.col("_named") & broken).alias("by_pattern"),
            F.count_if(
                ~F.col("_named")
                & broken
                # one expression however many ids (an OR per id nests as deep as the list)
                & F.exists(
                    F.array(*[F.lit(u) for u in user_ids]), lambda u: F.col("record").contains(u)
                )
            ).alias("kept_mentions"),
        ).first()
        kept_mentions += counts.kept_mentions
        if not counts.named:
            continue
        by_pattern += counts.by_pattern
        datasets.write_dataset(
            tagged.where(~F.col("_named")).select(*df.columns).coalesce(1),
            part,
            run_id=report.run_id,
        )
        rel = "quarantine" if part == qpath else f"quarantine/{posixpath.relpath(part, qpath)}"
        removed[rel if "://" not in qpath else part] = counts.named
        report.wrote("rewrote quarantine", f"-{counts.named} records")
    if by_pattern:
        report.note(
            f"{by_pattern} quarantined records that are not valid JSON named the listener in their "
            "user_id field (read by pattern): removed"
        )
    if kept_mentions:
        report.note(
            f"{kept_mentions} quarantined records that are not valid JSON contain the id's text but not "
            "as their user_id: kept (another listener's, or unknown)"
        )
    report.set(
        "quarantine_unparseable",
        {"removed_by_pattern": by_pattern, "kept_mentioning_text": kept_mentions},
    )
    return removed


def _leaf_partitions(base: str) -> list[str]:
    """The folders under ``base`` that hold Parquet files directly (partition leaves)."""
    storage.recover(base)
    if not storage.is_dir(base):
        return []
    names = storage.listdir(base)
    subdirs = [n for n in names if "=" in n and not n.startswith((".", "_"))]
    if not subdirs:
        return [base] if any(n.endswith(".parquet") for n in names) else []
    out: list[str] = []
    for n in subdirs:
        out.extend(_leaf_partitions(storage.join(base, n)))
    return out


def scrub_lines(
    data: bytes, user_id: str | Collection[str], *, is_csv: bool
) -> tuple[bytes, dict[str, int]]:
    """The file without the records that name the listener (or any of the listeners)
    in their user field (exactly); every other byte unchanged. Counts: removed, removed_by_pattern (lines
    that do not parse, matched by the ``"user_id": "<id>"`` pattern), kept_unparseable."""
    counts = {"removed": 0, "removed_by_pattern": 0, "kept_unparseable": 0}
    wanted = {user_id} if isinstance(user_id, str) else set(user_id)
    lines = data.splitlines(keepends=True)
    if is_csv:
        return _scrub_csv(lines, wanted, counts)
    kept = []
    maybe = _could_name(wanted)
    for line in lines:
        if not line.strip() or not maybe(line):
            kept.append(line)
            continue
        ids, parsed = identity.named_ids(line)
        if ids & wanted:
            counts["removed"] += 1
            counts["removed_by_pattern"] += 0 if parsed else 1
            continue
        counts["kept_unparseable"] += 0 if parsed else 1
        kept.append(line)
    return b"".join(kept), counts


# The only characters NFC turns into ASCII: KELVIN SIGN -> K, GREEK QUESTION MARK -> ;
# and GREEK VARIA -> ` (UTF-8). Ingest compares ids after NFC, so bytes holding one of
# them may name an ASCII id without holding its bytes.
_NFC_TO_ASCII = ("\u212a", "\u037e", "\u1fef")


def _could_name(user_ids: set[str]):
    """A cheap test of bytes (a file, a line): False only when they cannot name one of
    ``user_ids``. A JSON value names an id without holding its bytes only through an
    escape (``usr\\u005f1``), a character NFC turns into ASCII (``\\u212aarl`` is
    ``Karl``) or, for an id that is not ASCII, another Unicode form of it: such bytes
    are always read. One compiled pattern, however many ids."""
    if not all(u.isascii() for u in user_ids):
        return lambda _: True
    needles = [u.encode("ascii") for u in user_ids] + [b"\\"]
    needles += [c.encode("utf-8") for c in _NFC_TO_ASCII]
    pattern = re.compile(b"|".join(re.escape(n) for n in sorted(set(needles))))
    return lambda data: pattern.search(data) is not None


def _scrub_csv(lines: list[bytes], wanted: set[str], counts: dict) -> tuple[bytes, dict[str, int]]:
    # csv.reader pulls one physical line at a time, so each record's own lines (a
    # quoted field may span several) are known and kept byte for byte
    consumed: list[int] = []

    def feed():
        for i, line in enumerate(lines):
            consumed.append(i)
            yield line.decode("utf-8", "surrogateescape")

    out: list[bytes] = []
    header = None
    start = 0
    for row in csv.reader(feed()):
        end = len(consumed)
        raw = lines[start:end]
        start = end
        if header is None:
            header = [h.lstrip("\ufeff") for h in row]
            out += raw
            continue
        if wanted & identity.row_ids(dict(zip(header, row, strict=False))):
            counts["removed"] += 1
            continue
        out += raw
    out += lines[start:]
    return b"".join(out), counts


def _scrub_raw(root: str, user_ids: list[str], report: Report) -> dict[str, int]:
    """Rewrite the raw inputs (JSON Lines / CSV, gzip'd or not, on any root storage can
    write) without the listener's records, so a later ingest cannot bring them back.
    raw/privacy/ stays: the erasure requests are what keeps the listener out."""
    import hashlib

    from encore.ingest.files import RAW_SUFFIXES, list_files, refresh_manifest

    def fingerprint(stored: bytes) -> dict:
        return {"size": len(stored), "sha256": hashlib.sha256(stored).hexdigest()}

    removed: dict[str, int] = {}
    rewritten: dict[str, tuple[dict, dict]] = {}
    could_name = _could_name(set(user_ids))
    raw_root = datasets.path(root, "raw")
    totals = {"removed": 0, "removed_by_pattern": 0, "kept_unparseable": 0}
    try:
        files = list_files(raw_root)
    except (OSError, ValueError) as err:  # e.g. no filesystem driver for the scheme
        report.note(
            f"raw/ could not be listed ({err.__class__.__name__}: {err}); raw files were NOT scrubbed: "
            "ingest still drops the listener's records (privacy/erasures/), delete them at the source"
        )
        report.set("raw_scrubbed", False)
        return removed
    for full, rel in files:
        if rel.split("/", 1)[0] == "privacy":
            continue
        name = rel.lower()
        gz = name.endswith(".gz")
        if not name.endswith(RAW_SUFFIXES):
            continue
        data = stored = storage.read_bytes(full, as_stored=True)
        if gz:
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError):
                report.note(f"raw/{rel} is not a readable gzip file: not scrubbed")
                continue
        if not could_name(data):
            continue  # cheap: a file that cannot name them is not parsed
        body, counts = scrub_lines(data, user_ids, is_csv=name.removesuffix(".gz").endswith(".csv"))
        for k, v in counts.items():
            totals[k] += v
        if not counts["removed"]:
            continue
        if gz:
            bio = io.BytesIO()
            with gzip.GzipFile(filename="", mode="wb", fileobj=bio, mtime=0) as f:
                f.write(body)
            body = bio.getvalue()
        storage.write_bytes_atomic(full, body)
        rewritten[f"raw/{rel}"] = (fingerprint(stored), fingerprint(body))
        removed[f"raw/{rel}"] = counts["removed"]
        report.wrote(f"scrubbed raw/{rel}", f"-{counts['removed']} records")
    # what is left of a raw/events file ingest had read in full is not read again
    refreshed = refresh_manifest(root, rewritten)
    if refreshed:
        report.wrote("state/ingest-files.json", f"{refreshed} scrubbed files: not read again")
    if totals["removed_by_pattern"]:
        report.note(
            f"{totals['removed_by_pattern']} raw lines that are not valid JSON named the listener in their "
            "user_id field (read by pattern): removed"
        )
    if totals["kept_unparseable"]:
        report.note(
            f"{totals['kept_unparseable']} raw lines that are not valid JSON contain the id's text but do "
            "not name it in a user_id field: kept"
        )
    report.set("raw_scrubbed", True)
    report.set(
        "raw_unparseable", {k: totals[k] for k in ("removed_by_pattern", "kept_unparseable")}
    )
    return removed


_ID_CHAR = r"A-Za-z0-9_.@+\-"


def _mentions(user_ids: list[str]):
    """Each id as a whole id: erasing usr_1 never rewrites a mention of usr_10, and
    erasing bob never one of bob:2 (':' inside an id, or written %3A in an export's
    ``export:<id>:<file>``); the export form of each id is matched as such."""
    ids = "|".join(re.escape(u) for u in sorted(user_ids, key=len, reverse=True))
    whole = rf"(?<![{_ID_CHAR}])(?<![{_ID_CHAR}]:)(?:{ids})(?![{_ID_CHAR}])(?!:[{_ID_CHAR}])(?!%3A)"
    prefix = identity.EXPORT_PREFIX
    quoted = "|".join(
        re.escape(identity.export_source(u, "")[len(prefix) : -1])
        for u in sorted(user_ids, key=len, reverse=True)
    )
    as_export = rf"(?<={re.escape(prefix)})(?:{quoted})(?=:)"
    return re.compile(f"{whole}|{as_export}")


def _scrub_reports(root: str, user_ids: list[str], report: Report) -> dict[str, int]:
    """reports/ keeps no identifier of the listener: the ingest report of their own
    export is deleted (all of it is about them: files, dates, time zone), and so is any
    copy of its summary in another report (a run report gathers its stages'); any other
    report that names them has the id replaced by "<erased>"."""
    removed: dict[str, int] = {}
    base = datasets.path(root, "reports")
    pattern = _mentions(user_ids)
    bodies: dict[str, tuple[str, object]] = {}
    for name in storage.listdir(base):
        if name.endswith(".json"):
            text = storage.read_text(storage.join(base, name))
            try:
                bodies[name] = (text, json.loads(text))
            except ValueError:
                bodies[name] = (text, None)
    own = sorted(
        n
        for n, (_, body) in bodies.items()
        if isinstance(body, dict) and _is_own_export_report(body, set(user_ids))
    )
    for name in own:
        storage.delete(storage.join(base, name))
    rewritten = 0
    for name, (text, body) in bodies.items():
        if name in own:
            continue
        if body is None:
            if pattern.search(text):
                storage.write_text_atomic(storage.join(base, name), pattern.sub("<erased>", text))
                rewritten += 1
            continue
        cleaned = _replace(_without_summaries_of(body, own), pattern)
        if cleaned != body:
            storage.write_json_atomic(storage.join(base, name), cleaned)
            rewritten += 1
    if own:
        removed["reports/<ingest reports of their exports>"] = len(own)
        report.wrote("deleted reports", len(own))
    if rewritten:
        removed["reports/<reports naming them>"] = rewritten
        report.wrote("rewrote reports", rewritten)
    return removed


def _without_summaries_of(value, names: list[str]):
    """``value`` with every dict that summarises one of the reports ``names`` (it holds
    their path) replaced by a note."""
    if not names:
        return value
    if isinstance(value, dict):
        if any(
            isinstance(v, str) and v.endswith(tuple(f"/{n}" for n in names)) for v in value.values()
        ):
            return {"erased": "a listener's own export: removed at their erasure"}
        return {k: _without_summaries_of(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_summaries_of(v, names) for v in value]
    return value


def _is_own_export_report(body: dict, user_ids: set[str]) -> bool:
    """The ingest report of one listener's own export (every file is theirs)."""
    files = (body.get("reconciliation") or {}).get("files") or {}
    owners = {identity.export_source_user(f) for f in files}
    return "export" in body and len(owners) == 1 and owners <= user_ids


def _replace(value, pattern):
    if isinstance(value, dict):
        return {pattern.sub("<erased>", k): _replace(v, pattern) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace(v, pattern) for v in value]
    if isinstance(value, str):
        return pattern.sub("<erased>", value)
    return value
