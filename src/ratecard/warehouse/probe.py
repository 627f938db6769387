"""Probes: how an engine reads times and rounds amounts, with the warehouse's own queries.

The tests hold both engines to Python with these (every time the engine's reader accepts, and every
rounding mode on .5 cases), and anyone can check an engine version the same way:

    >>> read_times(book, ["2026-11-30T20:00:00Z"])
    [(1796068800000000, '2026-12', None)]
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from ratecard.engine.pricebook import PriceBook
from ratecard.warehouse import months as calendar
from ratecard.warehouse.engines import Engine
from ratecard.warehouse.queries import Queries
from ratecard.warehouse.schema import PROBLEMS_BY_CODE
from ratecard.warehouse.sql import DUCKDB, Operations, decimal_type, render


def _engine(engine: str, spark: Any) -> Engine:
    from ratecard.warehouse.api import _open_engine

    return _open_engine(engine, spark, None, None)


def read_times(
    book: PriceBook,
    texts: Sequence[str | None],
    engine: str = DUCKDB,
    spark: Any = None,
    full_calendar: bool = False,
) -> list[tuple[int | None, str | None, str | None]]:
    """Each time as the warehouse reads it for `book`: (instant in microseconds, month label,
    problem name), the problem None for a good time."""
    import pyarrow as pa

    from ratecard.warehouse.api import _calendar_table

    runner = _engine(engine, spark)
    try:
        runner.put("calendar", _calendar_table(book, full_calendar))
        runner.put(
            "times_src",
            pa.table(
                {
                    "time": pa.array(list(texts), pa.string()),
                    "_row": pa.array(range(len(texts)), pa.int64()),
                }
            ),
        )
        q = Queries(book, runner.dialect)
        o = q.ops
        timed = q.parsed_times(o.table("times_src"), ["time", "_row"])
        rows = q.instants(timed, ["_row"])
        query = (
            o.select(o.col("_row"), o.col("instant"), o.col("ord"), o.col("time_problem"))
            .from_(o.subquery(rows, "r"), copy=False)
            .order_by(o.col("_row"), copy=False)
        )
        data = runner.fetch(render(query, runner.dialect)).to_pydict()
    finally:
        runner.close()
    out: list[tuple[int | None, str | None, str | None]] = []
    for instant, ordinal, code in zip(
        data["instant"], data["ord"], data["time_problem"], strict=True
    ):
        if code is not None:
            name = (
                "beyond calendar" if code not in PROBLEMS_BY_CODE else PROBLEMS_BY_CODE[code].name
            )
            out.append((None, None, name))
        else:
            out.append((instant, calendar.label_of(ordinal), None))
    return out


def round_values(
    values: Sequence[Decimal],
    exponent: int,
    mode: str,
    engine: str = DUCKDB,
    spark: Any = None,
    scale: int = 18,
) -> list[Decimal]:
    """`values` (read as DECIMAL(38, scale)) rounded by `Operations.round_to` in an engine."""
    import pyarrow as pa

    runner = _engine(engine, spark)
    try:
        runner.put(
            "numbers",
            pa.table(
                {
                    "n": pa.array(range(len(values)), pa.int64()),
                    "v": pa.array(values, pa.decimal128(38, scale)),
                }
            ),
        )
        o = Operations(runner.dialect)
        rounded = o.round_to(
            o.cast(o.col("v"), decimal_type(scale)), exponent, mode, max(0, -exponent)
        )
        query = (
            o.select(o.col("n"), ("r", rounded))
            .from_(o.table("numbers"), copy=False)
            .order_by(o.col("n"), copy=False)
        )
        data = runner.fetch(render(query, runner.dialect)).to_pydict()
    finally:
        runner.close()
    return list(data["r"])
