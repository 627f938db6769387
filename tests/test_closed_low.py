"""Brackets `[lo, hi)`, closed at the low end: a quantity equal to hi is in the next bracket.

Tencent ASR writes its daily tiers `0 ~ 299, 300 ~ 999, ...`: 300 hours are in the second tier.
Each target (the general engine, the quote plan, `PriceBook.charge`, the warehouse SQL, the
renderer) is held to the same edges here.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

import ratecard
from ratecard.engine.bills import bracket_bounds
from ratecard.render import format_bracket, render

CLOSED = """
rules asr "语音识别" / "Speech recognition"
currency CNY, rounding half_up 0.01, timezone Asia/Shanghai
meter realtime "实时语音识别" / "Real-time ASR" unit "小时" / "hour" counts Recognize
ladder volume by total per month on realtime {
  [0, 300)      3.2
  [300, 1000)   2.8
  [1000, ∞)     2.2
}
"""

OPEN = CLOSED.replace("[0, 300)", "(0, 300]").replace("[300, 1000)", "(300, 1000]").replace(
    "[1000, ∞)", "(1000, ∞)")


def _postpaid(bill: ratecard.Bill) -> list[tuple[Decimal, str | None, Decimal]]:
    return [(x.quantity, x.bracket, x.amount) for x in bill.lines if x.source == "postpaid"]


def test_a_quantity_equal_to_a_bound_is_in_the_next_bracket() -> None:
    """Volume, `[lo, hi)`: 299 → [0, 300) at 3.2: 299 × 3.2 = 956.80;
    300 → [300, 1000) at 2.8: 300 × 2.8 = 840.00; 999 → 2.8: 999 × 2.8 = 2797.20;
    1000 → [1000, ∞) at 2.2: 1000 × 2.2 = 2200.00."""
    book = ratecard.loads(CLOSED)
    for quote in (book.quote, book._quote_general):
        assert _postpaid(quote({"Recognize": 299})) == [
            (Decimal(299), "[0, 300)", Decimal("956.80"))]
        assert _postpaid(quote({"Recognize": 300})) == [
            (Decimal(300), "[300, 1000)", Decimal("840.00"))]
        assert _postpaid(quote({"Recognize": 999})) == [
            (Decimal(999), "[300, 1000)", Decimal("2797.20"))]
        assert _postpaid(quote({"Recognize": 1000})) == [
            (Decimal(1000), "[1000, ∞)", Decimal("2200.00"))]
    assert book.price_total("realtime", 300) == Decimal("840.00")
    assert book.price_total("realtime", 1000) == Decimal("2200.00")
    assert [(x.bracket, x.amount) for x in book.price_lines("realtime", 300)] == [
        ("[300, 1000)", Decimal("840.00"))]


def test_the_same_ladder_written_lo_hi_keeps_the_bound_in_its_bracket() -> None:
    """Volume, `(lo, hi]`: 300 → (0, 300] at 3.2: 300 × 3.2 = 960.00 (not 840.00);
    300.5 (a decimal quantity) → (300, 1000] in both forms: 300.5 × 2.8 = 841.40."""
    book = ratecard.loads(OPEN)
    assert _postpaid(book.quote({"Recognize": 300})) == [
        (Decimal(300), "(0, 300]", Decimal("960.00"))]
    assert book.price_total("realtime", 300) == Decimal("960.00")
    decimal_meter = "unit \"小时\" / \"hour\" quantity rounded up to 0.1 counts"
    for text in (CLOSED, OPEN):
        book = ratecard.loads(text.replace('unit "小时" / "hour" counts', decimal_meter))
        (line,) = _postpaid(book.quote({"Recognize": "300.5"}))
        assert line[2] == Decimal("841.40")


def test_a_graduated_ladder_prices_alike_in_both_forms() -> None:
    """Graduated: each form's units fill the same length of each bracket. 1000.5 units:
    300 × 3.2 = 960.00, 700 × 2.8 = 1960.00, 0.5 × 2.2 = 1.10; total 2921.10."""
    texts = [t.replace("ladder volume", "ladder graduated").replace(
        'unit "小时" / "hour" counts', 'unit "小时" / "hour" quantity rounded up to 0.1 counts')
        for t in (CLOSED, OPEN)]
    closed, open_ = (ratecard.loads(t) for t in texts)
    for quantity in ("299", "300", "300.5", "999", "1000", "1000.5"):
        a = closed.quote({"Recognize": quantity})
        b = open_.quote({"Recognize": quantity})
        assert [(x.quantity, x.amount) for x in a.lines] == [
            (x.quantity, x.amount) for x in b.lines]
        assert a.total == b.total
    bill = closed.quote({"Recognize": "1000.5"})
    assert _postpaid(bill) == [
        (Decimal(300), "[0, 300)", Decimal("960.00")),
        (Decimal(700), "[300, 1000)", Decimal("1960.00")),
        (Decimal("0.5"), "[1000, ∞)", Decimal("1.10")),
    ]
    assert bill.total == Decimal("2921.10")


def test_a_flat_fee_is_charged_in_the_bracket_a_bound_opens() -> None:
    """Volume with flat fees: `[0, 100) 1 + 5 flat`, `[100, ∞) 0.5 + 20 flat`.
    100 units → [100, ∞): 100 × 0.5 + 20 = 70.00; 99 → [0, 100): 99 × 1 + 5 = 104.00."""
    book = ratecard.loads("""
rules f "F" / "F"
currency CNY, rounding half_up 0.01, timezone UTC
meter m "M" / "M" counts A
ladder volume by total per month on m {
  [0, 100)   1 + 5 flat
  [100, ∞)   0.5 + 20 flat
}
""")
    assert book.quote({"A": 100}).total == Decimal("70.00")
    assert book.quote({"A": 99}).total == Decimal("104.00")


def test_block_prices_at_the_edges() -> None:
    """Blocks of 100 rounded up. Volume: 999 units → [0, 1000): 10 blocks × 1 = 10.00;
    1000 → [1000, ∞): 10 blocks × 0.5 = 5.00. Graduated, 1050 units: 1000 in [0, 1000) →
    10 blocks × 1 = 10.00, 50 in [1000, ∞) → 1 block × 0.5 = 0.50; total 10.50."""
    text = """
rules b "B" / "B"
currency CNY, rounding half_up 0.01, timezone UTC
meter m "M" / "M" counts A
ladder volume by total per month on m {
  [0, 1000)   1 per block of 100 rounded up
  [1000, ∞)   0.5 per block of 100 rounded up
}
"""
    volume = ratecard.loads(text)
    assert [(x.bracket, x.blocks, x.amount) for x in volume.quote({"A": 999}).lines] == [
        ("[0, 1000)", Decimal(10), Decimal("10.00"))]
    assert [(x.bracket, x.blocks, x.amount) for x in volume.quote({"A": 1000}).lines] == [
        ("[1000, ∞)", Decimal(10), Decimal("5.00"))]
    graduated = ratecard.loads(text.replace("ladder volume", "ladder graduated"))
    bill = graduated.quote({"A": 1050})
    assert [(x.bracket, x.blocks, x.amount) for x in bill.lines] == [
        ("[0, 1000)", Decimal(10), Decimal("10.00")),
        ("[1000, ∞)", Decimal(1), Decimal("0.50")),
    ]
    assert bill.total == Decimal("10.50")


def test_a_combined_ladder_chooses_by_the_combined_quantity() -> None:
    """`on a, b combined`, volume `[lo, hi)`: 200 + 100 = 300 combined → [300, ∞) at 2.8:
    200 × 2.8 = 560.00 and 100 × 2.8 = 280.00; total 840.00."""
    book = ratecard.loads("""
rules c "C" / "C"
currency CNY, rounding half_up 0.01, timezone UTC
meter a "甲" / "A" counts A
meter b "乙" / "B" counts B
ladder volume by total per month on a, b combined {
  [0, 300)   3.2
  [300, ∞)   2.8
}
""")
    bill = book.quote({"A": 200, "B": 100})
    assert [(x.meter, x.bracket, x.amount) for x in bill.lines] == [
        ("a", "[300, ∞)", Decimal("560.00")), ("b", "[300, ∞)", Decimal("280.00"))]
    assert bill.total == Decimal("840.00")


def test_a_daily_ladder_prices_each_day_at_its_edges() -> None:
    """ASR's daily tiers, by total per day, after a monthly free quota of 5 hours:
    2026-11-02: 305 hours → [300, 1000): 5 free, 300 postpaid × 2.8 = 840.00;
    2026-11-03: 300 hours → [300, 1000): 300 × 2.8 = 840.00 (the bound opens the tier);
    2026-11-04: 299 hours → [0, 300): 299 × 3.2 = 956.80. Total 2636.80."""
    book = ratecard.loads(CLOSED.replace("per month", "per day").replace(
        "ladder", "allowance 5 per month on realtime\ndeduct allowance, postpaid\nladder"))
    journal = [
        {"time": f"2026-11-0{day}T10:00:00+08:00", "type": "usage", "action": "Recognize",
         "count": count}
        for day, count in ((2, 305), (3, 300), (4, 299))
    ]
    bill = book.bill_month(journal, "2026-11")
    assert [(x.source, x.quantity, x.bracket, x.amount, x.period and x.period.isoformat())
            for x in bill.lines] == [
        ("allowance", Decimal(5), None, Decimal("0.00"), None),
        ("postpaid", Decimal(300), "[300, 1000)", Decimal("840.00"), "2026-11-02"),
        ("postpaid", Decimal(300), "[300, 1000)", Decimal("840.00"), "2026-11-03"),
        ("postpaid", Decimal(299), "[0, 300)", Decimal("956.80"), "2026-11-04"),
    ]
    assert bill.total == Decimal("2636.80")


def test_bill_json_carries_the_bracket_form() -> None:
    book = ratecard.loads(CLOSED)
    (line,) = book.quote({"Recognize": 300}).to_dict()["lines"]
    assert line["bracket"] == "[300, 1000)"
    assert line["bracket_bounds"] == {"lo": "300", "hi": "1000", "lo_closed": True,
                                      "hi_closed": False}
    assert bracket_bounds("[1000, ∞)") == {"lo": "1000", "hi": None, "lo_closed": True,
                                           "hi_closed": False}


def test_brackets_render_as_inequalities_in_both_languages() -> None:
    """Column headers say which side holds the bound: 300 ≤ 用量 < 1000, volume ≥ 1K."""
    assert format_bracket(Decimal(0), Decimal(300), "zh", "用量", True) == "0 ≤ 用量 < 300"
    assert format_bracket(Decimal(300), Decimal(1000), "zh", "用量", True) == (
        "300 ≤ 用量 < 1000")
    assert format_bracket(Decimal(1000), None, "zh", "用量", True) == "用量 ≥ 1000"
    assert format_bracket(Decimal(300), Decimal(1000), "en", "volume", True) == (
        "300 ≤ volume < 1K")
    assert format_bracket(Decimal(1000), None, "en", "volume", True) == "volume ≥ 1K"
    book = ratecard.loads(CLOSED)
    zh = render(book, "md", "zh").text
    assert "| 0 ≤ 用量 < 300 | 300 ≤ 用量 < 1000 | 用量 ≥ 1000 |" in zh
    en = render(book, "md", "en").text
    assert "0 ≤ volume < 300 | 300 ≤ volume < 1K | volume ≥ 1K" in en


# --- the warehouse at the edges -----------------------------------------------------------------

WAREHOUSE = """
rules edges "边界" / "Edges"
currency CNY, rounding half_up 0.01, timezone Asia/Shanghai
meter v "甲" / "Volume" counts V
meter g "乙" / "Graduated" counts G
allowance 10 per month on v, g
deduct allowance, postpaid
ladder volume by {basis} per month on v {{
  [0, 300)     3.2
  [300, 1000)  2.8 + 1 flat
  [1000, ∞)    2.2
}}
ladder graduated by {basis} per month on g {{
  [0, 300)     3.2
  [300, 1000)  2.8
  [1000, ∞)    2.2 + 5 flat
}}
"""


def edge_case(basis: str) -> tuple[Any, list[Any]]:
    """The sheet `WAREHOUSE` by `basis` and its journal rows: one account per month-quantity,
    each bound (300, 1000), one below and one above, and the same plus the allowance of 10
    (where a `by postpaid` or `after_allowance` basis puts the bound)."""
    from tests.test_warehouse import Row, Sheet

    text = WAREHOUSE.format(basis=basis)
    sheet = Sheet(text, "Asia/Shanghai", {"V": "v", "G": "g"}, [], [], set(), {}, [])
    rows: list[Any] = []
    for index, quantity in enumerate(EDGE_QUANTITIES):
        for action in ("V", "G"):
            fields: dict[str, Any] = {"account": f"a{index}", "time": "2026-11-02T10:00:00+08:00",
                                      "action": action, "count": quantity, "id": None}
            rows.append(Row("usage", fields))
    return sheet, rows


EDGE_QUANTITIES = sorted({q + d + a for q in (300, 1000) for d in (-1, 0, 1) for a in (0, 10)})


@pytest.mark.parametrize("basis", ["postpaid", "total", "after_allowance"])
def test_warehouse_bills_the_edges_as_the_engine(basis: str) -> None:
    """Each account's bills (`edge_case`) equal the engine's, line by line."""
    pytest.importorskip("duckdb")
    pytest.importorskip("pyarrow")
    from tests.test_warehouse import compare, run

    sheet, rows = edge_case(basis)
    book = sheet.book
    quantities = EDGE_QUANTITIES
    result = run(sheet, rows)
    compare(sheet, rows, result)
    # The engine's own edges, so that the comparison cannot pass on two wrong answers: 300
    # units, 10 free, 290 postpaid. By postpaid (290) or after_allowance (290): [0, 300),
    # 290 × 3.2 = 928.00; by total (300): [300, 1000), 290 × 2.8 + 1 flat = 813.00.
    bill = book.bill_month([{"time": "2026-11-02T10:00:00+08:00", "type": "usage", "action": "V",
                       "count": 300}], "2026-11")
    postpaid = [(x.bracket, x.amount) for x in bill.lines if x.source == "postpaid"]
    assert postpaid == {"postpaid": [("[0, 300)", Decimal("928.00"))],
                        "total": [("[300, 1000)", Decimal("813.00"))],
                        "after_allowance": [("[0, 300)", Decimal("928.00"))]}[basis]
    assert len(result.bills.to_pylist()) == len(quantities)


def test_the_bracket_form_is_part_of_the_fingerprint() -> None:
    """`[lo, hi)` bills otherwise than `(lo, hi]`: a snapshot taken under one is refused
    under the other."""
    from ratecard.engine.snapshot import fingerprint

    assert fingerprint(ratecard.loads(CLOSED)) != fingerprint(ratecard.loads(OPEN))


def test_the_language_server_prices_a_quantity_inside_a_closed_low_bracket() -> None:
    """Hovers price a round quantity of the bracket: for [0, 1000) 100, not 1000 (which is in
    the next bracket); for [300, 1000) 300, its first; (0, 1000] keeps 1000."""
    from ratecard.lsp import example_quantity

    assert example_quantity(Decimal(0), Decimal(1000), closed_low=True) == 100
    assert example_quantity(Decimal(300), Decimal(1000), closed_low=True) == 300
    assert example_quantity(Decimal(1000), None, closed_low=True) == 10000
    assert example_quantity(Decimal(0), Decimal(1000)) == 1000


def test_a_change_of_bracket_form_is_a_change_of_the_ladder() -> None:
    """Same bounds and prices, `(lo, hi]` → `[lo, hi)`: 300 units bill 960.00 before and
    840.00 after, so the comparison of the two sheets reports the whole ladder."""
    from ratecard.changes import LADDER, changes

    old, new = ratecard.loads(OPEN), ratecard.loads(CLOSED)
    assert [(c.what, c.meter) for c in changes(old, new)] == [(LADDER, "realtime")]
    assert changes(new, new) == []
