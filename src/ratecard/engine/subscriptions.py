"""Subscriptions and recurring fees: what an account holds, what each month charges for them, and
the usage they cover.

A subscription is bought by a `subscribe` entry (a plan of the rules, a quantity, an id) and runs
from that instant until a `cancel` entry ends it; a fee (`fee platform ... per month`) is a
subscription of one unit that every account holds from its opening. Each calendar month's bill
charges every subscription for the part of the month it ran:

- a plan `per month` charges its price per unit once a month: the whole price for any month it
  touches, or, `prorated by day`, the days it touched over the month's days, or, `prorated by
  second`, the seconds it ran over the month's seconds (Lago's calendar billing, prorated);
- a plan `per day` charges its price per unit for every day it touches (a started day is charged
  whole, as Tencent's "billing is at least one day"), or, `prorated by second`, for the seconds
  it ran over 86,400 a day.

Every unit subscribed is priced at the bracket the subscribed quantity falls in (all-units, as
orders are). The charge is exact: price × quantity × used / of, `used` and `of` whole days or
seconds, kept on the bill so that a reader can redo it.

Coverage is the one part that touches usage, and it is a grant like the others
(engine/deduction.py): `Coverage.covers(meter)` says whether a meter has a subscription that
may cover it, `Coverage.lots(meter, moment, quantity)` gives, as lots of source
`subscriptions`, what the subscriptions running at `moment` may still cover in their current
period (in order of subscription, each up to its limit), the one burn-down `deduct` draws them
where `subscriptions` stands in the deduction order, and `Coverage.settle` counts the draw into
each subscription's period.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import attrs

from ratecard.engine.clock import day_start, local, month_start, next_month
from ratecard.engine.deduction import SUBSCRIPTIONS, Lot
from ratecard.engine.ladders import Ladder
from ratecard.engine.money import CONTEXT, ZERO

MONTH = "month"
DAY = "day"
BY_DAY = "day"
BY_SECOND = "second"

MICROSECONDS = 1_000_000
DAY_SECONDS = 86_400


@attrs.frozen
class SubscriptionPlan:
    """A subscription or a fee of the rules.

    `period` is `month` or `day`; `proration` None (a started period is charged whole), `day` or
    `second`; `ladder` prices a unit by the bracket the subscribed quantity falls in; `maximum`
    the most units one subscription buys (None: no limit). `covers` are the meters it covers
    (`one`: the one the entry names), `cap` the units covered per subscribed unit and period
    (None: without limit), or with `rate_seconds` a rate: `cap` units per `rate_seconds` seconds
    and subscribed unit, over each period (a day of 86,400 seconds at 1 per second covers
    86,400). `automatic`: a fee, held by every account from its opening."""

    name: str
    labels: tuple[str, ...]
    unit: tuple[str, ...]
    period: str
    proration: str | None
    ladder: Ladder
    maximum: Decimal | None = None
    covers: tuple[str, ...] = ()
    one: bool = False
    cap: Decimal | None = None
    automatic: bool = False
    rate_seconds: int | None = None  # `up to N per minute`: 60 (the cap is a rate)

    def price(self, quantity: Decimal) -> tuple[str, Decimal | None]:
        """The bracket `quantity` units fall in, and its price per unit and period (None: a
        `contact sales` bracket)."""
        bracket = self.ladder.bracket_for(quantity)
        if bracket.contact_sales:
            return bracket.label, None
        return bracket.label, bracket.unit_price


@attrs.define
class Held:
    """A subscription an account holds: from `start` until `end` (instants; None: until
    cancelled), covering `meter` when its plan covers one of several. `period` and `used` are
    the coverage period being counted (a month `2026-11` or a day `2026-11-05`) and the units
    covered in it."""

    id: str
    plan: str
    quantity: Decimal
    start: int
    end: int | None = None
    meter: str | None = None
    period: str = ""
    used: Decimal = ZERO

    def running(self, moment: int) -> bool:
        return self.start <= moment and (self.end is None or moment < self.end)

    def to_dict(self, zone: ZoneInfo) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "plan": self.plan,
            "quantity": str(self.quantity),
            "start": local(self.start, zone).isoformat(),
            "end": None if self.end is None else local(self.end, zone).isoformat(),
        }
        if self.meter is not None:
            data["meter"] = self.meter
        if self.period:
            data["period"] = self.period
            data["used"] = str(self.used)
        return data


@attrs.frozen
class Proration:
    """How much of a period a subscription is charged for: `used` of `of` days or seconds
    (`measure`), or one whole period (`measure` "period", 1 of 1)."""

    measure: str
    used: Decimal
    of: Decimal
    start: int
    end: int


def proration(plan: SubscriptionPlan, held: Held, start: int, end: int,
              zone: ZoneInfo) -> Proration | None:
    """The part of the month [start, end) that `held` is charged for, or None if it did not
    run in it."""
    begin = max(held.start, start)
    finish = end if held.end is None else min(held.end, end)
    if finish <= begin:
        return None
    if plan.proration == BY_SECOND:
        seconds = Decimal(finish - begin) / MICROSECONDS
        whole = (Decimal(end - start) / MICROSECONDS if plan.period == MONTH
                 else Decimal(DAY_SECONDS))
        return Proration("second", seconds, whole, begin, finish)
    if plan.period == MONTH and plan.proration is None:
        return Proration("period", Decimal(1), Decimal(1), begin, finish)
    first = local(begin, zone).date()
    last = local(finish - 1, zone).date()
    days = Decimal((last - first).days + 1)
    if plan.period == DAY:
        return Proration("day", days, Decimal(1), begin, finish)
    month_first = local(start, zone).date()
    month_last = local(end - 1, zone).date()
    return Proration("day", days, Decimal((month_last - month_first).days + 1), begin, finish)


def amount(unit_price: Decimal, quantity: Decimal, part: Proration) -> Decimal:
    """What `quantity` units at `unit_price` a period cost for `part` of it: exact where the
    division is, else to ratecard's 60 digits."""
    whole = CONTEXT.multiply(unit_price, quantity)
    if part.used == part.of:
        return whole
    return CONTEXT.divide(CONTEXT.multiply(whole, part.used), part.of)


def coverage_period(plan: SubscriptionPlan, moment: int, zone: ZoneInfo) -> str:
    """The coverage period `moment` is in: its month (`2026-11`) or day (`2026-11-05`)."""
    day = local(moment, zone).date()
    return day.isoformat() if plan.period == DAY else day.isoformat()[:7]


def period_seconds(plan: SubscriptionPlan, moment: int, zone: ZoneInfo) -> int:
    """The seconds of the coverage period `moment` is in (a day may have 23 or 25 hours where
    the clocks change)."""
    day = local(moment, zone).date()
    if plan.period == DAY:
        start = day_start(day, zone)
        end = day_start(day + timedelta(days=1), zone)
    else:
        key = (day.year, day.month)
        start = month_start(key, zone)
        end = month_start(next_month(key), zone)
    return (end - start) // MICROSECONDS


class Coverage:
    """The subscriptions an account holds, in order of subscription, and what they cover."""

    def __init__(self, plans: Mapping[str, SubscriptionPlan], zone: ZoneInfo) -> None:
        self.plans = dict(plans)
        self.zone = zone
        self.held: list[Held] = []
        self.covering: dict[str, list[str]] = {}  # meter → plans that may cover it
        for plan in self.plans.values():
            for meter in plan.covers:
                self.covering.setdefault(meter, []).append(plan.name)

    def __bool__(self) -> bool:
        return bool(self.held)

    def covers(self, meter: str) -> bool:
        """Whether some plan of the rules may cover `meter` (its usage is drawn entry by
        entry, at the entry's own time)."""
        return meter in self.covering

    def find(self, subscription: str) -> Held | None:
        return next((held for held in self.held if held.id == subscription), None)

    def add(self, held: Held) -> None:
        self.held.append(held)

    def lots(self, meter: str, moment: int, quantity: Decimal) -> list[Lot]:
        """What the subscriptions running at `moment` may still cover of `meter` in their
        current period, as lots of source `subscriptions` (one per subscription, in order of
        subscription, its id the subscription's) for the burn-down to draw up to `quantity`
        units: a capped plan's lot holds what its cap (a quantity, or a rate over the period)
        leaves; an uncapped plan's holds `quantity`. `settle` records what was drawn."""
        held_lots: list[Lot] = []
        for held in self.held:
            if not held.running(moment):
                continue
            plan = self.plans[held.plan]
            if meter not in plan.covers or (plan.one and held.meter != meter):
                continue
            if plan.cap is None:
                room = quantity
            else:
                allowed = plan.cap * held.quantity
                if plan.rate_seconds is not None:
                    allowed = allowed * period_seconds(plan, moment, self.zone) / plan.rate_seconds
                period = coverage_period(plan, moment, self.zone)
                room = allowed - (held.used if held.period == period else ZERO)
                if room <= 0:
                    continue
            held_lots.append(Lot(held.id, meter, room, room, source=SUBSCRIPTIONS))
        return held_lots

    def settle(self, meter: str, moment: int, drawn: Iterable[tuple[Lot, Decimal]]) -> None:
        """Count what the burn-down drew from `lots(meter, moment, ...)` into each capped
        subscription's period."""
        for lot, units in drawn:
            held = self.find(lot.id)
            assert held is not None, "a subscription's lot is drawn while it is held"
            plan = self.plans[held.plan]
            if plan.cap is None:
                continue
            period = coverage_period(plan, moment, self.zone)
            if held.period != period:
                held.period = period
                held.used = ZERO
            held.used += units

    def charged(self, start: int, end: int) -> Iterator[tuple[Held, SubscriptionPlan]]:
        """The subscriptions that may be charged in the month [start, end)."""
        for held in self.held:
            if held.start < end and (held.end is None or held.end > start):
                yield held, self.plans[held.plan]

    def forget_before(self, moment: int) -> None:
        """Drop the subscriptions that ended before `moment` (charged for the last time)."""
        self.held = [held for held in self.held if held.end is None or held.end > moment]

    def to_list(self) -> list[dict[str, Any]]:
        return [held.to_dict(self.zone) for held in self.held]

