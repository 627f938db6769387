"""What the evaluator returns: bill lines, pack alerts, and bills.

Days are `date`s and instants aware `datetime`s in the rules' timezone; a bill's month is the
`date` of its first day. `to_dict()` writes them as ISO 8601 strings (a month as `2026-11`),
which is what the JSON and snapshots hold.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, NamedTuple

import attrs

from ratecard.literals import format_plain


class Source(StrEnum):
    """Where a bill line's units or amount come from: its `source`.

    A `str` whose value is the JSON's word, so `line.source == "postpaid"` holds and JSON
    shows `"postpaid"`. `discount` and `true_up` lines come from a customer contract
    (`PriceBook.contract`); `minimum` and `maximum` lines adjust a ladder's period charge.
    """

    ALLOWANCE = "allowance"
    PACK = "pack"
    GRANT = "grant"
    POSTPAID = "postpaid"
    MINIMUM = "minimum"
    MAXIMUM = "maximum"
    DISCOUNT = "discount"
    TRUE_UP = "true_up"
    SUBSCRIPTION = "subscription"
    FEE = "fee"
    CREDIT = "credit"  # money a credit paid of the meter's lines (a negative amount)


class AlertKind(StrEnum):
    """A pack alert's `kind`, a `str` like `Source`: the pack fell below the rules' threshold
    (`low`), ran out (`exhausted`), or expired with units left (`expired`)."""

    LOW = "low"
    EXHAUSTED = "exhausted"
    EXPIRED = "expired"


SOURCES: tuple[Source, ...] = tuple(Source)
ALERT_KINDS: tuple[AlertKind, ...] = tuple(AlertKind)


def month_text(month: date) -> str:
    """A bill's month as the JSON writes it: `2026-11`."""
    return f"{month.year:04d}-{month.month:02d}"


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


class BillLine(NamedTuple):
    """Units of one meter from one source, with their price and amount (precise and rounded).

    An immutable named tuple rather than an attrs class: quotes build lines in a request path,
    and this is the cheapest immutable record Python has.

    Allowance and pack lines cost nothing on the bill (packs are prepaid); postpaid lines carry
    the bracket and unit price (per block, with `blocks`, when the bracket prices blocks);
    `minimum` and `maximum` lines adjust a period's postpaid charge. `period` is the day (a
    `date`) a line of a daily ladder prices (None for the whole month).

    A price written `P per N` keeps its form: `unit_price` is P and `per` is N (None for a
    price per unit), so that 3.2 per 3600 is never shown as a 60-digit quotient; the amount is
    quantity × P / N, exactly.
    """

    meter: str
    source: Source
    quantity: Decimal
    unit_price: Decimal
    precise_amount: Decimal
    amount: Decimal
    bracket: str | None = None
    pack: str | None = None
    blocks: Decimal | None = None
    period: date | None = None
    per: Decimal | None = None
    rate: Decimal | None = None  # a contract discount's fraction off (0.2 for 20%)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form; `per` only for a price per N units (as lines always were without);
        `bracket_bounds` the bracket's label as numbers (`bracket_bounds`)."""
        data: dict[str, Any] = {
            "meter": self.meter,
            "source": str(self.source),  # the plain word: JSON data holds no enum
            "quantity": format_plain(self.quantity),
            "unit_price": format_plain(self.unit_price),
        }
        if self.per is not None:
            data["per"] = format_plain(self.per)
        if self.rate is not None:
            data["rate"] = format_plain(self.rate)
        data.update({
            "amount": format_plain(self.amount),
            "precise_amount": format_plain(self.precise_amount),
            "bracket": self.bracket,
            "bracket_bounds": bracket_bounds(self.bracket),
            "pack": self.pack,
            "blocks": None if self.blocks is None else format_plain(self.blocks),
            "period": None if self.period is None else self.period.isoformat(),
        })
        return data


def bracket_bounds(label: str | None) -> dict[str, Any] | None:
    """A bracket's label, `(0, 3000000]`, `(15000000, ∞)` or `[0, 300)` (`ladders.Bracket.label`),
    as the JSON of a line gives it for a program: `{"lo": "0", "hi": "3000000", "lo_closed":
    false, "hi_closed": true}`, `hi` None for an open end. Brackets are `(lo, hi]` or `[lo, hi)`;
    the flags say which, so that a reader never has to parse the label. None for no bracket, or a
    label not in either form (a state file edited by hand)."""
    if label is None or len(label) < 6 or label[0] not in "([" or label[-1] not in ")]":
        return None
    lo, sep, hi = label[1:-1].partition(", ")
    if not sep or not lo or not hi:
        return None
    lo_closed = label[0] == "["
    if hi == "∞":
        return {"lo": lo, "hi": None, "lo_closed": lo_closed, "hi_closed": False}
    return {"lo": lo, "hi": hi, "lo_closed": lo_closed, "hi_closed": label[-1] == "]"}


@attrs.frozen
class Alert:
    """A pack alert: `low` (below the threshold), `exhausted`, or `expired` with units left."""

    kind: AlertKind = attrs.field(converter=AlertKind)
    meter: str
    pack: str
    size: Decimal
    remaining: Decimal
    time: datetime | None = None  # None in a quote (it has no times)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": str(self.kind),
            "meter": self.meter,
            "pack": self.pack,
            "size": format_plain(self.size),
            "remaining": format_plain(self.remaining),
            "time": _iso(self.time),
        }


@attrs.frozen
class PrepaidPurchase:
    """A pack bought in the month: already paid, so listed apart from the bill's total.
    `price` is what was paid: the sheet's price, or the purchase entry's own `price`, in which
    case `list_price` is the sheet's (None otherwise; the key is in the JSON only then)."""

    pack: str
    meter: str
    size: Decimal
    price: Decimal
    time: datetime
    expires: datetime
    list_price: Decimal | None = None

    def to_dict(self) -> dict[str, Any]:
        data = {
            "pack": self.pack,
            "meter": self.meter,
            "size": format_plain(self.size),
            "price": format_plain(self.price),
            "time": self.time.isoformat(),
            "expires": self.expires.isoformat(),
        }
        if self.list_price is not None:
            data["list_price"] = format_plain(self.list_price)
        return data


@attrs.frozen
class RefundedPack:
    """A pack refunded in the month (a `refund` entry): its price paid back, off nothing on the
    bill's total (packs are prepaid apart), listed with `refund_total`."""

    pack: str
    meter: str
    size: Decimal
    amount: Decimal
    time: datetime
    purchased: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "pack": self.pack,
            "meter": self.meter,
            "size": format_plain(self.size),
            "amount": format_plain(self.amount),
            "time": self.time.isoformat(),
            "purchased": self.purchased.isoformat(),
        }


@attrs.frozen
class OrderedUnits:
    """An order of the month (an `order` entry): `quantity` units of `product`, every one at
    the `unit_price` of the `bracket` the quantity falls in; `amount` is what the order costs,
    the sheet's (rounded) or the entry's own `price`, in which case `list_amount` is the
    sheet's (None otherwise, or in a `contact sales` bracket; the key is in the JSON only
    then). Paid when ordered, apart from the bill's total."""

    order: str
    product: str
    quantity: Decimal
    bracket: str
    unit_price: Decimal | None  # None: a `contact sales` bracket
    amount: Decimal
    time: datetime
    list_amount: Decimal | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "order": self.order,
            "product": self.product,
            "quantity": format_plain(self.quantity),
            "bracket": self.bracket,
            "unit_price": None if self.unit_price is None else format_plain(self.unit_price),
            "amount": format_plain(self.amount),
            "time": self.time.isoformat(),
        }
        if self.list_amount is not None:
            data["list_amount"] = format_plain(self.list_amount)
        return data


@attrs.frozen
class SubscriptionCharge:
    """What one subscription (or fee) costs for the month, and how that was prorated: it ran
    from `start` until `end` within the month (its part charged), `used` of `of` days or
    seconds (`measure`; "period": a whole period, 1 of 1); `amount` is `quantity` ×
    `unit_price` × used / of, rounded as a line (`precise_amount` before). A fee's `plan` is
    its own name and it has no `meter`; `meter` is the meter a `covers one of` plan covers."""

    subscription: str
    plan: str
    quantity: Decimal
    bracket: str
    unit_price: Decimal
    period: str  # the plan's: month or day
    start: datetime
    end: datetime
    measure: str
    used: Decimal
    of: Decimal
    precise_amount: Decimal
    amount: Decimal
    meter: str | None = None
    fee: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "subscription": self.subscription,
            "plan": self.plan,
            "fee": self.fee,
            "meter": self.meter,
            "quantity": format_plain(self.quantity),
            "bracket": self.bracket,
            "unit_price": format_plain(self.unit_price),
            "period": self.period,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "measure": self.measure,
            "used": format_plain(self.used),
            "of": format_plain(self.of),
            "precise_amount": format_plain(self.precise_amount),
            "amount": format_plain(self.amount),
        }


@attrs.frozen
class PackBalance:
    """A pack still held at the end of the month, with the units left in it."""

    pack: str
    meter: str
    size: Decimal
    remaining: Decimal
    purchased: datetime
    expires: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "pack": self.pack,
            "meter": self.meter,
            "size": format_plain(self.size),
            "remaining": format_plain(self.remaining),
            "purchased": self.purchased.isoformat(),
            "expires": self.expires.isoformat(),
        }


@attrs.frozen
class VoidUnits:
    """Units left in a pack when it expired: void, never refunded."""

    pack: str
    meter: str
    size: Decimal
    quantity: Decimal
    time: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "pack": self.pack,
            "meter": self.meter,
            "size": format_plain(self.size),
            "quantity": format_plain(self.quantity),
            "time": self.time.isoformat(),
        }


@attrs.frozen
class RejectedUsage:
    """Usage of an action rejected, never billed: while the account was suspended, or, with
    `reason` "packs exhausted", past the allowance and packs of a meter whose packs stop
    service when exhausted (the key `reason` is in the JSON only then)."""

    meter: str
    action: str
    quantity: Decimal
    entries: int
    reason: str = "suspended"

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "meter": self.meter,
            "action": self.action,
            "quantity": format_plain(self.quantity),
            "entries": self.entries,
        }
        if self.reason != "suspended":
            data["reason"] = self.reason
        return data


@attrs.frozen
class FreeUsage:
    """Usage of an action the rules declare free: recorded, never billed."""

    meter: str
    action: str
    quantity: Decimal

    def to_dict(self) -> dict[str, Any]:
        return {"meter": self.meter, "action": self.action, "quantity": format_plain(self.quantity)}


@attrs.frozen
class IgnoredEntry:
    """A usage or purchase entry whose id was seen before: ignored, so resending is safe."""

    type: str
    id: str
    time: datetime
    line: int

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "id": self.id, "time": self.time.isoformat(),
                "line": self.line}


@attrs.frozen
class AccountEvent:
    """A change of the account: `suspend`, `reopen` or `topup`, and its status afterwards.

    `automatic` marks what billing did by itself: a suspension for arrears when a bill could not
    be settled, a reopening when a top-up paid the debt.
    """

    time: datetime
    kind: str
    status: str
    reason: str | None = None
    amount: Decimal | None = None
    balance: Decimal | None = None
    automatic: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat(),
            "kind": self.kind,
            "status": self.status,
            "reason": self.reason,
            "amount": None if self.amount is None else format_plain(self.amount),
            "balance": None if self.balance is None else format_plain(self.balance),
            "automatic": self.automatic,
        }


@attrs.frozen
class Settlement:
    """How a bill was settled against the balance when it was issued."""

    time: datetime
    balance_before: Decimal
    paid: Decimal
    balance_after: Decimal
    arrears: Decimal
    suspended: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "time": self.time.isoformat(),
            "balance_before": format_plain(self.balance_before),
            "paid": format_plain(self.paid),
            "balance_after": format_plain(self.balance_after),
            "arrears": format_plain(self.arrears),
            "suspended": self.suspended,
        }


# Not slotted: a frozen attrs class with a `__dict__` is built about twice as fast, and a quote
# in a request path builds one Bill each time (there are few bills, so memory does not matter).
@attrs.frozen
class CreditBalance:
    """A credit lot on a month's bill: what it held, what it paid this month, what is left."""

    credit_id: str
    credit: str
    amount: Decimal
    paid: Decimal
    remaining: Decimal
    expires: datetime

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.credit_id, "credit": self.credit, "amount": format_plain(self.amount),
                "paid": format_plain(self.paid), "remaining": format_plain(self.remaining),
                "expires": self.expires.isoformat()}


@attrs.frozen(slots=False)
class Bill:
    """A priced period: its lines, the alerts raised, and the total (the sum of rounded lines).

    A monthly bill from a journal (`issued` set) also lists the month's pack purchases (prepaid,
    not in the total), the packs held at its end, units void at expiry, rejected and free usage,
    entries ignored as repeats, the account's events and the settlement.

    A daily bill (`day` set, `bill per day on ...`) holds one day's lines of the meters billed
    day by day; its other lists stay empty (the month's bill reports them).

    `month` is the `date` of the month's first day, `issued` the `date` of issue, `version` the
    `date` the dated version billed takes effect; the times of its parts are aware `datetime`s
    in the rules' timezone. `to_dict()` writes them as the JSON's strings (`"2026-11"`,
    `"2026-12-01"`, `"2026-11-02T10:00:00+08:00"`).
    """

    currency: str
    total: Decimal
    lines: tuple[BillLine, ...]
    alerts: tuple[Alert, ...] = ()
    month: date | None = None  # the month's first day
    issued: date | None = None
    prepaid: tuple[PrepaidPurchase, ...] = ()
    packs: tuple[PackBalance, ...] = ()
    void: tuple[VoidUnits, ...] = ()
    rejected: tuple[RejectedUsage, ...] = ()
    free: tuple[FreeUsage, ...] = ()
    ignored: tuple[IgnoredEntry, ...] = ()
    events: tuple[AccountEvent, ...] = ()
    settlement: Settlement | None = None
    prepaid_total: Decimal = Decimal(0)  # the month's purchases: already paid, not in `total`
    version: date | None = None  # the dated version billed (`from 2027-01-01`), if not the first
    contract: str | None = None  # the customer contract billed under, if any
    refunds: tuple[RefundedPack, ...] = ()  # packs refunded in the month
    refund_total: Decimal = Decimal(0)  # what they paid back (apart from `total`, as prepaid)
    orders: tuple[OrderedUnits, ...] = ()  # one-time orders of the month
    orders_total: Decimal = Decimal(0)  # what they cost (paid when ordered, not in `total`)
    # A daily bill's day (`bill per day on ...`): the day's lines of the meters billed day by
    # day, issued the next day; None for a monthly bill (its `month` is the day's month).
    day: date | None = None
    # The month's subscription and fee charges (their `fee` lines are in `lines` and `total`).
    subscriptions: tuple[SubscriptionCharge, ...] = ()
    credits: tuple[CreditBalance, ...] = ()  # credit lots held: paid this month, left

    @property
    def empty(self) -> bool:
        """Nothing owed and nothing to report: no line, a zero total, and no purchase, alert,
        void units, rejected, free or ignored usage or account event (`bill ..., skip empty`
        issues no such bill)."""
        return (
            not self.lines and not self.total and not self.prepaid and not self.alerts
            and not self.void and not self.rejected and not self.free and not self.ignored
            and not self.events
        )

    @classmethod
    def quoted(cls, currency: str, total: Decimal, lines: tuple[BillLine, ...]) -> Bill:
        """The bill of a quote, built without the general constructor (a quote is on a request
        path): the other fields take their defaults, exactly as `Bill(currency, total, lines)`."""
        bill = _new_object(cls)
        fields = bill.__dict__
        fields.update(_QUOTE_DEFAULTS)
        fields["currency"] = currency
        fields["total"] = total
        fields["lines"] = lines
        return bill

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of DESIGN.md: money and quantities as strings."""
        data: dict[str, Any] = {"currency": self.currency}
        if self.month is not None:
            data["month"] = month_text(self.month)
        if self.day is not None:  # (only then: a monthly bill is as it always was)
            data["day"] = self.day.isoformat()
        if self.issued is not None:
            data["issued"] = self.issued.isoformat()
        if self.version is not None:
            data["version"] = self.version.isoformat()
        if self.contract is not None:
            data["contract"] = self.contract
        data["total"] = format_plain(self.total)
        data["lines"] = [line.to_dict() for line in self.lines]
        data["alerts"] = [alert.to_dict() for alert in self.alerts]
        if self.issued is not None:
            data["prepaid"] = [p.to_dict() for p in self.prepaid]
            data["prepaid_total"] = format_plain(self.prepaid_total)
            if self.refunds:  # (only then: a bill without refunds is as it always was)
                data["refunds"] = [r.to_dict() for r in self.refunds]
                data["refund_total"] = format_plain(self.refund_total)
            if self.orders:  # (likewise)
                data["orders"] = [o.to_dict() for o in self.orders]
                data["orders_total"] = format_plain(self.orders_total)
            if self.subscriptions:  # (likewise)
                data["subscriptions"] = [c.to_dict() for c in self.subscriptions]
            if self.credits:  # (likewise)
                data["credits"] = [c.to_dict() for c in self.credits]
            data["packs"] = [p.to_dict() for p in self.packs]
            data["void"] = [v.to_dict() for v in self.void]
            data["rejected"] = [r.to_dict() for r in self.rejected]
            data["free"] = [f.to_dict() for f in self.free]
            data["ignored"] = [i.to_dict() for i in self.ignored]
            data["account"] = {
                "events": [e.to_dict() for e in self.events],
                "settlement": None if self.settlement is None else self.settlement.to_dict(),
            }
        return data


_new_object = object.__new__
# Every field's default, for `Bill.quoted` (the three it sets have none).
_QUOTE_DEFAULTS = {
    field.name: field.default
    for field in attrs.fields(Bill)
    if field.default is not attrs.NOTHING
}
