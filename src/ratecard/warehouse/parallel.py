"""Drawing many accounts down on several cores.

The drawdown is Python, account by account, and accounts are independent: with enough of them the
grouped rows (sorted by account) are cut into contiguous slices at account boundaries, and each
slice is drawn down in a forked worker process, which writes its results as Arrow files. The
database is idle meanwhile, so the cores are free. Each worker runs exactly the sequential code,
so the results are those of one process, in another order (the database orders them later).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from ratecard.engine.bills import BillLine
from ratecard.engine.pricebook import PriceBook
from ratecard.warehouse.drawdown import Drawdown, Group, History, Line, Results
from ratecard.warehouse.sql import MAX_PRECISION
from ratecard.warehouse.terms import Terms, replays_everyone

if TYPE_CHECKING:
    import pyarrow as pa

#: Below this many grouped rows one process is quicker than starting workers.
PARALLEL_ROWS = 200_000
#: ... unless the engine replays every account (`terms.replays_everyone`): a replayed account
#: costs about as much as a hundred grouped rows drawn down, and from this many accounts two
#: processes are quicker.
PARALLEL_REPLAYS = 2_000

Detail = Mapping[str, Mapping[int, Sequence[tuple[int, int, Decimal]]]]
Bounds = Mapping[str, tuple[int, int]]


@attrs.define
class Drawn:
    """The drawdown of all accounts: Arrow tables for the database, and the few Python lines
    and failures."""

    period: pa.Table
    prepaid: pa.Table
    months: pa.Table
    lines: list[Line]
    failed: list[tuple[str, int | None, str]]
    replayed: set[str]
    accounts: int
    workers: int
    #: Credit balances of the bills the engine made (`Results.credits`).
    credits: list[tuple[str, int, str, str, Decimal, Decimal, Decimal, str]] = attrs.Factory(
        list)
    #: Usage the engine's bills rejected (`Results.rejected`).
    rejected: list[tuple[str, int, str, str, Decimal, str]] = attrs.Factory(list)
    #: Daily bills the engine made (`Results.daily`).
    daily: list[tuple[str, str, str, Decimal, tuple[Any, ...]]] = attrs.Factory(list)


def draw_all(book: PriceBook, groups: pa.Table, histories: Mapping[str, History], detail: Detail,
             quantity_scale: int, workers: int | None = None,
             bounds: Bounds | None = None, terms: Terms | None = None) -> Drawn:
    """Draw down every account of `groups` (sorted by account) and of `histories`; `bounds`
    gives accounts' first and last month of usage drawn down elsewhere (plain meters); `terms`
    the sheets by version and contract (default: the rules' own)."""
    import pyarrow as pa

    bounds = bounds or {}
    terms = terms if terms is not None else Terms(book)
    shape = _Shape(quantity_scale, terms.versioned, terms.labelled)
    count = workers if workers is not None else min(2, os.cpu_count() or 1)
    seen = set(groups.column("account").unique().to_pylist()) if groups.num_rows else set()
    if groups.num_rows < PARALLEL_ROWS and workers is None and not (
            len(seen) >= PARALLEL_REPLAYS and replays_everyone(terms.books)):
        count = 1
    if count > 1 and "fork" not in multiprocessing.get_all_start_methods():
        count = 1
    others = [account for account in histories if account not in seen]
    if count == 1:
        results, accounts = _draw(book, terms, groups, histories, detail, bounds, others)
        period, prepaid, months = _tables(results, shape)
        return Drawn(period, prepaid, months, results.lines, results.failed, results.replayed,
                     accounts, 1, results.credits,
                     results.rejected, results.daily)
    slices = _slices(groups, count)
    parts: list[Drawn] = []
    with tempfile.TemporaryDirectory(prefix="ratecard-drawdown-") as folder:
        context = multiprocessing.get_context("fork")
        processes = []
        for index, piece in enumerate(slices):
            process = context.Process(target=_worker, args=(
                book, terms, piece, histories, detail, bounds, shape, folder, index))
            process.start()
            processes.append(process)
        # This process draws the accounts that have no usage, meanwhile.
        results, accounts = _draw(book, terms, groups.slice(0, 0), histories, detail, bounds,
                                  others)
        period, prepaid, months = _tables(results, shape)
        parts.append(Drawn(period, prepaid, months, results.lines, results.failed,
                           results.replayed, accounts, 1, results.credits,
                     results.rejected, results.daily))
        for index, process in enumerate(processes):
            process.join()
            if process.exitcode != 0:
                raise RuntimeError(f"drawdown worker {index} failed (exit code "
                                   f"{process.exitcode})")
            parts.append(_read(folder, index))
    return Drawn(
        pa.concat_tables([p.period for p in parts]),
        pa.concat_tables([p.prepaid for p in parts]),
        pa.concat_tables([p.months for p in parts]),
        [line for p in parts for line in p.lines],
        [failure for p in parts for failure in p.failed],
        set().union(*(p.replayed for p in parts)),
        sum(p.accounts for p in parts),
        len(slices),
        [balance for p in parts for balance in p.credits],
        [refused for p in parts for refused in p.rejected],
        [bill for p in parts for bill in p.daily],
    )


def _slices(groups: pa.Table, count: int) -> list[pa.Table]:
    """`count` contiguous slices of the rows, cut where the account changes."""
    import pyarrow.compute as pc

    accounts = groups.column("account")
    size = groups.num_rows
    changes = pc.indices_nonzero(
        pc.not_equal(accounts.slice(1), accounts.slice(0, size - 1))).to_pylist()
    starts = [0]
    for part in range(1, count):
        target = size * part // count
        after = next((c + 1 for c in changes if c + 1 >= target and c + 1 > starts[-1]), None)
        if after is not None and after < size:
            starts.append(after)
    ends = [*starts[1:], size]
    return [groups.slice(start, end - start) for start, end in zip(starts, ends, strict=True)]


def _draw(book: PriceBook, terms: Terms, groups: pa.Table, histories: Mapping[str, History],
          detail: Detail, bounds: Bounds, others: Iterable[str]) -> tuple[Results, int]:
    """The sequential drawdown of the accounts of `groups` and of `others` (no usage)."""
    drawdown = Drawdown(book, terms)
    empty = History()
    accounts = 0
    current: str | None = None
    listed: list[Group] = []
    for batch in groups.to_batches(256_000):
        columns = batch.to_pydict()
        for account, ordinal, meter, dup, qty, first, last in zip(
            columns["account"], columns["ord"], columns["meter"], columns["dup"],
            columns["qty"], columns["first"], columns["last"], strict=True,
        ):
            if account != current:
                if current is not None:
                    drawdown.account(current, histories.get(current, empty), listed,
                                     detail.get(current), bounds.get(current))
                    accounts += 1
                current = account
                listed = []
            listed.append(Group(ordinal, meter, dup, qty, first, last))
    if current is not None:
        drawdown.account(current, histories.get(current, empty), listed, detail.get(current),
                         bounds.get(current))
        accounts += 1
    for account in others:
        drawdown.account(account, histories[account], [], None, bounds.get(account))
        accounts += 1
    return drawdown.results, accounts


@attrs.frozen
class _Shape:
    """The columns of the drawdown's tables: the quantities' scale, and whether period rows say
    their version (`ver`) and months their sheet (`book`)."""

    quantity_scale: int
    versioned: bool
    labelled: bool


def _tables(results: Results, shape: _Shape) -> tuple[pa.Table, pa.Table, pa.Table]:
    """The drawdown's period rows, prepaid lines and months as Arrow tables."""
    import pyarrow as pa

    quantity = pa.decimal128(MAX_PRECISION, shape.quantity_scale)
    period: list[Sequence[Any]] = list(zip(*results.period, strict=True)) or [()] * 7
    prepaid: list[Sequence[Any]] = list(zip(*results.prepaid, strict=True)) or [()] * 7
    months: list[Sequence[Any]] = list(zip(*results.months, strict=True)) or [()] * 3
    period_columns = {
        "account": pa.array(period[0], pa.string()),
        "ord": pa.array(period[1], pa.int64()),
        "meter": pa.array(period[2], pa.int64()),
        "total": pa.array(period[3], quantity),
        "allowance": pa.array(period[4], quantity),
        "postpaid": pa.array(period[5], quantity),
    }
    if shape.versioned:
        period_columns["ver"] = pa.array(period[6], pa.int64())
    month_columns = {
        "account": pa.array(months[0], pa.string()),
        "ord": pa.array(months[1], pa.int64()),
    }
    if shape.labelled:
        month_columns["book"] = pa.array(months[2], pa.int64())
    return (
        pa.table(period_columns),
        pa.table({
            "account": pa.array(prepaid[0], pa.string()),
            "ord": pa.array(prepaid[1], pa.int64()),
            "meter": pa.array(prepaid[2], pa.int64()),
            "source": pa.array(prepaid[3], pa.string()),
            "seq": pa.array(prepaid[4], pa.int64()),
            "quantity": pa.array(prepaid[5], quantity),
            "pack": pa.array(prepaid[6], pa.string()),
        }),
        pa.table(month_columns),
    )


def _worker(book: PriceBook, terms: Terms, groups: pa.Table, histories: Mapping[str, History],
            detail: Detail, bounds: Bounds, shape: _Shape, folder: str, index: int) -> None:
    """A forked worker: draw a slice down and write the results into `folder`."""
    import pyarrow as pa

    results, accounts = _draw(book, terms, groups, histories, detail, bounds, ())
    for name, table in zip(("period", "prepaid", "months"),
                           _tables(results, shape), strict=True):
        with pa.OSFile(os.path.join(folder, f"{index}-{name}.arrow"), "wb") as sink, \
                pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
    with open(os.path.join(folder, f"{index}-rest.pickle"), "wb") as stream:
        # The lines as plain tuples: pickling a named tuple per line (two per line, with its
        # `Line`) costs a class lookup and a call each, about a third more than the fields.
        lines = [(x.account, x.ord, x.meter, x.seq, *x.line) for x in results.lines]
        pickle.dump((lines, results.failed, results.replayed, accounts,
                     results.credits, results.rejected, results.daily), stream)
    os._exit(0)  # no cleanup of what the parent owns (the database, temporary directories)


def _read(folder: str, index: int) -> Drawn:
    import pyarrow as pa

    tables = []
    for name in ("period", "prepaid", "months"):
        with pa.OSFile(os.path.join(folder, f"{index}-{name}.arrow"), "rb") as source:
            tables.append(pa.ipc.open_file(source).read_all())
    # The file was written a moment ago by our own forked worker.
    with open(os.path.join(folder, f"{index}-rest.pickle"), "rb") as stream:
        flat, failed, replayed, accounts, credits, rejected, daily = pickle.load(stream)
    lines = [Line(account, ordinal, meter, seq, BillLine(*fields))
             for account, ordinal, meter, seq, *fields in flat]
    return Drawn(tables[0], tables[1], tables[2], lines, failed, replayed, accounts, 1, credits,
                 rejected, daily)
