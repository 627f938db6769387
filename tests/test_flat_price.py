"""Flat prices: `price web_search 10 per 1000` is the one-bracket ladder
`ladder volume by postpaid per month on web_search { (0, ∞) 10 per 1000 }`, priced alike by the
quote plan, the general engine and the warehouse, and shown as a plain price."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ratecard
from ratecard.api import analyze
from ratecard.diagnostics import Diagnostic
from ratecard.fmt import format_source
from ratecard.render import render
from ratecard.source import SourceFile


def check_text(text: str) -> list[Diagnostic]:
    return analyze(SourceFile("twice.rules", text))[1]


def format_text(text: str) -> str:
    formatted = format_source(SourceFile("f.rules", text))
    assert isinstance(formatted, str)
    return formatted


def render_text(book: ratecard.PriceBook, lang: str) -> str:
    return render(book, "md", lang).text


HEAD = """rules t "测试" / "Test"
currency USD, rounding half_up 0.01, timezone UTC
meter web_search "网页搜索" / "Web search" unit "次" / "search" counts WebSearch
meter calls "调用" / "Calls" counts Call
meter jobs "任务" / "Jobs" unit "个" / "job" counts Job
allowance 100 per month on calls
"""
TAIL = "deduct allowance, postpaid\nbill per month, issued on day 1\n"

SHORT = HEAD + """price web_search 10 per 1000
price calls, jobs 0.002 + 5 flat
""" + TAIL

LONG = HEAD + """ladder volume by postpaid per month on web_search {
  (0, ∞)  10 per 1000
}
ladder volume by postpaid per month on calls, jobs {
  (0, ∞)  0.002 + 5 flat
}
""" + TAIL


def test_a_price_is_the_one_bracket_ladder() -> None:
    short, long = ratecard.loads(SHORT), ratecard.loads(LONG)
    assert short.ladder_groups == long.ladder_groups
    assert [g.ladder.short for g in short.ladder_groups] == [True, True]
    assert [g.ladder.short for g in long.ladder_groups] == [False, False]


def test_a_month_priced_by_flat_prices() -> None:
    """12,345 searches at 10 per 1000: 123.45. 1,100 calls, 100 free: 1,000 × 0.002 + 5 flat
    = 7.00. 3 jobs: 3 × 0.002 + 5 = 5.006 → 5.01. Total 135.46."""
    book = ratecard.loads(SHORT)
    bill = book.quote({"WebSearch": 12_345, "Call": 1_100, "Job": 3})
    assert [(line.meter, line.amount) for line in bill.lines if line.source == "postpaid"] == [
        ("web_search", Decimal("123.45")), ("calls", Decimal("7.00")), ("jobs", Decimal("5.01")),
    ]
    assert bill.total == Decimal("135.46")
    assert bill == book._quote_general({"WebSearch": 12_345, "Call": 1_100, "Job": 3})


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(["WebSearch", "Call", "Job"]),
                       st.one_of(st.integers(0, 10**9), st.sampled_from([0, 1, 99, 100, 101]))))
def test_quote_plan_general_path_and_ladder_form_agree(usage: dict[str, int]) -> None:
    short, long = ratecard.loads(SHORT), ratecard.loads(LONG)
    assert short._plan is not None  # the fast path prices these sheets
    fast = short.quote(usage)
    assert fast == short._quote_general(usage)
    assert fast == long.quote(usage)


def test_meter_priced_by_a_price_and_a_ladder() -> None:
    text = HEAD + """price web_search 10 per 1000
price calls 0.002
ladder volume by postpaid per month on jobs, web_search {
  (0, ∞)  1
}
""" + TAIL
    (diagnostic,) = check_text(text)
    assert diagnostic.code == "E211"
    assert diagnostic.message == "meter `web_search` is priced twice"
    # `web_search` after `ladder volume by postpaid per month on jobs, ` (45 characters)
    assert (diagnostic.span.line, diagnostic.span.column) == (9, 46)


def test_a_meter_priced_twice_by_prices() -> None:
    text = HEAD + "price web_search, calls, jobs 1\nprice calls 2\n" + TAIL
    (diagnostic,) = check_text(text)
    assert diagnostic.code == "E211"
    assert "already has a price at line 7" in diagnostic.label


def test_fmt_keeps_the_short_form() -> None:
    canonical = format_text(SHORT)
    assert "\nprice web_search 10 per 1000\nprice calls, jobs 0.002 + 5 flat\n" in canonical
    messy = SHORT.replace("price web_search 10 per 1000", "price   web_search\n   10  per 1000")
    assert format_text(messy) == canonical


def test_render_shows_plain_prices_not_ladder_tables() -> None:
    en = render_text(ratecard.loads(SHORT), lang="en")
    assert ("| Service | Price |\n| --- | --- |\n| Web search | $10/1K searches |\n"
            "| Calls | $5 flat + $0.002/call |\n| Jobs | $5 flat + $0.002/job |\n"
            ) in en
    assert "any volume |" not in en.split("## Worked example")[0]
    assert "Postpaid usage has a single price per service, with no brackets." in en
    zh = render_text(ratecard.loads(SHORT), lang="zh")
    assert "| 服务 | 价格 |\n| --- | --- |\n| 网页搜索 | 10美元/1000次 |\n" in zh
    assert "后付费用量每项服务按单一价格计费，不分阶梯。" in zh
    # The ladder form keeps its ladder tables.
    assert "| Service | Price |" not in render_text(ratecard.loads(LONG), lang="en")


# --- the warehouse: generated sheets with their ladders written as flat prices ------------------

_LADDER = re.compile(r"ladder \w+ by \w+ per month on ([\w, ]+?)( combined)? \{\n"
                     r"  [(\[]0, [^ ]+ +([^\n]+)\n(?:  [^\n]*\n)*\}\n")


def _as_prices(text: str) -> str:
    """Each generated ladder replaced by `price METERS P`, P its first bracket's price."""
    return _LADDER.sub(lambda m: f"price {m[1]} {m[3]}\n", text)


def test_as_prices_rewrites_a_ladder() -> None:
    assert _as_prices(LONG) == SHORT


pytest.importorskip("duckdb")
from tests.test_warehouse import Row, Sheet, compare, journals, run, sheets  # noqa: E402


@st.composite
def _flat_cases(draw: st.DrawFn) -> tuple[Sheet, list[Row]]:
    sheet = draw(sheets())
    text = _as_prices(sheet.text)
    assert "ladder" not in text, text
    flat = Sheet(text, sheet.zone, sheet.actions, sheet.free, sheet.unpriced,
                 sheet.decimal_meters, sheet.packs, sheet.reasons, sheet.negotiated)
    return flat, draw(journals(flat))


@settings(max_examples=20, deadline=None)
@given(_flat_cases())
def test_warehouse_bills_flat_prices_as_the_engine(case: tuple[Sheet, list[Row]]) -> None:
    sheet, rows = case
    compare(sheet, rows, run(sheet, rows))


def test_a_version_restates_a_ladder_as_a_price() -> None:
    """From 2027-01-01 web search costs 5 per 1000: 12,345 searches cost 61.725 → 61.73
    (123.45 before)."""
    book = ratecard.loads(LONG + "from 2027-01-01 {\n  price web_search 5 per 1000\n}\n")
    assert book.quote({"WebSearch": 12_345}, at="2026-12-31").total == Decimal("123.45")
    assert book.quote({"WebSearch": 12_345}, at="2027-01-01").total == Decimal("61.73")
