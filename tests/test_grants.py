"""Grants (DESIGN.md, "Grants and credits"; issue 15, "Design first" and item 1): units given
on meters, issued once at the account's opening (a journal's `open` entry, else its first
entry) or every month, each issue valid for a declared span, drawn where the deduction order
names the grant, by the same burn-down (`deduction.deduct`) as the allowance and packs.

Worked on rules/tencent-ocr.rules (its one-time 50-call pack on the verification APIs, valid 5
years) and on SHEET, a small sheet with a monthly grant and a grant drawn after the packs.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import ratecard
from ratecard import Account, JournalError
from ratecard.engine.bills import Bill, Source
from ratecard.engine.pricebook import PriceBook
from ratecard.engine.replay import bill_journal

D = Decimal
Entry = dict[str, Any]
ROOT = Path(__file__).resolve().parents[1]

SHEET = """\
rules g "赠送" / "Grants"
currency CNY, rounding half_up 0.01, timezone Asia/Shanghai

meter vat "增值税发票核验" / "VAT invoice verification" unit "次" / "call"
  counts VatInvoiceVerify
meter ocr "通用印刷体识别" / "General OCR" unit "次" / "call" counts GeneralBasicOCR

allowance 1000 per month on ocr
grant monthly "每月赠送" / "Monthly gift" 10 per month on vat, ocr
grant late "后置赠送" / "Drawn after packs" 100 once on vat valid 1 year

packs valid 1 year {
  size 1000
  vat  280
  ocr  120
}

ladder volume by postpaid per month on vat {
  (0, ∞) 0.30
}
ladder volume by postpaid per month on ocr {
  (0, ∞) 0.15
}

deduct allowance, monthly, packs by expiry, late, postpaid
bill per month, issued on day 1
"""


@pytest.fixture(scope="module")
def ocr() -> PriceBook:
    return ratecard.load(ROOT / "rules" / "tencent-ocr.rules")


@pytest.fixture(scope="module")
def sheet() -> PriceBook:
    return ratecard.loads(SHEET, "grants.rules")


def usage(time: str, action: str, count: int, entry_id: str | None = None) -> Entry:
    entry: Entry = {"time": time, "type": "usage", "action": action, "count": count}
    if entry_id is not None:
        entry["id"] = entry_id
    return entry


def lines(bill: Bill, meter: str) -> list[tuple[str, Decimal, Decimal, str | None]]:
    return [(str(line.source), line.quantity, line.amount, line.pack)
            for line in bill.lines if line.meter == meter]


def test_the_one_time_pack_on_a_new_account_bills_294(ocr: PriceBook) -> None:
    """An account opened 2026-12-01 calls VatInvoiceVerify 1,030 times in December.

    The 50 free calls of the one-time pack pay first (vat_verify has no monthly quota), the
    other 980 are postpaid in the first bracket (the total, 1,030, is within (0, 1万]):
    980 × 0.30 = 294.00. Without the grant (as the issue's reading billed it): 1,030 × 0.30 =
    309.00, which a quote of a month of an account opened earlier still gives.
    """
    journal = [{"time": "2026-12-01T09:00:00+08:00", "type": "open"},
               usage("2026-12-15T10:00:00+08:00", "VatInvoiceVerify", 1030)]
    [bill] = ocr.bill(journal)
    assert bill.total == D("294.00")
    assert lines(bill, "vat_verify") == [
        ("grant", D(50), D("0.00"), "opening"),
        ("postpaid", D(980), D("294.00"), None),
    ]
    assert ocr.quote({"VatInvoiceVerify": 1030}, new_account=True).total == D("294.00")
    assert ocr.quote({"VatInvoiceVerify": 1030}).total == D("309.00")


def test_the_grant_lasts_across_months_and_each_api_has_its_own(ocr: PriceBook) -> None:
    """No `open` entry: the account opens at its first entry (2026-12-03).

    December: 30 VatInvoiceVerify from the grant (20 left), 60 QueryBarCode: 50 from its own
    grant, 10 postpaid × 0.12 = 1.20. January: 1,000 VatInvoiceVerify: 20 from the grant, 980
    postpaid × 0.30 = 294.00; QueryBarCode's grant is spent: 5 × 0.12 = 0.60.
    """
    journal = [usage("2026-12-03T10:00:00+08:00", "VatInvoiceVerify", 30),
               usage("2026-12-04T10:00:00+08:00", "QueryBarCode", 60),
               usage("2027-01-10T10:00:00+08:00", "VatInvoiceVerify", 1000),
               usage("2027-01-11T10:00:00+08:00", "QueryBarCode", 5)]
    december, january = ocr.bill(journal)
    assert december.total == D("1.20")
    assert lines(december, "barcode_query") == [
        ("grant", D(50), D("0.00"), "opening"), ("postpaid", D(10), D("1.20"), None)]
    assert january.total == D("294.60")
    assert lines(january, "vat_verify") == [
        ("grant", D(20), D("0.00"), "opening"), ("postpaid", D(980), D("294.00"), None)]
    assert lines(january, "barcode_query") == [("postpaid", D(5), D("0.60"), None)]


def test_the_grant_expires_after_five_years_and_its_rest_is_void(ocr: PriceBook) -> None:
    """Opened 2026-12-01T09:00; 10 calls then; the grant's 40 left on vat_verify (and the 50 of
    each other verification API) expire 2031-12-01T09:00 and are reported void on that month's
    bill; 10 calls after the expiry are all postpaid (10 × 0.30 = 3.00)."""
    journal = [{"time": "2026-12-01T09:00:00+08:00", "type": "open"},
               usage("2026-12-02T10:00:00+08:00", "VatInvoiceVerify", 10),
               usage("2031-12-01T10:00:00+08:00", "VatInvoiceVerify", 10)]
    bill = ocr.bill_month(journal, "2031-12")
    assert [(v.pack, v.meter, v.quantity, v.time.isoformat()) for v in bill.void] == [
        ("opening", meter, D(left), "2031-12-01T09:00:00+08:00") for meter, left in (
            ("barcode_query", 50), ("bizlicense_verify_basic", 50),
            ("bizlicense_verify_detail", 50), ("enterprise_four", 50), ("vat_verify", 40))]
    assert lines(bill, "vat_verify") == [("postpaid", D(10), D("3.00"), None)]


def test_an_open_entry_after_the_first_entry_is_refused_naming_its_line(
    ocr: PriceBook,
) -> None:
    journal = [usage("2026-12-01T10:00:00+08:00", "VatInvoiceVerify", 1),
               {"time": "2026-12-05T10:00:00+08:00", "type": "open"}]
    with pytest.raises(JournalError) as caught:
        ocr.bill(journal)
    assert caught.value.line == 2
    assert "an `open` entry must be the account's first" in str(caught.value)
    refused: list[JournalError] = []
    [bill] = ocr.bill(journal, on_invalid=refused.append)
    assert [error.line for error in refused] == [2]
    assert lines(bill, "vat_verify") == [("grant", D(1), D("0.00"), "opening")]


def test_a_monthly_grant_lapses_with_its_month_and_a_late_grant_comes_after_packs(
    sheet: PriceBook,
) -> None:
    """Deduction: allowance, monthly (10 a month), packs, late (100 once), postpaid.

    November: 5 VatInvoiceVerify from the monthly grant (its 5 left lapse at the month's end).
    December: a pack of 1000 bought (280.00); 1,150 calls: 10 from December's monthly grant,
    1,000 from the pack, 100 from `late`, 40 postpaid × 0.30 = 12.00.
    """
    journal = [usage("2026-11-20T10:00:00+08:00", "VatInvoiceVerify", 5),
               {"time": "2026-12-01T08:00:00+08:00", "type": "purchase", "meter": "vat",
                "size": 1000, "id": "p1"},
               usage("2026-12-02T10:00:00+08:00", "VatInvoiceVerify", 1150)]
    november, december = sheet.bill(journal)
    assert lines(november, "vat") == [("grant", D(5), D("0.00"), "monthly@2026-11")]
    assert november.void == ()
    assert lines(december, "vat") == [
        ("grant", D(10), D("0.00"), "monthly@2026-12"),
        ("grant", D(100), D("0.00"), "late"),
        ("pack", D(1000), D("0.00"), "p1"),
        ("postpaid", D(40), D("12.00"), None),
    ]
    assert december.total == D("12.00")
    assert december.prepaid_total == D("280.00")


def test_a_grant_is_not_a_pack_to_refund(ocr: PriceBook) -> None:
    journal = [usage("2026-12-02T10:00:00+08:00", "VatInvoiceVerify", 1),
               {"time": "2026-12-03T10:00:00+08:00", "type": "refund", "pack": "opening"}]
    with pytest.raises(JournalError, match="no pack `opening` is held"):
        ocr.bill(journal)


JOURNAL = [
    {"time": "2026-11-15T09:00:00+08:00", "type": "open"},
    usage("2026-11-20T09:00:00+08:00", "VatInvoiceVerify", 30, "u1"),
    usage("2026-11-21T09:00:00+08:00", "GeneralBasicOCR", 1005, "u2"),
    {"time": "2026-11-25T09:00:00+08:00", "type": "purchase", "meter": "vat", "size": 1000,
     "id": "p1"},
    usage("2026-12-02T09:00:00+08:00", "VatInvoiceVerify", 1000, "u3"),
    usage("2026-12-03T09:00:00+08:00", "GeneralBasicOCR", 1020, "u4"),
    usage("2027-01-03T09:00:00+08:00", "VatInvoiceVerify", 200, "u5"),
]


def test_saved_and_resumed_after_any_entry_the_bills_are_the_same(sheet: PriceBook) -> None:
    """Split anywhere, saved as JSON and restored, the account issues the whole journal's
    bills; drawn entry by entry (`aggregate=False`) they are the same too.

    November: vat 30 = 10 monthly + 20 late (80 left); ocr 1,005 = 1,000 allowance + 5
    monthly; 0.00. December: vat 1,000 = 10 monthly + 990 from p1 (10 left); ocr 1,020 =
    1,000 + 10 monthly + 10 postpaid × 0.15 = 1.50. January: vat 200 = 10 monthly + 10 from
    p1 + 80 late + 100 postpaid × 0.30 = 30.00.
    """
    whole = sheet.bill(JOURNAL)
    assert [b.total for b in whole] == [D("0.00"), D("1.50"), D("30.00")]
    expected = [bill.to_dict() for bill in whole]
    by_entry = bill_journal(sheet, JOURNAL, aggregate=False)
    assert isinstance(by_entry, list)
    assert [bill.to_dict() for bill in by_entry] == expected
    for cut in range(len(JOURNAL) + 1):
        account = Account(sheet)
        issued = account.feed(JOURNAL[:cut])
        saved = json.dumps(account.snapshot())
        account = Account.restore(sheet, saved)
        issued += account.feed(JOURNAL[cut:])
        issued += account.close_through("2027-01")
        assert [bill.to_dict() for bill in issued] == expected, cut


def test_a_snapshot_naming_an_unknown_grant_is_refused(sheet: PriceBook) -> None:
    account = Account(sheet)
    account.feed(JOURNAL[:3])
    saved = account.snapshot()
    saved["grants"]["lots"][0]["grant"] = "bonus"
    from ratecard.engine.snapshot import checksum
    saved["checksum"] = checksum(saved)
    with pytest.raises(ratecard.SnapshotError, match="`bonus` is not a grant"):
        Account.restore(sheet, saved)


def test_the_warehouse_bills_grants(ocr: PriceBook) -> None:
    """The warehouse takes the OCR sheet's one-time grant and a monthly grant valid days
    (tests/test_warehouse_grants.py and tests/test_warehouse_sources.py bill them)."""
    from ratecard.warehouse.api import billable_terms
    assert billable_terms(ocr, None).books[0] is ocr
    text = (ROOT / "rules" / "tencent-ocr.rules").read_text(encoding="utf-8").replace(
        "deduct ", "deduct trial, ", 1)
    text += 'grant trial "T" / "T" 5 per month on vat_verify valid 9 days\n'
    monthly = ratecard.loads(text, "ocr.rules")
    assert billable_terms(monthly, None).books[0] is monthly


def test_quote_new_account_in_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    """`ratecard quote --new-account`: 980 × 0.30 = 294.00; without it 1,030 × 0.30 = 309.00."""
    from ratecard.cli import main
    rules = str(ROOT / "rules" / "tencent-ocr.rules")
    assert main(["quote", rules, "VatInvoiceVerify=1030", "--new-account"]) == 0
    out = capsys.readouterr().out
    assert "grant opening" in out and out.rstrip().endswith("total CNY 294.00")
    assert main(["quote", rules, "VatInvoiceVerify=1030"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("total CNY 309.00")


def test_a_grant_line_in_the_cli_bill(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ratecard.cli import main
    journal = tmp_path / "j.jsonl"
    journal.write_text("\n".join(json.dumps(e) for e in [
        {"time": "2026-12-01T09:00:00+08:00", "type": "open"},
        usage("2026-12-15T10:00:00+08:00", "VatInvoiceVerify", 1030)]) + "\n")
    assert main(["bill", str(ROOT / "rules" / "tencent-ocr.rules"), "--journal",
                 str(journal)]) == 0
    out = capsys.readouterr().out
    assert "grant opening" in out
    assert "294.00" in out
    assert Source.GRANT == "grant"


@pytest.mark.parametrize(("usage", "total"), [
    # 示例一（后付费）: 900 ID-card calls are within the month's 1,000 free: 0.
    ({"IDCardOCR": 900}, D("0.00")),
    # 示例二: (9000 - 1000) × 0.15 = 1200 (the total, 9,000, is within (0, 1万]).
    ({"DriverLicenseOCR": 9000}, D("1200.00")),
    # 示例三: (90000 - 1000) × 0.10 = 8900 (the total is in (1万, 10万]).
    ({"GeneralBasicOCR": 90000}, D("8900.00")),
    # 示例四: (900000 - 1000) × 0.06 = 53940 (the total is in (10万, 100万]).
    ({"BankCardOCR": 900000}, D("53940.00")),
    # A shared pack: ad text and QR codes share image_basic's 1,000 and its ladder:
    # (600 + 700 - 1000) × 0.12 = 36.
    ({"AdvertiseOCR": 600, "QrcodeOCR": 700}, D("36.00")),
])
def test_the_pages_postpaid_examples(ocr: PriceBook, usage: dict[str, int], total: D) -> None:
    assert ocr.quote(usage).total == total


def test_the_pages_pack_example_at_its_own_price(ocr: PriceBook) -> None:
    """预付费示例二: 2,500 bank-card calls in a month with a 1,000 pack bought for 84 (list 120):
    (2500 - 1000 - 1000) × 0.15 + 84 = 159 — 75.00 on the bill, 84.00 prepaid."""
    journal = [{"time": "2026-12-01T09:00:00+08:00", "type": "purchase", "meter": "bankcard",
                "size": 1000, "price": "84", "id": "p1"},
               usage("2026-12-10T10:00:00+08:00", "BankCardOCR", 2500)]
    [bill] = ocr.bill(journal)
    assert bill.total == D("75.00")
    assert bill.prepaid_total == D("84.00")
    assert bill.total + bill.prepaid_total == D("159.00")


def test_a_monthly_grant_with_a_validity_rolls_over(tmp_path: Path) -> None:
    """`grant gift ... 10 per month on calls valid 2 months`: November's 10 are unused and
    still held in December, beside December's 10 (drawn earliest expiry first): 25 calls in
    December are 10 from gift@2026-11, 10 from gift@2026-12 and 5 postpaid × 0.10 = 0.50."""
    book = ratecard.loads(
        'rules r "滚存" / "Rollover"\n'
        "currency CNY, rounding half_up 0.01, timezone Asia/Shanghai\n"
        'meter calls "调用" / "Calls" counts Call\n'
        'grant gift "赠送" / "Gift" 10 per month on calls valid 2 months\n'
        "ladder volume by postpaid per month on calls {\n  (0, ∞) 0.10\n}\n"
        "deduct gift, postpaid\n", "rollover.rules")
    journal = [{"time": "2026-11-20T10:00:00+08:00", "type": "open"},
               usage("2026-12-05T10:00:00+08:00", "Call", 25)]
    _, december = book.bill(journal)
    assert lines(december, "calls") == [
        ("grant", D(10), D("0.00"), "gift@2026-11"), ("grant", D(10), D("0.00"), "gift@2026-12"),
        ("postpaid", D(5), D("0.50"), None)]


def test_an_open_entry_resent_to_an_account_is_taken_as_a_resend(ocr: PriceBook) -> None:
    account = Account(ocr)
    opening = {"time": "2026-12-01T09:00:00+08:00", "type": "open"}
    account.feed([opening, usage("2026-12-15T10:00:00+08:00", "VatInvoiceVerify", 1030)])
    account.feed([opening])  # a service that sends the opening again
    [bill] = account.close_through("2026-12")
    assert bill.total == D("294.00")


def test_the_language_server_finds_a_meter_in_a_grant() -> None:
    """Renaming or finding `vat_verify` in rules/tencent-ocr.rules reaches the grant's list."""
    from ratecard import lsp
    from ratecard.api import analyze
    from ratecard.source import SourceFile
    text = (ROOT / "rules" / "tencent-ocr.rules").read_text(encoding="utf-8")
    rules, _ = analyze(SourceFile("tencent-ocr.rules", text))
    assert rules is not None
    grant_line = next(number for number, line in enumerate(text.splitlines(), start=1)
                      if line.startswith("grant opening"))
    found = [(o.role, o.span.line) for o in lsp.occurrences(rules) if o.name == "vat_verify"]
    assert ("target", grant_line) in found


@pytest.mark.parametrize("usage", [
    {"VatInvoiceVerify": 1030}, {"QueryBarCode": 120000, "GeneralBasicOCR": 999},
    {"AdvertiseOCR": 600, "QrcodeOCR": 700, "IDCardOCR": 1001}, {"VerifyBizLicense": 20000},
])
def test_the_quote_plan_of_a_sheet_with_a_one_time_grant_is_the_general_quote(
    ocr: PriceBook, usage: dict[str, int],
) -> None:
    """A grant issued once is in no quote but a new account's: the fast plan quotes the OCR
    sheet and agrees with the general path; `new_account` takes the general path."""
    assert ocr._plan is not None
    fast = ocr._plan.quote(usage)
    assert fast is not None
    assert fast.to_dict() == ocr._quote_general(usage).to_dict()
    assert ocr.quote(usage, new_account=True).to_dict() == ocr._quote_general(
        usage, new_account=True).to_dict()
