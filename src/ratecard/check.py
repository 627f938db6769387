"""Semantic checks: each pass is a function from the tree to diagnostics; CHECKS runs them all.

Passes never stop at the first problem and never raise: a pass that needs a value another pass
reports as broken (a malformed number, an unknown meter) skips it silently, so each mistake is
reported once, by the pass that owns it.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import math
import re
import unicodedata
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from decimal import Decimal
from importlib import resources
from typing import TypeVar

import attrs

from ratecard import nodes as n
from ratecard.currencies import CODES as CURRENCIES
from ratecard.diagnostics import (
    BIDI_CONTROLS,
    Diagnostic,
    did_you_mean,
    error,
    is_control,
    warning,
)
from ratecard.engine.clock import LAST_YEAR
from ratecard.engine.ladders import BASES, MODES, VOLUME
from ratecard.engine.money import ROUNDING_MODES
from ratecard.literals import format_plain
from ratecard.source import Span

LANGUAGES = ("zh", "en")
PERIODS = ("month",)
LADDER_PERIODS = ("month", "day")
BILL_PERIODS = ("month", "day")
BLOCK_ROUNDINGS = ("up", "down", "prorated")
VALIDITY_UNITS = {"year": "year", "years": "year", "month": "month", "months": "month",
                  "day": "day", "days": "day"}
PACK_RESTRICTIONS = ("refund", "freeze")
DEDUCT_SOURCES = ("allowance", "packs", "subscriptions", "postpaid")
PRORATIONS = ("day", "second")
RATE_UNITS = {"second": 1, "minute": 60, "hour": 3600}
PACK_ORDERS = ("expiry", "purchase")
PACK_TIES = ("smallest",)
SUSPEND_REASONS = ("arrears", "violation")
ALERT_FORMS = ("pack remaining below N%", "pack exhausted", "pack expired")

#: Every warning, by code (docs/errors.md describes each): what `# allow:` and `--ignore` take.
WARNINGS = {
    "W001": "bigger pack dearer per unit than a smaller one",
    "W002": "pack dearer per unit than postpaid at any volume",
    "W003": "volume cliff",
    "W004": "bracket dearer per unit than the one below it",
    "W005": "`# allow:` that acknowledges nothing",
    "W006": "price table states a derived price that is not the exact multiple",
}

# A journal holds times up to the end of LAST_YEAR; a pack bought then must expire by the end of
# LAST_EXPIRY_YEAR, a year short of the last one Python's dates hold (9999), so that the expiry
# in any zone's offset, its month and the day that month's bill is issued are all computable.
LAST_EXPIRY_YEAR = 9998
MAX_VALIDITY = {
    "year": LAST_EXPIRY_YEAR - LAST_YEAR,
    "month": (LAST_EXPIRY_YEAR - LAST_YEAR) * 12,
    "day": (date(LAST_EXPIRY_YEAR, 12, 31) - date(LAST_YEAR, 12, 31)).days,
}

T = TypeVar("T")


@attrs.frozen
class Symbols:
    """What the passes look up: the declared languages and meters, and statements by kind."""

    rules: n.Rules
    languages: tuple[str, ...]
    meters: dict[str, n.Meter]

    def of(self, kind: type[T]) -> list[T]:
        return [s for s in self.rules.statements if isinstance(s, kind)]

    @functools.cached_property
    def nodes(self) -> list[object]:
        """Every node under the statements (`_walk`), listed once for the passes that look at
        each node of a kind (labels, numbers, meter names)."""
        return list(_walk(self.rules.statements))

    @functools.cached_property
    def ladders_by_meter(self) -> dict[str, list[n.Ladder]]:
        by_meter: dict[str, list[n.Ladder]] = {}
        for ladder in self.of(n.Ladder):
            for name in self.target_names(ladder.target):
                by_meter.setdefault(name, []).append(ladder)
        return by_meter

    def target_names(self, target: n.Target) -> list[str]:
        """Known meter names of a target (unknown ones are reported by `check_references`)."""
        return target.of(self.meters)


def symbols(rules: n.Rules) -> Symbols:
    """The symbol table of a tree."""
    languages: tuple[str, ...] = LANGUAGES
    for setting in rules.statements:
        if isinstance(setting, n.LanguagesSetting):
            languages = tuple(name.value for name in setting.languages)
    meters: dict[str, n.Meter] = {}
    for statement in rules.statements:
        if isinstance(statement, n.Meter):
            meters.setdefault(statement.name.value, statement)
    return Symbols(rules, languages, meters)


def _value(number: n.Number | None) -> Decimal | None:
    return None if number is None else number.value


_CHILDREN: dict[type, tuple[str, ...]] = {}


def _children(kind: type) -> tuple[str, ...]:
    """The fields of a node type that hold other nodes (all but its spans), once per type."""
    found = _CHILDREN.get(kind)
    if found is None:
        found = _CHILDREN[kind] = tuple(
            field.name for field in attrs.fields(kind)
            if field.name != "span" and not field.name.endswith("_span")
        ) if attrs.has(kind) else ()
    return found


def _walk(node: object) -> Iterator[object]:
    """The node and everything under it, depth first, parents before children and in field
    order (with a stack: a recursive generator passes every node up through each level)."""
    stack = [node]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, tuple):
            stack.extend(reversed(node))
        else:
            stack.extend(getattr(node, name) for name in reversed(_children(type(node))))


# --- header -------------------------------------------------------------------------------

def check_header(s: Symbols) -> Iterator[Diagnostic]:
    """One `rules` header; currency, rounding and timezone each declared once and valid."""
    decls = s.of(n.RulesDecl)
    file_start = _file_start(s)
    if not decls:
        yield error("E101", "missing `rules` header", file_start, "the file starts here",
                    'start the file with `rules NAME "名称" / "Name"`')
    for extra in decls[1:]:
        yield error("E102", "more than one `rules` header", extra.name.span,
                    "second header", f"one file holds one sheet; the first is at line "
                    f"{decls[0].span.line}: remove this one or move it to its own file")
    anchor = decls[0].name.span if decls else file_start
    required: dict[type[object], str] = {
        n.CurrencySetting: "currency CNY",
        n.RoundingSetting: "rounding half_up 0.01",
        n.TimezoneSetting: "timezone Asia/Shanghai",
    }
    for kind, example in required.items():
        found = [st for st in s.rules.statements if isinstance(st, kind)]
        keyword = example.split()[0]
        if not found:
            yield error("E107", f"missing `{keyword}` setting", anchor,
                        f"these rules declare no {keyword}",
                        f"add `{example}` after the header; there is no default")
        for duplicate in found[1:]:
            assert isinstance(duplicate, n.CurrencySetting | n.RoundingSetting | n.TimezoneSetting)
            yield error("E108", f"`{keyword}` is set more than once", duplicate.span,
                        "second setting", "keep one")
    for currency in s.of(n.CurrencySetting):
        code = currency.code.value
        if code not in CURRENCIES:
            hint = did_you_mean(code.upper(), CURRENCIES) or "use an ISO 4217 code such as `CNY`"
            yield error("E103", f"unknown currency `{code}`", currency.code.span,
                        "not an ISO 4217 currency code", hint)
    for tz in s.of(n.TimezoneSetting):
        zone = tz.zone.value
        host = _host_zone(tz.zone)
        if host is not None:
            yield host
        elif zone not in _zones() or not _is_zone(zone):
            hint = did_you_mean(zone, _zones()) or "use an IANA zone such as `Asia/Shanghai`"
            yield error("E104", f"unknown timezone `{zone}`", tz.zone.span,
                        "not an IANA timezone", hint)
    for rounding in s.of(n.RoundingSetting):
        yield from _check_rounding_setting(rounding)
    for setting in s.of(n.LanguagesSetting):
        for lang in setting.languages:
            if lang.value not in LANGUAGES:
                hint = did_you_mean(lang.value, LANGUAGES) or "use `zh` and `en`"
                yield error("E109", f"unknown language `{lang.value}`", lang.span,
                            "price sheets are rendered in zh and en", hint)


ROUNDING_SCOPES = {"line": "per", "total": "on"}  # `per line`, `on total`


def _check_rounding_setting(rounding: n.RoundingSetting) -> Iterator[Diagnostic]:
    """`rounding MODE INCREMENT [per line | on total]`, or `rounding exact` alone."""
    if rounding.mode.value == "exact":
        extra = [x.span for x in (rounding.increment, *(rounding.scope or ())) if x is not None]
        if extra:
            words = Span(extra[0].file, extra[0].start, extra[-1].end, extra[0].line,
                         extra[0].column)
            yield error("E114", "`rounding exact` takes no increment or scope", words,
                        "exact amounts are never rounded",
                        "write `rounding exact` alone, or `rounding half_up 0.01 on total` to "
                        "round the total only")
        return
    if rounding.increment is None:
        yield error("E114", f"rounding `{rounding.mode.value}` has no increment",
                    rounding.mode.span, "rounded to what?",
                    f"write `rounding {rounding.mode.value} 0.01` (fen, cents), or "
                    "`rounding exact` for no rounding")
        yield from _check_rounding(rounding.mode, None)
    else:
        yield from _check_rounding(rounding.mode, rounding.increment)
    if rounding.scope is not None:
        word, where = rounding.scope
        if ROUNDING_SCOPES.get(where.value) != word.value:
            choices = [f"{w} {p}" for p, w in ROUNDING_SCOPES.items()]
            hint = did_you_mean(f"{word.value} {where.value}", choices)
            yield error("E115", f"unknown rounding scope `{word.value} {where.value}`",
                        Span(word.span.file, word.span.start, where.span.end, word.span.line,
                             word.span.column),
                        "where amounts are rounded",
                        hint or "write `per line` (each bill line, the default) or `on total` "
                        "(the bill's total only)")


def _check_rounding(
    mode_name: n.Name, increment_number: n.Number | None
) -> Iterator[Diagnostic]:
    mode = mode_name.value
    if mode not in ROUNDING_MODES:
        hint = did_you_mean(mode, ROUNDING_MODES) or (
            "use one of " + ", ".join(f"`{m}`" for m in ROUNDING_MODES))
        yield error("E105", f"unknown rounding mode `{mode}`", mode_name.span,
                    "not a rounding mode", hint)
    if increment_number is None:
        return
    increment = increment_number.value
    if increment is not None and increment > 0 and not _is_power_of_ten(increment):
        yield error("E106", f"rounding increment `{increment_number.text}` is not a power "
                    "of ten", increment_number.span, "values round to this",
                    "use 1, 0.1, 0.01 (fen, cents) or 0.001")
    elif increment is not None and increment == 0:
        yield error("E106", "rounding increment is zero", increment_number.span,
                    "values round to this", "use 0.01 to round to fen or cents")


def _is_zone(name: str) -> bool:
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return False
    return True


# Names a machine's tz directory may hold besides the zones: they mean different things on
# different machines (or none), so a bill computed with them would depend on where it runs.
_HOST_ONLY = {
    "localtime": "the zone of whatever machine runs ratecard",
    "posixrules": "the default rules file of whatever machine runs ratecard",
    "Factory": "the tz database's placeholder for a zone that was never set",
}


def _host_zone(name: n.Name) -> Diagnostic | None:
    """E113 for a zone name whose meaning depends on the machine, else None."""
    zone = name.value
    example = "name the zone the bills are computed in, e.g. `timezone Asia/Shanghai` or " \
              "`timezone UTC`"
    if zone in _HOST_ONLY:
        return error("E113", f"timezone `{zone}` is not the same zone on every machine",
                     name.span, _HOST_ONLY[zone],
                     f"bills would differ from machine to machine: {example}")
    prefix, _, rest = zone.partition("/")
    if prefix in ("posix", "right") and rest:
        what = "a copy" if prefix == "posix" else "a variant counting leap seconds"
        canonical = f"write `timezone {rest}`" if rest in _zones() else example
        return error("E113", f"timezone `{zone}` is not the same zone on every machine",
                     name.span, f"{what} of `{rest}` that only some machines have", canonical)
    return None


@functools.cache
def _zones() -> frozenset[str]:
    """The IANA zone names: those of the tzdata package (a dependency), else the host's."""
    try:
        listed = resources.files("tzdata").joinpath("zones").read_text(encoding="utf-8")
        names = frozenset(listed.split())
    except (ModuleNotFoundError, OSError):
        names = frozenset(zoneinfo.available_timezones())
    return names - set(_HOST_ONLY)


def _is_power_of_ten(value: Decimal) -> bool:
    digits = value.normalize().as_tuple().digits
    return digits == (1,)


def _file_start(s: Symbols) -> Span:
    return Span(s.rules.file, 0, 0, 1, 1)


def check_labels(s: Symbols) -> Iterator[Diagnostic]:
    """A label has at most one name per declared language, and none is empty."""
    for node in s.nodes:
        if isinstance(node, n.Label):
            for extra in node.texts[len(s.languages):]:
                yield error("E110", "more display names than languages", extra.span,
                            f"these rules declare {len(s.languages)} language(s): "
                            f"{' / '.join(s.languages)}",
                            "remove this name, or add its language with `languages zh / en`")
            for text in node.texts:
                if not text.value.strip():
                    yield error("E111", "empty display name", text.span, "nothing to show",
                                "write the name people read, or leave the language out")
                yield from _check_characters(text)


_CHARACTER_NAMES = {"\n": "a line break", "\r": "a carriage return", "\t": "a tab",
                    "\x00": "a NUL character", "\u2028": "a line separator",
                    "\u2029": "a paragraph separator"}
# One character or escape of a string literal's body: `\n`, `\x07`, `\u202e`, `\N{...}`, `\101`.
_ESCAPE = re.compile(r"\\(N\{[^}]*\}|x[0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|U[0-9a-fA-F]{8}|[0-7]{1,3}|.)")
_SIMPLE_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v"}


def _decode_escape(body: str) -> str:
    """The text of one escape's body (after the backslash), as a Python string literal reads it."""
    try:
        if body[0] in "xuU":
            return chr(int(body[1:], 16))
        if body[0] == "N":
            return unicodedata.lookup(body[2:-1])
        if body[0] in "01234567":
            return chr(int(body, 8))
    except (KeyError, ValueError):
        return "\\" + body
    return _SIMPLE_ESCAPES.get(body, body if body in "\\'\"" else "\\" + body)


def _characters(raw: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, text) of each character or escape in a string literal's body."""
    at, end = 1, len(raw) - 1
    while at < end:
        escape = _ESCAPE.match(raw, at, end)
        if escape is not None:
            yield at, escape.end(), _decode_escape(escape.group(1))
            at = escape.end()
        else:
            yield at, at + 1, raw[at]
            at += 1


def _describe(char: str) -> str:
    code = f"U+{ord(char):04X}"
    if char in _CHARACTER_NAMES:
        return f"{_CHARACTER_NAMES[char]} ({code})"
    if char in BIDI_CONTROLS:
        return f"the bidirectional control {code} ({unicodedata.name(char)})"
    if unicodedata.category(char) == "Cs":
        return f"a lone surrogate {code}"
    return f"the control character {code}"


def _check_characters(text: n.Text) -> Iterator[Diagnostic]:
    """E112 at the first control character of a display name (written raw or as an escape)."""
    bad = next((char for char in text.value if is_control(char)), None)
    if bad is None:
        return
    span = text.span  # the whole string, unless the character is found where it was written
    for start, end, chars in _characters(text.raw):
        if bad in chars:
            span = Span(text.span.file, text.span.start + start, text.span.start + end,
                        text.span.line, text.span.column + start)
            break
    label = ("reorders the text around it when shown" if bad in BIDI_CONTROLS
             else "not visible text")
    yield error("E112", f"display name contains {_describe(bad)}", span, label,
                "a display name is one line of visible text: remove it (a space separates "
                "words)")


# --- numbers ----------------------------------------------------------------------------------

def check_numbers(s: Symbols) -> Iterator[Diagnostic]:
    """Every number literal is well formed and not negative."""
    for node in s.nodes:
        if isinstance(node, n.Number):
            if node.value is None:
                yield error("E301", f"malformed number `{node.text}`", node.span,
                            node.problem.replace(f"`{node.text}` ", "", 1),
                            "write digits with an optional decimal part and one suffix "
                            "(k, M, B, 千, 万, 亿): `0.0018`, `10万`, `1_000`")
            elif node.value < 0:
                yield error("E302", f"negative amount `{node.text}`", node.span,
                            "prices, sizes and quantities cannot be negative",
                            f"write `{node.text.lstrip('-')}`")


# --- meters and actions --------------------------------------------------------------------

def check_meters(s: Symbols) -> Iterator[Diagnostic]:
    """Meters are unique, count at least one action, and each action has one meaning."""
    first: dict[str, n.Meter] = {}
    fed = {q.meter.value for request in s.of(n.Request) for q in request.quantities}
    fed |= {c.meter.value for request in s.of(n.Request) for c in request.charges}
    # action → (what it is, where, meter name)
    seen: dict[str, tuple[str, n.Name, str]] = {}
    for meter in s.of(n.Meter):
        name = meter.name.value
        if name in first:
            yield error("E201", f"meter `{name}` is declared twice", meter.name.span,
                        "second declaration", f"the first is at line {first[name].span.line}: "
                        "rename this meter or merge the two")
            continue
        first[name] = meter
        if not meter.counts and name not in fed:
            yield error("E204", f"meter `{name}` counts no action", meter.name.span,
                        "nothing is ever counted into this meter",
                        f"add `counts ActionName` to `{name}`")
        for extra in meter.units[1:]:
            yield error("E208", f"meter `{name}` declares its unit twice", extra.span,
                        "second unit", "keep one `unit` clause")
        for display in meter.display_units[:1]:
            size = display.size.value
            if size is not None and size <= 0:
                yield error("E304", f"display unit of `{size}` metered units",
                            display.size.span, "a display unit holds some units",
                            "write how many metered units make one, e.g. "
                            "`unit \"小时\" / \"hour\" = 3600 \"秒\" / \"second\"`")
        for second in meter.quantity_roundings[1:]:
            yield error("E208", f"meter `{name}` declares its quantity rounding twice",
                        second.span, "second rounding", "keep one `quantity rounded` clause")
        for rounding in meter.quantity_roundings[:1]:
            yield from _check_rounding(rounding.mode, rounding.increment)
        for extra_minimum in meter.entry_minimums[1:]:
            yield error("E932", f"meter `{name}` declares its minimum per entry twice",
                        extra_minimum.span, "second minimum", "keep one `quantity at least`")
        for minimum in meter.entry_minimums[:1]:
            if minimum.per.value != "entry":
                yield error("E932", f"`per {minimum.per.value}`: a minimum is per entry",
                            minimum.per.span, "not `entry`",
                            did_you_mean(minimum.per.value, ("entry",)) or "write `per entry`")
            if minimum.amount.value is not None and minimum.amount.value <= 0:
                yield error("E932", f"minimum `{minimum.amount.text}` is not above zero",
                            minimum.amount.span, "a minimum bills some units",
                            "write the least quantity an entry bills, e.g. `at least 300`")
        yield from _check_count_units(meter)
        for second_amount in meter.amount_roundings[1:]:
            yield error("E208", f"meter `{name}` declares its amount rounding twice",
                        second_amount.span, "second rounding", "keep one `amount rounded` clause")
        for amount in meter.amount_roundings[:1]:
            yield from _check_rounding(amount.mode, amount.increment)
        for kind, names in (("counted", meter.counts), ("free", meter.free)):
            for action in names:
                yield from _claim(seen, action.value, kind, action, name)
    for unpriced in s.of(n.Unpriced):
        for action in unpriced.actions:
            yield from _claim(seen, action.value, "unpriced", action, "")
    for request in s.of(n.Request):
        yield from _claim(seen, request.name.value, "a request", request.name, "")


def _claim(
    seen: dict[str, tuple[str, n.Name, str]], action: str, kind: str, where: n.Name, meter: str
) -> Iterator[Diagnostic]:
    previous = seen.get(action)
    if previous is None:
        seen[action] = (kind, where, meter)
        return
    prev_kind, prev_where, prev_meter = previous
    if kind == prev_kind == "counted":
        if meter == prev_meter:
            yield error("E202", f"action `{action}` is counted twice in meter `{meter}`",
                        where.span, "listed again", "remove the repeated name")
        else:
            yield error("E202", f"action `{action}` is counted into two meters",
                        where.span, f"already counted into `{prev_meter}` at line "
                        f"{prev_where.span.line}",
                        "an action counts into one meter; remove it from one of them")
    elif kind == prev_kind:
        yield error("E202", f"action `{action}` is declared {kind} twice", where.span,
                    f"already {kind} at line {prev_where.span.line}", "remove the repeated name")
    else:
        yield error("E205", f"action `{action}` is both {prev_kind} and {kind}", where.span,
                    f"{prev_kind} at line {prev_where.span.line}",
                    "an action is counted, free, or unpriced: keep one")


def _check_count_units(meter: n.Meter) -> Iterator[Diagnostic]:
    """`counts A in hours`: the word names the meter's display unit (`unit "小时" / "hour" =
    3600 ...`), by one of its labels or that label with an `s`."""
    for counted in meter.count_units:
        word = counted.unit.value
        if not meter.display_units:
            yield error("E933", f"`in {word}`: meter `{meter.name.value}` has no display unit",
                        counted.unit.span, "counted in what?",
                        "declare the unit its counts are in, e.g. `unit \"小时\" / \"hour\" = "
                        "3600 \"秒\" / \"second\"`, and write `in hours`")
            continue
        labels = [text.value for text in meter.display_units[0].label.texts]
        if word not in labels and word not in [f"{label}s" for label in labels]:
            names = [f"{label}s" if label.isascii() else label for label in labels]
            yield error("E933", f"`in {word}` is not meter `{meter.name.value}`'s display unit",
                        counted.unit.span, "not its display unit",
                        did_you_mean(word, names) or "write `in " + names[-1] + "`")


def check_exact_amounts(s: Symbols) -> Iterator[Diagnostic]:
    """Under `rounding exact`, every amount must be an exact decimal: a price per N whose unit
    price does not terminate (0.05 per 3600) or a prorated block whose unit share does not
    makes amounts like 0.0041666…, which are never silently cut to some digits. Each meter it
    prices declares how its lines are rounded (`amount rounded half_up to 0.000001`)."""
    settings = s.of(n.RoundingSetting)
    if not settings or settings[0].mode.value != "exact":
        return
    rounded = {meter.name.value for meter in s.of(n.Meter) if meter.amount_roundings}
    for ladder in (node for node in s.nodes if isinstance(node, n.Ladder)):
        meters = [name for name in s.target_names(ladder.target) if name not in rounded]
        if not meters:
            continue
        for bracket in ladder.brackets:
            for term in bracket.terms:
                shown = _inexact_term(term)
                if shown is None:
                    continue
                yield error("E934", f"`{shown}` makes amounts that are not exact decimals",
                            term.span, "under `rounding exact`, 1 unit costs " + shown,
                            f"round meter `{meters[0]}`'s lines: add `amount rounded half_up "
                            "to 0.000001` (or the precision the page shows) to the meter")
                break
    for table in (node for node in s.nodes if isinstance(node, n.Prices)):
        per = table.per.value if table.per is not None else Decimal(1)
        if per is None or per <= 0:
            continue
        for row in table.rows:
            for column, cell in zip(table.meters, row.cells, strict=False):
                if (isinstance(cell, n.Number) and cell.value is not None
                        and column.value not in rounded and not _terminates(cell.value, per)):
                    shown = f"{cell.text} per {table.per.text if table.per else '1'}"
                    yield error("E934", f"`{shown}` makes amounts that are not exact decimals",
                                cell.span, "under `rounding exact`, 1 unit costs " + shown,
                                f"round meter `{column.value}`'s lines: add `amount rounded "
                                "half_up to 0.000001` (or the precision the page shows) to "
                                "the meter")


def _inexact_term(term: object) -> str | None:
    """The price as written (`0.05 per 3600`) if its price of one unit is not an exact
    decimal, else None."""
    if isinstance(term, n.UnitPrice) and term.per is not None:
        price, per = term.amount.value, term.per.value
        if price is not None and per is not None and per > 0 and not _terminates(price, per):
            return f"{term.amount.text} per {term.per.text}"
    if isinstance(term, n.BlockPrice) and term.rounding.value == "prorated":
        size = term.size.value
        if size is not None and size > 0 and not _terminates(Decimal(1), size):
            return f"{term.amount.text} per block of {term.size.text} prorated"
    return None


def _terminates(numerator: Decimal, denominator: Decimal) -> bool:
    """Whether numerator / denominator is a finite decimal: its reduced denominator has no
    prime factor but 2 and 5."""
    top_n, top_d = numerator.as_integer_ratio()
    bottom_n, bottom_d = denominator.as_integer_ratio()
    top, bottom = top_n * bottom_d, top_d * bottom_n
    if top == 0:
        return True
    bottom //= math.gcd(top, bottom)
    for prime in (2, 5):
        while bottom % prime == 0:
            bottom //= prime
    return bottom == 1


def check_references(s: Symbols) -> Iterator[Diagnostic]:
    """Every meter named in a target or a pack row is declared."""
    names: list[n.Name] = []
    for node in s.nodes:
        if isinstance(node, n.Target):
            names.extend(node.meters)
            names.extend(node.excluded)
            if node.excluded and s.meters and not node.of(s.meters):
                yield error("E210", "`every meter except` leaves no meter", node.span,
                            "every meter of these rules is excepted",
                            "name the meters this applies to, or except fewer")
        elif isinstance(node, n.PackRow):
            names.append(node.meter)
    for name in names:
        if name.value not in s.meters:
            yield error("E203", f"unknown meter `{name.value}`", name.span,
                        "not a meter of these rules",
                        did_you_mean(name.value, s.meters)
                        or f"declare it with `meter {name.value} \"名称\" / \"Name\" counts ...`")


def check_allowances(s: Symbols) -> Iterator[Diagnostic]:
    """Allowances are monthly, whole, and at most one per meter."""
    given: dict[str, n.Allowance] = {}
    for allowance in s.of(n.Allowance):
        yield from _check_period(allowance.period)
        amount = allowance.amount.value
        if amount is not None and amount != amount.to_integral_value():
            yield error("E303", f"allowance `{allowance.amount.text}` is not a whole number",
                        allowance.amount.span, "units are counted whole",
                        f"write `{format_plain(amount.to_integral_value())}`")
        for name in s.target_names(allowance.target):
            if name in given:
                yield error("E209", f"meter `{name}` gets two allowances",
                            allowance.target.span, f"`{name}` already has one at line "
                            f"{given[name].span.line}", "give each meter one allowance")
            else:
                given[name] = allowance


def _check_period(
    period: n.Period, allowed: tuple[str, ...] = PERIODS, what: str = "allowances are monthly"
) -> Iterator[Diagnostic]:
    unit = period.unit.value
    if unit not in allowed:
        hint = did_you_mean(unit, allowed) or "write " + " or ".join(
            f"`per {p}`" for p in allowed)
        yield error("E404", f"unknown period `{unit}`", period.unit.span,
                    f"{what}, in calendar periods of the rules' timezone", hint)


# --- packs ----------------------------------------------------------------------------------

def check_packs(s: Symbols) -> Iterator[Diagnostic]:
    """Pack tables: each its validity and options, positive unique sizes, a price per size."""
    rows: dict[str, n.PackRow] = {}
    for packs in s.of(n.Packs):
        if not packs.valid:
            yield error("E505", "packs without a validity", packs.span,
                        "how long do these packs last?", "add `valid 1 year` after `packs`")
        for extra in packs.valid[1:]:
            yield error("E505", "packs declare their validity twice", extra.span,
                        "second validity", "keep one `valid` option")
        for valid in packs.valid[:1]:
            unit = VALIDITY_UNITS.get(valid.unit.value)
            if unit is None:
                hint = did_you_mean(valid.unit.value, VALIDITY_UNITS) or "write `valid 1 year`"
                yield error("E505", f"unknown validity unit `{valid.unit.value}`",
                            valid.unit.span, "packs last years, months or days", hint)
            amount = valid.amount.value
            if amount is not None and (amount <= 0 or amount != amount.to_integral_value()):
                yield error("E304", f"validity `{valid.amount.text}` must be a whole number "
                            "above zero", valid.amount.span, "packs would never be usable",
                            "write `valid 1 year`")
            if (unit is not None and amount is not None and amount > MAX_VALIDITY[unit]
                    and amount == amount.to_integral_value()):
                yield _too_long(valid, unit)
        yield from _check_pack_options(packs)
        for restriction in packs.restrictions:
            if restriction.what.value not in PACK_RESTRICTIONS:
                hint = did_you_mean(restriction.what.value, PACK_RESTRICTIONS) or (
                    "write `no refund` or `no freeze`")
                yield error("E506", f"unknown pack restriction `no {restriction.what.value}`",
                            restriction.what.span, "not a restriction", hint)
        for size_row in (packs.sizes, *packs.more_sizes):
            sizes: dict[Decimal, n.Number] = {}
            for size in size_row:
                if size.value is None:
                    continue
                if size.value == 0 or size.value != size.value.to_integral_value():
                    yield error("E304", f"pack size `{size.text}` must be a whole number above "
                                "zero", size.span, "not a size", "write a size such as `1万`")
                elif size.value in sizes:
                    yield error("E503", f"pack size `{size.text}` appears twice", size.span,
                                f"same as `{sizes[size.value].text}`",
                                "remove the repeated column")
                else:
                    sizes[size.value] = size
        for row in packs.rows:
            meter = row.meter.value
            if meter in rows:
                yield error("E504", f"meter `{meter}` has two pack rows", row.meter.span,
                            f"already priced at line {rows[meter].span.line}",
                            "keep one row per meter")
            rows.setdefault(meter, row)
            row_sizes = packs.row_sizes(row)
            if len(row.cells) < len(row_sizes):
                missing = row_sizes[len(row.cells):]
                shown = ", ".join(f"`{m.text}`" for m in missing)
                yield error("E501", f"pack size {shown} has no price for `{meter}`",
                            row.cells[-1].span, f"{len(row.cells)} of {len(row_sizes)} "
                            "prices", "add a price for each size, or `-` where a size is "
                            "not sold")
            for surplus in row.cells[len(row_sizes):]:
                yield error("E502", f"more prices than pack sizes for `{meter}`", surplus.span,
                            "no size above this price",
                            f"{'its `size` row' if row.sizes else 'the table'} has "
                            f"{len(row_sizes)} sizes: remove this price or "
                            "add its size to the `size` row")


def _check_pack_options(packs: n.Packs) -> Iterator[Diagnostic]:
    """A table's refund window (one, in days, months or years, not beside `no refund`) and its
    `stop when exhausted`."""
    for extra in packs.refunds[1:]:
        yield error("E509", "packs declare their refund window twice", extra.span,
                    "second refund window", "keep one `refundable within ...` option")
    for refund in packs.refunds[:1]:
        unit = VALIDITY_UNITS.get(refund.unit.value)
        if unit is None:
            hint = did_you_mean(refund.unit.value, VALIDITY_UNITS) or (
                "write `refundable within 7 days if unused`")
            yield error("E509", f"unknown refund window unit `{refund.unit.value}`",
                        refund.unit.span, "a refund window is in days, months or years", hint)
        amount = refund.amount.value
        if amount is not None and (amount <= 0 or amount != amount.to_integral_value()):
            yield error("E304", f"refund window `{refund.amount.text}` must be a whole number "
                        "above zero", refund.amount.span, "no refund could ever be made",
                        "write `refundable within 7 days if unused`, or `no refund`")
        elif (unit is not None and amount is not None and amount > MAX_VALIDITY[unit]):
            yield error("E509", f"refund window `{refund.amount.text} {refund.unit.value}` is "
                        "too long", refund.amount.span, "longer than any validity",
                        "write the window the sheet gives, e.g. `7 days`")
        for restriction in packs.restrictions:
            if restriction.what.value == "refund":
                yield error("E509", "packs are both refundable and `no refund`",
                            restriction.span, f"the refund window is at line {refund.span.line}",
                            "keep `refundable within ...` or `no refund`, not both")
    for twice in packs.stops[1:]:
        yield error("E510", "packs say `stop when exhausted` twice", twice.span,
                    "second time", "keep one")
    for stop_option in packs.stops:
        if stop_option.word.value != "exhausted":
            hint = did_you_mean(stop_option.word.value, ("exhausted",)) or (
                "write `stop when exhausted`")
            yield error("E510", f"unknown stop condition `{stop_option.word.value}`",
                        stop_option.word.span,
                        "service stops when the packs are exhausted", hint)


def _too_long(valid: n.PackValid, unit: str) -> Diagnostic:
    years, months, days = (f"{MAX_VALIDITY[u]:,} {u}s" for u in ("year", "month", "day"))
    limits = f"{years}, {months} or {days}"
    return error("E508", f"pack validity `{valid.amount.text} {valid.unit.value}` is too long",
                 valid.amount.span, f"a pack bought at the end of {LAST_YEAR} would expire after "
                 f"the year {LAST_EXPIRY_YEAR}",
                 f"journals hold times up to {LAST_YEAR} and expiry dates must stay within "
                 f"{LAST_EXPIRY_YEAR}: a validity is at most {limits}")


# --- ladders ---------------------------------------------------------------------------------

def check_ladders(s: Symbols) -> Iterator[Diagnostic]:
    """Each ladder: known mode and basis, sound brackets; each meter has exactly one ladder."""
    for ladder in s.of(n.Ladder):
        mode = ladder.mode.value
        if mode not in MODES:
            hint = did_you_mean(mode, MODES) or "write `volume` (all-units) or `graduated`"
            yield error("E401", f"unknown ladder mode `{mode}`", ladder.mode.span,
                        "not a ladder mode", hint)
        if ladder.basis is None:
            yield error("E402", "ladder does not say which quantity selects its bracket",
                        ladder.mode.span, "no `by ...` here",
                        f"write `ladder {mode} by postpaid` (after allowance and packs) or "
                        f"`ladder {mode} by total` (all units of the period)")
        elif ladder.basis.value not in BASES:
            hint = did_you_mean(ladder.basis.value, BASES) or (
                "write `by postpaid`, `by total` or `by after_allowance`")
            yield error("E403", f"unknown ladder basis `{ladder.basis.value}`",
                        ladder.basis.span, "not a quantity the ladder can use", hint)
        yield from _check_period(ladder.period, LADDER_PERIODS,
                                 "ladders are priced per month or per day")
        yield from _check_brackets(ladder)
        yield from _check_limits(ladder)
    for name, ladders in s.ladders_by_meter.items():
        for extra in ladders[1:]:
            if extra.short or ladders[0].short:
                first = "price" if ladders[0].short else "ladder"
                yield error("E211", f"meter `{name}` is priced twice",
                            _target_name(extra, name), f"`{name}` already has a {first} at line "
                            f"{ladders[0].span.line}",
                            "keep one: a `price` for a single price, a `ladder` for brackets")
                continue
            yield error("E207", f"meter `{name}` is priced by two ladders", extra.target.span,
                        f"`{name}` already has the ladder at line {ladders[0].span.line}",
                        f"remove `{name}` from one of the ladders")
    # A misspelt meter in a ladder's `on` list is reported once (E203), not again here.
    misspelt = {
        close
        for ladder in s.of(n.Ladder)
        for ref in ladder.target.meters
        if ref.value not in s.meters
        for close in difflib.get_close_matches(ref.value, list(s.meters), n=1, cutoff=0.6)
    }
    stopping = stop_meters(s)
    for ladder in s.of(n.Ladder):
        for ref in ladder.target.meters:
            if ref.value in stopping:
                yield error("E510", f"meter `{ref.value}` stops when its packs are exhausted: "
                            "it has no postpaid price", ref.span,
                            f"its packs say `stop when exhausted` at line "
                            f"{stopping[ref.value].span.line}",
                            f"remove `{ref.value}` from this ladder, or drop "
                            "`stop when exhausted`")
    tabled = {m.value for table in s.of(n.Prices) for m in table.meters}
    tabled |= {d.meter.value for table in s.of(n.Prices) for d in table.derivations}
    for name, meter in s.meters.items():
        if name in tabled:
            for ladder in s.ladders_by_meter.get(name, ()):
                yield error("E926", f"meter `{name}` is priced by a table and by a ladder",
                            _target_name(ladder, name), "also in a price table",
                            f"remove `{name}` from this ladder, or from the price table")
            continue
        if name not in s.ladders_by_meter and name not in misspelt and name not in stopping:
            yield error("E206", f"meter `{name}` has no postpaid ladder", meter.name.span,
                        "usage past the allowance and packs would have no price",
                        f"add `{name}` to a ladder's `on` list")


# --- orders ------------------------------------------------------------------------------------

def check_orders(s: Symbols) -> Iterator[Diagnostic]:
    """Orders: unique names, at most one minimum (a whole number above zero) and unit, and
    sound brackets over the order's quantity."""
    seen: dict[str, n.Order] = {}
    for order in s.of(n.Order):
        name = order.name.value
        if name in seen:
            yield error("E801", f"order `{name}` is declared twice", order.name.span,
                        f"already declared at line {seen[name].span.line}",
                        "give each product its own name")
        seen.setdefault(name, order)
        for extra in order.minimums[1:]:
            yield error("E802", f"order `{name}` has two minimums", extra.span,
                        "second minimum", "keep one `minimum N`")
        for extra_unit in order.units[1:]:
            yield error("E802", f"order `{name}` has two units", extra_unit.span,
                        "second unit", "keep one `unit ...`")
        for display in order.display_units:
            yield error("E802", f"order `{name}` shows another unit than it counts",
                        display.span, "an order is priced and shown per unit it buys",
                        "write the unit alone, e.g. `unit \"个\" / \"device\"`")
        for minimum in order.minimums[:1]:
            amount = minimum.amount.value
            if amount is not None and (amount <= 0 or amount != amount.to_integral_value()):
                yield error("E802", f"minimum order `{minimum.amount.text}` must be a whole "
                            "number above zero", minimum.amount.span, "not a quantity to order",
                            "write `minimum 50`, or leave the minimum out")
        shape = n.Ladder(n.Name("volume", order.name.span), n.Name("total", order.name.span),
                         n.Period(n.Name("month", order.name.span), order.span),
                         n.Target(False, (), order.span), False, order.brackets, (), (), False,
                         order.span)
        yield from _check_brackets(shape)


# --- subscriptions and fees ----------------------------------------------------------------------

def check_subscriptions(s: Symbols) -> Iterator[Diagnostic]:
    """Subscriptions and fees: names unique among them, the meters and the orders; one period
    (month or day), proration (by day or second), maximum (whole, above zero) and unit each;
    sound brackets; a coverage limit above zero, and coverage drawn in the deduction order."""
    taken: dict[str, Span] = {name: meter.name.span for name, meter in s.meters.items()}
    taken.update({order.name.value: order.name.span for order in s.of(n.Order)})
    plans: list[n.Subscription | n.Fee] = [*s.of(n.Subscription), *s.of(n.Fee)]
    for plan in plans:
        name = plan.name.value
        kind = "subscription" if isinstance(plan, n.Subscription) else "fee"
        if name in taken:
            yield error("E811", f"{kind} `{name}` is declared twice", plan.name.span,
                        f"the name is taken at line {taken[name].line}",
                        "give each meter, order, subscription and fee its own name")
        taken.setdefault(name, plan.name.span)
        prorations = plan.prorations if isinstance(plan, n.Subscription) else tuple(
            p for p in (plan.proration,) if p is not None)
        for extra_proration in prorations[1:]:
            yield error("E812", f"{kind} `{name}` is prorated twice", extra_proration.span,
                        "second proration", "keep one `prorated by day` or `prorated by second`")
        for proration in prorations[:1]:
            basis = proration.basis.value
            if basis not in PRORATIONS:
                hint = did_you_mean(basis, PRORATIONS) or (
                    "write `prorated by day` or `prorated by second`")
                yield error("E812", f"unknown proration `by {basis}`", proration.basis.span,
                            "a partial period is charged by the days or the seconds it spans",
                            hint)
        if isinstance(plan, n.Fee):
            yield from _check_period(plan.period, LADDER_PERIODS)
            continue
        if not plan.periods:
            yield error("E812", f"subscription `{name}` has no period", plan.name.span,
                        "charged how often?", "add `, per month` or `, per day` after its name")
        for extra_period in plan.periods[1:]:
            yield error("E812", f"subscription `{name}` has two periods", extra_period.span,
                        "second period", "keep one `per month` or `per day`")
        for period in plan.periods[:1]:
            yield from _check_period(period, LADDER_PERIODS)
        for extra in plan.maximums[1:]:
            yield error("E812", f"subscription `{name}` has two maximums", extra.span,
                        "second maximum", "keep one `maximum N`")
        for maximum in plan.maximums[:1]:
            most = maximum.amount.value
            if most is not None and (most <= 0 or most != most.to_integral_value()):
                yield error("E812", f"maximum `{maximum.amount.text}` must be a whole number "
                            "above zero", maximum.amount.span, "not a quantity to subscribe",
                            "write `maximum 300`, or leave the maximum out")
        for extra_unit in plan.units[1:]:
            yield error("E812", f"subscription `{name}` has two units", extra_unit.span,
                        "second unit", "keep one `unit ...`")
        for display in plan.display_units:
            yield error("E812", f"subscription `{name}` shows another unit than it counts",
                        display.span, "a subscription is priced and shown per unit it buys",
                        "write the unit alone, e.g. `unit \"QPS\" / \"QPS\"`")
        up = None if plan.covers is None else plan.covers.up
        per = None if plan.covers is None else plan.covers.per
        if per is not None and per.value not in RATE_UNITS:
            hint = did_you_mean(per.value, tuple(RATE_UNITS)) or (
                "write `per second`, `per minute` or `per hour`")
            yield error("E813", f"unknown rate `per {per.value}`", per.span,
                        "a rate counts units a second, a minute or an hour", hint)
        if up is not None and up.value != "up":
            yield error("E813", f"unknown coverage limit `{up.value} to`", up.span,
                        "a limit on the units covered", "write `up to N`")
        cap = None if plan.covers is None else plan.covers.cap
        if cap is not None and cap.value is not None and cap.value <= 0:
            yield error("E813", f"coverage limit `{cap.text}` must be above zero", cap.span,
                        "a subscription that covers nothing", "write `up to 100万`, or leave "
                        "the limit out (usage covered without limit)")
        for bracket in plan.brackets:
            if bracket.contact_sales is None and not all(
                    isinstance(term, n.UnitPrice) and term.per is None for term in bracket.terms):
                yield error("E812", f"subscription `{name}` has a bracket that is not a price "
                            "per unit", bracket.span, "a subscription is priced per unit and "
                            "period", "write one price per unit, e.g. `(0, 10]  280`")
        shape = n.Ladder(n.Name("volume", plan.name.span), n.Name("total", plan.name.span),
                         n.Period(n.Name("month", plan.name.span), plan.span),
                         n.Target(False, (), plan.span), False, plan.brackets, (), (), False,
                         plan.span)
        yield from _check_brackets(shape)
    covering = [plan for plan in s.of(n.Subscription) if plan.covers is not None]
    deducts = s.of(n.Deduct)
    steps = [step.source for deduct in deducts[:1] for step in deduct.steps]
    listed = next((step for step in steps if step.value == "subscriptions"), None)
    if covering and listed is None:
        cover = covering[0].covers
        assert cover is not None
        yield error("E813", f"subscription `{covering[0].name.value}` covers meters, but the "
                    "deduction order has no `subscriptions`", cover.span,
                    "where is its usage drawn?",
                    "add `subscriptions` to the deduction order, e.g. `deduct subscriptions, "
                    "allowance, packs by expiry, postpaid`")
    if listed is not None and not covering:
        yield error("E813", "`subscriptions` in the deduction order, but no subscription covers "
                    "a meter", listed.span, "nothing to draw here",
                    "add `covers METER` to a subscription, or remove `subscriptions`")


# --- requests ----------------------------------------------------------------------------------

def check_requests(s: Symbols) -> Iterator[Diagnostic]:
    """A request's quantities feed declared meters, and its quantities and properties are
    each declared once, a property with values (a list of strings, or `bool`) and a default
    among them."""
    for request in s.of(n.Request):
        action = request.name.value
        if not request.quantities and not request.charges:
            yield error("E921", f"request `{action}` has no quantity", request.name.span,
                        "nothing of this request is ever counted",
                        "add `quantity NAME into METER` (or `charge METER`) inside its braces")
        quantities: dict[str, n.RequestQuantity] = {}
        for quantity in request.quantities:
            name = quantity.name.value
            if name in quantities:
                yield error("E922", f"quantity `{name}` of request `{action}` is declared twice",
                            quantity.name.span, f"already declared at line "
                            f"{quantities[name].span.line}", "remove one of the two")
                continue
            quantities[name] = quantity
            if quantity.meter.value not in s.meters:
                yield error("E203", f"unknown meter `{quantity.meter.value}`", quantity.meter.span,
                            "not a meter of these rules",
                            did_you_mean(quantity.meter.value, s.meters)
                            or f"declare it with `meter {quantity.meter.value} \"名称\" / "
                            "\"Name\"`")
        properties: dict[str, n.RequestProperty] = {}
        for prop in request.properties:
            name = prop.name.value
            if name in properties or name in quantities:
                what = "property" if name in properties else "quantity"
                where = (properties[name] if name in properties else quantities[name]).span.line
                yield error("E922", f"`{name}` of request `{action}` is declared twice",
                            prop.name.span, f"already a {what} at line {where}",
                            "give each quantity and property its own name")
                continue
            properties[name] = prop
            yield from _check_property(prop)
        for charge in request.charges:
            if charge.meter.value not in s.meters:
                yield error("E203", f"unknown meter `{charge.meter.value}`", charge.meter.span,
                            "not a meter of these rules",
                            did_you_mean(charge.meter.value, s.meters)
                            or f"declare it with `meter {charge.meter.value} \"名称\" / "
                            "\"Name\"`")
            for word in (*charge.when, *(() if charge.unless is None else (charge.unless,))):
                found = properties.get(word.value)
                if found is None or found.type is None:
                    yield error("E930", f"`{word.value}` is not a bool property of request "
                                f"`{action}`", word.span, "a charge depends on bool properties",
                                did_you_mean(word.value, [p for p, node in properties.items()
                                                          if node.type is not None])
                                or f"declare it: `property {word.value} bool default false`")


def _check_property(prop: n.RequestProperty) -> Iterator[Diagnostic]:
    """E923 for a property type that is not `bool` or a value listed twice; E924 for a default
    that is not one of its values."""
    if prop.type is not None:
        if prop.type.value != "bool":
            yield error("E923", f"unknown property type `{prop.type.value}`", prop.type.span,
                        "a property is `bool` or a list of quoted values",
                        did_you_mean(prop.type.value, ("bool",))
                        or 'write `bool`, or its values: `"standard", "batch"`')
            return
        allowed: tuple[str, ...] = ("true", "false")
    else:
        listed: dict[str, n.Text] = {}
        for value in prop.values:
            if value.value in listed:
                yield error("E923", f"value \"{value.value}\" of property `{prop.name.value}` is "
                            "listed twice", value.span, "listed again", "remove the repeat")
            listed.setdefault(value.value, value)
        allowed = tuple(listed)
    default = prop.default
    if default is None:
        return
    ok = ((isinstance(default, n.Name) and prop.type is not None)
          or (isinstance(default, n.Text) and prop.type is None)) and default.value in allowed
    if not ok:
        shown = default.value if isinstance(default, n.Name) else f'"{default.value}"'
        choices = ", ".join(allowed if prop.type is not None else (f'"{v}"' for v in allowed))
        yield error("E924", f"default `{shown}` is not a value of property "
                    f"`{prop.name.value}`", default.span, f"its values: {choices}",
                    f"write one of {choices}")


def check_price_tables(s: Symbols) -> Iterator[Diagnostic]:
    """A price table prices meters its request's quantities feed (each in one table, with no
    allowance or packs), over a string property of that request: one row per value, one price
    per column, derived columns from a priced column (W006 where a stated price is not the
    multiple)."""
    requests = {r.name.value: r for r in s.of(n.Request)}
    held: dict[str, n.Name] = {}
    drawn = {m for a in s.of(n.Allowance) for m in s.target_names(a.target)}
    drawn |= {row.meter.value for packs in s.of(n.Packs) for row in packs.rows}
    for table in s.of(n.Prices):
        request = requests.get(table.request.value)
        if request is None:
            yield error("E925", f"unknown request `{table.request.value}`", table.request.span,
                        "not a request of these rules",
                        did_you_mean(table.request.value, requests)
                        or f"declare it with `request {table.request.value} {{ ... }}`")
            continue
        props = {p.name.value: p for p in request.properties}
        prop = props.get(table.property.value)
        if prop is None or prop.type is not None:
            yield error("E925", f"`{table.property.value}` is not a property of request "
                        f"`{request.name.value}` with listed values", table.property.span,
                        "rows are values of a property", did_you_mean(
                            table.property.value,
                            [p for p, node in props.items() if node.type is None])
                        or "start the header row with a property such as `model`")
            continue
        fed = {q.meter.value for q in request.quantities}
        derived = {d.meter.value: d for d in table.derivations}
        columns = [m.value for m in table.meters]
        yield from _check_table_meters(s, table, request, fed, held, drawn, derived)
        for d in table.derivations:
            if d.base.value not in columns or d.base.value in derived:
                yield error("E928", f"`{d.meter.value}` is derived from `{d.base.value}`, not a "
                            "priced column of this table", d.base.span,
                            "a derived price is a multiple of a column priced in the table",
                            f"add `{d.base.value}` to the header row, or derive from another")
            factor = d.factor.value
            if factor is not None and factor <= 0:
                yield error("E928", f"factor `{d.factor.text}` is not above zero",
                            d.factor.span, "a price is a positive multiple",
                            "write a factor such as 1.25")
        values = [v.value for v in prop.values]
        seen: dict[str, n.PriceRow] = {}
        for row in table.rows:
            value = row.value.value
            if value not in values:
                yield error("E927", f"\"{value}\" is not a value of property "
                            f"`{prop.name.value}`", row.value.span, "not one of its values",
                            did_you_mean(value, values)
                            or f"add it to `property {prop.name.value}`")
            elif value in seen:
                yield error("E927", f"\"{value}\" has two rows", row.value.span,
                            f"already priced at line {seen[value].span.line}",
                            "remove one of the two")
            seen.setdefault(value, row)
            if len(row.cells) != len(columns):
                yield error("E927", f"\"{value}\" has {len(row.cells)} prices for "
                            f"{len(columns)} columns", row.span, "one price per column",
                            "write a price (or `-` in a derived column) under each column")
                continue
            cells = dict(zip(columns, row.cells, strict=True))
            yield from _check_row(value, cells, derived)
        for missing in [v for v in prop.values if v.value not in seen]:
            yield error("E927", f"\"{missing.value}\" has no row in the price table of "
                        f"`{request.name.value}`", missing.span, "a request with it has no price",
                        f"add a row for \"{missing.value}\" to the table at line "
                        f"{table.span.line}")


def check_price_rules(s: Symbols) -> Iterator[Diagnostic]:
    """Modifiers and thresholds: on the meters of one price table, with conditions on its
    request's properties (declared values), a threshold over a sum of the request's own
    quantities, and its table's rows values of the table's property, a price per column."""
    tables: dict[str, n.Prices] = {}
    for prices in s.of(n.Prices):
        for name in (*prices.meters, *(d.meter for d in prices.derivations)):
            tables.setdefault(name.value, prices)
    requests = {r.name.value: r for r in s.of(n.Request)}
    names: dict[str, n.Name] = {}
    rules: list[n.Modifier | n.Above] = [*s.of(n.Modifier), *s.of(n.Above)]
    for rule in rules:
        key = rule.name.value
        if key in names:
            yield error("E929", f"`{key}` is declared twice", rule.name.span,
                        f"already a modifier or threshold at line {names[key].span.line}",
                        "give each its own name")
        names.setdefault(key, rule.name)
        table = tables.get(rule.meters[0].value)
        if table is None:
            yield error("E929", f"meter `{rule.meters[0].value}` is not priced by a price "
                        "table", rule.meters[0].span, "modifiers and thresholds change a "
                        "price table's prices", "list meters of a `prices` table")
            continue
        for meter in rule.meters[1:]:
            if tables.get(meter.value) is not table:
                yield error("E929", f"meter `{meter.value}` is not in the price table of "
                            f"`{rule.meters[0].value}`", meter.span, "not in that table",
                            f"list only meters of the table at line {table.span.line}")
        request = requests.get(table.request.value)
        if request is None:
            continue  # (E925)
        yield from _check_conditions(rule.conditions, request)
        if isinstance(rule, n.Modifier):
            if rule.factor.value is not None and rule.factor.value <= 0:
                yield error("E929", f"factor `{rule.factor.text}` is not above zero",
                            rule.factor.span, "a price is a positive multiple",
                            "write a factor such as 0.5")
            continue
        yield from _check_above(rule, table, request)


def _check_conditions(conditions: tuple[n.PropertyCondition, ...],
                      request: n.Request) -> Iterator[Diagnostic]:
    props = {p.name.value: p for p in request.properties}
    for condition in conditions:
        prop = props.get(condition.property.value)
        if prop is None:
            yield error("E930", f"`{condition.property.value}` is not a property of request "
                        f"`{request.name.value}`", condition.property.span, "unknown property",
                        did_you_mean(condition.property.value, props)
                        or f"declare it in request `{request.name.value}`")
            continue
        value = condition.value
        if prop.type is not None:
            ok = isinstance(value, n.Name) and value.value in ("true", "false")
            choices = "true, false"
        else:
            ok = isinstance(value, n.Text) and value.value in {v.value for v in prop.values}
            choices = ", ".join(f'"{v.value}"' for v in prop.values)
        if not ok:
            yield error("E930", f"`{value.value}` is not a value of property "
                        f"`{prop.name.value}`", value.span, f"its values: {choices}",
                        f"write one of {choices}")


def _check_above(rule: n.Above, table: n.Prices, request: n.Request) -> Iterator[Diagnostic]:
    if not rule.sums:
        yield error("E931", f"threshold `{rule.name.value}` is over no quantity",
                    rule.name.span, "a threshold tests a sum of the request's own quantities",
                    "add a condition such as `and input_tokens + cache_read_input_tokens > "
                    "200000`")
    for extra in rule.sums[1:]:
        yield error("E931", f"threshold `{rule.name.value}` tests two sums", extra.span,
                    "one sum per threshold", "add the quantities into one sum")
    quantities = {q.name.value for q in request.quantities}
    for total in rule.sums[:1]:
        for name in total.quantities:
            if name.value not in quantities:
                yield error("E930", f"`{name.value}` is not a quantity of request "
                            f"`{request.name.value}`", name.span, "unknown quantity",
                            did_you_mean(name.value, quantities)
                            or f"declare it in request `{request.name.value}`")
        limit = total.limit.value
        if limit is not None and (limit < 0 or limit != limit.to_integral_value()):
            yield error("E931", f"threshold `{total.limit.text}` is not a whole number",
                        total.limit.span, "quantities are whole units", "write e.g. 200000")
    if rule.property.value != table.property.value:
        yield error("E925", f"the rows of `{rule.name.value}` are values of "
                    f"`{table.property.value}`, as its price table's", rule.property.span,
                    f"not `{table.property.value}`", f"write `{table.property.value}`")
    props = {p.name.value: p for p in request.properties}
    values = {v.value for v in props[table.property.value].values} if (
        table.property.value in props) else set()
    for row in rule.rows:
        if row.value.value not in values:
            yield error("E927", f"\"{row.value.value}\" is not a value of property "
                        f"`{table.property.value}`", row.value.span, "not one of its values",
                        did_you_mean(row.value.value, values) or "remove the row")
        if len(row.cells) != len(rule.meters) or not all(
                isinstance(c, n.Number) for c in row.cells):
            yield error("E927", f"\"{row.value.value}\" needs a price per column",
                        row.span, f"{len(rule.meters)} columns", "write a price under each")


def _check_table_meters(
    s: Symbols, table: n.Prices, request: n.Request, fed: set[str], held: dict[str, n.Name],
    drawn: set[str], derived: dict[str, n.PriceDerivation],
) -> Iterator[Diagnostic]:
    # What else feeds each meter: actions counted into it, other requests, charges.
    others: dict[str, str] = {}
    for plan in s.meters.values():
        if plan.counts or plan.free:
            others[plan.name.value] = f"action `{(plan.counts or plan.free)[0].value}`"
    for other in s.of(n.Request):
        for q in other.quantities:
            if other.name.value != request.name.value:
                others.setdefault(q.meter.value, f"request `{other.name.value}`")
        for charge in other.charges:
            others.setdefault(charge.meter.value, f"a charge of request `{other.name.value}`")
    columns: dict[str, n.Name] = {}
    for meter in (*table.meters, *(d.meter for d in table.derivations)):
        name = meter.value
        if name in columns:
            if any(m is meter for m in table.meters):  # (a derived column may be one)
                yield error("E926", f"meter `{name}` is listed twice in the table", meter.span,
                            f"already a column at line {columns[name].span.line}",
                            "remove the repeat")
            continue
        columns[name] = meter
        if name not in s.meters:
            yield error("E203", f"unknown meter `{name}`", meter.span,
                        "not a meter of these rules", did_you_mean(name, s.meters) or
                        f"declare it with `meter {name} \"名称\" / \"Name\"`")
        elif name not in fed:
            yield error("E926", f"meter `{name}` is not fed by request `{request.name.value}`",
                        meter.span, "a price table prices its request's meters",
                        f"add `quantity ... into {name}` to request `{request.name.value}`")
        elif name in held:
            yield error("E926", f"meter `{name}` is in two price tables", meter.span,
                        f"already priced at line {held[name].span.line}",
                        "price each meter in one table")
        elif name in drawn:
            yield error("E926", f"meter `{name}` is priced by a table and has an allowance "
                        "or packs", meter.span, "a table's meters are billed postpaid only",
                        f"remove `{name}`'s allowance and packs")
        elif others.get(name):
            yield error("E926", f"meter `{name}` is priced by a table and fed by "
                        f"{others[name]}", meter.span, "a table prices its request's "
                        "quantities only", f"feed `{name}` from request "
                        f"`{request.name.value}`'s quantities only")
    for name, meter in columns.items():
        held.setdefault(name, meter)


def _check_row(
    value: str, cells: dict[str, n.PackCell], derived: dict[str, n.PriceDerivation]
) -> Iterator[Diagnostic]:
    for column, cell in cells.items():
        rule = derived.get(column)
        if isinstance(cell, n.ContactSalesCell) or (isinstance(cell, n.NotOffered)
                                                    and rule is None):
            yield error("E927", f"\"{value}\" has no price for `{column}`", cell.span,
                        "a price table's cell is a price (`-` only in a derived column)",
                        "write the price")
            continue
        if rule is None or not isinstance(cell, n.Number) or cell.value is None:
            continue
        base = cells.get(rule.base.value)
        if (not isinstance(base, n.Number) or base.value is None or rule.factor.value is None):
            continue
        product = base.value * rule.factor.value
        if cell.value != product:
            yield warning("W006", f"\"{value}\" states {cell.text} for `{column}`, not "
                          f"{rule.base.value} × {rule.factor.text} = {format_plain(product)}",
                          cell.span, "the table's price is billed",
                          f"write `{format_plain(product)}` or `-` if the rule holds; keep "
                          "the stated price (and acknowledge with `# allow: W006`) if the "
                          "page states it")


def stop_meters(s: Symbols) -> dict[str, n.PackStop]:
    """The meters whose packs stop service when exhausted (no postpaid), and where it is said."""
    return {row.meter.value: packs.stops[0]
            for packs in s.of(n.Packs) if packs.stops for row in packs.rows}


def _target_name(ladder: n.Ladder, name: str) -> Span:
    """Where a ladder (or a price) names a meter, or its whole target for `every meter`."""
    return _named(ladder.target, name)


def _named(target: n.Target, name: str) -> Span:
    """Where a target names a meter, or the whole target for `every meter`."""
    for ref in target.meters:
        if ref.value == name:
            return ref.span
    return target.span


def _check_brackets(ladder: n.Ladder) -> Iterator[Diagnostic]:
    if not ladder.brackets:
        yield error("E411", "ladder has no brackets", ladder.span, "empty ladder",
                    "add brackets such as `(0, 300万] 0.002` and `(300万, ∞) 0.0018`")
        return
    previous_hi: Decimal | None = None
    last = len(ladder.brackets) - 1
    # The first bracket's opening sets the ladder's form: `(lo, hi]` or `[lo, hi)`.
    first_open = ladder.brackets[0].open.value
    closed_low = first_open == "["
    form = "`[lo, hi)`" if closed_low else "`(lo, hi]`"
    for index, bracket in enumerate(ladder.brackets):
        lo = bracket.lo.value if isinstance(bracket.lo, n.Number) else None
        hi = bracket.hi.value if isinstance(bracket.hi, n.Number) else None
        mixed = index > 0 and bracket.open.value != first_open
        if mixed:
            yield error("E417", "brackets of both forms in one ladder", bracket.open.span,
                        f"the first bracket (line {ladder.brackets[0].span.line}) is {form}",
                        f"write every bracket of this ladder as {form}, with `{first_open}` here")
        want_hi = "]" if not closed_low else ")"
        want = ")" if isinstance(bracket.hi, n.Unbounded) else want_hi
        if bracket.close.value != want and not mixed:
            last_form = "`[lo, ∞)`" if closed_low else "`(lo, ∞)`"
            yield error("E410", f"this bracket should end with `{want}`", bracket.close.span,
                        f"write `{want}` here", f"a bracket is {form}, the last {last_form}")
        if isinstance(bracket.lo, n.Unbounded):
            yield error("E408", "a bracket cannot start at ∞", bracket.lo.span,
                        "lower bound", "brackets start at 0 and ascend")
        if isinstance(bracket.hi, n.Unbounded) and index != last:
            yield error("E409", "only the last bracket is open-ended", bracket.hi.span,
                        "brackets follow this one", "give this bracket an upper bound")
        if index == last and isinstance(bracket.hi, n.Number):
            yield error("E409", "the last bracket must be open-ended", bracket.hi.span,
                        "units above this would have no price",
                        f"end the ladder with `{first_open}lo, ∞)`")
        if lo is not None and hi is not None and hi <= lo:
            yield error("E408", f"bracket `{bracket.open.value}{_bound(bracket.lo)}, "
                        f"{_bound(bracket.hi)}{bracket.close.value}` does not ascend",
                        bracket.hi.span, "upper bound not above the lower one",
                        "the upper bound must be above the lower bound")
        if index == 0:
            if lo is not None and lo != 0:
                yield error("E405", "the first bracket must start at 0", bracket.lo.span,
                            "units up to here would have no price",
                            f"start it at `{first_open}0,`")
        elif lo is not None and previous_hi is not None:
            if lo > previous_hi:
                yield error("E406", "gap between brackets", bracket.lo.span,
                            f"units in {_span_text(previous_hi, lo, closed_low)} have "
                            "no price", f"start this bracket at {format_plain(previous_hi)}")
            elif lo < previous_hi:
                yield error("E407", "brackets overlap", bracket.lo.span,
                            f"units in {_span_text(lo, previous_hi, closed_low)} are "
                            "in two brackets", f"start this bracket at "
                            f"{format_plain(previous_hi)}")
        previous_hi = hi if hi is not None else previous_hi
        unit_terms = [t for t in bracket.terms if isinstance(t, n.UnitPrice | n.BlockPrice)]
        flat_terms = [t for t in bracket.terms if isinstance(t, n.FlatFee)]
        for extra in unit_terms[1:] + flat_terms[1:]:
            yield error("E414", "a bracket has one unit or block price and at most one flat fee",
                        extra.span, "second term of this kind", "add them up into one")
        for term in unit_terms:
            if isinstance(term, n.UnitPrice) and term.per is not None and term.per.value == 0:
                yield error("E304", "price per zero units", term.per.span, "divides by zero",
                            "write `per 1000` or leave `per` out")
            if isinstance(term, n.BlockPrice):
                yield from _check_block(term)


def _span_text(lo: Decimal, hi: Decimal, closed_low: bool) -> str:
    """An interval of units in the ladder's own form: `(lo, hi]` or `[lo, hi)`."""
    if closed_low:
        return f"[{format_plain(lo)}, {format_plain(hi)})"
    return f"({format_plain(lo)}, {format_plain(hi)}]"


def _check_block(term: n.BlockPrice) -> Iterator[Diagnostic]:
    if term.size.value is not None and term.size.value == 0:
        yield error("E304", "block of zero units", term.size.span, "a block holds no units",
                    "write a block size above zero, e.g. `per block of 100 rounded up`")
    if term.rounding.value not in BLOCK_ROUNDINGS:
        hint = did_you_mean(term.rounding.value, BLOCK_ROUNDINGS) or (
            "write `rounded up` (a started block counts), `rounded down` (full blocks only) "
            "or `prorated`")
        yield error("E415", f"unknown block rounding `{term.rounding.value}`",
                    term.rounding.span, "how are partial blocks counted?", hint)


def _bound(bound: n.Bound) -> str:
    return "∞" if isinstance(bound, n.Unbounded) else bound.text


def _check_limits(ladder: n.Ladder) -> Iterator[Diagnostic]:
    if ladder.period.unit.value == "day":
        for minimum in ladder.minimums:
            yield error("E416", "a daily ladder cannot have a minimum", minimum.span,
                        "days without usage have no charge to top up",
                        "use a monthly ladder for a minimum spend, or drop the minimum")
        if ladder.flat_at_zero:
            yield error("E416", "a daily ladder cannot charge its flat fee at zero usage",
                        ladder.period.span, "days without usage are not billed",
                        "remove `charge flat at zero`, or price the ladder `per month`")
    for extra in ladder.minimums[1:]:
        yield error("E413", "ladder declares two minimums", extra.span, "second minimum",
                    "keep one")
    for second in ladder.maximums[1:]:
        yield error("E413", "ladder declares two maximums", second.span, "second maximum",
                    "keep one")
    if ladder.minimums and ladder.maximums:
        low = ladder.minimums[0].amount.value
        high = ladder.maximums[0].amount.value
        if low is not None and high is not None and low > high:
            yield error("E412", "minimum above maximum", ladder.minimums[0].amount.span,
                        f"above the maximum {format_plain(high)}",
                        "the minimum spend must not exceed the cap")


# --- deduction, alerts, bills ----------------------------------------------------------------

def check_singletons(s: Symbols) -> Iterator[Diagnostic]:
    """`deduct`, `alert`, `bill` and `suspend` are declared at most once."""
    kinds: tuple[tuple[type[object], str], ...] = (
        (n.Deduct, "deduct"), (n.Alert, "alert"), (n.Bill, "bill"), (n.Suspend, "suspend"))
    for kind, keyword in kinds:
        found = [st for st in s.rules.statements if isinstance(st, kind)]
        if kind is n.Bill:  # a monthly `bill` and a `bill per day on ...`, once each
            daily: list[n.Statement] = [
                st for st in found if isinstance(st, n.Bill) and _daily_bill(st)]
            found = [st for st in found if st not in daily]
            for extra in daily[1:]:
                yield error("E608", "`bill per day` is declared twice", extra.span,
                            "second declaration", "merge into one `bill per day on ...`")
        for extra in found[1:]:
            assert isinstance(extra, n.Deduct | n.Alert | n.Bill | n.Suspend)
            yield error("E608", f"`{keyword}` is declared twice", extra.span,
                        "second declaration", f"merge into one `{keyword}` statement")


def check_grants(s: Symbols) -> Iterator[Diagnostic]:
    """Grants: unique names that are not a source's, whole amounts above zero, monthly or
    once, and a validity (required for a grant issued once)."""
    seen: dict[str, n.Grant] = {}
    for grant in s.of(n.Grant):
        name = grant.name.value
        if name in seen:
            yield error("E901", f"grant `{name}` is declared twice", grant.name.span,
                        f"already declared at line {seen[name].span.line}",
                        "give each grant its own name")
        elif name in DEDUCT_SOURCES:
            yield error("E901", f"a grant cannot be called `{name}`", grant.name.span,
                        "the name of a deduction source", "choose another name")
        seen.setdefault(name, grant)
        amount = grant.amount.value
        if amount is not None and (amount <= 0 or amount != amount.to_integral_value()):
            yield error("E902", f"grant `{grant.amount.text}` must be a whole number above "
                        "zero", grant.amount.span, "units are given whole",
                        "write the number of units given, such as `50`")
        if grant.period is not None:
            yield from _check_period(grant.period)
        valid = grant.valid
        if valid is None:
            if grant.period is None:
                yield error("E903", f"grant `{name}` is issued once but has no validity",
                            grant.span, "how long do its units last?",
                            "add `valid 5 years` (or months, days) at the end")
            continue
        unit = VALIDITY_UNITS.get(valid.unit.value)
        if unit is None:
            hint = did_you_mean(valid.unit.value, VALIDITY_UNITS) or "write `valid 1 year`"
            yield error("E903", f"unknown validity unit `{valid.unit.value}`", valid.unit.span,
                        "grants last years, months or days", hint)
        value = valid.amount.value
        if value is not None and (value <= 0 or value != value.to_integral_value()):
            yield error("E903", f"validity `{valid.amount.text}` must be a whole number above "
                        "zero", valid.amount.span, "the grant would never be usable",
                        "write `valid 1 year`")
        elif unit is not None and value is not None and value > MAX_VALIDITY[unit]:
            yield error("E903", f"grant validity `{valid.amount.text} {valid.unit.value}` is "
                        "too long", valid.span, "it would expire after the year 9998",
                        "a shorter validity")


def check_credits(s: Symbols) -> Iterator[Diagnostic]:
    """Credits: unique names (not a grant's), an amount of money on the rounding increment,
    and a validity."""
    seen: dict[str, n.Credit] = {}
    grants = {grant.name.value for grant in s.of(n.Grant)}
    increment = Decimal("0.01")
    for setting in s.of(n.RoundingSetting):
        value = _value(setting.increment)
        if value is not None:
            increment = value
    for credit in s.of(n.Credit):
        name = credit.name.value
        if name in seen or name in grants:
            yield error("E905", f"credit `{name}` is declared twice", credit.name.span,
                        "a credit or grant of this name is already declared",
                        "give each credit its own name")
        seen.setdefault(name, credit)
        amount = _value(credit.amount)
        if credit.amount is not None and amount is not None and (
                amount <= 0 or amount % increment != 0):
            yield error("E906", f"credit `{credit.amount.text}` is not an amount to give",
                        credit.amount.span,
                        f"a positive amount in whole {format_plain(increment)}",
                        "write an amount such as `50`")
        valid = credit.valid
        if valid is None:
            yield error("E907", f"credit `{name}` has no validity", credit.span,
                        "how long may it pay?", "add `valid 3 months` (or years, days) at the end")
            continue
        unit = VALIDITY_UNITS.get(valid.unit.value)
        value = valid.amount.value
        if unit is None:
            hint = did_you_mean(valid.unit.value, VALIDITY_UNITS) or "write `valid 1 year`"
            yield error("E907", f"unknown validity unit `{valid.unit.value}`", valid.unit.span,
                        "credits last years, months or days", hint)
        elif value is not None and (value <= 0 or value != value.to_integral_value()
                                    or value > MAX_VALIDITY[unit]):
            yield error("E907", f"credit validity `{valid.amount.text} {valid.unit.value}` is "
                        "not a whole span that ends by the year 9998", valid.span,
                        "not a validity", "write `valid 1 year`")


def check_deduct(s: Symbols) -> Iterator[Diagnostic]:
    """The deduction order names known sources once each and ends with postpaid."""
    deducts = s.of(n.Deduct)
    grants = {grant.name.value: grant for grant in s.of(n.Grant)}
    if not deducts:
        sources: list[n.Allowance | n.Packs | n.Grant] = [
            *s.of(n.Allowance), *s.of(n.Packs), *grants.values()]
        if sources:
            yield error("E601", "missing deduction order", sources[0].span,
                        "allowance or packs are declared here",
                        "add `deduct allowance, packs by expiry, postpaid`")
        return
    deduct = deducts[0]
    seen: set[str] = set()
    for step in deduct.steps:
        source = step.source.value
        if source not in DEDUCT_SOURCES and source not in grants:
            hint = did_you_mean(source, [*DEDUCT_SOURCES, *grants]) or (
                "sources are `allowance`, `packs`, `subscriptions`, `postpaid` and the grants' "
                "names")
            yield error("E601", f"unknown deduction source `{source}`", step.source.span,
                        "not a source of units", hint)
            continue
        if source in seen:
            yield error("E602", f"`{source}` appears twice in the deduction order",
                        step.source.span, "already listed", "list each source once")
        seen.add(source)
        if step.order is not None:
            if source != "packs":
                yield error("E604", f"`{source}` has no order to choose", step.order.span,
                            "only packs are ordered", "remove `by ...` here")
            elif step.order.value not in PACK_ORDERS:
                hint = did_you_mean(step.order.value, PACK_ORDERS) or (
                    "write `packs by expiry` (earliest expiry first) or `packs by purchase`")
                yield error("E604", f"unknown pack order `{step.order.value}`",
                            step.order.span, "not an order", hint)
            elif step.then is not None and step.then.value not in PACK_TIES:
                hint = did_you_mean(step.then.value, PACK_TIES) or (
                    "write `packs by purchase then smallest`")
                yield error("E604", f"unknown tie-break `then {step.then.value}`",
                            step.then.span, "packs bought together are drawn smallest first",
                            hint)
            elif step.then is not None and step.order.value != "purchase":
                yield error("E604", "`then smallest` follows `by purchase`", step.then.span,
                            "packs with one expiry are drawn in order of purchase",
                            "write `packs by purchase then smallest`")
        elif source == "packs":
            yield error("E604", "the deduction order does not say which pack goes first",
                        step.source.span, "which lot is drawn first?",
                        "write `packs by expiry` (earliest expiry first) or `packs by purchase`")
    steps = [st.source.value for st in deduct.steps]
    if "postpaid" not in steps:
        yield error("E603", "the deduction order does not end with `postpaid`", deduct.span,
                    "usage past these sources would go nowhere", "add `, postpaid` at the end")
    elif steps[-1] != "postpaid":
        yield error("E603", "`postpaid` must come last in the deduction order",
                    deduct.steps[steps.index("postpaid")].span, "sources after it are never used",
                    "move `postpaid` to the end")
    if s.of(n.Allowance) and "allowance" not in seen:
        yield error("E605", "an allowance is declared but never deducted", deduct.span,
                    "no `allowance` here", "add `allowance` to the deduction order")
    if s.of(n.Packs) and "packs" not in seen:
        yield error("E605", "packs are declared but never deducted", deduct.span,
                    "no `packs` here", "add `packs by expiry` to the deduction order")
    for name, grant in grants.items():
        if name not in seen:
            yield error("E904", f"grant `{name}` is never deducted", grant.name.span,
                        "not in the deduction order",
                        f"place `{name}` in `deduct`, such as `deduct allowance, {name}, "
                        "packs by expiry, postpaid`")


def check_alerts(s: Symbols) -> Iterator[Diagnostic]:
    """Alert conditions are one of the known forms, with a percentage in (0, 100]."""
    for alert in s.of(n.Alert):
        for condition in alert.conditions:
            words = " ".join(w.value for w in condition.words)
            known = (
                (words == "pack remaining below" and condition.percent is not None)
                or (words in ("pack exhausted", "pack expired") and condition.percent is None)
            )
            if not known:
                hint = did_you_mean(words, [f.replace(" N%", "") for f in ALERT_FORMS])
                yield error("E606", f"unknown alert condition `{words}`", condition.span,
                            "not an alert", (hint + " " if hint else "") + "Alerts are: " +
                            ", ".join(f"`{f}`" for f in ALERT_FORMS))
            elif condition.percent is not None and not 0 < condition.percent.value <= 1:
                yield error("E607", f"alert threshold `{condition.percent.text}` is out of range",
                            condition.percent.span, "between 0% and 100%",
                            "write a share of the pack such as `15%`")


def _daily_bill(bill: n.Bill) -> bool:
    return bill.period.unit.value == "day"


def check_bill(s: Symbols) -> Iterator[Diagnostic]:
    """Bills are monthly and issued on a day every month has; `bill per day` names the meters
    billed day by day, each priced by a daily ladder."""
    daily_ladder = {name for name, ladders in s.ladders_by_meter.items()
                    if ladders and ladders[0].period.unit.value == "day"}
    for bill in s.of(n.Bill):
        yield from _check_period(bill.period, BILL_PERIODS,
                                 "bills are monthly, or daily for the meters they name")
        if bill.period.unit.value == "month" and bill.target is not None:
            yield error("E611", "the monthly bill names meters", bill.target.span,
                        "every meter not billed per day is on the monthly bill",
                        "remove `on ...`, or write `bill per day on ...` for daily bills")
        if bill.period.unit.value == "day":
            if bill.target is None:
                yield error("E611", "`bill per day` does not name its meters", bill.period.span,
                            "which meters are billed day by day?",
                            "write `bill per day on METER, ...` (meters priced per day)")
            else:
                named = s.target_names(bill.target)
                for ladder in s.of(n.Ladder):
                    together = s.target_names(ladder.target)
                    apart = [m for m in together if m not in named]
                    if ladder.combined and apart and len(apart) < len(together):
                        first = next(m for m in together if m in named)
                        yield error("E612", f"meter `{first}` is billed per day apart from "
                                    f"`{apart[0]}`, priced with it by one combined ladder",
                                    _named(bill.target, first),
                                    f"the ladder at line {ladder.span.line} prices their "
                                    "day together", "bill every meter of a combined ladder "
                                    "per day, or none")
                for name in named:
                    if name not in daily_ladder:
                        yield error("E612", f"meter `{name}` is billed per day but not priced "
                                    "per day", _named(bill.target, name),
                                    "a daily bill prices the day's units by a daily ladder",
                                    f"price `{name}` by a `ladder ... per day`, or bill it "
                                    "monthly")
            for option, text in ((bill.issued_day, "issued on day"),):
                if option is not None:
                    yield error("E611", f"a daily bill has no `{text}`", option.span,
                                "daily bills are issued at the start of the next day",
                                "move it to the `bill per month` statement")
            if bill.skip_empty:
                yield error("E611", "a daily bill has no `skip empty`", bill.span,
                            "a day with no usage of its meters has no bill anyway",
                            "move it to the `bill per month` statement")
        day = _value(bill.issued_day)
        if bill.issued_day is not None and day is not None and (
            not 1 <= day <= 28 or day != day.to_integral_value()
        ):
            yield error("E609", f"bills cannot be issued on day {bill.issued_day.text}",
                        bill.issued_day.span, "not a day of every month",
                        "choose a day from 1 to 28")
    for suspend in s.of(n.Suspend):
        for reason in suspend.reasons:
            if reason.value not in SUSPEND_REASONS:
                hint = did_you_mean(reason.value, SUSPEND_REASONS) or (
                    "reasons are `arrears` and `violation`")
                yield error("E610", f"unknown suspension reason `{reason.value}`",
                            reason.span, "not a reason", hint)


# --- warnings: legal but suspicious sheets ---------------------------------------------------

def check_pack_prices(s: Symbols) -> Iterator[Diagnostic]:
    """Warn when a bigger pack is dearer per unit, or a pack dearer than postpaid at any volume."""
    for packs in s.of(n.Packs):
        for row in packs.rows:
            sizes = [size.value for size in packs.row_sizes(row)]
            offers = [
                (size, cell)
                for size, cell in zip(sizes, row.cells, strict=False)
                if size and isinstance(cell, n.Number) and cell.value is not None
            ]
            offers.sort(key=lambda pair: pair[0])
            for (small, small_cell), (big, big_cell) in itertools.pairwise(offers):
                assert small_cell.value is not None and big_cell.value is not None
                if big_cell.value / big > small_cell.value / small:
                    yield warning("W001", f"the {format_plain(big)} pack of `{row.meter.value}` "
                                  "is dearer per unit than the smaller one", big_cell.span,
                                  f"{_per_unit(big_cell.value, big)} per unit, the "
                                  f"{format_plain(small)} pack "
                                  f"{_per_unit(small_cell.value, small)}",
                                  "check the price: bigger packs usually cost less per unit")
            dearest = _dearest_postpaid(s, row.meter.value)
            if dearest is None:
                continue
            for size, cell in offers:
                assert cell.value is not None
                if cell.value / size > dearest:
                    yield warning("W002", f"the {format_plain(size)} pack of "
                                  f"`{row.meter.value}` is dearer per unit than postpaid at "
                                  "any volume", cell.span,
                                  f"{_per_unit(cell.value, size)} per unit; postpaid is at most "
                                  f"{format_plain(dearest)}", "no buyer gains from this pack: "
                                  "check its price")


def _per_unit(price: Decimal, size: Decimal) -> str:
    return format_plain((price / size).normalize())


def _dearest_postpaid(s: Symbols, meter: str) -> Decimal | None:
    ladders = s.ladders_by_meter.get(meter)
    if not ladders:
        return None
    prices = []
    for bracket in ladders[0].brackets:
        values = _bracket_values(bracket)
        if values is not None and values[0] is not None:
            prices.append(values[0])
    return max(prices) if prices else None


def check_ladder_prices(s: Symbols) -> Iterator[Diagnostic]:
    """Warn about a volume cliff and about a bracket dearer per unit than the one below it."""
    for ladder in s.of(n.Ladder):
        priced = [_bracket_values(b) for b in ladder.brackets]
        if any(p is None for p in priced) or any(_check_brackets(ladder)):
            continue  # an unsound ladder gets its errors, not advice on its prices
        for (below, lower), (above, upper) in zip(
            zip(ladder.brackets, priced, strict=True),
            list(zip(ladder.brackets, priced, strict=True))[1:],
            strict=False,
        ):
            assert lower is not None and upper is not None
            lo_price, lo_flat, hi_bound = lower
            up_price, up_flat, _ = upper
            if below.contact_sales or above.contact_sales or hi_bound is None:
                continue  # no published price to compare
            # A bracket of a flat fee alone has no unit price: 0 a unit.
            lo_price = Decimal(0) if lo_price is None else lo_price
            up_price = Decimal(0) if up_price is None else up_price
            if up_price > lo_price > 0:
                # After a bracket with no unit price (free, or a flat fee only), a price is the
                # end of the units it includes, not a misordering.
                yield warning("W004", "bracket is dearer per unit than the one below it",
                              above.span, f"{format_plain(up_price)} per unit after "
                              f"{format_plain(lo_price)}", "ladders usually fall as volume "
                              "rises: check the order of the prices")
            elif ladder.mode.value == VOLUME:
                yield from _cliff(below, above, hi_bound, lo_price, lo_flat, up_price, up_flat,
                                  below.open.value == "[")


def _bracket_values(
    bracket: n.Bracket,
) -> tuple[Decimal | None, Decimal, Decimal | None] | None:
    """(unit price, flat fee, upper bound) with numbers resolved; None if any is malformed."""
    price: Decimal | None = None
    flat = Decimal(0)
    for term in bracket.terms:
        if term.amount.value is None:
            return None
        if isinstance(term, n.UnitPrice):
            per = term.per.value if term.per is not None else Decimal(1)
            if per is None or per == 0:
                return None
            price = term.amount.value / per
        elif isinstance(term, n.BlockPrice):
            if not term.size.value:
                return None
            price = term.amount.value / term.size.value
        else:
            flat = term.amount.value
    hi = bracket.hi.value if isinstance(bracket.hi, n.Number) else None
    if isinstance(bracket.hi, n.Number) and hi is None:
        return None
    return price, flat, hi


def _cliff(
    below: n.Bracket, above: n.Bracket, bound: Decimal,
    price: Decimal, flat: Decimal, next_price: Decimal, next_flat: Decimal,
    closed_low: bool = False,
) -> Iterator[Diagnostic]:
    """Volume: whole quantities of the bracket that cost more than the next bracket's first
    whole quantity. With `(lo, hi]` the bracket ends at `bound` and the next starts at
    `bound + 1`; with `[lo, hi)` it ends at `⌈bound⌉ - 1` and the next starts at `⌈bound⌉`."""
    low = (below.lo.value if isinstance(below.lo, n.Number) and below.lo.value is not None
           else Decimal(0))
    if closed_low:
        upper = bound.to_integral_value(rounding="ROUND_CEILING")
        bound, after, lowest = upper - 1, upper, low.to_integral_value(rounding="ROUND_CEILING")
    else:
        after = bound + 1
        lowest = low.to_integral_value(rounding="ROUND_FLOOR") + 1
    next_cost = after * next_price + next_flat
    if bound < lowest or bound * price + flat <= next_cost:
        return
    # The smallest whole quantity of the bracket with q × price + flat > next_cost.
    first = lowest if price == 0 else max(
        lowest, ((next_cost - flat) / price).to_integral_value(rounding="ROUND_FLOOR") + 1)
    which = (f"{_grouped(bound)} units cost" if first == bound
             else f"{_grouped(first)} to {_grouped(bound)} units cost")
    yield warning(
        "W003",
        f"volume cliff: {which} more than {_grouped(after)}",
        below.hi.span,
        f"{_grouped(bound)} units cost {_amount(bound * price + flat)}, "
        f"{_grouped(after)} cost {_amount(next_cost)}",
        "all-units ladders charge less for a little more usage here; this is legal (and on "
        "many real sheets), but say so on the sheet or use `graduated`",
    )


def _amount(value: Decimal) -> str:
    return format_plain(value.normalize())


def _grouped(value: Decimal) -> str:
    return f"{value:,}" if value == value.to_integral_value() else format_plain(value)


Check = Callable[[Symbols], Iterator[Diagnostic]]

CHECKS: tuple[Check, ...] = (
    check_header,
    check_labels,
    check_numbers,
    check_meters,
    check_references,
    check_allowances,
    check_packs,
    check_ladders,
    check_singletons,
    check_grants,
    check_credits,
    check_deduct,
    check_alerts,
    check_bill,
    check_pack_prices,
    check_ladder_prices,
    check_orders,
    check_subscriptions,
    check_requests,
    check_price_tables,
    check_price_rules,
    check_exact_amounts,
)


def acknowledge(found: Iterable[Diagnostic], allows: Iterable[n.Allow]) -> list[Diagnostic]:
    """The diagnostics less the warnings an `# allow:` comment on their line acknowledges, plus a
    W005 for each code of an `# allow:` that acknowledges nothing (so stale ones do not pile up).

    Errors cannot be acknowledged, and neither can W005 itself (`--ignore W005` can hide it).
    """
    return _acknowledge(found, allows)[0]


def _acknowledge(
    found: Iterable[Diagnostic], allows: Iterable[n.Allow]
) -> tuple[list[Diagnostic], list[Diagnostic]]:
    """`acknowledge`'s diagnostics, and the warnings it left out."""
    allowed: dict[tuple[int, str], n.Name] = {}
    problems: list[Diagnostic] = []
    for allow in allows:
        if not allow.codes:
            problems.append(warning(
                "W005", "`# allow:` names no warning", allow.span, "no code here",
                "write the codes it acknowledges, e.g. `# allow: W003 as on the page`"))
        for code in allow.codes:
            if code.value == "W005" or code.value.upper().startswith("E"):
                is_error = code.value.upper().startswith("E")
                problems.append(warning(
                    "W005", f"`{code.value}` cannot be allowed", code.span,
                    "errors are fixed, not acknowledged" if is_error else
                    "W005 reports a stale `# allow:`",
                    f"fix what {code.value.upper()} reports and remove it here" if is_error else
                    "remove the stale `# allow:` instead; `check --ignore W005` hides them all"))
            elif code.value not in WARNINGS:
                hint = did_you_mean(code.value.upper(), WARNINGS) or (
                    "warnings are " + ", ".join(f"`{w}`" for w in WARNINGS))
                problems.append(warning("W005", f"unknown warning `{code.value}`", code.span,
                                        "not a warning code", hint))
            else:
                allowed.setdefault((allow.span.line, code.value), code)
    used: set[tuple[int, str]] = set()
    kept: list[Diagnostic] = []
    acknowledged: list[Diagnostic] = []
    for d in found:
        key = (d.span.line, d.code)
        if not d.is_error and key in allowed:
            used.add(key)
            acknowledged.append(d)
        else:
            kept.append(d)
    for key, code in allowed.items():
        if key not in used:
            problems.append(warning(
                "W005", f"`# allow: {code.value}` acknowledges nothing", code.span,
                f"no {code.value} on line {key[0]}",
                f"remove `{code.value}` here, or move it to the end of the line that "
                f"{code.value} points at"))
    return kept + problems, acknowledged


def check(rules: n.Rules) -> list[Diagnostic]:
    """Every diagnostic of a syntax tree, in source order, less the acknowledged warnings.

    A sheet with dated versions is checked as a whole sheet on each version's day (so a version
    that creates a cliff warns, as the first sheet would); a problem seen in several versions is
    reported once. A contract file is checked by `check_contract_file`, against its sheet.
    """
    return check_acknowledged(rules)[0]


def check_acknowledged(rules: n.Rules) -> tuple[list[Diagnostic], list[Diagnostic]]:
    """`check`'s diagnostics, and the warnings the file's `# allow:` comments acknowledge (in
    source order), which `check --verbose` counts."""
    from ratecard import versions

    found: list[Diagnostic] = []
    seen: set[tuple[str, str, int]] = set()
    for version, sheet in versions.timeline(rules):
        table = symbols(sheet)
        found.extend(_in_version(version, [d for run in CHECKS for d in run(table)], seen))
    found.extend(versions.check_versions(rules))
    for version in versions.versions(rules):
        found.extend(_body_structure(version.body or ()))
    return _sorted(_acknowledge(_unique(found), rules.allows))


def check_contract(contract: n.Rules, sheet: n.Rules) -> list[Diagnostic]:
    """Every diagnostic of a contract file against the (error-free) sheet it extends: its own
    statements, and each version of the sheet with the contract's prices restated, as a whole
    sheet (only what points into the contract is reported: the sheet is checked on its own)."""
    return check_contract_acknowledged(contract, sheet)[0]


def check_contract_acknowledged(
    contract: n.Rules, sheet: n.Rules
) -> tuple[list[Diagnostic], list[Diagnostic]]:
    """`check_contract`'s diagnostics, and the warnings the contract acknowledges."""
    from ratecard import versions

    parts = versions.contract_parts(contract)
    found: list[Diagnostic] = list(versions.check_contract(contract, sheet))
    for _, version_sheet in versions.timeline(sheet):
        merged, problems = versions.contract_sheet(version_sheet, parts)
        found.extend(problems)
        table = symbols(merged)
        found.extend(d for run in CHECKS for d in run(table) if d.span.file == contract.file)
    found.extend(_body_structure(parts.changes))
    table = symbols(attrs.evolve(contract, statements=tuple(
        s for s in contract.statements if isinstance(s, n.MinimumSpend | n.Allowance))))
    found.extend(check_numbers(table))
    return _sorted(_acknowledge(_unique(found), contract.allows))


def _sorted(
    kept_and_acknowledged: tuple[list[Diagnostic], list[Diagnostic]],
) -> tuple[list[Diagnostic], list[Diagnostic]]:
    kept, acknowledged = kept_and_acknowledged
    return (sorted(kept, key=Diagnostic.sort_key),
            sorted(acknowledged, key=Diagnostic.sort_key))


def _in_version(
    version: n.Version | None, found: list[Diagnostic], seen: set[tuple[str, str, int]]
) -> list[Diagnostic]:
    """The diagnostics of one version's whole sheet that no earlier version had; those of a
    dated version say which it is (`from 2027-01-01: ...`), since they may point at a line the
    version keeps from the sheet before it."""
    new: list[Diagnostic] = []
    for d in found:
        key = (d.code, d.message, d.span.start)
        if key in seen:
            continue
        seen.add(key)
        new.append(d if version is None
                   else attrs.evolve(d, message=f"from {version.start.text}: {d.message}"))
    return new


def _body_structure(statements: Iterable[n.Statement]) -> Iterator[Diagnostic]:
    """Checks of restated pack tables as written (the merged sheet hides a missing or surplus
    cell): everything `check_packs` says of a table but that it states no validity."""
    tables = [s for s in statements if isinstance(s, n.Packs)]
    if not tables:
        return
    alone = n.Rules(tables[0].span.file, tuple(tables))
    for found in check_packs(symbols(alone)):
        if not (found.code == "E505" and found.message == "packs without a validity"):
            yield found


def _unique(found: Iterable[Diagnostic]) -> list[Diagnostic]:
    seen: set[tuple[str, str, str, int, int]] = set()
    out: list[Diagnostic] = []
    for d in found:
        key = (d.code, d.message, d.span.file, d.span.start, d.span.end)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out
