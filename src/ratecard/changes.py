"""What changes from one sheet to the next: structured records of two compiled PriceBooks'
differences in the things a dated version may restate (allowances, packs, ladders).

`changes(old, new)` compares two books of the same rules (usually consecutive books of a
timeline, `book.books[i]` and `book.books[i + 1]`) and returns one `Change` per difference, in
the new book's meter order: for each meter its allowance, then its packs by size, then its
ladder bracket by bracket; the pack terms that hold for every meter come last. The price-change
announcement of a rendered sheet is built from these records, and so is `ratecard diff`.

What a record's `old` and `new` hold depends on `what`:

| what | meter | key | old, new |
|---|---|---|---|
| `allowance` | the meter, or a shared pool `a+b` | — | monthly free units; `None`: no such pool |
| `pack_price` | the meter | the size | the price of a size on sale in both (`CONTACT_SALES`) |
| `pack_added` | the meter | the size | `None`, the price |
| `pack_withdrawn` | the meter | the size | the price, `None` |
| `pack_validity` | `None`, or a meter (see below) | — | `(amount, unit)`: `(1, "year")` |
| `pack_refund` | `None` | — | whether packs can be refunded (`bool`) |
| `pack_freeze` | `None` | — | whether units left at expiry are kept (`bool`) |
| `bracket_price` | the meter | the bracket's index | the `Bracket`s (bounds included) |
| `bracket_bound` | the meter | the bracket's index | its upper bound (`Decimal`) |
| `ladder_minimum` | the meter | — | the period's minimum (`Decimal` or `None`) |
| `ladder_maximum` | the meter | — | the period's maximum (`Decimal` or `None`) |
| `ladder` | the meter | — | the whole `Ladder` (or `None`: no postpaid price) |

A price is `CONTACT_SALES` for a `contact sales` cell. `pack_validity` of `None` is the
validity of the sheet's first pack table; a meter whose own table's validity changes otherwise
has a `pack_validity` record of its own.

A `ladder` record replaces the bracket records when the two ladders cannot be compared bracket
by bracket: a meter gains or loses its ladder, or the number of brackets, the mode, the basis,
the period, `combined` or `charge flat at zero` changes. A bracket record's key is its index, so
that a moved bound and a new price of the same bracket are two records with the same key.

`sheet_changes(old, new)` (used by `ratecard diff`, which compares two different rules files)
adds to these everything else that changes what a sheet bills or what its rendered sheet says:

| what | meter | key | old, new |
|---|---|---|---|
| `rules_name`, `rules_label` | `None` | — | the rules' name (`str`), display names (`tuple`) |
| `languages` | `None` | — | the languages of the labels (`tuple`) |
| `currency`, `timezone` | `None` | — | the code, the zone (`str`) |
| `rounding` | `None` | — | the bill lines' `Rounding` |
| `meter_added`, `meter_removed` | the meter | — | `None` or the meter's name |
| `meter_label`, `meter_unit` | the meter | — | the display names (`tuple`) |
| `meter_display_unit` | the meter | — | `小时 / hour = 3600`: the unit sheets show (`None`: none) |
| `quantity_rounding` | the meter | — | its `Rounding` (or `None`) |
| `allowance_pool` | the meter | — | the shared pool it draws from (`None`: its own) |
| `ladder_group` | the meter | — | the meters a `combined` ladder prices together |
| `action` | the meter it joins or leaves | the action | its meter, `free`, `unpriced`, `None` |
| `unpriced_reason` | `None` | the action | the reason's display names (`tuple`) |
| `deduct_order`, `pack_order` | `None` | — | the sources in order (`tuple`), `expiry`... |
| `alerts` | `None` | — | the `AlertPolicy` |
| `bill_day`, `settle`, `suspend` | `None` | — | issue day (`int`), from balance, reasons |
| `allowance_while_active` | `None` | — | whether the allowance is only for active accounts |
| `skip_empty` | `None` | — | whether a month with nothing owed or reported has no bill |
| `daily_bills` | `None` | — | the meters billed per day (`tuple`, `bill per day on ...`) |
| `order` | `None` | the product (`P`), or `P label`, `P unit`... | `P`, or its changed part |
| `grant` | `None` | `G`, or `G label`, `G units`, `G meters`, `G issued`, `G valid` | as `order` |
| `credit` | `None` | `C`, `C label`, `C amount`, `C meters`, `C valid`, `C priority` | as `order` |

Meters and actions are compared by name, so the order in which a file writes its statements,
meters, actions or brackets' ladders is never a change.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import attrs

from ratecard.engine.deduction import GrantPlan
from ratecard.engine.ladders import Bracket, Ladder
from ratecard.engine.money import ZERO, Rounding
from ratecard.engine.pricebook import AlertPolicy, MeterPlan, PriceBook
from ratecard.engine.subscriptions import SubscriptionPlan
from ratecard.literals import format_plain

ALLOWANCE = "allowance"
PACK_PRICE = "pack_price"
PACK_ADDED = "pack_added"
PACK_WITHDRAWN = "pack_withdrawn"
PACK_VALIDITY = "pack_validity"
PACK_REFUND = "pack_refund"
PACK_FREEZE = "pack_freeze"
BRACKET_PRICE = "bracket_price"
BRACKET_BOUND = "bracket_bound"
LADDER_MINIMUM = "ladder_minimum"
LADDER_MAXIMUM = "ladder_maximum"
LADDER = "ladder"
KINDS = (ALLOWANCE, PACK_PRICE, PACK_ADDED, PACK_WITHDRAWN, PACK_VALIDITY, PACK_REFUND,
         PACK_FREEZE, BRACKET_PRICE, BRACKET_BOUND, LADDER_MINIMUM, LADDER_MAXIMUM, LADDER)
# What `sheet_changes` adds (two different rules files, not two versions of one).
RULES_NAME = "rules_name"
RULES_LABEL = "rules_label"
LANGUAGES = "languages"
CURRENCY = "currency"
TIMEZONE = "timezone"
ROUNDING = "rounding"
METER_ADDED = "meter_added"
METER_REMOVED = "meter_removed"
METER_LABEL = "meter_label"
METER_UNIT = "meter_unit"
METER_DISPLAY_UNIT = "meter_display_unit"
QUANTITY_ROUNDING = "quantity_rounding"
ENTRY_MINIMUM = "entry_minimum"
COUNT_UNITS = "count_units"  # `counts A in hours`: the actions counted in the display unit
AMOUNT_ROUNDING = "amount_rounding"
ALLOWANCE_POOL = "allowance_pool"
LADDER_GROUP = "ladder_group"
ACTION = "action"
UNPRICED_REASON = "unpriced_reason"
DEDUCT_ORDER = "deduct_order"
PACK_ORDER = "pack_order"
ALERTS = "alerts"
BILL_DAY = "bill_day"
SETTLE = "settle"
SUSPEND = "suspend"
ALLOWANCE_WHILE_ACTIVE = "allowance_while_active"
SKIP_EMPTY = "skip_empty"
DAILY_BILLS = "daily_bills"
ORDER = "order"
SUBSCRIPTION = "subscription"
GRANT = "grant"
CREDIT = "credit"
SHEET_KINDS = (RULES_NAME, RULES_LABEL, LANGUAGES, CURRENCY, TIMEZONE, ROUNDING, METER_ADDED,
               METER_REMOVED, METER_LABEL, METER_UNIT, METER_DISPLAY_UNIT, QUANTITY_ROUNDING,
               ENTRY_MINIMUM, COUNT_UNITS, AMOUNT_ROUNDING, ALLOWANCE_POOL, LADDER_GROUP, ACTION,
               UNPRICED_REASON, DEDUCT_ORDER, PACK_ORDER, ALERTS, BILL_DAY, SETTLE, SUSPEND,
               ALLOWANCE_WHILE_ACTIVE, SKIP_EMPTY, DAILY_BILLS, ORDER, SUBSCRIPTION, GRANT, CREDIT)
UNPRICED = "unpriced"  # an `action` record's value: the action is listed as `unpriced`

CONTACT_SALES = "contact sales"  # a pack size's price when it is sold by negotiation
Value = (Decimal | bool | int | str | tuple[int, str] | tuple[str, ...] | Bracket | Ladder
         | Rounding | AlertPolicy | date | None)


@attrs.frozen
class Change:
    """One difference between two sheets: `what` changed for `meter` (None: every meter),
    from `old` to `new`; `key` says which pack size (a `Decimal`), bracket (its index) or
    action (its name)."""

    what: str
    meter: str | None
    old: Value
    new: Value
    key: Decimal | int | str | None = None


def changes(old: PriceBook, new: PriceBook) -> list[Change]:
    """Every difference from `old` to `new` in allowances, packs and ladders (see the module's
    table), in the new book's meter order, the pack terms last. Meters only one of the books
    has (books of different rules) are compared with nothing: each of their prices is added or
    removed."""
    old_meters = {plan.name: plan for plan in old.meters}
    names = [plan.name for plan in new.meters]
    names += [name for name in old_meters if name not in names]
    new_meters = {plan.name: plan for plan in new.meters}
    old_pools, new_pools = _pools(old), _pools(new)
    sheet_validity = ((old.packs.valid_amount, old.packs.valid_unit),
                      (new.packs.valid_amount, new.packs.valid_unit))
    found: list[Change] = []
    seen_pools: set[str] = set()
    for name in names:
        before, after = old_meters.get(name), new_meters.get(name)
        for pool in dict.fromkeys(p.pool for p in (after, before) if p is not None):
            if pool in seen_pools:
                continue
            seen_pools.add(pool)
            amount_before, amount_after = old_pools.get(pool), new_pools.get(pool)
            if amount_before != amount_after:
                found.append(Change(ALLOWANCE, pool, amount_before, amount_after))
        found.extend(_pack_changes(name, before, after, sheet_validity))
        found.extend(_ladder_changes(name, before, after))
    found.extend(_pack_terms(old, new))
    return found


def _pools(book: PriceBook) -> dict[str, Decimal]:
    """Each allowance pool's monthly units: a meter's own (0 for none), or a shared pool's."""
    pools: dict[str, Decimal] = {}
    for plan in book.meters:
        if plan.allowance_pool is not None:
            pools[plan.pool] = book.allowance_pools.get(plan.allowance_pool, ZERO)
        else:
            pools[plan.pool] = plan.allowance
    return pools


def _pack_changes(
    meter: str, before: MeterPlan | None, after: MeterPlan | None,
    sheet_validity: tuple[tuple[int, str], tuple[int, str]],
) -> Iterator[Change]:
    old_prices: dict[Decimal, Value] = {} if before is None else {
        offer.size: CONTACT_SALES if offer.price is None else offer.price
        for offer in before.packs}
    new_prices: dict[Decimal, Value] = {} if after is None else {
        offer.size: CONTACT_SALES if offer.price is None else offer.price
        for offer in after.packs}
    for size in sorted({*old_prices, *new_prices}):
        price_before, price_after = old_prices.get(size), new_prices.get(size)
        if price_before == price_after:
            continue
        if size not in old_prices:
            yield Change(PACK_ADDED, meter, None, price_after, size)
        elif size not in new_prices:
            yield Change(PACK_WITHDRAWN, meter, price_before, None, size)
        else:
            yield Change(PACK_PRICE, meter, price_before, price_after, size)
    if before is not None and after is not None and before.packs and after.packs:
        # A meter whose pack table's validity changes otherwise than the sheet's first table's
        # (the `pack_validity` record of every meter).
        was = (before.pack_terms.valid_amount, before.pack_terms.valid_unit)
        now = (after.pack_terms.valid_amount, after.pack_terms.valid_unit)
        if was != now and (was, now) != sheet_validity:
            yield Change(PACK_VALIDITY, meter, was, now)


def _ladder_changes(
    meter: str, before: MeterPlan | None, after: MeterPlan | None
) -> Iterator[Change]:
    old = None if before is None else before.ladder
    new = None if after is None else after.ladder
    if old == new:
        return
    if old is None or new is None or not _comparable(old, new):
        yield Change(LADDER, meter, old, new)
        return
    for index, (was, now) in enumerate(zip(old.brackets, new.brackets, strict=True)):
        if was.hi != now.hi:
            yield Change(BRACKET_BOUND, meter, was.hi, now.hi, index)
        if _price(was) != _price(now):
            yield Change(BRACKET_PRICE, meter, was, now, index)
    if old.minimum != new.minimum:
        yield Change(LADDER_MINIMUM, meter, old.minimum, new.minimum)
    if old.maximum != new.maximum:
        yield Change(LADDER_MAXIMUM, meter, old.maximum, new.maximum)


def _comparable(old: Ladder, new: Ladder) -> bool:
    """Whether two ladders differ only in bounds, prices, minimum and maximum (not in the
    brackets' form, `(lo, hi]` or `[lo, hi)`: a change of form is a change of the ladder)."""
    def shape(ladder: Ladder) -> tuple[object, ...]:
        return (len(ladder.brackets), ladder.mode, ladder.basis, ladder.period,
                ladder.combined, ladder.flat_at_zero, ladder.closed_low)

    return shape(old) == shape(new)


def _price(bracket: Bracket) -> tuple[object, ...]:
    """What a bracket charges, without its bounds."""
    return (bracket.price, bracket.per, bracket.flat, bracket.block, bracket.block_rounding)


def _pack_terms(old: PriceBook, new: PriceBook) -> Iterator[Change]:
    was, now = old.packs, new.packs
    if (was.valid_amount, was.valid_unit) != (now.valid_amount, now.valid_unit):
        yield Change(PACK_VALIDITY, None, (was.valid_amount, was.valid_unit),
                     (now.valid_amount, now.valid_unit))
    if was.refundable != now.refundable:
        yield Change(PACK_REFUND, None, was.refundable, now.refundable)
    if was.frozen_after_expiry != now.frozen_after_expiry:
        yield Change(PACK_FREEZE, None, was.frozen_after_expiry, now.frozen_after_expiry)


def _entry_minimum(plan: MeterPlan) -> Decimal | tuple[str, ...] | None:
    """`quantity at least N per entry`, and its wording on the sheet if the rules give one."""
    if plan.entry_minimum is None or not plan.entry_minimum_wording:
        return plan.entry_minimum
    return (format_plain(plan.entry_minimum), *plan.entry_minimum_wording)


def _count_units(plan: MeterPlan) -> tuple[str, ...] | None:
    """`counts A in hours`: each such action and how many metered units one of its units is."""
    if not plan.count_scales:
        return None
    return tuple(f"{action} × {format_plain(size)}" for action, size in plan.count_scales)


def sheet_changes(old: PriceBook, new: PriceBook) -> list[Change]:
    """Every difference from `old` to `new` that changes what the sheet bills or what its
    rendered sheet says (the module's two tables): the sheet's settings first, then each
    meter's records (in the new book's meter order, then the meters only the old book has),
    then the terms of every meter (pack terms, deduction, alerts, billing)."""
    found: list[Change] = []
    settings: tuple[tuple[str, Value, Value], ...] = (
        (RULES_NAME, old.name, new.name), (RULES_LABEL, old.labels, new.labels),
        (LANGUAGES, old.languages, new.languages), (CURRENCY, old.currency, new.currency),
        (TIMEZONE, old.timezone, new.timezone), (ROUNDING, old.rounding, new.rounding),
    )
    found.extend(Change(what, None, was, now) for what, was, now in settings if was != now)
    old_meters = {plan.name: plan for plan in old.meters}
    new_meters = {plan.name: plan for plan in new.meters}
    per_meter: dict[str | None, list[Change]] = {}
    for change in changes(old, new):
        per_meter.setdefault(change.meter, []).append(change)
    names = [plan.name for plan in new.meters]
    names += [name for name in old_meters if name not in new_meters]
    old_groups, new_groups = _combined_groups(old), _combined_groups(new)
    old_routes, new_routes = _routes(old), _routes(new)
    moved: dict[str, list[Change]] = {}
    for action in sorted({*old_routes, *new_routes}):
        was, now = old_routes.get(action), new_routes.get(action)
        if was != now:
            # Under the one meter it joins or leaves; between two meters, under every meter
            # (so that swapping the sheets lists it in the same place).
            sides = [m for m in (was, now) if m in new_meters or m in old_meters]
            meter = sides[0] if len(sides) == 1 else None
            moved.setdefault(meter or "", []).append(Change(ACTION, meter, was, now, action))
    for name in names:
        before, after = old_meters.get(name), new_meters.get(name)
        if before is None:
            found.append(Change(METER_ADDED, name, None, name))
        elif after is None:
            found.append(Change(METER_REMOVED, name, name, None))
        else:
            own: tuple[tuple[str, Value, Value], ...] = (
                (METER_LABEL, before.labels, after.labels), (METER_UNIT, before.unit, after.unit),
                (METER_DISPLAY_UNIT, _display_unit(before), _display_unit(after)),
                (QUANTITY_ROUNDING, before.quantity_rounding, after.quantity_rounding),
                (ENTRY_MINIMUM, _entry_minimum(before), _entry_minimum(after)),
                (COUNT_UNITS, _count_units(before), _count_units(after)),
                (AMOUNT_ROUNDING, before.amount_rounding, after.amount_rounding),
                (ALLOWANCE_POOL, before.allowance_pool, after.allowance_pool),
                (LADDER_GROUP, old_groups.get(name), new_groups.get(name)),
            )
            found.extend(Change(what, name, was, now) for what, was, now in own if was != now)
        found.extend(moved.pop(name, []))
        found.extend(per_meter.pop(name, []))
    for rest in (*per_meter.values(), *moved.values()):  # shared pools, pack terms, free actions
        found.extend(rest)
    for action in sorted({*old.unpriced, *new.unpriced}):
        was_reason, now_reason = old.unpriced.get(action), new.unpriced.get(action)
        if was_reason is not None and now_reason is not None and was_reason != now_reason:
            found.append(Change(UNPRICED_REASON, None, was_reason, now_reason, action))
    policies: tuple[tuple[str, Value, Value], ...] = (
        (DEDUCT_ORDER, old.deduct_order, new.deduct_order),
        (PACK_ORDER, _pack_order(old), _pack_order(new)),
        (ALERTS, old.alerts, new.alerts),
        (BILL_DAY, old.billing.issued_day, new.billing.issued_day),
        (SETTLE, old.billing.settle_from_balance, new.billing.settle_from_balance),
        (SUSPEND, old.billing.suspend_reasons, new.billing.suspend_reasons),
        (ALLOWANCE_WHILE_ACTIVE, old.billing.allowance_while_active,
         new.billing.allowance_while_active),
        (SKIP_EMPTY, old.billing.skip_empty, new.billing.skip_empty),
        (DAILY_BILLS, old.billing.daily, new.billing.daily),
    )
    found.extend(Change(what, None, was, now) for what, was, now in policies if was != now)
    found.extend(_order_changes(old, new))
    found.extend(_subscription_changes(old, new))
    found.extend(_grant_changes(old, new))
    found.extend(_credit_changes(old, new))
    return found


def _credit_changes(old: PriceBook, new: PriceBook) -> Iterator[Change]:
    """Credits added, removed, or with other names, amount, meters, validity or priority."""
    old_credits = {credit.name: credit for credit in old.credits}
    new_credits = {credit.name: credit for credit in new.credits}
    for name in [*new_credits, *(name for name in old_credits if name not in new_credits)]:
        was, now = old_credits.get(name), new_credits.get(name)
        if was is None or now is None:
            yield Change(CREDIT, None, None if was is None else name,
                         None if now is None else name, name)
            continue
        parts: tuple[tuple[str, Value, Value], ...] = (
            ("label", was.labels, now.labels),
            ("amount", "prepaid" if was.amount is None else was.amount,
             "prepaid" if now.amount is None else now.amount),
            ("meters", was.meters, now.meters),
            ("valid", f"{was.valid_amount} {was.valid_unit}",
             f"{now.valid_amount} {now.valid_unit}"),
            ("priority", was.rank + 1, now.rank + 1))
        for part, before, after in parts:
            if before != after:
                yield Change(CREDIT, None, before, after, f"{name} {part}")


def _validity(grant: GrantPlan) -> str | None:
    """A grant's validity as the rules write it (`5 years`), or None: its month."""
    if grant.valid_amount is None:
        return None
    return f"{grant.valid_amount} {grant.valid_unit}" + ("s" if grant.valid_amount != 1 else "")


def _grant_changes(old: PriceBook, new: PriceBook) -> Iterator[Change]:
    """Grants added, removed, or with other names, units, meters, issue or validity."""
    old_grants = {grant.name: grant for grant in old.grants}
    new_grants = {grant.name: grant for grant in new.grants}
    for name in [*new_grants, *(name for name in old_grants if name not in new_grants)]:
        was, now = old_grants.get(name), new_grants.get(name)
        if was is None or now is None:
            yield Change(GRANT, None, None if was is None else name,
                         None if now is None else name, name)
            continue
        parts: tuple[tuple[str, Value, Value], ...] = (
            ("label", was.labels, now.labels), ("units", was.amount, now.amount),
            ("meters", was.meters, now.meters), ("issued", was.recurrence, now.recurrence),
            ("valid", _validity(was), _validity(now)))
        for part, before, after in parts:
            if before != after:
                yield Change(GRANT, None, before, after, f"{name} {part}")


def _pack_order(book: PriceBook) -> str:
    """How packs are drawn: `expiry`, `purchase`, `purchase then smallest`."""
    return book.packs.order + (" then smallest" if book.packs.smallest_first else "")


def _order_changes(old: PriceBook, new: PriceBook) -> Iterator[Change]:
    """Products sold by order added, removed, or with other names, unit, minimum or prices."""
    old_orders = {plan.name: plan for plan in old.orders}
    new_orders = {plan.name: plan for plan in new.orders}
    for name in [*new_orders, *(name for name in old_orders if name not in new_orders)]:
        was, now = old_orders.get(name), new_orders.get(name)
        if was is None or now is None:
            yield Change(ORDER, None, None if was is None else name,
                         None if now is None else name, name)
            continue
        parts: tuple[tuple[str, Value, Value], ...] = (
            ("label", was.labels, now.labels), ("unit", was.unit, now.unit),
            ("minimum", was.minimum, now.minimum), ("prices", was.ladder, now.ladder))
        for part, before, after in parts:
            if before != after:
                yield Change(ORDER, None, before, after, f"{name} {part}")


def _subscription_changes(old: PriceBook, new: PriceBook) -> Iterator[Change]:
    """Subscriptions and fees added, removed, or with other names, unit, period, proration,
    maximum, coverage or prices (a fee's price is its one bracket's)."""
    old_plans = {plan.name: plan for plan in old.subscriptions}
    new_plans = {plan.name: plan for plan in new.subscriptions}
    for name in [*new_plans, *(name for name in old_plans if name not in new_plans)]:
        was, now = old_plans.get(name), new_plans.get(name)
        if was is None or now is None:
            yield Change(SUBSCRIPTION, None, None if was is None else name,
                         None if now is None else name, name)
            continue
        parts: tuple[tuple[str, Value, Value], ...] = (
            ("label", was.labels, now.labels), ("unit", was.unit, now.unit),
            ("period", was.period, now.period),
            ("proration", was.proration or "none", now.proration or "none"),
            ("maximum", was.maximum, now.maximum),
            ("covers", (*was.covers, *(("one of",) if was.one else ())),
             (*now.covers, *(("one of",) if now.one else ()))),
            ("coverage limit", _limit(was), _limit(now)),
            ("fee", was.automatic, now.automatic),
            ("prices", _plan_prices(was), _plan_prices(now)))
        for part, before, after in parts:
            if before != after:
                yield Change(SUBSCRIPTION, None, before, after, f"{name} {part}")


def _limit(plan: SubscriptionPlan) -> str | None:
    """A subscription's coverage limit as written: `1000`, `1 per 60 seconds`, or None."""
    if plan.cap is None:
        return None
    if plan.rate_seconds is None:
        return format_plain(plan.cap)
    return f"{format_plain(plan.cap)} per {plan.rate_seconds} seconds"


def _plan_prices(plan: SubscriptionPlan) -> tuple[str, ...]:
    """A subscription's brackets and prices per unit, `(0, 10] 280` (a fee: `(0, ∞) 100`)."""
    return tuple(f"{b.label} " + (CONTACT_SALES if b.price is None else format_plain(b.price))
                 for b in plan.ladder.brackets)


def _display_unit(plan: MeterPlan) -> str | None:
    """A meter's display unit as the rules write it, `小时 / hour = 3600`, or None."""
    if not plan.display_unit or plan.display_size is None:
        return None
    return f"{' / '.join(plan.display_unit)} = {format_plain(plan.display_size)}"


def _routes(book: PriceBook) -> dict[str, str]:
    """Each action's meter, `free`, or `unpriced`, and each request part's meter."""
    routes = dict(book.routes)  # a meter's name, or FREE
    routes.update(dict.fromkeys(book.unpriced, UNPRICED))
    routes.update(book.part_routes)  # a request's parts (`messages.input_tokens`): their meters
    return routes


def _combined_groups(book: PriceBook) -> dict[str, tuple[str, ...]]:
    """For each meter a `combined` ladder prices with others, those meters (sorted)."""
    groups: dict[str, tuple[str, ...]] = {}
    for group in book.ladder_groups:
        if group.ladder.combined:
            members = tuple(sorted(group.meters))
            groups.update(dict.fromkeys(members, members))
    return groups
