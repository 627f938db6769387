"""The live cost calculator of an HTML sheet: the price book compiled to JavaScript.

The compiler's JavaScript target. `compile_book` turns a compiled `PriceBook` (the sheet in
effect on the day rendered) into the data the evaluator `templates/calculator.js` reads: meters,
routes from actions, allowances and their pools, the deduction order, packs on sale, every
ladder's brackets (bounds, prices, per-N, flat fees, blocks, minimums and maximums, contact
sales) and the strings a bill line shows (bracket labels, unit prices as `ratecard quote`
prints them). Every number is a plain decimal string; the evaluator reads them into exact
fractions of BigInts, so no binary float ever touches a quantity or an amount.

The evaluator follows the general quote (`PriceBook.quote`, docs/billing.md) step for step: the
month's totals per meter (counts rounded as the meter says), the allowance (shared pools
included) and the packs held, drawn in the rules' order, then every ladder over the period
(volume, graduated, combined, blocks, flat fees, minimums and maximums), each line rounded once.
A bracket without a price gives "contact sales", never a number. `tests/test_calculator.py`
holds it to `PriceBook.quote` line for line, in node and in headless Chromium.

A mechanic the evaluator does not know is refused by name (`UnsupportedError`): the page then says
that the calculator leaves it out and shows the tables alone.
"""

from __future__ import annotations

import json
from decimal import Decimal
from importlib import resources
from typing import Any

import attrs
import markupsafe

from ratecard.engine.ladders import (
    BASES,
    BLOCK_DOWN,
    BLOCK_PRORATED,
    BLOCK_UP,
    MODES,
    Bracket,
)
from ratecard.engine.money import ROUNDING_MODES
from ratecard.engine.pricebook import FREE, MeterPlan, PriceBook
from ratecard.literals import MAX_COUNT, format_plain
from ratecard.render.page import Page

#: How a partial block may be counted, as the evaluator knows it.
BLOCK_ROUNDINGS = (BLOCK_UP, BLOCK_DOWN, BLOCK_PRORATED)

#: The calculator's words, per language. The bill's cells are `ratecard quote`'s, in every
#: language (meter ids, sources, plain amounts): the page and the command agree cell for cell.
WORDS: dict[str, dict[str, Any]] = {
    "en": {
        "heading": "Cost calculator",
        "lead": "Type a month's usage per action (and the packs you hold) to see the bill, "
                "line by line, as it would be charged.",
        "needs_js": "The calculator needs JavaScript; the tables above give every price.",
        "usage": "Usage this month",
        "hint": "Type plain digits, such as 1500 or 2.5.",
        "hint_packs": "Packs are counted unused, and drawn in the order listed.",
        "packs": "Packs held at the start of the month (full)",
        "pack": "{meter}: packs of {size}",
        "result": "Bill",
        "columns": ["meter", "source", "quantity", "bracket", "unit price", "amount"],
        "total": "total",
        "nothing": "(no billable usage)",
        "contact_sales": "Contact sales: the usage of meter {meter} reaches the bracket "
                         "{bracket}, which has no published price.",
        "not_a_number": "{action}: type a number of plain digits, such as 1500 or 2.5.",
        "not_whole": "{action}: this action is counted in whole units.",
        "too_large": "{action}: the number is too large.",
        "no_postpaid": "Meter {meter} has no postpaid price: the usage beyond the free quota "
                       "and packs cannot be bought this way.",
        "packs_held": "Packs held: type a number of packs from 0 to 999.",
        "left_out": "The calculator leaves out {mechanics}, which these rules use: the tables "
                    "above give the prices.",
    },
    "zh": {
        "heading": "费用计算器",
        "lead": "输入每个接口本月的调用量（以及持有的资源包），即可逐行查看账单金额。",
        "needs_js": "计算器需要启用 JavaScript；上方表格列出了全部价格。",
        "usage": "本月用量",
        "hint": "请输入数字，例如 1500 或 2.5。",
        "hint_packs": "资源包按未使用计，按列出的顺序扣减。",
        "packs": "月初持有的资源包（未使用）",
        "pack": "{meter} {size}资源包数量",
        "result": "账单",
        "columns": ["计量项", "来源", "数量", "区间", "单价", "金额"],
        "total": "合计",
        "nothing": "（无计费用量）",
        "contact_sales": "请联系销售：计量项 {meter} 的用量达到区间 {bracket}，该区间无公开价格。",
        "not_a_number": "{action}：请输入数字，例如 1500 或 2.5。",
        "not_whole": "{action}：该接口按整数计量。",
        "too_large": "{action}：数字过大。",
        "no_postpaid": "计量项 {meter} 没有后付费价格：超出免费额度和资源包的用量无法计费。",
        "packs_held": "资源包数量：请输入 0 到 999 之间的整数。",
        "left_out": "计算器不支持这些规则使用的{mechanics}，请参阅上方表格中的价格。",
    },
}


class UnsupportedError(Exception):
    """A mechanic of the rules that the calculator's evaluator does not implement."""

    def __init__(self, mechanics: tuple[str, ...]) -> None:
        super().__init__(f"the calculator does not implement {', '.join(mechanics)}")
        self.mechanics = mechanics


@attrs.frozen
class ActionField:
    """One usage input of the form: the action, and what its label says."""

    action: str
    label: str  # the display name of the meter it counts into
    unit: str


@attrs.frozen
class PackField:
    """One packs-held input: the meter, the size as the evaluator names it, and its label."""

    meter: str
    size: str
    label: str


_EMPTY = markupsafe.Markup("")


@attrs.frozen
class Calculator:
    """What the HTML sheet's calculator section shows: the form's fields, the compiled book
    (JSON for the evaluator, safe inside a `<script>` element) and the evaluator's source; or,
    where the rules use a mechanic the evaluator lacks, the sentence saying so."""

    words: dict[str, Any]
    actions: tuple[ActionField, ...] = ()
    packs: tuple[PackField, ...] = ()
    data: markupsafe.Markup = _EMPTY
    script: markupsafe.Markup = _EMPTY
    left_out: str = ""


def _plain(value: Decimal | None) -> str | None:
    return None if value is None else format_plain(value)


def _grouped(value: Decimal) -> str:
    """A count as `ratecard quote` prints it: 1,000,000, or 0.5."""
    if value == value.to_integral_value():
        return f"{int(value):,}"
    return format_plain(value)


def unit_price(bracket: Bracket) -> str:
    """A bracket's unit price as `ratecard quote` prints it: `0.002`, `0.20 per 1,000,000`."""
    if bracket.shown_per is None:
        return format_plain(bracket.shown_price)
    return f"{format_plain(bracket.shown_price)} per {_grouped(bracket.shown_per)}"


def unsupported(book: PriceBook) -> tuple[str, ...]:
    """The mechanics of `book` that the evaluator does not implement, by name (empty: none)."""
    found: list[str] = []
    if book.contract is not None:
        found.append("contracts")
    if book.rounding.mode not in ROUNDING_MODES:
        found.append(f"rounding {book.rounding.mode}")
    for group in book.ladder_groups:
        ladder = group.ladder
        if ladder.mode not in MODES:
            found.append(f"{ladder.mode} ladders")
        if ladder.basis not in BASES:
            found.append(f"ladders by {ladder.basis}")
        for bracket in ladder.brackets:
            if bracket.block is not None and bracket.block_rounding not in BLOCK_ROUNDINGS:
                found.append(f"blocks rounded {bracket.block_rounding}")
            if bracket.closed_low:
                found.append("brackets closed at the low end ([lo, hi))")
    if book.rounding.mode in ROUNDING_MODES and not book.rounding.per_line:
        found.append("rounding on the total")
    if book.packs.smallest_first:
        found.append("packs drawn smallest first")
    if book.billing.daily:  # it prices a month's totals; these meters are billed day by day
        found.append("daily bills")
    # A month's quote holds the monthly grants in full; those issued once at the opening are
    # not in a month of an established account (what the calculator quotes, as `quote` does).
    if any(grant.recurrence != "once" for grant in book.grants):
        found.append("monthly grants")
    if book.requests:
        found.append("requests (quantities and properties per call)")
    if any(plan.entry_minimum is not None for plan in book.meters):
        found.append("minimum quantities per entry")
    if any(plan.count_scales for plan in book.meters):
        found.append("counts in a display unit")
    if any(plan.amount_rounding is not None for plan in book.meters):
        found.append("amounts rounded per meter")
    for plan in book.meters:
        if plan.quantity_rounding is not None and plan.quantity_rounding.mode not in ROUNDING_MODES:
            found.append(f"quantities rounded {plan.quantity_rounding.mode}")
        if plan.display_size is not None:
            found.append("display units")
        if plan.pack_terms.stop_when_exhausted:
            found.append("packs that stop service when exhausted")
    if any(plan.automatic for plan in book.subscriptions):
        found.append("recurring fees")
    return tuple(dict.fromkeys(found))


def compile_book(book: PriceBook) -> dict[str, Any]:
    """The data of one sheet (a book without a timeline: the sheet in effect on a day) that
    the evaluator reads; UnsupportedError naming the mechanics it would get wrong."""
    missing = unsupported(book)
    if missing:
        raise UnsupportedError(missing)
    increment = book.rounding.increment.as_tuple().exponent
    assert isinstance(increment, int), "the rounding increment is a power of ten"
    index = {plan.name: position for position, plan in enumerate(book.meters)}
    allowances = {plan.pool: plan.allowance for plan in book.meters}
    allowances.update(book.allowance_pools)
    return {
        "currency": book.currency,
        "increment": increment,
        "mode": book.rounding.mode,
        "places": max(0, -increment),
        "max_count": str(MAX_COUNT),
        "actions": {action: None if route == FREE else index[route]
                    for action, route in book.routes.items()},
        "meters": [_meter(plan) for plan in book.meters],
        "allowances": {pool: format_plain(amount) for pool, amount in allowances.items()},
        "order": list(book.deduct_order),
        "groups": [
            {
                "mode": group.ladder.mode,
                "basis": group.ladder.basis,
                "combined": group.ladder.combined,
                "flat_at_zero": group.ladder.flat_at_zero,
                "minimum": _plain(group.ladder.minimum),
                "maximum": _plain(group.ladder.maximum),
                "meters": list(group.meters),
                "brackets": [
                    {
                        "lo": format_plain(b.lo),
                        "hi": _plain(b.hi),
                        "price": _plain(b.price),
                        "per": format_plain(b.per),
                        "flat": format_plain(b.flat),
                        "block": _plain(b.block),
                        "block_rounding": b.block_rounding,
                        "label": b.label,
                        "unit": unit_price(b),
                    }
                    for b in group.ladder.brackets
                ],
            }
            for group in book.ladder_groups
        ],
        "alerts": {"low": _plain(book.alerts.low_threshold), "exhausted": book.alerts.exhausted},
    }


def _meter(plan: MeterPlan) -> dict[str, Any]:
    rounding = plan.quantity_rounding
    exponent = None if rounding is None else rounding.increment.as_tuple().exponent
    return {
        "name": plan.name,
        "pool": plan.pool,
        "priced": plan.ladder is not None,
        "rounding": None if rounding is None else {"exponent": exponent, "mode": rounding.mode},
        "packs": [{"size": format_plain(offer.size)} for offer in plan.packs],
    }


def script_json(data: dict[str, Any]) -> markupsafe.Markup:
    """JSON safe inside an HTML `<script>` element: no `<`, `>` or `&` (so no `</script>` and
    no comment opener), no line separators."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    for char, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return markupsafe.Markup(text)


def evaluator() -> str:
    """The evaluator's JavaScript source (templates/calculator.js)."""
    return resources.files("ratecard").joinpath("templates", "calculator.js").read_text(
        encoding="utf-8")


def calculator(book: PriceBook, lang: str) -> Calculator:
    """The calculator section of `book`'s sheet (the sheet in effect on the day rendered) in
    `lang`: its form and compiled book, or the sentence naming the mechanics it leaves out."""
    words = dict(WORDS[lang])
    page = Page(book, lang)
    try:
        data = compile_book(book)
    except UnsupportedError as exc:
        return Calculator(words, left_out=words["left_out"].format(
            mechanics=", ".join(exc.mechanics)))
    data["words"] = {key: words[key] for key in (
        "columns", "total", "nothing", "contact_sales", "not_a_number", "not_whole",
        "too_large", "no_postpaid", "packs_held")}
    by_name = {plan.name: plan for plan in book.meters}
    # Free actions change no bill: the form asks for the priced ones.
    actions = tuple(ActionField(action, page.names[route], page.units[route])
                    for action, route in book.routes.items() if route != FREE)
    packs = tuple(
        PackField(plan.name, format_plain(offer.size),
                  words["pack"].format(meter=page.names[plan.name],
                                       size=page.quantity(offer.size, by_name[plan.name])))
        for plan in book.meters for offer in plan.packs
    )
    source = evaluator()
    assert "</" not in source, "the evaluator's source never ends its <script> element"
    return Calculator(words, actions, packs, script_json(data), markupsafe.Markup(source))
