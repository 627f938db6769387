"""Billing across dated versions and under contracts: worked bills, grandfathering, snapshots,
the quote's fast path, the command line, and properties (shuffled journals, accounts resumed
at any entry, discounts and true-ups never negative).

The worked sheets are the shipped example, `examples/price-change/bda-2027.rules` (the BDA sheet
with a version from 2027-01-01: the first bracket of detection, library and search 0.0016, the
1万 detection pack 16, an allowance of 2,000) and its contract `acme.rules` (2027: 20% off
detection and search, a minimum spend of 500 a month, the 10万 detection pack at 150).
"""

from __future__ import annotations

import json
import random
import shutil
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ratecard
from ratecard import Account, JournalError, SnapshotError
from ratecard.cli import main
from ratecard.engine.bills import Bill
from ratecard.engine.pricebook import PriceBook
from ratecard.engine.replay import bill_journal
from ratecard.engine.snapshot import fingerprint
from tests.conftest import BDA_RULES, ROOT

EXAMPLE = ROOT / "examples" / "price-change"
SHEET = EXAMPLE / "bda-2027.rules"
CONTRACT = EXAMPLE / "acme.rules"
Entry = dict[str, Any]
D = Decimal

at = datetime.fromisoformat  # an instant as a bill holds it, from the text its JSON shows


def use(time: str, action: str, count: int) -> Entry:
    return {"time": time, "type": "usage", "action": action, "count": count}


def buy(time: str, meter: str, size: str) -> Entry:
    return {"time": time, "type": "purchase", "meter": meter, "size": size}


def lines(bill: Bill) -> list[tuple[str, str, Decimal, Decimal]]:
    """(meter, source or pack, quantity, amount) of each line."""
    return [(line.meter, line.pack or line.source, line.quantity, line.amount)
            for line in bill.lines]


@pytest.fixture(scope="module")
def sheet() -> PriceBook:
    return ratecard.load(SHEET)


@pytest.fixture(scope="module")
def acme(sheet: PriceBook) -> PriceBook:
    return sheet.with_contract(CONTRACT)


def resumed_everywhere(book: PriceBook, journal: list[Entry]) -> None:
    """The journal fed to an Account cut at every entry (saved as JSON, restored, fed the rest,
    closed) gives the bills of `book.bill`."""
    whole = [bill.to_dict() for bill in book.bill(journal)]
    for cut in range(len(journal) + 1):
        account = Account(book)
        issued = account.feed(journal[:cut])
        saved = json.dumps(account.snapshot())
        account = Account.restore(book, saved)
        issued += account.feed(journal[cut:])
        if account.month is not None:
            issued += account.close_through(account.month)
        assert [bill.to_dict() for bill in issued] == whole, f"cut at entry {cut}"


# --- a version change ---------------------------------------------------------------------

DECEMBER_AND_JANUARY = [
    buy("2026-12-03T09:00:00+08:00", "detection", "1万"),
    use("2026-12-10T09:00:00+08:00", "DetectBody", 6000),
    use("2026-12-11T09:00:00+08:00", "SearchTrace", 301_000),
    buy("2027-01-04T09:00:00+08:00", "detection", "1万"),
    use("2027-01-10T09:00:00+08:00", "DetectBody", 20_000),
    use("2027-01-11T09:00:00+08:00", "SearchTrace", 302_000),
]


def test_december_at_the_old_prices_january_at_the_new(sheet: PriceBook) -> None:
    """December 2026 (the sheet as first written): the 1万 detection pack costs 18.00 and lasts
    a year (to 2027-12-03). 6,000 detection calls: 1,000 from the allowance, 5,000 from the
    pack (5,000 left). 301,000 searches: 1,000 free, 300,000 × 0.002 = 600.00. Total 600.00.

    January 2027 (the version from 2027-01-01): the 1万 pack now costs 16.00 (to 2028-01-04).
    20,000 detection calls: 2,000 free (the new allowance), then by expiry the December pack's
    last 5,000 (it keeps its terms: bought at 18, expiring 2027-12-03), the January pack's
    10,000, and 3,000 × 0.0016 = 4.80. 302,000 searches: 2,000 free, 300,000 × 0.0016 = 480.00.
    Total 4.80 + 480.00 = 484.80; the bill names the version.
    """
    december, january = sheet.bill(DECEMBER_AND_JANUARY)
    assert (december.version, december.contract) == (None, None)
    assert lines(december) == [
        ("detection", "allowance", 1000, D("0.00")),
        ("detection", "detection:10000#1", 5000, D("0.00")),
        ("search", "allowance", 1000, D("0.00")),
        ("search", "postpaid", 300_000, D("600.00")),
    ]
    assert december.total == D("600.00")
    assert [(p.price, p.expires) for p in december.prepaid] == [
        (D("18.00"), at("2027-12-03T09:00:00+08:00"))]

    assert (january.version, january.contract) == (date(2027, 1, 1), None)
    assert lines(january) == [
        ("detection", "allowance", 2000, D("0.00")),
        ("detection", "detection:10000#1", 5000, D("0.00")),
        ("detection", "detection:10000#2", 10_000, D("0.00")),
        ("detection", "postpaid", 3000, D("4.80")),
        ("search", "allowance", 2000, D("0.00")),
        ("search", "postpaid", 300_000, D("480.00")),
    ]
    assert [line.unit_price for line in january.lines if line.source == "postpaid"] == [
        D("0.0016"), D("0.0016")]
    assert january.total == D("484.80")
    assert [(p.price, p.expires) for p in january.prepaid] == [
        (D("16.00"), at("2028-01-04T09:00:00+08:00"))]
    assert january.to_dict()["version"] == "2027-01-01"
    assert "version" not in december.to_dict()


def test_a_pack_keeps_the_validity_it_was_sold_with(tmp_path: Path) -> None:
    """A version from 2027-01-01 sells the 1万 detection pack at 16 for 6 months and withdraws
    the 1000万 one. Bought 2026-12-03 at 18: valid a year, to 2027-12-03. Bought 2027-01-04 at
    16: valid 6 months, to 2027-07-04, when its 10,000 units are void. The withdrawn size cannot
    be bought in 2027 (a journal error naming the line and the day); in 2026 it could be.
    """
    text = BDA_RULES.read_text(encoding="utf-8") + (
        "\nfrom 2027-01-01 {\n  packs valid 6 months {\n    size       1万  1000万\n"
        "    detection  16   -\n  }\n}\n")
    book = ratecard.loads(text, str(tmp_path / "six-months.rules"))
    journal = [
        buy("2026-12-03T09:00:00+08:00", "detection", "1万"),
        buy("2027-01-04T09:00:00+08:00", "detection", "1万"),
        use("2027-07-20T09:00:00+08:00", "CreateGroup", 1),
    ]
    bills = book.bill(journal)
    december, january, july = bills[0], bills[1], bills[7]
    assert [(p.price, p.expires) for p in december.prepaid] == [
        (D("18.00"), at("2027-12-03T09:00:00+08:00"))]
    assert [(p.price, p.expires) for p in january.prepaid] == [
        (D("16.00"), at("2027-07-04T09:00:00+08:00"))]
    assert [(v.pack, v.quantity, v.time) for v in july.void] == [
        ("detection:10000#2", 10_000, at("2027-07-04T09:00:00+08:00"))]
    assert [(p.pack, p.expires) for p in july.packs] == [
        ("detection:10000#1", at("2027-12-03T09:00:00+08:00"))]
    resumed_everywhere(book, journal)

    assert book.bill([buy("2026-12-03T09:00:00+08:00", "detection", "1000万")])[0].prepaid[
        0].price == D("17000.00")
    with pytest.raises(JournalError, match=r"^journal entry 2: field `size`: meter `detection` "
                       r"has no pack of size 10000000 on sale on 2027-01-04 \(sizes then: "
                       r"10000, 100000, 1000000\)$"):
        book.bill([use("2026-12-03T09:00:00+08:00", "DetectBody", 1),
                   buy("2027-01-04T09:00:00+08:00", "detection", "1000万")])


def test_the_version_s_allowance_applies_from_its_month(sheet: PriceBook) -> None:
    """1,500 calls of each meter on 2026-12-31 23:59 and on 2027-01-01 00:00 (Shanghai): in
    December 500 of them are postpaid (1,000 free); in January none (2,000 free). December:
    3 × 500 × 0.002 + 500 × 0.01 (segmentation) = 3.00 + 5.00 = 8.00; January 0.00."""
    journal = []
    for time in ("2026-12-31T23:59:00+08:00", "2027-01-01T00:00:00+08:00"):
        for action in ("SegmentPortraitPic", "DetectBody", "CreatePerson", "SearchTrace"):
            journal.append(use(time, action, 1500))
    december, january = sheet.bill(journal)
    assert december.total == D("8.00")
    assert [line.quantity for line in december.lines if line.source == "allowance"] == [1000] * 4
    assert january.total == D("0.00")
    assert [line.quantity for line in january.lines if line.source == "allowance"] == [1500] * 4


# --- a contract ---------------------------------------------------------------------------

ACME_JOURNAL = [
    buy("2026-12-03T09:00:00+08:00", "detection", "1万"),
    use("2026-12-10T09:00:00+08:00", "DetectBody", 6000),
    use("2026-12-11T09:00:00+08:00", "SearchTrace", 301_000),
    buy("2027-01-04T09:00:00+08:00", "detection", "10万"),
    use("2027-01-10T09:00:00+08:00", "DetectBody", 352_000),
    use("2027-01-11T09:00:00+08:00", "SearchTrace", 3010),
    use("2027-02-10T09:00:00+08:00", "DetectBody", 502_000),
    use("2028-01-10T09:00:00+08:00", "DetectBody", 502_000),
]


def test_worked_bills_under_the_acme_contract(acme: PriceBook) -> None:
    """December 2026 is before the contract: the first sheet, no discount, no minimum: 6,000
    detection calls (1,000 free, 5,000 from the 1万 pack bought at 18), 301,000 searches
    (1,000 free, 300,000 × 0.002 = 600.00). Total 600.00.

    January 2027, under the contract (and the 2027 version): the 10万 detection pack costs the
    contract's 150.00, not 190. 352,000 detection calls: 2,000 free, 5,000 from December's
    pack, 100,000 from January's, 245,000 × 0.0016 = 392.00; 20% off: precise −392 × 0.2 =
    −78.40, and the line nets round(392 × 0.8) = 313.60. 3,010 searches: 2,000 free, 1,010 ×
    0.0016 = 1.616 → 1.62; 20% off: precise −0.3232, but the line nets round(1.616 × 0.8) =
    round(1.2928) = 1.29, so the discount line is 1.29 − 1.62 = −0.33 (not −0.32). The lines
    come to 392.00 − 78.40 + 1.62 − 0.33 = 314.89, under the minimum spend of 500: a true-up
    of 185.11 makes the total exactly 500.00.

    February: 502,000 detection calls: 2,000 free, 500,000 × 0.0016 = 800.00, −160.00 (20%):
    640.00, above the minimum: no true-up. March to December: no usage, a true-up of 500.00
    each. January 2028: the contract ended (2028-01-01, exclusive): 800.00, no discount, no
    contract named, still the 2027 version.
    """
    bills = acme.bill(ACME_JOURNAL)
    assert [bill.month for bill in bills] == (
        [date(2026, 12, 1)] + [date(2027, m, 1) for m in range(1, 13)] + [date(2028, 1, 1)])
    december, january, february = bills[:3]
    assert (december.version, december.contract, december.total) == (None, None, D("600.00"))
    assert [p.price for p in december.prepaid] == [D("18.00")]

    assert (january.version, january.contract) == (date(2027, 1, 1), "acme")
    assert lines(january) == [
        ("detection", "allowance", 2000, D("0.00")),
        ("detection", "detection:10000#1", 5000, D("0.00")),
        ("detection", "detection:100000#2", 100_000, D("0.00")),
        ("detection", "postpaid", 245_000, D("392.00")),
        ("detection", "discount", 245_000, D("-78.40")),
        ("search", "allowance", 2000, D("0.00")),
        ("search", "postpaid", 1010, D("1.62")),
        ("search", "discount", 1010, D("-0.33")),
        ("*", "true_up", 0, D("185.11")),
    ]
    discounts = [line for line in january.lines if line.source == "discount"]
    assert [(line.rate, line.precise_amount) for line in discounts] == [
        (D("0.2"), D("-78.4")), (D("0.2"), D("-0.3232"))]
    assert january.total == D("500.00")
    assert [p.price for p in january.prepaid] == [D("150.00")]

    assert lines(february) == [
        ("detection", "allowance", 2000, D("0.00")),
        ("detection", "postpaid", 500_000, D("800.00")),
        ("detection", "discount", 500_000, D("-160.00")),
    ]
    assert february.total == D("640.00")
    for idle in bills[3:12]:
        assert lines(idle) == [("*", "true_up", 0, D("500.00"))], idle.month
        assert idle.total == D("500.00")
    last = bills[13]
    assert (last.version, last.contract) == (date(2027, 1, 1), None)
    assert lines(last) == [
        ("detection", "allowance", 2000, D("0.00")),
        ("detection", "postpaid", 500_000, D("800.00")),
    ]
    assert last.total == D("800.00")

    data = january.to_dict()
    assert (data["version"], data["contract"]) == ("2027-01-01", "acme")
    assert data["lines"][4] == {
        "meter": "detection", "source": "discount", "quantity": "245000", "unit_price": "0",
        "rate": "0.2", "amount": "-78.40", "precise_amount": "-78.40000",
        "bracket": "(0, 3000000]",
        "bracket_bounds": {"lo": "0", "hi": "3000000", "lo_closed": False, "hi_closed": True},
        "pack": None, "blocks": None, "period": None,
    }
    assert data["lines"][-1] == {
        "meter": "*", "source": "true_up", "quantity": "0", "unit_price": "0",
        "amount": "185.11", "precise_amount": "185.11", "bracket": None, "bracket_bounds": None,
        "pack": None,
        "blocks": None, "period": None,
    }


def test_the_contract_s_bills_are_those_of_an_account_resumed_at_any_entry(
    acme: PriceBook,
) -> None:
    resumed_everywhere(acme, ACME_JOURNAL)


def _contract(tmp_path: Path, body: str) -> PriceBook:
    """The example sheet under a contract of `body`, written beside a copy of the sheet."""
    shutil.copy(SHEET, tmp_path / "bda-2027.rules")
    path = tmp_path / "terms.rules"
    path.write_text('contract terms extends "bda-2027.rules"\naccounts acme\n' + body,
                    encoding="utf-8")
    return ratecard.load_contract(path)


def test_a_discount_of_0_percent_changes_nothing(tmp_path: Path, sheet: PriceBook) -> None:
    """Under a contract of 0% off detection and search (and nothing else), every bill is the
    sheet's own, line for line; only the contract is named, in the months of its term."""
    zero = _contract(tmp_path, "from 2027-01-01 until 2027-03-01\n"
                     "discount 0% on detection, search\n")
    plain = sheet.bill(ACME_JOURNAL)
    under = zero.bill(ACME_JOURNAL)
    assert [bill.contract for bill in under] == [None, "terms", "terms"] + [None] * 11
    assert [attrs.evolve(bill, contract=None) for bill in under] == plain


def test_a_month_at_or_above_the_minimum_has_no_true_up(tmp_path: Path) -> None:
    """A minimum spend of 4.80: 3,000 postpaid detection calls × 0.0016 = 4.80 exactly meets it
    (no true-up); 2,999 × 0.0016 = 4.7984 → 4.80 meets it too (the rounded lines count); 2,990
    × 0.0016 = 4.784 → 4.78 is 0.02 short: a true-up of 0.02, total 4.80."""
    book = _contract(tmp_path, "from 2027-01-01 until 2028-01-01\nminimum spend 4.80 per month\n")
    for postpaid, true_up in ((3000, None), (2999, None), (2990, D("0.02"))):
        bill = book.bill([use("2027-01-10T09:00:00+08:00", "DetectBody", 2000 + postpaid)])[0]
        assert [line.amount for line in bill.lines if line.source == "true_up"] == (
            [] if true_up is None else [true_up])
        assert bill.total == D("4.80")


def test_the_contract_s_end_month_reverts(tmp_path: Path) -> None:
    """A contract from 2027-01-01 until 2027-03-01 with 50% off search: January and February
    discount 100,000 × 0.0016 = 160.00 by 80.00; March (the end is exclusive) does not."""
    book = _contract(tmp_path, "from 2027-01-01 until 2027-03-01\ndiscount 50% on search\n")
    journal = [use(f"2027-{m:02}-05T09:00:00+08:00", "SearchTrace", 102_000) for m in (1, 2, 3)]
    assert [(b.month, b.contract, b.total) for b in book.bill(journal)] == [
        (date(2027, 1, 1), "terms", D("80.00")),
        (date(2027, 2, 1), "terms", D("80.00")),
        (date(2027, 3, 1), None, D("160.00")),
    ]


def test_quotes_under_the_contract_and_across_the_versions(
    sheet: PriceBook, acme: PriceBook
) -> None:
    """600,000 detection calls: in December 2026, 599,000 × 0.002 = 1198.00; from January 2027,
    598,000 × 0.0016 = 956.80; under the contract, less 20% (−191.36): 765.44, and after its
    end 956.80 again. With a 10万 pack held: 498,000 × 0.0016 = 796.80, less 159.36: 637.44."""
    usage = {"DetectBody": 600_000}
    assert sheet.quote(usage, at="2026-12-31").total == D("1198.00")
    assert sheet.quote(usage, at=date(2027, 1, 1)).total == D("956.80")
    bill = acme.quote(usage, at=datetime(2027, 6, 30, 16, 0, tzinfo=UTC))  # 07-01 in Shanghai
    assert (bill.version, bill.contract, bill.total) == (date(2027, 1, 1), "acme", D("765.44"))
    assert acme.quote(usage, at="2028-01-01").total == D("956.80")
    assert acme.quote(usage, [ratecard.HeldPack("detection", D(100_000))],
                      at="2027-01-01").total == D("637.44")


# --- grandfathering -----------------------------------------------------------------------

KEPT = BDA_RULES.read_text(encoding="utf-8") + """
from 2027-01-01 keep accounts opened before 2027-01-01 until 2027-04-01 {
  ladder volume by postpaid per month on detection, library, search {
    (0, 300万]       0.0016  # allow: W003
    (300万, 1500万]  0.0018  # allow: W003, W004
    (1500万, ∞)      0.0015
  }
}
"""


def test_an_account_opened_before_keeps_the_old_prices_until_the_day_given() -> None:
    """The version lowers the first bracket to 0.0016 from 2027-01-01 but keeps accounts opened
    before 2027-01-01 on 0.002 until 2027-04-01. 11,000 searches a month are 10,000 postpaid:
    for an account opened 2026-12-15, 20.00 a month through March, 16.00 from April; for one
    opened 2027-01-05, 16.00 from its first month. The opening day is the earliest entry's,
    wherever it is in the journal."""
    book = ratecard.loads(KEPT, "kept.rules")
    monthly = [use(f"2027-{m:02}-05T09:00:00+08:00", "SearchTrace", 11_000) for m in (1, 2, 3, 4)]
    old = [use("2026-12-15T09:00:00+08:00", "CreateGroup", 1), *monthly]
    assert [(b.month, b.version, b.total) for b in book.bill(old)] == [
        (date(2026, 12, 1), None, D("0.00")),
        (date(2027, 1, 1), None, D("20.00")),
        (date(2027, 2, 1), None, D("20.00")),
        (date(2027, 3, 1), None, D("20.00")),
        (date(2027, 4, 1), date(2027, 1, 1), D("16.00")),
    ]
    shuffled = [monthly[2], monthly[0], old[0], monthly[3], monthly[1]]
    assert book.bill(shuffled) == book.bill(old)
    resumed_everywhere(book, old)
    assert [(b.month, b.total) for b in book.bill(monthly)] == [
        (date(2027, 1, 1), D("16.00")), (date(2027, 2, 1), D("16.00")),
        (date(2027, 3, 1), D("16.00")), (date(2027, 4, 1), D("16.00"))]
    # The day is the rules' timezone's: 2026-12-31T17:00Z is 2027-01-01 in Shanghai.
    newcomer = [use("2026-12-31T17:00:00Z", "CreateGroup", 1), *monthly]
    assert [b.total for b in book.bill(newcomer)] == [D("16.00")] * 4


# --- daily ladders across a version ----------------------------------------------------------

DAILY = """
rules sms "短信" / "SMS"
currency CNY, rounding half_up 0.01, timezone Asia/Shanghai
meter sms "短信" / "Messages" unit "条" / "message" counts Send
meter mms "彩信" / "MMS" unit "条" / "message" counts SendMms
allowance 100 per month on sms
deduct allowance, postpaid
ladder volume by total per day on sms {
  (0, 1000]   0.05  # allow: W003
  (1000, ∞)   0.04
  maximum 100
}
ladder volume by total per month on mms {
  (0, ∞)   0.10
}
from 2027-01-01 {
  allowance 200 per month on sms
  ladder volume by total per day on mms {
    (0, ∞)   0.08
  }
}
"""


def test_a_version_that_prices_a_meter_by_day() -> None:
    """December 2026: mms by the month, 10 + 20 = 30 × 0.10 = 3.00; sms 300 on 12-31, 100 free,
    200 × 0.05 = 10.00. January 2027: mms by the day at 0.08: 01-01 10 → 0.80, 01-02 20 → 1.60;
    sms 300 on 01-01 with the new allowance of 200: 100 × 0.05 = 5.00."""
    book = ratecard.loads(DAILY, "daily.rules")
    journal = [
        use("2026-12-30T10:00:00+08:00", "SendMms", 10),
        use("2026-12-31T10:00:00+08:00", "SendMms", 20),
        use("2026-12-31T11:00:00+08:00", "Send", 300),
        use("2027-01-01T10:00:00+08:00", "SendMms", 10),
        use("2027-01-01T11:00:00+08:00", "Send", 300),
        use("2027-01-02T10:00:00+08:00", "SendMms", 20),
    ]
    december, january = book.bill(journal)
    assert [(line.meter, line.source, line.period, line.quantity, line.amount)
            for line in december.lines] == [
        ("sms", "allowance", None, 100, D("0.00")),
        ("sms", "postpaid", date(2026, 12, 31), 200, D("10.00")),
        ("mms", "postpaid", None, 30, D("3.00")),
    ]
    assert [(line.meter, line.source, line.period, line.quantity, line.amount)
            for line in january.lines] == [
        ("sms", "allowance", None, 200, D("0.00")),
        ("sms", "postpaid", date(2027, 1, 1), 100, D("5.00")),
        ("mms", "postpaid", date(2027, 1, 1), 10, D("0.80")),
        ("mms", "postpaid", date(2027, 1, 2), 20, D("1.60")),
    ]
    resumed_everywhere(book, journal)


SHARING = """\
rules share "共享" / "Share"
currency CNY, rounding half_up 0.01, timezone Asia/Shanghai
meter a "甲" / "A" counts A
meter b "乙" / "B" counts B
allowance 100 per month on a, b{before}
ladder graduated by total per month on a, b {{
  (0, ∞)  0.01
}}
deduct allowance, postpaid

from 2027-01-01 {{
  allowance 200 per month on a, b{after}
}}
"""


@pytest.mark.parametrize("before, after", [(" shared", ""), ("", " shared")])
def test_a_version_that_shares_the_allowance_otherwise(before: str, after: str) -> None:
    """150 A in December, 150 A and 150 B in January. Shared 100 then 200 each: December
    100 free, 50 × 0.01 = 0.50; January 150 + 150 free, 0.00. Each 100 then a shared 200:
    December 100 free, 0.50; January the pool's 200 free (150 A, 50 B), 100 B × 0.01 = 1.00."""
    book = ratecard.loads(SHARING.format(before=before, after=after), "share.rules")
    journal = [
        use("2026-12-05T09:00:00+08:00", "A", 150),
        use("2027-01-05T09:00:00+08:00", "A", 150),
        use("2027-01-06T09:00:00+08:00", "B", 150),
    ]
    december, january = book.bill(journal)
    assert lines(december) == [("a", "allowance", 100, D("0.00")),
                               ("a", "postpaid", 50, D("0.50"))]
    if before:
        assert lines(january) == [("a", "allowance", 150, D("0.00")),
                                  ("b", "allowance", 150, D("0.00"))]
    else:
        assert lines(january) == [("a", "allowance", 150, D("0.00")),
                                  ("b", "allowance", 50, D("0.00")),
                                  ("b", "postpaid", 100, D("1.00"))]
    resumed_everywhere(book, journal)


# --- snapshots ----------------------------------------------------------------------------


def test_a_snapshot_names_its_timeline_and_opening_day(acme: PriceBook) -> None:
    account = Account(acme)
    account.feed(ACME_JOURNAL[:4])
    saved = account.snapshot()
    assert saved["opened"] == "2026-12-03"
    assert saved["rules"]["fingerprint"] == fingerprint(ratecard.load(SHEET))
    assert saved["rules"]["timeline"]["versions"] == ["2027-01-01", "2028-01-01"]
    assert saved["rules"]["timeline"]["contracts"] == ["acme"]
    account.feed(ACME_JOURNAL[4:6])
    preview = account.preview()  # January so far: the worked bill's lines, true-up included
    assert preview is not None
    assert (preview.version, preview.contract, preview.total) == (date(2027, 1, 1), "acme",
                                                                   D("500.00"))
    assert preview.lines[-1].source == "true_up"


def test_a_snapshot_of_a_sheet_without_versions_is_as_it_was(bda: PriceBook) -> None:
    account = Account(bda)
    account.feed([use("2026-11-02T10:00:00+08:00", "DetectBody", 5)])
    saved = account.snapshot()
    assert "opened" not in saved
    assert set(saved["rules"]) == {"name", "fingerprint"}


def test_a_snapshot_is_refused_under_another_timeline_or_contract(
    sheet: PriceBook, acme: PriceBook, bda: PriceBook, tmp_path: Path
) -> None:
    account = Account(acme)
    account.feed(ACME_JOURNAL[:5])
    saved = json.dumps(account.snapshot())
    with pytest.raises(SnapshotError, match=r"^snapshot was taken under another contract "
                       r"\(taken under: versions from 2027-01-01, 2028-01-01, contract `acme`, "
                       r"fingerprint [0-9a-f]{12}; given: versions from 2027-01-01, no contract, "
                       r"fingerprint [0-9a-f]{12}\): restore it with the rules and contract"):
        Account.restore(sheet, saved)
    other = _contract(tmp_path, "from 2027-01-01 until 2028-01-01\ndiscount 10% on search\n")
    with pytest.raises(SnapshotError, match=r"another contract .*contract `acme`.*contract "
                       r"`terms`"):
        Account.restore(other, saved)
    # The shipped BDA sheet is the example's first sheet, without its versions.
    with pytest.raises(SnapshotError, match=r"another timeline \(taken under: versions from "
                       r"2027-01-01, 2028-01-01, contract `acme`, .*given: no dated versions, "
                       r"no contract\)"):
        Account.restore(bda, saved)
    plain = Account(sheet)
    plain.feed(ACME_JOURNAL[:2])
    with pytest.raises(SnapshotError, match=r"another contract \(taken under: versions from "
                       r"2027-01-01, no contract, .*given: versions from 2027-01-01, 2028-01-01, "
                       r"contract `acme`"):
        Account.restore(acme, plain.snapshot())
    assert Account.restore(sheet, plain.snapshot()).entries == 2


def test_a_snapshot_s_opening_day_is_checked(acme: PriceBook) -> None:
    from ratecard.engine.snapshot import checksum

    account = Account(acme)
    account.feed(ACME_JOURNAL[:4])
    saved = account.snapshot()
    saved["opened"] = "2027-02-01"
    saved["checksum"] = checksum(saved)
    with pytest.raises(SnapshotError, match=r"snapshot field `opened`: 2027-02-01 is after the "
                       "latest instant reached"):
        Account.restore(acme, saved)
    del saved["opened"]
    saved["checksum"] = checksum(saved)
    with pytest.raises(SnapshotError, match=r"snapshot field `opened` is missing"):
        Account.restore(acme, saved)


# --- the command line ---------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_quote_at_a_day_and_under_a_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "quote", str(SHEET), "DetectBody=600000", "--at", "2026-12-31")
    assert (code, err) == (0, "")
    assert out.endswith("total CNY 1198.00\n")
    assert "version" not in out
    code, out, _ = run(capsys, "quote", str(SHEET), "DetectBody=600000", "--at", "2027-01-01")
    assert out.splitlines()[1] == "version from 2027-01-01"
    code, out, _ = run(capsys, "quote", str(SHEET), "DetectBody=600000", "--at", "2027-01-01",
                       "--contract", str(CONTRACT))
    assert out == (
        "人体分析 / Body Analysis (CNY)\n"
        "version from 2027-01-01, contract acme\n"
        "\n"
        "meter      source        quantity  bracket       unit price   amount\n"
        "---------  ------------  --------  ------------  ----------  -------\n"
        "detection  allowance        2,000                               0.00\n"
        "detection  postpaid       598,000  (0, 3000000]      0.0016   956.80\n"
        "detection  discount 20%   598,000  (0, 3000000]              -191.36\n"
        "\n"
        "total CNY 765.44\n")
    code, out, _ = run(capsys, "quote", str(SHEET), "DetectBody=600000", "--at", "2027-01-01",
                       "--contract", str(CONTRACT), "--json")
    data = json.loads(out)
    assert (data["version"], data["contract"], data["total"]) == ("2027-01-01", "acme", "765.44")
    assert data["lines"][2]["source"] == "discount" and data["lines"][2]["rate"] == "0.2"


def test_cli_quote_refuses_a_bad_day_and_a_contract_of_another_sheet(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert run(capsys, "quote", str(SHEET), "DetectBody=1", "--at", "2027-13-01") == (
        2, "", "ratecard: error: --at 2027-13-01: a day is YYYY-MM-DD, e.g. 2027-01-01\n")
    code, out, err = run(capsys, "quote", str(BDA_RULES), "DetectBody=1", "--contract",
                         str(CONTRACT))
    assert (code, out) == (1, "")
    assert "error[E711]: contract `acme` extends another sheet" in err


@pytest.mark.parametrize("command", [["quote", "DetectBody=1"], ["bill", "--journal", "x.jsonl"]])
def test_cli_refuses_a_contract_given_as_the_rules_file(
    capsys: pytest.CaptureFixture[str], command: list[str],
) -> None:
    code, out, err = run(capsys, command[0], str(CONTRACT), *command[1:])
    assert (code, out) == (2, "")
    assert err == (f"ratecard: error: {CONTRACT}: is a contract, not a rules file; give the "
                   f"rules file it extends and this file as --contract {CONTRACT}\n")


def test_cli_bill_under_a_contract(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    journal = tmp_path / "acme.jsonl"
    journal.write_text("".join(json.dumps(e) + "\n" for e in ACME_JOURNAL[:6]), encoding="utf-8")
    code, out, err = run(capsys, "bill", str(SHEET), "--journal", str(journal), "--contract",
                         str(CONTRACT), "--month", "2027-01")
    assert (code, err) == (0, "")
    assert out.split("\nalert:")[0] == (
        "2027-01, issued 2027-02-01\n"
        "人体分析 / Body Analysis (CNY)\n"
        "version from 2027-01-01, contract acme\n"
        "\n"
        "meter      source                   quantity  bracket       unit price  amount\n"
        "---------  -----------------------  --------  ------------  ----------  ------\n"
        "detection  allowance                   2,000                              0.00\n"
        "detection  pack detection:10000#1      5,000                              0.00\n"
        "detection  pack detection:100000#2   100,000                              0.00\n"
        "detection  postpaid                  245,000  (0, 3000000]      0.0016  392.00\n"
        "detection  discount 20%              245,000  (0, 3000000]              -78.40\n"
        "search     allowance                   2,000                              0.00\n"
        "search     postpaid                    1,010  (0, 3000000]      0.0016    1.62\n"
        "search     discount 20%                1,010  (0, 3000000]               -0.33\n"
        "*          true-up                                                      185.11\n"
        "\n"
        "total CNY 500.00\n"
        "true-up 185.11: the lines come to 314.89, under the contract's minimum spend of 500.00")
    code, out, _ = run(capsys, "bill", str(SHEET), "--journal", str(journal), "--contract",
                       str(CONTRACT), "--json")
    bills = json.loads(out)["bills"]
    assert [(b["month"], b.get("contract"), b["total"]) for b in bills] == [
        ("2026-12", None, "600.00"), ("2027-01", "acme", "500.00")]
    assert bills[1]["lines"][-1]["source"] == "true_up"
    # With --state, a snapshot under the contract resumes only under it.
    state = tmp_path / "state.json"
    assert run(capsys, "bill", str(SHEET), "--journal", str(journal), "--contract",
               str(CONTRACT), "--state", str(state))[0] == 0
    code, out, err = run(capsys, "bill", str(SHEET), "--journal", str(journal), "--state",
                         str(state))
    assert code == 2
    assert "snapshot was taken under another contract" in err


# --- properties ---------------------------------------------------------------------------

START = datetime(2026, 11, 20, tzinfo=timezone(timedelta(hours=8)))
SPAN = int(timedelta(days=150).total_seconds())  # to mid-April 2027
BDA_ACTIONS = ("DetectBody", "DetectBodyJoints", "SearchTrace", "CreatePerson",
               "SegmentPortraitPic", "GetGroupList")
DAILY_ACTIONS = ("Send", "SendMms")


@st.composite
def journals(draw: st.DrawFn, actions: tuple[str, ...], packs: bool) -> list[Entry]:
    """Entries at distinct instants over the months around 2027-01-01: usage of every size,
    pack purchases (of sizes on sale in every version), resent ids, suspensions, top-ups."""
    count = draw(st.integers(0, 20))
    seconds = draw(st.lists(st.integers(0, SPAN), min_size=count, max_size=count, unique=True))
    entries: list[Entry] = []
    for second in sorted(seconds):
        time = (START + timedelta(seconds=second)).isoformat()
        kind = draw(st.sampled_from(("usage",) * 6 + (("purchase", "suspend", "reopen", "topup")
                                                      if packs else ())))
        if kind == "usage":
            entry = use(time, draw(st.sampled_from(actions)),
                        draw(st.sampled_from((0, 1, 999, 1000, 1001, 2500, 20_000, 310_000,
                                              3_000_500))))
            if draw(st.booleans()):
                entry["id"] = f"u{draw(st.integers(0, 3))}"
        elif kind == "purchase":
            entry = buy(time, draw(st.sampled_from(("detection", "search"))),
                        draw(st.sampled_from(("1万", "10万"))))
        elif kind == "suspend":
            entry = {"time": time, "type": "suspend", "reason": "violation"}
        elif kind == "reopen":
            entry = {"time": time, "type": "reopen"}
        else:
            amount = draw(st.sampled_from(("100", "5000")))
            entry = {"time": time, "type": "topup", "amount": amount}
        entries.append(entry)
    return entries


def unlined(bills: list[Bill]) -> list[dict[str, Any]]:
    """Bills as JSON, without the lines of ignored resends (a shuffle moves them)."""
    out = []
    for bill in bills:
        data = bill.to_dict()
        for item in data.get("ignored", ()):
            item.pop("line")
        out.append(data)
    return out


def _books() -> dict[str, tuple[PriceBook, tuple[str, ...], bool]]:
    sheet = ratecard.load(SHEET)
    short = ratecard.loads(
        'contract short extends "bda-2027.rules"\naccounts acme\nfrom 2026-12-01 until '
        "2027-03-01\ndiscount 12.5% on detection, segmentation\nminimum spend 333.33 per month\n"
        "packs {\n  size    1万\n  search  9\n}\n", str(EXAMPLE / "short.rules"))
    return {
        "versions": (sheet, BDA_ACTIONS, True),
        "acme": (sheet.with_contract(CONTRACT), BDA_ACTIONS, True),
        "short contract": (short, BDA_ACTIONS, True),
        "grandfathering": (ratecard.loads(KEPT, "kept.rules"), BDA_ACTIONS, True),
        "daily": (ratecard.loads(DAILY, "daily.rules"), DAILY_ACTIONS, False),
    }


BOOKS = _books()


@pytest.mark.parametrize("name", list(BOOKS))
@settings(max_examples=60)
@given(data=st.data())
def test_shuffled_and_resumed_journals_bill_alike(name: str, data: st.DataObject) -> None:
    """A journal in any order, and an account fed it in pieces with a restart (a JSON snapshot)
    between each, give the bills of the journal in order; so does the entry-by-entry replay."""
    book, actions, packs = BOOKS[name]
    journal = data.draw(journals(actions, packs))
    expected = [bill.to_dict() for bill in book.bill(journal)]
    shuffled = data.draw(st.permutations(journal))
    assert unlined(book.bill(shuffled)) == unlined(book.bill(journal))
    reference = bill_journal(book, journal, aggregate=False)
    assert isinstance(reference, list)
    assert [bill.to_dict() for bill in reference] == expected
    cuts = sorted(data.draw(st.lists(st.integers(0, len(journal)), max_size=3)))
    account = Account(book)
    issued: list[Bill] = []
    done = 0
    for cut in [*cuts, len(journal)]:
        issued += account.feed(journal[done:cut])
        done = cut
        account = Account.restore(book, json.dumps(account.snapshot()))
    if account.month is not None:
        issued += account.close_through(account.month)
    assert [bill.to_dict() for bill in issued] == expected


@pytest.mark.parametrize("name", list(BOOKS))
@settings(max_examples=60)
@given(data=st.data())
def test_a_contract_never_makes_a_line_negative(name: str, data: st.DataObject) -> None:
    """Each discount line follows the postpaid line it discounts, is at most that line (the two
    net ≥ 0) and at least 0 below it; a true-up is positive and makes the total exactly the
    minimum; a month under a contract is never below its minimum."""
    book, actions, packs = BOOKS[name]
    for bill in book.bill(data.draw(journals(actions, packs))):
        sheet = book.at(bill.month)
        assert bill.contract == (None if sheet.contract is None else sheet.contract.name)
        for before, line in zip(bill.lines, bill.lines[1:], strict=False):
            if line.source == "discount":
                assert before.source == "postpaid" and before.meter == line.meter
                assert -before.amount <= line.amount <= 0
                assert line.rate is not None
                assert line.precise_amount == -before.precise_amount * line.rate
        for line in bill.lines:
            if line.source == "true_up":
                assert line.amount > 0
                assert line is bill.lines[-1]
                assert bill.total == sheet.contract.minimum  # type: ignore[union-attr]
        if sheet.contract is not None and sheet.contract.minimum is not None:
            assert bill.total >= sheet.contract.minimum


@pytest.mark.parametrize("name", list(BOOKS))
@settings(max_examples=60)
@given(data=st.data())
def test_the_quote_plan_is_the_general_quote_on_every_day(name: str, data: st.DataObject) -> None:
    """`quote` (its compiled plan where it applies) and `_quote_general` agree on the sheet in
    effect on any day, with or without packs held."""
    book, actions, packs = BOOKS[name]
    day = date(2026, 11, 1) + timedelta(days=data.draw(st.integers(0, 500)))
    usage = data.draw(st.dictionaries(st.sampled_from(actions), st.integers(0, 20_000_000),
                                      max_size=len(actions)))
    held = []
    if packs and data.draw(st.booleans()):
        held = [ratecard.HeldPack("detection", D(10_000), data.draw(st.integers(0, 10_000)))]
    assert outcome(lambda: book.quote(usage, held, at=day)) == outcome(
        lambda: book.at(day)._quote_general(usage, held))


def outcome(call: Any) -> Any:
    """A call's bill, or its error's type and message."""
    try:
        return call()
    except ratecard.UsageError as exc:
        return type(exc), str(exc)


def test_random_journals_of_the_example_bill_alike_through_every_path() -> None:
    """A seeded journal of a year and a half, shuffled: the same bills in order, shuffled, and
    resumed at every tenth entry."""
    rnd = random.Random(2027)
    book = BOOKS["acme"][0]
    entries = []
    for _ in range(120):
        time = (START + timedelta(seconds=rnd.randrange(SPAN * 4))).isoformat()
        if rnd.random() < 0.1:
            entries.append(buy(time, rnd.choice(("detection", "search")),
                               rnd.choice(("1万", "10万", "100万"))))
        else:
            entries.append(use(time, rnd.choice(BDA_ACTIONS), rnd.randrange(0, 90_000)))
    ordered = sorted(entries, key=lambda e: e["time"])
    expected = book.bill(ordered)
    assert book.bill(entries) == expected
    account = Account(book)
    issued: list[Bill] = []
    for start in range(0, len(ordered), 10):
        issued += account.feed(ordered[start:start + 10])
        account = Account.restore(book, account.snapshot())
    issued += account.close_through(account.month or "")
    assert issued == expected


def test_the_billing_doc_shows_what_the_command_prints(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/billing.md's example of a bill under the contract is the command's output (up to
    its `...`), run from the repository's root."""
    text = (ROOT / "docs" / "billing.md").read_text(encoding="utf-8")
    section = text.split("## Versions and contracts on a bill", 1)[1]
    block = section.split("```\n$ ", 1)[1].split("...\n```", 1)[0]
    command, shown = block.split("\n", 1)
    argv = command.split()
    assert argv[0] == "ratecard"
    monkeypatch.chdir(ROOT)
    code, out, err = run(capsys, *argv[1:])
    assert (code, err) == (0, "")
    assert out.startswith(shown)
    data = section.split("```json\n", 1)[1].split("```", 1)[0]
    monkeypatch.chdir(ROOT)
    bill = ratecard.load(SHEET).with_contract(CONTRACT).bill_month(
        str(EXAMPLE / "acme.jsonl"), "2027-01")
    shown_lines = [json.loads(line) for line in data.replace("\n ", " ").splitlines()]
    assert shown_lines == [bill.to_dict()["lines"][4], bill.to_dict()["lines"][-1]]


@pytest.mark.parametrize("count", [2001, 3010, 2_999_999, 10**18 - 7, 10**18])
def test_a_contract_quote_is_exact_in_any_context(acme: PriceBook, count: int) -> None:
    """Up to the largest count, in a caller's context of 28 digits rounding down, the quote's
    discount lines are those of the general path (exact in ratecard's own context)."""
    import decimal

    sheet = acme.at("2027-03-01")
    usage = {"SearchTrace": count, "DetectBody": count // 3}
    expected = sheet._quote_general(usage)
    with decimal.localcontext(decimal.Context(prec=28, rounding=decimal.ROUND_DOWN)):
        assert sheet.quote(usage) == expected
    assert [line.to_dict() for line in sheet.quote(usage).lines] == [
        line.to_dict() for line in expected.lines]
    assert "discount" in [line.source for line in expected.lines]
