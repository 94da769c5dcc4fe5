"""Personal exports: one hand-written fixture per format (tests/jobs/fixtures/exports/),
detection, the zip guards, the listener's summary, and the users row for --timezone."""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from encore import cli
from encore.ingest import exports
from encore.platform.errors import EncoreError

FIXTURES = Path(__file__).parent / "fixtures" / "exports"


def _ingest(spark, cfg, root, path, *, source=None, user="u1", tz=None, run="x1"):
    exports.ingest_export(
        spark,
        cfg,
        root=str(root),
        run_id=run,
        source=source,
        input_path=str(path),
        user_id=user,
        timezone=tz,
        quiet=True,
    )
    return json.loads((root / "reports" / f"ingest-{run}.json").read_text())


def _events(spark, root):
    return sorted(
        spark.read.parquet(str(root / "events")).collect(), key=lambda r: (r.ts, r.event_id)
    )


@pytest.mark.parametrize(
    "fmt", ["spotify-extended", "spotify-account", "listenbrainz", "lastfm-csv"]
)
def test_format_is_detected_from_names_and_contents(fmt):
    found, by_file, skipped = exports.collect(str(FIXTURES / fmt), None, "u1")
    assert found == fmt
    if fmt == "listenbrainz":
        assert skipped == ["user.json"]


@pytest.mark.slow
def test_spotify_extended_audio_video_and_endsong(spark, cfg, tmp_path):
    report = _ingest(spark, cfg, tmp_path, FIXTURES / "spotify-extended", tz="Europe/Paris")
    total = report["reconciliation"]["total"]
    # by hand: 5 Audio + 1 Video + 2 endsong rows; the all-null row has no item; the first
    # endsong row is the first Audio play again
    assert (total["read"], total["accepted"], total["quarantined"], total["duplicates"]) == (
        8,
        6,
        1,
        1,
    )
    assert total["reasons"] == {"unknown_kind": 1}
    files = report["reconciliation"]["files"]
    assert files["export:u1:spotify-extended/endsong_0.json"]["duplicates"] == 1
    events = _events(spark, tmp_path)
    assert len(events) == total["read"] - total["quarantined"] - total["duplicates"]
    assert sorted(e.kind for e in events) == [
        "audiobook",
        "episode",
        "episode",
        "track",
        "track",
        "track",
    ]
    first = events[0]  # 2016: endsong, millisecond offline_timestamp, no trouble
    assert (first.track_name, first.offline, first.source, first.user_id) == (
        "Cheap Thrills",
        True,
        "spotify-extended",
        "u1",
    )
    flowers = next(e for e in events if e.track_name == "Flowers")
    assert flowers.private_session is True and flowers.country == "FR"
    cafe = next(e for e in events if e.artist_name == "Beyonc\u00e9")
    assert cafe.track_name == "Caf\u00e9 de Flore" and cafe.skipped is True
    podcast = next(e for e in events if e.show_name == "Huberman Lab")
    assert podcast.track_name is None and podcast.skipped is None and podcast.kind == "episode"
    assert report["date_range"] == {"first": "2016-09-18 06:02:51", "last": "2024-02-14 12:30:05"}
    users = {r.user_id: r for r in spark.read.parquet(str(tmp_path / "users")).collect()}
    assert users["u1"].timezone == "Europe/Paris" and users["u1"].marketing_opt_out is True
    # username, ip_addr_decrypted, user_agent_decrypted never reach an output
    quarantine = pq.read_table(tmp_path / "quarantine").to_pylist()
    assert [q["reason"] for q in quarantine] == ["unknown_kind"]
    assert '"ip_addr":"<redacted>"' in quarantine[0]["record"]
    from test_ingest import scan_for_ips

    assert (
        scan_for_ips(tmp_path, {"83.12.201.77", "91.180.4.2", "10.0.0.12", "2a01:cb00:1234::1"})
        == []
    )
    blob = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert b"jdoe1999" not in blob


@pytest.mark.slow
def test_spotify_account_music_podcast_and_legacy_files(spark, cfg, tmp_path):
    report = _ingest(spark, cfg, tmp_path, FIXTURES / "spotify-account")
    total = report["reconciliation"]["total"]
    assert (total["read"], total["accepted"], total["quarantined"], total["duplicates"]) == (
        7,
        6,
        1,
        0,
    )
    assert total["reasons"] == {"bad_type:ms_played": 1}  # "3:20"
    events = _events(spark, tmp_path)
    assert len(events) == 6
    episodes = [e for e in events if e.kind == "episode"]
    assert [(e.show_name, e.episode_name) for e in episodes] == [
        ("The Daily", "The Election, Explained"),
        (None, "Bonus: Listener Questions"),
    ]
    one_more = next(e for e in events if e.track_name == "One More Time")
    assert str(one_more.ts) == "2024-03-01 08:15:00" and one_more.ms_played == 320357
    # the legacy StreamingHistory0.json cannot tell podcasts from music: a track (docs/ingest.md)
    legacy = next(e for e in events if e.artist_name == "The Joe Rogan Experience")
    assert legacy.kind == "track" and legacy.private_session is False


@pytest.mark.slow
def test_listenbrainz_zip_with_default_durations(spark, cfg, tmp_path):
    archive = tmp_path / "export" / "listenbrainz_jdoe.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        for f in (FIXTURES / "listenbrainz").rglob("*"):
            if f.is_file():
                zf.write(f, f.relative_to(FIXTURES / "listenbrainz").as_posix())
    root = tmp_path / "data"
    report = _ingest(spark, cfg, root, archive)
    assert report["export"]["format"] == "listenbrainz"
    total = report["reconciliation"]["total"]
    assert (total["read"], total["accepted"], total["quarantined"]) == (4, 3, 1)
    assert total["reasons"] == {"missing_ts": 1}
    assert report["ms_played_defaulted"] == 1 and report["ms_played_from_track_length"] == 2
    assert any("180 s" in n for n in report["notes"])
    by_name = {e.track_name: e for e in _events(spark, root)}
    assert by_name["Weird Fishes/Arpeggi"].ms_played == 318000
    assert by_name["Weird Fishes/Arpeggi"].track_uri == "spotify:track:4wajJ1o7jWIg62YqpkHC7S"
    assert by_name["J\u00f3ga"].ms_played == cfg["ingest"]["default_ms_played"]
    assert (
        by_name["J\u00f3ga"].artist_name == "Bj\u00f6rk"
        and by_name["J\u00f3ga"].source == "listenbrainz"
    )


@pytest.mark.slow
def test_lastfm_csv_uses_catalog_duration_then_default(spark, cfg, tmp_path):
    from encore.platform import datasets, schemas

    datasets.write_dataset(
        spark.createDataFrame(
            [("spotify:track:X", "Glory Box", "Portishead", "Dummy", 1994, 301000)],
            schemas.spark_schema(schemas.TRACKS),
        ),
        str(tmp_path / "catalog" / "tracks"),
        run_id="c0",
    )
    report = _ingest(
        spark, cfg, tmp_path, FIXTURES / "lastfm-csv" / "scrobbles-jdoe.csv", user="u2"
    )
    total = report["reconciliation"]["total"]
    assert (total["read"], total["accepted"], total["quarantined"]) == (4, 3, 1)
    assert total["reasons"] == {"missing_ts": 1}
    by_name = {e.track_name: e for e in _events(spark, tmp_path)}
    assert by_name["Glory Box"].ms_played == 301000  # from the catalog
    assert by_name["Roads"].ms_played == 180000
    assert by_name["Untitled #1"].artist_name == "Sigur R\u00f3s"
    assert str(by_name["Glory Box"].ts) == "2024-03-01 14:00:00"
    assert report["ms_played_defaulted"] == 2 and report["ms_played_from_track_length"] == 1


@pytest.mark.slow
def test_reingesting_an_export_changes_nothing(spark, cfg, tmp_path):
    _ingest(spark, cfg, tmp_path, FIXTURES / "spotify-account", run="a1")
    files = sorted(p.relative_to(tmp_path) for p in (tmp_path / "events").rglob("*.parquet"))
    again = _ingest(spark, cfg, tmp_path, FIXTURES / "spotify-account", run="a2")
    assert again["events"]["new"] == 0 and again["events"]["already_present"] == 6
    assert (
        sorted(p.relative_to(tmp_path) for p in (tmp_path / "events").rglob("*.parquet")) == files
    )
    assert len(pq.read_table(tmp_path / "quarantine")) == 1
    # another listener's export does not replace this one's quarantine rows
    _ingest(spark, cfg, tmp_path, FIXTURES / "spotify-account", user="u9", run="a3")
    assert len(pq.read_table(tmp_path / "quarantine")) == 2
    assert spark.read.parquet(str(tmp_path / "events")).where(F.col("user_id") == "u9").count() == 6


def _zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def test_zip_slip_is_refused(tmp_path):
    bad = _zip(tmp_path / "evil.zip", {"../../etc/StreamingHistory0.json": b"[]"})
    with pytest.raises(EncoreError, match="zip-slip"):
        exports.collect(str(bad), None, "u1")


def test_zip_bomb_is_refused(tmp_path, monkeypatch):
    bomb = _zip(tmp_path / "bomb.zip", {"StreamingHistory0.json": b"[" + b" " * (4 << 20) + b"]"})
    with pytest.raises(EncoreError, match="too large or too compressed"):
        exports.collect(str(bomb), None, "u1")
    monkeypatch.setattr(exports.reading, "MAX_ENTRY_BYTES", 10)
    small = _zip(tmp_path / "big.zip", {"StreamingHistory0.json": b"[" + b"1," * 20 + b"1]"})
    with pytest.raises(EncoreError, match="too large"):
        exports.collect(str(small), None, "u1")


def test_unknown_format_lists_the_supported_ones(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(EncoreError) as err:
        exports.collect(str(tmp_path), None, "u1")
    for fmt in exports.FORMATS:
        assert fmt in str(err.value)
    code = cli.main(
        [
            "ingest",
            "--data",
            str(tmp_path / "d"),
            "--source",
            "napster",
            "--input",
            str(tmp_path),
            "--user-id",
            "u1",
        ]
    )
    line = capsys.readouterr().err.strip()
    assert (
        code == 2
        and "\n" not in line
        and "spotify-extended, spotify-account, listenbrainz, lastfm-csv" in line
    )


def test_two_formats_in_one_folder_need_source(tmp_path):
    shutil.copytree(FIXTURES / "spotify-account", tmp_path / "x")
    shutil.copy(FIXTURES / "lastfm-csv" / "scrobbles-jdoe.csv", tmp_path / "x")
    with pytest.raises(EncoreError, match="pass --source"):
        exports.collect(str(tmp_path / "x"), None, "u1")
    fmt, by_file, skipped = exports.collect(str(tmp_path / "x"), "lastfm-csv", "u1")
    assert fmt == "lastfm-csv" and list(by_file) == ["scrobbles-jdoe.csv"] and len(skipped) == 3


def test_bad_timezone_and_missing_user_are_one_line_errors():
    with pytest.raises(EncoreError, match="IANA"):
        exports.check_timezone("Paris")
    with pytest.raises(EncoreError, match="--user-id"):
        exports.check_args(source=None, input_path="x", user_id=" ", timezone=None)


def test_adapters_only_rename():
    item = {
        "ts": "2023-01-01T00:00:00Z",
        "ms_played": "oops",
        "ip_addr_decrypted": "1.2.3.4",
        "username": "me",
        "user_agent_decrypted": "x",
        "master_metadata_track_name": "A",
    }
    mapped = exports.map_spotify_extended(item, "u1")
    assert mapped == {
        "ts": "2023-01-01T00:00:00Z",
        "ms_played": "oops",
        "master_metadata_track_name": "A",
        "user_id": "u1",
    }  # the bad ms_played is left for the shared parser to reject
    assert exports.map_spotify_account(
        {"endTime": "2024-01-01 10:00", "podcastName": None, "episodeName": "E", "msPlayed": 5},
        "u1",
    ) == {
        "user_id": "u1",
        "ts": "2024-01-01 10:00",
        "ms_played": 5,
        "episode_show_name": None,
        "episode_name": "E",
    }
