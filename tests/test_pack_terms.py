"""Pack terms (DESIGN.md, "Grants and credits"; issue 15, item 3): `contact sales` pack cells,
a validity per pack table, refunds of unused packs within a window, packs that stop service
when exhausted, and Baidu's draw order "by purchase time, then smaller size first".

Worked on SHEET, a piece of Tencent Cloud's OCR page (its list prices, 1-year packs refundable
within 7 days if unused, 联系商务 cells) with a prepaid-only meter of 5-year packs.
"""

from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import ratecard
from ratecard import Account, HeldPack, JournalError, Refund, UsageError
from ratecard.changes import CONTACT_SALES, changes
from ratecard.cli import main
from ratecard.engine.pricebook import PriceBook
from ratecard.engine.replay import bill_journal
from ratecard.engine.snapshot import checksum
from tests.test_json_schema import assert_valid

D = Decimal
Entry = dict[str, Any]

SHEET = """\
rules ocr "文字识别" / "OCR"
currency CNY, rounding half_up 0.01, timezone Asia/Shanghai

meter general_basic "通用印刷体识别" / "General print OCR" counts GeneralBasicOCR
meter bizlicense_verify_basic "营业执照识别及核验（基础版）" / "Business licence verification"
  counts VerifyBasicBizLicense
meter seal "印章识别" / "Seal OCR" counts SealOCR

allowance 1000 per month on general_basic

packs valid 1 year, refundable within 7 days if unused {
  size                     1000  1万    10万    100万
  general_basic            120   800    5000    30000
  bizlicense_verify_basic  290   2850   26000   contact sales
}
packs valid 5 years, no refund, stop when exhausted {
  size  1000  1万
  seal  100   800
}

ladder volume by postpaid per month on general_basic {
  (0, 1万]      0.15  # allow: W003
  (1万, 10万]   0.10  # allow: W003
  (10万, ∞)     0.06
}
ladder volume by postpaid per month on bizlicense_verify_basic {
  (0, 1万]   0.30  # allow: W003
  (1万, ∞)   0.28
}

deduct allowance, packs by purchase then smallest, postpaid
alert pack exhausted
"""


@pytest.fixture(scope="module")
def book() -> PriceBook:
    return ratecard.loads(SHEET, "ocr.rules")


def at(day: int, hour: int = 9) -> str:
    return f"2026-11-{day:02d}T{hour:02d}:00:00+08:00"


def buy(time: str, meter: str, size: str, entry_id: str, price: Any = None) -> Entry:
    entry: Entry = {"time": time, "type": "purchase", "meter": meter, "size": size, "id": entry_id}
    if price is not None:
        entry["price"] = price
    return entry


def use(time: str, action: str, count: int) -> Entry:
    return {"time": time, "type": "usage", "action": action, "count": count}


def refund(time: str, pack: str) -> Entry:
    return {"time": time, "type": "refund", "pack": pack}


def lines(bill: ratecard.Bill) -> list[tuple[str, str, str | None, Decimal, Decimal]]:
    return [(line.meter, line.source, line.pack, line.quantity, line.amount)
            for line in bill.lines]


def error_of(book: PriceBook, journal: list[Entry]) -> JournalError:
    with pytest.raises(JournalError) as info:
        book.bill(journal)
    return info.value


# --- contact sales ----------------------------------------------------------------------------

def test_a_contact_sales_pack_is_bought_at_its_own_price(book: PriceBook) -> None:
    """The 100万 licence-verification pack is 联系商务: sold at 200,000 (the entry's price), it
    is the prepaid line's price, with no list price. 1,000,500 calls: 1,000,000 from the pack,
    500 postpaid in (0, 1万] at 0.30 = 150.00."""
    (bill,) = book.bill([
        buy(at(1), "bizlicense_verify_basic", "100万", "deal-1", "200000"),
        use(at(2), "VerifyBasicBizLicense", 1_000_500),
    ])
    assert [(p.pack, p.price, p.list_price) for p in bill.prepaid] == [
        ("deal-1", D("200000.00"), None)]
    assert bill.prepaid_total == D("200000.00")
    assert lines(bill) == [
        ("bizlicense_verify_basic", "pack", "deal-1", 1_000_000, D("0.00")),
        ("bizlicense_verify_basic", "postpaid", None, 500, D("150.00")),
    ]
    assert bill.total == D("150.00")
    assert "list_price" not in bill.to_dict()["prepaid"][0]


def test_a_contact_sales_pack_without_a_price_is_refused_naming_its_line(
    book: PriceBook,
) -> None:
    error = error_of(book, [
        use(at(1), "GeneralBasicOCR", 5),
        buy(at(2), "bizlicense_verify_basic", "100万", "deal-1"),
    ])
    assert (error.line, error.field) == (2, "price")
    assert error.message == ("the pack of 1000000 `bizlicense_verify_basic` is sold by "
                             "negotiation (`contact sales`, no list price): give the price it "
                             "was sold at in `price`")


def test_the_sheet_shows_contact_sales_cells_and_each_table_s_terms(book: PriceBook) -> None:
    """A contact-sales cell reads as a ladder's does; each table's validity, refund window and
    stop is said of its meters; no blanket "packs cannot be refunded"."""
    zh = ratecard.render_sheet(book, "md", "zh").text
    en = ratecard.render_sheet(book, "md", "en").text
    assert "| 营业执照识别及核验（基础版） | 290元 | 2850元 | 26000元 | 联系销售 |" in zh
    assert ("- 通用印刷体识别、营业执照识别及核验（基础版）：资源包自购买时起一年内有效，"
            "购买后7天内未使用可退款。") in zh
    assert "- 印章识别：资源包自购买时起5年内有效，用尽后停止服务，不转入后付费。" in zh
    assert "- 持有多个资源包时，先扣除最早购买的资源包；同时购买的，先扣除规格较小的。" in zh
    assert "不支持退款" not in zh
    assert "| contact sales |" in en
    assert ("- Seal OCR: a pack is valid for 5 years from its purchase; once the packs are used "
            "up the service stops (no postpaid).") in en


# --- validity per table ------------------------------------------------------------------------

def test_each_pack_table_has_its_own_validity(book: PriceBook) -> None:
    """A general_basic pack lasts 1 year (its table), a seal pack 5 years (its own)."""
    (bill,) = book.bill([
        buy(at(1), "general_basic", "1000", "g"),
        buy(at(1), "seal", "1000", "s"),
    ])
    assert [(p.pack, p.expires.isoformat()) for p in bill.prepaid] == [
        ("g", "2027-11-01T09:00:00+08:00"), ("s", "2031-11-01T09:00:00+08:00")]


def test_a_seal_pack_is_drawn_four_years_on(book: PriceBook) -> None:
    """Bought 2026-11-01, the seal pack still pays for 300 calls on 2030-11-02 (a general
    pack would have expired 2027-11-01): no postpaid, 700 left."""
    bills = book.bill([
        buy(at(1), "seal", "1000", "s"),
        use("2030-11-02T09:00:00+08:00", "SealOCR", 300),
    ])
    last = bills[-1]
    assert lines(last) == [("seal", "pack", "s", 300, D("0.00"))]
    assert [(p.pack, p.remaining) for p in last.packs] == [("s", 700)]


# --- refunds -----------------------------------------------------------------------------------

REFUNDED = [
    buy(at(1), "general_basic", "1万", "p-1"),
    buy(at(1, 10), "general_basic", "1000", "p-2"),
    refund(at(5), "p-1"),
    use(at(10), "GeneralBasicOCR", 3000),
]


def test_a_refunded_pack_is_listed_and_drawn_no_more(book: PriceBook) -> None:
    """p-1 (1万, 800.00) and p-2 (1000, 120.00) are bought, prepaid 920.00; p-1 is refunded
    on day 5, within its 7 days and undrawn: refunds 800.00. 3,000 calls on day 10: 1,000 from
    the allowance, 1,000 from p-2 (p-1 is gone), 1,000 postpaid in (0, 1万] at 0.15 =
    150.00."""
    (bill,) = book.bill(REFUNDED)
    assert bill.prepaid_total == D("920.00")
    assert [(r.pack, r.meter, r.size, r.amount, r.time.isoformat()) for r in bill.refunds] == [
        ("p-1", "general_basic", 10000, D("800.00"), at(5))]
    assert bill.refund_total == D("800.00")
    assert lines(bill) == [
        ("general_basic", "allowance", None, 1000, D("0.00")),
        ("general_basic", "pack", "p-2", 1000, D("0.00")),
        ("general_basic", "postpaid", None, 1000, D("150.00")),
    ]
    assert bill.total == D("150.00")
    assert [a.pack for a in bill.alerts] == ["p-2"]  # exhausted; p-1 never was
    assert bill.packs == ()
    data = bill.to_dict()
    assert data["refunds"] == [{
        "pack": "p-1", "meter": "general_basic", "size": "10000", "amount": "800.00",
        "time": at(5), "purchased": at(1)}]
    assert data["refund_total"] == "800.00"


def test_a_refund_pays_back_the_price_paid(book: PriceBook) -> None:
    """Bought at 84 (list 120), the pack refunds 84.00."""
    (bill,) = book.bill([buy(at(1), "general_basic", "1000", "p", 84), refund(at(2), "p")])
    assert [(r.amount, bill.refund_total) for r in bill.refunds] == [(D("84.00"), D("84.00"))]


def test_bills_without_refunds_have_no_refund_keys(book: PriceBook) -> None:
    (bill,) = book.bill(REFUNDED[:2])
    assert "refunds" not in bill.to_dict() and "refund_total" not in bill.to_dict()


def test_a_pack_refunded_twice_is_a_resend(book: PriceBook) -> None:
    """The second refund of p-1 is ignored and listed, as a resent purchase is."""
    (bill,) = book.bill([*REFUNDED, refund(at(11), "p-1")])
    assert [(i.type, i.id, i.line) for i in bill.ignored] == [("refund", "p-1", 5)]
    assert bill.refund_total == D("800.00")


@pytest.mark.parametrize(("entry", "message"), [
    (refund(at(8, 10), "p-2"),
     "pack `p-2` cannot be refunded: bought 2026-11-01T10:00:00+08:00, its refund window of 7 "
     "days closed 2026-11-08T10:00:00+08:00"),
    (refund(at(3), "p-2"),  # the allowance is spent by day 2, so p-2 has given 500
     "pack `p-2` cannot be refunded: 500 of its 1000 units have been drawn (only an unused "
     "pack is refunded)"),
    (refund(at(3), "s"),
     "pack `s` cannot be refunded: the packs of `seal` are not refundable"),
    (refund(at(3), "p-9"),
     "no pack `p-9` is held: a refund names a pack bought and not expired, by its purchase id "
     "(or the id the bill gives it)"),
])
def test_a_refund_refused_names_its_line_and_why(
    book: PriceBook, entry: Entry, message: str
) -> None:
    journal = [
        buy(at(1, 10), "general_basic", "1000", "p-2"),
        buy(at(1, 10), "seal", "1000", "s"),
        use(at(2), "GeneralBasicOCR", 1500),
        entry,
    ]
    error = error_of(book, journal)
    assert (error.line, error.field, error.message) == (4, "pack", message)


def test_the_window_is_open_until_just_before_it_closes(book: PriceBook) -> None:
    """Bought 11-01 10:00; refundable at 11-08 09:59:59, not at 10:00 (exclusive)."""
    journal = [buy(at(1, 10), "general_basic", "1000", "p")]
    (bill,) = book.bill([*journal, refund("2026-11-08T09:59:59+08:00", "p")])
    assert bill.refund_total == D("120.00")
    with pytest.raises(JournalError, match="refund window of 7 days closed"):
        book.bill([*journal, refund("2026-11-08T10:00:00+08:00", "p")])


def test_a_refused_refund_is_reported_and_nothing_else_is_lost(book: PriceBook) -> None:
    """With `on_invalid`, the refused refund is passed there once (the journal out of order is
    read twice) and every other entry is billed as if it were not there."""
    bad = refund(at(3), "p-9")
    reported: list[JournalError] = []
    journal = [REFUNDED[3], bad, *REFUNDED[:3]]  # out of time order: sorted and replayed
    bills = book.bill(journal, on_invalid=reported.append)
    assert [(e.line, e.field) for e in reported] == [(2, "pack")]
    assert [b.to_dict() for b in bills] == [b.to_dict() for b in book.bill(REFUNDED)]


def test_sheets_without_a_refund_window_refuse_refund_entries() -> None:
    bda = ratecard.load("rules/tencent-bda.rules")
    with pytest.raises(JournalError, match="prepaid packs are non-refundable"):
        bda.bill([refund(at(1), "x")])
    text = SHEET.replace(", refundable within 7 days if unused", "").replace(", no refund", "")
    plain = ratecard.loads(text, "plain.rules")
    with pytest.raises(JournalError) as info:
        plain.bill([refund(at(1), "x")])
    assert (info.value.field, info.value.message) == (
        "type", "a refund cannot be billed: no pack table of rules `ocr` says "
        "`refundable within ...`")


def test_a_typed_refund_entry(book: PriceBook) -> None:
    (bill,) = book.bill([buy(at(1), "general_basic", "1000", "p"), Refund(at(2), "p")])
    assert bill.refund_total == D("120.00")


# --- packs that stop service when exhausted ----------------------------------------------------

STOPPING = [
    buy(at(1), "seal", "1000", "s"),
    use(at(2), "SealOCR", 600),
    use(at(3), "SealOCR", 600),
    use(at(4), "SealOCR", 50),
]


def test_usage_past_packs_that_stop_is_rejected_not_postpaid(book: PriceBook) -> None:
    """The 1000-call seal pack pays for 600 then 400 of the next 600: 200 of that entry and
    all 50 of the next are rejected (2 entries, 250 calls), never billed: total 0.00."""
    (bill,) = book.bill(STOPPING)
    assert lines(bill) == [("seal", "pack", "s", 1000, D("0.00"))]
    assert [(r.meter, r.action, r.quantity, r.entries, r.reason) for r in bill.rejected] == [
        ("seal", "SealOCR", 250, 2, "packs exhausted")]
    assert bill.total == D("0.00")
    assert bill.to_dict()["rejected"] == [{
        "meter": "seal", "action": "SealOCR", "quantity": "250", "entries": 2,
        "reason": "packs exhausted"}]


def test_without_a_pack_every_unit_of_a_meter_that_stops_is_rejected(book: PriceBook) -> None:
    (bill,) = book.bill([use(at(2), "SealOCR", 70)])
    assert bill.lines == ()
    assert [(r.quantity, r.entries, r.reason) for r in bill.rejected] == [
        (70, 1, "packs exhausted")]


def test_a_quote_past_packs_that_stop_says_so(book: PriceBook) -> None:
    assert book.quote({"SealOCR": 900}, [HeldPack("seal", "1000")]).total == D("0.00")
    with pytest.raises(UsageError, match="meter `seal` stops when its packs are exhausted: "
                                         "100 units are not covered"):
        book.quote({"SealOCR": 1100}, [HeldPack("seal", "1000")])


# --- by purchase, then smaller first ----------------------------------------------------------

SAME_INSTANT = [
    buy(at(1), "general_basic", "10万", "big"),
    buy(at(1), "general_basic", "1000", "small"),
    buy(at(2), "general_basic", "1000", "later"),
    use(at(3), "GeneralBasicOCR", 2500),
]


def test_packs_bought_together_draw_the_smaller_first(book: PriceBook) -> None:
    """`big` (10万) and `small` (1000) are bought at one instant, `later` the next day. 2,500
    calls: 1,000 from the allowance, 1,000 from `small` (the smaller of the first purchase),
    500 from `big`; `later` waits."""
    (bill,) = book.bill(SAME_INSTANT)
    assert lines(bill)[1:] == [
        ("general_basic", "pack", "small", 1000, D("0.00")),
        ("general_basic", "pack", "big", 500, D("0.00")),
    ]


def test_by_purchase_alone_keeps_the_journal_s_order(book: PriceBook) -> None:
    """Without `then smallest`, the journal's order breaks the tie: `big` first (1,500)."""
    plain = ratecard.loads(SHEET.replace("by purchase then smallest", "by purchase"), "p.rules")
    (bill,) = plain.bill(SAME_INSTANT)
    assert lines(bill)[1:] == [("general_basic", "pack", "big", 1500, D("0.00"))]


# --- one replay, however it is fed -------------------------------------------------------------

EVERYTHING = [
    *SAME_INSTANT,
    buy(at(4), "bizlicense_verify_basic", "100万", "deal", "180000"),
    refund(at(5), "later"),
    use(at(6), "VerifyBasicBizLicense", 30),
    *STOPPING,
    refund(at(9), "later"),
    use("2026-12-02T09:00:00+08:00", "GeneralBasicOCR", 100_000),
    use("2026-12-03T09:00:00+08:00", "SealOCR", 5),
]


def test_an_account_cut_at_every_entry_bills_as_one_replay(book: PriceBook) -> None:
    """Saved and restored between any two entries, the account gives the bills of one replay
    (refunds, stopped usage and a negotiated price included)."""
    journal = sorted(EVERYTHING, key=lambda entry: entry["time"])
    whole = [bill.to_dict() for bill in book.bill(journal)]
    assert [b["month"] for b in whole] == ["2026-11", "2026-12"]
    for cut in range(len(journal) + 1):
        account = Account(book)
        issued = account.feed(journal[:cut])
        account = Account.restore(book, json.dumps(account.snapshot()))
        issued += account.feed(journal[cut:])
        assert account.month is not None
        issued += account.close_through(account.month)
        assert [bill.to_dict() for bill in issued] == whole, f"cut at entry {cut}"


def settled(bill: ratecard.Bill) -> dict[str, Any]:
    """A bill as any order of the same entries gives it: entries at one instant keep the
    journal's order in its lists (prepaid, alerts) and lines number the resends."""
    data = bill.to_dict()
    for key in ("prepaid", "alerts"):
        data[key] = sorted(data[key], key=lambda item: json.dumps(item, sort_keys=True))
    data["ignored"] = [{**item, "line": None} for item in data["ignored"]]
    return data


def test_shuffled_and_entry_by_entry_replays_agree(book: PriceBook) -> None:
    """Shuffled, the journal bills alike (the smaller of `big` and `small`, bought at one
    instant, is drawn first whichever the journal lists first); drawn entry by entry too."""
    whole = [bill.to_dict() for bill in book.bill(EVERYTHING)]
    for seed in range(5):
        shuffled = list(EVERYTHING)
        random.Random(seed).shuffle(shuffled)
        assert [settled(bill) for bill in book.bill(shuffled)] == [
            settled(bill) for bill in book.bill(EVERYTHING)], f"seed {seed}"
    single = bill_journal(book, EVERYTHING, aggregate=False)
    assert isinstance(single, list)
    assert [bill.to_dict() for bill in single] == whole


def test_an_account_refusing_a_refund_is_left_as_it_was(book: PriceBook) -> None:
    """A batch with a refused refund raises, naming the entry in the batch, and changes
    nothing: fed the good entries after, the account bills as one replay."""
    account = Account(book)
    account.feed(REFUNDED[:2])
    before = account.snapshot()
    with pytest.raises(JournalError) as info:
        account.feed([use(at(2), "GeneralBasicOCR", 2500), refund(at(3), "p-1")])
    assert (info.value.line, info.value.field) == (2, "pack")
    assert info.value.message == ("pack `p-1` cannot be refunded: 1500 of its 10000 units have "
                                  "been drawn (only an unused pack is refunded)")
    assert account.snapshot() == before
    account.feed(REFUNDED[2:])
    assert account.close_through("2026-11") == book.bill(REFUNDED)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda doc: doc["lots"][0].update(remaining="10000"),
     "`lots[0].refunded`: true, but 10000 units are left"),
    (lambda doc: doc["month"]["refunds"][0].update(amount="900.00"),
     "the refund of `p-1` is not of its lot"),
    (lambda doc: doc["month"]["stopped"][0].update(action="GeneralBasicOCR"),
     "`GeneralBasicOCR` is not counted into a meter whose packs stop"),
])
def test_a_damaged_refund_or_stop_in_a_snapshot_is_refused(
    book: PriceBook, edit: Any, message: str
) -> None:
    account = Account(book)
    account.feed([*REFUNDED[:3], *STOPPING])
    document = account.snapshot()
    edit(document)
    document["checksum"] = checksum(document)
    with pytest.raises(ratecard.SnapshotError, match=message.replace("[", r"\[")
                       .replace("]", r"\]")):
        Account.restore(book, json.dumps(document))


# --- the bill's JSON and text ----------------------------------------------------------------

def test_the_bills_validate_and_print(
    book: PriceBook, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Refunds and usage rejected past packs that stop are in the JSON schema of a bill and in
    the text bill."""
    rules = tmp_path / "ocr.rules"
    rules.write_text(SHEET, encoding="utf-8")
    journal = tmp_path / "j.jsonl"
    journal.write_text("".join(json.dumps(e) + "\n" for e in EVERYTHING), encoding="utf-8")
    assert main(["bill", str(rules), "--journal", str(journal), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert_valid(data)
    assert data["bills"][0]["refund_total"] == "120.00"
    assert main(["bill", str(rules), "--journal", str(journal), "--month", "2026-11"]) == 0
    out = capsys.readouterr().out
    assert ("refunded: pack later (1,000 general_basic) 120.00 on 2026-11-05T09:00:00+08:00, "
            "bought 2026-11-02T09:00:00+08:00\n") in out
    assert "refund total CNY 120.00 (paid back, not in the total)\n" in out
    assert "rejected (packs exhausted): SealOCR 250 (2 entries)\n" in out


# --- dated versions ----------------------------------------------------------------------------

VERSIONED = SHEET + """
from 2027-01-01 {
  packs valid 1 year, refundable within 7 days if unused {
    size                     100万
    bizlicense_verify_basic  220000
  }
}
from 2027-07-01 {
  packs valid 3 years, no refund, stop when exhausted {
    size  1万
    seal  700
  }
}
"""


def test_a_version_restates_one_table_and_keeps_the_others() -> None:
    """From 2027-01-01 the 100万 licence pack has a list price (was 联系商务); from 2027-07-01
    seal packs last 3 years: each version's rows stay in their own table, with its terms."""
    book = ratecard.loads(VERSIONED, "v.rules")
    first, listed, longer = book.books
    assert [(p.name, p.pack_terms.valid_amount) for p in longer.meters if p.packs] == [
        ("general_basic", 1), ("bizlicense_verify_basic", 1), ("seal", 3)]
    assert listed.meter("bizlicense_verify_basic").pack(D(1_000_000)) is not None
    assert [(c.what, c.meter, c.old, c.new, c.key) for c in changes(first, listed)] == [
        ("pack_price", "bizlicense_verify_basic", CONTACT_SALES, D(220000), D(1_000_000))]
    assert [(c.what, c.meter, c.old, c.new, c.key) for c in changes(listed, longer)] == [
        ("pack_price", "seal", D(800), D(700), D(10000)),
        ("pack_validity", "seal", (5, "year"), (3, "year"), None)]
    bills = book.bill([
        buy("2027-07-02T09:00:00+08:00", "seal", "1万", "s3"),
        buy("2027-01-02T09:00:00+08:00", "bizlicense_verify_basic", "100万", "listed"),
    ])
    assert [(p.pack, p.price, p.expires.isoformat()) for b in bills for p in b.prepaid] == [
        ("listed", D("220000.00"), "2028-01-02T09:00:00+08:00"),
        ("s3", D("700.00"), "2030-07-02T09:00:00+08:00")]
