"""Credits (DESIGN.md, "Grants and credits"; issue 15, item 2): money, not units, that pays the
amounts of the lines of the meters it applies to, before the balance; granted once when the
account opens (a 50 元 trial credit) or prepaid by a journal's `credit` entry (a prepaid
commitment); credits pay in the order the rules declare them, each issue until it expires.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

import ratecard
from ratecard import Account, JournalError
from ratecard.engine.bills import Bill
from ratecard.engine.pricebook import PriceBook

D = Decimal
Entry = dict[str, Any]

SHEET = """\
rules c "额度" / "Credits"
currency CNY, rounding half_up 0.01, timezone Asia/Shanghai

meter vat "增值税发票核验" / "VAT invoice verification" unit "次" / "call"
  counts VatInvoiceVerify
meter ocr "通用印刷体识别" / "General OCR" unit "次" / "call" counts GeneralBasicOCR

credit trial "试用金" / "Trial credit" 50 once on every meter valid 2 months
credit commit "预付承诺" / "Prepaid commitment" prepaid on ocr valid 1 year

ladder volume by postpaid per month on vat {
  (0, ∞) 0.30
}
ladder volume by postpaid per month on ocr {
  (0, ∞) 0.15
}
deduct postpaid
bill per month, issued on day 1, settle from balance
"""

JOURNAL: list[Entry] = [
    {"time": "2026-11-10T09:00:00+08:00", "type": "usage", "action": "VatInvoiceVerify",
     "count": 100},
    {"time": "2026-11-11T09:00:00+08:00", "type": "credit", "credit": "commit",
     "amount": "100.00", "currency": "CNY", "id": "c1"},
    {"time": "2026-11-12T09:00:00+08:00", "type": "usage", "action": "GeneralBasicOCR",
     "count": 200},
    {"time": "2026-12-10T09:00:00+08:00", "type": "usage", "action": "VatInvoiceVerify",
     "count": 100},
    {"time": "2026-12-12T09:00:00+08:00", "type": "usage", "action": "GeneralBasicOCR",
     "count": 400},
    {"time": "2027-01-12T09:00:00+08:00", "type": "usage", "action": "GeneralBasicOCR",
     "count": 800},
]


@pytest.fixture(scope="module")
def book() -> PriceBook:
    return ratecard.loads(SHEET, "credits.rules")


def paid(bill: Bill) -> list[tuple[str, str | None, Decimal]]:
    return [(line.meter, line.pack, line.amount) for line in bill.lines
            if line.source == "credit"]


def balances(bill: Bill) -> list[tuple[str, Decimal, Decimal]]:
    return [(c.credit_id, c.paid, c.remaining) for c in bill.credits]


def test_the_trial_credit_and_a_prepaid_commitment_pay_in_their_order(book: PriceBook) -> None:
    """The account opens 2026-11-10 09:00 with the 50.00 trial credit (valid 2 months, to
    2027-01-10 09:00) and buys 100.00 of commitment (on ocr only) the next day.

    November: vat 100 × 0.30 = 30.00, paid by the trial (20.00 left); ocr 200 × 0.15 = 30.00,
    20.00 by the trial (declared first), 10.00 by the commitment (90.00 left): total 0.00.
    December: vat 30.00 (the trial is spent), ocr 400 × 0.15 = 60.00 paid by the commitment
    (30.00 left): total 30.00. January: ocr 800 × 0.15 = 120.00, 30.00 by the commitment:
    total 90.00; the trial expired (2027-01-10, before the month's end) and is listed no more.
    """
    november, december, january = book.bill(JOURNAL)
    assert paid(november) == [("vat", "trial", D("-30.00")), ("ocr", "trial", D("-20.00")),
                              ("ocr", "c1", D("-10.00"))]
    assert november.total == D("0.00")
    assert balances(november) == [("trial", D("50.00"), D("0.00")),
                                  ("c1", D("10.00"), D("90.00"))]
    assert paid(december) == [("ocr", "c1", D("-60.00"))]
    assert december.total == D("30.00")
    assert balances(december) == [("c1", D("60.00"), D("30.00"))]
    assert paid(january) == [("ocr", "c1", D("-30.00"))]
    assert january.total == D("90.00")
    assert balances(january) == [("c1", D("30.00"), D("0.00"))]
    assert november.to_dict()["credits"][1] == {
        "id": "c1", "credit": "commit", "amount": "100.00", "paid": "10.00",
        "remaining": "90.00", "expires": "2027-11-11T09:00:00+08:00"}


def test_an_expired_credit_pays_nothing(book: PriceBook) -> None:
    """Opened 2026-11-10 09:00 with no usage until January: the trial expired 2027-01-10, before
    January's bill closes; 100 vat calls cost 30.00 in full."""
    journal = [{"time": "2026-11-10T09:00:00+08:00", "type": "open"},
               {"time": "2027-01-12T09:00:00+08:00", "type": "usage",
                "action": "VatInvoiceVerify", "count": 100}]
    *_, january = book.bill(journal)
    assert paid(january) == []
    assert january.total == D("30.00")


def test_a_credit_in_another_currency_is_an_error_naming_the_entry(book: PriceBook) -> None:
    journal = [JOURNAL[0], {"time": "2026-11-11T09:00:00+08:00", "type": "credit",
                            "credit": "commit", "amount": "100.00", "currency": "USD"}]
    with pytest.raises(JournalError) as caught:
        book.bill(journal)
    assert (caught.value.line, caught.value.field) == (2, "currency")
    assert "a credit in USD cannot pay bills in CNY" in str(caught.value)


def test_an_unknown_or_granted_credit_cannot_be_bought(book: PriceBook) -> None:
    for name in ("trial", "comit"):
        journal = [{"time": "2026-11-11T09:00:00+08:00", "type": "credit", "credit": name,
                    "amount": "10"}]
        with pytest.raises(JournalError) as caught:
            book.bill(journal)
        assert caught.value.field == "credit"
        assert f"`{name}` is not a prepaid credit of rules `c`" in str(caught.value)


def test_a_resent_credit_is_ignored_and_every_split_resumes_alike(book: PriceBook) -> None:
    resent = [*JOURNAL[:2], JOURNAL[1], *JOURNAL[2:]]
    whole = book.bill(JOURNAL)
    again = book.bill(resent)
    assert [b.total for b in again] == [b.total for b in whole]
    assert [(i.type, i.id) for i in again[0].ignored] == [("credit", "c1")]
    expected = [bill.to_dict() for bill in whole]
    for cut in range(len(JOURNAL) + 1):
        account = Account(book)
        issued = account.feed(JOURNAL[:cut])
        account = Account.restore(book, json.dumps(account.snapshot()))
        issued += account.feed(JOURNAL[cut:])
        issued += account.close_through("2027-01")
        assert [bill.to_dict() for bill in issued] == expected, cut


def test_the_bill_json_of_credits_follows_its_schema(
    book: PriceBook, tmp_path: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from ratecard.cli import main
    from tests.test_json_schema import assert_valid
    rules = tmp_path / "credits.rules"
    rules.write_text(SHEET, encoding="utf-8")
    journal = tmp_path / "journal.jsonl"
    journal.write_text("".join(json.dumps(entry) + "\n" for entry in [*JOURNAL, JOURNAL[1]]),
                       encoding="utf-8")
    assert main(["bill", str(rules), "--journal", str(journal), "--month", "2026-11",
                 "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert_valid(data)
    assert [line["source"] for line in data["lines"]].count("credit") == 3
    assert data["credits"][0]["paid"] == "50.00"


def test_the_warehouse_takes_prepaid_credits(book: PriceBook) -> None:
    """The warehouse bills the granted `trial` credit (tests/test_warehouse_grants.py) and the
    prepaid `commit`, bought by credit rows of its events table
    (tests/test_warehouse_sources.py): these rules are billable there."""
    from ratecard.warehouse.api import billable_terms
    assert [sheet.name for sheet in billable_terms(book, None).books] == ["c"]


def test_the_balance_settles_what_the_credits_leave(book: PriceBook) -> None:
    """`settle from balance`, 100.00 topped up first. November's bill is 0.00 (the credits
    paid its 60.00): the balance stays 100.00. December's 30.00 (vat; ocr's 60.00 paid by the
    commitment) is settled from it: 100.00 → 70.00."""
    journal = [{"time": "2026-11-01T09:00:00+08:00", "type": "topup", "amount": "100.00"},
               *JOURNAL[:5]]
    november, december = book.bill(journal)
    assert november.settlement is not None and december.settlement is not None
    assert (november.total, november.settlement.balance_after) == (D("0.00"), D("100.00"))
    assert (december.total, december.settlement.balance_before,
            december.settlement.balance_after) == (D("30.00"), D("100.00"), D("70.00"))


def test_typed_entries_open_and_credit(book: PriceBook) -> None:
    """`ratecard.Open` and `ratecard.Credit` are the typed forms of the JSON entries."""
    from ratecard import Credit, Open, Usage
    typed = [Open("2026-11-10T09:00:00+08:00"),
             Usage("2026-11-10T10:00:00+08:00", "VatInvoiceVerify", 100),
             Credit("2026-11-11T09:00:00+08:00", "commit", "100.00", "CNY", "c1"),
             Usage("2026-11-12T09:00:00+08:00", "GeneralBasicOCR", 200)]
    [november] = book.bill(typed)
    assert [bill.to_dict() for bill in [november]] == [book.bill(JOURNAL[:3])[0].to_dict()]
