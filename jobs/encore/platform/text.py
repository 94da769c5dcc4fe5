"""Text rules shared by ingest (every name and title) and identity (every user id):
one list of white space, Unicode NFC on the JVM, blank -> null. Spark is imported
inside the functions, so Spark-free callers (identity's file scanning) stay light."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column

# White space trimmed around text: ASCII blanks plus the Unicode spaces, NBSP and BOM.
WHITESPACE = (
    " \t\n\r\f\u000b\u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)


def nfc(col: Column) -> Column:
    """Unicode NFC. Spark has no built-in for it, so this calls ICU4J's static
    ``Normalizer.compose(str, false)`` (= NFC; ICU ships inside Spark for collations)
    through the ``reflect`` built-in: a JVM call, no Python. ASCII-only text is
    already NFC and skips the call; a string is ASCII-only when it has as many
    characters as UTF-8 bytes (two counters: much cheaper than a regex on every field)."""
    from pyspark.sql import functions as F

    return F.when(
        F.length(col) != F.octet_length(col),
        F.call_function(
            "reflect", F.lit("com.ibm.icu.text.Normalizer"), F.lit("compose"), col, F.lit(False)
        ),
    ).otherwise(col)


def trim(col: Column) -> Column:
    """``col`` without the surrounding WHITESPACE."""
    from pyspark.sql import functions as F

    return F.call_function("btrim", col, F.lit(WHITESPACE))


def clean_text(col: Column) -> Column:
    """NFC, surrounding white space trimmed, blank -> null."""
    from pyspark.sql import functions as F

    trimmed = trim(nfc(col))
    return F.when(trimmed != "", trimmed)
