"""The drawdown, in Python, of the small groups the database adds up: which units the allowance,
each pack lot and postpaid pay for, by the engine's own allocation function, `deduct`.

An account's usage reaches Python as one quantity per month, segment and meter, a segment being a
stretch in which nothing that `deduct` depends on changes: no purchase, no lot expiring, no
suspension or reopening, no month starting. `deduct` is greedy over sources in a fixed order, so
drawing a segment's quantity at once is drawing its entries one after another, and the lines of
a month are the engine's lines. Two things need more than a segment's sum, and get it:

- a shared allowance pool: who gets its last units depends on how the meters' entries
  interleave, so in a month in which two or more of the pool's meters use more than the pool,
  those meters' entries come one by one (the `detail` query) and are drawn one by one, as the
  engine draws them;
- settlement from a balance: a month's total decides whether the account is suspended for
  arrears from the day the bill is issued, which changes the next month. Such accounts (with a
  top-up, when the rules settle from a balance) are replayed by the engine itself over their
  segment quantities and priced by it.

Rules with grants or credits granted at the opening: every account is replayed by the engine
the same way, from its opening (`History.opened`: an `open` entry first in its journal), its
segments also cut where the grants issued at its opening expire (`History.grant_cuts`), so that
a segment's sum draws a grant as its entries would. So are, with their journal entries, accounts
that buy prepaid credits or subscriptions (events of type `credit`, `subscribe`, `cancel`), and
every account of rules with fees, `skip empty`, packs that stop service, a minimum per entry, a
daily ladder or daily bills (`terms.replays_everyone`); the usage of the meters where each entry
counts (`terms.entry_meters`, and those a subscription covers) comes entry by entry (`detail`).
The replay's bills give their lines, credit balances, rejected usage and daily bills.
a segment's sum draws a grant as its entries would. A meter only requests feed has no usage
action: its segments enter the replay as the records a request's parts make. The replay is fed
the engine's records (`engine.replay.bill_records`), made here from rows the warehouse has
checked, not journal entries for the engine to read again (`Drawdown._journal`).

Accounts with neither purchases nor events are drawn down in the database: their month's
quantity of a meter meets a fresh allowance and no lots, so `deduct` depends on the quantity
alone; `plain_draws` runs it once for each distinct (version, meter, quantity) and the database
joins the result.

Dated versions and contracts (`terms.Terms`): each month is drawn with the allowance of the sheet
in effect on its first day, each pack with the terms of the sheet in effect when it was bought.
An account under a contract is priced here too, month by month, by its month's sheet
(`_postpaid_period` and `_make_bill`, which adds the contract's discount and true-up lines), and
its whole bills go to the database as lines.
"""

from __future__ import annotations

import decimal
import heapq
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

import attrs

from ratecard.engine.bills import Bill, BillLine
from ratecard.engine.clock import local, month_of, month_start
from ratecard.engine.deduction import Deduction, Lot, allowance_lot, deduct, tally
from ratecard.engine.journal import (
    OPEN,
    QUICK_LIMIT,
    USAGE,
    EntryReader,
    FieldError,
    JournalError,
    Record,
)
from ratecard.engine.money import CONTEXT, ZERO
from ratecard.engine.pricebook import TRUE_UP_METER, PriceBook
from ratecard.engine.pricing import MeterUsage
from ratecard.engine.replay import bill_records
from ratecard.errors import UsageError
from ratecard.literals import format_plain
from ratecard.warehouse.months import month_of_ord
from ratecard.warehouse.schema import MAX_COUNT
from ratecard.warehouse.terms import Terms, charge_names, metered, replays_everyone

SUSPEND = "suspend"
REOPEN = "reopen"
TOPUP = "topup"
#: Events that are journal entries the engine's replay reads as they are (their fields in
#: `AccountEvent.fields`): a prepaid credit bought, a subscription bought or cancelled.
CREDIT = "credit"
SUBSCRIBE = "subscribe"
CANCEL = "cancel"
ENTRY_EVENTS = (CREDIT, SUBSCRIBE, CANCEL)


class PackPurchase(NamedTuple):
    """A valid purchase: when, which meter's pack offer, its id, when the pack expires; `order`
    is its position in the purchases file (ties in time keep it)."""

    instant: int
    ord: int
    meter: str
    offer: int
    id: str | None
    order: int
    expires: int
    book: int = 0  # the sheet in effect when it was bought (`Terms.books`): the pack's terms


@attrs.frozen
class AccountEvent:
    """A valid suspension, reopening, top-up, credit, subscription or cancellation (`fields`:
    the journal entry's fields other than `type` and `time`, for the last three)."""

    instant: int
    ord: int
    kind: str
    reason: str | None
    amount: Decimal | None
    order: int
    fields: tuple[tuple[str, Any], ...] = ()


class History:
    """An account's purchases and events, in time order (then file order)."""

    __slots__ = ("events", "grant_cuts", "opened", "purchases", "refused", "repeats")

    def __init__(self) -> None:
        #: With grants: when the account opened (its `open` entry), and when the grants issued
        #: then expire (cuts).
        self.opened: int | None = None
        self.grant_cuts: list[int] = []
        self.purchases: list[PackPurchase] = []
        self.events: list[AccountEvent] = []
        #: Purchases whose id was seen before: ignored, but entries of the journal all the same.
        self.repeats: list[PackPurchase] = []
        #: Why the engine refuses the account's journal (a pack its own sheet does not sell,
        #: under grandfathering), or None.
        self.refused: str | None = None

    def settles(self, book: PriceBook) -> bool:
        """Whether the account keeps a balance that bills settle from (it has a top-up)."""
        return book.billing.settle_from_balance and any(e.kind == TOPUP for e in self.events)

    def entries(self) -> bool:
        """Whether the account bought a prepaid credit or a subscription (or cancelled one):
        the engine's replay bills it."""
        return any(e.kind in ENTRY_EVENTS for e in self.events)

    def subscribes(self) -> bool:
        """Whether the account bought a subscription."""
        return any(e.kind == SUBSCRIBE for e in self.events)


class Group(NamedTuple):
    """Usage of one account in one month, segment and meter (meter −1: free actions; `dup`:
    entries ignored as repeats); `first` and `last` are the instants of its first and last row."""

    ord: int
    meter: int
    dup: bool
    qty: Decimal | None
    first: int
    last: int


def cuts(history: History) -> list[int]:
    """The instants that start a new segment of an account: purchases, expiries and events, and
    the expiries of the grants issued at its opening."""
    if history.grant_cuts:
        return sorted({*cuts_of(history), *history.grant_cuts})
    return cuts_of(history)


def cuts_of(history: History) -> list[int]:
    """The cuts of an account's purchases and events."""
    bought = history.purchases
    if len(bought) == 1 and not history.events:  # the common case, without building a set
        only = bought[0]
        return [only.instant, only.expires] if only.expires > only.instant else [only.instant]
    points = {p.instant for p in bought}
    points.update(p.expires for p in history.purchases)
    points.update(e.instant for e in history.events)
    return sorted(points)


def plain_draws(
    books: Sequence[PriceBook],
    quantities: Iterable[tuple[int, int, Decimal]],
) -> list[tuple[int, int, Decimal, Decimal, Decimal]]:
    """(version, meter, quantity, allowance, postpaid) for each distinct quantity of a meter in
    a month of an account with no lots: `deduct` with the fresh allowance of the month's sheet
    (`books[version]`) and no lots."""
    fresh = [book._new_allowances() for book in books]
    pools = [[plan.pool for plan in book.meters] for book in books]
    order = books[0].deduct_order
    out = []
    with decimal.localcontext(CONTEXT):
        for version, meter, quantity in quantities:
            pool = pools[version][meter]
            drawn = deduct(quantity, order, (allowance_lot(pool, fresh[version][pool]),))
            out.append((version, meter, quantity, drawn.allowance, drawn.postpaid))
    return out


class Line(NamedTuple):
    """A prepaid line (allowance or pack) made by the drawdown, or any line of an account that
    Python priced: where it goes and its place among the month's lines of its meter and source."""

    account: str
    ord: int
    meter: int
    seq: int
    line: BillLine


@attrs.define
class Results:
    """What the drawdown hands back to the database."""

    #: Each month's units per meter: (account, ord, meter, total, allowance, postpaid, version).
    period: list[tuple[str, int, int, Decimal, Decimal, Decimal, int]] = attrs.Factory(list)
    #: Allowance and pack lines: (account, ord, meter, source, seq, quantity, pack); they cost
    #: nothing, so their prices and amounts are zeros the database writes.
    prepaid: list[tuple[str, int, int, str, int, Decimal, str | None]] = attrs.Factory(list)
    #: Whole lines of accounts the engine billed itself, or priced here (contracts).
    lines: list[Line] = attrs.Factory(list)
    #: Every month billed: (account, ord, the sheet that bills it, `Terms.books`).
    months: list[tuple[str, int, int]] = attrs.Factory(list)
    failed: list[tuple[str, int | None, str]] = attrs.Factory(list)
    replayed: set[str] = attrs.Factory(set)  # accounts the engine billed itself
    #: The credit balances of the bills the engine made (`Bill.credits`): (account, ord, lot
    #: id, credit, amount, paid, remaining, expires as ISO 8601).
    credits: list[tuple[str, int, str, str, Decimal, Decimal, Decimal, str]] = attrs.Factory(
        list)
    #: Usage the engine's bills rejected (`Bill.rejected`): (account, ord, meter, action,
    #: quantity, reason).
    rejected: list[tuple[str, int, str, str, Decimal, str]] = attrs.Factory(list)
    #: Daily bills the engine made (`bill per day on ...`): (account, day, issued, total, its
    #: lines), the days as ISO dates.
    daily: list[tuple[str, str, str, Decimal, tuple[BillLine, ...]]] = attrs.Factory(list)


_NEVER = 1 << 126


class _Month:
    """What a month collects per meter (by index): allowance, pack lots in the order first
    drawn, postpaid; made when the month's first usage is drawn."""

    __slots__ = ("allowance", "packs", "postpaid", "touched")

    def __init__(self) -> None:
        self.allowance: dict[int, Decimal] = {}
        self.packs: dict[int, dict[str, list[Any]]] = {}
        self.postpaid: dict[int, Decimal] = {}
        self.touched: set[int] = set()

    def add(self, meter: int, drawn: Deduction) -> None:
        self.touched.add(meter)
        tally(self.allowance, self.packs, self.postpaid, meter, drawn)


def _record_key(record: tuple[int, int, int, Any]) -> tuple[int, int, int]:
    return record[0], record[1], record[2]


class Drawdown:
    """Draws down accounts one at a time, in the engine's order of events, with `deduct`."""

    def __init__(self, book: PriceBook, terms: Terms | None = None) -> None:
        self.book = book
        self.terms = terms = terms if terms is not None else Terms(book)
        self.books = terms.books
        self.single = len(self.books) == 1  # no versions, no contracts: one sheet
        self.zone = book.zone
        self.names = [plan.name for plan in book.meters]
        self.rank = {name: index for index, name in enumerate(self.names)}
        self.rank[TRUE_UP_METER] = len(self.names)  # a contract's true-up: after every meter
        # Subscriptions' and fees' charges (their lines name the plan): after the true-up.
        for offset, name in enumerate(charge_names(terms.books)):
            self.rank.setdefault(name, len(self.names) + 1 + offset)
        self.pools = [plan.pool for plan in book.meters]
        self.plans = {plan.name: plan for plan in book.meters}
        self.plans_of = [{plan.name: plan for plan in sheet.meters} for sheet in self.books]
        self.fresh_of = [sheet._new_allowances() for sheet in self.books]
        self.actions = [(plan.actions or plan.free_actions or ("",))[0] for plan in book.meters]
        self.free_action = next((a for p in book.meters for a in p.free_actions), None)
        # A meter that only requests feed has no usage action: its units are replayed as a part
        # of a request (the first part route into it), which no journal entry can name.
        into: dict[str, str] = {}
        for route, meter in book.part_routes.items():
            into.setdefault(meter, route)
        self.part_routes = [
            None if plan.actions or plan.free_actions else into.get(plan.name)
            for plan in book.meters
        ]
        self.order = book.deduct_order
        self.while_active = book.billing.allowance_while_active
        self.by_expiry = book.packs.order != "purchase"
        self.smallest_first = book.packs.smallest_first  # `by purchase then smallest`
        self._starts: dict[int, int] = {}
        self._metered_books: dict[int, PriceBook] = {}
        self._fresh = book._new_allowances()  # copied for each month (Decimals are immutable)
        self._labels: dict[tuple[str, int], str] = {}  # a pack offer's lot id, less its number
        self.results = Results()
        # The replay's entry readers, one per book (the rules', a contract's): `_reader`.
        self._readers: dict[int, tuple[EntryReader, frozenset[str]]] = {}
        # Grants and credits: every account is replayed by the engine, from its opening
        # (`History.opened`).
        # Fees too: every account holds them from its opening.
        self.grants = replays_everyone(self.books)

    def month_end(self, ordinal: int) -> int:
        start = self._starts.get(ordinal + 1)
        if start is None:
            start = self._starts[ordinal + 1] = month_start(month_of_ord(ordinal + 1), self.zone)
        return start

    # --- one account ----------------------------------------------------------------------------

    def account(
        self,
        account: str,
        history: History,
        groups: Sequence[Group],
        detail: Mapping[int, Sequence[tuple[int, int, Decimal]]] | None = None,
        bounds: tuple[int, int] | None = None,
    ) -> None:
        """Draw down an account: its purchases and events, and its usage groups (`detail`:
        month → (instant, meter, quantity) entries replacing the groups of a shared pool's meters
        in that month; `bounds`: the first and last month of its usage of meters drawn down in
        the database, which its months span too)."""
        ords = [g[0] for g in groups]
        if bounds is not None:
            ords += bounds
        if history.purchases or history.events or history.repeats:
            ords += [p.ord for p in history.purchases]
            ords += [p.ord for p in history.repeats]
            ords += [e.ord for e in history.events]
        if history.opened is not None:  # an opening row: the account's journal starts there
            year, number = month_of(history.opened, self.zone)
            ords.append(year * 12 + number - 1)
        if not ords:
            return
        first, last = min(ords), max(ords)
        timeline = self.terms.timeline(account) if not self.single else self.book
        if history.refused is not None:
            self.results.failed.append((account, None, history.refused))
            self.results.months.extend(
                (account, o, self._sheet(timeline, o)) for o in range(first, last + 1)
            )
            return
        if self.grants or (history.events and (history.settles(self.book) or history.entries())):
            self._replay(account, history, groups, detail, first, last, timeline)
            return
        records: list[tuple[int, int, int, Any]] = []
        for event in history.events:
            records.append((event.instant, 0, event.order, event))
        for purchase in history.purchases:
            records.append((purchase.instant, 1, purchase.order, purchase))
        pooled = self._pooled(detail) if detail else None
        for index, (ordinal, meter, dup, qty, moment, _) in enumerate(groups):
            if dup or meter < 0 or not qty:
                continue
            if pooled and ordinal in detail and meter in pooled:  # type: ignore[operator]
                continue
            records.append((moment, 2, index, (meter, qty)))
        if detail:
            for entries in detail.values():
                for index, (moment, meter, quantity) in enumerate(entries):
                    records.append((moment, 2, index - len(entries), (meter, quantity)))
        if len(records) > 1:
            records.sort(key=_record_key)
        self._simulate(account, records, first, last, timeline)

    def _pooled(self, detail: Mapping[int, Sequence[tuple[int, int, Decimal]]] | None) -> set[int]:
        if not detail:
            return set()
        return {meter for entries in detail.values() for _, meter, _ in entries}

    def _sheet(self, timeline: PriceBook, ordinal: int) -> int:
        """The sheet that bills a month of an account on `timeline` (its number)."""
        return 0 if self.single else self.terms.month(timeline, ordinal)

    def _simulate(
        self,
        account: str,
        records: Sequence[tuple[int, int, int, Any]],
        first: int,
        last: int,
        timeline: PriceBook,
    ) -> None:
        names = self.names
        pools = self.pools
        order = self.order
        lots: dict[str, list[Lot]] = {}
        expiries: list[tuple[int, int, Lot]] = []
        ordinal = first
        end = self.month_end(ordinal)
        fresh = self._fresh if self.single else self.fresh_of[self._sheet(timeline, ordinal)]
        left = dict(fresh)
        granted = True
        active = True
        month: _Month | None = None
        bought = 0
        # The engine orders lots by (expiry, purchase); here the same, as instants.
        keys: dict[int, tuple[int, int]] = {}
        with decimal.localcontext(CONTEXT):
            for moment, _, _, item in records:
                while end <= moment or (expiries and expiries[0][0] <= moment):
                    soonest = expiries[0][0] if expiries else _NEVER
                    if end <= moment and end <= soonest:
                        self._close(account, ordinal, month, timeline)
                        ordinal += 1
                        end = self.month_end(ordinal)
                        month = None
                        if not self.single:
                            fresh = self.fresh_of[self._sheet(timeline, ordinal)]
                        granted = not self.while_active or active
                        left = dict(fresh) if granted else dict.fromkeys(fresh, ZERO)
                    else:
                        _, _, lot = heapq.heappop(expiries)
                        held = lots[lot.meter]
                        lots[lot.meter] = [other for other in held if other is not lot]
                if type(item) is tuple:
                    if not active:
                        continue
                    meter, quantity = item
                    name = names[meter]
                    pool = pools[meter]
                    drawn = deduct(quantity, order, (allowance_lot(pool, left[pool]),),
                                   lots.get(name, ()))
                    if drawn.allowance:
                        left[pool] -= drawn.allowance
                    if month is None:
                        month = _Month()
                    month.add(meter, drawn)
                elif type(item) is PackPurchase:
                    bought += 1
                    offer = self.plans_of[item.book][item.meter].packs[item.offer]
                    lot_id = item.id or (
                        self._label(item.meter, item.offer, offer.size) + str(bought)
                    )
                    lot = Lot(lot_id, item.meter, offer.size, offer.size,
                              ZERO if offer.price is None else offer.price)
                    keys[id(lot)] = (item.expires, moment)
                    held = lots.setdefault(item.meter, [])
                    held.append(lot)
                    if len(held) > 1:
                        if self.by_expiry:
                            held.sort(key=lambda other: keys[id(other)])
                        elif self.smallest_first:
                            held.sort(key=lambda other: (keys[id(other)][1], other.size))
                        else:
                            held.sort(key=lambda other: keys[id(other)][1])
                    heapq.heappush(expiries, (item.expires, bought, lot))
                elif item.kind == SUSPEND:
                    active = False
                elif item.kind == REOPEN:
                    active = True
                    if not granted:
                        granted = True
                        left = dict(fresh)
            while ordinal < last:
                self._close(account, ordinal, month, timeline)
                ordinal += 1
                month = None
            self._close(account, ordinal, month, timeline)

    def _label(self, meter: str, offer: int, size: Decimal) -> str:
        """`meter:size#`, the engine's lot id of a purchase without an id, less its number."""
        label = self._labels.get((meter, offer))
        if label is None:
            label = self._labels[(meter, offer)] = f"{meter}:{format_plain(size)}#"
        return label

    def _close(
        self, account: str, ordinal: int, month: _Month | None, timeline: PriceBook
    ) -> None:
        """The month's allowance and pack lines (as the engine's `_prepaid_lines` makes them),
        and its quantities per meter for pricing (None: no usage drawn); under a contract, the
        month's whole bill."""
        results = self.results
        sheet = self._sheet(timeline, ordinal)
        results.months.append((account, ordinal, sheet))
        if sheet >= self.terms.versions:  # a contract's sheet: billed here
            self._bill_month(account, ordinal, month, sheet)
            return
        if month is None:
            return
        prepaid = results.prepaid
        period = results.period
        for index in sorted(month.touched):
            allowance = month.allowance.get(index, ZERO)
            postpaid = month.postpaid.get(index, ZERO)
            total = allowance + postpaid
            seq = 0
            if allowance:
                prepaid.append((account, ordinal, index, "allowance", seq, allowance, None))
                seq += 1
            by_lot = month.packs.get(index)
            if by_lot:
                for lot, taken in by_lot.values():
                    total += taken
                    prepaid.append((account, ordinal, index, "pack", seq, taken, lot.id))
                    seq += 1
            if total > 0:
                period.append((account, ordinal, index, total, allowance, postpaid, sheet))

    def _bill_month(self, account: str, ordinal: int, month: _Month | None, sheet: int) -> None:
        """A month's bill by its sheet, as the engine's replay closes a month: the allowance and
        pack lines, the postpaid lines of its ladders, then `_make_bill` (a contract's discount
        lines after the lines they discount, its true-up last)."""
        book = self.books[sheet]
        lines: list[BillLine] = []
        period: dict[str, MeterUsage] = {}
        if month is not None:
            for index in sorted(month.touched):
                plan = book.meters[index]
                allowance = month.allowance.get(index, ZERO)
                by_lot = month.packs.get(index)
                packs = tuple((lot, taken) for lot, taken in by_lot.values()) if by_lot else ()
                postpaid = month.postpaid.get(index, ZERO)
                total = allowance + sum((taken for _, taken in packs), ZERO) + postpaid
                if total <= 0:
                    continue
                lines.extend(book._prepaid_lines(plan, Deduction(allowance, packs, postpaid)))
                period[plan.name] = MeterUsage(total, allowance, postpaid)
        try:
            with decimal.localcontext(CONTEXT):
                lines.extend(book._postpaid_period(period, "month"))
                bill = book._make_bill(book._ordered(lines), ())
        except UsageError as exc:
            self.results.failed.append((account, ordinal, str(exc)))
            return
        self._bill_lines(account, ordinal, bill)

    # --- accounts that settle from a balance, or hold grants: the engine's own replay ------------

    def _replay(
        self,
        account: str,
        history: History,
        groups: Sequence[Group],
        detail: Mapping[int, Sequence[tuple[int, int, Decimal]]] | None,
        first: int,
        last: int,
        timeline: PriceBook,
    ) -> None:
        """Bill an account through the engine's replay, its usage given as one entry per group
        (or per detailed entry), at the group's first instant."""
        self.results.replayed.add(account)
        # The engine opens the account at the journal's first entry, as `Terms.open` did.
        base = self._metered(self.terms.contracts.get(account, self.book))
        try:
            bills = bill_records(base, self._journal(base, history, groups, detail))
        except UsageError as exc:
            self.results.failed.append((account, None, str(exc)))
            self.results.months.extend(
                (account, o, self._sheet(timeline, o)) for o in range(first, last + 1)
            )
            return
        for bill in bills:
            if bill.day is not None:  # a daily bill: beside the months'
                assert bill.issued is not None
                self.results.daily.append((account, bill.day.isoformat(),
                                           bill.issued.isoformat(), bill.total, bill.lines))
                continue
            ordinal = _ord_of_month(bill.month)
            self.results.months.append((account, ordinal, self._sheet(timeline, ordinal)))
            self._bill_lines(account, ordinal, bill)

    def _metered(self, book: PriceBook) -> PriceBook:
        """The sheet the replay bills by: the SQL has made counts in a display unit metered
        units and raised entries to their minimum (`Queries.parsed_usage`), so the replay's
        entries (one per group, in metered units) take neither again."""
        made = self._metered_books.get(id(book))
        if made is None:
            made = metered(book)
            self._metered_books[id(book)] = made
        return made

    def _bill_lines(self, account: str, ordinal: int, bill: Bill) -> None:
        rank = self.rank
        for seq, line in enumerate(bill.lines):
            self.results.lines.append(Line(account, ordinal, rank[line.meter], seq, line))
        for balance in bill.credits:
            self.results.credits.append((
                account, ordinal, balance.credit_id, balance.credit, balance.amount,
                balance.paid, balance.remaining, balance.expires.isoformat()))
        for refused in bill.rejected:
            self.results.rejected.append((account, ordinal, refused.meter, refused.action,
                                          refused.quantity, refused.reason))

    def _reader(self, base: PriceBook) -> tuple[EntryReader, frozenset[str]]:
        """The entry reader of an account's book (the rules', or its contract's), made once,
        and the actions whose whole counts it takes as they are."""
        made = self._readers.get(id(base))
        if made is None:
            reader = EntryReader(base)
            made = self._readers[id(base)] = (reader, reader.whole_actions)
        return made

    def _journal(
        self,
        base: PriceBook,
        history: History,
        groups: Sequence[Group],
        detail: Mapping[int, Sequence[tuple[int, int, Decimal]]] | None,
    ) -> list[Record]:
        """The account's compressed journal, as the engine's records (`bill_records`): its
        purchases and events, and one usage entry (or request part) per group at the group's
        first instant; entries at the same instant keep the warehouse's order (events, then
        purchases, then usage); line numbers are the positions in that order.

        A usage entry of a whole count the reader takes as it is becomes its record directly
        (what `EntryReader.usage` makes of it: the warehouse checked the rows, and an instant
        read back from its wall-clock time is the instant); a request part is the record a
        request makes (`EntryReader.request`); purchases and events, and any other count, are
        read by the engine's reader from the journal entry they are."""
        zone = self.zone
        reader, whole = self._reader(base)
        # (instant, tier, order, what): `what` is a record less its instant and line (kind,
        # name, count), or a journal entry for the reader.
        timed: list[tuple[int, int, int, tuple[int, str, int | Decimal] | dict[str, Any]]] = []
        append = timed.append
        if history.opened is not None:
            append((history.opened, -1, 0, (OPEN, "", 0)))
        for event in history.events:
            entry: dict[str, Any] = {"type": event.kind, "time": local(event.instant, zone)}
            if event.kind == SUSPEND:
                entry["reason"] = event.reason
            elif event.kind == TOPUP:
                entry["amount"] = event.amount
            else:
                entry.update(event.fields)
            append((event.instant, 0, event.order, entry))
        for purchase in sorted(
            (*history.purchases, *history.repeats), key=lambda p: (p.instant, p.order)
        ):
            offer = self.plans_of[purchase.book][purchase.meter].packs[purchase.offer]
            append(
                (
                    purchase.instant,
                    1,
                    purchase.order,
                    {
                        "type": "purchase",
                        "time": local(purchase.instant, zone),
                        "meter": purchase.meter,
                        "size": offer.size,
                        "id": purchase.id,
                        # A negotiated pack's price is not the warehouse's to know, and no
                        # bill line depends on it.
                        **({"price": 0} if offer.price is None else {}),
                    },
                )
            )

        part_routes = self.part_routes
        actions = self.actions

        def units(moment: int, meter: int, count: int | Decimal
                  ) -> tuple[int, str, int | Decimal] | dict[str, Any]:
            """Units of a meter at an instant: a usage entry of its action, or a request
            part."""
            route = part_routes[meter]
            if route is not None:
                return (USAGE, route, count)
            return usage(moment, actions[meter], count)

        def usage(moment: int, action: str, count: int | Decimal
                  ) -> tuple[int, str, int | Decimal] | dict[str, Any]:
            if type(count) is int and 0 <= count <= QUICK_LIMIT and action in whole:
                return (USAGE, action, count)
            return {"type": "usage", "time": local(moment, zone), "action": action,
                    "count": count}

        free_action = self.free_action
        pooled = self._pooled(detail)
        for index, group in enumerate(groups):
            billable = not group.dup and group.meter >= 0 and group.qty
            if billable and not (detail and group.ord in detail and group.meter in pooled):
                assert group.qty is not None
                # One entry per MAX_COUNT units at most, as the engine takes them; drawn one
                # after another at one instant, they draw as their sum would (`deduct` is
                # greedy).
                for part in _parts(group.qty):
                    append((group.first, 2, index, units(group.first, group.meter, _count(part))))
            # Entries at the group's first and last instants keep the months the journal spans:
            # a repeated or free entry is an entry of the engine's journal too.
            for moment in (group.first, group.last):
                marker = (
                    usage(moment, free_action, 0) if free_action
                    else units(moment, max(group.meter, 0), 0)
                )
                append((moment, 2, index, marker))
        if detail:
            for entries in detail.values():
                for index, (moment, meter, quantity) in enumerate(entries):
                    append((moment, 2, index - len(entries),
                            units(moment, meter, _count(quantity))))
        timed.sort(key=_timed_key)
        records: list[Record] = []
        for line, (moment, _, _, what) in enumerate(timed, start=1):
            if type(what) is tuple:
                kind, name, count = what
                records.append((moment, line, kind, name, count, None))
                continue
            assert isinstance(what, dict)
            try:
                records.append(reader.from_mapping(what, line))
            except FieldError as exc:  # (as the engine reports a bad entry of a journal)
                raise JournalError(None, line, exc.field, exc.message) from None
        return records


def _timed_key(timed: tuple[int, int, int, Any]) -> tuple[int, int, int]:
    return timed[0], timed[1], timed[2]


def _parts(quantity: Decimal) -> Iterator[Decimal]:
    """A group's quantity as entries of at most MAX_COUNT units (the engine's limit for one
    entry): the whole ones first, then what is left."""
    limit = Decimal(MAX_COUNT)
    while quantity > limit:
        yield limit
        quantity = CONTEXT.subtract(quantity, limit)  # exact, whatever the caller's context
    yield quantity


def _count(quantity: Decimal | int) -> int | Decimal:
    """A usage entry's count: a whole number as an int (the metered detail and a group's parts
    may hold either type), else the exact Decimal."""
    if isinstance(quantity, int):
        return quantity
    whole = quantity.to_integral_value()
    return int(whole) if whole == quantity else quantity


def _ord_of_month(month: date | None) -> int:
    assert month is not None
    return month.year * 12 + month.month - 1


__all__ = [
    "AccountEvent",
    "Drawdown",
    "Group",
    "History",
    "PackPurchase",
    "Results",
    "cuts",
    "plain_draws",
]
