"""Postpaid ladders: brackets `(lo, hi]` and how a period's quantity is priced by them.

`volume` (all-units): every postpaid unit is priced at the bracket the basis quantity falls in.
`graduated`: each unit is priced at the bracket its position falls in. With basis `postpaid` the
postpaid units take positions (0, q]; with `total` or `after_allowance` they are the last units of
the basis, positions (B - q, B], because allowance and packs are deducted first.
"""

from __future__ import annotations

import bisect
from decimal import Decimal

import attrs

from ratecard.engine.money import CONTEXT, ZERO
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


@attrs.frozen
class Bracket:
    """One bracket `(lo, hi]` (hi None: open-ended); its price per `per` units and flat fee."""

    lo: Decimal
    hi: Decimal | None
    price: Decimal | None  # None: contact sales
    per: Decimal = Decimal(1)
    flat: Decimal = ZERO

    @property
    def contact_sales(self) -> bool:
        return self.price is None

    @property
    def unit_price(self) -> Decimal:
        """The price of one unit (`price / per`); 0 for a contact-sales bracket."""
        if self.price is None:
            return ZERO
        return CONTEXT.divide(self.price, self.per) if self.per != 1 else self.price

    @property
    def label(self) -> str:
        hi = "∞)" if self.hi is None else f"{format_plain(self.hi)}]"
        return f"({format_plain(self.lo)}, {hi}"


@attrs.frozen
class Charge:
    """Postpaid units priced in one bracket: quantity × unit price (+ the bracket's flat fee)."""

    bracket: Bracket
    quantity: Decimal
    unit_price: Decimal
    precise_amount: Decimal


@attrs.frozen
class Ladder:
    """A compiled ladder: mode, basis and brackets, ready to price a period's quantity."""

    mode: str
    basis: str
    brackets: tuple[Bracket, ...]
    minimum: Decimal | None = None
    maximum: Decimal | None = None
    _uppers: tuple[Decimal, ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        uppers = tuple(b.hi for b in self.brackets if b.hi is not None)
        object.__setattr__(self, "_uppers", uppers)

    def bracket_for(self, quantity: Decimal) -> Bracket:
        """The bracket a quantity falls in: lo < quantity ≤ hi (0 falls in the first)."""
        return self.brackets[bisect.bisect_left(self._uppers, quantity)]

    def charges(self, quantity: Decimal, basis: Decimal) -> tuple[Charge, ...]:
        """The charges for `quantity` postpaid units when the basis quantity is `basis`."""
        if quantity <= 0:
            return ()
        if self.mode == VOLUME:
            bracket = self.bracket_for(basis)
            return (self._charge(bracket, quantity),)
        charges = []
        start = basis - quantity
        for bracket in self.brackets:
            lo = max(bracket.lo, start)
            hi = basis if bracket.hi is None else min(bracket.hi, basis)
            if hi > lo:
                charges.append(self._charge(bracket, hi - lo))
            if bracket.hi is None or bracket.hi >= basis:
                break
        return tuple(charges)

    def _charge(self, bracket: Bracket, quantity: Decimal) -> Charge:
        if bracket.price is None:
            raise ContactSalesError(
                f"{format_plain(quantity)} units reach the bracket {bracket.label}, "
                "which has no published price (contact sales)"
            )
        amount = CONTEXT.multiply(quantity, bracket.price)
        if bracket.per != 1:
            amount = CONTEXT.divide(amount, bracket.per)
        if bracket.flat:
            amount = CONTEXT.add(amount, bracket.flat)
        return Charge(bracket, quantity, bracket.unit_price, amount)

    def adjustment(self, charged: Decimal) -> tuple[str, Decimal] | None:
        """A minimum-spend true-up or a cap for a period's postpaid charge, if one applies."""
        if self.minimum is not None and charged < self.minimum:
            return "minimum", self.minimum - charged
        if self.maximum is not None and charged > self.maximum:
            return "maximum", self.maximum - charged
        return None
