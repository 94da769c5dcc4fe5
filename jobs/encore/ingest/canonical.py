"""The rules that turn one raw play into a canonical event, or into a quarantine reason.

This is the only implementation of those rules: the platform log (``encore ingest
--data``) and every personal-export adapter (encore/ingest/exports/adapters.py) feed lines of JSON in
the raw log's field names through ``parse_events``. Everything here is Spark
built-ins under ANSI mode (``from_json`` with an all-string schema, ``try_cast``,
``try_to_timestamp``, ``is_valid_utf8``); no Python UDF runs per row.

Why every raw field is read as a string: ``from_json`` then hands back the JSON text
of whatever was there (``12``, ``"twelve"``, ``true``), and we decide, field by
field, whether it converts. A typed schema would null the whole record on the first
mismatch and we could not say *which* field was wrong (``bad_type:<field>``).

docs/ingest.md lists the reason codes and the order they are checked in.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from encore.platform import schemas
from encore.platform.text import clean_text, trim

# Reason codes, in the order they are checked: a record gets the first that applies.
REASONS: dict[str, str] = {
    "bad_encoding": "the line is not valid UTF-8",
    "bad_json": "the line is not valid JSON (e.g. truncated)",
    "not_an_object": "valid JSON, but not an object (an array or a bare value)",
    "missing_user_id": "no user_id (absent, null or blank)",
    "missing_ts": "no ts (absent, null or blank)",
    "bad_ts": "ts is not a time, or lies outside [ingest.earliest_year, ingest.latest_year]",
    "missing_ms_played": "no ms_played (the platform log requires it)",
    "bad_type:ms_played": "ms_played is not a whole number",
    "negative_ms": "ms_played is below 0",
    "implausible_ms": "ms_played is above ingest.max_ms_played",
    "bad_type:shuffle": "shuffle is not true/false",
    "bad_type:skipped": "skipped is not true/false",
    "bad_type:offline": "offline is not true/false",
    "bad_type:incognito_mode": "incognito_mode is not true/false",
    "unknown_kind": "no track, episode or audiobook field is set",
}

BOOL_FIELDS = ("shuffle", "skipped", "offline", "incognito_mode")
TRACK_FIELDS = ("spotify_track_uri", "master_metadata_track_name")
EPISODE_FIELDS = ("spotify_episode_uri", "episode_name", "episode_show_name")
AUDIOBOOK_FIELDS = (
    "audiobook_uri",
    "audiobook_title",
    "audiobook_chapter_uri",
    "audiobook_chapter_title",
)

# Raw fields read by the parser: the raw log's, minus ip_addr (never even parsed), plus
# ``track_duration_ms``, a hint that adapters for formats without ms_played may set.
_NOT_PARSED = {"ip_addr"}
PARSED_FIELDS = [f.name for f in schemas.RAW_EVENT if f.name not in _NOT_PARSED] + [
    "track_duration_ms"
]
_CORRUPT = "_corrupt_record"
_PARSE_SCHEMA = ", ".join(f"`{n}` STRING" for n in [*PARSED_FIELDS, _CORRUPT])

# Time formats accepted for ts (all UTC unless they carry an offset); a bare number of
# up to 11 digits is epoch seconds (ListenBrainz, Last.fm).
TS_FORMATS = (
    "yyyy-MM-dd'T'HH:mm:ss[.SSSSSS][.SSS]XXX",
    "yyyy-MM-dd HH:mm[:ss]",
    "yyyy-MM-dd'T'HH:mm[:ss]",
)

SOURCE_PLATFORM = "platform-log"


# --- text (the shared rules: platform/text.py) ---------------------------------------
def strict_bool(col: Column) -> Column:
    """true/false only (Spark's cast would also take 'yes', 'y', '1', ...)."""
    low = F.lower(trim(col))
    return F.when(low == "true", F.lit(True)).when(low == "false", F.lit(False))


def parse_ts(col: Column) -> Column:
    text = trim(col)
    parsed = F.coalesce(*[F.try_to_timestamp(text, F.lit(fmt)) for fmt in TS_FORMATS])
    return F.when(
        text.rlike("^[0-9]{1,11}$"), F.timestamp_seconds(text.try_cast("bigint"))
    ).otherwise(parsed)


# Fields quarantine never keeps, whatever their case or JSON escaping: the IP address
# fields (ip_addr, ip_addr_decrypted...) and what a Spotify export adds about the
# person (username, user_agent_decrypted). Their value becomes "<redacted>".
_SECRET_KEY = r"^(ip_?addr.*|username|user_agent_decrypted)$"
# the same keys in unparsed text: any key starting with "ip" (also \u0069/\u0049-escaped),
# username, user_agent_decrypted; the value a string (perhaps cut short) or a bare token
_SECRET_KEY_TEXT = (
    r'(?i)("(?:ip|\\u0069p|\\u0049p|\\u0069\\u0070|\\u0049\\u0050)(?:[^"\\]|\\.)*"'
    r'|"(?:username|user_agent_decrypted)")(\s*:\s*)(?:"(?:[^"\\]|\\.)*"?|[^,}\]\s]+)'
)
_IPV4 = r"(?<![0-9])(?<![0-9]\.)(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9]|\.[0-9])"
_V4_TAIL = r"(?::(?:[0-9]{1,3}\.){3}[0-9]{1,3})?"
_IPV6 = (
    r"(?i)(?<![0-9a-z:])(?:(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}"
    r"|[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6}::(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6})?"
    + _V4_TAIL
    + r"|::[0-9a-f]{1,4}(?::[0-9a-f]{1,4}){0,6}"
    + _V4_TAIL
    + r"|::(?:[0-9]{1,3}\.){3}[0-9]{1,3})(?![0-9a-z:]|\.[0-9])"
)


def _redact_addresses(text: Column) -> Column:
    text = F.regexp_replace(text, _IPV6, "<redacted-ip>")
    return F.regexp_replace(text, _IPV4, "<redacted-ip>")


def redact(col: Column) -> Column:
    """What quarantine keeps of a rejected record: the record verbatim, except IP
    addresses and the fields that name the person (privacy.md: dropped at ingest,
    never stored). Invalid UTF-8 bytes are replaced by U+FFFD, since a Parquet string
    must be valid UTF-8.

    By pattern first, which keeps the text as it was: the secret keys in any case or
    JSON escaping with string or numeric values, and IPv4 (also with a trailing dot)
    and IPv6 addresses anywhere. Then by parsing: a record that parses as a JSON
    object and still has a secret key with a value (an escape the pattern did not
    see) is re-serialised from the parsed object with those values redacted."""
    text = _redact_addresses(
        F.regexp_replace(F.make_valid_utf8(col), _SECRET_KEY_TEXT, '$1$2"<redacted>"')
    )
    parsed = F.try_parse_json(text).try_cast("map<string, variant>")
    secret = lambda k: F.lower(k).rlike(_SECRET_KEY)  # noqa: E731
    leaks = F.exists(
        F.map_entries(parsed),
        lambda e: secret(e["key"]) & (F.to_json(e["value"]) != F.lit('"<redacted>"')),
    )
    rebuilt = _redact_addresses(
        F.to_json(
            F.transform_values(
                parsed,
                lambda k, v: F.when(secret(k), F.parse_json(F.lit('"<redacted>"'))).otherwise(v),
            )
        )
    )
    return F.when(parsed.isNotNull() & leaks, rebuilt).otherwise(text)


def _any_set(names: tuple[str, ...]) -> Column:
    return (
        F.greatest(*[F.col(n).isNotNull() for n in names])
        if len(names) > 1
        else F.col(names[0]).isNotNull()
    )


# --- the parser -----------------------------------------------------------------------
def parse_events(
    lines: DataFrame,
    *,
    ingest_cfg: dict,
    source: str | Column,
    missing_ms: str = "reject",
    durations: DataFrame | None = None,
) -> DataFrame:
    """Tag every line: a quarantine ``reason`` (null when accepted) and the canonical event.

    ``lines`` has ``value`` (one JSON object in the raw log's field names),
    ``source_file`` and optionally ``original`` (what quarantine keeps instead of
    ``value``: an adapter's input record before renaming). ``missing_ms`` is
    ``"reject"`` (the platform log: ms_played is required) or ``"default"`` (formats
    without it: ``track_duration_ms``, else the catalog's duration via ``durations``
    (track_key, artist_key, duration_ms), else ``ingest.default_ms_played``).

    Returns: source_file, reason, record (rejects only), ms_filled (null, or how a missing
    ms_played was filled: ``track_length`` or ``default``), year, month and
    the EVENT columns (meaningful when reason is null).
    """
    if missing_ms not in ("reject", "default"):
        raise ValueError(f"missing_ms must be 'reject' or 'default', got {missing_ms!r}")
    if "original" not in lines.columns:
        lines = lines.withColumn("original", F.lit(None).cast("string"))
    r = F.col("r")
    parsed = lines.select(
        "value",
        "source_file",
        "original",
        F.from_json(
            "value", _PARSE_SCHEMA, {"columnNameOfCorruptRecord": _CORRUPT, "mode": "PERMISSIVE"}
        ).alias("r"),
    )
    # Step 1: every field cleaned once (NFC, trimmed, blank -> null), as plain columns.
    c = F.col
    fields = parsed.select(
        "value",
        "source_file",
        "original",
        (r.isNull() | r[_CORRUPT].isNotNull()).alias("_corrupt"),
        *[clean_text(r[n]).alias(n) for n in PARSED_FIELDS],
    )
    # Step 2: conversions, each once.
    is_track, is_episode, is_book = (
        _any_set(TRACK_FIELDS),
        _any_set(EPISODE_FIELDS),
        _any_set(AUDIOBOOK_FIELDS),
    )
    typed = fields.select(
        "*",
        parse_ts(c("ts")).alias("_ts"),
        c("ms_played").try_cast("bigint").alias("_ms"),
        F.when(is_track, "track")
        .when(is_episode, "episode")
        .when(is_book, "audiobook")
        .alias("_kind"),
        *[strict_bool(c(n)).alias(f"_{n}") for n in BOOL_FIELDS],
    )
    # Step 3: the first reason that applies (docs/ingest.md, "Reason codes").
    earliest = F.make_timestamp(
        F.lit(ingest_cfg["earliest_year"]), F.lit(1), F.lit(1), F.lit(0), F.lit(0), F.lit(0)
    )
    end = F.make_timestamp(
        F.lit(ingest_cfg["latest_year"] + 1), F.lit(1), F.lit(1), F.lit(0), F.lit(0), F.lit(0)
    )
    ts, ms = c("_ts"), c("_ms")
    reason = (
        F.when(~F.is_valid_utf8("value"), "bad_encoding")
        .when(
            c("_corrupt"),
            F.when(F.try_parse_json(c("value")).isNotNull(), "not_an_object").otherwise("bad_json"),
        )
        .when(c("user_id").isNull(), "missing_user_id")
        .when(c("ts").isNull(), "missing_ts")
        .when(ts.isNull() | (ts < earliest) | (ts >= end), "bad_ts")
    )
    if missing_ms == "reject":
        reason = reason.when(c("ms_played").isNull(), "missing_ms_played")
    reason = (
        reason.when(c("ms_played").isNotNull() & ms.isNull(), "bad_type:ms_played")
        .when(ms < 0, "negative_ms")
        .when(ms > ingest_cfg["max_ms_played"], "implausible_ms")
    )
    for name in BOOL_FIELDS:
        reason = reason.when(c(name).isNotNull() & c(f"_{name}").isNull(), f"bad_type:{name}")
    reason = reason.when(c("_kind").isNull(), "unknown_kind")

    book = c("_kind") == "audiobook"
    df = typed.select(
        "source_file",
        "original",
        "value",
        reason.alias("reason"),
        "user_id",
        ts.alias("ts"),
        ms.alias("ms_raw"),
        c("track_duration_ms").try_cast("bigint").alias("duration_hint"),
        c("_kind").alias("kind"),
        c("spotify_track_uri").alias("track_uri"),
        c("master_metadata_track_name").alias("track_name"),
        c("master_metadata_album_artist_name").alias("artist_name"),
        c("master_metadata_album_album_name").alias("album_name"),
        F.when(book, F.coalesce("audiobook_chapter_uri", "audiobook_uri"))
        .otherwise(c("spotify_episode_uri"))
        .alias("episode_uri"),
        F.when(book, c("audiobook_chapter_title"))
        .otherwise(c("episode_name"))
        .alias("episode_name"),
        F.when(book, c("audiobook_title")).otherwise(c("episode_show_name")).alias("show_name"),
        "platform",
        F.upper("conn_country").alias("country"),
        F.coalesce(c("_incognito_mode"), F.lit(False)).alias("private_session"),
        c("_skipped").alias("skipped"),
        c("_shuffle").alias("shuffle"),
        c("_offline").alias("offline"),
        "reason_start",
        "reason_end",
    )

    if missing_ms == "default":
        known = F.col("duration_hint")
        if durations is not None:
            df = df.join(
                F.broadcast(
                    durations.select(
                        "track_key", "artist_key", F.col("duration_ms").alias("catalog_ms")
                    )
                ),
                on=[
                    F.lower(df.track_name) == F.col("track_key"),
                    F.lower(df.artist_name) == F.col("artist_key"),
                ],
                how="left",
            ).drop("track_key", "artist_key")
            known = F.coalesce(known, F.col("catalog_ms"))
        ms_played = F.when(
            F.col("ms_raw").isNull(), F.coalesce(known, F.lit(ingest_cfg["default_ms_played"]))
        )
        ms_played = ms_played.otherwise(F.col("ms_raw"))
        filled = F.when(
            F.col("ms_raw").isNull() & F.col("reason").isNull(),
            F.when(known.isNotNull(), "track_length").otherwise("default"),
        )
    else:
        ms_played, filled = F.col("ms_raw"), F.lit(None).cast("string")

    df = df.withColumn("ms_played", ms_played).withColumn("ms_filled", filled)
    return df.select(
        "source_file",
        "reason",
        F.when(F.col("reason").isNotNull(), redact(F.coalesce("original", "value"))).alias(
            "record"
        ),
        "ms_filled",
        event_id().alias("event_id"),
        *[c for c in schemas.column_names(schemas.EVENT) if c not in ("event_id", "source")],
        (source if isinstance(source, Column) else F.lit(source)).alias("source"),
        F.year("ts").alias("year"),
        F.month("ts").alias("month"),
    )


def event_id() -> Column:
    """sha2 of what identifies a play: who, when it stopped, how long, and what (the
    item's URI, or its names where a format has no URIs). Two copies of one play get
    one id whatever file or export they came from; ``source`` is not part of it."""
    item = F.when(
        F.col("kind") == "track",
        F.coalesce(
            "track_uri", F.concat_ws("\u0001", F.lower("track_name"), F.lower("artist_name"))
        ),
    ).otherwise(
        F.coalesce(
            "episode_uri", F.concat_ws("\u0001", F.lower("episode_name"), F.lower("show_name"))
        )
    )
    key = F.to_json(
        F.struct(
            F.col("user_id").alias("u"),
            F.unix_micros("ts").alias("t"),
            F.col("ms_played").alias("m"),
            F.col("kind").alias("k"),
            item.alias("i"),
        )
    )
    return F.substring(F.sha2(key, 256), 1, 32)


def accepted_events(tagged: DataFrame) -> DataFrame:
    """One row per event_id among the accepted lines, chosen deterministically: the
    copy from the first source file (by name), then the smallest row. Carries
    ``source_file`` of the kept copy, so duplicates can be counted per file."""
    cols = [c for c in schemas.column_names(schemas.EVENT) if c != "event_id"] + ["year", "month"]
    best = F.min(F.struct(F.col("source_file"), *[F.col(c) for c in cols])).alias("best")
    return (
        tagged.where(F.col("reason").isNull())
        .groupBy("event_id")
        .agg(best)
        .select("event_id", "best.*")
    )
