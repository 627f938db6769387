"""Syntax tree → PriceBook: the evaluator objects, built once a tree has no errors."""

from __future__ import annotations

from decimal import Decimal

from ratecard import nodes as n
from ratecard.check import VALIDITY_UNITS, symbols
from ratecard.diagnostics import Diagnostic
from ratecard.engine.ladders import BLOCK_UP, Bracket, Ladder
from ratecard.engine.money import ZERO, Rounding
from ratecard.engine.pricebook import (
    FREE,
    AlertPolicy,
    BillingPolicy,
    MeterPlan,
    PackOffer,
    PackPolicy,
    PriceBook,
)
from ratecard.engine.pricing import LadderGroup

# A meter without `unit` counts calls, named in each declared language.
DEFAULT_UNIT = {"zh": "次", "en": "call"}


def _value(number: n.Number) -> Decimal:
    assert number.value is not None, "compile runs only on checked trees"
    return number.value


def _texts(label: n.Label | None) -> tuple[str, ...]:
    return tuple(t.value for t in label.texts) if label is not None else ()


def compile_rules(rules: n.Rules, warnings: tuple[Diagnostic, ...] = ()) -> PriceBook:
    """The PriceBook of a tree that `check` found no errors in."""
    table = symbols(rules)
    header = table.of(n.RulesDecl)[0]
    currency = table.of(n.CurrencySetting)[0].code.value
    rounding_node = table.of(n.RoundingSetting)[0]
    rounding = Rounding(rounding_node.mode.value, _value(rounding_node.increment).normalize())
    timezone = table.of(n.TimezoneSetting)[0].zone.value

    allowances: dict[str, Decimal] = {}
    pools: dict[str, Decimal] = {}
    pool_of: dict[str, str] = {}
    while_active = False
    for allowance in table.of(n.Allowance):
        while_active = while_active or allowance.while_active
        names = table.target_names(allowance.target)
        if allowance.shared:
            pool = "+".join(names)
            pools[pool] = _value(allowance.amount)
            pool_of.update(dict.fromkeys(names, pool))
        else:
            allowances.update(dict.fromkeys(names, _value(allowance.amount)))

    offers: dict[str, list[PackOffer]] = {}
    for packs in table.of(n.Packs):
        sizes = [_value(size) for size in packs.sizes]
        for row in packs.rows:
            offers[row.meter.value] = sorted(
                (
                    PackOffer(size, _value(cell))
                    for size, cell in zip(sizes, row.cells, strict=False)
                    if isinstance(cell, n.Number)
                ),
                key=lambda offer: offer.size,
            )

    groups = tuple(
        LadderGroup(_ladder(node), tuple(table.target_names(node.target)))
        for node in table.of(n.Ladder)
    )
    ladders = {meter: group.ladder for group in groups for meter in group.meters}
    meters = tuple(
        MeterPlan(
            name=meter.name.value,
            labels=_texts(meter.label),
            unit=(_texts(meter.units[0]) if meter.units
                  else tuple(DEFAULT_UNIT.get(lang, "call") for lang in table.languages)),
            actions=tuple(a.value for a in meter.counts),
            free_actions=tuple(a.value for a in meter.free),
            allowance=allowances.get(meter.name.value, ZERO),
            ladder=ladders.get(meter.name.value),
            packs=tuple(offers.get(meter.name.value, ())),
            quantity_rounding=_quantity_rounding(meter),
            allowance_pool=pool_of.get(meter.name.value),
        )
        for meter in table.meters.values()
    )
    routes: dict[str, str] = {}
    for plan in meters:
        routes.update(dict.fromkeys(plan.actions, plan.name))
        routes.update(dict.fromkeys(plan.free_actions, FREE))
    unpriced = {
        action.value: _texts(statement.reason)
        for statement in table.of(n.Unpriced)
        for action in statement.actions
    }
    return PriceBook(
        name=header.name.value,
        labels=_texts(header.label),
        languages=table.languages,
        currency=currency,
        rounding=rounding,
        timezone=timezone,
        meters=meters,
        routes=routes,
        unpriced=unpriced,
        deduct_order=_deduct_order(table.of(n.Deduct)),
        packs=_pack_policy(table.of(n.Packs), table.of(n.Deduct)),
        alerts=_alert_policy(table.of(n.Alert)),
        billing=BillingPolicy(
            issued_day=_issued_day(table.of(n.Bill)),
            settle_from_balance=any(b.settle_from_balance for b in table.of(n.Bill)),
            suspend_reasons=tuple(r.value for s in table.of(n.Suspend) for r in s.reasons),
            allowance_while_active=while_active,
        ),
        ladder_groups=groups,
        allowance_pools=pools,
        warnings=warnings,
    )


def _quantity_rounding(meter: n.Meter) -> Rounding | None:
    if not meter.quantity_roundings:
        return None
    node = meter.quantity_roundings[0]
    return Rounding(node.mode.value, _value(node.increment).normalize())


def _ladder(ladder: n.Ladder) -> Ladder:
    brackets = []
    for bracket in ladder.brackets:
        price: Decimal | None = None
        per = Decimal(1)
        flat = ZERO
        block: Decimal | None = None
        block_rounding = BLOCK_UP
        for term in bracket.terms:
            if isinstance(term, n.UnitPrice):
                price = _value(term.amount)
                per = _value(term.per) if term.per is not None else per
            elif isinstance(term, n.BlockPrice):
                price = _value(term.amount)
                block = _value(term.size)
                block_rounding = term.rounding.value
            else:
                flat = _value(term.amount)
        if bracket.contact_sales is None and price is None:
            price = ZERO  # a bracket with only a flat fee
        assert isinstance(bracket.lo, n.Number)
        hi = _value(bracket.hi) if isinstance(bracket.hi, n.Number) else None
        brackets.append(
            Bracket(_value(bracket.lo), hi, price, per, flat, block, block_rounding)
        )
    assert ladder.basis is not None
    return Ladder(
        ladder.mode.value,
        ladder.basis.value,
        tuple(brackets),
        _value(ladder.minimums[0].amount) if ladder.minimums else None,
        _value(ladder.maximums[0].amount) if ladder.maximums else None,
        flat_at_zero=ladder.flat_at_zero,
        period=ladder.period.unit.value,
        combined=ladder.combined,
    )


def _deduct_order(deducts: list[n.Deduct]) -> tuple[str, ...]:
    if not deducts:
        return ("postpaid",)
    return tuple(step.source.value for step in deducts[0].steps)


def _pack_policy(packs: list[n.Packs], deducts: list[n.Deduct]) -> PackPolicy:
    order = "expiry"
    for step in deducts[0].steps if deducts else ():
        if step.source.value == "packs" and step.order is not None:
            order = step.order.value
    if not packs:
        return PackPolicy(order=order)
    valid = packs[0].valid[0]
    restrictions = {r.what.value for table in packs for r in table.restrictions}
    return PackPolicy(
        valid_amount=int(_value(valid.amount)),
        valid_unit=VALIDITY_UNITS[valid.unit.value],
        order=order,
        refundable="refund" not in restrictions,
        frozen_after_expiry="freeze" not in restrictions,
    )


def _alert_policy(alerts: list[n.Alert]) -> AlertPolicy:
    low: Decimal | None = None
    exhausted = expired = False
    for condition in (c for alert in alerts for c in alert.conditions):
        words = tuple(w.value for w in condition.words)
        if condition.percent is not None:
            low = condition.percent.value
        elif words == ("pack", "exhausted"):
            exhausted = True
        elif words == ("pack", "expired"):
            expired = True
    return AlertPolicy(low, exhausted, expired)


def _issued_day(bills: list[n.Bill]) -> int:
    for bill in bills:
        if bill.issued_day is not None:
            return int(_value(bill.issued_day))
    return 1
