"""`bill_warehouse`: bill every account of a usage table in a SQL engine, exactly as the Python
engine would bill each account's journal.

The run, step by step (the queries are in `queries`, the drawdown in `drawdown`):

1. register the calendar table (`months`) and the inputs; check their columns;
2. read purchases and events (small) into Python, validated, and cut each such account's time
   into segments;
3. meter usage in the database: validate, dedupe ids, label months, add up per account, month,
   segment and meter (`usage_groups`); count bad rows per problem, with samples;
4. draw down: plain accounts by a join with `deduct` run once per distinct quantity, the others
   account by account in Python;
5. price the months' postpaid quantities in the database (ladders the SQL does not price are
   priced by the engine's `LadderGroup` in Python), number the lines, add up the bills;
6. write the bills and lines, or return them as Arrow tables.

Dated versions and contracts (`terms`): a month is priced by the version in effect on its first
day (the SQL keys draws and brackets by version), a pack keeps the terms of the sheet in effect
when it was bought, and accounts under a contract are drawn down and billed in Python by their
contract's sheets (see `drawdown`).
"""

from __future__ import annotations

import contextlib
import datetime
import decimal
import gc
import itertools
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from ratecard.engine.bills import BillLine
from ratecard.engine.clock import (
    TimeError,
    add_period,
    checked_instant,
    format_instant,
    local,
    month_of,
    month_start,
    next_month,
    parse_month,
    parse_time,
)
from ratecard.engine.deduction import ONCE
from ratecard.engine.journal import EntryReader, FieldError
from ratecard.engine.ladders import BLOCK_PRORATED, Bracket, Ladder, contact_sales_error
from ratecard.engine.money import CONTEXT, EXACT, rounding_words
from ratecard.engine.pricebook import PriceBook
from ratecard.engine.pricing import MeterUsage
from ratecard.errors import UsageError
from ratecard.literals import NumberError, format_plain, parse_number
from ratecard.warehouse import months as calendar
from ratecard.warehouse.drawdown import (
    ENTRY_EVENTS,
    REOPEN,
    SUBSCRIBE,
    SUSPEND,
    TOPUP,
    AccountEvent,
    History,
    Line,
    PackPurchase,
    cuts,
    plain_draws,
)
from ratecard.warehouse.engines import Engine, input_paths
from ratecard.warehouse.parallel import Drawn, draw_all
from ratecard.warehouse.queries import (
    TIMED,
    LimitKey,
    PricedLadder,
    Proof,
    Queries,
    UsagePlan,
    rounding_exponent,
)
from ratecard.warehouse.requests import REQUESTS, check_request_columns, parts_view
from ratecard.warehouse.schema import (
    ACCOUNTS,
    BEYOND_CALENDAR,
    EVENTS,
    INSTANT,
    INTEGER,
    PROBLEMS_BY_CODE,
    PURCHASES,
    STRING,
    USAGE,
    WALL,
    BillProblem,
    InvalidInputError,
    InvalidRows,
    UnbillableError,
    check_columns,
    decimal_scale,
    kind_of,
    largest_value,
    output_format,
)
from ratecard.warehouse.sql import (
    DUCKDB,
    MAX_PRECISION,
    NEVER_AFTER,
    NEVER_BEFORE,
    SPARK,
    render,
    scale_of,
)
from ratecard.warehouse.terms import (
    ContractSpec,
    Terms,
    check_pools,
    check_requests,
    entry_meters,
    load_contracts,
    replays_everyone,
)

if TYPE_CHECKING:
    import pyarrow as pa

PathSpec = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]
#: Accounts with at most this many cuts get their cuts as columns of one row (a plain join);
#: with more, the cuts table has a row per segment (a range join).
WIDE_CUTS = 6
ON_INVALID = ("skip", "stop")
SAMPLES = 5
#: A usage table whose statistics prove its rows good is metered without reading their times
#: when they fall in one month, and by comparing them with the month ends when they fall in up
#: to this many (`_Run._proof`); over more, the calendar join labels each row.
PROOF_MONTHS = 6
#: A bill adds up to 10^LINES_DIGITS lines of the largest amount the SQL prices and still fits
#: its DECIMAL(38, s) (see `_Run._priceable`).
LINES_DIGITS = 6


@attrs.frozen
class WarehouseResult:
    """A warehouse run: the bills and lines (Arrow tables, when not written to files), the bad
    input rows and unbillable months reported, and what was computed where."""

    bills: pa.Table | None
    lines: pa.Table | None
    invalid: tuple[InvalidRows, ...]
    problems: tuple[BillProblem, ...]
    stats: Mapping[str, Any]
    queries: Mapping[str, str]
    #: With credits: each bill's credit balances, as the engine's bill lists them (`account,
    #: month, id, credit, amount, paid, remaining, expires`; see docs/warehouse.md).
    credits: pa.Table | None = None
    #: Usage the engine's replay rejected (packs that stop service when exhausted, usage while
    #: suspended), for the accounts it billed (None when it billed none): `account, month,
    #: meter, action, quantity, reason` (see docs/warehouse.md).
    rejected: pa.Table | None = None
    #: With daily bills (`bill per day on ...`): the daily bills (`account, day, month, issued,
    #: total`) and their lines (`account, day, line, meter, source, quantity, unit_price,
    #: amount, precise_amount, bracket, pack, period`), as the engine's replay made them.
    daily_bills: pa.Table | None = None
    daily_lines: pa.Table | None = None


def bill_warehouse(
    book: PriceBook,
    usage: PathSpec | None,
    *,
    requests: PathSpec | None = None,
    purchases: PathSpec | None = None,
    events: PathSpec | None = None,
    accounts: PathSpec | None = None,
    month: str | None = None,
    engine: str = DUCKDB,
    output: str | None = None,
    lines: str | None = None,
    on_invalid: str = "skip",
    spark: Any = None,
    threads: int | None = None,
    memory_limit: str | None = None,
    return_lines: bool = True,
    workers: int | None = None,
    contracts: ContractSpec | None = None,
    on_step: Callable[[str], None] | None = None,
    statistics: bool = True,
) -> WarehouseResult:
    """Bill every account of `usage` (Parquet or CSV files; see docs/warehouse.md) with the
    account's `purchases` and `events`: one bill per account and month, from the month of the
    account's first entry to that of its last, as `PriceBook.bill` would make it from the
    account's journal; or, with `month` (`YYYY-MM`), that month's bills only. `requests` is a
    requests table (one row per `request` entry, its quantities and properties in columns; see
    docs/warehouse.md), billed beside `usage` or alone (`usage` None).

    A month is billed by the rules' version in effect on its first day. `contracts` maps
    accounts to contracts: a contracts table (CSV or Parquet: `account, contract`, a contract
    file's path relative to the table's directory) or a mapping of accounts to contract files
    or books (`PriceBook.with_contract`); each such account is billed under its own.

    Bills (`account, month, total`) go to `output` and their lines to `lines` (.parquet, .csv or
    .jsonl); without a path they are returned as Arrow tables (the lines unless `return_lines`
    is False). The drawdown runs in `workers` processes (default: one, or two when there are
    many accounts and the machine has two cores; always one with Spark, whose connection a
    forked process must not share). Bad input rows are reported and
    skipped (`on_invalid="skip"`) or stop the run (`"stop"`, InvalidInputError); so are months
    the engine cannot bill (UnbillableError). `engine` is `duckdb` or `spark` (a `spark`
    session may be given). `on_step` is called with each step's name as it starts (a progress
    display). With `statistics` (the default), a usage table whose Parquet statistics prove
    every row good is metered without checking each row (see docs/warehouse.md); False checks
    every row all the same.
    """
    if on_invalid not in ON_INVALID:
        raise UsageError(f"on_invalid must be one of {', '.join(ON_INVALID)}, not `{on_invalid}`")
    wanted = parse_wanted(month)
    terms = billable_terms(book, contracts, engine)
    formats = {
        "output": output_format(output) if output else None,
        "lines": output_format(lines) if lines else None,
    }
    if usage is None and requests is None:
        raise UsageError("give a usage table, a requests table or both")
    inputs = input_tables(usage, purchases, events, accounts, requests)
    check_collisions(
        {name: paths for name, (paths, _) in inputs.items()},
        {"bills (output)": output, "lines": lines},
    )
    runner = _open_engine(engine, spark, threads, memory_limit)
    try:
        run = _Run(book, runner, on_invalid, wanted, terms)
        run.return_lines = return_lines
        run.workers = workers
        run.on_step = on_step
        run.statistics = statistics
        return run.execute(inputs, output, formats["output"], lines, formats["lines"])
    finally:
        runner.close()


def parse_wanted(month: str | None) -> int | None:
    """The ordinal of a `YYYY-MM` month (None: every month); UsageError if it is not one."""
    if month is None:
        return None
    try:
        year, number = parse_month(month)
    except TimeError as exc:
        raise UsageError(str(exc)) from None
    return calendar.ord_of(year, number)


def billable_terms(
    book: PriceBook, contracts: ContractSpec | None, engine: str = "duckdb"
) -> Terms:
    """The rules' sheets (versions and contracts) a run bills by; UsageError for what the
    warehouse refuses (requests beside mechanics it bills by the engine's replay, daily bills, a
    daily ladder, versions that share allowances differently), and
    ContractError for a contract it cannot bill by."""
    terms = Terms(book, load_contracts(book, contracts))
    for sheet in terms.books:
        if sheet.requests:
            _refuse_with_requests(sheet)
    _refuse_changed_meters(terms.books)
    for sheet in terms.books:
        if not sheet.rounding.per_line:
            _check_precise_amounts(sheet)
    check_pools(terms)
    check_requests(terms)
    return terms


def _refuse_changed_meters(books: Sequence[PriceBook]) -> None:
    """The SQL converts counts in a display unit, raises entries to a minimum and rounds a
    meter's own lines by the rules' first sheet: versions or contracts' sheets that change
    them are refused."""
    def terms_of(sheet: PriceBook) -> dict[str, tuple[Any, ...]]:
        return {plan.name: (plan.count_scales, plan.entry_minimum, plan.amount_rounding)
                for plan in sheet.meters}

    first = terms_of(books[0])
    for sheet in books[1:]:
        for name, held in terms_of(sheet).items():
            if first.get(name, held) != held:
                raise UsageError(
                    f"meter `{name}` counts in its display unit, bills a minimum per entry or "
                    "rounds its own lines differently in a version or contract of these rules: "
                    "the warehouse applies the rules' first sheet's; bill these accounts with "
                    "`ratecard bill`")


def _refuse_with_requests(sheet: PriceBook) -> None:
    """Rules that bill by request are billed in SQL: what the engine's replay of every account
    would bill there (`replays_everyone`) is refused. A per-entry minimum is applied in SQL, to
    each request row's part and each usage row."""
    for plan in sheet.meters:
        if plan.pack_terms.stop_when_exhausted:
            raise UsageError(
                f"meter `{plan.name}`'s packs stop service when exhausted (`stop when "
                "exhausted`), and the rules bill by request: the warehouse bills requests' "
                "usage past the packs as postpaid only and rejects none; bill these accounts "
                "with `ratecard bill`"
            )
    if sheet.billing.skip_empty:
        raise UsageError(
            "the rules say `bill per month, skip empty`, and bill by request: the warehouse "
            "writes a bill for every month of an account's span of requests and cannot leave "
            "out the empty ones; bill these accounts with `ratecard bill`"
        )
    prepaid = [credit.name for credit in sheet.credits if credit.amount is None]
    if prepaid:
        raise UsageError(
            f"these rules declare prepaid credit `{prepaid[0]}` (`credit ... prepaid`) and bill "
            "by request: the warehouse draws prepaid credits for usage rows only, not beside a "
            "requests table; bill these accounts with `ratecard bill`")
    days = [grant.name for grant in sheet.grants
            if grant.recurrence != ONCE and grant.valid_amount is not None
            and grant.valid_unit == "day"]
    if days:
        raise UsageError(
            f"grant `{days[0]}` is issued per month and valid days, and the rules bill by "
            "request: the warehouse cuts requests' usage at a month's start only; bill these "
            "accounts with `ratecard bill`")
    sold = [plan.name for plan in sheet.subscriptions if not plan.automatic]
    if sold:
        raise UsageError(
            f"the rules sell subscription `{sold[0]}` and bill by request: "
            "the warehouse bills subscriptions beside usage rows only, not beside a requests "
            "table; bill these accounts with `ratecard bill`")
    if any(plan.automatic for plan in sheet.subscriptions):
        raise UsageError(
            "the rules charge a recurring fee and bill by request: the warehouse bills requests "
            "in SQL, not fees; bill these accounts with `ratecard bill`")
    if sheet.billing.daily or any(g.ladder.period != "month" for g in sheet.ladder_groups):
        raise UsageError(
            "the rules bill by request and price or bill by the day (a daily ladder or `bill "
            "per day on ...`): the warehouse bills requests in SQL by the month; bill these "
            "accounts with `ratecard bill`")


def input_tables(
    usage: PathSpec | None,
    purchases: PathSpec | None,
    events: PathSpec | None,
    accounts: PathSpec | None = None,
    requests: PathSpec | None = None,
) -> dict[str, tuple[list[str], str]]:
    """The input tables' files and formats, by table name."""
    inputs = {} if usage is None else {USAGE: input_paths(usage, "usage")}
    if requests is not None:
        inputs[REQUESTS] = input_paths(requests, "requests")
    if purchases is not None:
        inputs[PURCHASES] = input_paths(purchases, "purchases")
    if events is not None:
        inputs[EVENTS] = input_paths(events, "events")
    if accounts is not None:
        inputs[ACCOUNTS] = input_paths(accounts, "accounts")
    return inputs


def open_engine(name: str, spark: Any, threads: int | None, memory_limit: str | None) -> Engine:
    """The engine a run bills on."""
    return _open_engine(name, spark, threads, memory_limit)


def check_collisions(
    inputs: Mapping[str, Sequence[str]], outputs: Mapping[str, str | os.PathLike[str] | None]
) -> None:
    """UsageError if an output is an input file or another output (the same path, however
    written, or the same file through a link): writing it would lose the data. Checked before
    anything is read or written."""
    given = [(what, os.fspath(path)) for what, path in outputs.items() if path is not None]
    for index, (what, path) in enumerate(given):
        for other, other_path in given[:index]:
            if same_file(path, other_path):
                raise UsageError(
                    f"{path}: the {other} and the {what} would be written to the same file; "
                    "give each its own"
                )
        for table, paths in inputs.items():
            for read in paths:
                if same_file(path, read):
                    raise UsageError(
                        f"{path}: writing the {what} there would replace the {table} input "
                        f"{read}; write it to another file"
                    )


def same_file(first: str, second: str) -> bool:
    """Whether two paths name one file: equal resolved paths (links, `..` and relative paths
    resolved), or, for files that exist, the same file (`os.path.samefile`: a hard link, or
    another spelling on a case-insensitive file system). Remote paths (`s3://…`) are compared as
    written."""
    if "://" in first or "://" in second:
        return first == second
    if os.path.realpath(first) == os.path.realpath(second):
        return True
    try:
        return os.path.samefile(first, second)
    except OSError:  # one of them does not exist (yet)
        return False


def _open_engine(name: str, spark: Any, threads: int | None, memory_limit: str | None) -> Engine:
    if name == DUCKDB:
        try:
            from ratecard.warehouse.duckdb_engine import DuckDBEngine
        except ImportError:  # pragma: no cover - depends on the installation
            raise UsageError(
                "the duckdb engine needs `pip install 'ratecard[warehouse]'`"
            ) from None
        return DuckDBEngine(threads=threads, memory_limit=memory_limit)
    if name == "spark":
        try:
            from ratecard.warehouse.spark_engine import SparkEngine
        except ImportError:  # pragma: no cover - depends on the installation
            raise UsageError("the spark engine needs pyspark: `pip install pyspark`") from None
        return SparkEngine(spark)
    raise UsageError(f"unknown engine `{name}` (duckdb or spark)")


def _check_precise_amounts(sheet: PriceBook) -> None:
    """Rules that keep precise amounts (`on total`, `exact`) are billed when every amount is a
    decimal the warehouse can hold: a price per N units whose unit price does not terminate
    (1 per 3), or a block prorated whose unit share does not (a block of 3), makes amounts like
    0.333… (the engine's 60 digits), refused rather than rounded."""
    for group in sheet.ladder_groups:
        if {meter for meter, _ in group.roundings} >= set(group.meters):
            continue  # its lines are rounded (`amount rounded`): priced by the engine's ladder
        for bracket in group.ladder.brackets:
            if (bracket.price is not None and bracket.block is not None
                    and bracket.block_rounding == BLOCK_PRORATED
                    and not _terminates(Decimal(1), bracket.block)):
                raise UsageError(
                    f"these rules say `{rounding_words(sheet.rounding)}`, and meter "
                    f"`{group.meters[0]}` is priced per block of "
                    f"{format_plain(bracket.block)} prorated: its amounts are not all "
                    "decimals the warehouse can hold exactly (a unit is 1/"
                    f"{format_plain(bracket.block)} of a block); bill these accounts with "
                    "`ratecard bill`"
                )
            if bracket.price is not None and bracket.block is None and not _exact_unit(bracket):
                raise UsageError(
                    f"these rules say `{rounding_words(sheet.rounding)}`, and meter "
                    f"`{group.meters[0]}` is priced {format_plain(bracket.price)} per "
                    f"{format_plain(bracket.per)}: its amounts are not all decimals the "
                    "warehouse can hold exactly (1 unit costs "
                    f"{format_plain(bracket.price)}/{format_plain(bracket.per)}); bill these "
                    "accounts with `ratecard bill`"
                )


def _exact_unit(bracket: Bracket) -> bool:
    """Whether a bracket's price per unit is an exact decimal (price / per terminates)."""
    if bracket.price is None or bracket.per == 1:
        return True
    return _terminates(bracket.price, bracket.per)


def _terminates(numerator: Decimal, denominator: Decimal) -> bool:
    """Whether `numerator / denominator` is an exact decimal in ratecard's context."""
    context = CONTEXT.copy()
    context.clear_flags()
    quotient = context.divide(numerator, denominator)
    return not context.flags[decimal.Inexact] and quotient * denominator == numerator


def _ladder_in_sql(ladder: Ladder) -> bool:
    """Whether the SQL prices this ladder: one meter at a time, no blocks, no minimum, maximum
    or flat fee at zero, and per-N prices that are exact decimals."""
    if ladder.combined or ladder.minimum is not None or ladder.maximum is not None:
        return False
    if ladder.flat_at_zero:
        return False
    for bracket in ladder.brackets:
        if bracket.block is not None:
            return False
        if not _exact_unit(bracket):
            return False
    return True


class _Run:
    """One warehouse run: the state passed between its steps."""

    def __init__(
        self,
        book: PriceBook,
        engine: Engine,
        on_invalid: str,
        wanted: int | None,
        terms: Terms | None = None,
    ) -> None:
        self.book = book
        self.terms = terms = terms if terms is not None else Terms(book)
        self.engine = engine
        self.on_invalid = on_invalid
        self.wanted = wanted
        self.queries = Queries(book, engine.dialect, terms.books)
        # Rules whose bills depend on each account's opening (grants, credits granted then):
        # every account is replayed by the engine from its opening.
        # Fees too: every account holds them from its opening.
        self.grants = replays_everyone(terms.books)
        # Each account's last valid usage instant (the end of its span, for the cuts of
        # monthly grants that expire within their month), read with the openings.
        self.lasts: dict[str, int] = {}
        self.texts: dict[str, str] = {}
        self.stats: dict[str, Any] = {"engine": engine.dialect}
        self.timings: dict[str, float] = {}
        self.invalid: list[InvalidRows] = []
        self.problems: list[BillProblem] = []
        self.excluded: set[tuple[str, int]] = set()
        self.full_calendar = False
        # Whether the usage files' statistics may spare checking their rows (`_proof`).
        self.statistics = True
        self._proofs: dict[tuple[UsagePlan, bool], Proof | None] = {}
        self.return_lines = True
        self.count_scale: int | None = None
        self.timed = False  # whether `usage_src` comes with its times read (a requests table)
        self.count_largest: int | None = None
        self.requests = False  # whether `usage_src` holds a requests table's parts
        self.workers: int | None = None  # drawdown processes (None: by the work's size)
        # Called with each step's name as it starts (a progress display).
        self.on_step: Callable[[str], None] | None = None
        # Whether to add up the bills' amounts per month and meter (`meter_totals`).
        self.by_meter = False
        self.meter_totals: pa.Table | None = None
        # A run whose plain drawdown this one shares (see `plain_sql`), or None.
        self.plain_from: _Run | None = None
        # Per version of the rules (`ver`): the meters whose ladders the SQL prices, and the
        # ladder groups priced in Python.
        self.versions = terms.books[: terms.versions]
        self.sql_ladders: list[tuple[int, int, Ladder]] = [
            (version, index, plan.ladder)
            for version, sheet in enumerate(self.versions)
            for index, plan in enumerate(sheet.meters)
            if plan.ladder is not None and _ladder_in_sql(plan.ladder)
        ]
        self.sql_meters = sorted({index for _, index, _ in self.sql_ladders})
        self.python_groups_of = [
            [group for group in sheet.ladder_groups if not _ladder_in_sql(group.ladder)]
            for sheet in self.versions
        ]
        self.python_groups = [g for groups in self.python_groups_of for g in groups]
        pools: dict[str, list[int]] = defaultdict(list)
        for index, plan in enumerate(book.meters):
            pools[plan.pool].append(index)
        self.shared = {
            pool: ms for pool, ms in pools.items() if len(ms) > 1 or pool in book.allowance_pools
        }

    # --- the steps ------------------------------------------------------------------------------

    def execute(
        self,
        inputs: Mapping[str, tuple[list[str], str]],
        output: str | None,
        output_fmt: str | None,
        lines: str | None,
        lines_fmt: str | None,
    ) -> WarehouseResult:
        plan, histories = self.prepare(inputs)
        self.meter(plan)
        return self.finish(plan, histories, output, output_fmt, lines, lines_fmt)

    def prepare(
        self, inputs: Mapping[str, tuple[list[str], str]]
    ) -> tuple[UsagePlan, dict[str, History]]:
        """Read the inputs, build the purchase and event histories and register their cuts: the
        plan of the metering (`meter`), and the histories."""
        with self._step("read"):
            kinds = {
                name: self._read(name, paths, fmt)
                for name, (paths, fmt) in inputs.items()
                if REQUESTS not in inputs or name not in (USAGE, REQUESTS)
            }
            self._calendar()  # (before the requests' parts: their view reads it)
            if REQUESTS in inputs:
                kinds[USAGE] = self._read_requests(inputs)
            self.kinds = kinds
        with self._step("histories"), _no_cyclic_gc():
            histories = self._histories(kinds)
            cut_columns = self._cuts(histories)
        plan = UsagePlan(
            count_kind=kinds[USAGE]["count"],
            count_scale=self.count_scale,
            count_largest=self.count_largest,
            time_kind=kinds[USAGE]["time"],
            account_kind=kinds[USAGE]["account"],
            id_kind=kinds[USAGE].get("id"),
            has_cuts=bool(histories),
            cut_columns=cut_columns,
            spans=bool(histories) or bool(self.shared) or self.terms.grandfathering,
            spans_of_cut_only=not self.shared and not self.terms.grandfathering
            and not self.grants,
            requests=REQUESTS in inputs,
            timed=self.timed,
            late=(
                self.book.billing.settle_from_balance
                and self.book.billing.issued_day != 1
                and any(h.settles(self.book) for h in histories.values())
            ),
        )
        return plan, histories

    def meter(self, plan: UsagePlan) -> None:
        """Meter the usage (`usage_groups`) and count its bad rows."""
        with self._step("meter"):
            self._meter(plan)
        if self.invalid and self.on_invalid == "stop":
            raise InvalidInputError(self.invalid)

    def metering_sql(self, plan: UsagePlan) -> str:
        """The SQL `meter` runs for `plan` (two runs whose metering SQL and input tables are
        the same meter alike: see `simulate`)."""
        return render(self.queries.usage_groups(plan, self._proof(plan)), self.engine.dialect)

    def metered_like(self, other: _Run) -> None:
        """Take `other`'s metering (its `usage_groups`, still in the engine, and its bad rows)
        as this run's: the two runs' metering SQL and input tables are the same."""
        self.texts["usage_groups"] = other.texts["usage_groups"]
        self.invalid = list(other.invalid)
        self.stats["invalid_rows"] = other.stats.get("invalid_rows", 0)
        self.full_calendar = other.full_calendar
        if self.invalid and self.on_invalid == "stop":
            raise InvalidInputError(self.invalid)

    def plain_sql(self, held: bool) -> tuple[str, ...]:
        """The SQL of the plain accounts' drawdown (`_plain`), and what its Python part
        depends on, as text: two runs that metered alike and give the same draw it alike."""
        versions = [(b._new_allowances(), [p.pool for p in b.meters]) for b in self.versions]
        return (
            render(self.queries.plain_quantities(), self.engine.dialect),
            render(self.queries.plain_period(), self.engine.dialect),
            render(self.queries.plain_ranges(held), self.engine.dialect),
            repr((versions, self.book.deduct_order, self.queries.quantity_scale)),
        )

    def _plain_like(self, other: _Run) -> None:
        """Take `other`'s plain drawdown (`draws`, `plain_period`, `plain_ranges`, still in the
        engine) as this run's: same metering, same SQL, same allowances (see `plain_sql`)."""
        for name in ("plain_quantities", "plain_period", "plain_ranges"):
            if name in other.texts:  # (no `plain_quantities` when Python draws none)
                self.texts[name] = other.texts[name]
        self.stats["plain_distinct_quantities"] = other.stats["plain_distinct_quantities"]

    def finish(
        self,
        plan: UsagePlan,
        histories: Mapping[str, History],
        output: str | None,
        output_fmt: str | None,
        lines: str | None,
        lines_fmt: str | None,
    ) -> WarehouseResult:
        """Draw down, price, add up and write the bills of metered usage."""
        with self._step("drawdown"), _no_cyclic_gc():
            # Under grandfathering, which version bills a month depends on the account's
            # opening day: every account is drawn down in Python, by its own timeline.
            # With grants, an account's draw depends on its opening: every account is replayed.
            plain = not self.shared and not self.terms.grandfathering and not self.grants
            if plain and self.plain_from is not None:
                self._plain_like(self.plain_from)
            elif plain:
                self._plain(held=bool(histories))
            results = self._drawdown(plan, histories, everyone=not plain)
        with self._step("price"):
            python_lines = self._price(results, plain)
        if self.problems and self.on_invalid == "stop":
            raise UnbillableError(self.problems)
        with self._step("bills"):
            numbered = lines is not None or (output is None and self.return_lines)
            self._bills(results, python_lines, plain, numbered)
        with self._step("write"):
            bills_table, lines_table = self._write(output, output_fmt, lines, lines_fmt)
            if self.by_meter:
                self.meter_totals = self._fetch(
                    "meter_totals", self.queries.meter_totals(self.wanted)
                )
        self.stats["seconds"] = dict(self.timings)
        return WarehouseResult(
            bills_table,
            lines_table,
            tuple(self.invalid),
            tuple(self.problems),
            dict(self.stats),
            dict(self.texts),
            self._credit_balances(results) if self._credits else None,
            self._rejected(results) if self.grants or results.replayed else None,
            *(self._daily(results) if self._daily_bills else (None, None)),
        )

    def _rejected(self, drawn: Drawn) -> pa.Table:
        """The usage the engine's bills rejected, of the bills written."""
        import pyarrow as pa

        kept = [
            row for row in drawn.rejected
            if (row[0], row[1]) not in self.excluded
            and (self.wanted is None or row[1] == self.wanted)
        ]
        kept.sort(key=lambda row: (row[0], row[1]))
        columns = list(zip(*kept, strict=True)) or [()] * 6
        return pa.table({
            "account": pa.array(columns[0], pa.string()),
            "month": pa.array([calendar.label_of(o) for o in columns[1]], pa.string()),
            "meter": pa.array(columns[2], pa.string()),
            "action": pa.array(columns[3], pa.string()),
            "quantity": pa.array([format(q, "f") for q in columns[4]], pa.string()),
            "reason": pa.array(columns[5], pa.string()),
        })

    @property
    def _daily_bills(self) -> bool:
        return any(sheet.billing.daily for sheet in self.terms.books)

    def _daily(self, drawn: Drawn) -> tuple[pa.Table, pa.Table]:
        """The daily bills the engine's replay made and their lines, of the accounts and months
        billed (the month `wanted` only, if given), by account and day."""
        import pyarrow as pa

        kept = []
        for bill in drawn.daily:
            ordinal = calendar.ord_of(int(bill[1][:4]), int(bill[1][5:7]))
            if (bill[0], ordinal) in self.excluded:
                continue
            if self.wanted is not None and ordinal != self.wanted:
                continue
            kept.append(bill)
        kept.sort(key=lambda bill: (bill[0], bill[1]))
        scale = max([self.amount_scale, *(_places(b[3]) for b in kept),
                     *(_places(x.amount) for b in kept for x in b[4])])
        money = pa.decimal128(MAX_PRECISION, scale)

        def text(value: Any) -> str | None:
            return None if value is None else format(value, "f")

        bills = pa.table({
            "account": pa.array([b[0] for b in kept], pa.string()),
            "day": pa.array([b[1] for b in kept], pa.string()),
            "month": pa.array([b[1][:7] for b in kept], pa.string()),
            "issued": pa.array([b[2] for b in kept], pa.string()),
            "total": pa.array([b[3] for b in kept], money),
        })
        rows = [(b[0], b[1], number, line) for b in kept
                for number, line in enumerate(b[4], start=1)]
        lines = pa.table({
            "account": pa.array([r[0] for r in rows], pa.string()),
            "day": pa.array([r[1] for r in rows], pa.string()),
            "line": pa.array([r[2] for r in rows], pa.int64()),
            "meter": pa.array([r[3].meter for r in rows], pa.string()),
            "source": pa.array([str(r[3].source) for r in rows], pa.string()),
            "quantity": pa.array([text(r[3].quantity) for r in rows], pa.string()),
            "unit_price": pa.array([text(r[3].unit_price) for r in rows], pa.string()),
            "amount": pa.array([r[3].amount for r in rows], money),
            "precise_amount": pa.array([text(r[3].precise_amount) for r in rows], pa.string()),
            "bracket": pa.array([r[3].bracket for r in rows], pa.string()),
            "pack": pa.array([r[3].pack for r in rows], pa.string()),
            "per": pa.array([text(r[3].per) for r in rows], pa.string()),
        })
        return bills, lines

    @property
    def _credits(self) -> bool:
        return any(sheet.credits for sheet in self.terms.books)

    def _credit_balances(self, drawn: Drawn) -> pa.Table:
        """The credit balances of the bills written (months reported as unbillable left out,
        and only the month `wanted` if given), by account, month and the order the bill lists
        them in."""
        import pyarrow as pa

        kept = [
            row for row in drawn.credits
            if (row[0], row[1]) not in self.excluded
            and (self.wanted is None or row[1] == self.wanted)
        ]
        kept.sort(key=lambda row: (row[0], row[1]))  # (stable: the bill's order within)
        columns = list(zip(*kept, strict=True)) or [()] * 8
        # A credit pays a line's precise amount (kept to more decimals than the rounding's
        # under `on total` or `exact`): the columns keep every decimal of every balance.
        scale = max([self.amount_scale] + [
            -exponent for column in columns[4:7] for value in column
            if isinstance(value, Decimal)
            and isinstance(exponent := value.as_tuple().exponent, int)
        ])
        digits = max([1] + [
            value.adjusted() + 1 for column in columns[4:7] for value in column
            if isinstance(value, Decimal) and value])
        if scale + digits > MAX_PRECISION:
            raise UsageError(
                f"a credit balance needs {scale + digits} digits ({scale} after the point): "
                f"more than the {MAX_PRECISION} a DECIMAL holds; bill these accounts with "
                "`ratecard bill`"
            )
        money = pa.decimal128(MAX_PRECISION, scale)
        return pa.table({
            "account": pa.array(columns[0], pa.string()),
            "month": pa.array([calendar.label_of(o) for o in columns[1]], pa.string()),
            "id": pa.array(columns[2], pa.string()),
            "credit": pa.array(columns[3], pa.string()),
            "amount": pa.array(columns[4], money),
            "paid": pa.array(columns[5], money),
            "remaining": pa.array(columns[6], money),
            "expires": pa.array(columns[7], pa.string()),
        })

    def _step(self, name: str) -> _Timer:
        if self.on_step is not None:
            self.on_step(name)
        return _Timer(name, self.timings)

    def _sql(self, name: str, query: Any) -> str:
        """A query's SQL for this engine (kept for `WarehouseResult.queries`)."""
        text = self.texts[name] = render(query, self.engine.dialect)
        return text

    def _create(self, name: str, query: Any, reuse: bool = True) -> None:
        self.engine.create(name, self._sql(name, query), reuse)

    def _fetch(self, name: str, query: Any) -> pa.Table:
        return self.engine.fetch(self._sql(name, query))

    def _read(self, name: str, paths: list[str], fmt: str) -> dict[str, str]:
        columns = self.engine.read(f"{name}_src", paths, fmt)
        if name == USAGE and "count" in columns:
            self.count_scale = decimal_scale(columns["count"])
            self.count_largest = largest_value(columns["count"])
        return check_columns(name, ", ".join(paths), columns, self.engine.dialect)

    def _read_requests(self, inputs: Mapping[str, tuple[list[str], str]]) -> dict[str, str]:
        """Read the requests table (and the usage table, when given, as `usage_in`) and make
        `usage_src` of their rows: the requests' parts beside the usage rows."""
        paths, fmt = inputs[REQUESTS]
        columns = self.engine.read("requests_src", paths, fmt)
        check_request_columns(self.book, ", ".join(paths), columns)
        usage: dict[str, str] | None = None
        if USAGE in inputs:
            usage_paths, usage_fmt = inputs[USAGE]
            usage = self.engine.read("usage_in", usage_paths, usage_fmt)
            check_columns(USAGE, ", ".join(usage_paths), usage, self.engine.dialect)
        index = self.queries.meter_index
        # A request's time is read once, before its parts are made (`_timed`), on DuckDB; on
        # Spark each part's time is read by the usage pipeline.
        timed = self._timed(columns) if self.engine.dialect == DUCKDB else None
        view = parts_view(self.book, columns, index.__getitem__, usage, self.engine.dialect,
                          timed)
        self.requests = True
        self.engine.create("usage_src", view, reuse=False)
        described = self.engine.describe("usage_src")
        self.timed = "_instant" in described
        self.count_scale = decimal_scale(described["count"])
        self.count_largest = largest_value(described["count"])
        return check_columns(USAGE, ", ".join(paths), described, self.engine.dialect)

    def _timed(self, columns: Mapping[str, str]) -> str | None:
        """The SQL of the requests table's rows with their time read (`Queries.instants`, its
        columns named `_instant`, `_time_problem`, `_ord`, `_late`), or None when the time
        column's type is none the usage table takes (the usage checks then refuse it as they
        always did) or a request column bears a name the reading uses."""
        kind = kind_of(columns["time"], self.engine.dialect)
        used = {*TIMED, "t_kind", "micros", "m_key"}
        if kind not in (STRING, INSTANT, WALL) or used & set(columns):
            return None
        q = self.queries
        o = q.ops
        passed = [*columns, "_file", "_row"]
        rows = q.instants(
            q.parsed_times(o.table("requests_src"), passed, kind), passed, local=kind != INSTANT
        )
        named = o.select(
            *[o.col(c) for c in passed], *[(f"_{c}", o.col(c)) for c in TIMED]
        ).from_(o.subquery(rows, "r"), copy=False)
        return render(named, self.engine.dialect)

    def _calendar(self) -> None:
        self.engine.put("calendar", _calendar_table(self.book, self.full_calendar))

    # --- purchases and events -------------------------------------------------------------------

    def _histories(self, kinds: Mapping[str, Mapping[str, str]]) -> dict[str, History]:
        histories: dict[str, History] = defaultdict(History)
        grandfathering = self.terms.grandfathering
        # Under grandfathering a purchase's terms depend on the day its account opened, which
        # its events may decide: they are read first.
        for table in (EVENTS, PURCHASES) if grandfathering else (PURCHASES, EVENTS):
            if table not in kinds:
                continue
            while True:
                rows = self._fetch(f"{table}_rows", self._side_query(table, kinds[table]))
                data = rows.to_pydict()
                if BEYOND_CALENDAR in data["time_problem"] and not self.full_calendar:
                    self.full_calendar = True
                    self._calendar()
                    continue
                break
            if table == PURCHASES:
                self._purchases(data, histories)
            else:
                self._events(data, histories)
        if grandfathering and PURCHASES not in kinds:
            self._open_accounts(histories, {})
        for history in histories.values():
            if len(history.purchases) > 1:
                history.purchases.sort(key=lambda p: (p.instant, p.order))
            if len(history.events) > 1:
                history.events.sort(key=lambda e: (e.instant, e.order))
        if self.grants:
            self._grant_openings(histories, kinds)
        # Accounts under a contract are drawn down and billed in Python, whatever they did.
        contracted = self.terms.contracts
        return {
            account: h
            for account, h in histories.items()
            if h.purchases or h.events or h.repeats or h.opened is not None
            or account in contracted
        } | {account: History() for account in contracted if account not in histories}

    def _grant_openings(
        self, histories: dict[str, History], kinds: Mapping[str, Mapping[str, str]]
    ) -> None:
        """Each account's opening (its row of the accounts table, else its first valid usage
        row, purchase or event, as the engine opens at the journal's first entry) and the cuts
        its grants make: the instants at which a grant issued at the opening expires (a monthly
        grant's later issues expire at a month's start, which cuts already)."""
        firsts = self._firsts(histories, {})
        for account, history in histories.items():
            for moment in (*(p.instant for p in history.purchases),
                           *(p.instant for p in history.repeats)):
                if account not in firsts or moment < firsts[account]:
                    firsts[account] = moment
        zone = self.book.zone
        if ACCOUNTS in kinds:
            for account, moment in self._account_openings(kinds[ACCOUNTS]).items():
                first = firsts.get(account)
                if first is not None and moment > first:
                    # As the engine refuses an `open` entry after the journal's first entry.
                    histories[account].refused = (
                        f"the accounts table opens the account {format_instant(moment, zone)}, "
                        f"after its first entry ({format_instant(first, zone)}): an account "
                        "opens at or before its first entry, and its grants are issued then"
                    )
                    continue
                firsts[account] = moment
        plans = [(g.valid_amount, g.valid_unit) for sheet in self.terms.books
                 for g in sheet.grants if g.valid_amount is not None]
        # Monthly grants valid some days: each month's issue, at the month's start, expires
        # within the month (or a later one), where the account's segments are cut too, from
        # its opening to its last entry.
        monthly = sorted({(g.valid_amount, g.valid_unit) for sheet in self.terms.books
                          for g in sheet.grants if g.valid_amount is not None
                          and g.recurrence != ONCE and g.valid_unit != "month"})
        for account, moment in firsts.items():
            history = histories[account]
            history.opened = moment
            ends = set()
            for amount, unit in plans:
                try:
                    ends.add(add_period(moment, amount, unit, zone))
                except (ValueError, OverflowError):
                    continue  # beyond the year 9999: the engine refuses the account
            if monthly:
                ends.update(self._monthly_grant_cuts(account, history, moment, monthly))
            history.grant_cuts = sorted(ends)
        self.stats["accounts_opened"] = len(firsts)

    def _monthly_grant_cuts(
        self, account: str, history: History, opened: int,
        grants: Sequence[tuple[int, str]],
    ) -> set[int]:
        """The expiries of the monthly grants issued at the starts of the months after the
        account's opening, up to the month of its last entry: cuts of its segments."""
        zone = self.book.zone
        last = max([opened, self.lasts.get(account, opened),
                    *(p.instant for p in (*history.purchases, *history.repeats)),
                    *(e.instant for e in history.events)])
        first_month = month_of(opened, zone)
        last_month = month_of(last, zone)
        out: set[int] = set()
        key = next_month(first_month)
        while key <= last_month:
            start = month_start(key, zone)
            for amount, unit in grants:
                try:
                    out.add(add_period(start, amount, unit, zone))
                except (ValueError, OverflowError):
                    continue
            key = next_month(key)
        return out

    def _account_openings(self, kinds: Mapping[str, str]) -> dict[str, int]:
        """The accounts table's openings (account → instant); a bad row is reported as bad
        input and skipped, a repeated account keeps its last row."""
        rows = self._fetch(
            "accounts_rows",
            self.queries.ops.select(
                *[self.queries.ops.col(c) if kinds[c] != "integer" or c != "account"
                  else (c, self.queries.key_text(c, "integer")) for c in ("account", "opened")],
                self.queries.ops.col("_file"),
                self.queries.ops.col("_row"),
            )
            .from_(self.queries.ops.table(f"{ACCOUNTS}_src"), copy=False)
            .order_by(self.queries.ops.col("_file"), self.queries.ops.col("_row"), copy=False),
        ).to_pydict()
        zone = self.book.zone
        opened: dict[str, int] = {}
        instants: list[int | None] = []
        for value in rows["opened"]:
            try:
                if isinstance(value, datetime.datetime):  # a timestamp: with a time zone an
                    # instant, without one wall-clock time in the rules' timezone
                    instants.append(checked_instant(value, zone))
                else:
                    instants.append(parse_time(str(value).strip(), zone) if value else None)
            except TimeError:
                instants.append(None)
        data = {**rows, "time_problem": [None] * len(instants)}

        def check(index: int) -> str | None:
            return "bad time" if instants[index] is None else None

        for index in self._side_rows(data, ACCOUNTS, check):
            moment = instants[index]
            assert moment is not None
            opened[rows["account"][index]] = moment
        return opened

    def _side_query(self, table: str, kinds: Mapping[str, str]) -> Any:
        q = self.queries
        o = q.ops
        columns = [
            c for c in ("account", "meter", "size", "id", "type", "reason", "amount", "credit",
                        "currency", "plan", "quantity", "subscription") if c in kinds
        ]
        timed = q.parsed_times(o.table(f"{table}_src"), ["time", *columns, "_file", "_row"])
        rows = q.instants(timed, ["time", *columns, "_file", "_row"])
        selected = [
            o.col(c)
            if kinds[c] != "integer" or c not in ("account", "id", "subscription")
            else (c, q.key_text(c, "integer"))
            for c in columns
        ]
        return (
            o.select(
                *selected,
                o.col("time"),
                o.col("instant"),
                o.col("ord"),
                o.col("time_problem"),
                o.col("_file"),
                o.col("_row"),
            )
            .from_(o.subquery(rows, "r"), copy=False)
            .order_by(o.col("_file"), o.col("_row"), copy=False)
        )

    def _side_rows(
        self,
        data: Mapping[str, list[Any]],
        table: str,
        check: Callable[[int], str | None],
    ) -> list[int]:
        """The good rows (indexes) of purchases or events; bad ones counted, with samples."""
        bad: dict[str, list[int]] = defaultdict(list)
        counts: dict[str, int] = defaultdict(int)
        accounts = data["account"]
        time_problems = data["time_problem"]
        good: list[int] = []
        for index in range(len(accounts)):
            account = accounts[index]
            reason: str | None
            if account is None or account == "":
                reason = "missing account"
            elif time_problems[index] == BEYOND_CALENDAR:  # even beyond the full calendar
                reason = "time out of range"
            elif time_problems[index] is not None:
                reason = PROBLEMS_BY_CODE[time_problems[index]].name
            else:
                reason = check(index)
            if reason is None:
                good.append(index)
                continue
            counts[reason] += 1
            if len(bad[reason]) < SAMPLES:
                bad[reason].append(index)
        hidden = ("instant", "ord", "time_problem")
        for name in sorted(counts, key=_problem_code):
            samples = tuple(
                _sample({k: v[index] for k, v in data.items() if k not in hidden})
                for index in bad[name]
            )
            self.invalid.append(
                InvalidRows(table, name, _problem_message(name), counts[name], samples)
            )
        return good

    def _purchases(self, data: Mapping[str, list[Any]], histories: dict[str, History]) -> None:
        book = self.book
        terms = self.terms
        single = len(terms.books) == 1
        offers: dict[tuple[int, str, str], int | None] = {}

        def offer_of(sheet: int, meter: str, size: Any) -> int | None:
            """The offer's place among the meter's packs in the sheet in effect (None: no
            pack of that size is on sale then)."""
            key = (sheet, meter, str(size))
            if key not in offers:
                seller = terms.books[sheet]
                plan = seller.meter(meter)
                try:
                    offer = seller._parse_pack_size(
                        plan, size if isinstance(size, int | Decimal) else str(size).strip()
                    )
                    offers[key] = plan.packs.index(offer)
                except UsageError:
                    offers[key] = None
            return offers[key]

        known = {plan.name for plan in book.meters}
        meters, sizes = data["meter"], data["size"]
        ids = data.get("id") or [None] * len(meters)
        accounts, instants, ords = data["account"], data["instant"], data["ord"]

        def sheet_of(index: int) -> int:
            """The sheet in effect when the pack was bought: its price, size and validity."""
            if single:
                return 0
            return terms.at(terms.timeline(accounts[index]), instants[index])

        def on_sale(index: int) -> bool:
            """Whether the pack is on sale when bought (under grandfathering, for an account
            opened on some day, as the engine reads a journal)."""
            if terms.grandfathering:
                return any(
                    offer_of(sheet, meters[index], sizes[index]) is not None
                    for sheet in terms.sellers(accounts[index], instants[index])
                )
            return offer_of(sheet_of(index), meters[index], sizes[index]) is not None

        def check(index: int) -> str | None:
            meter = meters[index]
            if meter is None or meter == "":
                return "missing meter"
            if meter not in known:
                return "unknown meter"
            size = sizes[index]
            if size is None or size == "" or not on_sale(index):
                return "bad size"
            return None

        good = self._side_rows(data, PURCHASES, check)
        good.sort(key=lambda i: (accounts[i], instants[i], i))
        if terms.grandfathering:  # the purchases are entries: they may open their account
            bought: dict[str, int] = {}
            for index in good:
                bought.setdefault(accounts[index], instants[index])  # the first (sorted)
            self._open_accounts(histories, bought)
        seen: dict[str, set[str]] = defaultdict(set)
        valid = [  # each sheet's validity of each meter's packs (its pack table's)
            {plan.name: (plan.pack_terms.valid_amount, plan.pack_terms.valid_unit, b.zone)
             for plan in b.meters}
            for b in terms.books
        ]
        for index in good:
            account = accounts[index]
            purchase_id = ids[index] or None
            sheet = sheet_of(index)
            offer = offer_of(sheet, meters[index], sizes[index])
            moment = instants[index]
            if offer is None:  # not on sale for this account (kept on earlier prices)
                day = local(moment, book.zone).date().isoformat()
                histories[account].refused = (
                    f"a purchase on {day}: meter `{meters[index]}` has no pack of size "
                    f"{sizes[index]} on sale then for this account"
                )
                continue
            purchase = PackPurchase(
                moment, ords[index], meters[index], offer, purchase_id, index,
                add_period(moment, *valid[sheet][meters[index]]), sheet,
            )
            history = histories[account]
            if purchase_id is not None:
                if purchase_id in seen[account]:
                    history.repeats.append(purchase)  # ignored by the engine, as here
                    continue
                seen[account].add(purchase_id)
            history.purchases.append(purchase)

    def _open_accounts(self, histories: Mapping[str, History], bought: Mapping[str, int]) -> None:
        """Tell the terms every account's opening day, the day (in the rules' timezone) of its
        earliest entry: valid usage (repeated and free too), purchase or event, as the engine
        opens an account at its journal's first entry."""
        firsts = self._firsts(histories, bought)
        zone = self.book.zone
        for account, moment in firsts.items():
            self.terms.open(account, local(moment, zone).date())
        self.stats["accounts_opened"] = len(firsts)

    def _firsts(
        self, histories: Mapping[str, History], bought: Mapping[str, int]
    ) -> dict[str, int]:
        """Every account's first valid usage row (repeated and free too), event or purchase
        (`bought`: an account's first), as an instant."""
        while True:
            rows = self._fetch("openings", self.queries.openings(self._base_plan())).to_pydict()
            if any(rows["beyond"]) and not self.full_calendar:
                self.full_calendar = True
                self._calendar()
                continue
            break
        firsts: dict[str, int] = {
            account: first
            for account, first in zip(rows["account"], rows["first"], strict=True)
            if account is not None and first is not None
        }
        self.lasts = {
            account: last
            for account, last in zip(rows["account"], rows["last"], strict=True)
            if account is not None and last is not None
        }
        for account, history in histories.items():
            for event in history.events:
                if account not in firsts or event.instant < firsts[account]:
                    firsts[account] = event.instant
        for account, moment in bought.items():
            if account not in firsts or moment < firsts[account]:
                firsts[account] = moment
        return firsts

    def _base_plan(self) -> UsagePlan:
        """The usage plan of what reading a usage row needs (no cuts, no spans)."""
        usage = self.kinds[USAGE]
        return UsagePlan(
            count_kind=usage["count"],
            count_scale=self.count_scale,
            count_largest=self.count_largest,
            time_kind=usage["time"],
            account_kind=usage["account"],
            id_kind=usage.get("id"),
            has_cuts=False,
            cut_columns=0,
            spans=False,
            late=False,
            requests=self.requests,
        )

    def _events(self, data: Mapping[str, list[Any]], histories: dict[str, History]) -> None:
        book = self.book
        reasons = book.billing.suspend_reasons
        increment = book.rounding.increment

        def amount_of(value: Any) -> Decimal | None:
            if value is None:
                return None
            try:
                amount = value if isinstance(value, Decimal) else parse_number(str(value).strip())
                if not amount.is_finite() or amount <= 0 or amount % increment != 0:
                    return None
            except (NumberError, ValueError, decimal.InvalidOperation):
                # (an amount too large for the engine's check of its increment: as the engine)
                return None
            return amount

        kinds = data["type"]
        given_reasons = data.get("reason") or [None] * len(kinds)
        amounts = data.get("amount") or [None] * len(kinds)
        reader = EntryReader(book)
        fields: dict[int, tuple[tuple[str, Any], ...]] = {}

        def check(index: int) -> str | None:
            kind = kinds[index]
            if kind in ENTRY_EVENTS:
                return entry(index)
            if kind not in (SUSPEND, REOPEN, TOPUP):
                return "bad event"
            if kind == SUSPEND and (not reasons or given_reasons[index] not in reasons):
                return "bad reason"
            if kind == TOPUP and amount_of(amounts[index]) is None:
                return "bad amount"
            return None

        def entry(index: int) -> str | None:
            """A credit, subscribe or cancel row, checked by the engine's own reader of the
            journal entry it stands for (its fields kept for the replay)."""
            kind = kinds[index]
            named = _ENTRY_FIELDS[kind]
            given = tuple(
                (name, _entry_value(data[column][index]))
                for name, column in named
                if column in data and data[column][index] not in (None, "")
            )
            try:
                reader.from_mapping(
                    {"type": kind, "time": local(data["instant"][index], book.zone),
                     **dict(given)}, index + 1)
            except FieldError:
                return "bad subscription" if kind != "credit" else "bad credit"
            fields[index] = given
            return None

        for index in self._side_rows(data, EVENTS, check):
            kind = kinds[index]
            histories[data["account"][index]].events.append(
                AccountEvent(
                    data["instant"][index],
                    data["ord"][index],
                    kind,
                    given_reasons[index] if kind == SUSPEND else None,
                    amount_of(amounts[index]) if kind == TOPUP else None,
                    index,
                    fields.get(index, ()),
                )
            )

    def _cuts(self, histories: Mapping[str, History]) -> int:
        """Register the `cuts` table, keyed by account and meter (route); the number of cut
        columns (0: one row per segment).

        An account with events (or any account, when meters share an allowance pool) is cut
        for every route, free actions too: a suspension changes every meter. An account with
        purchases alone is cut only for the meters it bought packs of: the others' months meet
        a fresh allowance and no lots, as a plain account's do, and are drawn down with them
        (`plain_draws`), so Python draws only the meters that hold lots."""
        import pyarrow as pa

        self.stats["accounts_with_history"] = len(histories)
        if not histories:
            return 0
        every = range(-1, len(self.book.meters))
        index = {plan.name: i for i, plan in enumerate(self.book.meters)}
        rows: list[tuple[str, int, list[int]]] = []
        contracted = self.terms.contracts
        for account, history in histories.items():
            cut = cuts(history)
            if not cut and account not in contracted:
                continue
            bought = history.purchases
            if self.shared or history.events or history.grant_cuts or account in contracted:
                # (an account under a contract: all its usage is drawn in Python, in one
                # segment when it has no cut)
                meters: Iterable[int] = every
            elif len(bought) == 1:
                meters = (index[bought[0].meter],)
            else:
                meters = sorted({index[p.meter] for p in bought})
            rows.extend((account, meter, cut) for meter in meters)
        self.engine.put(
            "history_accounts", pa.table({"account": pa.array(list(histories), pa.string())})
        )
        widest = max((len(cut) for _, _, cut in rows), default=0)
        if 0 < widest <= WIDE_CUTS:
            # One row per account and route, the cuts in columns (padded with an instant never
            # reached).
            columns: dict[str, Any] = {
                "account": pa.array([r[0] for r in rows], pa.string()),
                "meter": pa.array([r[1] for r in rows], pa.int64()),
            }
            for k in range(widest):
                columns[f"c{k + 1}"] = pa.array(
                    [cut[k] if k < len(cut) else NEVER_AFTER for _, _, cut in rows], pa.int64()
                )
            self.engine.put("cuts", pa.table(columns))
            return widest
        accounts: list[str] = []
        meter_of: list[int] = []
        lows: list[int] = []
        highs: list[int] = []
        segments: list[int] = []
        for account, meter, cut in rows:
            bounds = [NEVER_BEFORE, *cut, NEVER_AFTER]
            for position, (low, high) in enumerate(itertools.pairwise(bounds)):
                accounts.append(account)
                meter_of.append(meter)
                lows.append(low)
                highs.append(high)
                segments.append(position)
        self.engine.put(
            "cuts",
            pa.table(
                {
                    "account": pa.array(accounts, pa.string()),
                    "meter": pa.array(meter_of, pa.int64()),
                    "lo": pa.array(lows, pa.int64()),
                    "hi": pa.array(highs, pa.int64()),
                    "seg": pa.array(segments, pa.int64()),
                }
            ),
        )
        return 0

    # --- usage ----------------------------------------------------------------------------------

    def _meter(self, plan: UsagePlan) -> None:
        while True:
            self._create("usage_groups", self.queries.usage_groups(plan, self._proof(plan)))
            counts = self._fetch("problem_counts", self.queries.problem_counts()).to_pydict()
            found = dict(zip(counts["problem"], counts["n"], strict=True))
            if BEYOND_CALENDAR in found and not self.full_calendar:
                self.full_calendar = True
                self._calendar()
                continue
            break
        samples: dict[int, list[dict[str, Any]]] = defaultdict(list)
        if found:
            table = self._fetch("problem_samples", self.queries.problem_samples(plan, SAMPLES))
            if "_time_text" in table.column_names:  # a timestamp, shown as the engine writes it
                at = table.column_names.index("time")
                table = table.set_column(at, "time", table.column("_time_text")).drop_columns(
                    ["_time_text"]
                )
            for row in table.to_pylist():
                if plan.requests:  # a request row: as read (its parts' columns left out)
                    if row.pop("req_problem", None) is not None:
                        row.pop("count", None)
                    row.pop("part_meter", None)
                    row.pop("_part", None)
                    for column in TIMED:
                        row.pop(f"_{column}", None)
                samples[row.pop("_problem")].append(row)
        beyond = found.pop(BEYOND_CALENDAR, 0)
        if beyond:  # beyond even the full calendar: a time the engine does not read
            out_of_range = _problem_code("time out of range")
            found[out_of_range] = found.get(out_of_range, 0) + beyond
            merged = samples[out_of_range] + samples.pop(BEYOND_CALENDAR, [])
            merged.sort(key=lambda row: (row["_file"], row["_row"]))
            samples[out_of_range] = merged[:SAMPLES]
        for code, count in sorted(found.items()):
            problem = PROBLEMS_BY_CODE[code]
            self.invalid.append(
                InvalidRows(
                    USAGE,
                    problem.name,
                    self._message(problem.name),
                    int(count),
                    tuple(_sample(s) for s in samples[code]),
                )
            )
        self.stats["invalid_rows"] = sum(i.count for i in self.invalid)

    def _proof(self, plan: UsagePlan) -> Proof | None:
        """What the usage files' statistics (their footers, read without a row) prove of every
        row, or None: every account, time, action and count present, no account empty, every
        time in range and every count from 0 to the count limit, and the months the times fall
        in (at most PROOF_MONTHS of them, all in the calendar table). Then no row needs checking
        but for its action (`Queries.proven_groups`). Statistics are trusted as the engines
        trust them to skip row groups; `statistics=False` checks every row all the same."""
        key = (plan, self.full_calendar)
        if key not in self._proofs:
            self._proofs[key] = self._prove(plan)
        self.stats["usage_proven"] = self._proofs[key] is not None
        return self._proofs[key]

    def _prove(self, plan: UsagePlan) -> Proof | None:
        if not self.statistics or self.requests or not self.queries.provable(plan):
            return None
        columns = {"account": "integer" if plan.account_kind == INTEGER else "text",
                   "time": "instant", "action": "text", "count": "integer"}
        bounds = self.engine.statistics(f"{USAGE}_src", columns)
        if bounds is None or any(b.nulls for b in bounds.values()):
            return None
        account, time_, count = bounds["account"], bounds["time"], bounds["count"]
        if plan.account_kind != INTEGER and account.least in (None, ""):
            return None  # (an empty account may be among the rows)
        least, greatest = time_.least, time_.greatest
        if not (isinstance(least, int) and isinstance(greatest, int)
                and isinstance(count.least, int) and isinstance(count.greatest, int)):
            return None
        if count.least < 0 or count.greatest > self.queries.count_limit:
            return None
        # (A footer's bound in nanoseconds is read back cut to the microsecond, as each row's
        # time is: the bounds are those of the rows' microseconds.)
        if least < calendar.FIRST_MICROS or greatest >= calendar.LAST_MICROS:
            return None
        rows = calendar.calendar_rows(self.book.timezone, self.book.billing.issued_day,
                                      self.full_calendar)
        spanned = tuple((r.ord, r.end) for r in rows if r.end > least and r.start <= greatest)
        if (not spanned or len(spanned) > PROOF_MONTHS or rows[0].start > least
                or rows[-1].end <= greatest):
            return None
        return Proof(spanned, self.engine.bare(f"{USAGE}_src") or f"{USAGE}_src")

    def _message(self, name: str) -> str:
        """What is wrong with a bad row of a kind, as reported."""
        message = _problem_message(name)
        if name == "count too large":
            return message.format(limit=_limit_text(self.queries.count_limit))
        return message

    def _plain(self, held: bool) -> None:
        import pyarrow as pa

        if not self.queries.python_drawn:  # the database draws every plain month itself
            self.stats["plain_distinct_quantities"] = 0
            self._create("plain_period", self.queries.plain_period())
            self._create("plain_ranges", self.queries.plain_ranges(held))
            return
        distinct = self._fetch("plain_quantities", self.queries.plain_quantities()).to_pydict()
        versions = distinct["ver"] if "ver" in distinct else itertools.repeat(0)
        draws = plain_draws(
            self.versions, zip(versions, distinct["meter"], distinct["qty"], strict=False)
        )
        qs = self.queries.quantity_scale
        self.stats["plain_distinct_quantities"] = len(draws)
        quantity = pa.decimal128(MAX_PRECISION, qs)
        columns = {
            "meter": pa.array([d[1] for d in draws], pa.int64()),
            "qty": pa.array([d[2] for d in draws], quantity),
            "allowance": pa.array([d[3] for d in draws], quantity),
            "postpaid": pa.array([d[4] for d in draws], quantity),
        }
        if self.queries.versioned:
            columns["ver"] = pa.array([d[0] for d in draws], pa.int64())
        self.engine.put("draws", pa.table(columns))
        self._create("plain_period", self.queries.plain_period())
        self._create("plain_ranges", self.queries.plain_ranges(held))

    def _drawdown(self, plan: UsagePlan, histories: Mapping[str, History], everyone: bool) -> Drawn:
        detail = self._detail(plan) if self.shared else {}
        detail.update(self._entry_detail(plan, histories))
        groups = self._fetch("eventful_groups", self.queries.eventful_groups(everyone))
        bounds: dict[str, tuple[int, int]] = {}
        if histories and not everyone:
            # Months of plain rows (meters without lots) of accounts drawn here.
            held = self._fetch("held_ranges", self.queries.held_ranges()).to_pydict()
            bounds = dict(zip(held["account"], zip(held["first"], held["last"], strict=True),
                              strict=True))
        # Forking a process that runs py4j's threads and holds its sockets to Spark's JVM
        # copies their locks but not the threads: with Spark the drawdown stays in-process.
        workers = 1 if self.engine.dialect == SPARK else self.workers
        drawn = draw_all(
            self.book, groups, histories, detail, self.queries.quantity_scale, workers, bounds,
            self.terms,
        )
        self.stats["accounts_drawn_in_python"] = drawn.accounts
        self.stats["drawdown_processes"] = drawn.workers
        self.stats["accounts_replayed"] = len(drawn.replayed)
        if drawn.failed:
            import pyarrow as pa
            import pyarrow.compute as pc

            failing = pa.array(sorted({account for account, _, _ in drawn.failed}), pa.string())
            mask = pc.is_in(drawn.months.column("account"), value_set=failing)
            months = drawn.months.filter(mask).select(["account", "ord"]).to_pylist()
            listed = [(m["account"], m["ord"]) for m in months]
            for account, ordinal, message in drawn.failed:
                self._problem(account, ordinal, message, listed)
        return drawn

    def _detail(self, plan: UsagePlan) -> dict[str, dict[int, list[tuple[int, int, Decimal]]]]:
        """Entry by entry usage of shared pools' meters in the months where who gets the pool's
        last units depends on the order of entries."""
        pooled = sorted(m for ms in self.shared.values() for m in ms)
        self._create("detail_keys", self.queries.detail_keys(self.shared, self.book))
        rows = self._fetch("detail", self.queries.detail(plan, pooled)).to_pydict()
        out: dict[str, dict[int, list[tuple[int, int, Decimal]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for account, ordinal, moment, meter, qty in zip(
            rows["account"], rows["ord"], rows["instant"], rows["route"], rows["qty"], strict=True
        ):
            out[account][ordinal].append((moment, meter, qty))
        self.stats["detail_entries"] = len(rows["account"])
        return out

    def _entry_detail(
        self, plan: UsagePlan, histories: Mapping[str, History]
    ) -> dict[str, dict[int, list[tuple[int, int, Decimal]]]]:
        """Entry by entry usage, in every month, of the meters a subscription may cover, for
        the accounts that hold one: the engine draws a covered meter entry by entry, each
        subscription up to its limit in the day or month the entry falls in, so its entries go
        to the replay as they are; and of the meters whose entries count one by one for every
        account (`entry_meters`: a fee that covers them, a minimum per entry, packs that stop
        service, a daily ladder, daily bills). A shared pool's meters come too: the months
        detailed here replace the pool's detail."""
        import pyarrow as pa

        plans = [p for sheet in self.terms.books for p in sheet.subscriptions if p.covers]
        index = {p.name: i for i, p in enumerate(self.book.meters)}
        covered = {index[m] for p in plans for m in p.covers if m in index}
        # Meters drawn entry by entry for every account (a fee that covers them, a minimum per
        # entry, packs that stop service).
        everyone = {index[m] for sheet in self.terms.books for m in entry_meters(sheet)
                    if m in index}
        covered |= everyone
        every = bool(everyone)
        accounts = sorted(a for a, h in histories.items() if h.subscribes())
        if not covered or (not every and not accounts):
            return {}
        o = self.queries.ops
        keys = o.select(o.col("account", "g"), o.col("ord", "g")).from_(
            o.table("usage_groups", "g"), copy=False)
        if not every:
            self.engine.put("subscribed", pa.table({"account": pa.array(accounts, pa.string())}))
            keys = keys.join(
                o.table("subscribed", "s"),
                on=o.eq(o.col("account", "s"), o.col("account", "g")),
                copy=False,
            )
        self._create("detail_keys", keys.distinct(copy=False))
        meters = sorted(covered | {m for ms in self.shared.values() for m in ms})
        rows = self._fetch("covered_detail", self.queries.detail(plan, meters)).to_pydict()
        out: dict[str, dict[int, list[tuple[int, int, Decimal]]]] = defaultdict(
            lambda: defaultdict(list)
        )
        for account, ordinal, moment, meter, qty in zip(
            rows["account"], rows["ord"], rows["instant"], rows["route"], rows["qty"], strict=True
        ):
            out[account][ordinal].append((moment, meter, qty))
        self.stats["entries_to_replay"] = len(rows["account"])
        return out

    def _problem(
        self,
        account: str,
        ordinal: int | None,
        message: str,
        months: Sequence[tuple[str, int]] = (),
    ) -> None:
        label = calendar.label_of(ordinal) if ordinal is not None else None
        self.problems.append(BillProblem(account, label, message))
        if ordinal is not None:
            self.excluded.add((account, ordinal))
        else:
            self.excluded.update((a, o) for a, o in months if a == account)

    # --- pricing --------------------------------------------------------------------------------

    def _price(self, drawn: Drawn, plain: bool) -> list[Line]:
        q = self.queries
        o = q.ops
        qs = q.quantity_scale
        versioned = q.versioned
        self.engine.put("period_py", drawn.period)
        names = ("account", "ord", "meter", "total", "allowance", "postpaid")
        columns = [o.col(c) for c in (*names, *(("ver",) if versioned else ()))]
        parts = [o.select(*columns).from_(o.table("period_py"), copy=False)]
        if plain:
            parts.append(
                o.select(*[c.copy() for c in columns]).from_(o.table("plain_period"), copy=False)
            )
        self._create("period", o.union_all(parts), reuse=False)

        unpriced = [i for i, plan in enumerate(self.book.meters) if plan.ladder is None]
        query = q.unpriced_postpaid(unpriced) if unpriced else None
        if versioned:  # a meter may have a ladder in one version and none in another
            by_version = [
                (i, version)
                for version, sheet in enumerate(self.versions)
                for i, plan in enumerate(sheet.meters)
                if plan.ladder is None
            ]
            query = q.unpriced_postpaid([], by_version) if by_version else None
        if query is not None:
            rows = self._fetch("unpriced_postpaid", query).to_pylist()
            for row in rows:
                name = self.book.meters[row["meter"]].name
                self._problem(
                    row["account"],
                    row["ord"],
                    (
                        f"meter `{name}` has no postpaid price, and {row['postpaid']} units are "
                        "not "
                        "covered by the allowance or packs"
                    ),
                )
        self.price_scale = max(
            [
                scale_of(b.unit_price)
                for _, _, ladder in self.sql_ladders
                for b in ladder.brackets
                if b.price is not None
            ]
            + [0]
        )
        # (a meter's own rounding, `amount rounded`, may keep more decimals than the sheet's)
        self.amount_scale = max(
            [max(0, -rounding_exponent(self.book.rounding.increment))]
            + [max(0, -rounding_exponent(plan.amount_rounding.increment))
               for plan in self.book.meters if plan.amount_rounding is not None])
        self.line_scale = self.amount_scale
        per_line = self.book.rounding.per_line
        python_lines: list[Line] | None = None
        if not per_line:
            # Lines keep their precise amounts: their column holds as many decimals as the
            # most precise of them, Python's lines (priced first, to know) or the SQL's.
            python_lines = self._python_prices(drawn.months, drawn.replayed, plain)
            self.line_scale = max(
                [self.amount_scale]
                + [_places(x.line.amount) for x in (*drawn.lines, *python_lines)]
            )
            self._check_line_scale()
        if self.sql_ladders:
            ladders: list[PricedLadder] = [
                (i, ladder, version) if versioned else (i, ladder)
                for version, i, ladder in self.sql_ladders
            ]
            flat_scale = max(
                [scale_of(b.flat) for item in ladders for b in item[1].brackets] + [0]
            )
            self.precise_scale = max(qs + self.price_scale, flat_scale)
            if self.precise_scale > MAX_PRECISION:
                raise UsageError("prices and quantities need more than 38 decimal places")
            if not per_line:
                self.line_scale = max(self.line_scale, self.precise_scale)
                self._check_line_scale()
            limits = self._priceable(ladders)
            if limits:
                for row in self._fetch("too_large", q.too_large(limits)).to_pylist():
                    name = self.book.meters[row["meter"]].name
                    key: LimitKey = (row["meter"], row["ver"]) if versioned else row["meter"]
                    self._problem(
                        row["account"],
                        row["ord"],
                        (
                            f"meter `{name}`: {format(row['postpaid'], 'f')} postpaid units cost "
                            "more than the warehouse adds up exactly (at most "
                            f"{format(limits[key], 'f')} units at these prices); bill "
                            "this account with `ratecard bill`"
                        ),
                    )
            self._create(
                "postpaid_sql",
                q.postpaid_lines(ladders, self.price_scale, self.precise_scale, limits),
            )
            contact = self._fetch("contact_sales", q.contact_sales()).to_pylist()
            for row in contact:
                name = self.book.meters[row["meter"]].name
                self._problem(
                    row["account"],
                    row["ord"],
                    str(contact_sales_error(name, Decimal(row["quantity"]), row["bracket"])),
                )
        else:
            self.precise_scale = 0
        if self.book.rounding.scope == EXACT:
            self.amount_scale = self.line_scale  # a total is the exact sum of its lines
        drawn.lines[:] = self._fitting(drawn.lines)
        if python_lines is None:
            python_lines = self._python_prices(drawn.months, drawn.replayed, plain)
        return self._fitting(python_lines)

    def _check_line_scale(self) -> None:
        """Refuse rules whose precise amounts (kept as they are under `on total` and `exact`)
        have more decimals than a DECIMAL(38, s) holds with room to add up a bill's lines: they
        are never rounded to fit."""
        most = MAX_PRECISION - LINES_DIGITS - 1
        if self.line_scale > most:
            raise UsageError(
                f"these rules say `{rounding_words(self.book.rounding)}`, and their amounts "
                f"need {self.line_scale} decimal places: the warehouse holds an amount exactly "
                f"in DECIMAL(38, s) with s at most {most}; bill these accounts with "
                "`ratecard bill`"
            )

    def _fitting(self, lines: list[Line]) -> list[Line]:
        """Lines priced in Python whose amounts the SQL can add up exactly; the months of the
        others are reported and get no bill."""
        room = Decimal(10) ** (MAX_PRECISION - self.line_scale - LINES_DIGITS)
        over = {(x.account, x.ord) for x in lines if abs(x.line.amount) >= room}
        if not over:
            return lines
        for account, ordinal in sorted(over):
            self._problem(
                account,
                ordinal,
                f"a line of this month costs {_limit_text(int(room))} or more, more than the "
                "warehouse adds up exactly; bill this account with `ratecard bill`",
            )
        return [x for x in lines if (x.account, x.ord) not in over]

    def _priceable(self, ladders: Sequence[PricedLadder]) -> dict[LimitKey, Decimal]:
        """The most postpaid units of each SQL-priced meter (of each version) whose lines the
        SQL computes exactly: quantity × unit price + flat fee within DECIMAL(38, s), with room
        for a bill to add up 10^LINES_DIGITS such lines (meters whose brackets are all free
        have no such bound)."""
        qs = self.queries.quantity_scale
        room = Decimal(10) ** (
            MAX_PRECISION - max(self.precise_scale, self.line_scale) - LINES_DIGITS
        )
        limits: dict[LimitKey, Decimal] = {}
        with decimal.localcontext(CONTEXT):
            for item in ladders:
                ladder = item[1]
                meter: LimitKey = (item[0], item[2]) if len(item) > 2 else item[0]
                units = [b.unit_price for b in ladder.brackets if b.price is not None]
                top = max(units, default=Decimal(0))
                if top <= 0:
                    continue
                flat = max((b.flat for b in ladder.brackets), default=Decimal(0))
                most = ((room - flat) / top).quantize(Decimal(1).scaleb(-qs), decimal.ROUND_FLOOR)
                if most < Decimal(10) ** (MAX_PRECISION - qs):  # else any quantity is priced
                    limits[meter] = max(most, Decimal(0))
        return limits

    def _python_prices(self, months: pa.Table, replayed: set[str], plain: bool) -> list[Line]:
        """Lines of the ladders the SQL does not price, by the engine's `LadderGroup`."""
        if not self.python_groups:
            return []
        q = self.queries
        o = q.ops
        index = {plan.name: i for i, plan in enumerate(self.book.meters)}
        wanted = sorted({index[m] for g in self.python_groups for m in g.meters})
        rows = self._fetch(
            "python_period",
            o.select(exp_star())
            .from_(o.table("period"), copy=False)
            .where(o.in_(o.col("meter"), [o.integer(m) for m in wanted]), copy=False),
        ).to_pydict()
        usage: dict[tuple[str, int], dict[str, MeterUsage]] = defaultdict(dict)
        for account, ordinal, meter, total, allowance, postpaid in zip(
            rows["account"],
            rows["ord"],
            rows["meter"],
            rows["total"],
            rows["allowance"],
            rows["postpaid"],
            strict=True,
        ):
            usage[(account, ordinal)][self.book.meters[meter].name] = MeterUsage(
                total, allowance, postpaid
            )
        contracted = self.terms.contracts  # billed whole in the drawdown
        if any(g.always_priced for g in self.python_groups):
            for key in self._all_months(months, plain):
                if key[0] not in replayed and key[0] not in contracted:
                    usage.setdefault(key, {})
        lines: list[Line] = []
        rounding = self.book.rounding
        single = len(self.versions) == 1
        with decimal.localcontext(CONTEXT):
            for (account, ordinal), period in usage.items():
                made: list[BillLine] = []
                # The ladders of the version in effect for the account in the month.
                groups = self.python_groups_of[
                    0 if single else self.terms.month(self.terms.timeline(account), ordinal)
                ]
                try:
                    for group in groups:
                        made.extend(group.lines(period, rounding))
                except UsageError as exc:
                    self._problem(account, ordinal, str(exc))
                    continue
                for seq, line in enumerate(made):
                    lines.append(Line(account, ordinal, index[line.meter], seq, line))
        self.stats["months_priced_in_python"] = len(usage)
        return lines

    def _all_months(self, months: pa.Table, plain: bool) -> list[tuple[str, int]]:
        listed = months.to_pydict()
        every = list(zip(listed["account"], listed["ord"], strict=True))
        if plain:
            ranges = self._fetch(
                "plain_ranges_all",
                self.queries.ops.select(exp_star())
                .from_(self.queries.ops.table("plain_ranges"), copy=False)
                .where(self.queries.ops.not_(self.queries.ops.col("held")), copy=False),
            ).to_pydict()
            for account, first, last in zip(
                ranges["account"], ranges["first"], ranges["last"], strict=True
            ):
                every.extend((account, o) for o in range(first, last + 1))
        return every

    # --- lines and bills ------------------------------------------------------------------------

    def _bills(self, drawn: Drawn, python_lines: list[Line], plain: bool, numbered: bool) -> None:
        import pyarrow as pa

        q = self.queries
        every = [*drawn.lines, *python_lines]
        contracts = bool(self.terms.contracts)
        labelled = self.terms.labelled

        def text(values: list[Decimal | None]) -> pa.Array:
            return pa.array([None if v is None else format(v, "f") for v in values], pa.string())

        self.engine.put(
            "lines_py",
            pa.table(
                {
                    "account": pa.array([x.account for x in every], pa.string()),
                    "ord": pa.array([x.ord for x in every], pa.int64()),
                    "meter": pa.array([x.meter for x in every], pa.int64()),
                    "source": pa.array([x.line.source for x in every], pa.string()),
                    "seq": pa.array([x.seq for x in every], pa.int64()),
                    "quantity": text([x.line.quantity for x in every]),
                    "unit_price": text([x.line.unit_price for x in every]),
                    "precise_amount": text([x.line.precise_amount for x in every]),
                    "amount": pa.array(
                        [x.line.amount for x in every],
                        pa.decimal128(MAX_PRECISION, self.line_scale),
                    ),
                    "bracket": pa.array([x.line.bracket for x in every], pa.string()),
                    "pack": pa.array([x.line.pack for x in every], pa.string()),
                    "blocks": text([x.line.blocks for x in every]),
                    "per": text([x.line.per for x in every]),
                    **({"rate": text([x.line.rate for x in every])} if contracts else {}),
                    **({"period": pa.array(
                        [None if x.line.period is None else x.line.period.isoformat()
                         for x in every], pa.string())} if q.dated_lines else {}),
                }
            ),
        )
        self.engine.put("prepaid_py", drawn.prepaid)
        self._create(
            "bill_lines",
            q.bill_lines(
                self.line_scale, bool(self.sql_meters), plain, numbered, contracts,
                with_meter=self.by_meter,
            ),
        )
        expanded: list[tuple[str, int]] = []
        if plain:
            multi = self._fetch("plain_multi_month", q.plain_multi_month()).to_pydict()
            for account, first, last in zip(
                multi["account"], multi["first"], multi["last"], strict=True
            ):
                expanded.extend((account, o) for o in range(first, last + 1))
        listed = {
            "account": pa.array([m[0] for m in expanded], pa.string()),
            "ord": pa.array([m[1] for m in expanded], pa.int64()),
        }
        if labelled:  # a plain account's month: the version in effect
            listed["book"] = pa.array(
                [self.terms.month(self.book, m[1]) for m in expanded], pa.int64()
            )
        months = pa.concat_tables([drawn.months, pa.table(listed)])
        self.engine.put("months_py", months)
        self._create("bill_months", q.bill_months(plain, labelled), reuse=False)
        self.engine.put(
            "excluded",
            pa.table(
                {
                    "account": pa.array([e[0] for e in sorted(self.excluded)], pa.string()),
                    "ord": pa.array([e[1] for e in sorted(self.excluded)], pa.int64()),
                }
            ),
        )

    def _write(
        self, output: str | None, output_fmt: str | None, lines: str | None, lines_fmt: str | None
    ) -> tuple[pa.Table | None, pa.Table | None]:
        q = self.queries
        bills_table = lines_table = None
        labels = self.terms.labels() or None
        contracts = bool(self.terms.contracts)
        if output is not None and output_fmt is not None:
            query = self._sql(
                "output_bills",
                q.output_bills(
                    self.amount_scale, output_fmt != "parquet", self.wanted, labels, contracts
                ),
            )
            self.stats["bills"] = self.engine.write(query, output, output_fmt)
        else:
            bills_table = self._fetch(
                "output_bills",
                q.output_bills(self.amount_scale, False, self.wanted, labels, contracts),
            )
            self.stats["bills"] = bills_table.num_rows
        if lines is not None and lines_fmt is not None:
            query = self._sql(
                "output_lines", q.output_lines(lines_fmt != "parquet", self.wanted, contracts)
            )
            self.stats["lines"] = self.engine.write(query, lines, lines_fmt)
        elif output is None and self.return_lines:
            lines_table = self._fetch(
                "output_lines", q.output_lines(False, self.wanted, contracts)
            )
            self.stats["lines"] = lines_table.num_rows
        return bills_table, lines_table


def _calendar_table(book: PriceBook, full: bool) -> pa.Table:
    """The calendar table of `months` for a price book, as Arrow."""
    import pyarrow as pa

    rows = calendar.calendar_rows(book.timezone, book.billing.issued_day, full)
    issues = [r.issue for r in rows]
    return pa.table(
        {
            "ord": pa.array([r.ord for r in rows], pa.int64()),
            "label": pa.array([calendar.label_of(r.ord) for r in rows], pa.string()),
            "m_start": pa.array([r.start for r in rows], pa.int64()),
            "m_end": pa.array([r.end for r in rows], pa.int64()),
            "m_issue": pa.array(issues, pa.int64()),
            "prev_issue": pa.array([None, *issues[:-1]], pa.int64()),
            "next_issue": pa.array([*issues[1:], None], pa.int64()),
            "off0": pa.array([r.off0 for r in rows], pa.int64()),
            "sw1": pa.array([r.sw1 for r in rows], pa.int64()),
            "off1": pa.array([r.off1 for r in rows], pa.int64()),
            "sw2": pa.array([r.sw2 for r in rows], pa.int64()),
            "off2": pa.array([r.off2 for r in rows], pa.int64()),
        }
    )


@contextlib.contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """No cyclic garbage collection while millions of small acyclic objects are made: the
    collector would walk them again and again (reference counting still frees them)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Timer:
    def __init__(self, name: str, into: dict[str, float]) -> None:
        self.name = name
        self.into = into
        self.start = 0.0

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.into[self.name] = round(time.perf_counter() - self.start, 3)


def exp_star() -> Any:
    from sqlglot import exp

    return exp.Star()


def _problem_code(name: str) -> int:
    from ratecard.warehouse.schema import PROBLEM_CODES

    return PROBLEM_CODES[name]


def _problem_message(name: str) -> str:
    from ratecard.warehouse.schema import PROBLEM_CODES

    return PROBLEMS_BY_CODE[PROBLEM_CODES[name]].message


def _places(amount: Decimal) -> int:
    """The decimal places an amount needs to be held exactly (0.00775 → 5, 1.50 → 1, 20 → 0)."""
    exponent = amount.normalize(CONTEXT).as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


#: The journal fields of a credit, subscribe or cancel row, and the events table's column
#: each is read from.
_ENTRY_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "credit": (("credit", "credit"), ("amount", "amount"), ("currency", "currency"),
               ("id", "id")),
    SUBSCRIBE: (("plan", "plan"), ("quantity", "quantity"), ("meter", "meter"), ("id", "id")),
    "cancel": (("subscription", "subscription"),),
}


def _entry_value(value: Any) -> Any:
    """A value of an events row as a journal entry field: text stripped (a CSV column is
    text), numbers as read."""
    return value.strip() if isinstance(value, str) else value


def _limit_text(limit: int) -> str:
    """A count limit as written in messages: 10^20, or its digits."""
    text = str(limit)
    if text == "1" + "0" * (len(text) - 1) and len(text) > 4:
        return f"10^{len(text) - 1}"
    return text


def _sample(row: Mapping[str, Any]) -> dict[str, object]:
    """A bad row as reported: its fields as read, and its place (file, 1-based row)."""
    out: dict[str, object] = {}
    for key, value in row.items():
        if key == "_row":
            out[key] = int(value) + 1
        elif isinstance(value, Decimal):
            out[key] = format(value, "f")
        elif isinstance(value, datetime.datetime):  # a timestamp column's value, as ISO 8601
            out[key] = value.isoformat()
        else:
            out[key] = value
    return out
