"""`ratecard lsp`: a language server for rules files, over standard input and output.

Built on pygls, an optional dependency (`pip install 'ratecard[lsp]'`). Everything it says comes
from the pipeline the command line runs, on the text in the editor (docs/editors.md):

- diagnostics as you type: `ratecard check`'s codes, messages, labels and help, `# allow:`
  comments honoured as `check` honours them;
- hover on a meter, an action, a pack row, a ladder or a bracket: what the rules say of it, and,
  when the file compiles, a worked quote by the compiled price book;
- completion: the keywords the grammar accepts where the cursor is, meter and action names,
  choice words (rounding modes, ladder modes, periods, ...), currencies, timezones, unit labels,
  and the scale suffixes of a number (`300` → `300万`);
- go to definition and find references of meters and actions;
- formatting by `ratecard fmt` (a file with a syntax error is left as it is);
- document symbols for the outline: meters and their actions, allowances, pack tables and
  their rows, ladders and their brackets.

Positions: ratecard counts code points from the text without a leading BOM; LSP counts code
units of the negotiated encoding (UTF-16 unless the client offers another) on lines split at
`\\n`, `\\r\\n` or `\\r`. `LineIndex` converts between the two.
"""

from __future__ import annotations

import bisect
import decimal
import functools
import os
import re
import sys
from collections.abc import Iterable, Sequence
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any

import attrs
import lark
from lark.lexer import PatternStr
from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer

from ratecard import nodes as n
from ratecard.api import analyze
from ratecard.check import (
    ALERT_FORMS,
    BLOCK_ROUNDINGS,
    DEDUCT_SOURCES,
    LADDER_PERIODS,
    LANGUAGES,
    PACK_ORDERS,
    PACK_RESTRICTIONS,
    PERIODS,
    SUSPEND_REASONS,
    VALIDITY_UNITS,
    symbols,
)
from ratecard.currencies import CODES as CURRENCIES
from ratecard.diagnostics import Diagnostic, Severity
from ratecard.engine.ladders import BASES, MODES
from ratecard.engine.money import ROUNDING_MODES
from ratecard.errors import UsageError
from ratecard.literals import SUFFIXES, format_plain
from ratecard.parser import lark_parser
from ratecard.source import SourceFile, Span

if TYPE_CHECKING:
    from ratecard.engine.bills import Bill
    from ratecard.engine.pricebook import PriceBook

SERVER_NAME = "ratecard"

# --- positions ---------------------------------------------------------------------------------

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _units(char: str, encoding: str) -> int:
    """How many code units of `encoding` a character takes."""
    if encoding == lsp.PositionEncodingKind.Utf8:
        return len(char.encode("utf-8"))
    if encoding == lsp.PositionEncodingKind.Utf32:
        return 1
    return 2 if ord(char) > 0xFFFF else 1


class LineIndex:
    """Offsets into a text (code points) ↔ LSP positions (line, code units of `encoding`)."""

    def __init__(self, text: str, encoding: str = lsp.PositionEncodingKind.Utf16) -> None:
        self.text = text
        self.encoding = encoding
        self._starts = [0, *(m.end() for m in _LINE_BREAK.finditer(text))]

    def _line_end(self, line: int) -> int:
        """The offset where a line's text ends (before its line break)."""
        if line + 1 < len(self._starts):
            end = self._starts[line + 1] - 1
            if self.text[end] == "\n" and end > self._starts[line] and self.text[end - 1] == "\r":
                end -= 1
            return end
        return len(self.text)

    def position(self, offset: int) -> lsp.Position:
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self._starts, offset) - 1
        start = self._starts[line]
        character = sum(_units(ch, self.encoding) for ch in self.text[start:offset])
        return lsp.Position(line=line, character=character)

    def offset(self, position: lsp.Position) -> int:
        if position.line >= len(self._starts):
            return len(self.text)
        offset = self._starts[max(0, position.line)]
        end = self._line_end(max(0, position.line))
        units = 0
        while offset < end and units < position.character:
            units += _units(self.text[offset], self.encoding)
            offset += 1
        return offset

    def range(self, start: int, end: int) -> lsp.Range:
        return lsp.Range(start=self.position(start), end=self.position(end))


# --- one version of a document --------------------------------------------------------------


class Analysis:
    """A document's text as the editor holds it, and what the pipeline makes of it: the syntax
    tree (None on a syntax error), every diagnostic, and the price book if there is no error."""

    def __init__(
        self, uri: str, text: str, encoding: str = lsp.PositionEncodingKind.Utf16
    ) -> None:
        self.uri = uri
        self.text = text
        self.source = SourceFile(uri, text)
        # SourceFile drops a leading BOM: its offsets start after it, the editor's before it.
        self.shift = len(text) - len(self.source.text)
        self.index = LineIndex(text, encoding)
        self.rules, self.diagnostics = analyze(self.source)

    @cached_property
    def book(self) -> PriceBook | None:
        if self.rules is None or any(d.is_error for d in self.diagnostics):
            return None
        from ratecard.compile import compile_rules

        return compile_rules(self.rules, tuple(self.diagnostics))

    def range(self, span: Span) -> lsp.Range:
        return self.index.range(span.start + self.shift, span.end + self.shift)

    def offset(self, position: lsp.Position) -> int:
        return max(0, self.index.offset(position) - self.shift)

    def location(self, span: Span) -> lsp.Location:
        return lsp.Location(uri=self.uri, range=self.range(span))


# --- diagnostics -----------------------------------------------------------------------------


def to_lsp_diagnostic(analysis: Analysis, diagnostic: Diagnostic) -> lsp.Diagnostic:
    """A diagnostic as `check` reports it: the message, then the label under the carets and
    the help, each on a line of its own."""
    d = diagnostic
    message = "\n".join(
        [d.message, *([d.label] if d.label else []), *([f"help: {d.help}"] if d.help else [])])
    severity = (lsp.DiagnosticSeverity.Error if d.severity is Severity.ERROR
                else lsp.DiagnosticSeverity.Warning)
    return lsp.Diagnostic(range=analysis.range(d.span), message=message, severity=severity,
                          code=d.code, source=SERVER_NAME)


def diagnostics(analysis: Analysis) -> list[lsp.Diagnostic]:
    return [to_lsp_diagnostic(analysis, d) for d in analysis.diagnostics]


# --- meters and actions: where each is named ---------------------------------------------------

METER = "meter"
ACTION = "action"


@attrs.frozen
class Occurrence:
    """A meter or an action named somewhere: `role` says how (`declaration`, `counted`, `free`,
    `unpriced` for where an action is given its meaning; `target` or `pack row` for a meter)."""

    kind: str
    name: str
    role: str
    span: Span


def occurrences(rules: n.Rules) -> list[Occurrence]:
    """Every place a meter or an action is named, in source order."""
    found: list[Occurrence] = []
    for statement in rules.statements:
        if isinstance(statement, n.Meter):
            found.append(Occurrence(METER, statement.name.value, "declaration",
                                    statement.name.span))
            for role, actions in (("counted", statement.counts), ("free", statement.free)):
                found.extend(Occurrence(ACTION, a.value, role, a.span) for a in actions)
        elif isinstance(statement, n.Unpriced):
            found.extend(Occurrence(ACTION, a.value, "unpriced", a.span)
                         for a in statement.actions)
        elif isinstance(statement, n.Allowance | n.Ladder):
            found.extend(Occurrence(METER, m.value, "target", m.span)
                         for m in statement.target.meters)
        elif isinstance(statement, n.Packs):
            found.extend(Occurrence(METER, row.meter.value, "pack row", row.meter.span)
                         for row in statement.rows)
    return sorted(found, key=lambda o: o.span.start)


def occurrence_at(rules: n.Rules, offset: int) -> Occurrence | None:
    """The meter or action named at an offset (the end of a name counts: the cursor after it)."""
    for found in occurrences(rules):
        if found.span.start <= offset <= found.span.end:
            return found
    return None


def definition(rules: n.Rules, kind: str, name: str) -> Occurrence | None:
    """Where a meter is declared (its first `meter NAME`), or an action first given a meaning."""
    for found in occurrences(rules):
        if found.kind == kind and found.name == name and (
                kind == ACTION or found.role == "declaration"):
            return found
    return None


def references(rules: n.Rules, kind: str, name: str, declaration: bool) -> list[Occurrence]:
    """Every place a meter or action is named; without its definition unless `declaration`."""
    defined = definition(rules, kind, name)
    return [o for o in occurrences(rules)
            if o.kind == kind and o.name == name and (declaration or o != defined)]


# --- hover -------------------------------------------------------------------------------------


def _contains(span: Span, offset: int) -> bool:
    return span.start <= offset <= span.end


def _label(label: n.Label | None) -> str:
    return " / ".join(t.value for t in label.texts) if label is not None else ""


def _grouped(value: Decimal) -> str:
    """1,000,000 for a whole number, plain digits otherwise."""
    return f"{int(value):,}" if value == value.to_integral_value() else format_plain(value)


def _number(number: n.Number) -> str:
    """A number as written, and its value when the writing hides it: `300万 (3,000,000)`."""
    if number.value is None or number.text.lstrip("-").replace("_", "").isdigit():
        return number.text
    if not any(number.text.endswith(s) for s in SUFFIXES):
        return number.text
    return f"{number.text} ({_grouped(number.value)})"


def _bound(bound: n.Bound) -> str:
    return "∞" if isinstance(bound, n.Unbounded) else bound.text


def _source_text(source: SourceFile, span: Span) -> str:
    return " ".join(source.text[span.start:span.end].split())


def bracket_bounds(bracket: n.Bracket) -> str:
    """A bracket's bounds as written: `(300万, 1500万]`."""
    return f"{bracket.open.value}{_bound(bracket.lo)}, {_bound(bracket.hi)}{bracket.close.value}"


def bracket_price(source: SourceFile, bracket: n.Bracket) -> str:
    """A bracket's price as written, on one line: `0.0018`, `5.00 per 1000 + 10 flat`."""
    if bracket.contact_sales is not None:
        return "contact sales"
    return " + ".join(_source_text(source, term.span) for term in bracket.terms)


def bracket_text(source: SourceFile, bracket: n.Bracket) -> str:
    """A bracket as written, on one line: `(300万, 1500万] 0.0018`."""
    return f"{bracket_bounds(bracket)} {bracket_price(source, bracket)}"


def _ladder_head(ladder: n.Ladder) -> str:
    basis = f" by {ladder.basis.value}" if ladder.basis is not None else ""
    combined = " combined" if ladder.combined else ""
    return f"ladder {ladder.mode.value}{basis} per {ladder.period.unit.value}{combined}"


def _target(target: n.Target) -> str:
    return "every meter" if target.every else ", ".join(f"`{m.value}`" for m in target.meters)


def _ladder_lines(source: SourceFile, ladder: n.Ladder) -> list[str]:
    lines = [f"  - `{bracket_text(source, b)}`" for b in ladder.brackets]
    lines.extend(f"  - minimum {m.amount.text}" for m in ladder.minimums)
    lines.extend(f"  - maximum {m.amount.text}" for m in ladder.maximums)
    if ladder.flat_at_zero:
        lines.append("  - charge flat at zero")
    return lines


_PER_UNIT = decimal.Context(prec=10)


def _per_unit(price: Decimal, size: Decimal) -> str:
    """A pack's price per unit, to ten significant digits (`≈` when cut)."""
    context = _PER_UNIT.copy()
    value = context.divide(price, size)
    shown = format_plain(value.normalize())
    return f"≈{shown}" if context.flags[decimal.Inexact] else shown


def _pack_options(packs: n.Packs) -> str:
    options = [f"valid {v.amount.text} {v.unit.value}" for v in packs.valid]
    options.extend(f"no {r.what.value}" for r in packs.restrictions)
    return ", ".join(options)


def _pack_offers(packs: n.Packs, row: n.PackRow) -> str:
    offers = []
    for size, cell in zip(packs.sizes, row.cells, strict=False):
        if isinstance(cell, n.Number):
            offers.append(f"{size.text} for {cell.text}")
    return ", ".join(offers) if offers else "none on sale"


def _meters_of(table_meters: Iterable[str], target: n.Target) -> list[str]:
    return list(table_meters) if target.every else [m.value for m in target.meters]


def meter_hover(analysis: Analysis, meter: n.Meter) -> str:
    """What the rules say of a meter, and a worked quote when the file compiles."""
    assert analysis.rules is not None
    table = symbols(analysis.rules)
    name = meter.name.value
    title = f"**meter `{name}`**"
    lines = [f"{title} — {_label(meter.label)}" if meter.label.texts else title, ""]
    if meter.units:
        lines.append(f"- unit: {_label(meter.units[0])}")
    else:
        from ratecard.compile import DEFAULT_UNIT

        default = " / ".join(DEFAULT_UNIT.get(lang, "call") for lang in table.languages)
        lines.append(f"- unit: {default} (the default)")
    if meter.counts:
        lines.append("- counts: " + ", ".join(f"`{a.value}`" for a in meter.counts))
    if meter.free:
        lines.append("- free: " + ", ".join(f"`{a.value}`" for a in meter.free))
    for rounding in meter.quantity_roundings[:1]:
        lines.append(f"- quantity rounded {rounding.mode.value} to {rounding.increment.text}")
    for allowance in table.of(n.Allowance):
        covered = _meters_of(table.meters, allowance.target)
        if name not in covered:
            continue
        text = f"- allowance: {_number(allowance.amount)} per {allowance.period.unit.value}"
        others = [m for m in covered if m != name]
        if allowance.shared and others:
            text += ", shared with " + ", ".join(f"`{m}`" for m in others)
        if allowance.while_active:
            text += ", while active"
        lines.append(text)
    for packs in table.of(n.Packs):
        for row in packs.rows:
            if row.meter.value == name:
                options = _pack_options(packs)
                lines.append(f"- packs{f' ({options})' if options else ''}: "
                             f"{_pack_offers(packs, row)}")
    for ladder in table.of(n.Ladder):
        covered = _meters_of(table.meters, ladder.target)
        if name not in covered:
            continue
        others = [m for m in covered if m != name]
        shared = (" (with " + ", ".join(f"`{m}`" for m in others) + ")") if others else ""
        lines.append(f"- {_ladder_head(ladder)}{shared}:")
        lines.extend(_ladder_lines(analysis.source, ladder))
    if meter.counts:
        lines.extend(_quote_section(analysis, name, meter.counts[0].value))
    return "\n".join(lines)


def _first_quantity(analysis: Analysis, meter: str) -> Decimal:
    """A round quantity whose postpaid part falls in the meter's first bracket (1000 if the
    meter has no ladder): see `example_quantity`; past an unbounded bracket's start it goes
    beyond the allowance too."""
    book = analysis.book
    assert book is not None
    plan = book.meter(meter)
    if plan.ladder is None or not plan.ladder.brackets:
        return Decimal(1000)
    first = plan.ladder.brackets[0]
    return example_quantity(first.lo, first.hi, plan.allowance)


def example_quantity(lo: Decimal, hi: Decimal | None, beyond: Decimal = Decimal(0)) -> Decimal:
    """A round quantity in the bracket (lo, hi]: the largest power of ten in it, else `hi`.
    An unbounded bracket is taken up to ten times `lo` or `beyond`, and at least 1000."""
    top = hi if hi is not None else max(lo * 10, beyond * 10, Decimal(1000))
    best: Decimal | None = None
    power = Decimal(1)
    while power <= top:
        if power > lo:
            best = power
        power *= 10
    return best if best is not None else top


def _quote_section(analysis: Analysis, meter: str, action: str) -> list[str]:
    book = analysis.book
    if book is None:
        return []
    quantity = _first_quantity(analysis, meter)
    head = f"**Quote** — {_grouped(quantity)} `{action}` in a month (`ratecard quote`):"
    try:
        bill = book.quote({action: int(quantity)})
    except UsageError as exc:
        return ["", head, "", f"{exc}"]
    return ["", head, "", *_bill_table(bill)]


def _bill_table(bill: Bill) -> list[str]:
    """A bill's lines as a Markdown table, then its total."""
    rows = [["source", "quantity", "bracket", "price", "amount"],
            ["---", "--:", "---", "--:", "--:"]]
    for line in bill.lines:
        price = ""
        if line.source == "postpaid":
            price = format_plain(line.unit_price)
            if line.per is not None:
                price += f" per {_grouped(line.per)}"
        rows.append([line.source if line.pack is None else f"pack {line.pack}",
                     _grouped(line.quantity), line.bracket or "", price,
                     format_plain(line.amount)])
    rows.append(["**total**", "", "", "", f"**{bill.currency} {format_plain(bill.total)}**"])
    return ["| " + " | ".join(row) + " |" for row in rows]


def action_hover(analysis: Analysis, action: str) -> str | None:
    """What an action is: counted into a meter, free, or unpriced."""
    assert analysis.rules is not None
    for statement in analysis.rules.statements:
        if isinstance(statement, n.Meter):
            meter = f"meter `{statement.name.value}`"
            if statement.label.texts:
                meter += f" ({_label(statement.label)})"
            if any(a.value == action for a in statement.counts):
                lines = [f"**action `{action}`** — counted into {meter}"]
                return "\n".join(lines + _quote_section(analysis, statement.name.value, action))
            if any(a.value == action for a in statement.free):
                return f"**action `{action}`** — free: recorded in {meter}, never billed"
        elif isinstance(statement, n.Unpriced) and any(a.value == action
                                                       for a in statement.actions):
            reason = f": {_label(statement.reason)}" if statement.reason else ""
            return f"**action `{action}`** — unpriced{reason}; usage of it is an error"
    return None


def pack_row_hover(packs: n.Packs, row: n.PackRow) -> str:
    """A row of a pack table: each size, its price and the price per unit."""
    options = _pack_options(packs)
    lines = [f"**packs of `{row.meter.value}`**" + (f" — {options}" if options else ""), "",
             "| size | price | per unit |", "|--:|--:|--:|"]
    for size, cell in zip(packs.sizes, row.cells, strict=False):
        if isinstance(cell, n.NotOffered):
            lines.append(f"| {_number(size)} | not offered | |")
        elif size.value and cell.value is not None:
            lines.append(f"| {_number(size)} | {cell.text} | {_per_unit(cell.value, size.value)} |")
        else:
            lines.append(f"| {size.text} | {cell.text} | |")
    return "\n".join(lines)


def _bracket_range(bracket: n.Bracket) -> str:
    """`over 3,000,000 up to 15,000,000`, `from 0 below 100`, `over 15,000,000`."""
    def shown(bound: n.Bound) -> str:
        if isinstance(bound, n.Number) and bound.value is not None:
            return _grouped(bound.value)
        return _bound(bound)

    lower = ("over " if bracket.open.value == "(" else "from ") + shown(bracket.lo)
    if isinstance(bracket.hi, n.Unbounded):
        return lower
    upper = ("up to " if bracket.close.value == "]" else "below ") + shown(bracket.hi)
    return f"{lower} {upper}"


def bracket_hover(analysis: Analysis, ladder: n.Ladder, bracket: n.Bracket) -> str:
    """A ladder's bracket: its range and price, and, when the file compiles, what one of its
    round quantities costs postpaid."""
    assert analysis.rules is not None
    table = symbols(analysis.rules)
    meters = _meters_of(table.meters, ladder.target)
    how = ("every unit of the period costs this price once its quantity is in this bracket"
           if ladder.mode.value == "volume" else "the units within this bracket cost its price")
    lines = [f"**bracket** `{bracket_text(analysis.source, bracket)}`", "",
             f"- quantity per {ladder.period.unit.value}: {_bracket_range(bracket)}",
             f"- {ladder.mode.value}: {how}",
             f"- of {_ladder_head(ladder)} on {_target(ladder.target)}"]
    book = analysis.book
    lo = bracket.lo.value if isinstance(bracket.lo, n.Number) else None
    if book is None or lo is None or not meters:
        return "\n".join(lines)
    hi = bracket.hi.value if isinstance(bracket.hi, n.Number) else None
    quantity = example_quantity(lo, hi)
    meter = meters[0]
    try:
        amount = book.charge(meter, int(quantity))
    except UsageError as exc:
        lines.extend(["", f"{exc}"])
    else:
        lines.extend(["", f"**Price** — {_grouped(quantity)} units of `{meter}`, all postpaid: "
                      f"{book.currency} {format_plain(amount)}"])
    return "\n".join(lines)


def ladder_hover(analysis: Analysis, ladder: n.Ladder) -> str:
    lines = [f"**{_ladder_head(ladder)}** on {_target(ladder.target)}", ""]
    lines.extend(line[2:] for line in _ladder_lines(analysis.source, ladder))
    return "\n".join(lines)


def hover(analysis: Analysis, offset: int) -> tuple[str, Span] | None:
    """The hover text at an offset and the span it describes, or None."""
    rules = analysis.rules
    if rules is None:
        return None
    found = occurrence_at(rules, offset)
    if found is not None and found.kind == METER:
        meter = symbols(rules).meters.get(found.name)
        return (meter_hover(analysis, meter), found.span) if meter is not None else None
    if found is not None:
        text = action_hover(analysis, found.name)
        return (text, found.span) if text is not None else None
    for statement in rules.statements:
        if not _contains(statement.span, offset):
            continue
        if isinstance(statement, n.Packs):
            for row in statement.rows:
                if _contains(row.span, offset):
                    return pack_row_hover(statement, row), row.span
        if isinstance(statement, n.Ladder):
            for bracket in statement.brackets:
                if _contains(bracket.span, offset):
                    return bracket_hover(analysis, statement, bracket), bracket.span
            return ladder_hover(analysis, statement), statement.span
    return None


# --- completion ------------------------------------------------------------------------------


@attrs.frozen
class Names:
    """The names a file declares: kept from its last version that parsed, for completion while
    the text does not parse (only names are kept, never positions)."""

    meters: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    units: tuple[str, ...] = ()

    @classmethod
    def of(cls, rules: n.Rules, source: SourceFile) -> Names:
        meters: list[str] = []
        actions: list[str] = []
        units: list[str] = []
        for statement in rules.statements:
            if isinstance(statement, n.Meter):
                meters.append(statement.name.value)
                actions.extend(a.value for a in (*statement.counts, *statement.free))
                units.extend(_source_text(source, u.span) for u in statement.units)
            elif isinstance(statement, n.Unpriced):
                actions.extend(a.value for a in statement.actions)
        return cls(*(tuple(dict.fromkeys(names)) for names in (meters, actions, units)))


@attrs.frozen
class Candidate:
    """One completion: the text, what it is, a detail."""

    text: str
    kind: lsp.CompletionItemKind
    detail: str = ""


@functools.cache
def keyword_terminals() -> dict[str, str]:
    """The grammar's keywords, by terminal name: `{"METER": "meter", ...}`."""
    return {t.name: t.pattern.value for t in lark_parser().terminals
            if isinstance(t.pattern, PatternStr) and t.pattern.value.isalpha()}


@functools.cache
def statement_keywords() -> frozenset[str]:
    """The keyword terminals that start a statement or a setting: those a file may start with."""
    interactive: Any = lark_parser().parse_interactive("")  # Lark's is untyped
    return frozenset(interactive.accepts()) - {"$END"}


# Rules whose tree on the parser's stack is a finished statement: what precedes the cursor's.
_STATEMENT_RULES = frozenset({
    "rules_decl", "settings", "meter_decl", "unpriced_decl", "allowance_decl", "packs_decl",
    "ladder_decl", "deduct_decl", "alert_decl", "bill_decl", "suspend_decl",
})

COMMON_ZONES = (
    "UTC", "Asia/Shanghai", "Asia/Hong_Kong", "Asia/Singapore", "Asia/Tokyo", "Asia/Kolkata",
    "Europe/London", "Europe/Berlin", "Europe/Paris", "America/New_York", "America/Chicago",
    "America/Denver", "America/Los_Angeles", "America/Sao_Paulo", "Australia/Sydney",
)
COMMON_CURRENCIES = ("CNY", "USD", "EUR", "JPY", "GBP", "HKD", "SGD")
ALERT_WORDS = tuple(dict.fromkeys(
    word for form in ALERT_FORMS for word in form.split() if word.isalpha()))
# Suffixes offered after digits, smallest first (K is accepted as k; not offered twice).
NUMBER_SUFFIXES = ("k", "千", "万", "M", "亿", "B")
DEFAULT_UNITS = ('"次" / "call"',)


def _lexical_state(line: str) -> str:
    """`code`, `string` or `comment`: where the end of a line's text is."""
    in_string = escaped = False
    for ch in line:
        if escaped:
            escaped = False
        elif ch == "\\" and in_string:
            escaped = True
        elif ch == '"':
            in_string = not in_string
        elif ch == "#" and not in_string:
            return "comment"
    return "string" if in_string else "code"


_ZONE_FRAGMENT = re.compile(r"\btimezone\s+([A-Za-z][A-Za-z0-9_+\-/]*)\Z")
_NUMBER_FRAGMENT = re.compile(r"(?<![\w.])(-?[0-9][0-9_]*(?:\.[0-9_]*)?)\Z")
_WORD_FRAGMENT = re.compile(r"(?<![\w.])([A-Za-z_][A-Za-z0-9_]*)\Z")


def _fragment(before: str) -> str:
    """The part of a word already typed before the cursor."""
    for pattern in (_ZONE_FRAGMENT, _NUMBER_FRAGMENT, _WORD_FRAGMENT):
        match = pattern.search(before)
        if match:
            return match.group(1)
    return ""


def _parser_state(prefix: str) -> tuple[set[str], list[str]] | None:
    """What the parser accepts after `prefix`, and the current statement's stack (terminal
    or rule names, oldest first); None if the prefix has a syntax error."""
    # Lark's interactive parser is untyped.
    interactive: Any = lark_parser().parse_interactive(prefix)
    try:
        interactive.exhaust_lexer()
        accepts = set(interactive.accepts())
    except lark.LarkError:
        return None
    stack = [item.type if isinstance(item, lark.Token) else str(getattr(item, "data", ""))
             for item in interactive.parser_state.value_stack]
    for i in range(len(stack) - 1, -1, -1):
        if stack[i].startswith("__start") or stack[i] in _STATEMENT_RULES:
            stack = stack[i + 1:]
            break
    return accepts, stack


def _name_candidates(stack: Sequence[str], names: Names) -> list[Candidate]:
    """The names that fit where the parser takes a NAME, by the keywords before the cursor."""
    keywords = set(keyword_terminals())
    last = next((item for item in reversed(stack) if item in keywords), "")
    statement = next((item for item in stack if item in keywords), "")

    def words(values: Iterable[str], detail: str) -> list[Candidate]:
        return [Candidate(v, lsp.CompletionItemKind.EnumMember, detail) for v in values]

    meters = [Candidate(m, lsp.CompletionItemKind.Class, "meter") for m in names.meters]
    actions = [Candidate(a, lsp.CompletionItemKind.Method, "action") for a in names.actions]
    if statement == "PACKS":
        if last == "VALID":
            return words(VALIDITY_UNITS, "validity unit")
        if last == "NO":
            return words(PACK_RESTRICTIONS, "pack restriction")
        return meters
    match last:
        case "COUNTS" | "FREE" | "UNPRICED":
            return actions
        case "ON":
            return meters
        case "PER":
            return words(LADDER_PERIODS if statement == "LADDER" else PERIODS, "period")
        case "ROUNDING":
            return words(ROUNDING_MODES, "rounding mode")
        case "ROUNDED":
            # A block's `rounded up` or `rounded down` (`prorated` is a keyword of its own).
            blocks = [r for r in BLOCK_ROUNDINGS if r.upper() not in keyword_terminals()]
            return words(blocks if statement == "LADDER" else ROUNDING_MODES, "rounding")
        case "CURRENCY":
            common = [c for c in COMMON_CURRENCIES if c in CURRENCIES]
            rest = [c for c in CURRENCIES if c not in common]
            return [Candidate(c, lsp.CompletionItemKind.Constant, "currency")
                    for c in (*common, *rest)]
        case "LANGUAGES":
            return words(LANGUAGES, "language")
        case "LADDER":
            return words(MODES, "ladder mode")
        case "BY":
            if statement == "DEDUCT":
                return words(PACK_ORDERS, "pack order")
            return words(BASES, "ladder basis")
        case "DEDUCT":
            return words(DEDUCT_SOURCES, "deduction source")
        case "ALERT":
            return words(ALERT_WORDS, "alert")
        case "FOR":
            return words(SUSPEND_REASONS, "suspension reason")
    return []


def _zone_candidates(fragment: str) -> list[Candidate]:
    from ratecard.check import _zones  # the zones the checker accepts, and no others

    zones = list(COMMON_ZONES)
    if fragment:
        folded = fragment.lower()
        zones.extend(sorted(z for z in _zones() if z.lower().startswith(folded)
                            and z not in COMMON_ZONES))
    return [Candidate(z, lsp.CompletionItemKind.Value, "timezone") for z in zones]


def _number_candidates(fragment: str) -> list[Candidate]:
    from ratecard.literals import parse_number

    found = []
    for suffix in NUMBER_SUFFIXES:
        text = fragment + suffix
        try:
            value = parse_number(text)
        except ValueError:
            continue
        found.append(Candidate(text, lsp.CompletionItemKind.Unit, f"= {_grouped(value)}"))
    return found


def completions(analysis: Analysis, offset: int, names: Names) -> tuple[list[Candidate], int]:
    """What may be written at an offset, and where the word being written starts."""
    text = analysis.source.text
    line_start = max(text.rfind("\n", 0, offset), text.rfind("\r", 0, offset)) + 1
    if _lexical_state(text[line_start:offset]) != "code":
        return [], offset
    fragment = _fragment(text[line_start:offset])
    start = offset - len(fragment)
    state = _parser_state(text[:start])
    keywords = keyword_terminals()
    if state is None:  # a syntax error before the cursor: everything that could be meant
        found = [Candidate(k, lsp.CompletionItemKind.Keyword) for k in sorted(keywords.values())]
        found += [Candidate(m, lsp.CompletionItemKind.Class, "meter") for m in names.meters]
        found += [Candidate(a, lsp.CompletionItemKind.Method, "action") for a in names.actions]
        return found, start
    accepts, stack = state
    found = []
    if "NUMBER" in accepts and _NUMBER_FRAGMENT.fullmatch(fragment):
        return _number_candidates(fragment), start
    if "ZONE" in accepts:
        found.extend(_zone_candidates(fragment))
    if "NAME" in accepts:
        found.extend(_name_candidates(stack, names))
    if "STRING" in accepts and stack and stack[-1] == "UNIT":
        found.extend(Candidate(u, lsp.CompletionItemKind.Text, "unit")
                     for u in dict.fromkeys((*names.units, *DEFAULT_UNITS)))
    # The current statement's own keywords first, then those that start a new one.
    words = sorted((t in statement_keywords(), keywords[t]) for t in accepts if t in keywords)
    found.extend(Candidate(word, lsp.CompletionItemKind.Keyword) for _, word in words)
    return found, start


def completion_items(analysis: Analysis, offset: int, names: Names) -> list[lsp.CompletionItem]:
    found, start = completions(analysis, offset, names)
    where = analysis.range(analysis.source.span(start, offset))
    return [
        lsp.CompletionItem(
            label=c.text, kind=c.kind, detail=c.detail or None, sort_text=f"{i:04d}",
            text_edit=lsp.TextEdit(range=where, new_text=c.text))
        for i, c in enumerate(found)
    ]


# --- document symbols --------------------------------------------------------------------------


def _symbol(analysis: Analysis, name: str, kind: lsp.SymbolKind, span: Span, selection: Span,
            detail: str = "", children: Sequence[lsp.DocumentSymbol] = ()) -> lsp.DocumentSymbol:
    return lsp.DocumentSymbol(
        name=name, kind=kind, range=analysis.range(span),
        selection_range=analysis.range(selection), detail=detail or None,
        children=list(children) or None)


def _keyword_span(source: SourceFile, span: Span, keyword: str) -> Span:
    """The span of the keyword a statement starts with."""
    return source.span(span.start, span.start + len(keyword))


def document_symbols(analysis: Analysis) -> list[lsp.DocumentSymbol]:
    """The outline: meters (their actions inside), allowances, pack tables (a row per meter)
    and ladders (a bracket each)."""
    rules = analysis.rules
    if rules is None:
        return []
    source = analysis.source
    found: list[lsp.DocumentSymbol] = []
    for st in rules.statements:
        if isinstance(st, n.Meter):
            actions = [
                _symbol(analysis, a.value, lsp.SymbolKind.Method, a.span, a.span, role)
                for role, names in (("counted", st.counts), ("free", st.free)) for a in names]
            found.append(_symbol(analysis, st.name.value, lsp.SymbolKind.Class, st.span,
                                 st.name.span, _label(st.label), actions))
        elif isinstance(st, n.Allowance):
            detail = f"per {st.period.unit.value} on {_target(st.target).replace('`', '')}"
            found.append(_symbol(analysis, f"allowance {st.amount.text}", lsp.SymbolKind.Constant,
                                 st.span, _keyword_span(source, st.span, "allowance"), detail))
        elif isinstance(st, n.Packs):
            rows = [_symbol(analysis, row.meter.value, lsp.SymbolKind.Field, row.span,
                            row.meter.span, _pack_offers(st, row)) for row in st.rows]
            found.append(_symbol(analysis, "packs", lsp.SymbolKind.Struct, st.span,
                                 _keyword_span(source, st.span, "packs"), _pack_options(st),
                                 rows))
        elif isinstance(st, n.Ladder):
            brackets = [
                _symbol(analysis, bracket_bounds(b), lsp.SymbolKind.EnumMember, b.span, b.span,
                        bracket_price(source, b))
                for b in st.brackets]
            detail = f"on {_target(st.target).replace('`', '')}"
            found.append(_symbol(analysis, _ladder_head(st), lsp.SymbolKind.Enum, st.span,
                                 _keyword_span(source, st.span, "ladder"), detail, brackets))
    return found


# --- formatting --------------------------------------------------------------------------------


def formatting(analysis: Analysis) -> list[lsp.TextEdit]:
    """`ratecard fmt`'s layout as one edit of the whole text; none if the text is formatted
    already or does not parse."""
    from ratecard.fmt import FormatError, format_source

    try:
        formatted = format_source(analysis.source)
    except FormatError:
        return []
    if isinstance(formatted, Diagnostic) or formatted == analysis.source.text:
        return []
    whole = analysis.source.span(0, len(analysis.source.text))
    return [lsp.TextEdit(range=analysis.range(whole), new_text=formatted)]


# --- the server ------------------------------------------------------------------------------


class RatecardServer(LanguageServer):
    """The language server: each open document's latest analysis, and the names of its last
    version that parsed (for completion while it does not)."""

    def __init__(self) -> None:
        from ratecard.cli import version

        super().__init__(SERVER_NAME, f"v{version()}",
                         text_document_sync_kind=lsp.TextDocumentSyncKind.Full)
        self.analyses: dict[str, Analysis] = {}
        self.names: dict[str, Names] = {}

    def analysis(self, uri: str) -> Analysis:
        """The analysis of a document's current text (made anew when the text changed)."""
        text = self.workspace.get_text_document(uri).source
        encoding = str(self.workspace.position_encoding or lsp.PositionEncodingKind.Utf16)
        cached = self.analyses.get(uri)
        if cached is not None and cached.text == text and cached.index.encoding == encoding:
            return cached
        fresh = Analysis(uri, text, encoding)
        self.analyses[uri] = fresh
        if fresh.rules is not None:
            self.names[uri] = Names.of(fresh.rules, fresh.source)
        return fresh

    def publish(self, uri: str, version: int | None) -> None:
        self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(
            uri=uri, diagnostics=diagnostics(self.analysis(uri)), version=version))

    def forget(self, uri: str) -> None:
        self.analyses.pop(uri, None)
        self.names.pop(uri, None)
        self.text_document_publish_diagnostics(
            lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[]))


def build_server() -> RatecardServer:
    """A server with every feature registered (not started)."""
    server = RatecardServer()

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(params: lsp.DidOpenTextDocumentParams) -> None:
        server.publish(params.text_document.uri, params.text_document.version)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(params: lsp.DidChangeTextDocumentParams) -> None:
        server.publish(params.text_document.uri, params.text_document.version)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(params: lsp.DidSaveTextDocumentParams) -> None:
        server.publish(params.text_document.uri, None)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: lsp.DidCloseTextDocumentParams) -> None:
        server.forget(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def on_hover(params: lsp.HoverParams) -> lsp.Hover | None:
        analysis = server.analysis(params.text_document.uri)
        found = hover(analysis, analysis.offset(params.position))
        if found is None:
            return None
        text, span = found
        return lsp.Hover(contents=lsp.MarkupContent(kind=lsp.MarkupKind.Markdown, value=text),
                         range=analysis.range(span))

    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION)
    def on_completion(params: lsp.CompletionParams) -> lsp.CompletionList:
        uri = params.text_document.uri
        analysis = server.analysis(uri)
        items = completion_items(analysis, analysis.offset(params.position),
                                 server.names.get(uri, Names()))
        return lsp.CompletionList(is_incomplete=False, items=items)

    def named_at(
        document: lsp.TextDocumentIdentifier, position: lsp.Position
    ) -> tuple[Analysis, Occurrence] | None:
        analysis = server.analysis(document.uri)
        if analysis.rules is None:
            return None
        found = occurrence_at(analysis.rules, analysis.offset(position))
        return (analysis, found) if found is not None else None

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    def on_definition(params: lsp.DefinitionParams) -> list[lsp.Location]:
        named = named_at(params.text_document, params.position)
        if named is None:
            return []
        analysis, found = named
        assert analysis.rules is not None
        target = definition(analysis.rules, found.kind, found.name)
        return [analysis.location(target.span)] if target is not None else []

    @server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
    def on_references(params: lsp.ReferenceParams) -> list[lsp.Location]:
        named = named_at(params.text_document, params.position)
        if named is None:
            return []
        analysis, found = named
        assert analysis.rules is not None
        return [analysis.location(o.span) for o in references(
            analysis.rules, found.kind, found.name, params.context.include_declaration)]

    @server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def on_document_symbol(params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
        return document_symbols(server.analysis(params.text_document.uri))

    @server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
    def on_formatting(params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit]:
        return formatting(server.analysis(params.text_document.uri))

    return server


def serve() -> int:
    """Run the server on standard input and output until the client says `exit`."""
    server = build_server()
    # pygls closes the stream it writes to at `exit`: give it its own descriptor, so that
    # standard output itself stays open for the command line's last flush.
    with os.fdopen(os.dup(sys.stdout.fileno()), "wb") as output:
        server.start_io(sys.stdin.buffer, output)
    return 0

