"""The compiled price book: meters, routes from actions to meters, packs, ladders, and quotes."""

from __future__ import annotations

import decimal
import warnings
from bisect import bisect_left
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload
from zoneinfo import ZoneInfo

import attrs

from ratecard.diagnostics import Diagnostic, did_you_mean
from ratecard.engine import contracts, quoteplan
from ratecard.engine.bills import Alert, Bill, BillLine, Source
from ratecard.engine.credits import CreditPlan
from ratecard.engine.deduction import (
    MONTHLY,
    Deduction,
    GrantPlan,
    Lot,
    allowance_lot,
    deduct,
    lot_alerts,
)
from ratecard.engine.ladders import Charge, Ladder
from ratecard.engine.money import CONTEXT, ZERO, Rounding
from ratecard.engine.offers import FREE as FREE  # re-exported (the replay reads engine.offers)
from ratecard.engine.offers import PackOffer as PackOffer
from ratecard.engine.pricing import LadderGroup, MeterUsage
from ratecard.engine.quoteplan import (
    AloneCharger,
    AlonePricer,
    ChargeTable,
    QuotePlan,
)
from ratecard.engine.requests import PriceTable, RequestPlan
from ratecard.engine.subscriptions import SubscriptionPlan
from ratecard.errors import ContactSalesError, UsageError
from ratecard.literals import (
    MAX_COUNT,
    CountError,
    NumberError,
    count_value,
    format_plain,
    shorten,
    shown_number,
)

if TYPE_CHECKING:
    from ratecard.engine.journal import JournalInput, OnInvalid


@attrs.frozen
class PackTerms:
    """The options of the pack table that holds a meter's packs: how long a pack lasts, how
    long an undrawn one may be refunded (None: no refund entry is taken), and whether usage
    past the allowance and the packs is rejected instead of postpaid."""

    valid_amount: int = 1
    valid_unit: str = "year"
    refund_amount: int | None = None
    refund_unit: str = "day"
    stop_when_exhausted: bool = False


@attrs.frozen
class MeterPlan:
    """Everything the evaluator needs about one meter, precomputed."""

    name: str
    labels: tuple[str, ...]
    unit: tuple[str, ...]
    actions: tuple[str, ...]
    free_actions: tuple[str, ...]
    allowance: Decimal
    ladder: Ladder | None
    packs: tuple[PackOffer, ...]
    quantity_rounding: Rounding | None = None
    allowance_pool: str | None = None  # a pool `shared` with other meters, or its own
    # A display unit (`unit "小时" / "hour" = 3600 "秒" / "second"`): its labels and how many
    # metered units make one. Quantities stay metered; sheets show them and prices in it.
    display_unit: tuple[str, ...] = ()
    display_size: Decimal | None = None
    pack_terms: PackTerms = PackTerms()
    # `quantity at least N per entry`: each entry of more than 0 units counts at least N.
    entry_minimum: Decimal | None = None
    # How the price sheet words the minimum (`quantity at least ... per entry "..." / "..."`).
    entry_minimum_wording: tuple[str, ...] = ()
    # `counts A in hours`: the actions whose counts are in the display unit, and how many
    # metered units one of their units is (the display unit's size).
    count_scales: tuple[tuple[str, Decimal], ...] = ()
    # `amount rounded MODE to INCREMENT`: how each of the meter's bill lines is rounded (in
    # place of the sheet's rounding of a line).
    amount_rounding: Rounding | None = None

    @property
    def pool(self) -> str:
        """The allowance pool this meter draws from: a shared pool's name, or its own name."""
        return self.allowance_pool or self.name

    def count(self, action: str, raw: int | Decimal | str) -> Decimal:
        """A recorded quantity: whole, or, with `quantity rounded`, decimal and rounded so; a
        count in the display unit (`counts A in hours`) is first made metered units."""
        for scaled, size in self.count_scales:
            if scaled == action:
                number = CONTEXT.multiply(parse_count(action, raw, whole=False), size)
                if self.quantity_rounding is not None:
                    return self.quantity_rounding.round(number)
                if number != number.to_integral_value():
                    raise UsageError(f"`{action}`: {shown_number(number)} {self.name} units "
                                     "is not a whole number of units")
                return number
        if self.quantity_rounding is None:
            return parse_count(action, raw)
        return self.quantity_rounding.round(parse_count(action, raw, whole=False))

    def pack(self, size: Decimal) -> PackOffer | None:
        """The pack of this size, if it is on sale for this meter."""
        for offer in self.packs:
            if offer.size == size:
                return offer
        return None


@attrs.frozen
class OrderPlan:
    """A product bought once, `quantity` units at a time (device licences): at least
    `minimum` units an order, every unit priced at the bracket the order's quantity falls in
    (all-units); a bracket without a price (`contact sales`) needs the order's own price."""

    name: str
    labels: tuple[str, ...]
    unit: tuple[str, ...]
    minimum: Decimal
    ladder: Ladder

    def charge(self, quantity: Decimal) -> Charge:
        """The order of `quantity` units priced (ContactSalesError in an unpriced bracket)."""
        return self.ladder.charge(self.ladder.bracket_for(quantity), quantity, self.name)


@attrs.frozen
class HeldPack:
    """A pack held at the start of a quoted month: meter, size, units left (default: all).

    `size` is one of the meter's pack sizes (a str in any number form, `"10万"`, is read too);
    `remaining` is a count (Decimal, int or str), whole on a meter of whole units.
    """

    meter: str
    size: Decimal
    remaining: Decimal | int | str | None = None


@attrs.frozen
class AlertPolicy:
    """Which pack alerts the rules raise: below a fraction of the size, exhausted, expired."""

    low_threshold: Decimal | None = None
    exhausted: bool = False
    expired: bool = False


@attrs.frozen
class PackPolicy:
    """How long packs last, how they are ordered when drawn, and what they do not allow."""

    valid_amount: int = 1  # the first table's (each meter's own: `MeterPlan.pack_terms`)
    valid_unit: str = "year"
    order: str = "expiry"
    refundable: bool = True
    frozen_after_expiry: bool = True
    smallest_first: bool = False  # `by purchase then smallest`: packs bought together


@attrs.frozen
class BillingPolicy:
    """When bills are issued and how they settle; why an account may be suspended."""

    issued_day: int = 1
    settle_from_balance: bool = False
    suspend_reasons: tuple[str, ...] = ()
    allowance_while_active: bool = False
    # `skip empty`: no bill for a month with nothing owed or reported (`Bill.empty`).
    skip_empty: bool = False
    # `bill per day on ...`: the meters with a bill of their own for each day they are used
    # (issued and settled at the start of the next day), in the order of the meters.
    daily: tuple[str, ...] = ()


@attrs.frozen
class ContractTerms:
    """A customer contract in effect for a book's periods (see `PriceBook.with_contract`).

    `discounts` maps a meter to the fraction taken off each of its postpaid lines (0.2 for 20%
    off: the line's precise amount times 0.8, then rounded; the difference is a `discount`
    line). `minimum` is the least a month's bill comes to: a `true_up` line makes up the
    difference from the sum of the rounded lines. The contract's other terms (prices, ladders,
    pack prices, allowances) are already in the book it is attached to.
    """

    name: str
    labels: tuple[str, ...]
    accounts: tuple[str, ...]
    start: date
    end: date | None  # exclusive; None: open-ended
    discounts: Mapping[str, Decimal] = attrs.field(factory=dict)
    minimum: Decimal | None = None
    file: str = ""


@attrs.frozen
class Segment:
    """A later part of a book's timeline: the sheet `book` is in effect from the day `start`
    (in the rules' timezone, always a period start) until the next segment's.

    Grandfathering: with `keep_before`, an account opened before that day keeps the previous
    segment's sheet until `keep_until` (see `PriceBook.for_account`).
    """

    start: date
    book: PriceBook
    keep_before: date | None = None
    keep_until: date | None = None


TRUE_UP_METER = "*"  # the meter named by a contract's true-up line: the whole bill
def bill_total(rounding: Rounding, lines: Iterable[BillLine]) -> Decimal:
    """A bill's total: its lines' sum, rounded as the rules say (per line it is the sum of
    rounded lines; on total the precise sum rounded once; exact, the sum). A contract's true-up
    line is added after that rounding: it is what brings the rounded total to the minimum."""
    spent = ZERO
    true_up = ZERO
    for line in lines:
        if line.source == "true_up":
            true_up = CONTEXT.add(true_up, line.amount)
        else:
            spent = CONTEXT.add(spent, line.amount)
    return CONTEXT.add(rounding.total(spent), true_up)


_multiply = CONTEXT.multiply  # exact: ratecard's context holds 60 digits
_add = CONTEXT.add
_subtract = CONTEXT.subtract
_minus = CONTEXT.minus
_new_line = tuple.__new__  # a BillLine of all its fields, without the keyword constructor


@attrs.frozen
class PriceBook:
    """A compiled rules file: immutable, thread-safe, and ready to quote and bill."""

    name: str
    labels: tuple[str, ...]
    languages: tuple[str, ...]
    currency: str
    rounding: Rounding
    timezone: str
    meters: tuple[MeterPlan, ...]
    routes: Mapping[str, str]  # action → meter name, or FREE
    unpriced: Mapping[str, tuple[str, ...]]  # action → reason labels (may be empty)
    deduct_order: tuple[str, ...]
    packs: PackPolicy
    alerts: AlertPolicy
    billing: BillingPolicy
    ladder_groups: tuple[LadderGroup, ...] = ()
    allowance_pools: Mapping[str, Decimal] = attrs.field(factory=dict)
    orders: tuple[OrderPlan, ...] = ()  # products bought once, N units an order
    # Subscriptions bought by `subscribe` entries, and fees every account pays (`automatic`).
    subscriptions: tuple[SubscriptionPlan, ...] = ()
    grants: tuple[GrantPlan, ...] = ()  # declared grants of units (`grant`), drawn by name
    credits: tuple[CreditPlan, ...] = ()  # declared credits of money (`credit`), by priority
    # Actions billed by request (several quantities and properties an entry, `requests.py`).
    requests: Mapping[str, RequestPlan] = attrs.field(factory=dict)
    price_tables: tuple[PriceTable, ...] = ()  # the request meters priced by a table's cells
    warnings: tuple[Diagnostic, ...] = attrs.field(default=(), eq=False, repr=False)
    # Time and contracts: the day this version takes effect (None: the sheet as first written),
    # the customer contract it bills under, and the sheets in effect from later days. Only the
    # book `load` returns has a timeline; the books in it have none.
    version: date | None = None
    contract: ContractTerms | None = None
    timeline: tuple[Segment, ...] = ()
    _meters_by_name: Mapping[str, MeterPlan] = attrs.field(init=False, repr=False, eq=False)
    # Each request quantity's part route (`ACTION.QUANTITY`) → the meter it is counted into.
    part_routes: Mapping[str, str] = attrs.field(init=False, repr=False, eq=False)
    # The sheet of the timeline's first days, without the timeline (`at` returns it).
    _first: PriceBook | None = attrs.field(init=False, repr=False, eq=False)
    # Precomputed for quotes: each known action's meter (None: free), and whether a whole count
    # passes through the meter's quantity rounding unchanged.
    _action_plans: Mapping[str, MeterPlan | None] = attrs.field(
        init=False, repr=False, eq=False
    )
    _whole_counts: frozenset[str] = attrs.field(init=False, repr=False, eq=False)
    _plan: QuotePlan | None = attrs.field(init=False, repr=False, eq=False)
    _alone_charges: Mapping[str, AloneCharger] = attrs.field(
        init=False, repr=False, eq=False
    )
    _charge_tables: Mapping[str, ChargeTable] = attrs.field(init=False, repr=False, eq=False)
    _alone_pricers: Mapping[str, AlonePricer] = attrs.field(
        init=False, repr=False, eq=False
    )
    # A contract's discounts (meter → fraction off, fraction kept, minus the fraction off; 0%
    # left out: it changes nothing).
    _discounts: Mapping[str, tuple[Decimal, Decimal, Decimal]] = attrs.field(
        init=False, repr=False, eq=False
    )

    def __attrs_post_init__(self) -> None:
        discounts = {} if self.contract is None else {
            meter: (fraction, CONTEXT.subtract(1, fraction), CONTEXT.minus(fraction))
            for meter, fraction in self.contract.discounts.items() if fraction
        }
        for meter, terms in list(discounts.items()):  # a price table's meter: each of its cells
            for plan in self.meters:
                if plan.name.startswith(f"{meter}["):
                    discounts.setdefault(plan.name, terms)
        object.__setattr__(self, "_discounts", discounts)
        object.__setattr__(self, "_first",
                           attrs.evolve(self, timeline=()) if self.timeline else None)
        by_name = {m.name: m for m in self.meters}
        object.__setattr__(self, "_meters_by_name", by_name)
        object.__setattr__(self, "part_routes", {
            route: meter for plan in self.requests.values()
            for route, meter in plan.part_meters.items()
        })
        object.__setattr__(self, "_action_plans", {
            action: None if route == FREE else by_name[route]
            for action, route in self.routes.items()
        })
        object.__setattr__(self, "_whole_counts", frozenset(
            action
            for action, route in self.routes.items()
            if route == FREE
            or (action not in dict(by_name[route].count_scales)
                and (by_name[route].quantity_rounding is None
                     or by_name[route].quantity_rounding.increment <= 1))  # type: ignore[union-attr]
        ))
        # The quote plan prices the allowance and postpaid only: a sheet with shared pools or
        # monthly grants is quoted by the general path (grants issued once are in a quote only
        # with `new_account`, which takes the general path too).
        shared = any(plan.allowance_pool for plan in self.meters) or any(
            grant.recurrence == MONTHLY for grant in self.grants)
        # (A meter whose lines round on their own, `amount rounded`, is priced there too.)
        shared = shared or any(plan.amount_rounding is not None for plan in self.meters)
        object.__setattr__(self, "_plan", None if shared else quoteplan.build(
            self.currency,
            self.rounding,
            tuple(
                (plan.name, plan.allowance, plan.ladder,
                 all(action in self._whole_counts for action in plan.actions))
                for plan in self.meters
            ),
            {action: None if plan is None else plan.name
             for action, plan in self._action_plans.items()},
            "allowance" in self.deduct_order,
            self._discounts,
        ))
        object.__setattr__(self, "_alone_pricers", {} if self._plan is None
                           else self._plan.alone)
        object.__setattr__(self, "_alone_charges", {} if self._plan is None
                           else self._plan.charges)
        object.__setattr__(self, "_charge_tables", {} if self._plan is None
                           else self._plan.charge_tables)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    # --- time and contracts ------------------------------------------------------------------
    def at(self, when: date | datetime | str | None = None) -> PriceBook:
        """The sheet in effect on a day: `date`, aware `datetime` (read in the rules' timezone),
        or `YYYY-MM-DD`; default: today in the rules' timezone. A book without dated versions
        or a contract is in effect on every day: it returns itself."""
        if self._first is None:
            return self
        day = self._day(when)
        current = self._first
        assert current is not None
        for segment in self.timeline:
            if segment.start > day:
                break
            current = segment.book
        return current

    def for_account(self, opened: date) -> PriceBook:
        """The timeline an account opened on `opened` is billed by: a version that keeps
        existing accounts on the previous prices starts, for an account opened before its
        `keep_before` day, on its `keep_until` day instead."""
        if not any(s.keep_before is not None for s in self.timeline):
            return self
        shifted: list[Segment] = []
        for segment in self.timeline:
            if (segment.keep_before is not None and segment.keep_until is not None
                    and opened < segment.keep_before):
                segment = attrs.evolve(segment, start=segment.keep_until, keep_before=None,
                                       keep_until=None)
            shifted.append(segment)
        # A kept segment may now start after later ones: the later start wins its days.
        ordered: list[Segment] = []
        for segment in sorted(shifted, key=lambda s: s.start):
            if ordered and ordered[-1].start == segment.start:
                ordered[-1] = segment
            else:
                ordered.append(segment)
        return attrs.evolve(self, timeline=tuple(ordered))

    def with_contract(self, path: str | Path) -> PriceBook:
        """This sheet billed under the contract file at `path` (which must extend this very
        sheet; RulesError otherwise, or when the contract has errors)."""
        return contracts.load_contract(path, self)

    @property
    def books(self) -> tuple[PriceBook, ...]:
        """Every sheet of the timeline, in order: this book, then each later one."""
        return (self, *(segment.book for segment in self.timeline))

    def _day(self, when: date | datetime | str | None) -> date:
        if when is None:
            return datetime.now(self.zone).date()
        if isinstance(when, datetime):
            if when.tzinfo is None:
                raise UsageError(f"`{when.isoformat()}` has no offset: pass an aware datetime, "
                                 "a date or YYYY-MM-DD")
            return when.astimezone(self.zone).date()
        if isinstance(when, date):
            return when
        if isinstance(when, str):
            try:
                return date.fromisoformat(when.strip())
            except ValueError:
                pass
        raise UsageError(f"a day is YYYY-MM-DD, not {_shown(when)}")

    def meter(self, name: str) -> MeterPlan:
        """The meter of that name, or UsageError naming the nearest one."""
        if not isinstance(name, str):
            raise UsageError(f"a meter is a name such as {self.meters[0].name}, not "
                             f"{_shown(name)}")
        try:
            return self._meters_by_name[name]
        except KeyError:
            hint = did_you_mean(name, self._meters_by_name)
            raise UsageError(f"unknown meter `{_text(name)}`"
                             + (f"; {hint}" if hint else "")) from None

    def _route(self, action: str) -> str:
        """The meter an action counts into, or FREE; UsageError for unknown or unpriced actions."""
        if not isinstance(action, str):
            raise UsageError(f"an action is a name such as {next(iter(self.routes), 'Call')}, "
                             f"not {_shown(action)}")
        route = self.routes.get(action)
        if route is not None:
            return route
        if action in self.unpriced:
            reasons = self.unpriced[action]
            why = f": {' / '.join(reasons)}" if reasons else ""
            raise UsageError(f"action `{action}` is not priced by rules `{self.name}`{why}")
        hint = did_you_mean(action, list(self.routes) + list(self.unpriced))
        raise UsageError(
            f"unknown action `{_text(action)}` in rules `{self.name}`"
            + (f"; {hint}" if hint else "")
        )

    def _parse_pack_size(self, meter: MeterPlan, text: str | Decimal | int) -> PackOffer:
        """The pack offer for a size in any number form of the language (100000, 100k, 10万)."""
        try:
            size = count_value(text)
        except NumberError as exc:
            raise UsageError(f"pack size: {exc}") from None
        offer = meter.pack(size)
        if offer is None:
            sizes = ", ".join(format_plain(p.size) for p in meter.packs) or "none"
            raise UsageError(
                f"meter `{meter.name}` has no pack of size {shown_number(size)} (sizes: {sizes})"
            )
        return offer

    def _held(self, pack: HeldPack) -> HeldPack:
        """A held pack checked against the rules: its meter, a size on sale for it and the units
        left, from 0 to the size, whole on a meter of whole units (on its increment on a meter
        that rounds quantities). The pack with its size and units left as Decimals."""
        if not isinstance(pack, HeldPack):
            raise UsageError(f"a held pack is a ratecard.HeldPack(meter, size, remaining), not "
                             f"{_shown(pack)}")
        plan = self.meter(pack.meter)
        offer = self._parse_pack_size(plan, pack.size)
        if pack.remaining is None:
            return HeldPack(plan.name, offer.size, None)
        where = f"pack {plan.name}:{format_plain(offer.size)}: remaining"
        try:
            remaining = count_value(pack.remaining)
        except NumberError as exc:
            raise UsageError(f"{where} {exc}") from None
        if remaining > offer.size:
            raise UsageError(f"{where} {shown_number(remaining)} must be between 0 and the "
                             "pack's size")
        rounding = plan.quantity_rounding
        if rounding is None and remaining != remaining.to_integral_value():
            raise UsageError(f"{where} {shown_number(remaining)} is not a whole number of units "
                             f"(meter `{plan.name}` counts whole units)")
        if rounding is not None and rounding.round(remaining) != remaining:
            raise UsageError(f"{where} {shown_number(remaining)} is not a whole number of "
                             f"{format_plain(rounding.increment)} (meter `{plan.name}` rounds "
                             "its quantities so)")
        return HeldPack(plan.name, offer.size, remaining)

    # --- quoting -----------------------------------------------------------------
    def quote(
        self,
        usage: Mapping[str, int | Decimal | str],
        packs: Sequence[HeldPack] = (),
        at: date | datetime | str | None = None,
        *,
        new_account: bool = False,
    ) -> Bill:
        """Price one month of usage given as totals per action, with packs held at its start.

        The month's grants (`grant ... per month`) are held in full; with `new_account`, the
        grants issued once at the opening (`grant ... once`) too, as in an account's first month.

        Packs are drawn in the order given (a quote has no purchase or expiry dates); the
        allowance is the full monthly allowance of an active account. A quote has totals, not
        their days: a daily ladder prices them as one day (bill a journal for day by day).
        A sheet with dated versions or a contract quotes the prices in effect `at` that day
        (default: today in the rules' timezone); other sheets ignore `at`.
        """
        # The sheet in effect (before a timeline's first later version, this book itself).
        book = self.at(at) if self.timeline else self
        if isinstance(usage, Mapping):
            book._refuse_entry_minimums(usage)
        if new_account and book.grants:
            return book._quote_general(usage, packs, new_account=new_account)
        if not packs and book._plan is not None and type(usage) is dict and not (
                book.subscriptions and any(plan.automatic for plan in book.subscriptions)):
            fast = book._plan.quote(usage)
            if fast is not None:
                if book.contract is not None or book.version is not None:
                    return book._dated_quote(fast)
                return fast
        return book._quote_general(usage, packs)

    def _refuse_entry_minimums(self, usage: Mapping[str, Any]) -> None:
        """A total of an action into a meter that bills at least N per entry cannot be quoted:
        the minimum applies to each entry, which a total does not give (`quote_requests` and
        `bill` read entries)."""
        for action in usage:
            plan = self._action_plans.get(action) if type(action) is str else None
            if plan is not None and plan.entry_minimum is not None and usage[action]:
                raise UsageError(
                    f"`{action}` is counted into `{plan.name}`, which bills at least "
                    f"{format_plain(plan.entry_minimum)} per entry: a total cannot be quoted; "
                    "bill its entries (`ratecard bill`)")

    def quote_requests(
        self,
        requests: JournalInput,
        usage: Mapping[str, int | Decimal | str] | None = None,
        packs: Sequence[HeldPack] = (),
        at: date | datetime | str | None = None,
        *,
        new_account: bool = False,
    ) -> Bill:
        """Price one month of `request` entries (a JSON Lines path, a binary stream or an
        iterable of dicts or `Request`s; their times are not read as months: all of them are
        one month's), plus usage totals per action, with packs held at its start, as `quote`
        (`new_account`: with the grants issued once, as `quote` has it).
        An entry whose id an earlier one had is a resend and counted once; any other entry
        type, or a bad request, is a JournalError naming its line."""
        from ratecard.engine.journal import USAGE, JournalError, open_journal

        book = self.at(at) if self.timeline else self
        parts = book.part_routes
        totals: dict[str, int | Decimal] = {}
        seen: dict[str, int] = {}
        source = open_journal(book, requests, reread=False)
        try:
            with decimal.localcontext(CONTEXT):
                for _, line, kind, name, count, entry_id in source.records():
                    meter = parts.get(name) if kind == USAGE else None
                    if meter is None:
                        raise JournalError(source.path, line, "type",
                                           "a quote of requests takes `request` entries only")
                    if entry_id and seen.setdefault(entry_id, line) != line:
                        continue  # a resend
                    totals[meter] = totals.get(meter, 0) + count
        finally:
            source.close()
        return book._quote_general({} if usage is None else usage, packs,
                                   new_account=new_account, parts=totals)

    def price_lines(self, meter: str, quantity: int | Decimal | str) -> list[BillLine]:
        """The postpaid lines of `quantity` units of one meter, as if all of them were postpaid:
        no allowance, no packs, the basis is the quantity (what one ladder charges for it)."""
        alone = self._alone_pricers.get(meter) if type(meter) is str else None
        if alone is not None and type(quantity) is int and 0 < quantity <= MAX_COUNT:
            return alone(quantity)
        plan = self.meter(meter)
        units = plan.count(meter, quantity)
        with decimal.localcontext(CONTEXT):
            return self._postpaid_period({plan.name: MeterUsage(units, ZERO, units)}, alone=True)

    def price_total(self, meter: str, quantity: int | Decimal | str) -> Decimal:
        """What `price_lines` charges for `quantity` units of one meter: the sum of its lines'
        amounts, on the rounding increment (`0.00` for none; rounded once under `on total`,
        exact under `rounding exact`)."""
        # A volume ladder's compiled table, inline: a whole quantity under the plan's limit, in
        # a bracket with a plain unit price, is one product and its rounding, both in ratecard's
        # context (exact, whatever the caller's context).
        table = self._charge_tables.get(meter) if type(meter) is str else None
        if table is not None and type(quantity) is int and 0 < quantity < table[2]:
            uppers, prices, _, increment, mode = table
            price = prices[bisect_left(uppers, quantity)]
            if price is not None:
                return _multiply(price, quantity).quantize(increment, mode, CONTEXT)
        alone = self._alone_charges.get(meter) if type(meter) is str else None
        if alone is not None and type(quantity) is int and 0 < quantity <= MAX_COUNT:
            return alone(quantity)
        total = self.rounding.round(ZERO)
        for line in self.price_lines(meter, quantity):
            total = CONTEXT.add(total, line.amount)
        return self.rounding.total(total)  # on total: the lines' precise sum rounded once

    def price(self, meter: str, quantity: int | Decimal | str) -> list[BillLine]:
        """Deprecated alias of `price_lines` (the name says what it returns)."""
        _deprecated("PriceBook.price", "PriceBook.price_lines")
        return self.price_lines(meter, quantity)

    def charge(self, meter: str, quantity: int | Decimal | str) -> Decimal:
        """Deprecated alias of `price_total` (the name says what it returns)."""
        _deprecated("PriceBook.charge", "PriceBook.price_total")
        return self.price_total(meter, quantity)

    def _quote_general(
        self,
        usage: Mapping[str, int | Decimal | str],
        packs: Sequence[HeldPack] = (),
        *,
        new_account: bool = False,
        parts: Mapping[str, int | Decimal] | None = None,
    ) -> Bill:
        """`quote` by the general path, which defines it (quote plans are held to it);
        `parts`: units per meter from request entries (`quote_requests`), added to usage's."""
        if not isinstance(usage, Mapping):
            raise UsageError("usage is a mapping of actions to counts, such as "
                             f"{{\"{next(iter(self.routes), 'Call')}\": 5000}}, not "
                             f"{_shown(usage)}")
        if isinstance(packs, HeldPack):
            raise UsageError("packs is a list of ratecard.HeldPack, not one: write [pack]")
        if not isinstance(packs, Sequence) or isinstance(packs, str | bytes):
            raise UsageError(f"packs is a list of ratecard.HeldPack, not {_shown(packs)}")
        with decimal.localcontext(CONTEXT):
            totals = self._meter_totals(usage)
            for meter, units in (parts or {}).items():
                totals[meter] = totals.get(meter, 0) + units
            lots_by_meter = self._lots(packs) if packs else {}
            allowances = {pool: allowance_lot(pool, units)
                          for pool, units in self._new_allowances().items()}
            grants = self._quoted_grants(new_account)
            prepaid: dict[str, list[BillLine]] = {}
            alerts: list[Alert] = []
            period: dict[str, MeterUsage] = {}
            for plan in self.meters:
                quantity = totals.get(plan.name)
                if not quantity:
                    continue
                lots = lots_by_meter.get(plan.name, ())
                drawn = deduct(Decimal(quantity), self.deduct_order, (allowances[plan.pool],),
                               grants.get(plan.name, ()), lots)
                prepaid[plan.name] = self._prepaid_lines(plan, drawn)
                period[plan.name] = MeterUsage(Decimal(quantity), drawn.allowance, drawn.postpaid)
                if lots:
                    alerts.extend(
                        lot_alerts(lots, self.alerts.low_threshold, self.alerts.exhausted, None)
                    )
            postpaid: dict[str, list[BillLine]] = {}
            for line in self._postpaid_period(period):
                postpaid.setdefault(line.meter, []).append(line)
            # Per meter in declaration order: what the allowance and packs paid, then postpaid.
            lines: list[BillLine] = []
            for plan in self.meters:
                lines.extend(prepaid.get(plan.name, ()))
                lines.extend(postpaid.get(plan.name, ()))
            lines.extend(self._quote_fees())
            return self._make_bill(lines, alerts)

    def _quote_fees(self) -> list[BillLine]:
        """The `fee` lines of a quoted month: each monthly fee in full (an account open the
        whole month). Subscriptions bought by entries are not in a quote (it holds none)."""
        lines = []
        for plan in self.subscriptions:
            if not plan.automatic:
                continue
            if plan.period != "month":
                raise UsageError(f"fee `{plan.name}` is charged per day: a month's quote has "
                                 "totals, not days (bill a journal to charge it day by day)")
            label, price = plan.price(Decimal(1))
            assert price is not None, "a fee has a price"
            lines.append(BillLine(plan.name, Source.FEE, Decimal(1), price, price,
                                  self.rounding.round(price), label, plan.name))
        return lines

    def _quoted_grants(self, new_account: bool) -> dict[str, list[Lot]]:
        """The grants a quoted month holds, per meter: the monthly ones, and with
        `new_account` the ones issued once at the opening (undated: a quote has no times)."""
        held: dict[str, list[Lot]] = {}
        for grant in self.grants:
            if grant.recurrence == MONTHLY or new_account:
                for meter in grant.meters:
                    held.setdefault(meter, []).append(
                        Lot(grant.name, meter, grant.amount, grant.amount, source=grant.name))
        return held

    def _new_allowances(self) -> dict[str, Decimal]:
        """A period's fresh allowance per pool (a meter's own, or a shared pool)."""
        fresh = {plan.pool: plan.allowance for plan in self.meters}
        fresh.update(self.allowance_pools)
        return fresh

    def _prepaid_lines(self, plan: MeterPlan, drawn: Deduction) -> list[BillLine]:
        """The lines of the units that the allowance and packs paid for (no charge)."""
        nothing = self.rounding.round(ZERO)
        lines: list[BillLine] = []
        if drawn.allowance:
            lines.append(
                BillLine(plan.name, Source.ALLOWANCE, drawn.allowance, ZERO, ZERO, nothing))
        for lot, taken in drawn.grants:  # a grant's line names its lot in `pack`
            lines.append(BillLine(plan.name, Source.GRANT, taken, ZERO, ZERO, nothing, pack=lot.id))
        for lot, taken in drawn.packs:
            lines.append(BillLine(plan.name, Source.PACK, taken, ZERO, ZERO, nothing, pack=lot.id))
        return lines

    def _postpaid_period(
        self,
        usage: Mapping[str, MeterUsage],
        ladder_period: str | None = None,
        *,
        alone: bool = False,
    ) -> list[BillLine]:
        """The postpaid lines of one period, from each meter's units in it by source.

        With `ladder_period` (`month`, `day`), only the ladders priced over such periods; without
        it every ladder prices `usage` as one of its periods (what a quote does). `alone`: only
        the ladders of the meters in `usage` (not another ladder's minimum).

        Where units of several meters reach brackets with no price, the error names the meter
        declared first, whatever the order of the ladders (as the quote plan, which prices
        meter by meter, does).
        """
        lines: list[BillLine] = []
        unpriced: ContactSalesError | None = None
        for group in self.ladder_groups:
            if alone and not any(meter in usage for meter in group.meters):
                continue
            if ladder_period is None or group.ladder.period == ladder_period:
                try:
                    lines.extend(group.lines(usage, self.rounding))
                except ContactSalesError as exc:
                    if unpriced is None or self._rank(exc) < self._rank(unpriced):
                        unpriced = exc
        if unpriced is not None:
            raise unpriced
        for name, meter_usage in usage.items():
            plan = self.meter(name)
            if plan.ladder is None and meter_usage.postpaid > 0:
                if plan.pack_terms.stop_when_exhausted:
                    raise UsageError(
                        f"meter `{name}` stops when its packs are exhausted: "
                        f"{format_plain(meter_usage.postpaid)} units are not covered by the "
                        "allowance or packs (a bill rejects them)"
                    )
                raise UsageError(
                    f"meter `{name}` has no postpaid price, and "
                    f"{format_plain(meter_usage.postpaid)} units are not covered by the "
                    "allowance or packs"
                )
        return lines

    def _rank(self, error: ContactSalesError) -> int:
        """Where the meter an error names is declared."""
        for index, plan in enumerate(self.meters):
            if plan.name == error.meter:
                return index
        return len(self.meters)

    def _ordered(self, lines: Sequence[BillLine]) -> list[BillLine]:
        """Lines grouped by meter in declaration order, then by source (stable otherwise)."""
        rank = {plan.name: index for index, plan in enumerate(self.meters)}
        return sorted(lines, key=lambda line: (rank[line.meter], _SOURCE_RANK[line.source]))

    def _total(self, lines: Sequence[BillLine]) -> Decimal:
        """A bill's total of these lines, rounded as the rules say (`bill_total`)."""
        return bill_total(self.rounding, lines)

    def _make_bill(
        self, lines: Sequence[BillLine], alerts: Sequence[Alert], month: date | None = None,
        *, day: date | None = None, days_spent: Decimal = ZERO,
    ) -> Bill:
        """A bill whose total is the sum of its rounded lines: a month's, or with `day` a daily
        bill's (a contract's discounts apply to it; its minimum spend is trued up on the
        month's bill, which counts `days_spent`, the totals of the month's daily bills)."""
        if self.contract is not None:
            contract = self.contract if day is None else attrs.evolve(
                self.contract, minimum=None)
            _, lines = self._contract_lines(lines, contract, days_spent)
        total = bill_total(self.rounding, lines)
        return Bill(self.currency, total, tuple(lines), tuple(alerts), month,
                    version=self.version,
                    contract=None if self.contract is None else self.contract.name, day=day)

    def _dated_quote(self, fast: Bill) -> Bill:
        """The quote plan's bill (its lines carry a contract's discounts already) as
        `_make_bill` makes it for a dated version or under a contract: with the true-up to a
        minimum spend, and naming version and contract. `fast` is the plan's own new bill:
        it is completed in place, without the general constructor (a quote is on a request
        path)."""
        contract = self.contract
        fields = fast.__dict__
        if contract is not None:
            minimum = contract.minimum
            total = fast.total
            if minimum is not None and total < minimum:
                short = _subtract(minimum, total)
                true_up = self.rounding.total(short)
                fields["lines"] = (*fast.lines, _new_line(BillLine, (
                    TRUE_UP_METER, Source.TRUE_UP, ZERO, ZERO, short, true_up, None, None, None,
                    None, None, None)))
                # On the increment, as the sum of rounded lines `_make_bill` rounds.
                fields["total"] = _add(total, true_up)
            fields["contract"] = contract.name
        fields["version"] = self.version
        return fast

    def _contract_lines(
        self, lines: Sequence[BillLine], contract: ContractTerms, spent_apart: Decimal = ZERO
    ) -> tuple[Decimal, list[BillLine]]:
        """The lines with a `discount` line after each discounted postpaid line and, under a
        minimum spend, a `true_up` line at the end; and the sum of the lines added.

        A discount of fraction f on a line of precise amount p: the discounted line costs
        round(p × (1 − f)), so the discount line's amount is that less the line's rounded
        amount (never more than the line: f ≤ 1), and its precise amount is −p × f. The
        true-up is the minimum less the sum of the rounded lines (and of `spent_apart`, what
        the month's daily bills came to), when that is positive.
        """
        # Exact in ratecard's context whatever the caller's. The quote plan adds the discount
        # lines itself (`quoteplan._discounted`), as here.
        discounts = self._discounts
        added = ZERO
        out: list[BillLine]
        if discounts:
            out = []
            append = out.append
            rounding = self.rounding
            increment = rounding.increment
            mode = rounding.mode_constant
            for line in lines:
                append(line)
                terms = discounts.get(line[0])  # line.meter, line.source, line.precise_amount
                if terms is None or line[1] != Source.POSTPAID or not line[4]:
                    continue
                fraction, kept, off = terms
                precise = line[4]
                discounted = _multiply(precise, kept)
                if rounding.per_line:
                    discounted = discounted.quantize(increment, mode, CONTEXT)
                amount = _subtract(discounted, line[5])
                added = _add(added, amount)
                append(_new_line(BillLine, (
                    line[0], Source.DISCOUNT, line[2], ZERO, _multiply(precise, off), amount,
                    line[6], None, None, line[9], None, fraction,
                )))
        else:
            out = list(lines)
        minimum = contract.minimum
        if minimum is not None:
            spent = ZERO
            for line in out:
                spent = _add(spent, line[5])
            # Per line: the sum of the rounded lines; on total: the precise total rounded.
            spent = _add(self.rounding.total(spent), spent_apart)
            if spent < minimum:
                short = _subtract(minimum, spent)
                true_up = self.rounding.total(short)
                added = _add(added, true_up)
                out.append(BillLine(TRUE_UP_METER, Source.TRUE_UP, ZERO, ZERO, short, true_up))
        return added, out

    # --- billing a journal ---------------------------------------------------------------
    @overload
    def bill(
        self, journal: JournalInput, month: None = None, *, on_invalid: OnInvalid | None = None
    ) -> list[Bill]: ...

    @overload
    def bill(
        self, journal: JournalInput, month: str, *, on_invalid: OnInvalid | None = None
    ) -> Bill: ...

    def bill(
        self,
        journal: JournalInput,
        month: str | None = None,
        *,
        on_invalid: OnInvalid | None = None,
    ) -> list[Bill] | Bill:
        """Replay an account's journal: a bill for every month from its first entry's to its
        last's, in month order.

        `journal` is a path (`.csv`: usage CSV; otherwise JSON Lines), a binary stream, or an
        iterable of entry dicts or typed entries (`ratecard.Usage`, ...). A bad entry raises
        `JournalError` naming its line and field; with `on_invalid`, it is passed there and
        skipped instead. See docs/billing.md. One month's bill alone is `bill_month`; passing
        `month` here still returns it, with a DeprecationWarning.
        """
        from ratecard.engine.replay import bill_journal

        if month is not None:
            _deprecated("PriceBook.bill(journal, month)", "PriceBook.bill_month(journal, month)")
        return bill_journal(self, journal, month, on_invalid)

    def bill_month(
        self, journal: JournalInput, month: str | date, *, on_invalid: OnInvalid | None = None
    ) -> Bill:
        """The bill of one month (`YYYY-MM`, or a `date` in it, such as a bill's `month`) of an
        account's journal, replayed whole as `bill` replays it; UsageError if the journal does
        not reach that month."""
        from ratecard.engine.replay import bill_journal

        if month is None:
            raise UsageError("bill_month needs a month, YYYY-MM such as \"2026-11\" (every "
                             "month's bill is bill(journal))")
        bill = bill_journal(self, journal, month, on_invalid)
        assert isinstance(bill, Bill)
        return bill

    def _meter_totals(self, usage: Mapping[str, int | Decimal | str]) -> dict[str, int | Decimal]:
        """Each meter's total from counts per action (whole counts stay ints: the common case)."""
        totals: dict[str, int | Decimal] = {}
        plans = self._action_plans
        whole = self._whole_counts
        for action, raw in usage.items():
            if type(action) is not str or action not in plans:
                self._route(action)  # raises the error naming the action
            plan = plans[action]
            count: int | Decimal
            if type(raw) is int and 0 <= raw <= MAX_COUNT and action in whole:
                count = raw
            elif plan is None:
                parse_count(action, raw, whole=False)
                continue
            else:
                count = plan.count(action, raw)
            if plan is not None:
                totals[plan.name] = totals.get(plan.name, 0) + count
        return totals

    def _lots(self, packs: Sequence[HeldPack]) -> dict[str, list[Lot]]:
        lots: dict[str, list[Lot]] = {}
        for number, pack in enumerate(packs, start=1):
            held = self._held(pack)
            plan = self.meter(held.meter)
            offer = self._parse_pack_size(plan, held.size)
            remaining = offer.size if held.remaining is None else Decimal(held.remaining)
            lot_id = f"{plan.name}:{format_plain(offer.size)}#{number}"
            lots.setdefault(plan.name, []).append(
                Lot(lot_id, plan.name, offer.size, remaining,
                    ZERO if offer.price is None else offer.price)
            )
        return lots


_SOURCE_RANK = {Source.SUBSCRIPTION: -1, Source.ALLOWANCE: 0, Source.GRANT: 1, Source.PACK: 1,
                Source.POSTPAID: 2, Source.MINIMUM: 3, Source.MAXIMUM: 3, Source.CREDIT: 5}


def parse_count(action: str, raw: int | Decimal | str, whole: bool = True) -> Decimal:
    """A usage count (whole unless `whole` is False): `literals.count_value`'s rule, the same on
    every path, as a UsageError naming the action."""
    try:
        count = count_value(raw)
    except CountError as exc:
        raise UsageError(f"{action}: count {exc}") from None
    except NumberError as exc:
        raise UsageError(f"{action}: {exc}") from None
    if whole and count != count.to_integral_value():
        raise UsageError(f"{action}: count {shown_number(count)} is not a whole number")
    return count


def _deprecated(old: str, new: str) -> None:
    """A DeprecationWarning at the caller's call of `old`."""
    warnings.warn(f"{old} is deprecated: use {new}", DeprecationWarning, stacklevel=3)


def _shown(value: object) -> str:
    """A value of the wrong kind, for a message: its repr, shortened, and its type."""
    try:
        text = repr(value)
    except (ValueError, RecursionError):  # an int past Python's digit limit, a deep list
        text = "…"
    return f"{_text(shorten(text))} ({type(value).__name__})"


def _text(text: str) -> str:
    """Text for a message, shortened, a lone surrogate shown as its escape (it has no UTF-8)."""
    text = shorten(text)
    return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode()
