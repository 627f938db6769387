"""`simulate_warehouse`: bill every account of a usage table under two rules files (the prices
today and a proposed change) and compare, account by account: the revenue impact of a price
change before it ships (docs/simulate.md).

The two runs are the warehouse's (`api._Run`), on one engine. The usage is metered once when the
two rules files meter it alike: the metering query (`usage_groups`: routes of actions to meters,
quantity rounding, month labels, segment cuts of purchases and events) renders to the same SQL
and reads the same tables (calendar, cuts). Then only the drawdown, pricing and bills run twice;
otherwise the second run meters again, and the result says why.

The comparison runs in an in-memory DuckDB over the two runs' bills (Arrow), whichever engine
billed: money is DECIMAL there and Decimal here, percentages are computed from integers.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ratecard.engine.pricebook import PriceBook
from ratecard.errors import UsageError
from ratecard.warehouse.api import (
    ON_INVALID,
    PathSpec,
    WarehouseResult,
    _Run,
    billable_terms,
    check_collisions,
    input_tables,
    open_engine,
    parse_wanted,
)
from ratecard.warehouse.display import SCHEMA
from ratecard.warehouse.engines import Bounds, Engine
from ratecard.warehouse.schema import InvalidRows
from ratecard.warehouse.sql import DUCKDB
from ratecard.warehouse.terms import (
    ContractError,
    ContractSpec,
    charge_names,
    read_contracts_table,
)

if TYPE_CHECKING:
    import pyarrow as pa

#: The percentiles of the per-account change reported (nearest rank; 0 and 100: the least and
#: the greatest).
PERCENTILES = (0, 1, 5, 10, 25, 50, 75, 90, 95, 99, 100)
#: How many accounts are listed among the biggest movers, up and down.
MOVERS = 10
#: The tables a metering reads besides the usage: equal in two runs, with the same SQL, the
#: runs meter alike.
METERING_TABLES = ("calendar", "cuts", "history_accounts")
#: The steps of a simulation, as its progress shows them.
STEPS = 15
HUNDRED = Decimal(100)


@attrs.frozen
class Percentile:
    """The per-account change at a percentile: in money, and in percent of the old total
    (None when no account had an old total above zero)."""

    percentile: int
    delta: Decimal
    percent: Decimal | None


@attrs.frozen
class Mover:
    """An account among the biggest movers: its totals over the months simulated."""

    account: str
    old: Decimal
    new: Decimal
    delta: Decimal
    percent: Decimal | None  # None: the old total was zero


@attrs.frozen
class Change:
    """Old and new revenue of a meter, or of a month (with the accounts billed in it)."""

    name: str
    old: Decimal
    new: Decimal
    accounts: int | None = None

    @property
    def delta(self) -> Decimal:
        return self.new - self.old

    @property
    def percent(self) -> Decimal | None:
        return percent_of(self.delta, self.old)


@attrs.frozen
class Simulation:
    """The revenue impact of a price change on a usage table (see `simulate_warehouse`)."""

    old_file: str
    new_file: str
    currency: str
    engine: str
    one_scan: bool
    #: Why the usage was metered twice (None: once).
    two_scans_because: str | None
    #: What the second run took from the first: `metering`, and `plain drawdown` (the draws of
    #: accounts without purchases or events, when the allowances are the same too).
    shared: tuple[str, ...]
    accounts: int
    old_total: Decimal
    new_total: Decimal
    up: int
    down: int
    same: int
    #: Accounts billed nothing under the old rules and something under the new.
    from_zero: int
    #: Account months left out of the comparison: one of the files cannot bill them (see each
    #: side's `problems`).
    left_out: int
    percentiles: tuple[Percentile, ...]
    movers_up: tuple[Mover, ...]
    movers_down: tuple[Mover, ...]
    meters: tuple[Change, ...]
    months: tuple[Change, ...]
    #: Per account and month: account, month, old_total, new_total, delta (Arrow).
    table: pa.Table
    #: The distribution of the per-account change in percent: (low, high, accounts) per bin, in
    #: hundredths of a percent, over the accounts with an old total above zero.
    histogram: tuple[tuple[int, int, int], ...]
    old: WarehouseResult
    new: WarehouseResult
    seconds: float

    @property
    def delta(self) -> Decimal:
        return self.new_total - self.old_total

    @property
    def percent(self) -> Decimal | None:
        return percent_of(self.delta, self.old_total)

    @property
    def invalid(self) -> tuple[InvalidRows, ...]:
        """Bad input rows: the old run's (the same as the new run's when metered once)."""
        return self.old.invalid

    def to_dict(self) -> dict[str, Any]:
        """The JSON of `ratecard simulate --json` (without its `schema` key): money and
        percentages as strings."""

        def money(value: Decimal) -> str:
            return format(value, "f")

        def pct(value: Decimal | None) -> str | None:
            return None if value is None else format(value, "f")

        def mover(m: Mover) -> dict[str, Any]:
            return {"account": m.account, "old": money(m.old), "new": money(m.new),
                    "delta": money(m.delta), "percent": pct(m.percent)}

        def change(c: Change, key: str) -> dict[str, Any]:
            out: dict[str, Any] = {key: c.name, "old": money(c.old), "new": money(c.new),
                                   "delta": money(c.delta), "percent": pct(c.percent)}
            if c.accounts is not None:
                out["accounts"] = c.accounts
            return out

        def invalid(rows: Sequence[InvalidRows]) -> list[dict[str, Any]]:
            return [{"table": i.table, "problem": i.problem, "message": i.message,
                     "count": i.count, "samples": [dict(s) for s in i.samples]} for i in rows]

        def problems(result: WarehouseResult) -> list[dict[str, Any]]:
            return [{"account": p.account, "month": p.month, "message": p.message}
                    for p in result.problems]

        return {
            "old": self.old_file,
            "new": self.new_file,
            "currency": self.currency,
            "engine": self.engine,
            "one_scan": self.one_scan,
            "two_scans_because": self.two_scans_because,
            "accounts": self.accounts,
            "old_total": money(self.old_total),
            "new_total": money(self.new_total),
            "delta": money(self.delta),
            "percent": pct(self.percent),
            "up": self.up,
            "down": self.down,
            "same": self.same,
            "from_zero": self.from_zero,
            "left_out": self.left_out,
            "percentiles": [
                {"percentile": p.percentile, "delta": money(p.delta), "percent": pct(p.percent)}
                for p in self.percentiles
            ],
            "movers_up": [mover(m) for m in self.movers_up],
            "movers_down": [mover(m) for m in self.movers_down],
            "meters": [change(c, "meter") for c in self.meters],
            "months": [change(c, "month") for c in self.months],
            "invalid": {"old": invalid(self.old.invalid), "new": invalid(self.new.invalid)},
            "not_billed": {"old": problems(self.old), "new": problems(self.new)},
        }


def percent_of(delta: Decimal, old: Decimal) -> Decimal | None:
    """`delta` in percent of `old`, rounded half up to hundredths (None when `old` is not
    above zero)."""
    if old <= 0:
        return None
    return (delta * HUNDRED / old).quantize(Decimal("0.01"), ROUND_HALF_UP)


def refuse_unlike(old: PriceBook, new: PriceBook, old_name: str, new_name: str) -> None:
    """UsageError, naming both files, when two rules files' bills cannot be compared: another
    currency or another timezone (months would not be the same months)."""
    if old.currency != new.currency:
        raise UsageError(
            f"{old_name} bills in {old.currency} and {new_name} in {new.currency}: a "
            "simulation compares bills in one currency"
        )
    if old.timezone != new.timezone:
        raise UsageError(
            f"{old_name} keeps time in {old.timezone} and {new_name} in {new.timezone}: a "
            "simulation compares the same months, in one timezone"
        )


def contracts_on(
    sheet_path: str, spec: ContractSpec | None
) -> Mapping[str, str | os.PathLike[str] | PriceBook] | ContractSpec | None:
    """The contracts of a contracts table applied on the rules file at `sheet_path` (whichever
    rules file each contract's `extends` names: a price change edits that file, and each side of
    a simulation bills the contract's terms on its own sheet). A mapping is used as it is.
    ContractError for a contract that does not apply on the sheet (its diagnostics attached)."""
    if spec is None or not isinstance(spec, str | os.PathLike):
        return spec
    from ratecard.api import analyze, read_rules_text
    from ratecard.check import check_contract_acknowledged
    from ratecard.compile import compile_contract
    from ratecard.source import SourceFile
    from ratecard.versions import is_contract

    table = os.fspath(spec)
    base = Path(table).parent
    sheet_source = SourceFile(sheet_path, read_rules_text(Path(sheet_path)))
    sheet, sheet_problems = analyze(sheet_source)
    if sheet is None or any(d.is_error for d in sheet_problems):  # pragma: no cover - compiled
        raise ContractError(f"{sheet_path} has errors")
    loaded: dict[str, PriceBook] = {}
    mapping: dict[str, str | os.PathLike[str] | PriceBook] = {}
    for line, account, contract in read_contracts_table(table):
        path = base / contract
        key = os.path.realpath(path)
        if account in mapping:  # let load_contracts say it, with both lines
            return spec
        if key not in loaded:
            where = f"{table}:{line}"
            if not path.is_file():
                raise ContractError(f"{where}: contract file {path}: no such file")
            try:
                source = SourceFile(str(path), read_rules_text(path))
            except (OSError, UnicodeDecodeError) as exc:
                raise ContractError(f"{where}: contract file {path}: {exc}") from None
            rules, _ = analyze(source)
            if rules is None or not is_contract(rules):
                return spec  # not a contract: load_contracts reports it as it does
            found, _ = check_contract_acknowledged(rules, sheet)
            errors = [d for d in found if d.is_error]
            if errors:
                raise ContractError(
                    f"{where}: contract file {path} does not apply on {sheet_path}: "
                    f"{errors[0].span}: error[{errors[0].code}] {errors[0].message}",
                    tuple(found),
                )
            loaded[key] = compile_contract(rules, sheet, ())
        mapping[account] = loaded[key]
    return mapping


def simulate_warehouse(
    old: PriceBook,
    new: PriceBook,
    usage: PathSpec,
    *,
    old_name: str = "old",
    new_name: str = "new",
    purchases: PathSpec | None = None,
    events: PathSpec | None = None,
    accounts: PathSpec | None = None,
    contracts: tuple[ContractSpec | None, ContractSpec | None] | ContractSpec | None = None,
    month: str | None = None,
    engine: str = DUCKDB,
    on_invalid: str = "skip",
    spark: Any = None,
    threads: int | None = None,
    memory_limit: str | None = None,
    accounts_out: str | None = None,
    on_step: Callable[[str], None] | None = None,
    statistics: bool = True,
) -> Simulation:
    """Bill every account of `usage` (with its `purchases` and `events`) under the rules `old`
    and `new`, as `bill_warehouse` bills each alone, and compare: see `Simulation`.

    `contracts`: one contracts spec for both sides, or a pair (old's, new's) of them (see
    `contracts_on` for applying a contracts table on each rules file). `month` keeps that
    month's bills only. `accounts_out` writes per account and month `account, month,
    old_total, new_total, delta` (.parquet or .csv). `on_step` is called with each step's name
    as it starts (a progress display). `statistics`: as `bill_warehouse`'s (False checks every
    usage row). UsageError (its subclasses: bad input, a contract the
    run cannot bill by) when the two cannot be billed or compared.
    """
    started = time.perf_counter()
    if on_invalid not in ON_INVALID:
        raise UsageError(f"on_invalid must be one of {', '.join(ON_INVALID)}, not `{on_invalid}`")
    refuse_unlike(old, new, old_name, new_name)
    wanted = parse_wanted(month)
    pair = contracts if isinstance(contracts, tuple) else (contracts, contracts)
    old_terms = billable_terms(old, pair[0], engine)
    new_terms = billable_terms(new, pair[1], engine)
    inputs = input_tables(usage, purchases, events, accounts)
    out_fmt = None
    if accounts_out is not None:
        out_fmt = _accounts_format(accounts_out)
        check_collisions(
            {name: paths for name, (paths, _) in inputs.items()},
            {"accounts (output)": accounts_out},
        )
    runner = _Recording(open_engine(engine, spark, threads, memory_limit))

    def step(side: str) -> Callable[[str], None] | None:
        if on_step is None:
            return None
        return lambda name: on_step(f"{side}: {name}")

    try:
        first = _Run(old, runner, on_invalid, wanted, old_terms)
        first.return_lines = False
        first.by_meter = True
        first.on_step = step(old_name)
        first.statistics = statistics
        plan, histories = first.prepare(inputs)
        first.meter(plan)
        metered = {name: runner.tables.get(name) for name in METERING_TABLES}
        old_result = first.finish(plan, histories, None, None, None, None)

        second = _Run(new, runner, on_invalid, wanted, new_terms)
        second.return_lines = False
        second.by_meter = True
        second.on_step = step(new_name)
        second.statistics = statistics
        second.full_calendar = first.full_calendar
        runner.tables.clear()
        plan2, histories2 = second.prepare(inputs)
        because = _why_not_shared(first, second, plan, plan2, metered, runner.tables)
        if because is None:
            if on_step is not None:
                on_step(f"{new_name}: meter (shared)")
            second.metered_like(first)
            # The plain accounts' draws too, when the allowances are the same: their tables
            # are still the first run's in the engine.
            held = bool(histories)
            if first.plain_sql(held) == second.plain_sql(held):
                second.plain_from = first
        else:
            second.meter(plan2)
        new_result = second.finish(plan2, histories2, None, None, None, None)
    finally:
        runner.close()
    if on_step is not None:
        on_step("compare")
    return _compare(
        old_result, new_result, first, second, old_name, new_name, because, engine,
        accounts_out, out_fmt, started,
    )


def _shared(second: _Run, because: str | None) -> tuple[str, ...]:
    if because is not None:
        return ()
    return ("metering", "plain drawdown") if second.plain_from is not None else ("metering",)


def _accounts_format(path: str) -> str:
    lower = path.lower()
    if lower.endswith((".parquet", ".pq")):
        return "parquet"
    if lower.endswith(".csv"):
        return "csv"
    raise UsageError(f"{path}: the accounts are written to a .parquet or .csv file")


def _why_not_shared(
    first: _Run,
    second: _Run,
    plan: Any,
    plan2: Any,
    metered: Mapping[str, pa.Table | None],
    tables: Mapping[str, pa.Table],
) -> str | None:
    """None when the second run meters the usage as the first did (same SQL over the same
    tables); otherwise what differs, as said in the result."""
    if first.metering_sql(plan) != second.metering_sql(plan2):
        reasons = []
        if dict(first.book.routes) != dict(second.book.routes):
            reasons.append("the actions are counted by other meters")
        if [p.name for p in first.book.meters] != [p.name for p in second.book.meters]:
            reasons.append("the meters differ")
        if first.book.billing != second.book.billing:
            reasons.append("the billing terms differ")
        if first.queries.quantity_scale != second.queries.quantity_scale:
            reasons.append("quantities are kept to other decimals")
        if plan != plan2:
            reasons.append("the purchases and events cut usage differently")
        return "; ".join(reasons) or "the metering queries differ (quantity rounding, versions)"
    for name in METERING_TABLES:
        before, after = metered.get(name), tables.get(name)
        if (before is None) != (after is None) or (
            before is not None and after is not None and not before.equals(after)
        ):
            if name == "calendar":
                return "the months are cut differently (another billing day)"
            return "the purchases and events cut usage differently (pack validity, contracts)"
    return None


class _Recording:
    """An engine that remembers the tables put into it (what a metering reads)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect
        self.tables: dict[str, pa.Table] = {}

    def read(self, name: str, paths: Sequence[str], fmt: str) -> dict[str, str]:
        return self.engine.read(name, paths, fmt)

    def describe(self, name: str) -> dict[str, str]:
        return self.engine.describe(name)

    def statistics(self, name: str, columns: Mapping[str, str]) -> dict[str, Bounds] | None:
        return self.engine.statistics(name, columns)

    def bare(self, name: str) -> str | None:
        return self.engine.bare(name)

    def put(self, name: str, table: pa.Table) -> None:
        if name in METERING_TABLES:
            self.tables[name] = table
        self.engine.put(name, table)

    def create(self, name: str, sql: str, reuse: bool = True) -> None:
        self.engine.create(name, sql, reuse)

    def fetch(self, sql: str) -> pa.Table:
        return self.engine.fetch(sql)

    def batches(self, sql: str) -> Any:
        return self.engine.batches(sql)

    def write(self, sql: str, path: str, fmt: str) -> int:
        return self.engine.write(sql, path, fmt)

    def close(self) -> None:
        self.engine.close()


def _meter_changes(first: _Run, second: _Run) -> tuple[Change, ...]:
    """Revenue per meter (its name; `*`: contracts' true-ups; a subscription's or fee's
    charges: its plan), old and new."""
    totals: dict[str, list[Decimal]] = {}
    for side, run in enumerate((first, second)):
        table = run.meter_totals
        if table is None:  # pragma: no cover - always fetched by simulate
            continue
        names = [p.name for p in run.book.meters]
        names += ["*", *charge_names(run.terms.books)]  # (`drawdown.Drawdown.rank`)
        data = table.to_pydict()
        for meter, amount in zip(data["meter"], data["amount"], strict=True):
            name = names[meter] if meter < len(names) else "*"
            totals.setdefault(name, [Decimal(0), Decimal(0)])[side] += amount
    order = [p.name for p in first.book.meters]
    order += [p.name for p in second.book.meters if p.name not in order]
    order += [name for name in totals if name not in order]
    return tuple(
        Change(name, totals[name][0], totals[name][1]) for name in order if name in totals
    )


def _compare(
    old: WarehouseResult,
    new: WarehouseResult,
    first: _Run,
    second: _Run,
    old_name: str,
    new_name: str,
    because: str | None,
    engine: str,
    accounts_out: str | None,
    out_fmt: str | None,
    started: float,
) -> Simulation:
    import duckdb

    assert old.bills is not None and new.bills is not None
    scale = max(first.amount_scale, second.amount_scale)
    money = f"DECIMAL(38, {scale})"
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET threads TO 2")
        con.register("old_bills", old.bills)
        con.register("new_bills", new.bills)
        con.register("left_out", _left_out(old, new))
        con.execute(
            "CREATE TEMP TABLE joined AS SELECT coalesce(o.account, n.account) AS account, "
            "coalesce(o.month, n.month) AS month, "
            f"CAST(coalesce(o.total, 0) AS {money}) AS old_total, "
            f"CAST(coalesce(n.total, 0) AS {money}) AS new_total, "
            f"CAST(coalesce(n.total, 0) - coalesce(o.total, 0) AS {money}) AS delta "
            "FROM old_bills o FULL OUTER JOIN new_bills n "
            "ON o.account = n.account AND o.month = n.month"
        )
        # An account month one file cannot bill is compared under neither (nor, for an
        # account that settles from a balance, any month of it: its months depend on it).
        row = con.execute(
            "SELECT count(*) FROM joined j WHERE EXISTS (SELECT 1 FROM left_out x WHERE "
            "x.account = j.account AND (x.month IS NULL OR x.month = j.month))"
        ).fetchone()
        left_out = int(row[0]) if row is not None else 0
        if left_out:
            con.execute(
                "DELETE FROM joined WHERE EXISTS (SELECT 1 FROM left_out x WHERE "
                "x.account = joined.account AND (x.month IS NULL OR x.month = joined.month))"
            )
        # Per account: its totals over the months, and its change in hundredths of a percent
        # (an integer, rounded half up; NULL when the old total is not above zero).
        units = 10**scale
        con.execute(
            "CREATE TEMP TABLE per_account AS SELECT account, old_total, new_total, delta, "
            "CASE WHEN old_total > 0 THEN sign(d) * ((2 * abs(d) * 10000 + o) // (2 * o)) END "
            "AS bp FROM (SELECT account, sum(old_total) AS old_total, "
            "sum(new_total) AS new_total, sum(delta) AS delta, "
            f"CAST(sum(delta) * {units} AS HUGEINT) AS d, "
            f"CAST(sum(old_total) * {units} AS HUGEINT) AS o FROM joined GROUP BY account)"
        )
        totals = con.execute(
            "SELECT count(*), coalesce(sum(old_total), 0), coalesce(sum(new_total), 0), "
            "count(*) FILTER (WHERE delta > 0), count(*) FILTER (WHERE delta < 0), "
            "count(*) FILTER (WHERE delta = 0), "
            "count(*) FILTER (WHERE old_total <= 0 AND new_total > 0), count(bp) "
            "FROM per_account"
        ).fetchone()
        assert totals is not None
        accounts, old_total, new_total, up, down, same, from_zero, with_bp = totals
        percentiles = _percentiles(con, int(accounts), int(with_bp))
        movers_up = _movers(con, "delta > 0 ORDER BY delta DESC, account")
        movers_down = _movers(con, "delta < 0 ORDER BY delta, account")
        months = tuple(
            Change(calendar_label, o, n, int(count))
            for calendar_label, o, n, count in con.execute(
                "SELECT month, sum(old_total), sum(new_total), count(*) FROM joined "
                "GROUP BY month ORDER BY month"
            ).fetchall()
        )
        histogram = _histogram(con, percentiles)
        table = con.sql(
            "SELECT account, month, old_total, new_total, delta FROM joined "
            "ORDER BY account, month"
        ).to_arrow_table()
        if accounts_out is not None and out_fmt is not None:
            options = "FORMAT parquet" if out_fmt == "parquet" else "FORMAT csv, HEADER true"
            quoted = "'" + accounts_out.replace("'", "''") + "'"
            try:
                con.execute(
                    "COPY (SELECT account, month, old_total, new_total, delta FROM joined "
                    f"ORDER BY account, month) TO {quoted} ({options})"
                )
            except duckdb.IOException as exc:
                raise UsageError(
                    f"{accounts_out}: cannot write: {str(exc).splitlines()[0]}"
                ) from None
    finally:
        con.close()
    return Simulation(
        old_file=old_name,
        new_file=new_name,
        currency=first.book.currency,
        engine=engine,
        one_scan=because is None,
        two_scans_because=because,
        shared=_shared(second, because),
        accounts=int(accounts),
        old_total=Decimal(old_total),
        new_total=Decimal(new_total),
        up=int(up),
        down=int(down),
        same=int(same),
        from_zero=int(from_zero),
        left_out=left_out,
        percentiles=percentiles,
        movers_up=movers_up,
        movers_down=movers_down,
        meters=_meter_changes(first, second),
        months=months,
        table=table,
        histogram=histogram,
        old=old,
        new=new,
        seconds=round(time.perf_counter() - started, 3),
    )


def _left_out(old: WarehouseResult, new: WarehouseResult) -> pa.Table:
    """The account months either run reported as unbillable (month null: the whole account)."""
    import pyarrow as pa

    found = sorted(
        {(p.account, p.month) for p in (*old.problems, *new.problems)},
        key=lambda item: (item[0], item[1] or ""),
    )
    return pa.table({
        "account": pa.array([a for a, _ in found], pa.string()),
        "month": pa.array([m for _, m in found], pa.string()),
    })


def nearest_rank(percentile: int, count: int) -> int:
    """The 1-based rank of a percentile among `count` sorted values (nearest rank: the least
    value with at least `percentile`% of the values at or below it; 0: the least)."""
    return max(1, math.ceil(Decimal(percentile) * count / HUNDRED))


def _percentiles(con: Any, accounts: int, with_bp: int) -> tuple[Percentile, ...]:
    if accounts == 0:
        return ()
    ranks = {p: nearest_rank(p, accounts) for p in PERCENTILES}
    wanted = ", ".join(str(r) for r in sorted(set(ranks.values())))
    deltas = dict(
        con.execute(
            "SELECT rn, delta FROM (SELECT delta, row_number() OVER (ORDER BY delta) AS rn "
            f"FROM per_account) WHERE rn IN ({wanted})"
        ).fetchall()
    )
    percents: dict[int, Decimal] = {}
    bp_ranks = {p: nearest_rank(p, with_bp) for p in PERCENTILES} if with_bp else {}
    if with_bp:
        wanted_bp = ", ".join(str(r) for r in sorted(set(bp_ranks.values())))
        percents = {
            rn: Decimal(int(bp)).scaleb(-2)
            for rn, bp in con.execute(
                "SELECT rn, bp FROM (SELECT bp, row_number() OVER (ORDER BY bp) AS rn "
                f"FROM per_account WHERE bp IS NOT NULL) WHERE rn IN ({wanted_bp})"
            ).fetchall()
        }
    return tuple(
        Percentile(p, deltas[ranks[p]], percents[bp_ranks[p]] if with_bp else None)
        for p in PERCENTILES
    )


def _movers(con: Any, where_order: str) -> tuple[Mover, ...]:
    rows = con.execute(
        "SELECT account, old_total, new_total, delta FROM per_account "
        f"WHERE {where_order} LIMIT {MOVERS}"
    ).fetchall()
    return tuple(Mover(a, o, n, d, percent_of(d, o)) for a, o, n, d in rows)


#: Bins of the distribution of change: about this many, between the 1st and 99th percentiles
#: (the accounts beyond them in the outer bins).
BINS = 24


def _histogram(
    con: Any, percentiles: Sequence[Percentile]
) -> tuple[tuple[int, int, int], ...]:
    """Accounts per bin of their change in percent (hundredths of a percent: [low, high))."""
    by = {p.percentile: p.percent for p in percentiles}
    low_pct, high_pct = by.get(1), by.get(99)
    if low_pct is None or high_pct is None:
        return ()
    low = int(low_pct * 100)
    high = int(high_pct * 100) + 1
    width = max(1, -(-(high - low) // BINS))
    rows = con.execute(
        f"SELECT (least(greatest(bp, {low}), {high - 1}) - {low}) // {width} AS bin, count(*) "
        "FROM per_account WHERE bp IS NOT NULL GROUP BY bin ORDER BY bin"
    ).fetchall()
    return tuple((low + int(b) * width, low + (int(b) + 1) * width, int(n)) for b, n in rows)


__all__ = [
    "SCHEMA",
    "Change",
    "Mover",
    "Percentile",
    "Simulation",
    "contracts_on",
    "percent_of",
    "refuse_unlike",
    "simulate_warehouse",
]
