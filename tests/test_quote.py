"""Worked bills of the BDA price page: one month of usage totals, priced by `PriceBook.quote`."""

from __future__ import annotations

from decimal import Decimal

import pytest

import ratecard
from ratecard import HeldPack, UsageError
from ratecard.engine.pricebook import PriceBook


def lines_of(bill: ratecard.Bill) -> list[tuple[str, str, Decimal, Decimal, Decimal]]:
    return [
        (line.meter, line.source, line.quantity, line.unit_price, line.amount)
        for line in bill.lines
    ]


def test_shared_meter_counts_both_actions(bda: PriceBook) -> None:
    """DetectBody 600,000 + DetectBodyJoints 400,000 count into 人体检测: 1,000,000 calls.

    1,000 free; 999,000 postpaid select (0, 300万] at 0.002: 999,000 × 0.002 = 1998.00.
    """
    bill = bda.quote({"DetectBody": 600000, "DetectBodyJoints": 400000})
    assert bill.total == Decimal("1998.00")
    assert lines_of(bill) == [
        ("detection", "allowance", 1000, 0, Decimal("0.00")),
        ("detection", "postpaid", 999000, Decimal("0.002"), Decimal("1998.00")),
    ]
    assert bill.lines[1].bracket == "(0, 3000000]"
    assert bill.lines[1].precise_amount == Decimal("1998.000")


def test_segmentation_second_bracket(bda: PriceBook) -> None:
    """SegmentPortraitPic 50,000: 1,000 free; 49,000 postpaid in (1万, 10万] at 0.009 = 441.00."""
    bill = bda.quote({"SegmentPortraitPic": 50000})
    assert bill.total == Decimal("441.00")
    postpaid = bill.lines[-1]
    assert (postpaid.quantity, postpaid.unit_price, postpaid.bracket) == (
        49000, Decimal("0.009"), "(10000, 100000]")


def test_library_bills_only_two_actions(bda: PriceBook) -> None:
    """CreatePerson 500 + CreateTrace 800 = 1,300 billed calls; CreateGroup and GetPersonList free.

    1,300 − 1,000 free = 300 postpaid × 0.002 = 0.60.
    """
    bill = bda.quote(
        {"CreatePerson": 500, "CreateTrace": 800, "CreateGroup": 10000, "GetPersonList": 50000}
    )
    assert bill.total == Decimal("0.60")
    assert lines_of(bill) == [
        ("library", "allowance", 1000, 0, Decimal("0.00")),
        ("library", "postpaid", 300, Decimal("0.002"), Decimal("0.60")),
    ]


def test_pack_is_drawn_after_the_allowance(bda: PriceBook) -> None:
    """DetectBody 150,000 with a 10万 pack: 1,000 free, 100,000 from the pack, 49,000 postpaid.

    49,000 × 0.002 = 98.00. The pack is exhausted, which raises its low and exhausted alerts.
    """
    bill = bda.quote({"DetectBody": 150000}, [HeldPack("detection", Decimal(100000))])
    assert bill.total == Decimal("98.00")
    assert [(line.source, line.quantity) for line in bill.lines] == [
        ("allowance", 1000), ("pack", 100000), ("postpaid", 49000)]
    assert [(a.kind, a.remaining) for a in bill.alerts] == [("low", 0), ("exhausted", 0)]


def test_volume_bracket_edge(bda: PriceBook) -> None:
    """SearchTrace 3,001,000 → 3,000,000 postpaid, still in (0, 300万]: × 0.002 = 6000.00.

    SearchTrace 3,001,001 → 3,000,001 postpaid in (300万, 1500万]: × 0.0018 = 5400.0018 → 5400.00.
    """
    at_edge = bda.quote({"SearchTrace": 3001000})
    past_edge = bda.quote({"SearchTrace": 3001001})
    assert at_edge.total == Decimal("6000.00")
    assert past_edge.total == Decimal("5400.00")
    assert past_edge.lines[-1].precise_amount == Decimal("5400.0018")
    assert past_edge.lines[-1].unit_price == Decimal("0.0018")


def test_top_bracket_and_all_meters(bda: PriceBook) -> None:
    """Four meters in one month.

    segmentation 2,001,000 → 2,000,000 postpaid in (100万, ∞) × 0.007 = 14000.00
    detection 16,001,000 → 16,000,000 postpaid in (1500万, ∞) × 0.0015 = 24000.00
    library 1,000 → all free
    search 1,500 → 500 × 0.002 = 1.00
    total 38001.00
    """
    bill = bda.quote({
        "SegmentPortraitPic": "2001000",
        "DetectBodyJoints": "1600万",
        "DetectBody": 1000,
        "CreateTrace": 1000,
        "SearchTrace": "1.5k",
    })
    assert bill.total == Decimal("38001.00")
    assert [line.amount for line in bill.lines if line.source == "postpaid"] == [
        Decimal("14000.00"), Decimal("24000.00"), Decimal("1.00")]


def test_partly_used_pack_and_low_alert(bda: PriceBook) -> None:
    """A 1万 detection pack with 2,000 left; 2,500 calls: 1,000 free, 1,500 from the pack.

    500 left of 10,000 is 5% < 15% → one low alert; nothing postpaid → total 0.00.
    """
    bill = bda.quote({"DetectBody": 2500}, [HeldPack("detection", Decimal(10000), Decimal(2000))])
    assert bill.total == Decimal("0.00")
    assert [(a.kind, a.remaining) for a in bill.alerts] == [("low", 500)]


def test_packs_drawn_in_the_order_given(bda: PriceBook) -> None:
    """Two packs: the first given is drawn first (a quote has no dates to order by).

    13,000 calls: 1,000 free, 10,000 from the 1万 pack, 2,000 from the 10万 pack; 0.00.
    """
    bill = bda.quote(
        {"SearchTrace": 13000},
        [HeldPack("search", Decimal(10000)), HeldPack("search", Decimal(100000))],
    )
    assert [(line.source, line.pack, line.quantity) for line in bill.lines] == [
        ("allowance", None, 1000),
        ("pack", "search:10000#1", 10000),
        ("pack", "search:100000#2", 2000),
    ]
    assert bill.total == Decimal("0.00")


def test_free_actions_only_cost_nothing(bda: PriceBook) -> None:
    bill = bda.quote({"CreateGroup": 5000, "ModifyPersonInfo": 7})
    assert bill.lines == ()
    assert bill.total == Decimal("0.00")


def test_json_form(bda: PriceBook) -> None:
    data = bda.quote({"DetectBody": 1001}).to_dict()
    assert data == {
        "currency": "CNY",
        "total": "0.00",
        "lines": [
            {"meter": "detection", "source": "allowance", "quantity": "1000", "unit_price": "0",
             "amount": "0.00", "precise_amount": "0", "bracket": None, "bracket_bounds": None,
             "pack": None, "blocks": None, "period": None},
            {"meter": "detection", "source": "postpaid", "quantity": "1", "unit_price": "0.002",
             "amount": "0.00", "precise_amount": "0.002", "bracket": "(0, 3000000]",
             "bracket_bounds": {"lo": "0", "hi": "3000000", "lo_closed": False,
                                "hi_closed": True},
             "pack": None, "blocks": None, "period": None},
        ],
        "alerts": [],
    }


@pytest.mark.parametrize(
    ("usage", "message"),
    [
        ({"DetectFace": 5},
         "unknown action `DetectFace` in rules `bda`; did you mean `DetectBody`?"),
        ({"SegmentCustomizedPortraitPic": 1},
         "action `SegmentCustomizedPortraitPic` is not priced by rules `bda`: "
         "本页未定价 / not priced on this page"),
        ({"DetectBody": -1}, "DetectBody: count -1 is negative"),
        ({"DetectBody": "2.5"}, "DetectBody: count 2.5 is not a whole number"),
        ({"DetectBody": "lots"}, "DetectBody: `lots` is not a number"),
    ],
)
def test_bad_usage_is_a_clear_error(
    bda: PriceBook, usage: dict[str, object], message: str
) -> None:
    with pytest.raises(UsageError) as raised:
        bda.quote(usage)  # type: ignore[arg-type]
    assert str(raised.value) == message


def test_unknown_pack_size_names_the_sizes(bda: PriceBook) -> None:
    with pytest.raises(UsageError, match=r"no pack of size 50000 \(sizes: 10000, 100000, "
                       r"1000000, 10000000\)"):
        bda.quote({}, [HeldPack("detection", Decimal(50000))])


def test_graduated_and_flat_fees() -> None:
    """A graduated ladder by total, with a flat fee per bracket reached.

    5,000 units by total: 1,000 free; postpaid units sit at positions (1000, 5000].
    (1000, 2000] free tier at 0 + 0 flat = 0; (2000, 5000] 3,000 × 0.01 + 5 flat = 35.00.
    """
    book = ratecard.loads(
        """
        rules g "分级" / "Graduated"
        currency USD, rounding half_up 0.01, timezone UTC
        meter m "米" / "M" counts Use
        allowance 1000 per month on m
        deduct allowance, postpaid
        ladder graduated by total per month on m {
          (0, 2000]  0
          (2000, ∞)  0.01 + 5 flat
        }
        """
    )
    bill = book.quote({"Use": 5000})
    assert [(line.source, line.quantity, line.precise_amount) for line in bill.lines] == [
        ("allowance", 1000, 0), ("postpaid", 1000, 0), ("postpaid", 3000, Decimal("35.00"))]
    assert bill.total == Decimal("35.00")


def test_contact_sales_bracket_is_an_error() -> None:
    book = ratecard.loads(
        """
        rules c "询价" / "Contact"
        currency USD, rounding half_up 0.01, timezone UTC
        meter m "米" / "M" counts Use
        ladder volume by total per month on m {
          (0, 1M]  0.001
          (1M, ∞)  contact sales
        }
        """
    )
    assert book.quote({"Use": "1M"}).total == Decimal("1000.00")
    with pytest.raises(ratecard.ContactSalesError, match=r"\(1000000, ∞\).*contact sales"):
        book.quote({"Use": 1000001})
