"""Personal exports: one listener's own listening history, brought to Encore.

    encore ingest --source FORMAT --input PATH --user-id U [--timezone TZ] [--data DIR]

Adapters for ``spotify-extended``, ``spotify-account``, ``listenbrainz`` and
``lastfm-csv`` (data-contracts.md, "Personal exports") only *rename*: each record
becomes one JSON line in the raw log's field names, and the line goes through the
same parser as the platform log (encore/ingest/canonical.py: same reason codes, same text
rules, same event_id). Exports are small, so reading them happens in Python on the
driver; the rules run in Spark.

``PATH`` is a folder, a file or a ``.zip`` (read in memory, never extracted: entries
with absolute or ``..`` paths are refused, and so are entries bigger than
``MAX_ENTRY_BYTES`` or compressed more than ``MAX_RATIO`` times). Only regular files
are read: links, devices, FIFOs and files whose real path leaves the folder refuse
the export, and the bytes actually read are capped per file and per export.

The modules, in the order an export goes through them: ``reading`` (folder, file or zip,
with the guards), ``formats`` (the formats, the argument checks, which format a file
is), ``adapters`` (records to raw-log lines, one mapper per format), ``run`` (collect and
``ingest_export``), ``duplicates`` (one play in two sources), ``listener`` (the users row
and its time zone). The names below are the API the command, ``encore me`` and the tests
use. The size limits stay in ``reading`` (patch them there).
"""

from encore.ingest.exports.adapters import (
    Records,
    map_listenbrainz,
    map_spotify_account,
    map_spotify_extended,
    to_records,
)
from encore.ingest.exports.duplicates import (
    CROSS_SOURCE_TOLERANCE_S,
    RICHNESS,
    cross_source_duplicates,
    drop_cross_source_duplicates,
)
from encore.ingest.exports.formats import (
    FORMATS,
    LASTFM_HEADER,
    WITHOUT_MS,
    check_args,
    check_timezone,
    detect,
    supported_formats_text,
)
from encore.ingest.exports.listener import save_listener
from encore.ingest.exports.reading import Entry, read_entries
from encore.ingest.exports.run import collect, ingest_export

__all__ = [
    "CROSS_SOURCE_TOLERANCE_S",
    "FORMATS",
    "LASTFM_HEADER",
    "RICHNESS",
    "WITHOUT_MS",
    "Entry",
    "Records",
    "check_args",
    "check_timezone",
    "collect",
    "cross_source_duplicates",
    "detect",
    "drop_cross_source_duplicates",
    "ingest_export",
    "map_listenbrainz",
    "map_spotify_account",
    "map_spotify_extended",
    "read_entries",
    "save_listener",
    "supported_formats_text",
    "to_records",
]
