"""Snapshots edited by hand with their checksum computed again (issue 13, item 15): every
invariant of an account's state is checked on restore, each refusal a SnapshotError naming the
field. Each case edits one real snapshot into a state no journal leads to."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

import ratecard
from ratecard import Account, SnapshotError
from ratecard.engine.pricebook import PriceBook
from ratecard.engine.snapshot import checksum
from tests.conftest import BDA_RULES
from tests.test_daily import RULES as DAILY_CAPPED

JOURNALS = Path(__file__).parent / "journals"
Entry = dict[str, Any]
Document = dict[str, Any]
DELETE = object()

BDA_TEXT = BDA_RULES.read_text(encoding="utf-8")
# The daily ladders of tests/test_daily.py (sms priced day by day, mms by month), uncapped.
DAILY_RULES = DAILY_CAPPED.replace("  maximum 100\n", "")


def read(name: str) -> list[Entry]:
    path = JOURNALS / name
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def use(time: str, action: str, count: int) -> Entry:
    return {"time": time, "type": "usage", "action": action, "count": count}


def buy(time: str, meter: str, size: str, entry_id: str) -> Entry:
    return {"time": time, "type": "purchase", "meter": meter, "size": size, "id": entry_id}


def _books() -> dict[str, PriceBook]:
    bda = ratecard.load(BDA_RULES)
    return {
        "bda": bda,
        "one-day packs": ratecard.loads(BDA_TEXT.replace("packs valid 1 year",
                                                         "packs valid 1 day")),
        "issued on day 5": ratecard.loads(BDA_TEXT.replace("issued on day 1",
                                                           "issued on day 5")),
        "daily": ratecard.loads(DAILY_RULES),
    }


BOOKS = _books()


def _snapshot(book: str, journal: list[Entry]) -> tuple[str, Document]:
    account = Account(BOOKS[book])
    account.feed(journal)
    return book, account.snapshot()


# Real snapshots, each taken after feeding a journal (the book's name, the document).
BASES: dict[str, tuple[str, Document]] = {
    # Worked case 1 after 11-02: lot p-1 (1万) with 1,400 left and its `low` alert, the
    # month's allowance of 1,000 drawn, 8,600 from the lot; nothing pending.
    "worked": _snapshot("bda", read("worked-1.jsonl")[:2]),
    # The account journal up to 12-02: November's 2.00 settled from 1.00, balance −1.00,
    # suspended for arrears on 12-01; 100 calls rejected; December's allowance not granted.
    "debt": _snapshot("bda", read("account.jsonl")[:4]),
    # The whole account journal: top-ups, reopened, 1,200 calls pending, a search lot, the
    # resent entry `x` ignored (line 5).
    "account": _snapshot("bda", read("account.jsonl")),
    # Packs valid one day: bought 11-01 00:00, 1,000 drawn on 11-01, expired 11-02 00:00
    # with 9,000 void; the journal has reached 11-03 10:00.
    "expired": _snapshot("one-day packs", [
        buy("2026-11-01T00:00:00+08:00", "detection", "1万", "p-1"),
        use("2026-11-01T10:00:00+08:00", "DetectBody", 2000),
        use("2026-11-03T10:00:00+08:00", "DetectBody", 1)]),
    # Bills issued on day 5: November's bill (2.00) closed, waiting for 12-05.
    "closed": _snapshot("issued on day 5", [use("2026-11-10", "DetectBody", 2000),
                                            use("2026-12-02", "DetectBody", 1)]),
    # Daily ladders: 1,100 messages on 11-02, 800 on 11-03 (00:30 in Shanghai).
    "daily": _snapshot("daily", [use("2026-11-02T09:00:00+08:00", "Send", 600),
                                 use("2026-11-02T20:00:00+08:00", "Send", 500),
                                 use("2026-11-02T16:30:00Z", "Send", 800)]),
    # Two lots of detection held: a (1万, bought 11-01) is drawn before b (10万, 11-05).
    "two lots": _snapshot("bda", [buy("2026-11-01", "detection", "1万", "a"),
                                  buy("2026-11-05", "detection", "10万", "b"),
                                  use("2026-11-06", "DetectBody", 500)]),
}


def edited(document: Document, changes: dict[str, Any]) -> Document:
    """The document with each `a.b.0.c` path set to its value (or deleted), resealed."""
    changed = copy.deepcopy(document)
    for path, value in changes.items():
        target: Any = changed
        keys: list[Any] = [int(k) if k.isdigit() else k for k in path.split(".")]
        for key in keys[:-1]:
            target = target[key]
        if value is DELETE:
            del target[keys[-1]]
        else:
            target[keys[-1]] = value
    changed["checksum"] = checksum(changed)
    return changed


def event(time: str, kind: str, status: str, amount: str | None = None) -> dict[str, Any]:
    return {"time": time, "kind": kind, "status": status, "reason": None, "amount": amount,
            "balance": None, "automatic": False}


def test_every_base_snapshot_restores_and_bills_on() -> None:
    """The real snapshots the cases edit are accepted as they are (so each refusal below is
    the edit's), and restored they give the bills of the accounts they were taken from."""
    for name, (book, document) in BASES.items():
        restored = Account.restore(BOOKS[book], json.dumps(document))
        assert restored.snapshot() == document, name
    november = Account.restore(BOOKS["bda"], BASES["worked"][1])
    november.feed(read("worked-1.jsonl")[2:])
    (bill,) = november.close_through("2026-11")
    assert bill == BOOKS["bda"].bill_month(read("worked-1.jsonl"), "2026-11")


CASES: list[tuple[str, dict[str, Any], str]] = [
    # --- the allowance: granted once a month, left + drawn = granted --------------------------
    ("worked", {"allowance.left.detection": "1000000000"},
     "`allowance.left.detection`: 1000000000 left of an allowance of 1000 a month"),
    ("worked", {"allowance.left.detection": "500"},
     "`allowance.left.detection`: 500 left and 1000 drawn this month (`month.allowance`) make "
     "1500, not the 1000 granted a month"),
    ("worked", {"allowance.granted": False},
     "`allowance.left.segmentation`: 1000 left, but this month's allowance is not granted yet "
     "(`allowance.granted` is false)"),
    ("worked", {"month.allowance.detection": "1000.5"},
     "`month.allowance.detection`: 1000.5 is not a whole number of units: `detection` counts "
     "whole units"),
    # --- lots: whole units, a pack on sale, expiry = purchase + validity, alert flags -----------
    ("worked", {"lots.0.remaining": "1399.5"},
     "`lots[0].remaining`: 1399.5 units left: `detection` counts whole units"),
    ("worked", {"lots.0.expires": "2026-10-01T00:00:00+08:00"},
     "`lots[0].expires`: 2026-10-01T00:00:00+08:00 is not 1 year after the purchase at "
     "2026-11-01T00:00:00+08:00 (2027-11-01T00:00:00+08:00)"),
    ("worked", {"lots.0.expires": "2027-12-01T00:00:00+08:00"},
     "`lots[0].expires`: 2027-12-01T00:00:00+08:00 is not 1 year after the purchase at "
     "2026-11-01T00:00:00+08:00 (2027-11-01T00:00:00+08:00)"),
    ("worked", {"lots.0.size": "12345"},
     "`lots[0].size`: `detection` sells no pack of 12345 units (its sizes: 10000, 100000, "
     "1000000, 10000000)"),
    ("worked", {"lots.0.price": "17"},
     "`lots[0].price`: 17, but the pack of 10000 `detection` costs 18"),
    ("worked", {"lots.0.remaining": "9000"},
     "`lots[0].alerted_low`: true, but 9000 of 10000 left is not below 15%"),
    ("worked", {"lots.0.alerted_exhausted": True},
     "`lots[0].alerted_exhausted`: true, but 1400 units are left"),
    ("worked", {"lots.0.number": 0}, "`lots[0].number`: 0: purchases are numbered from 1"),
    ("worked", {"lots.0.purchased": "2026-11-05T00:00:00+08:00",
                "lots.0.expires": "2027-11-05T00:00:00+08:00"},
     "`lots[0].purchased`: 2026-11-05T00:00:00+08:00 is after the latest instant reached "
     "(2026-11-02T10:00:00+08:00)"),
    ("worked", {"held": {}},
     "`lots[0]`: lot `p-1` has 1400 units left and has not expired, but is not held "
     "(`held.detection`)"),
    ("worked", {"held": {}, "lots.0.number": None},
     "`lots[0].number`: null (an expired lot), but the lot expires 2027-11-01T00:00:00+08:00, "
     "after the latest instant reached"),
    ("worked", {"lots.0.remaining": "0"},
     "`held.detection[0]`: lot `p-1` is held with no units left"),
    ("worked", {"lots.0.id": "zzz"},
     "`lots[0].id`: `zzz` is neither the id of a purchase seen (`seen.purchase`) nor "
     "`detection:10000#1`, the id of purchase 1"),
    ("two lots", {"held.detection": [1, 0]},
     "`held.detection`: the lots are not in the order they are drawn (expiry, then purchase)"),
    ("expired", {"lots.0.number": 1},
     "`lots[0].expires`: 2026-11-02T00:00:00+08:00 is not after the latest instant reached "
     "(2026-11-03T10:00:00+08:00): the lot would have expired"),
    ("expired", {"lots.0.remaining": "5"},
     "`lots[0].remaining`: 5 units left in an expired lot (its units are void at expiry)"),
    # --- the month's draws from lots ------------------------------------------------------------
    ("worked", {"month.packs.0.quantity": "9000"},
     "`month.packs[0].quantity`: 9000 units drawn this month from lot `p-1`, which has given "
     "8600 in all"),
    ("worked", {"month.packs": [{"meter": "detection", "lot": 0, "quantity": "1"}] * 2},
     "`month.packs[1].lot`: lot `p-1` is listed twice"),
    # --- pending usage ---------------------------------------------------------------------------
    ("worked", {"pending.detection": "1400"},
     "`pending.detection`: 1400 units pending, but the meter draws as soon as 1400 are pending "
     "(its next alert)"),
    ("worked", {"pending.detection": "2.5"},
     "`pending.detection`: 2.5 is not a whole number of units: `detection` counts whole units"),
    ("debt", {"pending.detection": "5"},
     "`pending.detection`: 5 units pending while the account is suspended (usage is rejected "
     "then, not recorded)"),
    # --- status and balance --------------------------------------------------------------------
    ("debt", {"account.balance": "5.00"},
     "`account.in_debt`: true (suspended for arrears) with a balance of 5.00: only a negative "
     "balance is in arrears"),
    ("debt", {"account.balance": None},
     "`account.in_debt`: true (suspended for arrears) with no balance: only a negative balance "
     "is in arrears"),
    ("debt", {"account.in_debt": False},
     "`account.in_debt`: false with a balance of -1.00: a negative balance suspends the account "
     "for arrears"),
    ("debt", {"account.balance": "-1.005"},
     "`account.balance`: -1.005 CNY is not a whole number of 0.01"),
    ("debt", {"month.events.0.status": "active"},
     "`month.events[0].status`: active, but the account is suspended now (`account`)"),
    ("worked", {"account.suspensions": ["violation", "violation"]},
     "`account.suspensions`: a reason is listed twice"),
    # --- events, alerts and other records: known kinds, in the month, in order ------------------
    ("debt", {"month.events.0.kind": "refund"},
     '`month.events[0].kind`: "refund" is not one of "suspend", "reopen", "topup"'),
    ("debt", {"month.events.0.status": "closed"},
     '`month.events[0].status`: "closed" is not one of "active", "suspended"'),
    ("debt", {"month.events.0.amount": "1.00"},
     "`month.events[0].amount`: a top-up has an amount, and only a top-up"),
    ("debt", {"month.events.0.time": "2026-11-30T00:00:00+08:00"},
     "`month.events[0].time`: 2026-11-30T00:00:00+08:00 is not in 2026-12 up to the latest "
     "instant reached (2026-12-02T00:00:00+08:00)"),
    ("account", {"month.events.1.amount": "-0.50"},
     "`month.events[1].amount`: -0.50: a top-up is positive"),
    ("account", {"month.events.1.amount": "0.505"},
     "`month.events[1].amount`: 0.505 is not a whole number of 0.01"),
    ("account", {"month.events.1.time": "2026-12-07T00:00:00+08:00"},
     "`month.events[2].time`: 2026-12-06T00:00:00+08:00 is earlier than the event before it"),
    ("worked", {"month.events": [event("2026-11-01T00:00:00+08:00", "refund", "active")]},
     '`month.events[0].kind`: "refund" is not one of "suspend", "reopen", "topup"'),
    ("worked", {"month.alerts.0.kind": "warning"},
     '`month.alerts[0].kind`: "warning" is not one of "low", "exhausted", "expired"'),
    ("worked", {"month.alerts.0.time": "2026-11-02T11:00:00+08:00"},
     "`month.alerts[0].time`: 2026-11-02T11:00:00+08:00 is not in 2026-11 up to the latest "
     "instant reached (2026-11-02T10:00:00+08:00)"),
    ("worked", {"month.alerts.0.meter": "detecton"},
     '`month.alerts[0].meter`: "detecton" is not a meter of rules `bda`'),
    ("worked", {"month.prepaid.0.price": "19.00"},
     "`month.prepaid[0].price`: 19.00, but the pack of 10000 `detection` costs 18"),
    ("worked", {"month.prepaid.0.expires": "2027-10-01T00:00:00+08:00"},
     "`month.prepaid[0].expires`: 2027-10-01T00:00:00+08:00 is not 1 year after the purchase "
     "at 2026-11-01T00:00:00+08:00 (2027-11-01T00:00:00+08:00)"),
    ("expired", {"month.void.0.quantity": "10001"},
     "`month.void[0].quantity`: 10001 units void of a lot of 10000"),
    ("debt", {"month.rejected.0.entries": 0},
     "`month.rejected[0].entries`: 0: usage rejected comes from at least one entry"),
    ("account", {"month.ignored.0.id": "y"},
     "`month.ignored[0].id`: `y` is not a usage id seen (`seen.usage`): only a resend is "
     "ignored"),
    ("account", {"month.ignored.0.line": 10},
     "`month.ignored[0].line`: 10 is not one of the 9 entries taken"),
    ("account", {"month.ignored.0.type": "topup"},
     '`month.ignored[0].type`: "topup" is not one of "usage", "purchase", "refund", "order", '
     '"subscribe", "cancel", "credit", "request"'),
    # --- times in range, months and days consistent -------------------------------------------
    ("worked", {"last": "9999-11-02T10:00:00+08:00"},
     "`last`: 9999-11-02T10:00:00+08:00 is out of range: times are from 1900 to 9000"),
    ("worked", {"month.month": "0999-11"},
     "`month.month`: 0999-11 is out of range: times are from 1900 to 9000"),
    ("worked", {"month.day": "2026-11-02"},
     '`month.day`: "2026-11-02", but the rules price no meter by day'),
    ("daily", {"month.day": "2026-12-01"}, "`month.day`: 2026-12-01 is not a day of 2026-11"),
    ("daily", {"month.day": "2026-11-04"},
     "`month.day`: 2026-11-04, but the latest instant reached is 2026-11-03T00:30:00+08:00"),
    ("daily", {"month.days.0.day": "2026-11-05"},
     "`month.days[0].day`: 2026-11-05 is not a day of 2026-11 up to the current day "
     "(2026-11-03)"),
    ("daily", {"month.days.0.meter": "mms"}, "`month.days[0].meter`: `mms` is not priced by day"),
    ("daily", {"month.days.0.total": "1"},
     "`month.days[0].total`: 1 units in all, fewer than the 1100 from the allowance and "
     "postpaid"),
    # --- bills closed, waiting for their issue day ---------------------------------------------
    ("closed", {"closed.0.issued": "2026-12-01"},
     "`closed[0].issued`: 2026-12-01, but the bill of 2026-11 is issued on 2026-12-05"),
    ("closed", {"closed.0.month": "2026-12"},
     "`closed[0].month`: 2026-12: closed bills are of successive months before the month under "
     "construction (2026-12)"),
    ("closed", {"closed.0.total": "2.005"},
     "`closed[0].total`: 2.005 is not an amount billed (≥ 0, a whole number of 0.01)"),
    ("closed", {"closed.0.total": "3.00"},
     "`closed[0].total`: 3.00, but the bill's lines add up to 2.00"),
    ("closed", {"closed.0.lines.0.meter": "detecton"},
     '`closed[0].lines[0].meter`: "detecton" is not a meter of rules `bda`'),
    ("closed", {"closed.0.currency": "USD"},
     "`closed[0].currency`: USD, but the rules bill in CNY"),
    ("closed", {"last": "2026-12-06T00:00:00+08:00"},
     "`closed[0].issued`: 2026-12-05 is reached already (the latest instant is "
     "2026-12-06T00:00:00+08:00): the bill would have been issued"),
    # --- counters, ids, and an account that has taken no entry --------------------------------
    ("worked", {"entries": 0}, "`purchases`: more purchases (1) than entries taken (0)"),
    ("worked", {"entries": 1}, "`seen`: more ids seen (2) than entries taken (1)"),
    ("worked", {"seen.usage": ["u-1", "u-1"]}, "`seen.usage`: an id is listed twice"),
    ("worked", {"month": None},
     "`lots`: the account has taken no entry yet (`month` is null), so it can hold nothing here"),
]


@pytest.mark.parametrize(("base", "changes", "message"), CASES,
                         ids=[f"{base}:{','.join(changes)}" for base, changes, _ in CASES])
def test_an_impossible_state_with_a_valid_checksum_is_refused(
    base: str, changes: dict[str, Any], message: str
) -> None:
    """The snapshot edited and its checksum computed again: Account.restore refuses it with
    one SnapshotError naming the field."""
    book, document = BASES[base]
    with pytest.raises(SnapshotError) as caught:
        Account.restore(BOOKS[book], edited(document, changes))
    assert str(caught.value) == f"snapshot field {message}"


def test_the_limits_themselves_are_accepted() -> None:
    """At the edge of each check the state is possible and restored: 1,399 units pending
    against a trigger of 1,400, nothing left of the allowance, a lot drawn to its last unit
    this month, an account that has only been told the time."""
    book, document = BASES["worked"]
    Account.restore(BOOKS[book], edited(document, {"pending.detection": "1399"}))
    Account.restore(BOOKS[book], edited(document, {"month.packs.0.quantity": "8600"}))
    fresh = Account(BOOKS["bda"])
    fresh.advance("2026-11-05")
    restored = Account.restore(BOOKS["bda"], edited(fresh.snapshot(), {}))
    assert (restored.month, restored.last_time) == (None, "2026-11-05T00:00:00+08:00")


def test_an_impossible_state_is_refused_from_the_command_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`bill --state` with a state file edited and resealed: exit 2, one line naming the
    state file and the field, the file left as it was."""
    from ratecard.cli import main

    _, document = BASES["debt"]
    state = tmp_path / "account.json"
    text = json.dumps(edited(document, {"account.balance": "5.00"}))
    state.write_text(text, encoding="utf-8")
    empty = tmp_path / "empty.jsonl"
    empty.touch()
    code = main(["bill", str(BDA_RULES), "--journal", str(empty), "--state", str(state)])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == (f"ratecard: error: {state}: snapshot field `account.in_debt`: true "
                   "(suspended for arrears) with a balance of 5.00: only a negative balance is "
                   "in arrears\n")
    assert state.read_text(encoding="utf-8") == text


def test_restore_is_exact_under_a_caller_s_decimal_context() -> None:
    """The checks compute in ratecard's own context: under a caller's `prec=2`, 1 left + 1,000
    drawn is still 1,001, not the grant of 1,000 (at two digits it would round to 1.0E+3), and
    the snapshot as taken is still accepted."""
    import decimal

    book, document = BASES["worked"]
    with decimal.localcontext(prec=2):
        assert Account.restore(BOOKS[book], document).snapshot() == document
        with pytest.raises(SnapshotError) as caught:
            Account.restore(BOOKS[book], edited(document, {"allowance.left.detection": "1"}))
    assert str(caught.value) == (
        "snapshot field `allowance.left.detection`: 1 left and 1000 drawn this month "
        "(`month.allowance`) make 1001, not the 1000 granted a month")
