"""Daily ladders: each day of the rules' timezone is priced on its own; bills stay monthly."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import ratecard

RULES = """
rules sms "短信" / "SMS"
currency CNY, rounding half_up 0.01, timezone Asia/Shanghai
meter sms "短信" / "Messages" unit "条" / "message" counts Send
meter mms "彩信" / "MMS" unit "条" / "message" counts SendMms
allowance 100 per month on sms
deduct allowance, postpaid
ladder volume by total per day on sms {
  (0, 1000]   0.05
  (1000, ∞)   0.04
  maximum 100
}
ladder volume by total per month on mms {
  (0, ∞)   0.10
}
"""


def test_each_day_priced_on_its_own() -> None:
    """November 2026, Asia/Shanghai.

    11-02: 600 + 500 = 1,100 messages → by total in (1000, ∞): the month's 100 free first,
    1,000 postpaid × 0.04 = 40.00.
    11-03 (16:30Z on 11-02 is 00:30 on 11-03 in Shanghai): 800 → (0, 1000] × 0.05 = 40.00.
    11-04: 3,000 → 3,000 × 0.04 = 120.00, capped at 100 → a −20.00 maximum line.
    A monthly ladder beside it: mms 10 × 0.10 = 1.00 for the month.
    Total 40.00 + 40.00 + 120.00 − 20.00 + 1.00 = 181.00.
    """
    book = ratecard.loads(RULES)
    journal = [
        {"time": "2026-11-02T09:00:00+08:00", "type": "usage", "action": "Send", "count": 600},
        {"time": "2026-11-02T20:00:00+08:00", "type": "usage", "action": "Send", "count": 500},
        {"time": "2026-11-02T16:30:00Z", "type": "usage", "action": "Send", "count": 800},
        {"time": "2026-11-04T12:00:00+08:00", "type": "usage", "action": "SendMms", "count": 10},
        {"time": "2026-11-04T12:00:00+08:00", "type": "usage", "action": "Send", "count": 3000},
    ]
    bill = book.bill_month(journal, "2026-11")
    postpaid = [
        (line.meter, line.period, line.source, line.quantity, line.amount)
        for line in bill.lines if line.source != "allowance"
    ]
    assert postpaid == [
        ("sms", date(2026, 11, 2), "postpaid", 1000, Decimal("40.00")),
        ("sms", date(2026, 11, 3), "postpaid", 800, Decimal("40.00")),
        ("sms", date(2026, 11, 4), "postpaid", 3000, Decimal("120.00")),
        ("sms", date(2026, 11, 4), "maximum", 0, Decimal("-20.00")),
        ("mms", None, "postpaid", 10, Decimal("1.00")),
    ]
    assert bill.total == Decimal("181.00")
    assert bill.to_dict()["lines"][1]["period"] == "2026-11-02"


def test_days_do_not_leak_across_months() -> None:
    """11-30 23:00 and 12-01 01:00 (Shanghai) are two days of two months: each bill has one."""
    book = ratecard.loads(RULES)
    journal = [
        {"time": "2026-11-30T23:00:00+08:00", "type": "usage", "action": "Send", "count": 300},
        {"time": "2026-12-01T01:00:00+08:00", "type": "usage", "action": "Send", "count": 300},
    ]
    november, december = book.bill(journal)
    assert [(line.period, line.quantity) for line in november.lines if line.period] == [
        (date(2026, 11, 30), 200)]
    assert [(line.period, line.quantity) for line in december.lines if line.period] == [
        (date(2026, 12, 1), 200)]
    assert (november.total, december.total) == (Decimal("10.00"), Decimal("10.00"))


def test_quote_prices_totals_as_one_day() -> None:
    """A quote has totals, not days: 1,100 by total → (1000, ∞) × 0.04 on 1,000 postpaid."""
    book = ratecard.loads(RULES)
    assert book.quote({"Send": 1100}).total == Decimal("40.00")
