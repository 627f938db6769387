"""`ratecard diff OLD NEW`: what a change to a rules file changes, for a pricing review.

Two rules files are compiled and compared as sheets, not as text: every price, bound,
allowance, pack, rule and wording that differs is a record (`ratecard.changes.sheet_changes`),
old beside new, grouped by meter; for each meter whose prices changed, quotes at representative
volumes show what a month of usage costs before and after. Comments, layout and the order of
statements are not changes: two files that bill alike and render alike have no records.

Dated versions are compared day by day: the sheet as first written, then the sheets in effect
from each day either file starts a version on. A record is listed under the first day it holds
from; a difference that carries on unchanged into a later version is not listed again.

OLD or NEW may be `REV:PATH`, the file at a git revision (`git show`, run in the current
directory's repository; PATH relative to the current directory).
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Sequence
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import attrs

from ratecard.changes import (
    ACTION,
    ALLOWANCE,
    ALLOWANCE_POOL,
    AMOUNT_ROUNDING,
    BRACKET_BOUND,
    BRACKET_PRICE,
    COUNT_UNITS,
    LADDER,
    LADDER_GROUP,
    LADDER_MAXIMUM,
    LADDER_MINIMUM,
    METER_ADDED,
    METER_REMOVED,
    PACK_ADDED,
    PACK_PRICE,
    PACK_VALIDITY,
    PACK_WITHDRAWN,
    QUANTITY_ROUNDING,
    UNPRICED_REASON,
    Change,
    Value,
    sheet_changes,
)
from ratecard.diagnostics import Diagnostic
from ratecard.engine.ladders import BASIS_TOTAL, VOLUME, Bracket, Ladder
from ratecard.engine.money import EXACT, ON_TOTAL, Rounding
from ratecard.engine.pricebook import AlertPolicy, MeterPlan, PriceBook
from ratecard.errors import UsageError
from ratecard.literals import format_plain
from ratecard.source import SourceFile

SCHEMA = "ratecard.diff/1"  # diff --format json; docs/schemas/diff.json
VERSION_ADDED = "version_added"
VERSION_REMOVED = "version_removed"
VERSION_KEEP = "version_keep"
FORMATS = ("text", "md", "json")
# Records that can change what a month of usage costs: such a meter gets quotes before and
# after. A pack's price is what the pack costs, shown in its record; a month's quote holds no
# packs, so pack records alone give none.
PRICED = frozenset({ALLOWANCE, BRACKET_PRICE, BRACKET_BOUND, LADDER, LADDER_MINIMUM,
                    LADDER_MAXIMUM, METER_ADDED, METER_REMOVED, QUANTITY_ROUNDING,
                    ALLOWANCE_POOL, LADDER_GROUP, ACTION, COUNT_UNITS, AMOUNT_ROUNDING})
_CENT = Decimal("0.01")


class DiffError(Exception):
    """A side that cannot be read: a missing file, revision or path (exit 2)."""


@attrs.frozen
class Entry:
    """One record of a diff: a `Change` of the sheet in effect from `version` (None: the sheet
    as first written), or a version added, removed or given other grandfathering."""

    version: date | None
    change: Change


@attrs.frozen
class Example:
    """A month of `quantity` units of `action` on `meter`, quoted by the old sheet and the new
    one (None: not priced there: the meter or action is missing, or contact sales)."""

    version: date | None
    meter: str
    action: str
    quantity: Decimal
    old: Decimal | None
    new: Decimal | None

    @property
    def delta(self) -> Decimal | None:
        if self.old is None or self.new is None:
            return None
        return self.new - self.old

    @property
    def percent(self) -> str | None:
        """The change in percent of the old amount, to 0.01; `new` when the old was 0."""
        if self.old is None or self.new is None:
            return None
        if self.old == 0:
            return "0.00" if self.new == 0 else "new"
        share = ((self.new - self.old) * 100 / self.old).quantize(_CENT, ROUND_HALF_UP)
        return format_plain(share if share else abs(share))  # never `-0.00`


@attrs.frozen
class Diff:
    """What changes from the sheet `old_name` to `new_name`."""

    old_name: str
    new_name: str
    currency: tuple[str, str]
    entries: tuple[Entry, ...]
    examples: tuple[Example, ...]

    @property
    def same(self) -> bool:
        return not self.entries


# --- reading the two sides -------------------------------------------------------------------

def read_side(spec: str, cwd: Path | None = None) -> SourceFile:
    """A rules file's text: the file at `spec`, else, for `REV:PATH`, that path at the git
    revision REV (PATH relative to `cwd`). DiffError says why there is none."""
    where = cwd or Path.cwd()
    path = where / spec
    if path.is_file() or (path.exists() and not path.is_dir()):  # a pipe too: <(git show ...)
        try:
            return SourceFile(spec, path.read_bytes().decode("utf-8-sig"))
        except UnicodeDecodeError as exc:
            raise DiffError(f"{spec}: not UTF-8 text (byte {exc.start})") from None
        except OSError as exc:
            raise DiffError(f"{spec}: {exc.strerror}") from None
    if path.is_dir():
        raise DiffError(f"{spec}: is a directory, not a rules file")
    revision, sep, inside = spec.partition(":")
    if not sep or not revision or not inside or (len(revision) == 1 and revision.isalpha()):
        raise DiffError(f"{spec}: no such file (a file at a git revision is REV:PATH)")
    if Path(inside).is_absolute():
        raise DiffError(f"{spec}: the PATH of REV:PATH is relative to the current directory")
    shown = inside if inside.startswith(("./", "../")) else f"./{inside}"
    try:
        done = subprocess.run(["git", "show", f"{revision}:{shown}"], cwd=where,
                              capture_output=True, check=False)
    except FileNotFoundError:
        raise DiffError(f"{spec}: no such file, and git is not installed to read a "
                        "revision") from None
    if done.returncode != 0:
        reason = done.stderr.decode("utf-8", "replace").strip().splitlines()
        why = reason[-1].removeprefix("fatal: ") if reason else f"git exited {done.returncode}"
        raise DiffError(f"{spec}: no such file, nor at a git revision: {why}")
    try:
        return SourceFile(spec, done.stdout.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise DiffError(f"{spec}: not UTF-8 text (byte {exc.start})") from None


# --- comparing ---------------------------------------------------------------------------------

def _key(change: Change) -> tuple[object, ...]:
    return (change.what, change.meter, change.key, change.old, change.new)


def _sheet(book: PriceBook, day: date | None) -> PriceBook:
    """The sheet in effect from `day` (None: the sheet as first written), without a timeline."""
    return book.at(date.min if day is None else day)


def compare(old: PriceBook, new: PriceBook, old_name: str = "old",
            new_name: str = "new") -> Diff:
    """Every difference from `old` to `new` (see the module), and quotes before and after for
    each meter whose prices changed."""
    entries: list[Entry] = []
    old_segments = {s.start: s for s in old.timeline}
    new_segments = {s.start: s for s in new.timeline}
    days = sorted({*old_segments, *new_segments})
    for start in days:
        was, now = old_segments.get(start), new_segments.get(start)
        if was is None:
            entries.append(Entry(start, Change(VERSION_ADDED, None, None, start)))
        elif now is None:
            entries.append(Entry(start, Change(VERSION_REMOVED, None, start, None)))
        elif (was.keep_before, was.keep_until) != (now.keep_before, now.keep_until):
            entries.append(Entry(start, Change(
                VERSION_KEEP, None, _keep(was.keep_before, was.keep_until),
                _keep(now.keep_before, now.keep_until))))
    before: set[tuple[object, ...]] = set()
    examples: list[Example] = []
    sheet_days: list[date | None] = [None, *days]
    for day in sheet_days:
        old_sheet, new_sheet = _sheet(old, day), _sheet(new, day)
        found = sheet_changes(old_sheet, new_sheet)
        listed = [change for change in found if _key(change) not in before]
        before = {_key(change) for change in found}
        entries.extend(Entry(day, change) for change in listed)
        for meter in _priced_meters(listed, old_sheet, new_sheet):
            examples.extend(quotes(old_sheet, new_sheet, meter, day))
    entries.sort(key=lambda e: (e.version is not None, e.version or date.min))
    return Diff(old_name, new_name, (old.currency, new.currency), tuple(entries),
                tuple(examples))


def _keep(before: date | None, until: date | None) -> str | None:
    if before is None or until is None:
        return None
    return f"accounts opened before {before.isoformat()} keep the previous prices until " \
           f"{until.isoformat()}"


def _priced_meters(listed: Sequence[Change], old: PriceBook, new: PriceBook) -> list[str]:
    """The meters whose prices the records change, in the new sheet's order (the old's last):
    a shared pool's record names each meter of the pool."""
    names = [plan.name for plan in new.meters]
    names += [plan.name for plan in old.meters if plan.name not in names]
    touched: set[str] = set()
    for change in listed:
        if change.what == ACTION:  # the meters it leaves and joins
            touched.update(str(side) for side in (change.old, change.new) if side is not None)
        elif change.what in PRICED and change.meter is not None:
            for book in (old, new):
                touched.update(p.name for p in book.meters if change.meter in (p.name, p.pool))
    return [name for name in names if name in touched]


def _allowance(plan: MeterPlan, book: PriceBook) -> Decimal:
    if plan.allowance_pool is not None:
        return book.allowance_pools.get(plan.allowance_pool, Decimal(0))
    return plan.allowance


def volumes(sides: Sequence[tuple[MeterPlan, PriceBook]]) -> list[Decimal]:
    """Representative monthly usages of a meter on the sheets `sides`: each allowance's end,
    each bracket's upper bound and middle, one unit past each bound of a volume ladder (its
    cliff), and twice the start of the open bracket. Bounds of a ladder by postpaid units (or
    after the allowance) are moved by the larger allowance, so that both sheets are quoted at
    the same usages whichever is old."""
    allowances = {_allowance(plan, book) for plan, book in sides}
    shift_all = max(allowances, default=Decimal(0))
    points: set[Decimal] = set(allowances)
    for plan, _ in sides:
        ladder = plan.ladder
        if ladder is None:
            points.add(shift_all + 1000)
            continue
        shift = Decimal(0) if ladder.basis == BASIS_TOTAL else shift_all
        for bracket in ladder.brackets:
            if bracket.hi is None:
                points.add(shift + (bracket.lo * 2 if bracket.lo else Decimal(1000)))
                continue
            middle = ((bracket.lo + bracket.hi) / 2).to_integral_value(ROUND_HALF_UP)
            points.update((shift + middle, shift + bracket.hi))
            if ladder.mode == VOLUME:
                points.add(shift + bracket.hi + 1)
    return sorted(point for point in points if point > 0)


def _month(book: PriceBook, meter: str, action: str, quantity: Decimal) -> Decimal | None:
    """What a month of `quantity` units of `action` costs on `meter` (its lines only; the
    other meters' charges at zero usage are left out); None if not priced."""
    part = book.part_routes.get(action)
    if (part is None and book.routes.get(action) != meter) or part not in (None, meter):
        return None
    try:
        # (a meter only requests feed: the month of `quantity` units of the request's part)
        bill = (book.quote({action: quantity}) if part is None
                else book._quote_general({}, (), parts={meter: quantity}))
    except UsageError:  # contact sales, or a count the meter does not take
        return None
    return sum((line.amount for line in bill.lines if line.meter == meter), Decimal(0))


def quotes(old: PriceBook, new: PriceBook, meter: str, day: date | None) -> Iterator[Example]:
    """The meter's month at representative volumes of both sheets, before and after."""
    old_plan = next((p for p in old.meters if p.name == meter), None)
    new_plan = next((p for p in new.meters if p.name == meter), None)
    # An action both sheets count into the meter, else any (the first by name: the same
    # whichever sheet is old).
    actions = [set(() if plan is None else plan.actions) for plan in (old_plan, new_plan)]
    common = sorted(actions[0] & actions[1]) or sorted(actions[0] | actions[1])
    if not common:  # a meter that requests feed: the part of a request counted into it
        parts = [{r for r, m in book.part_routes.items() if m == meter} for book in (old, new)]
        common = sorted(parts[0] & parts[1]) or sorted(parts[0] | parts[1])
    if not common:
        return
    action = common[0]
    sides = [(plan, book) for plan, book in ((old_plan, old), (new_plan, new))
             if plan is not None]
    for quantity in volumes(sides):
        yield Example(day, meter, action, quantity, _month(old, meter, action, quantity),
                      _month(new, meter, action, quantity))


# --- showing -----------------------------------------------------------------------------------

def _grouped(value: Decimal) -> str:
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return format_plain(value)


def _bracket(bracket: Bracket) -> str:
    """A bracket as the rules write it: `(0, 3000000] 0.002`."""
    if bracket.price is None:
        terms = "contact sales"
    elif bracket.block is not None:
        terms = (f"{format_plain(bracket.price)} per block of {format_plain(bracket.block)} "
                 f"rounded {bracket.block_rounding}")
    elif bracket.per != 1:
        terms = f"{format_plain(bracket.price)} per {format_plain(bracket.per)}"
    else:
        terms = format_plain(bracket.price)
    if bracket.flat:
        terms += f" + {format_plain(bracket.flat)} flat"
    return f"{bracket.label} {terms}"


def _ladder(ladder: Ladder) -> str:
    parts = [f"{ladder.mode} by {ladder.basis} per {ladder.period}"
             + (", combined" if ladder.combined else "")]
    parts += [_bracket(b) for b in ladder.brackets]
    if ladder.minimum is not None:
        parts.append(f"minimum {format_plain(ladder.minimum)}")
    if ladder.maximum is not None:
        parts.append(f"maximum {format_plain(ladder.maximum)}")
    if ladder.flat_at_zero:
        parts.append("charge flat at zero")
    return "; ".join(parts)


def _alerts(policy: AlertPolicy) -> str:
    parts = []
    if policy.low_threshold is not None:
        percent = (policy.low_threshold * 100).normalize()
        parts.append(f"pack remaining below {format_plain(percent)}%")
    if policy.exhausted:
        parts.append("pack exhausted")
    if policy.expired:
        parts.append("pack expired")
    return ", ".join(parts) or "none"


def shown(change: Change, value: Value | date) -> str | None:
    """A record's old or new value as text (None: nothing there)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format_plain(value)
    if isinstance(value, Bracket):
        return _bracket(value)
    if isinstance(value, Ladder):
        return _ladder(value)
    if isinstance(value, Rounding):
        if value.scope == EXACT:
            return "exact"
        where = " on total" if value.scope == ON_TOTAL else ""
        return f"{value.mode} {format_plain(value.increment)}{where}"
    if isinstance(value, AlertPolicy):
        return _alerts(value)
    if isinstance(value, date):
        return value.isoformat()
    if change.what == PACK_VALIDITY and isinstance(value, tuple):
        return f"{value[0]} {value[1]}"
    if isinstance(value, tuple):
        separator = ", " if change.what in {"deduct_order", "suspend", LADDER_GROUP} else " / "
        return separator.join(str(part) for part in value)
    return str(value)


_TITLES = {
    ALLOWANCE: "allowance per month", PACK_VALIDITY: "packs valid", "pack_refund": "packs refund",
    "pack_freeze": "packs freeze", LADDER: "ladder", LADDER_MINIMUM: "ladder minimum",
    LADDER_MAXIMUM: "ladder maximum", METER_ADDED: "meter added", METER_REMOVED: "meter removed",
    VERSION_ADDED: "version added", VERSION_REMOVED: "version removed",
    VERSION_KEEP: "version keeps accounts", "rules_name": "rules name",
    "rules_label": "rules display name", "meter_label": "display name", "meter_unit": "unit",
    QUANTITY_ROUNDING: "quantity rounded", "entry_minimum": "at least per entry",
    "count_units": "counted in display unit", "amount_rounding": "amount rounded",
    ALLOWANCE_POOL: "allowance shared as",
    LADDER_GROUP: "combined ladder with", "deduct_order": "deduction order",
    "pack_order": "packs drawn by", "bill_day": "bill issued on day",
    "settle": "settle from balance", "suspend": "suspend for",
    "allowance_while_active": "allowance only while active",
    "meter_display_unit": "shown in", "skip_empty": "no bill when nothing is owed",
    "daily_bills": "billed per day",
}


def title(change: Change) -> str:
    """What a record changes, in words: `bracket 1 price`, `pack 10,000 price`."""
    key = change.key
    if change.what in (BRACKET_PRICE, BRACKET_BOUND) and isinstance(key, int):
        return f"bracket {key + 1} " + ("price" if change.what == BRACKET_PRICE else "bound")
    if change.what in (PACK_PRICE, PACK_ADDED, PACK_WITHDRAWN) and isinstance(key, Decimal):
        rest = {PACK_PRICE: "price", PACK_ADDED: "added", PACK_WITHDRAWN: "withdrawn"}
        return f"pack {_grouped(key)} {rest[change.what]}"
    if change.what == ACTION:
        return f"action {key}"
    if change.what == "order":
        return f"order {key}"
    if change.what == "subscription":
        return f"subscription {key}"
    if change.what in ("grant", "credit"):
        return f"{change.what} {key}"
    if change.what == UNPRICED_REASON:
        return f"unpriced {key}: reason"
    if change.what == ALLOWANCE and change.meter is not None and "+" in change.meter:
        return "shared allowance per month"
    return _TITLES.get(change.what, change.what.replace("_", " "))


def _money(value: Decimal | None) -> str | None:
    return None if value is None else format_plain(value)


def to_json(diff: Diff) -> str:
    """`{"schema": "ratecard.diff/1", "old", "new", "same", "currency", "changes",
    "examples"}`: values and money as strings (null: nothing there)."""
    data = {
        "schema": SCHEMA,
        "old": diff.old_name,
        "new": diff.new_name,
        "same": diff.same,
        "currency": {"old": diff.currency[0], "new": diff.currency[1]},
        "changes": [
            {
                "what": e.change.what,
                "meter": e.change.meter,
                "key": None if e.change.key is None else (
                    str(e.change.key) if isinstance(e.change.key, int)
                    else format_plain(e.change.key) if isinstance(e.change.key, Decimal)
                    else e.change.key),
                "version": None if e.version is None else e.version.isoformat(),
                "title": title(e.change),
                "old": shown(e.change, e.change.old),
                "new": shown(e.change, e.change.new),
            }
            for e in diff.entries
        ],
        "examples": [
            {
                "version": None if x.version is None else x.version.isoformat(),
                "meter": x.meter,
                "action": x.action,
                "quantity": format_plain(x.quantity),
                "old": _money(x.old),
                "new": _money(x.new),
                "delta": _money(x.delta),
                "percent": x.percent,
            }
            for x in diff.examples
        ],
    }
    return json.dumps(data, ensure_ascii=False, indent=2)


def _groups(diff: Diff) -> Iterator[tuple[date | None, list[tuple[str | None, list[Change]]],
                                         list[Example]]]:
    """Per version day: the records by meter (the terms of every meter first, as None), and
    that day's quotes."""
    days = list(dict.fromkeys(e.version for e in diff.entries))
    for day in days:
        meters: dict[str | None, list[Change]] = {}
        for entry in diff.entries:
            if entry.version == day:
                meters.setdefault(entry.change.meter, []).append(entry.change)
        ordered = sorted(meters.items(), key=lambda item: item[0] is not None)
        yield day, ordered, [x for x in diff.examples if x.version == day]


def _heading(day: date | None, dated: bool) -> str | None:
    if day is not None:
        return f"from {day.isoformat()}"
    return "the sheet as first written" if dated else None


def _dash(text: str | None) -> str:
    return "—" if text is None else text


def _percent(example: Example) -> str:
    percent = example.percent
    if percent is None:
        return ""
    return percent if percent == "new" else f"{percent}%"


def _currency(diff: Diff) -> str:
    old, new = diff.currency
    return old if old == new else f"{old} → {new}"


def _count(diff: Diff) -> str:
    count = len(diff.entries)
    return f"{count} change" + ("" if count == 1 else "s")


def to_text(diff: Diff) -> str:
    """The diff for a terminal: per version day and meter, each record `old → new`, then the
    meter's quotes before and after."""
    head = f"{diff.old_name} → {diff.new_name}: "
    if diff.same:
        return head + "no changes (the two bill alike)"
    out = [head + _count(diff)]
    dated = any(e.version is not None for e in diff.entries)
    for day, meters, examples in _groups(diff):
        heading = _heading(day, dated)
        pad = "  " if heading else ""
        if heading:
            out += ["", heading]
        for meter, records in meters:
            out += ["", f"{pad}{meter or 'every meter'}"]
            width = max(len(title(c)) for c in records)
            for change in records:
                was, now = _dash(shown(change, change.old)), _dash(shown(change, change.new))
                out.append(f"{pad}  {title(change).ljust(width)}  {was} → {now}")
            rows = [x for x in examples if x.meter == meter]
            if rows:
                out.append(f"{pad}  a month of ({_currency(diff)}):")
                table = [(f"{x.action} × {_grouped(x.quantity)}", _dash(_money(x.old)),
                          _dash(_money(x.new)), _signed(x.delta), _percent(x)) for x in rows]
                widths = [max(len(row[i]) for row in table) for i in range(5)]
                for row in table:
                    out.append(f"{pad}    {row[0].ljust(widths[0])}  {row[1].rjust(widths[1])}"
                               f" → {row[2].rjust(widths[2])}  {row[3].rjust(widths[3])}"
                               f"  {row[4].rjust(widths[4])}".rstrip())
    return "\n".join(out)


def _signed(value: Decimal | None) -> str:
    if value is None:
        return ""
    return ("+" if value > 0 else "") + format_plain(value)


def _cell(text: str | None) -> str:
    """A Markdown table cell: `|` escaped, nothing shown as a dash."""
    return _dash(text).replace("|", "\\|")


def to_markdown(diff: Diff) -> str:
    """The diff as a pull-request comment: a table of the records per version day, and one of
    the quotes before and after."""
    out = [f"### ratecard diff: `{diff.old_name}` → `{diff.new_name}`", ""]
    if diff.same:
        out.append("No changes: the two bill alike.")
        return "\n".join(out)
    out.append(f"{_count(diff)}.")
    dated = any(e.version is not None for e in diff.entries)
    for day, meters, examples in _groups(diff):
        heading = _heading(day, dated)
        if heading:
            out += ["", f"#### {heading[0].upper()}{heading[1:]}"]
        out += ["", "| meter | what | old | new |", "|---|---|---|---|"]
        for meter, records in meters:
            for change in records:
                out.append(f"| {_cell(meter or 'every meter')} | {_cell(title(change))} | "
                           f"{_cell(shown(change, change.old))} | "
                           f"{_cell(shown(change, change.new))} |")
        if examples:
            out += ["", f"A month of usage before and after ({_currency(diff)}):", "",
                    "| meter | usage | old | new | change | % |",
                    "|---|---|---:|---:|---:|---:|"]
            for x in examples:
                out.append(f"| {x.meter} | {x.action} × {_grouped(x.quantity)} | "
                           f"{_cell(_money(x.old))} | {_cell(_money(x.new))} | "
                           f"{_signed(x.delta)} | {_percent(x)} |")
    return "\n".join(out)


def render(diff: Diff, fmt: str) -> str:
    """The diff in one of FORMATS."""
    if fmt == "json":
        return to_json(diff)
    if fmt == "md":
        return to_markdown(diff)
    return to_text(diff)


# --- the command ---------------------------------------------------------------------------------

def compile_side(source: SourceFile) -> tuple[PriceBook | None, list[Diagnostic]]:
    """A side's compiled sheet, or None and the diagnostics that say why (every diagnostic of a
    file with errors). DiffError for a contract: a contract is diffed as the rules it extends."""
    from ratecard.api import analyze
    from ratecard.compile import compile_rules
    from ratecard.parser import parse
    from ratecard.transform import to_nodes
    from ratecard.versions import is_contract

    tree = parse(source)
    if not isinstance(tree, Diagnostic) and is_contract(to_nodes(tree, source)):
        raise DiffError(f"{source.name}: is a contract; `ratecard diff` compares rules files: "
                        "diff the rules files the contracts extend")
    rules, diagnostics = analyze(source)
    if rules is None or any(d.is_error for d in diagnostics):
        return None, diagnostics
    return compile_rules(rules, tuple(diagnostics)), []
