"""Every source that pays before postpaid, on one sheet with daily bills: a subscription that
covers a daily-billed meter, a grant issued at the opening, the monthly allowance, a trial
credit, a platform fee, and postpaid on daily ladders (rules/tencent-asr.rules with those
added). Each source is tested alone elsewhere; this holds them together: each unit is drawn
from one source, a credit pays a daily bill's lines when the day closes, and a journal split
and resumed from snapshots bills the same."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

import ratecard
from ratecard.engine.account import Account
from ratecard.engine.bills import Bill
from tests.conftest import RULES

ADDED = ("""
subscription seats "席位" / "Seats", per month, prorated by day, unit "个" / "seat", """
         """maximum 10, covers realtime up to 3600 {
  (0, ∞)  100
}
fee platform "平台费" / "Platform fee" 50 per month
grant welcome "开通赠送" / "Welcome" 10000 once on realtime valid 1 year
credit trial "试用金" / "Trial credit" 50 once on realtime, file valid 3 months
deduct subscriptions, welcome, allowance, packs by expiry, postpaid
""")

JOURNAL: list[dict[str, Any]] = [
    {"time": "2026-11-01T09:00:00+08:00", "type": "open"},
    {"time": "2026-11-02T10:00:00+08:00", "type": "subscribe", "plan": "seats", "quantity": 2,
     "id": "s1"},
    {"time": "2026-11-02T11:00:00+08:00", "type": "usage", "action": "RealtimeRecognition",
     "count": 40000, "id": "u1"},
    {"time": "2026-11-03T11:00:00+08:00", "type": "usage", "action": "RealtimeRecognition",
     "count": 30000, "id": "u2"},
    {"time": "2026-11-04T11:00:00+08:00", "type": "usage", "action": "CreateRecTask",
     "count": 30000, "id": "u3"},
]


@pytest.fixture(scope="module")
def book() -> ratecard.PriceBook:
    text = (RULES / "tencent-asr.rules").read_text(encoding="utf-8")
    deduct = "deduct allowance, packs by expiry, postpaid\n"
    assert deduct in text
    return ratecard.loads(text.replace(deduct, ADDED), "asr-sources.rules")


def rows(bill: Bill) -> list[tuple[str, str, Decimal, Decimal]]:
    return [(line.meter, str(line.source), line.quantity, line.amount) for line in bill.lines]


def test_every_source_pays_in_the_deduction_order(book: ratecard.PriceBook) -> None:
    """November 2026 (realtime is billed per day at 3.2 per hour up to 300 hours a day; its
    free quota is 18,000 seconds a month; the subscription covers 3600 seconds per seat and
    month, so 7,200 for 2 seats):

    11-02: 40,000 s = 7,200 subscription + 10,000 grant + 18,000 allowance + 4,800 postpaid;
      4,800 × 3.2 / 3600 = 4.2666… → 4.27, paid by the trial credit: total 0.00, 45.73 left.
    11-03: 30,000 s postpaid (every earlier source spent): 30,000 × 3.2 / 3600 = 26.666… →
      26.67, paid by the credit: total 0.00, 50 − 4.27 − 26.67 = 19.06 left.
    Month: file 30,000 s within its 36,000 s free quota; the platform fee 50.00; 2 seats ×
      100 × 29/30 days (from 11-02) = 193.333… → 193.33; the credit covers realtime and file
      only, which owe nothing this month: total 243.33, 19.06 left.
    """
    bills = book.bill(JOURNAL)
    assert [(b.day, b.month) for b in bills] == [
        (date(2026, 11, 2), date(2026, 11, 1)), (date(2026, 11, 3), date(2026, 11, 1)),
        (None, date(2026, 11, 1))]
    day2, day3, month = bills
    assert rows(day2) == [
        ("realtime", "allowance", Decimal(18000), Decimal("0.00")),
        ("realtime", "grant", Decimal(10000), Decimal("0.00")),
        ("realtime", "postpaid", Decimal(4800), Decimal("4.27")),
        ("realtime", "credit", Decimal(0), Decimal("-4.27")),
    ]
    assert day2.total == Decimal("0.00")
    assert [(c.paid, c.remaining) for c in day2.credits] == [
        (Decimal("4.27"), Decimal("45.73"))]
    assert rows(day3) == [
        ("realtime", "postpaid", Decimal(30000), Decimal("26.67")),
        ("realtime", "credit", Decimal(0), Decimal("-26.67")),
    ]
    assert day3.total == Decimal("0.00")
    assert [(c.paid, c.remaining) for c in day3.credits] == [
        (Decimal("26.67"), Decimal("19.06"))]
    assert rows(month) == [
        ("file", "allowance", Decimal(30000), Decimal("0.00")),
        ("realtime", "subscription", Decimal(7200), Decimal("0.00")),
        ("platform", "fee", Decimal(1), Decimal("50.00")),
        ("seats", "fee", Decimal(2), Decimal("193.33")),
    ]
    assert month.total == Decimal("243.33")
    assert [(c.paid, c.remaining) for c in month.credits] == [(Decimal(0), Decimal("19.06"))]
    # Each realtime second from exactly one source: 7,200 + 10,000 + 18,000 + 4,800 + 30,000.
    drawn = sum((line.quantity for b in bills for line in b.lines
                 if line.meter == "realtime" and str(line.source) != "credit"), Decimal(0))
    assert drawn == 40000 + 30000


@pytest.mark.parametrize("cut", range(1, len(JOURNAL)))
def test_split_and_resumed_from_a_snapshot_bills_alike(book: ratecard.PriceBook,
                                                       cut: int) -> None:
    """Fed in two pieces with a snapshot (saved as JSON and restored) between them, at every
    cut: the same bills, credit balances included."""
    account = Account(book)
    bills = account.feed(JOURNAL[:cut])
    account = Account.restore(book, json.dumps(account.snapshot()))
    bills += account.feed(JOURNAL[cut:])
    bills += account.close_through("2026-11")
    assert bills == book.bill(JOURNAL)
