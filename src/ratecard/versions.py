"""Dated versions and contracts on the syntax tree: the whole sheet in effect from each day.

A version (`from 2027-01-01 { ... }`) and a contract both change a sheet by restating some of
its statements: a `ladder` replaces the ladders of the meters it names, a `packs` table sets the
cells it lists (meter × size; `-` withdraws a size), an `allowance` replaces the allowances of
its meters. `merge` applies such changes to a sheet and returns a whole sheet, so that `check`
checks every version as a sheet of its own and `compile` compiles each one with the compiler
of a plain sheet: one definition of what a sheet means, whichever day it is.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date

import attrs

from ratecard import nodes as n
from ratecard.diagnostics import Diagnostic, did_you_mean, error
from ratecard.source import Span

# What a version may restate, and what a contract may add or restate. A request's price table,
# modifiers and thresholds are restated with new prices (and factors) only: their shape (the
# request, property, rows, columns, conditions and meters) is the sheet's (E704 otherwise), so
# that every version bills the same requests into the same meters.
VERSION_STATEMENTS = (n.Allowance, n.Packs, n.Ladder, n.Prices, n.Modifier, n.Above)
CONTRACT_ONLY = (n.ContractDecl, n.Accounts, n.Discount, n.MinimumSpend)
CONTRACT_STATEMENTS = (n.Allowance, n.Packs, n.Ladder, n.Discount, n.MinimumSpend)
KEYWORDS: dict[type[object], str] = {
    n.RulesDecl: "rules", n.CurrencySetting: "currency", n.RoundingSetting: "rounding",
    n.TimezoneSetting: "timezone", n.LanguagesSetting: "languages", n.Meter: "meter",
    n.Unpriced: "unpriced", n.Allowance: "allowance", n.Packs: "packs", n.Ladder: "ladder",
    n.Deduct: "deduct", n.Alert: "alert", n.Bill: "bill", n.Suspend: "suspend",
    n.Version: "from", n.ContractDecl: "contract", n.Accounts: "accounts",
    n.Discount: "discount", n.MinimumSpend: "minimum spend", n.Grant: "grant",
    n.Credit: "credit", n.Prices: "prices", n.Modifier: "modifier", n.Above: "above",
    n.Request: "request",
}


def keyword(statement: n.Statement) -> str:
    return KEYWORDS.get(type(statement), type(statement).__name__.lower())


def base(rules: n.Rules) -> n.Rules:
    """The sheet as first written: its statements without the dated versions."""
    return attrs.evolve(rules, statements=tuple(
        s for s in rules.statements if not isinstance(s, n.Version)))


def versions(rules: n.Rules) -> list[n.Version]:
    """The dated versions of a rules file, in source order."""
    return [s for s in rules.statements if isinstance(s, n.Version)]


def meter_names(rules: n.Rules) -> list[str]:
    names: list[str] = []
    for statement in rules.statements:
        if isinstance(statement, n.Meter) and statement.name.value not in names:
            names.append(statement.name.value)
    return names


def targets(target: n.Target, meters: Sequence[str]) -> list[str]:
    """The known meters a target names (unknown ones are the checker's to report)."""
    return target.of(meters)


def timeline(rules: n.Rules) -> list[tuple[n.Version | None, n.Rules]]:
    """The whole sheet from each day: the first as written, then one per version, each the
    previous one with that version's changes applied (a version with errors in its date or
    body is applied as far as it goes; `check` reports them)."""
    current = base(rules)
    sheets: list[tuple[n.Version | None, n.Rules]] = [(None, current)]
    for version in versions(rules):
        changes = tuple(s for s in version.body or () if isinstance(s, VERSION_STATEMENTS))
        current, _ = merge(current, changes)
        sheets.append((version, current))
    return sheets


def merge(
    sheet: n.Rules, changes: Sequence[n.Statement]
) -> tuple[n.Rules, list[Diagnostic]]:
    """`sheet` with `changes` restated in it, and the diagnostics of changes that cannot be
    restated (part of a `combined` ladder or of a `shared` allowance)."""
    meters = meter_names(sheet)
    statements = list(sheet.statements)
    problems: list[Diagnostic] = []
    for change in changes:
        if isinstance(change, n.Ladder | n.Allowance):
            names = set(targets(change.target, meters))
            statements, found = _replace(statements, change, names, meters)
            problems.extend(found)
        elif isinstance(change, n.Packs):
            statements = _merge_packs(statements, change)
        elif isinstance(change, n.Prices | n.Modifier | n.Above):
            statements, found = _restate_prices(statements, change)
            problems.extend(found)
    return attrs.evolve(sheet, statements=tuple(statements)), problems


def _priced_shape(statement: n.Prices | n.Modifier | n.Above) -> tuple[object, ...]:
    """What a restated price table, modifier or threshold keeps: all but its prices (a
    table's cells and derivation factors, a modifier's factor, a threshold's cells)."""
    if isinstance(statement, n.Prices):
        derived = {d.meter.value for d in statement.derivations}
        return ("prices", statement.request.value, statement.property.value,
                frozenset({m.value for m in statement.meters} | derived),
                tuple(row.value.value for row in statement.rows))
    if isinstance(statement, n.Modifier):
        return ("modifier", statement.name.value, statement.conditions,
                tuple(m.value for m in statement.meters))
    return ("above", statement.name.value, statement.conditions, statement.sums,
            statement.property.value, tuple(m.value for m in statement.meters),
            tuple(row.value.value for row in statement.rows))


def _restated(statement: n.Statement, change: n.Prices | n.Modifier | n.Above) -> bool:
    """Whether `change` restates `statement` (the table of the same request and property, the
    modifier or threshold of the same name)."""
    if isinstance(change, n.Prices):
        return (isinstance(statement, n.Prices)
                and statement.request.value == change.request.value
                and statement.property.value == change.property.value)
    return type(statement) is type(change) and statement.name.value == change.name.value


def _restate_prices(
    statements: list[n.Statement], change: n.Prices | n.Modifier | n.Above
) -> tuple[list[n.Statement], list[Diagnostic]]:
    """The sheet with a version's price table, modifier or threshold in place of its own, or
    the sheet as it is and an E704 where the version would change more than prices."""
    word = keyword(change)
    for index, statement in enumerate(statements):
        if not _restated(statement, change):
            continue
        assert isinstance(statement, n.Prices | n.Modifier | n.Above)
        if _priced_shape(statement) != _priced_shape(change):
            what = {"prices": "its rows and columns", "modifier": "its condition and meters",
                    "above": "its condition, limit, rows and columns"}[word]
            return statements, [error(
                "E704", f"a version restates `{word}` with other than new prices",
                _first_word(change), f"a version keeps {what}: it changes prices only",
                f"restate the `{word}` at line {statement.span.line} with the same "
                "shape and new prices; a new shape is a change of the sheet itself")]
        return [*statements[:index], change, *statements[index + 1:]], []
    return statements, [error(
        "E704", f"a version restates a `{word}` the sheet does not have", _first_word(change),
        "a version changes the prices of what the sheet declares",
        "declare it in the sheet as first written, then restate its prices here")]


def _replace(
    statements: list[n.Statement], change: n.Ladder | n.Allowance, names: set[str],
    meters: Sequence[str],
) -> tuple[list[n.Statement], list[Diagnostic]]:
    kind = type(change)
    out: list[n.Statement] = []
    problems: list[Diagnostic] = []
    for statement in statements:
        if not isinstance(statement, kind):
            out.append(statement)
            continue
        assert isinstance(statement, n.Ladder | n.Allowance)
        own = targets(statement.target, meters)
        kept = [m for m in own if m not in names]
        if len(kept) == len(own):
            out.append(statement)
            continue
        whole = (statement.combined if isinstance(statement, n.Ladder) else statement.shared)
        if whole and kept:
            what = "combined ladder" if isinstance(statement, n.Ladder) else "shared allowance"
            problems.append(error(
                "E707", f"restates part of a {what}", change.target.span,
                f"the {what} at line {statement.span.line} is over "
                + ", ".join(f"`{m}`" for m in own),
                f"restate the {what} as a whole: on {', '.join(own)}"))
            return statements, problems
        if kept:
            target = statement.target
            out.append(attrs.evolve(statement, target=n.Target(
                False, tuple(n.Name(m, target.span) for m in kept), target.span)))
    out.append(change)
    return out, problems


def _merge_packs(statements: list[n.Statement], change: n.Packs) -> list[n.Statement]:
    """The sheet's pack tables with a version's or contract's table merged in. One table
    takes the change whole (as it always did); of several, each keeps its own options (its
    validity, refund window, stop) and takes the change's rows of its meters, and a meter new
    to every table goes to the first. Options the change gives replace those of the tables it
    restates rows of (of every table, if it has no rows)."""
    tables = [s for s in statements if isinstance(s, n.Packs)]
    if len(tables) > 1:
        return _merge_tables(statements, tables, change)
    cells: dict[str, dict[object, n.PackCell]] = {}
    sizes: dict[object, n.Number] = {}
    for table in (*tables, change):
        for size_row in (table.sizes, *table.more_sizes):
            for size in size_row:
                sizes.setdefault(size.value if size.value is not None else size.text, size)
        for row in table.rows:
            row_cells = cells.setdefault(row.meter.value, {})
            for size, cell in zip(table.row_sizes(row), row.cells, strict=False):
                row_cells[size.value if size.value is not None else size.text] = cell
    first = tables[0] if tables else change
    options = change if (change.valid or change.restrictions or change.refunds
                         or change.stops) else first
    ordered = sorted(sizes.items(), key=lambda item: (
        item[1].value is None, item[1].value or 0))
    rows = tuple(
        n.PackRow(
            _row_name(meter, (*tables, change)),
            tuple(row_cells.get(key, n.NotOffered(change.span)) for key, _ in ordered),
            change.span,
            tuple(s for _, s in ordered),
        )
        for meter, row_cells in cells.items()
    )
    merged = n.Packs(options.valid, options.restrictions, tuple(s for _, s in ordered), rows,
                     change.sizes_span, change.span, options.refunds, options.stops)
    out: list[n.Statement] = []
    placed = False
    for statement in statements:
        if isinstance(statement, n.Packs):
            if not placed:
                out.append(merged)
                placed = True
            continue
        out.append(statement)
    if not placed:
        out.append(merged)
    return out


def _merge_tables(
    statements: list[n.Statement], tables: list[n.Packs], change: n.Packs
) -> list[n.Statement]:
    home = {row.meter.value: index for index, table in enumerate(tables) for row in table.rows}
    parts: dict[int, list[n.PackRow]] = {}
    for row in change.rows:
        parts.setdefault(home.get(row.meter.value, 0), []).append(row)
    optioned = bool(change.valid or change.restrictions or change.refunds or change.stops)
    merged: list[n.Packs] = []
    for index, table in enumerate(tables):
        # The change's options are those of the tables it restates rows of (of every table
        # when it restates none).
        mine = optioned and (index in parts or not change.rows)
        own = attrs.evolve(change, rows=tuple(parts.get(index, ())),
                           valid=change.valid if mine else table.valid,
                           restrictions=change.restrictions if mine else table.restrictions,
                           refunds=change.refunds if mine else table.refunds,
                           stops=change.stops if mine else table.stops)
        if not own.rows and not mine:
            merged.append(table)
            continue
        (result,) = [s for s in _merge_packs([table], own) if isinstance(s, n.Packs)]
        merged.append(result)
    out: list[n.Statement] = []
    position = 0
    for statement in statements:
        if isinstance(statement, n.Packs):
            out.append(merged[position])
            position += 1
        else:
            out.append(statement)
    return out


def _row_name(meter: str, tables: Sequence[n.Packs]) -> n.Name:
    for table in tables:
        for row in table.rows:
            if row.meter.value == meter:
                return row.meter
    raise AssertionError(meter)


# --- checks of versions -------------------------------------------------------------------

def _day_problem(day: n.Day, what: str) -> Iterator[Diagnostic]:
    if day.value is None:
        yield error("E701", f"`{day.text}` is not a day", day.span, day.problem,
                    "write a day of the calendar as YYYY-MM-DD, e.g. `2027-01-01`")
    elif day.value.day != 1:
        first = day.value.replace(day=1)
        following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
        yield error("E702", f"{what} `{day.text}` is not the start of a billing period",
                    day.span, "prices change between monthly bills, on a month's first day",
                    f"write `{first.isoformat()}` or `{following.isoformat()}`")


def check_versions(rules: n.Rules) -> Iterator[Diagnostic]:
    """Versions of a rules file: real days that start a month, in ascending order, with a block
    of the statements a version may restate; no contract statements in a rules file."""
    previous: n.Version | None = None
    for statement in rules.statements:
        if isinstance(statement, CONTRACT_ONLY) or (
                isinstance(statement, n.Allowance) and statement.extra is not None):
            yield _contract_only(statement)
        if not isinstance(statement, n.Version):
            continue
        version = statement
        yield from _day_problem(version.start, "version day")
        if version.until is not None:
            yield error("E705", "a version has no end day", version.until.span,
                        "a version lasts until the next one starts",
                        "remove `until ...`; to end a change, start another version")
        if version.body is None:
            yield error("E705", "version without a block", version.start.span,
                        "what changes from this day?",
                        f"write `from {version.start.text} {{ ... }}` with the allowances, "
                        "packs or ladders that change")
        if version.keep is not None:
            keep = version.keep
            yield from _day_problem(keep.until, "grandfathering end")
            if keep.before.value is None:
                yield from _day_problem(keep.before, "opening day")
            if (keep.until.value is not None and version.start.value is not None
                    and keep.until.value <= version.start.value):
                yield error("E705", "grandfathering ends before the version starts",
                            keep.until.span, f"the version starts on {version.start.text}",
                            "existing accounts keep the previous prices until a day after "
                            "the version's")
        if (previous is not None and previous.start.value is not None
                and version.start.value is not None
                and version.start.value <= previous.start.value):
            yield error("E703", f"version `{version.start.text}` is not after the one before",
                        version.start.span, f"the version at line {previous.span.line} starts "
                        f"on {previous.start.text}",
                        "write versions in ascending order of day, one per day")
        previous = version
        for inner in version.body or ():
            if isinstance(inner, CONTRACT_ONLY) or (
                    isinstance(inner, n.Allowance) and inner.extra is not None):
                yield _contract_only(inner)
            elif not isinstance(inner, VERSION_STATEMENTS):
                yield error("E704", f"a version cannot restate `{keyword(inner)}`",
                            _first_word(inner), "a version changes allowances, packs, "
                            "ladders and prices; the rest of the sheet is the same from day to "
                            "day",
                            f"move `{keyword(inner)}` out of the version"
                            if not isinstance(inner, n.Version) else
                            "write each version at the top level")
    current = base(rules)
    for version in versions(rules):
        changes = tuple(s for s in version.body or () if isinstance(s, VERSION_STATEMENTS))
        current, problems = merge(current, changes)
        yield from problems


def _contract_only(statement: n.Statement) -> Diagnostic:
    word = "extra allowance" if isinstance(statement, n.Allowance) else keyword(statement)
    return error("E706", f"`{word}` belongs in a contract", _first_word(statement),
                 "a rules file states the public price list",
                 "put customer terms in a contract file: "
                 '`contract NAME extends "this.rules"`')


def _first_word(statement: n.Statement) -> Span:
    span = statement.span
    return attrs.evolve(span, end=min(span.end, span.start + len(keyword(statement))))


# --- contracts ------------------------------------------------------------------------------

@attrs.frozen
class ContractTree:
    """A contract file's parts, as written."""

    header: n.ContractDecl
    accounts: tuple[n.Name, ...]
    term: n.Version | None
    changes: tuple[n.Statement, ...]  # ladders and packs tables to restate
    extra: tuple[n.Allowance, ...]
    discounts: tuple[n.Discount, ...]
    minimum: n.MinimumSpend | None


def is_contract(rules: n.Rules) -> bool:
    """Whether a file is a contract: it starts with `contract`."""
    return bool(rules.statements) and isinstance(rules.statements[0], n.ContractDecl)


def contract_parts(rules: n.Rules) -> ContractTree:
    header = next(s for s in rules.statements if isinstance(s, n.ContractDecl))
    return ContractTree(
        header,
        tuple(a for s in rules.statements if isinstance(s, n.Accounts) for a in s.accounts),
        next((s for s in rules.statements if isinstance(s, n.Version)), None),
        tuple(s for s in rules.statements
              if isinstance(s, n.Ladder | n.Packs)),
        tuple(s for s in rules.statements if isinstance(s, n.Allowance)),
        tuple(s for s in rules.statements if isinstance(s, n.Discount)),
        next((s for s in rules.statements if isinstance(s, n.MinimumSpend)), None),
    )


def check_contract(contract: n.Rules, sheet: n.Rules) -> Iterator[Diagnostic]:
    """A contract's own statements against the sheet it extends (which `check` has checked):
    one header, accounts, one term of whole months, known meters, discounts of at most 100%,
    one minimum spend per month, and only what a contract may state."""
    parts = contract_parts(contract)
    meters = meter_names(sheet)
    headers = [s for s in contract.statements if isinstance(s, n.ContractDecl)]
    for extra in headers[1:]:
        yield error("E712", "more than one `contract` header", extra.name.span,
                    "second header", "one file holds one contract")
    if not parts.accounts:
        yield error("E712", "contract names no account", parts.header.name.span,
                    "whose terms are these?", "add `accounts ACCOUNT_ID, ...`")
    seen: dict[str, n.Name] = {}
    for account in parts.accounts:
        if not account.value.strip():
            yield error("E712", "empty account id", account.span, "not an account",
                        "write the account's id as the journal and warehouse know it")
        elif account.value in seen:
            yield error("E712", f"account `{account.value}` is listed twice", account.span,
                        f"already at line {seen[account.value].span.line}",
                        "remove the repeated id")
        seen.setdefault(account.value, account)
    terms = [s for s in contract.statements if isinstance(s, n.Version)]
    if not terms:
        yield error("E712", "contract has no term", parts.header.name.span,
                    "from which day do these terms apply?",
                    "add `from 2027-01-01 until 2028-01-01` (`until` is optional)")
    for extra_term in terms[1:]:
        yield error("E712", "contract has two terms", extra_term.start.span, "second term",
                    "a contract has one term; write another contract for the next one")
    for term in terms[:1]:
        yield from _day_problem(term.start, "contract start")
        if term.until is not None:
            yield from _day_problem(term.until, "contract end")
            if (term.until.value is not None and term.start.value is not None
                    and term.until.value <= term.start.value):
                yield error("E715", "contract ends before it starts", term.until.span,
                            f"the term starts on {term.start.text}",
                            "`until` is the first day no longer covered (exclusive)")
        if term.body is not None or term.keep is not None:
            yield error("E713", "a contract term has no block", term.start.span,
                        "a contract's terms are its statements",
                        f"write `from {term.start.text}` and the terms after it, without "
                        "`{ }` or `keep`")
    for statement in contract.statements:
        if isinstance(statement, n.ContractDecl | n.Accounts | n.Version):
            continue
        if not isinstance(statement, CONTRACT_STATEMENTS):
            yield error("E713", f"a contract cannot state `{keyword(statement)}`",
                        _first_word(statement), "it extends the sheet, whose meters, "
                        "settings and rules stay as they are",
                        "state discounts, a minimum spend, prices (`ladder`, `packs`) and "
                        "`extra allowance` here; change the sheet itself for the rest")
        elif isinstance(statement, n.Allowance) and statement.extra is None:
            yield error("E717", "a contract's allowance is extra", _first_word(statement),
                        "it adds to the sheet's allowance",
                        "write `extra allowance ...`")
        elif isinstance(statement, n.Packs) and (statement.valid or statement.restrictions
                                                 or statement.refunds or statement.stops):
            yield error("E713", "a contract cannot change pack validity or restrictions",
                        statement.span, "packs keep the sheet's terms",
                        "list only sizes and prices: `packs { size 10万 ... }`")
    discounted: dict[str, n.Discount] = {}
    for discount in parts.discounts:
        if discount.percent.value > 1:
            yield error("E714", f"discount `{discount.percent.text}` is over 100%",
                        discount.percent.span, "a line would be negative",
                        "write a discount from 0% to 100%")
        for name in _named(discount.target, meters):
            if name.value not in meters:
                yield _unknown_meter(name, meters)
            elif name.value in discounted:
                yield error("E714", f"meter `{name.value}` is discounted twice", name.span,
                            f"already at line {discounted[name.value].span.line}",
                            "give each meter one discount")
            discounted.setdefault(name.value, discount)
    for extra_allowance in parts.extra:
        for name in _named(extra_allowance.target, meters):
            if name.value not in meters:
                yield _unknown_meter(name, meters)
        if extra_allowance.shared:
            yield error("E713", "an extra allowance is not shared", extra_allowance.span,
                        "it adds units to each meter's own allowance",
                        "remove `shared`")
    minimums = [s for s in contract.statements if isinstance(s, n.MinimumSpend)]
    for second in minimums[1:]:
        yield error("E608", "`minimum spend` is declared twice", second.span,
                    "second declaration", "keep one")
    for minimum in minimums:
        if minimum.period.unit.value != "month":
            yield error("E404", f"unknown period `{minimum.period.unit.value}`",
                        minimum.period.unit.span, "bills are monthly",
                        "write `per month`")


def _named(target: n.Target, meters: Sequence[str]) -> list[n.Name]:
    if target.every:
        return [n.Name(m, target.span) for m in target.of(meters)]
    return list(target.meters)


def _unknown_meter(name: n.Name, meters: Sequence[str]) -> Diagnostic:
    return error("E203", f"unknown meter `{name.value}`", name.span,
                 "not a meter of the sheet this contract extends",
                 did_you_mean(name.value, meters) or "name a meter of that sheet")


def contract_sheet(sheet: n.Rules, contract: ContractTree) -> tuple[n.Rules, list[Diagnostic]]:
    """A version's whole sheet with the contract's prices restated in it."""
    return merge(sheet, contract.changes)
