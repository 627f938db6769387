"""Exact money: the one decimal context and the one place where amounts are rounded."""

from __future__ import annotations

import decimal
from decimal import Decimal

import attrs

# Wide enough that no product of a price and a quantity this engine sees is ever rounded;
# the only rounding is `Rounding.round`, where the rules say how.
CONTEXT = decimal.Context(
    prec=60,
    rounding=decimal.ROUND_HALF_EVEN,
    traps=[decimal.InvalidOperation, decimal.DivisionByZero, decimal.Overflow],
)

ROUNDING_MODES: dict[str, str] = {
    "half_up": decimal.ROUND_HALF_UP,
    "half_even": decimal.ROUND_HALF_EVEN,
    "half_down": decimal.ROUND_HALF_DOWN,
    "up": decimal.ROUND_UP,
    "down": decimal.ROUND_DOWN,
    "ceiling": decimal.ROUND_CEILING,
    "floor": decimal.ROUND_FLOOR,
}

ZERO = Decimal(0)


@attrs.frozen
class Rounding:
    """How a bill line's precise amount becomes the amount billed: `half_up` to `0.01`."""

    mode: str
    increment: Decimal
    mode_constant: str = attrs.field(init=False, repr=False, eq=False)  # decimal.ROUND_...

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "mode_constant", ROUNDING_MODES[self.mode])

    def round(self, amount: Decimal) -> Decimal:
        """The rounded amount, exact to the increment (a power of ten)."""
        return amount.quantize(self.increment, self.mode_constant, CONTEXT)

    def at_least(self, amount: Decimal) -> Decimal:
        """The least amount on the increment that is not below `amount` (a minimum billed)."""
        return amount.quantize(self.increment, decimal.ROUND_CEILING, CONTEXT)

    def at_most(self, amount: Decimal) -> Decimal:
        """The greatest amount on the increment that is not above `amount` (a cap billed)."""
        return amount.quantize(self.increment, decimal.ROUND_FLOOR, CONTEXT)
