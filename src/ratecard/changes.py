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
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import attrs

from ratecard.engine.ladders import Bracket, Ladder
from ratecard.engine.money import ZERO
from ratecard.engine.pricebook import MeterPlan, PriceBook

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

CONTACT_SALES = "contact sales"  # a pack size's price when it is sold by negotiation
Value = Decimal | bool | tuple[int, str] | Bracket | Ladder | str | None


@attrs.frozen
class Change:
    """One difference between two sheets: `what` changed for `meter` (None: every meter),
    from `old` to `new`; `key` says which pack size (a `Decimal`) or bracket (its index)."""

    what: str
    meter: str | None
    old: Value
    new: Value
    key: Decimal | int | None = None


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
    """Whether two ladders differ only in bounds, prices, minimum and maximum."""
    def shape(ladder: Ladder) -> tuple[object, ...]:
        return (len(ladder.brackets), ladder.mode, ladder.basis, ladder.period,
                ladder.combined, ladder.flat_at_zero)

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
