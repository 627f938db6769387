"""The warehouse's queries, built from `sql.Operations` for one price book and one engine.

The database meters and prices; Python draws down (see `drawdown`). In order:

1. `parsed_usage`: each usage row validated (a problem code, or NULL), its time parsed to an
   instant and labelled with its month in the rules' timezone (via the calendar table), its action
   routed to a meter, its count turned into an exact quantity (rounded as the meter says), and,
   when rows have ids, repeats marked (the first in time, then file, order wins).
2. `usage_groups`: the valid rows added up per account, month, segment and meter, where a
   segment is a stretch between an account's cuts (purchases, expiries, suspensions, reopenings,
   top-ups: the `cuts` table); invalid rows are counted per problem. Usage whose files'
   statistics prove it good (`Proof`) is added up without checking a row (`proven_groups`),
   the accounts with cuts by the full query on their rows alone.
3. `plain_period`: for accounts with no purchases and no events, each month's quantity per meter
   drawn down by joining the `draws` table (`deduct` run in Python once per distinct quantity).
4. `postpaid_lines`: each month's postpaid quantities priced by the ladders' brackets (an inline
   table of exact decimals), with `round_to` applied to every line.
5. `bill_lines` and `bills`: every line in the engine's order, and one total per account month.

Dated versions: a month is priced by the version in effect on its first day (`version_of`, a
`CASE` on the month's ordinal), so the draws, the ladders' brackets and their limits are keyed
by version (`ver`) as well as meter. A sheet without versions has no `ver` anywhere: its SQL is
that of before.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal

import attrs
from sqlglot import exp

from ratecard.engine.deduction import ALLOWANCE
from ratecard.engine.ladders import BASIS_AFTER_ALLOWANCE, BASIS_TOTAL, VOLUME, Ladder
from ratecard.engine.money import CONTEXT, ON_TOTAL
from ratecard.engine.offers import FREE
from ratecard.engine.pricebook import PriceBook
from ratecard.warehouse.months import FIRST_MICROS, LAST_MICROS, ord_of
from ratecard.warehouse.schema import (
    BEYOND_CALENDAR,
    DECIMAL,
    INSTANT,
    INTEGER,
    LINE_FIELDS,
    MAX_COUNT,
    PROBLEM_CODES,
    STRING,
    WALL,
)
from ratecard.warehouse.sql import (
    BIGINT,
    BOOLEAN,
    DUCKDB,
    MAX_PRECISION,
    NEVER_AFTER,
    NEVER_BEFORE,
    TEXT,
    Operations,
    decimal_type,
    scale_of,
)
from ratecard.warehouse.terms import charge_names

# --- times --------------------------------------------------------------------------------------

_YEAR = "(?:19[0-9]{2}|[2-8][0-9]{3}|9000)"
_ANY_YEAR = "[0-9]{4}"
_DATE = "-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
_CLOCK = "[T ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:[.][0-9]{1,6})?)?"
# Offsets up to ±18:00, the range every engine reads (Java's, hence Spark's, ends there).
_OFFSET = "(?:Z|[+-](?:(?:0[0-9]|1[0-7])(?::?[0-5][0-9])?|18(?::?00)?))"
#: A time with an offset; a time or date without one; either, in any year.
WITH_OFFSET = _YEAR + _DATE + _CLOCK + _OFFSET
WITHOUT_OFFSET = _YEAR + _DATE + f"(?:{_CLOCK})?"
ANY_YEAR = _ANY_YEAR + _DATE + f"(?:{_CLOCK}{_OFFSET}?)?"

# time kinds
_T_MISSING, _T_OFFSET, _T_LOCAL, _T_RANGE, _T_BAD = 0, 1, 2, 3, 4

# route codes besides a meter's index
ROUTE_FREE = -1
ROUTE_UNPRICED = -2

_NUMBER = "-?[0-9]{1,26}(?:[.][0-9]{1,12})?"
# Group key of a bad row: this base minus its problem code (meters are ≥ -2).
_PROBLEM_BASE = -1000
# A decimal count is read as DECIMAL(38, 12): 26 digits before the point, 12 after.
INPUT_SCALE = 12
#: A group adds up to 10^GROUP_DIGITS rows of the largest count a row may hold and still fits
#: its DECIMAL(38, s): a trillion rows of one account, month, segment and meter.
GROUP_DIGITS = 12


def problem(name: str) -> int:
    return PROBLEM_CODES[name]


#: A ladder the SQL prices: (meter, ladder), or (meter, ladder, version) for a sheet with dated
#: versions.
PricedLadder = tuple[int, Ladder] | tuple[int, Ladder, int]
#: A limit's key: a meter, or (meter, version).
LimitKey = int | tuple[int, int]


def first_month(day: date) -> int:
    """The ordinal of the first month whose first day is `day` or later."""
    return ord_of(day.year, day.month) + (1 if day.day > 1 else 0)


#: The columns `instants` adds to a row (its time read): see `UsagePlan.timed`.
TIMED = ("instant", "time_problem", "ord", "late")


@attrs.frozen
class UsagePlan:
    """What the usage queries need to know about the input and the rules."""

    count_kind: str  # INTEGER, DECIMAL or STRING
    count_scale: int | None
    account_kind: str  # STRING or INTEGER
    time_kind: str  # STRING, INSTANT or WALL
    id_kind: str | None  # None: no id column
    has_cuts: bool  # whether any account has purchases or events
    #: The `cuts` table: one row per account and meter (route) with its cut instants in columns
    #: c1..cN (N > 0), or, for accounts with many (N = 0), one row per segment (lo, hi, seg).
    cut_columns: int
    spans: bool  # whether groups need their first and last instants (drawn down in Python)
    late: bool  # whether groups are split at the previous month's bill issue instant
    #: Whether only groups cut into segments are drawn down in Python (the others join the
    #: plain accounts): only they need their first and last instants.
    spans_of_cut_only: bool = False
    #: The largest whole count the count column's type can hold (None: text, no bound): rows
    #: are checked against the count limit only when the type can pass it.
    count_largest: int | None = None
    #: Whether `usage_src` holds a requests table's parts (columns `part_meter`, the meter a
    #: part counts into, and `req_problem`, a bad request row's problem): see requests.py.
    requests: bool = False
    #: Whether `usage_src`'s rows come with their time already read (columns `_instant`,
    #: `_time_problem`, `_ord`, `_late`, as `instants` makes them): a requests table's times
    #: are read once per request, before its parts are made (see requests.py).
    timed: bool = False


@attrs.frozen
class Proof:
    """What the usage files' own statistics prove of every row (`_Run._proof`): its account,
    time, action and count are present, its account is not empty, its time is an instant in
    range and its count a whole number from 0 to the count limit. Only its action may be
    bad (unknown, or of a priced-elsewhere kind), and the route tells that.

    `months`: the months (ordinal, first instant of the next month, in microseconds) that the
    rows' times fall in, in order: with one, every row's month is known without reading its
    time. `source`: the view `proven_groups` reads the rows from (`usage_src`, or the same
    files without `_file` and `_row`, cheaper to scan)."""

    months: tuple[tuple[int, int], ...]
    source: str = "usage_src"


class Queries:
    """The queries of one price book on one engine."""

    def __init__(
        self, book: PriceBook, dialect: str, books: Sequence[PriceBook] | None = None
    ) -> None:
        """`books`: every sheet the run bills by (the rules' versions and the contracts'
        sheets; default the rules' versions), whose quantities the SQL must hold."""
        self.book = book
        self.ops = Operations(dialect)
        self.meter_index = {plan.name: index for index, plan in enumerate(book.meters)}
        #: The rules' versions, by `ver`: the first, then one per later version.
        self.versions = book.books
        self.versioned = len(self.versions) > 1
        self.books = tuple(books) if books is not None else self.versions
        # Lines that price a day (daily ladders, billed by the engine's replay) carry it.
        self.dated_lines = any(group.ladder.period != "month" for b in self.books
                               for group in b.ladder_groups)
        self.quantity_scale = max(
            [
                scale_of(p.quantity_rounding.increment)
                for b in self.books
                for p in b.meters
                if p.quantity_rounding
            ]
            + [scale_of(p.allowance) for b in self.books for p in b.meters]
            + [scale_of(a) for b in self.books for a in b.allowance_pools.values()]
            + [scale_of(o.size) for b in self.books for p in b.meters for o in p.packs]
            + [scale_of(p.entry_minimum) for b in self.books for p in b.meters
               if p.entry_minimum is not None]
            + [0]
        )
        #: The most units one row may count: the engine's limit, or less when quantities have
        #: many decimals, so that a group's sum of 10^GROUP_DIGITS such rows fits DECIMAL(38, s)
        #: and a count times a rounding increment's power of ten fits DECIMAL(38, 12). Over it,
        #: a row is bad ("count too large"); no sum of good rows can overflow.
        self.count_limit = min(
            MAX_COUNT, 10 ** (MAX_PRECISION - GROUP_DIGITS - self.quantity_scale) - 1
        )

    # --- shared pieces --------------------------------------------------------------------------

    def version_of(self, ordinal: exp.Expression) -> exp.Expression:
        """The version (`ver`) in effect in a month, by the month's ordinal: the last whose
        first day is the month's first day or earlier."""
        o = self.ops
        whens = [
            (o.ge(ordinal.copy(), o.integer(first_month(segment.start))), o.integer(index))
            for index, segment in reversed(list(enumerate(self.book.timeline, start=1)))
        ]
        return o.case(whens, o.integer(0)) if whens else o.integer(0)

    def route_codes(self) -> list[tuple[str, int]]:
        """Each action the rules name and its route: the meter index it counts into,
        ROUTE_FREE or ROUTE_UNPRICED."""
        return [
            (name, ROUTE_FREE if target == FREE else self.meter_index[target])
            for name, target in sorted(self.book.routes.items())
        ] + [(name, ROUTE_UNPRICED) for name in sorted(self.book.unpriced)]

    def route(self, action: exp.Expression) -> exp.Expression:
        """The meter index an action counts into, ROUTE_FREE, ROUTE_UNPRICED, or NULL."""
        o = self.ops
        return o.case(
            [(o.eq(action.copy(), o.text(name)), o.integer(code))
             for name, code in self.route_codes()],
            o.null(),
        )

    def listed_route(self, action: exp.Expression) -> exp.Expression:
        """`route` as a lookup in two lists (an action's place in the list of actions, that
        place in the list of their routes; NULL for an action not listed), on DuckDB, where it
        costs less per row than the `CASE` (one search in place of a test per action); the
        `CASE` elsewhere."""
        if self.ops.dialect != DUCKDB:
            return self.route(action)
        o = self.ops
        named = self.route_codes()
        if not named:
            return o.cast(o.null(), exp.DataType(this=exp.DataType.Type.INT))
        place = exp.Anonymous(
            this="list_position",
            expressions=[exp.Array(expressions=[o.text(n) for n, _ in named]), action],
        )
        return exp.Bracket(
            this=exp.Array(expressions=[o.integer(code) for _, code in named]),
            expressions=[place],
        )

    def parsed_times(
        self, source: exp.Expression, columns: Sequence[str], time_kind: str = STRING
    ) -> exp.Select:
        """Rows of `source` and their time: `t_kind` (missing, with an offset, without one, out
        of range, bad) and `micros` (see `Operations.time_micros`), passing `columns` through.

        `time_kind` is the type of the `time` column: text (ISO 8601, checked by pattern), an
        instant (a timestamp with time zone), or a wall-clock time of the rules' timezone (a
        timestamp without one)."""
        o = self.ops
        time = o.col("time")
        if time_kind in (INSTANT, WALL):
            # A timestamp is read as it is; the engine reads the years 1900 to 9000 of it (an
            # instant's in UTC, a wall-clock time's on the wall): outside them, out of range.
            read = o.select(
                *[o.col(c) for c in columns],
                ("micros", o.timestamp_micros(o.col("time"), time_kind == INSTANT)),
            ).from_(source, copy=False)
            micros_col = o.col("micros")
            typed_kind = o.case(
                [
                    (o.is_null(o.col("time")), o.integer(_T_MISSING)),
                    (
                        o.any_of(
                            o.is_null(micros_col.copy()),  # DuckDB's ±infinity
                            o.lt(micros_col.copy(), o.integer(FIRST_MICROS)),
                            o.ge(micros_col.copy(), o.integer(LAST_MICROS)),
                        ),
                        o.integer(_T_RANGE),
                    ),
                ],
                o.integer(_T_OFFSET if time_kind == INSTANT else _T_LOCAL),
            )
            checked = o.select(
                *[o.col(c) for c in columns], ("t_kind", typed_kind), o.col("micros")
            ).from_(o.subquery(read, "t0"), copy=False)
            return o.select(
                *[o.col(c) for c in columns],
                o.col("t_kind"),
                o.col("micros"),
                ("m_key", o.utc_month_ord(o.col("micros"))),
            ).from_(o.subquery(checked, "t1"), copy=False)
        t_kind = o.case(
            [
                (
                    o.any_of(o.is_null(time), o.eq(time.copy(), o.text(""))),
                    o.integer(_T_MISSING),
                ),
                (o.full_match(time.copy(), WITH_OFFSET), o.integer(_T_OFFSET)),
                (o.full_match(time.copy(), WITHOUT_OFFSET), o.integer(_T_LOCAL)),
                (o.full_match(time.copy(), ANY_YEAR), o.integer(_T_RANGE)),
            ],
            o.integer(_T_BAD),
        )
        inner = o.select(*[o.col(c) for c in columns], ("t_kind", t_kind)).from_(source, copy=False)
        micros = o.case(
            [
                (
                    o.in_(o.col("t_kind"), [o.integer(_T_OFFSET), o.integer(_T_LOCAL)]),
                    o.time_micros(o.col("time")),
                )
            ]
        )
        middle = o.select(*[o.col(c) for c in columns], o.col("t_kind"), ("micros", micros)).from_(
            o.subquery(inner, "t0"), copy=False
        )
        key = o.utc_month_ord(o.col("micros"))
        return o.select(
            *[o.col(c) for c in columns], o.col("t_kind"), o.col("micros"), ("m_key", key)
        ).from_(o.subquery(middle, "t1"), copy=False)

    def instants(
        self,
        timed: exp.Select,
        columns: Sequence[str],
        extra: Sequence[tuple[str, exp.Expression]] = (),
        local: bool = True,
    ) -> exp.Select:
        """Join the calendar on the parsed times: each row's `instant`, month `ord` and
        `time_problem` (NULL if the time is good). Without `local` (a timestamp with time zone:
        no time is a wall-clock one) the calendar's offsets are not read: the join carries
        only the columns of the month."""
        o = self.ops
        m = "m"
        micros = o.col("micros", "p")
        local_offset = o.case(
            [
                (
                    o.all_of(o.not_null(o.col("sw2", m)), o.ge(micros.copy(), o.col("sw2", m))),
                    o.col("off2", m),
                ),
                (
                    o.all_of(o.not_null(o.col("sw1", m)), o.ge(micros.copy(), o.col("sw1", m))),
                    o.col("off1", m),
                ),
            ],
            o.col("off0", m),
        )
        instant = o.case(
            [
                (o.eq(o.col("t_kind", "p"), o.integer(_T_OFFSET)), micros.copy()),
                *(
                    [
                        (
                            o.eq(o.col("t_kind", "p"), o.integer(_T_LOCAL)),
                            o.sub(micros.copy(), local_offset),
                        )
                    ]
                    if local
                    else []
                ),
            ]
        )
        time_problem = o.case(
            [
                (
                    o.eq(o.col("t_kind", "p"), o.integer(_T_MISSING)),
                    o.integer(problem("missing time")),
                ),
                (
                    o.eq(o.col("t_kind", "p"), o.integer(_T_RANGE)),
                    o.integer(problem("time out of range")),
                ),
                (
                    o.any_of(
                        o.eq(o.col("t_kind", "p"), o.integer(_T_BAD)), o.is_null(micros.copy())
                    ),
                    o.integer(problem("bad time")),
                ),
                (o.is_null(o.col("ord", m)), o.integer(BEYOND_CALENDAR)),
                *(
                    [
                        (
                            o.all_of(
                                o.eq(o.col("t_kind", "p"), o.integer(_T_LOCAL)),
                                o.is_null(o.col("off0", m)),
                            ),
                            o.integer(problem("local time at an offset change")),
                        )
                    ]
                    if local
                    else []
                ),
            ]
        )
        joined = (
            o.select(
                *[o.col(c, "p") for c in columns],
                ("instant", instant),
                ("time_problem", time_problem),
                ("m_ord", o.col("ord", m)),
                ("m_start", o.col("m_start", m)),
                ("m_end", o.col("m_end", m)),
                ("m_issue", o.col("m_issue", m)),
                ("prev_issue", o.col("prev_issue", m)),
                ("next_issue", o.col("next_issue", m)),
                *extra,
            )
            .from_(o.subquery(timed, "p"), copy=False)
            .join(
                o.table("calendar", m),
                on=o.eq(o.col("ord", m), o.col("m_key", "p")),
                join_type="left",
                copy=False,
            )
        )
        ordinal = o.case(
            [
                (o.lt(o.col("instant"), o.col("m_start")), o.sub(o.col("m_ord"), o.integer(1))),
                (o.ge(o.col("instant"), o.col("m_end")), o.add(o.col("m_ord"), o.integer(1))),
            ],
            o.col("m_ord"),
        )
        late = o.case(
            [
                (o.eq(ordinal.copy(), o.col("m_ord")), o.ge(o.col("instant"), o.col("m_issue"))),
                (o.gt(ordinal.copy(), o.col("m_ord")), o.ge(o.col("instant"), o.col("next_issue"))),
            ],
            o.ge(o.col("instant"), o.col("prev_issue")),
        )
        return o.select(
            *[o.col(c) for c in columns],
            *[o.col(name) for name, _ in extra],
            o.col("instant"),
            o.col("time_problem"),
            ("ord", ordinal),
            ("late", late),
        ).from_(o.subquery(joined, "j"), copy=False)

    def key_text(self, name: str, kind: str | None) -> exp.Expression:
        """An account or id column as text (a whole-number key is written in digits)."""
        o = self.ops
        if kind == INTEGER:
            return o.cast(o.col(name), TEXT)
        return o.col(name)

    # --- usage ----------------------------------------------------------------------------------

    def parsed_usage(self, plan: UsagePlan, source: exp.Expression | None = None) -> exp.Select:
        """Every usage row of `source` (default `usage_src`): `problem` (NULL if valid),
        account, id, instant, ord, late, meter (route code), qty, dup, `_file`, `_row` (and
        `_part` with requests: a part's place in its request row)."""
        o = self.ops
        if source is None:
            source = o.table("usage_src")
        passed = ["account", "action", "count", "_file", "_row"]
        # A request row's parts share its `_file` and `_row`: `_part` orders them (`detail`).
        placed = ["_part"] if plan.requests else []
        if plan.requests:
            passed += ["part_meter", "req_problem", "_part"]
        if plan.id_kind is not None:
            passed.append("id")
        rows: exp.Select
        if plan.timed:
            rows = o.select(
                *[o.col(c) for c in passed],
                *[(c, o.col(f"_{c}")) for c in TIMED],
            ).from_(source, copy=False)
        else:
            timed = self.parsed_times(source, ["time", *passed], plan.time_kind)
            rows = self.instants(timed, passed, local=plan.time_kind != INSTANT)
        count = o.col("count")
        qs = self.quantity_scale
        # `quantity at least N per entry` of the meters usage rows count into, by meter index.
        usage_meters = set(self.book.routes.values())
        minimums = {i: p.entry_minimum for i, p in enumerate(self.book.meters)
                    if p.entry_minimum is not None and p.name in usage_meters}
        # Rows counting more than a row may are bad; a type that cannot hold more is not checked.
        limit = self.count_limit
        # `counts A in hours`: A's counts are in the display unit, made metered units here.
        scales = self.count_scales()
        bounded = (plan.count_largest is not None and plan.count_largest <= limit
                   and not scales)
        over: exp.Expression = o.gt(
            o.col("value"),
            o.integer(limit) if plan.count_kind == INTEGER else o.decimal(Decimal(limit), 0),
        )
        if scales:
            # A count in the display unit is too large when its metered units are.
            over = o.case(
                [(self._scaled_test(actions),
                  o.gt(o.col("value"), self._scaled_bound(size, plan.count_kind)))
                 for size, actions in scales.items()],
                over,
            )
        too_large: list[tuple[exp.Expression, exp.Expression]] = (
            [] if bounded else [(over, o.integer(problem("count too large")))]
        )
        if plan.count_kind == STRING:
            text = o.trim(count)
            number = o.try_cast(text.copy(), decimal_type(INPUT_SCALE))
            count_whens: list[tuple[exp.Expression, exp.Expression]] = [
                (
                    o.any_of(o.is_null(count.copy()), o.eq(text.copy(), o.text(""))),
                    o.integer(problem("missing count")),
                ),
                (
                    o.any_of(o.not_(o.full_match(text.copy(), _NUMBER)), o.is_null(number.copy())),
                    o.integer(problem("bad count")),
                ),
                (o.lt(number.copy(), o.integer(0)), o.integer(problem("negative count"))),
                *too_large,
            ]
            value: exp.Expression = number
        elif plan.count_kind == DECIMAL:
            whens: list[tuple[exp.Expression, exp.Expression]] = [
                (o.is_null(count.copy()), o.integer(problem("missing count"))),
                (o.lt(count.copy(), o.integer(0)), o.integer(problem("negative count"))),
            ]
            value = count.copy()
            if plan.count_scale is not None and plan.count_scale > INPUT_SCALE:
                # More decimals than the warehouse keeps: the rows that use them are refused.
                value = o.cast(count.copy(), decimal_type(INPUT_SCALE))
                lost = o.ne(o.sub(count.copy(), value.copy()), o.integer(0))
                whens.append((lost, o.integer(problem("bad count"))))
            count_whens = whens + too_large
        else:
            count_whens = [
                (o.is_null(count.copy()), o.integer(problem("missing count"))),
                (o.lt(count.copy(), o.integer(0)), o.integer(problem("negative count"))),
                *too_large,
            ]
            value = count.copy()
        route = o.col("route")
        whole_meters = [i for i, p in enumerate(self.book.meters) if p.quantity_rounding is None]
        metered = self._scaled(o.col("value"), scales)
        if (plan.count_kind != INTEGER or scales) and whole_meters:
            fractional = o.all_of(
                o.in_(route.copy(), [o.integer(i) for i in whole_meters]),
                # value − FLOOR(value) keeps value's scale in every engine (a comparison of the
                # two might not in Spark, see `Operations.decimal`).
                o.gt(o.sub(metered.copy(), o.floor(metered.copy())), o.integer(0)),
            )
            count_whens.append((fractional, o.integer(problem("fractional count"))))
        account = o.col("account")
        action = o.col("action")
        # A row's first problem, in this order: its account, its time, its action, its count.
        # One CASE, not a COALESCE of one per column: each row is tested once, in order, and a
        # good row goes through every test (the cheapest form of the metering's commonest case).
        row_problem = o.case(
            [
                (
                    o.any_of(o.is_null(account.copy()), o.eq(account.copy(), o.text(""))),
                    o.integer(problem("missing account")),
                ),
                (o.not_null(o.col("time_problem")), o.col("time_problem")),
                *(
                    [(o.not_null(o.col("req_problem")), o.col("req_problem"))]
                    if plan.requests
                    else []
                ),
                (o.is_null(action.copy()), o.integer(problem("missing action"))),
                (o.is_null(route.copy()), o.integer(problem("unknown action"))),
                (
                    o.eq(route.copy(), o.integer(ROUTE_UNPRICED)),
                    o.integer(problem("unpriced action")),
                ),
                *count_whens,
            ]
        )
        rounded = [
            (i, p.quantity_rounding)
            for i, p in enumerate(self.book.meters)
            if p.quantity_rounding is not None
        ]
        qty_of = (
            o.case(
                [
                    (
                        o.eq(route.copy(), o.integer(i)),
                        o.round_to(metered.copy(), _exponent(r.increment), r.mode, qs),
                    )
                    for i, r in rounded
                ],
                o.cast(metered.copy(), decimal_type(qs)),
            )
            if rounded
            else o.cast(metered.copy(), decimal_type(qs))
            if scales or minimums
            # Whole counts of whole meters are added up as they are and cast once, after: DuckDB
            # adds integers up to 38 digits (HUGEINT), but a UHUGEINT into a DOUBLE, and Spark
            # BIGINTs into a BIGINT, which a month of counts may pass: those add DECIMAL(38, 0)s.
            else self._summable(o.col("value"), plan)
            if plan.count_kind == INTEGER
            else o.cast(o.col("value"), decimal_type(qs))
        )
        # Only a good count is made a quantity: a count over the limit could overflow its cast
        # or rounding (CASE evaluates a branch only for the rows that take it).
        quantity_wanted: exp.Expression = o.ge(route.copy(), o.integer(0))
        if not bounded:
            quantity_wanted = o.all_of(quantity_wanted, o.not_(too_large[0][0].copy()))
        keep = ["instant", "ord", "late", "time_problem", "action", "_file", "_row", *placed]
        if plan.requests:
            keep.append("req_problem")
        # A request's parts got their minimum before their rounding (requests.py).
        part = [("part", o.not_null(o.col("part_meter")))] if plan.requests and minimums else []
        route_of = self.route(o.col("action"))
        if plan.requests:  # a request's part names its meter; a usage row's action routes
            route_of = (
                o.case([(o.not_null(o.col("part_meter")), o.col("part_meter"))], route_of)
                if self.book.routes or self.book.unpriced
                else o.col("part_meter")
            )
        stage = o.select(
            *[o.col(c) for c in keep],
            ("account", self.key_text("account", plan.account_kind)),
            *([("id", self.key_text("id", plan.id_kind))] if plan.id_kind else []),
            ("route", route_of),
            ("count", count.copy()),
            ("value", value),
            *part,
        ).from_(o.subquery(rows, "r"), copy=False)
        checked = o.select(
            *[o.col(c) for c in ("account", "instant", "ord", "late", "_file", "_row", *placed)],
            *([o.col("id")] if plan.id_kind else []),
            *[o.col(name) for name, _ in part],
            ("route", route.copy()),
            ("problem", row_problem),
            ("qty", o.case([(quantity_wanted, qty_of)])),
        ).from_(o.subquery(stage, "s"), copy=False)
        if plan.id_kind is None:
            dup: exp.Expression = o.false()
        else:
            dup = o.case(
                [
                    (
                        o.all_of(
                            o.is_null(o.col("problem")),
                            o.not_null(o.col("id")),
                            o.ne(o.col("id"), o.text("")),
                        ),
                        o.gt(
                            self._entry_number(plan),
                            o.integer(1),
                        ),
                    )
                ],
                o.false(),
            )
        return o.select(
            *[
                o.col(c)
                for c in (
                    "account",
                    "instant",
                    "ord",
                    "late",
                    "route",
                    "problem",
                )
            ],
            ("qty", self._at_least(o.col("qty"), minimums, bool(part))) if minimums
            else o.col("qty"),
            o.col("_file"),
            o.col("_row"),
            *[o.col(c) for c in placed],
            ("dup", dup),
        ).from_(o.subquery(checked, "c"), copy=False)

    def _summable(self, value: exp.Expression, plan: UsagePlan) -> exp.Expression:
        """A whole count as it is added up: as it is where the engine adds its type exactly
        (DuckDB adds integers up to 38 digits as HUGEINT), else as a DECIMAL(38, 0) (DuckDB
        adds a UHUGEINT into a DOUBLE, and Spark BIGINTs into a BIGINT, which a month of counts
        may pass)."""
        if (self.ops.dialect == DUCKDB and plan.count_largest is not None
                and plan.count_largest < 2**127):
            return value
        return self.ops.cast(value, decimal_type(0))

    def count_scales(self) -> dict[Decimal, list[str]]:
        """The actions counted in their meter's display unit (`counts A in hours`), by the
        unit's size (how many metered units one is)."""
        scales: dict[Decimal, list[str]] = {}
        for plan in self.book.meters:
            for action, size in plan.count_scales:
                scales.setdefault(size, []).append(action)
        return scales

    def _scaled_test(self, actions: Sequence[str]) -> exp.Expression:
        o = self.ops
        return o.in_(o.col("action"), [o.text(a) for a in sorted(actions)])

    def _scaled_bound(self, size: Decimal, count_kind: str) -> exp.Expression:
        """The largest count in a display unit of `size` whose metered units are within the
        count limit: limit / size, cut to the counts' decimals (a count on that grid passes
        the cut bound exactly when its metered units pass the limit)."""
        o = self.ops
        with decimal.localcontext(CONTEXT):
            bound = Decimal(self.count_limit) / size
        if count_kind == INTEGER:
            return o.integer(int(bound.to_integral_value(decimal.ROUND_FLOOR)))
        cut = bound.quantize(Decimal(1).scaleb(-INPUT_SCALE), decimal.ROUND_FLOOR, CONTEXT)
        return o.decimal(cut, INPUT_SCALE, MAX_PRECISION)

    def _scaled(
        self, value: exp.Expression, scales: Mapping[Decimal, Sequence[str]]
    ) -> exp.Expression:
        """A row's count in metered units: a count in a display unit times the unit's size,
        exactly (DECIMAL), the others as they are; only for counts within the limit (the
        product of a count over it could overflow its type)."""
        if not scales:
            return value
        o = self.ops
        most = max(scale_of(size) for size in scales)
        out = decimal_type(INPUT_SCALE + most)
        whens = []
        for size, actions in scales.items():
            digits = len(str(int(size))) + scale_of(size)
            # (precision + the size's digits + 1 ≤ 38: Spark keeps every decimal of a product)
            factor = o.cast(value.copy(), decimal_type(INPUT_SCALE, MAX_PRECISION - digits - 1))
            whens.append((self._scaled_test(actions),
                          o.cast(o.mul(factor, o.decimal(size, scale_of(size))), out)))
        return o.case(whens, o.cast(value.copy(), out))

    def _at_least(
        self, qty: exp.Expression, minimums: Mapping[int, Decimal], parts: bool
    ) -> exp.Expression:
        """`quantity at least N per entry`: a usage row's quantity of more than 0 units and
        less than its meter's minimum is the minimum (each usage row is one entry). A request's
        parts (`parts`: the column `part` says which row is one) already have theirs."""
        if not minimums:
            return qty
        o = self.ops
        qs = self.quantity_scale
        whens = []
        for meter, least in sorted(minimums.items()):
            literal = o.decimal(least, qs, MAX_PRECISION)
            whens.append((
                o.all_of(
                    *([o.not_(o.col("part"))] if parts else []),
                    o.eq(o.col("route"), o.integer(meter)),
                    o.gt(qty.copy(), o.integer(0)),
                    o.lt(qty.copy(), literal),
                ),
                literal.copy(),
            ))
        return o.case(whens, qty)

    def _entry_number(self, plan: UsagePlan) -> exp.Expression:
        """A good row's place among its account's rows of the same id: a repeated id after the
        first is a duplicate. A request's parts are one entry (one file row): ranked densely."""
        o = self.ops
        number = o.row_number(
            [o.col("account"), o.col("id"), o.col("problem")],
            [o.col("instant"), o.col("_file"), o.col("_row")],
        )
        if plan.requests:
            number.set("this", exp.DenseRank())
        return number

    def usage_groups(self, plan: UsagePlan, proof: Proof | None = None) -> exp.Select | exp.Union:
        """Valid rows added up per account, month, segment and meter; invalid rows per problem.

        Columns: problem, meter, account, ord, seg (NULL: the account has no cuts for that
        meter), late, dup, qty, n, first, last.

        With a `proof` (`_Run._proof` makes one only for a plan that is `provable`), the
        accounts without cuts are added up by `proven_groups`, which checks no row; the
        accounts with cuts, a few, by the full query on their rows alone. Both give what the
        full query gives for their accounts.
        """
        if proof is None:
            return self._usage_groups(plan)
        o = self.ops
        plain = self.proven_groups(plan, proof)
        if not plan.has_cuts:
            return plain
        held_accounts = o.select(o.col("account")).from_(o.table("cuts"), copy=False)
        # (their key as the groups have it: `key_text`; the cuts' accounts are never NULL)
        held_rows = (
            o.select(exp.Star())
            .from_(o.table("usage_src"), copy=False)
            .where(o.in_query(self.key_text("account", plan.account_kind), held_accounts),
                   copy=False)
        )
        held = self._usage_groups(plan, o.subquery(held_rows, "usage_src"))
        # (NOT EXISTS: an anti-join, a little cheaper than NOT IN's null-aware one)
        held_account = (
            o.select(o.integer(1))
            .from_(o.table("cuts", "c"), copy=False)
            .where(o.eq(o.col("account", "c"), o.col("account", "p")), copy=False)
        )
        plain_only = (
            o.select(exp.Star())
            .from_(o.subquery(plain, "p"), copy=False)
            .where(o.not_(exp.Exists(this=held_account)), copy=False)
        )
        return o.union_all([held, plain_only])

    def provable(self, plan: UsagePlan) -> bool:
        """Whether `proven_groups` may meter this plan's usage, given a `Proof`: a usage table
        (not requests) whose instants and whole counts are summed as they are (no count in a
        display unit, no minimum, no rounding of quantities), without ids, without late issues,
        and whose groups need no first and last instants beyond those with cuts."""
        return (
            not plan.requests
            and not plan.timed
            and plan.time_kind == INSTANT
            and plan.count_kind == INTEGER
            and plan.id_kind is None
            and not plan.late
            and (not plan.spans or plan.spans_of_cut_only)
            and not self.count_scales()
            and not any(p.entry_minimum is not None or p.quantity_rounding is not None
                        for p in self.book.meters)
        )

    def proven_groups(self, plan: UsagePlan, proof: Proof) -> exp.Select:
        """`usage_groups` of rows proven good but for their action (`Proof`): added up per
        account, month and route with no row checked, the route's problem (an unknown or
        unpriced action) told from the group. The month: the proof's only one (the time column
        is not read), else a `CASE` on the instant over the proof's months (no calendar
        join)."""
        o = self.ops
        months = proof.months
        ordinal: exp.Expression = o.integer(months[-1][0])
        if len(months) > 1:
            micros = o.timestamp_micros(o.col("time"), True)
            ordinal = o.case(
                [(o.lt(micros.copy(), o.integer(end)), o.integer(month))
                 for month, end in months[:-1]],
                ordinal,
            )
        # One month: not a grouping key (a constant key costs as any key does).
        one = len(months) == 1
        rows = o.select(
            ("account", self.key_text("account", plan.account_kind)),
            *([] if one else [("ord", ordinal)]),
            ("route", self.listed_route(o.col("action"))),
            ("value", self._summable(o.col("count"), plan)),
        ).from_(o.table(proof.source), copy=False)
        keys = [o.col("account"), *([] if one else [o.col("ord")]), o.col("route")]
        grouped = (
            o.select(*keys, *([("ord", ordinal)] if one else []),
                     ("total", o.sum(o.col("value"))), ("n", o.count()))
            .from_(o.subquery(rows, "r"), copy=False)
            .group_by(*[k.copy() for k in keys], copy=False)
        )
        route = o.col("route")
        bad = o.case(
            [
                (o.is_null(route.copy()), o.integer(problem("unknown action"))),
                (o.eq(route.copy(), o.integer(ROUTE_UNPRICED)),
                 o.integer(problem("unpriced action"))),
            ]
        )
        null = o.cast(o.null(), BIGINT)
        return o.select(
            ("problem", bad),
            ("meter", o.case([(o.is_null(bad.copy()), route.copy())])),
            o.col("account"),
            ("ord", o.cast(o.col("ord"), BIGINT)),
            ("seg", null.copy()),
            ("late", o.false()),
            ("dup", o.false()),
            ("qty", o.case([(o.ge(route.copy(), o.integer(0)),
                             o.cast(o.col("total"), decimal_type(self.quantity_scale)))])),
            o.col("n"),
            ("first", null.copy()),
            ("last", null.copy()),
        ).from_(o.subquery(grouped, "k"), copy=False)

    def _usage_groups(self, plan: UsagePlan, rows: exp.Expression | None = None) -> exp.Select:
        """`usage_groups`, every row checked: of `usage_src`, or of `rows` (a subquery of
        it)."""
        o = self.ops
        source: exp.Expression = o.subquery(self.parsed_usage(plan, rows), "u")
        select_from = o.select(
            *[
                o.col(c, "u")
                for c in ("account", "instant", "ord", "late", "route", "problem", "qty", "dup")
            ],
            ("seg", o.col("seg", "c") if plan.has_cuts else o.cast(o.null(), BIGINT)),
        ).from_(source, copy=False)
        if plan.has_cuts and plan.cut_columns:
            # One row per account and meter: a row's segment is the number of cuts at or before
            # it.
            count = plan.cut_columns
            seg = o.case(
                [(o.is_null(o.col("account", "c")), o.cast(o.null(), BIGINT))]
                + [
                    (o.ge(o.col("instant", "u"), o.col(f"c{k}", "c")), o.integer(k))
                    for k in range(count, 0, -1)
                ],
                o.integer(0),
            )
            select_from = o.select(
                *[
                    o.col(c, "u")
                    for c in ("account", "instant", "ord", "late", "route", "problem", "qty", "dup")
                ],
                ("seg", seg),
            ).from_(source.copy(), copy=False)
            select_from = select_from.join(
                o.table("cuts", "c"),
                on=o.all_of(
                    o.eq(o.col("account", "c"), o.col("account", "u")),
                    o.eq(o.col("meter", "c"), o.col("route", "u")),
                ),
                join_type="left",
                copy=False,
            )
        elif plan.has_cuts:
            select_from = select_from.join(
                o.table("cuts", "c"),
                on=o.all_of(
                    o.eq(o.col("account", "c"), o.col("account", "u")),
                    o.eq(o.col("meter", "c"), o.col("route", "u")),
                    o.ge(o.col("instant", "u"), o.col("lo", "c")),
                    o.lt(o.col("instant", "u"), o.col("hi", "c")),
                ),
                join_type="left",
                copy=False,
            )
        # Keys an input cannot vary are constants, not grouped by: grouping is the costliest
        # step of the run. Bad rows are grouped too (per problem and account): few, and only
        # counted.
        # A bad row's problem and a good row's meter share one key: each grouping key costs.
        code = o.case(
            [(o.is_null(o.col("problem")), o.col("route"))],
            o.sub(o.integer(_PROBLEM_BASE), o.col("problem")),
        )
        keys: list[tuple[str, exp.Expression]] = [
            ("account", o.col("account")),
            ("ord", o.col("ord")),
            ("code", code),
        ]
        constants: list[tuple[str, exp.Expression]] = []
        if plan.has_cuts:
            keys.append(("seg", o.col("seg")))
        else:
            constants.append(("seg", o.cast(o.null(), BIGINT)))
        if plan.late:
            keys.append(("late", o.case([(o.not_null(o.col("seg")), o.col("late"))], o.false())))
        else:
            constants.append(("late", o.false()))
        if plan.id_kind is not None:
            keys.append(("dup", o.col("dup")))
        else:
            constants.append(("dup", o.false()))
        instant: exp.Expression = o.col("instant")
        if plan.spans_of_cut_only:
            # An instant per row for the few groups that need it, NULL (skipped by MIN and
            # MAX, cheaply) for the rest.
            instant = o.case([(o.not_null(o.col("seg")), instant)])
        spans: list[tuple[str, exp.Expression]] = (
            [("first", o.min(instant)), ("last", o.max(instant.copy()))]
            if plan.spans
            else [("first", o.cast(o.null(), BIGINT)), ("last", o.cast(o.null(), BIGINT))]
        )
        grouped = (
            o.select(
                *keys,
                *constants,
                ("qty", o.cast(o.sum(o.col("qty")), decimal_type(self.quantity_scale))),
                ("n", o.count()),
                *spans,
            )
            .from_(o.subquery(select_from, "g"), copy=False)
            .group_by(*[value.copy() for _, value in keys], copy=False)
        )
        names = [name for name, _ in keys + constants] + ["qty", "n", "first", "last"]
        names.remove("code")
        valid = o.gt(o.col("code"), o.integer(_PROBLEM_BASE))
        return o.select(
            (
                "problem",
                o.case([(valid, o.null())], o.sub(o.integer(_PROBLEM_BASE), o.col("code"))),
            ),
            ("meter", o.case([(valid.copy(), o.col("code"))])),
            *[o.col(name) for name in names],
        ).from_(o.subquery(grouped, "k"), copy=False)

    def openings(self, plan: UsagePlan) -> exp.Select:
        """Each account's first and last valid usage instants (`first`, `last`; repeated and
        free rows count: they are entries of its journal), and whether a row's time is beyond
        the calendar table (`beyond`: 1, the table is then built in full and this asked
        again)."""
        o = self.ops
        valid = o.is_null(o.col("problem"))
        beyond = o.eq(o.col("problem"), o.integer(BEYOND_CALENDAR))
        return (
            o.select(
                o.col("account"),
                ("first", o.min(o.case([(valid, o.col("instant"))]))),
                ("last", o.max(o.case([(valid.copy(), o.col("instant"))]))),
                ("beyond", o.max(o.case([(beyond, o.integer(1))], o.integer(0)))),
            )
            .from_(o.subquery(self.parsed_usage(plan), "u"), copy=False)
            .group_by(o.col("account"), copy=False)
        )

    def problem_samples(self, plan: UsagePlan, limit: int) -> exp.Select:
        """The first rows (in file order) of each problem, as they were read, with the problem;
        run only when there are bad rows."""
        o = self.ops
        ranked = (
            o.select(
                o.col("_file"),
                o.col("_row"),
                o.col("problem"),
                ("place", o.row_number([o.col("problem")], [o.col("_file"), o.col("_row")])),
            )
            .from_(o.subquery(self.parsed_usage(plan), "u"), copy=False)
            .where(o.not_null(o.col("problem")), copy=False)
        )
        keys = (
            o.select(o.col("_file"), o.col("_row"), o.col("problem"))
            .from_(o.subquery(ranked, "r"), copy=False)
            .where(o.le(o.col("place"), o.integer(limit)), copy=False)
        )
        typed = plan.time_kind in (INSTANT, WALL)
        return (
            o.select(
                exp.Column(this=exp.Star(), table=exp.to_identifier("s")),
                ("_problem", o.col("problem", "k")),
                # A timestamp as the engine writes it: Python's datetime holds years 1 to 9999.
                *([("_time_text", o.cast(o.col("time", "s"), TEXT))] if typed else []),
            )
            .from_(o.table("usage_src", "s"), copy=False)
            .join(
                o.subquery(keys, "k"),
                on=o.all_of(
                    o.eq(o.col("_file", "k"), o.col("_file", "s")),
                    o.eq(o.col("_row", "k"), o.col("_row", "s")),
                ),
                copy=False,
            )
            .order_by(o.col("problem", "k"), o.col("_file", "s"), o.col("_row", "s"), copy=False)
        )

    def detail(self, plan: UsagePlan, meters: Sequence[int]) -> exp.Select:
        """The valid, first-seen rows of some meters in the account months of `detail_keys`
        (account, ord), one by one in time then file order, a request row's parts in their
        order (`_part`: the order the engine draws them in): a shared allowance pool's units go
        to entries in that order."""
        o = self.ops
        rows = o.subquery(self.parsed_usage(plan), "u")
        query = (
            o.select(
                *[o.col(c, "u") for c in ("account", "ord", "instant", "route", "qty")],
            )
            .from_(rows, copy=False)
            .join(
                o.table("detail_keys", "k"),
                on=o.all_of(
                    o.eq(o.col("account", "k"), o.col("account", "u")),
                    o.eq(o.col("ord", "k"), o.col("ord", "u")),
                ),
                copy=False,
            )
            .where(
                o.all_of(
                    o.is_null(o.col("problem", "u")),
                    o.not_(o.col("dup", "u")),
                    o.in_(o.col("route", "u"), [o.integer(m) for m in meters]),
                ),
                copy=False,
            )
        )
        return query.order_by(
            o.col("account", "u"),
            o.col("instant", "u"),
            o.col("_file", "u"),
            o.col("_row", "u"),
            *([o.col("_part", "u")] if plan.requests else []),
            copy=False,
        )

    # --- plain accounts: drawn down by a join ---------------------------------------------------

    def plain(self) -> exp.Expression:
        o = self.ops
        return o.all_of(o.is_null(o.col("problem")), o.is_null(o.col("seg")))

    def fresh_allowance(self, version: int, meter: int) -> Decimal:
        """What `deduct` draws a plain month's units of a meter from before postpaid: the
        fresh allowance of its pool in the version's sheet, or 0 when the rules do not deduct
        from the allowance."""
        if ALLOWANCE not in self.book.deduct_order:
            return Decimal(0)
        book = self.versions[version]
        return book._new_allowances()[book.meters[meter].pool]

    @property
    def python_drawn(self) -> list[int]:
        """The meters whose plain months Python draws with `deduct` (`plain_draws`, joined as
        `draws`). A plain month meets a fresh allowance and no lots, and `deduct` then draws
        `min(quantity, allowance)` from the allowance and the rest postpaid: DuckDB computes
        that itself (exact DECIMAL arithmetic; no distinct quantities sent to Python). On
        Spark, whose DECIMAL(38, s) subtraction may drop a digit of scale, only the meters
        without an allowance (all postpaid, no arithmetic) are left to the database."""
        if self.ops.dialect == DUCKDB:
            return []
        return [
            index
            for index in range(len(self.book.meters))
            if any(self.fresh_allowance(v, index) != 0 for v in range(len(self.versions)))
        ]

    def plain_quantities(self) -> exp.Select:
        """The distinct (meter, quantity) of plain account months of the meters Python draws
        (`python_drawn`): the inputs `deduct` needs."""
        o = self.ops
        versions = [("ver", self.version_of(o.col("ord")))] if self.versioned else []
        drawn = self.python_drawn
        which = (
            o.ge(o.col("meter"), o.integer(0))
            if len(drawn) == len(self.book.meters)
            else o.in_(o.col("meter"), [o.integer(i) for i in drawn])
            if drawn
            else o.false()
        )
        tests = [self.plain(), which, o.not_(o.col("dup"))]
        query = (
            o.select(*versions, o.col("meter"), o.col("qty"))
            .from_(o.table("usage_groups"), copy=False)
            .where(o.all_of(*tests), copy=False)
        )
        return query.distinct(copy=False)

    def plain_period(self) -> exp.Select | exp.Union:
        """Plain account months per meter: total, allowance and postpaid units (and, with
        versions, the month's version). The meters Python draws join their draws; the others'
        allowance units are `min(quantity, fresh allowance)`, the rest postpaid (see
        `python_drawn`)."""
        o = self.ops
        drawn = self.python_drawn
        others = [i for i in range(len(self.book.meters)) if i not in drawn]
        if not others:
            return self._drawn_period()
        qty = o.col("qty", "g")
        version = self.version_of(o.col("ord", "g"))
        whens: list[tuple[exp.Expression, exp.Expression]] = []
        for meter in others:
            for ver in range(len(self.versions)):
                fresh = self.fresh_allowance(ver, meter)
                if fresh == 0:
                    continue
                test: exp.Expression = o.eq(o.col("meter", "g"), o.integer(meter))
                if self.versioned:
                    test = o.all_of(test, o.eq(version.copy(), o.integer(ver)))
                most = o.decimal(fresh, self.quantity_scale)
                whens.append((test, o.case([(o.lt(qty.copy(), most.copy()), qty.copy())], most)))
        quantity = decimal_type(self.quantity_scale)
        allowance: exp.Expression = o.cast(o.integer(0), quantity)
        postpaid: exp.Expression = qty.copy()
        if whens:
            allowance = o.cast(o.case(whens, o.integer(0)), quantity)
            postpaid = o.cast(o.sub(qty.copy(), allowance.copy()), quantity)
        closed = (
            o.select(
                o.col("account", "g"),
                o.col("ord", "g"),
                o.col("meter", "g"),
                ("total", qty),
                ("allowance", allowance),
                ("postpaid", postpaid),
                *([("ver", version.copy())] if self.versioned else []),
            )
            .from_(o.table("usage_groups", "g"), copy=False)
            .where(
                o.all_of(
                    o.is_null(o.col("problem", "g")),
                    o.is_null(o.col("seg", "g")),
                    o.ge(o.col("meter", "g"), o.integer(0)),
                    *(
                        [o.not_(o.in_(o.col("meter", "g"), [o.integer(i) for i in drawn]))]
                        if drawn
                        else []
                    ),
                    o.not_(o.col("dup", "g")),
                ),
                copy=False,
            )
        )
        if not drawn:
            return closed
        return o.union_all([self._drawn_period(), closed])

    def _drawn_period(self) -> exp.Select:
        """`plain_period` of the meters drawn in Python: the usage groups joined with `draws`."""
        o = self.ops
        version = self.version_of(o.col("ord", "g"))
        return (
            o.select(
                o.col("account", "g"),
                o.col("ord", "g"),
                o.col("meter", "g"),
                ("total", o.col("qty", "g")),
                o.col("allowance", "d"),
                o.col("postpaid", "d"),
                *([("ver", version)] if self.versioned else []),
            )
            .from_(o.table("usage_groups", "g"), copy=False)
            .join(
                o.table("draws", "d"),
                on=o.all_of(
                    o.eq(o.col("meter", "d"), o.col("meter", "g")),
                    o.eq(o.col("qty", "d"), o.col("qty", "g")),
                    *([o.eq(o.col("ver", "d"), version.copy())] if self.versioned else []),
                ),
                copy=False,
            )
            .where(
                o.all_of(
                    o.is_null(o.col("problem", "g")),
                    o.is_null(o.col("seg", "g")),
                    o.ge(o.col("meter", "g"), o.integer(0)),
                    o.not_(o.col("dup", "g")),
                ),
                copy=False,
            )
        )

    def plain_ranges(self, held: bool) -> exp.Select:
        """Each account's first and last month of plain rows (any valid row not cut into
        segments, free and repeated too), and whether the account has purchases or events
        (`held`; the table `history_accounts` lists those accounts): the months of such an
        account are listed by the drawdown, which takes these bounds into account."""
        o = self.ops
        ranges = (
            o.select(
                o.col("account"),
                ("first", o.min(o.col("ord"))),
                ("last", o.max(o.col("ord"))),
            )
            .from_(o.table("usage_groups"), copy=False)
            .where(o.all_of(o.is_null(o.col("problem")), o.is_null(o.col("seg"))), copy=False)
            .group_by(o.col("account"), copy=False)
        )
        if not held:
            return o.select(
                o.col("account"), o.col("first"), o.col("last"), ("held", o.false())
            ).from_(o.subquery(ranges, "g"), copy=False)
        # Grouped first, then joined: one row per account meets the (few) held accounts,
        # rather than every group.
        return o.select(
            o.col("account", "g"),
            o.col("first", "g"),
            o.col("last", "g"),
            ("held", o.not_null(o.col("account", "h"))),
        ).from_(o.subquery(ranges, "g"), copy=False).join(
            o.table("history_accounts", "h"),
            on=o.eq(o.col("account", "h"), o.col("account", "g")),
            join_type="left",
            copy=False,
        )

    def held_ranges(self) -> exp.Select:
        """The plain rows' first and last month of accounts with purchases or events."""
        o = self.ops
        return (
            o.select(o.col("account"), o.col("first"), o.col("last"))
            .from_(o.table("plain_ranges"), copy=False)
            .where(o.col("held"), copy=False)
        )

    def eventful_groups(self, everyone: bool) -> exp.Select:
        """The groups of accounts with cuts (or of all accounts, `everyone`), in time order per
        account."""
        o = self.ops
        valid = o.is_null(o.col("problem"))
        return (
            o.select(
                *[
                    o.col(c)
                    for c in (
                        "account",
                        "ord",
                        "seg",
                        "late",
                        "meter",
                        "dup",
                        "qty",
                        "first",
                        "last",
                    )
                ],
            )
            .from_(o.table("usage_groups"), copy=False)
            .where(valid if everyone else o.all_of(valid, o.not_null(o.col("seg"))), copy=False)
            .order_by(o.col("account"), o.col("first"), o.col("meter"), o.col("dup"), copy=False)
        )

    def detail_keys(self, shared: Mapping[str, Sequence[int]], book: PriceBook) -> exp.Select:
        """Account months in which two or more meters of a shared allowance pool use more units
        than the pool holds: there, who gets its last units depends on the order of entries."""
        o = self.ops
        pools = sorted(shared)
        # The smallest pool of any sheet: months detailed by it are drawn exactly whatever
        # sheet bills them (detailing more months than needed changes nothing but time).
        fresh = book._new_allowances()
        for sheet in self.books:
            for pool, amount in sheet._new_allowances().items():
                if pool in fresh:
                    fresh[pool] = min(fresh[pool], amount)
        pool_of = o.case(
            [
                (o.in_(o.col("meter"), [o.integer(m) for m in shared[pool]]), o.integer(index))
                for index, pool in enumerate(pools)
            ]
        )
        rows = (
            o.select(
                o.col("account"), o.col("ord"), o.col("meter"), o.col("qty"), ("pool", pool_of)
            )
            .from_(o.table("usage_groups"), copy=False)
            .where(
                o.all_of(
                    o.is_null(o.col("problem")),
                    o.not_(o.col("dup")),
                    o.ge(o.col("meter"), o.integer(0)),
                ),
                copy=False,
            )
        )
        per_pool = (
            o.select(
                o.col("account"),
                o.col("ord"),
                o.col("pool"),
                ("used", o.sum(o.col("qty"))),
                ("meters", exp.Count(this=exp.Distinct(expressions=[o.col("meter")]))),
            )
            .from_(o.subquery(rows, "r"), copy=False)
            .where(o.not_null(o.col("pool")), copy=False)
            .group_by(o.col("account"), o.col("ord"), o.col("pool"), copy=False)
        )
        size = o.case(
            [
                (o.eq(o.col("pool"), o.integer(index)), o.decimal(fresh[pool], self.quantity_scale))
                for index, pool in enumerate(pools)
            ]
        )
        return (
            o.select(o.col("account"), o.col("ord"))
            .from_(o.subquery(per_pool, "p"), copy=False)
            .where(
                o.all_of(o.ge(o.col("meters"), o.integer(2)), o.gt(o.col("used"), size)), copy=False
            )
            .distinct(copy=False)
        )

    def plain_multi_month(self) -> exp.Select:
        """Plain accounts whose rows span more than one month (their months are listed)."""
        o = self.ops
        return (
            o.select(o.col("account"), o.col("first"), o.col("last"))
            .from_(o.table("plain_ranges"), copy=False)
            .where(o.all_of(o.lt(o.col("first"), o.col("last")), o.not_(o.col("held"))), copy=False)
        )

    def problem_counts(self) -> exp.Select:
        o = self.ops
        return (
            o.select(o.col("problem"), ("n", o.sum(o.col("n"))))
            .from_(o.table("usage_groups"), copy=False)
            .where(o.not_null(o.col("problem")), copy=False)
            .group_by(o.col("problem"), copy=False)
            .order_by(o.col("problem"), copy=False)
        )

    # --- pricing --------------------------------------------------------------------------------

    def brackets(self, ladders: Sequence[PricedLadder], price_scale: int) -> exp.Values:
        """The SQL-priced ladders' brackets, one row per meter and bracket (and version, when
        the rules have versions): `unit` is the price of one unit (what the arithmetic reads);
        a price per N units is also kept as the rules write it (`shown`, `per`), which is what
        its lines show."""
        o = self.ops
        qs = self.quantity_scale
        flat_scale = max(
            [scale_of(b.flat) for item in ladders for b in item[1].brackets] + [0]
        )
        rows = []
        for item in ladders:
            meter, ladder = item[0], item[1]
            version = [o.integer(item[2] if len(item) > 2 else 0)] if self.versioned else []
            basis = {BASIS_TOTAL: 1, BASIS_AFTER_ALLOWANCE: 2}.get(ladder.basis, 0)
            for index, bracket in enumerate(ladder.brackets):
                rows.append(
                    [
                        *version,
                        o.integer(meter),
                        o.integer(index),
                        o.integer(_mode_code(ladder)),
                        o.integer(basis),
                        o.decimal(bracket.lo, qs, MAX_PRECISION),
                        o.cast(o.null(), decimal_type(qs))
                        if bracket.hi is None
                        else o.decimal(bracket.hi, qs, MAX_PRECISION),
                        o.cast(o.null(), decimal_type(price_scale))
                        if bracket.price is None
                        else o.decimal(bracket.unit_price, price_scale, MAX_PRECISION),
                        o.decimal(bracket.flat, flat_scale, MAX_PRECISION),
                        o.text(bracket.label),
                        o.true() if bracket.price is None else o.false(),
                        o.cast(o.null(), TEXT)
                        if bracket.shown_per is None
                        else o.text(format(bracket.shown_price, "f")),
                        o.cast(o.null(), TEXT)
                        if bracket.shown_per is None
                        else o.text(format(bracket.shown_per, "f")),
                    ]
                )
        return o.values(
            rows,
            "b",
            [*(["ver"] if self.versioned else []),
             "meter", "idx", "mode", "basis", "lo", "hi", "unit", "flat", "label", "contact",
             "shown", "per"],
        )

    def beyond_limits(
        self, limits: Mapping[LimitKey, Decimal], table: str | None = None
    ) -> exp.Expression:
        """Whether a `period` row's postpaid units pass its meter's limit (`limits`: meter, or
        (meter, version), → the most units the SQL prices exactly)."""
        o = self.ops
        qs = self.quantity_scale
        conditions = []
        for key, most in sorted(limits.items(), key=lambda item: _key_order(item[0])):
            meter, version = (key, None) if isinstance(key, int) else key
            conditions.append(
                o.all_of(
                    o.eq(o.col("meter", table), o.integer(meter)),
                    *(
                        [o.eq(o.col("ver", table), o.integer(version))]
                        if version is not None
                        else []
                    ),
                    o.gt(o.col("postpaid", table), o.decimal(most, qs, MAX_PRECISION)),
                )
            )
        return o.any_of(*conditions)

    def too_large(self, limits: Mapping[LimitKey, Decimal]) -> exp.Select:
        """Months whose postpaid units cost more than the SQL adds up exactly."""
        o = self.ops
        version = [o.col("ver")] if self.versioned else []
        return (
            o.select(o.col("account"), o.col("ord"), o.col("meter"), o.col("postpaid"), *version)
            .from_(o.table("period"), copy=False)
            .where(self.beyond_limits(limits), copy=False)
            .order_by(o.col("account"), o.col("ord"), o.col("meter"), copy=False)
        )

    def postpaid_lines(
        self,
        ladders: Sequence[PricedLadder],
        price_scale: int,
        amount_scale: int,
        limits: Mapping[LimitKey, Decimal] | None = None,
    ) -> exp.Select:
        """Postpaid lines of the `period` table's months for the SQL-priced meters: the bracket
        (volume) or brackets (graduated) each quantity reaches, priced and rounded.

        Columns: account, ord, meter, seq (the bracket), quantity, unit_price (of one unit),
        precise_amount, amount, bracket, contact (the bracket has no price: the month cannot be
        billed), shown and per (a price per N units as written, else NULL).
        """
        o = self.ops
        rounding = self.book.rounding
        meters = [o.integer(m) for m in sorted({item[0] for item in ladders})]
        if not self.versioned:
            meters = [o.integer(item[0]) for item in ladders]
        basis = o.case(
            [
                (o.eq(o.col("basis", "b"), o.integer(1)), o.col("total", "p")),
                (
                    o.eq(o.col("basis", "b"), o.integer(2)),
                    o.sub(o.col("total", "p"), o.col("allowance", "p")),
                ),
            ],
            o.col("postpaid", "p"),
        )
        joined = (
            o.select(
                *[o.col(c, "p") for c in ("account", "ord", "meter", "postpaid")],
                *[
                    o.col(c, "b")
                    for c in ("idx", "mode", "lo", "hi", "unit", "flat", "label", "contact",
                              "shown", "per")
                ],
                ("basis_qty", basis),
            )
            .from_(o.table("period", "p"), copy=False)
            .join(
                o.subquery(o.select(exp.Star()).from_(self.brackets(ladders, price_scale)), "b"),
                on=o.all_of(
                    o.eq(o.col("meter", "b"), o.col("meter", "p")),
                    *([o.eq(o.col("ver", "b"), o.col("ver", "p"))] if self.versioned else []),
                ),
                copy=False,
            )
            .where(
                o.all_of(
                    o.gt(o.col("postpaid", "p"), o.integer(0)),
                    o.in_(o.col("meter", "p"), meters),
                    # Months beyond the limits are reported (`too_large`), never priced.
                    *([o.not_(self.beyond_limits(limits, "p"))] if limits else []),
                ),
                copy=False,
            )
        )
        # Mode 0: volume, (lo, hi]; 1: graduated (either form: its units fill the same length
        # of each bracket); 2: volume, [lo, hi) (a basis equal to hi is in the next bracket),
        # whose terms are written only when a ladder has such brackets.
        reached: exp.Expression = o.all_of(
            o.lt(o.col("lo"), o.col("basis_qty")),
            o.any_of(
                o.all_of(
                    o.eq(o.col("mode"), o.integer(0)),
                    o.any_of(o.is_null(o.col("hi")), o.le(o.col("basis_qty"), o.col("hi"))),
                ),
                o.all_of(
                    o.eq(o.col("mode"), o.integer(1)),
                    o.any_of(
                        o.is_null(o.col("hi")),
                        o.gt(o.col("hi"), o.sub(o.col("basis_qty"), o.col("postpaid"))),
                    ),
                ),
            ),
        )
        volume: exp.Expression = o.eq(o.col("mode"), o.integer(0))
        if any(_mode_code(item[1]) == 2 for item in ladders):
            reached = o.any_of(reached, o.all_of(
                o.eq(o.col("mode"), o.integer(2)),
                o.le(o.col("lo"), o.col("basis_qty")),
                o.any_of(o.is_null(o.col("hi")), o.lt(o.col("basis_qty"), o.col("hi"))),
            ))
            volume = o.ne(o.col("mode"), o.integer(1))
        quantity = o.case(
            [(volume, o.col("postpaid"))],
            o.sub(
                o.least(o.coalesce(o.col("hi"), o.col("basis_qty")), o.col("basis_qty")),
                o.greatest(o.col("lo"), o.sub(o.col("basis_qty"), o.col("postpaid"))),
            ),
        )
        in_bracket = (
            o.select(
                *[
                    o.col(c)
                    for c in ("account", "ord", "meter", "unit", "flat", "label", "contact",
                              "shown", "per")
                ],
                ("seq", o.col("idx")),
                ("quantity", o.cast(quantity, decimal_type(self.quantity_scale))),
            )
            .from_(o.subquery(joined, "j"), copy=False)
            .where(reached, copy=False)
        )
        precise = o.cast(
            o.add(o.mul(o.col("quantity"), o.coalesce(o.col("unit"), o.integer(0))), o.col("flat")),
            decimal_type(amount_scale),
        )
        priced = o.select(
            *[o.col(c) for c in ("account", "ord", "meter", "seq", "quantity", "contact",
                                 "shown", "per")],
            ("unit_price", o.coalesce(o.col("unit"), o.decimal(Decimal(0), price_scale))),
            ("precise_amount", precise),
            ("bracket", o.col("label")),
        ).from_(o.subquery(in_bracket, "q"), copy=False)
        places = _exponent(rounding.increment)
        # `on total` and `exact` keep each line's precise amount (the bill rounds its total).
        amount: exp.Expression = (
            o.round_to(o.col("precise_amount"), places, rounding.mode, max(0, -places))
            if rounding.per_line
            else o.col("precise_amount")
        )
        # `amount rounded MODE to INCREMENT`: that meter's lines are rounded so, whatever the
        # sheet's rounding (the engine's `LadderGroup.roundings`).
        own = {index: plan.amount_rounding for index, plan in enumerate(self.book.meters)
               if plan.amount_rounding is not None}
        if own:
            # Every branch of one type (engines unify two DECIMALs' types losing decimals).
            scale = max([max(0, -places) if rounding.per_line else amount_scale]
                        + [max(0, -_exponent(r.increment)) for r in own.values()])
            amount = o.case(
                [(o.eq(o.col("meter"), o.integer(index)),
                  o.round_to(o.col("precise_amount"), _exponent(r.increment), r.mode, scale))
                 for index, r in sorted(own.items())],
                o.cast(amount, decimal_type(scale)),
            )
        return o.select(
            *[
                o.col(c)
                for c in (
                    "account",
                    "ord",
                    "meter",
                    "seq",
                    "quantity",
                    "unit_price",
                    "precise_amount",
                )
            ],
            ("amount", amount),
            o.col("bracket"),
            o.col("contact"),
            o.col("shown"),
            o.col("per"),
        ).from_(o.subquery(priced, "a"), copy=False)

    def contact_sales(self) -> exp.Select:
        """Months whose postpaid units reach a bracket without a price: which meter, how many
        units, which bracket."""
        o = self.ops
        return (
            o.select(
                o.col("account"), o.col("ord"), o.col("meter"), o.col("quantity"), o.col("bracket")
            )
            .from_(o.table("postpaid_sql"), copy=False)
            .where(o.col("contact"), copy=False)
            .order_by(o.col("account"), o.col("ord"), o.col("meter"), copy=False)
        )

    def unpriced_postpaid(
        self, meters: Sequence[int], by_version: Sequence[tuple[int, int]] | None = None
    ) -> exp.Select:
        """Months with postpaid units of meters that have no ladder: the engine refuses them
        (`by_version`: (meter, version) pairs instead, for a sheet with versions)."""
        o = self.ops
        which: exp.Expression = o.in_(o.col("meter"), [o.integer(m) for m in meters])
        if by_version is not None:
            which = o.any_of(
                *[
                    o.all_of(
                        o.eq(o.col("meter"), o.integer(meter)),
                        o.eq(o.col("ver"), o.integer(version)),
                    )
                    for meter, version in by_version
                ]
            )
        return (
            o.select(o.col("account"), o.col("ord"), o.col("meter"), o.col("postpaid"))
            .from_(o.table("period"), copy=False)
            .where(o.all_of(o.gt(o.col("postpaid"), o.integer(0)), which), copy=False)
        )

    # --- lines and bills ------------------------------------------------------------------------

    def bill_lines(
        self,
        amount_scale: int,
        with_sql_lines: bool,
        with_plain: bool,
        numbered: bool = True,
        contracts: bool = False,
        with_meter: bool = False,
    ) -> exp.Select:
        """Every line of every bill, numbered in the engine's order: meter, then source
        (allowance, pack, postpaid, minimum or maximum), then the order they were made in.
        Without `numbered` (a run that writes no lines) only what the bills' totals read is
        kept: no numbering (a sort of every line), no numbers written as text; `with_meter`
        keeps the meter too (what `meter_totals` adds up).

        With `contracts`, lines have a `rate` (a discount's fraction off), a discount line
        follows the postpaid line it discounts (they rank alike, in the order made), and a
        true-up's meter (`*`, numbered after every meter) puts it last.

        `amount` is a DECIMAL; quantity, unit price, precise amount and blocks are exact
        decimals written as text, because the engine's can need more than 38 digits (a price
        per 3 units divides with 60)."""
        o = self.ops
        parts: list[exp.Select] = [self._line_part(o.table("lines_py"), amount_scale, contracts)]
        if not numbered and not with_meter:
            # Only the bills' totals read these lines: the prepaid and allowance lines, whose
            # amounts are 0 by construction, add nothing (a month without lines still gets its
            # bill, of 0, from `bill_months`). Leaving them out spares a copy of every plain
            # account month (millions of rows).
            if with_sql_lines:
                parts.append(
                    o.select(o.col("account"), o.col("ord"), o.col("amount"))
                    .from_(o.table("postpaid_sql"), copy=False)
                )
            union = o.union_all(
                [
                    o.select(o.col("account"), o.col("ord"), o.col("amount")).from_(
                        o.subquery(part, f"p{index}"), copy=False
                    )
                    for index, part in enumerate(parts)
                ]
            )
            return o.select(
                o.col("account"),
                o.col("ord"),
                ("amount", o.cast(o.col("amount"), decimal_type(amount_scale))),
            ).from_(o.subquery(union, "l"), copy=False)
        prepaid = o.select(
            o.col("account"),
            o.col("ord"),
            o.col("meter"),
            o.col("source"),
            o.col("seq"),
            ("quantity", o.cast(o.col("quantity"), TEXT)),
            ("unit_price", o.text("0")),
            ("precise_amount", o.text("0")),
            ("amount", o.decimal(Decimal(0), amount_scale)),
            ("bracket", o.cast(o.null(), TEXT)),
            ("pack", o.col("pack")),
            ("blocks", o.cast(o.null(), TEXT)),
            ("per", o.cast(o.null(), TEXT)),
        ).from_(o.table("prepaid_py"), copy=False)
        parts.append(self._line_part(o.subquery(prepaid, "d"), amount_scale, contracts))
        if with_plain:
            allowance = (
                o.select(
                    o.col("account"),
                    o.col("ord"),
                    o.col("meter"),
                    ("source", o.text("allowance")),
                    ("seq", o.integer(0)),
                    ("quantity", o.cast(o.col("allowance"), TEXT)),
                    ("unit_price", o.text("0")),
                    ("precise_amount", o.text("0")),
                    ("amount", o.decimal(Decimal(0), amount_scale)),
                    ("bracket", o.cast(o.null(), TEXT)),
                    ("pack", o.cast(o.null(), TEXT)),
                    ("blocks", o.cast(o.null(), TEXT)),
                    ("per", o.cast(o.null(), TEXT)),
                )
                .from_(o.table("plain_period"), copy=False)
                .where(o.gt(o.col("allowance"), o.integer(0)), copy=False)
            )
            parts.append(self._line_part(o.subquery(allowance, "a"), amount_scale, contracts))
        if with_sql_lines:
            postpaid = o.select(
                o.col("account"),
                o.col("ord"),
                o.col("meter"),
                ("source", o.text("postpaid")),
                o.col("seq"),
                ("quantity", o.cast(o.col("quantity"), TEXT)),
                # A price per N units as written, with its N; a unit price as computed.
                ("unit_price", o.coalesce(o.col("shown"), o.cast(o.col("unit_price"), TEXT))),
                ("precise_amount", o.cast(o.col("precise_amount"), TEXT)),
                o.col("amount"),
                o.col("bracket"),
                ("pack", o.cast(o.null(), TEXT)),
                ("blocks", o.cast(o.null(), TEXT)),
                o.col("per"),
            ).from_(o.table("postpaid_sql"), copy=False)
            parts.append(self._line_part(o.subquery(postpaid, "s"), amount_scale, contracts))
        union = o.union_all(parts)
        if not numbered:  # what the bills' totals read, and nothing else
            # (`on total` tells a contract's true-up, meter `*`, from the lines it rounds)
            with_meter = with_meter or (contracts and self.book.rounding.scope == ON_TOTAL)
            meter = [o.col("meter")] if with_meter else []
            return o.select(o.col("account"), o.col("ord"), *meter, o.col("amount")).from_(
                o.subquery(union, "l"), copy=False
            )
        source_rank = o.case(
            [
                # (the units a subscription covers come first, as in the engine)
                *(
                    [(o.eq(o.col("source"), o.text("subscription")), o.integer(-1))]
                    if any(sheet.subscriptions for sheet in self.books)
                    else []
                ),
                (o.eq(o.col("source"), o.text("allowance")), o.integer(0)),
                (o.eq(o.col("source"), o.text("pack")), o.integer(1)),
                # (a grant's lines rank with the packs', as the engine's do; sheets without
                # grants keep their SQL)
                *(
                    [(o.eq(o.col("source"), o.text("grant")), o.integer(1))]
                    if any(sheet.grants for sheet in self.books)
                    else []
                ),
                (o.eq(o.col("source"), o.text("postpaid")), o.integer(2)),
                *(
                    [(o.eq(o.col("source"), o.text("discount")), o.integer(2))]
                    if contracts
                    else []
                ),
                # (a credit's payment comes after its meter's other lines, as in the engine)
                *(
                    [(o.eq(o.col("source"), o.text("credit")), o.integer(5))]
                    if any(sheet.credits for sheet in self.books)
                    else []
                ),
            ],
            o.integer(3),
        )
        meter_rank: exp.Expression = o.col("meter")
        if charge_names(self.books):
            # Subscriptions' and fees' charges come after the meters' lines in the order the
            # engine's bill made them (`seq`), whichever plan each names.
            after = o.integer(len(self.book.meters) + 1)
            meter_rank = o.case([(o.gt(o.col("meter"), after), after.copy())], o.col("meter"))
        line = o.row_number(
            [o.col("account"), o.col("ord")], [meter_rank, source_rank, o.col("seq")]
        )
        columns = ("account", "ord", *LINE_FIELDS, "per", *(("rate",) if contracts else ()),
                   *(("period",) if self.dated_lines else ()))
        return o.select(*[o.col(c) for c in columns], ("line", line)).from_(
            o.subquery(union, "l"), copy=False
        )

    def _line_part(
        self, source: exp.Expression, amount_scale: int, rates: bool = False
    ) -> exp.Select:
        """A part of `bill_lines`, its columns cast alike; `rates`: with a `rate` column (only
        Python's lines, `lines_py`, have rates)."""
        o = self.ops
        from_python = isinstance(source, exp.Table) and source.name == "lines_py"
        return o.select(
            o.col("account"),
            o.col("ord"),
            o.col("meter"),
            o.col("source"),
            o.col("seq"),
            *[(c, o.cast(o.col(c), TEXT)) for c in ("quantity", "unit_price", "precise_amount")],
            ("amount", o.cast(o.col("amount"), decimal_type(amount_scale))),
            *[(c, o.cast(o.col(c), TEXT)) for c in ("bracket", "pack", "blocks", "per")],
            *(
                [("rate", o.cast(o.col("rate") if from_python else o.null(), TEXT))]
                if rates
                else []
            ),
            *(
                [("period", o.cast(o.col("period") if from_python else o.null(), TEXT))]
                if self.dated_lines
                else []
            ),
        ).from_(source, copy=False)

    def output_lines(
        self, text_numbers: bool, wanted: int | None, contracts: bool = False
    ) -> exp.Select:
        """The lines as written: meter names, month labels, and numbers as text for CSV/JSONL;
        with `contracts`, a true-up line's meter `*` and each line's `rate`."""
        o = self.ops

        def number(name: str) -> exp.Expression:
            column = o.col(name, "l")
            return o.cast(column, TEXT) if text_numbers and name == "amount" else column

        meter = o.case(
            [
                (o.eq(o.col("meter", "l"), o.integer(i)), o.text(p.name))
                for i, p in enumerate(self.book.meters)
            ]
            + (
                [(o.eq(o.col("meter", "l"), o.integer(len(self.book.meters))), o.text("*"))]
                if contracts
                else []
            )
            # A subscription's or fee's charge names its plan (numbered after the true-up).
            + [
                (o.eq(o.col("meter", "l"), o.integer(len(self.book.meters) + 1 + i)),
                 o.text(name))
                for i, name in enumerate(charge_names(self.books))
            ]
        )
        query = (
            o.select(
                o.col("account", "l"),
                ("month", o.col("label", "m")),
                o.col("line", "l"),
                ("meter", meter),
                o.col("source", "l"),
                ("quantity", number("quantity")),
                ("unit_price", number("unit_price")),
                ("amount", number("amount")),
                ("precise_amount", number("precise_amount")),
                o.col("bracket", "l"),
                o.col("pack", "l"),
                ("blocks", number("blocks")),
                # The day a daily ladder's line prices; the warehouse prices months only.
                ("period", o.col("period", "l") if self.dated_lines
                 else o.cast(o.null(), TEXT)),
                # A price per N units: its N (the unit price is then the price as written).
                o.col("per", "l"),
                # A contract's discount: the fraction it takes off.
                *([o.col("rate", "l")] if contracts else []),
            )
            .from_(o.table("bill_lines", "l"), copy=False)
            .join(
                o.table("calendar", "m"), on=o.eq(o.col("ord", "m"), o.col("ord", "l")), copy=False
            )
        )
        query = self._without_excluded(query, "l", wanted)
        return query.order_by(
            o.col("account", "l"), o.col("ord", "l"), o.col("line", "l"), copy=False
        )

    def meter_totals(self, wanted: int | None) -> exp.Select:
        """The bills' amounts added up per month and meter (`ord`, `meter`: the meter's index,
        a contract's true-up the number of meters; `amount`), over the bills written: months
        reported as unbillable left out, and only the month `wanted` if given."""
        o = self.ops
        query = o.select(
            o.col("ord", "l"), o.col("meter", "l"), ("amount", o.sum(o.col("amount", "l")))
        ).from_(o.table("bill_lines", "l"), copy=False)
        query = self._without_excluded(query, "l", wanted)
        return query.group_by(o.col("ord", "l"), o.col("meter", "l"), copy=False)

    def bills(self, labelled: bool = False, contracts: bool = False) -> exp.Select:
        """One row per account month: the sum of its lines' rounded amounts (0 without lines);
        under `on total` the sum of their precise amounts rounded once (plus a true-up, with
        `contracts`), under `exact` their sum; `labelled`: and the sheet that bills it (`book`,
        see `terms.Terms.books`)."""
        o = self.ops
        total: exp.Expression = o.sum(o.col("amount"))
        rounding = self.book.rounding
        # A meter that rounds its own lines (`amount rounded`) may leave the sum of lines off
        # the sheet's increment: the total is rounded once, as the engine's `bill_total` does.
        own = rounding.per_line and any(
            plan.amount_rounding is not None for plan in self.book.meters)
        if rounding.scope == ON_TOTAL or own:
            # The precise sum rounded once; a contract's true-up (meter `*`, numbered after
            # every meter) is added after that rounding, as the engine's `bill_total` does.
            places = _exponent(rounding.increment)
            scale = max(0, -places)
            if contracts:
                true_up = o.eq(o.col("meter"), o.integer(len(self.book.meters)))
                spent = o.sum(o.case([(true_up, o.integer(0))], o.col("amount")))
                total = o.add(
                    o.round_to(spent, places, rounding.mode, scale),
                    o.sum(o.case([(true_up.copy(), o.col("amount"))], o.integer(0))),
                )
            else:
                total = o.round_to(total, places, rounding.mode, scale)
        totals = (
            o.select(o.col("account"), o.col("ord"), ("total", total))
            .from_(o.table("bill_lines"), copy=False)
            .group_by(o.col("account"), o.col("ord"), copy=False)
        )
        query = (
            o.select(
                o.col("account", "r"),
                o.col("ord", "r"),
                ("total", o.coalesce(o.col("total", "t"), o.integer(0))),
                *([o.col("book", "r")] if labelled else []),
            )
            .from_(o.table("bill_months", "r"), copy=False)
            .join(
                o.subquery(totals, "t"),
                on=o.all_of(
                    o.eq(o.col("account", "t"), o.col("account", "r")),
                    o.eq(o.col("ord", "t"), o.col("ord", "r")),
                ),
                join_type="left",
                copy=False,
            )
        )
        return query

    def output_bills(
        self,
        amount_scale: int,
        text_numbers: bool,
        wanted: int | None,
        labels: Mapping[str, Sequence[str | None]] | None = None,
        contracts: bool = False,
    ) -> exp.Select:
        """The bills as written; `labels` adds columns (`version`, `contract`) naming, for each
        sheet by its number (`book`), what a bill of that sheet says (NULL: nothing)."""
        o = self.ops
        total = o.cast(o.col("total", "b"), decimal_type(amount_scale))
        named: list[tuple[str, exp.Expression]] = []
        for column, by_book in (labels or {}).items():
            whens = [
                (o.eq(o.col("book", "b"), o.integer(index)), o.text(text))
                for index, text in enumerate(by_book)
                if text is not None
            ]
            named.append((column, o.case(whens, o.cast(o.null(), TEXT))))
        query = (
            o.select(
                o.col("account", "b"),
                ("month", o.col("label", "m")),
                ("total", o.cast(total, TEXT) if text_numbers else total),
                *named,
            )
            .from_(o.subquery(self.bills(labels is not None, contracts), "b"), copy=False)
            .join(
                o.table("calendar", "m"), on=o.eq(o.col("ord", "m"), o.col("ord", "b")), copy=False
            )
        )
        query = self._without_excluded(query, "b", wanted)
        return query.order_by(o.col("account", "b"), o.col("ord", "b"), copy=False)

    def _without_excluded(self, query: exp.Select, alias: str, wanted: int | None) -> exp.Select:
        o = self.ops
        kept: exp.Expression = o.is_null(o.col("account", "x"))
        if wanted is not None:
            kept = o.all_of(kept, o.eq(o.col("ord", alias), o.integer(wanted)))
        return query.join(
            o.table("excluded", "x"),
            on=o.all_of(
                o.eq(o.col("account", "x"), o.col("account", alias)),
                o.eq(o.col("ord", "x"), o.col("ord", alias)),
            ),
            join_type="left",
            copy=False,
        ).where(kept, copy=False)

    def bill_months(self, plain: bool, labelled: bool = False) -> exp.Select | exp.Union:
        """Every account month to bill: plain accounts' single months, and the others listed
        by Python (months of accounts drawn there, and plain accounts spanning several);
        `labelled`: with the sheet that bills each (`book`: a plain month's version)."""
        o = self.ops
        book = [o.col("book")] if labelled else []
        listed = o.select(o.col("account"), o.col("ord"), *book).from_(
            o.table("months_py"), copy=False
        )
        if not plain:
            return listed
        version = [("book", self.version_of(o.col("first")))] if labelled else []
        single = (
            o.select(o.col("account"), ("ord", o.col("first")), *version)
            .from_(o.table("plain_ranges"), copy=False)
            .where(o.all_of(o.eq(o.col("first"), o.col("last")), o.not_(o.col("held"))), copy=False)
        )
        return o.union_all([single, listed])


def _mode_code(ladder: Ladder) -> int:
    """A ladder's mode as the bracket table's `mode` column: 0 volume `(lo, hi]`, 1 graduated,
    2 volume `[lo, hi)`."""
    if ladder.mode != VOLUME:
        return 1
    return 2 if ladder.closed_low else 0


def _key_order(key: LimitKey) -> tuple[int, int]:
    return (key, -1) if isinstance(key, int) else key


def _exponent(increment: Decimal) -> int:
    """The power of ten of a rounding increment (0.01 → -2, 10 → 1)."""
    exponent = increment.normalize().as_tuple().exponent
    assert isinstance(exponent, int)
    return exponent


def rounding_exponent(increment: Decimal) -> int:
    return _exponent(increment)


__all__ = ["BOOLEAN", "NEVER_AFTER", "NEVER_BEFORE", "Queries", "UsagePlan"]
