"""Syntax tree → PriceBook: the evaluator objects, built once a tree has no errors."""

from __future__ import annotations

import itertools
from datetime import date
from decimal import Decimal

import attrs

from ratecard import nodes as n
from ratecard import versions
from ratecard.check import RATE_UNITS, VALIDITY_UNITS, Symbols, symbols
from ratecard.diagnostics import Diagnostic
from ratecard.engine.credits import CreditPlan
from ratecard.engine.deduction import MONTHLY, ONCE, GrantPlan
from ratecard.engine.ladders import BLOCK_UP, VOLUME, Bracket, Ladder
from ratecard.engine.money import EXACT, ON_TOTAL, PER_LINE, ZERO, Rounding
from ratecard.engine.offers import FREE, PackOffer
from ratecard.engine.pricebook import (
    AlertPolicy,
    BillingPolicy,
    ContractTerms,
    MeterPlan,
    OrderPlan,
    PackPolicy,
    PackTerms,
    PriceBook,
    Segment,
)
from ratecard.engine.pricing import LadderGroup
from ratecard.engine.requests import PriceTable, PropertyPlan, RequestPlan, RulePlan
from ratecard.engine.subscriptions import SubscriptionPlan

# A meter without `unit` counts calls, named in each declared language.
DEFAULT_UNIT = {"zh": "次", "en": "call"}
# An order without `unit` buys units (licences, devices).
ORDER_UNIT = {"zh": "个", "en": "unit"}


def _value(number: n.Number) -> Decimal:
    assert number.value is not None, "compile runs only on checked trees"
    return number.value


def _texts(label: n.Label | None) -> tuple[str, ...]:
    return tuple(t.value for t in label.texts) if label is not None else ()


def compile_rules(rules: n.Rules, warnings: tuple[Diagnostic, ...] = ()) -> PriceBook:
    """The PriceBook of a tree that `check` found no errors in: the sheet as first written, with
    the sheets of its dated versions in its timeline."""
    sheets = versions.timeline(rules)
    first = _compile_sheet(sheets[0][1], warnings)
    segments = []
    for version, sheet in sheets[1:]:
        assert version is not None and version.start.value is not None
        segments.append(_segment(version, _compile_sheet(sheet, warnings, version.start.value)))
    return attrs.evolve(first, timeline=tuple(segments)) if segments else first


def _segment(version: n.Version, book: PriceBook) -> Segment:
    keep = version.keep
    assert version.start.value is not None
    return Segment(
        version.start.value, book,
        None if keep is None else keep.before.value,
        None if keep is None else keep.until.value,
    )


def compile_contract(
    contract: n.Rules, sheet: n.Rules, warnings: tuple[Diagnostic, ...] = ()
) -> PriceBook:
    """The PriceBook of a sheet billed under a contract (both checked, without errors): the
    sheet's timeline, with the days inside the contract's term priced by the sheet of that day
    with the contract's prices restated, its extra allowance added and its terms attached."""
    parts = versions.contract_parts(contract)
    assert parts.term is not None and parts.term.start.value is not None
    start = parts.term.start.value
    end = None if parts.term.until is None else parts.term.until.value
    sheet_days = versions.timeline(sheet)
    plain = [
        _compile_sheet(tree, warnings, None if version is None else version.start.value)
        for version, tree in sheet_days
    ]
    meters = versions.meter_names(sheet)
    terms = ContractTerms(
        name=parts.header.name.value,
        labels=_texts(parts.header.label),
        accounts=tuple(a.value for a in parts.accounts),
        start=start,
        end=end,
        discounts={
            meter: discount.percent.value.normalize()
            for discount in parts.discounts
            for meter in versions.targets(discount.target, meters)
        },
        minimum=None if parts.minimum is None else _value(parts.minimum.amount),
        file=contract.file,
    )
    extra: dict[str, Decimal] = {}
    for allowance in parts.extra:
        for meter in versions.targets(allowance.target, meters):
            extra[meter] = extra.get(meter, ZERO) + _value(allowance.amount)

    def on(index: int, day: date | None) -> PriceBook:
        version, tree = sheet_days[index]
        if day is None or day < start or (end is not None and day >= end):
            return plain[index]
        merged, _ = versions.contract_sheet(tree, parts)
        book = _compile_sheet(merged, warnings,
                              None if version is None else version.start.value)
        return attrs.evolve(_with_extra(book, extra), contract=terms)

    version_days = [version.start.value for version, _ in sheet_days[1:]
                    if version is not None and version.start.value is not None]
    days = sorted({*version_days, start, *(() if end is None else (end,))})
    segments: list[Segment] = []
    for day in days:
        index = sum(1 for v in version_days if v <= day)
        version = sheet_days[index][0]
        keep = version.keep if version is not None and version.start.value == day else None
        segments.append(Segment(day, on(index, day),
                                None if keep is None else keep.before.value,
                                None if keep is None else keep.until.value))
    return attrs.evolve(on(0, None), timeline=tuple(segments))


def _with_extra(book: PriceBook, extra: dict[str, Decimal]) -> PriceBook:
    """A book whose meters have `extra` units of allowance each month (a meter in a shared
    allowance adds them to the pool)."""
    if not extra:
        return book
    pools = dict(book.allowance_pools)
    meters = []
    for plan in book.meters:
        units = extra.get(plan.name, ZERO)
        if plan.allowance_pool is not None and plan.allowance_pool in pools:
            pools[plan.allowance_pool] += units
            meters.append(plan)
        else:
            meters.append(attrs.evolve(plan, allowance=plan.allowance + units))
    return attrs.evolve(book, meters=tuple(meters), allowance_pools=pools)


def _compile_sheet(
    rules: n.Rules, warnings: tuple[Diagnostic, ...], version: date | None = None
) -> PriceBook:
    """The PriceBook of one whole sheet (no versions)."""
    table = symbols(rules)
    header = table.of(n.RulesDecl)[0]
    currency = table.of(n.CurrencySetting)[0].code.value
    rounding_node = table.of(n.RoundingSetting)[0]
    rounding = _rounding(rounding_node)
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
    pack_terms: dict[str, PackTerms] = {}
    for packs in table.of(n.Packs):
        terms = _pack_terms(packs)
        for row in packs.rows:
            sizes = [_value(size) for size in packs.row_sizes(row)]
            pack_terms[row.meter.value] = terms
            offers[row.meter.value] = sorted(
                (
                    PackOffer(size, None if isinstance(cell, n.ContactSalesCell)
                              else _value(cell))
                    for size, cell in zip(sizes, row.cells, strict=False)
                    if isinstance(cell, n.Number | n.ContactSalesCell)
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
            display_unit=_texts(meter.display_units[0].label) if meter.display_units else (),
            display_size=(_value(meter.display_units[0].size)
                          if meter.display_units else None),
            pack_terms=pack_terms.get(meter.name.value, PackTerms()),
            entry_minimum=(_value(meter.entry_minimums[0].amount) if meter.entry_minimums
                           else None),
            entry_minimum_wording=(_texts(meter.entry_minimums[0].wording)
                                   if meter.entry_minimums and meter.entry_minimums[0].wording
                                   else ()),
            count_scales=tuple(
                (action.value, _value(meter.display_units[0].size))
                for counted in meter.count_units for action in counted.actions
            ) if meter.display_units else (),
            amount_rounding=_amount_rounding(meter),
        )
        for meter in table.meters.values()
    )
    meters, cells, price_tables = _price_cells(table, meters)
    groups += tuple(LadderGroup(plan.ladder, (plan.name,)) for plan in meters
                    if plan.ladder is not None and plan.name not in ladders)
    line_roundings = {plan.name: plan.amount_rounding for plan in meters
                      if plan.amount_rounding is not None}
    if line_roundings:
        groups = tuple(
            attrs.evolve(group, roundings=tuple(
                (meter, line_roundings[meter]) for meter in group.meters
                if meter in line_roundings))
            for group in groups)
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
            skip_empty=any(b.skip_empty for b in table.of(n.Bill)),
            daily=_daily_billed(table),
        ),
        ladder_groups=groups,
        allowance_pools=pools,
        orders=tuple(_order(order, table.languages) for order in table.of(n.Order)),
        subscriptions=(
            *(_subscription(plan, table.languages, tuple(table.meters))
              for plan in table.of(n.Subscription)),
            *(_fee(fee, table.languages) for fee in table.of(n.Fee)),
        ),
        grants=tuple(_grant(grant, list(table.meters)) for grant in table.of(n.Grant)),
        credits=tuple(_credit(credit, list(table.meters), rank)
                      for rank, credit in enumerate(table.of(n.Credit))),
        requests={r.name.value: _request(r, cells, [*table.of(n.Modifier), *table.of(n.Above)])
                  for r in table.of(n.Request)},
        price_tables=price_tables,
        warnings=warnings,
        version=version,
    )


#: A request quantity priced by a table: (request, meter) → (property, value → the cell meter
#: of each set of variants, `()` the base price).
Cells = dict[tuple[str, str], tuple[str, dict[str, dict[tuple[str, ...], str]]]]


def _condition(condition: n.PropertyCondition) -> tuple[str, str | bool]:
    value = condition.value
    return condition.property.value, (value.value == "true" if isinstance(value, n.Name)
                                      else value.value)


def _price_cells(
    table: Symbols, meters: tuple[MeterPlan, ...]
) -> tuple[tuple[MeterPlan, ...], Cells, tuple[PriceTable, ...]]:
    """The meters with each one a price table prices replaced by its cells: one meter per
    value of the table's property (`input[claude-opus-4-6]`) and per set of the modifiers and
    thresholds that change its price (`input[claude-opus-4-6+batch+long_context]`), at its
    flat price: the row's (a derived column's: the base column's price times its factor, unless
    the row states one), or a threshold's table's, times each modifier's factor in order."""
    priced: dict[str, list[MeterPlan]] = {}
    cells: Cells = {}
    tables: list[PriceTable] = []
    by_name = {plan.name: plan for plan in meters}
    for prices in table.of(n.Prices):
        per = _value(prices.per) if prices.per is not None else Decimal(1)
        columns = [m.value for m in prices.meters]
        derived = {d.meter.value: d for d in prices.derivations}
        names = (*columns, *(d for d in derived if d not in columns))
        base = _table_prices(columns, derived, prices.rows, {})
        mods = [m for m in table.of(n.Modifier) if m.meters and m.meters[0].value in names]
        aboves = [a for a in table.of(n.Above) if a.meters and a.meters[0].value in names]
        repriced = {a.name.value: _table_prices([m.value for m in a.meters], derived, a.rows,
                                                base) for a in aboves}
        prop = prices.property.value
        for name in names:
            plan = by_name[name]
            by_value: dict[str, dict[tuple[str, ...], str]] = {}
            for row in prices.rows:
                value = row.value.value
                # (in the order of the request's rules: modifiers, then thresholds)
                affecting = [m.name.value for m in mods
                             if name in {x.value for x in m.meters}
                             and all(_condition(c)[1] == value for c in m.conditions
                                     if c.property.value == prop)]
                affecting += [a.name.value for a in aboves
                              if (name, value) in repriced[a.name.value]]
                variants: dict[tuple[str, ...], str] = {}
                for size in range(len(affecting) + 1):
                    for chosen in itertools.combinations(affecting, size):
                        threshold = next((t for t in chosen if t in repriced), None)
                        if sum(t in repriced for t in chosen) > 1:
                            continue  # (one threshold applies: the first whose test holds)
                        price = (base if threshold is None else repriced[threshold])[
                            (name, value)]
                        for m in mods:
                            if m.name.value in chosen:
                                price = _trimmed(price * _value(m.factor))
                        cell = f"{name}[{'+'.join((value, *chosen))}]"
                        variants[chosen] = cell
                        priced.setdefault(name, []).append(attrs.evolve(
                            plan, name=cell,
                            labels=tuple(" · ".join((label, value, *chosen))
                                         for label in plan.labels),
                            ladder=Ladder(VOLUME, "postpaid", (Bracket(ZERO, None, price, per),),
                                          short=True),
                        ))
                by_value[value] = variants
            cells[(prices.request.value, name)] = (prop, by_value)
        tables.append(PriceTable(
            prices.request.value, prop, names,
            tuple((row.value.value, tuple(f"{m}[{row.value.value}]" for m in names))
                  for row in prices.rows),
            tuple(attrs.evolve(_variant(prop, m.name.value, m.label, [x.value for x in m.meters],
                                        tuple(r for r in prices.rows if all(
                                            _condition(c)[1] == r.value.value
                                            for c in m.conditions
                                            if c.property.value == prop)), names),
                               rule=_rule(m), factor=_value(m.factor)) for m in mods)
            + tuple(attrs.evolve(_variant(prop, a.name.value, a.label,
                                          [x.value for x in a.meters], a.rows, names),
                                 rule=_rule(a)) for a in aboves)))
    if not priced:
        return meters, cells, ()
    return (tuple(cell for plan in meters for cell in priced.get(plan.name, (plan,))), cells,
            tuple(tables))


def _trimmed(price: Decimal) -> Decimal:
    """A computed price without the trailing zeros a product adds (37.50 × 0.5 = 18.750 is
    shown 18.75); whole prices keep no exponent (5.0 is 5, not 5E+0)."""
    trimmed = price.normalize()
    exponent = trimmed.as_tuple().exponent
    assert isinstance(exponent, int), "a price is finite"
    return trimmed if exponent <= 0 else trimmed.quantize(Decimal(1))


def _variant(prop: str, name: str, label: n.Label | None, columns: list[str],
             rows: tuple[n.PriceRow, ...], names: tuple[str, ...]) -> PriceTable:
    """A modifier's or threshold's own table for the sheet: its meters across, the rows it
    applies to down, each cell the meter of that variant alone."""
    return PriceTable(name, prop, tuple(m for m in names if m in columns), tuple(
        (row.value.value, tuple(f"{m}[{row.value.value}+{name}]" for m in names
                                if m in columns)) for row in rows), (), _texts(label))


def _table_prices(
    columns: list[str], derived: dict[str, n.PriceDerivation], rows: tuple[n.PriceRow, ...],
    base: dict[tuple[str, str], Decimal],
) -> dict[tuple[str, str], Decimal]:
    """Each (meter, value) a table prices: its stated cells, and the derived columns of a
    column it states (unless it states them too). With `base` (a threshold's table over the
    base table's prices), only the cells it changes."""
    found: dict[tuple[str, str], Decimal] = {}
    for row in rows:
        value = row.value.value
        stated = {c: _value(cell) for c, cell in zip(columns, row.cells, strict=True)
                  if isinstance(cell, n.Number)}
        for column, price in stated.items():
            found[(column, value)] = price
        for column, rule in derived.items():
            if column in stated or rule.base.value not in stated:
                continue
            if base and (column, value) in base and rule.base.value not in columns:
                continue
            found[(column, value)] = _trimmed(stated[rule.base.value] * _value(rule.factor))
    return found


def _request(request: n.Request, cells: Cells, rules: list[n.Modifier | n.Above]) -> RequestPlan:
    properties: dict[str, PropertyPlan] = {}
    for prop in request.properties:
        default: str | bool | None = None
        if prop.type is not None and prop.default is not None:
            default = prop.default.value == "true"
        elif prop.default is not None:
            default = prop.default.value
        properties[prop.name.value] = PropertyPlan(
            prop.name.value,
            None if prop.type is not None else tuple(v.value for v in prop.values),
            default,
        )
    quantities = {q.name.value: q.meter.value for q in request.quantities}
    mine = [r for r in rules if any(meter == m.value for m in r.meters
                                    for meter in quantities.values())]
    return RequestPlan(
        request.name.value,
        _texts(request.label),
        quantities,
        properties,
        {q.name.value: cells[(request.name.value, q.meter.value)]
         for q in request.quantities if (request.name.value, q.meter.value) in cells},
        tuple(_rule(r) for r in mine),
        tuple((c.meter.value, tuple(w.value for w in c.when),
               None if c.unless is None else c.unless.value) for c in request.charges),
    )


def _rule(rule: n.Modifier | n.Above) -> RulePlan:
    return RulePlan(
        rule.name.value, tuple(_condition(c) for c in rule.conditions),
        tuple(q.value for q in rule.sums[0].quantities) if isinstance(rule, n.Above) else (),
        isinstance(rule, n.Above) and rule.sums[0].strict,
        _value(rule.sums[0].limit) if isinstance(rule, n.Above) else None,
    )


def _order(order: n.Order, languages: tuple[str, ...]) -> OrderPlan:
    shape = n.Ladder(n.Name("volume", order.name.span), n.Name("total", order.name.span),
                     n.Period(n.Name("month", order.name.span), order.span),
                     n.Target(False, (), order.span), False, order.brackets, (), (), False,
                     order.span)
    return OrderPlan(
        name=order.name.value,
        labels=_texts(order.label),
        unit=(_texts(order.units[0]) if order.units
              else tuple(ORDER_UNIT.get(lang, "unit") for lang in languages)),
        minimum=_value(order.minimums[0].amount) if order.minimums else Decimal(1),
        ladder=_ladder(shape),
    )


def _rounding(node: n.RoundingSetting) -> Rounding:
    """A bill's rounding; `rounding exact` shows money to the currency's cent when that loses
    nothing (its increment rounds nothing)."""
    if node.mode.value == EXACT:
        return Rounding(EXACT, Decimal("0.01"), EXACT)
    assert node.increment is not None
    scope = ON_TOTAL if node.scope is not None and node.scope[1].value == "total" else PER_LINE
    return Rounding(node.mode.value, _value(node.increment).normalize(), scope)


def _quantity_rounding(meter: n.Meter) -> Rounding | None:
    if not meter.quantity_roundings:
        return None
    node = meter.quantity_roundings[0]
    return Rounding(node.mode.value, _value(node.increment).normalize())


def _amount_rounding(meter: n.Meter) -> Rounding | None:
    """`amount rounded half_up to 0.000001`: the meter's lines rounded so, each on its own."""
    if not meter.amount_roundings:
        return None
    node = meter.amount_roundings[0]
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
            Bracket(_value(bracket.lo), hi, price, per, flat, block, block_rounding,
                    closed_low=bracket.open.value == "[")
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
        short=ladder.short,
    )


def _subscription(
    plan: n.Subscription, languages: tuple[str, ...], meters_declared: tuple[str, ...]
) -> SubscriptionPlan:
    shape = n.Ladder(n.Name("volume", plan.name.span), n.Name("total", plan.name.span),
                     n.Period(n.Name("month", plan.name.span), plan.span),
                     n.Target(False, (), plan.span), False, plan.brackets, (), (), False,
                     plan.span)
    covers = plan.covers
    meters = () if covers is None else tuple(covers.target.of(meters_declared))
    return SubscriptionPlan(
        name=plan.name.value,
        labels=_texts(plan.label),
        unit=(_texts(plan.units[0]) if plan.units
              else tuple(ORDER_UNIT.get(lang, "unit") for lang in languages)),
        period=plan.periods[0].unit.value,
        proration=plan.prorations[0].basis.value if plan.prorations else None,
        ladder=_ladder(shape),
        maximum=_value(plan.maximums[0].amount) if plan.maximums else None,
        covers=meters,
        one=covers is not None and covers.one,
        cap=None if covers is None or covers.cap is None else _value(covers.cap),
        rate_seconds=(None if covers is None or covers.per is None
                      else RATE_UNITS[covers.per.value]),
    )


def _fee(fee: n.Fee, languages: tuple[str, ...]) -> SubscriptionPlan:
    return SubscriptionPlan(
        name=fee.name.value,
        labels=_texts(fee.label),
        unit=tuple(ORDER_UNIT.get(lang, "unit") for lang in languages),
        period=fee.period.unit.value,
        proration=None if fee.proration is None else fee.proration.basis.value,
        ladder=Ladder(VOLUME, "total", (Bracket(ZERO, None, _value(fee.amount)),)),
        automatic=True,
    )


def _grant(grant: n.Grant, meters: list[str]) -> GrantPlan:
    valid = grant.valid
    return GrantPlan(
        name=grant.name.value,
        labels=_texts(grant.label),
        amount=_value(grant.amount),
        meters=tuple(grant.target.of(meters)),
        recurrence=ONCE if grant.period is None else MONTHLY,
        valid_amount=None if valid is None else int(_value(valid.amount)),
        valid_unit="year" if valid is None else VALIDITY_UNITS[valid.unit.value],
    )


def _credit(credit: n.Credit, meters: list[str], rank: int) -> CreditPlan:
    assert credit.valid is not None, "the checker requires a credit's validity"
    return CreditPlan(
        name=credit.name.value,
        labels=_texts(credit.label),
        amount=None if credit.amount is None else _value(credit.amount),
        meters=tuple(credit.target.of(meters)),
        valid_amount=int(_value(credit.valid.amount)),
        valid_unit=VALIDITY_UNITS[credit.valid.unit.value],
        rank=rank,
    )


def _deduct_order(deducts: list[n.Deduct]) -> tuple[str, ...]:
    if not deducts:
        return ("postpaid",)
    return tuple(step.source.value for step in deducts[0].steps)


def _pack_terms(packs: n.Packs) -> PackTerms:
    valid = packs.valid[0]
    refund = packs.refunds[0] if packs.refunds else None
    return PackTerms(
        valid_amount=int(_value(valid.amount)),
        valid_unit=VALIDITY_UNITS[valid.unit.value],
        refund_amount=None if refund is None else int(_value(refund.amount)),
        refund_unit="day" if refund is None else VALIDITY_UNITS[refund.unit.value],
        stop_when_exhausted=bool(packs.stops),
    )


def _pack_policy(packs: list[n.Packs], deducts: list[n.Deduct]) -> PackPolicy:
    order = "expiry"
    smallest = False
    for step in deducts[0].steps if deducts else ():
        if step.source.value == "packs" and step.order is not None:
            order = step.order.value
            smallest = step.then is not None
    if not packs:
        return PackPolicy(order=order, smallest_first=smallest)
    valid = packs[0].valid[0]
    restrictions = {r.what.value for table in packs for r in table.restrictions}
    return PackPolicy(
        valid_amount=int(_value(valid.amount)),
        valid_unit=VALIDITY_UNITS[valid.unit.value],
        order=order,
        refundable="refund" not in restrictions,
        frozen_after_expiry="freeze" not in restrictions,
        smallest_first=smallest,
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


def _daily_billed(table: Symbols) -> tuple[str, ...]:
    """The meters of `bill per day on ...`, in the sheet's order."""
    named: set[str] = set()
    for bill in table.of(n.Bill):
        if bill.target is not None and bill.period.unit.value == "day":
            named.update(table.target_names(bill.target))
    return tuple(name for name in table.meters if name in named)


def _issued_day(bills: list[n.Bill]) -> int:
    for bill in bills:
        if bill.issued_day is not None:
            return int(_value(bill.issued_day))
    return 1
