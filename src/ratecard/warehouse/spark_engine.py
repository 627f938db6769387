"""Spark SQL: the same queries on a Spark session (local, or a cluster's).

The session is set up for exact, zone-free results, for this run only (the previous settings are
restored when it ends):

- `spark.sql.session.timeZone = UTC`: a time without an offset is read as its wall-clock digits
  and YEAR/MONTH of an instant are those of UTC; the rules' timezone is applied only through the
  calendar table, never through the JVM's time zone database or the session's zone;
- `spark.sql.ansi.enabled = true`: an arithmetic overflow is an error, never NULL;
- `spark.sql.decimalOperations.allowPrecisionLoss = false`: a DECIMAL product keeps its declared
  scale instead of being silently rounded when its precision would pass 38 digits.

A row's place in its file is `_metadata.file_path` and `monotonically_increasing_id()`, which
grows with the row's position within a file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ratecard.errors import UsageError
from ratecard.warehouse.engines import Bounds
from ratecard.warehouse.sql import SPARK

if TYPE_CHECKING:
    import pyarrow as pa

SETTINGS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.ansi.enabled": "true",
    "spark.sql.decimalOperations.allowPrecisionLoss": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


def local_session(cores: int = 2, memory: str = "3g") -> Any:
    """A local Spark session (`local[cores]`) for a run on this machine, its JVM given `memory`
    (Spark's default of 1g runs out on a month of 100,000 accounts that all hold packs, and a
    driver out of heap hangs rather than fails). The setting only takes effect when this call
    starts the JVM."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(f"local[{cores}]").appName("ratecard-warehouse")
    for key, value in {
        **SETTINGS,
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": str(max(2, cores * 2)),
        "spark.driver.memory": memory,
    }.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def literal(path: str) -> str:
    """A local file's path as Spark (Hadoop) reads it literally: Hadoop reads a path with any of
    `\\ { } [ ] * ?` as a glob, in which a backslash makes the next character literal. A remote
    path is the engine's to list, as it is."""
    if "://" in path:
        return path
    return _GLOB.sub(r"\\\1", path)


_GLOB = re.compile(r"([\\{}\[\]*?])")


class SparkEngine:
    """A Spark session's temporary views for one warehouse run."""

    dialect = SPARK

    def __init__(self, session: Any = None) -> None:
        self.spark = session if session is not None else local_session()
        self._saved = {key: self.spark.conf.get(key, None) for key in SETTINGS}
        for key, value in SETTINGS.items():
            self.spark.conf.set(key, value)
        self._views: list[str] = []
        self._cached: list[Any] = []

    def read(self, name: str, paths: Sequence[str], fmt: str) -> dict[str, str]:
        from pyspark.errors import PySparkException
        from pyspark.sql import functions as f

        try:
            reader = self.spark.read
            listed = [literal(p) for p in paths]
            if fmt == "parquet":
                frame = reader.parquet(*listed)
            else:
                frame = (
                    reader.option("header", "true").option("inferSchema", "false").csv(listed)
                )
            types = {field.name: field.dataType.simpleString() for field in frame.schema.fields}
            frame = frame.select(
                "*",
                f.col("_metadata.file_path").alias("_file"),
                f.monotonically_increasing_id().alias("_row"),
            )
        except PySparkException as exc:
            raise UsageError(
                f"{', '.join(paths)}: cannot read as {fmt}: {str(exc).splitlines()[0]}"
            ) from None
        self._view(name, frame)
        return types

    def statistics(self, name: str, columns: Mapping[str, str]) -> dict[str, Bounds] | None:
        """None: the footers' statistics are not read on Spark (every row is checked)."""
        return None

    def bare(self, name: str) -> str | None:
        """None: Spark's views are scanned with their places."""
        return None

    def describe(self, name: str) -> dict[str, str]:
        """A view's column types, by name."""
        return {
            field.name: field.dataType.simpleString()
            for field in self.spark.table(name).schema.fields
            if field.name not in ("_file", "_row")
        }

    def put(self, name: str, table: pa.Table) -> None:
        self._view(name, self.spark.createDataFrame(table))

    def create(self, name: str, sql: str, reuse: bool = True) -> None:
        frame = self.spark.sql(sql)
        if reuse:
            frame = frame.cache()
            frame.count()
            self._cached.append(frame)
        self._view(name, frame)

    def fetch(self, sql: str) -> pa.Table:
        return self.spark.sql(sql).toArrow()

    def batches(self, sql: str) -> Iterator[pa.RecordBatch]:
        yield from self.fetch(sql).to_batches(256_000)

    def write(self, sql: str, path: str, fmt: str) -> int:
        """Write through the driver, to one file like DuckDB's (a cluster job writing huge
        outputs may prefer `DataFrame.write` on the query, see docs/warehouse.md)."""
        from ratecard.warehouse.output import write_table

        table = self.fetch(sql)
        write_table(table, path, fmt)
        return int(table.num_rows)

    def _view(self, name: str, frame: Any) -> None:
        frame.createOrReplaceTempView(name)
        self._views.append(name)

    def close(self) -> None:
        for frame in self._cached:
            frame.unpersist()
        for name in self._views:
            self.spark.catalog.dropTempView(name)
        for key, value in self._saved.items():
            if value is None:
                self.spark.conf.unset(key)
            else:
                self.spark.conf.set(key, value)
