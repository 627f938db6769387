"""Dimensions: a request's meters priced by a table over one of its properties (`prices`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

import ratecard
from ratecard import Account, JournalError
from ratecard.api import analyze
from ratecard.source import SourceFile

RULES = """\
rules llm "模型" / "Models"
currency USD, rounding exact, timezone UTC

meter input "输入" / "Input tokens" unit "token" / "token"
meter cache_read "缓存读取" / "Cache reads" unit "token" / "token"
meter output "输出" / "Output tokens" unit "token" / "token"
meter search "搜索" / "Web search"

request messages "消息" / "Messages" {
  quantity input_tokens into input
  quantity cache_read_input_tokens into cache_read
  quantity output_tokens into output
  quantity web_search_requests into search
  property model "big", "small", "old" default "small"
}

prices messages per 1000000 {
  cache_read = input × 0.1
  model    input  cache_read  output
  "big"    5      0.50        25
  "small"  1      -           5
  "old"    0.25   0.03        1.25  # allow: W006 the page states 0.03
}
price search 10 per 1000
deduct postpaid
"""


@pytest.fixture(scope="module")
def book() -> ratecard.PriceBook:
    return ratecard.loads(RULES, "llm.rules")


def _request(time: str, model: str | None, **quantities: int) -> dict[str, Any]:
    return {"time": time, "type": "request", "action": "messages", "quantities": quantities,
            "properties": {} if model is None else {"model": model}}


JOURNAL = [
    _request("2026-11-02T10:00:00Z", "big", input_tokens=1_000_000,
             cache_read_input_tokens=2_000_000, output_tokens=100_000, web_search_requests=3),
    _request("2026-11-02T11:00:00Z", None, input_tokens=1_000_000,
             cache_read_input_tokens=2_000_000, output_tokens=100_000),
    _request("2026-11-02T12:00:00Z", "old", input_tokens=1_000_000,
             cache_read_input_tokens=2_000_000, output_tokens=100_000),
    _request("2026-11-03T12:00:00Z", "big", input_tokens=500_000),
]


def test_worked_bill(book: ratecard.PriceBook) -> None:
    """Per model (prices per 1M tokens):
    big: input 1,500,000 × 5 = 7.50; cache reads 2,000,000 × 0.50 = 1.00; output 100,000 × 25
    = 2.50. small (the default model): input 1,000,000 × 1 = 1.00; cache reads derived,
    1 × 0.1 = 0.1 per 1M: 2,000,000 × 0.1 = 0.20; output 100,000 × 5 = 0.50. old: input
    1,000,000 × 0.25 = 0.25; cache reads as stated, 0.03 (not 0.025): 2,000,000 × 0.03 = 0.06;
    output 100,000 × 1.25 = 0.125. Web search 3 × 10/1000 = 0.03.
    Total 7.50 + 1.00 + 2.50 + 1.00 + 0.20 + 0.50 + 0.25 + 0.06 + 0.125 + 0.03 = 13.165."""
    (bill,) = book.bill(JOURNAL)
    assert [(line.meter, line.quantity, line.amount) for line in bill.lines] == [
        ("input[big]", Decimal(1_500_000), Decimal("7.5")),
        ("input[small]", Decimal(1_000_000), Decimal("1")),
        ("input[old]", Decimal(1_000_000), Decimal("0.25")),
        ("cache_read[big]", Decimal(2_000_000), Decimal("1.00")),
        ("cache_read[small]", Decimal(2_000_000), Decimal("0.2")),
        ("cache_read[old]", Decimal(2_000_000), Decimal("0.06")),
        ("output[big]", Decimal(100_000), Decimal("2.5")),
        ("output[small]", Decimal(100_000), Decimal("0.5")),
        ("output[old]", Decimal(100_000), Decimal("0.125")),
        ("search", Decimal(3), Decimal("0.03")),
    ]
    assert bill.total == Decimal("13.165")


def test_quote_and_feed_agree_with_bill(book: ratecard.PriceBook) -> None:
    (billed,) = book.bill(JOURNAL)
    assert book.quote_requests(JOURNAL).to_dict()["lines"] == billed.to_dict()["lines"]
    account = Account(book)
    account.feed(JOURNAL[:2])
    resumed = Account.restore(book, account.snapshot())
    resumed.feed(JOURNAL[2:])
    (fed,) = resumed.close_through("2026-11")
    assert fed.to_dict() == billed.to_dict()


def test_unknown_model_names_the_line(book: ratecard.PriceBook) -> None:
    with pytest.raises(JournalError) as caught:
        book.bill([JOURNAL[0], _request("2026-11-03T00:00:00Z", "bigger", input_tokens=1)])
    assert (caught.value.line, caught.value.field, caught.value.message) == (
        2, "properties.model", "\"bigger\" is not a value of `model`; did you mean `big`?")


def test_sheet_shows_the_table() -> None:
    from ratecard import render_sheet

    text = render_sheet(ratecard.loads(RULES, "llm.rules"), "md", "en").text
    assert ("| model | Input tokens | Cache reads | Output tokens |\n"
            "| --- | --- | --- | --- |\n"
            "| big | $5/1M tokens | $0.50/1M tokens | $25/1M tokens |\n"
            "| small | $1/1M tokens | $0.1/1M tokens | $5/1M tokens |\n"
            "| old | $0.25/1M tokens | $0.03/1M tokens | $1.25/1M tokens |\n") in text
    assert "Input tokens · big" not in text


def _codes(text: str) -> list[tuple[int, str]]:
    _, diagnostics = analyze(SourceFile("x.rules", text))
    return sorted((d.span.line, d.code) for d in diagnostics)


def test_table_mistakes() -> None:
    text = """\
rules x "x" / "x"
currency USD, rounding exact, timezone UTC
meter a "a" / "a"
meter b "b" / "b"
meter c "c" / "c" counts C
price c 1
request r {
  quantity qa into a
  quantity qb into b
  property m "x", "y"
  property f bool
}
prices s { m a }
prices r { f a }
prices r per 1000 {
  b = c × 2
  d = a × 0
  m a c
  "x" 1 2
  "z" 1 2
  "x" -
}
deduct postpaid
"""
    assert _codes(text) == [
        (6, "E926"), (10, "E927"), (13, "E925"), (14, "E925"), (17, "E203"), (17, "E928"),
        (18, "E926"), (20, "E927"), (21, "E927"), (21, "E927"),
    ]


def test_stated_price_not_the_multiple_warns() -> None:
    text = RULES.replace("  # allow: W006 the page states 0.03", "")
    assert _codes(text) == [(22, "W006")]


def test_a_contract_discount_on_a_table_meter_applies_to_its_cells(tmp_path: Any) -> None:
    """20% off `input` is 20% off each of its cells: big 1,500,000 × 5 / 1M = 7.5 less 1.5;
    small 1,000,000 × 1 / 1M = 1 less 0.2; old 0.25 less 0.05. The month: 13.165 - 1.75
    = 11.415."""
    (tmp_path / "llm.rules").write_text(RULES, encoding="utf-8")
    (tmp_path / "acme.rules").write_text(
        'contract acme "Acme" / "Acme" extends "llm.rules"\naccounts acme\n'
        "from 2026-01-01 until 2028-01-01\ndiscount 20% on input\n", encoding="utf-8")
    book = ratecard.load(tmp_path / "llm.rules").with_contract(tmp_path / "acme.rules")
    (bill,) = book.bill(JOURNAL)
    assert [(line.meter, line.amount) for line in bill.lines if line.source == "discount"] == [
        ("input[big]", Decimal("-1.5")), ("input[small]", Decimal("-0.2")),
        ("input[old]", Decimal("-0.05"))]
    assert bill.total == Decimal("11.415")
