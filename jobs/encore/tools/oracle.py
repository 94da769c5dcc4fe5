"""An independent implementation of recap-rules.md in SQL on DuckDB: the benchmark's
other engine and the recap job's oracle.

It reads the same canonical events, catalogs and erasures as the recap job, but shares
none of its code: only the IANA offset table (``encore.platform.localtime``), so that
both engines read every clock from the same time-zone rules. ``core_recaps`` computes
the seven columns the bench times against the recap job's own functions;
``all_recaps`` computes every column of ``recaps/year=Y`` and is compared with the
recaps stage listener by listener (``encore bench``, tests/jobs/test_bench.py).
"""

from __future__ import annotations

import os
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import TYPE_CHECKING

from encore.platform import config

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

CORE_COLUMNS = (
    "listening_minutes",
    "streams",
    "top_artists",
    "top_tracks",
    "peak_hour",
    "busiest_day",
    "longest_streak_days",
)


def connect() -> duckdb.DuckDBPyConnection:
    import duckdb

    con = duckdb.connect()
    con.execute(f"SET threads TO {os.cpu_count() or 1}")
    con.execute("SET enable_progress_bar = false")
    return con


def _has_parquet(folder: str) -> bool:
    return os.path.isdir(folder) and any(f.endswith(".parquet") for f in os.listdir(folder))


def erased_sql(data: str) -> str:
    folder = os.path.join(data, "privacy", "erasures")
    if _has_parquet(folder):
        return f"SELECT user_id FROM read_parquet('{folder}/*.parquet')"
    return "SELECT NULL::VARCHAR AS user_id WHERE false"


def _table_sql(data: str, name: str, columns: dict[str, str]) -> str:
    """A dimension table, or an empty one with the same columns when it is absent."""
    folder = os.path.join(data, name)
    if _has_parquet(folder):
        return f"SELECT {', '.join(columns)} FROM read_parquet('{folder}/*.parquet')"
    cols = ", ".join(f"NULL::{t} AS {c}" for c, t in columns.items())
    return f"SELECT {cols} WHERE false"


def _offsets_arrow(zones: list, start, end) -> pa.Table:
    """localtime.offset_rows as an Arrow table for DuckDB (instants as UTC timestamps)."""
    import pyarrow as pa

    from encore.platform import localtime

    rows = localtime.offset_rows(zones, start, end)
    utc = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "zone": pa.array([r[0] for r in rows], pa.string()),
            "t_from": pa.array([r[1] for r in rows], utc),
            "t_until": pa.array([r[2] for r in rows], utc),
            "offset_s": pa.array([r[3] for r in rows], pa.int64()),
        }
    )


def _plays_sql(con: duckdb.DuckDBPyConnection, data: str, year: int, cfg: dict) -> str:
    """The CTEs ``tz`` and ``plays``: the window's plays of non-erased listeners with their
    local time, the private flag and whether each is a stream (registers tz_offsets)."""
    r = cfg["recaps"]
    start, end = f"{year}-{r['window_start']} 00:00:00+00", f"{year}-{r['window_end']} 00:00:00+00"
    events = os.path.join(data, "events", "**", "*.parquet")
    users = _table_sql(data, "users", {"user_id": "VARCHAR", "timezone": "VARCHAR"})
    # Local time: the same IANA offsets the recap job uses (encore.localtime, the shipped
    # tzdata), not DuckDB's ICU data, so the two agree by construction.
    zones = [z for (z,) in con.execute(f"SELECT DISTINCT timezone FROM ({users})").fetchall()]
    con.register("tz_offsets", _offsets_arrow(zones, *config.window_datetimes(cfg, year)))
    return f"""
    tz AS (  -- a zone the shipped database does not know counts as UTC, as in the recap job
      SELECT user_id, min(timezone) AS tz FROM ({users})
      WHERE timezone IN (SELECT zone FROM tz_offsets) GROUP BY user_id
    ),
    plays AS (
      SELECT e.user_id, e.ts, e.ms_played, e.kind, e.artist_name, e.track_name, e.album_name,
             e.show_name, e.track_uri, coalesce(e.private_session, false) AS private,
             timezone('UTC', e.ts) + to_seconds(coalesce(o.offset_s, 0)) AS local_ts,
             (e.kind = 'track' AND e.ms_played >= {r["stream_min_ms"]} AND NOT coalesce(e.private_session, false)) AS is_stream
      FROM read_parquet('{events}', hive_partitioning = true) e
      LEFT JOIN tz USING (user_id)
      LEFT JOIN tz_offsets o ON o.zone = tz.tz AND e.ts >= o.t_from AND e.ts < o.t_until
      WHERE e.year = {year} AND e.ts >= TIMESTAMPTZ '{start}' AND e.ts < TIMESTAMPTZ '{end}'
        AND e.user_id NOT IN ({erased_sql(data)})
    )"""


def _fetch(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    cur = con.execute(sql)
    cols = [d[0] for d in cur.description]
    for row in cur.fetchall():
        rec = dict(zip(cols, row, strict=True))
        out[rec.pop("user_id")] = rec
    return out


# Shared by both queries: per-listener stream statistics, ranked lists, the busiest day
# and the longest streak (after `plays`).
_STATS = """
    streams AS (SELECT * FROM plays WHERE is_stream),
    artist_streams AS (
      SELECT user_id, artist_name, count(*) AS streams, sum(ms_played) AS ms FROM streams
      WHERE artist_name IS NOT NULL GROUP BY ALL
    ),
    track_streams AS (
      SELECT user_id, artist_name, track_name, count(*) AS streams, sum(ms_played) AS ms FROM streams
      WHERE artist_name IS NOT NULL AND track_name IS NOT NULL GROUP BY ALL
    ),
    hours AS (
      SELECT user_id, hour(local_ts) AS h, sum(ms_played) AS ms FROM plays
      WHERE NOT private GROUP BY ALL
    ),
    peak AS (SELECT user_id, arg_max(h, ms * 100 - h) AS peak_hour FROM hours GROUP BY user_id),
    days AS (
      SELECT user_id, CAST(local_ts AS DATE) AS d, sum(ms_played) AS ms FROM plays
      WHERE NOT private GROUP BY ALL
    ),
    busiest AS (
      SELECT user_id, arg_max(d, ms * 100000 - (d - DATE '1970-01-01')) AS busiest_day,
             max(ms) // 60000 AS busiest_day_minutes
      FROM days GROUP BY user_id
    ),
    stream_days AS (SELECT DISTINCT user_id, CAST(local_ts AS DATE) AS d FROM streams),
    islands AS (
      SELECT user_id, d - CAST(row_number() OVER (PARTITION BY user_id ORDER BY d) AS INTEGER) AS grp
      FROM stream_days
    ),
    streaks AS (
      SELECT user_id, max(n) AS longest_streak_days
      FROM (SELECT user_id, grp, count(*) AS n FROM islands GROUP BY ALL) GROUP BY user_id
    )"""


def core_recaps(data: str, year: int, cfg: dict) -> dict[str, dict]:
    """CORE_COLUMNS for every listener with a play in the window: {user_id: {column: value}}."""
    r = cfg["recaps"]
    con = connect()
    sql = f"""
    WITH {_plays_sql(con, data, year, cfg)},
    {_STATS},
    totals AS (
      SELECT user_id, sum(ms_played) // 60000 AS listening_minutes, count(*) FILTER (WHERE is_stream) AS streams
      FROM plays GROUP BY user_id
    ),
    top_artists AS (
      SELECT user_id, list({{'artist_name': artist_name, 'streams': streams, 'minutes': ms // 60000}}
                           ORDER BY streams DESC, ms DESC, artist_name ASC)[1:{r["top_n"]}] AS top_artists
      FROM artist_streams GROUP BY user_id
    ),
    top_tracks AS (
      SELECT user_id, list({{'track_name': track_name, 'artist_name': artist_name, 'streams': streams, 'minutes': ms // 60000}}
                           ORDER BY streams DESC, ms DESC, artist_name ASC, track_name ASC)[1:{r["top_n"]}] AS top_tracks
      FROM track_streams GROUP BY user_id
    )
    SELECT t.user_id, t.listening_minutes, t.streams, coalesce(a.top_artists, []) AS top_artists,
           coalesce(k.top_tracks, []) AS top_tracks, p.peak_hour, b.busiest_day,
           coalesce(s.longest_streak_days, 0) AS longest_streak_days
    FROM totals t
    LEFT JOIN top_artists a USING (user_id) LEFT JOIN top_tracks k USING (user_id)
    LEFT JOIN peak p USING (user_id) LEFT JOIN busiest b USING (user_id) LEFT JOIN streaks s USING (user_id)
    """
    return _fetch(con, sql)


def _percent_sql(identity: str, buckets: str, min_listeners: int, stats: str) -> str:
    """The top-listener percent of each eligible listener's #1 item (ranking order), its
    population the eligible listeners with a stream of that item."""
    return f"""(
      WITH pop AS (SELECT * FROM {stats} WHERE user_id IN (SELECT user_id FROM eligible)),
      first AS (
        SELECT * FROM pop
        QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY streams DESC, ms DESC, {identity}) = 1
      ),
      placed AS (
        SELECT f.user_id, 1 + count(*) FILTER (WHERE p.streams > f.streams) AS place,
               count(*) AS listeners
        FROM first f JOIN pop p USING ({identity}) GROUP BY f.user_id
      )
      SELECT user_id, list_min(list_filter([{buckets}],
               lambda b: b * listeners::DECIMAL(20,0) >= place::DECIMAL(20,0) * 100))::DOUBLE AS pct
      FROM placed WHERE listeners >= {min_listeners}
    )"""


def _share(part: str, share: float, whole: str) -> str:
    """part ≥ share × whole in exact decimals, as the recap rules compare shares."""
    return f"{part}::DECIMAL(20,0) >= {share}::DECIMAL(10,4) * {whole}::DECIMAL(20,0)"


def all_recaps(data: str, year: int, cfg: dict) -> dict[str, dict]:
    """Every column of recaps/year=Y (but user_id and year) for every listener with a
    play in the window: {user_id: {column: value}}."""
    r = cfg["recaps"]
    con = connect()
    start = f"{year}-{r['window_start']} 00:00:00+00"
    events = os.path.join(data, "events", "**", "*.parquet")
    tracks = _table_sql(data, "catalog/tracks", {"track_uri": "VARCHAR", "release_year": "INTEGER"})
    artists = _table_sql(data, "catalog/artists", {"artist_name": "VARCHAR", "genres": "VARCHAR[]"})
    buckets = ", ".join(f"{b}::DECIMAL(10,4)" for b in r["percentile_buckets"])
    n = r["top_n"]
    hourly = ", ".join(f"coalesce(sum(ms) FILTER (WHERE h = {h}), 0) // 60000" for h in range(24))
    monthly = ", ".join(
        f"coalesce(sum(ms_played) FILTER (WHERE NOT private AND month(local_ts) = {m}), 0) // 60000"
        for m in range(1, 13)
    )
    month_top = ", ".join(f"max(artist_name) FILTER (WHERE m = {m})" for m in range(1, 13))
    last_year = os.path.join(data, "recaps", f"year={year - 1}")
    last = (
        f"SELECT user_id, listening_minutes FROM read_parquet('{last_year}/*.parquet')"
        if _has_parquet(last_year)
        else "SELECT NULL::VARCHAR AS user_id, NULL::BIGINT AS listening_minutes WHERE false"
    )
    stream = f"kind = 'track' AND ms_played >= {r['stream_min_ms']} AND NOT coalesce(private_session, false)"
    sql = f"""
    WITH {_plays_sql(con, data, year, cfg)},
    {_STATS},
    totals AS (
      SELECT user_id,
             sum(ms_played) // 60000 AS listening_minutes,
             coalesce(sum(ms_played) FILTER (WHERE kind = 'track'), 0) // 60000 AS music_minutes,
             coalesce(sum(ms_played) FILTER (WHERE kind = 'episode'), 0) // 60000 AS podcast_minutes,
             count(*) FILTER (WHERE is_stream) AS streams,
             [{monthly}] AS monthly_minutes,
             count(*) FILTER (WHERE NOT private) AS public_plays
      FROM plays GROUP BY user_id
    ),
    n_artists AS (SELECT user_id, count(*) AS distinct_artists FROM artist_streams GROUP BY user_id),
    n_tracks AS (SELECT user_id, count(*) AS distinct_tracks FROM track_streams GROUP BY user_id),
    base AS (
      SELECT t.*, coalesce(a.distinct_artists, 0) AS distinct_artists,
             coalesce(k.distinct_tracks, 0) AS distinct_tracks,
             (t.streams >= {r["eligible_min_streams"]}
              AND coalesce(a.distinct_artists, 0) >= {r["eligible_min_distinct_artists"]}) AS eligible
      FROM totals t LEFT JOIN n_artists a USING (user_id) LEFT JOIN n_tracks k USING (user_id)
    ),
    eligible AS (SELECT user_id FROM base WHERE eligible),
    hourly AS (SELECT user_id, [{hourly}] AS hourly_minutes FROM hours GROUP BY user_id),
    top_artists AS (
      SELECT user_id,
             list({{'artist_name': artist_name, 'streams': streams, 'minutes': ms // 60000}}
                  ORDER BY streams DESC, ms DESC, artist_name)[1:{n}] AS top_artists,
             list_sum(list(streams ORDER BY streams DESC, ms DESC, artist_name)[1:{n}]) AS top_streams
      FROM artist_streams GROUP BY user_id
    ),
    top_tracks AS (
      SELECT user_id,
             list({{'track_name': track_name, 'artist_name': artist_name, 'streams': streams, 'minutes': ms // 60000}}
                  ORDER BY streams DESC, ms DESC, artist_name, track_name)[1:{n}] AS top_tracks,
             list({{'track_name': track_name, 'artist_name': artist_name}}
                  ORDER BY streams DESC, ms DESC, artist_name, track_name)[1:{r["top_songs_n"]}] AS top_songs
      FROM track_streams GROUP BY user_id
    ),
    top_albums AS (
      SELECT user_id,
             list({{'album_name': album_name, 'artist_name': artist_name, 'streams': streams}}
                  ORDER BY streams DESC, ms DESC, artist_name, album_name)[1:{n}] AS top_albums
      FROM (SELECT user_id, artist_name, album_name, count(*) AS streams, sum(ms_played) AS ms
            FROM streams WHERE artist_name IS NOT NULL AND album_name IS NOT NULL GROUP BY ALL)
      GROUP BY user_id
    ),
    genre_of AS (
      SELECT DISTINCT artist_name, genre FROM (SELECT artist_name, unnest(genres) AS genre FROM ({artists}))
      WHERE genre IS NOT NULL AND trim(genre) <> ''
    ),
    genres AS (
      SELECT user_id, list({{'genre': genre, 'streams': credits}} ORDER BY credits DESC, genre)[1:{n}] AS top_genres,
             count(*) AS distinct_genres
      FROM (SELECT a.user_id, g.genre, sum(a.streams) AS credits
            FROM artist_streams a JOIN genre_of g USING (artist_name) GROUP BY ALL)
      GROUP BY user_id
    ),
    podcasts AS (
      SELECT user_id, list({{'show_name': show_name, 'minutes': ms // 60000}} ORDER BY ms DESC, show_name)[1:{n}] AS top_podcasts
      FROM (SELECT user_id, show_name, sum(ms_played) AS ms FROM plays
            WHERE kind = 'episode' AND NOT private AND show_name IS NOT NULL GROUP BY ALL)
      GROUP BY user_id
    ),
    month_firsts AS (
      SELECT user_id, m, artist_name FROM (
        SELECT user_id, month(local_ts) AS m, artist_name, count(*) AS streams, sum(ms_played) AS ms
        FROM streams WHERE artist_name IS NOT NULL GROUP BY ALL)
      QUALIFY row_number() OVER (PARTITION BY user_id, m ORDER BY streams DESC, ms DESC, artist_name) = 1
    ),
    months AS (SELECT user_id, [{month_top}] AS monthly_top_artist FROM month_firsts GROUP BY user_id),
    history AS (
      SELECT DISTINCT user_id, artist_name FROM read_parquet('{events}', hive_partitioning = true)
      WHERE ts < TIMESTAMPTZ '{start}' AND {stream} AND user_id NOT IN ({erased_sql(data)})
    ),
    fresh AS (
      SELECT a.user_id, count(*) AS n FROM artist_streams a
      WHERE NOT EXISTS (SELECT 1 FROM history h WHERE h.user_id = a.user_id AND h.artist_name = a.artist_name)
      GROUP BY a.user_id
    ),
    new_artists AS (
      SELECT h.user_id, coalesce(f.n, 0) AS new_artists
      FROM (SELECT DISTINCT user_id FROM history) h LEFT JOIN fresh f USING (user_id)
    ),
    years AS (
      SELECT track_uri, min(release_year) AS release_year FROM ({tracks})
      WHERE track_uri IS NOT NULL AND release_year IS NOT NULL GROUP BY track_uri
    ),
    dated AS (
      SELECT s.user_id, y.release_year FROM streams s JOIN years y USING (track_uri)
    ),
    median AS (
      SELECT user_id, count(*) AS dated_streams,
             list_sort(list(release_year))[(count(*) - 1) // 2 + 1] AS median_year
      FROM dated GROUP BY user_id
    ),
    eras AS (
      SELECT user_id, first(span ORDER BY n DESC, span DESC) AS era FROM (
        SELECT user_id, CAST(floor(release_year / 5) * 5 AS INTEGER) AS span, count(*) AS n
        FROM dated GROUP BY ALL)
      GROUP BY user_id
    ),
    global_top AS (
      SELECT artist_name FROM artist_streams GROUP BY artist_name
      ORDER BY sum(streams) DESC, sum(ms) DESC, artist_name LIMIT {r["global_top_artists_n"]}
    ),
    common AS (
      SELECT user_id, sum(streams) AS common_streams FROM artist_streams
      WHERE artist_name IN (SELECT artist_name FROM global_top) GROUP BY user_id
    ),
    artist_pct AS {_percent_sql("artist_name", buckets, r["percentile_min_listeners"], "artist_streams")},
    track_pct AS {_percent_sql("artist_name, track_name", buckets, r["percentile_min_listeners"], "track_streams")},
    last AS ({last})
    SELECT b.user_id, b.eligible, b.listening_minutes, b.music_minutes, b.podcast_minutes,
           b.streams, b.distinct_tracks, b.distinct_artists,
           coalesce(tt.top_tracks, []) AS top_tracks, coalesce(ta.top_artists, []) AS top_artists,
           coalesce(al.top_albums, []) AS top_albums, coalesce(g.top_genres, []) AS top_genres,
           coalesce(pc.top_podcasts, []) AS top_podcasts, coalesce(tt.top_songs, []) AS top_songs,
           ap.pct AS top_artist_percent,
           coalesce(hr.hourly_minutes, [{", ".join("0" for _ in range(24))}]) AS hourly_minutes,
           CASE WHEN b.public_plays > 0 THEN p.peak_hour END AS peak_hour,
           b.monthly_minutes, coalesce(mo.monthly_top_artist, [{", ".join("NULL" for _ in range(12))}]::VARCHAR[]) AS monthly_top_artist,
           bu.busiest_day, bu.busiest_day_minutes, coalesce(st.longest_streak_days, 0) AS longest_streak_days,
           na.new_artists,
           CASE WHEN b.eligible AND coalesce(md.dated_streams, 0) * 2 >= b.streams AND na.new_artists IS NOT NULL THEN
             (CASE WHEN {_share("coalesce(ta.top_streams, 0)", r["loyal_share"], "b.streams")} THEN 'L' ELSE 'V' END)
             || (CASE WHEN md.median_year >= {year - r["new_release_years"]} THEN 'N' ELSE 'T' END)
             || (CASE WHEN {_share("coalesce(c.common_streams, 0)", r["common_share"], "b.streams")} THEN 'C' ELSE 'U' END)
             || (CASE WHEN {_share("na.new_artists", r["explorer_share"], "b.distinct_artists")} THEN 'E' ELSE 'F' END)
           END AS personality,
           ls.listening_minutes AS last_minutes,
           coalesce(g.distinct_genres, 0) AS distinct_genres,
           CASE WHEN b.eligible THEN tp.pct END AS top_track_percent,
           CASE WHEN b.eligible AND coalesce(md.dated_streams, 0) * 2 >= b.streams THEN e.era END AS listening_era
    FROM base b
    LEFT JOIN top_tracks tt USING (user_id) LEFT JOIN top_artists ta USING (user_id)
    LEFT JOIN top_albums al USING (user_id) LEFT JOIN genres g USING (user_id)
    LEFT JOIN podcasts pc USING (user_id) LEFT JOIN artist_pct ap USING (user_id)
    LEFT JOIN track_pct tp USING (user_id) LEFT JOIN hourly hr USING (user_id)
    LEFT JOIN peak p USING (user_id) LEFT JOIN months mo USING (user_id)
    LEFT JOIN busiest bu USING (user_id) LEFT JOIN streaks st USING (user_id)
    LEFT JOIN new_artists na USING (user_id) LEFT JOIN median md USING (user_id)
    LEFT JOIN eras e USING (user_id) LEFT JOIN common c USING (user_id)
    LEFT JOIN last ls USING (user_id)
    """
    out = _fetch(con, sql)
    for rec in out.values():
        era = rec["listening_era"]
        rec["listening_age"] = None if era is None else year - (era + 2) + 18
        rec["minutes_change_pct"] = change_pct(rec["listening_minutes"], rec.pop("last_minutes"))
    return out


def change_pct(minutes: int, last: int | None) -> float | None:
    """100 · (minutes − last) / last rounded to one decimal, half away from zero, exactly."""
    if not last:
        return None
    exact = Fraction(100 * (minutes - last), last)
    tenths = Decimal(exact.numerator) / Decimal(exact.denominator)
    return float(tenths.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
