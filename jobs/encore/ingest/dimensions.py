"""Dimension tables: raw/users, raw/catalog/{tracks,artists}, raw/playlists,
raw/privacy/erasures (JSON Lines, gzip'd or not, or CSV) -> validated Parquet at
users/, catalog/tracks/, catalog/artists/, playlists/, privacy/erasures/.

Each raw table may be a folder (``raw/catalog/tracks/...``) or files beside it named
after it (``raw/catalog/tracks.jsonl``). Rows are checked like plays are (same
text rules, same strict booleans, same time formats, reason codes in
docs/ingest.md); bad rows go to quarantine. A missing optional table is a report
line, and the previous version (if any) stays.

Merges, because other commands write here too:
- ``privacy/erasures/`` is the union of what is there and what raw/ says: a request
  is never lost (``encore erase-user`` appends to it);
- ``users/`` takes every row of raw/users and keeps earlier rows of listeners raw/
  does not mention (e.g. a personal export's listener and their --timezone).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from encore.ingest import canonical
from encore.ingest.files import RAW_SUFFIXES
from encore.platform import datasets, localtime, schemas, storage
from encore.platform import text as text_rules
from encore.platform.report import Report

# field -> rule. "key": required text, unique; "text"; "int"; "ms" (long >= 0);
# "ts" (nullable time); "ts!" (required time); "bool"; "bool_optout" (null -> true);
# "tz" (IANA name or null); "list" (JSON array of strings, or a|b|c in CSV).
RULES: dict[str, dict[str, str]] = {
    "users": {
        "user_id": "key",
        "country": "text",
        "birth_year": "int",
        "timezone": "tz",
        "created_at": "ts",
        "marketing_opt_out": "bool_optout",
    },
    "catalog/tracks": {
        "track_uri": "key",
        "track_name": "text",
        "artist_name": "text",
        "album_name": "text",
        "release_year": "int",
        "duration_ms": "ms",
    },
    "catalog/artists": {"artist_name": "key", "genres": "list"},
    "playlists": {
        "playlist_id": "key",
        "owner_user_id": "text",
        "title": "text",
        "track_uris": "list",
    },
    "privacy/erasures": {"user_id": "key", "requested_at": "ts!"},
}
OPTIONAL = {"catalog/tracks", "catalog/artists", "playlists"}
# the column naming the listener a row belongs to (rows of erased listeners are dropped)
USER_COLUMN = {"users": "user_id", "playlists": "owner_user_id"}
WHY_OPTIONAL = {
    "catalog/tracks": "no catalog: release years and catalog durations are unknown (new-release rules, default durations)",
    "catalog/artists": "no artist catalog: genres are unknown (top genres and genre facts are left out)",
    "playlists": "no playlists: playlist facts are left out",
    "users": "no users table: time zones default to UTC, countries and ages are unknown",
    "privacy/erasures": "no erasure requests in raw/ (earlier ones in privacy/erasures/ are kept)",
}


def raw_files(root: str, name: str) -> list[tuple[str, str]]:
    """(path, name relative to the data root) of a raw dimension table's files."""
    from encore.ingest.files import list_files, supported

    folder = datasets.path(root, "raw", name)
    files = (
        [(p, f"raw/{name}/{rel}") for p, rel in supported(list_files(folder))[0]]
        if storage.is_dir(folder)
        else []
    )
    parent, leaf = name.rsplit("/", 1) if "/" in name else ("", name)
    parent_uri = datasets.path(root, "raw", *([parent] if parent else []))
    for entry in storage.listdir(parent_uri):
        if (
            entry.startswith(leaf + ".")
            and entry.lower().endswith(RAW_SUFFIXES)
            and entry[len(leaf) :].count(".") <= 2
        ):
            rel = "/".join(x for x in ("raw", parent, entry) if x)
            files.append((storage.join(parent_uri, entry), rel))
    return sorted(set(files), key=lambda x: x[1])


def _check(rule: str, field: str, text: Column) -> tuple[Column, Column]:
    """(typed value, reason or null) for one field's cleaned text."""
    none = F.lit(None).cast("string")
    if rule in ("key", "text"):
        return text, (F.when(text.isNull(), f"missing_{field}") if rule == "key" else none)
    if rule == "int":
        v = text.try_cast("int")
        return v, F.when(text.isNotNull() & v.isNull(), f"bad_type:{field}")
    if rule == "ms":
        v = text.try_cast("bigint")
        return v, (
            F.when(text.isNotNull() & v.isNull(), f"bad_type:{field}").when(
                v < 0, f"bad_value:{field}"
            )
        )
    if rule in ("ts", "ts!"):
        v = canonical.parse_ts(text)
        reason = F.when(text.isNotNull() & v.isNull(), f"bad_type:{field}")
        if rule == "ts!":
            reason = F.when(text.isNull(), f"missing_{field}").otherwise(reason)
        return v, reason
    if rule in ("bool", "bool_optout"):
        v = canonical.strict_bool(text)
        if rule == "bool_optout":  # unknown consent: treat as opted out of marketing
            v = F.coalesce(v, F.lit(True))
        return v, F.when(
            text.isNotNull() & canonical.strict_bool(text).isNull(), f"bad_type:{field}"
        )
    if rule == "tz":
        zones = sorted(localtime.zone_names())  # the shipped IANA rules, as recaps use them
        return text, F.when(text.isNotNull() & ~text.isin(zones), f"bad_value:{field}")
    if rule == "list":
        arr = F.when(text.startswith("["), F.from_json(text, "array<string>")).otherwise(
            F.split(text, r"\|")
        )
        cleaned = F.filter(
            F.transform(arr, lambda x: text_rules.clean_text(x)), lambda x: x.isNotNull()
        )
        value = F.coalesce(cleaned, F.array().cast("array<string>"))
        return value, F.when(text.isNotNull() & arr.isNull(), f"bad_type:{field}")
    raise ValueError(rule)


def tag_rows(lines: DataFrame, name: str) -> DataFrame:
    """source_file, reason, record (rejects), and the table's typed columns."""
    rules = RULES[name]
    schema = ", ".join(f"`{f}` STRING" for f in [*rules, "_corrupt_record"])
    r = F.from_json("value", schema, {"columnNameOfCorruptRecord": "_corrupt_record"})
    df = lines.select("value", "source_file", r.alias("r"))
    reason = F.when(~F.is_valid_utf8("value"), "bad_encoding").when(
        F.col("r").isNull() | F.col("r._corrupt_record").isNotNull(),
        F.when(F.try_parse_json("value").isNotNull(), "not_an_object").otherwise("bad_json"),
    )
    values = []
    for field, rule in rules.items():
        raw = F.col(f"r.{field}")
        text = raw if rule == "list" else text_rules.clean_text(raw)
        if rule == "list":
            text = F.when(text_rules.trim(raw) != "", raw)
        value, why = _check(rule, field, text)
        reason = reason.when(why.isNotNull(), why)
        values.append(
            value.cast(schemas.spark_schema(schemas.DIMENSIONS[name])[field].dataType).alias(field)
        )
    return df.select(
        "source_file",
        reason.alias("reason"),
        F.when(reason.isNotNull(), canonical.redact(F.col("value"))).alias("record"),
        *values,
    )


def keep_one(tagged: DataFrame, name: str) -> DataFrame:
    """One row per key (erasures: per user and time), chosen deterministically."""
    cols = list(RULES[name])
    keys = ["user_id", "requested_at"] if name == "privacy/erasures" else [cols[0]]
    rest = [c for c in cols if c not in keys]
    best = F.min(F.struct(F.col("source_file"), *[F.col(c) for c in rest])).alias("best")
    return tagged.where(F.col("reason").isNull()).groupBy(*keys).agg(best).select(*keys, "best.*")


def ingest_all(spark: SparkSession, *, root: str, run_id: str, work: str, report: Report) -> dict:
    """Ingest every dimension table found; return quarantine rows, files read, summary."""
    from encore.ingest.events import erased_flag, reconcile
    from encore.ingest.files import read_lines

    rejected_parts, files_read, summary = [], [], {}
    erased_ids: list[str] = []
    # erasures first: every other table (and every quarantined row) leaves out the
    # listeners they name, including requests that arrive in this very dump
    order = ["privacy/erasures", *[n for n in schemas.DIMENSIONS if n != "privacy/erasures"]]
    for name in order:
        if name != "privacy/erasures" and not erased_ids:
            erased_ids = sorted(r.user_id for r in datasets.erased_user_ids(spark, root).collect())
        files = raw_files(root, name)
        if not files:
            report.skipped(name, WHY_OPTIONAL[name])
            summary[name] = {"status": "absent", "optional": name in OPTIONAL}
            continue
        rels = [rel for _, rel in files]
        staged = storage.join(work, "dim-" + name.replace("/", "-"))
        user_col = USER_COLUMN.get(name)
        ids_now = (
            sorted(r.user_id for r in datasets.erased_user_ids(spark, root).collect())
            if name == "privacy/erasures"
            else erased_ids
        )
        tagged = tag_rows(read_lines(spark, root, [p for p, _ in files]), name)
        tagged = tagged.withColumn("erased", erased_flag(ids_now, user_col=user_col))
        tagged.write.mode("overwrite").parquet(staged)
        tagged = spark.read.parquet(staged)
        kept = keep_one(tagged.where(~F.col("erased")), name)
        rec = reconcile(tagged, kept, rels)
        table = kept.select(*RULES[name])
        final = datasets.path(root, name)
        existing = datasets.read_dimension(spark, root, name)
        if existing is not None and name == "privacy/erasures":
            table = table.unionByName(existing.select(*RULES[name])).distinct()
        elif existing is not None and name == "users":
            earlier = existing.join(table.select("user_id"), on="user_id", how="left_anti")
            table = table.unionByName(
                earlier.where(~F.col("user_id").isin(erased_ids)) if erased_ids else earlier
            )
        datasets.write_dataset(
            table.coalesce(1).sortWithinPartitions(list(RULES[name])[0]), final, run_id=run_id
        )
        rows = spark.read.parquet(final).count()
        t = rec["total"]
        report.say(
            f"{name}: read {t['read']} = kept {t['accepted']} + quarantined {t['quarantined']} "
            f"+ duplicates {t['duplicates']} + erased {t['erased']}; table now {rows} rows"
        )
        summary[name] = {"status": "ingested", "rows": rows, "reconciliation": rec}
        rejected_parts.append(
            tagged.where(F.col("reason").isNotNull() & ~F.col("erased")).select(
                "record", "reason", "source_file"
            )
        )
        files_read += rels
        if name == "privacy/erasures":
            erased_ids = sorted(r.user_id for r in datasets.erased_user_ids(spark, root).collect())
    rejected = None
    for part in rejected_parts:
        rejected = part if rejected is None else rejected.unionByName(part)
    return {"rejected": rejected, "files": files_read, "summary": summary}
