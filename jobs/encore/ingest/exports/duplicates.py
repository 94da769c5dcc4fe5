"""One play in two sources (data-contracts.md): a play another source of the same
listener already holds is a duplicate. Richer first: the kept record is the one with
the real ms_played."""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from encore.ingest.exports.formats import WITHOUT_MS
from encore.platform import datasets, schemas
from encore.platform.report import Report

RICHNESS = {"spotify-extended": 0, "spotify-account": 1, "listenbrainz": 2, "lastfm-csv": 3}
CROSS_SOURCE_TOLERANCE_S = 60
"""Two plays of the same track whose start times differ by at most this are one play."""


def _same_play_key(df: DataFrame) -> DataFrame:
    """Track plays with (artist, track) normalised and the play's start instant in
    seconds: a Spotify ``ts`` is when playback stopped, so it started ``ms_played``
    earlier; ListenBrainz ``listened_at`` and Last.fm ``uts`` are the start itself."""

    def norm(c):
        # (?U): every Unicode white space (U+3000, U+00A0, ...), not only ASCII's
        return F.lower(F.trim(F.regexp_replace(F.col(c), r"(?U)\s+", " ")))

    rich = F.coalesce(
        *[F.when(F.col("source") == k, F.lit(v)) for k, v in RICHNESS.items()], F.lit(None)
    )
    start = F.when(F.col("source").isin(*sorted(WITHOUT_MS)), F.unix_seconds("ts")).otherwise(
        F.unix_seconds("ts") - F.floor(F.coalesce(F.col("ms_played"), F.lit(0)) / 1000)
    )
    return (
        df.where(
            (F.col("kind") == "track")
            & F.col("artist_name").isNotNull()
            & F.col("track_name").isNotNull()
        )
        .select(
            "event_id",
            "user_id",
            "year",
            "month",
            norm("artist_name").alias("k_artist"),
            norm("track_name").alias("k_track"),
            rich.alias("rich"),
            start.alias("start_s"),
        )
        .where(F.col("rich").isNotNull())
    )


def cross_source_duplicates(
    events: DataFrame, tolerance_s: int = CROSS_SOURCE_TOLERANCE_S
) -> DataFrame:
    """(event_id, year, month) of the poorer copy of every play two sources of one
    listener both hold: same normalised artist and track, starts at most
    ``tolerance_s`` apart. Matching is one to one and pairs as many plays as can be
    paired: for each poorer source, its plays in order of start each take the earliest
    free play of a richer source within the tolerance (a play takes one partner per
    poorer source, counting the copies already joined to it as one play). With one
    tolerance for every play this sweep finds a largest matching (the intervals
    [start - tol, start + tol] all have one length), so a real repeat one track-length
    later counts twice and two copies of two plays are never counted three times. Nearest-for-both-sides (until 2026-12-08) and nearest-first
    matching both missed pairs (found by review).

    ``events`` is one listener's (``encore ingest --source`` of an export): the candidate
    pairs, a few per play at most, are matched on the driver."""
    k = _same_play_key(events)
    a, b = k.alias("a"), k.alias("b")
    pairs = a.join(
        b,
        (F.col("a.user_id") == F.col("b.user_id"))
        & (F.col("a.k_artist") == F.col("b.k_artist"))
        & (F.col("a.k_track") == F.col("b.k_track"))
        & (F.col("a.rich") < F.col("b.rich"))
        & (F.abs(F.col("a.start_s") - F.col("b.start_s")) <= tolerance_s),
    ).select(
        F.col("a.event_id").alias("keep"),
        F.col("a.start_s").alias("keep_start"),
        F.col("b.event_id").alias("drop"),
        F.col("b.start_s").alias("drop_start"),
        F.col("b.year").alias("year"),
        F.col("b.month").alias("month"),
        F.col("b.rich").alias("drop_rich"),
    )
    candidates: dict[tuple, list[tuple[int, str]]] = {}
    for r in pairs.collect():
        drop = (r["drop_rich"], r["drop_start"], r["drop"], r["year"], r["month"])
        candidates.setdefault(drop, []).append((r["keep_start"], r["keep"]))
    # a dropped copy joins its keeper's play: a play held by several richer sources is one
    # play, and takes one partner per poorer source however many copies it has (else
    # Spotify's extended and account copies of one play absorbed two Last.fm plays)
    play: dict[str, str] = {}

    def find(event_id: str) -> str:
        while event_id in play:
            event_id = play[event_id]
        return event_id

    taken: set[tuple[str, int]] = set()  # (play, poorer source): one partner each
    chosen = []
    # the richest poorer source first: its copies are joined before poorer ones look
    for drop_rich, start, drop, year, month in sorted(candidates):
        for _keep_start, keep in sorted(candidates[(drop_rich, start, drop, year, month)]):
            group = find(keep)
            if (group, drop_rich) not in taken:
                taken.add((group, drop_rich))
                play[drop] = group  # ``drop`` is no one's keeper yet: poorer ones come later
                chosen.append((drop, year, month))
                break
    return events.sparkSession.createDataFrame(chosen, "event_id string, year int, month int")


def drop_cross_source_duplicates(
    spark: SparkSession, root: str, user_id: str, run_id: str, report: Report
) -> int:
    """Remove from events/ the poorer copy of each of the listener's plays that two of
    their sources hold; returns how many. Idempotent: a second run finds none."""
    from encore.ingest.events import month_filter, replace_months

    events = datasets.read_events(spark, root, required=False)
    if "year" not in events.columns:  # no events/ yet (e.g. every play was quarantined)
        report.set("cross_source_duplicates", 0)
        return 0
    mine = events.where(F.col("user_id") == user_id)
    drops = cross_source_duplicates(mine).collect()
    report.set("cross_source_duplicates", len(drops))
    if not drops:
        return 0
    months = sorted({(r["year"], r["month"]) for r in drops})
    ids = spark.createDataFrame([(r["event_id"],) for r in drops], "event_id string")
    cols = schemas.column_names(schemas.EVENT) + ["year", "month"]
    kept = (
        events.where(month_filter(months))
        .join(F.broadcast(ids), "event_id", "left_anti")
        .select(*cols)
    )
    replace_months(root, kept, months, run_id)
    report.say(
        f"{len(drops)} play(s) were already in another of your sources (same track within "
        f"{CROSS_SOURCE_TOLERANCE_S} s): counted once, the richer record kept"
    )
    return len(drops)
