"""Pricing found wrong by a hostile tester (issue 13, items 23-25), fixed at the root.

- A minimum or maximum holds for what is billed: the adjustment is computed from the sum of the
  rounded lines it covers, so the total is exactly the minimum (or the maximum), on every path
  (the general quote, the quote plan, one meter's price and charge, a journal, the warehouse).
- The contact-sales error names the meter and the quantity, with the right grammar, and every
  path names the same meter.
- A price written `P per N` is shown as written (`3.2 per 3,600`), never as a 60-digit quotient.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

import ratecard
from ratecard.cli import main
from ratecard.engine.account import Account
from ratecard.engine.pricebook import PriceBook

# --- minimums and maximums --------------------------------------------------------------------


def sheet(body: str, currency: str = "USD", rounding: str = "half_up 0.01",
          meter_clause: str = "") -> PriceBook:
    return ratecard.loads(
        f'rules t "T" / "T"\ncurrency {currency}, rounding {rounding}, timezone UTC\n'
        f'meter use "U" / "U" counts Use{meter_clause}\n'
        f"{body}\ndeduct postpaid\n"
    )


def yen_minimum() -> PriceBook:
    return sheet("ladder volume by total per month on use {\n  (0, ∞) 1\n  minimum 10000\n}",
                 currency="JPY", rounding="half_up 1",
                 meter_clause=" quantity rounded half_up to 0.1")


def third_of_a_cent(bound: str) -> PriceBook:
    return sheet("ladder graduated by total per month on use {\n"
                 "  (0, 1] 0.005\n  (1, 2] 0.005\n  (2, ∞) 0.005\n"
                 f"  {bound}\n}}")


def sources(bill: ratecard.Bill) -> list[tuple[str, Decimal]]:
    return [(line.source, line.amount) for line in bill.lines]


def test_a_yen_minimum_bills_exactly_the_minimum() -> None:
    """A 10,000 JPY minimum, 8,500.5 units at 1 JPY, rounded half up to 1 JPY.

    The usage line is 8,500.5 → 8,501; the minimum tops up what is billed: 10,000 − 8,501 =
    1,499, and the total is 10,000 (the adjustment rounded on its own, 1,499.5 → 1,500, made
    it 10,001).
    """
    book = yen_minimum()
    for bill in (book.quote({"Use": "8500.5"}), book._quote_general({"Use": "8500.5"})):
        assert sources(bill) == [("postpaid", Decimal(8501)), ("minimum", Decimal(1499))]
        assert bill.lines[-1].precise_amount == Decimal(1499)
        assert bill.total == Decimal(10000)


def test_a_graduated_minimum_tops_up_the_rounded_lines() -> None:
    """Graduated at 0.005 a unit in three brackets of one unit; 3 units, one in each.

    Each line is 0.005 → 0.01 (half up), billed 0.03; a minimum of 1 adds 1.00 − 0.03 = 0.97,
    so the total is 1.00 (from the precise 0.015 the top-up was 0.985 → 0.99: 1.02).
    """
    bill = third_of_a_cent("minimum 1").quote({"Use": 3})
    assert sources(bill) == [("postpaid", Decimal("0.01"))] * 3 + [("minimum", Decimal("0.97"))]
    assert bill.total == Decimal("1.00")


def test_a_graduated_maximum_caps_the_rounded_lines() -> None:
    """The same three lines billed 0.03 under a maximum of 0.01: the cap takes off 0.03 − 0.01
    = 0.02 and the total is 0.01 (capping the precise 0.015 took off 0.005 → 0.01: 0.02, over
    the cap)."""
    bill = third_of_a_cent("maximum 0.01").quote({"Use": 3})
    assert sources(bill) == [("postpaid", Decimal("0.01"))] * 3 + [("maximum", Decimal("-0.02"))]
    assert bill.total == Decimal("0.01")


def test_a_bound_between_two_steps_of_the_increment_keeps_its_promise() -> None:
    """A minimum of 1.005 is billed as 1.01 (the least cent not below it): 3 units billed 0.03
    get 0.98. A maximum of 0.015 is billed as 0.01 (the greatest cent not above it): −0.02."""
    low = third_of_a_cent("minimum 1.005").quote({"Use": 3})
    assert (low.lines[-1].amount, low.total) == (Decimal("0.98"), Decimal("1.01"))
    high = third_of_a_cent("maximum 0.015").quote({"Use": 3})
    assert (high.lines[-1].amount, high.total) == (Decimal("-0.02"), Decimal("0.01"))


def test_a_combined_minimum_covers_the_rounded_lines_of_every_meter() -> None:
    """Two meters on one combined ladder at 0.005 a unit: 1 unit each, two lines of 0.005 →
    0.01, billed 0.02; a minimum of 0.05 adds 0.03 on the first meter; total 0.05."""
    book = ratecard.loads(
        'rules t "T" / "T"\ncurrency USD, rounding half_up 0.01, timezone UTC\n'
        'meter a "A" / "A" counts A\nmeter b "B" / "B" counts B\n'
        "ladder volume by total per month on a, b combined {\n  (0, ∞) 0.005\n"
        "  minimum 0.05\n}\ndeduct postpaid\n")
    bill = book.quote({"A": 1, "B": 1})
    assert [(line.meter, line.source, line.amount) for line in bill.lines] == [
        ("a", "postpaid", Decimal("0.01")), ("a", "minimum", Decimal("0.03")),
        ("b", "postpaid", Decimal("0.01"))]
    assert bill.total == Decimal("0.05")


def test_every_path_bills_the_minimum_alike() -> None:
    """The quote plan, the general quote, one meter's price and charge and a journal's bill
    all make the 1.00 of `test_a_graduated_minimum_tops_up_the_rounded_lines`."""
    book = third_of_a_cent("minimum 1")
    assert book._plan is not None
    assert book.quote({"Use": 3}) == book._quote_general({"Use": 3})
    assert [line.amount for line in book.price_lines("use", 3)][-1] == Decimal("0.97")
    assert book.price_total("use", 3) == Decimal("1.00")
    bill = book.bill_month([{"time": "2026-11-02T10:00:00Z", "type": "usage", "action": "Use",
                       "count": 3}], "2026-11")
    assert (sources(bill)[-1], bill.total) == (("minimum", Decimal("0.97")), Decimal("1.00"))


def test_one_meter_s_price_has_no_other_meter_s_minimum() -> None:
    """`price("a", 2)` is what a's ladder charges (2 × 1.00); b's minimum of 5 is not in it."""
    book = ratecard.loads(
        'rules t "T" / "T"\ncurrency USD, rounding half_up 0.01, timezone UTC\n'
        'meter a "A" / "A" counts A\nmeter b "B" / "B" counts B\n'
        "ladder volume by total per month on a {\n  (0, ∞) 1\n}\n"
        "ladder volume by total per month on b {\n  (0, ∞) 1\n  minimum 5\n}\n"
        "deduct postpaid\n")
    assert [(line.meter, line.amount) for line in book.price_lines("a", 2)] == [
        ("a", Decimal("2.00"))]
    assert [(line.meter, line.amount) for line in book.price_lines("a", "2")] == [
        ("a", Decimal("2.00"))]
    assert book.price_total("a", 2) == Decimal("2.00")


def test_the_warehouse_bills_the_minimum_exactly(tmp_path: Path) -> None:
    """The yen sheet through the warehouse: a1 uses 8,500.5 (8,501 + 1,499 = 10,000), a2 uses
    3 (3 + 9,997 = 10,000), as the engine bills their journals."""
    pytest.importorskip("duckdb")
    pytest.importorskip("sqlglot")
    from ratecard.warehouse import bill_warehouse

    usage = tmp_path / "usage.csv"
    usage.write_text("account,time,action,count\n"
                     "a1,2026-11-02T10:00:00Z,Use,8500.5\n"
                     "a2,2026-11-03T10:00:00Z,Use,3\n", encoding="utf-8")
    result = bill_warehouse(yen_minimum(), str(usage))
    assert [(b["account"], b["total"]) for b in result.bills.to_pylist()] == [
        ("a1", Decimal(10000)), ("a2", Decimal(10000))]
    assert [(line["account"], line["source"], line["amount"])
            for line in result.lines.to_pylist()] == [
        ("a1", "postpaid", Decimal(8501)), ("a1", "minimum", Decimal(1499)),
        ("a2", "postpaid", Decimal(3)), ("a2", "minimum", Decimal(9997))]


# --- contact sales ----------------------------------------------------------------------------

# Two meters whose ladders are declared in the other order than the meters.
CONTACT = """rules cs "询价" / "Contact"
currency USD, rounding half_up 0.01, timezone UTC
meter detection "检测" / "Detection" counts DetectBody
meter search "搜索" / "Search" counts SearchTrace
ladder graduated by total per month on search {
  (0, 10]  0.01
  (10, ∞)  contact sales
}
ladder graduated by total per month on detection {
  (0, 5000000]  0.002
  (5000000, ∞)  contact sales
}
deduct postpaid
"""
DETECTION_1 = ("meter `detection`: 1 unit reaches the bracket (5000000, ∞), which has no "
               "published price (contact sales)")


def contact_error(call: object, *args: object) -> ratecard.ContactSalesError:
    with pytest.raises(ratecard.ContactSalesError) as raised:
        call(*args)  # type: ignore[operator]
    return raised.value


def test_contact_sales_names_the_meter_first_declared_on_every_path() -> None:
    """5,000,001 detections (one past 5,000,000, graduated) and 12 searches (two past 10) both
    reach a bracket with no price. The quote plan prices meter by meter and the general path
    ladder by ladder (search's is declared first): both name detection, the meter declared
    first, and its one unit in that bracket."""
    book = ratecard.loads(CONTACT)
    assert book._plan is not None
    usage = {"DetectBody": 5_000_001, "SearchTrace": 12}
    for call in (book.quote, book._quote_general):
        error = contact_error(call, usage)
        assert str(error) == DETECTION_1
        assert (error.meter, error.quantity, error.bracket) == (
            "detection", Decimal(1), "(5000000, ∞)")
    assert str(contact_error(book.quote, {"DetectBody": "5000001", "SearchTrace": "12"})) == (
        DETECTION_1)
    for call in (book.price_lines, book.price_total):
        assert str(contact_error(call, "detection", 5_000_001)) == DETECTION_1
        assert str(contact_error(call, "detection", "5000001")) == DETECTION_1
    journal = [{"time": "2026-11-02T10:00:00Z", "type": "usage", "action": action,
                "count": count} for action, count in usage.items()]
    error = contact_error(book.bill, journal)
    assert str(error) == f"2026-11: {DETECTION_1}"
    assert (error.meter, error.quantity, error.bracket) == ("detection", 1, "(5000000, ∞)")


def test_contact_sales_counts_units_with_the_right_grammar() -> None:
    """Two searches past 10 are `2 units reach`; on a volume ladder every postpaid unit is in
    the bracket: 1,000,001 units; a decimal quantity is written as it is (2.5 units)."""
    book = ratecard.loads(CONTACT)
    assert str(contact_error(book.quote, {"SearchTrace": 12})) == (
        "meter `search`: 2 units reach the bracket (10, ∞), which has no published price "
        "(contact sales)")
    volume = sheet("ladder volume by total per month on use {\n  (0, 1M] 0.001\n"
                   "  (1M, ∞) contact sales\n}", meter_clause=" quantity rounded up to 0.1")
    for call in (volume.quote, volume._quote_general):
        assert str(contact_error(call, {"Use": 1_000_001})) == (
            "meter `use`: 1000001 units reach the bracket (1000000, ∞), which has no published "
            "price (contact sales)")
    graduated = sheet("ladder graduated by total per month on use {\n  (0, 10] 0.001\n"
                      "  (10, ∞) contact sales\n}", meter_clause=" quantity rounded up to 0.1")
    assert str(contact_error(graduated.quote, {"Use": "12.50"})) == (
        "meter `use`: 2.5 units reach the bracket (10, ∞), which has no published price "
        "(contact sales)")


def test_the_warehouse_names_the_meter_and_the_units_as_the_engine(tmp_path: Path) -> None:
    """The same month in the warehouse: not billed, with the engine's message for each meter."""
    pytest.importorskip("duckdb")
    pytest.importorskip("sqlglot")
    from ratecard.warehouse import bill_warehouse

    usage = tmp_path / "usage.csv"
    usage.write_text("account,time,action,count\n"
                     "a1,2026-11-02T10:00:00Z,DetectBody,5000001\n"
                     "a1,2026-11-02T10:00:00Z,SearchTrace,12\n", encoding="utf-8")
    result = bill_warehouse(ratecard.loads(CONTACT), str(usage))
    assert result.bills.num_rows == 0
    assert [(p.account, p.month, p.message) for p in result.problems] == [
        ("a1", "2026-11", DETECTION_1),
        ("a1", "2026-11", "meter `search`: 2 units reach the bracket (10, ∞), which has no "
                          "published price (contact sales)")]


# --- prices per N units -----------------------------------------------------------------------

HOURS = """rules hours "计时" / "Hours"
currency USD, rounding half_up 0.01, timezone UTC
meter compute "计算" / "Compute"
  unit "秒" / "second"
  counts Run
ladder volume by postpaid per month on compute {
  (0, 10000]  3.2 per 3600
  (10000, ∞)  2.9 per 3600
}
deduct postpaid
bill per month, issued on day 5
"""
# 7,201 × 3.2 / 3,600 = 6.4008 (8 recurring), to the evaluator's 60 significant digits.
SEVENTY_TWO_HUNDRED_ONE = Decimal("6.40088888888888888888888888888888888888888888888888888888889")


def test_a_price_per_n_keeps_its_form_in_a_line() -> None:
    """7,201 seconds at 3.2 per 3,600: the line says 3.2 per 3600; its amount is 7,201 × 3.2 /
    3,600 = 6.4008 (8 recurring) exactly to 60 digits, billed 6.40. Both quote paths agree."""
    book = ratecard.loads(HOURS)
    for bill in (book.quote({"Run": 7201}), book._quote_general({"Run": 7201}),
                 book.quote({"Run": "7201"})):
        (line,) = bill.lines
        assert (line.unit_price, line.per) == (Decimal("3.2"), Decimal(3600))
        assert line.precise_amount == SEVENTY_TWO_HUNDRED_ONE
        assert (line.amount, bill.total) == (Decimal("6.40"), Decimal("6.40"))
    (line,) = book.price_lines("compute", 7201)
    assert (line.unit_price, line.per) == (Decimal("3.2"), Decimal(3600))


def test_the_json_line_has_the_price_as_written_and_per() -> None:
    """JSON: `unit_price` "3.2" and `per` "3600"; a price per unit has no `per` key, so its
    lines are as they were."""
    data = ratecard.loads(HOURS).quote({"Run": 7201}).to_dict()
    (line,) = data["lines"]
    assert (line["unit_price"], line["per"]) == ("3.2", "3600")
    assert list(line) == ["meter", "source", "quantity", "unit_price", "per", "amount",
                          "precise_amount", "bracket", "bracket_bounds", "pack", "blocks",
                          "period"]
    plain = ratecard.load("rules/tencent-bda.rules").quote({"DetectBody": 2000}).to_dict()
    assert all("per" not in line for line in plain["lines"])
    assert plain["lines"][-1]["unit_price"] == "0.002"


def test_the_bill_table_shows_the_price_as_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ratecard quote`: the unit price column reads `2.9 per 3,600`, as narrow as the price
    (it was a 65-character quotient); `--json` prints `unit_price` and `per`."""
    rules = tmp_path / "hours.rules"
    rules.write_text(HOURS, encoding="utf-8")
    assert main(["quote", str(rules), "Run=17201"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[2].split() == ["meter", "source", "quantity", "bracket", "unit", "price",
                                "amount"]
    assert table[4].split() == ["compute", "postpaid", "17,201", "(10000,", "∞)", "2.9", "per",
                                "3,600", "13.86"]
    assert max(len(row) for row in table) < 70
    assert main(["quote", str(rules), "Run=17201", "--json"]) == 0
    (line,) = json.loads(capsys.readouterr().out)["lines"]
    assert (line["unit_price"], line["per"], line["amount"]) == ("2.9", "3600", "13.86")


def test_a_saved_account_keeps_the_per_of_its_closed_bills() -> None:
    """A November bill closed but not issued (issued on day 5) is saved in the snapshot with
    its `per`, and the restored account issues it as the running one would."""
    book = ratecard.loads(HOURS)
    account = Account(book)
    assert account.feed([
        {"time": "2026-11-02T10:00:00Z", "type": "usage", "action": "Run", "count": 7201},
        {"time": "2026-12-02T10:00:00Z", "type": "usage", "action": "Run", "count": 1},
    ]) == []
    restored = Account.restore(book, json.loads(json.dumps(account.snapshot())))
    later = [{"time": "2026-12-06T10:00:00Z", "type": "usage", "action": "Run", "count": 1}]
    (bill,) = restored.feed(later)
    assert bill == account.feed(later)[0]
    assert (bill.lines[0].unit_price, bill.lines[0].per) == (Decimal("3.2"), Decimal(3600))


def test_the_warehouse_lines_show_the_price_as_written(tmp_path: Path) -> None:
    """The warehouse's lines have the engine's `unit_price` and `per`: 3.2 per 3600 (priced in
    Python: the quotient does not end), 0.10 per 1000 (priced in SQL: 0.0001 a unit), and a
    plain 0.002 with no `per`."""
    pytest.importorskip("duckdb")
    pytest.importorskip("sqlglot")
    from ratecard.warehouse import bill_warehouse

    usage = tmp_path / "usage.csv"
    usage.write_text("account,time,action,count\na1,2026-11-02T10:00:00Z,Run,7201\n"
                     "a2,2026-11-02T10:00:00Z,Run,17201\n", encoding="utf-8")
    hours = bill_warehouse(ratecard.loads(HOURS), str(usage)).lines.to_pylist()
    assert [(row["unit_price"], row["per"], row["amount"]) for row in hours] == [
        ("3.2", "3600", Decimal("6.40")), ("2.9", "3600", Decimal("13.86"))]
    exact = ratecard.loads(HOURS.replace("3.2 per 3600", "0.10 per 1000")
                           .replace("2.9 per 3600", "0.002"))
    rows = bill_warehouse(exact, str(usage)).lines.to_pylist()
    assert [(Decimal(row["unit_price"]), row["per"], row["amount"]) for row in rows] == [
        (Decimal("0.10"), "1000", Decimal("0.72")), (Decimal("0.002"), None, Decimal("34.40"))]
    engine = [exact.quote({"Run": n}).lines[0] for n in (7201, 17201)]
    assert [(line.unit_price, line.per) for line in engine] == [
        (Decimal("0.10"), Decimal(1000)), (Decimal("0.002"), None)]


def test_the_rendered_sheet_shows_the_price_as_written() -> None:
    """The English sheet writes $3.2/3.6K seconds, never the quotient."""
    sheet_text = ratecard.render_sheet(ratecard.loads(HOURS), "md", "en").text
    assert "$3.2/3.6K seconds" in sheet_text
    assert "0.000888" not in sheet_text
