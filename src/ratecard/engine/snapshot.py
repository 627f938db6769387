"""Saving and restoring a replay: an account's state as a JSON document, and back again.

A billing service keeps an account open for years and restarts far more often. `dump` turns a
`Replay` standing between two entries into a JSON-ready dict, `load` rebuilds the replay from it
under the same rules, and the restored replay goes on exactly as the original would have. The
document holds everything the replay keeps (allowance left, lots with their alert flags and
expiry, pending quantities, the month under construction, bills closed but not yet issued, ids
seen, balance, suspensions, the latest instant reached) and nothing it can derive again (each
meter's trigger, the next event, the end of the current day). Nothing here runs while a journal
is replayed: a snapshot costs nothing until it is taken.

Money and quantities are strings of plain digits (`"1.20"`, `"9600"`), instants ISO 8601 times
with their offset in the rules' timezone. The document names the rules it was taken under and a
fingerprint of what they compile to, and carries a checksum of its own content, so a snapshot
that was damaged, edited, or taken under other rules is refused with a `SnapshotError` naming
the problem instead of resuming silently wrong. The format is documented in docs/billing.md
("Saving and resuming").
"""

from __future__ import annotations

import decimal
import hashlib
import json
import re
import weakref
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any, NoReturn
from zoneinfo import ZoneInfo

import attrs

from ratecard.engine.bills import (
    ALERT_KINDS,
    SOURCES,
    AccountEvent,
    Alert,
    AlertKind,
    Bill,
    BillLine,
    CreditBalance,
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
    FIRST_YEAR,
    LAST_YEAR,
    add_period,
    day_start,
    format_instant,
    instant,
    issue_date,
    local,
    month_label,
    month_start,
    next_month,
    parse_month,
    stamp,
)
from ratecard.engine.credits import CreditLot
from ratecard.engine.deduction import Lot
from ratecard.engine.journal import Quantity
from ratecard.engine.money import CONTEXT, EXACT, ZERO
from ratecard.engine.offers import FREE
from ratecard.engine.pricebook import TRUE_UP_METER, PriceBook, bill_total
from ratecard.engine.pricing import MeterUsage
from ratecard.engine.replay import NEVER, Replay, _Closing, _Month
from ratecard.engine.subscriptions import Held
from ratecard.errors import Error
from ratecard.literals import format_plain

FORMAT = "ratecard-account"
VERSION = 1

# Fields that only name or present things: renaming a meter's display name must not orphan
# every saved account (nor moving a contract's file).
_PRESENTATION = frozenset({"labels", "languages", "unit", "warnings", "file", "display_unit",
                           "display_size", "entry_minimum_wording"})
# Fields added to the book after snapshots were first written, with the value that bills as
# before: left out at that value, so that the fingerprint of a book that does not use them (and
# every snapshot tied to it) stays what it was.
_LATER_DEFAULTS: dict[str, object] = {"closed_low": False, "skip_empty": False, "subscriptions": (),
                                        "grants": (), "credits": (), "count_scales": (),
                                        "amount_rounding": None, "roundings": ()}
# A book's place in time (its version, contract and later versions): fingerprinted apart, by
# `timeline_fingerprint`, so that the rules' fingerprint stays what it was without them.
_TIME = frozenset({"version", "contract", "timeline"})

# What a replay writes in a snapshot's records (engine/replay.py): nothing else can be in one.
_EVENT_KINDS = ("suspend", "reopen", "topup")
_STATUSES = ("active", "suspended")
_IGNORED_TYPES = ("usage", "purchase", "refund", "order", "subscribe", "cancel", "credit",
                  "request")


class SnapshotError(Error, ValueError):
    """A snapshot that cannot be restored: not JSON, a field missing or of the wrong type, an
    unknown version, a checksum that does not match, or rules other than those it was taken
    under. The message names what is wrong.

    Not a `UsageError`: a damaged snapshot is the fault of the store that kept it, not of the
    request being served (answer 500 and rebuild the account from its journal, not 400)."""


# --- the rules' identity ------------------------------------------------------------------

_FINGERPRINTS: dict[tuple[int, bool], str | None] = {}


def fingerprint(book: PriceBook) -> str:
    """A SHA-256 of what the rules compile to, in hex: what a snapshot is tied to.

    Two rules files that compile to the same book share it whatever their spacing, comments or
    statement order; any change that can change a bill changes it. Display names and languages
    are left out: they never reach a bill. So are the book's dated versions and contract: they
    have a fingerprint of their own (`timeline_fingerprint`).
    """
    known = _remembered(book, False)
    assert known is not None
    return known


def timeline_fingerprint(book: PriceBook) -> str | None:
    """A SHA-256 of a book's place in time, in hex: its version and contract and the sheets of
    its later versions (each with its own, and the grandfathering rule), or None for a book
    with neither versions nor a contract (whose snapshots say nothing about time)."""
    return _remembered(book, True)


def _remembered(book: PriceBook, time: bool) -> str | None:
    key = (id(book), time)
    if key in _FINGERPRINTS:
        return _FINGERPRINTS[key]
    data: Any
    if not time:
        data = _canonical(book)
    elif not book.timeline and book.contract is None and book.version is None:
        data = None
    else:
        data = {
            "version": _canonical(book.version),
            "contract": _canonical(book.contract),
            "timeline": [
                {"start": _canonical(segment.start),
                 "keep_before": _canonical(segment.keep_before),
                 "keep_until": _canonical(segment.keep_until),
                 "book": _canonical(segment.book),
                 "version": _canonical(segment.book.version),
                 "contract": _canonical(segment.book.contract)}
                for segment in book.timeline
            ],
        }
    known = None if data is None else hashlib.sha256(json.dumps(
        data, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    ).hexdigest()
    if (id(book), not time) not in _FINGERPRINTS:  # the first of the two: forget both with it
        weakref.finalize(book, _forget, id(book))
    _FINGERPRINTS[key] = known
    return known


def _forget(key: int) -> None:
    _FINGERPRINTS.pop((key, False), None)
    _FINGERPRINTS.pop((key, True), None)


def _terms(book: PriceBook) -> dict[str, Any] | None:
    """What a snapshot records of a book's place in time: the fingerprint, and for messages
    the days of its later versions and the contracts it bills under."""
    known = timeline_fingerprint(book)
    if known is None:
        return None
    contracts: list[str] = []
    for sheet in book.books:
        if sheet.contract is not None and sheet.contract.name not in contracts:
            contracts.append(sheet.contract.name)
    return {"fingerprint": known,
            "versions": [segment.start.isoformat() for segment in book.timeline],
            "contracts": contracts}


def _canonical(value: Any) -> Any:
    """A value as plain JSON data that depends only on what it is (never on memory or hashing)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        return "d:" + str(value)
    if isinstance(value, date):
        return "t:" + value.isoformat()
    if attrs.has(type(value)):
        data: dict[str, Any] = {"@": type(value).__name__}
        skipped = _PRESENTATION | _TIME if isinstance(value, PriceBook) else _PRESENTATION
        for field in attrs.fields(type(value)):
            if field.eq and field.name not in skipped:
                item = getattr(value, field.name)
                if field.name in _LATER_DEFAULTS and item == _LATER_DEFAULTS[field.name]:
                    continue
                data[field.name] = _canonical(item)
        return data
    if isinstance(value, Enum):
        return _canonical(value.value)
    if isinstance(value, Mapping):
        return sorted([str(k), _canonical(v)] for k, v in value.items())
    if isinstance(value, tuple | list):
        return [_canonical(item) for item in value]
    if isinstance(value, set | frozenset):
        return sorted(json.dumps(_canonical(item), sort_keys=True) for item in value)
    raise TypeError(f"no canonical form for {type(value).__name__} in a price book")


# --- saving ---------------------------------------------------------------------------------

def dump(replay: Replay, *, entries: int, issued: int) -> dict[str, Any]:
    """The replay's state as a JSON-ready document; `entries` and `issued` are the account's
    count of entries fed and of bills issued so far."""
    zone = replay.zone
    lots: list[Lot] = []
    refs: dict[int, int] = {}
    numbers: dict[int, int] = {}

    def ref(lot: Lot) -> int:
        index = refs.get(id(lot))
        if index is None:
            index = refs[id(lot)] = len(lots)
            lots.append(lot)
        return index

    for _, number, lot in sorted(replay.expiries, key=lambda item: item[:2]):
        numbers[id(lot)] = number
        ref(lot)
    held = {meter: [ref(lot) for lot in held] for meter, held in replay.lots.items() if held}
    month: dict[str, Any] | None = None
    if replay.started:
        month = _dump_month(replay, ref)
    top = replay.top
    rules: dict[str, Any] = {"name": top.name, "fingerprint": fingerprint(top)}
    terms = _terms(top)
    document: dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "rules": rules,
        "entries": entries,
        "bills_issued": issued,
        "last": None if replay.last == -NEVER else format_instant(replay.last, zone),
        "month": month,
        "allowance": {
            "granted": replay.granted,
            "left": {pool: _num(left) for pool, left in replay.allowance_left.items()},
        },
        "pending": {meter: _num(q) for meter, q in replay.pending.items() if q},
        "lots": [_dump_lot(lot, numbers.get(id(lot))) for lot in lots],
        "held": held,
        "account": {
            "suspensions": list(replay.manual),
            "in_debt": replay.in_debt,
            "balance": None if replay.balance is None else _num(replay.balance),
        },
        "seen": {"usage": sorted(replay.seen_usage), "purchase": sorted(replay.seen_purchases)},
        "purchases": replay.purchases,
        "closed": [closing.bill.to_dict() for closing in replay.closings],
    }
    if replay.coverage or replay.cancelled:  # (only then, likewise)
        document["subscriptions"] = {"held": replay.coverage.to_list(),
                                     "cancelled": sorted(replay.cancelled)}
    if replay.book.grants or replay.grants_issued:  # (only then, as `terms`)
        document["grants"] = _dump_grants(replay)
    if replay.book.credits or replay.credit_lots:  # (likewise)
        document["credits"] = {
            "issued": replay.credits_issued,
            "lots": [{"id": lot.id, "credit": lot.credit, "amount": _num(lot.amount),
                      "remaining": _num(lot.remaining), "issued": lot.issued.isoformat(),
                      "expires": lot.expires.isoformat()} for lot in replay.credit_lots],
        }
    if terms is not None:  # (only then: a snapshot without them is as it always was)
        rules["timeline"] = terms
        document["opened"] = None if replay.opened is None else replay.opened.isoformat()
    document["checksum"] = checksum(document)
    return document


def _dump_grants(replay: Replay) -> dict[str, Any]:
    """The grants' lots: those held, those that expire on their own, and those the month
    under construction drew from (listed once each, drawn ones by their index)."""
    lots: list[Lot] = []
    index: dict[int, int] = {}

    def ref(lot: Lot) -> int:
        found = index.get(id(lot))
        if found is None:
            found = index[id(lot)] = len(lots)
            lots.append(lot)
        return found

    numbers = {id(lot): number for _, number, lot in replay.grant_expiries}
    held = {meter: [ref(lot) for lot in lots_] for meter, lots_ in replay.grant_lots.items()
            if lots_}
    for _, _, lot in sorted(replay.grant_expiries, key=lambda item: item[:2]):
        ref(lot)
    drawn = [
        {"meter": meter, "lot": ref(lot), "quantity": _num(taken)}
        for meter, by_lot in replay.month.grants.items()
        for lot, taken in by_lot.values()
    ] if replay.started else []
    zone = replay.zone
    return {
        "issued": replay.grants_issued,
        "opened": None if replay.opened_at == -NEVER else format_instant(replay.opened_at, zone),
        "lots": [
            {"id": lot.id, "grant": lot.source, "meter": lot.meter, "size": _num(lot.size),
             "remaining": _num(lot.remaining),
             "issued": None if lot.purchased is None else lot.purchased.isoformat(),
             "expires": None if lot.expires is None else lot.expires.isoformat(),
             "number": numbers.get(id(lot))}
            for lot in lots
        ],
        "held": held,
        "drawn": drawn,
    }


def _dump_month(replay: Replay, ref: Any) -> dict[str, Any]:
    month = replay.month
    return {
        "month": month_label(month.key),
        "day": month.day or None,
        "allowance": {meter: _num(q) for meter, q in month.allowance.items()},
        "packs": [
            {"meter": meter, "lot": ref(lot), "quantity": _num(taken)}
            for meter, by_lot in month.packs.items()
            for lot, taken in by_lot.values()
        ],
        "postpaid": {meter: _num(q) for meter, q in month.postpaid.items()},
        "days": [
            {"day": day, "meter": meter, "total": _num(usage.total),
             "allowance": _num(usage.allowance), "postpaid": _num(usage.postpaid)}
            for day, by_meter in month.days.items()
            for meter, usage in by_meter.items()
        ],
        "rejected": [
            {"action": action, "quantity": _num(units), "entries": int(count)}
            for action, (units, count) in month.rejected.items()
        ],
        "free": [{"action": action, "quantity": _num(q)} for action, q in month.free.items()],
        "ignored": [item.to_dict() for item in month.ignored],
        "alerts": [alert.to_dict() for alert in month.alerts],
        "prepaid": [item.to_dict() for item in month.prepaid],
        "void": [item.to_dict() for item in month.void],
        "events": [event.to_dict() for event in month.events],
        # Only when there are some: a snapshot without them is as it always was.
        **({"refunds": [item.to_dict() for item in month.refunds]} if month.refunds else {}),
        **({"orders": [item.to_dict() for item in month.orders]} if month.orders else {}),
        **({"days_spent": _num(month.days_spent)} if month.days_spent else {}),
        **({"covered": [
            {"meter": meter, "subscription": held, "quantity": _num(units)}
            for meter, by_held in month.covered.items() for held, units in by_held.items()
        ]} if month.covered else {}),
        **({"stopped": [
            {"action": action, "quantity": _num(units), "entries": int(count)}
            for action, (units, count) in month.stopped.items()
        ]} if month.stopped else {}),
    }


def _dump_lot(lot: Lot, number: int | None) -> dict[str, Any]:
    assert lot.purchased is not None and lot.expires is not None, "a replay's lots are dated"
    return {
        "id": lot.id,
        "meter": lot.meter,
        "size": _num(lot.size),
        "remaining": _num(lot.remaining),
        "price": _num(lot.price),
        "purchased": lot.purchased.isoformat(),
        "expires": lot.expires.isoformat(),
        "alerted_low": lot.alerted_low,
        "alerted_exhausted": lot.alerted_exhausted,
        "number": number,
        # Only when set: a snapshot without them is as it always was.
        **({} if lot.paid is None else {"paid": _num(lot.paid)}),
        **({"refunded": True} if lot.refunded else {}),
    }


def _num(value: Quantity) -> str:
    return format_plain(value) if isinstance(value, Decimal) else str(value)


def checksum(document: Mapping[str, Any]) -> str:
    """`sha256:` and the hex digest of the document's canonical JSON, without its checksum."""
    body = {key: value for key, value in document.items() if key != "checksum"}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- restoring ------------------------------------------------------------------------------

@attrs.frozen
class Restored:
    """A replay rebuilt from a snapshot, and the account's counters saved with it."""

    replay: Replay
    entries: int
    issued: int


def parse(snapshot: Mapping[str, Any] | str | bytes) -> dict[str, Any]:
    """A snapshot document from its JSON text (or the dict itself)."""
    if isinstance(snapshot, bytes | bytearray):
        try:
            snapshot = bytes(snapshot).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SnapshotError(f"snapshot is not UTF-8 text (byte {exc.start + 1})") from None
    if isinstance(snapshot, str):
        try:
            snapshot = json.loads(snapshot)
        except json.JSONDecodeError as exc:
            raise SnapshotError(f"snapshot is not valid JSON: {exc.msg} at line {exc.lineno} "
                                f"column {exc.colno}") from None
        except RecursionError:
            raise SnapshotError("snapshot is not valid JSON: nested too deeply") from None
    if not isinstance(snapshot, Mapping):
        raise SnapshotError(f"a snapshot is a JSON object, not {_kind(snapshot)}")
    return dict(snapshot)


def load(book: PriceBook, snapshot: Mapping[str, Any] | str | bytes) -> Restored:
    """Rebuild a replay from a snapshot taken under `book`; SnapshotError if it cannot be."""
    document = parse(snapshot)
    kind = document.get("format")
    if kind != FORMAT:
        raise SnapshotError(f"not a ratecard account snapshot: field `format` is {_shown(kind)}, "
                            f"not \"{FORMAT}\"")
    version = document.get("version")
    if version != VERSION or type(version) is not int:
        raise SnapshotError(f"unknown snapshot version {_shown(version)}: this ratecard reads "
                            f"version {VERSION}")
    sealed = document.get("checksum")
    if type(sealed) is not str:
        _fail("checksum", "missing field" if sealed is None else f"expected a string, "
              f"found {_shown(sealed)}")
    try:
        computed = checksum(document)
    except RecursionError:
        raise SnapshotError("snapshot is not JSON data: nested too deeply") from None
    except (TypeError, ValueError) as exc:  # a dict holding a Decimal, a set, an int key, ...
        raise SnapshotError(f"snapshot is not JSON data: {exc}") from None
    if sealed != computed:
        raise SnapshotError("snapshot checksum does not match its content: the snapshot was "
                            "changed or damaged after it was taken")
    rules = _object(_get(document, "rules", ""), "rules")
    name = _string(_get(rules, "name", "rules"), "rules.name")
    taken = _string(_get(rules, "fingerprint", "rules"), "rules.fingerprint")
    if name != book.name or taken != fingerprint(book):
        what = "other rules" if name != book.name else "another version of these rules"
        raise SnapshotError(
            f"snapshot was taken under {what} (`{name}`, fingerprint {taken[:12]}), not "
            f"`{book.name}` (fingerprint {fingerprint(book)[:12]}): restore it with the rules it "
            "was taken under, or bill the account's journal again under the new rules")
    _same_terms(rules, book)
    try:
        with decimal.localcontext(CONTEXT):  # exact whatever the caller's context
            return _Loader(book).load(document)
    except SnapshotError:
        raise
    except (ValueError, TypeError, KeyError, IndexError, ArithmeticError, OverflowError) as exc:
        raise SnapshotError(f"snapshot cannot be restored: {type(exc).__name__}: {exc}") from None


def _same_terms(rules: dict[str, Any], book: PriceBook) -> None:
    """The snapshot was taken under the book's dated versions and contract (or, like the book,
    under neither): SnapshotError naming both otherwise."""
    expected = _terms(book)
    saved = rules.get("timeline")
    if saved is None and expected is None:
        return
    taken: dict[str, Any] | None = None
    if saved is not None:
        data = _object(saved, "rules.timeline")
        taken = {
            "fingerprint": _string(_get(data, "fingerprint", "rules.timeline"),
                                   "rules.timeline.fingerprint"),
            "versions": _strings(_get(data, "versions", "rules.timeline"),
                                 "rules.timeline.versions"),
            "contracts": _strings(_get(data, "contracts", "rules.timeline"),
                                  "rules.timeline.contracts"),
        }
        if expected is not None and taken["fingerprint"] == expected["fingerprint"]:
            return
    if (taken is not None and expected is not None
            and taken["contracts"] == expected["contracts"]
            and taken["versions"] == expected["versions"]):
        what = "other prices or contract terms"
    elif taken is not None and expected is not None and taken["contracts"] != expected["contracts"]:
        what = "another contract"
    else:
        what = "another timeline"
    raise SnapshotError(
        f"snapshot was taken under {what} (taken under: {_described(taken)}; given: "
        f"{_described(expected)}): restore it with the rules and contract it was taken under, "
        "or bill the account's journal again under the new ones")


def _described(terms: dict[str, Any] | None) -> str:
    """A book's place in time for a message: its later versions and its contracts."""
    if terms is None:
        return "no dated versions, no contract"
    versions = terms["versions"]
    contracts = terms["contracts"]
    return ", ".join((
        "versions from " + ", ".join(versions) if versions else "no later version",
        "contract " + ", ".join(f"`{c}`" for c in contracts) if contracts else "no contract",
        f"fingerprint {terms['fingerprint'][:12]}",
    ))


class _Loader:
    """Reads a snapshot document field by field into a fresh replay, checking each value."""

    def __init__(self, book: PriceBook) -> None:
        self.book = book  # the rules the snapshot is restored under (the top of a timeline)
        self.zone = book.zone
        self.meters = {plan.name: plan for plan in book.meters}
        self.replay = Replay(book)
        # The sheet of the month under construction (`book` itself without a timeline).
        self.sheet = book

    def at(self, moment: int) -> PriceBook:
        """The sheet in effect for the account at an instant (its pack offers and validity)."""
        if not self.replay.timeline:
            return self.book
        return self.replay.sheet(local(moment, self.zone).date())

    def load(self, document: dict[str, Any]) -> Restored:
        book = self.book
        replay = self.replay
        entries = _integer(_get(document, "entries", ""), "entries")
        issued = _integer(_get(document, "bills_issued", ""), "bills_issued")
        last = _get(document, "last", "")
        replay.last = -NEVER if last is None else self.instant(last, "last")
        month = _get(document, "month", "")
        if timeline_fingerprint(book) is not None:
            opened = _get(document, "opened", "")
            if (opened is None) != (month is None):
                _fail("opened", f"{_shown(opened)}, but the account has "
                      + ("no month under construction" if month is None else
                         "a month under construction: it was opened on its earliest entry's day"))
            if opened is not None:
                day = _date(opened, "opened")
                if replay.last != -NEVER and day > local(replay.last, self.zone).date():
                    _fail("opened", f"{day.isoformat()} is after the latest instant reached")
                replay.open_account(day)
            if month is not None:
                key = _month(_get(_object(month, "month"), "month", "month"), "month.month")
                if replay.opened is not None and key < (replay.opened.year, replay.opened.month):
                    _fail("month.month", f"{month_label(key)} is before the month the account "
                          f"was opened in (`opened`: {replay.opened.isoformat()})")
                replay.use_month_book(key)
                self.sheet = replay.book
        elif "opened" in document:
            _fail("opened", "the rules have no dated versions and no contract: a snapshot "
                  "taken under them has no opening day")

        allowance = _object(_get(document, "allowance", ""), "allowance")
        replay.granted = _boolean(_get(allowance, "granted", "allowance"), "allowance.granted")
        left = self.decimals(_get(allowance, "left", "allowance"), "allowance.left")
        fresh = self.sheet._new_allowances()  # the month's sheet: a version may pool otherwise
        if set(left) != set(fresh):
            _fail("allowance.left",
                  f"expected the pools {_listed(set(fresh))}, found {_listed(left)}")
        replay.allowance_left = {pool: left[pool] for pool in fresh}
        pending = _object(_get(document, "pending", ""), "pending")
        for meter, value in pending.items():
            self.meter(meter, f"pending.{meter}")
            replay.pending[meter] = _quantity(value, f"pending.{meter}")
            self.units(meter, value, f"pending.{meter}")

        lots = [self.lot(item, f"lots[{i}]") for i, item in enumerate(
            _array(_get(document, "lots", ""), "lots"))]
        expiring: list[tuple[int, int, Lot]] = []
        seen_numbers: set[int] = set()
        for index, (lot, number) in enumerate(lots):
            if number is not None:
                if number in seen_numbers:
                    _fail(f"lots[{index}].number", f"purchase number {number} is used twice")
                seen_numbers.add(number)
                assert lot.expires is not None
                expiring.append((instant(lot.expires, self.zone), number, lot))
        expiring.sort(key=lambda item: item[:2])
        replay.expiries = expiring  # a sorted list is a heap
        held = _object(_get(document, "held", ""), "held")
        used: set[int] = set()
        for meter, refs in held.items():
            self.meter(meter, f"held.{meter}")
            chosen = []
            for i, value in enumerate(_array(refs, f"held.{meter}")):
                where = f"held.{meter}[{i}]"
                lot, number = self.ref(value, lots, where)
                if lot.meter != meter or number is None or id(lot) in used:
                    _fail(where, f"lot {value} is not a lot of `{meter}` still held")
                used.add(id(lot))
                chosen.append(lot)
            replay.lots[meter] = chosen

        account = _object(_get(document, "account", ""), "account")
        reasons = _array(_get(account, "suspensions", "account"), "account.suspensions")
        for i, reason in enumerate(reasons):
            if _string(reason, f"account.suspensions[{i}]") not in book.billing.suspend_reasons:
                _fail(f"account.suspensions[{i}]", f"`{reason}` is not a reason to suspend in "
                      f"rules `{book.name}`")
        replay.manual = dict.fromkeys(reasons)
        if len(replay.manual) != len(reasons):
            _fail("account.suspensions", "a reason is listed twice")
        replay.in_debt = _boolean(_get(account, "in_debt", "account"), "account.in_debt")
        replay.active = not replay.manual and not replay.in_debt
        balance = _get(account, "balance", "account")
        replay.balance = None if balance is None else _decimal(balance, "account.balance")

        seen = _object(_get(document, "seen", ""), "seen")
        for kind in ("usage", "purchase"):
            ids = self.strings(_get(seen, kind, "seen"), f"seen.{kind}")
            if len(set(ids)) != len(ids):
                _fail(f"seen.{kind}", "an id is listed twice")
            if kind == "usage":
                replay.seen_usage = set(ids)
            else:
                replay.seen_purchases = set(ids)
        replay.purchases = _integer(_get(document, "purchases", ""), "purchases")
        if seen_numbers and max(seen_numbers) > replay.purchases:
            _fail("purchases", f"{replay.purchases} purchases, but a lot has number "
                  f"{max(seen_numbers)}")

        self.subscriptions(document.get("subscriptions"))
        if month is not None:
            replay.started = True
            replay.month = self.month(_object(month, "month"), lots)
            if replay.last == -NEVER:
                _fail("last", "null, but the account has a month under construction")
            if not replay.month.start <= replay.last < replay.month.end:
                _fail("last", "the latest instant reached is not in the month under "
                      "construction")
        for i, value in enumerate(_array(_get(document, "closed", ""), "closed")):
            bill = _bill(value, f"closed[{i}]", self.zone)
            if bill.issued is None or bill.settlement is not None:
                _fail(f"closed[{i}]", "a closed bill waiting to be issued has an issue date "
                      "and no settlement")
            issue = day_start(bill.issued, self.zone)
            if replay.closings and issue < replay.closings[-1].issue:
                _fail(f"closed[{i}]", "closed bills are listed in the order they are issued")
            replay.closings.append(_Closing(bill, issue))

        credits = document.get("credits")
        if credits is not None:
            self.credits(replay, _object(credits, "credits"))
        elif self.book.credits and replay.started:
            _fail("credits", "missing: the rules declare credits")
        grants = document.get("grants")
        if grants is not None:
            self.grants(replay, _object(grants, "grants"))
        elif self.book.grants and replay.started:
            _fail("grants", "missing: the rules declare grants")
        _rederive(replay)
        _Invariants(self, replay, lots, entries).check()
        return Restored(replay, entries, issued)

    # --- parts ----------------------------------------------------------------------------

    def credits(self, replay: Replay, data: dict[str, Any]) -> None:
        """The credit lots held (see `dump`): each of a credit of the rules, its remaining
        between 0 and its amount, expiring its credit's validity after its issue."""
        plans = {plan.name: plan for plan in self.sheet.credits}
        replay.credits_issued = _integer(_get(data, "issued", "credits"), "credits.issued")
        items = _array(_get(data, "lots", "credits"), "credits.lots")
        if len(items) > replay.credits_issued:
            _fail("credits.lots", f"{len(items)} lots, but {replay.credits_issued} issued")
        for i, item in enumerate(items):
            where = f"credits.lots[{i}]"
            part = _object(item, where)
            name = _string(_get(part, "credit", where), f"{where}.credit")
            plan = plans.get(name)
            if plan is None:
                _fail(f"{where}.credit", f"`{name}` is not a credit of rules `{self.book.name}`")
            amount = _decimal(_get(part, "amount", where), f"{where}.amount", minimum=0)
            if plan.amount is not None and amount != plan.amount:
                _fail(f"{where}.amount", f"{format_plain(amount)}, but credit `{name}` gives "
                      f"{format_plain(plan.amount)}")
            remaining = _decimal(_get(part, "remaining", where), f"{where}.remaining",
                                 minimum=0)
            if remaining > amount:
                _fail(f"{where}.remaining", f"{format_plain(remaining)} left of a credit of "
                      f"{format_plain(amount)}")
            issued = self.instant(_get(part, "issued", where), f"{where}.issued")
            expires = self.instant(_get(part, "expires", where), f"{where}.expires")
            if expires != add_period(issued, plan.valid_amount, plan.valid_unit, self.zone):
                _fail(f"{where}.expires", f"not credit `{name}`'s validity after its issue")
            replay.credit_lots.append(CreditLot(
                _string(_get(part, "id", where), f"{where}.id"), name, amount, remaining,
                local(issued, self.zone), local(expires, self.zone), plan.rank))

    def grants(self, replay: Replay, data: dict[str, Any]) -> None:
        """The grants' lots held, expiring and drawn this month (see `_dump_grants`)."""
        plans = {grant.name: grant for grant in self.sheet.grants}
        replay.grants_issued = _integer(_get(data, "issued", "grants"), "grants.issued")
        opened = _get(data, "opened", "grants")
        if opened is not None:
            replay.opened_at = self.instant(opened, "grants.opened")
        lots: list[Lot] = []
        numbers: set[int] = set()
        for i, item in enumerate(_array(_get(data, "lots", "grants"), "grants.lots")):
            where = f"grants.lots[{i}]"
            part = _object(item, where)
            grant = _string(_get(part, "grant", where), f"{where}.grant")
            plan = plans.get(grant)
            if plan is None:
                _fail(f"{where}.grant", f"`{grant}` is not a grant of rules `{self.book.name}`")
            meter = self.meter(_string(_get(part, "meter", where), f"{where}.meter"),
                               f"{where}.meter")
            if meter not in plan.meters:
                _fail(f"{where}.meter", f"grant `{grant}` gives nothing on `{meter}`")
            size = _decimal(_get(part, "size", where), f"{where}.size", minimum=0)
            if size != plan.amount:
                _fail(f"{where}.size", f"{format_plain(size)}, but grant `{grant}` gives "
                      f"{format_plain(plan.amount)}")
            remaining = _decimal(_get(part, "remaining", where), f"{where}.remaining", minimum=0)
            if remaining > size:
                _fail(f"{where}.remaining", f"{format_plain(remaining)} units left in a grant "
                      f"of {format_plain(size)}")
            issued = self.instant(_get(part, "issued", where), f"{where}.issued")
            expires = self.instant(_get(part, "expires", where), f"{where}.expires")
            if expires <= issued:
                _fail(f"{where}.expires", "not after the grant was issued")
            lot = plan.issue(meter, local(issued, self.zone), local(expires, self.zone))
            if lot.id != _string(_get(part, "id", where), f"{where}.id"):
                _fail(f"{where}.id", f"not the id of grant `{grant}` issued then ({lot.id})")
            lot.remaining = remaining
            number = _get(part, "number", where)
            if number is not None:
                number = _integer(number, f"{where}.number")
                if number in numbers or number > replay.grants_issued or number == 0:
                    _fail(f"{where}.number", f"issue number {number} is used twice or was "
                          "never issued")
                numbers.add(number)
                replay.grant_expiries.append((expires, number, lot))
            lots.append(lot)
        replay.grant_expiries.sort(key=lambda item: item[:2])
        for meter, refs in _object(_get(data, "held", "grants"), "grants.held").items():
            self.meter(meter, f"grants.held.{meter}")
            chosen: list[Lot] = []
            for i, value in enumerate(_array(refs, f"grants.held.{meter}")):
                where = f"grants.held.{meter}[{i}]"
                if type(value) is not int or not 0 <= value < len(lots):
                    _fail(where, f"{_shown(value)} is not the index of a grant's lot")
                lot = lots[value]
                if lot.meter != meter or lot.remaining <= 0 or any(o is lot for o in chosen):
                    _fail(where, f"lot {value} is not a lot of `{meter}` with units left")
                chosen.append(lot)
            if [lot.order_key() for lot in chosen] != sorted(lot.order_key() for lot in chosen):
                _fail(f"grants.held.{meter}", "the lots are not in the order they are drawn")
            replay.grant_lots[meter] = chosen
        for i, item in enumerate(_array(_get(data, "drawn", "grants"), "grants.drawn")):
            where = f"grants.drawn[{i}]"
            if not replay.started:
                _fail(where, "the account has taken no entry yet")
            part = _object(item, where)
            meter = self.meter(_string(_get(part, "meter", where), f"{where}.meter"),
                               f"{where}.meter")
            value = _get(part, "lot", where)
            if type(value) is not int or not 0 <= value < len(lots):
                _fail(f"{where}.lot", f"{_shown(value)} is not the index of a grant's lot")
            lot = lots[value]
            taken = self.units(meter, _get(part, "quantity", where), f"{where}.quantity")
            if lot.meter != meter or not 0 < taken <= lot.size - lot.remaining:
                _fail(f"{where}.quantity", f"{format_plain(taken)} units drawn this month from "
                      f"grant lot `{lot.id}` of `{lot.meter}`")
            by_lot = replay.month.grants.setdefault(meter, {})
            if lot.id in by_lot:
                _fail(f"{where}.lot", f"lot `{lot.id}` is listed twice")
            by_lot[lot.id] = [lot, taken]

    def month(self, data: dict[str, Any], lots: list[tuple[Lot, int | None]]) -> _Month:
        key = _month(_get(data, "month", "month"), "month.month")
        month = _Month(key, month_start(key, self.zone), month_start(next_month(key), self.zone))
        day = _get(data, "day", "month")
        if day is not None:
            if not _daily(self.sheet):
                _fail("month.day", f"{_shown(day)}, but the rules price no meter by day")
            current = _date(day, "month.day")
            if (current.year, current.month) != key:
                _fail("month.day", f"{current.isoformat()} is not a day of {month_label(key)}")
            month.day = current.isoformat()
        elif _daily(self.sheet):
            _fail("month.day", "missing: the rules price some meters by day")
        for meter, value in _object(_get(data, "allowance", "month"), "month.allowance").items():
            self.meter(meter, f"month.allowance.{meter}")
            month.allowance[meter] = self.units(meter, value, f"month.allowance.{meter}")
        for i, item in enumerate(_array(_get(data, "packs", "month"), "month.packs")):
            where = f"month.packs[{i}]"
            part = _object(item, where)
            meter = self.meter(_string(_get(part, "meter", where), f"{where}.meter"),
                               f"{where}.meter")
            lot, _ = self.ref(_get(part, "lot", where), lots, f"{where}.lot")
            if lot.meter != meter:
                _fail(f"{where}.lot", f"lot `{lot.id}` is not a lot of `{meter}`")
            taken = self.units(meter, _get(part, "quantity", where), f"{where}.quantity")
            drawn = lot.size - lot.remaining
            if not 0 < taken <= drawn:
                _fail(f"{where}.quantity", f"{format_plain(taken)} units drawn this month from "
                      f"lot `{lot.id}`, which has given {format_plain(drawn)} in all")
            by_lot = month.packs.setdefault(meter, {})
            if lot.id in by_lot:
                _fail(f"{where}.lot", f"lot `{lot.id}` is listed twice")
            by_lot[lot.id] = [lot, taken]
        for meter, value in _object(_get(data, "postpaid", "month"), "month.postpaid").items():
            self.meter(meter, f"month.postpaid.{meter}")
            month.postpaid[meter] = self.units(meter, value, f"month.postpaid.{meter}")
        for i, item in enumerate(_array(_get(data, "days", "month"), "month.days")):
            where = f"month.days[{i}]"
            part = _object(item, where)
            day = _date(_get(part, "day", where), f"{where}.day")
            if (day.year, day.month) != key or day.isoformat() > month.day:
                _fail(f"{where}.day", f"{day.isoformat()} is not a day of {month_label(key)} up to "
                      f"the current day ({month.day or 'none'})")
            meter = self.meter(_string(_get(part, "meter", where), f"{where}.meter"),
                               f"{where}.meter")
            if not any(meter in group.meters for group in self.sheet.ladder_groups
                       if group.ladder.period == "day"):
                _fail(f"{where}.meter", f"`{meter}` is not priced by day")
            usage = MeterUsage(*(self.units(meter, _get(part, field, where), f"{where}.{field}")
                                 for field in ("total", "allowance", "postpaid")))
            if usage.allowance + usage.postpaid > usage.total:
                _fail(f"{where}.total", f"{format_plain(usage.total)} units in all, fewer than "
                      f"the {format_plain(usage.allowance + usage.postpaid)} from the allowance "
                      "and postpaid")
            by_meter = month.days.setdefault(day.isoformat(), {})
            if meter in by_meter:
                _fail(where, f"`{meter}` on {day.isoformat()} is listed twice")
            by_meter[meter] = usage
        for i, item in enumerate(_array(_get(data, "rejected", "month"), "month.rejected")):
            where = f"month.rejected[{i}]"
            part = _object(item, where)
            action = self.action(_get(part, "action", where), f"{where}.action")
            count = _integer(_get(part, "entries", where), f"{where}.entries")
            if count == 0:
                _fail(f"{where}.entries", "0: usage rejected comes from at least one entry")
            month.rejected[action] = [
                _quantity(_get(part, "quantity", where), f"{where}.quantity"), count]
        for i, item in enumerate(_array(_get(data, "free", "month"), "month.free")):
            where = f"month.free[{i}]"
            part = _object(item, where)
            action = self.action(_get(part, "action", where), f"{where}.action")
            if self.book.routes.get(action) != FREE:
                _fail(f"{where}.action", f"`{action}` is not a free action")
            month.free[action] = _quantity(_get(part, "quantity", where), f"{where}.quantity")
        month.ignored = [_ignored(v, f"month.ignored[{i}]", self.zone)
                         for i, v in enumerate(_array(_get(data, "ignored", "month"),
                                                      "month.ignored"))]
        month.alerts = [_alert(v, f"month.alerts[{i}]", self.zone)
                        for i, v in enumerate(_array(_get(data, "alerts", "month"),
                                                     "month.alerts"))]
        month.prepaid = [_prepaid(v, f"month.prepaid[{i}]", self.zone)
                         for i, v in enumerate(_array(_get(data, "prepaid", "month"),
                                                      "month.prepaid"))]
        month.void = [_void(v, f"month.void[{i}]", self.zone)
                      for i, v in enumerate(_array(_get(data, "void", "month"), "month.void"))]
        month.events = [_event(v, f"month.events[{i}]", self.zone)
                        for i, v in enumerate(_array(_get(data, "events", "month"),
                                                     "month.events"))]
        month.refunds = [_refunded(v, f"month.refunds[{i}]", self.zone)
                         for i, v in enumerate(_array(data.get("refunds", []), "month.refunds"))]
        month.orders = [self.order(_ordered(v, f"month.orders[{i}]", self.zone),
                                   f"month.orders[{i}]")
                        for i, v in enumerate(_array(data.get("orders", []), "month.orders"))]
        if "days_spent" in data:  # (only under daily bills, once a day's bill has a total)
            if not self.sheet.billing.daily:
                _fail("month.days_spent", "the rules bill no meter per day")
            month.days_spent = _decimal(data["days_spent"], "month.days_spent", 0)
        for i, item in enumerate(_array(data.get("covered", []), "month.covered")):
            where = f"month.covered[{i}]"
            part = _object(item, where)
            meter = self.meter(_get(part, "meter", where), f"{where}.meter")
            held = _string(_get(part, "subscription", where), f"{where}.subscription")
            month.covered.setdefault(meter, {})[held] = self.units(
                meter, _get(part, "quantity", where), f"{where}.quantity")
        for i, item in enumerate(_array(data.get("stopped", []), "month.stopped")):
            where = f"month.stopped[{i}]"
            part = _object(item, where)
            action = self.action(_get(part, "action", where), f"{where}.action")
            route = self.book.routes.get(action) or self.book.part_routes[action]
            if route == FREE or not self.sheet.meter(route).pack_terms.stop_when_exhausted:
                _fail(f"{where}.action", f"`{action}` is not counted into a meter whose packs "
                      "stop when exhausted")
            count = _integer(_get(part, "entries", where), f"{where}.entries")
            if count == 0:
                _fail(f"{where}.entries", "0: usage rejected comes from at least one entry")
            month.stopped[action] = [
                self.units(route, _get(part, "quantity", where), f"{where}.quantity"), count]
        return month

    def subscriptions(self, value: Any) -> None:
        """The subscriptions held (each of a plan of the rules, a quantity above zero, ending
        after it starts) and the ids cancelled."""
        if value is None:
            return
        data = _object(value, "subscriptions")
        coverage = self.replay.coverage
        for i, item in enumerate(_array(_get(data, "held", "subscriptions"),
                                        "subscriptions.held")):
            where = f"subscriptions.held[{i}]"
            f = _Fields(item, where, self.zone)
            plan = f.string("plan")
            if plan not in coverage.plans:
                _fail(f"{where}.plan", f"`{plan}` is not a subscription or fee of rules "
                      f"`{self.book.name}`")
            quantity = f.decimal("quantity")
            if quantity <= 0:
                _fail(f"{where}.quantity", f"{format_plain(quantity)}: a subscription is of "
                      "units above 0")
            start = self.instant(f.string("start"), f"{where}.start")
            end_text = f.optional_string("end")
            end = None if end_text is None else self.instant(end_text, f"{where}.end")
            if end is not None and end < start:
                _fail(f"{where}.end", "a subscription ends after it starts")
            meter = f.optional_string("meter") if "meter" in f.data else None
            if meter is not None and meter not in coverage.plans[plan].covers:
                _fail(f"{where}.meter", f"`{meter}` is not a meter `{plan}` covers")
            held = Held(f.string("id"), plan, quantity, start, end, meter)
            if "period" in f.data:
                held.period = f.string("period")
                held.used = _decimal(f.get("used"), f"{where}.used", 0)
            if coverage.find(held.id) is not None:
                _fail(f"{where}.id", f"`{held.id}` is held twice")
            coverage.add(held)
        cancelled = self.strings(_get(data, "cancelled", "subscriptions"),
                                 "subscriptions.cancelled")
        self.replay.cancelled = set(cancelled)

    def order(self, order: OrderedUnits, where: str) -> OrderedUnits:
        """An order of a product of the rules, of at least its minimum, in the bracket its
        quantity falls in, costing what that bracket says unless it gave its own price."""
        plan = next((p for p in self.sheet.orders if p.name == order.product), None)
        if plan is None:
            _fail(f"{where}.product", f"`{order.product}` is not a product of rules "
                  f"`{self.book.name}`")
        if order.quantity < plan.minimum or order.quantity != order.quantity.to_integral_value():
            _fail(f"{where}.quantity", f"{format_plain(order.quantity)} is not a whole number "
                  f"of at least the minimum order of {format_plain(plan.minimum)}")
        bracket = plan.ladder.bracket_for(order.quantity)
        listed = None if bracket.contact_sales else self.sheet.rounding.round(
            plan.charge(order.quantity).precise_amount)
        if (order.bracket, order.unit_price) != (bracket.label, bracket.price):
            _fail(f"{where}.bracket", f"an order of {format_plain(order.quantity)} is in the "
                  f"bracket {bracket.label} at {_shown(bracket.price)}")
        if order.amount < 0 or (order.list_amount is None and listed is not None
                                and order.amount != listed) or (
                order.list_amount is not None and order.list_amount != listed):
            _fail(f"{where}.amount", f"{format_plain(order.amount)}, but the order costs "
                  f"{_shown(listed)} by the rules")
        return order

    def lot(self, value: Any, where: str) -> tuple[Lot, int | None]:
        data = _object(value, where)
        meter = self.meter(_string(_get(data, "meter", where), f"{where}.meter"), f"{where}.meter")
        size = _decimal(_get(data, "size", where), f"{where}.size", minimum=0)
        remaining = _decimal(_get(data, "remaining", where), f"{where}.remaining", minimum=0)
        if remaining > size:
            _fail(f"{where}.remaining", f"{format_plain(remaining)} units left in a lot of "
                  f"{format_plain(size)}")
        number = _get(data, "number", where)
        if number is not None and _integer(number, f"{where}.number") == 0:
            _fail(f"{where}.number", "0: purchases are numbered from 1")
        price = _decimal(_get(data, "price", where), f"{where}.price", minimum=0)
        if self.whole(meter) and remaining != remaining.to_integral_value():
            _fail(f"{where}.remaining", f"{format_plain(remaining)} units left: `{meter}` counts "
                  "whole units")
        purchased = self.instant(_get(data, "purchased", where), f"{where}.purchased")
        self.offer(meter, size, price, purchased, where)
        expires = self.instant(_get(data, "expires", where), f"{where}.expires")
        self.expiry(meter, purchased, expires, f"{where}.expires")
        lot = Lot(
            _string(_get(data, "id", where), f"{where}.id"),
            meter,
            size,
            remaining,
            price,
            local(purchased, self.zone),
            local(expires, self.zone),
            _boolean(_get(data, "alerted_low", where), f"{where}.alerted_low"),
            _boolean(_get(data, "alerted_exhausted", where), f"{where}.alerted_exhausted"),
            (_decimal(data["paid"], f"{where}.paid", minimum=0) if "paid" in data else None),
            (_boolean(data["refunded"], f"{where}.refunded") if "refunded" in data else False),
        )
        if lot.refunded and (remaining or number is None):
            _fail(f"{where}.refunded", "true, but " + (
                f"{format_plain(remaining)} units are left (a refunded pack holds none)"
                if remaining else "the lot has expired (a refund is of a pack still held)"))
        low = self.book.alerts.low_threshold
        if lot.alerted_low and (low is None or not remaining < size * low):
            _fail(f"{where}.alerted_low", "true, but " + (
                "the rules raise no `low` alert" if low is None else
                f"{format_plain(remaining)} of {format_plain(size)} left is not below "
                f"{format_plain((low * 100).normalize())}%"))
        if lot.alerted_exhausted and (not self.book.alerts.exhausted or remaining > 0):
            _fail(f"{where}.alerted_exhausted", "true, but " + (
                "the rules raise no `exhausted` alert" if not self.book.alerts.exhausted
                else f"{format_plain(remaining)} units are left"))
        return lot, number

    def offer(self, meter: str, size: Decimal, price: Decimal, bought: int, where: str,
              field: str = "price") -> None:
        """A pack of `size` at `price` (the record's `field`) is on sale for the meter when it
        is bought."""
        plan = self.at(bought).meter(meter)
        offer = plan.pack(size)
        if offer is None:
            sizes = ", ".join(format_plain(o.size) for o in plan.packs) or "none"
            _fail(f"{where}.size", f"`{plan.name}` sells no pack of {format_plain(size)} units "
                  f"(its sizes: {sizes})" + self.when(bought))
        if offer.price is not None and offer.price != price:
            _fail(f"{where}.{field}", f"{format_plain(price)}, but the pack of "
                  f"{format_plain(size)} `{plan.name}` costs {format_plain(offer.price)}"
                  + self.when(bought))

    def when(self, bought: int) -> str:
        """For a message under dated versions: the day of a purchase."""
        if not self.replay.timeline:
            return ""
        return f" on {local(bought, self.zone).date().isoformat()}"

    def expiry(self, meter: str, bought: int, expires: int, where: str) -> None:
        """A pack of `meter` bought at `bought` expires when its table's validity (then)
        says."""
        policy = self.at(bought).meter(meter).pack_terms
        try:
            due = add_period(bought, policy.valid_amount, policy.valid_unit, self.zone)
        except (ValueError, OverflowError):
            due = None
        if expires != due:
            valid = f"{policy.valid_amount} {policy.valid_unit}" + (
                "s" if policy.valid_amount != 1 else "")
            _fail(where, f"{format_instant(expires, self.zone)} is not {valid} after the "
                  f"purchase at {format_instant(bought, self.zone)}" + (
                      "" if due is None else f" ({format_instant(due, self.zone)})"))

    def whole(self, meter: str) -> bool:
        """Whether every quantity of the meter is a whole number of units: it counts whole
        units and so does every meter it shares its allowance with, a whole allowance."""
        for sheet in self.book.books:  # under every version: one may pool the meter otherwise
            pool = next(plan.pool for plan in sheet.meters if plan.name == meter)
            members = [plan for plan in sheet.meters if plan.pool == pool]
            if (any(plan.quantity_rounding is not None for plan in members)
                    or sheet._new_allowances()[pool] != sheet._new_allowances()[pool]
                    .to_integral_value()):
                return False
        return True

    def units(self, meter: str, value: Any, where: str) -> Decimal:
        """A quantity of the meter's units: ≥ 0, and whole where the meter counts whole."""
        number = _decimal(value, where, minimum=0)
        if self.whole(meter) and number != number.to_integral_value():
            _fail(where, f"{format_plain(number)} is not a whole number of units: `{meter}` "
                  "counts whole units")
        return number

    @staticmethod
    def ref(value: Any, lots: list[tuple[Lot, int | None]], where: str) -> tuple[Lot, int | None]:
        index = _integer(value, where)
        if index >= len(lots):
            _fail(where, f"no lot {index} in `lots` ({len(lots)} lots)")
        return lots[index]

    def meter(self, name: Any, where: str) -> str:
        if type(name) is not str or name not in self.meters:
            _fail(where, f"{_shown(name)} is not a meter of rules `{self.book.name}`")
        return name

    def action(self, name: Any, where: str) -> str:
        if type(name) is not str or (name not in self.book.routes
                                     and name not in self.book.part_routes):
            _fail(where, f"{_shown(name)} is not an action of rules `{self.book.name}`")
        return name

    def instant(self, value: Any, where: str) -> int:
        return _instant(value, where, self.zone)

    @staticmethod
    def decimals(value: Any, where: str) -> dict[str, Decimal]:
        return {key: _decimal(item, f"{where}.{key}", minimum=0)
                for key, item in _object(value, where).items()}

    @staticmethod
    def strings(value: Any, where: str) -> list[str]:
        return [_string(item, f"{where}[{i}]") for i, item in enumerate(_array(value, where))]


class _Invariants:
    """What holds between the fields of every state a replay can reach. A snapshot whose
    checksum matches can still have been edited (and the checksum computed again): each check
    refuses a state no journal leads to, naming the field that breaks it."""

    def __init__(self, loader: _Loader, replay: Replay, lots: list[tuple[Lot, int | None]],
                 entries: int) -> None:
        self.loader = loader
        self.book = loader.book
        self.zone = loader.zone
        self.replay = replay
        self.lots = lots
        self.entries = entries
        self.increment = self.book.rounding.increment
        # Under `rounding exact` amounts are any decimals, not whole numbers of the increment.
        self.exact = self.book.rounding.scope == EXACT

    def check(self) -> None:
        replay = self.replay
        if replay.purchases > self.entries:
            _fail("purchases", f"more purchases ({replay.purchases}) than entries taken "
                  f"({self.entries})")
        ids = len(replay.seen_usage) + len(replay.seen_purchases)
        if ids > self.entries:
            _fail("seen", f"more ids seen ({ids}) than entries taken ({self.entries})")
        if not replay.started:
            self.empty()
            return
        self.allowance()
        self.held_lots()
        self.account()
        self.pending()
        self.month()
        self.closed()

    def shown(self, moment: int) -> str:
        return format_instant(moment, self.zone)

    def empty(self) -> None:
        """Before its first entry an account holds nothing but the time it was told."""
        replay = self.replay
        held = {
            "lots": bool(self.lots),
            "closed": bool(replay.closings),
            "allowance.granted": replay.granted,
            "seen": bool(replay.seen_usage or replay.seen_purchases),
            "purchases": bool(replay.purchases),
            "account.suspensions": bool(replay.manual),
            "account.in_debt": replay.in_debt,
            "account.balance": replay.balance is not None,
        }
        held.update({f"pending.{meter}": bool(q) for meter, q in replay.pending.items()})
        held.update({f"allowance.left.{pool}": bool(left)
                     for pool, left in replay.allowance_left.items()})
        for field, present in held.items():
            if present:
                _fail(field, "the account has taken no entry yet (`month` is null), so it can "
                      "hold nothing here")

    def allowance(self) -> None:
        """Granted once a month: what is left and what the month drew make the grant."""
        replay = self.replay
        fresh = self.loader.sheet._new_allowances()
        drawn = dict.fromkeys(fresh, ZERO)
        pool_of = {plan.name: plan.pool for plan in self.loader.sheet.meters}
        for meter, units in replay.month.allowance.items():
            drawn[pool_of[meter]] += units
        for pool, left in replay.allowance_left.items():
            where = f"allowance.left.{pool}"
            if not replay.granted:
                if left:
                    _fail(where, f"{format_plain(left)} left, but this month's allowance is not "
                          "granted yet (`allowance.granted` is false)")
                if drawn[pool]:
                    _fail("month.allowance", f"units drawn from the allowance of `{pool}`, "
                          "which is not granted yet this month")
                continue
            if left > fresh[pool]:
                _fail(where, f"{format_plain(left)} left of an allowance of "
                      f"{format_plain(fresh[pool])} a month")
            if left + drawn[pool] != fresh[pool]:
                _fail(where, f"{format_plain(left)} left and {format_plain(drawn[pool])} drawn "
                      f"this month (`month.allowance`) make {format_plain(left + drawn[pool])}, "
                      f"not the {format_plain(fresh[pool])} granted a month")

    def held_lots(self) -> None:
        """Lots bought by the latest instant; expired ones hold nothing; the others expire
        later, are held while they have units left, in the order they are drawn."""
        replay = self.replay
        last = replay.last
        held = {id(lot) for lots in replay.lots.values() for lot in lots}
        for index, (lot, number) in enumerate(self.lots):
            where = f"lots[{index}]"
            assert lot.purchased is not None and lot.expires is not None
            purchased = instant(lot.purchased, self.zone)
            expires = instant(lot.expires, self.zone)
            if purchased > last:
                _fail(f"{where}.purchased", f"{self.shown(purchased)} is after the latest "
                      f"instant reached ({self.shown(last)})")
            if number is None:
                if expires > last:
                    _fail(f"{where}.number", f"null (an expired lot), but the lot expires "
                          f"{self.shown(expires)}, after the latest instant reached")
                if lot.remaining:
                    _fail(f"{where}.remaining", f"{format_plain(lot.remaining)} units left in "
                          "an expired lot (its units are void at expiry)")
                continue
            if expires <= last:
                _fail(f"{where}.expires", f"{self.shown(expires)} is not after the latest "
                      f"instant reached ({self.shown(last)}): the lot would have expired")
            if lot.remaining > 0 and id(lot) not in held:
                _fail(where, f"lot `{lot.id}` has {format_plain(lot.remaining)} units left and "
                      f"has not expired, but is not held (`held.{lot.meter}`)")
            generated = f"{lot.meter}:{format_plain(lot.size)}#{number}"
            if lot.id != generated and lot.id not in replay.seen_purchases:
                _fail(f"{where}.id", f"`{lot.id}` is neither the id of a purchase seen "
                      f"(`seen.purchase`) nor `{generated}`, the id of purchase {number}")
        by_purchase = self.book.packs.order == "purchase"
        smallest = self.book.packs.smallest_first
        for meter, lots in replay.lots.items():
            for position, lot in enumerate(lots):
                if lot.remaining <= 0:
                    _fail(f"held.{meter}[{position}]", f"lot `{lot.id}` is held with no units "
                          "left")
            keys: list[tuple[Any, ...]] = [
                (lot.order_key()[1], lot.size) if by_purchase and smallest
                else lot.order_key()[1:] if by_purchase else lot.order_key() for lot in lots]
            if keys != sorted(keys):
                _fail(f"held.{meter}", "the lots are not in the order they are drawn ("
                      + ("purchase" if by_purchase else "expiry, then purchase") + ")")

    def account(self) -> None:
        """The balance moves by whole top-ups and rounded bills; negative is in arrears."""
        replay = self.replay
        balance = replay.balance
        currency = self.book.currency
        if balance is not None and not self.exact and not _multiple(balance, self.increment):
            _fail("account.balance", f"{format_plain(balance)} {currency} is not a whole "
                  f"number of {format_plain(self.increment)}")
        if replay.in_debt:
            if not self.book.billing.settle_from_balance:
                _fail("account.in_debt", "true, but the rules do not settle bills from a "
                      "balance")
            if balance is None or balance >= 0:
                shown = "no balance" if balance is None else f"a balance of {balance}"
                _fail("account.in_debt", f"true (suspended for arrears) with {shown}: only a "
                      "negative balance is in arrears")
        elif balance is not None and balance < 0:
            _fail("account.in_debt", f"false with a balance of {format_plain(balance)}: a "
                  "negative balance suspends the account for arrears")

    def pending(self) -> None:
        """Usage waits undrawn only while nothing depends on where it falls."""
        replay = self.replay
        for meter, quantity in replay.pending.items():
            if not quantity:
                continue
            where = f"pending.{meter}"
            if not replay.active:
                _fail(where, f"{format_plain(Decimal(quantity))} units pending while the account "
                      "is suspended (usage is rejected then, not recorded)")
            trigger = replay.trigger[meter]
            if quantity >= trigger:
                _fail(where, f"{format_plain(Decimal(quantity))} units pending, but the meter "
                      + ("draws each entry at once (its allowance pool is shared)" if not trigger
                         else f"draws as soon as {trigger} are pending (its next alert)"))

    def month(self) -> None:
        """The month's records are of its own instants, up to the latest one reached."""
        replay = self.replay
        month = replay.month
        last = replay.last
        label = month_label(month.key)
        if replay.daily and month.day != local(last, self.zone).date().isoformat():
            _fail("month.day", f"{month.day}, but the latest instant reached is "
                  f"{self.shown(last)}")

        def within(time: datetime | None, where: str) -> int:
            if time is None:
                _fail(where, "missing: a record of a replay has its time")
            moment = instant(time, self.zone)
            if not month.start <= moment <= last:
                _fail(where, f"{time.isoformat()} is not in {label} up to the latest instant "
                      f"reached ({self.shown(last)})")
            return moment

        for i, alert in enumerate(month.alerts):
            where = f"month.alerts[{i}]"
            self.loader.meter(alert.meter, f"{where}.meter")
            within(alert.time, f"{where}.time")
            if not 0 <= alert.remaining <= alert.size:
                _fail(f"{where}.remaining", f"{format_plain(alert.remaining)} units left of "
                      f"{format_plain(alert.size)}")
        for i, bought in enumerate(month.prepaid):
            where = f"month.prepaid[{i}]"
            meter = self.loader.meter(bought.meter, f"{where}.meter")
            moment = within(bought.time, f"{where}.time")
            if bought.list_price is None:
                self.loader.offer(meter, bought.size, bought.price, moment, where)
            else:
                self.loader.offer(meter, bought.size, bought.list_price, moment, where,
                                  "list_price")
            if bought.price < 0:
                _fail(f"{where}.price", f"{format_plain(bought.price)}: a price paid is 0 or more")
            self.loader.expiry(meter, moment, instant(bought.expires, self.zone),
                               f"{where}.expires")
        refunded = {lot.id: lot for _, _, lot in replay.expiries if lot.refunded}
        for i, back in enumerate(month.refunds):
            where = f"month.refunds[{i}]"
            within(back.time, f"{where}.time")
            lot = refunded.get(back.pack)
            if lot is None:
                _fail(f"{where}.pack", f"`{back.pack}` is not a held lot marked `refunded`")
            if (back.meter, back.size, back.amount) != (lot.meter, lot.size, lot.price_paid):
                _fail(where, f"the refund of `{back.pack}` is not of its lot (meter "
                      f"`{lot.meter}`, {format_plain(lot.size)} units, paid "
                      f"{format_plain(lot.price_paid)})")
        for i, void in enumerate(month.void):
            where = f"month.void[{i}]"
            self.loader.meter(void.meter, f"{where}.meter")
            within(void.time, f"{where}.time")
            if not 0 < void.quantity <= void.size:
                _fail(f"{where}.quantity", f"{format_plain(void.quantity)} units void of a lot "
                      f"of {format_plain(void.size)}")
        for i, ignored in enumerate(month.ignored):
            where = f"month.ignored[{i}]"
            # (A refund resent names a refunded pack, which may have expired since.)
            seen = (replay.seen_usage if ignored.type in ("usage", "request")
                    else replay.cancelled if ignored.type == "cancel" else replay.seen_purchases)
            # (order and subscription ids are purchase ids)
            if ignored.type != "refund" and ignored.id not in seen:
                _fail(f"{where}.id", f"`{ignored.id}` is not a {ignored.type} id seen "
                      f"(`seen.{ignored.type}`): only a resend is ignored")
            if not 1 <= ignored.line <= self.entries:
                _fail(f"{where}.line", f"{ignored.line} is not one of the {self.entries} "
                      "entries taken")
            if instant(ignored.time, self.zone) > last:
                _fail(f"{where}.time", f"{ignored.time.isoformat()} is after the latest instant "
                      "reached")
        previous = month.start
        for i, event in enumerate(month.events):
            where = f"month.events[{i}]"
            moment = within(event.time, f"{where}.time")
            if moment < previous:
                _fail(f"{where}.time", f"{event.time.isoformat()} is earlier than the event "
                      "before it")
            previous = moment
            if (event.kind == "topup") != (event.amount is not None):
                _fail(f"{where}.amount", "a top-up has an amount, and only a top-up")
            for field, value in (("amount", event.amount), ("balance", event.balance)):
                if value is not None and not (self.exact or _multiple(value, self.increment)):
                    _fail(f"{where}.{field}", f"{format_plain(value)} is not a whole number of "
                          f"{format_plain(self.increment)}")
            if event.amount is not None and event.amount <= 0:
                _fail(f"{where}.amount", f"{format_plain(event.amount)}: a top-up is positive")
        if month.events:
            status = "active" if replay.active else "suspended"
            if month.events[-1].status != status:
                _fail(f"month.events[{len(month.events) - 1}].status",
                      f"{month.events[-1].status}, but the account is {status} now "
                      "(`account`)")

    def closed(self) -> None:
        """Bills of earlier months, in order, waiting for an issue day not reached yet."""
        replay = self.replay
        billing = self.book.billing
        before: tuple[int, int] | None = None
        for i, closing in enumerate(replay.closings):
            where = f"closed[{i}]"
            bill = closing.bill
            if bill.currency != self.book.currency:
                _fail(f"{where}.currency", f"{bill.currency}, but the rules bill in "
                      f"{self.book.currency}")
            assert bill.month is not None
            key = (bill.month.year, bill.month.month)
            if key >= replay.month.key or (before is not None and key <= before):
                _fail(f"{where}.month", f"{month_text(bill.month)}: closed bills are of "
                      "successive months before the month under construction "
                      f"({month_label(replay.month.key)})")
            before = key
            due = issue_date(key, billing.issued_day)
            if bill.issued != due:
                _fail(f"{where}.issued", f"{bill.issued}, but the bill of "
                      f"{month_text(bill.month)} is issued on {due}")
            if closing.issue <= replay.last:
                _fail(f"{where}.issued", f"{bill.issued} is reached already (the latest "
                      f"instant is {self.shown(replay.last)}): the bill would have been issued")
            if bill.total < 0 or not (self.exact or _multiple(bill.total, self.increment)):
                _fail(f"{where}.total", f"{format_plain(bill.total)} is not an amount billed "
                      f"(≥ 0, a whole number of {format_plain(self.increment)})")
            summed = bill_total(self.book.rounding, bill.lines)
            if bill.total != summed:
                _fail(f"{where}.total", f"{format_plain(bill.total)}, but the bill's lines "
                      f"add up to {format_plain(summed)}")
            for j, line in enumerate(bill.lines):
                if line.source == "true_up" and line.meter == TRUE_UP_METER:
                    continue
                self.loader.meter(line.meter, f"{where}.lines[{j}].meter")


def _daily(book: PriceBook) -> bool:
    return any(group.ladder.period == "day" for group in book.ladder_groups)


def _rederive(replay: Replay) -> None:
    """What the replay derives from its state: the day's end, triggers and the next event."""
    if replay.started and replay.daily:
        day = date.fromisoformat(replay.month.day)
        replay.day_end = day_start(day + timedelta(days=1), replay.zone)
    replay._retrigger()
    if replay.started:
        replay.next_event = min(
            replay.month.end,
            replay.closings[0].issue if replay.closings else NEVER,
            replay.expiries[0][0] if replay.expiries else NEVER,
            replay.grant_expiries[0][0] if replay.grant_expiries else NEVER,
            replay.day_end,
        )


# --- bills and their parts ------------------------------------------------------------------

def _bill(value: Any, where: str, zone: ZoneInfo) -> Bill:
    data = _object(value, where)
    account = _object(_get(data, "account", where), f"{where}.account")
    settlement = _get(account, "settlement", f"{where}.account")

    def parts(key: str, read: Any) -> tuple[Any, ...]:
        items = _array(_get(data, key, where), f"{where}.{key}")
        return tuple(read(item, f"{where}.{key}[{i}]", zone) for i, item in enumerate(items))

    return Bill(
        currency=_string(_get(data, "currency", where), f"{where}.currency"),
        total=_decimal(_get(data, "total", where), f"{where}.total"),
        lines=parts("lines", _line),
        alerts=parts("alerts", _alert),
        month=date(*_month(_get(data, "month", where), f"{where}.month"), 1),
        issued=_date(_get(data, "issued", where), f"{where}.issued"),
        prepaid=parts("prepaid", _prepaid),
        packs=parts("packs", _pack_balance),
        void=parts("void", _void),
        rejected=parts("rejected", _rejected),
        free=parts("free", _free),
        ignored=parts("ignored", _ignored),
        events=tuple(_event(item, f"{where}.account.events[{i}]", zone) for i, item in enumerate(
            _array(_get(account, "events", f"{where}.account"), f"{where}.account.events"))),
        settlement=None if settlement is None else _settlement(
            settlement, f"{where}.account.settlement", zone),
        prepaid_total=_decimal(_get(data, "prepaid_total", where), f"{where}.prepaid_total"),
        refunds=(tuple(_refunded(item, f"{where}.refunds[{i}]", zone) for i, item in enumerate(
            _array(data["refunds"], f"{where}.refunds"))) if "refunds" in data else ()),
        refund_total=(_decimal(data["refund_total"], f"{where}.refund_total")
                      if "refund_total" in data else Decimal(0)),
        orders=(tuple(_ordered(item, f"{where}.orders[{i}]", zone) for i, item in enumerate(
            _array(data["orders"], f"{where}.orders"))) if "orders" in data else ()),
        orders_total=(_decimal(data["orders_total"], f"{where}.orders_total")
                      if "orders_total" in data else Decimal(0)),
        subscriptions=(tuple(_charge(item, f"{where}.subscriptions[{i}]", zone)
                             for i, item in enumerate(_array(data["subscriptions"],
                                                             f"{where}.subscriptions")))
                       if "subscriptions" in data else ()),
        credits=(tuple(_credit_balance(item, f"{where}.credits[{i}]", zone)
                       for i, item in enumerate(_array(data["credits"], f"{where}.credits")))
                 if "credits" in data else ()),
        # Only a bill of a dated version or under a contract has them.
        version=(_date(data["version"], f"{where}.version") if "version" in data else None),
        contract=(_string(data["contract"], f"{where}.contract") if "contract" in data
                  else None),
        day=(_date(data["day"], f"{where}.day") if "day" in data else None),  # a daily bill's
    )


class _Fields:
    """One JSON object of a snapshot, read by the type each field must have."""

    def __init__(self, value: Any, where: str, zone: ZoneInfo | None = None) -> None:
        self.data = _object(value, where)
        self.where = where
        self.zone = zone

    def get(self, key: str) -> Any:
        return _get(self.data, key, self.where)

    def string(self, key: str) -> str:
        return _string(self.get(key), f"{self.where}.{key}")

    def optional_string(self, key: str) -> str | None:
        value = self.get(key)
        return None if value is None else _string(value, f"{self.where}.{key}")

    def decimal(self, key: str) -> Decimal:
        return _decimal(self.get(key), f"{self.where}.{key}")

    def optional_decimal(self, key: str) -> Decimal | None:
        value = self.get(key)
        return None if value is None else _decimal(value, f"{self.where}.{key}")

    def absent_or_decimal(self, key: str) -> Decimal | None:
        """A key written only when it has a value (a prepaid purchase's `list_price`)."""
        if key not in self.data:
            return None
        return _decimal(self.data[key], f"{self.where}.{key}", minimum=0)

    def integer(self, key: str) -> int:
        return _integer(self.get(key), f"{self.where}.{key}")

    def choice(self, key: str, choices: tuple[str, ...]) -> str:
        value = self.string(key)
        if value not in choices:
            _fail(f"{self.where}.{key}", f"{_shown(value)} is not one of "
                  + ", ".join(f'"{choice}"' for choice in choices))
        return value

    def boolean(self, key: str) -> bool:
        return _boolean(self.get(key), f"{self.where}.{key}")

    def time(self, key: str) -> datetime:
        """An ISO 8601 instant, as the replay makes it: aware, in the rules' timezone."""
        assert self.zone is not None
        return stamp(_instant(self.get(key), f"{self.where}.{key}", self.zone), self.zone)

    def optional_time(self, key: str) -> datetime | None:
        return None if self.get(key) is None else self.time(key)

    def optional_day(self, key: str) -> date | None:
        value = self.get(key)
        return None if value is None else _date(value, f"{self.where}.{key}")


def _line(value: Any, where: str, zone: ZoneInfo) -> BillLine:
    f = _Fields(value, where)
    return BillLine(
        meter=f.string("meter"), source=Source(f.choice("source", SOURCES)),
        quantity=f.decimal("quantity"), unit_price=f.decimal("unit_price"),
        precise_amount=f.decimal("precise_amount"), amount=f.decimal("amount"),
        bracket=f.optional_string("bracket"), pack=f.optional_string("pack"),
        blocks=f.optional_decimal("blocks"),
        period=f.optional_day("period"),
        # Only a price per N units has it (a line without it is priced per unit).
        per=f.optional_decimal("per") if "per" in f.data else None,
        rate=f.optional_decimal("rate") if "rate" in f.data else None,  # a contract's discount
    )


def _alert(value: Any, where: str, zone: ZoneInfo) -> Alert:
    f = _Fields(value, where, zone)
    return Alert(AlertKind(f.choice("kind", ALERT_KINDS)), f.string("meter"), f.string("pack"),
                 f.decimal("size"), f.decimal("remaining"), f.optional_time("time"))


def _prepaid(value: Any, where: str, zone: ZoneInfo) -> PrepaidPurchase:
    f = _Fields(value, where, zone)
    return PrepaidPurchase(f.string("pack"), f.string("meter"), f.decimal("size"),
                           f.decimal("price"), f.time("time"), f.time("expires"),
                           f.absent_or_decimal("list_price"))


def _pack_balance(value: Any, where: str, zone: ZoneInfo) -> PackBalance:
    f = _Fields(value, where, zone)
    return PackBalance(f.string("pack"), f.string("meter"), f.decimal("size"),
                       f.decimal("remaining"), f.time("purchased"), f.time("expires"))


def _refunded(value: Any, where: str, zone: ZoneInfo) -> RefundedPack:
    f = _Fields(value, where, zone)
    amount = f.decimal("amount")
    if amount < 0:
        _fail(f"{where}.amount", f"{format_plain(amount)}: a refund is 0 or more")
    return RefundedPack(f.string("pack"), f.string("meter"), f.decimal("size"), amount,
                        f.time("time"), f.time("purchased"))


def _ordered(value: Any, where: str, zone: ZoneInfo) -> OrderedUnits:
    f = _Fields(value, where, zone)
    return OrderedUnits(f.string("order"), f.string("product"), f.decimal("quantity"),
                        f.string("bracket"), f.optional_decimal("unit_price"),
                        f.decimal("amount"), f.time("time"),
                        f.absent_or_decimal("list_amount"))


def _charge(value: Any, where: str, zone: ZoneInfo) -> SubscriptionCharge:
    f = _Fields(value, where, zone)
    return SubscriptionCharge(
        f.string("subscription"), f.string("plan"), f.decimal("quantity"), f.string("bracket"),
        f.decimal("unit_price"), f.choice("period", ("month", "day")), f.time("start"),
        f.time("end"), f.choice("measure", ("period", "day", "second")), f.decimal("used"),
        f.decimal("of"), f.decimal("precise_amount"), f.decimal("amount"),
        f.optional_string("meter"), f.boolean("fee"))


def _credit_balance(value: Any, where: str, zone: ZoneInfo) -> CreditBalance:
    f = _Fields(value, where, zone)
    return CreditBalance(f.string("id"), f.string("credit"), f.decimal("amount"),
                         f.decimal("paid"), f.decimal("remaining"), f.time("expires"))


def _void(value: Any, where: str, zone: ZoneInfo) -> VoidUnits:
    f = _Fields(value, where, zone)
    return VoidUnits(f.string("pack"), f.string("meter"), f.decimal("size"),
                     f.decimal("quantity"), f.time("time"))


def _rejected(value: Any, where: str, zone: ZoneInfo) -> RejectedUsage:
    f = _Fields(value, where)
    reason = "suspended"
    if "reason" in f.data:  # (only usage past packs that stop service says why)
        reason = f.choice("reason", ("packs exhausted",))
    return RejectedUsage(f.string("meter"), f.string("action"), f.decimal("quantity"),
                         f.integer("entries"), reason)


def _free(value: Any, where: str, zone: ZoneInfo) -> FreeUsage:
    f = _Fields(value, where)
    return FreeUsage(f.string("meter"), f.string("action"), f.decimal("quantity"))


def _ignored(value: Any, where: str, zone: ZoneInfo) -> IgnoredEntry:
    f = _Fields(value, where, zone)
    return IgnoredEntry(f.choice("type", _IGNORED_TYPES), f.string("id"), f.time("time"),
                        f.integer("line"))


def _event(value: Any, where: str, zone: ZoneInfo) -> AccountEvent:
    f = _Fields(value, where, zone)
    return AccountEvent(f.time("time"), f.choice("kind", _EVENT_KINDS),
                        f.choice("status", _STATUSES),
                        f.optional_string("reason"), f.optional_decimal("amount"),
                        f.optional_decimal("balance"), f.boolean("automatic"))


def _settlement(value: Any, where: str, zone: ZoneInfo) -> Settlement:
    f = _Fields(value, where, zone)
    return Settlement(f.time("time"), f.decimal("balance_before"), f.decimal("paid"),
                      f.decimal("balance_after"), f.decimal("arrears"), f.boolean("suspended"))


# --- values ---------------------------------------------------------------------------------

_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def _fail(where: str, message: str) -> NoReturn:
    raise SnapshotError(f"snapshot field `{where}`: {message}")


def _get(data: dict[str, Any], key: str, where: str) -> Any:
    try:
        return data[key]
    except KeyError:
        raise SnapshotError(f"snapshot field `{where + '.' if where else ''}{key}` is "
                            "missing") from None


def _object(value: Any, where: str) -> dict[str, Any]:
    if type(value) is not dict:
        _fail(where, f"expected an object, found {_shown(value)}")
    return value


def _strings(value: Any, where: str) -> list[str]:
    return [_string(item, f"{where}[{i}]") for i, item in enumerate(_array(value, where))]


def _array(value: Any, where: str) -> list[Any]:
    if type(value) is not list:
        _fail(where, f"expected an array, found {_shown(value)}")
    return value


def _string(value: Any, where: str) -> str:
    if type(value) is not str:
        _fail(where, f"expected a string, found {_shown(value)}")
    return value


def _integer(value: Any, where: str) -> int:
    if type(value) is not int or value < 0:
        _fail(where, f"expected a whole number ≥ 0, found {_shown(value)}")
    return value


def _boolean(value: Any, where: str) -> bool:
    if type(value) is not bool:
        _fail(where, f"expected true or false, found {_shown(value)}")
    return value


def _decimal(value: Any, where: str, minimum: int | None = None) -> Decimal:
    if type(value) is not str or not _NUMBER.fullmatch(value):
        _fail(where, f"expected a number written as a string of digits (\"12.50\"), found "
              f"{_shown(value)}")
    number = Decimal(value)
    if minimum is not None and number < minimum:
        _fail(where, f"{value} is negative")
    return number


def _multiple(value: Decimal, step: Decimal) -> bool:
    """Whether `value` is a whole number of `step`s, exactly whatever their size."""
    if not value:
        return True
    digits = max(value.adjusted() - step.adjusted() + 2, 1)
    return decimal.Context(prec=digits).remainder(value, step) == 0


def _quantity(value: Any, where: str) -> Quantity:
    number = _decimal(value, where, minimum=0)
    return int(number) if "." not in value else number


def _date(value: Any, where: str) -> date:
    text = _string(value, where)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        _fail(where, f"expected a date YYYY-MM-DD, found {_shown(text)}")
    _in_range(day.year, text, where)
    return day


def _month(value: Any, where: str) -> tuple[int, int]:
    text = _string(value, where)
    try:
        key = parse_month(text)
    except ValueError:
        _fail(where, f"expected a month YYYY-MM, found {_shown(text)}")
    _in_range(key[0], text, where)
    return key


def _in_range(year: int, text: str, where: str) -> None:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        _fail(where, f"{text} is out of range: times are from {FIRST_YEAR} to {LAST_YEAR}")


def _instant(value: Any, where: str, zone: Any) -> int:
    text = _string(value, where)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        _fail(where, f"expected an ISO 8601 time, found {_shown(text)}")
    if moment.tzinfo is None:
        _fail(where, f"{_shown(text)} has no UTC offset")
    _in_range(moment.year, text, where)
    return instant(moment, zone)


def _shown(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(value: Any) -> str:
    return {list: "an array", str: "a string", int: "a number", float: "a number",
            bool: "true or false", type(None): "null"}.get(type(value), type(value).__name__)


def _listed(names: Any) -> str:
    return ", ".join(f"`{name}`" for name in sorted(names)) or "none"

