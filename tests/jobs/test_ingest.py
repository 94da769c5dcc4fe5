"""Ingest of the platform log: every reason code, the text rules, reconciliation,
idempotence, incremental months, the generator's planted dirty records, and no IP
address anywhere in the outputs."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import unicodedata

import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from encore.ingest import canonical
from encore.ingest import job as ingest
from encore.tools import generate as gen
from encore.tools import listening

BASE = {
    "ts": "2025-01-15T10:00:00Z",
    "user_id": "u1",
    "ms_played": 200000,
    "platform": "android",
    "conn_country": "fr",
    "ip_addr": "198.51.100.23",
    "master_metadata_track_name": "Song",
    "master_metadata_album_artist_name": "Artist",
    "master_metadata_album_album_name": "Album",
    "spotify_track_uri": "spotify:track:AAAAAAAAAAAAAAAAAAAAAA",
    "episode_name": None,
    "episode_show_name": None,
    "spotify_episode_uri": None,
    "audiobook_title": None,
    "audiobook_uri": None,
    "audiobook_chapter_uri": None,
    "audiobook_chapter_title": None,
    "reason_start": "clickrow",
    "reason_end": "trackdone",
    "shuffle": False,
    "skipped": False,
    "offline": False,
    "offline_timestamp": None,
    "incognito_mode": False,
}
DROP = object()
NO_ITEM = {
    k: None
    for k in canonical.TRACK_FIELDS
    + canonical.EPISODE_FIELDS
    + canonical.AUDIOBOOK_FIELDS
    + ("master_metadata_album_artist_name", "master_metadata_album_album_name")
}


def line(**changes) -> bytes:
    rec = dict(BASE)
    for k, v in changes.items():
        if v is DROP:
            rec.pop(k, None)
        else:
            rec[k] = v
    return json.dumps(rec, ensure_ascii=False).encode("utf-8")


# one record per reason code (and a few variants), each written by hand
REASON_CASES: list[tuple[bytes, str]] = [
    (
        line(master_metadata_track_name="__BAD__").replace(b"__BAD__", b"Caf\xe9 \xff\xfe"),
        "bad_encoding",
    ),
    (line()[:60], "bad_json"),
    (b'{"user_id": "u1", "ts": ', "bad_json"),
    (b'["u1", "2025-01-15T10:00:00Z"]', "not_an_object"),
    (b"42", "not_an_object"),
    (line(user_id=DROP), "missing_user_id"),
    (line(user_id=None), "missing_user_id"),
    (line(user_id="   "), "missing_user_id"),
    (line(ts=DROP), "missing_ts"),
    (line(ts=None), "missing_ts"),
    (line(ts="yesterday"), "bad_ts"),
    (line(ts="2025-13-45T25:61:00Z"), "bad_ts"),
    (line(ts="1970-01-01T00:00:00Z"), "bad_ts"),
    (line(ts="2099-03-01T10:00:00Z"), "bad_ts"),
    (line(ms_played=DROP), "missing_ms_played"),
    (line(ms_played="three minutes"), "bad_type:ms_played"),
    (line(ms_played=12.5), "bad_type:ms_played"),
    (line(ms_played="NaN"), "bad_type:ms_played"),
    (line(ms_played=-1), "negative_ms"),
    (line(ms_played=86_400_001), "implausible_ms"),
    (line(shuffle="yes"), "bad_type:shuffle"),
    (line(skipped="maybe"), "bad_type:skipped"),
    (line(offline=2), "bad_type:offline"),
    (line(incognito_mode="1"), "bad_type:incognito_mode"),
    (line(**NO_ITEM), "unknown_kind"),
]
ACCEPTED_CASES: list[bytes] = [
    line(),
    line(ms_played=0),
    line(ms_played=86_400_000),  # exactly ingest.max_ms_played
    line(ms_played="1234"),  # digits in a string: a number
    line(ts="2030-12-31T23:59:59Z"),  # last second of ingest.latest_year
    line(ts="2006-01-01T00:00:00Z"),  # first second of ingest.earliest_year
    line(shuffle=None, skipped=DROP),  # booleans may be null or absent
]


def _tag(spark, cfg, lines, **kw):
    df = spark.createDataFrame(
        [(v, "raw/events/f.jsonl") for v in lines], "value binary, source_file string"
    )
    df = df.select(F.col("value").cast("string").alias("value"), "source_file")
    return canonical.parse_events(
        df, ingest_cfg=cfg["ingest"], source="platform-log", **kw
    ).collect()


def test_every_reason_code_has_a_record_that_triggers_it(spark, cfg):
    assert {r for _, r in REASON_CASES} == set(canonical.REASONS)
    rows = _tag(spark, cfg, [v for v, _ in REASON_CASES] + ACCEPTED_CASES)
    got = [r.reason for r in rows]
    assert got == [r for _, r in REASON_CASES] + [None] * len(ACCEPTED_CASES)
    assert all(r.record for r in rows[: len(REASON_CASES)])  # rejects keep their record
    assert all(r.record is None for r in rows[len(REASON_CASES) :])


def test_quarantine_keeps_the_record_verbatim_but_no_ip(spark, cfg):
    truncated = line(ms_played=-5)[:-1]  # also bad JSON: the ip_addr value is still complete
    rows = _tag(
        spark, cfg, [line(ms_played=-5), truncated, b'{"ip_addr": "10.1.2.3", "user_id": "u']
    )
    assert rows[0].reason == "negative_ms"
    assert rows[0].record == line(ms_played=-5).decode().replace("198.51.100.23", "<redacted>")
    assert rows[1].reason == "bad_json" and "198.51.100.23" not in rows[1].record
    assert rows[2].record == '{"ip_addr": "<redacted>", "user_id": "u'


def test_bad_utf8_is_quarantined_with_replacement_characters(spark, cfg):
    bad = REASON_CASES[0][0]
    (row,) = _tag(spark, cfg, [bad])
    assert row.reason == "bad_encoding"
    assert "Caf\ufffd \ufffd\ufffd" in row.record


def test_text_is_nfc_and_trimmed_and_kind_follows_the_fields(spark, cfg):
    rows = _tag(
        spark,
        cfg,
        [
            line(
                master_metadata_track_name="  Cafe\u0301\u00a0",
                master_metadata_album_artist_name="\tBeyonce\u0301 ",
            ),
            line(
                **{
                    **NO_ITEM,
                    "episode_name": "Ep 1",
                    "episode_show_name": " Show ",
                    "spotify_episode_uri": "spotify:episode:E",
                }
            ),
            line(
                **{
                    **NO_ITEM,
                    "audiobook_title": "Dune",
                    "audiobook_uri": "spotify:show:D",
                    "audiobook_chapter_uri": "spotify:episode:D1",
                    "audiobook_chapter_title": "Chapter 1",
                }
            ),
            line(incognito_mode=None, conn_country=" fr "),
        ],
    )
    assert [r.reason for r in rows] == [None] * 4
    assert rows[0].track_name == "Caf\u00e9" and rows[0].artist_name == "Beyonc\u00e9"
    assert unicodedata.is_normalized("NFC", rows[0].track_name)
    assert [r.kind for r in rows] == ["track", "episode", "audiobook", "track"]
    assert (rows[1].episode_name, rows[1].show_name, rows[1].track_uri) == ("Ep 1", "Show", None)
    assert (rows[2].show_name, rows[2].episode_name, rows[2].episode_uri) == (
        "Dune",
        "Chapter 1",
        "spotify:episode:D1",
    )
    assert rows[3].private_session is False and rows[3].country == "FR"
    assert rows[0].source == "platform-log" and (rows[0].year, rows[0].month) == (2025, 1)
    assert str(rows[0].ts) == "2025-01-15 10:00:00"


def test_event_id_identifies_the_play_not_the_copy(spark, cfg):
    rows = _tag(
        spark,
        cfg,
        [
            line(),
            line(platform="ios", shuffle=True),
            line(ms_played=200001),
            line(ts="2025-01-15T10:00:01Z"),
            line(user_id="u2"),
        ],
    )
    ids = [r.event_id for r in rows]
    assert ids[0] == ids[1]  # same play, other client details: a duplicate
    assert len(set(ids)) == 4 and all(len(i) == 32 for i in ids)


# --- the job on hand-written raw files --------------------------------------------------
L1 = line()
L1_RETRY = line(platform="ios")  # the same play (same event_id), from another client
L2 = line(ts="2025-02-01T08:00:00Z")
L3 = line(ts="2025-03-01T08:00:00Z")


def _write_raw(root, name, lines: list[bytes], *, gz=False):
    path = root / "raw" / "events" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join(v + b"\n" for v in lines)
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)


def _hand_written_raw(root):
    _write_raw(root, "2025/a.jsonl.gz", [L1, L1, line()[:40], L2], gz=True)
    _write_raw(root, "2025/b.jsonl", [L1_RETRY, b"", line(user_id=None)])
    (root / "raw" / "events" / "c.csv").write_text(
        "user_id,ts,ms_played,master_metadata_track_name,master_metadata_album_artist_name,incognito_mode\n"
        "u1,2025-03-02T09:00:00Z,1000,Csv Song,Csv Artist,false\n",
        encoding="utf-8",
    )


def _digests(root, sub):
    out = {}
    for dirpath, _, files in os.walk(root / sub):
        for name in files:
            p = os.path.join(dirpath, name)
            out[os.path.relpath(p, root)] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    return out


@pytest.mark.slow
def test_reconciliation_adds_up_per_file_and_reingest_changes_nothing(spark, cfg, tmp_path):
    _hand_written_raw(tmp_path)
    first = ingest.ingest_platform(spark, cfg, root=str(tmp_path), run_id="r1", quiet=True)
    files = first["reconciliation"]["files"]
    # computed by hand: L1 kept from a.jsonl.gz; its copy in a and its retry in b are duplicates
    assert files["raw/events/2025/a.jsonl.gz"] == {
        "read": 4,
        "accepted": 2,
        "quarantined": 1,
        "duplicates": 1,
        "erased": 0,
        "reasons": {"bad_json": 1},
    }
    assert files["raw/events/2025/b.jsonl"] == {
        "read": 2,
        "accepted": 0,
        "quarantined": 1,
        "duplicates": 1,
        "erased": 0,
        "reasons": {"missing_user_id": 1},
    }
    assert files["raw/events/c.csv"] == {
        "read": 1,
        "accepted": 1,
        "quarantined": 0,
        "duplicates": 0,
        "erased": 0,
        "reasons": {},
    }
    total = first["reconciliation"]["total"]
    assert (total["read"], total["accepted"], total["quarantined"], total["duplicates"]) == (
        7,
        3,
        2,
        2,
    )
    assert first["events"]["new"] == 3
    saved = json.loads((tmp_path / "reports" / "ingest-r1.json").read_text())
    assert saved["reconciliation"]["total"]["read"] == 7
    # users/ and the optional tables are absent: report lines, not errors
    assert {s["what"] for s in saved["skipped"]} >= {"users", "catalog/tracks", "playlists"}

    events = spark.read.parquet(str(tmp_path / "events"))
    assert events.count() == 3
    assert sorted(r.track_name for r in events.collect()) == ["Csv Song", "Song", "Song"]
    quarantine = pq.read_table(tmp_path / "quarantine").to_pylist()
    assert sorted(r["reason"] for r in quarantine) == ["bad_json", "missing_user_id"]
    assert all(r["run_id"] == "r1" for r in quarantine)

    assert first["raw_files"] == {"found": 3, "read": 3, "unchanged": 0}
    manifest = json.loads((tmp_path / "state" / "ingest-files.json").read_text())["files"]
    assert sorted(manifest) == [
        "raw/events/2025/a.jsonl.gz",
        "raw/events/2025/b.jsonl",
        "raw/events/c.csv",
    ]
    c_bytes = (tmp_path / "raw" / "events" / "c.csv").read_bytes()
    assert manifest["raw/events/c.csv"] == {
        "size": len(c_bytes),
        "sha256": hashlib.sha256(c_bytes).hexdigest(),
        "run_id": "r1",
    }

    # Incremental: a second run reads no raw/events file (all three are unchanged)
    before_events, before_q = _digests(tmp_path, "events"), len(quarantine)
    second = ingest.ingest_platform(spark, cfg, root=str(tmp_path), run_id="r2", quiet=True)
    assert second["raw_files"] == {"found": 3, "read": 0, "unchanged": 3}
    assert second["reconciliation"]["total"]["read"] == 0
    assert second["events"]["new"] == 0 and second["events"]["months_written"] == []
    assert _digests(tmp_path, "events") == before_events  # byte for byte
    assert len(pq.read_table(tmp_path / "quarantine")) == before_q  # not doubled
    saved = json.loads((tmp_path / "reports" / "ingest-r2.json").read_text())
    assert any("3 raw/events files" in s["what"] for s in saved["skipped"])

    # a new file touching one month: only it is read, and that month only is rewritten
    _write_raw(tmp_path, "2025/d.jsonl", [line(ts="2025-03-20T08:00:00Z", user_id="u3"), L2])
    third = ingest.ingest_platform(spark, cfg, root=str(tmp_path), run_id="r3", quiet=True)
    assert third["raw_files"] == {"found": 4, "read": 1, "unchanged": 3}
    assert third["events"]["new"] == 1 and third["events"]["months_written"] == ["2025-03"]
    after = _digests(tmp_path, "events")
    unchanged = {k: v for k, v in before_events.items() if "month=3" not in k}
    assert {k: v for k, v in after.items() if "month=3" not in k} == unchanged
    assert spark.read.parquet(str(tmp_path / "events")).count() == 4
    # L2 is already in events/ (from a.jsonl.gz, not read again): accepted here, and
    # publishing finds it already present
    assert third["reconciliation"]["files"] == {
        "raw/events/2025/d.jsonl": {
            "read": 2,
            "accepted": 2,
            "quarantined": 0,
            "duplicates": 0,
            "erased": 0,
            "reasons": {},
        }
    }
    assert third["events"]["already_present"] == 1

    # a changed file (same path, other bytes) is read again; --reread reads every file
    _write_raw(tmp_path, "2025/b.jsonl", [line(ts="2025-04-02T08:00:00Z", user_id="u4")])
    fourth = ingest.ingest_platform(spark, cfg, root=str(tmp_path), run_id="r4", quiet=True)
    assert fourth["raw_files"] == {"found": 4, "read": 1, "unchanged": 3}
    assert fourth["events"]["new"] == 1
    fifth = ingest.ingest_platform(
        spark, cfg, root=str(tmp_path), run_id="r5", quiet=True, reread=True
    )
    assert fifth["raw_files"] == {"found": 4, "read": 4, "unchanged": 0}
    assert fifth["events"]["new"] == 0 and fifth["events"]["months_written"] == []
    assert spark.read.parquet(str(tmp_path / "events")).count() == 5
    manifest = json.loads((tmp_path / "state" / "ingest-files.json").read_text())["files"]
    assert {p: m["run_id"] for p, m in manifest.items()} == dict.fromkeys(manifest, "r5")


@pytest.mark.slow
def test_dimension_tables_are_validated_and_erasures_merged(spark, cfg, tmp_path):
    raw = tmp_path / "raw"
    (raw / "users").mkdir(parents=True)
    (raw / "users" / "users.jsonl").write_text(
        "\n".join(
            [
                '{"user_id": "u1", "country": "FR", "birth_year": 1990, "timezone": "Europe/Paris", '
                '"created_at": "2020-01-01T00:00:00Z", "marketing_opt_out": false}',
                '{"user_id": "u2", "country": "SE", "birth_year": "nineteen", "timezone": null, '
                '"created_at": "2020-01-01T00:00:00Z", "marketing_opt_out": false}',
                '{"user_id": "u3", "country": "SE", "birth_year": null, "timezone": "Mars/Olympus", '
                '"created_at": "2020-01-01T00:00:00Z", "marketing_opt_out": false}',
                '{"country": "SE"}',
                '{"user_id": "u4", "country": "US", "timezone": null, "created_at": "2021-05-05T00:00:00Z"}',
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    (raw / "catalog").mkdir()
    (raw / "catalog" / "artists.csv").write_text(
        'artist_name,genres\nSigur Ro\u0301s,"[""post-rock"", "" ambient ""]"\nNo Genres,\n',
        encoding="utf-8",
    )
    (raw / "privacy" / "erasures").mkdir(parents=True)
    (raw / "privacy" / "erasures" / "e.jsonl").write_text(
        '{"user_id": "u9", "requested_at": "2025-10-01T12:00:00Z"}\n{"user_id": "u8"}\n',
        encoding="utf-8",
    )
    # a request already recorded (e.g. by erase-user) must survive ingest
    from encore.platform import datasets, schemas

    spark_schema = schemas.spark_schema(schemas.ERASURES)
    import datetime as dt

    datasets.write_dataset(
        spark.createDataFrame([("u7", dt.datetime(2025, 9, 1, tzinfo=dt.UTC))], spark_schema),
        str(tmp_path / "privacy" / "erasures"),
        run_id="r0",
    )

    result = ingest.ingest_platform(spark, cfg, root=str(tmp_path), run_id="r1", quiet=True)
    dims = result["dimensions"]
    assert dims["users"]["reconciliation"]["total"]["reasons"] == {
        "bad_type:birth_year": 1,
        "bad_value:timezone": 1,
        "missing_user_id": 1,
    }
    users = {r.user_id: r for r in spark.read.parquet(str(tmp_path / "users")).collect()}
    assert sorted(users) == ["u1", "u4"]
    assert users["u1"].timezone == "Europe/Paris" and users["u1"].marketing_opt_out is False
    assert users["u4"].marketing_opt_out is True  # unknown consent: opted out
    artists = {
        r.artist_name: r.genres
        for r in spark.read.parquet(str(tmp_path / "catalog" / "artists")).collect()
    }
    assert artists == {"Sigur R\u00f3s": ["post-rock", "ambient"], "No Genres": []}
    erasures = sorted(
        r.user_id for r in spark.read.parquet(str(tmp_path / "privacy" / "erasures")).collect()
    )
    assert erasures == ["u7", "u9"]
    assert dims["privacy/erasures"]["reconciliation"]["total"]["reasons"] == {
        "missing_requested_at": 1
    }
    assert dims["playlists"]["status"] == "absent" and dims["catalog/tracks"]["status"] == "absent"
    reasons = sorted(r["reason"] for r in pq.read_table(tmp_path / "quarantine").to_pylist())
    assert reasons == [
        "bad_type:birth_year",
        "bad_value:timezone",
        "missing_requested_at",
        "missing_user_id",
    ]


def test_no_raw_folder_is_a_one_line_error(spark, cfg, tmp_path):
    from encore.platform.errors import EncoreError

    with pytest.raises(EncoreError, match="no raw/ folder.*encore generate"):
        ingest.ingest_platform(spark, cfg, root=str(tmp_path), run_id="r1", quiet=True)


# --- the generator's planted dirty records -------------------------------------------------
@pytest.fixture(scope="module")
def generated_ingest(spark, cfg, tmp_path_factory):
    root = tmp_path_factory.mktemp("gen-ingest")
    summary = gen.generate(
        str(root),
        users=60,
        years=[2025, 2026],
        seed=3,
        mean_plays=60,
        chunk_users=25,
        dirty_rate=0.01,
    )  # ~76 dirty records, every kind planted
    result = ingest.ingest_platform(spark, cfg, root=str(root), run_id="g1", quiet=True)
    return root, summary, result


def _redacted(text: str) -> str:
    # what quarantine promises: the line, with IP addresses replaced
    text = re.sub(r'("ip_addr[A-Za-z_]*"\s*:\s*)"[^"]*"?', r'\1"<redacted>"', text)
    return re.sub(r"(?<![0-9.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9.])", "<redacted-ip>", text)


@pytest.mark.slow
def test_every_planted_dirty_record_is_quarantined_with_its_reason(generated_ingest, spark):
    root, summary, result = generated_ingest
    planted = [json.loads(x) for x in open(root / "raw" / "_planted" / "dirty.jsonl")]
    assert len(planted) == summary["dirty"] > 20
    assert {p["reason"] for p in planted} == set(listening.DIRTY_KINDS)  # every kind was planted
    erased = {r.user_id for r in spark.read.parquet(str(root / "privacy" / "erasures")).collect()}
    quarantine = {
        (r["source_file"], r["record"], r["reason"])
        for r in pq.read_table(root / "quarantine").to_pylist()
    }
    raw_lines = {}
    for p in planted:
        if p["file"] not in raw_lines:
            with gzip.open(root / p["file"], "rb") as f:
                raw_lines[p["file"]] = f.read().split(b"\n")
    missing, of_erased = [], []
    for p in planted:
        text = raw_lines[p["file"]][p["line"] - 1].decode("utf-8", "replace")
        user = re.search(r'"user_id": "([^"]+)"', text)
        if (
            user and user.group(1) in erased
        ):  # an erased listener's records are counted as erased, not kept
            of_erased.append(p)
            assert (p["file"], _redacted(text), p["reason"]) not in quarantine
        elif (p["file"], _redacted(text), p["reason"]) not in quarantine:
            missing.append(p)
    assert missing == []
    total = result["reconciliation"]["total"]
    by_reason = {}
    for p in planted:
        if p not in of_erased:
            by_reason[p["reason"]] = by_reason.get(p["reason"], 0) + 1
    assert total["reasons"] == dict(sorted(by_reason.items()))
    # the generator's own counts: every play and every retry read once
    assert total["read"] == summary["plays"] + summary["duplicates"]
    # every line naming an erased listener (found here without the code under test) is counted as erased
    named_erased = sum(
        1 for lines in _all_raw_event_lines(root) for ln in lines if _user_of(ln) in erased
    )
    assert total["erased"] == named_erased > 0
    assert total["duplicates"] <= summary["duplicates"]  # an erased listener's retries are erased
    assert (
        total["read"]
        == total["accepted"] + total["quarantined"] + total["duplicates"] + total["erased"]
    )
    for f, e in result["reconciliation"]["files"].items():
        assert e["read"] == e["accepted"] + e["quarantined"] + e["duplicates"] + e["erased"], f
    stored = spark.read.parquet(str(root / "events")).count()
    assert stored == total["accepted"] - result["events"]["erased_not_stored"]
    assert (
        spark.read.parquet(str(root / "events")).where(F.col("user_id").isin(list(erased))).count()
        == 0
    )


def _all_raw_event_lines(root):
    for name in sorted(os.listdir(root / "raw" / "events")):
        with gzip.open(root / "raw" / "events" / name, "rb") as f:
            yield [ln for ln in f.read().split(b"\n") if ln.strip()]


def _user_of(line: bytes):
    try:
        record = json.loads(line.decode("utf-8", "replace"))
    except ValueError:
        found = re.search(rb'"user_id"\s*:\s*"([^"\\]*)"', line)
        return found.group(1).decode("utf-8", "replace") if found else None
    user = record.get("user_id") if isinstance(record, dict) else None
    return user.strip() if isinstance(user, str) else user


def _ip_addresses_in_raw(root) -> set[str]:
    found = set()
    for name in os.listdir(root / "raw" / "events"):
        with gzip.open(root / "raw" / "events" / name, "rb") as f:
            found |= {m.decode() for m in re.findall(rb'"ip_addr": ?"([^"]+)"', f.read())}
    return found


def scan_for_ips(root, known: set[str]) -> list[str]:
    """Every output file under the data root (not raw/): Parquet values and text files."""
    ipv4 = re.compile(r"(?<![0-9.])(?:[0-9]{1,3}\.){3}[0-9]{1,3}(?![0-9.])")
    hits = []
    for dirpath, dirnames, files in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        if rel_dir == "raw" or rel_dir.startswith("raw" + os.sep):
            dirnames[:] = []
            continue
        for name in files:
            path = os.path.join(dirpath, name)
            if name.endswith(".crc"):
                continue
            if name.endswith(".parquet"):
                table = pq.read_table(path)
                texts = [
                    json.dumps(v, default=str) for col in table.columns for v in col.to_pylist()
                ]
            else:
                texts = [open(path, "rb").read().decode("utf-8", "replace")]
            for text in texts:
                if ipv4.search(text) or any(ip in text for ip in known):
                    hits.append(f"{os.path.relpath(path, root)}: {text[:120]}")
    return hits


@pytest.mark.slow
def test_no_ip_address_survives_in_any_output(generated_ingest):
    root, _, _ = generated_ingest
    known = _ip_addresses_in_raw(root)
    assert len(known) > 10  # the scan looks for the real ones, not only a pattern
    files = [f for _, _, fs in os.walk(root / "quarantine") for f in fs if f.endswith(".parquet")]
    assert files, "the scan must see the quarantine"
    assert scan_for_ips(root, known) == []
