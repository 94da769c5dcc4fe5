"""Recaps (recap-rules.md) on tiny hand-made fixtures. Every expected value is worked
out by hand in the comments next to it; the job is built once per fixture and the
rows are compared column by column."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from encore import recaps
from encore.platform import schemas
from encore.platform.context import RunContext
from encore.recaps import job as recaps_job

Y = 2025
_ids = itertools.count()


def ts(text: str) -> dt.datetime:
    """'2025-03-10T10:00:00' read as UTC."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def play(
    user,
    when,
    ms,
    *,
    kind="track",
    artist=None,
    track=None,
    album=None,
    uri=None,
    show=None,
    private=False,
):
    """One canonical event (schemas.EVENT order)."""
    return (
        f"e{next(_ids)}",
        user,
        ts(when),
        ms,
        kind,
        uri,
        track,
        artist,
        album,
        None,
        "ep" if kind == "episode" else None,
        show,
        "ios",
        "SE",
        private,
        False,
        False,
        False,
        "clickrow",
        "trackdone",
        "test",
    )


def streams(user, when, n, artist, track="Song", ms=30000, **kw):
    """``n`` identical stream plays one minute apart from ``when``."""
    start = ts(when)
    return [
        play(
            user,
            (start + dt.timedelta(minutes=i)).isoformat()[:19],
            ms,
            artist=artist,
            track=track,
            **kw,
        )
        for i in range(n)
    ]


def events_df(spark, rows):
    return spark.createDataFrame(rows, schemas.spark_schema(schemas.EVENT))


def users_df(spark, rows):
    """rows: (user_id, timezone, marketing_opt_out)."""
    return spark.createDataFrame(
        [(u, "SE", 1990, tz, ts("2020-01-01T00:00:00"), opt) for u, tz, opt in rows],
        schemas.spark_schema(schemas.USERS),
    )


def tracks_df(spark, rows):
    """rows: (track_uri, artist_name, track_name, release_year)."""
    return spark.createDataFrame(
        [(u, t, a, None, y, 200000) for u, a, t, y in rows], schemas.spark_schema(schemas.TRACKS)
    )


def artists_df(spark, rows):
    return spark.createDataFrame(rows, schemas.spark_schema(schemas.ARTISTS))


def ids_df(spark, ids):
    return spark.createDataFrame([(u,) for u in ids], "user_id string")


def previous_df(spark, rows):
    return spark.createDataFrame(rows, "user_id string, listening_minutes long")


def by_user(df):
    return {r["user_id"]: r.asDict(recursive=True) for r in df.collect()}


def zeros(n, **at):
    out = [0] * n
    for k, v in at.items():
        out[int(k[1:])] = v
    return out


# ---------------------------------------------------------------------------------
# The main fixture: one listener per edge.
# ---------------------------------------------------------------------------------


def main_fixture(spark):
    ev = []
    # --- "rank": ranking ties; eligible; UTC (timezone null in users) ------------------
    # Abe 8 streams x 40 000 ms (Alt 4, Hit 4, album "First"); Zed 8 x 30 000; Bob, abe,
    # Éva 6 x 30 000 each; Cy 1 x 30 000. All on 2025-03-10 from 10:00, one a minute.
    ev += streams(
        "rank", "2025-03-10T10:00:00", 4, "Abe", "Hit", ms=40000, album="First", uri="u:hit"
    )
    ev += streams(
        "rank", "2025-03-10T10:04:00", 4, "Abe", "Alt", ms=40000, album="First", uri="u:alt"
    )
    ev += streams("rank", "2025-03-10T10:08:00", 8, "Zed", uri="u:zed")
    ev += streams("rank", "2025-03-10T10:16:00", 6, "Bob", uri="u:bob")
    ev += streams("rank", "2025-03-10T10:22:00", 6, "abe", uri="u:abe")
    ev += streams("rank", "2025-03-10T10:28:00", 6, "Éva", uri="u:eva")
    ev += streams("rank", "2025-03-10T10:34:00", 1, "Cy", uri="u:cy")
    # history (2024): Zed and Bob streamed; Abe only privately; Cy only 29 999 ms
    ev += [
        play("rank", "2024-06-01T10:00:00", 30000, artist="Zed", track="Song"),
        play("rank", "2024-06-01T11:00:00", 30000, artist="Bob", track="Song"),
        play("rank", "2024-06-01T12:00:00", 30000, artist="Abe", track="Hit", private=True),
        play("rank", "2024-06-01T13:00:00", 29999, artist="Cy", track="Song"),
    ]

    # --- "edge": 29 999 vs 30 000 ms, private plays, podcasts; no users row -> UTC ----
    ev += [
        play("edge", "2025-04-30T08:00:00", 29999, artist="Ann", track="One"),  # not a stream
        play("edge", "2025-05-01T09:00:00", 30000, artist="Ann", track="One"),  # a stream
        play("edge", "2025-05-01T09:30:00", 120000, kind="episode", show="Talk"),
        play("edge", "2025-05-02T20:00:00", 600000, artist="Ann", track="Two", private=True),
        play(
            "edge", "2025-05-02T20:30:00", 60000, kind="episode", show="Secret Show", private=True
        ),
    ]

    # --- "tz": America/New_York moves plays across midnight, a month and the year ------
    ev += [
        play("tz", "2024-12-31T23:59:59", 60000, artist="Old", track="T"),  # before window
        play("tz", "2025-01-01T00:00:00", 60000, artist="Nye", track="T"),  # local 12-31 19:00
        play("tz", "2025-01-01T03:00:00", 60000, artist="Nye", track="T"),  # local 12-31 22:00
        play("tz", "2025-03-01T02:00:00", 60000, artist="Feb", track="T"),  # local 02-28 21:00
        play("tz", "2025-06-10T02:30:00", 60000, artist="Jun", track="T"),  # local 06-09 22:30
        play("tz", "2025-06-10T15:00:00", 60000, artist="Jun", track="T"),  # local 06-10 11:00
        play("tz", "2025-06-12T03:00:00", 60000, artist="Jun", track="T"),  # local 06-11 23:00
        play("tz", "2025-11-15T23:59:59", 60000, artist="Nov", track="T"),  # local 11-15 18:59, in
        play("tz", "2025-11-16T00:00:00", 60000, artist="Late", track="T"),  # window end: out
    ]

    # --- "tzbad": an unknown zone -> UTC; two hours / two days tie ----------------------
    ev += [
        play("tzbad", "2025-01-01T03:00:00", 60000, artist="Q", track="T"),
        play("tzbad", "2025-01-02T01:00:00", 60000, artist="Q", track="T"),
    ]

    # --- "ties": peak hour by unfloored ms; busiest day tie -> earliest ----------------
    ev += [
        play("ties", "2025-02-01T03:00:00", 90000, kind="episode", show="S"),
        play("ties", "2025-02-01T09:00:00", 119999, kind="episode", show="S"),
        play("ties", "2025-02-02T10:00:00", 100000, kind="episode", show="S"),
        play("ties", "2025-02-02T11:00:00", 109999, kind="episode", show="S"),
    ]

    # --- "pod": podcast-only (plus an audiobook and a private episode) ------------------
    ev += [
        play("pod", "2025-07-04T07:00:00", 20000, kind="episode", show="Zeta"),
        play("pod", "2025-07-04T07:05:00", 100000, kind="episode", show="Zeta"),
        play("pod", "2025-07-04T07:10:00", 10000, kind="episode", show="Zeta"),
        play("pod", "2025-07-04T07:15:00", 130000, kind="episode", show="Alpha"),
        play("pod", "2025-07-04T07:20:00", 200000, kind="episode", show="Beta"),
        play("pod", "2025-07-04T07:30:00", 60000, kind="audiobook"),
        play("pod", "2025-07-05T23:00:00", 500000, kind="episode", show="Hidden", private=True),
    ]

    # --- "hush": only a private play ---------------------------------------------------
    ev += [play("hush", "2025-08-01T12:00:00", 120000, artist="Abe", track="Hit", private=True)]

    # --- eligibility boundaries ---------------------------------------------------------
    # "just": exactly 30 streams of exactly 5 artists (unknown to the catalogs) -> eligible
    for i, name in enumerate(["V1", "V2", "V3", "V4", "V5"]):
        ev += streams("just", f"2025-09-0{i + 1}T12:00:00", 6, name)
    # "few": 30 streams of 4 artists -> not eligible; "almost": 29 streams of 5 -> not
    for i, name in enumerate(["W1", "W2", "W3", "W4"]):
        ev += streams("few", "2025-09-01T12:00:00", 8 if i < 2 else 7, name)
    for i, name in enumerate(["X1", "X2", "X3", "X4", "X5"]):
        ev += streams("almost", "2025-09-01T12:00:00", 6 if i < 4 else 5, name)

    # --- "gone": erased; would top everything -------------------------------------------
    ev += streams("gone", "2025-03-01T12:00:00", 50, "Abe", "Hit")

    events = events_df(spark, ev)
    users = users_df(
        spark,
        [
            ("rank", None, False),
            ("tz", "America/New_York", True),
            ("tzbad", "Mars/Olympus", False),
            ("pod", None, False),
            ("gone", "Europe/Paris", False),
        ],
    )
    tracks = tracks_df(
        spark,
        [
            ("u:zed", "Zed", "Song", 2024),
            ("u:bob", "Bob", "Song", 2010),
            ("u:abe", "abe", "Song", 2023),
            ("u:eva", "Éva", "Song", None),
            ("u:alt", "Abe", "Alt", 2025),
            ("u:hit", "Abe", "Hit", 2000),
        ],
    )
    artists = artists_df(
        spark,
        [
            ("Abe", ["pop", "rock"]),
            ("Zed", ["rock"]),
            ("Bob", []),
            ("abe", None),
            ("Éva", ["pop", None, "pop"]),
        ],
    )
    erased = ids_df(spark, ["gone"])
    previous = previous_df(spark, [("rank", 10), ("edge", 0), ("tz", 6), ("pod", 80), ("gone", 5)])
    return events, users, tracks, artists, erased, previous


@pytest.fixture(scope="module")
def main_rows(spark, cfg):
    events, users, tracks, artists, erased, previous = main_fixture(spark)
    df = recaps.build_recaps(
        events, users, tracks, artists, erased, previous, year=Y, rules=cfg["recaps"]
    )
    rows = by_user(df)
    df.sparkSession.catalog.clearCache()
    return df, rows


def test_schema_is_exactly_recap(main_rows):
    df, _ = main_rows
    want = schemas.spark_schema(schemas.RECAP)
    assert [(f.name, f.dataType.simpleString()) for f in df.schema.fields] == [
        (f.name, f.dataType.simpleString()) for f in want.fields
    ]


def test_one_row_per_listener_with_a_play_erased_absent(main_rows):
    _, rows = main_rows
    assert sorted(rows) == sorted(
        ["rank", "edge", "tz", "tzbad", "ties", "pod", "hush", "just", "few", "almost"]
    )
    assert all(r["year"] == Y for r in rows.values())


def test_ranking_ties(main_rows):
    r = main_rows[1]["rank"]
    # streams 4+4+8+6+6+6+1 = 35; artists Abe Zed Bob abe Éva Cy = 6; tracks 7
    assert (r["streams"], r["distinct_artists"], r["distinct_tracks"]) == (35, 6, 7)
    assert r["eligible"] is True
    # Σ ms = 8·40 000 + 8·30 000 + 3·6·30 000 + 30 000 = 1 130 000 -> 18 min (18.83)
    assert (r["listening_minutes"], r["music_minutes"], r["podcast_minutes"]) == (18, 18, 0)
    # Abe and Zed tie on 8 streams: Abe has more ms (320 000 vs 240 000). Bob, abe, Éva tie
    # on streams and ms: code points 'B' (0x42) < 'a' (0x61) < 'É' (0xC9). Cy is 6th.
    assert r["top_artists"] == [
        {"artist_name": "Abe", "streams": 8, "minutes": 5},  # 320 000 / 60 000 = 5.33
        {"artist_name": "Zed", "streams": 8, "minutes": 4},  # 240 000 -> 4
        {"artist_name": "Bob", "streams": 6, "minutes": 3},  # 180 000 -> 3
        {"artist_name": "abe", "streams": 6, "minutes": 3},
        {"artist_name": "Éva", "streams": 6, "minutes": 3},
    ]
    # tracks: Zed/Song 8; the three 6-stream Songs by artist; then Abe's Alt < Hit (4 each,
    # 160 000 ms each -> 2 min): same artist, so the track name decides
    assert r["top_tracks"] == [
        {"track_name": "Song", "artist_name": "Zed", "streams": 8, "minutes": 4},
        {"track_name": "Song", "artist_name": "Bob", "streams": 6, "minutes": 3},
        {"track_name": "Song", "artist_name": "abe", "streams": 6, "minutes": 3},
        {"track_name": "Song", "artist_name": "Éva", "streams": 6, "minutes": 3},
        {"track_name": "Alt", "artist_name": "Abe", "streams": 4, "minutes": 2},
    ]
    assert [(s["artist_name"], s["track_name"]) for s in r["top_songs"]] == [
        ("Zed", "Song"),
        ("Bob", "Song"),
        ("abe", "Song"),
        ("Éva", "Song"),
        ("Abe", "Alt"),
        ("Abe", "Hit"),
        ("Cy", "Song"),
    ]
    # only Abe's tracks carry an album name
    assert r["top_albums"] == [{"album_name": "First", "artist_name": "Abe", "streams": 8}]


def test_genres_credit_every_genre_of_the_artist(main_rows):
    r = main_rows[1]["rank"]
    # rock: Abe 8 + Zed 8 = 16; pop: Abe 8 + Éva 6 = 14 (Éva's duplicate "pop" and null
    # count once / not at all); Bob [] and abe null give nothing; Cy is not in the catalog
    assert r["top_genres"] == [{"genre": "rock", "streams": 16}, {"genre": "pop", "streams": 14}]
    # "just" streams only artists unknown to the catalog: no genres
    assert main_rows[1]["just"]["top_genres"] == []


def test_distinct_genres_counts_credited_genres(main_rows):
    # rock and pop (Éva's duplicate "pop" once, her null genre and Bob's [] not at all)
    assert main_rows[1]["rank"]["distinct_genres"] == 2
    assert main_rows[1]["just"]["distinct_genres"] == 0  # no artist in the catalog: 0, not null


def test_clock_and_days_of_the_ranking_listener(main_rows):
    r = main_rows[1]["rank"]
    # all 35 streams on 2025-03-10 between 10:00 and 10:34 UTC (timezone null -> UTC)
    assert r["hourly_minutes"] == zeros(24, h10=18)
    assert r["peak_hour"] == 10
    assert r["monthly_minutes"] == zeros(12, m2=18)
    assert r["monthly_top_artist"] == [None, None, "Abe"] + [None] * 9
    assert (r["busiest_day"], r["busiest_day_minutes"]) == (dt.date(2025, 3, 10), 18)
    assert r["longest_streak_days"] == 1


def test_new_artists_and_personality(main_rows):
    rows = main_rows[1]
    r = rows["rank"]
    # before the window "rank" streamed Zed and Bob; Abe only privately and Cy for 29 999 ms
    # do not count -> new = Abe, abe, Éva, Cy = 4
    assert r["new_artists"] == 4
    # L: top-5 streams 34 of 35. N: dated streams 28 of 35 (Éva's track has no year, Cy's
    # none in the catalog) >= half; sorted years 2000x4, 2010x6, 2023x6, 2024x8, 2025x4,
    # lower median index ⌊27/2⌋ = 13 -> 2023 >= 2025 - 2. C: fewer than 100 artists in the
    # year, all of them are the global top. E: 4 / 6 >= 0.3.
    assert r["personality"] == "LNCE"
    # no stream before the window: we can't know what is new
    assert rows["edge"]["new_artists"] is None
    assert rows["pod"]["new_artists"] is None
    # "just" is eligible but its tracks have no release year: personality unknown
    assert rows["just"]["eligible"] is True
    assert rows["just"]["personality"] is None


def test_stream_threshold_and_private_plays(main_rows):
    r = main_rows[1]["edge"]
    # minutes: 29 999 + 30 000 + 120 000 + 600 000 (private) + 60 000 (private) = 839 999 -> 13
    # music: 29 999 + 30 000 + 600 000 = 659 999 -> 10; podcasts 180 000 -> 3
    assert (r["listening_minutes"], r["music_minutes"], r["podcast_minutes"]) == (13, 10, 3)
    # the 30 000 ms play is the only stream; the private "Two" counts for nothing else
    assert (r["streams"], r["distinct_tracks"], r["distinct_artists"]) == (1, 1, 1)
    assert r["top_tracks"] == [
        {"track_name": "One", "artist_name": "Ann", "streams": 1, "minutes": 0}
    ]
    assert r["top_songs"] == [{"track_name": "One", "artist_name": "Ann"}]
    assert r["top_podcasts"] == [{"show_name": "Talk", "minutes": 2}]
    # clock: non-private only. 08h: 29 999 -> 0; 09h: 30 000 + 120 000 = 150 000 -> 2.
    # The private 660 000 ms at 20h would otherwise be the peak.
    assert r["hourly_minutes"] == zeros(24, h9=2)
    assert r["peak_hour"] == 9
    assert r["monthly_minutes"] == zeros(12, m4=2)  # April 29 999 -> 0; May 150 000 -> 2
    # April has a play but no stream: null; May: Ann
    assert r["monthly_top_artist"] == [None] * 4 + ["Ann"] + [None] * 7
    # 04-30: 29 999; 05-01: 150 000; 05-02 only private
    assert (r["busiest_day"], r["busiest_day_minutes"]) == (dt.date(2025, 5, 1), 2)
    assert r["longest_streak_days"] == 1  # 04-30 has no stream (29 999 ms)
    assert r["eligible"] is False
    assert r["top_artist_percent"] is None and r["personality"] is None


def test_time_zone_moves_plays_across_midnight_month_and_year(main_rows):
    r = main_rows[1]["tz"]
    # in window: 7 plays of 1 min (Old is before the start, Late at the end is out)
    assert (r["listening_minutes"], r["streams"], r["distinct_artists"]) == (7, 7, 4)
    # local hours: 19, 22, 21, 22, 11, 23, 18
    assert r["hourly_minutes"] == zeros(24, h11=1, h18=1, h19=1, h21=1, h22=2, h23=1)
    assert r["peak_hour"] == 22
    # local months: Dec (two UTC Jan-1 plays), Feb (UTC Mar 1), Jun x3, Nov
    assert r["monthly_minutes"] == zeros(12, m1=1, m5=3, m10=1, m11=2)
    assert r["monthly_top_artist"] == [
        None,
        "Feb",
        None,
        None,
        None,
        "Jun",
        None,
        None,
        None,
        None,
        "Nov",
        "Nye",
    ]
    # local dates 2024-12-31 (2 min), 02-28, 06-09, 06-10, 06-11, 11-15
    assert (r["busiest_day"], r["busiest_day_minutes"]) == (dt.date(2024, 12, 31), 2)
    # 06-09, 06-10, 06-11 in New York (in UTC it would be 06-10 and 06-12: 1)
    assert r["longest_streak_days"] == 3
    # history: Old (2024-12-31T23:59:59Z) -> none of Nye Feb Jun Nov was streamed before
    assert r["new_artists"] == 4
    # Jun 3 (180 000 ms), Nye 2, then Feb and Nov tie on 1 stream / 60 000 ms: F < N
    assert [(t["artist_name"], t["streams"], t["minutes"]) for t in r["top_tracks"]] == [
        ("Jun", 3, 3),
        ("Nye", 2, 2),
        ("Feb", 1, 1),
        ("Nov", 1, 1),
    ]


def test_unknown_zone_is_utc_and_ties_take_the_earliest(main_rows):
    rows = main_rows[1]
    r = rows["tzbad"]
    # "Mars/Olympus" -> UTC: hours 3 and 1 tie at 60 000 ms -> 1; days tie -> 01-01
    assert r["hourly_minutes"] == zeros(24, h1=1, h3=1)
    assert r["peak_hour"] == 1
    assert r["monthly_minutes"] == zeros(12, m0=2)
    assert (r["busiest_day"], r["busiest_day_minutes"]) == (dt.date(2025, 1, 1), 1)
    assert r["longest_streak_days"] == 2
    t = rows["ties"]
    # hours: 3h 90 000, 9h 119 999, 10h 100 000, 11h 109 999: every one floors to 1 minute,
    # the unfloored largest is 9h
    assert t["hourly_minutes"] == zeros(24, h3=1, h9=1, h10=1, h11=1)
    assert t["peak_hour"] == 9
    # 02-01: 209 999 ms; 02-02: 209 999 ms -> tie -> 02-01, 3 min (3.49)
    assert (t["busiest_day"], t["busiest_day_minutes"]) == (dt.date(2025, 2, 1), 3)
    assert t["longest_streak_days"] == 0  # episodes are no streams
    # 90 000 + 119 999 + 100 000 + 109 999 = 419 998 -> 6 (6.99)
    assert t["top_podcasts"] == [{"show_name": "S", "minutes": 6}]


def test_podcast_only_listener(main_rows):
    r = main_rows[1]["pod"]
    # listening: 20 000 + 100 000 + 10 000 + 130 000 + 200 000 + 60 000 + 500 000 = 1 020 000 -> 17
    # podcasts: all but the audiobook = 960 000 -> 16; music 0
    assert (r["listening_minutes"], r["music_minutes"], r["podcast_minutes"]) == (17, 0, 16)
    # Beta 200 000 -> 3; Alpha and Zeta tie at 130 000 (Zeta's short plays count) -> by name
    assert r["top_podcasts"] == [
        {"show_name": "Beta", "minutes": 3},
        {"show_name": "Alpha", "minutes": 2},
        {"show_name": "Zeta", "minutes": 2},
    ]
    assert r["streams"] == 0 and r["eligible"] is False
    for col in ("top_tracks", "top_artists", "top_albums", "top_genres", "top_songs"):
        assert r[col] == []
    # clock: 520 000 non-private ms at 07h on 07-04 (incl. the audiobook) -> 8
    assert r["hourly_minutes"] == zeros(24, h7=8)
    assert r["peak_hour"] == 7
    assert r["monthly_minutes"] == zeros(12, m6=8)
    assert r["monthly_top_artist"] == [None] * 12
    assert (r["busiest_day"], r["busiest_day_minutes"]) == (dt.date(2025, 7, 4), 8)
    assert r["longest_streak_days"] == 0
    assert r["top_artist_percent"] is None and r["personality"] is None


def test_private_only_listener(main_rows):
    r = main_rows[1]["hush"]
    assert (r["listening_minutes"], r["music_minutes"], r["streams"]) == (2, 2, 0)
    assert r["hourly_minutes"] == [0] * 24 and r["monthly_minutes"] == [0] * 12
    assert r["peak_hour"] is None
    assert r["busiest_day"] is None and r["busiest_day_minutes"] is None
    assert r["top_tracks"] == [] and r["longest_streak_days"] == 0


def test_eligibility_boundaries(main_rows):
    rows = main_rows[1]
    assert (
        rows["just"]["streams"],
        rows["just"]["distinct_artists"],
        rows["just"]["eligible"],
    ) == (30, 5, True)
    assert (rows["few"]["streams"], rows["few"]["distinct_artists"], rows["few"]["eligible"]) == (
        30,
        4,
        False,
    )
    assert (
        rows["almost"]["streams"],
        rows["almost"]["distinct_artists"],
        rows["almost"]["eligible"],
    ) == (29, 5, False)
    for u in ("few", "almost"):
        assert rows[u]["personality"] is None and rows[u]["top_artist_percent"] is None
        assert rows[u]["top_track_percent"] is None
        assert rows[u]["listening_era"] is None and rows[u]["listening_age"] is None
        assert len(rows[u]["top_artists"]) == (4 if u == "few" else 5)  # rows still computed


def test_top_artist_percent_null_under_100_listeners(main_rows):
    # "rank"'s #1 artist Abe has one eligible listener (n = 1 < 100)
    assert main_rows[1]["rank"]["top_artist_percent"] is None


def test_minutes_change_pct(main_rows):
    rows = main_rows[1]
    assert rows["rank"]["minutes_change_pct"] == 80.0  # 100·(18 − 10)/10
    assert rows["edge"]["minutes_change_pct"] is None  # last year 0
    assert rows["tz"]["minutes_change_pct"] == 16.7  # 100·(7 − 6)/6 = 16.67
    assert rows["pod"]["minutes_change_pct"] == -78.8  # 100·(17 − 80)/80 = −78.75, half away from 0
    assert rows["hush"]["minutes_change_pct"] is None  # no recap last year


def test_no_previous_year_at_all(spark, cfg):
    events = events_df(spark, [play("a", "2025-05-01T09:00:00", 60000, artist="A", track="T")])
    df = recaps.build_recaps(
        events, None, None, None, ids_df(spark, []), None, year=Y, rules=cfg["recaps"]
    )
    [r] = df.collect()
    assert r["minutes_change_pct"] is None
    assert r["listening_minutes"] == 1 and r["top_genres"] == [] and r["peak_hour"] == 9
    assert r["distinct_genres"] == 0  # no artist catalog at all
    assert r["listening_era"] is None and r["listening_age"] is None  # no track catalog


# ---------------------------------------------------------------------------------
# Top-listener percent with a population of 200 (+ one ineligible super-fan).
# ---------------------------------------------------------------------------------


def counted_streams(spark, spec):
    """Events from (user_id, artist_name, n[, track_name]): n streams of 30 000 ms of
    the track (default 'Song') on 2025-05-05 from 12:00 UTC, generated in Spark (cheap
    for thousands of rows)."""
    from pyspark.sql import functions as F

    spec = [(*x, "Song") if len(x) == 3 else x for x in spec]
    rows = spark.createDataFrame(
        spec, "user_id string, artist_name string, n int, track_name string"
    )
    base = rows.select(
        "user_id", "artist_name", "track_name", F.explode(F.sequence(F.lit(1), "n")).alias("i")
    )
    cols = {
        f.name: F.lit(None).cast(f.dataType) for f in schemas.spark_schema(schemas.EVENT).fields
    }
    cols.update(
        event_id=F.concat_ws(
            ":", "user_id", "artist_name", "track_name", F.col("i").cast("string")
        ),
        user_id=F.col("user_id"),
        ts=F.lit(ts("2025-05-05T12:00:00")) + F.make_interval(mins=F.col("i")),
        ms_played=F.lit(30000).cast("long"),
        kind=F.lit("track"),
        track_name=F.col("track_name"),
        artist_name=F.col("artist_name"),
        private_session=F.lit(False),
    )
    return base.select(*[c.alias(n) for n, c in cols.items()])


def star_population(spark):
    # p000..p199: Star 226 − k streams (p002 ties p001 at 225, p005 ties p004 at 222) + F1..F4
    # once each -> 200 eligible listeners of Star. "fan": 500 Star streams, one artist:
    # ineligible.
    tied = {2: 225, 5: 222}
    spec = []
    for k in range(200):
        spec.append((f"p{k:03d}", "Star", tied.get(k, 226 - k)))
        spec += [(f"p{k:03d}", f"F{j}", 1) for j in range(1, 5)]
    spec.append(("fan", "Star", 500))
    return counted_streams(spark, spec)


def test_top_artist_percent_buckets(spark, cfg):
    events = star_population(spark)
    # opting out of marketing does not take a listener out of the population
    users = users_df(spark, [("p000", None, True), ("p001", None, True)])
    rules = dict(cfg["recaps"], percentile_min_listeners=200)  # n = 200: just enough
    df = recaps.build_recaps(
        events, users, None, None, ids_df(spark, []), None, year=Y, rules=rules
    )
    got = {
        r["user_id"]: r["top_artist_percent"]
        for r in df.select("user_id", "top_artist_percent").collect()
    }
    # p = 100 · rank / 200; the smallest of 0.1 0.5 1 2 5 10 25 that is ≥ p
    assert got["p000"] == 0.5  # rank 1 -> 0.5 (the ineligible fan with 500 is not counted)
    assert got["p001"] == 1.0  # 225 streams, rank 2 -> 1.0
    assert got["p002"] == 1.0  # ties p001: rank = 1 + 1 with strictly more = 2 -> 1.0
    #                              (a row number would give rank 3 -> 1.5 -> 2)
    assert got["p003"] == 2.0  # 223 streams, rank 4 -> 2.0 (equal counts)
    assert got["p004"] == 5.0  # 222 streams, rank 5 -> 2.5
    assert got["p005"] == 5.0  # ties p004: rank = 1 + 4 with strictly more = 5
    assert got["p006"] == 5.0  # rank 7 (six have more) -> 3.5
    assert got["p009"] == 5.0  # rank 10 -> 5.0
    assert got["p010"] == 10.0  # rank 11 -> 5.5
    assert got["p049"] == 25.0  # rank 50 -> 25.0
    assert got["p050"] is None  # rank 51 -> 25.5: no bucket
    assert got["p199"] is None
    assert got["fan"] is None  # not eligible
    assert sum(v is not None for v in got.values()) == 50
    # every listener's #1 track is (Star, Song), with the same counts: the same buckets
    tracks = {
        r["user_id"]: r["top_track_percent"]
        for r in df.select("user_id", "top_track_percent").collect()
    }
    assert tracks == got

    # one listener short of the minimum population: nobody gets a percent
    rules = dict(cfg["recaps"], percentile_min_listeners=201)
    df = recaps.build_recaps(
        events, users, None, None, ids_df(spark, []), None, year=Y, rules=rules
    )
    assert df.where("top_artist_percent is not null").count() == 0
    assert df.where("top_track_percent is not null").count() == 0


def test_top_track_percent_is_the_number_one_tracks_population(spark, cfg):
    # q000..q099: (Star, Hit) 101 − k streams + F1..F4 once: 100 eligible listeners of Hit.
    # q050 also streams (Star, B-side) 150 times: B-side is q050's #1 track (1 listener).
    # "fan": 500 Hit streams and one artist: ineligible, outside every population.
    spec = []
    for k in range(100):
        spec.append((f"q{k:03d}", "Star", 101 - k, "Hit"))
        spec += [(f"q{k:03d}", f"F{j}", 1) for j in range(1, 5)]
    spec.append(("q050", "Star", 150, "B-side"))
    spec.append(("fan", "Star", 500, "Hit"))
    events = counted_streams(spark, spec)
    rules = dict(cfg["recaps"], eligible_min_streams=1, percentile_min_listeners=100)
    df = recaps.build_recaps(events, None, None, None, ids_df(spark, []), None, year=Y, rules=rules)
    rows = {r["user_id"]: r for r in df.collect()}
    track = {u: r["top_track_percent"] for u, r in rows.items()}
    # p = 100 · rank / 100 = rank
    assert track["q000"] == 1.0  # 101 streams, rank 1
    assert track["q001"] == 2.0  # rank 2
    assert track["q002"] == 5.0  # rank 3 -> 5
    assert track["q024"] == 25.0  # rank 25
    assert track["q025"] is None  # rank 26: no bucket
    assert track["q051"] is None  # rank 52 (q050 still has 51 Hit streams, rank 51)
    assert track["q050"] is None  # #1 track B-side: 1 listener < 100
    assert track["fan"] is None  # ineligible
    # the artist percent is its own population: q050 has 201 Star streams, rank 1
    # (the ineligible fan is not counted: n = 100) -> p = 1 -> 1.0
    assert rows["q050"]["top_artist_percent"] == 1.0
    assert rows["q050"]["top_tracks"][0]["track_name"] == "B-side"
    # one more listener needed than there are: no song percent at all
    rules = dict(rules, percentile_min_listeners=101)
    df = recaps.build_recaps(events, None, None, None, ids_df(spark, []), None, year=Y, rules=rules)
    assert df.where("top_track_percent is not null").count() == 0


# ---------------------------------------------------------------------------------
# The four personality letters, with small thresholds so each can be worked by hand.
# ---------------------------------------------------------------------------------


def test_personality_letters(spark, cfg):
    rules = dict(
        cfg["recaps"],
        eligible_min_streams=4,
        eligible_min_distinct_artists=2,
        top_n=1,
        global_top_artists_n=1,
    )
    s = streams
    ev = []
    # u1: Big x3 (2024), Tiny x1 (1990); streamed Tiny in 2024
    ev += s("u1", "2025-05-01T10:00:00", 3, "Big", uri="u:big") + s(
        "u1", "2025-05-01T11:00:00", 1, "Tiny", uri="u:tiny"
    )
    ev += s("u1", "2024-05-01T10:00:00", 1, "Tiny")
    # u2: A B Big C once each (2000 2001 2024 2002); all four streamed in 2024
    for a, uri in (("A", "u:a"), ("B", "u:b"), ("Big", "u:big"), ("C", "u:c")):
        ev += s("u2", "2025-05-01T10:00:00", 1, a, uri=uri) + s("u2", "2024-05-01T10:00:00", 1, a)
    # u3: as u1 without any history
    ev += s("u3", "2025-05-01T10:00:00", 3, "Big", uri="u:big") + s(
        "u3", "2025-05-01T11:00:00", 1, "Tiny", uri="u:tiny"
    )
    # u4: Big (2024) + P Q R without uri: 1 dated stream of 4; has history
    ev += s("u4", "2025-05-01T10:00:00", 1, "Big", uri="u:big")
    for a in ("P", "Q", "R"):
        ev += s("u4", "2025-05-01T11:00:00", 1, a)
    ev += s("u4", "2024-05-01T10:00:00", 1, "P")
    # u5: Big twice (track 2023 + a live track without uri), X (2022), Y (no uri); streamed X
    ev += s("u5", "2025-05-01T10:00:00", 1, "Big", "Hit", uri="u:big23") + s(
        "u5", "2025-05-01T10:30:00", 1, "Big", "Live"
    )
    ev += s("u5", "2025-05-01T11:00:00", 1, "X", uri="u:x22") + s(
        "u5", "2025-05-01T12:00:00", 1, "Y"
    )
    ev += s("u5", "2024-05-01T10:00:00", 1, "X")
    # u6: Big x3 only: one artist, not eligible (but counts for the global top)
    ev += s("u6", "2025-05-01T10:00:00", 3, "Big", uri="u:big")
    # u7: M x2 (2014) and N x2 (2015): spans 2010 and 2015 tie at 2 -> the later one
    ev += s("u7", "2025-05-01T10:00:00", 2, "M", uri="u:m14") + s(
        "u7", "2025-05-01T11:00:00", 2, "N", uri="u:n15"
    )
    # u8: O x3 (1999) and P2 x2 (2019): span 1995 has more streams than the later 2015
    ev += s("u8", "2025-05-01T10:00:00", 3, "O", uri="u:o99") + s(
        "u8", "2025-05-01T11:00:00", 2, "P2", uri="u:p19"
    )
    tracks = tracks_df(
        spark,
        [
            ("u:big", "Big", "Song", 2024),
            ("u:tiny", "Tiny", "Song", 1990),
            ("u:a", "A", "Song", 2000),
            ("u:b", "B", "Song", 2001),
            ("u:c", "C", "Song", 2002),
            ("u:big23", "Big", "Hit", 2023),
            ("u:x22", "X", "Song", 2022),
            ("u:m14", "M", "Song", 2014),
            ("u:n15", "N", "Song", 2015),
            ("u:o99", "O", "Song", 1999),
            ("u:p19", "P2", "Song", 2019),
        ],
    )
    df = recaps.build_recaps(
        events_df(spark, ev), None, tracks, None, ids_df(spark, []), None, year=Y, rules=rules
    )
    got = {r["user_id"]: r["personality"] for r in df.select("user_id", "personality").collect()}
    # global top-1 artist: Big (3+1+3+1+2+3 = 13 streams)
    # u1: L top-1 3/4; N years [1990 2024 2024 2024] lower median idx 1 = 2024 ≥ 2023;
    #     C Big 3/4; E new {Big} 1/2 ≥ 0.3
    assert got["u1"] == "LNCE"
    # u2: V top-1 is "A" (all tie at 1 stream / 30 000 ms, A < B < Big < C) 1/4;
    #     T [2000 2001 2002 2024] idx 1 = 2001; U Big 1/4; F 0/4 new
    assert got["u2"] == "VTUF"
    assert got["u3"] is None  # no history: E/F unknown
    assert got["u4"] is None  # 1 of 4 streams dated (< half): N/T unknown
    # u5: L Big 2/4 = 50 %; exactly half dated: [2022 2023] lower median idx 0 = 2022 < 2023
    #     -> T; C 2/4; E new {Big, Y} 2/3
    assert got["u5"] == "LTCE"
    assert got["u6"] is None  # not eligible

    # Listening era (span with most dated streams, later on a tie) and age Y − (era+2) + 18
    era = {
        r["user_id"]: (r["listening_era"], r["listening_age"])
        for r in df.select("user_id", "listening_era", "listening_age").collect()
    }
    assert era["u1"] == (2020, 21)  # 1990 x1 (span 1990), 2024 x3 (2020): 2025 − 2022 + 18
    assert era["u2"] == (2000, 41)  # 2000 2001 2002 (span 2000: 3) vs 2024 (1): 2025 − 2002 + 18
    assert era["u3"] == (2020, 21)  # as u1: the era needs no history (personality does)
    assert era["u4"] == (None, None)  # 1 of 4 streams dated: fewer than half
    assert era["u5"] == (2020, 21)  # exactly half dated (2022, 2023) is enough
    assert era["u6"] == (None, None)  # not eligible
    assert era["u7"] == (2015, 26)  # 2014 -> span 2010, 2015 -> 2015; tie 2-2: the later
    assert era["u8"] == (1995, 46)  # 1999 x3 (span 1995) beat 2019 x2: 2025 − 1997 + 18


# ---------------------------------------------------------------------------------
# The command: Parquet in, recaps/year=Y/ out, last year's recaps feeding the change.
# ---------------------------------------------------------------------------------


def test_command_writes_recaps_of_two_years(spark, cfg, tmp_path):

    from encore.platform import datasets

    root = str(tmp_path)
    ev = (
        streams("a", "2024-03-01T10:00:00", 4, "A", ms=60000)  # 2024: 4 min
        + streams("a", "2025-03-01T10:00:00", 6, "A", ms=60000)  # 2025: 6 min
        + streams("b", "2025-12-01T10:00:00", 2, "A", ms=60000)  # after the 2025 window
        + streams("gone", "2025-03-01T10:00:00", 2, "A")
    )
    events = events_df(spark, ev)
    from pyspark.sql import functions as F

    events.withColumn("year", F.year("ts")).withColumn("month", F.month("ts")).write.partitionBy(
        "year", "month"
    ).parquet(datasets.path(root, "events"))
    users_df(spark, [("a", "Europe/Stockholm", False)]).write.parquet(datasets.path(root, "users"))
    spark.createDataFrame(
        [("gone", ts("2025-06-01T00:00:00"))], schemas.spark_schema(schemas.ERASURES)
    ).write.parquet(datasets.path(root, "privacy/erasures"))

    def run(year):
        ctx = RunContext(data=root, cfg=cfg, year=year, spark=spark)
        assert recaps_job.run(ctx) == 0
        return by_user(spark.read.parquet(datasets.recaps_path(root, year)))

    first = run(2024)
    assert first["a"]["listening_minutes"] == 4 and first["a"]["minutes_change_pct"] is None
    second = run(2025)
    assert sorted(second) == ["a"]  # b played only after the window; gone is erased
    assert second["a"]["listening_minutes"] == 6
    assert second["a"]["minutes_change_pct"] == 50.0  # 100·(6 − 4)/4
    # 10:00 UTC is 11:00 in Stockholm (CET)
    assert second["a"]["peak_hour"] == 11
    report = [n for n in (tmp_path / "reports").iterdir() if n.name.startswith("recaps-")]
    assert len(report) == 2


# ---------------------------------------------------------------------------------
# The job's shape: one shuffle by listener, sized by plays_per_task
# ---------------------------------------------------------------------------------
def test_window_plays_are_hash_partitioned_by_listener(spark, cfg):
    """Every play of a listener lands in one partition, so the column groups can group
    and join by user_id without shuffling again (the recaps' performance rests on it)."""
    from pyspark.sql import functions as F

    rows = [
        play(f"u{i % 7}", f"2025-03-{1 + i % 20:02d}T10:00:00", 60000, artist="A", track="T")
        for i in range(70)
    ]
    plays = recaps.window_plays(
        events_df(spark, rows), None, ids_df(spark, []), year=Y, rules=cfg["recaps"], partitions=3
    )
    assert plays.rdd.getNumPartitions() == 3
    seen = plays.select("user_id", F.spark_partition_id().alias("part")).distinct().collect()
    parts_of: dict[str, set] = {}
    for r in seen:
        parts_of.setdefault(r["user_id"], set()).add(r["part"])
    assert len(parts_of) == 7 and all(len(p) == 1 for p in parts_of.values())
    assert len({p for ps in parts_of.values() for p in ps}) > 1  # and they are spread out


def test_partitions_grow_with_the_year_not_below_the_default(spark, cfg):
    from pyspark.sql import functions as F

    rows = [play("u", f"2025-03-01T10:{i:02d}:00", 60000, artist="A") for i in range(10)]
    rows += [play("u", f"2024-03-01T10:{i:02d}:00", 60000, artist="A") for i in range(5)]
    events = events_df(spark, rows).withColumn("year", F.year("ts"))
    default = int(spark.conf.get("spark.sql.shuffle.partitions"))
    assert recaps.partitions_for(events, Y, 3) == max(default, 4)  # ⌈10 / 3⌉ = 4 (2024 not counted)
    assert recaps.partitions_for(events, Y, 1000) == default  # never fewer than the default
    assert recaps.partitions_for(events, Y - 1, 1) == max(default, 5)


def _event_scans(node) -> int:
    """Parquet scans of events/ in an executed plan: into adaptive plans and query stages,
    not into a reused exchange (read once, used twice) nor into a cached relation (built
    by its own job)."""
    name = node.getClass().getSimpleName()
    if name == "AdaptiveSparkPlanExec":
        return _event_scans(node.executedPlan())
    if name.endswith("QueryStageExec") and name != "TableCacheQueryStageExec":
        return _event_scans(node.plan())  # result, shuffle and broadcast stages
    if name == "FileSourceScanExec":
        return int("events" in node.relation().location().toString())
    children = node.children()
    return sum(_event_scans(children.apply(i)) for i in range(children.size()))


def test_the_recap_reads_the_earlier_years_once(spark, cfg, tmp_path):
    """``new_artists`` needs the earlier years' (listener, artist) pairs and whether a
    listener has any history; both come from one scan and one shuffle of those years
    (the plan scanned them twice, with a ``distinct`` each, before). The window's plays
    are the cached relation, read by their own job."""
    from pyspark.sql import functions as F

    from encore.platform import datasets

    root = str(tmp_path)
    ev = (
        streams("a", "2024-03-01T10:00:00", 3, "Old")
        + streams("a", "2025-03-01T10:00:00", 3, "Old")
        + streams("a", "2025-04-01T10:00:00", 2, "New")
        + streams("b", "2025-03-01T10:00:00", 2, "New")
    )
    events_df(spark, ev).withColumn("year", F.year("ts")).withColumn(
        "month", F.month("ts")
    ).write.partitionBy("year", "month").parquet(datasets.path(root, "events"))
    events = datasets.read_events(spark, root)
    df = recaps.build_recaps(
        events, None, None, None, ids_df(spark, []), None, year=Y, rules=cfg["recaps"]
    )
    rows = by_user(df)
    spark.catalog.clearCache()
    assert rows["a"]["new_artists"] == 1  # New; Old was streamed in 2024
    assert rows["b"]["new_artists"] is None  # no history: we can't know what is new
    assert _event_scans(df._jdf.queryExecution().executedPlan()) == 1
    # and the session keeps the per-listener collect_list groups in the hash map
    key, value = recaps.build.OBJECT_HASH_GROUPS
    assert spark.conf.get(key) == value
