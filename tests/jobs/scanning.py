"""Scan every file under a folder for strings, reading each format for what it holds:
Parquet through pyarrow (its pages are compressed, so a byte scan would miss names),
gzip and zip decompressed, everything else as bytes."""

from __future__ import annotations

import gzip
import io
import os
import re
import zipfile

import pyarrow.parquet as pq

IPV4 = re.compile(
    rb"(?<![\d.])(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)(?![\d.])"
)


def file_texts(root: str):
    """Yield (relative path, bytes of everything the file says)."""
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            yield rel, _content(path, name)


def _content(path: str, name: str) -> bytes:
    with open(path, "rb") as f:
        data = f.read()
    if name.endswith(".parquet"):
        table = pq.read_table(io.BytesIO(data))
        return repr(table.to_pylist()).encode("utf-8", "replace")
    if name.endswith(".gz"):
        try:
            return gzip.decompress(data)
        except (OSError, EOFError):
            return data
    if name.endswith(".zip"):
        out = [data]
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for member in zf.namelist():
                out.append(member.encode())
                out.append(zf.read(member))
        return b"\n".join(out)
    return data


def find(root: str, needle: str) -> list[str]:
    """Relative paths of the files under root that contain ``needle`` (in name or content)."""
    n = needle.encode("utf-8")
    return sorted(rel for rel, body in file_texts(root) if n in body or needle in rel)


def find_ipv4(root: str, skip=lambda rel: False) -> dict[str, list[bytes]]:
    hits = {}
    for rel, body in file_texts(root):
        if skip(rel):
            continue
        found = IPV4.findall(body)
        if found:
            hits[rel] = found[:3]
    return hits


def tree_digest(root) -> dict[str, str]:
    """{relative path: sha256} of every file under root: equal trees are byte-identical."""
    import hashlib

    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            p = os.path.join(dirpath, name)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = hashlib.sha256(f.read()).hexdigest()
    return out
