"""Worked bills of the other real price sheets in `rules/` (sources cited in each file)."""

from __future__ import annotations

from decimal import Decimal

import pytest

import ratecard
from tests.conftest import RULES


@pytest.fixture(scope="module")
def lambda_book() -> ratecard.PriceBook:
    return ratecard.load(RULES / "aws-lambda.rules")


@pytest.fixture(scope="module")
def geocoding() -> ratecard.PriceBook:
    return ratecard.load(RULES / "google-geocoding.rules")


def test_lambda_pricing_page_example(lambda_book: ratecard.PriceBook) -> None:
    """AWS's example 1: 512 MB, 3M invocations of 1 s each.

    Duration: 3,000,000 × 1 s × 0.5 GB = 1,500,000 GB-s; − 400,000 free = 1,100,000 GB-s in the
    first tier × 0.0000166667 = 18.33337 → 18.33 (AWS's page rounds the price to 0.00001667 and
    shows 18.34). Requests: 3M − 1M free = 2M × 0.20 / 1M = 0.40. Total 18.73.
    """
    bill = lambda_book.quote({"Invoke": "3M", "DurationGBs": 1_500_000})
    postpaid = {line.meter: line for line in bill.lines if line.source == "postpaid"}
    assert postpaid["duration"].precise_amount == Decimal("18.33337")
    assert postpaid["requests"].precise_amount == Decimal("0.40")
    assert bill.total == Decimal("18.73")


def test_lambda_duration_crosses_a_tier(lambda_book: ratecard.PriceBook) -> None:
    """7,000,400,000 GB-s by total: 400,000 free take positions (0, 400000].

    Postpaid positions (400,000, 6,000,000,000] → 5,999,600,000 × 0.0000166667 = 99,993.53332;
    (6,000,000,000, 7,000,400,000] → 1,000,400,000 × 0.000015 = 15,006.00.
    Total 99,993.53 + 15,006.00 = 114,999.53.
    """
    bill = lambda_book.quote({"DurationGBs": "7000400000"})
    assert [(line.quantity, line.amount) for line in bill.lines if line.source == "postpaid"] == [
        (Decimal(5_999_600_000), Decimal("99993.53")),
        (Decimal(1_000_400_000), Decimal("15006.00")),
    ]
    assert bill.total == Decimal("114999.53")


def test_lambda_decimal_durations_round_up(lambda_book: ratecard.PriceBook) -> None:
    """400,000.0000004 GB-s rounds up to 400,000.000001: 0.000001 GB-s postpaid, 0.00 billed."""
    bill = lambda_book.quote({"DurationGBs": "400000.0000004"})
    assert [(line.source, line.quantity) for line in bill.lines] == [
        ("allowance", Decimal(400000)), ("postpaid", Decimal("0.000001"))]
    assert bill.total == Decimal("0.00")


def test_geocoding_graduated_per_thousand(geocoding: ratecard.PriceBook) -> None:
    """150,000 requests: 100,000 × 5.00/1000 = 500.00; 50,000 × 4.00/1000 = 200.00; 700.00.
    The lines show the prices as the sheet writes them: 5.00 and 4.00 per 1000."""
    bill = geocoding.quote({"Geocode": 100_000, "GeocoderGeocode": 50_000})
    assert [(line.bracket, line.unit_price, line.per, line.amount) for line in bill.lines] == [
        ("(0, 100000]", Decimal("5.00"), Decimal(1000), Decimal("500.00")),
        ("(100000, 500000]", Decimal("4.00"), Decimal(1000), Decimal("200.00")),
    ]
    assert bill.total == Decimal("700.00")


def test_geocoding_contact_sales(geocoding: ratecard.PriceBook) -> None:
    """500,000 requests: 500.00 + 400,000 × 0.004 = 2,100.00; one more reaches contact sales."""
    assert geocoding.quote({"Geocode": "500k"}).total == Decimal("2100.00")
    with pytest.raises(ratecard.ContactSalesError, match=r"\(500000, ∞\)"):
        geocoding.quote({"Geocode": 500_001})
