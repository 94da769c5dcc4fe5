"""Local time from the shipped IANA rules (recap-rules.md, "Local time"), not the JVM's.

Every expected local time below is worked out by hand from the law: British Columbia
on permanent UTC-7 from 2026-11-01 (tzdata 2026a+), the EU's 2026 changes on the last
Sundays of March and October at 01:00 UTC."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from test_recaps import events_df, ids_df, play, ts, users_df

from encore import recaps
from encore.platform import localtime

Y = 2026


def test_shipped_rules_are_the_tzdata_package_and_know_2026_law():
    import tzdata

    assert localtime.VERSION == tzdata.IANA_VERSION
    assert localtime.VERSION >= "2026b"  # British Columbia's permanent UTC-7 is in 2026a+
    assert (
        localtime.utc_offset("America/Vancouver", int(ts("2026-11-15T21:55:00").timestamp()))
        == -7 * 3600
    )
    assert localtime.is_zone("Asia/Kolkata") and not localtime.is_zone("Mars/Olympus")
    assert not localtime.is_zone("asia/kolkata")  # exact spelling only


@pytest.mark.parametrize(
    "name",
    [
        "America/Vancouver",
        "Europe/Berlin",
        "Australia/Lord_Howe",
        "Pacific/Chatham",
        "Asia/Kathmandu",
        "Africa/Casablanca",
        "Asia/Gaza",
        "America/Santiago",
        "Asia/Tehran",
        "America/Sao_Paulo",
        "Europe/Dublin",
        "America/St_Johns",
        "UTC",
    ],
)
def test_intervals_agree_with_zoneinfo_at_every_hour_2024_to_2027(name):
    """The sampled-and-bisected intervals reproduce the rules at every hour (and at each
    change, to the second)."""
    start, end = ts("2024-01-01T00:00:00"), ts("2028-01-01T00:00:00")
    spans = localtime.intervals(name, start, end)
    assert spans[0][0] == int(start.timestamp()) and spans[-1][1] == int(end.timestamp())
    assert all(a[1] == b[0] and a[2] != b[2] for a, b in zip(spans, spans[1:], strict=False))
    z = localtime.zone(name)
    k = 0
    for t in range(int(start.timestamp()), int(end.timestamp()), 3600):
        while t >= spans[k][1]:
            k += 1
        assert spans[k][2] == int(dt.datetime.fromtimestamp(t, z).utcoffset().total_seconds()), (
            name,
            t,
        )
    for a, _b, off in spans[1:]:  # each change is at the exact second
        assert localtime.utc_offset(name, a) == off and localtime.utc_offset(name, a - 1) != off


def test_intervals_see_a_change_in_the_last_hours_of_the_range():
    """Review finding (2026-12-07): the sampler stepped 6 h and never looked at the
    range's end, so a change in its last 6 h was missed. New York went from EST to EDT
    at 2025-03-09 07:00 UTC (02:00 local); a range ending three hours later is two
    intervals, by hand: [00:00, 07:00) at -5 h, [07:00, 10:00) at -4 h."""
    start, end = ts("2025-03-09T00:00:00"), ts("2025-03-09T10:00:00")
    change = int(ts("2025-03-09T07:00:00").timestamp())
    assert localtime.intervals("America/New_York", start, end) == [
        (int(start.timestamp()), change, -5 * 3600),
        (change, int(end.timestamp()), -4 * 3600),
    ]
    # a change in the range's very last second, and none at all
    last = ts("2025-03-09T07:00:01")
    assert localtime.intervals("America/New_York", start, last)[-1] == (
        change,
        int(last.timestamp()),
        -4 * 3600,
    )
    assert localtime.intervals("Asia/Kolkata", start, end) == [
        (int(start.timestamp()), int(end.timestamp()), 19800)
    ]


def _local(spark, rows, users, *, timezone=None):
    """{event ts (UTC iso): (local_date, local_hour, local_month)} of window_plays."""
    ev = events_df(spark, rows)
    out = recaps.window_plays(
        ev, users, ids_df(spark, []), year=Y, rules=_rules(), timezone=timezone
    )
    joined = out.join(ev.select("user_id", "ms_played", "ts"), ["user_id", "ms_played"])
    return {
        r["ts"].replace(tzinfo=dt.UTC).isoformat()[:19]: (
            r["local_date"].isoformat(),
            r["local_hour"],
            r["local_month"],
        )
        for r in joined.collect()
    }


def _rules():
    from encore.platform import config

    return config.load()["recaps"]


def test_vancouver_after_the_2026_change_and_berlin_gap_and_overlap(spark):
    rows = [  # a distinct ms_played per play, to find each again after the shuffle
        play("van", "2026-11-15T21:55:00", 60001, artist="A", track="T"),  # UTC-7 → 14:55
        play("van", "2026-07-01T12:00:00", 60002, artist="A", track="T"),  # PDT, UTC-7 → 05:00
        play("van", "2026-03-08T09:59:59", 60003, artist="A", track="T"),  # PST, UTC-8 → 01:59
        play("van", "2026-03-08T10:00:00", 60004, artist="A", track="T"),  # gap: → 03:00
        play("ber", "2026-03-29T00:59:59", 60005, artist="B", track="T"),  # CET → 01:59
        play("ber", "2026-03-29T01:00:00", 60006, artist="B", track="T"),  # CEST, gap → 03:00
        play("ber", "2026-10-25T00:30:00", 60007, artist="B", track="T"),  # CEST → 02:30 (first)
        play("ber", "2026-10-25T01:30:00", 60008, artist="B", track="T"),  # CET → 02:30 (again)
        play("ber", "2026-10-24T22:30:00", 60009, artist="B", track="T"),  # CEST → 10-25 00:30
        play("mars", "2026-05-01T23:30:00", 60010, artist="C", track="T"),  # unknown zone → UTC
        play("none", "2026-05-01T23:30:00", 60011, artist="C", track="T"),  # no zone → UTC
    ]
    users = users_df(
        spark,
        [
            ("van", "America/Vancouver", False),
            ("ber", "Europe/Berlin", False),
            ("mars", "Mars/Olympus", False),
            ("none", None, False),
        ],
    )
    got = _local(spark, rows, users)
    assert got["2026-11-15T21:55:00"] == ("2026-11-15", 14, 11)
    assert got["2026-07-01T12:00:00"] == ("2026-07-01", 5, 7)
    assert got["2026-03-08T09:59:59"] == ("2026-03-08", 1, 3)
    assert got["2026-03-08T10:00:00"] == ("2026-03-08", 3, 3)
    assert got["2026-03-29T00:59:59"] == ("2026-03-29", 1, 3)
    assert got["2026-03-29T01:00:00"] == ("2026-03-29", 3, 3)
    assert got["2026-10-25T00:30:00"] == ("2026-10-25", 2, 10)
    assert got["2026-10-25T01:30:00"] == ("2026-10-25", 2, 10)
    assert got["2026-10-24T22:30:00"] == ("2026-10-25", 0, 10)
    assert len({k for k in got if k.startswith("2026-05-01")}) == 1
    mars_none = [v for k, v in got.items() if k.startswith("2026-05-01")]
    assert mars_none == [("2026-05-01", 23, 5)]


def test_override_zone_and_the_recap_clock(spark):
    """--timezone for a personal export, through the whole recap: the Vancouver play's
    minute is at 14 in hourly_minutes and its day is the busiest."""
    rows = [
        play("me", "2026-11-15T21:55:00", 120000, artist="A", track="T"),
        play("me", "2026-02-01T10:00:00", 60000, artist="A", track="T"),
    ]  # PST → 02:00
    out = recaps.build_recaps(
        events_df(spark, rows),
        None,
        None,
        None,
        ids_df(spark, []),
        None,
        year=Y,
        rules=_rules(),
        timezone="America/Vancouver",
    )
    r = out.collect()[0]
    assert (
        r["hourly_minutes"][14] == 2
        and r["hourly_minutes"][2] == 1
        and sum(r["hourly_minutes"]) == 3
    )
    assert r["peak_hour"] == 14
    assert r["busiest_day"] == dt.date(2026, 11, 15)


def test_zone_report_counts_unknown_zones(spark):
    users = users_df(
        spark,
        [
            ("a", "Mars/Olympus", False),
            ("b", "Mars/Olympus", False),
            ("c", "Europe/Berlin", False),
            ("d", None, False),
        ],
    )
    rep = recaps.zone_report(recaps.zone_census(users))
    assert rep == {
        "tzdata": localtime.VERSION,
        "zones": 1,
        "unknown_zone_listeners": 2,
        "unknown_zones": ["Mars/Olympus"],
        "no_zone_listeners": 1,
    }


def test_the_jvm_is_not_consulted(spark):
    """Whatever the JVM's tzdata says about Vancouver in November 2026, the result is
    the shipped rules' (this JVM may well still say UTC-8)."""
    jvm = spark.sql(
        "SELECT hour(from_utc_timestamp(TIMESTAMP'2026-11-15 21:55:00', 'America/Vancouver')) AS h"
    ).first()["h"]
    users = users_df(spark, [("van", "America/Vancouver", False)])
    got = _local(spark, [play("van", "2026-11-15T21:55:00", 60001, artist="A", track="T")], users)
    assert got["2026-11-15T21:55:00"][1] == 14
    assert jvm in (13, 14)  # 13: an old JVM tzdata, which Encore no longer depends on


# --- a personal export's zone ----------------------------------------------------

SPAN = (ts("2024-01-01T00:00:00"), ts("2027-01-01T00:00:00"))


@pytest.mark.parametrize(
    "country,zone",
    [
        ("IN", "Asia/Kolkata"),
        ("JP", "Asia/Tokyo"),
        ("KR", "Asia/Seoul"),
        ("DE", "Europe/Berlin"),  # Busingen keeps the same rules: still one zone
        ("de", "Europe/Berlin"),
        ("US", None),
        ("ES", None),
        ("BR", None),
        ("CN", None),
        ("XX", None),
        (None, None),
    ],
)
def test_single_zone_countries(country, zone):
    assert localtime.single_zone(country, *SPAN) == zone


def test_choose_export_zone():
    assert localtime.choose_export_zone({"IN": 95, "GB": 5}, *SPAN) == (
        "Asia/Kolkata",
        "95 % of plays are from IN, whose time zone is Asia/Kolkata",
    )
    assert (
        localtime.choose_export_zone({"IN": 90, None: 10}, *SPAN)[0] == "Asia/Kolkata"
    )  # 90 % exactly
    zone, why = localtime.choose_export_zone({"IN": 89, "GB": 11}, *SPAN)
    assert zone == "UTC" and "several countries" in why and "IN 89 %" in why
    zone, why = localtime.choose_export_zone({"US": 100}, *SPAN)
    assert zone == "UTC" and "more than one time zone" in why
    # review finding: a code the time-zone database does not list is not "more than one
    # time zone". Spotify writes ZZ for an unknown country; XK (Kosovo, a code the
    # platforms use outside ISO 3166, so not in zone.tab) keeps Belgrade's time.
    zone, why = localtime.choose_export_zone({"ZZ": 100}, *SPAN)
    assert zone == "UTC" and "more than one" not in why
    assert why == (
        "100 % of plays are from ZZ, a code the time-zone database does not know "
        "(zone.tab): using UTC; pass --timezone"
    )
    assert localtime.choose_export_zone({"XK": 97, "RS": 3}, *SPAN) == (
        "Europe/Belgrade",
        "97 % of plays are from XK, whose time zone is Europe/Belgrade",
    )
    assert localtime.choose_export_zone({None: 7}, *SPAN)[0] == "UTC"
    assert localtime.choose_export_zone({}, *SPAN)[0] == "UTC"


def test_zoneinfo_from_the_package_not_the_system():
    """The rules are read from the tzdata package's files even where the system has its
    own /usr/share/zoneinfo (which may be older)."""
    z = localtime.zone("America/Vancouver")
    assert isinstance(z, ZoneInfo) and z.key == "America/Vancouver"
    with pytest.raises(KeyError):
        localtime.zone("../../etc/passwd")


def test_facts_local_hour_and_date_follow_the_shipped_rules(spark, cfg):
    """Facts (a genre's peak hour, work hours, Valentine's Day) read the same clock."""
    from datetime import datetime

    from encore import facts
    from encore.platform import schemas

    def event(user, when, ms=200_000):
        row = dict.fromkeys(schemas.column_names(schemas.EVENT))
        row.update(
            event_id=f"{user}-{when}",
            user_id=user,
            ts=when,
            ms_played=ms,
            kind="track",
            track_name="Song",
            artist_name="Artist",
            album_name="Album",
            platform="ios",
            country="CA",
            private_session=False,
        )
        return row

    users = [
        dict(
            user_id=u,
            country=c,
            birth_year=1990,
            timezone=z,
            created_at=datetime(2020, 1, 1, tzinfo=dt.UTC),
            marketing_opt_out=False,
        )
        for u, c, z in (
            ("van", "CA", "America/Vancouver"),
            ("ber", "DE", "Europe/Berlin"),
            ("mars", "XX", "Mars/Olympus"),
        )
    ]
    events = [
        event("van", ts("2026-11-13T21:55:00")),  # Friday 14:55 local (UTC-7): work hours
        event("ber", ts("2026-02-13T23:30:00")),  # 2026-02-14 00:30 CET: Valentine's Day
        event("mars", ts("2026-02-13T23:30:00")),
    ]  # unknown zone: UTC, still 02-13
    mk = lambda rows, schema: spark.createDataFrame(rows, schemas.spark_schema(schema))  # noqa: E731
    erasures = spark.createDataFrame([], "user_id string")
    tables = facts.population_tables(
        mk(events, schemas.EVENT),
        mk(users, schemas.USERS),
        erasures,
        year=Y,
        cfg=cfg,
        sources=("streams", "listeners"),
    )
    got = {r["user_id"]: (r["local_date"], r["hour"]) for r in tables["streams"].collect()}
    assert got == {"van": ("2026-11-13", 14), "ber": ("2026-02-14", 0), "mars": ("2026-02-13", 23)}
    share = {r["user_id"]: r["work_hours_share"] for r in tables["listeners"].collect()}
    assert share["van"] == 1.0 and share["ber"] == 0.0


def _spotify_export(folder, plays):
    """A Spotify extended-history file: plays = [(ts, country, artist, track)]."""
    import json

    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            "ts": t,
            "platform": "android",
            "ms_played": 200000,
            "conn_country": c,
            "ip_addr": "1.2.3.4",
            "master_metadata_track_name": track,
            "master_metadata_album_artist_name": artist,
            "master_metadata_album_album_name": "Album",
            "spotify_track_uri": f"spotify:track:{i:022d}",
            "episode_name": None,
            "episode_show_name": None,
            "spotify_episode_uri": None,
            "reason_start": "clickrow",
            "reason_end": "trackdone",
            "shuffle": False,
            "skipped": False,
            "offline": False,
            "offline_timestamp": None,
            "incognito_mode": False,
        }
        for i, (t, c, artist, track) in enumerate(plays)
    ]
    (folder / "Streaming_History_Audio_2025_0.json").write_text(
        json.dumps(rows, ensure_ascii=False), encoding="utf-8"
    )
    return folder


INDIA = [(f"2025-03-{d:02d}T14:30:00Z", "IN", "Arijit Singh", "Kesariya") for d in range(1, 19)] + [
    ("2025-04-01T14:30:00Z", "IN", "S. P. Balasubrahmanyam", "लिङ्गाष्टकम्"),
    ("2025-04-02T14:30:00Z", "GB", "NewJeans", "Super Shy"),  # 1 of 20 abroad: 95 % IN
]


def _users(spark, root):
    return {r.user_id: r.timezone for r in spark.read.parquet(str(root / "users")).collect()}


def test_an_indian_export_gets_kolkata_and_says_why(spark, cfg, tmp_path, capsys):
    import json

    from encore.ingest import exports

    root = tmp_path / "data"
    src = _spotify_export(tmp_path / "in", INDIA)
    exports.ingest_export(
        spark,
        cfg,
        root=str(root),
        run_id="r1",
        source=None,
        input_path=str(src),
        user_id="me",
        timezone=None,
    )
    out = capsys.readouterr().err
    assert (
        "time zone: Asia/Kolkata (95 % of plays are from IN, whose time zone is Asia/Kolkata)"
        in out
    )
    assert "--timezone ZONE" in out
    assert _users(spark, root) == {"me": "Asia/Kolkata"}
    report = json.loads((root / "reports" / "ingest-r1.json").read_text())
    assert report["timezone"]["zone"] == "Asia/Kolkata" and report["timezone"]["how"] == "detected"
    assert report["timezone"]["tzdata"] == localtime.VERSION
    # a recap now reads the Indian clock: 14:30 UTC is 20:00 IST
    from encore.platform import datasets

    r = recaps.build_recaps(
        datasets.read_events(spark, str(root)),
        datasets.read_dimension(spark, str(root), "users"),
        None,
        None,
        ids_df(spark, []),
        None,
        year=2025,
        rules=_rules(),
    ).collect()[0]
    assert r["hourly_minutes"][20] == 20 * 200000 // 60000 and r["peak_hour"] == 20
    # re-ingesting with --timezone changes it
    exports.ingest_export(
        spark,
        cfg,
        root=str(root),
        run_id="r2",
        source=None,
        input_path=str(src),
        user_id="me",
        timezone="Europe/London",
    )
    assert _users(spark, root) == {"me": "Europe/London"}
    assert "set by --timezone Europe/London" in capsys.readouterr().err
    # and a later ingest without it keeps the chosen zone
    exports.ingest_export(
        spark,
        cfg,
        root=str(root),
        run_id="r3",
        source=None,
        input_path=str(src),
        user_id="me",
        timezone=None,
    )
    assert _users(spark, root) == {"me": "Europe/London"}
    assert "stored by an earlier ingest (Europe/London)" in capsys.readouterr().err


def test_a_mixed_export_falls_back_to_utc_with_the_reason(spark, cfg, tmp_path, capsys):
    import json

    from encore.ingest import exports

    root = tmp_path / "data"
    plays = [(f"2025-05-{d:02d}T10:00:00Z", "JP", "YOASOBI", "アイドル") for d in range(1, 9)] + [
        (f"2025-06-{d:02d}T10:00:00Z", "KR", "아이유", "시작") for d in range(1, 3)
    ]  # 80 % JP
    src = _spotify_export(tmp_path / "mixed", plays)
    exports.ingest_export(
        spark,
        cfg,
        root=str(root),
        run_id="m1",
        source=None,
        input_path=str(src),
        user_id="me",
        timezone=None,
    )
    out = capsys.readouterr().err
    assert (
        "time zone: UTC (plays come from several countries (JP 80 %, KR 20 %; 90% of one is needed)"
        in out
    )
    assert _users(spark, root) == {"me": None}
    report = json.loads((root / "reports" / "ingest-m1.json").read_text())
    assert report["timezone"]["zone"] == "UTC" and report["timezone"]["how"] == "fallback"


def test_bench_duckdb_cross_check_agrees_on_vancouver_in_november_2026(spark, cfg, tmp_path):
    """The bench's DuckDB oracle gets the same offsets as Spark, so the two agree on the
    clock by construction, not by the luck of DuckDB's ICU version."""
    from pyspark.sql import functions as F

    from encore.tools import bench

    rows = []
    for d in range(2, 15):  # evenings after BC's change: 21:55Z = 14:55 (UTC-7), not 13:55
        rows += [
            play("van", f"2026-11-{d:02d}T21:55:00", 200000 + d, artist="Aespa", track="Whiplash")
        ]
    rows += [
        play("van", "2026-06-01T04:00:00", 100000, artist="Aespa", track="Supernova")
    ]  # 21:00 PDT
    rows += [
        play("ber", "2026-03-29T01:30:00", 240000, artist="Rammstein", track="Sonne"),  # 03:30 CEST
        play("ber", "2026-10-25T01:30:00", 250000, artist="Rammstein", track="Sonne"),  # 02:30 CET
        play(
            "ber", "2026-10-24T22:30:00", 260000, artist="Rammstein", track="Du hast"
        ),  # 10-25 00:30
        play(
            "kol", "2026-02-01T19:00:00", 200000, artist="Arijit Singh", track="Kesariya"
        ),  # 00:30 +1d
        play("mars", "2026-02-01T19:00:00", 200000, artist="Ado", track="唱"),
    ]
    users = users_df(
        spark,
        [
            ("van", "America/Vancouver", False),
            ("ber", "Europe/Berlin", False),
            ("kol", "Asia/Kolkata", False),
            ("mars", "Mars/Olympus", False),
        ],
    )
    root = tmp_path / "data"
    ev = events_df(spark, rows)
    ev.withColumn("year", F.year("ts")).withColumn("month", F.month("ts")).write.partitionBy(
        "year", "month"
    ).parquet(str(root / "events"))
    users.write.parquet(str(root / "users"))
    rec = recaps.build_recaps(
        ev, users, None, None, ids_df(spark, []), None, year=Y, rules=cfg["recaps"]
    )
    recaps.conform(rec).write.parquet(str(root / "recaps" / f"year={Y}"))
    spark_rows = bench.spark_core_recaps(str(root), Y)
    duck = bench.duckdb_core_recaps(str(root), Y, cfg)
    assert spark_rows["van"]["peak_hour"] == 14 and duck["van"]["peak_hour"] == 14
    assert spark_rows["kol"]["busiest_day"] == dt.date(2026, 2, 2)
    assert bench.compare_core(spark_rows, duck) == []
    assert set(duck) == {"van", "ber", "kol", "mars"}
