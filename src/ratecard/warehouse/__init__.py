"""Warehouse scale: the same rules bill usage tables on DuckDB or Spark, identically to the Python
engine (see docs/warehouse.md). Needs the `warehouse` extra (duckdb, sqlglot, pyarrow).

    >>> from ratecard.warehouse import bill_warehouse
    >>> result = bill_warehouse(book, "usage.parquet", purchases="purchases.parquet")
    >>> result.bills  # an Arrow table: account, month, total

The names are loaded on first use, so that importing this package loads no engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ratecard.warehouse.api import WarehouseResult, bill_warehouse
    from ratecard.warehouse.schema import (
        BillProblem,
        InvalidInputError,
        InvalidRows,
        SchemaError,
        UnbillableError,
    )
    from ratecard.warehouse.terms import ContractError

_NAMES = {
    "WarehouseResult": "ratecard.warehouse.api",
    "bill_warehouse": "ratecard.warehouse.api",
    "BillProblem": "ratecard.warehouse.schema",
    "ContractError": "ratecard.warehouse.terms",
    "InvalidInputError": "ratecard.warehouse.schema",
    "InvalidRows": "ratecard.warehouse.schema",
    "SchemaError": "ratecard.warehouse.schema",
    "UnbillableError": "ratecard.warehouse.schema",
}


def __getattr__(name: str) -> Any:
    if name in _NAMES:
        import importlib

        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'ratecard.warehouse' has no attribute {name!r}")


__all__ = [
    "BillProblem",
    "ContractError",
    "InvalidInputError",
    "InvalidRows",
    "SchemaError",
    "UnbillableError",
    "WarehouseResult",
    "bill_warehouse",
]
