"""What the warehouse asks of a SQL engine, whichever it is.

An engine registers the input files as views (with their file and row position, `_file` and
`_row`, so that "first in file order" means the same in every engine), takes tables from Python
(Arrow), runs the queries of `queries` as temporary tables or views, and hands results back as
Arrow. `duckdb_engine` and `spark_engine` implement it.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import attrs

from ratecard.errors import UsageError
from ratecard.warehouse.schema import input_format

if TYPE_CHECKING:
    import pyarrow as pa


@attrs.frozen
class Bounds:
    """A column's bounds over every row of its files, as their footers state them: how many
    rows are null, and the least and greatest value (None: a text column whose bound is not
    stated). An integer column's and an instant's (microseconds since the epoch, UTC) bounds
    are exact; a text's least value may be a prefix of the least (writers cut long ones)."""

    nulls: int
    least: int | str | None
    greatest: int | str | None


class Engine(Protocol):
    """A SQL engine the warehouse runs on."""

    dialect: str

    def read(self, name: str, paths: Sequence[str], fmt: str) -> dict[str, str]:
        """Register input files as the view `name` (their columns plus `_file` and `_row`);
        the column types of the files, by name."""
        ...

    def describe(self, name: str) -> dict[str, str]:
        """A registered table's or view's column types, by name (`_file` and `_row` left
        out)."""
        ...

    def bare(self, name: str) -> str | None:
        """The name of a view of the files read as `name` without `_file` and `_row`, cheaper
        to scan where neither is needed, or None when the engine has none."""
        ...

    def statistics(self, name: str, columns: Mapping[str, str]) -> dict[str, Bounds] | None:
        """What the footers of the files read as `name` say of each of `columns` (a column's
        name and what to read its bounds as: `text`, `integer` or `instant`), over all their
        rows, without reading a row; None when any file or row group does not say it (CSV,
        or Parquet written without statistics)."""
        ...

    def put(self, name: str, table: pa.Table) -> None:
        """Register an Arrow table as `name`."""
        ...

    def create(self, name: str, sql: str, reuse: bool = True) -> None:
        """Run a query (SQL text of `render`) into `name`: a temporary table, or a view where
        the engine would rather compute it again than keep it (`reuse=False`)."""
        ...

    def fetch(self, sql: str) -> pa.Table:
        """A query's result."""
        ...

    def batches(self, sql: str) -> Iterator[pa.RecordBatch]:
        """A query's result in batches (for results too big to hold at once)."""
        ...

    def write(self, sql: str, path: str, fmt: str) -> int:
        """Write a query's result to a file (parquet, csv or jsonl); the rows written."""
        ...

    def close(self) -> None: ...


def input_paths(
    spec: str | os.PathLike[str] | Sequence[str | os.PathLike[str]], what: str
) -> tuple[list[str], str]:
    """The files of an input (a file, a directory of .parquet or .csv files, a glob, or a list
    of these), in name order, and their format; UsageError if there are none or formats mix.
    A remote path (`s3://…`, `hdfs://…`) is passed to the engine as it is; a remote directory
    is read as Parquet.

    A local path that names a file is that file, whatever its name holds (`[ab].csv`, `*`, `?`,
    `{`, quotes, spaces); only a path that names no file is a pattern. The paths returned are
    files, which the engines read literally (`duckdb_engine.literal`, `spark_engine.literal`)."""
    specs = [spec] if isinstance(spec, str | os.PathLike) else list(spec)
    paths: list[str] = []
    for item in specs:
        text = os.fspath(item)
        # s3://, hdfs://, gs://: listed by the engine itself; a file is the file it names,
        # `[ab].csv` too
        if "://" in text or os.path.isfile(text):
            paths.append(text)
        elif os.path.isdir(text):
            found = sorted(
                os.path.join(text, name)
                for name in os.listdir(text)
                if name.lower().endswith((".parquet", ".pq", ".csv"))
            )
            if not found:
                raise UsageError(f"{text}: no .parquet or .csv files in this directory")
            paths.extend(found)
        elif any(ch in text for ch in "*?["):
            found = sorted(p for p in glob.glob(text) if os.path.isfile(p))
            if not found:
                raise UsageError(f"{text}: no such file, and no file matches it as a pattern")
            paths.extend(found)
        else:
            raise UsageError(f"{text}: no such file ({what})")
    formats = {
        "parquet" if "://" in p and "." not in p.rsplit("/", 1)[-1] else input_format(p)
        for p in paths
    }
    if len(formats) > 1:
        raise UsageError(f"{what}: mixes Parquet and CSV files; give one format")
    return paths, formats.pop()
