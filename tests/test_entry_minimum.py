"""`quantity at least N per entry`: a minimum billed quantity per entry (Anthropic's code
execution: 5 minutes per execution, against a monthly free allowance of hours)."""

from __future__ import annotations

from decimal import Decimal

import pytest

import ratecard
from ratecard import Account, UsageError

RULES = """\
rules ce "代码执行" / "Code execution"
currency USD, rounding exact, timezone UTC
meter code_execution "代码执行" / "Code execution"
  unit "秒" / "second"
  counts code_execution
  quantity at least 300 per entry
  amount rounded half_up to 0.000001
meter sandbox "沙箱" / "Sandbox"
  unit "秒" / "second"
  quantity at least 60 per entry
request run { quantity sandbox_seconds into sandbox }
allowance 3600 per month on code_execution
price code_execution 0.05 per 3600
price sandbox 0.36 per 3600
deduct allowance, postpaid
"""


@pytest.fixture(scope="module")
def book() -> ratecard.PriceBook:
    return ratecard.loads(RULES, "ce.rules")


def _run(time: str, seconds: int) -> dict[str, object]:
    return {"time": time, "type": "usage", "action": "code_execution", "count": seconds}


def test_short_entries_bill_the_minimum(book: ratecard.PriceBook) -> None:
    """Executions of 120 s, 0 s, 300 s, 3,000 s and 1,800 s: 120 bills 300 (the 5-minute
    minimum), 0 is no execution and bills nothing, the others their own: 300 + 300 + 3,000 +
    1,800 = 5,400 s; 3,600 free (one hour), 1,800 × 0.05 / 3,600 = 0.025."""
    (bill,) = book.bill([_run("2026-11-02T00:00:00Z", 120), _run("2026-11-02T01:00:00Z", 0),
                         _run("2026-11-02T02:00:00Z", 300), _run("2026-11-02T03:00:00Z", 3000),
                         _run("2026-11-02T04:00:00Z", 1800)])
    assert [(line.source, line.quantity, line.amount) for line in bill.lines] == [
        ("allowance", Decimal(3600), Decimal(0)),
        ("postpaid", Decimal(1800), Decimal("0.025")),
    ]


def test_request_parts_bill_the_minimum_too(book: ratecard.PriceBook) -> None:
    """Two runs of 10 s and 90 s: 60 (minimum) + 90 = 150 s × 0.36 / 3,600 = 0.015."""
    runs = [{"time": "2026-11-02T00:00:00Z", "type": "request", "action": "run",
             "quantities": {"sandbox_seconds": s}} for s in (10, 90)]
    (bill,) = book.bill(runs)
    assert [(line.quantity, line.amount) for line in bill.lines] == [
        (Decimal(150), Decimal("0.015"))]
    assert book.quote_requests(runs).total == Decimal("0.015")


def test_feed_and_typed_entries_agree(book: ratecard.PriceBook) -> None:
    entries = [_run("2026-11-02T00:00:00Z", 120), _run("2026-11-03T00:00:00Z", 4000)]
    account = Account(book)
    account.feed(entries[:1])
    account.feed(entries[1:])
    (fed,) = account.close_through("2026-11")
    typed = [ratecard.Usage(str(e["time"]), "code_execution", int(str(e["count"])))
             for e in entries]
    (billed,) = book.bill(typed)
    assert fed.to_dict() == billed.to_dict()
    assert billed.lines[-1].quantity == Decimal(700)  # 300 + 4,000 - 3,600


def test_a_total_cannot_be_quoted(book: ratecard.PriceBook) -> None:
    with pytest.raises(UsageError, match="bills at least 300 per entry: a total cannot be"):
        book.quote({"code_execution": 120})


def test_targets_refuse_it(book: ratecard.PriceBook) -> None:
    """The calculator refuses a minimum per entry; the warehouse bills it in SQL, on usage rows
    and on requests' parts alike (tests/test_warehouse_sources.py,
    tests/test_warehouse_requests.py), beside requests too."""
    from ratecard.render.calculator import unsupported
    from ratecard.warehouse.api import billable_terms
    from ratecard.warehouse.terms import entry_meters, replays_everyone

    assert "minimum quantities per entry" in unsupported(book)
    assert billable_terms(book, None).books == [book]
    assert entry_meters(book) == [] and not replays_everyone([book])
