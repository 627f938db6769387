"""Worked bills of rules/baidu-image-moderation.rules (Baidu's image moderation page).

Prices are CNY per 10,000 calls (元/万次); each bill line is rounded half up to 0.01.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

import ratecard
from ratecard import JournalError
from tests.conftest import RULES


@pytest.fixture(scope="module")
def baidu() -> ratecard.PriceBook:
    return ratecard.load(RULES / "baidu-image-moderation.rules")


def review(time: str = "2026-11-02T10:00:00+08:00", **options: bool) -> dict[str, Any]:
    return {"time": time, "type": "request", "action": "image_review", "properties": options}


def per_call(book: ratecard.PriceBook, entry: dict[str, Any]) -> dict[str, Decimal]:
    (bill,) = book.bill([entry])
    return {line.meter: line.precise_amount for line in bill.lines}


def test_the_pages_example(baidu: ratecard.PriceBook) -> None:
    """The page's own example: porn + terror + politics + the base fee
    = 0.00025 + 0.00038 + 0.00063 + 0.00025 = 0.00151 元 a call."""
    lines = per_call(baidu, review(porn=True, terror=True, political_figures=True))
    assert lines == {"base": Decimal("0.00025"), "porn": Decimal("0.00025"),
                     "terror": Decimal("0.00038"), "politics": Decimal("0.00063")}
    assert sum(lines.values()) == Decimal("0.00151")


def test_no_option_pays_the_base_fee_alone(baidu: ratecard.PriceBook) -> None:
    """Every call pays the base fee, 2.5 / 10,000 = 0.00025, whatever is ticked."""
    assert per_call(baidu, review()) == {"base": Decimal("0.00025")}


def test_both_politics_sub_options_charge_it_twice(baidu: ratecard.PriceBook) -> None:
    """Political and public figures both ticked: politics twice, 2 × 6.3 / 10,000 = 0.00126,
    plus the base 0.00025."""
    assert per_call(baidu, review(political_figures=True, public_figures=True)) == {
        "base": Decimal("0.00025"), "politics": Decimal("0.00126")}


def test_dependent_options_bring_their_fees(baidu: ratecard.PriceBook) -> None:
    """Ads with the QR-code content option: ad 3.4 and QR code 14.6 per 10,000; the custom face
    list 19.9; the flag option with its China-map sub-option charges flag twice, 2 × 5.6:
    0.00025 + 0.00034 + 0.00146 + 0.00199 + 0.00112 = 0.00516 a call."""
    lines = per_call(baidu, review(ad=True, ad_qrcode=True, custom_face_list=True, flag=True,
                                   flag_map=True))
    assert lines == {"base": Decimal("0.00025"), "ad": Decimal("0.00034"),
                     "qrcode": Decimal("0.00146"), "face_list": Decimal("0.00199"),
                     "flag": Decimal("0.00112")}
    assert sum(lines.values()) == Decimal("0.00516")


def test_a_month_with_a_porn_pack(baidu: ratecard.PriceBook) -> None:
    """A 50万 porn pack (120 元, prepaid, listed apart) and 6,000 calls with porn ticked, 2,000
    of them with terror too. Base: 6,000 × 2.5 / 10,000 = 1.50; porn: all 6,000 from the pack
    (494,000 left); terror: 2,000 × 3.8 / 10,000 = 0.76. Total 1.50 + 0.76 = 2.26 (the pack's
    120.00 is prepaid, not in the total)."""
    journal: list[dict[str, Any]] = [
        {"time": "2026-11-01T00:00:00+08:00", "type": "purchase", "meter": "porn",
         "size": "50万"}]
    journal += [review(f"2026-11-02T10:{i // 60 % 60:02d}:{i % 60:02d}+08:00", porn=True,
                       terror=i < 2_000) for i in range(6_000)]
    (bill,) = baidu.bill(journal)
    assert [(line.meter, line.source, line.quantity, line.amount) for line in bill.lines] == [
        ("base", "postpaid", Decimal(6_000), Decimal("1.50")),
        ("porn", "pack", Decimal(6_000), Decimal("0.00")),
        ("terror", "postpaid", Decimal(2_000), Decimal("0.76")),
    ]
    assert bill.total == Decimal("2.26")
    assert bill.prepaid_total == Decimal("120.00")
    assert [(p.meter, p.remaining) for p in bill.packs] == [("porn", Decimal(494_000))]


def test_an_unknown_option_names_the_line(baidu: ratecard.PriceBook) -> None:
    with pytest.raises(JournalError) as caught:
        baidu.bill([review(), review(prn=True)])
    assert (caught.value.line, caught.value.field) == (2, "properties.prn")
    assert caught.value.message.endswith("did you mean `porn`?")
    with pytest.raises(JournalError) as caught:
        baidu.bill([review(porn="yes")])  # type: ignore[arg-type]
    assert caught.value.message == "`porn` is true or false, not \"yes\""


VISION = """\
rules vision "图像" / "Vision"
currency USD, rounding half_up 0.01, timezone UTC
meter label "标签" / "Label detection"
meter safe_search "安全搜索" / "SafeSearch"
request annotate {
  property label bool default false
  property safe_search bool default false
  charge label when label
  charge safe_search when safe_search unless label
}
price label, safe_search 1.50 per 1000
deduct postpaid
"""


def test_a_unit_free_when_another_is_in_the_same_request() -> None:
    """Google Vision: SafeSearch is free with Label in the same request. 1,000 calls of both:
    label 1,000 × 1.50 / 1,000 = 1.50, SafeSearch free; 1,000 of SafeSearch alone: 1.50.
    Total 3.00."""
    book = ratecard.loads(VISION, "vision.rules")
    both = {"time": "2026-11-02T00:00:00Z", "type": "request", "action": "annotate",
            "properties": {"label": True, "safe_search": True}}
    alone = both | {"properties": {"safe_search": True}}
    (bill,) = book.bill([both] * 1000 + [alone] * 1000)
    assert [(line.meter, line.quantity, line.amount) for line in bill.lines] == [
        ("label", Decimal(1000), Decimal("1.50")),
        ("safe_search", Decimal(1000), Decimal("1.50")),
    ]
    assert bill.total == Decimal("3.00")
