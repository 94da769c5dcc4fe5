"""Raw files: which files under raw/ are read (one list of suffixes for the listening log
and the dimension tables), and reading them as lines tagged with their source file."""

from __future__ import annotations

import posixpath

import pyarrow.fs as pafs
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from encore.platform import storage
from encore.platform import text as text_rules

# The raw files ingest reads, under raw/events/ and beside the dimension tables: JSON
# Lines (or a JSON array) and CSV, each optionally gzip-compressed. One list for every
# reader (the log, the dimension tables, erasure's scrub of raw/).
PLAIN_TEXT_SUFFIXES = (".jsonl", ".json", ".ndjson")
PLAIN_CSV_SUFFIXES = (".csv",)
TEXT_SUFFIXES = tuple(s + z for s in PLAIN_TEXT_SUFFIXES for z in ("", ".gz"))
CSV_SUFFIXES = tuple(s + z for s in PLAIN_CSV_SUFFIXES for z in ("", ".gz"))
RAW_SUFFIXES = TEXT_SUFFIXES + CSV_SUFFIXES


# --- finding and reading raw files -------------------------------------------------------
def list_files(uri: str) -> list[tuple[str, str]]:
    """(full path, path relative to ``uri``) of every file below ``uri``, sorted; names
    starting with '.' or '_' are skipped at any depth, as Spark and Hadoop do."""
    fs, base = storage.split_uri(uri)
    info = fs.get_file_info(base)
    if info.type == pafs.FileType.File:
        return [(uri, posixpath.basename(base))]
    if info.type != pafs.FileType.Directory:
        return []
    found = []
    for item in fs.get_file_info(pafs.FileSelector(base, recursive=True)):
        if item.type != pafs.FileType.File:
            continue
        rel = posixpath.relpath(item.path, base)
        if any(part.startswith((".", "_")) for part in rel.split("/")):
            continue
        found.append((storage.join(uri, rel), rel))
    return sorted(found, key=lambda x: x[1])


def _relative_source_file(root: str):
    """input_file_name() relative to the data root, e.g. ``raw/events/part-00000.jsonl.gz``
    (Spark reports a URI with %-escapes; '+' is protected before url_decode)."""
    path = F.url_decode(F.replace(F.input_file_name(), F.lit("+"), F.lit("%2B")))
    if "://" in str(root):
        prefix = str(root).rstrip("/") + "/"
    else:
        path = F.regexp_replace(path, "^file:/+", "/")
        prefix = storage.split_uri(root)[1].rstrip("/") + "/"
    return F.when(path.startswith(prefix), F.substring(path, len(prefix) + 1, 1 << 20)).otherwise(
        path
    )


def read_lines(spark: SparkSession, root: str, files: list[str]) -> DataFrame:
    """One row per non-blank line (JSON Lines files) or per row (CSV files, turned into a
    JSON object by header): ``value``, ``source_file``. A .json file is read as JSON Lines."""
    text = [f for f in files if f.lower().endswith(TEXT_SUFFIXES)]
    csv = [f for f in files if f.lower().endswith(CSV_SUFFIXES)]
    parts = []
    if text:
        parts.append(
            spark.read.text(text).select("value", _relative_source_file(root).alias("source_file"))
        )
    if csv:
        # Every CSV file's own header is used; all columns stay strings for the parser.
        for f in csv:
            rows = (
                spark.read.option("header", True)
                .option("escape", '"')
                .option("multiLine", True)
                .option("mode", "PERMISSIVE")
                .csv(f)
            )  # RFC 4180 quoting
            parts.append(
                rows.select(
                    F.to_json(F.struct(*[F.col(f"`{c}`") for c in rows.columns])).alias("value"),
                    _relative_source_file(root).alias("source_file"),
                )
            )
    if not parts:
        return spark.createDataFrame([], "value string, source_file string")
    lines = parts[0]
    for p in parts[1:]:
        lines = lines.unionByName(p)
    return lines.where(text_rules.trim(F.col("value")) != "")


def supported(files: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[str]]:
    ok = [f for f in files if f[1].lower().endswith(RAW_SUFFIXES)]
    other = [rel for _, rel in files if not rel.lower().endswith(RAW_SUFFIXES)]
    return ok, other


# --- which raw files were read before ----------------------------------------------------
# raw/events files a platform ingest has read, by path relative to the data root, with
# their size and SHA-256: a later run reads only files that are new or changed
# (docs/ingest.md, "Incremental").
MANIFEST = "state/ingest-files.json"


def fingerprint(uri: str) -> dict:
    """{"size", "sha256"} of a file's stored bytes, read in 8 MiB chunks."""
    import hashlib

    fs, path = storage.split_uri(uri)
    digest, size = hashlib.sha256(), 0
    with fs.open_input_stream(path, compression=None) as f:
        while chunk := f.read(8 << 20):
            digest.update(chunk)
            size += len(chunk)
    return {"size": size, "sha256": digest.hexdigest()}


def read_manifest(root: str) -> dict[str, dict]:
    """{relative path: {"size", "sha256", "run_id"}} of the files read before; {} when none."""
    uri = storage.join(root, MANIFEST)
    return storage.read_json(uri).get("files", {}) if storage.exists(uri) else {}


def new_or_changed(
    root: str, found: list[tuple[str, str]], *, every: bool = False
) -> tuple[list[tuple[str, str]], dict[str, dict], int]:
    """(the files to read, every found file's fingerprint by path relative to the data
    root, how many are unchanged since they were read). ``every``: read them all."""
    before = {} if every else read_manifest(root)
    prints = {f"raw/events/{rel}": fingerprint(uri) for uri, rel in found}
    fresh = [
        (uri, rel)
        for uri, rel in found
        if {k: before.get(f"raw/events/{rel}", {}).get(k) for k in ("size", "sha256")}
        != prints[f"raw/events/{rel}"]
    ]
    return fresh, prints, len(found) - len(fresh)


def write_manifest(
    root: str, prints: dict[str, dict], read: list[tuple[str, str]], run_id: str
) -> None:
    """Remember the files of this run: the ones read now get this run's id, the others keep
    theirs; a file no longer under raw/events is forgotten (read again if it comes back)."""
    before = read_manifest(root)
    now = {f"raw/events/{rel}" for _, rel in read}
    files = {
        path: {**fp, "run_id": run_id if path in now else before.get(path, {}).get("run_id")}
        for path, fp in sorted(prints.items())
    }
    storage.write_json_atomic(storage.join(root, MANIFEST), {"files": files})


def refresh_manifest(root: str, rewritten: dict[str, tuple[dict, dict]]) -> int:
    """After an erasure rewrote raw files without a listener's lines: {relative path:
    (fingerprint before, fingerprint after)}. A file the manifest knows as it was before
    the rewrite was read in full then; what is left of it is read too, so the manifest
    takes its new fingerprint and the next ingest does not read it again. A file that
    changed since it was read (or was never read) is left to the next ingest. Returns how
    many entries changed. Called under the erasure's exclusive lock (a no-op on ://
    roots: there an ingest racing it can only leave a fingerprint that differs from the
    file, so the file is read again, never skipped)."""
    before = read_manifest(root)
    files = dict(before)
    for path, (old, new) in rewritten.items():
        entry = before.get(path)
        if entry and {k: entry.get(k) for k in ("size", "sha256")} == old:
            files[path] = {**entry, **new}
    changed = sum(1 for p in files if files[p] != before.get(p))
    if changed:
        storage.write_json_atomic(storage.join(root, MANIFEST), {"files": files})
    return changed
