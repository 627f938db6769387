"""Deduction: how a meter's usage is drawn from the allowance, pack lots and postpaid.

One function, `deduct`, serves both a month quote and a journal replay, so that the two can
never disagree about which source pays for a unit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import attrs

from ratecard.engine.bills import Alert, AlertKind
from ratecard.engine.money import ZERO

ALLOWANCE = "allowance"
PACKS = "packs"
POSTPAID = "postpaid"

K = TypeVar("K", str, int)  # a meter's key: its name (the engine) or its index (the warehouse)


@attrs.define
class Lot:
    """A prepaid pack held by an account: its size, what is left, when bought and when it expires.

    Mutable: a replay draws units from it. Alert flags make each alert fire once per lot.
    """

    id: str
    meter: str
    size: Decimal
    remaining: Decimal
    price: Decimal = ZERO
    purchased: datetime | None = None
    expires: datetime | None = None
    alerted_low: bool = False
    alerted_exhausted: bool = False
    paid: Decimal | None = None  # the purchase entry's own price (None: the list price `price`)
    refunded: bool = False  # returned by a `refund` entry: drawn no more

    @property
    def price_paid(self) -> Decimal:
        """What the account paid for the pack (and a refund pays back)."""
        return self.price if self.paid is None else self.paid

    def order_key(self) -> tuple[datetime, datetime]:
        """Earliest expiry first, then earliest purchase (lots without dates keep their order)."""
        return (self.expires or datetime.max, self.purchased or datetime.max)


@attrs.frozen
class Deduction:
    """Where a quantity of units came from."""

    allowance: Decimal
    packs: tuple[tuple[Lot, Decimal], ...]
    postpaid: Decimal


def tally(
    allowance: dict[K, Decimal],
    packs: dict[K, dict[str, list[Any]]],
    postpaid: dict[K, Decimal],
    meter: K,
    drawn: Deduction,
) -> None:
    """Add a draw to a period's totals of one meter: units the allowance paid, units each lot
    paid (lot id → [lot, units], in the order lots were first drawn), units postpaid."""
    if drawn.allowance:
        allowance[meter] = allowance.get(meter, ZERO) + drawn.allowance
    if drawn.packs:
        by_lot = packs.setdefault(meter, {})
        for lot, taken in drawn.packs:
            held = by_lot.get(lot.id)
            if held is None:
                by_lot[lot.id] = [lot, taken]
            else:
                held[1] += taken
    if drawn.postpaid:
        postpaid[meter] = postpaid.get(meter, ZERO) + drawn.postpaid


def deduct(
    quantity: Decimal,
    allowance_left: Decimal,
    lots: Sequence[Lot],
    order: Sequence[str],
) -> Deduction:
    """Draw `quantity` from the sources in `order`; lots are drawn in the order given.

    Lots are updated in place; the caller keeps the allowance left (`allowance_left - .allowance`).
    """
    left = quantity
    from_allowance = ZERO
    from_packs: list[tuple[Lot, Decimal]] = []
    for source in order:
        if left <= 0:
            break
        if source == ALLOWANCE:
            from_allowance = min(left, allowance_left) if allowance_left > 0 else ZERO
            left -= from_allowance
        elif source == PACKS:
            for lot in lots:
                if left <= 0:
                    break
                if lot.remaining <= 0:
                    continue
                taken = min(left, lot.remaining)
                lot.remaining -= taken
                left -= taken
                from_packs.append((lot, taken))
    return Deduction(from_allowance, tuple(from_packs), left)


def lot_alerts(
    lots: Iterable[Lot], low_threshold: Decimal | None, exhausted: bool, time: datetime | None
) -> list[Alert]:
    """The alerts that drawing from these lots raises now; each fires once per lot.

    A lot drawn from above the threshold straight to zero raises both `low` and `exhausted`.
    """
    alerts = []
    for lot in lots:
        if (
            low_threshold is not None
            and not lot.alerted_low
            and lot.remaining < lot.size * low_threshold
        ):
            lot.alerted_low = True
            alerts.append(Alert(AlertKind.LOW, lot.meter, lot.id, lot.size, lot.remaining, time))
        if exhausted and not lot.alerted_exhausted and lot.remaining <= 0:
            lot.alerted_exhausted = True
            alerts.append(
                Alert(AlertKind.EXHAUSTED, lot.meter, lot.id, lot.size, lot.remaining, time))
    return alerts
