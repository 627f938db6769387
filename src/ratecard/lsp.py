"""`ratecard lsp`: a language server for rules files, over standard input and output.

Built on pygls, an optional dependency (`pip install 'ratecard[lsp]'`). Everything it says comes
from the pipeline the command line runs, on the text in the editor (docs/editors.md):

- diagnostics as you type: `ratecard check`'s codes, messages, labels and help, `# allow:`
  comments honoured as `check` honours them;
- hover on a meter, an action, a pack row, a ladder or a bracket: what the rules say of it, and,
  when the file compiles, a worked quote by the compiled price book; on a version's `from DAY`,
  what changes that day; in a contract, the contract's terms;
- completion: the keywords the grammar accepts where the cursor is, meter and action names,
  choice words (rounding modes, ladder modes, periods, ...), currencies, timezones, unit labels,
  and the scale suffixes of a number (`300` → `300万`);
- go to definition and find references of meters and actions (from a contract, into the rules
  file it extends);
- formatting by `ratecard fmt` (a file with a syntax error is left as it is);
- document symbols for the outline: meters and their actions, allowances, pack tables and
  their rows, ladders and their brackets, dated versions and what they restate, a contract's
  header, accounts, term and terms.

A contract file is checked against the rules file it extends, read from disk relative to the
contract's own path (as `ratecard check` reads it).

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
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, timedelta
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import lark
from lark.lexer import PatternStr
from lsprotocol import types as lsp
from pygls import uris
from pygls.lsp.server import LanguageServer

from ratecard import nodes as n
from ratecard import versions
from ratecard.api import analyze
from ratecard.check import (
    ALERT_FORMS,
    BILL_PERIODS,
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
from ratecard.diagnostics import Diagnostic, Severity, error
from ratecard.engine.ladders import BASES, MODES
from ratecard.engine.money import ROUNDING_MODES
from ratecard.errors import UsageError
from ratecard.literals import SUFFIXES, format_plain
from ratecard.parser import lark_parser, parse
from ratecard.source import SourceFile, Span
from ratecard.transform import to_nodes

if TYPE_CHECKING:
    from ratecard.engine.bills import Bill
    from ratecard.engine.ladders import Bracket, Ladder
    from ratecard.engine.pricebook import MeterPlan, PriceBook

SERVER_NAME = "ratecard"

# --- positions ---------------------------------------------------------------------------------

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def _units(char: str, encoding: str) -> int:
    """How many code units of `encoding` a character takes."""
    if encoding == lsp.PositionEncodingKind.Utf8:
        # A lone surrogate (JSON's `\ud800` escape) has no UTF-8 form: 3 bytes, as U+FFFD,
        # which a client writes in its place, would have.
        return len(char.encode("utf-8", "surrogatepass"))
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


def fs_path(uri: str) -> Path | None:
    """The file a `file:` URI names; None for another scheme (an untitled, unsaved document)."""
    if not uri.startswith("file:"):
        return None
    path = uris.to_fs_path(uri)
    return Path(path) if path else None


def file_uri(path: Path) -> str:
    return uris.from_fs_path(str(path)) or path.as_uri()


# A contract starts with `contract` (after comments and blank lines).
_CONTRACT_START = re.compile(r"\A(?:[ \t\f\r\n\u3000\ufeff]+|#[^\n]*)*contract(?![A-Za-z0-9_])")


def _unsaved_contract(source: SourceFile) -> tuple[n.Rules | None, list[Diagnostic]]:
    """A contract in a document with no path: the rules file it extends is named relative to
    the contract's directory, and there is none, so E711 says so (and nothing is read)."""
    tree = parse(source)
    if isinstance(tree, Diagnostic):
        return None, [tree]
    rules = to_nodes(tree, source)
    if not versions.is_contract(rules):  # `contract` ... then not a header: the checker's
        return analyze(source)
    extends = versions.contract_parts(rules).header.extends
    return rules, [error(
        "E711", f"cannot read the rules file `{extends.value}`", extends.span,
        "this contract is not saved: it has no directory to read the rules file from",
        "save the contract; `extends` names the rules file relative to the contract's "
        "directory")]


class Analysis:
    """A document's text as the editor holds it, and what the pipeline makes of it: the syntax
    tree (None on a syntax error), every diagnostic, and the price book if there is no error.

    The source is named by the document's path on disk (its URI for an unsaved document), as
    `ratecard check` names a file: a contract's `extends` is read relative to that path.
    """

    def __init__(
        self, uri: str, text: str, encoding: str = lsp.PositionEncodingKind.Utf16
    ) -> None:
        self.uri = uri
        self.text = text
        self.path = fs_path(uri)
        self.source = SourceFile(uri if self.path is None else str(self.path), text)
        # SourceFile drops a leading BOM: its offsets start after it, the editor's before it.
        self.shift = len(text) - len(self.source.text)
        self.index = LineIndex(text, encoding)
        if self.path is None and _CONTRACT_START.match(self.source.text):
            self.rules, self.diagnostics = _unsaved_contract(self.source)
        else:
            directory = None if self.path is None else self.path.parent
            self.rules, self.diagnostics = analyze(self.source, directory)

    @cached_property
    def contract(self) -> bool:
        """Whether the document is a contract (it starts with a `contract` header)."""
        return self.rules is not None and versions.is_contract(self.rules)

    @cached_property
    def extended_path(self) -> Path | None:
        """The path of the rules file a contract extends (None: not a contract, or unsaved)."""
        if not self.contract or self.path is None:
            return None
        assert self.rules is not None
        extends = versions.contract_parts(self.rules).header.extends.value
        return Path(os.path.normpath(self.path.parent / extends))

    @cached_property
    def sheet(self) -> Analysis | None:
        """The analysis of the rules file a contract extends, as saved on disk; None when the
        contract's E711 says there is none to use."""
        where = self.extended_path
        if where is None or any(d.code == "E711" for d in self.diagnostics):
            return None
        try:
            text = where.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        return Analysis(file_uri(where), text, self.index.encoding)

    @cached_property
    def book(self) -> PriceBook | None:
        """The compiled sheet (with its dated versions in its timeline); None while the file
        has errors. A contract's figures are not worked out: its hover shows its terms."""
        if self.rules is None or self.contract or any(d.is_error for d in self.diagnostics):
            return None
        from ratecard.compile import compile_rules

        return compile_rules(self.rules, tuple(self.diagnostics))

    def names(self) -> Names:
        """The names completion offers: a rules file's own; a contract's sheet's."""
        if self.contract:
            sheet = self.sheet
            if sheet is None or sheet.rules is None:
                return Names()
            return Names.of(sheet.rules, sheet.source)
        return Names() if self.rules is None else Names.of(self.rules, self.source)

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


def all_statements(statements: Iterable[n.Statement]) -> Iterator[n.Statement]:
    """Statements in source order, those of each dated version's block after the version."""
    for statement in statements:
        yield statement
        if isinstance(statement, n.Version):
            yield from all_statements(statement.body or ())


def occurrences(rules: n.Rules) -> list[Occurrence]:
    """Every place a meter or an action is named, in source order (versions' blocks and a
    contract's terms included)."""
    found: list[Occurrence] = []
    for statement in all_statements(rules.statements):
        if isinstance(statement, n.Meter):
            found.append(Occurrence(METER, statement.name.value, "declaration",
                                    statement.name.span))
            for role, actions in (("counted", statement.counts), ("free", statement.free)):
                found.extend(Occurrence(ACTION, a.value, role, a.span) for a in actions)
        elif isinstance(statement, n.Unpriced):
            found.extend(Occurrence(ACTION, a.value, "unpriced", a.span)
                         for a in statement.actions)
        elif isinstance(statement, n.Allowance | n.Ladder | n.Discount | n.Grant | n.Credit):
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


def definitions(analysis: Analysis, offset: int, sheet: Analysis | None) -> list[lsp.Location]:
    """Where the meter or action at an offset is defined. In a contract, a meter is defined in
    the rules file it extends (`sheet`), and the `extends` path leads to that file."""
    rules = analysis.rules
    if rules is None:
        return []
    if analysis.contract and sheet is not None:
        extends = versions.contract_parts(rules).header.extends
        if _contains(extends.span, offset):
            return [lsp.Location(uri=sheet.uri, range=sheet.range(sheet.source.span(0, 0)))]
    found = occurrence_at(rules, offset)
    if found is None:
        return []
    if analysis.contract:
        if sheet is None or sheet.rules is None:
            return []
        target = definition(sheet.rules, found.kind, found.name)
        return [sheet.location(target.span)] if target is not None else []
    target = definition(rules, found.kind, found.name)
    return [analysis.location(target.span)] if target is not None else []


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
    if ladder.short:
        return "price (ladder volume by postpaid per month)"
    basis = f" by {ladder.basis.value}" if ladder.basis is not None else ""
    combined = " combined" if ladder.combined else ""
    return f"ladder {ladder.mode.value}{basis} per {ladder.period.unit.value}{combined}"


def _target(target: n.Target) -> str:
    if target.every and target.excluded:
        return "every meter except " + ", ".join(f"`{m.value}`" for m in target.excluded)
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
    options.extend(f"refundable within {r.amount.text} {r.unit.value} if unused"
                   for r in packs.refunds)
    options.extend(f"stop when {stop.word.value}" for stop in packs.stops)
    return ", ".join(options)


def _pack_offers(packs: n.Packs, row: n.PackRow) -> str:
    offers = []
    for size, cell in zip(packs.row_sizes(row), row.cells, strict=False):
        if isinstance(cell, n.Number):
            offers.append(f"{size.text} for {cell.text}")
        elif isinstance(cell, n.ContactSalesCell):
            offers.append(f"{size.text} by negotiation (contact sales)")
    return ", ".join(offers) if offers else "none on sale"


def _meters_of(table_meters: Iterable[str], target: n.Target) -> list[str]:
    return target.of(table_meters) if target.every else [m.value for m in target.meters]


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
    lines.extend(_version_lines(analysis, name))
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
    return example_quantity(first.lo, first.hi, plan.allowance, first.closed_low)


def example_quantity(
    lo: Decimal, hi: Decimal | None, beyond: Decimal = Decimal(0), closed_low: bool = False
) -> Decimal:
    """A round quantity in the bracket (lo, hi]: the largest power of ten in it, else `hi`.
    An unbounded bracket is taken up to ten times `lo` or `beyond`, and at least 1000. For a
    bracket [lo, hi) (`closed_low`): the largest power of ten in it, else `lo`."""
    top = hi if hi is not None else max(lo * 10, beyond * 10, Decimal(1000))
    best: Decimal | None = None
    power = Decimal(1)
    if closed_low and hi is not None:
        while power < hi:
            if power >= lo:
                best = power
            power *= 10
        return best if best is not None else lo
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
    when = ""
    if book.timeline:  # the prices as first written, whatever today is
        when = f", by the prices before {book.timeline[0].start.isoformat()}"
    head = f"**Quote** — {_grouped(quantity)} `{action}` in a month{when} (`ratecard quote`):"
    try:
        bill = book.at(date.min).quote({action: int(quantity)})
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
        rows.append([line.source if line.pack is None else f"{line.source} {line.pack}",
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
    for size, cell in zip(packs.row_sizes(row), row.cells, strict=False):
        if isinstance(cell, n.NotOffered):
            lines.append(f"| {_number(size)} | not offered | |")
        elif isinstance(cell, n.ContactSalesCell):
            lines.append(f"| {_number(size)} | contact sales | |")
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


def bracket_hover(
    analysis: Analysis, ladder: n.Ladder, bracket: n.Bracket, book: PriceBook | None
) -> str:
    """A ladder's bracket: its range and price, and, with the compiled sheet the ladder is in
    (`book`: the first sheet, or a version's), what one of its round quantities costs
    postpaid."""
    assert analysis.rules is not None
    table = symbols(analysis.rules)
    meters = _meters_of(table.meters, ladder.target)
    how = ("every unit of the period costs this price once its quantity is in this bracket"
           if ladder.mode.value == "volume" else "the units within this bracket cost its price")
    lines = [f"**bracket** `{bracket_text(analysis.source, bracket)}`", "",
             f"- quantity per {ladder.period.unit.value}: {_bracket_range(bracket)}",
             f"- {ladder.mode.value}: {how}",
             f"- of {_ladder_head(ladder)} on {_target(ladder.target)}"]
    lo = bracket.lo.value if isinstance(bracket.lo, n.Number) else None
    if book is None or lo is None or not meters:
        return "\n".join(lines)
    hi = bracket.hi.value if isinstance(bracket.hi, n.Number) else None
    quantity = example_quantity(lo, hi, closed_low=bracket.open.value == "[")
    meter = meters[0]
    try:
        amount = book.price_total(meter, int(quantity))
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


# --- hover: versions and contracts -------------------------------------------------------------


def _price_terms(bracket: Bracket) -> str:
    """A compiled bracket's price, as a ladder writes it: `0.0016`, `5 per 1000 + 10 flat`."""
    from ratecard.engine.ladders import BLOCK_PRORATED

    if bracket.price is None:
        return "contact sales"
    terms = []
    if bracket.block is not None:
        counted = ("prorated" if bracket.block_rounding == BLOCK_PRORATED
                   else f"rounded {bracket.block_rounding}")
        terms.append(f"{format_plain(bracket.price)} per block of "
                     f"{format_plain(bracket.block)} {counted}")
    elif bracket.price or not bracket.flat:
        per = f" per {format_plain(bracket.per)}" if bracket.per != 1 else ""
        terms.append(format_plain(bracket.price) + per)
    if bracket.flat:
        terms.append(f"{format_plain(bracket.flat)} flat")
    return " + ".join(terms)


def _compiled_ladder_head(ladder: Ladder) -> str:
    head = f"{ladder.mode} by {ladder.basis} per {ladder.period}"
    head += " combined" if ladder.combined else ""
    head += f", minimum {format_plain(ladder.minimum)}" if ladder.minimum is not None else ""
    head += f", maximum {format_plain(ladder.maximum)}" if ladder.maximum is not None else ""
    return head + (", charge flat at zero" if ladder.flat_at_zero else "")


def _compiled_ladder(ladder: Ladder | None) -> str:
    if ladder is None:
        return "none"
    brackets = ", ".join(f"{b.label} {_price_terms(b)}" for b in ladder.brackets)
    return f"{_compiled_ladder_head(ladder)}: {brackets}"


def _ladder_change(old: Ladder | None, new: Ladder | None) -> str:
    """`(0, 3000000] 0.002 → 0.0016` when only prices change; the whole ladders otherwise."""
    if (old is not None and new is not None
            and _compiled_ladder_head(old) == _compiled_ladder_head(new)
            and [b.label for b in old.brackets] == [b.label for b in new.brackets]):
        changed = ", ".join(f"{a.label} {_price_terms(a)} → {_price_terms(b)}"
                            for a, b in zip(old.brackets, new.brackets, strict=True)
                            if _price_terms(a) != _price_terms(b))
        if changed:
            return changed
    return f"{_compiled_ladder(old)} → {_compiled_ladder(new)}"


def _allowance_of(book: PriceBook, plan: MeterPlan) -> str:
    if plan.allowance_pool is not None:
        amount = book.allowance_pools.get(plan.allowance_pool, Decimal(0))
        return f"{_grouped(amount)} shared"
    return _grouped(plan.allowance)


def _pack_change(old: MeterPlan | None, new: MeterPlan) -> str:
    """`10,000 for 18 → 16, 1,000,000 for 1300 (new), 100,000 withdrawn (was 170)`."""
    before = {offer.size: offer.price for offer in (old.packs if old else ())}
    after = {offer.size: offer.price for offer in new.packs}
    changes = []
    for size in sorted({*before, *after}):
        was, now = before.get(size), after.get(size)
        if was == now:
            continue
        if was is None and now is not None:
            changes.append(f"{_grouped(size)} for {format_plain(now)} (new)")
        elif was is not None and now is None:
            changes.append(f"{_grouped(size)} withdrawn (was {format_plain(was)})")
        elif was is not None and now is not None:
            changes.append(f"{_grouped(size)} for {format_plain(was)} → {format_plain(now)}")
    return ", ".join(changes)


def meter_changes(before: PriceBook, after: PriceBook, meter: str) -> list[tuple[str, str]]:
    """What changes for a meter from one compiled sheet to the next: (what, how) pairs for
    its allowance, packs and ladder, those that change."""
    new = after.meter(meter)
    old = next((plan for plan in before.meters if plan.name == meter), None)
    found = []
    allowance = _allowance_of(after, new)
    if old is None or _allowance_of(before, old) != allowance:
        was = "none" if old is None else _allowance_of(before, old)
        found.append(("allowance", f"{was} → {allowance} per month"))
    packs = _pack_change(old, new)
    if packs:
        found.append(("packs", packs))
    if (old.ladder if old else None) != new.ladder:
        found.append(("ladder", _ladder_change(old.ladder if old else None, new.ladder)))
    return found


def _policy(book: PriceBook) -> str:
    policy = book.packs
    unit = policy.valid_unit + ("s" if policy.valid_amount != 1 else "")
    text = f"valid {policy.valid_amount} {unit}"
    text += "" if policy.refundable else ", no refund"
    return text + ("" if policy.frozen_after_expiry else ", no freeze")


def version_head(version: n.Version) -> Span:
    """`from DAY`, with its `until` and `keep` clauses: the part of a version before `{`."""
    end = version.start.span.end
    for part in (version.until, version.keep):
        if part is not None:
            end = max(end, part.span.end)
    return attrs.evolve(version.span, end=end)


def _restated(statement: n.Statement) -> str:
    """A restated statement in a few words: `allowance 200 per month on calls`."""
    if isinstance(statement, n.Allowance):
        return (f"allowance {statement.amount.text} per {statement.period.unit.value} on "
                f"{_target(statement.target)}")
    if isinstance(statement, n.Packs):
        return "packs of " + ", ".join(f"`{row.meter.value}`" for row in statement.rows)
    if isinstance(statement, n.Ladder):
        return f"{_ladder_head(statement)} on {_target(statement.target)}"
    return f"`{versions.keyword(statement)}`"


def version_hover(analysis: Analysis, version: n.Version) -> str:
    """What a dated version changes: each meter's allowance, packs and ladder before and from
    its day, by the compiled sheets (the statements it restates while the file has errors)."""
    assert analysis.rules is not None
    dated = versions.versions(analysis.rules)
    number = _index(dated, version) + 1
    lines = [f"**from {version.start.text}** — version {number} of {len(dated)}: what changes "
             "on this day", ""]
    if version.keep is not None:
        lines[1:1] = ["", f"Accounts opened before {version.keep.before.text} keep the previous "
                      f"prices until {version.keep.until.text}."]
    book = analysis.book
    if book is None or len(book.books) != len(dated) + 1:
        lines.extend(f"- restates {_restated(s)}" for s in version.body or ())
        return "\n".join(lines)
    before, after = book.books[number - 1], book.books[number]
    grouped: dict[tuple[str, str], list[str]] = {}
    for plan in after.meters:
        for what, how in meter_changes(before, after, plan.name):
            grouped.setdefault((what, how), []).append(plan.name)
    for (what, how), meters in grouped.items():
        lines.append(f"- {what} of " + ", ".join(f"`{m}`" for m in meters) + f": {how}")
    if _policy(before) != _policy(after):
        lines.append(f"- packs bought from this day: {_policy(before)} → {_policy(after)}")
    if len(lines) == 2 + (2 if version.keep is not None else 0):
        lines.append("- no price changes")
    return "\n".join(lines)


def _version_lines(analysis: Analysis, meter: str) -> list[str]:
    """A meter's changes in each dated version: `- from 2027-01-01: allowance 1,000 → 2,000 per
    month`."""
    book = analysis.book
    if book is None or not book.timeline:
        return []
    lines = []
    for before, segment in zip(book.books, book.timeline, strict=False):
        changes = meter_changes(before, segment.book, meter)
        if changes:
            lines.append(f"- from {segment.start.isoformat()}: "
                         + "; ".join(f"{what} {how}" for what, how in changes))
    return lines


def _currency(rules: n.Rules) -> str:
    for statement in rules.statements:
        if isinstance(statement, n.CurrencySetting):
            return statement.code.value + " "
    return ""


def contract_hover(analysis: Analysis) -> str:
    """A contract's terms: whose, when, and what they change of the sheet it extends."""
    assert analysis.rules is not None
    parts = versions.contract_parts(analysis.rules)
    header = parts.header
    label = f" — {_label(header.label)}" if header.label is not None and header.label.texts else ""
    lines = [f"**contract `{header.name.value}`**{label}, extends `{header.extends.value}`", ""]
    accounts = ", ".join(f"`{a.value}`" for a in parts.accounts)
    lines.append(f"- accounts: {accounts or 'none'}")
    term = parts.term
    if term is None:
        lines.append("- term: none")
    elif term.until is None:
        lines.append(f"- term: from {term.start.text}, with no end")
    elif term.until.value is not None:
        last = term.until.value - timedelta(days=1)
        lines.append(f"- term: from {term.start.text} through {last.isoformat()} "
                     f"(until {term.until.text})")
    else:
        lines.append(f"- term: from {term.start.text} until {term.until.text}")
    if parts.discounts:
        lines.append("- discount: " + "; ".join(
            f"{d.percent.text} on {_target(d.target)}" for d in parts.discounts))
    sheet = analysis.sheet
    currency = _currency(sheet.rules) if sheet is not None and sheet.rules is not None else ""
    if parts.minimum is not None:
        lines.append(f"- minimum spend: {currency}{parts.minimum.amount.text} per "
                     f"{parts.minimum.period.unit.value}")
    for extra in parts.extra:
        lines.append(f"- extra allowance: {_number(extra.amount)} per "
                     f"{extra.period.unit.value} on {_target(extra.target)}")
    for change in parts.changes:
        lines.append(f"- own prices: {_restated(change)}")
    return "\n".join(lines)


def contract_meter_hover(analysis: Analysis, meter: str) -> str:
    """A meter named in a contract: its name in the sheet, and the contract's terms for it."""
    assert analysis.rules is not None
    parts = versions.contract_parts(analysis.rules)
    sheet = analysis.sheet
    declared = symbols(sheet.rules).meters.get(meter) if sheet and sheet.rules else None
    title = f"**meter `{meter}`**"
    if declared is not None and declared.label.texts:
        title += f" — {_label(declared.label)}"
    lines = [f"{title}, of `{parts.header.extends.value}`", "",
             f"Under contract `{parts.header.name.value}`:", ""]
    sheet_meters = symbols(sheet.rules).meters if sheet and sheet.rules else {}

    def names(target: n.Target) -> list[str]:
        return _meters_of(sheet_meters, target)

    for discount in parts.discounts:
        if meter in names(discount.target):
            lines.append(f"- discount: {discount.percent.text}")
    for extra in parts.extra:
        if meter in names(extra.target):
            lines.append(f"- extra allowance: {_number(extra.amount)} per "
                         f"{extra.period.unit.value}")
    for change in parts.changes:
        if isinstance(change, n.Packs):
            lines.extend(f"- packs: {_pack_offers(change, row)}"
                         for row in change.rows if row.meter.value == meter)
        elif isinstance(change, n.Ladder) and meter in names(change.target):
            lines.append(f"- {_ladder_head(change)}:")
            lines.extend(_ladder_lines(analysis.source, change))
    if len(lines) == 4:
        lines.append("- no terms of its own: the sheet's prices")
    return "\n".join(lines)


def _version_book(analysis: Analysis, version: n.Version) -> PriceBook | None:
    """The compiled sheet in effect from a version's day (None while the file has errors)."""
    book = analysis.book
    dated = versions.versions(analysis.rules) if analysis.rules is not None else []
    if book is None or len(book.books) != len(dated) + 1:
        return None
    return book.books[_index(dated, version) + 1]


def _index(dated: Sequence[n.Version], version: n.Version) -> int:
    """Where a version is among the file's (itself: two may be written alike)."""
    return next(i for i, v in enumerate(dated) if v is version)


def _statement_hover(
    analysis: Analysis, statements: Sequence[n.Statement], offset: int, book: PriceBook | None
) -> tuple[str, Span] | None:
    """The hover of the statement at an offset: a pack row, a bracket, a ladder, a version's
    `from DAY` (or what its block restates), a contract's terms."""
    for statement in statements:
        if not _contains(statement.span, offset):
            continue
        if isinstance(statement, n.Packs):
            for row in statement.rows:
                if _contains(row.span, offset):
                    return pack_row_hover(statement, row), row.span
        elif isinstance(statement, n.Ladder):
            for bracket in statement.brackets:
                if _contains(bracket.span, offset):
                    return bracket_hover(analysis, statement, bracket, book), bracket.span
            return ladder_hover(analysis, statement), statement.span
        elif isinstance(statement, n.Version) and not analysis.contract:
            head = version_head(statement)
            if _contains(head, offset):
                return version_hover(analysis, statement), head
            return _statement_hover(analysis, statement.body or (), offset,
                                    _version_book(analysis, statement))
        if analysis.contract:
            return contract_hover(analysis), statement.span
    return None


def hover(analysis: Analysis, offset: int) -> tuple[str, Span] | None:
    """The hover text at an offset and the span it describes, or None."""
    rules = analysis.rules
    if rules is None:
        return None
    found = occurrence_at(rules, offset)
    if found is not None and found.kind == METER and analysis.contract:
        return contract_meter_hover(analysis, found.name), found.span
    if found is not None and found.kind == METER:
        meter = symbols(rules).meters.get(found.name)
        return (meter_hover(analysis, meter), found.span) if meter is not None else None
    if found is not None:
        text = action_hover(analysis, found.name)
        return (text, found.span) if text is not None else None
    book = analysis.book
    return _statement_hover(analysis, rules.statements, offset,
                            None if book is None else book.at(date.min))


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
    "ladder_decl", "price_decl", "deduct_decl", "alert_decl", "bill_decl", "suspend_decl",
    "version_decl",
    "contract_decl", "accounts_decl", "discount_decl", "minimum_spend_decl",
})


def _keyword_terminals(statements: Iterable[type[object]]) -> frozenset[str]:
    """The terminals of the keywords that statements of these kinds start with."""
    by_word = {word: name for name, word in keyword_terminals().items()}
    return frozenset(by_word[versions.KEYWORDS[kind].split()[0]] for kind in statements)


@functools.cache
def statement_starts() -> dict[str, frozenset[str]]:
    """The statements offered at a statement's start, by where it is: in a rules file (not
    the contract-only ones), at the start of a file (those and `contract`), in a contract
    (its header's statements: accounts, term, terms; `extra allowance`, not `allowance`), and
    in a dated version's block (what a version restates)."""
    contract_only = _keyword_terminals(versions.CONTRACT_ONLY) | {"EXTRA"}
    rules = statement_keywords() - contract_only
    contract = (_keyword_terminals(versions.CONTRACT_STATEMENTS) - {"ALLOWANCE"}) | {
        "EXTRA", "PRICE", *_keyword_terminals((n.Accounts, n.Version))}
    return {
        "rules": rules,
        "start": rules | _keyword_terminals((n.ContractDecl,)),
        "contract": contract,
        "version": _keyword_terminals(versions.VERSION_STATEMENTS) | {"PRICE"},
    }

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
_DATE_FRAGMENT = re.compile(r"(?<![\w.])([0-9]{4}-[0-9-]*)\Z")
_NUMBER_FRAGMENT = re.compile(r"(?<![\w.])(-?[0-9][0-9_]*(?:\.[0-9_]*)?)\Z")
_WORD_FRAGMENT = re.compile(r"(?<![\w.])([A-Za-z_][A-Za-z0-9_]*)\Z")


def _fragment(before: str) -> str:
    """The part of a word already typed before the cursor."""
    for pattern in (_ZONE_FRAGMENT, _DATE_FRAGMENT, _NUMBER_FRAGMENT, _WORD_FRAGMENT):
        match = pattern.search(before)
        if match:
            return match.group(1)
    return ""


@attrs.frozen
class ParserState:
    """Where the parser is after the text before the cursor: the terminals it accepts, the
    current statement's stack (terminal or rule names, oldest first), and its place: at the
    start of the file, in a contract, in a dated version's block."""

    accepts: frozenset[str]
    stack: tuple[str, ...]
    at_start: bool
    contract: bool
    in_version: bool


def _first_token(value: object) -> str:
    """The type of the first token of a value on the parser's stack (a token or a tree)."""
    if isinstance(value, lark.Token):
        return value.type
    if isinstance(value, lark.Tree):
        for child in value.children:
            found = _first_token(child)
            if found:
                return found
    return ""


def _parser_state(prefix: str) -> ParserState | None:
    """The parser's state after `prefix`; None if the prefix has a syntax error."""
    # Lark's interactive parser is untyped.
    interactive: Any = lark_parser().parse_interactive(prefix)
    try:
        interactive.exhaust_lexer()
        accepts = frozenset(interactive.accepts())
    except lark.LarkError:
        return None
    values = interactive.parser_state.value_stack
    stack = [item.type if isinstance(item, lark.Token) else str(getattr(item, "data", ""))
             for item in values]
    contract = bool(values) and _first_token(values[0]) == "CONTRACT"
    # A version whose block is open: `from DAY ... {` and fewer `}` after it (a statement of
    # the block is reduced, braces and all, when the next one starts).
    block = -1
    for i in range(len(stack) - 1):
        rest = stack[i + 2:]
        if (stack[i:i + 2] == ["FROM", "DATE"] and "LBRACE" in rest
                and rest.count("LBRACE") > rest.count("RBRACE")):
            block = i + 2 + rest.index("LBRACE")
    cut = block
    for i in range(len(stack) - 1, block, -1):
        if stack[i].startswith("__start") or stack[i] in _STATEMENT_RULES:
            cut = i
            break
    return ParserState(accepts, tuple(stack[cut + 1:]), not stack, contract, block >= 0)


def _keywords_here(state: ParserState) -> list[str]:
    """The keyword terminals to offer: those the grammar accepts, less the statements that
    do not belong where the cursor is (a contract's in a rules file, a rules file's in a
    contract, any but allowances, packs and ladders in a version's block), and less a version
    header's clause of the other kind of file (`until` is a contract's term, `keep` a
    version's)."""
    keywords = keyword_terminals()
    accepted = {t for t in state.accepts if t in keywords}
    if "RULES" in state.accepts:  # a statement may start here
        where = ("version" if state.in_version else "contract" if state.contract
                 else "start" if state.at_start else "rules")
        allowed = statement_starts()[where]
        accepted = {t for t in accepted if t not in statement_keywords() or t in allowed}
    if state.stack[:2] == ("FROM", "DATE") and "LBRACE" not in state.stack:
        if state.contract:
            accepted.discard("KEEP")
        elif "KEEP" not in state.stack:
            accepted.discard("UNTIL")
        if not state.contract:  # a version needs its block: nothing more to offer but `{`
            accepted -= statement_keywords()
    return list(accepted)


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
            return words(LADDER_PERIODS if statement == "LADDER" else BILL_PERIODS
                         if statement == "BILL" else PERIODS, "period")
        case "ROUNDING":
            return words([*ROUNDING_MODES, "exact"], "rounding mode")
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


def _date_candidates(fragment: str) -> list[Candidate]:
    """Once a year is typed, the first days of its months (a version's day, a contract's term
    and a grandfathering end are all a month's first day) that begin with what is typed."""
    match = re.fullmatch(r"([0-9]{4})(?:-[0-9-]*)?", fragment)
    if match is None or int(match.group(1)) == 0:
        return []
    year = int(match.group(1))
    days = [date(year, month, 1).isoformat() for month in range(1, 13)]
    return [Candidate(day, lsp.CompletionItemKind.Constant, "a month's first day")
            for day in days if day.startswith(fragment)]


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
    accepts, stack = state.accepts, state.stack
    found = []
    if "DATE" in accepts:
        return _date_candidates(fragment), start
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
    starts = statement_keywords() if "RULES" in accepts else frozenset()
    words = sorted((t in starts, keywords[t]) for t in _keywords_here(state))
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
    """The outline: meters (their actions inside), allowances, pack tables (a row per meter),
    ladders (a bracket each), dated versions (what each restates inside), and a contract's
    header, accounts, term, discounts and minimum spend."""
    if analysis.rules is None:
        return []
    return _statement_symbols(analysis, analysis.rules.statements)


def _statement_symbols(
    analysis: Analysis, statements: Sequence[n.Statement]
) -> list[lsp.DocumentSymbol]:
    source = analysis.source
    found: list[lsp.DocumentSymbol] = []
    for st in statements:
        if isinstance(st, n.Meter):
            actions = [
                _symbol(analysis, a.value, lsp.SymbolKind.Method, a.span, a.span, role)
                for role, names in (("counted", st.counts), ("free", st.free)) for a in names]
            found.append(_symbol(analysis, st.name.value, lsp.SymbolKind.Class, st.span,
                                 st.name.span, _label(st.label), actions))
        elif isinstance(st, n.Allowance):
            detail = f"per {st.period.unit.value} on {_target(st.target).replace('`', '')}"
            word = "allowance" if st.extra is None else "extra allowance"
            found.append(_symbol(analysis, f"{word} {st.amount.text}", lsp.SymbolKind.Constant,
                                 st.span, _keyword_span(source, st.span, word.split()[0]),
                                 detail))
        elif isinstance(st, n.Grant | n.Credit):
            word = "grant" if isinstance(st, n.Grant) else "credit"
            found.append(_symbol(analysis, f"{word} {st.name.value}", lsp.SymbolKind.Constant,
                                 st.span, st.name.span,
                                 f"on {_target(st.target).replace('`', '')}"))
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
                                 _keyword_span(source, st.span, "price" if st.short else "ladder"),
                                 detail, brackets))
        elif isinstance(st, n.Version):
            name = f"from {st.start.text}"
            if st.until is not None:
                name += f" until {st.until.text}"
            detail = "term" if analysis.contract else ""
            if st.keep is not None:
                detail = (f"keep accounts opened before {st.keep.before.text} until "
                          f"{st.keep.until.text}")
            found.append(_symbol(analysis, name, lsp.SymbolKind.Event, st.span,
                                 version_head(st), detail,
                                 _statement_symbols(analysis, st.body or ())))
        elif isinstance(st, n.ContractDecl):
            label = f"{_label(st.label)}, " if st.label is not None and st.label.texts else ""
            found.append(_symbol(analysis, f"contract {st.name.value}", lsp.SymbolKind.Package,
                                 st.span, st.name.span, f"{label}extends {st.extends.value}"))
        elif isinstance(st, n.Accounts):
            found.append(_symbol(analysis, "accounts", lsp.SymbolKind.Array, st.span,
                                 _keyword_span(source, st.span, "accounts"),
                                 ", ".join(a.value for a in st.accounts)))
        elif isinstance(st, n.Discount):
            found.append(_symbol(analysis, f"discount {st.percent.text}", lsp.SymbolKind.Number,
                                 st.span, _keyword_span(source, st.span, "discount"),
                                 f"on {_target(st.target).replace('`', '')}"))
        elif isinstance(st, n.MinimumSpend):
            found.append(_symbol(analysis, f"minimum spend {st.amount.text}",
                                 lsp.SymbolKind.Number, st.span,
                                 _keyword_span(source, st.span, "minimum"),
                                 f"per {st.period.unit.value}"))
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
        from ratecard.console import version

        super().__init__(SERVER_NAME, f"v{version()}",
                         text_document_sync_kind=lsp.TextDocumentSyncKind.Full)
        self.analyses: dict[str, Analysis] = {}
        self.names: dict[str, Names] = {}

    def analysis(self, uri: str, fresh: bool = False) -> Analysis:
        """The analysis of a document's current text (made anew when the text changed, or
        when `fresh`: a contract's, once the rules file it extends is saved)."""
        text = self.workspace.get_text_document(uri).source
        encoding = str(self.workspace.position_encoding or lsp.PositionEncodingKind.Utf16)
        cached = self.analyses.get(uri)
        if (not fresh and cached is not None and cached.text == text
                and cached.index.encoding == encoding):
            return cached
        made = Analysis(uri, text, encoding)
        self.analyses[uri] = made
        if made.rules is not None:
            self.names[uri] = made.names()
        return made

    def sheet(self, analysis: Analysis) -> Analysis | None:
        """The analysis of the rules file a contract extends: the editor's text if it is open
        (its positions are the editor's), else the file as saved."""
        where = analysis.extended_path
        if where is None or analysis.sheet is None:
            return None
        for uri in list(self.analyses):
            if fs_path(uri) == where:
                return self.analysis(uri)
        return analysis.sheet

    def publish(self, uri: str, version: int | None, fresh: bool = False) -> None:
        self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(
            uri=uri, diagnostics=diagnostics(self.analysis(uri, fresh)), version=version))

    def saved(self, uri: str) -> None:
        """A file was saved: its diagnostics, and those of the open contracts that extend it
        (the checker reads the rules file a contract extends from disk)."""
        self.publish(uri, None)
        path = fs_path(uri)
        for other, analysis in list(self.analyses.items()):
            if other != uri and path is not None and analysis.extended_path == path:
                self.publish(other, None, fresh=True)

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
        server.saved(params.text_document.uri)

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
        analysis = server.analysis(params.text_document.uri)
        offset = analysis.offset(params.position)
        sheet = server.sheet(analysis) if analysis.contract else None
        return definitions(analysis, offset, sheet)

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

