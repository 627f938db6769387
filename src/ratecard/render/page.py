"""The page being written: one book's sheet in one language.

`Page` holds what every section reads: the catalogue's words, the book's display names (with
the fallback warnings a missing name raises), sentences filled from the catalogue, numbers and
prices formatted for the language, and the facts about the book that decide what a sheet says
(its allowances, packs, ladders, the deduction order).
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from ratecard.engine.ladders import BLOCK_DOWN, BLOCK_UP, Bracket, Ladder
from ratecard.engine.money import ZERO
from ratecard.engine.pricebook import MeterPlan, PackTerms, PriceBook
from ratecard.engine.pricing import LadderGroup
from ratecard.render.filters import (
    approx,
    bracket_text,
    bracket_words,
    format_count,
    format_date,
    format_money,
    format_quantity,
    format_unit_price,
    messages,
    plural,
    shown_price,
    shown_quantity,
)
from ratecard.render.view import Piece, Rich, joined, merged, plain_text


class Page:
    """One PriceBook's sheet being written in one language: what every section reads, and the
    fallback warnings collected while the sections are built."""

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
        # The meters of price tables' cells (`input[claude-opus-4-6]`): shown in their tables,
        # not as services of their own.
        self.cells = frozenset(book.part_routes[r] for plan in book.requests.values()
                               for r in plan.part_meters if plan.cells
                               and book.part_routes[r] not in plan.meters.values())
        self.names = {p.name: self.label(p.labels, f"meter `{p.name}`", p.name)
                      for p in book.meters}
        # The unit a sheet shows each meter's quantities and prices in: its display unit
        # (`unit "小时" / "hour" = 3600 "秒" / "second"`) if it has one, else its unit.
        self.units = {p.name: self.label(p.display_unit or p.unit,
                                         f"the unit of meter `{p.name}`", "unit")
                      for p in book.meters}
        calls = bool(book.meters) and all(is_calls(p) for p in book.meters)
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

    # names and words -------------------------------------------------------------------------
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
        return merged(pieces)

    def text(self, key: str, **values: str | Rich) -> str:
        return plain_text(self.fmt(key, **values))

    def join(self, items: Sequence[Rich | str], final: str = "list_last_sep") -> Rich:
        return joined(items, self.m["list_sep"], self.m[final])

    def paragraph(self, sentences: Sequence[Rich]) -> Rich:
        """Sentences run together (a space between them in English)."""
        return joined(sentences, " " if self.lang == "en" else "")

    def money(self, amount: Decimal) -> str:
        return format_money(amount, self.book.currency, self.lang)

    def count(self, value: Decimal, plan: MeterPlan) -> str:
        shown, approximate = shown_quantity(value, plan)
        return approx(format_count(shown, self.lang, self.units[plan.name]), approximate)

    def quantity(self, value: Decimal, plan: MeterPlan) -> str:
        shown, approximate = shown_quantity(value, plan)
        return approx(format_quantity(shown, self.lang, self.units[plan.name]), approximate)

    def bound(self, value: Decimal, plan: MeterPlan) -> str:
        """A bracket bound as a column header writes it, in the display unit if any."""
        shown, approximate = shown_quantity(value, plan)
        return approx(format_quantity(shown, self.lang), approximate)

    def noun_for(self, plan: MeterPlan) -> str:
        return self.m["quantity_noun_calls" if is_calls(plan) else "quantity_noun"]

    def meter_words(self, plan: MeterPlan) -> dict[str, str]:
        """The words a sentence about one meter uses: its noun, unit and units."""
        unit = self.units[plan.name]
        calls = is_calls(plan)
        units = (self.m["remaining_calls" if calls else "remaining"] if self.lang == "zh"
                 else plural(unit))
        return {"noun": self.noun_for(plan), "unit": unit, "units": units}

    def duration(self, prefix: str, amount: int, unit: str) -> str:
        """A validity (`一年`, `6 months`) or a billing cycle (`年`, `Month`)."""
        if amount == 1:
            return self.m[f"{prefix}_{unit}_one"]
        return self.m[f"{prefix}_{unit}"].format(n=amount)

    # facts about the book --------------------------------------------------------------------
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

    def date(self, day: date) -> str:
        return format_date(day, self.lang)

    # prices and brackets ---------------------------------------------------------------------
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
                block, approximate = shown_quantity(bracket.block, plan)
                price = approx(format_unit_price(bracket.price, self.book.currency, self.lang,
                                                 unit, block), approximate)
                if bracket.block_rounding in (BLOCK_UP, BLOCK_DOWN):
                    price = self.text(f"price_block_{bracket.block_rounding}", price=price,
                                      size=self.quantity(bracket.block, plan))
                parts.append(price)
            else:
                amount, per, approximate = shown_price(bracket.price, bracket.per, plan)
                parts.append(approx(format_unit_price(amount, self.book.currency, self.lang,
                                                      unit, per), approximate))
        return self.m["price_plus"].join(parts) if parts else self.m["price_free"]

    def bracket_header(self, bracket: Bracket, plan: MeterPlan) -> str:
        if plan.display_size is None:
            return bracket_text(bracket.lo, bracket.hi, self.lang, self.noun_for(plan),
                                self.m, bracket.closed_low)
        return bracket_words(bracket.lo == 0, bracket.hi is None, self.bound(bracket.lo, plan),
                             None if bracket.hi is None else self.bound(bracket.hi, plan),
                             self.noun_for(plan), self.m, bracket.closed_low)

    def meter_list(self, plans: Sequence[MeterPlan]) -> Rich:
        return self.join([self.names[p.name] for p in plans])


def is_calls(plan: MeterPlan) -> bool:
    """A meter that counts API calls (unit 次 / call): its volume is 调用量."""
    return "次" in plan.unit or "call" in plan.unit
