"""Dated versions that restate a request's prices: a price table, a modifier's factor, a
threshold's table and a flat `price` (a per-call fee) change on a day, the request's declaration
stays; each month is billed by the version in effect on its first day."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

import ratecard
from ratecard import Account
from ratecard.api import analyze
from ratecard.diff import compare
from ratecard.source import SourceFile

BASE = """\
rules v "版本" / "Versions"
currency USD, rounding exact, timezone UTC
meter input "输入" / "Input"
meter output "输出" / "Output"
meter base "基础" / "Base"
meter cache "缓存" / "Cache"
request messages "消息" / "Messages" {
  quantity input_tokens into input
  quantity output_tokens into output
  quantity cache_tokens into cache
  property model "big", "small"
  property service_tier "standard", "batch" default "standard"
  property long bool default false
  charge base
}
prices messages per 1000000 {
  cache = input × 0.1
  model    input  output
  "big"    5      25
  "small"  1      5
}
modifier batch "批处理" / "Batch" when service_tier = "batch" × 0.5 on input, output
above long_context "长上下文" / "Long context" when long = true and input_tokens > 200000 {
  model  input  output
  "big"  10     37.50
}
price base 0.01
deduct postpaid
"""

VERSION = """\
from 2027-01-01 {
  prices messages per 1000000 {
    cache = input × 0.1
    model    input  output
    "big"    4      20
    "small"  1      5
  }
  modifier batch "批处理" / "Batch" when service_tier = "batch" × 0.4 on input, output
  above long_context "长上下文" / "Long context" when long = true and input_tokens > 200000 {
    model  input  output
    "big"  8      30
  }
  price base 0.02
}
"""


@pytest.fixture(scope="module")
def book() -> ratecard.PriceBook:
    return ratecard.loads(BASE + VERSION, "v.rules")


def call(time: str, model: str, tokens_in: int, tokens_out: int, **properties: Any
         ) -> dict[str, Any]:
    return {"time": time, "type": "request", "action": "messages",
            "quantities": {"input_tokens": tokens_in, "output_tokens": tokens_out},
            "properties": {"model": model, **properties}}


JOURNAL = [
    call("2026-12-15T00:00:00Z", "big", 1000000, 100000),
    call("2026-12-20T00:00:00Z", "big", 1000000, 100000, service_tier="batch"),
    call("2026-12-31T23:59:59Z", "big", 300000, 10000, long=True),
    call("2027-01-01T00:00:00Z", "big", 1000000, 100000),
    call("2027-01-20T00:00:00Z", "big", 1000000, 100000, service_tier="batch"),
    call("2027-01-31T00:00:00Z", "big", 300000, 10000, long=True),
]


def _lines(bill: ratecard.Bill) -> list[tuple[str, Decimal, Decimal]]:
    return [(line.meter, line.unit_price, line.amount) for line in bill.lines]


def test_each_month_bills_by_its_version(book: ratecard.PriceBook) -> None:
    """December (the sheet as first written): 1M input at 5 = 5, 100K output at 25 = 2.5;
    batch × 0.5: 2.5 + 1.25; long context (300K > 200K input): 300K at 10 = 3, 10K at 37.50
    = 0.375; 3 calls × 0.01 = 0.03. Total 5 + 2.5 + 2.5 + 1.25 + 3 + 0.375 + 0.03 = 14.655.

    January (the 2027 version, from its first instant): input at 4 = 4, output at 20 = 2;
    batch × 0.4: 1.6 + 0.8; long context: 300K at 8 = 2.4, 10K at 30 = 0.3; 3 calls × 0.02 =
    0.06. Total 4 + 2 + 1.6 + 0.8 + 2.4 + 0.3 + 0.06 = 11.16."""
    december, january = book.bill(JOURNAL)
    assert _lines(december) == [
        ("input[big]", Decimal(5), Decimal(5)),
        ("input[big+batch]", Decimal("2.5"), Decimal("2.5")),
        ("input[big+long_context]", Decimal(10), Decimal(3)),
        ("output[big]", Decimal(25), Decimal("2.5")),
        ("output[big+batch]", Decimal("12.5"), Decimal("1.25")),
        ("output[big+long_context]", Decimal("37.50"), Decimal("0.375")),
        ("base", Decimal("0.01"), Decimal("0.03")),
    ]
    assert december.total == Decimal("14.655")
    assert _lines(january) == [
        ("input[big]", Decimal(4), Decimal(4)),
        ("input[big+batch]", Decimal("1.6"), Decimal("1.6")),
        ("input[big+long_context]", Decimal(8), Decimal("2.4")),
        ("output[big]", Decimal(20), Decimal(2)),
        ("output[big+batch]", Decimal(8), Decimal("0.8")),
        ("output[big+long_context]", Decimal(30), Decimal("0.3")),
        ("base", Decimal("0.02"), Decimal("0.06")),
    ]
    assert january.total == Decimal("11.16")


def test_a_quote_takes_the_version_of_its_day(book: ratecard.PriceBook) -> None:
    """One batch call of 1M input and 100K output: 2.5 + 1.25 + 0.01 = 3.76 in 2026, and
    1.6 + 0.8 + 0.02 = 2.42 from 2027-01-01 (derived `cache` keeps its rule: 0.1 × the new
    input price)."""
    entry = call("2026-12-15T00:00:00Z", "big", 1000000, 100000, service_tier="batch")
    assert book.quote_requests([entry]).total == Decimal("3.76")
    assert book.at("2027-01-01").quote_requests([entry]).total == Decimal("2.42")
    assert book.at("2027-01-01").meter("cache[big]").ladder is not None


def test_fed_one_by_one_and_resumed_mid_month_the_bills_are_the_same(
        book: ratecard.PriceBook) -> None:
    """An account fed entry by entry, saved and restored after each entry (across the
    version's day), bills as `bill` does."""
    issued: list[ratecard.Bill] = []
    account = Account(book)
    for entry in JOURNAL:
        issued += account.feed([entry])
        account = Account.restore(book, json.dumps(account.snapshot()))
    issued += account.close_through("2027-01")
    assert [b.to_dict() for b in issued] == [b.to_dict() for b in book.bill(JOURNAL)]


def test_diff_reports_the_restated_prices() -> None:
    """Against the sheet without the version, the diff lists from 2027-01-01 each priced cell
    that changes: `input[big]` 5 → 4, the batch cells (the factor 0.5 → 0.4 and the new input
    price: 2.5 → 1.6), the long-context cells (with batch too), the derived cache cells
    (0.1 × input) and the per-call fee. `small`'s standard prices are the same."""
    diff = compare(ratecard.loads(BASE, "old.rules"), ratecard.loads(BASE + VERSION, "new.rules"))
    changed = {(e.change.meter, str(e.version)) for e in diff.entries
               if e.change.what == "bracket_price"}
    assert changed == {(meter, "2027-01-01") for meter in (
        "input[big]", "input[big+batch]", "input[small+batch]", "input[big+long_context]",
        "output[big]", "output[big+batch]", "output[small+batch]", "output[big+long_context]",
        "input[big+batch+long_context]", "output[big+batch+long_context]",
        "cache[big]", "cache[big+long_context]", "base")}


@pytest.mark.parametrize(("restated", "message"), [
    ("  modifier batch when service_tier = \"batch\" × 0.4 on input\n",
     "a version restates `modifier` with other than new prices"),
    ("  above long_context when long = true and input_tokens > 100000 {\n"
     "    model  input  output\n    \"big\"  8      30\n  }\n",
     "a version restates `above` with other than new prices"),
    ("  prices messages per 1000000 {\n    model  input  output\n    \"big\"  4  20\n  }\n",
     "a version restates `prices` with other than new prices"),
    ("  modifier us when model = \"big\" × 1.1 on input\n",
     "a version restates a `modifier` the sheet does not have"),
    ("  request messages {\n    quantity input_tokens into input\n"
     "    property model \"big\", \"small\"\n  }\n",
     "a version cannot restate `request`"),
])
def test_a_version_changes_prices_only(restated: str, message: str) -> None:
    """The request's declaration, a modifier's condition and meters, a threshold's condition
    and limit, a table's rows and columns are the same in every version (E704)."""
    text = BASE + "from 2027-01-01 {\n" + restated + "}\n"
    _, diagnostics = analyze(SourceFile("v.rules", text))
    assert [(d.code, d.message) for d in diagnostics] == [("E704", message)]
