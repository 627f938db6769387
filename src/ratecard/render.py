"""Price sheets: a PriceBook → view models of formatted strings → Jinja2 templates (md, html).

Three layers, each testable alone:

- filters: `format_quantity`, `format_count`, `format_money`, `format_unit_price`,
  `format_bracket`, `format_percent` turn exact Decimals into the strings a sheet shows
  (1万次 / 10K calls, 88元 / CNY 88, 0.002元/次 / CNY 0.002/call, 0 < 调用量 ≤ 300万), and
  `format_date` a day (2027年1月1日 / 1 January 2027);
- view models: `SheetView` and its parts hold only strings (and `Piece`s, text marked as code);
  `build_sheet` fills them from a PriceBook and the message catalogue `templates/messages.toml`,
  and computes the worked example with the evaluator itself (`PriceBook.quote`); a sheet with
  dated versions shows the version in effect on a day, says from when, and announces the later
  versions' changes (`ratecard.changes`);
- the one Environment (`environment()`) with the templates `sheet.md` and `sheet.html`.

A display name missing in the requested language falls back to another language (or the
identifier) and is reported in `RenderedSheet.warnings`; a sheet never shows a blank name.
"""

from __future__ import annotations

import functools
import itertools
import re
import string
import tomllib
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from importlib import resources
from typing import TYPE_CHECKING

import attrs
import markupsafe

from ratecard.changes import (
    ALLOWANCE,
    BRACKET_BOUND,
    BRACKET_PRICE,
    CONTACT_SALES,
    LADDER,
    LADDER_MAXIMUM,
    LADDER_MINIMUM,
    PACK_ADDED,
    PACK_FREEZE,
    PACK_PRICE,
    PACK_REFUND,
    PACK_VALIDITY,
    PACK_WITHDRAWN,
    Change,
    changes,
)
from ratecard.diagnostics import is_control
from ratecard.engine.bills import Bill, BillLine
from ratecard.engine.ladders import (
    BASIS_AFTER_ALLOWANCE,
    BASIS_TOTAL,
    BLOCK_DOWN,
    BLOCK_UP,
    GRADUATED,
    Bracket,
    Ladder,
)
from ratecard.engine.money import CONTEXT, ZERO
from ratecard.engine.pricebook import HeldPack, MeterPlan, PackTerms, PriceBook, Segment
from ratecard.engine.pricing import LadderGroup
from ratecard.errors import UsageError
from ratecard.literals import format_plain

if TYPE_CHECKING:
    import jinja2

FORMATS = ("md", "html")
LANGS = ("zh", "en")
TEMPLATES = {"md": "sheet.md", "html": "sheet.html"}
HTML_LANG = {"zh": "zh-CN", "en": "en"}

# Quantities written with a scale suffix when that is exact to two decimals: 1万, 1.5万, 10K, 3M.
_SCALES: Mapping[str, tuple[tuple[Decimal, str], ...]] = {
    "zh": ((Decimal(10) ** 8, "亿"), (Decimal(10) ** 4, "万")),
    "en": ((Decimal(10) ** 9, "B"), (Decimal(10) ** 6, "M"), (Decimal(10) ** 3, "K")),
}
_ZH_CURRENCY = {"CNY": "元", "USD": "美元", "EUR": "欧元", "HKD": "港元", "JPY": "日元",
                "GBP": "英镑"}
_SMALL_NUMBERS: Mapping[str, tuple[str, ...]] = {
    "zh": ("零", "一", "两", "三", "四", "五", "六", "七", "八", "九", "十"),
    "en": ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
}
# The example month: the first of these totals (above the free allowance; else three times it)
# that reaches postpaid without a contact-sales bracket; usage split 60/40 over a meter's first
# two actions shows that they count together.
_EXAMPLE_TOTALS = (10**6, 3 * 10**5, 10**5, 10**4, 10**3)
_EXAMPLE_SPLIT = (Decimal("0.6"), Decimal("0.4"))


# --- filters ---------------------------------------------------------------------------------

def _plain(value: Decimal) -> str:
    """Digits without exponent and without trailing zeros after the point: 1.5, 300, 0.002."""
    if value == value.to_integral_value():
        return format_plain(value.quantize(Decimal(1)))
    return format_plain(value.normalize())


def _grouped(text: str) -> str:
    """Thousands separators in the whole part of a plain number: 1998.00 → 1,998.00."""
    sign = "-" if text.startswith("-") else ""
    whole, dot, fraction = text.lstrip("-").partition(".")
    return f"{sign}{int(whole):,}{dot}{fraction}"


def plural(unit: str) -> str:
    """The English plural of a unit name: call → calls, query → queries; GB stays GB."""
    if not unit or not unit.isascii() or not unit[-1].islower():
        return unit
    if unit.endswith(("s", "x", "ch", "sh")):
        return unit + "es"
    if unit.endswith("y") and unit[-2:-1] not in ("a", "e", "i", "o", "u"):
        return unit[:-1] + "ies"
    return unit + "s"


def _with_unit(number: str, value: Decimal, lang: str, unit: str | None) -> str:
    if not unit:
        return number
    if lang == "zh":
        # 1万次, but 400,000 GB 秒: a Latin unit keeps its space.
        return f"{number} {unit}" if unit[0].isascii() else f"{number}{unit}"
    return f"{number} {unit if value == 1 else plural(unit)}"


def format_quantity(value: Decimal, lang: str, unit: str | None = None) -> str:
    """A size or bracket bound, short: 1万次, 1000万, 10K calls, 3M; exact, never rounded."""
    number: str | None = None
    for scale, suffix in _SCALES[lang]:
        if abs(value) >= scale:
            scaled = CONTEXT.divide(value, scale)
            if scaled == scaled.quantize(Decimal("0.01"), context=CONTEXT):
                number = _plain(scaled) + suffix
                break
    if number is None:
        text = _plain(value)
        # Chinese writes 5000 ungrouped (as 1000万 on the page); English groups 1,234.
        number = text if abs(value) < (10_000 if lang == "zh" else 1_000) else _grouped(text)
    return _with_unit(number, value, lang, unit)


def format_count(value: Decimal, lang: str, unit: str | None = None) -> str:
    """An exact count with thousands separators: 1,000次, 999,000 calls."""
    return _with_unit(_grouped(_plain(value)), value, lang, unit)


def format_money(amount: Decimal, currency: str, lang: str) -> str:
    """An amount as written in the rules or on a bill: 88元, 1998.00元, CNY 88, CNY 1,998.00."""
    text = format_plain(amount)
    if lang == "zh":
        symbol = _ZH_CURRENCY.get(currency)
        return f"{text}{symbol}" if symbol else f"{text} {currency}"
    return f"{currency} {_grouped(text)}"


def format_unit_price(
    price: Decimal, currency: str, lang: str, unit: str, per: Decimal = Decimal(1)
) -> str:
    """A price per unit or per `per` units: 0.002元/次, 0.1元/1000次, CNY 0.10/1K calls."""
    money = format_money(price, currency, lang)
    if per == 1:
        return f"{money}/{unit}"
    return f"{money}/{format_quantity(per, lang, unit)}"


def format_bracket(lo: Decimal, hi: Decimal | None, lang: str, noun: str) -> str:
    """A bracket `(lo, hi]` as the sheet's column header: 0 < 调用量 ≤ 300万, volume > 15M."""
    return _bracket_text(lo, hi, lang, noun, messages(lang))


def _bracket_text(
    lo: Decimal, hi: Decimal | None, lang: str, noun: str, m: Mapping[str, str]
) -> str:
    low = format_quantity(lo, lang)
    if hi is None:
        key = "bracket_all" if lo == 0 else "bracket_last"
        return m[key].format(noun=noun, lo=low)
    key = "bracket_first" if lo == 0 else "bracket_middle"
    return m[key].format(noun=noun, lo=low, hi=format_quantity(hi, lang))


def format_percent(fraction: Decimal) -> str:
    """A fraction as a percentage: 0.15 → 15%."""
    return _plain(CONTEXT.multiply(fraction, Decimal(100))) + "%"


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")


def format_date(day: date, lang: str) -> str:
    """A day as a sheet writes it: 2027年1月1日, 1 January 2027."""
    if lang == "zh":
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day} {_MONTHS[day.month - 1]} {day.year}"


# Markdown that can change a sheet's structure: inline marks everywhere, and at the start of a
# line a heading, list item, quote or thematic break (only where a paragraph or bullet starts).
_MD_PUNCTUATION = frozenset("\\`*_[]|#~")
_ENTITY = re.compile(r"&(#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
_BLOCK_START = re.compile(r"[-+*=](?=\s|$)|[0-9]{1,9}(?=[.)](\s|$))|>")


def md_escape(text: str, starts_line: bool = True) -> str:
    """Plain text safe as one Markdown line, in a table cell or a paragraph: no line break or
    control character (each becomes a space), `|`, `*`, `_`, `#`, `~`, backticks, brackets, tags
    and entities escaped, and, if the text starts a line, no list, quote or heading marker and
    no indent there."""
    out = []
    for index, char in enumerate(text):
        following = text[index + 1 : index + 2]
        tag = char == "<" and (following.isalpha() or following in "/!?")
        if is_control(char):
            out.append(" ")
        elif char in _MD_PUNCTUATION or tag or (char == "&" and _ENTITY.match(text, index)):
            out.append("\\" + char)
        else:
            out.append(char)
    escaped = "".join(out)
    if not starts_line:
        return escaped
    escaped = escaped.lstrip(" ")
    start = _BLOCK_START.match(escaped)
    if start is not None:
        at = start.end() if start.group().isdigit() else start.start()
        escaped = escaped[:at] + "\\" + escaped[at:]
    return escaped


# --- the message catalogue -------------------------------------------------------------------

@functools.cache
def messages(lang: str) -> Mapping[str, str]:
    """The catalogue's words for one language (`templates/messages.toml`)."""
    text = resources.files("ratecard").joinpath("templates/messages.toml").read_text("utf-8")
    catalogue: dict[str, dict[str, str]] = tomllib.loads(text)
    return catalogue[lang]


# --- view models -----------------------------------------------------------------------------

@attrs.frozen
class Piece:
    """A run of text in a sentence; `code` marks an identifier (an API action, a rules name)."""

    text: str
    code: bool = False


Rich = tuple[Piece, ...]


@attrs.frozen
class Table:
    """A table of formatted cells: a header row and body rows of the same width."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]


@attrs.frozen
class Block:
    """A titled piece of a part: lead paragraphs, then tables, then bullets."""

    kind: str
    heading: str = ""
    lead: tuple[Rich, ...] = ()
    tables: tuple[Table, ...] = ()
    bullets: tuple[Rich, ...] = ()


@attrs.frozen
class Part:
    """A top-level section of the sheet: prices, billing modes, the worked example."""

    kind: str
    heading: str
    blocks: tuple[Block, ...]


@attrs.frozen
class SheetView:
    """Everything a template shows, formatted for one language."""

    lang: str
    html_lang: str
    title: str
    intro: Rich
    parts: tuple[Part, ...]
    footer: Rich
    # A sheet with dated versions: from (and until) when its prices are in effect.
    effective: tuple[Rich, ...] = ()


@attrs.frozen
class RenderedSheet:
    """A rendered price sheet and the warnings raised while building it (missing names)."""

    text: str
    warnings: tuple[str, ...] = ()


def _code(text: str) -> Rich:
    return (Piece(text, code=True),)


def _join(items: Sequence[Rich | str], sep: str, last: str | None = None) -> Rich:
    """Sentence parts joined by `sep` (and `last` before the final one, when given)."""
    pieces: list[Piece] = []
    for index, item in enumerate(items):
        if index:
            pieces.append(Piece(last if last is not None and index == len(items) - 1 else sep))
        pieces.extend((Piece(item),) if isinstance(item, str) else item)
    return _merged(pieces)


def _merged(pieces: Sequence[Piece]) -> Rich:
    out: list[Piece] = []
    for piece in pieces:
        if not piece.text:
            continue
        if out and not out[-1].code and not piece.code:
            out[-1] = Piece(out[-1].text + piece.text)
        else:
            out.append(piece)
    return tuple(out)


def plain_text(rich: Rich) -> str:
    """A sentence without code marks."""
    return "".join(piece.text for piece in rich)


# --- building the view -----------------------------------------------------------------------

class _Sheet:
    """Builds the SheetView of one PriceBook in one language, collecting fallback warnings."""

    def __init__(self, book: PriceBook, lang: str) -> None:
        self.book = book
        self.lang = lang
        self.m = messages(lang)
        self.warnings: list[str] = []
        self._declared = lang in book.languages
        if not self._declared:
            declared = " / ".join(book.languages)
            self.warnings.append(
                f"rules `{book.name}` declare no {lang} display names (languages: {declared}); "
                f"the {lang} sheet uses the names of another language"
            )
        self.product = self.label(book.labels, f"rules `{book.name}`", book.name)
        self.names = {p.name: self.label(p.labels, f"meter `{p.name}`", p.name)
                      for p in book.meters}
        self.units = {p.name: self.label(p.unit, f"the unit of meter `{p.name}`", "unit")
                      for p in book.meters}
        calls = bool(book.meters) and all(_is_calls(p) for p in book.meters)
        shared_units = set(self.units.values())
        self.unit = shared_units.pop() if len(shared_units) == 1 else "unit"
        self.words: dict[str, str] = {
            "product": self.product,
            "noun": self.m["quantity_noun_calls" if calls else "quantity_noun"],
            "usage": self.m["usage_calls" if calls else "usage"],
            "unit": self.unit,
            "units": (self.m["remaining_calls" if calls else "remaining"] if lang == "zh"
                      else plural(self.unit)),
            "period": self.m["period_month"],
            "periodly": self.m["periodly_month"],
        }

    # names and words ---------------------------------------------------------------------
    def label(self, labels: Sequence[str], what: str, fallback: str) -> str:
        """The display name in the sheet's language, else another one (with a warning)."""
        languages = self.book.languages
        if self.lang in languages:
            index = languages.index(self.lang)
            if index < len(labels) and labels[index].strip():
                return labels[index]
        for index, text in enumerate(labels):
            if text.strip():
                if self._declared:
                    other = languages[index] if index < len(languages) else "another language"
                    self.warnings.append(
                        f"{what} has no {self.lang} display name; the {self.lang} sheet "
                        f"uses the {other} one: {text}"
                    )
                return text
        self.warnings.append(
            f"{what} has no display name; the {self.lang} sheet uses `{fallback}`"
        )
        return fallback

    def fmt(self, key: str, **values: str | Rich) -> Rich:
        """A catalogue sentence with its placeholders filled; Rich values keep their marks."""
        pieces: list[Piece] = []
        for literal, field, _, _ in string.Formatter().parse(self.m[key]):
            pieces.append(Piece(literal))
            if field is None:
                continue
            value = values[field] if field in values else self.words[field]
            pieces.extend((Piece(value),) if isinstance(value, str) else value)
        return _merged(pieces)

    def text(self, key: str, **values: str | Rich) -> str:
        return plain_text(self.fmt(key, **values))

    def join(self, items: Sequence[Rich | str], final: str = "list_last_sep") -> Rich:
        return _join(items, self.m["list_sep"], self.m[final])

    def paragraph(self, sentences: Sequence[Rich]) -> Rich:
        """Sentences run together (a space between them in English)."""
        return _join(sentences, " " if self.lang == "en" else "")

    def money(self, amount: Decimal) -> str:
        return format_money(amount, self.book.currency, self.lang)

    def count(self, value: Decimal, plan: MeterPlan) -> str:
        return format_count(value, self.lang, self.units[plan.name])

    def quantity(self, value: Decimal, plan: MeterPlan) -> str:
        return format_quantity(value, self.lang, self.units[plan.name])

    def noun_for(self, plan: MeterPlan) -> str:
        return self.m["quantity_noun_calls" if _is_calls(plan) else "quantity_noun"]

    def meter_words(self, plan: MeterPlan) -> dict[str, str]:
        """The words a sentence about one meter uses: its noun, unit and units."""
        unit = self.units[plan.name]
        calls = _is_calls(plan)
        units = (self.m["remaining_calls" if calls else "remaining"] if self.lang == "zh"
                 else plural(unit))
        return {"noun": self.noun_for(plan), "unit": unit, "units": units}

    def duration(self, prefix: str, amount: int, unit: str) -> str:
        """A validity (`一年`, `6 months`) or a billing cycle (`年`, `Month`)."""
        if amount == 1:
            return self.m[f"{prefix}_{unit}_one"]
        return self.m[f"{prefix}_{unit}"].format(n=amount)

    # facts about the book ------------------------------------------------------------------
    def allowances(self) -> list[tuple[list[MeterPlan], Decimal, bool]]:
        """Each free allowance: the meters it covers, its amount, whether they share it."""
        entries: list[tuple[list[MeterPlan], Decimal, bool]] = []
        pools: set[str] = set()
        for plan in self.book.meters:
            pool = plan.allowance_pool
            if pool is None:
                if plan.allowance > 0:
                    entries.append(([plan], plan.allowance, False))
            elif pool not in pools:
                pools.add(pool)
                amount = self.book.allowance_pools.get(pool, ZERO)
                members = [p for p in self.book.meters if p.allowance_pool == pool]
                if amount > 0:
                    entries.append((members, amount, True))
        return entries

    @property
    def has_allowance(self) -> bool:
        return bool(self.allowances())

    @property
    def has_packs(self) -> bool:
        return any(p.packs for p in self.book.meters)

    @property
    def has_ladders(self) -> bool:
        return bool(self.book.ladder_groups)

    def allowance_of(self, plan: MeterPlan) -> Decimal:
        """A meter's monthly allowance, its own or its shared pool's."""
        if plan.allowance_pool is not None:
            return self.book.allowance_pools.get(plan.allowance_pool, ZERO)
        return plan.allowance

    def sources(self, plans: Sequence[MeterPlan] | None = None) -> list[str]:
        """The deduction order, without the sources that these meters (default: all) lack."""
        plans = self.book.meters if plans is None else plans
        present = {"allowance": any(self.allowance_of(p) > 0 for p in plans),
                   "packs": any(p.packs for p in plans),
                   "postpaid": any(p.ladder is not None for p in plans)}
        return [s for s in self.book.deduct_order if present.get(s, False)]

    def overflow_to_postpaid(self) -> bool:
        order = self.sources()
        if not any(p.packs and not p.pack_terms.stop_when_exhausted for p in self.book.meters):
            return False  # every table's packs stop service when exhausted
        return "packs" in order and "postpaid" in order[order.index("packs"):]

    def pack_terms_groups(self) -> dict[PackTerms, list[MeterPlan]]:
        """The meters with packs, by their pack table's terms."""
        groups: dict[PackTerms, list[MeterPlan]] = {}
        for plan in self.book.meters:
            if plan.packs:
                groups.setdefault(plan.pack_terms, []).append(plan)
        return groups

    def uniform_terms(self) -> bool:
        """Whether every pack has the sheet's one validity, and none a refund window or stop."""
        groups = self.pack_terms_groups()
        return len(groups) <= 1 and not any(t.refund_amount or t.stop_when_exhausted
                                            for t in groups)

    @property
    def validity(self) -> str:
        return self.duration("validity", self.book.packs.valid_amount, self.book.packs.valid_unit)

    # the sheet -----------------------------------------------------------------------------
    def build(self, dated: Dated | None = None) -> SheetView:
        intro_key = {(True, True): "intro_both", (True, False): "intro_prepaid",
                     (False, True): "intro_postpaid", (False, False): "intro_none"}
        details = [b for b in (self.free_block(), self.prepaid_block(), self.postpaid_block(),
                               self.orders_block(), self.notes_block()) if b is not None]
        parts = [Part("prices", self.m["details"], tuple(details))]
        upcoming = None if dated is None else self.upcoming_part(dated)
        if upcoming is not None:
            parts.append(upcoming)
        modes = self.modes_part()
        if modes is not None:
            parts.append(modes)
        example = self.example_part()
        if example is not None:
            parts.append(example)
        return SheetView(
            lang=self.lang,
            html_lang=HTML_LANG[self.lang],
            title=self.text("title"),
            intro=self.fmt(intro_key[self.has_packs, self.has_ladders]),
            parts=tuple(parts),
            footer=self.fmt("footer", rules=_code(self.book.name)),
            effective=() if dated is None else self.effective(dated),
        )

    # dated versions ------------------------------------------------------------------------
    def date(self, day: date) -> str:
        return format_date(day, self.lang)

    def effective(self, dated: Dated) -> tuple[Rich, ...]:
        """From (and until) when the prices shown are in effect, and who keeps older ones."""
        last = None if dated.until is None else self.date(dated.until - _ONE_DAY)
        if dated.start is None:
            sentence = self.fmt("effective_until", last=last or "")
        elif last is None:
            sentence = self.fmt("effective_from", day=self.date(dated.start))
        else:
            sentence = self.fmt("effective_between", day=self.date(dated.start), last=last)
        kept = dated.kept
        if kept is not None and kept.keep_before is not None and kept.keep_until is not None:
            sentence = self.paragraph([sentence, self.fmt(
                "effective_kept", before=self.date(kept.keep_before),
                last=self.date(kept.keep_until - _ONE_DAY), until=self.date(kept.keep_until))])
        return (sentence,)

    def upcoming_part(self, dated: Dated) -> Part | None:
        """The announcement of later versions: for each, its day, who keeps the previous
        prices for a while, and a table of what changes (old → new)."""
        blocks = []
        for segment, found in dated.upcoming:
            keeps = segment.keep_before is not None and segment.keep_until is not None
            if not found and not keeps:
                continue
            lead = [self.fmt("upcoming_lead", day=self.date(segment.start))]
            if segment.keep_before is not None and segment.keep_until is not None:
                lead.append(self.fmt("upcoming_kept", before=self.date(segment.keep_before),
                                     last=self.date(segment.keep_until - _ONE_DAY)))
            if any(change.what.startswith("pack") for change in found):
                lead.append(self.fmt("upcoming_packs"))
            tables: tuple[Table, ...] = ()
            if found:
                header = tuple(self.m[f"change_{column}"]
                               for column in ("meter", "item", "old", "new"))
                tables = (Table(header, self.change_rows(found, segment.book)),)
            blocks.append(Block("upcoming", self.text("upcoming_from",
                                                      day=self.date(segment.start)),
                                (self.paragraph(lead),), tables))
        if not blocks:
            return None
        return Part("upcoming", self.m["upcoming"], tuple(blocks))

    def change_rows(
        self, found: Sequence[Change], book: PriceBook
    ) -> tuple[tuple[str, ...], ...]:
        """A row per change (service, item, before, after); the same change of several
        meters is one row naming them all (every meter: `全部服务` / `All services`), and a
        shared allowance's row names its meters as shared."""
        rows: dict[tuple[bool, str, str, str], list[str]] = {}
        for change in found:
            meters = self.change_meters(change, book)
            plan = _plan_of(book, self.book, meters[0]) if meters else None
            shared = change.what == ALLOWANCE and len(meters) > 1
            covered = rows.setdefault((shared, *self.change_cells(change, plan)), [])
            covered.extend(m for m in meters if m not in covered)
        everyone = sorted(plan.name for plan in self.book.meters)
        out = []
        for (shared, item, old, new), meters in rows.items():
            names = self.join([self.names.get(m, m) for m in meters])
            if shared:
                who = self.text("free_shared", meters=names)
            elif not meters or sorted(meters) == everyone:
                who = self.m["change_all"]
            else:
                who = plain_text(names)
            out.append((who, item, old, new))
        return tuple(out)

    def change_meters(self, change: Change, book: PriceBook) -> list[str]:
        """The meters a change is about: its meter, a shared pool's members, none (all)."""
        if change.meter is None:
            return []
        if change.what == ALLOWANCE:
            members = [plan.name for plan in (*book.meters, *self.book.meters)
                       if plan.pool == change.meter]
            if members:
                return list(dict.fromkeys(members))
        return [change.meter]

    def change_cells(self, change: Change, plan: MeterPlan | None) -> tuple[str, str, str]:
        """What a change is about, and its value before and after, as a sheet writes them."""
        none = self.m["none"]
        what, old, new = change.what, change.old, change.new
        if what == PACK_VALIDITY:
            assert isinstance(old, tuple) and isinstance(new, tuple)
            return (self.m["item_pack_validity"], self.duration("validity", *old),
                    self.duration("validity", *new))
        if what in (PACK_REFUND, PACK_FREEZE):
            word = "refund" if what == PACK_REFUND else "freeze"
            return (self.text(f"item_pack_{word}"), self.m[f"{word}_{'yes' if old else 'no'}"],
                    self.m[f"{word}_{'yes' if new else 'no'}"])
        assert plan is not None
        if what == ALLOWANCE:
            return (self.m["item_allowance"], self.count_or(old, plan), self.count_or(new, plan))
        if what in (PACK_PRICE, PACK_ADDED, PACK_WITHDRAWN):
            assert isinstance(change.key, Decimal)
            item = self.text("item_pack", size=self.quantity(change.key, plan))
            contact = self.m["price_contact"]
            withdrawn = self.m["pack_withdrawn"]
            return (item, contact if old == CONTACT_SALES else self.money_or(old, none),
                    contact if new == CONTACT_SALES else self.money_or(new, withdrawn))
        if what == BRACKET_PRICE:
            assert isinstance(old, Bracket) and isinstance(new, Bracket)
            assert isinstance(change.key, int)
            return (self.text("item_bracket", bracket=self.bracket_header(new, plan)),
                    self.price_cell(old, plan), self.price_cell(new, plan))
        if what == BRACKET_BOUND:
            assert isinstance(change.key, int)
            return (self.text("item_bound", n=str(change.key + 1)),
                    self.quantity_or(old, plan), self.quantity_or(new, plan))
        if what in (LADDER_MINIMUM, LADDER_MAXIMUM):
            ladder = plan.ladder
            period = self.period_words(ladder) if ladder is not None else {
                "period": self.m["period_month"]}
            key = "item_minimum" if what == LADDER_MINIMUM else "item_maximum"
            return (self.text(key, **period), self.money_or(old, none),
                    self.money_or(new, none))
        assert what == LADDER, what
        return (self.m["item_ladder"], self.ladder_or(old, plan), self.ladder_or(new, plan))

    def count_or(self, value: object, plan: MeterPlan) -> str:
        return self.count(value, plan) if isinstance(value, Decimal) else self.m["none"]

    def quantity_or(self, value: object, plan: MeterPlan) -> str:
        if isinstance(value, Decimal):
            return self.quantity(value, plan)
        return "∞"

    def money_or(self, value: object, otherwise: str) -> str:
        return self.money(value) if isinstance(value, Decimal) else otherwise

    def ladder_or(self, value: object, plan: MeterPlan) -> str:
        """A whole ladder in one cell: each bracket and its price."""
        if not isinstance(value, Ladder):
            return self.m["ladder_none"]
        return self.m["ladder_sep"].join(
            self.text("ladder_bracket", bracket=self.bracket_header(b, plan),
                      price=self.price_cell(b, plan))
            for b in value.brackets)

    # free quota ----------------------------------------------------------------------------
    def free_block(self) -> Block | None:
        entries = self.allowances()
        if not entries:
            return None
        meters = self.book.meters
        order = self.sources()
        first = self.m["free_first"] if order and order[0] == "allowance" else ""
        tables: tuple[Table, ...] = ()
        uniform = (
            len(entries) == len(meters)
            and not any(shared for _, _, shared in entries)
            and len({(amount, self.units[plans[0].name]) for plans, amount, _ in entries}) == 1
        )
        if uniform:
            plan = entries[0][0][0]
            lead = self.fmt("free_every", amount=self.count(entries[0][1], plan), first=first)
        else:
            lead = self.fmt("free_some", first=first)
            rows = []
            covered: set[str] = set()
            for plans, amount, shared in entries:
                covered.update(p.name for p in plans)
                name = (self.text("free_shared", meters=self.meter_list(plans)) if shared
                        else self.names[plans[0].name])
                rows.append((name, self.count(amount, plans[0])))
            rows.extend((self.names[p.name], self.m["none"])
                        for p in meters if p.name not in covered)
            tables = (Table((self.m["free_corner"], self.m["free_column"]), tuple(rows)),)
        bullets = []
        if order and order[0] == "allowance" and len(order) > 1:
            rest = [self.m[f"chain_{source}"] for source in order[1:]]
            bullets.append(self.fmt("free_chain" if len(rest) > 1 else "free_chain_one",
                                    rest=_join(rest, self.m["then_sep"])))
        bullets.append(self.fmt("free_month"))
        return Block("free", self.m["free"], (lead,), tables, tuple(bullets))

    # prepaid packs -------------------------------------------------------------------------
    def prepaid_block(self) -> Block | None:
        if not self.has_packs:
            return None
        policy = self.book.packs
        lead: tuple[Rich, ...] = ()
        restriction = self._restriction("prepaid")
        if restriction is not None:
            lead = (restriction,)
        by_unit: dict[str, list[MeterPlan]] = {}
        for plan in self.book.meters:
            if plan.packs:
                by_unit.setdefault(self.units[plan.name], []).append(plan)
        tables = []
        for unit, plans in by_unit.items():
            sizes = sorted({offer.size for plan in plans for offer in plan.packs})
            header = (self.m["pack_corner"],
                      *(format_quantity(size, self.lang, unit) for size in sizes))
            rows = []
            for plan in plans:
                cells = []
                for size in sizes:
                    offer = plan.pack(size)
                    cells.append(self.m["none"] if offer is None
                                 else self.m["price_contact"] if offer.price is None
                                 else self.money(offer.price))
                rows.append((self.names[plan.name], *cells))
            tables.append(Table(header, tuple(rows)))
        lost = "" if policy.frozen_after_expiry else self.text("pack_lost")
        order = self.fmt("pack_order_expiry" if policy.order == "expiry"
                         else "pack_order_purchase_smallest" if policy.smallest_first
                         else "pack_order_purchase")
        bullets: tuple[Rich, ...]
        if self.uniform_terms():
            bullets = (self.fmt("pack_validity", validity=self.validity, lost=lost), order)
        else:
            bullets = (*self.terms_sentences(lost), order)
        return Block("prepaid", self.m["prepaid"], lead, tuple(tables), bullets)

    def terms_sentences(self, lost: str) -> list[Rich]:
        """Each pack table's own terms, by the meters it sells packs of."""
        return [
            self.fmt(
                "pack_terms", meters=self.meter_list(plans),
                validity=self.duration("validity", terms.valid_amount, terms.valid_unit),
                refund="" if terms.refund_amount is None else self.text(
                    "pack_refund", window=self.duration(
                        "validity", terms.refund_amount, terms.refund_unit)),
                stop=self.text("pack_stop") if terms.stop_when_exhausted else "",
                lost=lost)
            for terms, plans in self.pack_terms_groups().items()
        ]

    # one-time orders ---------------------------------------------------------------------------
    def orders_block(self) -> Block | None:
        """Each product sold by order: its price per unit by the order's quantity, and its
        minimum order."""
        if not self.book.orders:
            return None
        tables = []
        bullets = []
        for plan in self.book.orders:
            name = self.label(plan.labels, f"order `{plan.name}`", plan.name)
            unit = self.label(plan.unit, f"the unit of order `{plan.name}`", "unit")
            brackets = plan.ladder.brackets
            header = (self.m["order_corner"], *(
                _bracket_text(b.lo, b.hi, self.lang, self.m["order_noun"], self.m)
                for b in brackets))
            cells = tuple(self.m["price_contact"] if b.price is None else
                          format_unit_price(b.price, self.book.currency, self.lang, unit, b.per)
                          for b in brackets)
            tables.append(Table(header, ((name, *cells),)))
            if plan.minimum > 1:
                bullets.append(self.fmt("order_minimum", product=name,
                                        minimum=format_quantity(plan.minimum, self.lang, unit)))
        bullets.append(self.fmt("order_all_units"))
        return Block("orders", self.m["orders"], (), tuple(tables), tuple(bullets))

    def _restriction(self, prefix: str) -> Rich | None:
        policy = self.book.packs
        # Some tables refundable within a window: each table's terms say which.
        refundable = policy.refundable or any(
            plan.pack_terms.refund_amount is not None for plan in self.book.meters)
        if not refundable and not policy.frozen_after_expiry:
            return self.fmt(f"{prefix}_no_refund_freeze")
        if not refundable:
            return self.fmt(f"{prefix}_no_refund")
        if not policy.frozen_after_expiry:
            return self.fmt(f"{prefix}_no_freeze")
        return None

    # postpaid ladders ----------------------------------------------------------------------
    def group_plans(self, group: LadderGroup) -> list[MeterPlan]:
        return [self.book.meter(name) for name in group.meters]

    def period_words(self, ladder: Ladder) -> dict[str, str]:
        """`period` (月 / month, 日 / day) and `periodly` (Monthly / Daily) of a ladder."""
        return {"period": self.m[f"period_{ladder.period}"],
                "periodly": self.m[f"periodly_{ladder.period}"]}

    def price_cell(self, bracket: Bracket, plan: MeterPlan) -> str:
        """A bracket's price: 0.002元/次, CNY 10 flat + CNY 0.002/call, contact sales, free."""
        if bracket.price is None:
            return self.m["price_contact"]
        unit = self.units[plan.name]
        parts = []
        if bracket.flat:
            parts.append(self.text("price_flat", amount=self.money(bracket.flat)))
        if bracket.price:
            if bracket.block is not None:
                price = format_unit_price(bracket.price, self.book.currency, self.lang, unit,
                                          bracket.block)
                if bracket.block_rounding in (BLOCK_UP, BLOCK_DOWN):
                    price = self.text(f"price_block_{bracket.block_rounding}", price=price,
                                      size=self.quantity(bracket.block, plan))
                parts.append(price)
            else:
                parts.append(format_unit_price(bracket.price, self.book.currency, self.lang,
                                               unit, bracket.per))
        return self.m["price_plus"].join(parts) if parts else self.m["price_free"]

    def bracket_header(self, bracket: Bracket, plan: MeterPlan) -> str:
        return _bracket_text(bracket.lo, bracket.hi, self.lang, self.noun_for(plan), self.m)

    def basis_phrase(
        self, ladder: Ladder, words: Mapping[str, str], plans: Sequence[MeterPlan]
    ) -> Rich:
        """What selects the bracket, in words, from the ladder's basis and the deduction order
        (naming only the sources these meters have: a free quota, packs)."""
        order = self.sources(plans)
        before = order[: order.index("postpaid")] if "postpaid" in order else order
        before_words = [self.m[f"before_{source}"] for source in before]
        period = {**self.period_words(ladder), **words}
        if ladder.basis == BASIS_AFTER_ALLOWANCE:
            plain = "packs" not in order
            return self.fmt("basis_after_allowance_plain" if plain else "basis_after_allowance",
                            **period)
        if not before_words:
            return self.fmt("basis_all", **period)
        key = "basis_total" if ladder.basis == BASIS_TOTAL else "basis_postpaid"
        return self.fmt(key, before=_join(before_words, self.m["and_sep"]), **period)

    def mode_sentence(self, group: LadderGroup) -> Rich:
        """How a ladder prices: which quantity chooses the bracket, and volume or graduated."""
        ladder = group.ladder
        plans = self.group_plans(group)
        words = self.meter_words(plans[0])
        if len(ladder.brackets) == 1:
            return self.fmt("mode_single", **words)
        basis = self.basis_phrase(ladder, words, plans)
        if ladder.mode != GRADUATED:
            return self.fmt("mode_volume", basis=basis, **words)
        counted_before = ladder.basis != "postpaid" and len(self.sources(plans)) > 1
        return self.fmt("mode_graduated_last" if counted_before else "mode_graduated",
                        basis=basis, **words)

    def mode_sentences(self) -> list[Rich]:
        """How brackets are chosen: once if every ladder agrees, else per group of meters."""
        groups = self.book.ladder_groups
        sentences = [self.mode_sentence(group) for group in groups]
        if len(set(sentences)) <= 1:
            out = sentences[:1]
        else:
            out = [self.fmt("mode_for", meters=self.meter_list(self.group_plans(group)),
                            sentence=sentence)
                   for group, sentence in zip(groups, sentences, strict=True)]
        if groups and all(_descending(group.ladder) for group in groups):
            out.append(self.fmt("descending"))
        return out

    def meter_list(self, plans: Sequence[MeterPlan]) -> Rich:
        return self.join([self.names[p.name] for p in plans])

    def ladder_table(self, group: LadderGroup) -> Table:
        """One ladder: a column per bracket, a row per meter it prices."""
        ladder = group.ladder
        plans = self.group_plans(group)
        first = plans[0]
        corner = self.text("ladder_corner_calls" if _is_calls(first) else "ladder_corner",
                           units=plural(self.units[first.name]), **self.period_words(ladder))
        header = (corner, *(self.bracket_header(b, first) for b in ladder.brackets))
        rows = tuple(
            (self.names[p.name], *(self.price_cell(b, p) for b in ladder.brackets))
            for p in plans
        )
        return Table(header, rows)

    def ladder_notes(self, group: LadderGroup) -> list[Rich]:
        """What a ladder's table cannot show: combined meters, minimum, maximum, flat at zero."""
        ladder = group.ladder
        plans = self.group_plans(group)
        meters = self.meter_list(plans)
        period = self.period_words(ladder)
        noun = self.noun_for(plans[0])
        notes = []
        if ladder.combined and len(plans) > 1:
            notes.append(self.fmt("combined", meters=meters, noun=noun))
        if ladder.minimum is not None:
            notes.append(self.fmt("minimum_note", meters=meters,
                                  amount=self.money(ladder.minimum), **period))
        if ladder.maximum is not None:
            notes.append(self.fmt("maximum_note", meters=meters,
                                  amount=self.money(ladder.maximum), **period))
        if ladder.flat_at_zero and ladder.brackets[0].flat:
            notes.append(self.fmt("flat_at_zero", meters=meters, noun=noun, **period))
        return notes

    def postpaid_block(self) -> Block | None:
        groups = self.book.ladder_groups
        if not groups:
            return None
        bullets: list[Rich] = []
        flat: dict[str, Ladder] = {}
        for group in groups:
            bullets.extend(self.ladder_notes(group))
            if any(b.flat for b in group.ladder.brackets):
                flat.setdefault(group.ladder.mode, group.ladder)
        for mode, ladder in sorted(flat.items()):
            key = "flat_graduated" if mode == GRADUATED else "flat_volume"
            bullets.append(self.fmt(key, **self.period_words(ladder)))
        if any(b.price is None for group in groups for b in group.ladder.brackets):
            bullets.append(self.fmt("contact_note"))
        tables = tuple(self.ladder_table(group) for group in groups)
        return Block("postpaid", self.m["postpaid"], (self.paragraph(self.mode_sentences()),),
                     tables, tuple(bullets))

    # notes ---------------------------------------------------------------------------------
    def notes_block(self) -> Block:
        book = self.book
        bullets: list[Rich] = []
        for plan in book.meters:
            actions = [_code(a) for a in plan.actions]
            name = self.names[plan.name]
            count = _count_word(len(actions), self.lang)
            if plan.free_actions:
                free = self.join([_code(a) for a in plan.free_actions])
                key = "note_free_many" if len(actions) > 1 else "note_free_one"
                bullets.append(self.fmt(key, meter=name, actions=self.join(actions),
                                        count=count, free=free, noun=self.noun_for(plan)))
            elif len(actions) > 1:
                shared = []
                if plan.ladder is not None:
                    shared.append(self.text("note_shared_ladder", noun=self.noun_for(plan)))
                if plan.packs:
                    shared.append(self.m["note_shared_packs"])
                bullets.append(self.fmt(
                    "note_shared", meter=name, actions=self.join(actions), count=count,
                    noun=self.noun_for(plan),
                    shared=self.join(shared) if shared else self.m["none"],
                ))
        reasons: dict[str, list[str]] = {}
        for action, labels in book.unpriced.items():
            reason = (self.label(labels, f"the reason `{action}` is unpriced", "")
                      if labels else "") or self.m["unpriced_reason"]
            reasons.setdefault(reason, []).append(action)
        for reason, unpriced in reasons.items():
            bullets.append(self.fmt("note_unpriced", actions=self.join(
                [_code(a) for a in unpriced]), reason=reason))
        order = self.sources()
        if len(order) > 1:
            names = [self.m[f"source_{source}"] for source in order]
            bullets.append(self.fmt("note_order", order=_join(names, self.m["order_sep"]),
                                    first=names[0]))
        billing = book.billing
        if billing.allowance_while_active and self.has_allowance:
            why = [self.m[f"reason_{r}"] for r in billing.suspend_reasons
                   if f"reason_{r}" in self.m]
            bullets.append(self.fmt("note_suspend", reasons=_join(why, self.m["or_sep"]))
                           if why else self.fmt("note_suspend_plain"))
        settle = self.m["note_bill_settle"] if billing.settle_from_balance else ""
        bill = self.fmt("note_bill", day=str(billing.issued_day), settle=settle)
        if billing.settle_from_balance and "arrears" in billing.suspend_reasons:
            bill = self.paragraph([bill, self.fmt("note_arrears")])
        bullets.append(bill)
        if self.has_packs:
            restriction = self._restriction("note")
            if restriction is not None:
                bullets.append(restriction)
        for plan in book.meters:
            if plan.quantity_rounding is not None:
                bullets.append(self.fmt(
                    "quantity_rounding", meter=self.names[plan.name],
                    mode=self.m[f"rounding_{plan.quantity_rounding.mode}"],
                    increment=self.count(plan.quantity_rounding.increment, plan)))
        rounding = book.rounding
        bullets.append(self.fmt("note_rounding", mode=self.m[f"rounding_{rounding.mode}"],
                                increment=self.money(rounding.increment)))
        bullets.append(self.fmt("note_timezone", zone=_code(book.timezone)))
        return Block("notes", self.m["notes"], bullets=tuple(bullets))

    # billing modes -------------------------------------------------------------------------
    def modes_part(self) -> Part | None:
        columns = [mode for mode, present in (("prepaid", self.has_packs),
                                              ("postpaid", self.has_ladders)) if present]
        if not columns:
            return None
        policy = self.book.packs
        cells = {
            "prepaid": (
                self.m["pay_prepaid"],
                self.m["list_sep"].join(dict.fromkeys(
                    self.duration("cycle", terms.valid_amount, terms.valid_unit)
                    for terms in self.pack_terms_groups()))
                if not self.uniform_terms()
                else self.duration("cycle", policy.valid_amount, policy.valid_unit),
                self.products([p for p in self.book.meters if p.packs]),
                self.text("scenario_prepaid", validity=self.validity),
            ),
            "postpaid": (
                self.m["pay_postpaid"],
                self.duration("cycle", 1, "month"),
                self.products([p for p in self.book.meters if p.ladder is not None]),
                self.m["scenario_postpaid"],
            ),
        }
        header = (self.m["modes_corner"], *(self.m[f"mode_{c}"] for c in columns))
        rows = tuple(
            (self.m[row], *(cells[c][index] for c in columns))
            for index, row in enumerate(("row_payment", "row_cycle", "row_products",
                                         "row_scenario"))
        )
        blocks = [Block("modes", tables=(Table(header, rows),))]
        if self.has_packs:
            blocks.append(Block("prepaid-detail", self.m["prepaid"], self.prepaid_details()))
        if self.has_ladders:
            settle = self.m["postpaid_bill_settle"] if self.book.billing.settle_from_balance \
                else ""
            bill = self.fmt("postpaid_bill", day=str(self.book.billing.issued_day),
                            settle=settle)
            paragraph = self.paragraph([*self.mode_sentences(), bill])
            blocks.append(Block("postpaid-detail", self.m["postpaid"], (paragraph,)))
        return Part("modes", self.m["modes"], tuple(blocks))

    def products(self, plans: Sequence[MeterPlan]) -> str:
        if len(plans) == len(self.book.meters):
            return self.m["all_products"]
        return plain_text(self.meter_list(plans))

    def prepaid_details(self) -> tuple[Rich, ...]:
        policy = self.book.packs
        alerts = self.book.alerts
        several = any(len(p.packs) > 1 for p in self.book.meters)
        detail = self.fmt(
            "prepaid_detail",
            sizes=self.m["prepaid_detail_sizes"] if several else "",
            validity=self.validity,
            lost="" if policy.frozen_after_expiry else self.text("prepaid_detail_lost",
                                                                 validity=self.validity),
            overflow=self.m["prepaid_detail_overflow"] if self.overflow_to_postpaid() else "",
        )
        sentences = [detail]
        if not self.uniform_terms():  # tables of their own terms: each says its own
            lost = "" if policy.frozen_after_expiry else self.text("pack_lost")
            overflow = self.m["prepaid_detail_overflow"] if self.overflow_to_postpaid() else ""
            sentences = [*self.terms_sentences(lost),
                         *([self.fmt("prepaid_detail_overflow_alone")] if overflow else [])]
        conditions = []
        if alerts.low_threshold is not None:
            conditions.append(self.text("alert_low", percent=format_percent(alerts.low_threshold)))
        if alerts.exhausted:
            conditions.append(self.m["alert_exhausted"])
        if conditions:
            then = self.text("alert_then") if alerts.exhausted and self.overflow_to_postpaid() \
                else ""
            sentences.append(self.fmt("alerts", conditions=_join(conditions, self.m["or_sep"]),
                                      then=then))
        if alerts.expired:
            sentences.append(self.fmt("alert_expired"))
        return (self.paragraph(sentences),)

    # the worked example --------------------------------------------------------------------
    def example_part(self) -> Part | None:
        found = _example(self.book)
        if found is None:
            return None
        plan, usage, held, bill = found
        total = sum(usage.values(), ZERO)
        counts = [self.fmt("example_usage", action=_code(action), count=self.count(n, plan))
                  for action, n in usage.items()]
        held_text: Rich = ()
        if held is not None:
            held_text = self.fmt("example_held", size=self.quantity(held.size, plan),
                                 meter=self.names[plan.name])
        intro = self.fmt("example_intro_many" if len(usage) > 1 else "example_intro_one",
                         meter=self.names[plan.name], usage=self.join(counts),
                         total=self.count(total, plan), held=held_text,
                         verb=self.m["example_verb_calls" if _is_calls(plan) else "example_verb"])
        lines = [line for line in bill.lines if line.meter == plan.name]
        rows = [self.example_row(line, plan, held) for line in bill.lines]
        none = self.m["none"]
        rows.append((self.m["example_total"], self.count(total, plan), none, none,
                     self.money(bill.total)))
        header = tuple(self.m[f"example_{c}"] for c in ("source", "quantity", "bracket",
                                                         "price", "amount"))
        bullets = []
        explanation = self.example_explanation(plan, lines, total)
        if explanation is not None:
            bullets.append(explanation)
        kinds = []
        for alert in bill.alerts:
            if alert.kind == "low" and self.book.alerts.low_threshold is not None:
                kind = self.text("example_alert_low",
                                 percent=format_percent(self.book.alerts.low_threshold))
            elif alert.kind == "exhausted":
                kind = self.m["example_alert_exhausted"]
            else:
                continue
            if kind not in kinds:
                kinds.append(kind)
        if kinds:
            bullets.append(self.fmt("example_alerts",
                                    kinds=_join(kinds, self.m["list_sep"])))
        bullets.append(self.fmt("example_computed"))
        block = Block("example", "", (intro,), (Table(header, tuple(rows)),), tuple(bullets))
        return Part("example", self.m["example"], (block,))

    def example_row(
        self, line: BillLine, example: MeterPlan, held: HeldPack | None
    ) -> tuple[str, ...]:
        """A bill line as a row of the example: source, quantity, bracket, price, amount.

        Lines of other meters (a minimum charged without usage) are named by their meter, so
        that the rows add up to the bill's total."""
        plan = self.book.meter(line.meter)
        none = self.m["none"]
        quantity = self.count(line.quantity, plan) if line.quantity else none
        bracket = _line_bracket(plan, line) if line.source == "postpaid" else None
        if line.source == "pack":
            size = held.size if held is not None and held.meter == plan.name else line.quantity
            source = self.text("example_pack", size=self.quantity(size, plan))
        else:
            source = self.m.get(f"example_{line.source}", line.source)
        if plan.name != example.name:
            source = self.text("example_other", meter=self.names[plan.name], source=source)
        return (source, quantity,
                self.bracket_header(bracket, plan) if bracket else none,
                self.price_cell(bracket, plan) if bracket else none,
                self.money(line.amount))

    def example_explanation(
        self, plan: MeterPlan, lines: Sequence[BillLine], total: Decimal
    ) -> Rich | None:
        """Which quantity chose the bracket, and how the postpaid amount follows from it."""
        ladder = plan.ladder
        postpaid = [line for line in lines if line.source == "postpaid"]
        if ladder is None or not postpaid:
            return None
        from_allowance = sum((x.quantity for x in lines if x.source == "allowance"), ZERO)
        from_packs = sum((x.quantity for x in lines if x.source == "pack"), ZERO)
        postpaid_quantity = sum((x.quantity for x in postpaid), ZERO)
        words = self.meter_words(plan)
        if len(ladder.brackets) == 1:
            only = ladder.brackets[0]
            return self.fmt("example_single", basis=self.count(postpaid_quantity, plan),
                            price=self.price_cell(only, plan),
                            amount=self.amount_phrase(postpaid[0], only, plan), **words)
        if ladder.basis == BASIS_TOTAL:
            which = self.fmt("which_total", basis=self.count(total, plan), **words)
        elif ladder.basis == BASIS_AFTER_ALLOWANCE:
            which = self.fmt("which_after_allowance",
                             basis=self.count(total - from_allowance, plan), **words)
        else:
            parts = []
            if from_allowance:
                parts.append(self.text("part_allowance", count=self.count(from_allowance, plan)))
            if from_packs:
                parts.append(self.text("part_packs", count=self.count(from_packs, plan)))
            key = "which_postpaid" if parts else "which_postpaid_all"
            which = self.fmt(key, basis=self.count(postpaid_quantity, plan),
                             total=self.count(total, plan),
                             parts=_join(parts, self.m["and_sep"]), **words)
        if ladder.mode == GRADUATED:
            segments = []
            for line in postpaid:
                bracket = _line_bracket(plan, line)
                if bracket is None:
                    continue
                segments.append(self.fmt("example_segment", count=self.count(line.quantity, plan),
                                         bracket=self.bracket_header(bracket, plan),
                                         price=self.price_cell(bracket, plan)))
            return self.fmt("example_graduated", which=which,
                            segments=_join(segments, self.m["list_sep"]))
        line = postpaid[0]
        bracket = _line_bracket(plan, line)
        if bracket is None:
            return None
        return self.fmt("example_volume", which=which, **words,
                        bracket=self.bracket_header(bracket, plan),
                        price=self.price_cell(bracket, plan),
                        amount=self.amount_phrase(line, bracket, plan))

    def amount_phrase(self, line: BillLine, bracket: Bracket, plan: MeterPlan) -> str:
        """`899,000 × 0.002元 = 1798.00元` (with the billed amount when rounding changes it)."""
        rounded = self.money(line.amount)
        if bracket.flat or bracket.per != 1 or bracket.block is not None or bracket.price is None:
            return rounded
        precise = line.precise_amount
        shown = rounded if precise == line.amount else self.money(_plain_decimal(precise))
        phrase = (f"{format_count(line.quantity, self.lang)} × "
                  f"{self.money(bracket.price)} = {shown}")
        if precise != line.amount:
            phrase += self.text("example_rounded", amount=rounded)
        return phrase


_ONE_DAY = timedelta(days=1)


@attrs.frozen
class Dated:
    """Where the sheet shown sits on its book's timeline: the day it is rendered for (None for
    a single version's book), the first day of the version shown (None: the sheet as first
    written) and of the next one, the shown version's segment while it still keeps older
    accounts on the previous prices, and each later segment with its changes."""

    day: date | None
    start: date | None
    until: date | None
    kept: Segment | None
    upcoming: tuple[tuple[Segment, tuple[Change, ...]], ...]


def dated(book: PriceBook, at: date | datetime | str | None = None
          ) -> tuple[PriceBook, Dated | None]:
    """The sheet in effect on the day `at` (default: today in the rules' timezone) and where
    it sits on the timeline; a book without versions is itself, with None."""
    if not book.timeline:
        if book.version is None:
            return book, None
        return book, Dated(None, book.version, None, None, ())
    day = book._day(at)  # the day `PriceBook.at` reads
    segments = book.timeline
    index = sum(1 for segment in segments if segment.start <= day)
    books = book.books
    kept = None
    if index:
        current = segments[index - 1]
        if current.keep_until is not None and day < current.keep_until:
            kept = current
    upcoming = tuple((segments[j], tuple(changes(books[j], books[j + 1])))
                     for j in range(index, len(segments)))
    until = segments[index].start if index < len(segments) else None
    shown = book.at(day)
    return shown, Dated(day, shown.version, until, kept, upcoming)


def change_days(book: PriceBook) -> tuple[date, ...]:
    """The days on which a book's rendered sheet changes (in order): each version's first day,
    and the day a version stops keeping older accounts on the previous prices. Empty for
    a book without versions: its sheet is the same on every day."""
    days = {segment.start for segment in book.timeline}
    days.update(segment.keep_until for segment in book.timeline
                if segment.keep_until is not None)
    return tuple(sorted(days))


def _plan_of(book: PriceBook, other: PriceBook, name: str) -> MeterPlan | None:
    for source in (book, other):
        for plan in source.meters:
            if plan.name == name:
                return plan
    return None


def _plain_decimal(value: Decimal) -> Decimal:
    return value.normalize() if value != value.to_integral_value() else value.quantize(
        Decimal(1))


def _descending(ladder: Ladder) -> bool:
    """True when every bracket has a plain unit price, each lower than the one before."""
    brackets = ladder.brackets
    if len(brackets) < 2 or any(b.price is None or b.flat for b in brackets):
        return False
    prices = [b.unit_price for b in brackets]
    return all(later < earlier for earlier, later in itertools.pairwise(prices))


def _line_bracket(plan: MeterPlan, line: BillLine) -> Bracket | None:
    if plan.ladder is None:
        return None
    for bracket in plan.ladder.brackets:
        if bracket.label == line.bracket:
            return bracket
    return None


def _is_calls(plan: MeterPlan) -> bool:
    """A meter that counts API calls (unit 次 / call): its volume is 调用量."""
    return "次" in plan.unit or "call" in plan.unit


def _count_word(number: int, lang: str) -> str:
    """A small count in words: 两 / two; digits from eleven on."""
    words = _SMALL_NUMBERS[lang]
    return words[number] if 0 <= number < len(words) else str(number)


def _example(
    book: PriceBook,
) -> tuple[MeterPlan, dict[str, Decimal], HeldPack | None, Bill] | None:
    """A month of usage for one meter, quoted by the evaluator: the first that reaches a
    priced postpaid bracket (else the first that quotes at all).

    Meters with the most actions come first (they show actions counting together); the month
    holds the largest pack of at most half its total, to show the deduction order.
    """
    plans = sorted(book.meters, key=lambda p: (
        p.ladder is None, p.ladder is not None and p.ladder.period != "month", -len(p.actions)))
    fallback = None
    for plan in plans:
        if not plan.actions:
            continue
        free = plan.allowance
        if plan.allowance_pool is not None:
            free = book.allowance_pools.get(plan.allowance_pool, ZERO)
        totals = [Decimal(t) for t in _EXAMPLE_TOTALS if t > free] or [free * 3]
        for total in totals:
            usage = _split(plan.actions, total)
            sizes = [offer.size for offer in plan.packs if offer.size * 2 <= total]
            held = HeldPack(plan.name, max(sizes)) if sizes else None
            try:
                bill = book.quote(usage, [held] if held is not None else [])
            except UsageError:
                continue
            found = (plan, usage, held, bill)
            if any(line.source == "postpaid" for line in bill.lines):
                return found
            fallback = fallback or found
    return fallback


def _split(actions: Sequence[str], total: Decimal) -> dict[str, Decimal]:
    if len(actions) == 1:
        return {actions[0]: total}
    return {action: _plain_decimal(total * share)
            for action, share in zip(actions, _EXAMPLE_SPLIT, strict=False)}


def build_sheet(
    book: PriceBook, lang: str, at: date | datetime | str | None = None
) -> tuple[SheetView, tuple[str, ...]]:
    """The view model of a book's price sheet in one language, and the fallback warnings.

    A book with dated versions shows the version in effect on the day `at` (see `render`)."""
    if lang not in LANGS:
        raise ValueError(f"unknown language `{lang}`; use one of {', '.join(LANGS)}")
    contract = next((b.contract for b in book.books if b.contract is not None), None)
    if contract is not None:
        raise ValueError(f"this book is billed under contract `{contract.name}`: a contract is "
                         "a customer's terms, not a published price sheet; render the sheet "
                         "it extends")
    shown, where = dated(book, at)
    sheet = _Sheet(shown, lang)
    view = sheet.build(where)
    return view, tuple(dict.fromkeys(sheet.warnings))


# --- the environment -------------------------------------------------------------------------

def _md_rich(rich: Rich) -> str:
    return "".join(f"`{p.text}`" if p.code and _code_span_safe(p.text)
                   else md_escape(p.text, starts_line=not i) for i, p in enumerate(rich))


def _code_span_safe(text: str) -> bool:
    """Whether `text` can stand in a code span as it is: identifiers always can; a backtick
    would end the span and a line break would end the line."""
    return "`" not in text and not any(is_control(ch) for ch in text)


def _html_rich(rich: Rich) -> markupsafe.Markup:
    out = markupsafe.Markup()
    for piece in rich:
        if piece.code:
            out += markupsafe.Markup("<code>{}</code>").format(piece.text)
        else:
            out += markupsafe.escape(piece.text)
    return out


def _html_cell(text: str) -> markupsafe.Markup:
    """A table cell's text, escaped, with a line-break opportunity after each `/` (so that
    `CNY 0.0018/call` can wrap on a phone instead of widening the table)."""
    return markupsafe.Markup("/<wbr>").join(markupsafe.escape(part) for part in text.split("/"))


@functools.cache
def environment() -> jinja2.Environment:
    """The one Environment: package templates, strict undefined, autoescape for HTML only."""
    import jinja2  # here, not at the top: commands that render nothing do not pay for it

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("ratecard", "templates"),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",),
                                            default_for_string=False, default=False),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update({
        "quantity": format_quantity,
        "count": format_count,
        "money": format_money,
        "unit_price": format_unit_price,
        "bracket": format_bracket,
        "percent": format_percent,
        "date": format_date,
        "md": md_escape,
        "md_rich": _md_rich,
        "html_rich": _html_rich,
        "html_cell": _html_cell,
    })
    return env


def render(
    book: PriceBook, fmt: str = "md", lang: str = "zh",
    at: date | datetime | str | None = None,
) -> RenderedSheet:
    """A book's price sheet as Markdown or HTML, in Chinese or English.

    A sheet with dated versions shows the prices in effect on the day `at` (a `date`, an aware
    `datetime` or `YYYY-MM-DD`; default: today in the rules' timezone), says from when, and
    announces the later versions' changes; a sheet without versions ignores `at`.

    ValueError for an unknown format or language, or a book billed under a contract;
    UsageError for a day that is not one. Names missing in `lang` fall back to the other
    language and are listed in `.warnings`.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format `{fmt}`; use one of {', '.join(FORMATS)}")
    view, warnings = build_sheet(book, lang, at)
    text = environment().get_template(TEMPLATES[fmt]).render(sheet=view)
    return RenderedSheet(text, warnings)


def sheet_filename(stem: str, lang: str, fmt: str) -> str:
    """The conventional file name of a generated sheet: `tencent-bda.zh.md`."""
    return f"{stem}.{lang}.{fmt}"


def sheet_kind(filename: str) -> tuple[str | None, str | None]:
    """The format and language a conventional file name says: `x.zh.md` → ("md", "zh")."""
    parts = filename.split(".")
    fmt = parts[-1] if len(parts) > 1 and parts[-1] in FORMATS else None
    lang = parts[-2] if len(parts) > 2 and parts[-2] in LANGS else None
    return fmt, lang
