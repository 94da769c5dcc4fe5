"""The schemas are documented: docs/data.md explains every column of every dataset, in
that dataset's own table, and names no column the dataset does not have."""

import re
from pathlib import Path

import pytest

from encore.platform import schemas

DOC = (Path(__file__).resolve().parents[2] / "docs" / "data.md").read_text()
SCHEMAS = [
    "RAW_EVENT",
    "USERS",
    "TRACKS",
    "ARTISTS",
    "PLAYLISTS",
    "ERASURES",
    "EVENT",
    "QUARANTINE",
    "RECAP",
]


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _documented() -> dict[str, list[str]]:
    """{schema name: the column names its table documents}, read from the `column` cell
    only (a name in a meaning, or in another dataset's table, documents nothing).

    A section headed ``... (`NAME`)`` has a ``| column | meaning |`` table of NAME; the
    ``| table | column | meaning |`` table names the schema in its first cell, an empty
    first cell continuing the table above."""
    out: dict[str, list[str]] = {}
    section = None  # the schema a heading names
    header: list[str] | None = None
    table = None  # the schema of the current row of a `table` column
    for line in DOC.splitlines():
        if line.startswith("#"):
            named = re.search(r"\(`([A-Z_]+)`\)", line)
            section, header, table = (named.group(1) if named else None), None, None
            continue
        if not line.startswith("|"):
            header = None
            continue
        cells = _cells(line)
        if header is None:
            header = cells
            continue
        if set("".join(cells)) <= set("-: "):
            continue  # the | --- | line
        row = dict(zip(header, cells, strict=True))
        if "column" not in row:
            continue
        if "table" in header:
            if row["table"]:
                table = re.fullmatch(r"`([A-Z_]+)`", row["table"]).group(1)
            owner = table
        else:
            owner = section
        assert owner is not None, f"docs/data.md: a column row outside any dataset: {line}"
        names = re.findall(r"`([^`]+)`", row["column"])
        assert names, f"docs/data.md: a column cell without a `name`: {line}"
        out.setdefault(owner, []).extend(names)
    return out


DOCUMENTED = _documented()


@pytest.mark.parametrize("name", SCHEMAS)
def test_every_column_is_documented_in_its_own_table(name):
    real = schemas.column_names(getattr(schemas, name))
    documented = DOCUMENTED.get(name, [])
    missing = [c for c in real if c not in documented]
    assert not missing, f"docs/data.md does not explain {name} columns {missing}"
    unknown = sorted(set(documented) - set(real))
    assert not unknown, f"docs/data.md documents {unknown} under {name}, which has no such column"
    twice = sorted({c for c in documented if documented.count(c) > 1})
    assert not twice, f"docs/data.md explains {name} columns {twice} twice"


def test_every_documented_table_is_a_schema():
    assert sorted(DOCUMENTED) == sorted(SCHEMAS)
