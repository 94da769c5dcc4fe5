"""Reading and writing the datasets under the data root: the one place that knows
their paths. Jobs call these at their edges; their transformations stay pure.

Layout (data-contracts.md):

    raw/...                         inputs (generator output or the platform's dumps)
    events/year=Y/month=M/          canonical events (Parquet)
    users/ catalog/tracks/ catalog/artists/ playlists/ privacy/erasures/   ingested dimensions (Parquet)
    quarantine/                     rejected records with reasons
    recaps/year=Y/  facts/year=Y/  ledger/  site/Y/  campaigns/Y/  exports/  reports/
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from encore.platform import schemas, storage
from encore.platform.errors import EncoreError

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

EVENTS = "events"
QUARANTINE = "quarantine"
DIMENSION_PATHS = {name: name for name in schemas.DIMENSIONS}  # users, catalog/tracks, ...


def path(root: str, *parts: str) -> str:
    return storage.join(root, *parts)


def recaps_path(root: str, year: int) -> str:
    return path(root, "recaps", f"year={year}")


def facts_path(root: str, year: int) -> str:
    return path(root, "facts", f"year={year}")


def _exists_with_data(uri: str) -> bool:
    storage.recover(uri)
    if not storage.is_dir(uri):
        return False
    return any(not n.startswith((".", "_")) for n in storage.listdir(uri)) or storage.exists(
        storage.join(uri, "_SUCCESS")
    )


def read_events(spark: SparkSession, root: str, *, required: bool = True) -> DataFrame:
    """Canonical events (all years); filter on ``year`` to prune partitions."""
    uri = path(root, EVENTS)
    if not _exists_with_data(uri):
        if required:
            raise EncoreError(
                f"no canonical events at {uri}: run `encore ingest --data {root}` first"
            )
        return spark.createDataFrame([], schemas.spark_schema(schemas.EVENT))
    return spark.read.schema(_event_read_schema()).parquet(uri)


def _event_read_schema() -> StructType:
    from pyspark.sql.types import IntegerType, StructField, StructType

    base = schemas.spark_schema(schemas.EVENT)
    return StructType(
        list(base.fields)
        + [StructField("year", IntegerType()), StructField("month", IntegerType())]
    )


def read_dimension(
    spark: SparkSession, root: str, name: str, *, required: bool = False
) -> DataFrame | None:
    """An ingested dimension table, or None (or an error when ``required``) if absent."""
    if name not in schemas.DIMENSIONS:
        raise ValueError(f"unknown dimension {name!r}")
    uri = path(root, DIMENSION_PATHS[name])
    if not _exists_with_data(uri):
        if required:
            raise EncoreError(f"no {name} table at {uri}: run `encore ingest --data {root}` first")
        return None
    return spark.read.schema(schemas.spark_schema(schemas.DIMENSIONS[name])).parquet(uri)


def read_if_present(spark: SparkSession, uri: str, schema: pa.Schema) -> DataFrame | None:
    """The Parquet dataset at ``uri`` read with ``schema`` (pyarrow), or None if absent."""
    if not _exists_with_data(uri):
        return None
    return spark.read.schema(schemas.spark_schema(schema)).parquet(uri)


def erased_user_ids(spark: SparkSession, root: str) -> DataFrame:
    """A one-column DataFrame (user_id) of everyone who asked to be erased (maybe empty)."""
    df = read_dimension(spark, root, "privacy/erasures")
    if df is None:
        from pyspark.sql.types import StringType, StructField, StructType

        return spark.createDataFrame([], StructType([StructField("user_id", StringType())]))
    return df.select("user_id").distinct()


def without_erased(df: DataFrame, erased: DataFrame, column: str = "user_id") -> DataFrame:
    """Drop every row of an erased listener (before anything is computed)."""
    return df.join(erased.withColumnRenamed("user_id", column), on=column, how="left_anti")


def write_dataset(
    df: DataFrame,
    final: str,
    *,
    run_id: str,
    partition_by: list[str] | None = None,
    mode: str = "overwrite",
) -> None:
    """Write ``df`` as Parquet into a staging folder, then swap it in atomically."""
    staged = storage.staging_path(final, run_id)
    storage.delete(staged)
    writer = df.write.mode(mode)
    if partition_by:
        writer = writer.partitionBy(*partition_by)
    try:
        writer.parquet(staged)
    except BaseException:
        storage.discard(staged)
        raise
    storage.publish(staged, final, run_id)
