"""An account kept open between entries: what a billing service feeds its journal to.

`PriceBook.bill` replays a whole journal at once. A service instead receives an account's
entries as they happen, bills months as they end, and restarts now and then; it needs the
replay's state to outlive the process. `Account` is that state: `feed` applies entries as they
arrive, `advance` and `close_through` tell it that time has passed, each returns the bills that
became due, and `snapshot` / `Account.restore` save and resume it as a JSON document (see
`snapshot`). Fed the same journal in any number of pieces, with any number of restarts between
them, an account issues exactly the bills `PriceBook.bill` gives for the whole journal.
"""

from __future__ import annotations

import contextlib
import decimal
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import attrs

from ratecard.engine.bills import Bill
from ratecard.engine.clock import (
    TimeError,
    checked_instant,
    day_start,
    format_instant,
    issue_date,
    month_label,
    parse_month,
    parse_time,
)
from ratecard.engine.journal import (
    CANCEL,
    CREDIT,
    OPEN,
    ORDER,
    PURCHASE,
    REFUND,
    SUBSCRIBE,
    USAGE,
    JournalError,
    JournalInput,
    OnInvalid,
    Record,
    open_journal,
)
from ratecard.engine.money import CONTEXT
from ratecard.engine.pricebook import PriceBook
from ratecard.engine.replay import NEVER, Replay
from ratecard.engine.requests import is_part
from ratecard.engine.snapshot import Restored, SnapshotError, dump, load
from ratecard.errors import UsageError


class LateEntryError(JournalError):
    """An entry earlier than the latest instant the account has reached.

    The account has billed past it, so it cannot be fitted in; `time` is the entry's time and
    `reached` the account's latest instant, both ISO 8601.
    """

    def __init__(self, path: str | None, line: int, time: str, reached: str) -> None:
        self.time = time
        self.reached = reached
        super().__init__(
            path, line, "time",
            f"{time} is earlier than {reached}, the latest instant this account has reached: "
            "an account takes its journal in time order (bill the whole journal again with "
            "PriceBook.bill to take a late entry into account)",
        )


class AccountError(UsageError):
    """An account that an earlier error left unusable: restore it from a snapshot."""


class Account:
    """One account's billing state between entries: feed it the journal as entries arrive,
    save `snapshot()` after each feed, and `Account.restore` it after a restart.

    Each call returns the bills that became due during it: a month's bill is issued on the
    rules' issue day after the month ends, once the account has reached that instant (an entry
    at or after it, `advance`, or `close_through`). An account is not thread-safe: give each
    account to one worker at a time (the PriceBook it uses may be shared freely).
    """

    def __init__(self, book: PriceBook) -> None:
        self.book = book
        self._replay = Replay(book)
        self._entries = 0
        self._issued = 0
        self._broken: BaseException | None = None

    @classmethod
    def restore(cls, book: PriceBook, snapshot: Mapping[str, Any] | str | bytes) -> Account:
        """The account saved in `snapshot` (a dict or its JSON text), under the rules it was
        taken under; SnapshotError naming the problem if it cannot be restored."""
        restored = load(book, snapshot)
        return cls._from(book, restored)

    @classmethod
    def _from(cls, book: PriceBook, restored: Restored) -> Account:
        account = cls(book)
        account._replay = restored.replay
        account._entries = restored.entries
        account._issued = restored.issued
        return account

    # --- what the account has reached ------------------------------------------------------

    @property
    def entries(self) -> int:
        """Entries fed so far (valid or not): the next entry is number `entries + 1`."""
        return self._entries

    @property
    def bills_issued(self) -> int:
        """Bills issued so far, over every feed since the account was opened."""
        return self._issued

    @property
    def month(self) -> str | None:
        """The month being built, `YYYY-MM` (None before the first entry)."""
        return month_label(self._replay.month.key) if self._replay.started else None

    @property
    def last_time(self) -> str | None:
        """The latest instant the account has reached, ISO 8601 (None before anything)."""
        last = self._replay.last
        return None if last == -NEVER else format_instant(last, self._replay.zone)

    # --- feeding ---------------------------------------------------------------------------

    def feed(self, entries: JournalInput, *, on_invalid: OnInvalid | None = None) -> list[Bill]:
        """Apply entries (dicts, typed entries, or a journal file's path); return the bills
        that became due.

        The entries may come in any order among themselves but none may be earlier than
        `last_time`: such a late entry is a `LateEntryError`, except a resent usage or
        purchase whose id the account has seen, which is ignored as any resend is (listed on
        the month being built). The whole batch is read and checked before any of it is
        applied, so a bad entry (JournalError) leaves the account as it was; with
        `on_invalid`, bad and late entries are passed to it and the rest applied.
        """
        self._check()
        if isinstance(entries, Mapping) or attrs.has(type(entries)):
            raise UsageError("feed takes a list of entries, not one entry: write feed([entry])")
        replay = self._replay
        source = open_journal(self.book, entries, on_invalid, reread=False)
        try:
            with decimal.localcontext(CONTEXT):  # checked as `PriceBook.bill` checks them
                records = list(source.records())
        finally:
            source.close()
        base = self._entries
        if base:
            records = [(m, base + line, k, n, c, i) for m, line, k, n, c, i in records]
        records.sort()  # in time order, ties in the journal's order (one pass if already so)
        resent: list[Record] = []
        start = 0
        reached = replay.last
        while start < len(records) and records[start][0] < reached:
            record = records[start]
            start += 1
            moment, line, kind, _, _, entry_id = record
            if kind == OPEN and moment <= replay.opened_at:
                continue  # the account's opening resent: it opened then, or before
            seen = (replay.seen_usage if kind == USAGE else replay.seen_purchases
                    if kind in (PURCHASE, ORDER, SUBSCRIBE, CREDIT) else replay.refunded_packs()
                    if kind == REFUND else replay.cancelled if kind == CANCEL else ())
            if entry_id and entry_id in seen:
                resent.append(record)
                continue
            error = LateEntryError(source.path, line - base, format_instant(moment, replay.zone),
                                   format_instant(reached, replay.zone))
            if on_invalid is None:
                raise error
            on_invalid(error)
        todo = records[start:] if start else records
        if on_invalid is None and any(record[2] in (REFUND, CANCEL) for record in todo):
            # A refund or a cancel is checked against the account's state: try the batch on a
            # copy first, so that a refused one leaves the account as it was.
            trial = load(self.book, self.snapshot()).replay
            trial.path, trial.line_base = source.path, base
            with decimal.localcontext(CONTEXT):
                trial._consume(todo)
        replay.path, replay.line_base, replay.on_invalid = source.path, base, on_invalid
        with self._applying():
            listed = 0  # (a resent request's parts share its line: listed once)
            for moment, line, kind, name, _, entry_id in resent:
                assert entry_id is not None
                if line == listed:
                    continue
                listed = line
                replay._ignore(("request" if is_part(name) else "usage") if kind == USAGE
                               else "purchase" if kind == PURCHASE
                               else "order" if kind == ORDER else "subscribe"
                               if kind == SUBSCRIBE else "cancel" if kind == CANCEL
                               else "credit" if kind == CREDIT
                               else "refund", entry_id, moment, line)
            replay._consume(todo)
        replay.on_invalid = None
        self._entries = base + source.positions
        return self._take()

    def advance(self, time: str | datetime) -> list[Bill]:
        """Tell the account its journal is complete up to `time` (ISO 8601 or a datetime):
        handle what happens by then (months end, bills are issued and settled, lots expire)
        and return the bills that became due. Later entries may not be earlier than `time`;
        a time the account has already reached changes nothing."""
        self._check()
        zone = self._replay.zone
        if not isinstance(time, str | datetime):
            raise UsageError(f"a time is an ISO 8601 string such as 2026-12-01T00:00:00+08:00 "
                             f"or a datetime, not {type(time).__name__}")
        try:
            moment = (parse_time(time, zone) if isinstance(time, str)
                      else checked_instant(time, zone))
        except TimeError as exc:
            raise UsageError(str(exc)) from None
        return self._advance(moment)

    def close_through(self, month: str) -> list[Bill]:
        """Tell the account its journal is complete through `month` (`YYYY-MM`) and the issue
        of its bill: close it and every month before it, issue and settle their bills, and
        return the bills that became due. `close_through(account.month)` after the last entry
        gives the bills `PriceBook.bill` gives for the whole journal."""
        self._check()
        try:
            key = parse_month(month)
        except TimeError as exc:
            raise UsageError(str(exc)) from None
        issue = day_start(issue_date(key, self.book.billing.issued_day), self._replay.zone)
        return self._advance(issue)

    def preview(self) -> Bill | None:
        """The bill of the month being built, as it stands: its lines so far, not issued or
        settled (a lot that expires later in the month is not in it yet; the meters billed
        per day are on their days' bills, not here). The account itself does not change.
        None before the first entry."""
        self._check()
        if not self._replay.started:
            return None
        copy = load(self.book, self.snapshot()).replay
        with decimal.localcontext(CONTEXT):
            copy._flush_all()
            return copy._close().bill

    # --- saving ----------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """The account's state as a JSON-ready dict (strings, numbers, booleans, lists): save it
        with `json.dumps` and resume with `Account.restore(book, saved)`."""
        self._check()
        return dump(self._replay, entries=self._entries, issued=self._issued)

    # --- inside ----------------------------------------------------------------------------

    def _advance(self, moment: int) -> list[Bill]:
        replay = self._replay
        if moment <= replay.last:
            return []
        if replay.started:
            with self._applying():
                replay._advance(moment)
        replay.last = moment
        return self._take()

    @contextlib.contextmanager
    def _applying(self) -> Iterator[None]:
        """Apply a change in billing's decimal context. An error on the way may leave the
        account half-changed, so it is marked unusable rather than trusted."""
        try:
            with decimal.localcontext(CONTEXT):
                yield
        except BaseException as exc:
            self._broken = exc
            raise

    def _take(self) -> list[Bill]:
        issued = self._replay.bills
        self._replay.bills = []
        self._issued += len(issued)
        return issued

    def _check(self) -> None:
        if self._broken is not None:
            raise AccountError(
                f"this account stopped at an error and cannot go on: {self._broken}; restore it "
                "from a snapshot taken before") from None


__all__ = ["Account", "AccountError", "LateEntryError", "SnapshotError"]
