"""Postpaid ladders: brackets `(lo, hi]` (or `[lo, hi)`) and how a period's quantity is priced
by them.

A ladder's brackets are all of one form. The form decides only where a quantity that equals a
bound goes: with `(lo, hi]` it stays in the bracket that ends there, with `[lo, hi)` it goes to
the next one. That matters to `volume`, which picks one bracket by the basis quantity; a graduated
ladder's units fill the same length of each bracket in either form, so it prices alike.

`volume` (all-units): every postpaid unit is priced at the bracket the basis quantity falls in.
`graduated`: each unit is priced at the bracket its position falls in. With basis `postpaid` the
postpaid units take positions (0, q]; with `total` or `after_allowance` they are the last units of
the basis, positions (B - q, B], because allowance and packs are deducted first.
"""

from __future__ import annotations

import bisect
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import NamedTuple

import attrs

from ratecard.engine.bills import Source
from ratecard.engine.money import CONTEXT, ZERO, Rounding
from ratecard.errors import ContactSalesError
from ratecard.literals import format_plain

VOLUME = "volume"
GRADUATED = "graduated"
MODES = (VOLUME, GRADUATED)

# What selects a volume bracket, or where the postpaid units sit on a graduated ladder.
BASIS_POSTPAID = "postpaid"
BASIS_TOTAL = "total"
BASIS_AFTER_ALLOWANCE = "after_allowance"
BASES = (BASIS_POSTPAID, BASIS_TOTAL, BASIS_AFTER_ALLOWANCE)

# How a partial block is counted: a started block counts whole, only full blocks, or a share.
BLOCK_UP = "up"
BLOCK_DOWN = "down"
BLOCK_PRORATED = "prorated"


def contact_sales_error(meter: str, quantity: Decimal, bracket: str) -> ContactSalesError:
    """The error of `quantity` units of `meter` reaching a bracket with no published price:
    the one message of every path that prices (quotes, charges, journals, the warehouse)."""
    count = format_plain(quantity.normalize(CONTEXT)) if quantity else "0"
    reach = "1 unit reaches" if quantity == 1 else f"{count} units reach"
    return ContactSalesError(
        f"meter `{meter}`: {reach} the bracket {bracket}, which has no published price "
        "(contact sales)",
        meter=meter,
        quantity=quantity,
        bracket=bracket,
    )


@attrs.frozen
class Bracket:
    """One bracket `(lo, hi]`, or `[lo, hi)` when `closed_low` (hi None: open-ended), and its
    price.

    `price` is per `per` units (prorated), or, with `block`, per block of `block` units counted
    by `block_rounding`; `flat` is charged once when the bracket is reached.
    """

    lo: Decimal
    hi: Decimal | None
    price: Decimal | None  # None: contact sales
    per: Decimal = Decimal(1)
    flat: Decimal = ZERO
    block: Decimal | None = None
    block_rounding: str = BLOCK_UP
    closed_low: bool = False
    # Derived once: what every charge in this bracket reads.
    unit_price: Decimal = attrs.field(init=False, eq=False, repr=False)
    shown_price: Decimal = attrs.field(init=False, eq=False, repr=False)
    shown_per: Decimal | None = attrs.field(init=False, eq=False, repr=False)
    label: str = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        price = ZERO if self.price is None else self.price
        unit = CONTEXT.divide(price, self.per) if self.per != 1 else price
        close = ")" if self.closed_low else "]"
        hi = "∞)" if self.hi is None else f"{format_plain(self.hi)}{close}"
        open_ = "[" if self.closed_low else "("
        # The price of one unit (`price / per`, exact to 60 digits: for the arithmetic), of one
        # block with blocks; 0 if contact sales.
        object.__setattr__(self, "unit_price", unit)
        # The price as a bill line shows it: as written, per `per` units (None: per unit).
        object.__setattr__(self, "shown_price", price)
        object.__setattr__(self, "shown_per", self.per if self.per != 1 else None)
        object.__setattr__(self, "label", f"{open_}{format_plain(self.lo)}, {hi}")

    def blocks(self, quantity: Decimal) -> Decimal:
        """How many blocks a quantity makes in this bracket."""
        assert self.block is not None
        share = CONTEXT.divide(quantity, self.block)
        if self.block_rounding == BLOCK_UP:
            return share.to_integral_value(rounding=ROUND_CEILING)
        if self.block_rounding == BLOCK_DOWN:
            return share.to_integral_value(rounding=ROUND_FLOOR)
        return share

    @property
    def contact_sales(self) -> bool:
        return self.price is None


class Charge(NamedTuple):
    """Postpaid units priced in one bracket: quantity × unit price / per (+ the bracket's flat
    fee); the unit price as written, `per` None for a price per unit."""

    bracket: Bracket
    quantity: Decimal
    unit_price: Decimal
    precise_amount: Decimal
    blocks: Decimal | None = None
    per: Decimal | None = None


@attrs.frozen
class Ladder:
    """A compiled ladder: mode, basis and brackets, ready to price a period's quantity."""

    mode: str
    basis: str
    brackets: tuple[Bracket, ...]
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    flat_at_zero: bool = False
    period: str = "month"
    combined: bool = False
    # Written as a flat price (`price web_search 10 per 1000`): priced as the one-bracket ladder
    # it is, shown as a plain price. Presentation only, so not part of equality.
    short: bool = attrs.field(default=False, eq=False)
    _uppers: tuple[Decimal, ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        uppers = tuple(b.hi for b in self.brackets if b.hi is not None)
        object.__setattr__(self, "_uppers", uppers)

    @property
    def closed_low(self) -> bool:
        """Whether the brackets are `[lo, hi)` (all of a ladder's brackets share one form)."""
        return self.brackets[0].closed_low

    def bracket_for(self, quantity: Decimal) -> Bracket:
        """The bracket a quantity falls in: lo < quantity ≤ hi, or lo ≤ quantity < hi for
        `[lo, hi)` brackets (0 falls in the first either way)."""
        if self.brackets[0].closed_low:
            return self.brackets[bisect.bisect_right(self._uppers, quantity)]
        return self.brackets[bisect.bisect_left(self._uppers, quantity)]

    def charges(self, quantity: Decimal, basis: Decimal, meter: str) -> tuple[Charge, ...]:
        """The charges for `quantity` postpaid units of `meter` when the basis quantity is
        `basis`.

        On a graduated ladder the units take positions (basis - quantity, basis]. A period with
        no postpaid units pays the first bracket's flat fee only if the ladder says
        `charge flat at zero`.
        """
        if quantity <= 0:
            if self.flat_at_zero and self.brackets[0].flat:
                first = self.brackets[0]
                return (Charge(first, ZERO, first.shown_price, first.flat, None,
                               first.shown_per),)
            return ()
        if self.mode == VOLUME:
            return (self.charge(self.bracket_for(basis), quantity, meter),)
        return self.graduated(basis - quantity, basis, set(), meter)

    def graduated(
        self, start: Decimal, end: Decimal, flat_charged: set[int], meter: str
    ) -> tuple[Charge, ...]:
        """Graduated charges for the positions (start, end] of `meter`'s units; `flat_charged`
        holds the indexes of brackets whose flat fee was already charged (a combined ladder
        shares them)."""
        charges = []
        for index, bracket in enumerate(self.brackets):
            lo = max(bracket.lo, start)
            hi = end if bracket.hi is None else min(bracket.hi, end)
            if hi > lo:
                charges.append(self.charge(bracket, hi - lo, meter, index not in flat_charged))
                flat_charged.add(index)
            if bracket.hi is None or bracket.hi >= end:
                break
        return tuple(charges)

    def charge(
        self, bracket: Bracket, quantity: Decimal, meter: str, with_flat: bool = True
    ) -> Charge:
        """`quantity` units of `meter` priced in `bracket` (plus its flat fee unless already
        charged); ContactSalesError if the bracket has no price."""
        if bracket.price is None:
            raise contact_sales_error(meter, quantity, bracket.label)
        blocks: Decimal | None = None
        if bracket.block is not None:
            blocks = bracket.blocks(quantity)
            amount = CONTEXT.multiply(blocks, bracket.price)
        else:
            amount = CONTEXT.multiply(quantity, bracket.price)
            if bracket.per != 1:
                amount = CONTEXT.divide(amount, bracket.per)
        if bracket.flat and with_flat:
            amount = CONTEXT.add(amount, bracket.flat)
        return Charge(bracket, quantity, bracket.shown_price, amount, blocks, bracket.shown_per)

    def adjustment(self, charged: Decimal, rounding: Rounding) -> tuple[Source, Decimal] | None:
        """The minimum-spend true-up or the cap of a period whose postpaid lines are billed
        `charged` (the sum of their rounded amounts), if one applies.

        The adjustment is the difference that makes the period's charge exactly the minimum (or
        the maximum), so it is on the rounding increment and needs no rounding of its own. A
        minimum or maximum that is not on the increment is billed as the nearest amount on it
        that keeps its promise: a minimum rounded up, a maximum rounded down.
        """
        if self.minimum is not None:
            least = rounding.at_least(self.minimum)
            if charged < least:
                return Source.MINIMUM, CONTEXT.subtract(least, charged)
        if self.maximum is not None:
            most = rounding.at_most(self.maximum)
            if charged > most:
                return Source.MAXIMUM, CONTEXT.subtract(most, charged)
        return None
