"""Warehouse scale: the same rules bill usage tables on DuckDB or Spark, identically to the Python
engine (see docs/warehouse.md). Needs the `warehouse` extra (duckdb, sqlglot, pyarrow)."""

from ratecard.warehouse.api import WarehouseResult, bill_warehouse
from ratecard.warehouse.schema import (
    BillProblem,
    InvalidInputError,
    InvalidRows,
    SchemaError,
    UnbillableError,
)

__all__ = [
    "BillProblem",
    "InvalidInputError",
    "InvalidRows",
    "SchemaError",
    "UnbillableError",
    "WarehouseResult",
    "bill_warehouse",
]
