"""Number literals: every form the language accepts, exact, and clear errors for the rest."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ratecard.literals import NumberError, format_plain, parse_number


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", "0"), ("1000", "1000"), ("1_000", "1000"), ("0.0018", "0.0018"),
        ("10k", "10000"), ("10K", "10000"), ("1M", "1000000"), ("1B", "1000000000"),
        ("1千", "1000"), ("1万", "10000"), ("100万", "1000000"), ("1000万", "10000000"),
        ("1亿", "100000000"), ("1.5万", "15000"), ("0.1M", "100000"), ("-3", "-3"),
        ("2.50", "2.50"),
    ],
)
def test_number_forms(text: str, value: str) -> None:
    parsed = parse_number(text)
    assert parsed == Decimal(value)
    assert format_plain(parsed) == value


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1万次", "`1万次` has an unknown suffix `万次`"),
        ("0.0.2", "`0.0.2` has more than one decimal point"),
        ("1.", "`1.` needs digits after its decimal point"),
        ("abc", "`abc` is not a number"),
        ("1__0", "`1__0` has an unknown suffix `__0`"),
        ("", "`` is not a number"),
    ],
)
def test_malformed_numbers(text: str, message: str) -> None:
    with pytest.raises(NumberError) as raised:
        parse_number(text)
    assert str(raised.value) == message


@given(st.decimals(min_value=0, max_value=10**12, places=6, allow_nan=False))
def test_plain_decimals_round_trip(value: Decimal) -> None:
    assert parse_number(format_plain(value)) == value
