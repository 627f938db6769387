"""`every meter except a, b`: every meter of the sheet but those, wherever `every meter` is
accepted (allowances, ladders, a contract's discount and extra allowance, a version)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

import ratecard

SHEET = """
rules x "示例" / "Example"
currency CNY, rounding half_up 0.01, timezone Asia/Shanghai
meter a "甲" / "A" counts A1
meter b "乙" / "B" counts B1
meter c "丙" / "C" counts C1
allowance 100 per month on every meter except c
allowance 5 per month on c
deduct allowance, postpaid
ladder volume by postpaid per month on every meter except b, c {
  (0, ∞)  0.01
}
ladder graduated by postpaid per month on b, c {
  (0, ∞)  0.02
}
"""


def _lines(bill: ratecard.Bill) -> list[tuple[str, str, Decimal, Decimal]]:
    return [(x.meter, x.source, x.quantity, x.amount) for x in bill.lines]


def test_every_meter_except_leaves_the_excepted_meters_to_their_own_statements() -> None:
    """150 units of each meter. a and b get the 100 of `every meter except c`, c its own 5.
    a: 50 postpaid × 0.01 (the ladder on every meter except b, c) = 0.50;
    b: 50 × 0.02 = 1.00; c: 145 × 0.02 = 2.90. Total 4.40."""
    book = ratecard.loads(SHEET)
    bill = book.quote({"A1": 150, "B1": 150, "C1": 150})
    assert _lines(bill) == [
        ("a", "allowance", Decimal(100), Decimal("0.00")),
        ("a", "postpaid", Decimal(50), Decimal("0.50")),
        ("b", "allowance", Decimal(100), Decimal("0.00")),
        ("b", "postpaid", Decimal(50), Decimal("1.00")),
        ("c", "allowance", Decimal(5), Decimal("0.00")),
        ("c", "postpaid", Decimal(145), Decimal("2.90")),
    ]
    assert bill.total == Decimal("4.40")
    assert [(g.meters, g.ladder.mode) for g in book.ladder_groups] == [
        (("a",), "volume"), (("b", "c"), "graduated")]


def _codes(text: str) -> list[tuple[int, str]]:
    with pytest.raises(ratecard.RulesError) as raised:
        ratecard.loads(text)
    return sorted((d.span.line, d.code) for d in raised.value.diagnostics if d.is_error)


def test_an_excepted_meter_must_exist() -> None:
    text = SHEET.replace("every meter except b, c", "every meter except b, cc")
    # E203 for the misspelt name; `c` is then under both ladders (E207).
    assert (10, "E203") in _codes(text)
    with pytest.raises(ratecard.RulesError) as raised:
        ratecard.loads(text)
    (unknown,) = [d for d in raised.value.diagnostics if d.code == "E203"]
    assert unknown.message == "unknown meter `cc`"
    assert unknown.help == "did you mean `c`?"


def test_excepting_every_meter_is_an_error() -> None:
    text = SHEET.replace("allowance 100 per month on every meter except c",
                         "allowance 100 per month on every meter except a, b, c")
    assert _codes(text) == [(7, "E210")]


def test_a_meter_covered_twice_through_an_exception_is_reported() -> None:
    """`except b` leaves c under the first ladder and the second: E207, as with names."""
    text = SHEET.replace("every meter except b, c", "every meter except b")
    assert _codes(text) == [(13, "E207")]


def test_a_contract_discounts_every_meter_except_one(tmp_path: Path) -> None:
    """A 50% discount on every meter except c. 150 units of each:
    a: 0.50 postpaid, discount −0.25; b: 1.00, discount −0.50; c: 2.90, no discount.
    Total 4.40 − 0.75 = 3.65."""
    (tmp_path / "sheet.rules").write_text(SHEET, encoding="utf-8")
    contract = tmp_path / "acme.rules"
    contract.write_text(
        'contract acme "Acme" / "Acme" extends "sheet.rules"\n'
        "accounts acme\n"
        "from 2026-01-01 until 2028-01-01\n"
        "discount 50% on every meter except c\n",
        encoding="utf-8",
    )
    book = ratecard.load(contract)
    bill = book.quote({"A1": 150, "B1": 150, "C1": 150}, at="2026-11-01")
    discounts = [(x.meter, x.amount) for x in bill.lines if x.source == "discount"]
    assert discounts == [("a", Decimal("-0.25")), ("b", Decimal("-0.50"))]
    assert bill.total == Decimal("3.65")


def test_fmt_keeps_the_exception() -> None:
    from ratecard.fmt import format_source
    from ratecard.source import SourceFile

    formatted = format_source(SourceFile("x.rules", SHEET))
    assert isinstance(formatted, str)
    assert "ladder volume by postpaid per month on every meter except b, c {" in formatted
