"""`bill per month, skip empty`: no bill for a month in which nothing is owed or reported."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

import ratecard
from ratecard.engine.account import Account
from ratecard.render import render

RULES = """
rules s "示例" / "Example"
currency CNY, rounding half_up 0.01, timezone Asia/Shanghai
meter calls "调用" / "Calls" counts Call free Ping
allowance 100 per month on calls
packs valid 1 year {
  size   1000
  calls  8
}
deduct allowance, packs by expiry, postpaid
ladder volume by postpaid per month on calls {
  (0, ∞)  0.01
}
bill per month, skip empty, settle from balance
"""

JOURNAL: list[dict[str, Any]] = [
    {"time": "2026-09-01T09:00:00+08:00", "type": "topup", "amount": "100"},
    {"time": "2026-09-05T10:00:00+08:00", "type": "usage", "action": "Call", "count": 500},
    # 2026-10: nothing at all.
    {"time": "2026-11-05T10:00:00+08:00", "type": "usage", "action": "Call", "count": 50},
    # 2026-12: nothing. 2027-01: a pack bought, nothing used.
    {"time": "2027-01-10T10:00:00+08:00", "type": "purchase", "meter": "calls", "size": 1000},
    # 2027-02: free actions only. 2027-03: nothing.
    {"time": "2027-02-05T10:00:00+08:00", "type": "usage", "action": "Ping", "count": 7},
    {"time": "2027-04-05T10:00:00+08:00", "type": "usage", "action": "Call", "count": 1300},
]


def test_months_with_nothing_owed_or_reported_have_no_bill() -> None:
    """2026-09: 500 calls, 100 free, 400 × 0.01 = 4.00 (settled: balance 100 → 96).
    2026-10: no entry → no bill. 2026-11: 50 calls, all free: an allowance line, total 0.00 →
    billed (it has a line). 2026-12: no bill. 2027-01: a pack bought (prepaid 8): billed, total
    0.00. 2027-02: 7 free `Ping`s, reported → billed, 0.00. 2027-03: no bill.
    2027-04: 1300 calls: 100 free, 1000 from the pack, 200 × 0.01 = 2.00 (balance 96 → 94)."""
    bills = ratecard.loads(RULES).bill(JOURNAL)
    assert [(b.to_dict()["month"], b.total) for b in bills] == [
        ("2026-09", Decimal("4.00")),
        ("2026-11", Decimal("0.00")),
        ("2027-01", Decimal("0.00")),
        ("2027-02", Decimal("0.00")),
        ("2027-04", Decimal("2.00")),
    ]
    assert [b.settlement.balance_after for b in bills if b.settlement is not None] == [
        Decimal(96), Decimal(96), Decimal(96), Decimal(96), Decimal(94)]
    assert [(x.source, x.quantity) for x in bills[1].lines] == [("allowance", Decimal(50))]
    assert [p.size for p in bills[2].prepaid] == [Decimal(1000)]
    assert [(f.action, f.quantity) for f in bills[3].free] == [("Ping", Decimal(7))]


def test_without_the_option_every_month_is_billed() -> None:
    bills = ratecard.loads(RULES.replace(", skip empty", "")).bill(JOURNAL)
    assert [b.to_dict()["month"] for b in bills] == [
        "2026-09", "2026-10", "2026-11", "2026-12", "2027-01", "2027-02", "2027-03", "2027-04"]
    empty = [b for b in bills if b.empty]
    assert [b.to_dict()["month"] for b in empty] == ["2026-10", "2026-12", "2027-03"]


def test_asking_for_a_skipped_month_says_why() -> None:
    book = ratecard.loads(RULES)
    with pytest.raises(ratecard.UsageError) as raised:
        book.bill_month(JOURNAL, "2026-10")
    assert str(raised.value) == ("no bill for 2026-10: nothing was owed or reported that "
                                 "month, and the rules say `skip empty`")
    assert book.bill_month(JOURNAL, "2026-11").total == Decimal("0.00")


def test_an_account_fed_in_pieces_and_restored_issues_the_same_bills() -> None:
    """Split after each entry, snapshot, restore, resume: the same five bills as one replay."""
    book = ratecard.loads(RULES)
    expected = book.bill(JOURNAL)
    for cut in range(1, len(JOURNAL)):
        account = Account(book)
        issued = account.feed(JOURNAL[:cut])
        saved = json.dumps(account.snapshot())
        resumed = Account.restore(book, saved)
        issued += resumed.feed(JOURNAL[cut:])
        month = resumed.month
        assert month is not None
        issued += resumed.close_through(month)
        assert issued == expected, cut
        assert resumed.bills_issued == len(expected)


def test_the_sheet_says_so() -> None:
    book = ratecard.loads(RULES)
    assert "当月没有任何费用时，不出账单。" in render(book, "md", "zh").text
    assert "A month in which nothing is owed has no bill." in render(book, "md", "en").text
    plain = ratecard.loads(RULES.replace(", skip empty", ""))
    assert "nothing is owed" not in render(plain, "md", "en").text
