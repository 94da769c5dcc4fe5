"""Reading an export: a folder, a file or a ``.zip`` (read in memory, never extracted),
with the guards of data-contracts.md.

Zip entries with absolute or ``..`` paths are refused, and so are entries bigger than
``MAX_ENTRY_BYTES`` or compressed more than ``MAX_RATIO`` times. Only regular files
are read: links, devices, FIFOs and files whose real path leaves the folder refuse
the export, and the bytes actually read are capped per file and per export."""

from __future__ import annotations

import io
import os
import re
import stat
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from encore.platform.errors import EncoreError

MAX_ENTRY_BYTES = 512 * 1024 * 1024
MAX_TOTAL_BYTES = 2 * 1024 * 1024 * 1024
MAX_RATIO = 200
MAX_ENTRIES = 20_000


@dataclass
class Entry:
    name: str  # path inside the export, '/'-separated
    data: bytes


class _Budget:
    """The bytes actually read from one export, across its files and zip entries."""

    def __init__(self, label: str):
        self.label, self.total = label, 0

    def take(self, n: int, name: str) -> None:
        self.total += n
        if self.total > MAX_TOTAL_BYTES:
            raise EncoreError(
                f"{self.label}: more than {_size(MAX_TOTAL_BYTES)} read by {name}; "
                "refusing it: is this really one listener's export?"
            )


def read_entries(path: str) -> Iterator[Entry]:
    """Every file of the export, zips opened in memory (with their guards).

    Only regular files are read: a symbolic link, a device, a FIFO or a socket anywhere
    in the export refuses the whole export (naming it), and so does a file whose real
    path is outside the folder. The bytes read are capped per file
    (``MAX_ENTRY_BYTES``) and per export (``MAX_TOTAL_BYTES``), counting what is
    actually read rather than what the file system or a zip header claims."""
    if not os.path.lexists(path):
        raise EncoreError(f"--input {path}: no such file or folder")
    budget = _Budget(f"--input {path}")
    real = os.path.realpath(path)  # the path given is the caller's; links inside it are not
    if os.path.isdir(real):
        top = real
        for dirpath, dirnames, filenames in os.walk(top, followlinks=False):
            for d in list(dirnames):
                if os.path.islink(os.path.join(dirpath, d)):
                    filenames.append(d)  # refused below, as a link
            dirnames[:] = sorted(
                d
                for d in dirnames
                if not d.startswith(".") and not os.path.islink(os.path.join(dirpath, d))
            )
            for name in sorted(set(filenames)):
                if name.startswith("."):
                    continue
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, top).replace(os.sep, "/")
                yield from _file_entries(full, rel, top=top, budget=budget)
    else:
        yield from _file_entries(real, os.path.basename(path), top=None, budget=budget)


def _refuse(rel: str, what: str) -> EncoreError:
    return EncoreError(
        f"{rel}: {what}; an export is read only from the regular files inside it: "
        "remove it or copy the real file into the export"
    )


def _read_regular(full: str, rel: str, *, top: str | None, budget: _Budget, limit: int) -> bytes:
    """The bytes of one regular file, opened without following links, at most ``limit``."""
    try:
        st = os.lstat(full)
    except OSError as err:
        raise EncoreError(f"{rel}: cannot be read ({err.strerror})") from None
    if stat.S_ISLNK(st.st_mode):
        raise _refuse(rel, f"is a symbolic link (to {os.readlink(full)!r})")
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(rel, f"is not a regular file ({_kind(st.st_mode)})")
    if top is not None:
        real = os.path.realpath(full)
        if os.path.commonpath([top, real]) != top:
            raise _refuse(rel, f"resolves outside the export ({real})")
    try:
        fd = os.open(
            full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        )
    except OSError as err:
        raise EncoreError(
            f"{rel}: cannot be read ({err.strerror}); is it a link or a special file?"
        ) from None
    with os.fdopen(fd, "rb") as f:
        opened = os.fstat(f.fileno())
        if not stat.S_ISREG(opened.st_mode) or (opened.st_dev, opened.st_ino) != (
            st.st_dev,
            st.st_ino,
        ):
            raise _refuse(rel, "changed while it was opened")
        if opened.st_size > limit:
            raise EncoreError(
                f"{rel}: larger than {_size(limit)}; is this really one listener's export?"
            )
        chunks, size = [], 0
        while True:
            chunk = f.read(min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            size += len(chunk)
            budget.take(len(chunk), rel)
            if size > limit:
                raise EncoreError(
                    f"{rel}: larger than {_size(limit)}; is this really one listener's export?"
                )
            chunks.append(chunk)
    data = b"".join(chunks)
    if len(data) > opened.st_size:  # /proc and friends: size 0, content generated on read
        raise _refuse(rel, "gives more bytes than its size (a /proc or /sys file?)")
    return data


def _size(n: int) -> str:
    return f"{n >> 20} MB" if n >= 1 << 20 else f"{n} bytes"


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "a special file"


def _file_entries(full: str, rel: str, *, top: str | None, budget: _Budget) -> Iterator[Entry]:
    is_zip = rel.lower().endswith(
        ".zip"
    )  # a zip's own cap is the export's; its entries have theirs
    data = _read_regular(
        full, rel, top=top, budget=budget, limit=MAX_TOTAL_BYTES if is_zip else MAX_ENTRY_BYTES
    )
    if is_zip:
        yield from _zip_entries(data, rel, budget)
        return
    yield Entry(rel, data)


_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,
    RuntimeError,
    ValueError,
    OSError,
)


def _zip_entries(raw: bytes, rel: str, budget: _Budget) -> Iterator[Entry]:
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except _ZIP_ERRORS:
        raise EncoreError(f"{rel}: not a readable .zip file; download the export again") from None
    with zf:
        infos = [i for i in zf.infolist() if not i.is_dir()]
        if len(infos) > MAX_ENTRIES:
            raise EncoreError(f"{rel}: {len(infos)} entries; refusing more than {MAX_ENTRIES}")
        total = 0
        for info in infos:
            name = info.filename.replace("\\", "/")
            parts = name.split("/")
            if name.startswith("/") or ".." in parts or re.match(r"^[A-Za-z]:", name):
                raise EncoreError(
                    f"{rel}: entry {name!r} points outside the archive (zip-slip); refusing it"
                )
            if any(p.startswith(".") or p == "__MACOSX" for p in parts):
                continue
            mode = info.external_attr >> 16  # unix mode; zips made elsewhere leave the type bits 0
            if stat.S_IFMT(mode) and not stat.S_ISREG(mode):
                raise _refuse(
                    f"{rel}: entry {name!r}",
                    f"is not a regular file ({'a symbolic link' if stat.S_ISLNK(mode) else _kind(mode)})",
                )
            if info.file_size > MAX_ENTRY_BYTES or (
                info.compress_size
                and info.file_size > MAX_RATIO * info.compress_size
                and info.file_size > 1 << 20
            ):
                raise EncoreError(
                    f"{rel}: entry {name!r} is too large or too compressed to be an export; refusing it"
                )
            total += info.file_size
            if total > MAX_TOTAL_BYTES:
                raise EncoreError(
                    f"{rel}: more than {MAX_TOTAL_BYTES >> 20} MB uncompressed; refusing it"
                )
            try:
                with zf.open(info) as f:
                    data = f.read(MAX_ENTRY_BYTES + 1)  # the header can lie about sizes
            except _ZIP_ERRORS as err:
                raise EncoreError(
                    f"{rel}: entry {name!r} cannot be read ({err.__class__.__name__}: {err}); "
                    "the zip is damaged: download the export again"
                ) from None
            if len(data) > MAX_ENTRY_BYTES:
                raise EncoreError(f"{rel}: entry {name!r} is larger than it claims; refusing it")
            budget.take(len(data), f"{rel}/{name}")
            yield Entry(f"{rel}/{name}", data)
