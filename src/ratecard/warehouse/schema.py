"""What the warehouse reads and writes: the input tables, their column types, and the kinds of bad
row it reports.

Inputs are Parquet or CSV files (a CSV file has a header line; all its columns are read as text).

- usage: `account`, `time`, `action`, `count`, and an optional `id`;
- purchases: `account`, `time`, `meter`, `size`, and an optional `id`;
- events: `account`, `time`, `type` (`suspend`, `reopen`, `topup`, `credit`, `subscribe` or
  `cancel`), and the fields of the journal entry of that type where the rules need them:
  `reason` (suspend), `amount` (topup, credit), `credit`, `currency`, `id` (credit),
  `plan`, `quantity`, `meter`, `id` (subscribe), `subscription` (cancel).

A column is checked by the kind of its type, not its exact type: `account` and `id` are strings
or whole numbers; `action`, `meter`, `type` and `reason` strings; `count`, `size` and `amount`
whole numbers, decimals or strings; a usage `time` an ISO 8601 string, or a timestamp: with time
zone (an instant), or without (a wall-clock time in the rules' timezone). A binary float (DOUBLE,
FLOAT) is never accepted for a quantity or an amount: it cannot hold 0.1, and a bill must be
exact to the fen. A missing column or a column of the wrong kind is one `SchemaError` naming the
file and the column.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import attrs

from ratecard import literals
from ratecard.errors import UsageError

STRING = "string"
INTEGER = "integer"
DECIMAL = "decimal"
FLOAT = "float"
INSTANT = "instant"  # a timestamp with time zone
WALL = "wall"  # a timestamp without time zone: wall-clock time
OTHER = "other"

USAGE = "usage"
PURCHASES = "purchases"
EVENTS = "events"
ACCOUNTS = "accounts"


@attrs.frozen
class Column:
    """A column an input table has (or may have): its name and the kinds of type it accepts."""

    name: str
    kinds: tuple[str, ...]
    required: bool = True


_TEXT = (STRING,)
_TIME = (STRING, INSTANT, WALL)
_KEY = (STRING, INTEGER)
_NUMBER = (INTEGER, DECIMAL, STRING)

SCHEMAS: dict[str, tuple[Column, ...]] = {
    USAGE: (
        Column("account", _KEY),
        Column("time", _TIME),
        Column("action", _TEXT),
        Column("count", _NUMBER),
        Column("id", _KEY, required=False),
    ),
    PURCHASES: (
        Column("account", _KEY),
        Column("time", _TEXT),
        Column("meter", _TEXT),
        Column("size", _NUMBER),
        Column("id", _KEY, required=False),
    ),
    EVENTS: (
        Column("account", _KEY),
        Column("time", _TEXT),
        Column("type", _TEXT),
        Column("reason", _TEXT, required=False),
        Column("amount", _NUMBER, required=False),
        # A prepaid credit bought (`credit`): the credit's name, its amount (`amount`), its
        # currency and id.
        Column("credit", _TEXT, required=False),
        Column("currency", _TEXT, required=False),
        Column("id", _KEY, required=False),
        # A subscription bought (`subscribe`: its plan, quantity, the meter it covers and its
        # id, `id`) or cancelled (`cancel`: the subscription's id, `subscription`).
        Column("plan", _TEXT, required=False),
        Column("quantity", _NUMBER, required=False),
        Column("meter", _TEXT, required=False),
        Column("subscription", _KEY, required=False),
    ),
    ACCOUNTS: (
        Column("account", _KEY),
        Column("opened", _TIME),
    ),
}

_KIND_WORDS = {
    STRING: "a string",
    INTEGER: "a whole number",
    DECIMAL: "a decimal",
    INSTANT: "a timestamp with time zone",
    WALL: "a timestamp without time zone (wall-clock time in the rules' timezone)",
}


class SchemaError(UsageError):
    """An input table without a column it needs, or with a column of the wrong type."""

    def __init__(self, path: str, column: str, message: str) -> None:
        self.path = path
        self.column = column
        super().__init__(f"{path}: column `{column}` {message}")


_DECIMAL = re.compile(r"(?:decimal|numeric)\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)", re.IGNORECASE)
_INTEGERS = frozenset(
    {
        "tinyint",
        "smallint",
        "integer",
        "int",
        "bigint",
        "hugeint",
        "utinyint",
        "usmallint",
        "uinteger",
        "ubigint",
        "uhugeint",
        "int8",
        "int16",
        "int32",
        "int64",
        "long",
        "short",
        "byte",
    }
)
_FLOATS = frozenset({"double", "float", "real", "float4", "float8", "double precision"})
_STRINGS = frozenset({"varchar", "string", "text", "char", "bpchar"})
_INSTANTS = frozenset({"timestamp with time zone", "timestamptz"})
_WALLS = frozenset({"timestamp_ntz", "timestamp without time zone"})


def kind_of(type_name: str, dialect: str = "duckdb") -> str:
    """The kind of an engine's type name: DuckDB `VARCHAR`, `BIGINT`, `DECIMAL(18,3)`, Spark
    `string`, `bigint`, `decimal(18,3)`, ... A plain `timestamp` is a wall-clock time in DuckDB
    and an instant in Spark."""
    name = type_name.strip().lower()
    if name == "timestamp":
        return INSTANT if dialect == "spark" else WALL
    if _DECIMAL.fullmatch(name) or name in ("decimal", "numeric"):
        return DECIMAL
    if name in _INTEGERS:
        return INTEGER
    if name in _FLOATS:
        return FLOAT
    if name in _STRINGS or name.startswith("varchar") or name.startswith("char("):
        return STRING
    if name in _INSTANTS:
        return INSTANT
    if name in _WALLS:
        return WALL
    return OTHER


def decimal_scale(type_name: str) -> int | None:
    """The scale of a DECIMAL type name, or None."""
    match = _DECIMAL.fullmatch(type_name.strip())
    return int(match.group(2)) if match else None


_INTEGER_MAX = {
    **dict.fromkeys(("tinyint", "byte", "int8"), 2**7 - 1),
    **dict.fromkeys(("smallint", "short", "int16"), 2**15 - 1),
    **dict.fromkeys(("integer", "int", "int32"), 2**31 - 1),
    **dict.fromkeys(("bigint", "long", "int64"), 2**63 - 1),
    "hugeint": 2**127 - 1,
    "utinyint": 2**8 - 1,
    "usmallint": 2**16 - 1,
    "uinteger": 2**32 - 1,
    "ubigint": 2**64 - 1,
    "uhugeint": 2**128 - 1,
}


def largest_value(type_name: str) -> int | None:
    """The largest whole part a column of a number type can hold (a DECIMAL(p, s): 10^(p-s) - 1),
    or None for a type without a bound (text)."""
    name = type_name.strip().lower()
    if name in _INTEGER_MAX:
        return _INTEGER_MAX[name]
    match = _DECIMAL.fullmatch(name)
    if match:
        return int(10 ** (int(match.group(1)) - int(match.group(2))) - 1)
    if name in ("decimal", "numeric"):  # DuckDB's default DECIMAL(18, 3)
        return 10**15 - 1
    return None


def check_columns(
    table: str, path: str, columns: Mapping[str, str], dialect: str = "duckdb"
) -> dict[str, str]:
    """The kinds of the columns `table` uses, given an input's column types (name → engine type
    name); SchemaError for the first missing or mistyped column."""
    kinds: dict[str, str] = {}
    for column in SCHEMAS[table]:
        if column.name not in columns:
            if not column.required:
                continue
            expected = ", ".join(c.name if c.required else f"[{c.name}]" for c in SCHEMAS[table])
            near = [c for c in columns if c.strip().lower() == column.name]
            hint = f" (found `{near[0]}`: names are lower case)" if near else ""
            raise SchemaError(
                path, column.name, f"is missing; {table} needs the columns {expected}{hint}"
            )
        type_name = columns[column.name]
        kind = kind_of(type_name, dialect)
        if kind not in column.kinds:
            named = [_KIND_WORDS[k] for k in column.kinds]
            words = ", ".join(named[:-1]) + " or " + named[-1] if len(named) > 1 else named[0]
            why = (
                ": binary floats are not exact, use a DECIMAL or whole numbers"
                if kind == FLOAT
                else ""
            )
            raise SchemaError(path, column.name, f"has type {type_name}; it must be {words}{why}")
        kinds[column.name] = kind
    return kinds


# --- bad rows --------------------------------------------------------------------------------


@attrs.frozen
class RowProblem:
    """A kind of bad input row: a code the SQL computes, a name, and what is wrong."""

    code: int
    name: str
    message: str


TIME_FORMS = "YYYY-MM-DD[(T| )HH:MM[:SS[.ffffff]]][Z|±HH[[:]MM]] (offsets up to ±18:00)"

ROW_PROBLEMS: tuple[RowProblem, ...] = (
    RowProblem(1, "missing account", "the row has no account"),
    RowProblem(2, "missing time", "the row has no time"),
    RowProblem(3, "bad time", f"the time is not an ISO 8601 time of the form {TIME_FORMS}"),
    RowProblem(4, "time out of range", "the time is outside the years 1900 to 9000"),
    RowProblem(
        5,
        "local time at an offset change",
        "a time without an offset in a month when the rules' timezone changes its offset "
        "more than twice; write the offset",
    ),
    RowProblem(6, "missing action", "the row has no action"),
    RowProblem(7, "unknown action", "the action is not one the rules know"),
    RowProblem(8, "unpriced action", "the action is one the rules do not price"),
    RowProblem(9, "missing count", "the row has no count"),
    RowProblem(
        10,
        "bad count",
        "the count is not a plain decimal number (at most 26 digits before the point and 12 after)",
    ),
    RowProblem(11, "negative count", "the count is negative"),
    RowProblem(12, "fractional count", "the meter counts whole units and the count has a fraction"),
    RowProblem(
        13,
        "count too large",
        "the count is above {limit}, the most units one row may count",
    ),
    RowProblem(
        14,
        "bad property",
        "a request's property is missing (it has no default) or has a value its action does not "
        "allow",
    ),
    RowProblem(15, "bad quantity", "a request's quantity is not a whole number from 0 to 10^18"),
    RowProblem(
        16,
        "unknown request field",
        "the request gives a quantity or property its action does not have",
    ),
    RowProblem(20, "missing meter", "the purchase has no meter"),
    RowProblem(21, "unknown meter", "the meter is not one of the rules"),
    RowProblem(22, "bad size", "the size is not a pack size on sale for the meter"),
    RowProblem(
        30,
        "bad event",
        "the event type is not suspend, reopen, topup, credit, subscribe or cancel",
    ),
    RowProblem(31, "bad reason", "the suspension has no reason, or one the rules do not list"),
    RowProblem(32, "bad amount", "the top-up amount is not a positive amount of money"),
    RowProblem(
        33,
        "bad credit",
        "the credit is not a prepaid credit of the rules, or its amount is not a positive "
        "amount of money in the rules' currency (the engine refuses the entry)",
    ),
    RowProblem(
        34,
        "bad subscription",
        "the subscribe or cancel row names no plan the rules sell, a quantity outside the "
        "plan's, a meter it does not cover, or no subscription (the engine refuses the entry)",
    ),
)

#: The most units one usage entry may count: the engine's one limit for a count, whichever way
#: it is read (`literals.MAX_COUNT`, 10^18). The warehouse holds a row to it, or to less when the
#: rules' quantities have many decimals (see `queries.Queries.count_limit`).
MAX_COUNT = literals.MAX_COUNT

PROBLEMS_BY_CODE = {p.code: p for p in ROW_PROBLEMS}
PROBLEM_CODES = {p.name: p.code for p in ROW_PROBLEMS}
#: Internal: a time beyond the calendar table first built (the table is then built in full).
BEYOND_CALENDAR = 99


@attrs.frozen
class InvalidRows:
    """Bad rows of one kind in one input: how many, and a few of them (the first in file order)."""

    table: str
    problem: str
    message: str
    count: int
    samples: tuple[Mapping[str, object], ...] = ()

    def describe(self) -> str:
        lines = [
            f"{self.table}: {self.count} row{'s' if self.count != 1 else ''} with "
            f"{self.problem}: {self.message}"
        ]
        for sample in self.samples:
            where = f"{sample.get('_file', '?')}:{sample.get('_row', '?')}"
            fields = ", ".join(f"{k}={v!r}" for k, v in sample.items() if not k.startswith("_"))
            lines.append(f"  e.g. {where} ({fields})")
        return "\n".join(lines)


@attrs.frozen
class BillProblem:
    """An account's month that cannot be billed (contact sales, a meter with no postpaid price):
    reported, and its bill left out, as the engine refuses to bill it."""

    account: str
    month: str | None
    message: str

    def describe(self) -> str:
        month = f" {self.month}" if self.month else ""
        return f"account {self.account}{month}: {self.message}"


class InvalidInputError(UsageError):
    """Bad input rows when the run stops at them (`on_invalid="stop"`)."""

    def __init__(self, invalid: Sequence[InvalidRows]) -> None:
        self.invalid = tuple(invalid)
        total = sum(i.count for i in invalid)
        super().__init__(
            f"{total} invalid input row{'s' if total != 1 else ''}; nothing was "
            "billed:\n" + "\n".join(i.describe() for i in invalid)
        )


class UnbillableError(UsageError):
    """Account months that cannot be billed, when the run stops at them."""

    def __init__(self, problems: Sequence[BillProblem]) -> None:
        self.problems = tuple(problems)
        shown = "\n".join(p.describe() for p in problems[:10])
        more = f"\n... and {len(problems) - 10} more" if len(problems) > 10 else ""
        super().__init__(
            f"{len(problems)} account month{'s' if len(problems) != 1 else ''} "
            f"cannot be billed:\n{shown}{more}"
        )


# --- outputs ------------------------------------------------------------------------------------

BILL_COLUMNS = ("account", "month", "total")
# What a line says, in the order the lines output gives it (after account, month and line).
LINE_FIELDS = (
    "meter",
    "source",
    "quantity",
    "unit_price",
    "amount",
    "precise_amount",
    "bracket",
    "pack",
    "blocks",
)
# `per` comes last, after the columns lines had before it: N of a price per N units, else null.
LINE_COLUMNS = ("account", "month", "line", *LINE_FIELDS, "period", "per")
OUTPUT_FORMATS = ("parquet", "csv", "jsonl")


def output_format(path: str) -> str:
    """The format of an output path by its extension; UsageError for others."""
    lowered = path.lower()
    for fmt, endings in (
        ("parquet", (".parquet", ".pq")),
        ("csv", (".csv",)),
        ("jsonl", (".jsonl", ".ndjson", ".json")),
    ):
        if lowered.endswith(endings):
            return fmt
    raise UsageError(f"{path}: write bills to a .parquet, .csv or .jsonl file")


def input_format(path: str) -> str:
    """`parquet` or `csv`, by extension; UsageError for others."""
    lowered = path.lower()
    if lowered.endswith((".parquet", ".pq")):
        return "parquet"
    if lowered.endswith((".csv", ".csv.gz")):
        return "csv"
    raise UsageError(f"{path}: read usage from .parquet or .csv files")
