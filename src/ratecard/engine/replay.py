"""Replaying an account's journal through the compiled rules: one bill per calendar month.

The replay walks the journal in time order and keeps only the account's state: the lots that pay
before postpaid (each pool's allowance lot of the month, grants' lots, packs), the subscriptions
held, the suspension and the balance, the ids seen, and the month being built. Things that
happen at a moment rather than at an entry (a month ends, a bill is issued and settled, a lot
expires) are events, handled as soon as the journal reaches their instant.

Usage is drawn with `deduct`, the function a quote uses, so a quote and a replay cannot disagree.
It is not drawn entry by entry: per meter, units are added up while nothing can happen that
depends on where exactly they fall, and drawn in one go when that changes. Drawing is greedy from
sources in a fixed order, so drawing a + b is drawing a then b; what needs the individual entry is
an alert's time, so each meter has a trigger, a pending quantity at or below the point where its
next alert could fire, and reaching it draws at once, at that entry. State changes (a purchase, a
suspension, an expiry, a month's end) draw what is pending first. A shared allowance pool is drawn
entry by entry while it lasts, because who gets its last units depends on the interleaving.
"""

from __future__ import annotations

import decimal
import heapq
from collections import deque
from collections.abc import Generator, Iterable, Mapping
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, Any

import attrs

from ratecard.engine.bills import (
    AccountEvent,
    Alert,
    AlertKind,
    Bill,
    BillLine,
    FreeUsage,
    IgnoredEntry,
    OrderedUnits,
    PackBalance,
    PrepaidPurchase,
    RefundedPack,
    RejectedUsage,
    Settlement,
    Source,
    SubscriptionCharge,
    VoidUnits,
    month_text,
)
from ratecard.engine.clock import (
    TimeError,
    add_period,
    day_start,
    fixed,
    format_instant,
    instant,
    issue_date,
    local,
    month_label,
    month_of,
    month_start,
    next_month,
    parse_month,
    stamp,
)
from ratecard.engine.credits import CreditLot, apply_credits
from ratecard.engine.deduction import (
    MONTHLY,
    POSTPAID,
    SUBSCRIPTIONS,
    Deduction,
    Lot,
    allowance_lot,
    deduct,
    lot_alerts,
    tally,
)
from ratecard.engine.journal import (
    CANCEL,
    CREDIT,
    OPEN,
    ORDER,
    PURCHASE,
    REFUND,
    REOPEN,
    SUBSCRIBE,
    SUSPEND,
    TOPUP,
    USAGE,
    ClosableRecords,
    JournalError,
    JournalInput,
    OnInvalid,
    Quantity,
    Record,
    open_journal,
)
from ratecard.engine.money import CONTEXT, ZERO
from ratecard.engine.offers import FREE, PackOffer
from ratecard.engine.ordering import sorted_records
from ratecard.engine.pricing import MeterUsage
from ratecard.engine.requests import is_part
from ratecard.engine.subscriptions import Coverage, Held, amount, proration
from ratecard.errors import ContactSalesError, UsageError
from ratecard.literals import format_plain

if TYPE_CHECKING:
    # A price book calls the replay (`PriceBook.bill`): the replay reads books, never imports
    # their module (engine.offers holds what it needs of it at run time).
    from ratecard.engine.pricebook import PriceBook

# A trigger no pending quantity reaches: the meter has no alert left to watch for.
NEVER = 1 << 126

ACTIVE = "active"
SUSPENDED = "suspended"

class OutOfOrderError(Exception):
    """An entry earlier than the one before it: the journal must be sorted and replayed."""

    def __init__(self, line: int) -> None:
        super().__init__(f"entry at line {line} is earlier than the one before it")
        self.line = line


@attrs.define
class _Month:
    """What a month collects while it is replayed, until it is closed into a bill."""

    key: tuple[int, int]
    start: int
    end: int
    allowance: dict[str, Decimal] = attrs.Factory(dict)
    packs: dict[str, dict[str, list[Any]]] = attrs.Factory(dict)  # meter → lot id → [lot, units]
    grants: dict[str, dict[str, list[Any]]] = attrs.Factory(dict)  # the same, for grants' lots
    postpaid: dict[str, Decimal] = attrs.Factory(dict)
    rejected: dict[str, list[Quantity]] = attrs.Factory(dict)  # action → [units, entries]
    free: dict[str, Quantity] = attrs.Factory(dict)
    ignored: list[IgnoredEntry] = attrs.Factory(list)
    alerts: list[Alert] = attrs.Factory(list)
    prepaid: list[PrepaidPurchase] = attrs.Factory(list)
    refunds: list[RefundedPack] = attrs.Factory(list)
    orders: list[OrderedUnits] = attrs.Factory(list)
    # Units subscriptions covered: meter → subscription id → units.
    covered: dict[str, dict[str, Decimal]] = attrs.Factory(dict)
    # Usage past the allowance and packs of meters whose packs stop service when exhausted:
    # action → [units, entries].
    stopped: dict[str, list[Quantity]] = attrs.Factory(dict)
    void: list[VoidUnits] = attrs.Factory(list)
    events: list[AccountEvent] = attrs.Factory(list)
    # Meters priced by daily ladders: the current day, and each day's units by source.
    day: str = ""
    days: dict[str, dict[str, MeterUsage]] = attrs.Factory(dict)
    # What the month's daily bills came to (`bill per day on ...`): a contract's minimum spend
    # counts it.
    days_spent: Decimal = ZERO

    def add_day(self, meter: str, drawn: Deduction) -> None:
        """Count a draw into the current day too (for a meter on a daily ladder)."""
        by_meter = self.days.setdefault(self.day, {})
        held = by_meter.get(meter)
        total = drawn.prepaid + drawn.postpaid
        if held is None:
            by_meter[meter] = MeterUsage(total, drawn.allowance, drawn.postpaid)
        else:
            by_meter[meter] = MeterUsage(held.total + total, held.allowance + drawn.allowance,
                                         held.postpaid + drawn.postpaid)

    def add(self, meter: str, drawn: Deduction) -> None:
        tally(self.allowance, self.packs, self.postpaid, meter, drawn, self.grants)


@attrs.frozen
class _Closing:
    """A closed month's bill, waiting for the instant it is issued and settled."""

    bill: Bill
    issue: int


class Replay:
    """One account's state while its journal is replayed in time order, and the bills it closes.

    `aggregate=False` draws every usage entry on its own: slower, and the reference the
    aggregated replay must match exactly (the tests compare the two).
    """

    def __init__(self, book: PriceBook, aggregate: bool = True) -> None:
        # `top` is the book the replay was given; `book` the sheet of the month being built: the
        # same book, unless `top` has dated versions or a contract (`PriceBook.timeline`), when
        # each month is billed by `top.for_account(opened).at(its first day)`, `opened` being
        # the day of the account's earliest entry.
        self.top = book
        self.book = book
        self.timeline = bool(book.timeline)
        self.opened: date | None = None
        self.account_book = book
        self.zone = book.zone
        self.aggregate = aggregate
        self.order = book.deduct_order
        self.low = book.alerts.low_threshold
        self.exhausted_alerts = book.alerts.exhausted
        self.plans = {plan.name: plan for plan in book.meters}
        self.rank = {plan.name: index for index, plan in enumerate(book.meters)}
        self.meter_of: dict[str, str | None] = {
            action: (None if route == FREE else route) for action, route in book.routes.items()
        }
        self.meter_of.update(book.part_routes)  # a request's quantities (`engine.requests`)
        self.owner = {a: p.name for p in book.meters for a in (*p.actions, *p.free_actions)}
        self.owner.update(book.part_routes)
        self.pool_of = {plan.name: plan.pool for plan in book.meters}
        self.shared_pools = _shared_pools(book)
        # Meters whose packs stop service when exhausted: drawn entry by entry, so that units
        # past them are rejected as the entry's own.
        self.stopping = _stopping_meters(book)
        # Subscriptions held and the usage they cover (engine.subscriptions), drawn where
        # `subscriptions` stands in the deduction order; covered meters are drawn entry by
        # entry, at the entry's time (what a subscription covers depends on when it runs).
        self.coverage = Coverage({plan.name: plan for plan in book.subscriptions}, book.zone)
        self.subscribing = SUBSCRIPTIONS in self.order
        self.cancelled: set[str] = set()  # subscriptions cancelled (a cancel resent is ignored)
        # In a whole journal's pass (`defer`): when each subscription started, and the cancels
        # of none held, which the end of the pass tells apart: a cancel before its
        # subscription started, or of one never bought.
        self.started_at: dict[str, int] = {}
        self.unknown_cancels: list[tuple[int, int, str]] = []  # (line, instant, id)
        # Refunds the replay refuses (journal.Source's `on_invalid`, and the journal's path for
        # the error): without a callback, the first raises.
        self.on_invalid: OnInvalid | None = None
        self.path: str | None = None
        self.line_base = 0  # an account's entries before this feed (its lines are after them)
        # A journal read in the order given may turn out not to be in time order: a refund
        # refused on the way may be of a pack bought later in the file, so refusals wait for
        # the end of a pass that finished in order (`run`).
        self.defer = False
        self.refusals: list[JournalError] = []

        self.lots: dict[str, list[Lot]] = {name: [] for name in self.plans}
        # Declared grants' lots held, per meter (earliest expiry first), and those that expire
        # on their own (`valid ...`) by expiry: (instant, issue number, lot). A monthly grant
        # without a validity ends with its month (`_roll`). `grants_issued` numbers issues.
        self.grant_lots: dict[str, list[Lot]] = {name: [] for name in self.plans}
        self.grant_expiries: list[tuple[int, int, Lot]] = []
        self.grants_issued = 0
        self.opened_at = -NEVER  # the instant the account opened (its `open` or first entry)
        # Credit lots issued (granted at the opening, prepaid by `credit` entries), until they
        # expire or are spent; `credits_issued` numbers those without an id.
        self.credit_lots: list[CreditLot] = []
        self.credits_issued = 0
        self.expiries: list[tuple[int, int, Lot]] = []
        # The monthly allowance: one lot per pool (a meter's own, or shared by several), issued
        # at the month's start or at the reopening (`_grant`), drawn where `deduct` puts
        # `allowance`, lapsing at the month's end (`_open` replaces it with an empty one).
        self.allowances: dict[str, Lot] = {
            pool: allowance_lot(pool, ZERO) for pool in book._new_allowances()}
        self.granted = False
        self.pending: dict[str, Quantity] = dict.fromkeys(self.plans, 0)
        self.trigger: dict[str, int] = dict.fromkeys(self.plans, 0)
        self.manual: dict[str, None] = {}  # suspension reasons from the journal, in order
        self.in_debt = False
        self.active = True
        self.balance: Decimal | None = None
        self.seen_usage: set[str] = set()
        # The line of the last entry with an id taken, and of the last one ignored as resent:
        # a request's parts share their entry's line and id (taken or ignored together).
        self.taken_line = 0
        self.dropped_line = 0
        self.seen_purchases: set[str] = set()
        self.purchases = 0
        # Meters on daily ladders are drawn up at every day's end, so each day prices its own.
        self.daily = _daily_meters(book)
        # Meters billed day by day (`bill per day on ...`; each priced by a daily ladder): at a
        # day's end their units leave the month's tallies for a bill of the day.
        self.billed_daily = book.billing.daily
        self.day_end = NEVER

        self.started = False
        self.month = _Month((0, 0), 0, 0)
        self.last = -NEVER
        self.next_event = -NEVER
        self.closings: deque[_Closing] = deque()
        self.bills: list[Bill] = []
        # Months whose bill `skip empty` left out (nothing owed or reported), in order.
        self.skipped: list[date] = []

    # --- the replay ---------------------------------------------------------------------------

    def run(self, records: Iterable[Record]) -> list[Bill]:
        """Replay the records (raises OutOfOrderError at the first one out of time order)."""
        self._consume(records)
        self._finish()
        for line, moment, subscription in self.unknown_cancels:
            self.refusals.append(JournalError(
                self.path, line - self.line_base, "subscription",
                self._unknown(subscription, moment, self.started_at.get(subscription))))
        if self.unknown_cancels:
            self.refusals.sort(key=lambda error: error.line)
        for error in self.refusals:  # the pass was in time order: they stand
            if self.on_invalid is None:
                raise error
            self.on_invalid(error)
        return self.bills

    def _consume(self, records: Iterable[Record]) -> None:
        meter_of = self.meter_of
        pending = self.pending
        trigger = self.trigger
        seen = self.seen_usage
        last = self.last
        next_event = self.next_event
        active = self.active
        month = self.month
        for moment, line, kind, name, count, entry_id in records:
            if moment < last:
                raise OutOfOrderError(line)
            last = moment
            if moment >= next_event:
                self._advance(moment)
                next_event = self.next_event
                active = self.active
                month = self.month
            if kind == USAGE:
                if entry_id:  # an empty id is no id, as None is
                    if entry_id in seen:
                        if line != self.taken_line:  # (not another part of a request taken)
                            if line != self.dropped_line:
                                self.dropped_line = line
                                self._ignore("request" if is_part(name) else "usage",
                                             entry_id, moment, line)
                            continue
                    else:
                        seen.add(entry_id)
                        self.taken_line = line
                if not active:
                    self._reject(name, count)
                    continue
                meter = meter_of[name]
                if meter is None:
                    free = month.free
                    free[name] = free.get(name, 0) + count
                    continue
                if not count:
                    # (nothing to draw; and a zero's decimals, `0.0000`, would show in the
                    # month's quantity as no snapshot keeps them: a bill is the same whether
                    # its account was saved and restored between entries or not)
                    continue
                quantity = pending[meter] + count
                pending[meter] = quantity
                if quantity >= trigger[meter]:
                    self._flush(meter, moment, name)
            else:
                self._entry(moment, line, kind, name, count, entry_id)
                next_event = self.next_event
                active = self.active
        self.last = last

    def _finish(self) -> None:
        """Close the journal's last month and issue every bill still waiting."""
        if not self.started:
            return
        self._advance(self.month.end - 1)
        self._flush_all()
        self._close_day()
        self._queue(self._close())
        while self.closings:
            self._settle()

    # --- events: month ends, bills issued, lots expiring ---------------------------------------

    def _advance(self, moment: int) -> None:
        """Handle every event up to `moment`: at one instant, a month's end, then settlements,
        then expiries (a lot expiring as a month starts is reported in the month it expires)."""
        if not self.started:
            self.started = True
            self.opened_at = moment
            self.open_account(local(moment, self.zone).date())
            for plan in self.top.subscriptions:  # fees: every account pays them from opening
                if plan.automatic:
                    self.coverage.add(Held(plan.name, plan.name, Decimal(1), moment))
            self._open(month_of(moment, self.zone))
            self._grant()
            if self.book.grants:
                self._issue_grants(moment, opening=True)
            for credit in self.book.credits:
                if credit.amount is not None:
                    self._issue_credit(credit.name, credit.amount, moment, credit.name)
            if self.daily:
                self._start_day(local(moment, self.zone).date())
        while True:
            end = self.month.end
            settle = self.closings[0].issue if self.closings else NEVER
            expiry = self.expiries[0][0] if self.expiries else NEVER
            if self.grant_expiries and self.grant_expiries[0][0] < expiry:
                expiry = self.grant_expiries[0][0]
            day = self.day_end
            if day <= moment and day <= end and day <= settle and day <= expiry:
                self._flush_all()
                self._close_day()
                self._start_day(local(day, self.zone).date())
            elif end <= moment and end <= settle and end <= expiry:
                self._roll()
            elif settle <= moment and settle <= expiry:
                self._settle()
            elif expiry <= moment:
                if self.expiries and self.expiries[0][0] == expiry:
                    self._expire(self.expiries, self.lots)
                else:
                    self._expire(self.grant_expiries, self.grant_lots)
            else:
                break
        self.next_event = min(end, settle, expiry, self.day_end)

    def _start_day(self, day: date) -> None:
        """Begin a day for the meters on daily ladders (their units were drawn up to here)."""
        self.month.day = day.isoformat()
        self.day_end = day_start(day + timedelta(days=1), self.zone)

    def _open(self, key: tuple[int, int]) -> None:
        day = self.month.day
        self.month = _Month(key, month_start(key, self.zone),
                            month_start(next_month(key), self.zone), day=day)
        self.coverage.forget_before(self.month.start)
        if self.timeline:
            self.use_month_book(key)
        self.allowance_left = dict.fromkeys(self.book._new_allowances(), ZERO)
        self.granted = False
        self._retrigger()

    # --- dated versions and contracts ------------------------------------------------------------

    def open_account(self, opened: date) -> None:
        """The account's opening day (its earliest entry's, in the rules' timezone): it picks
        the timeline the account is billed by (grandfathering, `PriceBook.for_account`)."""
        self.opened = opened
        self.account_book = self.top.for_account(opened)

    def sheet(self, day: date) -> PriceBook:
        """The sheet in effect for the account on a day."""
        return self.account_book.at(day)

    def use_month_book(self, key: tuple[int, int]) -> None:
        """Bill the month `key` by the sheet in effect on its first day: its allowances,
        ladders (and which meters are priced by day) and its contract's lines."""
        book = self.sheet(date(key[0], key[1], 1))
        if book is self.book:
            return
        self.book = book
        self.pool_of = {plan.name: plan.pool for plan in book.meters}  # a version may share
        self.shared_pools = _shared_pools(book)  # its allowance otherwise
        self.stopping = _stopping_meters(book)
        self.billed_daily = book.billing.daily
        daily = _daily_meters(book)
        if daily != self.daily:
            self.daily = daily
            if not daily:
                self.day_end = NEVER
            elif self.day_end == NEVER:  # the first month of this sheet priced by day
                self._start_day(date(key[0], key[1], 1))

    @property
    def allowance_left(self) -> dict[str, Decimal]:
        """The units left in each pool's allowance lot this month."""
        return {pool: lot.remaining for pool, lot in self.allowances.items()}

    @allowance_left.setter
    def allowance_left(self, units: dict[str, Decimal]) -> None:
        """Issue each pool a lot of `units`, valid to the end of the month being built."""
        month = self.month if self.started else None
        issued = None if month is None else local(month.start, self.zone)
        expires = None if month is None else local(month.end, self.zone)
        self.allowances = {pool: allowance_lot(pool, left, issued, expires)
                           for pool, left in units.items()}

    def _roll(self) -> None:
        """End the month: close its bill, open the next, settle bills issued at its start."""
        self._flush_all()
        if self.book.grants:
            self._end_monthly_grants()
        self._queue(self._close())
        self._open(next_month(self.month.key))
        while self.closings and self.closings[0].issue <= self.month.start:
            self._settle()
        self._grant()
        if self.book.grants:
            self._issue_grants(self.month.start, opening=False)

    # --- grants ----------------------------------------------------------------------------------

    def _issue_grants(self, moment: int, opening: bool) -> None:
        """Issue the grants due at `moment`: at the opening every grant (those issued `once`
        and the first month's), at a month's start the monthly ones."""
        for grant in self.book.grants:
            if grant.recurrence != MONTHLY and not opening:
                continue
            self._flush_all()
            issued = local(moment, self.zone)
            if grant.valid_amount is None:
                ends = self.month.end  # a monthly grant without a validity: its month
            else:
                try:
                    ends = add_period(moment, grant.valid_amount, grant.valid_unit, self.zone)
                except (ValueError, OverflowError):
                    raise UsageError(f"grant `{grant.name}` issued "
                                     f"{format_instant(moment, self.zone)} would expire after "
                                     "the year 9999") from None
            for meter in grant.meters:
                lot = grant.issue(meter, issued, local(ends, self.zone))
                self.grants_issued += 1
                self._hold_grant(lot, None if grant.valid_amount is None else ends)
                self.trigger[meter] = self._trigger(meter)

    def _hold_grant(self, lot: Lot, expires: int | None) -> None:
        """Hold a grant's lot: drawn earliest expiry first; it expires on its own if `expires`."""
        held = self.grant_lots[lot.meter]
        held.append(lot)
        held.sort(key=Lot.order_key)
        if expires is not None:
            heapq.heappush(self.grant_expiries, (expires, self.grants_issued, lot))
            self.next_event = min(self.next_event, expires)

    def _end_monthly_grants(self) -> None:
        """The month ends: the lots of monthly grants without a validity end with it (their
        unused units lapse, as an allowance's do)."""
        plans = {grant.name: grant for grant in self.book.grants}
        for meter, held in self.grant_lots.items():
            kept = [lot for lot in held
                    if not (lot.source in plans and plans[lot.source].valid_amount is None
                            and plans[lot.source].recurrence == MONTHLY)]
            if len(kept) != len(held):
                self.grant_lots[meter] = kept
                self.trigger[meter] = self._trigger(meter)

    def _issue_credit(self, name: str, amount: Decimal, moment: int, lot_id: str) -> None:
        """A credit lot issued at `moment`: valid for its credit's span."""
        plan = next(plan for plan in self.book.credits if plan.name == name)
        try:
            expires = add_period(moment, plan.valid_amount, plan.valid_unit, self.zone)
        except (ValueError, OverflowError):
            raise UsageError(f"credit `{name}` issued {format_instant(moment, self.zone)} "
                             "would expire after the year 9999") from None
        self.credits_issued += 1
        amount = self._money(amount)
        self.credit_lots.append(CreditLot(lot_id, name, amount, amount, local(moment, self.zone),
                                          local(expires, self.zone), plan.rank))

    def _resent(self, kind: str, entry_id: str | None, moment: int, line: int) -> bool:
        """Whether a purchase-like entry (a purchase, an order, a subscription, a credit) repeats
        an id seen before: then it is ignored and listed; else its id is remembered."""
        if not entry_id:
            return False
        if entry_id in self.seen_purchases:
            self._ignore(kind, entry_id, moment, line)
            return True
        self.seen_purchases.add(entry_id)
        return False

    def _credit_entry(self, moment: int, line: int, name: str, entry_id: str | None) -> None:
        """A prepaid credit bought: its id is the entry's (resent, it is ignored), or
        `CREDIT#N` numbered with the credits issued."""
        credit, _, amount = name.partition(" ")
        if self._resent("credit", entry_id, moment, line):
            return
        if not any(plan.name == credit for plan in self.book.credits):
            raise UsageError(f"line {line}: credit `{credit}` is not sold on "
                             f"{local(moment, self.zone).date().isoformat()} for this account")
        self._issue_credit(credit, Decimal(amount), moment,
                           entry_id or f"{credit}#{self.credits_issued + 1}")

    def _open_entry(self, moment: int, line: int) -> None:
        """An `open` entry: the account opened at its first entry; an `open` after that is
        refused (its grants were issued when the account opened)."""
        if moment <= self.opened_at:
            return
        self._refuse(
            line, "time",
            f"an `open` entry must be the account's first: this account opened "
            f"{format_instant(self.opened_at, self.zone)} (its first entry), and grants issued "
            "once were issued then")

    def _grant(self) -> None:
        """Issue the month's allowance, once a month, at the first instant the account may have
        it: the month's start, or its reopening if it was suspended then (`while active`)."""
        if self.granted or (self.book.billing.allowance_while_active and not self.active):
            return
        self._flush_all()
        self.allowance_left = self.book._new_allowances()
        self.granted = True
        self._retrigger()

    def _expire(
        self, expiries: list[tuple[int, int, Lot]], held: dict[str, list[Lot]]
    ) -> None:
        """The earliest lot on `expiries` (the packs' or the grants') reaches its expiry: what
        is left in it is void, reported, and alerted if the lot raises alerts (a pack)."""
        moment, _, lot = heapq.heappop(expiries)
        if lot.remaining > 0:
            self._flush(lot.meter, None)  # usage before the expiry still draws from the lot
        void = lot.remaining
        if void > 0:
            time = stamp(moment, self.zone)
            self.month.void.append(VoidUnits(lot.id, lot.meter, lot.size, void, time))
            if lot.alerts and self.book.alerts.expired:
                self.month.alerts.append(
                    Alert(AlertKind.EXPIRED, lot.meter, lot.id, lot.size, void, time))
            lot.remaining = ZERO
        lots = held[lot.meter]
        if any(other is lot for other in lots):
            held[lot.meter] = [other for other in lots if other is not lot]
            self.trigger[lot.meter] = self._trigger(lot.meter)

    def _close_day(self) -> None:
        """End the day for the meters billed day by day: their units of the day (drawn up to
        here) leave the month's tallies for the day's bill, issued at the next day's start."""
        if not self.billed_daily:
            return
        month = self.month
        usage = month.days.get(month.day)
        if not usage:
            return
        book = self.book
        prepaid: list[BillLine] = []
        period: dict[str, MeterUsage] = {}
        for name in self.billed_daily:
            used = usage.pop(name, None)
            # The month keeps its tally of the allowance (granted a month, drawn over its
            # days); the day's pack and postpaid units go to the day's bill.
            packs = tuple((lot, taken) for lot, taken in month.packs.pop(name, {}).values())
            grants = tuple((lot, taken) for lot, taken in month.grants.pop(name, {}).values())
            postpaid = month.postpaid.pop(name, ZERO)
            if used is None or used.total <= 0:
                continue
            prepaid.extend(book._prepaid_lines(book.meter(name), Deduction(
                used.allowance, packs, postpaid, grants)))
            period[name] = used
        if not usage:
            del month.days[month.day]
        if not period:
            return
        on = date.fromisoformat(month.day)
        lines = [line._replace(period=on) for line in prepaid]
        try:
            lines.extend(line._replace(period=on)
                         for line in book._postpaid_period(period, "day"))
        except ContactSalesError as exc:
            raise ContactSalesError(f"{month.day}: {exc}", exc.meter, exc.quantity,
                                    exc.bracket) from None
        except UsageError as exc:
            raise type(exc)(f"{month.day}: {exc}") from None
        bill = book._make_bill(book._ordered(lines), (), date(*month.key, 1), day=on)
        issued = on + timedelta(days=1)
        if self.credit_lots:  # credits pay a daily bill's lines as a month's, at its end
            end = local(day_start(issued, self.zone), self.zone)
            bill = apply_credits(bill, self.credit_lots, {c.name: c for c in book.credits}, end)
            bill = attrs.evolve(bill, total=book._total(bill.lines))
        month.days_spent += bill.total
        self._queue(_Closing(attrs.evolve(bill, issued=issued), day_start(issued, self.zone)))

    def _queue(self, closing: _Closing) -> None:
        """Wait for a closed bill's issue, in the order of issue (a month's bill issued on day 3
        comes after the daily bills of the next month's first two days)."""
        closings = self.closings
        at = len(closings)
        while at and closings[at - 1].issue > closing.issue:
            at -= 1
        closings.insert(at, closing)

    def _close(self) -> _Closing:
        """The month's bill, priced now that its quantities are known."""
        book = self.book
        month = self.month
        lines = []
        period: dict[str, MeterUsage] = {}
        for plan in book.meters:
            name = plan.name
            for subscription, units in month.covered.get(name, {}).items():
                lines.append(BillLine(name, Source.SUBSCRIPTION, units, ZERO, ZERO,
                                      book.rounding.round(ZERO), pack=subscription))
            allowance = month.allowance.get(name, ZERO)
            packs = tuple((lot, taken) for lot, taken in month.packs.get(name, {}).values())
            grants = tuple((lot, taken) for lot, taken in month.grants.get(name, {}).values())
            postpaid = month.postpaid.get(name, ZERO)
            drawn = Deduction(allowance, packs, postpaid, grants)
            total = drawn.prepaid + postpaid
            if total <= 0:
                continue
            if name in self.billed_daily:  # (on the bills of its days)
                continue
            lines.extend(book._prepaid_lines(plan, drawn))
            if name not in self.daily:
                period[name] = MeterUsage(total, allowance, postpaid)
        try:
            lines.extend(book._postpaid_period(period, "month"))
            for day in sorted(month.days):
                on = date.fromisoformat(day)
                used = month.days[day]
                if self.billed_daily:  # (a preview's current day: not the month's to bill)
                    used = {m: u for m, u in used.items() if m not in self.billed_daily}
                lines.extend(
                    line._replace(period=on)
                    for line in book._postpaid_period(used, "day")
                )
        except ContactSalesError as exc:  # the month named, and which meter, units, bracket
            raise ContactSalesError(f"{month_label(month.key)}: {exc}", exc.meter, exc.quantity,
                                    exc.bracket) from None
        except UsageError as exc:
            raise type(exc)(f"{month_label(month.key)}: {exc}") from None
        fees, charges = self._fees()
        bill = book._make_bill(book._ordered(lines) + fees, month.alerts, date(*month.key, 1),
                               days_spent=month.days_spent)
        if self.credit_lots:
            end = local(month.end, self.zone)
            bill = apply_credits(bill, self.credit_lots, {c.name: c for c in book.credits}, end)
            bill = attrs.evolve(bill, total=book._total(bill.lines))
            # Spent or expired lots are dropped once their last bill lists them.
            self.credit_lots = [lot for lot in self.credit_lots
                                if lot.remaining > 0 and lot.expires > end]
        issued = issue_date(month.key, book.billing.issued_day)
        bill = attrs.evolve(
            bill,
            issued=issued,
            prepaid=tuple(month.prepaid),
            prepaid_total=self._money(sum((p.price for p in month.prepaid), ZERO)),
            packs=self._balances(),
            void=tuple(month.void),
            rejected=tuple(
                RejectedUsage(self.owner[action], action, Decimal(units), int(entries))
                for action, (units, entries) in self._by_meter(month.rejected)
            ) + tuple(
                RejectedUsage(self.owner[action], action, Decimal(units), int(entries),
                              "packs exhausted")
                for action, (units, entries) in self._by_meter(month.stopped)
            ),
            refunds=tuple(month.refunds),
            refund_total=self._money(sum((r.amount for r in month.refunds), ZERO)),
            orders=tuple(month.orders),
            orders_total=self._money(sum((o.amount for o in month.orders), ZERO)),
            subscriptions=charges,
            free=tuple(
                FreeUsage(self.owner[action], action, Decimal(units))
                for action, units in self._by_meter(month.free)
            ),
            ignored=tuple(month.ignored),
            events=tuple(month.events),
        )
        return _Closing(bill, day_start(issued, self.zone))

    def _fees(self) -> tuple[list[BillLine], tuple[SubscriptionCharge, ...]]:
        """The month's `fee` lines: each subscription and fee for the part of the month it ran,
        and how that part was counted."""
        month = self.month
        rounding = self.book.rounding
        lines: list[BillLine] = []
        charges: list[SubscriptionCharge] = []
        for held, plan in self.coverage.charged(month.start, month.end):
            part = proration(plan, held, month.start, month.end, self.zone)
            if part is None:
                continue
            label, price = plan.price(held.quantity)
            assert price is not None, "the reader refuses a subscription sold by negotiation"
            precise = amount(price, held.quantity, part)
            rounded = rounding.round(precise)
            lines.append(BillLine(plan.name, Source.FEE, held.quantity, price, precise, rounded,
                                  label, held.id))
            charges.append(SubscriptionCharge(
                held.id, plan.name, held.quantity, label, price, plan.period,
                stamp(part.start, self.zone), stamp(part.end, self.zone), part.measure,
                part.used, part.of, precise, rounded, held.meter, plan.automatic))
        return lines, tuple(charges)

    def _settle(self) -> None:
        """Issue the oldest closed bill; settle it from the balance if the account keeps one."""
        closing = self.closings.popleft()
        bill = closing.bill
        if self.book.billing.settle_from_balance and self.balance is not None:
            before = self.balance
            after = before - bill.total
            self.balance = after
            suspend = after < 0 and not self.in_debt
            time = stamp(closing.issue, self.zone)
            bill = attrs.evolve(bill, settlement=Settlement(
                time, before, min(bill.total, max(before, ZERO)), after,
                -after if after < 0 else ZERO, suspend,
            ))
            if suspend:
                self._flush_all()
                self.in_debt = True
                self.active = False
                if closing.issue < self.month.end:
                    self.month.events.append(AccountEvent(
                        time, "suspend", SUSPENDED, "arrears", balance=after, automatic=True
                    ))
        if self.book.billing.skip_empty and bill.empty and (
                bill.settlement is None or not bill.settlement.suspended):
            if bill.month is not None:
                self.skipped.append(bill.month)
            return
        self.bills.append(bill)

    # --- entries other than usage ----------------------------------------------------------------

    def _entry(
        self, moment: int, line: int, kind: int, name: str, count: Quantity, entry_id: str | None
    ) -> None:
        if kind == PURCHASE:
            self._purchase(moment, line, name, count, entry_id)
        elif kind == SUSPEND:
            self._flush_all()
            self.manual[name] = None
            self.active = False
            self._event(moment, "suspend", reason=name)
        elif kind == REOPEN:
            self._flush_all()
            self.manual.clear()
            self.active = not self.in_debt
            self._event(moment, "reopen", reason=None if self.active else "arrears")
            self._grant()
        elif kind == TOPUP:
            self._topup(moment, Decimal(name))
        elif kind == REFUND:
            self._refund(moment, line, name)
        elif kind == ORDER:
            self._order(moment, line, name, count, entry_id)
        elif kind == SUBSCRIBE:
            self._subscribe(moment, line, name, count, entry_id)
        elif kind == CANCEL:
            self._cancel(moment, line, name)
        elif kind == OPEN:
            self._open_entry(moment, line)
        elif kind == CREDIT:
            self._credit_entry(moment, line, name, entry_id)

    def _subscribe(
        self, moment: int, line: int, name: str, quantity: Quantity, entry_id: str | None
    ) -> None:
        """A subscription bought (checked by the reader: a plan, a quantity it sells, the
        meter it covers if it covers one of several). Its id is a purchase's (resent, it is
        ignored), or `PLAN#N` numbered with the purchases."""
        plan, _, meter = name.partition(" ")
        if self._resent("subscribe", entry_id, moment, line):
            return
        self.purchases += 1
        held = Held(entry_id or f"{plan}#{self.purchases}", plan, Decimal(quantity), moment,
                    meter=meter or None)
        self.coverage.add(held)
        if self.defer:
            self.started_at.setdefault(held.id, moment)

    def _cancel(self, moment: int, line: int, subscription: str) -> None:
        """A subscription ended at `moment`: refused (as a refund is) unless it is held, a
        subscription (not a fee), and started by then; a second cancel is a resend, ignored."""
        if subscription in self.cancelled:
            self._ignore("cancel", subscription, moment, line)
            return
        held = self.coverage.find(subscription)
        problem = None
        if held is None and self.defer:  # told apart at the end of the pass
            self.unknown_cancels.append((line, moment, subscription))
            return
        if held is None:
            problem = self._unknown(subscription, moment, None)
        elif self.coverage.plans[held.plan].automatic:
            problem = f"`{subscription}` is a fee of the rules, which every account pays"
        elif moment < held.start:
            problem = (f"subscription `{subscription}` cannot be cancelled at "
                       f"{format_instant(moment, self.zone)}: it starts "
                       f"{format_instant(held.start, self.zone)}")
        if problem is not None:
            self._refuse(line, "subscription", problem)
            return
        assert held is not None
        held.end = moment
        self.cancelled.add(subscription)

    def _unknown(self, subscription: str, moment: int, start: int | None) -> str:
        """Why a cancel of no subscription held is refused."""
        if start is not None and start > moment:
            return (f"subscription `{subscription}` cannot be cancelled at "
                    f"{format_instant(moment, self.zone)}: it starts "
                    f"{format_instant(start, self.zone)}")
        return (f"no subscription `{subscription}` is held: a cancel names a subscription by "
                "its subscribe entry's id (or the id the bill gives it)")

    def _refuse(self, line: int, field: str, problem: str) -> None:
        """An entry the account's state refuses: the journal's error, or reported to
        `on_invalid` and skipped; deferred to the end of a pass that may turn out to be out of
        time order."""
        error = JournalError(self.path, line - self.line_base, field, problem)
        if self.defer:
            self.refusals.append(error)
        elif self.on_invalid is None:
            raise error
        else:
            self.on_invalid(error)

    def _purchase(
        self, moment: int, line: int, name: str, offer_index: Quantity, entry_id: str | None
    ) -> None:
        """A pack bought: `name` is the meter, and the price paid if the entry gave one;
        `offer_index` is the offer's index in the meter's packs, or, for a book with a
        timeline, the pack's size (see journal.EntryReader.purchase)."""
        meter, _, paid = name.partition(" ")
        if self._resent("purchase", entry_id, moment, line):
            return
        self._flush(meter, None)
        if self.timeline:  # the pack's size, price and validity of the day it is bought
            sheet = self.sheet(local(moment, self.zone).date())
            offer = self._offer(sheet, meter, offer_index, moment, line)
        else:
            sheet = self.book
            offer = self.plans[meter].packs[int(offer_index)]
        policy = sheet.packs
        terms = sheet.meter(meter).pack_terms
        if offer.price is None and not paid:  # (an account kept on a sheet that negotiates)
            raise UsageError(f"line {line}: the pack of {format_plain(offer.size)} `{meter}` is "
                             "sold by negotiation (`contact sales`): give its `price`")
        self.purchases += 1
        lot_id = entry_id or f"{meter}:{format_plain(offer.size)}#{self.purchases}"
        try:
            expires = add_period(moment, terms.valid_amount, terms.valid_unit, self.zone)
        except (ValueError, OverflowError):
            raise UsageError(f"line {line}: a pack bought {format_instant(moment, self.zone)} "
                             "would expire after the year 9999") from None
        price_paid = Decimal(paid) if paid else None
        listed = offer.price
        lot = Lot(lot_id, meter, offer.size, offer.size,
                  listed if listed is not None else price_paid or ZERO,
                  local(moment, self.zone), local(expires, self.zone),
                  paid=price_paid)
        lots = self.lots[meter]
        lots.append(lot)
        if policy.order == "purchase" and policy.smallest_first:
            lots.sort(key=lambda held: (held.order_key()[1], held.size))
        elif policy.order == "purchase":
            lots.sort(key=lambda held: held.order_key()[1])
        else:
            lots.sort(key=Lot.order_key)
        heapq.heappush(self.expiries, (expires, self.purchases, lot))
        self.next_event = min(self.next_event, expires)
        shown = None if listed is None else self._money(listed)
        price = self._money(price_paid) if price_paid is not None else shown
        assert price is not None, "a negotiated pack's purchase gives its price"
        self.month.prepaid.append(PrepaidPurchase(
            lot_id, meter, offer.size, price,
            stamp(moment, self.zone), stamp(expires, self.zone),
            list_price=shown if paid else None,
        ))
        self.trigger[meter] = self._trigger(meter)

    def _refund(self, moment: int, line: int, pack: str) -> None:
        """A pack returned: refused (the journal's error, or reported to `on_invalid` and
        skipped) unless it is held, undrawn, and within its table's refund window; a second
        refund of a refunded pack is a resend, ignored."""
        lot = next((held for _, _, held in self.expiries if held.id == pack), None)
        if lot is not None and lot.refunded:
            self._ignore("refund", pack, moment, line)
            return
        if lot is not None:
            self._flush(lot.meter, None)  # usage before the refund draws from the pack
        problem = self._refusal(moment, pack, lot)
        if problem is not None:
            self._refuse(line, "pack", problem)
            return
        assert lot is not None and lot.purchased is not None
        lot.remaining = ZERO
        lot.refunded = True
        self.lots[lot.meter] = [held for held in self.lots[lot.meter] if held is not lot]
        self.trigger[lot.meter] = self._trigger(lot.meter)
        self.month.refunds.append(RefundedPack(
            lot.id, lot.meter, lot.size, self._money(lot.price_paid),
            stamp(moment, self.zone), fixed(lot.purchased)))

    def _order(
        self, moment: int, line: int, name: str, quantity: Quantity, entry_id: str | None
    ) -> None:
        """An order (checked by the reader: a product, at least its minimum, a price where its
        bracket has none): priced by the sheet of the day, listed on the month's bill. Its id
        is a purchase's (resent, it is ignored), or `PRODUCT#N` numbered with the purchases."""
        product, _, paid = name.partition(" ")
        if self._resent("order", entry_id, moment, line):
            return
        sheet = self.sheet(local(moment, self.zone).date()) if self.timeline else self.book
        plan = next(plan for plan in sheet.orders if plan.name == product)
        units = Decimal(quantity)
        bracket = plan.ladder.bracket_for(units)
        listed = None
        if not bracket.contact_sales:
            listed = sheet.rounding.round(plan.charge(units).precise_amount)
        self.purchases += 1
        amount = self._money(Decimal(paid)) if paid else listed
        assert amount is not None, "an order in a contact-sales bracket gives its price"
        self.month.orders.append(OrderedUnits(
            entry_id or f"{product}#{self.purchases}", product, units, bracket.label,
            bracket.price, amount, stamp(moment, self.zone),
            list_amount=listed if paid else None))

    def refunded_packs(self) -> set[str]:
        """The ids of the packs refunded and not yet expired (a refund of one is a resend)."""
        return {lot.id for _, _, lot in self.expiries if lot.refunded}

    def _refusal(self, moment: int, pack: str, lot: Lot | None) -> str | None:
        """Why pack `pack` cannot be refunded at `moment`, or None if it can."""
        if lot is None:
            return (f"no pack `{pack}` is held: a refund names a pack bought and not expired, "
                    "by its purchase id (or the id the bill gives it)")
        assert lot.purchased is not None
        terms = self.sheet(lot.purchased.date()).meter(lot.meter).pack_terms \
            if self.timeline else self.plans[lot.meter].pack_terms
        if terms.refund_amount is None:
            return (f"pack `{pack}` cannot be refunded: the packs of `{lot.meter}` are not "
                    "refundable")
        bought = instant(lot.purchased, self.zone)
        closes = add_period(bought, terms.refund_amount, terms.refund_unit, self.zone)
        window = f"{terms.refund_amount} {terms.refund_unit}" + (
            "s" if terms.refund_amount != 1 else "")
        if moment >= closes:
            return (f"pack `{pack}` cannot be refunded: bought {lot.purchased.isoformat()}, its "
                    f"refund window of {window} closed {format_instant(closes, self.zone)}")
        if lot.remaining < lot.size:
            used = format_plain(lot.size - lot.remaining)
            return (f"pack `{pack}` cannot be refunded: {used} of its "
                    f"{format_plain(lot.size)} units have been drawn (only an unused pack is "
                    "refunded)")
        return None

    def _offer(
        self, sheet: PriceBook, meter: str, size: Quantity, moment: int, line: int
    ) -> PackOffer:
        """The offer of `size` on sale for the account when it buys: the reader checked that
        some sheet sells it; an account kept on earlier prices may still be on one that does
        not."""
        plan = sheet.meter(meter)
        offer = plan.pack(Decimal(size))
        if offer is None:
            sizes = ", ".join(format_plain(o.size) for o in plan.packs) or "none"
            raise UsageError(
                f"line {line}: meter `{meter}` has no pack of size {format_plain(Decimal(size))} "
                f"on sale on {local(moment, self.zone).date().isoformat()} for this account "
                f"(sizes then: {sizes})")
        return offer

    def _topup(self, moment: int, amount: Decimal) -> None:
        self._flush_all()
        self.balance = (self.balance if self.balance is not None else ZERO) + amount
        paid_off = self.in_debt and self.balance >= 0
        if paid_off:
            self.in_debt = False
        self.active = not self.manual and not self.in_debt
        self._event(moment, "topup", amount=amount)
        if paid_off and self.active:
            self._event(moment, "reopen", automatic=True)
            self._grant()

    def _event(
        self,
        moment: int,
        kind: str,
        reason: str | None = None,
        amount: Decimal | None = None,
        automatic: bool = False,
    ) -> None:
        if reason is None and not self.active:
            reason = ", ".join(self.manual) or "arrears"
        self.month.events.append(AccountEvent(
            stamp(moment, self.zone), kind, ACTIVE if self.active else SUSPENDED,
            reason, amount, self.balance, automatic,
        ))

    def _ignore(self, kind: str, entry_id: str, moment: int, line: int) -> None:
        self.month.ignored.append(
            IgnoredEntry(kind, entry_id, stamp(moment, self.zone), line)
        )

    def _stop(self, action: str, units: Decimal) -> None:
        """Units of an entry past the allowance and packs of a meter that stops: rejected."""
        held = self.month.stopped.get(action)
        if held is None:
            self.month.stopped[action] = [units, 1]
        else:
            held[0] += units
            held[1] += 1

    def _reject(self, action: str, count: Quantity) -> None:
        held = self.month.rejected.get(action)
        if held is None:
            self.month.rejected[action] = [count, 1]
        else:
            held[0] += count
            held[1] += 1

    # --- drawing usage ----------------------------------------------------------------------------

    def _flush(self, meter: str, moment: int | None, action: str | None = None) -> None:
        """Draw the meter's pending units; `moment` is the entry that reached the trigger, whose
        time the alerts raised now carry (None for a draw before a state change: none fire),
        and `action` its action (units past the packs of a meter that stops are its own)."""
        quantity = self.pending[meter]
        self.pending[meter] = 0
        lots = self.lots[meter]
        if quantity:
            grants = self.grant_lots[meter]
            allowance = (self.allowances[self.pool_of[meter]],)
            if self.subscribing and self.coverage.covers(meter):
                # What the subscriptions running at the entry's time cover, as lots.
                at = self.last if moment is None else moment
                covering = self.coverage.lots(meter, at, Decimal(quantity))
                drawn = deduct(Decimal(quantity), self.order, allowance, grants, lots, covering)
                if drawn.covered:
                    self.coverage.settle(meter, at, drawn.covered)
                    by_subscription = self.month.covered.setdefault(meter, {})
                    for lot, units in drawn.covered:
                        by_subscription[lot.id] = by_subscription.get(lot.id, ZERO) + units
            else:
                drawn = deduct(Decimal(quantity), self.order, allowance, grants, lots)
            if drawn.grants and any(lot.remaining <= 0 for lot in grants):
                self.grant_lots[meter] = [lot for lot in grants if lot.remaining > 0]
            if drawn.postpaid and meter in self.stopping:
                # Drawn entry by entry (trigger 0): the units past the packs are this entry's.
                assert action is not None, "a meter that stops has nothing pending"
                self._stop(action, drawn.postpaid)
                drawn = attrs.evolve(drawn, postpaid=ZERO)
            self.month.add(meter, drawn)
            if meter in self.daily:
                self.month.add_day(meter, drawn)
        if moment is not None and lots:
            alerts = lot_alerts(lots, self.low, self.exhausted_alerts, stamp(moment, self.zone))
            self.month.alerts.extend(alerts)
        if any(lot.remaining <= 0 for lot in lots):
            self.lots[meter] = [lot for lot in lots if lot.remaining > 0]
        self.trigger[meter] = self._trigger(meter)

    def _flush_all(self) -> None:
        for meter in self.pending:
            if self.pending[meter]:
                self._flush(meter, None)

    def _retrigger(self) -> None:
        for meter in self.trigger:
            self.trigger[meter] = self._trigger(meter)

    def _trigger(self, meter: str) -> int:
        """A pending quantity at or below the one at which the meter's next alert would fire."""
        if not self.aggregate or meter in self.stopping or self.coverage.covers(meter):
            return 0
        allowance = self.allowances[self.pool_of[meter]]
        if allowance.remaining > 0 and self.pool_of[meter] in self.shared_pools:
            return 0
        lots = self.lots[meter]
        if not lots:
            return NEVER
        base = ZERO  # units drawn before the lot in hand
        point: Decimal | None = None
        held = ((allowance,), self.grant_lots[meter], lots)
        for step in self.order:  # the burn-down's walk, without drawing
            if step == POSTPAID:
                break
            for kept in held:
                for lot in kept:
                    remaining = lot.remaining
                    if lot.source != step or remaining <= 0:
                        continue
                    if lot.alerts:
                        if self.low is not None and not lot.alerted_low:
                            low_at = base + remaining - lot.size * self.low  # fires above this
                            point = low_at if point is None else min(point, low_at)
                        if self.exhausted_alerts and not lot.alerted_exhausted:
                            empty_at = base + remaining  # fires at this
                            point = empty_at if point is None else min(point, empty_at)
                    base += remaining
        if point is None:
            return NEVER
        return int(point.to_integral_value(rounding=ROUND_FLOOR))

    # --- presenting -------------------------------------------------------------------------------

    def _balances(self) -> tuple[PackBalance, ...]:
        held = []
        for plan in self.book.meters:
            for lot in self.lots[plan.name]:
                if lot.remaining > 0:
                    assert lot.purchased is not None and lot.expires is not None
                    held.append(PackBalance(lot.id, lot.meter, lot.size, lot.remaining,
                                            fixed(lot.purchased), fixed(lot.expires)))
        return tuple(held)

    def _by_meter(self, per_action: Mapping[str, Any]) -> list[tuple[str, Any]]:
        return sorted(per_action.items(), key=lambda item: (self.rank[self.owner[item[0]]],
                                                            item[0]))

    def _money(self, amount: Decimal) -> Decimal:
        """An amount shown to the currency's minor unit when that loses nothing (18 → 18.00)."""
        shown = amount.quantize(self.book.rounding.increment, context=CONTEXT)
        return shown if shown == amount else amount


def _shared_pools(book: PriceBook) -> set[str]:
    """The allowance pools several meters draw from (drawn entry by entry while they last)."""
    members: dict[str, int] = {}
    for plan in book.meters:
        members[plan.pool] = members.get(plan.pool, 0) + 1
    return {p for p, n in members.items() if n > 1} | set(book.allowance_pools)


def _stopping_meters(book: PriceBook) -> frozenset[str]:
    """The meters whose packs stop service when exhausted (`stop when exhausted`)."""
    return frozenset(plan.name for plan in book.meters if plan.pack_terms.stop_when_exhausted)


def _daily_meters(book: PriceBook) -> set[str]:
    """The meters priced by daily ladders."""
    return {
        meter
        for group in book.ladder_groups if group.ladder.period == "day"
        for meter in group.meters
    }


def bill_journal(
    book: PriceBook,
    journal: JournalInput,
    month: str | date | None = None,
    on_invalid: OnInvalid | None = None,
    *,
    aggregate: bool = True,
) -> list[Bill] | Bill:
    """Replay a journal: every month's bill from the first entry's month to the last's, or the
    one bill of `month` (`YYYY-MM`, or a `date` in it such as a bill's `month`; UsageError if
    the journal does not reach it)."""
    wanted: date | None = None
    if isinstance(month, datetime):
        raise UsageError(f"a month is YYYY-MM or a date, not a datetime "
                         f"({month.isoformat()}): its month depends on a timezone")
    if isinstance(month, date):
        wanted = date(month.year, month.month, 1)
    elif month is not None:
        try:  # (a month that is not a string is a TimeError too)
            wanted = date(*parse_month(month), 1)
        except TimeError as exc:
            raise UsageError(str(exc)) from None
    source = open_journal(book, journal, on_invalid)
    refused = _Refused(on_invalid)
    try:
        with decimal.localcontext(CONTEXT):
            replayed = _replay(book, source.records(), aggregate, source.path, refused)
            if replayed is None:
                replayed = _replay(book, sorted_records(source.records()), aggregate,
                                   source.path, refused)
                assert replayed is not None, "a sorted journal is in order"
    finally:
        source.close()
    bills, skipped = replayed
    if wanted is None:
        return bills
    for bill in bills:
        if bill.month == wanted and bill.day is None:  # (the month's, not one of its days')
            return bill
    label = month_text(wanted)
    if wanted in skipped:
        raise UsageError(f"no bill for {label}: nothing was owed or reported that month, and "
                         "the rules say `skip empty`")
    if not bills:
        raise UsageError(f"no bill for {label}: the journal has no entries")
    first, last = bills[0].month, bills[-1].month
    assert first is not None and last is not None
    raise UsageError(f"no bill for {label}: the journal runs from {month_text(first)} "
                     f"to {month_text(last)}")


def bill_records(book: PriceBook, records: Iterable[Record]) -> list[Bill]:
    """Every month's bill of records already read (`EntryReader`) and in time order: the
    warehouse's compressed journals, whose request parts (a meter's units made by requests)
    have no entry of their own. UsageError for records out of time order."""

    def generate() -> Generator[Record, None, None]:
        yield from records

    with decimal.localcontext(CONTEXT):
        replayed = _replay(book, generate(), True)
    if replayed is None:
        raise UsageError("the records to replay are not in time order")
    return replayed[0]


class _Refused:
    """Passes entries the replay refuses to `on_invalid`, each once, however many passes the
    journal takes (one out of time order is read twice); None if there is no callback."""

    def __init__(self, on_invalid: OnInvalid | None) -> None:
        self.on_invalid = on_invalid
        self.lines: set[int] = set()

    def __call__(self, error: JournalError) -> None:
        assert self.on_invalid is not None
        if error.line not in self.lines:
            self.lines.add(error.line)
            self.on_invalid(error)


def _replay(
    book: PriceBook, records: ClosableRecords, aggregate: bool,
    path: str | None = None, refused: _Refused | None = None,
) -> tuple[list[Bill], list[date]] | None:
    """The bills and the months `skip empty` left out, or None if the records are not in time
    order."""
    try:
        replay = Replay(book, aggregate)
        replay.path = path
        replay.defer = True
        if refused is not None and refused.on_invalid is not None:
            replay.on_invalid = refused
        return replay.run(records), replay.skipped
    except OutOfOrderError:
        return None
    finally:
        records.close()
