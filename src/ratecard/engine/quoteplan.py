"""Quote plans: each meter's pricing compiled into a small closure, for the common quote.

A quote in a request path is usually whole counts per action and no packs. For that case the
compiler precomputes, per meter, everything a quote reads (its allowance, its ladder's bracket
bounds, prices and labels, how its basis is chosen) and closes over it, so that pricing a month
is a handful of integer comparisons and one exact Decimal product per bracket, with no lookups
by name and no intermediate objects. The general path in `PriceBook.quote` remains the
definition: a property test holds every plan to it, bill for bill.

A plan is built only for sheets whose mechanics it covers (per-unit and per-N prices, flat fees,
contact sales, volume and graduated ladders on their own meters, own allowances, minimums and
maximums); any other sheet, and any quote with packs or with counts that are not plain
non-negative ints, takes the general path.

With an own allowance and no other lot, the one burn-down (engine/deduction.py `deduct`) draws
`min(quantity, allowance)` from the month's allowance lot and leaves the rest postpaid: a plan
computes exactly that, in integers, instead of building the lot.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Mapping
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, getcontext
from typing import Any

from ratecard.engine.bills import Bill, BillLine, Source
from ratecard.engine.ladders import BASIS_TOTAL, VOLUME, Ladder, contact_sales_error
from ratecard.engine.money import CONTEXT, ZERO, Rounding
from ratecard.literals import MAX_COUNT

# The precision of Python's default decimal context, which the plan's exactness relies on.
EXACT_DIGITS = 28

# A meter's compiled pricing: (units of the month, lines to append to) → the rounded charge.
MeterPricer = Callable[[int, list[BillLine]], Decimal]
# What its ladder charges for a quantity on its own (all of it postpaid, the basis itself): the
# lines, exact in any decimal context.
AlonePricer = Callable[[int], list[BillLine]]
# The same, its rounded charge alone (the sum of those lines' amounts).
AloneCharger = Callable[[int], Decimal]
# A contract's discount on a meter: the fraction off, the fraction kept (1 − off) and −off.
Discount = tuple[Decimal, Decimal, Decimal]
#: What `PriceBook.price_total` reads, inline, for a volume ladder: the brackets' whole upper bounds
#: (for `bisect_left`), each bracket's plain unit price (None where a per-N price, a flat fee or
#: contact sales needs the general charge), the plan's limit, the rounding increment and mode.
ChargeTable = tuple[list[int], list[Decimal | None], int, Decimal, str]

_new = tuple.__new__  # builds a BillLine without the keyword-handling constructor


class QuotePlan:
    """The compiled quote of one price book; `quote` returns None where the plan does not apply."""

    __slots__ = ("_alone", "_always", "_charges", "_currency", "_limit", "_nothing", "_pricers",
                 "_rounding", "_routes", "_tables")

    def __init__(
        self,
        currency: str,
        routes: Mapping[str, int | None],
        pricers: tuple[MeterPricer, ...],
        alone: Mapping[str, AlonePricer],
        charges: Mapping[str, AloneCharger],
        rounding: Rounding,
        limit: int,
        tables: Mapping[str, ChargeTable],
        always: tuple[bool, ...] = (),
    ) -> None:
        self._currency = currency
        self._alone = alone
        self._charges = charges
        self._tables = tables
        # Free actions (None) count into a slot past the meters', which nothing prices.
        self._routes = {
            action: len(pricers) if index is None else index for action, index in routes.items()
        }
        self._pricers = pricers
        # The sum of amounts rounded to the increment is on it: it only needs the exponent of
        # a zero on the increment to print as one (0.00).
        self._nothing = rounding.round(ZERO)
        # Per line the sum of rounded amounts is the total; otherwise the total is rounded once
        # (on total) or left exact, as `pricebook.bill_total` makes it.
        self._rounding = None if rounding.per_line else rounding
        self._limit = limit
        # Per meter, whether a month without its usage still has a line (a minimum); empty if
        # no meter's has.
        self._always = always if any(always) else ()

    def quote(self, usage: Mapping[str, Any]) -> Bill | None:
        """The month's bill, or None where the general path must price it: an unknown action, a
        count that is not a plain int ≥ 0, a total at or past the plan's limit, or a decimal
        context narrower than the default's 28 digits.

        Within the limit every product and sum this plan makes with Decimal operators fits in 28
        digits, so it is exact in any context at least that precise; rounding is done in
        ratecard's own context.
        """
        if getcontext().prec < EXACT_DIGITS:
            return None
        routes = self._routes
        totals = [0] * (len(self._pricers) + 1)  # the last slot counts free actions
        for action, count in usage.items():
            index = routes.get(action)
            if index is None or type(count) is not int or count < 0:
                return None  # the general path takes it, and names any error
            totals[index] += count
        if max(totals) >= self._limit:
            return None
        lines: list[BillLine] = []
        total = self._nothing
        if self._always:
            for pricer, quantity, always in zip(self._pricers, totals, self._always,
                                                strict=False):
                if quantity or always:
                    total += pricer(quantity, lines)
        else:
            for pricer, quantity in zip(self._pricers, totals, strict=False):
                if quantity:
                    total += pricer(quantity, lines)
        if self._rounding is not None:
            total = self._rounding.total(total)
        return Bill.quoted(self._currency, total, tuple(lines))

    @property
    def alone(self) -> Mapping[str, AlonePricer]:
        """Each meter's pricing of a quantity on its own (`PriceBook.price_lines`)."""
        return self._alone

    @property
    def charges(self) -> Mapping[str, AloneCharger]:
        """Each meter's charge for a quantity on its own (`PriceBook.price_total`)."""
        return self._charges

    @property
    def charge_tables(self) -> Mapping[str, ChargeTable]:
        """The volume-ladder meters' tables that `PriceBook.price_total` reads inline."""
        return self._tables


def build(
    currency: str,
    rounding: Rounding,
    meters: tuple[tuple[str, Decimal, Ladder | None, bool], ...],
    routes: Mapping[str, str | None],
    allowance_first: bool,
    discounts: Mapping[str, Discount] | None = None,
) -> QuotePlan | None:
    """A plan for these meters (name, allowance, ladder, whether it can take a whole count as
    it is), or None if one of them needs the general path. `discounts`: a contract's, per
    meter (`PriceBook._contract_lines` defines them; the month's lines get them here)."""
    index = {name: position for position, (name, _, _, _) in enumerate(meters)}
    pricers = []
    always = []
    alone: dict[str, AlonePricer] = {}
    charges: dict[str, AloneCharger] = {}
    tables: dict[str, ChargeTable] = {}
    # Never past the largest count, so that a count beyond it takes the general path, which
    # refuses it (and `PriceBook.price_total`, reading the limit inline, does not take it either).
    # A contract's discounted amounts are products too: p × kept and p × off (exact below the
    # limit, so the month's pricer takes them with the Decimal operators).
    products = [
        CONTEXT.multiply(bracket.price, factor)
        for name, _, ladder, _ in meters if ladder and discounts and name in discounts
        for bracket in ladder.brackets if bracket.price is not None
        for factor in discounts[name][1:]
    ]
    limit = min(_limit([ladder for _, _, ladder, _ in meters if ladder], rounding, products),
                MAX_COUNT + 1)
    for name, allowance, ladder, whole in meters:
        if (
            ladder is None
            or not whole
            or not _covered(ladder, rounding)
            or not (rounding.per_line or _exact_amounts(ladder))
            or allowance != allowance.to_integral_value()
        ):
            return None
        discount = discounts.get(name) if discounts else None
        adjusted = ladder.minimum is not None or ladder.maximum is not None
        price, alone[name], charges[name] = _pricer(
            name, int(allowance) if allowance_first else 0, ladder, rounding, limit,
            None if adjusted else discount,
        )
        if discount is not None and adjusted:
            # A minimum or maximum adjusts the charge before the discount: around it.
            price = _discounted(price, discount, rounding)
        pricers.append(price)
        always.append(ladder.minimum is not None)
        if not rounding.per_line:
            # `PriceBook.charge` rounds the precise sum once (or not): its general path does.
            del charges[name]
        elif ladder.mode == VOLUME and ladder.minimum is None and ladder.maximum is None:
            tables[name] = (
                _whole_uppers(ladder),
                [b.price if b.per == 1 and not b.flat else None for b in ladder.brackets],
                limit,
                rounding.increment,
                rounding.mode_constant,
            )
    plan_routes = {
        action: None if meter is None else index[meter] for action, meter in routes.items()
    }
    return QuotePlan(
        currency, plan_routes, tuple(pricers), alone, charges, rounding, limit, tables,
        tuple(always),
    )


def _limit(ladders: list[Ladder], rounding: Rounding, products: list[Decimal]) -> int:
    """The meter total below which every price × quantity, each rounded amount and their sum
    fit in 28 digits: a product's coefficient is the quantity times the price's coefficient, and
    an amount's is at most the quantity times the price scaled to the rounding increment.
    `products`: other prices quantities are multiplied by (a contract's discounted prices)."""
    prices = [b.price for ladder in ladders for b in ladder.brackets if b.price is not None]
    prices += [abs(product) for product in products]
    coefficients = [int("".join(map(str, p.as_tuple().digits)) or "0") for p in prices]
    step = rounding.increment.as_tuple().exponent
    assert isinstance(step, int), "the increment is a finite power of ten"
    exponent: int = step
    if not rounding.per_line:
        # Amounts are the precise products, summed unrounded: count them in the finest step any
        # of them has (a unit price, a price per N, a flat fee).
        steps = list(prices)
        steps += [b.unit_price for ladder in ladders for b in ladder.brackets
                  if b.price is not None]
        steps += [b.flat for ladder in ladders for b in ladder.brackets]
        finest = [e for e in (x.as_tuple().exponent for x in steps) if isinstance(e, int)]
        exponent = min([exponent, *finest])
        prices = steps
    scaled = [int(p.scaleb(-exponent).to_integral_value(ROUND_CEILING)) for p in prices]
    widest = max([1, *coefficients, *scaled])
    return int(10**EXACT_DIGITS // (widest * 10 * max(len(ladders), 1)))


def _whole_uppers(ladder: Ladder) -> list[int]:
    """Bracket upper bounds for `bisect_left` with the whole quantities a plan prices: an int
    compares several times faster than a Decimal. For a whole n, n ≤ hi ⇔ n ≤ ⌊hi⌋ (`(lo, hi]`),
    and n < hi ⇔ n ≤ ⌈hi⌉ - 1 (`[lo, hi)`: a quantity equal to hi is in the next bracket)."""
    if ladder.closed_low:
        return [int(b.hi.to_integral_value(ROUND_CEILING)) - 1 for b in ladder.brackets
                if b.hi is not None]
    return [int(b.hi.to_integral_value(ROUND_FLOOR)) for b in ladder.brackets if b.hi is not None]


def _covered(ladder: Ladder, rounding: Rounding) -> bool:
    # A minimum or maximum is added to sums made in the caller's context: keep it well inside
    # the 28 digits the plan relies on.
    bounds = [b for b in (ladder.minimum, ladder.maximum) if b is not None]
    return not (
        ladder.combined
        or ladder.flat_at_zero
        or any(bracket.block is not None for bracket in ladder.brackets)
        or any(abs(b) >= rounding.increment.scaleb(_BOUND_DIGITS) for b in bounds)
    )


def _exact_amounts(ladder: Ladder) -> bool:
    """Whether every amount of this ladder is a short exact decimal, as unrounded amounts must
    be for the plan to add them up in 28 digits: a price per N whose quotient does not end
    (`1 per 3`) needs the general path's 60 digits."""
    if ladder.minimum is not None or ladder.maximum is not None:
        return False  # its line is added in the caller's context: keep the general path
    for bracket in ladder.brackets:
        if bracket.price is not None and bracket.per != 1:
            if CONTEXT.multiply(bracket.unit_price, bracket.per) != bracket.price:
                return False
            if len(bracket.unit_price.as_tuple().digits) > 20:
                return False
    return True


# How many digits, counted in rounding increments, a minimum or maximum a plan takes may have.
_BOUND_DIGITS = 20


def _pricer(
    name: str, allowance: int, ladder: Ladder, rounding: Rounding, limit: int,
    discount: Discount | None = None,
) -> tuple[MeterPricer, AlonePricer, AloneCharger]:
    """A meter's pricers: the month's (`discount`: a contract's, whose lines the month's
    pricer adds after its postpaid lines, its charge net of them), and alone (never
    discounted: `PriceBook.price_lines` and `price_total` price the sheet's lines)."""
    nothing = rounding.round(ZERO)
    increment = rounding.increment
    mode = rounding.mode_constant
    per_line = rounding.per_line  # else amounts are the precise ones (on total, exact)
    multiply = CONTEXT.multiply
    divide = CONTEXT.divide
    add = CONTEXT.add
    uppers = _whole_uppers(ladder)
    # Per bracket, what a charge reads: (price or None, divisor or None, flat or None, the
    # price and per as a line shows them, label).
    table = [
        (b.price, b.per if b.per != 1 else None, b.flat or None, b.shown_price, b.shown_per,
         b.label)
        for b in ladder.brackets
    ]
    brackets = ladder.brackets
    volume = ladder.mode == VOLUME
    by_total = ladder.basis == BASIS_TOTAL
    fraction, kept, off = discount if discount is not None else (ZERO, ZERO, ZERO)
    discounted = _discounter(discount, rounding) if discount is not None else None
    # The line of a month that uses the whole allowance is the same in every such quote; lines
    # are immutable, so bills can share it.
    whole_allowance_line = _new(BillLine, (name, Source.ALLOWANCE, Decimal(allowance), ZERO, ZERO,
                                           nothing, None, None, None, None, None, None))

    def charge(index: int, units: int | Decimal, lines: list[BillLine]) -> Decimal:
        price, per, flat, unit_price, shown_per, label = table[index]
        if price is None:
            raise contact_sales_error(name, Decimal(units), label)
        precise = multiply(price, units)
        if per is not None:
            precise = divide(precise, per)
        if flat is not None:
            precise = add(precise, flat)
        amount = precise.quantize(increment, mode, CONTEXT) if per_line else precise
        lines.append(_new(BillLine, (name, Source.POSTPAID, Decimal(units), unit_price, precise,
                                     amount, label, None, None, None, shown_per, None)))
        return amount

    def postpaid_charge(postpaid: int, basis: int, lines: list[BillLine]) -> Decimal:
        """Price `postpaid` units whose basis quantity is `basis`; the charged amount."""
        if volume:
            index = bisect_left(uppers, basis)
            price, per, flat, unit_price, _, label = table[index]
            if price is None or per is not None or flat is not None:
                return charge(index, postpaid, lines)
            precise = multiply(price, postpaid)  # in ratecard's context: exact at any size
            amount = precise.quantize(increment, mode, CONTEXT) if per_line else precise
            lines.append(_new(BillLine, (name, Source.POSTPAID, Decimal(postpaid), unit_price,
                                         precise, amount, label, None, None, None, None, None)))
            return amount
        charged = ZERO
        start = basis - postpaid
        for index, bracket in enumerate(brackets):
            lo = bracket.lo if bracket.lo > start else start
            hi = basis if bracket.hi is None or bracket.hi > basis else bracket.hi
            if hi > lo:
                charged = add(charged, charge(index, hi - lo, lines))
            if bracket.hi is None or bracket.hi >= basis:
                break
        return charged

    def price(quantity: int, lines: list[BillLine]) -> Decimal:
        if quantity < allowance:
            lines.append(_new(BillLine, (name, Source.ALLOWANCE, Decimal(quantity), ZERO, ZERO,
                                         nothing, None, None, None, None, None, None)))
            return ZERO
        if allowance:
            lines.append(whole_allowance_line)
        postpaid = quantity - allowance
        if not postpaid:
            return ZERO
        # Without packs, what is left after the allowance is what is postpaid.
        basis = quantity if by_total else postpaid
        if volume:
            # `price_total` inlined for a plain unit price: this is the quote's hottest line. The
            # product is exact: the plan keeps quantities under its limit and runs in a context
            # of 28 digits or more.
            price, per, flat, unit_price, _, label = table[bisect_left(uppers, basis)]
            if price is not None and per is None and flat is None:
                precise = price * postpaid
                amount = precise.quantize(increment, mode, CONTEXT) if per_line else precise
                units = Decimal(postpaid)
                lines.append(_new(BillLine, (name, Source.POSTPAID, units, unit_price,
                                             precise, amount, label, None, None, None, None, None)))
                if discount is None or not precise:
                    return amount
                # A contract's discount (`PriceBook._contract_lines` defines it): the line
                # nets round(p × kept); the month's charge is that net. Exact with the
                # operators: the plan's limit counts the products p × kept and p × off.
                net = precise * kept
                if per_line:
                    net = net.quantize(increment, mode, CONTEXT)
                lines.append(_new(BillLine, (name, Source.DISCOUNT, units, ZERO, precise * off,
                                             net - amount, label, None, None, None, None,
                                             fraction)))
                return net
        if discounted is None:
            return postpaid_charge(postpaid, basis, lines)
        start = len(lines)
        return discounted(postpaid_charge(postpaid, basis, lines), lines, start)

    def price_alone(units: int) -> list[BillLine]:
        """Price `units` (an int > 0) as if all were postpaid, the basis being `units`."""
        if volume and units < limit and getcontext().prec >= EXACT_DIGITS:
            # As in `price_lines`: a plain unit price, an exact product with the Decimal operator.
            price, per, flat, unit_price, _, label = table[bisect_left(uppers, units)]
            if price is not None and per is None and flat is None:
                quantity = Decimal(units)
                precise = price * quantity
                return [_new(BillLine, (name, Source.POSTPAID, quantity, unit_price, precise,
                                        precise.quantize(increment, mode, CONTEXT)
                                        if per_line else precise, label,
                                        None, None, None, None, None))]
        lines: list[BillLine] = []
        postpaid_charge(units, units, lines)
        return lines

    def charge_alone(units: int) -> Decimal:
        """`price_alone`'s charge, without making its lines. (A volume ladder's plain bracket
        under the limit never gets here: `PriceBook.price_total` reads `ChargeTable` inline.)"""
        return postpaid_charge(units, units, [])

    if ladder.minimum is None and ladder.maximum is None:
        return price, price_alone, charge_alone
    return _adjusted(name, ladder, rounding, price, price_alone, charge_alone)


# Adds a contract's discount lines after the postpaid lines from `start` of a meter's month
# charged `charged`; the charge net of them.
Discounter = Callable[[Decimal, list[BillLine], int], Decimal]


def _discounter(discount: Discount, rounding: Rounding) -> Discounter:
    """A discount line after each postpaid line (from `start`): its amount makes the line net
    round(p × kept), its precise amount is p × off (−p × fraction); the charge is less the
    discounts. As `PriceBook._contract_lines`, which defines it."""
    fraction, kept, off = discount
    increment = rounding.increment
    mode = rounding.mode_constant
    multiply = CONTEXT.multiply
    subtract = CONTEXT.subtract
    add = CONTEXT.add

    def discounted(charged: Decimal, lines: list[BillLine], start: int) -> Decimal:
        added = lines[start:]
        del lines[start:]
        for line in added:
            lines.append(line)
            precise = line[4]
            if line[1] != "postpaid" or not precise:
                continue
            net = multiply(precise, kept)
            if rounding.per_line:
                net = net.quantize(increment, mode, CONTEXT)
            amount = subtract(net, line[5])
            lines.append(_new(BillLine, (line[0], Source.DISCOUNT, line[2], ZERO,
                                         multiply(precise, off), amount, line[6], None, None,
                                         line[9], None, fraction)))
            charged = add(charged, amount)
        return charged

    return discounted


def _discounted(price: MeterPricer, discount: Discount, rounding: Rounding) -> MeterPricer:
    """A month pricer (with a minimum or maximum) with a contract's discount lines."""
    discounted = _discounter(discount, rounding)

    def price_discounted(quantity: int, lines: list[BillLine]) -> Decimal:
        start = len(lines)
        return discounted(price(quantity, lines), lines, start)

    return price_discounted


def _adjusted(
    name: str,
    ladder: Ladder,
    rounding: Rounding,
    price: MeterPricer,
    price_alone: AlonePricer,
    charge_alone: AloneCharger,
) -> tuple[MeterPricer, AlonePricer, AloneCharger]:
    """A meter's pricers with its ladder's minimum or maximum (`Ladder.adjustment`: the
    difference between the bound, on the increment, and the sum of the rounded lines)."""
    nothing = rounding.round(ZERO)
    add = CONTEXT.add

    def adjust(charged: Decimal, lines: list[BillLine]) -> Decimal:
        """Append the minimum or maximum line of a meter charged `charged`; its amount."""
        adjustment = ladder.adjustment(charged, rounding)
        if adjustment is None:
            return ZERO
        source, amount = adjustment
        lines.append(_new(BillLine, (name, source, ZERO, ZERO, amount, amount, None, None,
                                     None, None, None, None)))
        return amount

    def price_adjusted(quantity: int, lines: list[BillLine]) -> Decimal:
        # A month without usage has no allowance line, only the minimum's.
        charged = price(quantity, lines) if quantity else nothing
        return add(charged, adjust(charged, lines))

    def price_alone_adjusted(units: int) -> list[BillLine]:
        lines = price_alone(units)
        charged = nothing
        for line in lines:
            charged = add(charged, line.amount)
        adjust(charged, lines)
        return lines

    def charge_alone_adjusted(units: int) -> Decimal:
        charged = add(nothing, charge_alone(units))
        return add(charged, adjust(charged, []))

    return price_adjusted, price_alone_adjusted, charge_alone_adjusted
