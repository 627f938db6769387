"""Deduction: how a meter's usage is drawn from the sources that pay before postpaid.

One model, one burn-down. Every source that pays before postpaid is a grant of units, held as a
`Lot`: units on a meter (or on an allowance pool, which several meters draw), a size and what
is left, a validity window (`purchased` .. `expires`) and the deduction step that draws it
(`source`). The sources differ only in how their lots are issued and in facts that are
properties of the lot or of its plan, never branches of the draw:

- the monthly allowance: source `allowance`; a lot per pool per month, issued at the month's
  start (or at the reopening, `while active`), valid to the month's end; a pool shared by
  several meters is one lot they all draw;
- a declared grant: source its name (kind `grant`); issued `once` at the opening or every
  `month` (`GrantPlan`), valid `valid ...` from its issue or to its month's end; units left
  at its end are void;
- a pack: source `packs`; issued by a `purchase` entry, valid for its table's span; its price
  paid, its refund and its alerts (`Lot.alerts`) are facts of the lot;
- a subscription's coverage: source `subscriptions`; a lot per running subscription for the
  meter drawn, holding what its cap (a quantity, or a rate over the period) leaves in the
  current period (`Coverage.lots`; an uncapped plan's lot holds the quantity drawn).

`deduct(quantity, order, *held)` is the burn-down: it walks the steps of the rules' `deduct`
order and at each step draws, greedily, from the lots whose `source` is the step, in the order
the caller keeps them (a pack table's order: earliest expiry, or purchase then smaller size;
a grant's lots earliest expiry first; subscriptions in order of subscription); what no lot
pays is postpaid. The priority of a source is its place in that order. Every unit is drawn
from exactly one lot or left to postpaid (tests/test_burn_down.py holds it to that, over random
lots and orders and every draw of random journals). The draws come back as a `Deduction`,
sorted by the kind of lot for the bill (`allowance` units; `packs`, `grants` and `covered`
lot by lot; `postpaid`).

Who calls it: the replay (engine/replay.py `Replay._flush`, with the pool's allowance lot, the
meter's grant lots, its packs and, on a covered meter, its subscriptions' lots at the entry's
time), a quote (`PriceBook._quote_general`: a fresh allowance lot per pool, the grants of the
month) and the warehouse's Python drawdown (warehouse/drawdown.py, a transient allowance lot
of what its pool has left). The quote fast path (engine/quoteplan.py) is this burn-down in
closed form for the sheets it covers (an own allowance, no lots: `min(quantity, allowance)`
then postpaid), held to the general path by its differential tests. The warehouse's SQL
(warehouse/queries.py) implements the monthly-grant lot for the accounts it bills in the
database (no purchases, no events, no grants or credits): each account month holds a fresh
lot per pool, and each meter's quantity of the month is drawn from it by joining the `draws`
table (`plain_period`), which holds this function's answer for each distinct quantity with a
fresh allowance lot; the months in which several meters of a shared pool use more than its
lot are detailed (`detail_keys`) and drawn entry by entry in Python, as the replay draws a
shared pool. Accounts with other lots are drawn by this function (the drawdown, or the
engine's replay for rules with grants or credits). The warehouse differential tests hold the
SQL to the engine.

Adding a kind of grant: describe its lots (a `source` that is its step in the order, a size,
a validity), issue them where the replay learns of them (an entry, the opening, a period's
start: `Replay._issue_grants`, `Replay._hold_grant`, `_end_monthly_grants`, `_expire`),
and hand them to `deduct`. Snapshots save the lots the replay holds (the allowance as what
each pool's lot has left, `allowance.left`, as before lots; grants' lots, packs, the
subscriptions' periods). Money (credits) is not drawn here but when a bill closes
(engine/credits.py).
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
    source: str = PACKS  # the step that draws it: `allowance`, `packs`, `subscriptions`, a grant

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
