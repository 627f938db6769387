"""Postpaid pricing of one period: every ladder over the quantities its meters left to postpaid.

A ladder prices each of its meters on its own, or, when `combined`, the meters' quantities
together: the bracket is chosen by the combined basis, and on a graduated ladder the meters'
postpaid units take consecutive positions in the order the ladder lists them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import NamedTuple

import attrs

from ratecard.engine.bills import BillLine, Source
from ratecard.engine.ladders import (
    BASIS_AFTER_ALLOWANCE,
    BASIS_TOTAL,
    VOLUME,
    Charge,
    Ladder,
)
from ratecard.engine.money import CONTEXT, ZERO, Rounding


class MeterUsage(NamedTuple):
    """One meter's units in one period: all of them, those the allowance paid, those postpaid."""

    total: Decimal
    allowance: Decimal
    postpaid: Decimal


NO_USAGE = MeterUsage(ZERO, ZERO, ZERO)


@attrs.frozen
class LadderGroup:
    """A compiled ladder and the meters it prices, in the order the ladder lists them."""

    ladder: Ladder
    meters: tuple[str, ...]
    # `amount rounded ...` of the meters that declare it: their lines are rounded so, whatever
    # the sheet's rounding (under `rounding exact`, the one rounding of those lines).
    roundings: tuple[tuple[str, Rounding], ...] = ()

    @property
    def always_priced(self) -> bool:
        """Whether a period without usage still has a charge (a flat fee or a minimum)."""
        return self.ladder.flat_at_zero or self.ladder.minimum is not None

    def lines(
        self, usage: Mapping[str, MeterUsage], rounding: Rounding
    ) -> list[BillLine]:
        """The postpaid lines of one period for this group's meters."""
        ladder = self.ladder
        used = [m for m in self.meters if m in usage]
        if not used and not self.always_priced:
            return []
        if not ladder.combined:
            lines: list[BillLine] = []
            for meter in self.meters if self.always_priced else used:
                meter_usage = usage.get(meter, NO_USAGE)
                charges = ladder.charges(
                    meter_usage.postpaid, basis_of(ladder, meter_usage), meter
                )
                lines.extend(_lines(meter, [(meter, c) for c in charges], ladder, rounding,
                                    self.roundings))
            return lines
        return _lines(self.meters[0], self._combined(usage), ladder, rounding, self.roundings)

    def _combined(self, usage: Mapping[str, MeterUsage]) -> list[tuple[str, Charge]]:
        ladder = self.ladder
        parts = [(m, usage.get(m, NO_USAGE)) for m in self.meters]
        basis = sum((basis_of(ladder, u) for _, u in parts), ZERO)
        postpaid = sum((u.postpaid for _, u in parts), ZERO)
        if postpaid <= 0:
            return [(self.meters[0], c) for c in ladder.charges(ZERO, basis, self.meters[0])]
        charged: list[tuple[str, Charge]] = []
        if ladder.mode == VOLUME:
            bracket = ladder.bracket_for(basis)
            for meter, part in parts:
                if part.postpaid > 0:
                    charged.append(
                        (meter, ladder.charge(bracket, part.postpaid, meter, not charged))
                    )
            return charged
        start = basis - postpaid
        flat_charged: set[int] = set()
        for meter, part in parts:
            if part.postpaid > 0:
                end = start + part.postpaid
                charged.extend(
                    (meter, c) for c in ladder.graduated(start, end, flat_charged, meter)
                )
                start = end
        return charged


def basis_of(ladder: Ladder, usage: MeterUsage) -> Decimal:
    """The quantity that selects a volume bracket (or ends a graduated ladder's positions)."""
    if ladder.basis == BASIS_TOTAL:
        return usage.total
    if ladder.basis == BASIS_AFTER_ALLOWANCE:
        return usage.total - usage.allowance
    return usage.postpaid


def _lines(
    owner: str, charges: Sequence[tuple[str, Charge]], ladder: Ladder, rounding: Rounding,
    roundings: tuple[tuple[str, Rounding], ...] = (),
) -> list[BillLine]:
    by_meter = dict(roundings)
    lines = [
        BillLine(
            meter,
            Source.POSTPAID,
            charge.quantity,
            charge.unit_price,
            charge.precise_amount,
            by_meter.get(meter, rounding).round(charge.precise_amount),
            bracket=charge.bracket.label,
            blocks=charge.blocks,
            per=charge.per,
        )
        for meter, charge in charges
    ]
    if ladder.minimum is None and ladder.maximum is None:
        return lines
    # The minimum or maximum holds for what is billed: the sum of the rounded lines.
    billed = rounding.round(ZERO)
    for line in lines:
        billed = CONTEXT.add(billed, line.amount)
    adjustment = ladder.adjustment(billed, rounding)
    if adjustment is not None:
        source, amount = adjustment
        lines.append(BillLine(owner, source, ZERO, ZERO, amount, amount))
    return lines
