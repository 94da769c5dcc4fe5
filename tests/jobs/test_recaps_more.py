"""The recap columns recap-rules.md added: distinct_genres, top_track_percent,
listening_era and listening_age. Expected values worked out by hand next to them."""

from __future__ import annotations

from test_recaps import (
    Y,
    artists_df,
    by_user,
    events_df,
    ids_df,
    play,
    star_population,
    tracks_df,
    users_df,
)

from encore import recaps


def _small(cfg):
    return dict(cfg["recaps"], eligible_min_streams=4, eligible_min_distinct_artists=2)


def _streams(user, n, artist, track, uri, day):
    return [play(user, f"2025-{day}T{10 + i:02d}:00:00", 30000, artist=artist, track=track, uri=uri)
            for i in range(n)]


def test_distinct_genres(spark, cfg):
    ev = (_streams("g", 3, "BLACKPINK", "Pink Venom", "u:bp", "03-01")
          + _streams("g", 2, "Arijit Singh", "Kesariya", "u:as", "03-02")
          + _streams("g", 1, "Nameless", "Quiet", "u:nn", "03-03")
          + _streams("none", 4, "Nameless", "Quiet", "u:nn", "03-04")
          + _streams("none", 1, "Nobody", "Else", "u:nb", "03-05"))
    artists = artists_df(spark, [("BLACKPINK", ["k-pop", "pop"]), ("Arijit Singh", ["filmi", "pop"]),
                                 ("Nameless", [" ", None]), ("Nobody", [])])
    rows = by_user(recaps.build_recaps(events_df(spark, ev), None, None, artists, ids_df(spark, []), None,
                                       year=Y, rules=_small(cfg)))
    # g: k-pop, pop (BLACKPINK), filmi, pop (Arijit): {k-pop, pop, filmi}; blank and null ignored
    assert rows["g"]["distinct_genres"] == 3
    assert [x["genre"] for x in rows["g"]["top_genres"]] == ["pop", "k-pop", "filmi"]  # 5, 3, 2 credits
    assert rows["none"]["distinct_genres"] == 0 and rows["none"]["top_genres"] == []
    # no artists table at all: 0 for everyone
    rows = by_user(recaps.build_recaps(events_df(spark, ev), None, None, None, ids_df(spark, []), None,
                                       year=Y, rules=_small(cfg)))
    assert rows["g"]["distinct_genres"] == 0


def test_top_track_percent_population_floor_and_ineligible(spark, cfg):
    """Every star_population stream is of ("Star", "Song"): the #1 track's population is
    the #1 artist's, so the buckets are the artist's ones, worked out in test_recaps."""
    events = star_population(spark)
    users = users_df(spark, [("p000", None, True)])
    rules = dict(cfg["recaps"], percentile_min_listeners=200)
    got = {r["user_id"]: (r["top_track_percent"], r["top_artist_percent"]) for r in recaps.build_recaps(
        events, users, None, None, ids_df(spark, []), None, year=Y, rules=rules).collect()}
    assert got["p000"] == (0.5, 0.5) and got["p002"] == (1.0, 1.0) and got["p049"] == (25.0, 25.0)
    assert got["p050"] == (None, None)
    assert got["fan"] == (None, None)  # 500 streams but one artist: not eligible, never a percent
    assert all(t == a for t, a in got.values())
    rules = dict(cfg["recaps"], percentile_min_listeners=201)  # one short: the floor
    df = recaps.build_recaps(events, users, None, None, ids_df(spark, []), None, year=Y, rules=rules)
    assert df.where("top_track_percent is not null").count() == 0


def test_top_track_percent_ranks_among_the_songs_listeners(spark, cfg):
    """A song's population differs from its artist's: "hit" is #1 for a and b (3 and 2
    streams), while c streams the artist's other song only."""
    ev = (_streams("a", 3, "IU", "Love wins all", "u:1", "04-01") + _streams("a", 2, "X", "x", "u:x", "04-02")
          + _streams("b", 2, "IU", "Love wins all", "u:1", "04-03") + _streams("b", 2, "X", "x", "u:x", "04-04")
          + _streams("c", 5, "IU", "Blueming", "u:2", "04-05") + _streams("c", 2, "X", "x", "u:x", "04-06"))
    rules = dict(_small(cfg), percentile_min_listeners=2)
    rows = by_user(recaps.build_recaps(events_df(spark, ev), None, None, None, ids_df(spark, []), None,
                                       year=Y, rules=rules))
    # "Love wins all": n = 2 (a, b). a: rank 1 -> p = 50 -> no bucket (25 is the largest)
    assert rows["a"]["top_track_percent"] is None
    # with buckets 10, 50, 100 the song's and the artist's populations give different answers
    rules = dict(rules, percentile_buckets=[10.0, 50.0, 100.0])
    rows = by_user(recaps.build_recaps(events_df(spark, ev), None, None, None, ids_df(spark, []), None,
                                       year=Y, rules=rules))
    assert rows["a"]["top_track_percent"] == 50.0    # rank 1 of 2 -> 50
    assert rows["b"]["top_track_percent"] == 100.0   # rank 2 of 2 -> 100
    assert rows["c"]["top_track_percent"] is None    # "Blueming": 1 listener, under the floor of 2
    assert rows["a"]["top_artist_percent"] == 100.0  # IU: rank 2 of 3 (c has 5) -> 66.7 -> 100
    assert rows["c"]["top_artist_percent"] == 50.0   # rank 1 of 3 -> 33.3 -> 50


def test_listening_era_and_age(spark, cfg):
    tracks = tracks_df(spark, [("u:2011", "A", "a11", 2011), ("u:2013", "B", "b13", 2013),
                               ("u:2016", "C", "c16", 2016), ("u:1999", "D", "d99", 1999),
                               ("u:unk", "E", "e", None)])
    ev = []
    # "tie": span 2010 (2011 x3 + 2013 x1 = 4) ties span 2015 (2016 x4): the later span wins;
    # 2 more streams of unknown year: 8 of 10 dated
    ev += _streams("tie", 3, "A", "a11", "u:2011", "05-01") + _streams("tie", 1, "B", "b13", "u:2013", "05-02")
    ev += _streams("tie", 4, "C", "c16", "u:2016", "05-03") + _streams("tie", 2, "E", "e", "u:unk", "05-04")
    # "half": 4 of 8 dated (exactly half: known); all 1999 -> span 1995
    ev += _streams("half", 4, "D", "d99", "u:1999", "05-05") + _streams("half", 4, "E", "e", "u:unk", "05-06")
    # "less": 3 of 8 dated: unknown
    ev += _streams("less", 3, "D", "d99", "u:1999", "05-07") + _streams("less", 5, "E", "e", "u:unk", "05-08")
    # "solo": all dated but one artist only: ineligible -> null
    ev += _streams("solo", 6, "A", "a11", "u:2011", "05-09")
    rows = by_user(recaps.build_recaps(events_df(spark, ev), None, tracks, None, ids_df(spark, []), None,
                                       year=Y, rules=_small(cfg)))
    assert (rows["tie"]["listening_era"], rows["tie"]["listening_age"]) == (2015, 2025 - 2017 + 18)  # 26
    assert (rows["half"]["listening_era"], rows["half"]["listening_age"]) == (1995, 2025 - 1997 + 18)  # 46
    assert (rows["less"]["listening_era"], rows["less"]["listening_age"]) == (None, None)
    assert rows["solo"]["eligible"] is False
    assert (rows["solo"]["listening_era"], rows["solo"]["listening_age"]) == (None, None)
    # the spec's own example: an era of 2010 in 2026 is an age of 32
    assert 2026 - (2010 + 2) + 18 == 32
    # no catalog: nobody has an era
    rows = by_user(recaps.build_recaps(events_df(spark, ev), None, None, None, ids_df(spark, []), None,
                                       year=Y, rules=_small(cfg)))
    assert {r["listening_era"] for r in rows.values()} == {None}
