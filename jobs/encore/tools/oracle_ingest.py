"""DuckDB doing ingest's job: the benchmark's other engine for ingest
(docs/benchmark.md, "Ingest beside DuckDB").

``ingest_events`` reads the raw platform log the way ``encore ingest`` does — every
field as text, NFC, the same white space trimmed, blank -> null, the same casts and
checks, the same ``event_id``, erased listeners dropped, one row per ``event_id`` — in
SQL that shares no code with the ingest job (only the raw and event schemas and the
white-space list, which are the contract); ``compare_events`` checks its output against
Spark's ``events/`` row by row.
"""

from __future__ import annotations

import os

from encore.platform import schemas
from encore.tools.oracle import connect, erased_sql

# Every field of the raw log's contract (schemas.RAW_EVENT) but the IP address, read as
# text (the Spark parser's all-string schema); those the events do not keep are read too,
# as Spark's parser reads them.
_RAW_TEXT_FIELDS = tuple(f.name for f in schemas.RAW_EVENT if f.name != "ip_addr")
_BOOLS = ("shuffle", "skipped", "offline", "incognito_mode")
EVENT_COLUMNS = tuple(schemas.column_names(schemas.EVENT))


def _sql_text(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def ingest_events(data: str, out: str, cfg: dict) -> dict:
    """DuckDB doing ingest's job on ``data``'s raw platform log: every gzip JSON Lines
    file of ``raw/events`` read once with every field as text, each field NFC-normalised,
    trimmed of the same white space and blank -> null, the same casts and checks
    (docs/ingest.md, "Reason codes"), the same ``event_id`` (sha2 of the same JSON key),
    erased listeners dropped, one row per ``event_id`` (the copy from the first file,
    then the smallest row), written to ``out`` as Parquet by year and month.

    What it leaves out of Spark's job: the quarantine (rejected records are counted, not
    redacted and stored), the per-file reconciliation and the month-by-month merge with
    an existing ``events/``. Lines that are not JSON objects or not UTF-8 are dropped by
    DuckDB's reader (Spark quarantines them). Returns counts."""
    from encore.platform.text import WHITESPACE

    ing = cfg["ingest"]
    files = sorted(
        os.path.join(dp, f)
        for dp, _dirs, names in os.walk(os.path.join(data, "raw", "events"))
        for f in names
        if f.endswith((".jsonl.gz", ".jsonl", ".json", ".json.gz"))
        and not any(p.startswith((".", "_")) for p in os.path.relpath(dp, data).split(os.sep))
    )
    if not files:
        raise FileNotFoundError(f"no raw/events files under {data}")
    ws = _sql_text(WHITESPACE)
    columns = "{" + ", ".join(f"'{f}': 'VARCHAR'" for f in _RAW_TEXT_FIELDS) + "}"
    clean = ",\n".join(
        f"nullif(trim(nfc_normalize({f}), {ws}), '') AS {f}" for f in _RAW_TEXT_FIELDS
    )
    bools = ",\n".join(
        f"CASE lower({b}) WHEN 'true' THEN true WHEN 'false' THEN false END AS _{b}" for b in _BOOLS
    )
    bool_ok = " AND ".join(f"({b} IS NULL OR _{b} IS NOT NULL)" for b in _BOOLS)
    file_list = "[" + ", ".join(_sql_text(f) for f in files) + "]"
    lo, hi = f"{ing['earliest_year']}-01-01", f"{ing['latest_year'] + 1}-01-01"
    # one row per event_id, the first by (file, every column): a window partitioned by
    # event_id (each partition sorted on its own) — DISTINCT ON ... ORDER BY event_id and
    # the same columns gives the same rows but sorts all of them on the wide key, 14x
    # slower here (10.1 s against 0.7 s on one 329,430-line file of the 5 M bench)
    order = ", ".join(f"{c} NULLS FIRST" for c in ("source_file", *EVENT_COLUMNS[1:]))
    con = connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"""
        CREATE TEMP TABLE tagged AS
        WITH raw AS (
            SELECT filename AS source_file, {", ".join(_RAW_TEXT_FIELDS)}
            FROM read_json({file_list}, format = 'newline_delimited', columns = {columns},
                           ignore_errors = true, filename = true)
        ), fields AS (
            SELECT source_file, {clean} FROM raw
        ), typed AS (
            SELECT *,
                CASE WHEN regexp_full_match(ts, '[0-9]{{1,11}}') THEN to_timestamp(ts::BIGINT)
                     WHEN regexp_matches(ts, '^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}[T ][0-9]{{2}}:[0-9]{{2}}')
                     THEN try_cast(ts AS TIMESTAMPTZ) END AS _ts,
                try_cast(ms_played AS BIGINT) AS _ms,
                CASE WHEN spotify_track_uri IS NOT NULL OR master_metadata_track_name IS NOT NULL
                     THEN 'track'
                     WHEN spotify_episode_uri IS NOT NULL OR episode_name IS NOT NULL
                          OR episode_show_name IS NOT NULL THEN 'episode'
                     WHEN audiobook_title IS NOT NULL OR audiobook_uri IS NOT NULL
                          OR audiobook_chapter_uri IS NOT NULL OR audiobook_chapter_title IS NOT NULL
                     THEN 'audiobook' END AS _kind,
                {bools}
            FROM fields
        )
        SELECT *,
            user_id IS NOT NULL AND _ts >= TIMESTAMPTZ '{lo}' AND _ts < TIMESTAMPTZ '{hi}'
            AND _ms IS NOT NULL AND _ms BETWEEN 0 AND {int(ing["max_ms_played"])}
            AND {bool_ok} AND _kind IS NOT NULL AS ok
        FROM typed
    """)
    con.execute(f"""
        CREATE TEMP TABLE accepted AS
        WITH ev AS (
            SELECT source_file, user_id, _ts AS ts, _ms AS ms_played, _kind AS kind,
                spotify_track_uri AS track_uri, master_metadata_track_name AS track_name,
                master_metadata_album_artist_name AS artist_name,
                master_metadata_album_album_name AS album_name,
                CASE WHEN _kind = 'audiobook' THEN coalesce(audiobook_chapter_uri, audiobook_uri)
                     ELSE spotify_episode_uri END AS episode_uri,
                CASE WHEN _kind = 'audiobook' THEN audiobook_chapter_title
                     ELSE episode_name END AS episode_name,
                CASE WHEN _kind = 'audiobook' THEN audiobook_title
                     ELSE episode_show_name END AS show_name,
                platform, upper(conn_country) AS country,
                coalesce(_incognito_mode, false) AS private_session,
                _skipped AS skipped, _shuffle AS shuffle, _offline AS offline,
                reason_start, reason_end, 'platform-log' AS source
            FROM tagged
            WHERE ok AND user_id NOT IN ({erased_sql(data)})
        ), ided AS (
            SELECT substr(sha256(json_object(
                'u', user_id, 't', epoch_us(ts), 'm', ms_played, 'k', kind,
                'i', CASE WHEN kind = 'track'
                          THEN coalesce(track_uri, concat_ws(chr(1), lower(track_name), lower(artist_name)))
                          ELSE coalesce(episode_uri, concat_ws(chr(1), lower(episode_name), lower(show_name)))
                     END)), 1, 32) AS event_id, *
            FROM ev
        )
        SELECT {", ".join(EVENT_COLUMNS)}, year(ts) AS year, month(ts) AS month
        FROM ided
        QUALIFY row_number() OVER (PARTITION BY event_id ORDER BY {order}) = 1
    """)
    con.execute(
        f"COPY accepted TO {_sql_text(out)} "
        "(FORMAT parquet, PARTITION_BY (year, month), OVERWRITE_OR_IGNORE)"
    )
    read, ok = con.execute("SELECT count(*), count(*) FILTER (ok) FROM tagged").fetchone()
    kept = con.execute("SELECT count(*) FROM accepted").fetchone()[0]
    con.close()
    return {"files": len(files), "parsed": read, "valid": ok, "events": kept}


def compare_events(spark_events: str, duck_events: str) -> dict:
    """Spark's ``events/`` and DuckDB's, row by row on every event column: how many rows
    each has and how many of each side's rows the other lacks (0 and 0: equal), with one
    differing row of Spark's as an example (without its user id: bench output names no
    listener)."""
    con = connect()
    con.execute("SET TimeZone = 'UTC'")
    cols = ", ".join(EVENT_COLUMNS)
    src = lambda p: f"read_parquet('{p}/**/*.parquet', hive_partitioning = false)"  # noqa: E731
    spark_n, duck_n, only_spark, only_duck = con.execute(f"""
        WITH s AS (SELECT {cols} FROM {src(spark_events)}),
             d AS (SELECT {cols} FROM {src(duck_events)})
        SELECT (SELECT count(*) FROM s), (SELECT count(*) FROM d),
               (SELECT count(*) FROM (SELECT * FROM s EXCEPT ALL SELECT * FROM d)),
               (SELECT count(*) FROM (SELECT * FROM d EXCEPT ALL SELECT * FROM s))
    """).fetchone()
    example = None
    if only_spark or only_duck:
        example = con.execute(f"""
            SELECT * EXCLUDE (user_id) FROM (SELECT {cols} FROM {src(spark_events)} EXCEPT ALL
                           SELECT {cols} FROM {src(duck_events)}) LIMIT 1
        """).fetchall()
    con.close()
    return {
        "spark_rows": spark_n,
        "duckdb_rows": duck_n,
        "only_spark": only_spark,
        "only_duckdb": only_duck,
        "equal": only_spark == 0 and only_duck == 0,
        "example": [str(v) for v in example[0]] if example else None,
    }
