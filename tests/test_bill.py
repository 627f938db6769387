"""Monthly bills from account journals: worked cases of the BDA price page, computed by hand."""

from __future__ import annotations

import json
import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ratecard
from ratecard import Bill, UsageError
from ratecard.cli import main
from ratecard.engine.bills import AccountEvent, IgnoredEntry, RejectedUsage, Settlement
from ratecard.engine.pricebook import PriceBook
from ratecard.engine.replay import bill_journal
from tests.conftest import BDA_RULES

JOURNALS = Path(__file__).parent / "journals"
Entry = dict[str, Any]


def use(time: str, action: str, count: int | str | Decimal, entry_id: str | None = None) -> Entry:
    entry: Entry = {"time": time, "type": "usage", "action": action, "count": count}
    if entry_id is not None:
        entry["id"] = entry_id
    return entry


def buy(time: str, meter: str, size: int | str, entry_id: str | None = None) -> Entry:
    entry: Entry = {"time": time, "type": "purchase", "meter": meter, "size": size}
    if entry_id is not None:
        entry["id"] = entry_id
    return entry


def suspend(time: str, reason: str) -> Entry:
    return {"time": time, "type": "suspend", "reason": reason}


def reopen(time: str) -> Entry:
    return {"time": time, "type": "reopen"}


def topup(time: str, amount: str) -> Entry:
    return {"time": time, "type": "topup", "amount": amount}


def lines_of(bill: Bill) -> list[tuple[str, str, Decimal, Decimal, Decimal, str | None]]:
    return [
        (line.meter, line.source, line.quantity, line.unit_price, line.amount, line.pack)
        for line in bill.lines
    ]


def alerts_of(bill: Bill) -> list[tuple[str, str, Decimal, datetime | None]]:
    return [(alert.kind, alert.pack, alert.remaining, alert.time) for alert in bill.alerts]


def by_month(bills: list[Bill]) -> dict[str | None, Bill]:
    """The bills by month, as `YYYY-MM`."""
    return {None if bill.month is None else bill.month.isoformat()[:7]: bill for bill in bills}


at = datetime.fromisoformat  # an instant as a bill holds it, from the text its JSON shows


# --- the worked cases of the issue ---------------------------------------------------------------


def test_worked_1_low_and_exhausted_alerts(bda: PriceBook) -> None:
    """A detection lot of 1万 (18.00) bought 2026-11-01.

    11-02, 9,600 calls: 1,000 from the allowance, 8,600 from the lot; 1,400 left, 14% of
    10,000 < 15% → `low` at that entry. 11-03, 2,000 calls: the allowance is used up; 1,400 from
    the lot → `exhausted` at that entry; 600 postpaid, (0, 300万] at 0.002 = 1.20.
    November: total 1.20; the pack's 18.00 listed apart as prepaid.
    """
    (bill,) = bda.bill(JOURNALS / "worked-1.jsonl")
    assert bill.month == date(2026, 11, 1)
    assert bill.issued == date(2026, 12, 1)
    assert bill.total == Decimal("1.20")
    assert lines_of(bill) == [
        ("detection", "allowance", 1000, 0, Decimal("0.00"), None),
        ("detection", "pack", 10000, 0, Decimal("0.00"), "p-1"),
        ("detection", "postpaid", 600, Decimal("0.002"), Decimal("1.20"), None),
    ]
    assert bill.lines[2].bracket == "(0, 3000000]"
    assert bill.lines[2].precise_amount == Decimal("1.200")
    assert alerts_of(bill) == [
        ("low", "p-1", 1400, at("2026-11-02T10:00:00+08:00")),
        ("exhausted", "p-1", 0, at("2026-11-03T10:00:00+08:00")),
    ]
    assert [(p.pack, p.size, p.price) for p in bill.prepaid] == [("p-1", 10000, Decimal("18.00"))]
    assert bill.prepaid_total == Decimal("18.00")
    assert bill.prepaid[0].expires == at("2027-11-01T00:00:00+08:00")
    assert bill.packs == ()  # nothing left at the month's end


def test_worked_2_unused_units_void_at_expiry(bda: PriceBook) -> None:
    """A segmentation lot of 1万 (88.00) bought 2025-11-15T10:00+08:00 expires
    2026-11-15T10:00+08:00 (one year, exclusive).

    2026-11-02, 5,000 calls: 1,000 allowance + 4,000 from the lot; 6,000 left (60%, no alert).
    2026-11-15T10:00: the lot expires with 6,000 units: void, reported, `expired` alert.
    2026-11-20, 5,000 calls: allowance used, no lot → 5,000 postpaid; bracket (0, 1万] at
    0.01 = 50.00. The journal spans 2025-11 to 2026-11: thirteen bills.
    """
    bills = bda.bill(JOURNALS / "worked-2.jsonl")
    assert [b.month for b in bills][:2] == [date(2025, 11, 1), date(2025, 12, 1)]
    assert len(bills) == 13
    first = bills[0]
    assert (first.total, first.prepaid_total) == (Decimal("0.00"), Decimal("88.00"))
    assert first.packs[0].expires == at("2026-11-15T10:00:00+08:00")
    assert all(b.lines == () and b.total == 0 for b in bills[1:12])
    assert bills[11].packs[0].remaining == 10000  # held, unused, at the end of October
    november = bills[-1]
    assert november.total == Decimal("50.00")
    assert lines_of(november) == [
        ("segmentation", "allowance", 1000, 0, Decimal("0.00"), None),
        ("segmentation", "pack", 4000, 0, Decimal("0.00"), "segmentation:10000#1"),
        ("segmentation", "postpaid", 5000, Decimal("0.01"), Decimal("50.00"), None),
    ]
    assert november.lines[2].bracket == "(0, 10000]"
    assert [(v.pack, v.quantity, v.time) for v in november.void] == [
        ("segmentation:10000#1", 6000, at("2026-11-15T10:00:00+08:00"))]
    assert alerts_of(november) == [
        ("expired", "segmentation:10000#1", 6000, at("2026-11-15T10:00:00+08:00"))]
    assert november.packs == ()


def test_worked_3_lot_expiring_first_is_drawn_first(bda: PriceBook) -> None:
    """Detection lots of 10万 (bought 2026-01-10, expires 2027-01-10) and 1万 (bought
    2026-06-01, expires 2027-06-01).

    07-01, 50,000 calls: 1,000 allowance + 49,000 from the 10万 (51,000 left).
    08-05, 60,000 calls: 1,000 allowance + 51,000 from the 10万 (below 15,000, then 0: `low`
    and `exhausted` at that entry) + 8,000 from the 1万 (2,000 left = 20%: no alert).
    No postpaid: both months total 0.00.
    """
    months = by_month(bda.bill(JOURNALS / "worked-3.jsonl"))
    july, august = months["2026-07"], months["2026-08"]
    assert lines_of(july) == [
        ("detection", "allowance", 1000, 0, Decimal("0.00"), None),
        ("detection", "pack", 49000, 0, Decimal("0.00"), "big"),
    ]
    assert [(p.pack, p.remaining) for p in july.packs] == [("big", 51000), ("small", 10000)]
    assert lines_of(august) == [
        ("detection", "allowance", 1000, 0, Decimal("0.00"), None),
        ("detection", "pack", 51000, 0, Decimal("0.00"), "big"),
        ("detection", "pack", 8000, 0, Decimal("0.00"), "small"),
    ]
    assert alerts_of(august) == [
        ("low", "big", 0, at("2026-08-05T12:00:00+08:00")),
        ("exhausted", "big", 0, at("2026-08-05T12:00:00+08:00")),
    ]
    assert [(p.pack, p.remaining) for p in august.packs] == [("small", 2000)]
    assert july.total == august.total == Decimal("0.00")
    assert months["2026-01"].prepaid_total == Decimal("190.00")


def test_worked_4_out_of_order_and_resent_entries(bda: PriceBook) -> None:
    """The same account, once in time order and once out of order with two entries resent.

    October: lot p1 of 1万 bought; 3,000 calls = 1,000 allowance + 2,000 from p1 (8,000 left).
    November: 9,000 calls = 1,000 allowance + 8,000 from p1 (`low`, `exhausted`); 2,000 calls
    postpaid × 0.002 = 4.00. The resent usage `b` (same instant, written 01:00Z) and purchase
    `p1` are billed once and listed as ignored; otherwise the bills are identical.
    """
    ordered = bda.bill(JOURNALS / "worked-4-sorted.jsonl")
    resent = bda.bill(JOURNALS / "worked-4-resent.jsonl")
    assert [b.total for b in ordered] == [Decimal("0.00"), Decimal("4.00")]
    assert [attrs.evolve(b, ignored=()) for b in resent] == ordered
    assert resent[0].ignored == (
        IgnoredEntry("purchase", "p1", at("2026-10-30T09:00:00+08:00"), 6),)
    assert resent[1].ignored == (IgnoredEntry("usage", "b", at("2026-11-01T09:00:00+08:00"), 5),)
    assert lines_of(ordered[1])[-1] == (
        "detection", "postpaid", 2000, Decimal("0.002"), Decimal("4.00"), None)
    assert len(resent[0].prepaid) == 1


def test_alerts_carry_the_time_of_the_entry_that_crossed(bda: PriceBook) -> None:
    """A lot of 1万 and 120 entries of 100 calls, one a minute from 00:01. Entries 1-10 take
    the allowance; entry 96 brings the lot to 10,000 − 8,600 = 1,400 < 1,500 (`low` at 01:36);
    entry 110 empties it (`exhausted` at 01:50); entries 111-120 are postpaid: 1,000 × 0.002."""
    journal = [buy("2026-11-01T00:00:00+08:00", "detection", "1万")]
    start = datetime(2026, 11, 1)
    for minute in range(1, 121):
        time = (start + timedelta(minutes=minute)).isoformat() + "+08:00"
        journal.append(use(time, "DetectBody", 100))
    (bill,) = bda.bill(journal)
    assert alerts_of(bill) == [
        ("low", "detection:10000#1", 1400, at("2026-11-01T01:36:00+08:00")),
        ("exhausted", "detection:10000#1", 0, at("2026-11-01T01:50:00+08:00")),
    ]
    assert bill.total == Decimal("2.00")


# --- time ------------------------------------------------------------------------------------


def test_months_are_calendar_months_in_the_rules_timezone(bda: PriceBook) -> None:
    """2026-11-30T17:30:00Z is 2026-12-01T01:30 in Asia/Shanghai: December. A time without an
    offset is Shanghai time: 2026-11-30T23:30:00 is November. Each month has its own 1,000
    allowance: 1,500 calls in each → 500 postpaid × 0.002 = 1.00 each."""
    bills = bda.bill([
        use("2026-11-30T23:30:00", "DetectBody", 1500),
        use("2026-11-30T17:30:00Z", "DetectBody", 1500),
    ])
    assert [(b.month, b.total) for b in bills] == [
        (date(2026, 11, 1), Decimal("1.00")), (date(2026, 12, 1), Decimal("1.00"))]


def test_allowance_is_not_rolled_over(bda: PriceBook) -> None:
    """November uses 500 of its 1,000; December's 1,500 calls get 1,000, not 1,500: 500
    postpaid × 0.002 = 1.00."""
    bills = bda.bill([use("2026-11-05", "SearchTrace", 500),
                      use("2026-12-05", "SearchTrace", 1500)])
    assert lines_of(bills[1]) == [
        ("search", "allowance", 1000, 0, Decimal("0.00"), None),
        ("search", "postpaid", 500, Decimal("0.002"), Decimal("1.00"), None),
    ]


def test_pack_bought_on_february_29_expires_on_february_28(bda: PriceBook) -> None:
    """A segmentation lot bought 2028-02-29T12:00+08:00 expires 2029-02-28T12:00+08:00.

    At 11:59:59 that day 1,500 calls take 1,000 allowance + 500 from the lot; at 12:00:00 the
    lot has expired (9,500 void) and 100 calls are postpaid × 0.01 = 1.00.
    """
    bills = bda.bill([
        buy("2028-02-29T12:00:00+08:00", "segmentation", 10000),
        use("2029-02-28T11:59:59+08:00", "SegmentPortraitPic", 1500),
        use("2029-02-28T12:00:00+08:00", "SegmentPortraitPic", 100),
    ])
    assert bills[0].prepaid[0].expires == at("2029-02-28T12:00:00+08:00")
    last = bills[-1]
    assert last.month == date(2029, 2, 1)
    assert [(v.quantity, v.time) for v in last.void] == [(9500, at("2029-02-28T12:00:00+08:00"))]
    assert last.total == Decimal("1.00")


def test_every_month_of_the_span_has_a_bill(bda: PriceBook) -> None:
    """January and March have usage; February has none but still has its (empty) bill."""
    bills = bda.bill([use("2026-01-10", "DetectBody", 10), use("2026-03-10", "DetectBody", 10)])
    assert [(b.month, b.issued, b.lines) for b in bills][1] == (
        date(2026, 2, 1), date(2026, 3, 1), ())


def test_month_selects_one_bill(bda: PriceBook) -> None:
    journal = [use("2026-01-10", "DetectBody", 1500), use("2026-03-10", "DetectBody", 10)]
    bill = bda.bill_month(journal, "2026-01")
    assert isinstance(bill, Bill)
    assert bill.total == Decimal("1.00")
    with pytest.raises(UsageError, match=r"no bill for 2026-04: the journal runs from 2026-01 "
                       r"to 2026-03"):
        bda.bill_month(journal, "2026-04")
    with pytest.raises(UsageError, match="must be written YYYY-MM"):
        bda.bill_month(journal, "2026-13")
    with pytest.raises(UsageError, match="the journal has no entries"):
        bda.bill_month([], "2026-01")
    assert bda.bill([]) == []


# --- postpaid ----------------------------------------------------------------------------------


def test_volume_bracket_is_chosen_by_the_whole_month(bda: PriceBook) -> None:
    """Two entries of 2,000,000 detection calls: 4,000,000 − 1,000 allowance = 3,999,000
    postpaid, in (300万, 1500万]: every unit at 0.0018 = 7198.20 (neither entry alone would
    leave the first bracket)."""
    bill = bda.bill_month([use("2026-05-01", "DetectBody", 2_000_000),
                     use("2026-05-20", "DetectBodyJoints", 2_000_000)], "2026-05")
    assert lines_of(bill)[-1] == (
        "detection", "postpaid", 3_999_000, Decimal("0.0018"), Decimal("7198.20"), None)
    assert bill.total == Decimal("7198.20")


def test_free_actions_are_recorded_not_billed(bda: PriceBook) -> None:
    """CreateGroup is free: listed with its count; CreatePerson 1,200 → 200 postpaid = 0.40."""
    bill = bda.bill_month([use("2026-05-01", "CreateGroup", 50),
                           use("2026-05-02", "CreatePerson", 1200),
                           use("2026-05-03", "CreateGroup", 25)], "2026-05")
    assert [(f.meter, f.action, f.quantity) for f in bill.free] == [("library", "CreateGroup", 75)]
    assert bill.total == Decimal("0.40")


def test_rounded_quantities_take_decimal_counts() -> None:
    """AWS Lambda rounds GB-seconds up to 0.000001: 300,000.25 + 200,000.1234567 → 200,000.123457
    = 500,000.373457; 400,000 free; 100,000.373457 postpaid in (0, 6B] (by total) at
    0.0000166667 = 1.6666762242957819 → 1.67. Two requests stay in the allowance."""
    book = ratecard.load(BDA_RULES.parent / "aws-lambda.rules")
    bill = book.bill_month([
        use("2026-11-02T00:00:00Z", "DurationGBs", "300000.25"),
        use("2026-11-03T00:00:00Z", "DurationGBs", Decimal("200000.1234567")),
        use("2026-11-03T00:00:00Z", "Invoke", 2),
    ], "2026-11")
    postpaid = bill.lines[-1]
    assert (postpaid.quantity, postpaid.precise_amount, postpaid.amount) == (
        Decimal("100000.373457"), Decimal("1.6666762242957819"), Decimal("1.67"))
    assert bill.total == Decimal("1.67")


def test_a_month_reaching_contact_sales_is_an_error() -> None:
    """Geocoding has no published price above 500,000 requests a month: billing 600,000 in
    one month is an error naming the month, not a number."""
    book = ratecard.load(BDA_RULES.parent / "google-geocoding.rules")
    with pytest.raises(ratecard.ContactSalesError,
                       match=r"^2026-11: meter `geocoding`: 100000 units reach the bracket "
                       r"\(500000, ∞\), which has no published price \(contact sales\)$"):
        book.bill([use("2026-11-02", "Geocode", 300_000), use("2026-11-03", "Geocode", 300_000)])


# --- the account: suspension, balance ----------------------------------------------------------


def test_suspended_mid_month_then_reopened(bda: PriceBook) -> None:
    """300 calls use 300 of the allowance; suspended for violation on 11-05, 500 calls on
    11-06 are rejected (not billed); reopened on 11-10, the allowance's remaining 700 is usable
    again: 1,200 calls = 700 allowance + 500 postpaid × 0.002 = 1.00."""
    bill = bda.bill_month([
        use("2026-11-02", "DetectBody", 300),
        suspend("2026-11-05", "violation"),
        use("2026-11-06", "DetectBody", 500),
        reopen("2026-11-10"),
        use("2026-11-12", "DetectBody", 1200),
    ], "2026-11")
    assert lines_of(bill) == [
        ("detection", "allowance", 1000, 0, Decimal("0.00"), None),
        ("detection", "postpaid", 500, Decimal("0.002"), Decimal("1.00"), None),
    ]
    assert bill.rejected == (RejectedUsage("detection", "DetectBody", Decimal(500), 1),)
    assert [(e.kind, e.status, e.reason) for e in bill.events] == [
        ("suspend", "suspended", "violation"), ("reopen", "active", None)]


def test_no_allowance_while_suspended_it_resumes_on_reopening(bda: PriceBook) -> None:
    """Suspended on 10-20 (arrears), the account starts November without an allowance: 400
    calls on 11-03 are rejected. Reopened on 11-10, November's allowance is issued then:
    1,500 calls = 1,000 allowance + 500 postpaid × 0.002 = 1.00."""
    bills = by_month(bda.bill([
        suspend("2026-10-20", "arrears"),
        use("2026-11-03", "DetectBody", 400),
        reopen("2026-11-10"),
        use("2026-11-11", "DetectBody", 1500),
    ]))
    november = bills["2026-11"]
    assert november.total == Decimal("1.00")
    assert lines_of(november)[0] == ("detection", "allowance", 1000, 0, Decimal("0.00"), None)
    assert november.rejected == (RejectedUsage("detection", "DetectBody", Decimal(400), 1),)


def test_suspended_all_month_gets_no_allowance(bda: PriceBook) -> None:
    """Suspended from 10-20 to 12-03: November's calls are all rejected and it has no lines;
    December's allowance is issued at the reopening: 1,500 calls → 500 postpaid = 1.00."""
    bills = by_month(bda.bill([
        suspend("2026-10-20", "violation"),
        use("2026-11-03", "DetectBody", 400),
        use("2026-11-04", "CreateGroup", 3),
        reopen("2026-12-03"),
        use("2026-12-04", "DetectBody", 1500),
    ]))
    assert bills["2026-11"].lines == ()
    assert [(r.action, r.quantity) for r in bills["2026-11"].rejected] == [
        ("DetectBody", 400), ("CreateGroup", 3)]
    assert bills["2026-12"].total == Decimal("1.00")


def test_balance_settles_bills_and_arrears_suspend_until_paid(bda: PriceBook) -> None:
    """Top-up 1.00 on 11-01. November: 2,000 calls = 1,000 allowance + 1,000 × 0.002 = 2.00.

    Issued 12-01 00:00: 1.00 paid from the balance, −1.00 left: suspended for arrears, so
    December has no allowance yet and 100 calls on 12-02 are rejected. Top-up 0.50 on 12-05:
    −0.50, still suspended. Top-up 2.00 on 12-06: 1.50, reopened automatically and December's
    allowance issued: 1,200 calls = 1,000 allowance + 200 × 0.002 = 0.40, settled on 01-01
    from 1.50, leaving 1.10.
    """
    november, december = bda.bill([
        topup("2026-11-01T00:00:00+08:00", "1.00"),
        use("2026-11-10", "DetectBody", 2000),
        use("2026-12-02", "DetectBody", 100),
        topup("2026-12-05", "0.50"),
        topup("2026-12-06", "2.00"),
        use("2026-12-07", "DetectBody", 1200),
    ])
    assert november.total == Decimal("2.00")
    assert november.settlement == Settlement(
        at("2026-12-01T00:00:00+08:00"), Decimal("1.00"), Decimal("1.00"), Decimal("-1.00"),
        Decimal("1.00"), True)
    assert december.rejected == (RejectedUsage("detection", "DetectBody", Decimal(100), 1),)
    assert december.total == Decimal("0.40")
    assert december.settlement == Settlement(
        at("2027-01-01T00:00:00+08:00"), Decimal("1.50"), Decimal("0.40"), Decimal("1.10"),
        Decimal("0"), False)
    assert [(e.kind, e.status, e.reason, e.amount, e.balance, e.automatic)
            for e in december.events] == [
        ("suspend", "suspended", "arrears", None, Decimal("-1.00"), True),
        ("topup", "suspended", "arrears", Decimal("0.50"), Decimal("-0.50"), False),
        ("topup", "active", None, Decimal("2.00"), Decimal("1.50"), False),
        ("reopen", "active", None, None, Decimal("1.50"), True),
    ]


def test_reopen_does_not_lift_unpaid_arrears(bda: PriceBook) -> None:
    """In debt since 12-01 (bill 2.00, no money) and suspended for violation on 12-02: the
    reopen entry of 12-03 lifts the violation, but the account stays suspended for arrears
    until the top-up of 12-04 pays the debt."""
    bills = bda.bill([
        topup("2026-11-01", "0.01"),
        use("2026-11-10", "DetectBody", 2000),
        suspend("2026-12-02", "violation"),
        reopen("2026-12-03"),
        use("2026-12-03T12:00", "DetectBody", 5),
        topup("2026-12-04", "5.00"),
        use("2026-12-05", "DetectBody", 7),
    ])
    december = bills[1]
    assert [(e.kind, e.status, e.reason) for e in december.events] == [
        ("suspend", "suspended", "arrears"),
        ("suspend", "suspended", "violation"),
        ("reopen", "suspended", "arrears"),
        ("topup", "active", None),
        ("reopen", "active", None),
    ]
    assert [(r.quantity, r.entries) for r in december.rejected] == [(5, 1)]
    assert lines_of(december) == [("detection", "allowance", 7, 0, Decimal("0.00"), None)]


def test_without_a_top_up_bills_are_not_settled_from_a_balance(bda: PriceBook) -> None:
    """No top-up: the account keeps no balance; a bill of 2.00 is issued but not settled and
    the account is not suspended (December's calls are billed)."""
    bills = bda.bill([use("2026-11-10", "DetectBody", 2000), use("2026-12-10", "DetectBody", 2000)])
    assert [(b.total, b.settlement) for b in bills] == [
        (Decimal("2.00"), None), (Decimal("2.00"), None)]


def test_issued_day_later_in_the_month_settles_then(bda: PriceBook) -> None:
    """Rules issuing bills on day 3: November's 2.00 settles on 12-03, after the top-up of
    12-02 — so the account is never in arrears."""
    text = BDA_RULES.read_text(encoding="utf-8").replace("issued on day 1", "issued on day 3")
    book = ratecard.loads(text, "day3.rules")
    november, _ = book.bill([
        topup("2026-11-01", "1.00"),
        use("2026-11-10", "DetectBody", 2000),
        topup("2026-12-02", "5.00"),
        use("2026-12-05", "DetectBody", 1),
    ])
    assert november.issued == date(2026, 12, 3)
    assert november.settlement is not None
    assert (november.settlement.time, november.settlement.balance_after) == (
        at("2026-12-03T00:00:00+08:00"), Decimal("4.00"))
    assert not november.settlement.suspended


def test_a_purchase_seen_before_is_ignored(bda: PriceBook) -> None:
    bill = bda.bill_month([buy("2026-05-01", "search", "10万", "order-7"),
                     buy("2026-05-02", "search", "10万", "order-7")], "2026-05")
    assert [p.pack for p in bill.prepaid] == ["order-7"]
    assert bill.prepaid_total == Decimal("190.00")
    assert [(i.type, i.id, i.line) for i in bill.ignored] == [("purchase", "order-7", 2)]


def test_typed_entries(bda: PriceBook) -> None:
    """The typed entries bill like their dicts: 1,500 calls − 1,000 allowance = 500 × 0.002."""
    bill = bda.bill_month([
        ratecard.Topup("2026-05-01", "10"),
        ratecard.Usage("2026-05-02T10:00:00+08:00", "DetectBody", 1500, id="x"),
        ratecard.Suspend("2026-05-03", "violation"),
        ratecard.Reopen("2026-05-04"),
        ratecard.Purchase("2026-05-05", "detection", "1万"),
    ], "2026-05")
    assert bill.total == Decimal("1.00")
    assert [e.kind for e in bill.events] == ["topup", "suspend", "reopen"]
    assert bill.prepaid_total == Decimal("18.00")


# --- the JSON form ---------------------------------------------------------------------------


def test_json_form_money_as_strings(bda: PriceBook) -> None:
    (bill,) = bda.bill(JOURNALS / "worked-1.jsonl")
    data = json.loads(json.dumps(bill.to_dict()))
    assert list(data) == [
        "currency", "month", "issued", "total", "lines", "alerts", "prepaid", "prepaid_total",
        "packs", "void", "rejected", "free", "ignored", "account"]
    assert (data["currency"], data["total"], data["prepaid_total"]) == ("CNY", "1.20", "18.00")
    assert data["lines"][2] == {
        "meter": "detection", "source": "postpaid", "quantity": "600", "unit_price": "0.002",
        "amount": "1.20", "precise_amount": "1.200", "bracket": "(0, 3000000]",
        "bracket_bounds": {"lo": "0", "hi": "3000000", "lo_closed": False, "hi_closed": True},
        "pack": None, "blocks": None, "period": None}
    assert data["alerts"][0] == {
        "kind": "low", "meter": "detection", "pack": "p-1", "size": "10000",
        "remaining": "1400", "time": "2026-11-02T10:00:00+08:00"}
    assert data["prepaid"][0]["price"] == "18.00"
    assert data["account"] == {"events": [], "settlement": None}


def test_json_form_of_account_events() -> None:
    event = AccountEvent(at("2026-12-01T00:00:00+08:00"), "suspend", "suspended", "arrears",
                         balance=Decimal("-1.00"), automatic=True)
    assert event.to_dict() == {
        "time": "2026-12-01T00:00:00+08:00", "kind": "suspend", "status": "suspended",
        "reason": "arrears", "amount": None, "balance": "-1.00", "automatic": True}


def test_quote_json_is_unchanged(bda: PriceBook) -> None:
    """A quote is not a monthly bill: its JSON keeps DESIGN.md's four keys."""
    assert list(bda.quote({"DetectBody": 5}).to_dict()) == ["currency", "total", "lines", "alerts"]


# --- properties ----------------------------------------------------------------------------------

# BDA scaled down (allowance 100, smallest pack 1,000) so that random journals cross a lot's
# thresholds often.
SMALL_RULES = BDA_RULES.read_text(encoding="utf-8").replace(
    "allowance 1000 per month", "allowance 100 per month").replace(
    "size          1万", "size          1000")
ACTIONS = ("DetectBody", "DetectBodyJoints", "SegmentPortraitPic") * 3 + ("SearchTrace",
                                                                          "CreateGroup")
METERS = ("detection", "segmentation")


@st.composite
def journals(draw: st.DrawFn) -> list[Entry]:
    """Journals over three months with distinct times (so that any shuffle has one time order),
    resent ids, purchases, suspensions, reopenings and small top-ups."""
    minutes = draw(st.lists(st.integers(1, 92 * 24 * 60), min_size=12, max_size=60, unique=True))
    start = datetime(2026, 10, 1)
    entries: list[Entry] = []
    if draw(st.booleans()):
        entries.append(buy("2026-10-01T00:00:00+08:00", draw(st.sampled_from(METERS)), 1000))
    kinds = ["usage"] * 16 + ["purchase"] * 3 + ["suspend", "reopen", "reopen", "topup"]
    for minute in minutes:
        time = (start + timedelta(minutes=minute)).isoformat() + "+08:00"
        kind = draw(st.sampled_from(kinds))
        entry_id = draw(st.none() | st.sampled_from(["a", "b", "c", "d", "e", "f"]))
        if kind == "usage":
            action = draw(st.sampled_from(ACTIONS))
            # small counts land close to a lot's thresholds; large ones cross several at once
            count = draw(st.integers(0, 40) | st.integers(0, 3000))
            entries.append(use(time, action, count, entry_id))
        elif kind == "purchase":
            entries.append(buy(time, draw(st.sampled_from(METERS)), 1000, entry_id))
        elif kind == "suspend":
            entries.append(suspend(time, draw(st.sampled_from(["arrears", "violation"]))))
        elif kind == "reopen":
            entries.append(reopen(time))
        else:
            entries.append(topup(time, str(Decimal(draw(st.integers(1, 3000))) / 100)))
    return entries


def comparable(bills: list[Bill]) -> list[dict[str, Any]]:
    """Bills as data, without where in the file an ignored entry was (the order may differ)."""
    data = [bill.to_dict() for bill in bills]
    for bill in data:
        for ignored in bill["ignored"]:
            del ignored["line"]
    return data


@pytest.fixture(scope="module")
def small() -> PriceBook:
    return ratecard.loads(SMALL_RULES, "small.rules")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(journal=journals(), seed=st.integers(0, 2**32 - 1))
def test_billing_invariants(small: PriceBook, journal: list[Entry], seed: int) -> None:
    """Every recorded unit is paid by the allowance, a pack or postpaid, or rejected; each total
    is the sum of its rounded lines; every pack unit is drawn, void or still held; a shuffled
    journal and a replay drawing entry by entry give the same bills."""
    bda = small
    bills = bda.bill(journal)
    in_order = sorted(journal, key=lambda e: datetime.fromisoformat(e["time"]))
    seen: set[tuple[str, str]] = set()
    recorded: dict[str, Decimal] = {}
    owner = {a: plan.name for plan in bda.meters for a in plan.actions}
    duplicates = 0
    for entry in in_order:
        if "id" in entry:
            key = (entry["type"], entry["id"])
            duplicates += key in seen
            if key in seen:
                continue
            seen.add(key)
        if entry["type"] == "usage" and entry["action"] in owner:
            meter = owner[entry["action"]]
            recorded[meter] = recorded.get(meter, Decimal(0)) + entry["count"]
    billed: dict[str, Decimal] = {}
    for bill in bills:
        assert bill.total == sum((line.amount for line in bill.lines), Decimal(0))
        for line in bill.lines:
            billed[line.meter] = billed.get(line.meter, Decimal(0)) + line.quantity
        for rejected in bill.rejected:
            if rejected.action in owner:
                billed[rejected.meter] = billed.get(rejected.meter, Decimal(0)) + rejected.quantity
    assert {m: q for m, q in billed.items() if q} == {m: q for m, q in recorded.items() if q}
    assert sum(len(bill.ignored) for bill in bills) == duplicates

    drawn: dict[str, Decimal] = {}
    for bill in bills:
        for line in bill.lines:
            if line.pack is not None:
                drawn[line.pack] = drawn.get(line.pack, Decimal(0)) + line.quantity
        for void in bill.void:
            drawn[void.pack] = drawn.get(void.pack, Decimal(0)) + void.quantity
    for held in bills[-1].packs:
        drawn[held.pack] = drawn.get(held.pack, Decimal(0)) + held.remaining
    bought = {p.pack: p.size for bill in bills for p in bill.prepaid}
    assert {pack: drawn.get(pack, Decimal(0)) for pack in bought} == bought

    shuffled = journal[:]
    random.Random(seed).shuffle(shuffled)
    assert comparable(bda.bill(shuffled)) == comparable(bills)
    assert bill_journal(bda, journal, aggregate=False) == bills


# A shared allowance: who gets its last units depends on how the two meters' entries interleave.
SHARED_RULES = SMALL_RULES.replace(
    "allowance 100 per month on every meter while active",
    "allowance 100 per month on library, search while active\n"
    "allowance 500 per month on detection, segmentation shared while active")


def test_shared_allowance_goes_to_entries_in_time_order() -> None:
    """Detection and segmentation share 500 free units. 300 detection, then 300 segmentation
    (200 free, 100 postpaid × 0.01 = 1.00), then 300 detection (postpaid × 0.002 = 0.60)."""
    book = ratecard.loads(SHARED_RULES, "shared.rules")
    bill = book.bill_month([use("2026-11-02", "DetectBody", 300),
                      use("2026-11-03", "SegmentPortraitPic", 300),
                      use("2026-11-04", "DetectBody", 300)], "2026-11")
    assert lines_of(bill) == [
        ("segmentation", "allowance", 200, 0, Decimal("0.00"), None),
        ("segmentation", "postpaid", 100, Decimal("0.01"), Decimal("1.00"), None),
        ("detection", "allowance", 300, 0, Decimal("0.00"), None),
        ("detection", "postpaid", 300, Decimal("0.002"), Decimal("0.60"), None),
    ]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(journal=journals())
def test_shared_allowance_replay_matches_entry_by_entry(journal: list[Entry]) -> None:
    book = ratecard.loads(SHARED_RULES, "shared.rules")
    assert bill_journal(book, journal) == bill_journal(book, journal, aggregate=False)


# --- the command line ------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_bill_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "bill", str(BDA_RULES), "--journal",
                         str(JOURNALS / "worked-1.jsonl"))
    assert (code, err) == (0, "")
    assert out.startswith("2026-11, issued 2026-12-01\n人体分析 / Body Analysis (CNY)\n")
    assert "detection  postpaid        600  (0, 3000000]       0.002    1.20\n" in out
    assert "total CNY 1.20\n" in out
    assert "alert: pack p-1 low (1,400 of 10,000 left) at 2026-11-02T10:00:00+08:00\n" in out
    assert "prepaid total CNY 18.00 (already paid, not in the total)\n" in out


def test_cli_bill_text_lists_what_a_month_has_apart(capsys: pytest.CaptureFixture[str]) -> None:
    """The balance journal of `test_balance_settles_bills_...`, with a free action, a resent id
    and a pack: each appears under its month."""
    code, out, _ = run(capsys, "bill", str(BDA_RULES), "--journal",
                       str(JOURNALS / "account.jsonl"))
    november, december = out.split("\n\n2026-12, issued 2027-01-01\n")
    assert code == 0
    assert "free: CreateGroup 20\n" in november
    assert november.endswith(
        "settled 2026-12-01T00:00:00+08:00: paid 1.00 from the balance, balance -1.00, "
        "arrears 1.00: account suspended for arrears")
    assert december.splitlines()[-9:] == [
        "prepaid total CNY 190.00 (already paid, not in the total)",
        "rejected while suspended: DetectBody 100 (1 entry)",
        "ignored: usage id `x` seen before (line 5)",
        "held at month end: pack search:100000#1 100,000 of 100,000 left, "
        "expires 2027-12-08T00:00:00+08:00",
        "account: 2026-12-01T00:00:00+08:00 suspend (arrears) automatically, now suspended, "
        "balance -1.00",
        "account: 2026-12-05T00:00:00+08:00 topup 0.50 (arrears), now suspended, balance -0.50",
        "account: 2026-12-06T00:00:00+08:00 topup 2.00, now active, balance 1.50",
        "account: 2026-12-06T00:00:00+08:00 reopen automatically, now active, balance 1.50",
        "settled 2027-01-01T00:00:00+08:00: paid 0.40 from the balance, balance 1.10",
    ]


def test_cli_bill_json_every_month(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "bill", str(BDA_RULES), "--journal",
                       str(JOURNALS / "worked-2.jsonl"), "--json")
    assert code == 0
    data = json.loads(out)
    assert list(data) == ["schema", "bills"]
    assert data["schema"] == "ratecard.bills/1"
    assert [b["month"] for b in data["bills"]][::12] == ["2025-11", "2026-11"]
    assert data["bills"][-1]["total"] == "50.00"
    assert data["bills"][-1]["void"][0]["quantity"] == "6000"


def test_cli_bill_json_one_month(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "bill", str(BDA_RULES), "--journal",
                       str(JOURNALS / "worked-4-resent.jsonl"), "--month", "2026-11", "--json")
    assert code == 0
    data = json.loads(out)
    # One month: that bill's object (DESIGN.md's keys and the journal's), its shape versioned.
    assert list(data)[:4] == ["schema", "currency", "month", "issued"]
    assert data["schema"] == "ratecard.bill/1"
    assert (data["month"], data["total"], data["ignored"][0]["id"]) == ("2026-11", "4.00", "b")


def test_cli_bill_csv(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "usage.csv"
    path.write_text("time,action,count\n2026-11-02,DetectBody,1500\n", encoding="utf-8")
    code, out, _ = run(capsys, "bill", str(BDA_RULES), "--journal", str(path), "--json")
    assert (code, json.loads(out)["bills"][0]["total"]) == (0, "1.00")


def test_cli_bad_journal_exit_2_nothing_on_stdout(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text(
        '{"time": "2026-11-02", "type": "usage", "action": "DetectBody", "count": 5}\n'
        '{"time": "2026-11-03", "type": "refund", "meter": "detection", "size": "1万"}\n',
        encoding="utf-8")
    code, out, err = run(capsys, "bill", str(BDA_RULES), "--journal", str(path))
    assert (code, out) == (2, "")
    assert err == (f"ratecard: error: {path}:2: field `type`: a refund cannot be billed: prepaid "
                   "packs are non-refundable (rules `bda`: `packs valid 1 year, no refund, "
                   "no freeze`)\n")
    code, out, err = run(capsys, "bill", str(BDA_RULES), "--journal", str(path), "--skip-invalid",
                         "--json")
    assert code == 0
    assert json.loads(out)["bills"][0]["lines"][0]["quantity"] == "5"
    assert err.splitlines() == [
        f"ratecard: skipped {path}:2: field `type`: a refund cannot be billed: prepaid packs are "
        "non-refundable (rules `bda`: `packs valid 1 year, no refund, no freeze`)",
        "ratecard: skipped 1 invalid journal entry",
    ]


@pytest.mark.parametrize(("argv", "message"), [
    (["--journal", "nowhere.jsonl"], "ratecard: error: nowhere.jsonl: no such file\n"),
    (["--journal", str(JOURNALS / "worked-1.jsonl"), "--month", "11/2026"],
     "ratecard: error: month `11/2026` must be written YYYY-MM, e.g. 2026-11\n"),
    (["--journal", str(JOURNALS / "worked-1.jsonl"), "--month", "2027-01"],
     "ratecard: error: no bill for 2027-01: the journal runs from 2026-11 to 2026-11\n"),
])
def test_cli_bill_usage_errors(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    code, out, err = run(capsys, "bill", str(BDA_RULES), *argv)
    assert (code, out, err) == (2, "", message)


def test_cli_bill_rules_with_errors_exit_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.rules"
    bad.write_text(BDA_RULES.read_text(encoding="utf-8").replace(
        "on detection, library, search", "on detecton, library, search"), encoding="utf-8")
    code, out, err = run(capsys, "bill", str(bad), "--journal", str(JOURNALS / "worked-1.jsonl"))
    assert (code, out) == (1, "")
    assert "unknown meter `detecton`" in err
