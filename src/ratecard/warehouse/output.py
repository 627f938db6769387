"""Writing an Arrow table of bills or lines to one file: Parquet, CSV or JSON Lines.

DuckDB writes its results itself (COPY); results that come back as Arrow (from Spark) are written
here, through an in-memory DuckDB, so that the files are the same whichever engine made them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ratecard.errors import UsageError

if TYPE_CHECKING:
    import pyarrow as pa


def write_table(table: pa.Table, path: str, fmt: str) -> None:
    """Write `table` to `path` as `parquet`, `csv` (decimals as text) or `jsonl`."""
    import duckdb

    options = {
        "parquet": "FORMAT parquet",
        "csv": "FORMAT csv, HEADER true",
        "jsonl": "FORMAT json",
    }[fmt]
    con = duckdb.connect(":memory:")
    try:
        con.register("result", table)
        quoted = "'" + path.replace("'", "''") + "'"
        con.execute(f"COPY (SELECT * FROM result) TO {quoted} ({options})")
    except duckdb.IOException as exc:
        raise UsageError(f"{path}: cannot write: {str(exc).splitlines()[0]}") from None
    finally:
        con.close()
