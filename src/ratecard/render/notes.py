"""The notes block of the prices part: actions that count together or for free, unpriced
actions, the deduction order, suspension, the monthly bill, rounding and the timezone."""

from __future__ import annotations

from collections.abc import Mapping

from ratecard.engine.money import EXACT
from ratecard.engine.pricebook import MeterPlan
from ratecard.render import packs
from ratecard.render.filters import format_count, shown_quantity
from ratecard.render.page import Page
from ratecard.render.view import Block, Rich, code, joined


def notes_block(page: Page) -> Block:
    book = page.book
    bullets: list[Rich] = []
    for plan in book.meters:
        actions = [code(a) for a in plan.actions]
        name = page.names[plan.name]
        count = _count_word(len(actions), page.lang)
        if plan.free_actions:
            free = page.join([code(a) for a in plan.free_actions])
            key = "note_free_many" if len(actions) > 1 else "note_free_one"
            verb = page.m["verb_many" if len(plan.free_actions) > 1 else "verb_one"]
            bullets.append(page.fmt(key, meter=name, actions=page.join(actions),
                                    count=count, free=free, noun=page.noun_for(plan),
                                    verb=verb))
        elif len(actions) > 1:
            shared = []
            if plan.ladder is not None:
                shared.append(page.text("note_shared_ladder", noun=page.noun_for(plan)))
            if plan.packs:
                shared.append(page.m["note_shared_packs"])
            bullets.append(page.fmt(
                "note_shared", meter=name, actions=page.join(actions), count=count,
                noun=page.noun_for(plan),
                shared=page.join(shared) if shared else page.m["none"],
            ))
    reasons: dict[str, list[str]] = {}
    for action, labels in book.unpriced.items():
        reason = (page.label(labels, f"the reason `{action}` is unpriced", "")
                  if labels else "") or page.m["unpriced_reason"]
        reasons.setdefault(reason, []).append(action)
    for reason, unpriced in reasons.items():
        bullets.append(page.fmt(
            "note_unpriced" if len(unpriced) > 1 else "note_unpriced_one",
            actions=page.join([code(a) for a in unpriced]), reason=reason))
    order = page.sources()
    if len(order) > 1:
        # The free quota is a "free pack" only beside paid packs.
        names = [page.m["source_allowance_quota" if source == "allowance" and not page.has_packs
                        else f"source_{source}"] for source in order]
        bullets.append(page.fmt("note_order", order=joined(names, page.m["order_sep"]),
                                first=names[0]))
    billing = book.billing
    if billing.allowance_while_active and page.has_allowance:
        why = [page.m[f"reason_{r}"] for r in billing.suspend_reasons
               if f"reason_{r}" in page.m]
        bullets.append(page.fmt("note_suspend", reasons=joined(why, page.m["or_sep"]))
                       if why else page.fmt("note_suspend_plain"))
    settle = page.m["note_bill_settle"] if billing.settle_from_balance else ""
    bill = page.fmt("note_bill", day=str(billing.issued_day), settle=settle)
    if billing.settle_from_balance and "arrears" in billing.suspend_reasons:
        bill = page.paragraph([bill, page.fmt("note_arrears")])
    if billing.skip_empty:
        bill = page.paragraph([bill, page.fmt("note_skip_empty")])
    bullets.append(bill)
    daily = [plan for plan in book.meters if plan.name in billing.daily]
    if daily:  # (`bill per day on ...`)
        bullets.append(page.fmt("note_bill_daily", meters=page.meter_list(daily),
                                settle=settle))
    if page.has_packs:
        restriction = packs.pack_restriction(page, "note")
        if restriction is not None:
            bullets.append(restriction)
    # Meters rounded alike share one note; an increment that is no round number of the display
    # unit (1 second of an hour) is shown in the metered unit.
    rounded: dict[tuple[str, str], list[MeterPlan]] = {}
    for plan in book.meters:
        if plan.quantity_rounding is not None:
            alike = (plan.quantity_rounding.mode, _increment(page, plan))
            rounded.setdefault(alike, []).append(plan)
    for (mode, increment), plans in rounded.items():
        bullets.append(page.fmt(
            "quantity_rounding", meter=page.meter_list(plans),
            mode=page.m[f"rounding_{mode}"], increment=increment))
    for plan in book.meters:
        if plan.entry_minimum is not None and plan.entry_minimum_wording:
            bullets.append(page.fmt(
                "entry_minimum_worded", meter=page.names[plan.name],
                wording=page.label(plan.entry_minimum_wording,
                                   f"meter `{plan.name}`'s minimum", "")))
        elif plan.entry_minimum is not None:
            bullets.append(page.fmt("entry_minimum", meter=page.names[plan.name],
                                    amount=page.count(plan.entry_minimum, plan)))
        if plan.amount_rounding is not None:
            bullets.append(page.fmt(
                "amount_rounding", meter=page.names[plan.name],
                mode=page.m[f"rounding_{plan.amount_rounding.mode}"],
                increment=page.money(plan.amount_rounding.increment)))
    rounding = book.rounding
    if rounding.scope == EXACT:
        # (A meter that rounds its own lines, `amount rounded`, says so above.)
        bullets.append(page.fmt(
            "note_rounding_exact_other"
            if any(plan.amount_rounding is not None for plan in book.meters)
            else "note_rounding_exact"))
    else:
        key = "note_rounding" if rounding.per_line else "note_rounding_total"
        bullets.append(page.fmt(key, mode=page.m[f"rounding_{rounding.mode}"],
                                increment=page.money(rounding.increment)))
    bullets.append(page.fmt("note_timezone", zone=code(book.timezone)))
    return Block("notes", page.m["notes"], bullets=tuple(bullets))


def _increment(page: Page, plan: MeterPlan) -> str:
    assert plan.quantity_rounding is not None
    increment = plan.quantity_rounding.increment
    if shown_quantity(increment, plan)[1]:  # (≈: not exact in the display unit)
        unit = page.label(plan.unit, f"the unit of meter `{plan.name}`", "unit")
        return format_count(increment, page.lang, unit)
    return page.count(increment, plan)


_SMALL_NUMBERS: Mapping[str, tuple[str, ...]] = {
    "zh": ("零", "一", "两", "三", "四", "五", "六", "七", "八", "九", "十"),
    "en": ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"),
}


def _count_word(number: int, lang: str) -> str:
    """A small count in words: 两 / two; digits from eleven on."""
    words = _SMALL_NUMBERS[lang]
    return words[number] if 0 <= number < len(words) else str(number)
