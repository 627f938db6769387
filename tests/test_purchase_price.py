"""A pack bought at its own price: the purchase entry's `price` (DESIGN.md, "Grants and
credits": a `price` field overrides the list price, and the prepaid line shows it).

The price paid is what the bill's prepaid line and prepaid total show, with the sheet's price
beside it as `list_price`; it changes nothing else (the pack's units, validity, alerts and the
bill's total are the list-priced pack's). Worked on the BDA sheet, whose 1万 detection pack
lists at 18.00.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import ratecard
from ratecard import Account, SnapshotError
from ratecard.cli import main
from ratecard.engine.journal import Purchase, Usage
from ratecard.engine.pricebook import PriceBook
from ratecard.engine.snapshot import checksum
from tests.conftest import ROOT

D = Decimal
Entry = dict[str, Any]
EXAMPLE = ROOT / "examples" / "price-change"


def buy(time: str, size: str, price: Any = None, entry_id: str | None = None) -> Entry:
    entry: Entry = {"time": time, "type": "purchase", "meter": "detection", "size": size}
    if price is not None:
        entry["price"] = price
    if entry_id is not None:
        entry["id"] = entry_id
    return entry


def use(time: str, count: int) -> Entry:
    return {"time": time, "type": "usage", "action": "DetectBody", "count": count}


JOURNAL = [
    buy("2026-11-01T09:00:00+08:00", "1万", "12.50", "p-1"),
    buy("2026-11-02T09:00:00+08:00", "1万", entry_id="p-2"),
    use("2026-11-03T09:00:00+08:00", 12_000),
]


def test_the_prepaid_line_shows_the_price_paid(bda: PriceBook) -> None:
    """p-1 paid 12.50 (list 18.00), p-2 the list price 18.00: prepaid total 12.50 + 18.00 =
    30.50. Usage 12,000: 1,000 from the allowance, 10,000 from p-1 (the packs expire in that
    order of purchase), 1,000 from p-2: no postpaid line, total 0.00 whatever p-1 cost."""
    (bill,) = bda.bill(JOURNAL)
    assert [(p.pack, p.price, p.list_price) for p in bill.prepaid] == [
        ("p-1", D("12.50"), D("18.00")),
        ("p-2", D("18.00"), None),
    ]
    assert bill.prepaid_total == D("30.50")
    assert bill.total == D("0.00")
    assert [(line.source, line.pack, line.quantity) for line in bill.lines] == [
        ("allowance", None, 1000), ("pack", "p-1", 10000), ("pack", "p-2", 1000)]
    data = bill.to_dict()
    assert data["prepaid"][0] == {
        "pack": "p-1", "meter": "detection", "size": "10000", "price": "12.50",
        "time": "2026-11-01T09:00:00+08:00", "expires": "2027-11-01T09:00:00+08:00",
        "list_price": "18.00",
    }
    assert "list_price" not in data["prepaid"][1]
    assert data["prepaid_total"] == "30.50"


def test_a_free_pack_and_a_typed_entry(bda: PriceBook) -> None:
    """A pack given away (`price` 0, a typed `Purchase`): prepaid total 0.00, list 18.00."""
    (bill,) = bda.bill([
        Purchase("2026-11-01T09:00:00+08:00", "detection", "1万", "gift", price=0),
        Usage("2026-11-02T09:00:00+08:00", "DetectBody", 10),
    ])
    assert [(p.price, p.list_price) for p in bill.prepaid] == [(D("0.00"), D("18.00"))]
    assert bill.prepaid_total == D("0.00")


def test_a_resent_purchase_keeps_the_first_price(bda: PriceBook) -> None:
    """The second p-1 (at 1.00) is a resend: ignored, the first price 12.50 stands."""
    (bill,) = bda.bill([*JOURNAL, buy("2026-11-04T09:00:00+08:00", "1万", "1.00", "p-1")])
    assert [(p.pack, p.price) for p in bill.prepaid] == [("p-1", D("12.50")), ("p-2", D("18.00"))]
    assert [(i.type, i.id) for i in bill.ignored] == [("purchase", "p-1")]


def test_a_contract_s_pack_price_is_the_list_price_a_purchase_overrides() -> None:
    """Under acme's contract the 10万 detection pack lists at 150; bought at 120 in January
    2027, the prepaid line shows 120.00 (list 150.00)."""
    book = ratecard.load(EXAMPLE / "bda-2027.rules").with_contract(EXAMPLE / "acme.rules")
    (bill,) = book.bill([
        {"time": "2027-01-04T09:00:00+08:00", "type": "purchase", "meter": "detection",
         "size": "10万", "price": 120},
        use("2027-01-05T09:00:00+08:00", 100),
    ])
    assert [(p.price, p.list_price) for p in bill.prepaid] == [(D("120.00"), D("150.00"))]


def test_an_account_resumed_anywhere_keeps_the_price(bda: PriceBook) -> None:
    """Cut at every entry, saved, restored: the bills of one replay, prices and all."""
    whole = [bill.to_dict() for bill in bda.bill(JOURNAL)]
    for cut in range(len(JOURNAL) + 1):
        account = Account(bda)
        issued = account.feed(JOURNAL[:cut])
        account = Account.restore(bda, json.dumps(account.snapshot()))
        issued += account.feed(JOURNAL[cut:])
        assert account.month is not None
        issued += account.close_through(account.month)
        assert [bill.to_dict() for bill in issued] == whole, f"cut at entry {cut}"


@pytest.mark.parametrize(("edit", "message"), [
    (lambda p: p.update(list_price="17.00"),
     "month.prepaid[0].list_price`: 17.00, but the pack of 10000 `detection` costs 18"),
    (lambda p: p.update(list_price="-1"), "month.prepaid[0].list_price"),
    (lambda p: p.update(price="-1"), "month.prepaid[0].price"),
])
def test_a_damaged_price_in_a_snapshot_is_refused(
    bda: PriceBook, edit: Any, message: str
) -> None:
    account = Account(bda)
    account.feed(JOURNAL[:1])
    document = account.snapshot()
    edit(document["month"]["prepaid"][0])
    document["checksum"] = checksum(document)  # edited by hand, checksum made again
    with pytest.raises(SnapshotError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Account.restore(bda, json.dumps(document))


def test_the_text_bill_shows_both_prices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = tmp_path / "j.jsonl"
    journal.write_text("".join(json.dumps(entry) + "\n" for entry in JOURNAL), encoding="utf-8")
    assert main(["bill", str(ROOT / "rules" / "tencent-bda.rules"), "--journal",
                 str(journal)]) == 0
    out = capsys.readouterr().out
    assert ("prepaid: pack p-1 (10,000 detection) 12.50 (list price 18.00), bought "
            "2026-11-01T09:00:00+08:00, expires 2027-11-01T09:00:00+08:00\n") in out
    assert ("prepaid: pack p-2 (10,000 detection) 18.00, bought 2026-11-02T09:00:00+08:00, "
            "expires 2027-11-02T09:00:00+08:00\n") in out
    assert "prepaid total CNY 30.50 (already paid, not in the total)\n" in out


def test_the_bill_json_with_a_list_price_validates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`list_price` is in docs/schemas/bill.json: the bill --json output validates."""
    from tests.test_json_schema import assert_valid

    journal = tmp_path / "j.jsonl"
    journal.write_text("".join(json.dumps(entry) + "\n" for entry in JOURNAL), encoding="utf-8")
    assert main(["bill", str(ROOT / "rules" / "tencent-bda.rules"), "--journal", str(journal),
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["bills"][0]["prepaid"][0]["list_price"] == "18.00"
    assert_valid(data)
