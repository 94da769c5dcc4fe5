"""Paths under the data root and atomic publication of outputs.

Every dataset is built in a staging folder and then swapped in, so a reader sees the
previous complete version or the new complete one, never a mix (data-contracts.md).
Works for local paths and Hadoop-compatible URIs through pyarrow.fs (s3a:// is read
as s3://); Spark writes go to the staging path, then ``publish`` swaps them in.

The swap is two renames: current -> ``.<name>.__old-<run>``, staging -> current.
If a crash falls between them, ``recover`` (run by every publish and every reader
through ``resolve``) puts the old version back.
"""

from __future__ import annotations

import json
import os
import posixpath
import uuid
from datetime import UTC, datetime
from typing import Any

import pyarrow.fs as pafs


def split_uri(uri: str) -> tuple[pafs.FileSystem, str]:
    """(the filesystem, the path on it) of a local path or a URI (s3a:// read as s3://)."""
    uri = str(uri)
    if uri.startswith("s3a://"):
        uri = "s3://" + uri[len("s3a://") :]
    if "://" not in uri:
        return pafs.LocalFileSystem(), os.path.abspath(uri)
    fs, path = pafs.FileSystem.from_uri(uri)
    return fs, path


def join(root: str, *parts: str) -> str:
    root = str(root)
    if "://" in root:
        return posixpath.join(root, *parts)
    return os.path.join(root, *parts)


def new_run_id() -> str:
    """A run id that sorts by time: 20261129T043000Z-1a2b3c."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def exists(uri: str) -> bool:
    fs, path = split_uri(uri)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def is_dir(uri: str) -> bool:
    fs, path = split_uri(uri)
    return fs.get_file_info(path).type == pafs.FileType.Directory


def listdir(uri: str) -> list[str]:
    fs, path = split_uri(uri)
    if fs.get_file_info(path).type != pafs.FileType.Directory:
        return []
    return sorted(posixpath.basename(i.path) for i in fs.get_file_info(pafs.FileSelector(path)))


def delete(uri: str) -> None:
    fs, path = split_uri(uri)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.Directory:
        fs.delete_dir(path)
    elif info.type == pafs.FileType.File:
        fs.delete_file(path)


def read_bytes(uri: str, *, as_stored: bool = False) -> bytes:
    """The file's bytes; ``as_stored``: a .gz file's own bytes (else pyarrow gunzips it)."""
    fs, path = split_uri(uri)
    with fs.open_input_stream(path, compression=None if as_stored else "detect") as f:
        return f.read()


def read_text(uri: str) -> str:
    return read_bytes(uri).decode("utf-8")


def read_json(uri: str) -> Any:  # whatever the JSON holds
    return json.loads(read_text(uri))


def write_bytes_atomic(uri: str, data: bytes) -> None:
    """Write a file so that readers see the old content or the new, never a part."""
    fs, path = split_uri(uri)
    parent = posixpath.dirname(path)
    fs.create_dir(parent, recursive=True)
    tmp = posixpath.join(parent, f".{posixpath.basename(path)}.tmp-{uuid.uuid4().hex[:8]}")
    with fs.open_output_stream(tmp) as f:
        f.write(data)
    fs.move(tmp, path)  # os.replace on local disks: atomic


def write_text_atomic(uri: str, text: str) -> None:
    write_bytes_atomic(uri, text.encode("utf-8"))


def write_json_atomic(uri: str, obj: object) -> None:
    write_text_atomic(
        uri, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    )


def staging_path(final: str, run_id: str) -> str:
    """A sibling of ``final`` that no reader takes for a finished dataset."""
    fs, path = split_uri(final)
    parent, name = posixpath.split(path.rstrip("/"))
    staged = posixpath.join(parent, f".{name}.__staging-{run_id}")
    return _unsplit(final, staged)


def _unsplit(original: str, path: str) -> str:
    if "://" not in str(original):
        return path
    scheme = str(original).split("://", 1)[0]
    return (
        f"{scheme}://{path.lstrip('/')}" if scheme in ("s3", "s3a", "gs") else f"{scheme}://{path}"
    )


def recover(final: str) -> None:
    """Undo a swap that crashed between its two renames, and drop stale leftovers."""
    fs, path = split_uri(final)
    parent, name = posixpath.split(path.rstrip("/"))
    if fs.get_file_info(parent).type != pafs.FileType.Directory:
        return
    olds = sorted(
        i.path
        for i in fs.get_file_info(pafs.FileSelector(parent))
        if posixpath.basename(i.path).startswith(f".{name}.__old-")
    )
    current = fs.get_file_info(path).type != pafs.FileType.NotFound
    for i, old in enumerate(olds):
        if not current and i == len(olds) - 1:
            fs.move(old, path)  # the last complete version comes back
            current = True
        else:
            fs.delete_dir(old)


def publish(staged: str, final: str, run_id: str) -> None:
    """Swap a fully written staging folder in as ``final``."""
    recover(final)
    fs, path = split_uri(final)
    _, spath = split_uri(staged)
    parent, name = posixpath.split(path.rstrip("/"))
    fs.create_dir(parent, recursive=True)
    old = posixpath.join(parent, f".{name}.__old-{run_id}")
    had_current = fs.get_file_info(path).type != pafs.FileType.NotFound
    if had_current:
        fs.move(path, old)
    fs.move(spath, path)
    if had_current:
        fs.delete_dir(old)
    # staging folders of runs that crashed before publishing (the caller holds the
    # stage's lock, so no other live run of this dataset is writing one)
    for info in fs.get_file_info(pafs.FileSelector(parent)):
        base = posixpath.basename(info.path)
        if base.startswith(f".{name}.__staging-") and info.type == pafs.FileType.Directory:
            fs.delete_dir(info.path)


def discard(staged: str) -> None:
    """Remove a staging folder left by a failed build."""
    delete(staged)
