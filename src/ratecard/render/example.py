"""The worked example part: a month of usage for one meter, quoted by the evaluator itself
(`PriceBook.quote`), as a table of the bill's lines and the arithmetic in words."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import attrs

from ratecard.engine.bills import Bill, BillLine
from ratecard.engine.ladders import BASIS_AFTER_ALLOWANCE, BASIS_TOTAL, GRADUATED, Bracket
from ratecard.engine.money import ZERO
from ratecard.engine.pricebook import HeldPack, MeterPlan, PriceBook
from ratecard.errors import UsageError
from ratecard.render.filters import format_count, format_percent, shown_price, shown_quantity
from ratecard.render.page import Page, is_calls
from ratecard.render.view import Block, Part, Rich, Table, code, joined

# A month of usage for one meter: the first of these totals (above the free allowance; else
# three times it) that reaches postpaid without a contact-sales bracket; usage split 60/40 over
# a meter's first two actions shows that they count together.
_EXAMPLE_TOTALS = (10**6, 3 * 10**5, 10**5, 10**4, 10**3)
_EXAMPLE_SPLIT = (Decimal("0.6"), Decimal("0.4"))


def example_part(page: Page) -> Part | None:
    found = _example(page.book)
    if found is None:
        return None
    plan, usage, held, bill = found
    total = sum(usage.values(), ZERO)
    counts = [page.fmt("example_usage", action=code(action), count=page.count(n, plan))
              for action, n in usage.items()]
    held_text: Rich = ()
    if held is not None:
        held_text = page.fmt("example_held", size=page.quantity(held.size, plan),
                             meter=page.names[plan.name])
    intro = page.fmt("example_intro_many" if len(usage) > 1 else "example_intro_one",
                     meter=page.names[plan.name], usage=page.join(counts),
                     total=page.count(total, plan), held=held_text,
                     verb=page.m["example_verb_calls" if is_calls(plan) else "example_verb"])
    lines = [line for line in bill.lines if line.meter == plan.name]
    rows = [example_row(page, line, plan, held) for line in bill.lines]
    none = page.m["none"]
    rows.append((page.m["example_total"], page.count(total, plan), none, none,
                 page.money(bill.total)))
    header = tuple(page.m[f"example_{c}"] for c in ("source", "quantity", "bracket",
                                                     "price", "amount"))
    bullets = []
    explanation = example_explanation(page, plan, lines, total)
    if explanation is not None:
        bullets.append(explanation)
    kinds = []
    for alert in bill.alerts:
        if alert.kind == "low" and page.book.alerts.low_threshold is not None:
            kind = page.text("example_alert_low",
                             percent=format_percent(page.book.alerts.low_threshold,
                                                            page.lang))
        elif alert.kind == "exhausted":
            kind = page.m["example_alert_exhausted"]
        else:
            continue
        if kind not in kinds:
            kinds.append(kind)
    if kinds:
        bullets.append(page.fmt("example_alerts",
                                kinds=joined(kinds, page.m["list_sep"])))
    bullets.append(page.fmt("example_computed"))
    block = Block("example", "", (intro,), (Table(header, tuple(rows)),), tuple(bullets))
    return Part("example", page.m["example"], (block,))


def example_row(
    page: Page, line: BillLine, example: MeterPlan, held: HeldPack | None
) -> tuple[str, ...]:
    """A bill line as a row of the example: source, quantity, bracket, price, amount.

    Lines of other meters (a minimum charged without usage) are named by their meter, so
    that the rows add up to the bill's total."""
    plan = page.book.meter(line.meter)
    none = page.m["none"]
    quantity = page.count(line.quantity, plan) if line.quantity else none
    bracket = _line_bracket(plan, line) if line.source == "postpaid" else None
    if line.source == "pack":
        size = held.size if held is not None and held.meter == plan.name else line.quantity
        source = page.text("example_pack", size=page.quantity(size, plan))
    else:
        source = page.m.get(f"example_{line.source}", line.source)
    if plan.name != example.name:
        source = page.text("example_other", meter=page.names[plan.name], source=source)
    return (source, quantity,
            page.bracket_header(bracket, plan) if bracket else none,
            page.price_cell(bracket, plan) if bracket else none,
            page.money(line.amount))


def example_explanation(
    page: Page, plan: MeterPlan, lines: Sequence[BillLine], total: Decimal
) -> Rich | None:
    """Which quantity chose the bracket, and how the postpaid amount follows from it."""
    ladder = plan.ladder
    postpaid = [line for line in lines if line.source == "postpaid"]
    if ladder is None or not postpaid:
        return None
    from_allowance = sum((x.quantity for x in lines if x.source == "allowance"), ZERO)
    from_packs = sum((x.quantity for x in lines if x.source == "pack"), ZERO)
    postpaid_quantity = sum((x.quantity for x in postpaid), ZERO)
    words = page.meter_words(plan)
    if len(ladder.brackets) == 1:
        only = ladder.brackets[0]
        return page.fmt("example_single", basis=page.count(postpaid_quantity, plan),
                        price=page.price_cell(only, plan),
                        amount=amount_phrase(page, postpaid[0], only, plan), **words)
    if ladder.basis == BASIS_TOTAL:
        which = page.fmt("which_total", basis=page.count(total, plan), **words)
    elif ladder.basis == BASIS_AFTER_ALLOWANCE:
        which = page.fmt("which_after_allowance",
                         basis=page.count(total - from_allowance, plan), **words)
    else:
        parts = []
        if from_allowance:
            parts.append(page.text("part_allowance", count=page.count(from_allowance, plan)))
        if from_packs:
            parts.append(page.text("part_packs", count=page.count(from_packs, plan)))
        key = "which_postpaid" if parts else "which_postpaid_all"
        which = page.fmt(key, basis=page.count(postpaid_quantity, plan),
                         total=page.count(total, plan),
                         parts=joined(parts, page.m["and_sep"]), **words)
    if ladder.mode == GRADUATED:
        segments = []
        for line in postpaid:
            bracket = _line_bracket(plan, line)
            if bracket is None:
                continue
            free = bracket.price is not None and not bracket.price and not bracket.flat
            segments.append(page.fmt("example_segment_free" if free else "example_segment",
                                     count=page.count(line.quantity, plan),
                                     bracket=page.bracket_header(bracket, plan),
                                     price=page.price_cell(bracket, plan)))
        return page.fmt("example_graduated", which=which,
                        segments=joined(segments, page.m["list_sep"]))
    line = postpaid[0]
    bracket = _line_bracket(plan, line)
    if bracket is None:
        return None
    return page.fmt("example_volume", which=which, **words,
                    bracket=page.bracket_header(bracket, plan),
                    price=page.price_cell(bracket, plan),
                    amount=amount_phrase(page, line, bracket, plan))


def amount_phrase(page: Page, line: BillLine, bracket: Bracket, plan: MeterPlan) -> str:
    """`899,000 × 0.002元 = 1798.00元` (with the billed amount when rounding changes it)."""
    rounded = page.money(line.amount)
    if bracket.flat or bracket.block is not None or bracket.price is None:
        return rounded
    if plan.display_size is not None:
        # In the display unit: `300 × 3.2元 = 960.00元`, when both are exact there.
        price, _, rough = shown_price(bracket.price, bracket.per, plan)
        quantity, approximate = shown_quantity(line.quantity, plan)
        if rough or approximate:
            return rounded
        return _product(page, quantity, price, line, rounded)
    if bracket.per != 1:
        return rounded
    return _product(page, line.quantity, bracket.price, line, rounded)


def _product(page: Page, quantity: Decimal, price: Decimal, line: BillLine, rounded: str) -> str:
    precise = line.precise_amount
    shown = rounded if precise == line.amount else page.money(_plain_decimal(precise))
    phrase = f"{format_count(quantity, page.lang)} × {page.money(price)} = {shown}"
    if precise != line.amount:
        phrase += page.text("example_rounded", amount=rounded)
    return phrase


def _example(
    book: PriceBook,
) -> tuple[MeterPlan, dict[str, Decimal], HeldPack | None, Bill] | None:
    """A month of usage for one meter, quoted by the evaluator: the first that reaches a
    priced postpaid bracket (else the first that quotes at all).

    Meters with the most actions come first (they show actions counting together); the month
    holds the largest pack of at most half its total, to show the deduction order.
    """
    if book.subscriptions:  # the example is a meter's usage: its quote leaves fees out
        book = attrs.evolve(book, subscriptions=())
    plans = sorted(book.meters, key=lambda p: (
        p.ladder is None, p.ladder is not None and p.ladder.period != "month", -len(p.actions)))
    fallback = None
    for plan in plans:
        if not plan.actions:
            continue
        free = plan.allowance
        if plan.allowance_pool is not None:
            free = book.allowance_pools.get(plan.allowance_pool, ZERO)
        # Round totals in the unit the sheet shows (hours for a meter counted in seconds).
        scale = plan.display_size or Decimal(1)
        totals = [t * scale for t in map(Decimal, _EXAMPLE_TOTALS) if t * scale > free] or [
            free * 3]
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


def _line_bracket(plan: MeterPlan, line: BillLine) -> Bracket | None:
    if plan.ladder is None:
        return None
    for bracket in plan.ladder.brackets:
        if bracket.label == line.bracket:
            return bracket
    return None


def _plain_decimal(value: Decimal) -> Decimal:
    return value.normalize() if value != value.to_integral_value() else value.quantize(
        Decimal(1))
