"""Who a record belongs to: the one user-id rule, and the one way to read which
listener a raw line, a CSV row or a quarantined record names.

- ``check_user_id``: the rule every command applies to ``--user-id`` (ingest of a
  personal export, export-user, erase-user), with one message. ``fullmatch``, so a
  trailing newline (``alice\\n``) is refused like any other stray character.
- ``named_ids`` (Python, for raw files) and ``named_ids_col`` (Spark, for quarantine
  and ingest) read the listener a record names: the ``user_id`` / ``owner_user_id``
  fields of the record where it parses as a JSON object (cleaned as ingest cleans
  them: NFC, white space trimmed), else only what a ``"user_id": "<id>"`` pattern can
  still read from the broken text. Ids are compared exactly, never as substrings:
  erasing ``usr_1`` never touches ``usr_10`` or a track titled "song for usr_1".
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING

from encore.platform.errors import EncoreError
from encore.platform.text import WHITESPACE, clean_text

if TYPE_CHECKING:
    from pyspark.sql import Column

# letters, digits and _ . : @ + -, 1 to 128 of them: never a path, never a filter escape
USER_ID_PATTERN = r"[A-Za-z0-9_.:@+\-]{1,128}"
_USER_ID = re.compile(USER_ID_PATTERN)
USER_FIELDS = ("user_id", "owner_user_id")
# what a broken record still says about its listener: "user_id": "<id>", exactly
_FIELD_PATTERN = r'"(?:user_id|owner_user_id)"\s*:\s*"([^"\\]*)"'
_FIELD_RE = re.compile(_FIELD_PATTERN.encode())
# quarantined rows of a personal export carry the listener in source_file only
EXPORT_PREFIX = "export:"


def check_user_id(user_id: object, flag: str = "--user-id") -> str:
    """The user id, or a one-line EncoreError naming the rule."""
    if not isinstance(user_id, str) or not _USER_ID.fullmatch(user_id):
        raise EncoreError(
            f"{flag} {user_id!r} is not a user id: use 1-128 letters, digits or _ . : @ + -"
        )
    return user_id


def export_source(user_id: str, label: str) -> str:
    """source_file of a personal export's records: ``export:<id>:<file>``, with ':' in the
    id written %3A so the id ends at the first ':' (matched exactly at erasure)."""
    return f"{EXPORT_PREFIX}{user_id.replace(':', '%3A')}:{label}"


def export_source_user(source_file: str | None) -> str | None:
    if not source_file or not source_file.startswith(EXPORT_PREFIX):
        return None
    head = source_file[len(EXPORT_PREFIX) :].split(":", 1)
    return head[0].replace("%3A", ":") if len(head) == 2 else None


def _clean(value) -> str | None:
    if value is None:
        return None
    text = unicodedata.normalize("NFC", value).strip(WHITESPACE)
    return text or None


def named_ids(line: bytes | str) -> tuple[set[str], bool]:
    """(the ids a raw JSON line names in its user fields, whether it parsed as an object).

    Values are read as ingest's parser reads them (numbers as their text, the last of
    duplicate keys, NFC and trimmed); a line that does not parse falls back to the
    ``"user_id": "<id>"`` pattern, compared exactly."""
    data = line.encode("utf-8", "surrogateescape") if isinstance(line, str) else line
    try:
        obj = json.loads(
            data.decode("utf-8", "replace"), parse_int=str, parse_float=str, parse_constant=str
        )
    except (ValueError, RecursionError):
        obj = None
    if isinstance(obj, dict):
        found = set()
        for field in USER_FIELDS:
            value = obj.get(field)
            if isinstance(value, bool):
                value = "true" if value else "false"
            if value is not None and not isinstance(value, str):
                value = json.dumps(value, separators=(",", ":"))
            cleaned = _clean(value)
            if cleaned:
                found.add(cleaned)
        return found, True
    return {_clean(m.decode("utf-8", "replace")) or "" for m in _FIELD_RE.findall(data)} - {
        ""
    }, False


def row_ids(row: dict) -> set[str]:
    """The ids a CSV row (header -> value) names in its user fields."""
    return {c for f in USER_FIELDS if (c := _clean(row.get(f)))}


def named_ids_col(record: Column, source_file: Column | None = None) -> Column:
    """Spark column: array<string> of the ids a quarantined record names (see module doc)."""
    from pyspark.sql import functions as F

    schema = "user_id STRING, owner_user_id STRING, _corrupt_record STRING"
    r = F.from_json(
        record, schema, {"columnNameOfCorruptRecord": "_corrupt_record", "mode": "PERMISSIVE"}
    )
    parsed = F.filter(
        F.array(clean_text(r["user_id"]), clean_text(r["owner_user_id"])), lambda x: x.isNotNull()
    )
    broken = F.filter(
        F.transform(F.regexp_extract_all(record, F.lit(_FIELD_PATTERN), 1), clean_text),
        lambda x: x.isNotNull(),
    )
    is_object = r.isNotNull() & r["_corrupt_record"].isNull()
    ids = (
        F.when(record.isNull(), F.array().cast("array<string>"))
        .when(is_object, parsed)
        .otherwise(broken)
    )
    if source_file is not None:
        exported = F.regexp_extract(source_file, r"^export:([^:]*):", 1)
        exported = F.replace(exported, F.lit("%3A"), F.lit(":"))
        ids = F.when(exported != "", F.array_union(ids, F.array(exported))).otherwise(ids)
    return ids


def names_any(ids: Column, user_ids: Iterable[str]) -> Column:
    """Spark column: does the array ``ids`` hold one of ``user_ids`` (exact match)?"""
    from pyspark.sql import functions as F

    wanted = sorted(set(user_ids))
    if not wanted:
        return F.lit(False)
    return F.coalesce(F.exists(ids, lambda x: x.isin(wanted)), F.lit(False))
