"""The SQL the warehouse runs: one small set of operations, built as sqlglot trees, rendered per
engine (DuckDB, Spark SQL).

Every query is built by `Operations` from a few kinds of node: columns, string and whole-number
literals, decimal literals cast to a declared `DECIMAL(p, s)`, casts to declared types, `+ - *`,
comparisons, `AND/OR/NOT`, `CASE`, `COALESCE`, `GREATEST/LEAST`, `FLOOR`, `ROUND` (half-up) and
its half-even sibling (`FUNCTIONS`), `SUM/MIN/MAX/COUNT`, `ROW_NUMBER`, a regular-expression match,
`TRIM`, `SUBSTRING` and `CONCAT`, a text or timestamp as microseconds since the epoch
(`EPOCH_US`/`UNIX_MICROS`) and the UTC year and month of microseconds; joins, `GROUP BY`,
`UNION ALL` and inline `VALUES`. `check_operations` walks a tree and rejects anything else: a
division, a float or double type, a numeric literal with a fraction or an exponent not cast to a
DECIMAL, a time zone function. The tests run it over every generated query; `render` runs it too,
so no query outside the set reaches a database.

Money is exact because every amount is a DECIMAL of declared scale built from integers and exact
decimal literals by `+ - *` only, and rounded in one place (`Operations.round_to`). Times are
exact because a time is parsed once, to whole microseconds since the epoch (BIGINT), and all
calendar questions are answered by comparing it with the calendar table (see `months`).
"""

from __future__ import annotations

import decimal
from collections.abc import Iterable, Sequence
from decimal import Decimal

from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.dialects.spark import Spark

DUCKDB = "duckdb"
SPARK = "spark"
DIALECTS = (DUCKDB, SPARK)

#: The node types a warehouse query may contain.
ALLOWED: frozenset[type[exp.Expression]] = frozenset(
    {
        # structure
        exp.Select,
        exp.From,
        exp.Join,
        exp.Where,
        exp.Group,
        exp.Order,
        exp.Ordered,
        exp.Union,
        exp.Subquery,
        exp.Table,
        exp.TableAlias,
        exp.Alias,
        exp.Identifier,
        exp.Column,
        exp.Star,
        exp.Values,
        exp.Tuple,
        exp.Paren,
        exp.Window,
        exp.Distinct,
        exp.Limit,
        # values and types
        exp.Literal,
        exp.Null,
        exp.Boolean,
        exp.Cast,
        exp.TryCast,
        exp.DataType,
        exp.DataTypeParam,
        # arithmetic and logic (no division)
        exp.Add,
        exp.Sub,
        exp.Mul,
        exp.Neg,
        exp.EQ,
        exp.NEQ,
        exp.GT,
        exp.GTE,
        exp.LT,
        exp.LTE,
        exp.And,
        exp.Or,
        exp.Not,
        exp.Is,
        exp.In,
        exp.Exists,
        exp.Case,
        exp.If,
        exp.Coalesce,
        exp.Greatest,
        exp.Least,
        exp.Floor,
        exp.Round,
        # strings: only what validation and reading times need (Spark: seconds put in)
        exp.RegexpLike,
        exp.Substring,
        exp.Concat,
        exp.Trim,
        exp.Length,
        # a list of constants and a place in it (DuckDB: an action's route, `listed_route`)
        exp.Array,
        exp.Bracket,
        # aggregates and windows
        exp.Sum,
        exp.Min,
        exp.Max,
        exp.Count,
        exp.RowNumber,
        exp.DenseRank,  # (a request's parts: one entry, see `Queries._entry_number`)
        # time: a parsed time as microseconds, and the UTC year and month of microseconds
        exp.UnixMicros,
        exp.UnixToTime,
        exp.Year,
        exp.Month,
        # the dialect-specific functions of FUNCTIONS
        exp.Anonymous,
    }
)

#: Functions written by name, per engine: half-even rounding; a value's place in a list.
FUNCTIONS: dict[str, frozenset[str]] = {
    DUCKDB: frozenset({"ROUND_EVEN", "LIST_POSITION"}),
    SPARK: frozenset({"BROUND"}),
}

_TYPES = frozenset(
    {
        exp.DataType.Type.DECIMAL,
        exp.DataType.Type.BIGINT,
        exp.DataType.Type.INT,
        exp.DataType.Type.VARCHAR,
        exp.DataType.Type.TEXT,
        exp.DataType.Type.BOOLEAN,
        exp.DataType.Type.TIMESTAMP,
        exp.DataType.Type.TIMESTAMPTZ,
    }
)

MAX_PRECISION = 38
# Enough digits for any literal of a DECIMAL(38, s), whatever the caller's context.
_WIDE = decimal.Context(prec=2 * MAX_PRECISION, traps=[decimal.InvalidOperation])
#: Sentinels for the open ends of a segment: before and after any instant the engine reads.
NEVER_BEFORE = -(1 << 62)
NEVER_AFTER = 1 << 62


class OperationError(AssertionError):
    """A query node outside the warehouse's set of operations (a bug, not a user error)."""


class _Spark(Spark):
    """Spark SQL with TRY_CAST: a cast that fails is NULL (and counted), never an error."""


def render(tree: exp.Expression, dialect: str) -> str:
    """The SQL text of a checked tree for an engine (the tree is used up: render it once)."""
    check_operations(tree, dialect)
    return tree.sql(dialect=_Spark if dialect == SPARK else DuckDB, pretty=True, copy=False)


def check_operations(tree: exp.Expression, dialect: str) -> None:
    """Raise OperationError at the first node outside the set of operations."""
    for node in tree.walk():
        kind = type(node)
        if kind not in ALLOWED:
            raise OperationError(f"`{kind.__name__}` is not a warehouse operation: {node.sql()}")
        if isinstance(node, exp.Anonymous) and node.name.upper() not in FUNCTIONS[dialect]:
            raise OperationError(f"function `{node.name}` is not a warehouse operation")
        if isinstance(node, exp.DataType):
            if node.this not in _TYPES:
                raise OperationError(f"type `{node.sql()}` is not a warehouse type")
            if node.this == exp.DataType.Type.DECIMAL:
                params = [int(p.name) for p in node.expressions]
                if len(params) != 2 or not 0 <= params[1] <= params[0] <= MAX_PRECISION:
                    raise OperationError(f"`{node.sql()}` is not a declared DECIMAL(p, s)")
        if isinstance(node, exp.Literal) and node.is_number:
            text = node.name.lstrip("-")
            if not text.isdigit():
                raise OperationError(
                    f"numeric literal `{node.name}` must be a whole number; "
                    "decimals are cast from strings to a declared DECIMAL"
                )
        if isinstance(node, exp.Literal) and node.is_string:
            parent = node.parent
            if (
                isinstance(parent, exp.Cast | exp.TryCast)
                and parent.to.this == exp.DataType.Type.DECIMAL
            ):
                Decimal(node.name)  # a decimal literal must be one


def decimal_type(scale: int, precision: int = MAX_PRECISION) -> exp.DataType:
    """`DECIMAL(precision, scale)`."""
    return exp.DataType(
        this=exp.DataType.Type.DECIMAL,
        expressions=[
            exp.DataTypeParam(this=exp.Literal.number(precision)),
            exp.DataTypeParam(this=exp.Literal.number(scale)),
        ],
    )


BIGINT = exp.DataType(this=exp.DataType.Type.BIGINT)
TEXT = exp.DataType(this=exp.DataType.Type.VARCHAR)
BOOLEAN = exp.DataType(this=exp.DataType.Type.BOOLEAN)


def scale_of(value: Decimal) -> int:
    """The digits after the point that a decimal needs (0 for whole numbers, even 1E+3)."""
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


class Operations:
    """The operations a warehouse query is built from, for one engine."""

    def __init__(self, dialect: str) -> None:
        if dialect not in DIALECTS:
            raise ValueError(f"unknown SQL engine `{dialect}` (one of {', '.join(DIALECTS)})")
        self.dialect = dialect

    # --- values ---------------------------------------------------------------------------------

    @staticmethod
    def col(name: str, table: str | None = None) -> exp.Column:
        return exp.column(name, table=table)

    @staticmethod
    def text(value: str) -> exp.Literal:
        return exp.Literal.string(value)

    @staticmethod
    def integer(value: int) -> exp.Expression:
        literal = exp.Literal.number(abs(value))
        return exp.Neg(this=literal) if value < 0 else literal

    @staticmethod
    def decimal(value: Decimal, scale: int, precision: int | None = None) -> exp.Cast:
        """An exact decimal literal: `CAST('0.0018' AS DECIMAL(5, 4))`.

        The type is as narrow as the value unless a precision is given: Spark compares two
        DECIMALs in a type that keeps their integer digits first, so a wide literal (38, 1)
        next to a (38, 18) column would drop the column's last decimals before comparing."""
        text = format(value.quantize(Decimal(1).scaleb(-scale), context=_WIDE), "f")
        if precision is None:
            whole = text.lstrip("-").split(".")[0].lstrip("0")
            precision = max(len(whole) + scale, 1)
        return exp.Cast(this=exp.Literal.string(text), to=decimal_type(scale, precision))

    @staticmethod
    def null() -> exp.Null:
        return exp.Null()

    @staticmethod
    def true() -> exp.Boolean:
        return exp.Boolean(this=True)

    @staticmethod
    def false() -> exp.Boolean:
        return exp.Boolean(this=False)

    @staticmethod
    def cast(value: exp.Expression, to: exp.DataType) -> exp.Cast:
        return exp.Cast(this=value, to=to)

    @staticmethod
    def try_cast(value: exp.Expression, to: exp.DataType) -> exp.TryCast:
        return exp.TryCast(this=value, to=to, safe=True)

    # --- arithmetic and logic -------------------------------------------------------------------

    @staticmethod
    def add(left: exp.Expression, right: exp.Expression) -> exp.Add:
        return exp.Add(this=left, expression=right)

    @staticmethod
    def sub(left: exp.Expression, right: exp.Expression) -> exp.Sub:
        return exp.Sub(this=left, expression=right)

    @staticmethod
    def mul(left: exp.Expression, right: exp.Expression) -> exp.Mul:
        return exp.Mul(this=left, expression=right)

    @staticmethod
    def eq(left: exp.Expression, right: exp.Expression) -> exp.EQ:
        return exp.EQ(this=left, expression=right)

    @staticmethod
    def ne(left: exp.Expression, right: exp.Expression) -> exp.NEQ:
        return exp.NEQ(this=left, expression=right)

    @staticmethod
    def lt(left: exp.Expression, right: exp.Expression) -> exp.LT:
        return exp.LT(this=left, expression=right)

    @staticmethod
    def le(left: exp.Expression, right: exp.Expression) -> exp.LTE:
        return exp.LTE(this=left, expression=right)

    @staticmethod
    def gt(left: exp.Expression, right: exp.Expression) -> exp.GT:
        return exp.GT(this=left, expression=right)

    @staticmethod
    def ge(left: exp.Expression, right: exp.Expression) -> exp.GTE:
        return exp.GTE(this=left, expression=right)

    @staticmethod
    def all_of(*conditions: exp.Expression) -> exp.Expression:
        result = conditions[0]
        for condition in conditions[1:]:
            result = exp.And(this=result, expression=condition)
        return result

    @staticmethod
    def any_of(*conditions: exp.Expression) -> exp.Expression:
        result = conditions[0]
        for condition in conditions[1:]:
            result = exp.Or(this=result, expression=condition)
        return exp.Paren(this=result) if len(conditions) > 1 else result

    @staticmethod
    def not_(condition: exp.Expression) -> exp.Not:
        # NOT binds tighter than AND and OR: a compound condition is put in parentheses.
        if isinstance(condition, exp.And | exp.Or):
            condition = exp.Paren(this=condition)
        return exp.Not(this=condition)

    @staticmethod
    def is_null(value: exp.Expression) -> exp.Is:
        return exp.Is(this=value, expression=exp.Null())

    @staticmethod
    def not_null(value: exp.Expression) -> exp.Not:
        return exp.Not(this=exp.Is(this=value, expression=exp.Null()))

    @staticmethod
    def in_(value: exp.Expression, options: Iterable[exp.Expression]) -> exp.In:
        return exp.In(this=value, expressions=list(options))

    @staticmethod
    def in_query(value: exp.Expression, query: exp.Select) -> exp.In:
        """`value IN (query)`."""
        return exp.In(this=value, query=exp.Subquery(this=query))

    @staticmethod
    def case(
        whens: Sequence[tuple[exp.Expression, exp.Expression]],
        default: exp.Expression | None = None,
    ) -> exp.Case:
        node = exp.Case()
        for condition, value in whens:
            node = node.when(condition, value)
        if default is not None:
            node = node.else_(default)
        return node

    @staticmethod
    def coalesce(*values: exp.Expression) -> exp.Coalesce:
        return exp.Coalesce(this=values[0], expressions=list(values[1:]))

    @staticmethod
    def greatest(*values: exp.Expression) -> exp.Greatest:
        return exp.Greatest(this=values[0], expressions=list(values[1:]))

    @staticmethod
    def least(*values: exp.Expression) -> exp.Least:
        return exp.Least(this=values[0], expressions=list(values[1:]))

    @staticmethod
    def floor(value: exp.Expression) -> exp.Floor:
        return exp.Floor(this=value)

    # --- strings and times ----------------------------------------------------------------------

    @staticmethod
    def full_match(value: exp.Expression, pattern: str) -> exp.RegexpLike:
        """Whether the whole string matches (RE2 and Java read `^(?:…)\\z` alike)."""
        return exp.RegexpLike(this=value, expression=exp.Literal.string(f"^(?:{pattern})\\z"))

    @staticmethod
    def trim(value: exp.Expression) -> exp.Trim:
        return exp.Trim(this=value)

    @staticmethod
    def length(value: exp.Expression) -> exp.Length:
        return exp.Length(this=value)

    def time_micros(self, text: exp.Expression) -> exp.Expression:
        """Microseconds since the epoch of an ISO 8601 text (NULL if the engine cannot read it).

        With an offset, the instant; without one, the wall-clock time counted as if it were
        UTC. The engines read it so only in a UTC session: the engine modules set one. Spark
        does not read a time with minutes but no seconds before an offset (`08:00+08:00`): for
        it, such a text is read again with `:00` seconds put in.
        """
        if self.dialect == DUCKDB:
            to = exp.DataType(this=exp.DataType.Type.TIMESTAMPTZ)
            return exp.UnixMicros(this=self.try_cast(text, to))
        to = exp.DataType(this=exp.DataType.Type.TIMESTAMP)
        with_seconds = exp.Concat(expressions=[
            exp.Substring(this=text.copy(), start=exp.Literal.number(1),
                          length=exp.Literal.number(16)),
            exp.Literal.string(":00"),
            exp.Substring(this=text.copy(), start=exp.Literal.number(17)),
        ])
        return self.coalesce(exp.UnixMicros(this=self.try_cast(text, to)),
                             exp.UnixMicros(this=self.try_cast(with_seconds, to.copy())))

    def timestamp_micros(self, value: exp.Expression, instant: bool) -> exp.Expression:
        """Microseconds since the epoch of a timestamp column: an instant's, or a wall-clock
        time's counted as if it were UTC (in a UTC session, as the engines run)."""
        if self.dialect == SPARK and not instant:
            value = self.cast(value, exp.DataType(this=exp.DataType.Type.TIMESTAMP))
        return exp.UnixMicros(this=value)

    @staticmethod
    def utc_month_ord(micros: exp.Expression) -> exp.Expression:
        """The month ordinal (year × 12 + month − 1) of microseconds read as UTC."""
        moment = exp.UnixToTime(this=micros, scale=exp.UnixToTime.MICROS)
        year = exp.Year(this=moment)
        month = exp.Month(this=moment.copy())
        return exp.Sub(
            this=exp.Add(
                this=exp.Mul(this=year, expression=exp.Literal.number(12)), expression=month
            ),
            expression=exp.Literal.number(1),
        )

    # --- rounding: the one place where SQL rounds -----------------------------------------------

    def round_to(
        self, value: exp.Expression, exponent: int, mode: str, scale: int
    ) -> exp.Expression:
        """`value` rounded to a multiple of 10^exponent the way the rules say, as
        DECIMAL(38, scale): `ROUND` (half-up, away from zero at .5, like Python's
        ROUND_HALF_UP), the engine's half-even function, or, for the other modes, FLOOR of the
        magnitude with a CASE on what is left, applied to |value| with the sign restored."""
        out = decimal_type(scale)
        places = -exponent
        if mode == "half_up" and places >= 0:
            return self.cast(exp.Round(this=value, decimals=exp.Literal.number(places)), out)
        if mode == "half_even" and places >= 0:
            name = "ROUND_EVEN" if self.dialect == DUCKDB else "BROUND"
            return self.cast(
                exp.Anonymous(this=name, expressions=[value, exp.Literal.number(places)]), out
            )
        positive = self._round_magnitude(value, places, mode, scale)
        flipped = {"ceiling": "floor", "floor": "ceiling"}.get(mode, mode)
        negative = self._round_magnitude(exp.Neg(this=value.copy()), places, flipped, scale)
        return self.case(
            [(self.lt(value.copy(), self.integer(0)), exp.Neg(this=negative))], positive
        )

    def _round_magnitude(
        self, value: exp.Expression, places: int, mode: str, scale: int
    ) -> exp.Expression:
        """A non-negative value rounded to `places` decimals (negative: tens, hundreds...)."""
        shift = self.decimal(Decimal(1).scaleb(places), max(0, -places))
        back = self.decimal(Decimal(1).scaleb(-places), max(0, places))
        shifted = self.mul(value, shift)
        whole = self.floor(shifted)
        rest = self.sub(shifted.copy(), whole.copy())
        half = self.decimal(Decimal("0.5"), 1)
        one = self.integer(1)
        up = self.add(whole.copy(), one)
        if mode in ("down", "floor"):
            units: exp.Expression = whole
        elif mode in ("up", "ceiling"):
            units = self.case([(self.gt(rest, self.integer(0)), up)], whole)
        elif mode == "half_up":
            units = self.case([(self.ge(rest, half), up)], whole)
        elif mode == "half_down":
            units = self.case([(self.gt(rest, half), up)], whole)
        elif mode == "half_even":
            # `whole` is even when whole − 2·FLOOR(whole · 0.5) is 0: parity with no division.
            halved = self.floor(self.mul(whole.copy(), half.copy()))
            parity = self.sub(whole.copy(), self.mul(self.integer(2), halved))
            units = self.case(
                [
                    (self.gt(rest, half), up),
                    (self.lt(rest.copy(), half.copy()), whole.copy()),
                    (self.eq(parity, self.integer(0)), whole.copy()),
                ],
                up.copy(),
            )
        else:
            raise ValueError(f"unknown rounding mode `{mode}`")
        return self.cast(self.mul(units, back), decimal_type(scale))

    # --- queries --------------------------------------------------------------------------------

    @staticmethod
    def select(*columns: exp.Expression | tuple[str, exp.Expression]) -> exp.Select:
        """A SELECT of columns, each an expression or (alias, expression)."""
        items: list[exp.Expression] = []
        for item in columns:
            if isinstance(item, tuple):
                name, value = item
                items.append(exp.Alias(this=value, alias=exp.to_identifier(name)))
            else:
                items.append(item)
        return exp.Select(expressions=items)

    @staticmethod
    def table(name: str, alias: str | None = None) -> exp.Table:
        table = exp.Table(this=exp.to_identifier(name))
        if alias is not None:
            table.set("alias", exp.TableAlias(this=exp.to_identifier(alias)))
        return table

    @staticmethod
    def subquery(query: exp.Select | exp.Union, alias: str) -> exp.Subquery:
        return exp.Subquery(this=query, alias=exp.TableAlias(this=exp.to_identifier(alias)))

    @staticmethod
    def values(
        rows: Sequence[Sequence[exp.Expression]], alias: str, columns: Sequence[str]
    ) -> exp.Values:
        """An inline table: `(VALUES (...), ...) AS alias(columns)`."""
        return exp.Values(
            expressions=[exp.Tuple(expressions=list(row)) for row in rows],
            alias=exp.TableAlias(
                this=exp.to_identifier(alias), columns=[exp.to_identifier(c) for c in columns]
            ),
        )

    @staticmethod
    def union_all(queries: Sequence[exp.Select]) -> exp.Select | exp.Union:
        result: exp.Select | exp.Union = queries[0]
        for query in queries[1:]:
            result = exp.Union(this=result, expression=query, distinct=False)
        return result

    @staticmethod
    def row_number(
        partition: Sequence[exp.Expression], order: Sequence[exp.Expression]
    ) -> exp.Window:
        return exp.Window(
            this=exp.RowNumber(),
            partition_by=list(partition),
            order=exp.Order(
                expressions=[exp.Ordered(this=o, desc=False, nulls_first=False) for o in order]
            ),
        )

    @staticmethod
    def sum(value: exp.Expression) -> exp.Sum:
        return exp.Sum(this=value)

    @staticmethod
    def min(value: exp.Expression) -> exp.Min:
        return exp.Min(this=value)

    @staticmethod
    def max(value: exp.Expression) -> exp.Max:
        return exp.Max(this=value)

    @staticmethod
    def count() -> exp.Count:
        return exp.Count(this=exp.Star())
