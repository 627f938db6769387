"""The requests table: request rows turned into usage rows (their parts) in SQL, on DuckDB.

A row of the requests table is one `request` entry: `account, time, action[, id]` and one
column per quantity and per property the rules declare (a column a row's action does not
declare is left empty; an empty quantity is 0, an empty property takes its default). Each row
becomes the usage parts `RequestPlan.parts` makes of the entry, with the per-entry minimums
`JournalReader.request` applies, computed in SQL: one row per part with the meter it counts
into (`part_meter`), or one row with its problem (`req_problem`) when the row is bad. The view
these make (`usage_src`, beside the usage table's rows when there is one) is what the usage
pipeline reads, so allowances, packs and ladders bill the parts as they bill usage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal

from ratecard.engine.pricebook import PriceBook
from ratecard.engine.requests import MAX_QUANTITY, RequestPlan
from ratecard.errors import UsageError
from ratecard.warehouse.schema import (
    DECIMAL,
    INTEGER,
    PROBLEM_CODES,
    STRING,
    kind_of,
)
from ratecard.warehouse.sql import DUCKDB, SPARK

REQUESTS = "requests"

#: The columns every request row has (`id` optional); the others are quantities and properties.
KEY_COLUMNS = ("account", "time", "action", "id")


def text(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def name(column: str) -> str:
    """A SQL identifier."""
    return '"' + column.replace('"', '""') + '"'


class Flavor:
    """The SQL spelling of one engine for the parts view: DuckDB's, or Spark's (identifiers
    in backticks, backslash escapes in string literals, DECIMAL(38, 0) for HUGEINT, arrays of
    structs exploded for DuckDB's parallel UNNESTs)."""

    def __init__(self, dialect: str = DUCKDB) -> None:
        self.dialect = dialect
        self.spark = dialect == SPARK
        self.big = "DECIMAL(38, 0)" if self.spark else "HUGEINT"
        self.string = "STRING" if self.spark else "VARCHAR"

    def name(self, column: str) -> str:
        """An identifier."""
        if self.spark:
            return "`" + column.replace("`", "``") + "`"
        return name(column)

    def text(self, value: str) -> str:
        """A string literal."""
        if self.spark:
            return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
        return text(value)

    def whole_number(self, trimmed: str) -> str:
        """The test that a text is a whole number of at most 19 digits (`.0…` allowed)."""
        if self.spark:
            return f"({trimmed} RLIKE '^[0-9]{{1,19}}([.]0*)?$')"
        return f"regexp_full_match({trimmed}, '[0-9]{{1,19}}(\\.0*)?')"


def check_request_columns(book: PriceBook, path: str, columns: Mapping[str, str]) -> None:
    """UsageError for a requests table without its key columns, with a column that is no
    quantity or property of any request (a misspelt column would bill as 0), or with a
    quantity column of binary floats."""
    for key in ("account", "time", "action"):
        if key not in columns:
            raise UsageError(
                f"{path}: column `{key}` is missing; the requests table needs the columns "
                "account, time, action[, id] and one per quantity and property of its requests"
            )
    known = {c for plan in book.requests.values() for c in (*plan.meters, *plan.properties)}
    for column, type_name in columns.items():
        if column in KEY_COLUMNS:
            continue
        if column not in known:
            raise UsageError(
                f"{path}: column `{column}` is not a quantity or property of any request of "
                f"the rules (quantities and properties: {', '.join(sorted(known)) or 'none'})"
            )
        quantity = any(column in plan.meters for plan in book.requests.values())
        if quantity and kind_of(type_name) not in (INTEGER, DECIMAL, STRING):
            raise UsageError(
                f"{path}: column `{column}` has type {type_name}; a quantity column must be "
                "whole numbers, a DECIMAL or text"
            )


def _quantity(
    column: str, type_name: str | None, flavor: Flavor | None = None
) -> tuple[str, str]:
    """A quantity column's value (a HUGEINT, NULL when empty) and the test that it is bad (not a
    whole number from 0 to the most a quantity may be)."""
    sql = flavor or Flavor()
    big = sql.big
    if type_name is None:
        return f"CAST(0 AS {big})", "FALSE"
    col = sql.name(column)
    kind = kind_of(type_name, sql.dialect)
    most = str(MAX_QUANTITY)
    if kind == INTEGER:
        return (f"CAST({col} AS {big})", f"({col} < 0 OR {col} > {most})")
    if kind == DECIMAL:
        return (
            f"TRY_CAST(FLOOR({col}) AS {big})",
            f"({col} < 0 OR {col} > {most} OR {col} <> FLOOR({col}))",
        )
    trimmed = f"trim(CAST({col} AS {sql.string}))"
    return (
        f"TRY_CAST(split_part({trimmed}, '.', 1) AS {big})",
        f"(NOT {sql.whole_number(trimmed)} "
        f"OR TRY_CAST(split_part({trimmed}, '.', 1) AS {big}) > {most})",
    )


class _Action:
    """The SQL of one request action's rows: its problem test and its parts."""

    def __init__(
        self,
        plan: RequestPlan,
        columns: Mapping[str, str],
        meter_index: Callable[[str], int],
        number: int,
        flavor: Flavor | None = None,
    ) -> None:
        self.sql = flavor or Flavor()
        self.plan = plan
        self.columns = columns
        self.meter_index = meter_index
        self.number = number  # (the names of its computed columns: `v1_model`, `q1_input`)

    def value(self, prop: str) -> str:
        """The column of a property's value (computed once per row: `value_sql`)."""
        return self.sql.name(f"v{self.number}_{prop}")

    def count(self, quantity: str) -> str:
        """The column of a quantity's units (computed once per row: `count_sql`)."""
        return self.sql.name(f"q{self.number}_{quantity}")

    def computed(self) -> tuple[list[str], list[str]]:
        """The columns computed once per row: property values and quantities, then the rules
        that apply (which read them)."""
        first = [f"{self.value_sql(p)} AS {self.value(p)}" for p in self.plan.properties]
        first += [f"{self.count_sql(q)} AS {self.count(q)}" for q in self.plan.meters]
        second = [
            f"{test} AS {self.sql.name(f'a{self.number}_{rule}')}"
            for rule, test in self.active_sql().items()
        ]
        return first, second

    def given(self, prop: str) -> str:
        """A property column's text, trimmed."""
        return f"trim(CAST({self.sql.name(prop)} AS {self.sql.string}))"

    def value_sql(self, prop: str) -> str:
        """A property's value in a row (its default when empty): text, or a boolean."""
        spec = self.plan.properties[prop]
        given = self.given(prop) if prop in self.columns else "NULL"
        if spec.values is None:
            default = "NULL" if spec.default is None else ("TRUE" if spec.default else "FALSE")
            return f"COALESCE(lower({given}) = 'true', {default})"
        default = "NULL" if spec.default is None else self.sql.text(str(spec.default))
        return f"COALESCE({given}, {default})"

    def problem(self) -> str:
        """The row's first problem (a code), or NULL."""
        whens: list[str] = []
        bad_field = PROBLEM_CODES["unknown request field"]
        for column in self.columns:
            if column in KEY_COLUMNS or column in (*self.plan.meters, *self.plan.properties):
                continue
            whens.append(f"WHEN {self.sql.name(column)} IS NOT NULL THEN {bad_field}")
        bad_property = PROBLEM_CODES["bad property"]
        for prop, spec in self.plan.properties.items():
            given = self.given(prop) if prop in self.columns else None
            if given is not None:
                allowed = ("true", "false") if spec.values is None else spec.values
                test = (f"lower({given})" if spec.values is None else given) + " NOT IN (" + (
                    ", ".join(self.sql.text(v) for v in allowed)) + ")"
                whens.append(
                    f"WHEN {self.sql.name(prop)} IS NOT NULL AND {test} THEN {bad_property}"
                )
            if spec.default is None:
                missing = "TRUE" if given is None else f"{self.sql.name(prop)} IS NULL"
                whens.append(f"WHEN {missing} THEN {bad_property}")
        bad_quantity = PROBLEM_CODES["bad quantity"]
        for quantity in self.plan.meters:
            if quantity in self.columns:
                _, bad = _quantity(quantity, self.columns[quantity], self.sql)
                whens.append(
                    f"WHEN {self.sql.name(quantity)} IS NOT NULL AND {bad} THEN {bad_quantity}"
                )
        return "CASE " + " ".join(whens) + " END" if whens else "NULL"

    def count_sql(self, quantity: str) -> str:
        value, _ = _quantity(quantity, self.columns.get(quantity), self.sql)
        return f"COALESCE({value}, 0)"

    def active_sql(self) -> dict[str, str]:
        """Per rule (modifier or threshold), the test that it applies to the row, as
        `RequestPlan._active` decides (the first threshold that holds, no later one)."""
        tests: dict[str, str] = {}
        earlier: list[str] = []
        for rule in self.plan.rules:
            parts: list[str] = []
            for prop, wanted in rule.conditions:
                if isinstance(wanted, bool):
                    parts.append(f"({self.value(prop)}) = {'TRUE' if wanted else 'FALSE'}")
                else:
                    parts.append(f"({self.value(prop)}) = {self.sql.text(wanted)}")
            if rule.limit is not None:
                total = " + ".join(self.count(q) for q in rule.quantities) or "0"
                parts.append(f"({total}) {'>' if rule.strict else '>='} {rule.limit}")
                raw = " AND ".join(parts)
                tests[rule.name] = " AND ".join(
                    [f"COALESCE({raw}, FALSE)", *(f"NOT COALESCE({e}, FALSE)" for e in earlier)]
                )
                earlier.append(raw)
            else:
                tests[rule.name] = f"COALESCE({' AND '.join(parts) or 'TRUE'}, FALSE)"
        return tests

    def parts(
        self, minimums: Mapping[str, Decimal], fractional: bool
    ) -> list[tuple[str, str]]:
        """The row's parts: per quantity and charged meter, the meter's index and the units
        (after the route's per-entry minimum), as SQL."""
        plan = self.plan
        count_type = "DECIMAL(38, 12)" if fractional else self.sql.big

        def counted(route: str, count: str) -> str:
            least = minimums.get(route)
            if least is not None:
                count = f"CASE WHEN {count} > 0 AND {count} < {least} THEN {least} ELSE {count} END"
            return f"CAST({count} AS {count_type})"

        def meter(route: str) -> str:
            return str(self.meter_index(plan.part_meters[route]))

        made: list[tuple[str, str]] = []
        active = {r.name: self.sql.name(f"a{self.number}_{r.name}") for r in plan.rules}
        for quantity in plan.meters:
            count = self.count(quantity)
            route = plan.routes.get(quantity)
            if route is not None:
                made.append((meter(route), counted(route, count)))
                continue
            prop, by_value = plan.cell_routes[quantity]
            meters: list[str] = []
            counts: list[str] = []
            for value, variants in by_value.items():
                deciding = [r.name for r in plan.rules if (r.name,) in variants]
                inner_meters: list[str] = []
                inner_counts: list[str] = []
                for key, cell in variants.items():
                    test = " AND ".join(
                        active[r] if r in key else f"NOT {active[r]}" for r in deciding
                    ) or "TRUE"
                    inner_meters.append(f"WHEN {test} THEN {meter(cell)}")
                    inner_counts.append(f"WHEN {test} THEN {counted(cell, count)}")
                meters.append(f"WHEN {self.sql.text(value)} THEN CASE {' '.join(inner_meters)} END")
                counts.append(f"WHEN {self.sql.text(value)} THEN CASE {' '.join(inner_counts)} END")
            cells = [cell for variants in by_value.values() for cell in variants.values()]
            made.append((
                f"CASE {self.value(prop)} {' '.join(meters)} END",
                # No minimum on any of its cells: the units are the quantity's, whatever cell.
                f"CASE {self.value(prop)} {' '.join(counts)} END"
                if any(cell in minimums for cell in cells)
                else f"CASE WHEN {self.value(prop)} IS NOT NULL "
                f"THEN {counted(cells[0], count)} END",
            ))
        charged: dict[str, list[str]] = {}
        for charge, when, unless in plan.charges:
            tests = [f"{self.value(p)} IS TRUE" for p in when]
            if unless is not None:
                tests.append(f"{self.value(unless)} IS NOT TRUE")
            test = " AND ".join(tests) or "TRUE"
            charged.setdefault(f"{plan.name}:{charge}", []).append(
                f"CASE WHEN {test} THEN 1 ELSE 0 END"
            )
        for route, counts_of in charged.items():
            made.append((meter(route), counted(route, " + ".join(counts_of))))
        return made


def parts_view(
    book: PriceBook,
    columns: Mapping[str, str],
    meter_index: Callable[[str], int],
    usage: Mapping[str, str] | None,
    dialect: str = DUCKDB,
    timed: str | None = None,
) -> str:
    """The SQL of the `usage_src` view: the parts of `requests_src`'s rows (`columns`: its
    column types) and, with `usage` (its column types), the rows of `usage_in`. Columns:
    account, time, action, count[, id], _file, _row, part_meter (NULL: a usage row),
    req_problem (NULL: a good row), _part (a part's place in its row: the engine's order of a
    request's parts, its quantities in the rules' order, then its charges; 0 for a usage
    row). Each row's values, rules and parts are computed once per request, then its parts are
    unnested. `dialect` is the engine's (DuckDB's or Spark's SQL:
    the same view, spelt for each).

    `timed` (without `usage`): the SQL of `requests_src`'s rows with their time read
    (`Queries.instants`: the columns `_instant`, `_time_problem`, `_ord`, `_late` added), read
    instead of `requests_src`, so that a request's time is parsed and labelled with its month
    once, not once per part; its parts carry those columns (`UsagePlan.timed`)."""
    sql = Flavor(dialect)
    if usage is not None:
        timed = None
    minimums: dict[str, Decimal] = {}
    for plan in book.requests.values():
        for route, meter in plan.part_meters.items():
            least = next(m for m in book.meters if m.name == meter).entry_minimum
            if least is not None:
                minimums[route] = least
    fractional = any(m != m.to_integral_value() for m in minimums.values())
    count_type = "DECIMAL(38, 12)" if fractional else sql.big
    problems: list[str] = []
    firsts: list[str] = []
    seconds: list[str] = []
    made: list[str] = []
    keys = ["account", "time", "action", *(["id"] if "id" in columns else [])]
    time_text = usage is not None and (
        kind_of(columns["time"], dialect) != kind_of(usage["time"], dialect)
    )
    account_text = usage is not None and (
        kind_of(columns["account"], dialect) != kind_of(usage["account"], dialect)
    )

    def key(column: str) -> str:
        if (column == "time" and time_text) or (column == "account" and account_text):
            return f"CAST({column} AS {sql.string}) AS {column}"
        if column == "id" and usage is not None:
            return f"CAST({column} AS {sql.string}) AS {column}"
        return column

    shown = f"{', '.join(keys)}, _file, _row"
    if timed is not None:
        shown += ", _instant, _time_problem, _ord, _late"
    good = (
        "req_problem IS NULL AND action IS NOT NULL AND account IS NOT NULL AND time IS NOT NULL"
    )
    meter_lists: list[str] = []
    count_lists: list[str] = []
    place_lists: list[str] = []
    for number, (action, plan) in enumerate(book.requests.items()):
        made_sql = _Action(plan, columns, meter_index, number, sql)
        first, second = made_sql.computed()
        firsts += first
        seconds += second
        problems.append(f"WHEN {sql.text(action)} THEN {made_sql.problem()}")
        meters: list[str] = []
        counts: list[str] = []
        for index, (meter, count) in enumerate(made_sql.parts(minimums, fractional)):
            m, n = sql.name(f"m{number}_{index}"), sql.name(f"n{number}_{index}")
            made += [f"{meter} AS {m}", f"{count} AS {n}"]
            meters.append(m)
            counts.append(f"CASE WHEN {n} > 0 THEN {n} END")
        # A request with no units still makes one part (of 0 units), so its entry is seen.
        meters.append(str(meter_index(next(iter(plan.part_meters.values())))))
        none = " OR ".join(f"COALESCE({c} IS NOT NULL, FALSE)" for c in counts) or "FALSE"
        counts.append(f"CASE WHEN NOT ({none}) THEN CAST(0 AS {count_type}) END")
        if sql.spark:
            # Spark: one array of (meter, count, place) structs, exploded (DuckDB unnests three
            # lists side by side).
            pairs = ", ".join(
                f"named_struct('m', CAST({m} AS INT), 'n', CAST({n} AS {count_type}), "
                f"'p', {place})"
                for place, (m, n) in enumerate(zip(meters, counts, strict=True))
            )
            meter_lists.append(f"WHEN {sql.text(action)} THEN array({pairs})")
        else:
            meter_lists.append(f"WHEN {sql.text(action)} THEN [{', '.join(meters)}]")
            count_lists.append(f"WHEN {sql.text(action)} THEN [{', '.join(counts)}]")
            places = ", ".join(str(place) for place in range(len(meters)))
            place_lists.append(f"WHEN {sql.text(action)} THEN [{places}]")
    unknown = PROBLEM_CODES["unknown action"]
    problem = (
        f"CASE WHEN action IS NULL THEN NULL WHEN action NOT IN "
        f"({', '.join(sql.text(a) for a in book.requests)}) THEN {unknown} ELSE CASE action "
        f"{' '.join(problems)} END END"
    )
    source = "requests_src" if timed is None else f"({timed}) AS timed"
    computed = (
        f"SELECT {', '.join(key(c) for c in keys)}, _file, _row"
        + (", _instant, _time_problem, _ord, _late" if timed is not None else "")
        + f", {problem} AS req_problem"
        + "".join(f", {c}" for c in made)
        + " FROM (SELECT *" + "".join(f", {c}" for c in seconds)
        + " FROM (SELECT *" + "".join(f", {c}" for c in firsts)
        + f" FROM {source}))"
    )
    if sql.spark:
        nothing = (
            f"named_struct('m', CAST(NULL AS INT), 'n', CAST(NULL AS {count_type}), 'p', 0)"
        )
        unnested = (
            f"SELECT {shown}, req_problem, good, part.m AS part_meter, part.n AS count, "
            "part.p AS _part FROM ("
            f"SELECT {shown}, req_problem, {good} AS good, "
            f"explode(CASE WHEN {good} THEN CASE action {' '.join(meter_lists)} END "
            f"ELSE array({nothing}) END) AS part FROM ({computed}))"
        )
    else:
        unnested = (
            f"SELECT {shown}, req_problem, {good} AS good, "
            f"UNNEST(CASE WHEN {good} THEN CASE action {' '.join(meter_lists)} END "
            "ELSE [CAST(NULL AS INTEGER)] END) AS part_meter, "
            f"UNNEST(CASE WHEN {good} THEN CASE action {' '.join(count_lists)} END "
            f"ELSE [CAST(NULL AS {count_type})] END) AS count, "
            f"UNNEST(CASE WHEN {good} THEN CASE action {' '.join(place_lists)} END "
            f"ELSE [0] END) AS _part FROM ({computed})"
        )
    parted = (
        f"SELECT {shown}, req_problem, CAST(part_meter AS INTEGER) AS part_meter, count, "
        f"CAST(_part AS INTEGER) AS _part FROM ({unnested}) WHERE NOT good OR count IS NOT NULL"
    )
    if usage is None:
        return parted
    used = ["account", "time", "action", "count", *(["id"] if "id" in usage else [])]
    if sql.spark:
        # No UNION BY NAME nor SELECT * REPLACE: both sides list the same columns, in order.
        text_count = kind_of(usage["count"], dialect) == STRING
        parts_side = {
            c: c for c in (*keys, "_file", "_row", "req_problem", "part_meter", "_part")
        }
        parts_side["count"] = "CAST(count AS STRING) AS count" if text_count else "count"
        usage_side = {c: key(c) for c in used}
        usage_side.update(
            _file="_file", _row="_row", req_problem="CAST(NULL AS INT) AS req_problem",
            part_meter="CAST(NULL AS INT) AS part_meter", _part="CAST(0 AS INT) AS _part",
        )
        order = ["account", "time", "action", "count", "_file", "_row", "req_problem",
                 "part_meter", "_part",
                 *(["id"] if "id" in parts_side or "id" in usage_side else [])]

        def listed(side: Mapping[str, str]) -> str:
            return ", ".join(side.get(c, f"CAST(NULL AS STRING) AS {c}") for c in order)

        return (
            f"SELECT {listed(parts_side)} FROM ({parted}) UNION ALL "
            f"SELECT {listed(usage_side)} FROM usage_in"
        )
    if kind_of(usage["count"]) == STRING:
        parted = f"SELECT * REPLACE (CAST(count AS VARCHAR) AS count) FROM ({parted})"
    usage_rows = (
        f"SELECT {', '.join(key(c) for c in used)}, _file, _row, "
        "CAST(NULL AS INTEGER) AS req_problem, CAST(NULL AS INTEGER) AS part_meter, "
        "CAST(0 AS INTEGER) AS _part FROM usage_in"
    )
    return f"SELECT * FROM ({parted}) UNION ALL BY NAME SELECT * FROM ({usage_rows})"
