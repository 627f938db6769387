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


#: Where amounts are rounded (`rounding half_up 0.01 per line | on total`, `rounding exact`):
#: each bill line (the default), the bill's total only (lines keep their precise amounts), or
#: nowhere (every amount is the exact decimal).
PER_LINE = "line"
ON_TOTAL = "total"
EXACT = "exact"
SCOPES = (PER_LINE, ON_TOTAL, EXACT)


@attrs.frozen
class Rounding:
    """How a bill's precise amounts become the amounts billed: `half_up` to `0.01`, on each
    line (`scope` PER_LINE), on the total only (ON_TOTAL), or not at all (EXACT: `mode` is
    `exact` and the increment is only the step money is shown to when that loses nothing)."""

    mode: str
    increment: Decimal
    scope: str = PER_LINE
    mode_constant: str = attrs.field(init=False, repr=False, eq=False)  # decimal.ROUND_...

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "mode_constant",
                           ROUNDING_MODES.get(self.mode, decimal.ROUND_HALF_EVEN))

    @property
    def per_line(self) -> bool:
        """Whether each line is rounded (the only scope the compiled fast paths implement)."""
        return self.scope == PER_LINE

    def round(self, amount: Decimal) -> Decimal:
        """A line's amount: rounded, exact to the increment (a power of ten), per line; the
        precise amount itself on total and exact. (A quantity rounding is always per line.)"""
        if self.scope != PER_LINE:
            return amount
        return amount.quantize(self.increment, self.mode_constant, CONTEXT)

    def total(self, amount: Decimal) -> Decimal:
        """A bill's total of `amount` (the sum of its lines): rounded, unless exact."""
        if self.scope == EXACT:
            return amount
        return amount.quantize(self.increment, self.mode_constant, CONTEXT)

    def on_step(self, amount: Decimal) -> bool:
        """Whether `amount` is one a bill's total can be (any amount when exact)."""
        return self.scope == EXACT or amount == amount.quantize(self.increment, context=CONTEXT)

    def at_least(self, amount: Decimal) -> Decimal:
        """The least amount on the increment that is not below `amount` (a minimum billed);
        the amount itself when exact."""
        if self.scope == EXACT:
            return amount
        return amount.quantize(self.increment, decimal.ROUND_CEILING, CONTEXT)

    def at_most(self, amount: Decimal) -> Decimal:
        """The greatest amount on the increment that is not above `amount` (a cap billed);
        the amount itself when exact."""
        if self.scope == EXACT:
            return amount
        return amount.quantize(self.increment, decimal.ROUND_FLOOR, CONTEXT)


def rounding_words(rounding: Rounding) -> str:
    """The rounding as a rules file writes it: `half_up 0.01 on total`, `exact`."""
    if rounding.scope == EXACT:
        return "rounding exact"
    where = " on total" if rounding.scope == ON_TOTAL else ""
    return f"rounding {rounding.mode} {format(rounding.increment, 'f')}{where}"
