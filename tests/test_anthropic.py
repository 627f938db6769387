"""Worked bills of rules/anthropic-claude.rules (Anthropic's API pricing page).

Prices are USD per million tokens; amounts are exact (the page states no invoice rounding).
Each case is one Messages API call, quoted alone; the arithmetic is in its comment.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

import ratecard
from ratecard import JournalError, UsageError
from tests.conftest import RULES


@pytest.fixture(scope="module")
def claude() -> ratecard.PriceBook:
    return ratecard.load(RULES / "anthropic-claude.rules")


def call(model: str, *, time: str = "2026-11-02T10:00:00Z", **fields: Any) -> dict[str, Any]:
    quantities = {k: v for k, v in fields.items() if k.endswith(("tokens", "requests"))}
    properties = {k: v for k, v in fields.items() if k not in quantities}
    return {"time": time, "type": "request", "action": "messages",
            "quantities": quantities, "properties": {"model": model, **properties}}


CASES = [
    # Sonnet 4.5, standard: 100,000 × 3 + 20,000 × 3.75 (5m writes, 1.25 × 3) + 50,000 × 0.30
    # (cache reads) + 2,000 × 15, per 1M = 0.30 + 0.075 + 0.015 + 0.03 = 0.42
    ("sonnet standard", call("claude-sonnet-4-5", input_tokens=100_000,
                             cache_creation_5m_input_tokens=20_000,
                             cache_read_input_tokens=50_000, output_tokens=2_000), "0.42"),
    # Sonnet 4.5, 1M window, 150,000 input + 60,000 cache reads = 210,000 > 200K: every token
    # at long-context prices: 150,000 × 6 + 60,000 × 0.6 (0.1 × 6) + 10,000 × 22.50, per 1M
    # = 0.90 + 0.036 + 0.225 = 1.161
    ("sonnet long context", call("claude-sonnet-4-5", context_1m=True, input_tokens=150_000,
                                 cache_read_input_tokens=60_000, output_tokens=10_000),
     "1.161"),
    # The same tokens without the 1M window beta: standard prices, 150,000 × 3 + 60,000 × 0.30
    # + 10,000 × 15, per 1M = 0.45 + 0.018 + 0.15 = 0.618
    ("sonnet beta off", call("claude-sonnet-4-5", input_tokens=150_000,
                             cache_read_input_tokens=60_000, output_tokens=10_000), "0.618"),
    # Opus 4.6, exactly 200,000 input tokens (5m + 1h writes + reads + input) is not over 200K:
    # 100,000 × 5 + 50,000 × 6.25 + 30,000 × 10 + 20,000 × 0.50 + 1,000 × 25, per 1M
    # = 0.50 + 0.3125 + 0.30 + 0.01 + 0.025 = 1.1475
    ("opus at 200K", call("claude-opus-4-6", context_1m=True, input_tokens=100_000,
                          cache_creation_5m_input_tokens=50_000,
                          cache_creation_1h_input_tokens=30_000,
                          cache_read_input_tokens=20_000, output_tokens=1_000), "1.1475"),
    # One more cache read, 200,001: all of it long context, cache prices on top of the long
    # input price (10): 100,000 × 10 + 50,000 × 12.5 + 30,000 × 20 + 20,001 × 1 + 1,000 × 37.50,
    # per 1M = 1.00 + 0.625 + 0.60 + 0.020001 + 0.0375 = 2.282501
    ("opus over 200K", call("claude-opus-4-6", context_1m=True, input_tokens=100_000,
                            cache_creation_5m_input_tokens=50_000,
                            cache_creation_1h_input_tokens=30_000,
                            cache_read_input_tokens=20_001, output_tokens=1_000), "2.282501"),
    # Opus 4.6, batch and US-only: input 5 × 0.5 × 1.1 = 2.75, output 25 × 0.5 × 1.1 = 13.75,
    # 1h writes 10 × 1.1 = 11 (batch halves input and output only): 1,000,000 × 2.75 +
    # 100,000 × 13.75 + 10,000 × 11, per 1M = 2.75 + 1.375 + 0.11 = 4.235
    ("opus batch us", call("claude-opus-4-6", service_tier="batch", inference_geo="us",
                           input_tokens=1_000_000, output_tokens=100_000,
                           cache_creation_1h_input_tokens=10_000), "4.235"),
    # All three stack: long context 10 / 37.50, × 0.5 (batch) × 1.1 (US): 5.5 and 20.625:
    # 300,000 × 5.5 + 2,000 × 20.625, per 1M = 1.65 + 0.04125 = 1.69125
    ("opus batch us long", call("claude-opus-4-6", service_tier="batch", inference_geo="us",
                                context_1m=True, input_tokens=300_000, output_tokens=2_000),
     "1.69125"),
    # US-only inference on Sonnet 4.5: no multiplier (Opus 4.6 and newer only): 1,000,000 × 3
    # per 1M = 3
    ("sonnet us", call("claude-sonnet-4-5", inference_geo="us", input_tokens=1_000_000), "3"),
    # Haiku 3.5, batch: 0.40 / 2 (the page's batch table): 1,000,000 × 0.40 + 1,000,000 × 2,
    # per 1M = 2.4
    ("haiku batch", call("claude-3-5-haiku", service_tier="batch", input_tokens=1_000_000,
                         output_tokens=1_000_000), "2.4"),
    # Opus 4.1 with web search: 10,000 × 15 + 500 × 75 per 1M + 3 searches × 10 per 1,000
    # = 0.15 + 0.0375 + 0.03 = 0.2175
    ("opus web search", call("claude-opus-4-1", input_tokens=10_000, output_tokens=500,
                             web_search_requests=3), "0.2175"),
]


@pytest.mark.parametrize(("entry", "total"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_one_call(claude: ratecard.PriceBook, entry: dict[str, Any], total: str) -> None:
    assert claude.quote_requests([entry]).total == Decimal(total)
    (bill,) = claude.bill([entry])
    assert bill.total == Decimal(total)


def test_a_month(claude: ratecard.PriceBook) -> None:
    """Every call above in one month, and code execution: 1,000 + 600.5 hours = 1,600.5 h =
    5,761,800 s (the meter counts seconds), of which 1,550 h = 5,580,000 s free and 50.5 h =
    181,800 s × 0.05 / 3,600 = 2.525 (exact: no rounding changes it). The calls: 0.42 +
    1.161 + 0.618 + 1.1475 + 2.282501 + 4.235 + 1.69125 + 3 + 2.4 + 0.2175 = 17.172751.
    Total 17.172751 + 2.525 = 19.697751."""
    journal: list[dict[str, Any]] = [c[1] for c in CASES]
    journal += [
        {"time": "2026-11-10T00:00:00Z", "type": "usage", "action": "code_execution",
         "count": 1000},
        {"time": "2026-11-11T00:00:00Z", "type": "usage", "action": "code_execution",
         "count": "600.5"},
    ]
    calls = sum((Decimal(c[2]) for c in CASES), Decimal(0))
    assert calls == Decimal("17.172751")
    (bill,) = claude.bill(journal)
    code = [(line.source, line.quantity, line.amount) for line in bill.lines
            if line.meter == "code_execution"]
    assert code == [("allowance", Decimal(5580000), Decimal(0)),
                    ("postpaid", Decimal(181800), Decimal("2.525"))]
    assert bill.total == Decimal("19.697751")


def _execution(day: int, hours: int | str) -> dict[str, Any]:
    return {"time": f"2026-11-{day:02}T00:00:00Z", "type": "usage", "action": "code_execution",
            "count": hours}


def test_code_execution_past_the_free_hours(claude: ratecard.PriceBook) -> None:
    """The page: "Execution time minimum 5 minutes… 1,550 free hours per month. Additional
    usage: $0.05 per hour". 1,550 h of executions use the free hours (5,580,000 s); then 3
    executions of 0.02 h (72 s, billed as the 300 s minimum), 0.5 h (1,800 s) and 2 h
    (7,200 s): 300 + 1,800 + 7,200 = 9,300 s × 0.05 / 3,600 = 0.12916666… (no finite
    decimal), rounded half up to the micro-dollar (`amount rounded`): 0.129167."""
    journal = [_execution(1, 1550), _execution(2, "0.02"), _execution(3, "0.5"),
               _execution(4, 2)]
    (bill,) = claude.bill(journal)
    assert [(line.source, line.quantity, line.amount) for line in bill.lines] == [
        ("allowance", Decimal(5580000), Decimal(0)),
        ("postpaid", Decimal(9300), Decimal("0.129167")),
    ]
    assert str(bill.lines[1].amount) == "0.129167"
    assert bill.total == Decimal("0.129167")
    account = ratecard.Account(claude)  # fed one entry at a time, the same bill
    for entry in journal:
        account.feed([entry])
    (fed,) = account.close_through("2026-11")
    assert fed.to_dict() == bill.to_dict()


def test_code_execution_within_the_free_hours(claude: ratecard.PriceBook) -> None:
    """Four executions of 1 minute (0.0166… h is no decimal: written 0.01 h = 36 s) each bill
    the 5-minute minimum, 4 × 300 = 1,200 s, all free: a $0 line. An execution of 0 h bills
    nothing."""
    (bill,) = claude.bill([_execution(day, "0.01") for day in (1, 2, 3, 4)]
                          + [_execution(5, 0)])
    assert [(line.source, line.quantity, line.amount) for line in bill.lines] == [
        ("allowance", Decimal(1200), Decimal(0))]
    assert bill.total == 0


def test_code_execution_in_hours_a_second_apart(claude: ratecard.PriceBook) -> None:
    """1,550 h free, then one execution of about 1 h + 1 s (1.000277777… h is no decimal;
    written 1.0002777 h = 3,600.99972 s, rounded up to 0.0001 s: 3,600.9998 s) × 0.05 / 3,600
    = 180.04999 / 3,600 = 0.0500138861… → 0.050014."""
    (bill,) = claude.bill([_execution(1, 1550), _execution(2, "1.0002777")])
    assert [(line.quantity, line.amount) for line in bill.lines] == [
        (Decimal(5580000), Decimal(0)), (Decimal("3600.9998"), Decimal("0.050014"))]


def test_code_execution_totals_cannot_be_quoted(claude: ratecard.PriceBook) -> None:
    """A quote of totals cannot apply the minimum per execution: it is refused by name."""
    with pytest.raises(UsageError, match="bills at least 300 per entry"):
        claude.quote({"code_execution": 2})


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"properties": {"model": "claude-opus-9"}}, "properties.model",
     "\"claude-opus-9\" is not a value of `model`; did you mean `claude-opus-4`?"),
    ({"quantities": {"input_tokens": -1}}, "quantities.input_tokens", "-1 is negative"),
    ({"properties": {"model": "claude-opus-4-6", "context_1m": "yes"}},
     "properties.context_1m", "`context_1m` is true or false, not \"yes\""),
])
def test_bad_calls(claude: ratecard.PriceBook, change: dict[str, Any], field: str,
                   message: str) -> None:
    entry = call("claude-opus-4-6", input_tokens=5) | change
    with pytest.raises(JournalError) as caught:
        claude.bill([call("claude-opus-4-6", input_tokens=5), entry])
    assert (caught.value.line, caught.value.field, caught.value.message) == (2, field, message)
