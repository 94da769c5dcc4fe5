"""Issue 15, items 6, 8, 9, 11-14: the security review's findings, each reproduced here
with the hostile input in it (docs/reliability.md, "Hardening (issue 15: ...)")."""

from __future__ import annotations

import json
import os
import signal
import stat
import zipfile
from pathlib import Path

import pytest

from encore import exports
from encore.errors import EncoreError

PLAY = {"ts": "2025-03-01T10:00:00Z", "ms_played": 200000, "platform": "ios", "conn_country": "FR",
        "master_metadata_track_name": "Mine", "master_metadata_album_artist_name": "Me",
        "spotify_track_uri": "spotify:track:4uLU6hMCjMI75M1A2tKUQC"}


def _export(folder: Path, name: str = "Streaming_History_Audio_2025.json", plays=(PLAY,)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps(list(plays)))
    return folder


def _fail_after(seconds: int):
    """A test that would block on old code (a FIFO) fails instead of hanging."""
    def expired(signum, frame):
        raise AssertionError(f"still reading after {seconds} s: the export reader blocked")

    signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)


# --- item 6: personal exports read only their own regular files, capped -------------------------
def test_export_link_to_another_listeners_export_is_refused(tmp_path):
    other = _export(tmp_path / "other", plays=[{**PLAY, "master_metadata_track_name": "Not mine"}])
    mine = _export(tmp_path / "mine")
    os.symlink(other / "Streaming_History_Audio_2025.json", mine / "Streaming_History_Audio_2024.json")
    with pytest.raises(EncoreError, match=r"Streaming_History_Audio_2024\.json: is a symbolic link") as err:
        exports.collect(str(mine), None, "usr_me")
    assert "\n" not in str(err.value)


def test_export_link_to_a_folder_outside_is_refused(tmp_path):
    other = _export(tmp_path / "other")
    mine = _export(tmp_path / "mine")
    os.symlink(other, mine / "more")
    with pytest.raises(EncoreError, match=r"more: is a symbolic link"):
        exports.collect(str(mine), None, "usr_me")


@pytest.mark.parametrize("target", ["/proc/self/environ", "/dev/zero"])
def test_export_link_to_a_special_file_is_refused(tmp_path, target, monkeypatch):
    monkeypatch.setenv("ENCORE_SHARE_SECRET", "secret-that-must-not-leak-0123456789")
    monkeypatch.setattr(exports, "MAX_ENTRY_BYTES", 1 << 20)  # old code: /dev/zero reads for ever
    mine = _export(tmp_path / "mine")
    os.symlink(target, mine / "endsong_0.json")
    with pytest.raises(EncoreError, match=r"endsong_0\.json: is a symbolic link"):
        exports.collect(str(mine), None, "usr_me")


@pytest.mark.parametrize("target", ["/proc/self/environ", "/dev/zero"])
def test_special_file_given_as_the_export_is_refused(target, monkeypatch):
    monkeypatch.setattr(exports, "MAX_ENTRY_BYTES", 1 << 20)
    with pytest.raises(EncoreError, match=r"(gives more bytes than its size|is not a regular file)"):
        list(exports.read_entries(target))


def test_export_fifo_is_refused_not_read(tmp_path):
    mine = _export(tmp_path / "mine")
    os.mkfifo(mine / "StreamingHistory0.json")
    _fail_after(10)
    try:
        with pytest.raises(EncoreError, match=r"StreamingHistory0\.json: is not a regular file \(a FIFO\)"):
            exports.collect(str(mine), None, "usr_me")
    finally:
        signal.alarm(0)


def test_bytes_read_per_export_are_capped(tmp_path, monkeypatch):
    mine = tmp_path / "mine"
    for i in range(4):
        _export(mine, f"Streaming_History_Audio_202{i}.json", plays=[PLAY] * 20)
    size = (mine / "Streaming_History_Audio_2020.json").stat().st_size
    monkeypatch.setattr(exports, "MAX_TOTAL_BYTES", 3 * size)  # each file fits, the four do not
    with pytest.raises(EncoreError, match=r"--input .*mine: more than .* read by Streaming_History_Audio_2023\.json"):
        exports.collect(str(mine), None, "usr_me")


def test_zip_entry_that_is_a_link_is_refused(tmp_path):
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("Streaming_History_Audio_2025.json", json.dumps([PLAY]))
        link = zipfile.ZipInfo("endsong_0.json")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/proc/self/environ")
    with pytest.raises(EncoreError, match=r"entry 'endsong_0\.json': is not a regular file \(a symbolic link\)"):
        exports.collect(str(path), None, "usr_me")


# --- item 14: a damaged zip is a bad input, not a crash --------------------------------------------
def test_damaged_zip_entry_is_a_one_line_bad_input_error(tmp_path):
    path = tmp_path / "export.zip"
    body = json.dumps([PLAY] * 50).encode()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("Streaming_History_Audio_2025.json", body)
    raw = bytearray(path.read_bytes())
    at = raw.index(body[:40]) + 20
    raw[at] ^= 0xFF  # one flipped byte: the CRC no longer matches
    path.write_bytes(bytes(raw))
    with pytest.raises(EncoreError, match=r"export\.zip: entry 'Streaming_History_Audio_2025\.json' cannot be read "
                                          r"\(BadZipFile") as err:
        exports.collect(str(path), None, "usr_me")
    assert "\n" not in str(err.value)
