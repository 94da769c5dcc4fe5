"""`encore facts`: differentially private global facts, a budget ledger and immutable
releases (privacy.md, "Global facts: insights, never raw data").

How a release works:

1. ``population_tables`` keeps privacy.md's population and nothing else — non-private
   plays inside the year's window of listeners who have not opted out of marketing use
   and are not erased (playlists of those listeners likewise) — *before* any of it
   reaches the DP library. The tables keep ``user_id`` only as the privacy id.
2. Every fact is a query of the catalog (``encore.facts_catalog``), evaluated by
   Tumult Analytics in a ``Session`` whose protected change is
   ``AddRowsWithID("user_id")``: the listener is the protected unit, each query
   enforces the fact's contribution bounds (``MaxGroupsPerID`` +
   ``MaxRowsPerGroupPerID``, or ``MaxRowsPerID(1)`` on per-listener rows), keys are
   public (catalog, countries, age bands, hours, platforms, named phrases and tracks)
   or chosen by the library's partition selection (``get_groups``). No noise,
   sensitivity or selection is computed here.
3. The year's budget (conf ``[privacy]``) is split by weight; the ledger
   (``ledger/year=Y/*.jsonl``, one new file per release, never rewritten) records
   every release. A request that does not fit in what is left fails with
   ``BudgetExceeded`` before any data is read, and releases nothing. Releases are
   exclusive per root and year on every kind of root (``locks.exclusive``), and the
   ledger is checked again before and after the spend is written: a release that
   finds it moved withdraws (``LedgerMoved``) and publishes nothing.
4. Released values are immutable: ``facts/year=Y/`` holds them; asking again for a
   released fact (same query, whatever its id) returns the stored value and spends
   nothing. A released count below ``min_count`` is stored as suppressed, without
   its number.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import posixpath
import unicodedata
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from encore.facts import catalog as fc
from encore.facts.catalog import DIMENSIONS, FactSpec
from encore.platform import config, datasets, localtime, locks, storage
from encore.platform.context import RunContext
from encore.platform.errors import BudgetExceeded, EncoreError
from encore.platform.locks import RunLocked

ID_SPACE = "listener"
# Beyond this many keys, a fact stores only its released (unsuppressed) keys and a count
# of the rest; below it, every key gets a row (suppressed ones without a number).
EXPLICIT_KEYS_MAX = 64
FACTS_FILE = "part-00000.parquet"
REPORT_FILE = "_REPORT.md"
_TOLERANCE = 1e-9  # floating-point slack when summing epsilons

# One row per released key, plus one summary row per fact (key = null). The year is
# in the path (facts/year=Y/), not in the rows, so `spark.read.parquet("facts")` works.
FACT_ROW = pa.schema(
    [
        ("fact_id", pa.string()),  # the id it was first released under
        ("signature", pa.string()),  # hash of the query: the release's identity
        ("kind", pa.string()),
        ("key", pa.string()),  # JSON object column -> value; null on the fact's summary row
        ("value", pa.float64()),  # the noisy value; null when suppressed or on the summary row
        ("n", pa.float64()),  # average/median: the noisy number of listeners in the group
        ("share", pa.float64()),  # share_per facts: value / sum of the group's released values
        ("suppressed", pa.bool_()),
        ("error95", pa.float64()),  # half-width of the noise's 95 % interval, in value units
        ("epsilon", pa.float64()),
        ("delta", pa.float64()),
        ("mechanism", pa.string()),
        ("note", pa.string()),
        ("params", pa.string()),  # JSON of the query fields
        ("released_at", pa.string()),
        ("run_id", pa.string()),
    ]
)


# --------------------------------------------------------------------------------------
# 1. The population, before the DP session
# --------------------------------------------------------------------------------------
def _age_band_expr(cfg: dict, year: int):
    from pyspark.sql import functions as F

    bands = cfg["facts"]["age_bands"]
    labels = fc.age_band_labels(cfg)
    age = F.lit(year) - F.col("birth_year")
    expr = None
    for i, lo in enumerate(bands):
        hi = bands[i + 1] if i + 1 < len(bands) else None
        cond = (age >= lo) if hi is None else ((age >= lo) & (age < hi))
        expr = F.when(cond, labels[i]) if expr is None else expr.when(cond, labels[i])
    return expr.otherwise(F.lit(None).cast("string"))


def normalise_title(col):
    """Playlist titles and phrases are compared case-folded with single spaces."""
    from pyspark.sql import functions as F

    return F.trim(
        F.regexp_replace(F.lower(F.col(col) if isinstance(col, str) else col), r"\s+", " ")
    )


def normalise_phrase(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).lower().split())


def eligible_listeners(users, erasures):
    """Listeners whose data may enter a fact: not opted out (an unknown choice counts
    as opted out) and not erased."""
    from pyspark.sql import functions as F

    kept = users.filter(F.col("marketing_opt_out") == F.lit(False))
    return datasets.without_erased(kept, erasures)


def population_tables(
    events,
    users,
    erasures,
    *,
    year: int,
    cfg: dict,
    tracks=None,
    playlists=None,
    sources: tuple[str, ...] = fc.SOURCES,
) -> dict:
    """The private tables handed to the DP session, one per source, each keyed by
    ``user_id`` (the privacy id). Pure: DataFrames in, DataFrames out.

    Only non-private plays (``private_session = false``; unknown counts as private) in
    the recap window of eligible listeners; playlists of eligible owners.
    """
    from pyspark.sql import functions as F

    start, end = config.window_bounds(cfg, year)
    listeners = eligible_listeners(users, erasures).select(
        "user_id", "country", "timezone", _age_band_expr(cfg, year).alias("age_band")
    )
    plays = events
    if "year" in plays.columns:  # partition pruning on events/year=Y
        plays = plays.filter(F.col("year") == year)
    plays = (
        plays.filter(
            (F.col("ts") >= F.to_timestamp(F.lit(start)))
            & (F.col("ts") < F.to_timestamp(F.lit(end)))
        )
        .filter(F.col("private_session") == F.lit(False))
        .drop("country")  # the market is the listener's country (users), not the connection's
        .join(listeners, "user_id", "inner")
    )
    # Local time from the shipped IANA rules (encore.localtime), not the JVM's: the
    # offsets of the zones the listeners have (one small distinct over users).
    zones = [r["timezone"] for r in users.select("timezone").distinct().collect()]
    window = config.window_datetimes(cfg, year)
    plays = (
        localtime.with_local_ts(plays, localtime.offset_table(plays.sparkSession, zones, *window))
        .withColumn("hour", F.hour("local_ts").cast("long"))
        .withColumn("local_date", F.date_format("local_ts", "yyyy-MM-dd"))
        .withColumn("minutes", F.col("ms_played").cast("double") / 60000.0)
    )
    wh = cfg["facts"]["work_hours"]
    work = (
        F.dayofweek("local_ts").between(2, 6) & (F.col("hour") >= wh[0]) & (F.col("hour") < wh[1])
    )
    out: dict = {}
    common = ["user_id", "platform", "country", "age_band", "hour", "local_date"]
    if "streams" in sources:
        out["streams"] = plays.filter(
            (F.col("kind") == "track") & (F.col("ms_played") >= cfg["recaps"]["stream_min_ms"])
        ).select(*common, "artist_name", "track_name", "album_name")
    if "episodes" in sources:
        out["episodes"] = plays.filter(F.col("kind") == "episode").select(*common, "show_name")
    if "listeners" in sources:
        music = F.when(F.col("kind") == "track", F.col("minutes")).otherwise(0.0)
        out["listeners"] = plays.groupBy("user_id", "country", "age_band").agg(
            F.sum("minutes").alias("minutes"),
            F.try_divide(F.sum(F.when(work, music).otherwise(0.0)), F.sum(music)).alias(
                "work_hours_share"
            ),
        )
    if playlists is not None and ("playlists" in sources or "playlist_tracks" in sources):
        owned = playlists.withColumnRenamed("owner_user_id", "user_id").join(
            listeners.select("user_id"), "user_id", "inner"
        )
        if "playlists" in sources:
            out["playlists"] = owned.select("user_id", normalise_title("title").alias("title"))
        if "playlist_tracks" in sources and tracks is not None:
            catalog_tracks = tracks.select("track_uri", "artist_name", "track_name")
            out["playlist_tracks"] = (
                owned.select("user_id", "playlist_id", F.explode("track_uris").alias("track_uri"))
                .join(catalog_tracks, "track_uri", "inner")
                .select("user_id", "playlist_id", "artist_name", "track_name")
                .distinct()  # a playlist counts once per track
                .drop("playlist_id")
            )
    return out


@dataclass
class Inputs:
    """What a release needs: the private tables and the public ones (catalog keys)."""

    private: dict
    artists: Any = None  # catalog/artists (artist_name, genres)
    tracks: Any = None  # catalog/tracks
    missing: dict = field(default_factory=dict)  # source/dimension -> why it is unavailable


def read_inputs(spark, root: str, year: int, cfg: dict, sources: set[str]) -> Inputs:
    events = datasets.read_events(spark, root)
    users = datasets.read_dimension(spark, root, "users", required=True)
    erasures = datasets.erased_user_ids(spark, root)
    tracks = datasets.read_dimension(spark, root, "catalog/tracks")
    artists = datasets.read_dimension(spark, root, "catalog/artists")
    playlists = datasets.read_dimension(spark, root, "playlists")
    missing = {}
    if playlists is None:
        missing.update(playlists="no playlists table", playlist_tracks="no playlists table")
    if tracks is None:
        missing.update(
            track="no catalog/tracks table",
            album="no catalog/tracks table",
            playlist_tracks="no catalog/tracks table",
        )
    if artists is None:
        missing.update(artist="no catalog/artists table", genre="no catalog/artists table")
    private = population_tables(
        events,
        users,
        erasures,
        year=year,
        cfg=cfg,
        tracks=tracks,
        playlists=playlists,
        sources=tuple(sorted(sources)),
    )
    # Cached: each fact is one or more Tumult queries, i.e. Spark jobs over its source
    # table; without the cache every one re-reads the events, joins the listeners and
    # converts time zones again (release() unpersists them).
    private = {name: df.cache() for name, df in private.items()}
    return Inputs(private=private, artists=artists, tracks=tracks, missing=missing)


# --------------------------------------------------------------------------------------
# 2. Evaluating facts with Tumult Analytics
# --------------------------------------------------------------------------------------
def _truncation_column(spec: FactSpec) -> str:
    """The column whose groups bound a listener's contribution (the most specific one)."""
    return DIMENSIONS[spec.keys[-1]]["columns"][-1]


def public_keys(spark, spec: FactSpec, inputs: Inputs, cfg: dict):
    """The public KeySet of a fact (None for privately selected keys)."""
    from pyspark.sql import functions as F
    from tmlt.analytics import KeySet

    if spec.private_keys:
        return None
    keyset = None
    for dim in spec.keys:
        if dim == "artist":
            ks = KeySet.from_dataframe(
                inputs.artists.select("artist_name").where("artist_name IS NOT NULL").distinct()
            )
        elif dim == "track" and spec.tracks:
            ks = KeySet.from_tuples([(a, t) for t, a in spec.tracks], ["artist_name", "track_name"])
        elif dim == "track":
            ks = KeySet.from_dataframe(
                inputs.tracks.select("artist_name", "track_name")
                .where("artist_name IS NOT NULL AND track_name IS NOT NULL")
                .distinct()
            )
        elif dim == "album":
            ks = KeySet.from_dataframe(
                inputs.tracks.select("artist_name", "album_name")
                .where("artist_name IS NOT NULL AND album_name IS NOT NULL")
                .distinct()
            )
        elif dim == "genre":
            ks = KeySet.from_dataframe(_artist_genres(inputs).select("genre").distinct())
        elif dim == "country":
            ks = KeySet.from_dict({"country": list(spec.markets or fc.countries(cfg))})
        elif dim == "age_band":
            ks = KeySet.from_dict({"age_band": fc.age_band_labels(cfg)})
        elif dim == "platform":
            ks = KeySet.from_dict({"platform": list(cfg["facts"]["platforms"])})
        elif dim == "hour":
            ks = KeySet.from_dict({"hour": list(range(24))})
        elif dim == "phrase":
            ks = KeySet.from_dict({"phrase": list(spec.phrases)})
        else:  # pragma: no cover - the catalog validator refuses this
            raise EncoreError(f"fact {spec.id}: dimension {dim} has no public keys")
        keyset = ks if keyset is None else keyset * ks
    del F
    return keyset


def _artist_genres(inputs: Inputs):
    from pyspark.sql import functions as F

    return (
        inputs.artists.select("artist_name", F.explode("genres").alias("genre"))
        .where("genre IS NOT NULL")
        .distinct()
    )


def _base_query(spec: FactSpec, year: int, restrict_source: str | None):
    from tmlt.analytics import ColumnType, QueryBuilder

    q = QueryBuilder(spec.source)
    if spec.date:
        q = q.filter(f"local_date = '{year}-{spec.date}'")  # both parts validated digits
    if "genre" in spec.keys:
        q = q.join_public("artist_genres")  # each stream credits every genre of its artist
    if restrict_source:
        q = q.join_public(restrict_source)  # only the named keys' rows reach the bounds
    if "phrase" in spec.keys:
        wanted = [(normalise_phrase(p), p) for p in spec.phrases]

        def phrases_in_title(row, wanted=wanted):
            title = row["title"] or ""
            return [{"phrase": label} for norm, label in wanted if norm in title]

        q = q.flat_map(phrases_in_title, {"phrase": ColumnType.VARCHAR}, augment=True)
    return q


def _bounded(q, spec: FactSpec):
    from tmlt.analytics import MaxGroupsPerID, MaxRowsPerGroupPerID

    col = _truncation_column(spec)
    rows = 1 if spec.unit == "listeners" else spec.max_rows_per_group
    return q.enforce(MaxGroupsPerID(col, spec.max_groups)).enforce(MaxRowsPerGroupPerID(col, rows))


@dataclass
class Evaluated:
    spec: FactSpec
    rows: list[dict]  # key (dict) -> value, n, suppressed, error95
    epsilon: float
    delta: float
    mechanism: str
    note: str


def _describe_noise(info: list[dict]) -> str:
    parts = []
    for i in info:
        mech = getattr(i.get("noise_mechanism"), "name", str(i.get("noise_mechanism"))).lower()
        parts.append(f"{mech}(scale={i.get('noise_parameter'):.4g})")
    return " + ".join(parts)


def error95(info: dict) -> float | None:
    """Half-width of the 95 % interval of one noise draw, from the library's noise info."""
    mech = getattr(info.get("noise_mechanism"), "name", "")
    b = float(info.get("noise_parameter") or 0)
    if b <= 0:
        return 0.0
    if mech == "LAPLACE":
        return b * math.log(20)
    if mech == "GEOMETRIC":  # two-sided geometric, P(k) ∝ exp(-|k|/b)
        a = math.exp(-1 / b)
        # P(|X| > t) = 2 a^(t+1) / (1 + a) <= 0.05
        t = math.log(0.05 * (1 + a) / 2) / math.log(a) - 1
        return float(max(0, math.ceil(t)))
    if mech in ("GAUSSIAN", "DISCRETE_GAUSSIAN"):
        return 1.96 * math.sqrt(b)  # the library reports the variance
    return None


def evaluate_fact(session, spec: FactSpec, inputs: Inputs, year: int, cfg: dict) -> Evaluated:
    """Evaluate one fact in ``session``, spending exactly its budget."""
    from pyspark.sql import functions as F
    from tmlt.analytics import (
        ApproxDPBudget,
        KeySet,
        MaxGroupsPerID,
        MaxRowsPerGroupPerID,
        MaxRowsPerID,
    )

    spark = inputs.private[spec.source].sparkSession
    eps, delta = fc.budget_for(spec, cfg)
    min_count = cfg["privacy"]["min_count"]
    restrict = None
    if spec.tracks:
        restrict = f"named_{spec.signature}"
        with contextlib.suppress(ValueError):  # already added by an earlier fact in this session
            session.add_public_dataframe(
                restrict,
                spark.createDataFrame(
                    [(a, t) for t, a in spec.tracks], "artist_name string, track_name string"
                ),
            )
    mechanisms: list[str] = []
    note = ""

    if spec.private_keys:
        # the library's partition selection picks the open-ended keys (show or title)
        col = DIMENSIONS[spec.keys[0]]["columns"][0]
        sel_eps = eps * cfg["facts"]["selection_share"]
        select = (
            _base_query(spec, year, restrict)
            .enforce(MaxGroupsPerID(col, spec.max_groups))
            .enforce(MaxRowsPerGroupPerID(col, 1))
            .get_groups([col])
        )
        selected = session.evaluate(select, ApproxDPBudget(sel_eps, delta)).where(
            F.col(col).isNotNull()
        )
        selected_keys = [r[col] for r in selected.collect()]
        mechanisms.append(f"partition selection(eps={sel_eps:.4g}, delta={delta:.3g})")
        eps_count = eps - sel_eps
        if not selected_keys:
            return Evaluated(
                spec,
                [],
                eps,
                delta,
                " + ".join(mechanisms),
                "no key passed private selection: nothing to count",
            )
        keys = KeySet.from_dict({col: selected_keys})
    else:
        eps_count = eps
        keys = public_keys(spark, spec, inputs, cfg)

    rows: list[dict] = []
    if spec.kind == "count":
        q = _bounded(_base_query(spec, year, restrict), spec).groupby(keys).count(name="value")
        budget = ApproxDPBudget(eps_count, 0)
        info = session._noise_info(q, budget)
        result = session.evaluate(q, budget).collect()
        err = error95(info[0]) if info else None
        mechanisms.append(_describe_noise(info))
        for r in result:
            value = float(r["value"])
            key = {c: r[c] for c in spec.key_columns}
            # below min_count (privacy.md), or not distinguishable from noise around zero
            # ("never more precision than the noise supports")
            too_small = value < min_count or (err is not None and value <= err)
            rows.append(
                {
                    "key": key,
                    "value": value,
                    "n": None,
                    "suppressed": too_small,
                    "error95": err,
                    "share": None,
                }
            )
        if spec.share_per:
            # shares among the group's *released* keys only: a denominator that included
            # suppressed values would let a reader subtract one back out. A group with a
            # single released key gets no share (it would always read 100 %).
            cols = DIMENSIONS[spec.share_per]["columns"]
            groups: dict = defaultdict(list)
            for r in rows:
                if not r["suppressed"]:
                    groups[tuple(r["key"][c] for c in cols)].append(r)
            for members in groups.values():
                total = sum(r["value"] for r in members)
                for r in members:
                    r["share"] = r["value"] / total if len(members) > 1 and total > 0 else None
    else:
        count_eps = eps_count * cfg["facts"]["count_share"]
        stat_eps = eps_count - count_eps
        base = _base_query(spec, year, restrict).enforce(MaxRowsPerID(1))
        cq = base.clone().groupby(keys).count(name="n")
        count_info = session._noise_info(cq, ApproxDPBudget(count_eps, 0))
        counts = {
            tuple(r[c] for c in spec.key_columns): float(r["n"])
            for r in session.evaluate(cq, ApproxDPBudget(count_eps, 0)).collect()
        }
        grouped = base.clone().groupby(keys)
        sq = (
            grouped.average(spec.metric, spec.low, spec.high, name="value")
            if spec.kind == "average"
            else grouped.median(spec.metric, spec.low, spec.high, name="value")
        )
        stat_info = session._noise_info(sq, ApproxDPBudget(stat_eps, 0))
        mechanisms.append("count " + _describe_noise(count_info))
        mechanisms.append(f"{spec.kind} " + _describe_noise(stat_info))
        for r in session.evaluate(sq, ApproxDPBudget(stat_eps, 0)).collect():
            key = {c: r[c] for c in spec.key_columns}
            n = counts.get(tuple(key[c] for c in spec.key_columns), 0.0)
            value = min(max(float(r["value"]), spec.low), spec.high)  # noise can leave [low, high]
            if spec.kind == "average":
                sum_err = error95(stat_info[0]) if stat_info else None
                err = None if sum_err is None or n <= 0 else sum_err / n
                # meaningless when the noise spans a quarter of the possible range
                vague = err is None or err >= (spec.high - spec.low) / 4
            else:  # exponential mechanism: a bound on the rank error, in listeners
                err = None if n <= 0 else 2 * math.log(20 * (n + 1)) / stat_eps
                vague = (
                    err is None or err >= n / 4
                )  # the released rank could be outside the quartiles
            rows.append(
                {
                    "key": key,
                    "value": value,
                    "n": n,
                    "suppressed": n < min_count or vague,
                    "error95": err,
                    "share": None,
                }
            )
    released = sum(1 for r in rows if not r["suppressed"])
    if spec.kind == "count":
        why = f"noisy value below min_count {min_count}"
        if rows and rows[0]["error95"] is not None:
            why += f" or within the noise's 95 % error ±{rows[0]['error95']:,.0f}"
    else:
        why = (
            f"noisy number of listeners below min_count {min_count}, or too few listeners for the "
            f"noise to leave a meaningful {spec.kind}"
        )
    note = (
        note or f"{len(rows)} keys: {released} released, {len(rows) - released} suppressed ({why})"
    )
    return Evaluated(spec, rows, eps, delta, " + ".join(m for m in mechanisms if m), note)


def open_session(inputs: Inputs, specs: list[FactSpec], cfg: dict, epsilon: float, delta: float):
    """A Tumult Analytics session over the private tables the facts need, with the
    listener as the protected unit, holding exactly the budget of this release."""
    from tmlt.analytics import AddRowsWithID, ApproxDPBudget, Session

    builder = (
        Session.Builder()
        .with_privacy_budget(
            ApproxDPBudget(epsilon * (1 + _TOLERANCE), min(delta * (1 + _TOLERANCE), 1.0))
        )
        .with_id_space(ID_SPACE)
    )
    for source in sorted({s.source for s in specs}):
        builder = builder.with_private_dataframe(
            source, inputs.private[source], protected_change=AddRowsWithID("user_id", ID_SPACE)
        )
    if any("genre" in s.keys for s in specs):
        builder = builder.with_public_dataframe("artist_genres", _artist_genres(inputs))
    return builder.build()


# --------------------------------------------------------------------------------------
# 3. Storage: released facts, ledger, report
# --------------------------------------------------------------------------------------
def ledger_path(root: str, year: int) -> str:
    return datasets.path(root, "ledger", f"year={year}")


def read_ledger(root: str, year: int) -> list[dict]:
    """Every ledger entry of the year, oldest file first."""
    folder = ledger_path(root, year)
    entries = []
    for name in storage.listdir(folder):
        if name.endswith(".jsonl") and not name.startswith((".", "_")):
            for line in storage.read_text(storage.join(folder, name)).splitlines():
                if line.strip():
                    entries.append(json.loads(line))
    return entries


def spent(root: str, year: int) -> tuple[float, float]:
    entries = read_ledger(root, year)
    return sum(e["epsilon"] for e in entries), sum(e["delta"] for e in entries)


def _append_ledger(root: str, year: int, entries: list[dict], run_id: str) -> str:
    """A new file per release: the ledger is append-only, each file written atomically."""
    path = storage.join(ledger_path(root, year), f"{run_id}-{uuid.uuid4().hex[:6]}.jsonl")
    text = "".join(json.dumps(e, sort_keys=True, ensure_ascii=False) + "\n" for e in entries)
    storage.write_text_atomic(path, text)
    return path


def load_released(root: str, year: int) -> list[dict]:
    """Every stored row of ``facts/year=Y/`` (see FACT_ROW), or [] before the first release."""
    final = datasets.facts_path(root, year)
    storage.recover(final)
    path = storage.join(final, FACTS_FILE)
    if not storage.exists(path):
        return []
    table = pq.read_table(pa.BufferReader(storage.read_bytes(path)))
    return table.to_pylist()


def _publish_rows(root: str, year: int, rows: list[dict], run_id: str) -> None:
    final = datasets.facts_path(root, year)
    staged = storage.staging_path(final, run_id)
    storage.delete(staged)
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=FACT_ROW), buf)
    storage.write_bytes_atomic(storage.join(staged, FACTS_FILE), buf.getvalue())
    storage.write_bytes_atomic(storage.join(staged, "_SUCCESS"), b"")
    storage.publish(staged, final, run_id)


@dataclass
class ReleasedFact:
    """A fact as released: its rows (suppressed ones without a value) and what it cost."""

    spec: FactSpec
    rows: list[dict]  # the stored rows with a key (summary row excluded)
    epsilon: float
    delta: float
    mechanism: str
    note: str
    released_at: str
    run_id: str
    reused: bool  # True when this call returned a stored release and spent nothing

    def values(self) -> list[tuple[dict, float | None]]:
        return [(json.loads(r["key"]), r["value"]) for r in self.rows]


def _by_signature(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        out[r["signature"]].append(r)
    return out


def _as_released(spec: FactSpec, stored: list[dict], reused: bool) -> ReleasedFact:
    summary = next(r for r in stored if r["key"] is None)
    keyed = [r for r in stored if r["key"] is not None]
    return ReleasedFact(
        spec,
        keyed,
        summary["epsilon"],
        summary["delta"],
        summary["mechanism"],
        summary["note"],
        summary["released_at"],
        summary["run_id"],
        reused,
    )


def _rows_of(ev: Evaluated, year: int, run_id: str, now: str) -> list[dict]:
    spec = ev.spec
    params = json.dumps(spec.query(), sort_keys=True, ensure_ascii=False)
    common = {
        "fact_id": spec.id,
        "signature": spec.signature,
        "kind": spec.kind,
        "epsilon": ev.epsilon,
        "delta": ev.delta,
        "mechanism": ev.mechanism,
        "params": params,
        "released_at": now,
        "run_id": run_id,
    }
    out = [
        {
            **common,
            "key": None,
            "value": None,
            "n": None,
            "share": None,
            "suppressed": None,
            "error95": None,
            "note": ev.note,
        }
    ]
    explicit = len(ev.rows) <= EXPLICIT_KEYS_MAX
    for r in sorted(
        ev.rows, key=lambda r: json.dumps(r["key"], sort_keys=True, ensure_ascii=False)
    ):
        if r["suppressed"] and not explicit:
            continue  # counted in the note; a suppressed value is never stored
        out.append(
            {
                **common,
                "key": json.dumps(r["key"], sort_keys=True, ensure_ascii=False),
                "value": None if r["suppressed"] else r["value"],
                "n": None if r["suppressed"] or r["n"] is None else round(r["n"]),
                "share": None if r["suppressed"] else r.get("share"),
                "suppressed": bool(r["suppressed"]),
                "error95": r["error95"],
                "note": None,
            }
        )
    return out


class LedgerMoved(RunLocked):
    """The ledger changed between the budget check and the write: another release ran."""


def _ledger_files(root: str, year: int) -> frozenset[str]:
    return frozenset(
        n
        for n in storage.listdir(ledger_path(root, year))
        if n.endswith(".jsonl") and not n.startswith((".", "_"))
    )


def _moved(year: int, seen: frozenset[str], now: frozenset[str]) -> LedgerMoved:
    return LedgerMoved(
        f"privacy ledger for {year} changed while this release was computed ({', '.join(sorted(now - seen))} "
        "appeared: another release ran at the same time); nothing was released: run again"
    )


def release(
    spark,
    root: str,
    year: int,
    specs: list[FactSpec],
    cfg: dict,
    run_id: str,
    *,
    inputs: Inputs | None = None,
    say=None,
) -> dict[str, ReleasedFact]:
    """Release ``specs`` for ``year`` and return every one of them by id.

    Facts already released (same query) come back from storage and spend nothing. The
    rest are evaluated together if — and only if — their budget fits in what the
    ledger says is left of the year's total; otherwise ``BudgetExceeded`` is raised and
    nothing is released. ``inputs`` lets tests hand in their own population.
    """
    say = say or (lambda _line: None)
    ids = [s.id for s in specs]
    if len(set(ids)) != len(ids):
        raise EncoreError(f"fact ids must be unique, got {ids}")
    # one release at a time per root and year (an O_EXCL lock file, or claims on :// roots)
    with locks.exclusive(root, f"ledger-{year}", run_id):
        stored_rows = load_released(root, year)
        stored = _by_signature(stored_rows)
        stored_ids = {r["fact_id"]: r["signature"] for r in stored_rows}
        out: dict[str, ReleasedFact] = {}
        todo: list[FactSpec] = []
        for spec in specs:
            if spec.signature in stored:
                out[spec.id] = _as_released(spec, stored[spec.signature], reused=True)
            elif spec.id in stored_ids:
                raise EncoreError(
                    f"fact {spec.id!r} was already released for {year} with other parameters; "
                    "releases are immutable: give the changed fact a new id"
                )
            else:
                todo.append(spec)
        if not todo:
            return out
        total_eps, total_delta = (
            cfg["privacy"]["epsilon_per_year"],
            cfg["privacy"]["delta_per_year"],
        )
        seen = _ledger_files(root, year)
        used_eps, used_delta = spent(root, year)
        need = [fc.budget_for(s, cfg) for s in todo]
        need_eps, need_delta = sum(e for e, _ in need), sum(d for _, d in need)
        if used_eps + need_eps > total_eps * (
            1 + _TOLERANCE
        ) or used_delta + need_delta > total_delta * (1 + _TOLERANCE):
            raise BudgetExceeded(
                f"privacy budget for {year} exceeded: releasing {', '.join(s.id for s in todo)} needs "
                f"epsilon {need_eps:.4g} / delta {need_delta:.3g}, but only epsilon "
                f"{max(0.0, total_eps - used_eps):.4g} / delta {max(0.0, total_delta - used_delta):.3g} "
                f"of {total_eps:g} / {total_delta:g} is left (ledger: {ledger_path(root, year)}); nothing was released"
            )
        ours = inputs is None
        if ours:
            inputs = read_inputs(spark, root, year, cfg, {s.source for s in todo})
        try:
            return _release_todo(
                root, year, specs, todo, out, stored_rows, inputs, cfg, run_id, say, seen
            )
        finally:
            if ours:
                for df in inputs.private.values():
                    df.unpersist()


def _release_todo(root, year, specs, todo, out, stored_rows, inputs, cfg, run_id, say, seen):
    """release(), once the inputs are there: evaluate, record the spend, publish."""
    need = [fc.budget_for(s, cfg) for s in todo]
    unavailable = []
    for spec in todo:
        why = inputs.missing.get(spec.source) or next(
            (inputs.missing[k] for k in spec.keys if k in inputs.missing), None
        )
        if why:
            unavailable.append((spec, why))
    if unavailable:
        say("skipped " + "; ".join(f"{s.id} ({why})" for s, why in unavailable))
        todo = [s for s in todo if s not in {u for u, _ in unavailable}]
        if not todo:
            return out
        need = [fc.budget_for(s, cfg) for s in todo]
    session = open_session(inputs, todo, cfg, sum(e for e, _ in need), sum(d for _, d in need))
    evaluated = []
    for spec in todo:
        say(f"evaluating {spec.id} (epsilon {fc.budget_for(spec, cfg)[0]:.4g})")
        evaluated.append(evaluate_fact(session, spec, inputs, year, cfg))
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    # check, then write, then check again: the budget was checked against ``seen``; if
    # the ledger moved since (a release that did not honour the lock), this one
    # withdraws before anything is published. The spend is recorded before the values
    # are published: a crash in between over-counts the budget, never under-counts it.
    now_files = _ledger_files(root, year)
    if now_files != seen:
        raise _moved(year, seen, now_files)
    mine = _append_ledger(
        root,
        year,
        [
            {
                "year": year,
                "fact_id": ev.spec.id,
                "signature": ev.spec.signature,
                "params": ev.spec.query(),
                "epsilon": ev.epsilon,
                "delta": ev.delta,
                "mechanism": ev.mechanism,
                "time": now,
                "run_id": run_id,
            }
            for ev in evaluated
        ],
        run_id,
    )
    now_files = _ledger_files(root, year)
    if now_files - seen - {posixpath.basename(mine)}:
        storage.delete(mine)  # the values drawn are never published, so they spent nothing
        raise _moved(year, seen, now_files - {posixpath.basename(mine)})
    new_rows = [row for ev in evaluated for row in _rows_of(ev, year, run_id, now)]
    _publish_rows(root, year, stored_rows + new_rows, run_id)
    fresh = _by_signature(new_rows)
    for ev in evaluated:
        out[ev.spec.id] = _as_released(ev.spec, fresh[ev.spec.signature], reused=False)
    write_report(root, year, cfg)
    return {s.id: out[s.id] for s in specs if s.id in out}


# --------------------------------------------------------------------------------------
# 4. Reading a release the way people do: top lists, shares, one number
# --------------------------------------------------------------------------------------
def _label(key: dict) -> str:
    if "track_name" in key:
        return f"{key['track_name']} — {key['artist_name']}"
    if "album_name" in key:
        return f"{key['album_name']} — {key['artist_name']}"
    return " / ".join(str(v) for v in key.values())


def answer(spec: FactSpec, rows: list[dict]) -> list[dict]:
    """The fact's answer as lines: {"group": ..., "label": ..., "key": ..., "value": ...,
    "share": ...}. Post-processing of released values only; suppressed keys never appear."""
    shown = [
        (json.loads(r["key"]) if isinstance(r["key"], str) else r["key"], r)
        for r in rows
        if not r["suppressed"] and r["value"] is not None
    ]
    lines: list[dict] = []

    def line(group, key, r, share=None):
        dims = {d: {c: key[c] for c in DIMENSIONS[d]["columns"]} for d in spec.keys}
        return {
            "group": group,
            "label": _label(key),
            "key": key,
            "dims": dims,
            "value": r["value"],
            "n": r.get("n"),
            "share": share,
            "error95": r["error95"],
        }

    if spec.per:
        for dim in spec.per:
            cols = DIMENSIONS[dim]["columns"]
            groups: dict = defaultdict(list)
            for key, r in shown:
                groups[tuple(key[c] for c in cols)].append((key, r))
            for g in sorted(groups, key=lambda t: [str(x) for x in t]):
                ranked = sorted(
                    groups[g], key=lambda kr: (-kr[1]["value"], json.dumps(kr[0], sort_keys=True))
                )
                for key, r in ranked[: spec.top or 1]:
                    rest = {k: v for k, v in key.items() if k not in cols}
                    lines.append(
                        {**line({dim: " / ".join(map(str, g))}, key, r), "label": _label(rest)}
                    )
        return lines
    if spec.share_per:  # shares were computed at release over every key of the group
        cols = DIMENSIONS[spec.share_per]["columns"]
        for key, r in sorted(
            shown, key=lambda kr: ([str(kr[0][c]) for c in cols], -kr[1]["value"])
        ):
            g = tuple(key[c] for c in cols)
            rest = {k: v for k, v in key.items() if k not in cols}
            lines.append(
                {
                    **line({spec.share_per: " / ".join(map(str, g))}, key, r, r.get("share")),
                    "label": _label(rest),
                }
            )
        return lines
    ranked = sorted(shown, key=lambda kr: (-kr[1]["value"], json.dumps(kr[0], sort_keys=True)))
    for key, r in ranked[: spec.top] if spec.top else ranked:
        lines.append(line(None, key, r))
    return lines


def plain_error(spec: FactSpec, err: float | None) -> str:
    """The noise's typical error in plain words."""
    if err is None:
        return "error not available"
    if spec.kind == "count":
        unit = (
            "listeners"
            if spec.unit == "listeners"
            else ("playlists" if spec.source.startswith("playlist") else "plays")
        )
        return f"±{err:,.0f} {unit} in 95 % of releases"
    if spec.kind == "average" and spec.metric == "work_hours_share":
        return f"±{100 * err:.1f} percentage points in 95 % of releases"
    if spec.kind == "average":
        return f"±{err:,.1f} in 95 % of releases"
    return f"its rank is within ±{err:,.0f} listeners of the true median in 95 % of releases"


def _fmt_value(spec: FactSpec, value: float) -> str:
    if spec.kind == "count":
        return f"{value:,.0f}"
    if spec.metric == "work_hours_share":
        return f"{100 * value:.1f} %"
    return f"{value:,.0f}"


def write_report(root: str, year: int, cfg: dict) -> str:
    """facts/year=Y/_REPORT.md: every released fact, its answer or why it is suppressed,
    its epsilon and the noise's typical error in plain words."""
    rows = load_released(root, year)
    by_sig = _by_signature(rows)
    catalog = {s.signature: s for s in fc.catalog(cfg)}
    order = {sig: i for i, sig in enumerate(catalog)}
    total_eps, total_delta = cfg["privacy"]["epsilon_per_year"], cfg["privacy"]["delta_per_year"]
    used_eps, used_delta = spent(root, year)
    out = [
        f"# Released facts, {year}",
        "",
        "Differentially private (Tumult Analytics; the protected unit is the listener). "
        "Values are noisy on purpose; a count below "
        f"{cfg['privacy']['min_count']} is suppressed and never stored.",
        "",
        f"Budget spent: epsilon {used_eps:.4g} of {total_eps:g}, delta {used_delta:.3g} of {total_delta:g}.",
        "",
    ]
    for sig, stored in sorted(
        by_sig.items(),
        key=lambda kv: (kv[1][0]["released_at"], order.get(kv[0], len(order)), kv[1][0]["fact_id"]),
    ):
        summary = next(r for r in stored if r["key"] is None)
        spec = catalog.get(sig) or _spec_from_params(summary)
        fact = _as_released(spec, stored, reused=True)
        out += [
            f"## {summary['fact_id']}: {spec.title}",
            "",
            f"- epsilon {fact.epsilon:.4g}, delta {fact.delta:.3g}; mechanism: {fact.mechanism}",
            f"- released {fact.released_at} by run {fact.run_id}; {fact.note}",
        ]
        errs = [r["error95"] for r in fact.rows if r["error95"] is not None and not r["suppressed"]]
        if errs:
            out.append(f"- typical error: {plain_error(spec, max(errs))}")
        lines = answer(spec, fact.rows)
        if not lines:
            out += [
                "",
                "**suppressed** — no value above the minimum count"
                if fact.rows or "selection" in fact.note
                else "**suppressed** — nothing to release",
                "",
            ]
            continue
        out.append("")
        for ln in lines:
            group = "".join(f"{k}={v}: " for k, v in (ln["group"] or {}).items())
            share = f" ({100 * ln['share']:.1f} %)" if ln["share"] is not None else ""
            n = f" (about {ln['n']:,.0f} listeners)" if ln.get("n") else ""
            out.append(f"- {group}{ln['label']}: {_fmt_value(spec, ln['value'])}{share}{n}")
        suppressed = (
            [r for r in fact.rows if r["suppressed"]] if not spec.per and not spec.top else []
        )
        for r in suppressed[:10]:
            out.append(f"- {_label(json.loads(r['key']))}: suppressed")
        if len(suppressed) > 10:
            out.append(f"- ... and {len(suppressed) - 10} more suppressed")
        out.append("")
    path = storage.join(datasets.facts_path(root, year), REPORT_FILE)
    storage.write_text_atomic(path, "\n".join(out))
    return path


def _spec_from_params(summary: dict) -> FactSpec:
    """A FactSpec for a stored release that is not in the current catalog (campaign facts)."""
    p = json.loads(summary["params"])
    body = {k: v for k, v in p.items() if v not in (None, [], ())}
    body["private_keys"] = bool(p.get("private_keys"))
    body["weight"] = 1
    return fc.spec_from_dict(summary["fact_id"], body)


# --------------------------------------------------------------------------------------
# 5. The command
# --------------------------------------------------------------------------------------
def add_arguments(p: argparse.ArgumentParser) -> None:
    from encore.platform.args import add_common

    add_common(p, year=True)
    p.add_argument(
        "--fact",
        action="append",
        default=[],
        metavar="ID",
        help="release only this catalog fact (repeatable); default: the whole catalog",
    )


def main(args: argparse.Namespace, cfg: dict) -> int:
    """`encore facts`: the parsed flags -> :func:`run`."""
    return run(RunContext.from_args(args, cfg), facts=tuple(args.fact or ()))


def run(ctx: RunContext, *, facts: tuple[str, ...] = ()) -> int:
    """Release the year's facts (all of the catalog, or the ids in ``facts``) within the
    year's budget, and write the facts report."""
    cfg, root, year = ctx.cfg, ctx.data, ctx.need_year("facts")
    report = ctx.report("facts")
    specs = fc.catalog(cfg)
    if facts:
        known = {s.id for s in specs}
        unknown = [f for f in facts if f not in known]
        if unknown:
            raise EncoreError(
                f"--fact {unknown[0]}: not in the fact catalog ({', '.join(sorted(known))})"
            )
        specs = [s for s in specs if s.id in facts]
    report.phase("release")
    stored = {r["signature"] for r in load_released(root, year)}
    # a re-run with everything released reads storage only: no Spark session at all
    spark = None if all(s.signature in stored for s in specs) else ctx.session("facts")
    released = release(spark, root, year, specs, cfg, report.run_id, say=report.say)
    spent_now = 0.0
    for spec in specs:
        fact = released.get(spec.id)
        if fact is None:
            report.skipped(spec.id, "its input table is missing")
            continue
        shown = answer(spec, fact.rows)
        status = "stored, nothing spent" if fact.reused else f"epsilon {fact.epsilon:.4g} spent"
        report.wrote(f"fact {spec.id}", f"{len(shown)} lines ({status}); {fact.note}")
        if not fact.reused:
            spent_now += fact.epsilon
    if released:
        write_report(root, year, cfg)  # deterministic: a re-run rewrites the same text
    used_eps, used_delta = spent(root, year)
    report.set("local_time", {"tzdata": localtime.VERSION})  # hour, work hours, Valentine's Day
    report.set("epsilon_spent_this_run", spent_now)
    report.set("epsilon_spent_year", used_eps)
    report.set("delta_spent_year", used_delta)
    report.note(
        f"budget {year}: epsilon {used_eps:.4g} of {cfg['privacy']['epsilon_per_year']:g} spent "
        f"({spent_now:.4g} by this run); report {storage.join(datasets.facts_path(root, year), REPORT_FILE)}"
    )
    report.finish()
    return 0
