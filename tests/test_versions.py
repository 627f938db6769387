"""Dated versions and contracts in the language: what each version's sheet holds, quotes across a
change and under a contract, and the diagnostics of a contract against its sheet."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

import ratecard
from ratecard.api import analyze
from ratecard.engine.pricebook import PriceBook
from ratecard.fmt import format_source
from ratecard.source import SourceFile

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "price-change"
CASES = ROOT / "tests" / "cases" / "valid"
D = Decimal


@pytest.fixture(scope="module")
def bda() -> PriceBook:
    return ratecard.load(EXAMPLE / "bda-2027.rules")


@pytest.fixture(scope="module")
def acme(bda: PriceBook) -> PriceBook:
    return bda.with_contract(EXAMPLE / "acme.rules")


def lines(bill: ratecard.Bill) -> list[tuple[str, str, str, str, str]]:
    return [(line.meter, line.source, str(line.quantity), str(line.unit_price), str(line.amount))
            for line in bill.lines]


# --- versions ----------------------------------------------------------------------------------

def test_a_versioned_sheet_has_one_segment_per_version(bda: PriceBook) -> None:
    assert bda.version is None
    assert [(s.start, s.book.version, s.keep_before) for s in bda.timeline] == [
        (date(2027, 1, 1), date(2027, 1, 1), None)]
    assert bda.at("2026-12-31").version is None
    assert bda.at(date(2027, 1, 1)).version == date(2027, 1, 1)
    # 2027-01-01 00:00 in Shanghai is 2026-12-31 16:00 UTC: the day is read in the rules' zone.
    assert bda.at(datetime(2026, 12, 31, 16, 0, tzinfo=UTC)).version == date(2027, 1, 1)
    assert bda.at(datetime(2026, 12, 31, 15, 59, tzinfo=UTC)).version is None


def test_each_version_holds_the_whole_sheet(bda: PriceBook) -> None:
    old, new = bda.at("2026-12-01"), bda.at("2027-01-01")
    assert [(m.name, m.allowance) for m in old.meters] == [
        ("segmentation", 1000), ("detection", 1000), ("library", 1000), ("search", 1000)]
    assert [m.allowance for m in new.meters] == [2000, 2000, 2000, 2000]
    # Only the 1万 detection pack changed; every other cell is the sheet's.
    assert [(o.size, o.price) for o in new.meter("detection").packs] == [
        (10000, 16), (100000, 190), (1000000, 1800), (10000000, 17000)]
    assert [(o.size, o.price) for o in new.meter("library").packs] == [
        (10000, 18), (100000, 190), (1000000, 1800), (10000000, 17000)]
    assert [(o.size, o.price) for o in new.meter("segmentation").packs] == [
        (10000, 88), (100000, 860), (1000000, 7300), (10000000, 63000)]
    ladder = new.meter("search").ladder
    assert ladder is not None
    assert [(b.lo, b.hi, b.price) for b in ladder.brackets] == [
        (0, 3000000, D("0.0016")), (3000000, 15000000, D("0.0018")), (15000000, None, D("0.0015"))]
    assert new.meter("segmentation").ladder.brackets[0].price == D("0.009")  # type: ignore[union-attr]
    # What a version does not restate is the first sheet's: routes, deduction, alerts, bills.
    assert (new.routes, new.deduct_order, new.alerts, new.billing) == (
        old.routes, old.deduct_order, old.alerts, old.billing)


def test_quote_across_the_change(bda: PriceBook) -> None:
    """1,000,000 detection calls (600,000 DetectBody + 400,000 DetectBodyJoints).

    December 2026: 1,000 from the allowance, 999,000 postpaid at 0.002 (volume, first bracket)
    = 1998.00. January 2027: 2,000 from the allowance, 998,000 at 0.0016 = 1596.80.
    """
    usage = {"DetectBody": 600000, "DetectBodyJoints": 400000}
    december = bda.quote(usage, at="2026-12-15")
    january = bda.quote(usage, at="2027-01-15")
    assert (december.total, december.version) == (D("1998.00"), None)
    assert lines(december) == [("detection", "allowance", "1000", "0", "0.00"),
                               ("detection", "postpaid", "999000", "0.002", "1998.00")]
    assert (january.total, january.version) == (D("1596.80"), date(2027, 1, 1))
    assert lines(january) == [("detection", "allowance", "2000", "0", "0.00"),
                              ("detection", "postpaid", "998000", "0.0016", "1596.80")]
    assert january.to_dict()["version"] == "2027-01-01"
    assert "version" not in december.to_dict()


def test_fast_and_general_quotes_agree_in_every_version(bda: PriceBook) -> None:
    usage = {"SegmentPortraitPic": 10001, "SearchTrace": 3000001, "CreatePerson": 7}
    for book in bda.books:
        general = book._quote_general(usage, ())
        assert book.quote(dict(usage)).to_dict() == general.to_dict()


def test_a_day_is_validated(bda: PriceBook) -> None:
    with pytest.raises(ratecard.UsageError, match="a day is YYYY-MM-DD, not 'soon'"):
        bda.at("soon")
    with pytest.raises(ratecard.UsageError, match="has no offset"):
        bda.at(datetime(2027, 1, 1))


def test_a_sheet_without_versions_is_its_own_book_every_day() -> None:
    book = ratecard.load(ROOT / "rules" / "tencent-bda.rules")
    assert book.timeline == () and book.at("2030-01-01") is book and book.books == (book,)


def test_restating_part_of_a_ladder_keeps_the_other_meters_ladder() -> None:
    book = ratecard.load(CASES / "versions.rules")
    days = [(s.start, s.keep_before, s.keep_until) for s in book.timeline]
    assert days == [(date(2027, 1, 1), None, None),
                    (date(2027, 7, 1), date(2027, 7, 1), date(2028, 1, 1))]
    july = book.timeline[1].book
    other, calls = july.meter("other").ladder, july.meter("calls").ladder
    assert other is not None and calls is not None
    assert [(b.lo, b.hi, b.price) for b in other.brackets] == [(0, None, D("0.009"))]
    assert [(b.lo, b.hi, b.price) for b in calls.brackets] == [
        (0, 10000, D("0.01")), (10000, None, D("0.008"))]
    # 2027-01-01 restated calls' allowance only, and packs cell by cell (a new size, a new row).
    assert [(m.name, m.allowance) for m in july.meters] == [("calls", 200), ("other", 100)]
    assert [(o.size, o.price) for o in july.meter("other").packs] == [(1000000, 1600)]
    assert [(o.size, o.price) for o in july.meter("calls").packs] == [
        (10000, 16), (100000, 150), (1000000, 1300)]


def test_grandfathering_moves_the_version_for_older_accounts() -> None:
    """Opened in June 2027: the July version starts for it on 2028-01-01; opened in July: at
    once. 20,000 `Other` calls in August (graduated by total, allowance 100):
    old ladder: 100 free, then 9,900 × 0.01 + 10,000 × 0.008 = 99.00 + 80.00 = 179.00;
    new ladder: 100 free, then 19,900 × 0.009 = 179.10."""
    book = ratecard.load(CASES / "versions.rules")
    older = book.for_account(date(2027, 6, 30))
    newer = book.for_account(date(2027, 7, 1))
    assert [s.start for s in older.timeline] == [date(2027, 1, 1), date(2028, 1, 1)]
    assert [s.start for s in newer.timeline] == [date(2027, 1, 1), date(2027, 7, 1)]
    assert older.quote({"Other": 20000}, at="2027-08-01").total == D("179.00")
    assert newer.quote({"Other": 20000}, at="2027-08-01").total == D("179.10")
    assert older.quote({"Other": 20000}, at="2028-01-01").total == D("179.10")


# --- contracts ---------------------------------------------------------------------------------

def test_contract_terms_and_timeline(acme: PriceBook) -> None:
    assert [(s.start, s.book.version, None if s.book.contract is None else s.book.contract.name)
            for s in acme.timeline] == [
        (date(2027, 1, 1), date(2027, 1, 1), "acme"), (date(2028, 1, 1), date(2027, 1, 1), None)]
    terms = acme.at("2027-06-01").contract
    assert terms is not None
    assert (terms.accounts, terms.start, terms.end, dict(terms.discounts), terms.minimum) == (
        ("acme",), date(2027, 1, 1), date(2028, 1, 1),
        {"detection": D("0.2"), "search": D("0.2")}, D("500"))
    assert acme.at("2026-12-01").contract is None
    # The contract's pack price; the version's 1万 price; the sheet's others.
    assert [(o.size, o.price) for o in acme.at("2027-06-01").meter("detection").packs] == [
        (10000, 16), (100000, 150), (1000000, 1800), (10000000, 17000)]
    assert acme.at("2028-01-01").meter("detection").pack(D(100000)).price == 190  # type: ignore[union-attr]


def test_discount_lines_under_a_contract(acme: PriceBook) -> None:
    """March 2027, 1,000,000 detection calls and 500,000 search calls under Acme's contract.

    detection: 2,000 allowance; 998,000 × 0.0016 = 1596.80, discount 20%: round(1596.80 × 0.8)
    = 1277.44, so the discount line is 1277.44 − 1596.80 = −319.36 (precise −319.36).
    search: 2,000 allowance; 498,000 × 0.0016 = 796.80, discount −159.36.
    Total 1596.80 − 319.36 + 796.80 − 159.36 = 1914.88 (above the 500 minimum: no true-up).
    """
    bill = acme.quote({"DetectBody": 1000000, "SearchTrace": 500000}, at="2027-03-01")
    assert lines(bill) == [
        ("detection", "allowance", "2000", "0", "0.00"),
        ("detection", "postpaid", "998000", "0.0016", "1596.80"),
        ("detection", "discount", "998000", "0", "-319.36"),
        ("search", "allowance", "2000", "0", "0.00"),
        ("search", "postpaid", "498000", "0.0016", "796.80"),
        ("search", "discount", "498000", "0", "-159.36"),
    ]
    assert bill.total == D("1914.88") and bill.contract == "acme"
    discount = bill.to_dict()["lines"][2]
    assert (discount["rate"], discount["precise_amount"]) == ("0.2", "-319.36000")


def test_discount_rounds_the_discounted_line_not_the_discount() -> None:
    """The net of a discounted line is round(p × (1 − f)), not round(p) − round(p × f): 10% off
    a line of 0.05 is round(0.045) = 0.05 (half up), a discount of 0.00."""
    sheet = ROOT / "tests" / "cases" / "valid"
    book = ratecard.load(sheet / "contract.rules")
    # `calls`: 10% off; extra allowance 900 (100 + 900 = 1,000 free); volume (0, 1万] at 0.01
    # before 2027, 0.009 from 2027-01-01.
    # 1,005 calls in November 2026: 5 postpaid × 0.01 = 0.05; 10% off: round(0.045) = 0.05,
    # discount 0.00. The minimum spend of 50 then trues up 50 − 0.05 = 49.95.
    bill = book.quote({"Call": 1005}, at="2026-11-01")
    assert lines(bill) == [
        ("calls", "allowance", "1000", "0", "0.00"),
        ("calls", "postpaid", "5", "0.01", "0.05"),
        ("calls", "discount", "5", "0", "0.00"),
        ("*", "true_up", "0", "0", "49.95"),
    ]
    assert bill.total == D("50.00")


def test_true_up_makes_the_total_exactly_the_minimum(acme: PriceBook) -> None:
    """April 2027, 100,000 search calls: 2,000 allowance, 98,000 × 0.0016 = 156.80, 20% off
    −31.36, sum 125.44; the minimum spend of 500 trues up 500 − 125.44 = 374.56."""
    bill = acme.quote({"SearchTrace": 100000}, at="2027-04-01")
    assert lines(bill)[-2:] == [("search", "discount", "98000", "0", "-31.36"),
                                ("*", "true_up", "0", "0", "374.56")]
    assert bill.total == D("500.00")
    # A month with no usage owes the minimum too; after the term, nothing.
    assert acme.quote({}, at="2027-05-01").total == D("500.00")
    assert acme.quote({}, at="2028-01-01").total == D("0.00")


def test_full_discount_and_contract_ladder() -> None:
    """The contract prices `other` at 0.005 flat and takes 100% off it: 5,100 calls, 100 from
    the allowance, 5,000 × 0.005 = 25.00, discount −25.00; minimum 50 trues up 50.00."""
    book = ratecard.load(CASES / "contract.rules")
    bill = book.quote({"Other": 5100}, at="2027-02-01")
    assert lines(bill) == [
        ("other", "allowance", "100", "0", "0.00"),
        ("other", "postpaid", "5000", "0.005", "25.00"),
        ("other", "discount", "5000", "0", "-25.00"),
        ("*", "true_up", "0", "0", "50.00"),
    ]


def test_contract_on_another_sheet_is_refused() -> None:
    bda = ratecard.load(ROOT / "rules" / "tencent-bda.rules")
    with pytest.raises(ratecard.RulesError) as raised:
        bda.with_contract(EXAMPLE / "acme.rules")
    (problem,) = raised.value.diagnostics
    assert problem.code == "E711"
    assert problem.message == "contract `acme` extends another sheet"
    assert problem.label == ("`bda-2027.rules` is rules `bda`, not the sheet given "
                             "(its prices differ)")


def test_load_contract_refuses_a_rules_file() -> None:
    with pytest.raises(ratecard.RulesError) as raised:
        ratecard.load_contract(EXAMPLE / "bda-2027.rules")
    assert [d.code for d in raised.value.diagnostics] == ["E712"]


def test_contract_diagnostics_point_into_the_contract(tmp_path: Path) -> None:
    (tmp_path / "sheet.rules").write_bytes((EXAMPLE / "bda-2027.rules").read_bytes())
    text = ('contract c "C" / "C" extends "sheet.rules"\naccounts c\nfrom 2027-01-01\n'
            "discount 10% on detecton\n"
            "ladder volume by postpaid per month on segmentation {\n"
            "  (0, 1万]  0.02\n  (1万, ∞)  0.001\n}\n")
    source = SourceFile(str(tmp_path / "c.rules"), text)
    _, diagnostics = analyze(source)
    assert [(d.code, d.span.line, d.message, d.help) for d in diagnostics] == [
        ("E203", 4, "unknown meter `detecton`", "did you mean `detection`?"),
        ("W003", 6, "volume cliff: 501 to 10,000 units cost more than 10,001", d_help()),
    ]


@pytest.mark.parametrize("extends", ["self.rules", "other.rules"])
def test_a_contract_that_extends_a_contract_is_refused(tmp_path: Path, extends: str) -> None:
    """A contract extending itself (or another contract) is E711, not an endless recursion."""
    (tmp_path / "sheet.rules").write_bytes((EXAMPLE / "bda-2027.rules").read_bytes())
    (tmp_path / "other.rules").write_text(
        'contract o "O" / "O" extends "sheet.rules"\naccounts o\nfrom 2027-01-01\n',
        encoding="utf-8")
    text = f'contract s "S" / "S" extends "{extends}"\naccounts s\nfrom 2027-01-01\n'
    (tmp_path / "self.rules").write_text(text, encoding="utf-8")
    _, diagnostics = analyze(SourceFile(str(tmp_path / "self.rules"), text))
    assert [(d.code, d.span.line, d.span.column, d.message, d.help) for d in diagnostics] == [
        ("E711", 1, 30, f"the rules file `{extends}` is a contract, not a rules file",
         "extend the rules file (it starts with `rules`) that the other contract extends; "
         "contracts do not extend contracts"),
    ]
    with pytest.raises(ratecard.RulesError, match="E711"):
        ratecard.load(tmp_path / "self.rules")


@pytest.mark.parametrize("kind", ["fifo", "directory"])
def test_a_contract_that_extends_no_regular_file_is_refused(tmp_path: Path, kind: str) -> None:
    """`extends` naming a FIFO (whose read would block until a writer came) or a directory:
    E711 at once, naming the path."""
    import os

    target = tmp_path / "sheet.rules"
    if kind == "fifo":
        if not hasattr(os, "mkfifo"):
            pytest.skip("no FIFOs on this platform")
        os.mkfifo(target)
    else:
        target.mkdir()
    text = 'contract s "S" / "S" extends "sheet.rules"\naccounts s\nfrom 2027-01-01\n'
    _, diagnostics = analyze(SourceFile(str(tmp_path / "c.rules"), text))
    assert [(d.code, d.message, d.label) for d in diagnostics] == [
        ("E711", "cannot read the rules file `sheet.rules`", f"{target}: not a regular file"),
    ]


def d_help() -> str:
    return ("all-units ladders charge less for a little more usage here; this is legal (and on "
            "many real sheets), but say so on the sheet or use `graduated`")


# --- layout ------------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [EXAMPLE / "bda-2027.rules", EXAMPLE / "acme.rules",
                                  CASES / "versions.rules"], ids=lambda p: p.name)
def test_version_blocks_and_contracts_format_stably(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    formatted = format_source(SourceFile(path.name, text))
    assert isinstance(formatted, str)
    assert format_source(SourceFile(path.name, formatted)) == formatted
    if path.parent == EXAMPLE:
        assert formatted == text  # the shipped example is in canonical layout


def test_a_version_block_is_indented() -> None:
    text = ("rules v \"版本\" / \"V\"\ncurrency CNY, rounding half_up 0.01, timezone UTC\n"
            "meter a \"甲\" / \"A\" counts A\nladder volume by total per month on a {\n"
            "(0, ∞) 0.1\n}\nfrom 2027-01-01 { ladder volume by total per month on a { "
            "(0, ∞) 0.2 } }\n")
    assert format_source(SourceFile("v.rules", text)) == (
        "rules v \"版本\" / \"V\"\ncurrency CNY, rounding half_up 0.01, timezone UTC\n"
        "meter a \"甲\" / \"A\"\n  counts A\nladder volume by total per month on a {\n"
        "  (0, ∞)  0.1\n}\nfrom 2027-01-01 {\n  ladder volume by total per month on a {\n"
        "    (0, ∞)  0.2\n  }\n}\n")
