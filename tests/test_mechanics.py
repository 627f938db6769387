"""Mechanics beyond the BDA page: combined ladders, shared allowances, blocks, limits."""

from __future__ import annotations

from decimal import Decimal

import pytest

import ratecard

HEADER = """
rules tokens "大模型" / "LLM tokens"
currency USD, rounding half_up 0.01, timezone UTC
meter input "输入" / "Input tokens" unit "token" / "token" counts Prompt
meter output "输出" / "Output tokens" unit "token" / "token" counts Completion
"""


def book(body: str) -> ratecard.PriceBook:
    return ratecard.loads(HEADER + body)


def test_shared_allowance_is_one_pool() -> None:
    """1M free tokens shared: input 700k takes 700k; output 500k takes the other 300k.

    Output postpaid 200k × 2.00 per 1M = 0.40; input 0.
    """
    b = book("""
        allowance 1M per month on input, output shared
        deduct allowance, postpaid
        ladder volume by postpaid per month on input { (0, ∞) 0.50 per 1M }
        ladder volume by postpaid per month on output { (0, ∞) 2.00 per 1M }
    """)
    bill = b.quote({"Prompt": "700k", "Completion": "500k"})
    assert [(line.meter, line.source, line.quantity) for line in bill.lines] == [
        ("input", "allowance", 700_000),
        ("output", "allowance", 300_000),
        ("output", "postpaid", 200_000),
    ]
    assert bill.total == Decimal("0.40")


def test_separate_allowances_per_meter() -> None:
    """Without `shared`, each meter gets 1M: nothing is postpaid."""
    b = book("""
        allowance 1M per month on input, output
        deduct allowance, postpaid
        ladder volume by postpaid per month on input, output { (0, ∞) 1 per 1M }
    """)
    assert b.quote({"Prompt": "700k", "Completion": "999999"}).total == Decimal("0.00")


def test_combined_volume_ladder_selects_by_the_sum() -> None:
    """Input 6M + output 5M = 11M combined, in (10M, ∞) at 0.50 per 1M for both meters.

    Alone, each would be in (0, 10M] at 1.00 per 1M. 6M × 0.5/1M = 3.00; 5M × 0.5/1M = 2.50.
    """
    b = book("""
        ladder volume by total per month on input, output combined {
          (0, 10M]  1.00 per 1M
          (10M, ∞)  0.50 per 1M
        }
    """)
    bill = b.quote({"Prompt": "6M", "Completion": "5M"})
    assert [(line.meter, line.bracket, line.amount) for line in bill.lines] == [
        ("input", "(10000000, ∞)", Decimal("3.00")),
        ("output", "(10000000, ∞)", Decimal("2.50")),
    ]
    assert bill.total == Decimal("5.50")


def test_combined_graduated_positions_follow_the_listing_order() -> None:
    """Graduated over input then output: input 6M takes (0, 6M]; output 5M takes (6M, 11M].

    input 6M × 1.00/1M = 6.00 (+ 1 flat for the first bracket);
    output (6M, 10M] 4M × 1.00/1M = 4.00, (10M, 11M] 1M × 0.50/1M = 0.50 + 2 flat.
    The first bracket's flat fee is charged once, not once per meter. Total 13.50.
    """
    b = book("""
        ladder graduated by postpaid per month on input, output combined {
          (0, 10M]  1.00 per 1M + 1 flat
          (10M, ∞)  0.50 per 1M + 2 flat
        }
    """)
    bill = b.quote({"Prompt": "6M", "Completion": "5M"})
    assert [(line.meter, line.quantity, line.precise_amount) for line in bill.lines] == [
        ("input", 6_000_000, Decimal("7.00")),
        ("output", 4_000_000, Decimal("4.00")),
        ("output", 1_000_000, Decimal("2.50")),
    ]
    assert bill.total == Decimal("13.50")


def test_minimum_applies_without_usage_and_maximum_caps() -> None:
    """A 5.00 minimum: no usage → a 5.00 minimum line. A 20.00 cap: 30M × 1/1M = 30 → −10."""
    b = book("""
        ladder volume by total per month on input {
          (0, ∞) 1 per 1M
          minimum 5
        }
        ladder volume by total per month on output {
          (0, ∞) 1 per 1M
          maximum 20
        }
    """)
    idle = b.quote({})
    assert [(line.meter, line.source, line.amount) for line in idle.lines] == [
        ("input", "minimum", Decimal("5.00"))]
    busy = b.quote({"Prompt": "10M", "Completion": "30M"})
    assert [(line.meter, line.source, line.amount) for line in busy.lines] == [
        ("input", "postpaid", Decimal("10.00")),
        ("output", "postpaid", Decimal("30.00")),
        ("output", "maximum", Decimal("-10.00")),
    ]
    assert busy.total == Decimal("30.00")


def test_blocks_prorated() -> None:
    """2.5 per block of 1000 prorated: 1,500 tokens are 1.5 blocks = 3.75."""
    b = book("""
        ladder volume by total per month on input, output {
          (0, ∞) 2.5 per block of 1000 prorated
        }
    """)
    bill = b.quote({"Prompt": 1500})
    assert (bill.lines[0].blocks, bill.total) == (Decimal("1.5"), Decimal("3.75"))


@pytest.mark.parametrize(("count", "message"), [
    ("1.5", "Prompt: count 1.5 is not a whole number"),
])
def test_meters_without_quantity_rounding_take_whole_units(count: str, message: str) -> None:
    b = book("ladder volume by total per month on input, output { (0, ∞) 1 }")
    with pytest.raises(ratecard.UsageError, match=message):
        b.quote({"Prompt": count})
