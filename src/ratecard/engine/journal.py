"""Account journals: the entries a billing service records, read and checked against the rules.

A journal is JSON Lines (one object per line, each with `time` and `type`), a usage-only CSV
(`time,action,count[,id]`), or, from Python, an iterable of such dicts or of the typed entries
below. A file or stream is read once: what a first pass reads is kept in a private temporary
file, so that a second pass (to sort a journal out of time order) never reads the input again.
Every entry is checked against the price book as it is read and turned into a `Record`, the
compact tuple the replay consumes; a bad entry becomes a `JournalError` naming where it is and
which field is wrong.

Record layout: `(instant, line, kind, name, count, id)`. `instant` is microseconds since the epoch
(see `clock`), `line` the entry's line in its file or its 1-based position in an iterable (ties in
time keep this order), `kind` one of USAGE, PURCHASE, SUSPEND, REOPEN, TOPUP, REFUND, ORDER, OPEN,
CREDIT (`name`: the credit and its amount, `commit 100.00`). By kind,
`name` is the action, the meter (then a space and the price paid, when the purchase gives one:
`detection 84`), the suspension reason, "", the top-up amount, the refunded pack's id (which
is the refund's `id` too) or the product ordered (then a space and its price, when the order
gives one); `count` is the usage count, the quantity ordered or
the index of the pack offer bought (under dated versions, `PriceBook.timeline`, the pack's size:
the replay takes its offer from the sheet in effect when it is bought); `id` is the usage or
purchase id, or None (an empty id may stand for None: the replay takes neither as an id).
"""

from __future__ import annotations

import csv
import io
import json
import os
import pickle
import tempfile
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from itertools import chain, islice
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, NoReturn, TypeVar

import attrs
import orjson

from ratecard.diagnostics import did_you_mean
from ratecard.engine.clock import (
    EPOCH_DAY,
    FIRST_YEAR,
    FIXED_SHIFTS,
    LAST_YEAR,
    TimeError,
    checked_instant,
    instant,
    local,
    parse_time,
)
from ratecard.engine.money import CONTEXT
from ratecard.engine.offers import FREE
from ratecard.engine.requests import RequestError
from ratecard.errors import UsageError
from ratecard.literals import (
    MAX_DIGITS,
    NumberError,
    count_value,
    format_plain,
    shorten,
    shown_number,
)

if TYPE_CHECKING:
    from ratecard.engine.offers import PackOffer
    from ratecard.engine.pricebook import PriceBook

#: An order or a subscription plan (`JournalReader._plan`).
_P = TypeVar("_P")

USAGE = 0
PURCHASE = 1
SUSPEND = 2
REOPEN = 3
TOPUP = 4
REFUND = 5
ORDER = 6
SUBSCRIBE = 7
CANCEL = 8
OPEN = 9  # the account opens (its grants issued once are issued then)
CREDIT = 10  # a prepaid credit bought: `name` is `CREDIT AMOUNT`

TYPES = ("usage", "purchase", "suspend", "reopen", "topup", "refund", "order", "subscribe",
         "cancel", "open", "credit", "request")

# A usage count: whole units (int), or a Decimal for a meter whose quantities are rounded.
Quantity = int | Decimal
Record = tuple[int, int, int, str, Quantity, str | None]

# --- typed entries ------------------------------------------------------------------------


@attrs.frozen
class Usage:
    """Calls of an action: `count` units into the action's meter (an `id` makes a resend safe)."""

    time: str | datetime
    action: str
    count: int | Decimal | str
    id: str | None = None


@attrs.frozen
class Purchase:
    """A prepaid pack bought: the meter and one of its declared sizes (100000, 100k, 10万).
    `price`, when given, is what the account paid for it instead of the sheet's price (a
    negotiated or promotional price); the bill's prepaid line shows both."""

    time: str | datetime
    meter: str
    size: int | str | Decimal
    id: str | None = None
    price: int | str | Decimal | None = None


@attrs.frozen
class Suspend:
    """The account suspended for one of the rules' reasons (BDA: arrears, violation)."""

    time: str | datetime
    reason: str


@attrs.frozen
class Reopen:
    """The account's service reopened after a suspension."""

    time: str | datetime


@attrs.frozen
class Open:
    """The account opens: its grants issued once (`grant ... once`) are issued at this time.
    A journal without one opens at its first entry."""

    time: str | datetime


@attrs.frozen
class Credit:
    """A prepaid credit bought (one the rules declare `prepaid`), for `amount` in `currency`
    (None: the rules')."""

    time: str | datetime
    credit: str
    amount: Decimal | str | int
    currency: str | None = None
    id: str | None = None


@attrs.frozen
class Topup:
    """Money added to the account's balance."""

    time: str | datetime
    amount: Decimal | str | int


@attrs.frozen
class Refund:
    """A pack returned for its price: `pack` is its id (the purchase's `id`, or the id the bill
    gave it, `detection:10000#1`). Only where its table is `refundable within ...`, within that
    window after the purchase, and while nothing has been drawn from it."""

    time: str | datetime
    pack: str


@attrs.frozen
class Order:
    """A one-time purchase of `quantity` units of a product the rules declare with `order`
    (device licences): at least its minimum, priced by the bracket the quantity falls in;
    `price` is the order's own total when it is not the sheet's (required in a `contact sales`
    bracket)."""

    time: str | datetime
    product: str
    quantity: int | str | Decimal
    id: str | None = None
    price: int | str | Decimal | None = None


@attrs.frozen
class Subscribe:
    """A subscription bought: `quantity` units (QPS, seats) of a plan the rules declare with
    `subscription`, charged every period until cancelled; `meter` names the meter it covers when
    the plan `covers one of` several; `id` names it for its `cancel`."""

    time: str | datetime
    plan: str
    quantity: int | str | Decimal
    id: str | None = None
    meter: str | None = None


@attrs.frozen
class Cancel:
    """A subscription ended: `subscription` is its id (the `subscribe` entry's, or the id the
    bill gives it, `qps_month#1`)."""

    time: str | datetime
    subscription: str


@attrs.frozen
class Request:
    """One call of an action the rules bill by request: its quantities (name → whole units,
    each counted into the meter the rules name for it; a missing one is 0) and its properties
    (name → a declared string value or a bool; a missing one takes its default)."""

    time: str | datetime
    action: str
    quantities: Mapping[str, int | Decimal | str] = attrs.field(factory=dict)
    properties: Mapping[str, str | bool] = attrs.field(factory=dict)
    id: str | None = None


Entry = (Usage | Purchase | Suspend | Reopen | Topup | Refund | Order | Subscribe | Cancel | Open
         | Credit | Request)

#: The largest int count the readers' shortcuts take: 2^30 - 1, the largest int that CPython
#: compares on its fastest path (well within MAX_COUNT). Any other count (negative, larger, not
#: an int) takes the checking path, which applies the whole rule (`literals.count_value`).
QUICK_LIMIT = (1 << 30) - 1

# --- errors ---------------------------------------------------------------------------------


class FieldError(ValueError):
    """A bad entry, before it is known where the entry is: the field (None: the whole entry)."""

    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class JournalError(UsageError):
    """A bad journal entry: the file (None for an iterable), the line or entry number, the field."""

    def __init__(self, path: str | None, line: int, field: str | None, message: str) -> None:
        path = None if path is None else printable(path)
        message = printable(message)
        self.path = path
        self.line = line
        self.field = field
        self.message = message
        where = f"{path}:{line}" if path is not None else f"journal entry {line}"
        what = f"field `{field}`: {message}" if field is not None else message
        super().__init__(f"{where}: {what}")


def _bad(field: str | None, message: str) -> NoReturn:
    raise FieldError(field, message)


def printable(text: str) -> str:
    """Text that can be written as UTF-8: a lone surrogate (half of a UTF-16 pair, which a JSON
    `\\ud800` escape can make) is shown as its escape."""
    if text.isascii():
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


# --- checking entries -------------------------------------------------------------------------


class EntryReader:
    """Turns raw entries (dicts, CSV rows, typed entries) into records checked against a book."""

    def __init__(self, book: PriceBook) -> None:
        self.book = book
        self.zone = book.zone
        self.routes = book.routes
        self.meters = {plan.name: plan for plan in book.meters}
        self.increment = book.rounding.increment
        self._fromisoformat = datetime.fromisoformat
        # The last time text read and its instant (None: nothing read yet; an empty text is
        # never a time, so no text can hit a cache that holds none).
        self._last_text: str | None = None
        self._last_instant = 0
        # `counts A in hours`: counts in a display unit, made metered units (the checking path).
        self.scales = {action: size for plan in book.meters for action, size in plan.count_scales}
        self.whole_actions = frozenset(
            action for action, route in book.routes.items()
            if self._keeps_whole(route) and action not in self.scales)
        self.requests = book.requests
        # `quantity at least N per entry`: each action's and request part's minimum.
        self.minimums = {
            action: plan.entry_minimum for action, route in book.routes.items()
            if route != FREE and (plan := self.meters[route]).entry_minimum is not None}
        self.minimums.update({
            route: plan.entry_minimum for route, meter in book.part_routes.items()
            if (plan := self.meters[meter]).entry_minimum is not None})
        # The parts of requests whose meter rounds whole quantities (`quantity rounded up to
        # 1000`): their counts are rounded as a usage count into it would be.
        self.part_roundings = {
            route: rounding for route, meter in book.part_routes.items()
            if (rounding := self.meters[meter].quantity_rounding) is not None
            and rounding.increment > 1}
        self.part_minimums = {route: minimum for route, minimum in self.minimums.items()
                              if route in book.part_routes}
        # No request part is raised to a minimum or rounded: its records are as counted.
        self._plain_parts = not self.part_minimums and not self.part_roundings
        # Under dated versions: the timelines accounts may be billed by (`_dated_offer`).
        self._timelines: list[PriceBook] | None = None

    def _keeps_whole(self, route: str) -> bool:
        """Whether a whole count into this route is taken as it is (no rounding changes it)."""
        if route == FREE:
            return True
        if self.meters[route].entry_minimum is not None:
            return False  # (the checking path raises a count to the minimum)
        rounding = self.meters[route].quantity_rounding
        return rounding is None or rounding.increment <= 1

    def quick_usage(
        self, text: Any, action: Any, count: Any, entry_id: Any, line: int
    ) -> Record | None:
        """The record of a well-formed usage entry, or None to take the checking path.

        Most of a journal is usage; this is its shortcut (one call, no error handling), and
        anything unusual, valid or not, goes to `from_mapping` or `from_entry`: a count that is
        not an int from 0 to QUICK_LIMIT, an id that is not ASCII text (it may hold a lone
        surrogate, which the checking path refuses).
        """
        if (type(text) is not str or type(action) is not str or type(count) is not int
                or count < 0 or count > QUICK_LIMIT or action not in self.whole_actions
                or (entry_id is not None
                    and (type(entry_id) is not str or not entry_id.isascii()))):
            return None
        if text == self._last_text:  # busy journals write many entries a second
            return (self._last_instant, line, USAGE, action, count, entry_id)
        try:
            moment = self._fromisoformat(text)
        except ValueError:
            return None
        if not FIRST_YEAR <= moment.year <= LAST_YEAR:
            return None
        at = instant(moment, self.zone)
        self._last_text = text
        self._last_instant = at
        return (at, line, USAGE, action, count, entry_id)

    def from_mapping(self, obj: Any, line: int) -> Record:
        """A record from a JSON object."""
        if type(obj) is not dict:
            if isinstance(obj, Mapping):
                obj = dict(obj)
            else:
                _bad(None, "an entry must be a JSON object with `time` and `type`")
        kind = obj.get("type")
        if kind == "usage":
            return self.usage(obj.get("time"), obj.get("action"), obj.get("count"), obj.get("id"),
                              line)
        if kind == "purchase":
            return self.purchase(obj.get("time"), obj.get("meter"), obj.get("size"),
                                 obj.get("id"), line, obj.get("price"))
        if kind == "suspend":
            return self.suspend(obj.get("time"), obj.get("reason"), line)
        if kind == "reopen":
            return (self.time(obj.get("time")), line, REOPEN, "", 0, None)
        if kind == "open":
            return (self.time(obj.get("time")), line, OPEN, "", 0, None)
        if kind == "credit":
            return self.credit(obj.get("time"), obj.get("credit"), obj.get("amount"),
                               obj.get("currency"), obj.get("id"), line)
        if kind == "topup":
            return self.topup(obj.get("time"), obj.get("amount"), line)
        if kind == "refund":
            return self.refund(obj.get("time"), obj.get("pack"), line)
        if kind == "order":
            return self.order(obj.get("time"), obj.get("product"), obj.get("quantity"),
                              obj.get("id"), line, obj.get("price"))
        if kind == "subscribe":
            return self.subscribe(obj.get("time"), obj.get("plan"), obj.get("quantity"),
                                  obj.get("id"), obj.get("meter"), line)
        if kind == "cancel":
            return self.cancel(obj.get("time"), obj.get("subscription"), line)
        if kind == "request":  # (one record only when it has one part: see `records_of`)
            parts = self.request(obj.get("time"), obj.get("action"), obj.get("quantities"),
                                 obj.get("properties"), obj.get("id"), line)
            if len(parts) == 1:
                return parts[0]
            _bad(None, "a request entry is read by `records_of`")  # pragma: no cover
        return self._bad_type(kind)

    def records_of(self, entry: Any, line: int) -> list[Record]:
        """The records of a request entry (a mapping or a `Request`): one per quantity part,
        all checked before any is returned, so a bad entry records nothing."""
        if isinstance(entry, Request):
            return self.request(entry.time, entry.action, entry.quantities, entry.properties,
                                entry.id, line)
        return self.request(entry.get("time"), entry.get("action"), entry.get("quantities"),
                            entry.get("properties"), entry.get("id"), line)

    def from_entry(self, entry: Entry, line: int) -> Record:
        """A record from a typed entry."""
        match entry:
            case Usage(time, action, count, entry_id):
                return self.usage(time, action, count, entry_id, line)
            case Purchase(time, meter, size, entry_id, price):
                return self.purchase(time, meter, size, entry_id, line, price)
            case Suspend(time, reason):
                return self.suspend(time, reason, line)
            case Reopen(time):
                return (self.time(time), line, REOPEN, "", 0, None)
            case Open(time):
                return (self.time(time), line, OPEN, "", 0, None)
            case Credit(time, credit, amount, currency, entry_id):
                return self.credit(time, credit, amount, currency, entry_id, line)
            case Topup(time, amount):
                return self.topup(time, amount, line)
            case Refund(time, pack):
                return self.refund(time, pack, line)
            case Order(time, product, quantity, entry_id, price):
                return self.order(time, product, quantity, entry_id, line, price)
            case Subscribe(time, plan, quantity, entry_id, meter):
                return self.subscribe(time, plan, quantity, entry_id, meter, line)
            case Cancel(time, subscription):
                return self.cancel(time, subscription, line)
            case Request():
                return self.from_mapping(attrs.asdict(entry, recurse=False) | {
                    "type": "request"}, line)
        _bad(None, f"not a journal entry: {type(entry).__name__}")

    def from_csv(self, fields: list[str], line: int) -> Record:
        """A usage record from a CSV row `time,action,count[,id]`."""
        if not 3 <= len(fields) <= 4:
            _bad(None, f"expected 3 or 4 columns (time,action,count[,id]), found {len(fields)}")
        entry_id = fields[3].strip() if len(fields) == 4 else ""
        count = fields[2].strip()
        return self.usage(fields[0].strip(), fields[1].strip(),
                          int(count) if count.isdigit() and count.isascii() and len(count) < 19
                          else count, entry_id or None, line)

    # --- one function per entry type ----------------------------------------------------------

    def usage(self, time: Any, action: Any, count: Any, entry_id: Any, line: int) -> Record:
        moment = self.time(time)
        if type(action) is str and action in self.requests:
            _bad("type", f"`{action}` is billed by `request` entries (its quantities and "
                 "properties), not by `usage` entries")
        if type(action) is not str or action not in self.routes:
            self._bad_action(action)
        if (type(count) is not int or count < 0 or count > QUICK_LIMIT
                or action not in self.whole_actions):
            count = self._count(count, action)  # (a whole count too, where rounding changes it)
            minimum = self.minimums.get(action)
            if minimum is not None and 0 < count < minimum:
                count = int(minimum) if minimum == minimum.to_integral_value() else minimum
        if entry_id is not None:
            entry_id = self._id(entry_id)
        return (moment, line, USAGE, action, count, entry_id)

    def request(self, time: Any, action: Any, quantities: Any, properties: Any, entry_id: Any,
                line: int) -> list[Record]:
        """A request's records: one usage part per quantity, into the quantity's meter, all
        with the entry's time, line and id (the replay takes them as one entry)."""
        if time is not None and time == self._last_text:
            moment = self._last_instant
        else:
            moment = self._request_time(time)
        plan = self.requests.get(action) if type(action) is str else None
        if plan is None:
            self._bad_request(action)
        try:
            parts = plan.parts(quantities, properties)
        except RequestError as exc:
            _bad(exc.field, exc.message)
        if entry_id is not None and (type(entry_id) is not str or not entry_id.isascii()):
            entry_id = self._id(entry_id)
        elif entry_id == "":
            entry_id = None
        records: list[Record] = [(moment, line, USAGE, route, count, entry_id)
                                 for route, count in parts]
        return records if self._plain_parts else self._adjusted(records)

    def quick_request(self, obj: dict[str, Any], line: int) -> list[Record] | None:
        """The records of a well-formed request entry (a JSON object), or None to take the
        checking path (`request`), as `quick_usage` is usage's: a time that `_request_time`
        reads on its shortcut, an action billed by request, an id that is None or ASCII text,
        and what `RequestPlan.quick_records` takes. The same records as `request`'s."""
        text = obj.get("time")
        if text is not None and text == self._last_text:
            moment = self._last_instant
        else:
            if type(text) is not str:
                return None
            try:
                parsed = self._fromisoformat(text)
            except ValueError:
                return None
            if not FIRST_YEAR <= parsed.year <= LAST_YEAR or parsed.tzinfo is None:
                return None
            # `instant` of an aware time, in C: fewer steps than its field arithmetic
            moment = (parsed - _EPOCH) // _MICROSECOND
            self._last_text = text
            self._last_instant = moment
        action = obj.get("action")
        plan = self.requests.get(action) if type(action) is str else None
        if plan is None:
            return None
        entry_id = obj.get("id")
        if entry_id is not None:
            if type(entry_id) is not str or not entry_id.isascii():
                return None
            if not entry_id:
                entry_id = None
        records = plan.quick_records(obj.get("quantities"), obj.get("properties"), moment,
                                     line, USAGE, entry_id)
        if records is None or self._plain_parts:
            return records  # type: ignore[return-value]
        return self._adjusted(records)  # type: ignore[arg-type]

    def _adjusted(self, records: list[Record]) -> list[Record]:
        """A request's records with each part's count raised to its meter's minimum per entry
        and rounded as its meter rounds quantities."""
        least = self.part_minimums
        rounded = self.part_roundings
        adjusted: list[Record] = []
        for moment, line, kind, route, count, entry_id in records:
            if route in least and 0 < count < least[route]:
                count = least[route]
            if route in rounded:
                count = rounded[route].round(Decimal(count))
            adjusted.append((moment, line, kind, route, count, entry_id))
        return adjusted

    def _request_time(self, text: Any) -> int:
        """A request's instant: `quick_usage`'s shortcut for an ISO time with its offset in
        range (cached as the last time read), else the checking path (`time`)."""
        if type(text) is str:
            try:
                moment = self._fromisoformat(text)
            except ValueError:
                return self.time(text)
            if FIRST_YEAR <= moment.year <= LAST_YEAR and moment.tzinfo is not None:
                at = instant(moment, self.zone)
                self._last_text = text
                self._last_instant = at
                return at
        return self.time(text)

    def _bad_request(self, action: Any) -> NoReturn:
        if action is None:
            _bad("action", "missing field `action`")
        if type(action) is not str:
            _bad("action", f"an action is a name such as messages, not {_shown(action)}")
        if action in self.routes:
            _bad("type", f"`{shorten(action)}` is billed by `usage` entries (one `count`), not "
                 "by `request` entries")
        if not self.requests:
            _bad("type", f"rules `{self.book.name}` bill no action by request")
        hint = did_you_mean(action, self.requests)
        _bad("action", f"`{printable(shorten(action))}` is not a request of rules "
             f"`{self.book.name}`" + (f"; {hint}" if hint else _choices(self.requests)))

    def purchase(
        self, time: Any, meter: Any, size: Any, entry_id: Any, line: int, price: Any = None
    ) -> Record:
        moment = self.time(time)
        plan = self.meters.get(meter) if type(meter) is str else None
        if plan is None:
            if meter is None:
                _bad("meter", "missing field `meter`")
            try:
                self.book.meter(str(meter))
            except UsageError as exc:
                _bad("meter", str(exc))
            _bad("meter", f"`{meter}` is not a meter")  # pragma: no cover
        if size is None:
            _bad("size", "missing field `size`")
        if isinstance(size, bool) or not isinstance(size, int | str | Decimal):
            _bad("size", "a pack size is a number such as 100000, 100k or 10万, "
                 f"not {_shown(size)}")
        if self.book.timeline:
            offer = self._dated_offer(plan.name, size, moment)
            if offer.price is None and price is None:
                self._negotiated(plan.name, offer)
            if entry_id is not None:
                entry_id = self._id(entry_id)
            return (moment, line, PURCHASE, self._paid(plan.name, price), offer.size, entry_id)
        try:
            offer = self.book._parse_pack_size(plan, size)
        except UsageError as exc:
            _bad("size", str(exc))
        if offer.price is None and price is None:
            self._negotiated(plan.name, offer)
        if entry_id is not None:
            entry_id = self._id(entry_id)
        return (moment, line, PURCHASE, self._paid(plan.name, price), plan.packs.index(offer),
                entry_id)

    @staticmethod
    def _negotiated(meter: str, offer: PackOffer) -> NoReturn:
        _bad("price", f"the pack of {format_plain(offer.size)} `{meter}` is sold by negotiation "
             "(`contact sales`, no list price): give the price it was sold at in `price`")

    def _paid(self, meter: str, price: Any) -> str:
        """A purchase record's `name`: the meter, then the price paid when the entry gives one."""
        if price is None:
            return meter
        return f"{meter} {format_plain(self._money('price', price, 'a pack price', zero=True))}"

    def _dated_offer(self, meter: str, size: Any, moment: int) -> PackOffer:
        """The pack of `size` on sale on the purchase's day for some account: under dated
        versions, the sheet in effect then, or, for an account kept on earlier prices
        (grandfathering), the sheet it is kept on. The replay picks the account's own."""
        day = local(moment, self.zone).date()
        if self._timelines is None:  # (made once: a timeline of kept accounts is a new book)
            self._timelines = [self.book.for_account(opened) for opened in _openings(self.book)]
        sheets: list[PriceBook] = []
        for timeline in self._timelines:
            sheet = timeline.at(day)
            if all(sheet is not other for other in sheets):
                sheets.append(sheet)
        try:
            units = count_value(size)
        except NumberError as exc:
            _bad("size", f"pack size: {exc}")
        for sheet in sheets:
            offer = sheet.meter(meter).pack(units)
            if offer is not None:
                return offer
        sizes = ", ".join(format_plain(p.size) for p in sheets[0].meter(meter).packs) or "none"
        _bad("size", f"meter `{meter}` has no pack of size {shown_number(units)} on sale on "
             f"{day.isoformat()} (sizes then: {sizes})")

    def suspend(self, time: Any, reason: Any, line: int) -> Record:
        moment = self.time(time)
        reasons = self.book.billing.suspend_reasons
        if reason is None:
            _bad("reason", "missing field `reason`" + _choices(reasons))
        if not reasons:
            _bad("type", f"rules `{self.book.name}` declare no reason to suspend an account")
        if reason not in reasons:
            if type(reason) is not str:
                _bad("reason", f"a reason is a name such as {reasons[0]}, not {_shown(reason)}")
            hint = did_you_mean(reason, reasons)
            _bad("reason", f"`{shorten(reason)}` is not a reason to suspend in rules "
                 f"`{self.book.name}`" + (f"; {hint}" if hint else _choices(reasons)))
        return (moment, line, SUSPEND, str(reason), 0, None)

    def topup(self, time: Any, amount: Any, line: int) -> Record:
        moment = self.time(time)
        value = self._money("amount", amount, "a top-up", zero=False)
        return (moment, line, TOPUP, format_plain(value), 0, None)

    def credit(self, time: Any, credit: Any, amount: Any, currency: Any, entry_id: Any,
               line: int) -> Record:
        """A prepaid credit bought: one the rules declare `prepaid`, for a positive amount in
        the rules' currency (a `currency` field, if given, must be it)."""
        moment = self.time(time)
        prepaid = [plan.name for sheet in self.book.books for plan in sheet.credits
                   if plan.amount is None]
        if credit is None:
            _bad("credit", "missing field `credit` (the name of a prepaid credit)")
        if credit not in prepaid:
            hint = did_you_mean(str(credit), prepaid) if prepaid else None
            _bad("credit", f"`{shorten(str(credit))}` is not a prepaid credit of rules "
                 f"`{self.book.name}`" + (f"; {hint}" if hint else f" (prepaid credits: "
                 f"{', '.join(prepaid) or 'none'})"))
        if currency is not None and currency != self.book.currency:
            _bad("currency", f"a credit in {shorten(str(currency))} cannot pay bills in "
                 f"{self.book.currency} (rules `{self.book.name}`): give the amount in "
                 f"{self.book.currency}")
        value = self._money("amount", amount, "a credit", zero=False)
        return (moment, line, CREDIT, f"{credit} {format_plain(value)}", 0,
                self._id(entry_id) if entry_id is not None else None)

    def refund(self, time: Any, pack: Any, line: int) -> Record:
        """A refund: the pack named, under rules some pack table of which is refundable (the
        replay checks the rest: the pack is held, undrawn, in its window)."""
        moment = self.time(time)
        if not any(plan.pack_terms.refund_amount is not None
                   for sheet in self.book.books for plan in sheet.meters):
            policy = self.book.packs
            if not policy.refundable:
                rule = f"packs valid {policy.valid_amount} {policy.valid_unit}" + (
                    "s" if policy.valid_amount != 1 else "") + ", no refund" + (
                    ", no freeze" if not policy.frozen_after_expiry else "")
                _bad("type", "a refund cannot be billed: prepaid packs are non-refundable "
                     f"(rules `{self.book.name}`: `{rule}`)")
            _bad("type", f"a refund cannot be billed: no pack table of rules `{self.book.name}` "
                 "says `refundable within ...`")
        if pack is None:
            _bad("pack", "missing field `pack` (the id of the pack refunded)")
        if type(pack) is not str or not pack:
            _bad("pack", f"a pack is named by its id, such as \"p-1\", not {_shown(pack)}")
        pack = self._id(pack)
        return (moment, line, REFUND, pack, 0, pack)

    def _plan(self, field: str, name: Any, plans: Mapping[str, _P], none_sold: str,
              noun: str) -> _P:
        """The plan an order or a subscription names in `field`, or the entry's error (with
        the rules' choices, or a did-you-mean)."""
        if name is None:
            _bad(field, f"missing field `{field}`" + _choices(plans))
        plan = plans.get(name) if type(name) is str else None
        if plan is None:
            if not plans:
                _bad("type", f"rules `{self.book.name}` {none_sold}")
            hint = did_you_mean(str(name), plans)
            _bad(field, f"`{shorten(str(name))}` is not {noun} of rules `{self.book.name}`"
                 + (f"; {hint}" if hint else _choices(plans)))
        return plan

    def order(
        self, time: Any, product: Any, quantity: Any, entry_id: Any, line: int, price: Any
    ) -> Record:
        """An order: a product of the rules, a whole quantity of at least its minimum, and a
        price of its own where its bracket has none."""
        moment = self.time(time)
        plan = self._plan("product", product, {plan.name: plan for plan in self.book.orders},
                          "sell nothing by order", "a product")
        units = _whole_units(quantity, "1000", "an order")
        if units < plan.minimum:
            _bad("quantity", f"an order of {format_plain(units)} `{plan.name}` is below the "
                 f"minimum order of {format_plain(plan.minimum)}")
        paid = None if price is None else self._money("price", price, "an order's price",
                                                      zero=True)
        bracket = plan.ladder.bracket_for(units)
        if bracket.contact_sales and paid is None:
            _bad("price", f"an order of {format_plain(units)} `{plan.name}` is in the bracket "
                 f"{bracket.label}, sold by negotiation (`contact sales`): give the price it "
                 "was sold at in `price`")
        if entry_id is not None:
            entry_id = self._id(entry_id)
        name = plan.name if paid is None else f"{plan.name} {format_plain(paid)}"
        return (moment, line, ORDER, name, int(units), entry_id)

    def subscribe(
        self, time: Any, plan_name: Any, quantity: Any, entry_id: Any, meter: Any, line: int
    ) -> Record:
        """A subscription: a plan of the rules (not a fee: every account pays those), a whole
        quantity above zero and at most its maximum, in a bracket with a price, and the meter
        it covers where the plan covers one of several. Record: `name` is the plan (then a
        space and the meter), `count` the quantity."""
        moment = self.time(time)
        plan = self._plan(
            "plan", plan_name,
            {plan.name: plan for plan in self.book.subscriptions if not plan.automatic},
            "sell no subscription", "a subscription")
        units = _whole_units(quantity, "10", "a subscription")
        if plan.maximum is not None and units > plan.maximum:
            _bad("quantity", f"a subscription of {format_plain(units)} `{plan.name}` is above "
                 f"the maximum of {format_plain(plan.maximum)}")
        label, price = plan.price(units)
        if price is None:
            _bad("quantity", f"a subscription of {format_plain(units)} `{plan.name}` is in the "
                 f"bracket {label}, sold by negotiation (`contact sales`)")
        name = plan.name
        if plan.one:
            if meter is None:
                _bad("meter", f"missing field `meter`: subscription `{plan.name}` covers one "
                     "meter of its choice" + _choices(plan.covers))
            if type(meter) is not str or meter not in plan.covers:
                hint = did_you_mean(str(meter), plan.covers)
                _bad("meter", f"`{shorten(str(meter))}` is not a meter subscription "
                     f"`{plan.name}` covers" + (f"; {hint}" if hint else _choices(plan.covers)))
            name = f"{plan.name} {meter}"
        elif meter is not None:
            _bad("meter", f"subscription `{plan.name}` covers "
                 + (", ".join(f"`{m}`" for m in plan.covers) or "no meter")
                 + ": a subscribe entry names no meter")
        if entry_id is not None:
            entry_id = self._id(entry_id)
        return (moment, line, SUBSCRIBE, name, int(units), entry_id)

    def cancel(self, time: Any, subscription: Any, line: int) -> Record:
        """A cancellation: the subscription named (the replay checks it is held and started)."""
        moment = self.time(time)
        if not any(not plan.automatic for plan in self.book.subscriptions):
            _bad("type", f"rules `{self.book.name}` sell no subscription to cancel")
        if subscription is None:
            _bad("subscription", "missing field `subscription` (the id of the subscription "
                 "cancelled)")
        if type(subscription) is not str or not subscription:
            _bad("subscription", "a subscription is named by its id, such as \"s-1\", not "
                 f"{_shown(subscription)}")
        name = self._id(subscription)
        assert name is not None
        return (moment, line, CANCEL, name, 0, name)

    def _money(self, field: str, amount: Any, what: str, *, zero: bool) -> Decimal:
        """An amount of money in `field`: positive (or 0 where `zero`), of at most MAX_DIGITS
        digits, on the currency's increment, checked in ratecard's own decimal context (the same
        whatever the caller's)."""
        if amount is None:
            _bad(field, f"missing field `{field}`")
        if isinstance(amount, bool) or not isinstance(amount, int | str | Decimal):
            _bad(field, f"an amount is a number such as 100 or \"100.00\", not {_shown(amount)}")
        if isinstance(amount, Decimal):
            value = amount
        elif isinstance(amount, int):
            value = Decimal(amount)  # no str(): an int of 5000 digits has none
        else:
            try:
                value = Decimal(amount.strip())
            except InvalidOperation:
                _bad(field, f"`{shorten(amount)}` is not an amount of money")
        if not value.is_finite() or value < 0 or (value == 0 and not zero):
            _bad(field, f"{what} must be a{' positive' if not zero else 'n'} amount"
                 f"{'' if not zero else ' of 0 or more'}, not {shown_number(value)}")
        exponent = value.as_tuple().exponent
        assert isinstance(exponent, int), "a finite number"
        if max(value.adjusted() + 1, 0) - min(exponent, 0) > MAX_DIGITS:
            _bad(field, f"{shown_number(value)} has more than {MAX_DIGITS} digits")
        if CONTEXT.remainder(value, self.increment) != 0:
            _bad(field, f"{format_plain(value)} {self.book.currency} is not a whole number of "
                 f"{format_plain(self.increment)}")
        return value

    def time(self, value: Any) -> int:
        """The instant of an entry's `time`."""
        if type(value) is str:
            try:
                return parse_time(value, self.zone)
            except TimeError as exc:
                _bad("time", str(exc))
        if isinstance(value, datetime):
            try:
                return checked_instant(value, self.zone)
            except TimeError as exc:
                _bad("time", str(exc))
        if value is None:
            _bad("time", "missing field `time`")
        _bad("time", f"a time is an ISO 8601 string such as 2026-11-02T10:00:00+08:00, "
             f"not {_shown(value)}")

    # --- the slow paths of bad values ----------------------------------------------------------

    def _bad_type(self, kind: Any) -> NoReturn:
        if kind is None:
            _bad("type", "missing field `type`" + _choices(TYPES))
        hint = did_you_mean(str(kind), TYPES)
        _bad("type", f"unknown entry type `{kind}`" + (f"; {hint}" if hint else _choices(TYPES)))

    def _bad_action(self, action: Any) -> NoReturn:
        if action is None:
            _bad("action", "missing field `action`")
        if type(action) is not str:
            _bad("action", f"an action is a name such as DetectBody, not {_shown(action)}")
        if not action.isascii() and _has_surrogate(action):
            _bad("action", f"`{printable(shorten(action))}` is not text: it holds a lone "
                 "surrogate")
        try:
            self.book._route(action)
        except UsageError as exc:
            _bad("action", str(exc))
        _bad("action", f"unknown action `{action}`")  # pragma: no cover

    def _count(self, value: Any, action: str) -> Quantity:
        """A usage count: whole units, unless the action is free or its meter rounds quantities.
        The number rule itself is `literals.count_value`, the same on every path."""
        if value is None:
            _bad("count", "missing field `count`")
        try:
            number = count_value(value, _shown)
        except NumberError as exc:
            _bad("count", str(exc))
        route = self.routes[action]
        if action in self.scales:
            number = CONTEXT.multiply(number, self.scales[action])
        whole = number == number.to_integral_value()
        rounding = None if route == FREE else self.meters[route].quantity_rounding
        if rounding is not None:
            return rounding.round(number)
        if not whole and route != FREE:
            if action in self.scales:  # (`counts A in hours`: the count made metered units)
                _bad("count", f"{shown_number(count_value(value, _shown))} × "
                     f"{shown_number(self.scales[action])} = {shown_number(number.normalize())} "
                     "is not a whole number of units")
            _bad("count", f"{shown_number(number)} is not a whole number of units")
        return int(number) if whole else number

    @staticmethod
    def _id(value: Any) -> str | None:
        """An id: a string (an empty one is no id), or a whole number taken as its digits."""
        if isinstance(value, str):
            if not value:
                return None
            if not value.isascii() and _has_surrogate(value):
                _bad("id", f"`{printable(shorten(value))}` is not text: it holds a lone "
                     "surrogate (a \\ud800-\\udfff escape that is not half of a pair)")
            return str(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if -10**_ID_DIGITS < value < 10**_ID_DIGITS:
                return str(value)
            _bad("id", f"an id number has at most {_ID_DIGITS} digits, not "
                 f"{shown_number(Decimal(value))}")
        _bad("id", f"an id is a string (or a whole number), not {_shown(value)}")


_ID_DIGITS = 64


def _openings(book: PriceBook) -> list[date]:
    """Opening days that between them give every timeline `book.for_account` can: one before
    all, one on each grandfathering version's `keep_before` day (then not kept)."""
    days = [date.min]
    for segment in book.timeline:
        if segment.keep_before is not None and segment.keep_before not in days:
            days.append(segment.keep_before)
    return days


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _whole_units(quantity: Any, example: str, what: str) -> Decimal:
    """An order's or a subscription's `quantity`: a whole number above 0, or the entry's
    error (`what` names the entry: "an order")."""
    if quantity is None:
        _bad("quantity", "missing field `quantity`")
    if isinstance(quantity, bool) or not isinstance(quantity, int | str | Decimal):
        _bad("quantity", f"a quantity is a whole number such as {example}, not "
             f"{_shown(quantity)}")
    try:
        units = count_value(quantity)
    except NumberError as exc:
        _bad("quantity", str(exc))
    if units != units.to_integral_value() or units <= 0:
        _bad("quantity", f"{what} is of a whole number of units above 0, not "
             f"{shown_number(units)}")
    return units


def _shown(value: Any) -> str:
    """A value as the journal wrote it (JSON: `true`, `[1]`), whatever type it has, shortened."""
    if isinstance(value, int) and not isinstance(value, bool):
        return shown_number(Decimal(value))  # no str(): an int of 5000 digits has none
    if isinstance(value, Decimal):
        return shown_number(value)
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, TypeError, RecursionError):
        text = f"a {type(value).__name__}"
    return printable(shorten(text))


def _choices(options: Iterable[str]) -> str:
    listed = ", ".join(options)
    return f" (one of {listed})" if listed else ""


# --- sources ------------------------------------------------------------------------------------

OnInvalid = Callable[[JournalError], None]
JournalInput = str | os.PathLike[str] | BinaryIO | Iterable[Mapping[str, Any] | Entry]


class Source:
    """Where a journal's records come from; `records()` may be called again to read them anew.

    With `on_invalid`, a bad entry is reported to it and skipped (each bad entry once, even when
    the journal is read twice); without, the first bad entry raises JournalError.
    """

    path: str | None = None

    def __init__(self, reader: EntryReader, on_invalid: OnInvalid | None) -> None:
        self.reader = reader
        self.on_invalid = on_invalid
        self._reported_through = 0
        # Lines (or entries) read by the last complete pass: an account numbers the entries of
        # its next feed after them.
        self.positions = 0

    def records(self) -> Generator[Record, None, None]:
        raise NotImplementedError

    def close(self) -> None:
        """Release what reading held (temporary files, a file it opened)."""

    def invalid(self, line: int, exc: FieldError) -> None:
        """Raise or report a bad entry."""
        error = JournalError(self.path, line, exc.field, exc.message)
        if self.on_invalid is None:
            raise error
        if line > self._reported_through:
            self._reported_through = line
            self.on_invalid(error)


_CHUNK = 1 << 16  # bytes read from the input at a time


class ReadOnce:
    """The bytes of a journal file or stream, read from the input once.

    Each pass reads what earlier passes read from a private copy, then the rest of the input,
    copying it as it goes (with `keep`), so a pipe, a FIFO or standard input bills as the same
    bytes in a file would, and a file that changes while it is billed is billed as it was read.
    The copy is an anonymous temporary file: nothing of it is left in the temporary directory,
    whatever ends the process.
    """

    def __init__(self, path: Path | None, stream: IO[bytes] | None, keep: bool) -> None:
        self._path = path
        self._stream = stream
        self._opened = False  # the stream is a file this object opened (and closes)
        self._keep = keep
        self._copy: IO[bytes] | None = None
        self._copied = 0
        self._done = False

    def chunks(self) -> Iterator[bytes]:
        """The input's bytes, in chunks, from the start."""
        copy = self._copy
        if copy is not None and self._copied:
            copy.seek(0)
            left = self._copied
            while left > 0:
                chunk = copy.read(min(_CHUNK, left))
                if not chunk:  # pragma: no cover - the copy holds what was written to it
                    break
                left -= len(chunk)
                yield chunk
        if self._done:
            return
        stream = self._input()
        if self._keep and copy is None:
            copy = self._copy = tempfile.TemporaryFile(prefix="ratecard-journal-")  # noqa: SIM115
        if copy is not None:
            copy.seek(0, os.SEEK_END)
        read = stream.read
        while True:
            chunk = read(_CHUNK)
            if not chunk:
                break
            if copy is not None:
                copy.write(chunk)
                self._copied += len(chunk)
            yield chunk
        self._done = True

    def _input(self) -> IO[bytes]:
        if self._stream is None:
            assert self._path is not None
            self._stream = open(self._path, "rb")  # noqa: SIM115 - closed by `close`
            self._opened = True
        return self._stream

    def close(self) -> None:
        if self._copy is not None:
            self._copy.close()
            self._copy = None
        if self._opened and self._stream is not None:
            self._stream.close()
            self._stream = None


def _lines(chunks: Iterator[bytes]) -> Iterator[list[bytes]]:
    """The lines of a byte stream, without their `\\n`, a list per chunk read."""
    rest = b""
    for chunk in chunks:
        parts = chunk.split(b"\n")
        if rest:
            parts[0] = rest + parts[0]
        rest = parts.pop()
        yield parts
    if rest:
        yield [rest]


class LinesFile(Source):
    """A journal of lines (JSON Lines or CSV) in a file or a binary stream, read once."""

    def __init__(self, name: str, data: ReadOnce, reader: EntryReader,
                 on_invalid: OnInvalid | None) -> None:
        super().__init__(reader, on_invalid)
        self.path = name
        self._data = data

    def raw_lines(self) -> Iterator[bytes]:
        """Every line's bytes, from the first."""
        return chain.from_iterable(_lines(self._data.chunks()))

    def close(self) -> None:
        self._data.close()


class JsonLinesFile(LinesFile):
    """A JSON Lines journal, read line by line (blank lines are skipped)."""

    #: Read well-formed usage and request lines by the shortcut (orjson and the readers'
    #: shortcuts); the tests that hold it to the checking path turn it off.
    fast = True

    def __init__(self, name: str, data: ReadOnce, reader: EntryReader,
                 on_invalid: OnInvalid | None) -> None:
        super().__init__(name, data, reader, on_invalid)
        decoder = json.JSONDecoder(parse_float=Decimal, parse_constant=_no_constant)
        # The decoder of the checking path also reads an integer of any length (as a Decimal,
        # which the count's rule then refuses by its value, not by Python's digit limit).
        self._decode = json.JSONDecoder(parse_float=Decimal, parse_int=_integer,
                                        parse_constant=_no_constant).decode
        # The C scanner alone: `decode` also runs two whitespace regexes a line, which cost as
        # much as the scan. A line it does not read whole goes to `decode`, for the error.
        self._scan: Callable[[str, int], tuple[Any, int]] = vars(decoder)["scan_once"]

    def _decoded(self, text: str) -> Any:
        """A line's JSON value, or FieldError saying what is wrong with it."""
        try:
            return self._decode(text)
        except json.JSONDecodeError as exc:
            _bad(None, _json_error(exc, text))
        except RecursionError:
            _bad(None, "the JSON nests arrays or objects too deeply to be read")
        except ValueError as exc:
            _bad(None, f"not valid JSON: {exc}")

    def records(self) -> Generator[Record, None, None]:
        scan = self._scan
        decoded = self._decoded
        quick = self.reader.quick_usage
        convert = self.reader.from_mapping
        requests = self.reader.request
        line = 0
        quick_request = self.reader.quick_request
        fast = self.fast
        loads = orjson.loads
        for line, raw in enumerate(self.raw_lines(), start=1):
            try:
                # The shortcut: an ASCII line that orjson reads as an object of a request's or
                # a usage's fields alone, which the readers' shortcuts take. Those check the
                # type of every value, so the object is what the stdlib reads from the line: a
                # number with a fraction or an exponent (a float here, a Decimal there), an
                # integer past 64 bits (a float) or an array or object nested in a field
                # (which the stdlib may refuse as too deep) is not taken, and such a line, as
                # any other, is read again below.
                if fast and raw.isascii():
                    try:
                        obj = loads(raw)
                    except orjson.JSONDecodeError:
                        obj = None
                    if type(obj) is dict:
                        kind = obj.get("type")
                        if kind == "request":
                            if obj.keys() <= _REQUEST_FIELDS:
                                records = quick_request(obj, line)
                                if records is not None:
                                    yield from records
                                    continue
                        elif kind == "usage" and obj.keys() <= _USAGE_FIELDS:
                            record = quick(obj.get("time"), obj.get("action"), obj.get("count"),
                                           obj.get("id"), line)
                            if record is not None:
                                yield record
                                continue
                try:
                    text = raw.decode()
                except UnicodeDecodeError as exc:
                    _bad(None, f"not UTF-8 text (byte {exc.start + 1} of the line)")
                if line == 1 and text.startswith("\ufeff"):
                    text = text[1:]
                if not text or text.isspace():
                    continue
                try:
                    obj, end = scan(text, 0)
                except (StopIteration, ValueError, RecursionError):  # blanks first, or not JSON
                    obj = decoded(text)
                else:
                    if end != len(text) and not text[end:].isspace():
                        obj = decoded(text)  # something after the value
                record = None
                if type(obj) is dict:
                    kind = obj.get("type")
                    if kind == "usage":
                        record = quick(obj.get("time"), obj.get("action"), obj.get("count"),
                                       obj.get("id"), line)
                    elif kind == "request":
                        yield from requests(obj.get("time"), obj.get("action"),
                                            obj.get("quantities"), obj.get("properties"),
                                            obj.get("id"), line)
                        continue
                yield convert(obj, line) if record is None else record
            except FieldError as exc:
                self.invalid(line, exc)
        self.positions = line


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

# The fields the shortcuts read (`JsonLinesFile.records`): an entry with another is read by the
# stdlib decoder.
_REQUEST_FIELDS = frozenset({"time", "type", "action", "quantities", "properties", "id"})
_USAGE_FIELDS = frozenset({"time", "type", "action", "count", "id"})


def _json_error(exc: json.JSONDecodeError, text: str) -> str:
    content = text.rstrip("\r\n")
    if exc.pos >= len(content):
        return f"not valid JSON: {exc.msg} at the end of the line"
    return f"not valid JSON: {exc.msg} at column {exc.pos + 1}"


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a number")


def _integer(text: str) -> int | Decimal:
    """A JSON integer: an int, or past Python's limit on digits a Decimal (no limit)."""
    return int(text) if len(text) <= 4000 else Decimal(text)


class CsvFile(LinesFile):
    """A usage-only CSV journal: `time,action,count[,id]`, one row per line, optional header."""

    def records(self) -> Generator[Record, None, None]:
        convert = self.reader.from_csv
        quick = self.reader.quick_usage
        line = 0
        for line, raw in enumerate(self.raw_lines(), start=1):
            try:
                try:
                    text = raw.decode()
                except UnicodeDecodeError as exc:
                    _bad(None, f"not UTF-8 text (byte {exc.start + 1} of the line)")
                if line == 1 and text.startswith("\ufeff"):
                    text = text[1:]
                text = text.rstrip("\r\n")
                if not text or text.isspace():
                    continue
                fields = next(csv.reader([text])) if '"' in text else text.split(",")
                if len(fields) == 3:  # the common row: `quick_usage`, or the checking path
                    count = fields[2]
                    if count.isdigit() and count.isascii():
                        try:
                            number = int(count)
                        except ValueError:  # past Python's digits: the checking path says
                            number = -1
                        record = quick(fields[0], fields[1], number, None, line)
                        if record is not None:
                            yield record
                            continue
                if line == 1 and [f.strip().lower() for f in fields] in _CSV_HEADERS:
                    continue
                yield convert(fields, line)
            except FieldError as exc:
                self.invalid(line, exc)
        self.positions = line


_CSV_HEADERS = (["time", "action", "count"], ["time", "action", "count", "id"])

# A one-off object that no entry's time is: the in-memory reader's cache starts empty with it.
_NOTHING = object()


class EntrySequence(Source):
    """A journal held in memory (a list or tuple of dicts or typed entries): read again as is."""

    def __init__(self, entries: Iterable[Any], reader: EntryReader,
                 on_invalid: OnInvalid | None) -> None:
        super().__init__(reader, on_invalid)
        self._entries = entries

    def records(self) -> Generator[Record, None, None]:
        reader = self.reader
        quick = reader.quick_usage
        from_mapping = reader.from_mapping
        from_entry = reader.from_entry
        whole = reader.whole_actions
        zone = reader.zone
        shifts = FIXED_SHIFTS
        limit = QUICK_LIMIT
        # The last datetime object converted and its instant (services reuse one for a batch).
        last_moment: object = _NOTHING
        last_instant = 0
        line = 0
        for line, entry in enumerate(self._entries, start=1):
            try:
                if type(entry) is Usage:
                    # The shortcut of a well-formed entry (`quick_usage` for a datetime already
                    # parsed, inlined: a journal in memory is mostly these); anything unusual,
                    # valid or not, takes `from_entry`, which checks and names the problem.
                    moment, action, count, entry_id = (
                        entry.time, entry.action, entry.count, entry.id)
                    if (type(count) is int and 0 <= count <= limit and type(action) is str
                            and action in whole
                            and (entry_id is None
                                 or (type(entry_id) is str and entry_id.isascii()))):
                        if moment is last_moment:
                            yield (last_instant, line, USAGE, action, count, entry_id)
                            continue
                        if type(moment) is datetime and FIRST_YEAR <= moment.year <= LAST_YEAR:
                            tz = moment.tzinfo
                            shift = shifts.get(tz) if type(tz) is timezone else None
                            if shift is None:
                                last_instant = instant(moment, zone)
                            else:  # `instant` itself, for a fixed offset seen before
                                last_instant = (
                                    ((moment.toordinal() - EPOCH_DAY) * 86400
                                     + moment.hour * 3600 + moment.minute * 60 + moment.second)
                                    * 1_000_000 + moment.microsecond - shift)
                            last_moment = moment
                            yield (last_instant, line, USAGE, action, count, entry_id)
                            continue
                        if type(moment) is str:
                            record = quick(moment, action, count, entry_id, line)
                            if record is not None:
                                yield record
                                continue
                    yield from_entry(entry, line)
                elif type(entry) is dict:
                    kind = entry.get("type")
                    if kind == "request":
                        yield from reader.records_of(entry, line)
                        continue
                    record = quick(entry.get("time"), entry.get("action"), entry.get("count"),
                                   entry.get("id"), line) if kind == "usage" else None
                    yield from_mapping(entry, line) if record is None else record
                elif type(entry) is Request:
                    yield from reader.records_of(entry, line)
                elif isinstance(entry, Mapping):
                    if entry.get("type") == "request":
                        yield from reader.records_of(entry, line)
                        continue
                    yield from_mapping(entry, line)
                else:
                    yield from_entry(entry, line)
            except FieldError as exc:
                self.invalid(line, exc)
        self.positions = line


def open_journal(
    book: PriceBook,
    journal: JournalInput,
    on_invalid: OnInvalid | None = None,
    *,
    reread: bool = True,
) -> Source:
    """The source of a journal: a path (`.csv`: usage CSV, otherwise JSON Lines), a binary
    stream (standard input, an open file: CSV if its name ends in `.csv`), or an iterable of
    entries; UsageError for anything else.

    A file or a stream is read once; with `reread`, what it reads is kept so that a second pass
    reads that (see `ReadOnce`). A list or tuple is read again as it is; any other iterable is
    read once and, with `reread`, spooled (see `Spooled`).
    """
    if on_invalid is not None and not callable(on_invalid):
        raise UsageError(f"on_invalid is a function that takes a JournalError, not "
                         f"{type(on_invalid).__name__}")
    reader = EntryReader(book)
    if isinstance(journal, str | os.PathLike):
        path = Path(journal)
        data = ReadOnce(path, None, reread)
        kind: type[LinesFile] = CsvFile if path.suffix.lower() == ".csv" else JsonLinesFile
        return kind(str(path), data, reader, on_invalid)
    if isinstance(journal, io.TextIOBase):
        buffer = getattr(journal, "buffer", None)
        if not isinstance(buffer, io.IOBase):
            raise UsageError("a journal stream is read as bytes: open it in binary mode ('rb')")
        journal = buffer
    if isinstance(journal, io.IOBase):
        name = getattr(journal, "name", None)
        shown = name if isinstance(name, str) else "<stream>"
        data = ReadOnce(None, journal, reread)
        kind = CsvFile if shown.lower().endswith(".csv") else JsonLinesFile
        return kind(shown, data, reader, on_invalid)
    if isinstance(journal, Mapping) or attrs.has(type(journal)):
        raise UsageError("a journal is a list of entries, not one entry: write [entry]")
    if isinstance(journal, bytes | bytearray | memoryview) or not isinstance(journal, Iterable):
        raise UsageError("a journal is a path, a binary stream or an iterable of entries, not "
                         f"{type(journal).__name__}")
    if isinstance(journal, list | tuple) or not reread:
        return EntrySequence(journal, reader, on_invalid)
    return Spooled(EntrySequence(journal, reader, on_invalid))


SPOOL_SIZE = 4096  # spooled records are only read back in order: small runs cost nothing


class Spooled(Source):
    """A one-shot journal whose records are kept in a temporary file so it can be read twice."""

    def __init__(self, inner: Source, run_size: int | None = None) -> None:
        super().__init__(inner.reader, inner.on_invalid)
        self.inner = inner
        self.path = inner.path
        self._size = run_size or SPOOL_SIZE
        self._live: Iterator[Record] | None = None
        self._copy: IO[bytes] | None = None
        self._batches = 0

    def records(self) -> Generator[Record, None, None]:
        if self._live is None:
            self._live = self.inner.records()
        return self._read(self._live)

    def _read(self, live: Iterator[Record]) -> Generator[Record, None, None]:
        """What earlier passes read, from the copy; then the rest, copied as it is read (a batch
        is written before any of it is handed out, so the copy holds whatever a pass saw)."""
        copy = self._copy
        if copy is not None:
            copy.seek(0)
            for _ in range(self._batches):
                yield from pickle.load(copy)
            copy.seek(0, os.SEEK_END)
        while True:
            batch = list(islice(live, self._size))
            if not batch:
                break
            if copy is None:
                copy = self._copy = tempfile.TemporaryFile(  # noqa: SIM115 - see `close`
                    prefix="ratecard-spool-")
            pickle.dump(batch, copy, protocol=pickle.HIGHEST_PROTOCOL)
            self._batches += 1
            yield from batch
            del batch  # not held while the next batch is read
        self.positions = self.inner.positions

    def invalid(self, line: int, exc: FieldError) -> None:
        self.inner.invalid(line, exc)

    def close(self) -> None:
        if self._copy is not None:
            self._copy.close()
            self._copy = None
        self._batches = 0
        self.inner.close()
