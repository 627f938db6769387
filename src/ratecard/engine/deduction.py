"""Deduction: how a meter's usage is drawn from the sources that pay before postpaid.

One function, `deduct`, serves both a month quote and a journal replay, so that the two can
never disagree about which source pays for a unit.

The model: every source that pays before postpaid is a grant of units, held as a `Lot`: units
on a meter, a validity window (`purchased` .. `expires`), and the deduction step that draws it
(`source`: `packs` for a bought pack, a grant's name for a declared grant). One burn-down,
`deduct`, walks the steps of the rules' `deduct` order and draws, greedily, from the allowance
(`allowance`), from the lots whose `source` is the step (in the order the caller keeps them),
and leaves the rest to postpaid. The priority of a source is its place in that order.

The interface for a new kind of grant (a subscription's coverage, say) is small:

- describe it as a `GrantPlan`: a name (its deduction step), the units per meter, when it is
  issued (`once`, at the account's opening, or every `month`) and how long an issue is valid;
- at each issue, call `GrantPlan.issue(meter, start, end)` for a `Lot` and hand the lots of a
  meter to `deduct` as `grants` (the replay keeps them per meter, earliest expiry first);
- the draw comes back in `Deduction.grants`, lot by lot, for the bill's `grant` lines.

In the replay (engine/replay.py) that is `Replay._issue_grants` (at the opening and at each
month's start), `Replay._hold_grant(lot, expires)` (a lot held in `grant_lots[meter]`, and on
the `grant_expiries` heap when it expires on its own, as a pack does), `_end_monthly_grants`
(lots that last their month) and `_expire_grant` (units left are void); snapshots save
`grant_lots`, `grant_expiries` and the month's draws (`_Month.grants`). A grant that renews
while a subscription lasts is a `GrantPlan` whose issues the subscription's entries start and
stop: call `_hold_grant` at each renewal and drop the lots when it is cancelled (flushing the
meter first, `_flush`, so that earlier usage draws what was held then). Money (credits) is
not drawn here but when a bill closes (engine/credits.py).

What remains special-cased: the monthly allowance is still a number per pool (`allowance_left`)
rather than a lot, because pools shared by several meters are drawn entry by entry and the
warehouse computes them in SQL; packs are lots of source `packs` with their own purchase,
refund and alert rules around them. Both are drawn by this one function, in the declared order.
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
SUBSCRIPTIONS = "subscriptions"
POSTPAID = "postpaid"
GRANT = "grant"  # the kind of a declared grant's lot (its `source` is the grant's name)
ONCE = "once"  # a grant issued once, when the account opens
MONTHLY = "month"  # a grant issued at the start of every month (and at the opening)

K = TypeVar("K", str, int)  # a meter's key: its name (the engine) or its index (the warehouse)

# The kind of a lot, by the deduction step that draws it: what a bill calls its units.
_KINDS = {ALLOWANCE: ALLOWANCE, PACKS: PACKS, SUBSCRIPTIONS: SUBSCRIPTIONS}


@attrs.define
class Lot:
    """A grant of units held by an account: its size, what is left, when issued (or bought)
    and when it expires, and the deduction step that draws it (`source`).

    The monthly allowance of a pool is a lot of source `allowance` (`meter` is the pool, which
    every meter of the pool draws); a pack a lot of source `packs`; a declared grant a lot of
    source its name; what a subscription covers in its current period a lot of source
    `subscriptions` (`id` the subscription's). Mutable: a burn-down draws units from it. Alert
    flags make each alert fire once per lot.
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
    source: str = PACKS  # the deduction step that draws it: `packs`, or a grant's name

    @property
    def kind(self) -> str:
        """`allowance`, `packs`, `subscriptions` or `grant`: where the bill lists its units."""
        return _KINDS.get(self.source, GRANT)

    @property
    def alerts(self) -> bool:
        """Whether drawing the lot raises alerts (a pack's `low` and `exhausted`)."""
        return self.source == PACKS

    @property
    def price_paid(self) -> Decimal:
        """What the account paid for the pack (and a refund pays back)."""
        return self.price if self.paid is None else self.paid

    def order_key(self) -> tuple[datetime, datetime]:
        """Earliest expiry first, then earliest purchase (lots without dates keep their order)."""
        return (self.expires or datetime.max, self.purchased or datetime.max)


def allowance_lot(
    pool: str, units: Decimal, issued: datetime | None = None, expires: datetime | None = None
) -> Lot:
    """A pool's monthly allowance as a lot: `units` free until the month's end (`expires`)."""
    month = "" if issued is None else f"@{issued:%Y-%m}"
    return Lot(f"{ALLOWANCE}:{pool}{month}", pool, units, units, ZERO, issued, expires,
               source=ALLOWANCE)


@attrs.frozen
class GrantPlan:
    """A declared grant: `amount` units on each of `meters` (each meter its own), issued
    `once` when the account opens or every `month`, each issue valid `valid_amount`
    `valid_unit`s from its issue (None: until the end of the month it is issued in)."""

    name: str
    labels: tuple[str, ...]
    amount: Decimal
    meters: tuple[str, ...]
    recurrence: str = ONCE
    valid_amount: int | None = None
    valid_unit: str = "year"

    def lot_id(self, issued: datetime) -> str:
        """A grant's lot id: its name, with the month for a monthly grant (`trial@2026-12`)."""
        return self.name if self.recurrence == ONCE else f"{self.name}@{issued:%Y-%m}"

    def issue(self, meter: str, issued: datetime, expires: datetime) -> Lot:
        """A fresh lot of this grant on `meter`, valid from `issued` until `expires`."""
        return Lot(self.lot_id(issued), meter, self.amount, self.amount, ZERO, issued, expires,
                   source=self.name)


@attrs.frozen
class Deduction:
    """Where a quantity of units came from, by the kind of lot that paid: the allowance
    (units), the packs and the declared grants (lot by lot), the subscriptions (`covered`, lot
    by lot: their units are free and not counted as `prepaid`), and postpaid."""

    allowance: Decimal
    packs: tuple[tuple[Lot, Decimal], ...]
    postpaid: Decimal
    grants: tuple[tuple[Lot, Decimal], ...] = ()
    covered: tuple[tuple[Lot, Decimal], ...] = ()

    @property
    def prepaid(self) -> Decimal:
        """The units the allowance, the grants and the packs paid for."""
        return self.allowance + sum((t for _, t in self.packs), ZERO) + sum(
            (t for _, t in self.grants), ZERO)

    @classmethod
    def of(cls, drawn: Sequence[tuple[Lot, Decimal]], postpaid: Decimal) -> Deduction:
        """The draws of a burn-down (lot, units), in order, sorted by the kind of lot."""
        allowance: Decimal | None = None
        by_kind: dict[str, list[tuple[Lot, Decimal]]] = {}
        for lot, taken in drawn:
            kind = lot.kind
            if kind != ALLOWANCE:
                by_kind.setdefault(kind, []).append((lot, taken))
            else:
                allowance = taken if allowance is None else allowance + taken
        return cls(ZERO if allowance is None else allowance, tuple(by_kind.get(PACKS, ())),
                   postpaid,
                   tuple(by_kind.get(GRANT, ())), tuple(by_kind.get(SUBSCRIPTIONS, ())))


def tally(
    allowance: dict[K, Decimal],
    packs: dict[K, dict[str, list[Any]]],
    postpaid: dict[K, Decimal],
    meter: K,
    drawn: Deduction,
    grants: dict[K, dict[str, list[Any]]] | None = None,
) -> None:
    """Add a draw to a period's totals of one meter: units the allowance paid, units each lot
    paid (lot id → [lot, units], in the order lots were first drawn; grants' lots in `grants`),
    units postpaid. (What subscriptions covered is counted by the replay, per subscription.)"""
    if drawn.grants:
        assert grants is not None, "a draw from grants is tallied with them"
        by_grant = grants.setdefault(meter, {})
        for lot, taken in drawn.grants:
            held = by_grant.get(lot.id)
            if held is None:
                by_grant[lot.id] = [lot, taken]
            else:
                held[1] += taken
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


def deduct(quantity: Decimal, order: Sequence[str], *held: Sequence[Lot]) -> Deduction:
    """The burn-down: draw `quantity` from the lots `held` (in any number of sequences), step
    by step in the deduction `order`, at each step from the lots whose `source` is the step,
    in the order given; what no lot pays is postpaid.

    Every unit is drawn from exactly one lot or left to postpaid. Lots are updated in place.
    """
    left = quantity
    drawn: list[tuple[Lot, Decimal]] = []
    for step in order:
        if left <= 0:
            break
        for lots in held:
            for lot in lots:
                if lot.source != step:
                    continue
                remaining = lot.remaining
                if remaining <= 0:
                    continue
                taken = min(left, remaining)
                lot.remaining = remaining - taken
                left -= taken
                drawn.append((lot, taken))
                if left <= 0:
                    break
            if left <= 0:
                break
    return Deduction.of(drawn, left)


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
