"""DuckDB: the default engine, embedded in the process, no server.

The connection's time zone is UTC, so that a time without an offset is read as its wall-clock
digits (the calendar table then applies the rules' timezone); DuckDB's own time zone database is
never asked about the rules' timezone.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING

from ratecard.errors import UsageError
from ratecard.warehouse.engines import Bounds
from ratecard.warehouse.sql import DUCKDB

if TYPE_CHECKING:
    import pyarrow as pa


class DuckDBEngine:
    """An in-memory DuckDB database for one warehouse run."""

    dialect = DUCKDB

    def __init__(
        self,
        threads: int | None = None,
        memory_limit: str | None = None,
        temp_directory: str | None = None,
    ) -> None:
        import duckdb

        self._duckdb = duckdb
        self.con = duckdb.connect(":memory:")
        self.con.execute("SET TimeZone = 'UTC'")
        # Every result that is read or written in an order says so (ORDER BY); without the
        # promise to keep insertion order, big aggregations and writes run in parallel and in
        # less memory.
        self.con.execute("SET preserve_insertion_order = false")
        if threads is not None:
            self.con.execute(f"SET threads = {int(threads)}")
        if memory_limit is not None:
            self.con.execute("SET memory_limit = ?", [memory_limit])
        if temp_directory is not None:
            self.con.execute("SET temp_directory = ?", [temp_directory])
        self._views: list[str] = []
        self._files: dict[str, tuple[list[str], str]] = {}

    def read(self, name: str, paths: Sequence[str], fmt: str) -> dict[str, str]:
        listed = "[" + ", ".join(_quote(literal(p)) for p in paths) + "]"
        self._files[name] = (list(paths), fmt)
        try:
            if fmt == "parquet":
                self.con.execute(
                    f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * EXCLUDE (file_row_number), "
                    f"file_row_number AS _row FROM read_parquet({listed}, filename = '_file', "
                    "file_row_number = true)"
                )
                # (the same rows without their places: a scan that needs none costs less)
                self.con.execute(
                    f"CREATE OR REPLACE TEMP VIEW {name}_bare AS SELECT * FROM "
                    f"read_parquet({listed})"
                )
            else:
                # CSV: read as text, in file order; the row's place is its position in the file.
                self.con.execute(
                    f"CREATE OR REPLACE TEMP TABLE {name}_raw AS SELECT * FROM read_csv("
                    f"{listed}, header = true, all_varchar = true, filename = '_file')"
                )
                self.con.execute(
                    f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT r.*, r.rowid - f.base AS _row "
                    f"FROM {name}_raw r JOIN (SELECT _file AS f_file, MIN(rowid) AS base FROM "
                    f"{name}_raw GROUP BY _file) f ON f.f_file = r._file"
                )
            described = self.con.execute(f"DESCRIBE {name}").fetchall()
        except self._duckdb.Error as exc:
            raise UsageError(
                f"{', '.join(paths)}: cannot read as {fmt}: {str(exc).splitlines()[0]}"
            ) from None
        return {str(row[0]): str(row[1]) for row in described if row[0] not in ("_file", "_row")}

    def describe(self, name: str) -> dict[str, str]:
        """A table's or view's column types, by name."""
        described = self.con.execute(f"DESCRIBE {name}").fetchall()
        return {str(row[0]): str(row[1]) for row in described if row[0] not in ("_file", "_row")}

    def bare(self, name: str) -> str | None:
        """The view of the Parquet files read as `name` without `_file` and `_row` (a scan
        that needs neither costs about a tenth less), or None (CSV)."""
        paths, fmt = self._files.get(name, ([], ""))
        return f"{name}_bare" if fmt == "parquet" and paths else None

    def statistics(self, name: str, columns: Mapping[str, str]) -> dict[str, Bounds] | None:
        """The bounds of `columns` over the Parquet files read as `name`, from their footers
        (`parquet_metadata`): None unless every row group that holds rows states, for each
        column, its null count and (for `integer` and `instant` columns, and the least of a
        `text` one) bounds this engine reads back as the column's values."""
        paths, fmt = self._files.get(name, ([], ""))
        if fmt != "parquet" or not paths:
            return None
        listed = "[" + ", ".join(_quote(literal(p)) for p in paths) + "]"
        value = {
            "text": "{v}",
            "integer": "TRY_CAST({v} AS HUGEINT)",
            # Read in this session's time zone (UTC), as the footer's text is written in it.
            "instant": "EPOCH_US(TRY_CAST({v} AS TIMESTAMPTZ))",
        }
        parts = []
        for column, kind in columns.items():
            least = value[kind].format(v="stats_min_value")
            greatest = value[kind].format(v="stats_max_value")
            parts.append(
                f"SELECT {_quote(column)} AS name, COUNT(*) AS chunks, "
                "COUNT(*) FILTER (WHERE stats_null_count IS NOT NULL) AS counted, "
                "SUM(stats_null_count) AS nulls, "
                f"COUNT({least}) AS stated_least, COUNT({greatest}) AS stated_greatest, "
                f"MIN({least}) AS least, MAX({greatest}) AS greatest "
                f"FROM parquet_metadata({listed}) "
                f"WHERE path_in_schema = {_quote(column)} AND row_group_num_rows > 0"
            )
        groups = (
            f"SELECT COUNT(*) FROM (SELECT DISTINCT file_name, row_group_id FROM "
            f"parquet_metadata({listed}) WHERE row_group_num_rows > 0)"
        )
        try:
            fetched = self.con.execute(" UNION ALL ".join(parts)).fetchall()
            # (every result fetched to its end: a result left unfinished blocks the
            # connection's next query)
            chunks = self.con.execute(groups).fetchall()
        except self._duckdb.Error:  # (a footer or bound DuckDB cannot read: the rows will say)
            return None
        expected = int(chunks[0][0]) if chunks else 0
        bounds: dict[str, Bounds] = {}
        for name_, found, counted, nulls, stated_least, stated_greatest, least, greatest in (
            fetched
        ):
            kind = columns[name_]
            whole = kind != "text"
            if found != expected or counted != found or nulls is None:
                return None
            if whole and (stated_least != found or stated_greatest != found):
                return None
            bounds[name_] = Bounds(
                int(nulls),
                # (a text's least: None when some row group's is not stated)
                int(least) if whole else least if stated_least == found else None,
                int(greatest) if whole else None,
            )
        return bounds

    def put(self, name: str, table: pa.Table) -> None:
        self.con.register(f"{name}_arrow", table)
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_arrow")
        self.con.unregister(f"{name}_arrow")

    def create(self, name: str, sql: str, reuse: bool = True) -> None:
        # A result read again is kept as a table: recomputing costs more than keeping. One read
        # once (`reuse=False`: the union of the priced periods, the months to bill) is a view,
        # computed where it is read: a copy of millions of rows spared.
        kind = "TABLE" if reuse else "VIEW"
        with self._values():
            self.con.execute(f"CREATE OR REPLACE TEMP {kind} {name} AS {sql}")

    def fetch(self, sql: str) -> pa.Table:
        with self._values():
            return self.con.sql(sql).to_arrow_table()

    @contextlib.contextmanager
    def _values(self) -> Iterator[None]:
        """An input value DuckDB cannot read (a Parquet timestamp in milliseconds beyond the
        year 294246 fails the whole scan) is a usage error: one line, never a traceback. (The
        queries check the values they compute with; this is the guard behind them.)"""
        try:
            yield
        except (self._duckdb.ConversionException, self._duckdb.OutOfRangeException) as exc:
            raise UsageError(
                f"an input holds a value DuckDB cannot read: {str(exc).splitlines()[0]}"
            ) from None

    def batches(self, sql: str) -> Iterator[pa.RecordBatch]:
        yield from self.con.sql(sql).to_arrow_reader(256_000)

    def write(self, sql: str, path: str, fmt: str) -> int:
        options = {
            "parquet": "FORMAT parquet",
            "csv": "FORMAT csv, HEADER true",
            "jsonl": "FORMAT json",
        }[fmt]
        try:
            with self._values():
                written = self.con.execute(
                    f"COPY ({sql}) TO {_quote(path)} ({options})"
                ).fetchall()
        except self._duckdb.IOException as exc:
            raise UsageError(f"{path}: cannot write: {str(exc).splitlines()[0]}") from None
        return int(written[0][0]) if written else 0

    def close(self) -> None:
        self.con.close()


def literal(path: str) -> str:
    """A local file's path as DuckDB reads it literally: DuckDB reads every path as a glob, so
    `*`, `?` and `[` are each put in a class of their own (`[ab].csv` → `[[]ab].csv`). A remote
    path is the engine's to list, as it is."""
    if "://" in path:
        return path
    return _GLOB.sub(r"[\1]", path)


_GLOB = re.compile(r"([*?\[])")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
