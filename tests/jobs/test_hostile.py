"""Hostile input is refused or contained with a clear message, never a crash and never
a lost record: deeply nested JSON, huge numbers in numeric fields, oversized exports."""

from __future__ import annotations

import gzip
import json
import os

import pyarrow.parquet as pq
import pytest

from encore.ingest import exports
from encore.ingest import job as ingest
from encore.platform.errors import EncoreError

GOOD = {
    "user_id": "usr_ok",
    "ts": "2025-03-01T10:00:00Z",
    "ms_played": 200000,
    "platform": "ios",
    "conn_country": "SE",
    "ip_addr": "81.2.69.160",
    "master_metadata_track_name": "Song",
    "master_metadata_album_artist_name": "Artist",
    "master_metadata_album_album_name": "Album",
    "spotify_track_uri": "spotify:track:1",
    "incognito_mode": False,
}
DEEP = "[" * 5000 + "]" * 5000


def _raw_log(root, lines: list[str]) -> None:
    os.makedirs(os.path.join(root, "raw", "events"))
    with gzip.open(
        os.path.join(root, "raw", "events", "hostile.jsonl.gz"), "wt", encoding="utf-8"
    ) as f:
        f.write("\n".join(lines) + "\n")


def _quarantine(root) -> list[dict]:
    return pq.read_table(os.path.join(root, "quarantine")).to_pylist()


def test_platform_log_contains_deep_nesting_and_huge_numbers(spark, cfg, tmp_path):
    root = str(tmp_path / "data")
    huge = [
        dict(GOOD, ts="2025-03-01T10:00:01Z", ms_played=1e30),
        dict(GOOD, ts="2025-03-01T10:00:02Z", ms_played=10**23),
        dict(GOOD, ts="2025-03-01T10:00:03Z", ms_played=-(10**23)),
        dict(GOOD, ts=99999999999),
        dict(GOOD, ts="2025-03-01T10:00:04Z", ms_played=2**63 - 1),
    ]
    lines = [json.dumps(GOOD), DEEP, '{"user_id": ' + DEEP + "}", *map(json.dumps, huge)]
    _raw_log(root, lines)
    result = ingest.ingest_platform(spark, cfg, root=root, run_id="hostile", quiet=True)
    total = result["reconciliation"]["total"]
    assert (
        total["read"]
        == len(lines)
        == total["accepted"] + total["quarantined"] + total["duplicates"]
    )
    assert total["accepted"] == 1
    reasons = sorted(r["reason"] for r in _quarantine(root))
    # nesting beyond the JSON parser's depth limit is malformed JSON, whatever the shape;
    # numbers beyond a long are wrong types, a long beyond a day of playback implausible,
    # an epoch far in the future a bad timestamp
    assert reasons == sorted(
        [
            "bad_json",
            "bad_json",
            "bad_type:ms_played",
            "bad_type:ms_played",
            "bad_type:ms_played",
            "bad_ts",
            "implausible_ms",
        ]
    )


@pytest.mark.slow
@pytest.mark.parametrize("name", ["Streaming_History_Audio_2025.json", "listens.jsonl"])
def test_deeply_nested_export_is_quarantined_not_a_crash(spark, cfg, tmp_path, name):
    path = tmp_path / name
    lines = name.endswith(".jsonl")
    if lines:
        good = {
            "listened_at": 1740823200,
            "track_metadata": {"artist_name": "A", "track_name": "T"},
        }
        path.write_text(json.dumps(good) + "\n" + DEEP + "\n")
    else:
        path.write_text(DEEP)
    root = tmp_path / "data"
    exports.ingest_export(
        spark,
        cfg,
        root=str(root),
        run_id="deep",
        source="listenbrainz" if lines else None,
        input_path=str(path),
        user_id="usr_me",
        quiet=True,
    )
    # nothing lost: the bad one is a record too, counted in the report as quarantined...
    report = json.loads((root / "reports" / "ingest-deep.json").read_text())
    total = report["reconciliation"]["total"]
    good_plays = 1 if lines else 0
    assert (total["read"], total["accepted"], total["quarantined"], total["duplicates"]) == (
        good_plays + 1,
        good_plays,
        1,
        0,
    )
    assert total["reasons"] == {"bad_json": 1}
    assert report["rejected"] == {"bad_json": 1}
    assert report["quarantine_rows_written"] == 1
    # ...and kept in quarantine/ with its reason, its file and the run that rejected it
    (row,) = _quarantine(root)
    assert (row["reason"], row["source_file"], row["run_id"]) == (
        "bad_json",
        f"export:usr_me:{name}",
        "deep",
    )
    assert row["record"].startswith("[" * 1000)  # the record as it was read


def test_oversized_export_is_refused_with_a_clear_message(tmp_path, monkeypatch):
    monkeypatch.setattr(exports.reading, "MAX_ENTRY_BYTES", 1024)
    big = tmp_path / "Streaming_History_Audio_2025.json"
    big.write_text(json.dumps([GOOD] * 20))
    with pytest.raises(EncoreError, match="larger than"):
        list(exports.read_entries(str(big)))
