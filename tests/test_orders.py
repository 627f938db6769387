"""Orders (issue 15, item 5): a one-time purchase of N units with a minimum order quantity and
tiers chosen by the order's own quantity, after Tencent Cloud's face recognition page (§6,
offline SDK device licences, per device, minimum purchase 50, 联系商务 above 1万).

The page's brackets "50 - 1000个, 1001 - 5000个, 5000 - 1万个" overlap at 5000; SHEET reads
them as (0, 1000], (1000, 5000], (5000, 1万] (5000 devices at 78), with the minimum of 50 as
the order's `minimum`.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import ratecard
from ratecard import Account, JournalError, Order
from ratecard.cli import main
from ratecard.engine.pricebook import PriceBook
from ratecard.engine.snapshot import checksum
from ratecard.fmt import format_source
from ratecard.source import SourceFile
from tests.test_json_schema import assert_valid

D = Decimal
Entry = dict[str, Any]

SHEET = """\
rules face "人脸识别" / "Face recognition"
currency CNY, rounding half_up 0.01, timezone Asia/Shanghai

meter search "人脸搜索" / "Face search" counts SearchFaces
ladder volume by postpaid per month on search {
  (0, 300万]      0.0032  # allow: W003
  (300万, 1500万] 0.003  # allow: W003
  (1500万, ∞)     0.0027
}

order sdk_detect "离线人脸检测 SDK" / "Offline face detection SDK", minimum 50,
      unit "个" / "device" {
  (0, 1000]     68
  (1000, 5000]  58
  (5000, 1万]   48
  (1万, ∞)      contact sales
}
order sdk_liveness "离线活体检测 SDK" / "Offline liveness SDK", minimum 50,
      unit "个" / "device" {
  (0, 1000]     88
  (1000, 5000]  78
  (5000, 1万]   68
  (1万, ∞)      contact sales
}
order sdk_recognition "离线人脸识别 SDK" / "Offline face recognition SDK", minimum 50,
      unit "个" / "device" {
  (0, 1000]     118
  (1000, 5000]  95
  (5000, 1万]   88
  (1万, ∞)      contact sales
}
"""


@pytest.fixture(scope="module")
def book() -> PriceBook:
    return ratecard.loads(SHEET, "face.rules")


def order(time: str, product: str, quantity: Any, entry_id: str | None = None,
          price: Any = None) -> Entry:
    entry: Entry = {"time": time, "type": "order", "product": product, "quantity": quantity}
    if entry_id is not None:
        entry["id"] = entry_id
    if price is not None:
        entry["price"] = price
    return entry


def at(day: int) -> str:
    return f"2026-11-{day:02d}T09:00:00+08:00"


JOURNAL = [
    order(at(1), "sdk_recognition", 1000, "o-1"),
    order(at(2), "sdk_recognition", 1001, "o-2"),
    order(at(3), "sdk_detect", 5000),
    order(at(4), "sdk_liveness", 20000, "o-4", "1200000"),
    {"time": at(5), "type": "usage", "action": "SearchFaces", "count": 1000},
]


def test_orders_are_priced_by_their_own_quantity(book: PriceBook) -> None:
    """The page's example: 1,000 recognition licences in (0, 1000] at 118 = 118,000.00. One
    more and the whole order is in (1000, 5000]: 1,001 × 95 = 95,095.00. 5,000 detection
    licences: (1000, 5000] at 58 = 290,000.00. 20,000 liveness licences are 联系商务: the
    order's own price, 1,200,000.00. Orders total 1,703,095.00, apart from the bill's total:
    1,000 search calls at 0.0032 = 3.20. The order without an id is named by its product and
    its number among the account's purchases and orders (the third)."""
    (bill,) = book.bill(JOURNAL)
    assert [(o.order, o.product, o.quantity, o.bracket, o.unit_price, o.amount)
            for o in bill.orders] == [
        ("o-1", "sdk_recognition", 1000, "(0, 1000]", D(118), D("118000.00")),
        ("o-2", "sdk_recognition", 1001, "(1000, 5000]", D(95), D("95095.00")),
        ("sdk_detect#3", "sdk_detect", 5000, "(1000, 5000]", D(58), D("290000.00")),
        ("o-4", "sdk_liveness", 20000, "(10000, ∞)", None, D("1200000.00")),
    ]
    assert bill.orders_total == D("1703095.00")
    assert bill.total == D("3.20")
    data = bill.to_dict()
    assert data["orders"][3] == {
        "order": "o-4", "product": "sdk_liveness", "quantity": "20000",
        "bracket": "(10000, ∞)", "unit_price": None, "amount": "1200000.00", "time": at(4)}
    assert data["orders_total"] == "1703095.00"


def test_an_order_at_its_own_price_keeps_the_list_amount(book: PriceBook) -> None:
    """60 detection licences sold at 3,000 (list 60 × 68 = 4,080.00)."""
    (bill,) = book.bill([Order(at(1), "sdk_detect", 60, price=3000)])
    assert [(o.amount, o.list_amount) for o in bill.orders] == [(D("3000.00"), D("4080.00"))]
    assert bill.to_dict()["orders"][0]["list_amount"] == "4080.00"


def test_bills_without_orders_have_no_order_keys(book: PriceBook) -> None:
    (bill,) = book.bill(JOURNAL[4:])
    assert "orders" not in bill.to_dict()


def test_a_resent_order_is_ignored(book: PriceBook) -> None:
    (bill,) = book.bill([*JOURNAL, order(at(6), "sdk_recognition", 2000, "o-1")])
    assert [(i.type, i.id, i.line) for i in bill.ignored] == [("order", "o-1", 6)]
    assert bill.orders_total == D("1703095.00")


@pytest.mark.parametrize(("entry", "field", "message"), [
    (order(at(6), "sdk_detect", 49), "quantity",
     "an order of 49 `sdk_detect` is below the minimum order of 50"),
    (order(at(6), "sdk_detect", 10001), "price",
     "an order of 10001 `sdk_detect` is in the bracket (10000, ∞), sold by negotiation "
     "(`contact sales`): give the price it was sold at in `price`"),
    (order(at(6), "sdk_detec", 100), "product",
     "`sdk_detec` is not a product of rules `face`; did you mean `sdk_detect`?"),
    (order(at(6), "sdk_detect", "60.5"), "quantity",
     "an order is of a whole number of units above 0, not 60.5"),
    ({"time": at(6), "type": "order", "product": "sdk_detect"}, "quantity",
     "missing field `quantity`"),
])
def test_a_bad_order_names_its_line_and_field(
    book: PriceBook, entry: Entry, field: str, message: str
) -> None:
    with pytest.raises(JournalError) as info:
        book.bill([*JOURNAL, entry])
    assert (info.value.line, info.value.field, info.value.message) == (6, field, message)


def test_a_bad_order_is_reported_and_nothing_else_is_lost(book: PriceBook) -> None:
    reported: list[JournalError] = []
    bills = book.bill([*JOURNAL[:2], order(at(2), "sdk_detect", 10), *JOURNAL[2:]],
                      on_invalid=reported.append)
    assert [(e.line, e.field) for e in reported] == [(3, "quantity")]
    assert [b.to_dict()["orders"] for b in bills] == [
        b.to_dict()["orders"] for b in book.bill(JOURNAL)]


def test_rules_without_orders_refuse_order_entries() -> None:
    bda = ratecard.load("rules/tencent-bda.rules")
    with pytest.raises(JournalError, match="rules `bda` sell nothing by order"):
        bda.bill([order(at(1), "sdk", 50)])


def test_an_account_cut_at_every_entry_bills_as_one_replay(book: PriceBook) -> None:
    whole = [bill.to_dict() for bill in book.bill(JOURNAL)]
    for cut in range(len(JOURNAL) + 1):
        account = Account(book)
        issued = account.feed(JOURNAL[:cut])
        account = Account.restore(book, json.dumps(account.snapshot()))
        issued += account.feed(JOURNAL[cut:])
        assert account.month is not None
        issued += account.close_through(account.month)
        assert [bill.to_dict() for bill in issued] == whole, f"cut at entry {cut}"


@pytest.mark.parametrize(("edit", "message"), [
    (lambda o: o.update(amount="1.00"), "`month.orders[0].amount`: 1.00, but the order costs"),
    (lambda o: o.update(quantity="10"), "`month.orders[0].quantity`: 10 is not a whole number "
                                        "of at least the minimum order of 50"),
    (lambda o: o.update(bracket="(1000, 5000]"), "`month.orders[0].bracket`"),
])
def test_a_damaged_order_in_a_snapshot_is_refused(
    book: PriceBook, edit: Any, message: str
) -> None:
    account = Account(book)
    account.feed(JOURNAL[:1])
    document = account.snapshot()
    edit(document["month"]["orders"][0])
    document["checksum"] = checksum(document)
    with pytest.raises(ratecard.SnapshotError, match=message.replace("[", r"\[")
                       .replace("]", r"\]").replace("(", r"\(").replace(")", r"\)")):
        Account.restore(book, json.dumps(document))


def test_the_sheet_lists_each_product_s_prices_by_quantity(book: PriceBook) -> None:
    zh = ratecard.render_sheet(book, "md", "zh").text
    en = ratecard.render_sheet(book, "md", "en").text
    assert ("| 离线人脸识别 SDK | 118元/个 | 95元/个 | 88元/个 | 联系销售 |") in zh
    assert "- 离线人脸识别 SDK最低购买50个。" in zh
    assert ("| Product | 0 < quantity ≤ 1K | 1K < quantity ≤ 5K | 5K < quantity ≤ 10K | "
            "quantity > 10K |") in en
    assert "- Offline liveness SDK: the minimum order is 50 devices." in en


def test_the_bill_validates_and_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "face.rules"
    rules.write_text(SHEET, encoding="utf-8")
    journal = tmp_path / "j.jsonl"
    journal.write_text("".join(json.dumps(e) + "\n" for e in JOURNAL), encoding="utf-8")
    assert main(["bill", str(rules), "--journal", str(journal), "--json"]) == 0
    assert_valid(json.loads(capsys.readouterr().out))
    assert main(["bill", str(rules), "--journal", str(journal)]) == 0
    out = capsys.readouterr().out
    assert ("order o-1: 1,000 sdk_recognition in (0, 1000] at 118 each: 118000.00, "
            f"{at(1)}\n") in out
    assert ("order o-4: 20,000 sdk_liveness in (10000, ∞) at contact sales: 1200000.00, "
            f"{at(4)}\n") in out
    assert "orders total CNY 1703095.00 (paid when ordered, not in the total)\n" in out


def test_fmt_lays_an_order_out_as_a_ladder() -> None:
    """One bracket a line, the prices aligned; formatting twice changes nothing."""
    text = ('rules f "F" / "F"\ncurrency CNY, rounding half_up 0.01, timezone Asia/Shanghai\n'
            'order sdk "SDK" / "SDK", minimum 50 { (0, 1000] 68 (1000, ∞) contact sales }\n')
    out = format_source(SourceFile("f.rules", text))
    assert isinstance(out, str)
    assert out.endswith('order sdk "SDK" / "SDK", minimum 50 {\n'
                        '  (0, 1000]  68\n'
                        '  (1000, ∞)  contact sales\n'
                        '}\n')
    assert format_source(SourceFile("f.rules", out)) == out
