"""The schemas are documented: docs/data.md explains every column of every dataset."""

import re
from pathlib import Path

import pytest

from encore.platform import schemas

DOC = (Path(__file__).resolve().parents[2] / "docs" / "data.md").read_text()


def _documented() -> set[str]:
    names = set()
    for line in DOC.splitlines():
        if line.startswith("|"):
            names.update(re.findall(r"`([a-z_0-9]+)`", line))
    return names


@pytest.mark.parametrize(
    "name",
    [
        "RAW_EVENT",
        "USERS",
        "TRACKS",
        "ARTISTS",
        "PLAYLISTS",
        "ERASURES",
        "EVENT",
        "QUARANTINE",
        "RECAP",
    ],
)
def test_every_column_is_documented(name):
    missing = set(schemas.column_names(getattr(schemas, name))) - _documented()
    assert not missing, f"docs/data.md does not explain {name} columns {sorted(missing)}"
