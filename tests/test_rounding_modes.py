"""Rounding modes: `rounding half_up 0.01 [per line]` rounds each bill line (the default),
`rounding half_up 0.01 on total` rounds the bill's total once (lines keep their precise
amounts), `rounding exact` never rounds. Quotes, journal bills, accounts resumed from snapshots,
contracts, the price sheet and the warehouse follow the mode; the warehouse refuses amounts it
cannot hold exactly."""

from __future__ import annotations

import decimal
import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ratecard
from ratecard import Account
from ratecard.engine.money import CONTEXT, EXACT, ON_TOTAL, PER_LINE
from ratecard.engine.pricebook import PriceBook
from ratecard.errors import UsageError
from ratecard.render import render
from tests.test_quoteplan import _general_price as general_price

SHEET = """rules r "舍入" / "Rounding"
currency USD, {rounding}, timezone UTC
meter a "甲" / "A" counts A
meter b "乙" / "B" counts B
meter c "丙" / "C" counts C
allowance 2 per month on c
price a 0.0015
price b 0.0025
ladder graduated by postpaid per month on c {{
  (0, 10]  0.0333
  (10, ∞)  0.00125 + 0.004 flat
}}
deduct allowance, postpaid
bill per month, issued on day 1
"""
MODES = {
    "line": "rounding half_up 0.01",
    "per line": "rounding half_up 0.01 per line",
    "total": "rounding half_up 0.01 on total",
    "exact": "rounding exact",
}


def book(mode: str) -> PriceBook:
    return ratecard.loads(SHEET.format(rounding=MODES[mode]), f"{mode}.rules")


def amounts(bill: ratecard.Bill) -> list[tuple[str, Decimal, Decimal]]:
    return [(line.meter, line.precise_amount, line.amount) for line in bill.lines]


def test_per_line_is_the_default() -> None:
    assert book("line") == book("per line")
    assert (book("line").rounding.scope, book("total").rounding.scope,
            book("exact").rounding.scope) == (PER_LINE, ON_TOTAL, EXACT)


def test_a_month_in_each_mode() -> None:
    """A=3, B=1: a is 3 × 0.0015 = 0.0045, b is 0.0025.

    Per line: 0.0045 → 0.00 and 0.0025 → 0.00 (half up at the third decimal): total 0.00.
    On total: the lines stay 0.0045 and 0.0025; 0.0070 → 0.01 once.
    Exact: the total is 0.0070.
    """
    usage = {"A": 3, "B": 1}
    line, total, exact = book("line").quote(usage), book("total").quote(usage), \
        book("exact").quote(usage)
    assert amounts(line) == [("a", Decimal("0.0045"), Decimal("0.00")),
                             ("b", Decimal("0.0025"), Decimal("0.00"))]
    assert line.total == Decimal("0.00")
    assert amounts(total) == [("a", Decimal("0.0045"), Decimal("0.0045")),
                              ("b", Decimal("0.0025"), Decimal("0.0025"))]
    assert total.total == Decimal("0.01")
    assert amounts(exact) == amounts(total)
    assert exact.total == Decimal("0.0070")


def test_a_graduated_ladder_with_a_flat_fee_in_each_mode() -> None:
    """C=15, 2 free: 13 postpaid on the graduated ladder: 10 × 0.0333 = 0.333 in (0, 10], then
    3 × 0.00125 + 0.004 flat = 0.00775 in (10, ∞).

    Per line: 0.33 + 0.01 = 0.34. On total: 0.34075 → 0.34. Exact: 0.34075.
    A=1 more (0.0015): per line 0.34 + 0.00 = 0.34; on total 0.34225 → 0.34; exact 0.34225.
    """
    usage = {"C": 15, "A": 1}
    assert book("line").quote(usage).total == Decimal("0.34")
    assert book("total").quote(usage).total == Decimal("0.34")
    assert book("exact").quote(usage).total == Decimal("0.34225")
    assert [line.amount for line in book("exact").quote(usage).lines if line.meter == "c"
            and line.source == "postpaid"] == [Decimal("0.3330"), Decimal("0.00775")]


USAGE = st.dictionaries(st.sampled_from(["A", "B", "C"]),
                        st.one_of(st.integers(0, 10_000), st.integers(0, 10**9)))


@settings(max_examples=200, deadline=None)
@given(USAGE)
def test_every_mode_against_the_precise_lines(usage: dict[str, int]) -> None:
    """The precise amounts do not depend on the mode; the amounts and the total do, as stated:
    per line the sum of the lines rounded each; on total the precise sum rounded once; exact
    the precise sum. The per-line quote is the fast plan's, held to the general path."""
    line, total, exact = book("line"), book("total"), book("exact")
    bills = {mode: b.quote(usage) for mode, b in (("line", line), ("total", total),
                                                    ("exact", exact))}
    for mode, sheet in (("line", line), ("total", total), ("exact", exact)):
        assert sheet._plan is not None  # the fast plan prices each mode
        assert bills[mode] == sheet._quote_general(usage)
    precise = [(x.meter, x.source, x.precise_amount) for x in bills["line"].lines]
    for bill in bills.values():
        assert [(x.meter, x.source, x.precise_amount) for x in bill.lines] == precise
    exact_sum = sum((x.precise_amount for x in bills["line"].lines), Decimal(0))
    assert bills["exact"].total == exact_sum
    assert [x.amount for x in bills["exact"].lines] == [p for _, _, p in precise]
    assert [x.amount for x in bills["total"].lines] == [p for _, _, p in precise]
    assert bills["total"].total == exact_sum.quantize(Decimal("0.01"), "ROUND_HALF_UP")
    assert bills["line"].total == sum(
        (p.quantize(Decimal("0.01"), "ROUND_HALF_UP") for _, _, p in precise), Decimal(0))


JOURNAL = [
    {"time": "2026-11-02T10:00:00Z", "type": "usage", "action": "A", "count": 3, "id": "1"},
    {"time": "2026-11-03T10:00:00Z", "type": "usage", "action": "B", "count": 1, "id": "2"},
    {"time": "2026-11-04T10:00:00Z", "type": "usage", "action": "C", "count": 15, "id": "3"},
    {"time": "2026-12-01T10:00:00Z", "type": "usage", "action": "A", "count": 1, "id": "4"},
]


@pytest.mark.parametrize("mode", ["line", "total", "exact"])
def test_journal_account_and_snapshot_bill_as_the_quote(mode: str) -> None:
    """November: A=3, B=1, C=15, the sums above: per line 0.00 + 0.00 + 0.33 + 0.01 = 0.34;
    on total 0.0045 + 0.0025 + 0.34075 = 0.34775 → 0.35; exact 0.34775. The journal's bill,
    an account fed entry by entry with a snapshot and restore after each, and the quote of
    the month's totals are one bill."""
    sheet = book(mode)
    november = sheet.bill_month(JOURNAL, "2026-11")
    assert november.total == {"line": Decimal("0.34"), "total": Decimal("0.35"),
                              "exact": Decimal("0.34775")}[mode]
    quoted = sheet.quote({"A": 3, "B": 1, "C": 15})
    assert (november.total, amounts(november)) == (quoted.total, amounts(quoted))
    account = Account(sheet)
    issued: list[ratecard.Bill] = []
    for entry in JOURNAL:
        issued.extend(account.feed([entry]))
        account = Account.restore(sheet, json.dumps(account.snapshot()))
    assert issued == [november]
    assert json.loads(json.dumps(november.to_dict()))["total"] == format(november.total, "f")


CONTRACT_SHEET = SHEET.replace("price a 0.0015", "price a 0.0015\nprice d 0.0101").replace(
    'meter c "丙"', 'meter d "丁" / "D" counts D\nmeter c "丙"')
CONTRACT = """contract acme "Acme" extends "sheet.rules"
accounts acme
from 2026-01-01 until 2028-01-01
discount 50% on d
minimum spend 1 per month
"""


def contract_book(mode: str, tmp_path: Path) -> PriceBook:
    (tmp_path / "sheet.rules").write_text(CONTRACT_SHEET.format(rounding=MODES[mode]))
    (tmp_path / "acme.rules").write_text(CONTRACT)
    return ratecard.load(tmp_path / "sheet.rules").with_contract(tmp_path / "acme.rules")


@pytest.mark.parametrize(("mode", "expected"), [
    # A=3: 0.0045 → 0.00. D=1: 0.0101 → 0.01; its discount: round(0.00505) = 0.01 less
    # 0.01 = 0.00. Spent 0.00 + 0.01 + 0.00 = 0.01: true-up 0.99, total 1.00.
    ("line", [("a", "0.00"), ("d", "0.01"), ("d", "0.00"), ("*", "0.99")]),
    # Precise lines 0.0045, 0.0101, discount −0.00505: sum 0.00955 → 0.01; true-up 0.99.
    ("total", [("a", "0.0045"), ("d", "0.0101"), ("d", "-0.00505"), ("*", "0.99")]),
    # Exact: the true-up is 1 − 0.00955 = 0.99045; the total is exactly the minimum.
    ("exact", [("a", "0.0045"), ("d", "0.0101"), ("d", "-0.00505"), ("*", "0.99045")]),
])
def test_contract_discount_and_true_up_follow_the_mode(
    mode: str, expected: list[tuple[str, str]], tmp_path: Path
) -> None:
    bill = contract_book(mode, tmp_path).quote({"D": 1, "A": 3}, at="2026-11-01")
    assert [(x.meter, format(x.amount, "f")) for x in bill.lines] == expected
    assert [x.source for x in bill.lines] == ["postpaid", "postpaid", "discount", "true_up"]
    assert bill.total == Decimal(1)


def test_contract_true_up_on_total_is_from_the_precise_total_rounded(tmp_path: Path) -> None:
    """D=60, A=3, B=1. Per line: d 0.606 → 0.61, its discount round(0.303) − 0.61 = −0.31,
    a 0.0045 → 0.00, b 0.0025 → 0.00: spent 0.30, true-up 0.70. On total: 0.606 − 0.303 +
    0.0045 + 0.0025 = 0.3100 → 0.31, true-up 0.69. Both total the minimum, 1.00."""
    usage = {"D": 60, "A": 3, "B": 1}
    line = contract_book("line", tmp_path).quote(usage, at="2026-11-01")
    total = contract_book("total", tmp_path).quote(usage, at="2026-11-01")
    assert (line.lines[-1].amount, total.lines[-1].amount) == (Decimal("0.70"), Decimal("0.69"))
    assert total.total == line.total == Decimal(1)


@pytest.mark.parametrize(("mode", "en", "zh"), [
    ("line", "Each bill line is rounded half up to $0.01; the total is the sum of the "
             "rounded lines.",
     "账单每一行的金额按四舍五入精确到0.01美元，账单总额为各行金额之和。"),
    ("total", "Bill lines keep their exact amounts; the total is rounded half up to $0.01, "
              "once.", "账单各行金额不做舍入，账单总额按四舍五入精确到0.01美元。"),
    ("exact", "Amounts are never rounded: every line and the total are exact.",
     "账单金额不做舍入，按精确金额计费。"),
])
def test_the_sheet_says_how_amounts_are_rounded(mode: str, en: str, zh: str) -> None:
    assert f"- {en}\n" in render(book(mode), "md", "en").text
    assert f"- {zh}\n" in render(book(mode), "md", "zh").text


def test_the_worked_example_shows_exact_amounts() -> None:
    """The example month: 1,000,000 calls of a at 0.0015 = 1500.0000 (exact; per line 1,500.00).
    """
    assert "| Total | 1,000,000 calls | — | — | $1,500.0000 |" in render(
        book("exact"), "md", "en").text
    assert "| Total | 1,000,000 calls | — | — | $1,500.00 |" in render(
        book("line"), "md", "en").text


def _usage_table(path: Path, account: str, entries: list[dict[str, object]]) -> Path:
    """The usage entries of one account as a warehouse usage table (Parquet)."""
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [{"account": account, "time": e["time"], "action": e["action"],
             "count": e["count"], "id": e["id"]} for e in entries]
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.mark.parametrize(("mode", "totals", "amounts", "scales"), [
    # Per line: 0.0045 → 0.00, 0.0025 → 0.00, 0.333 → 0.33, 0.00775 → 0.01; December
    # 0.0015 → 0.00.
    ("line", ["0.34", "0.00"], ["0.00", "0.00", "0.00", "0.33", "0.01", "0.00"], (2, 2)),
    # On total the lines keep 0.0045, 0.0025, 0.333, 0.00775 (sum 0.34775 → 0.35) and
    # December's 0.0015 (→ 0.00): totals on the cent, lines to the 5th decimal.
    ("total", ["0.35", "0.00"], ["0.0045", "0.0025", "0", "0.333", "0.00775", "0.0015"],
     (2, 5)),
    # Exact: the same lines, totals 0.34775 and 0.0015, both at 5 decimals.
    ("exact", ["0.34775", "0.0015"], ["0.0045", "0.0025", "0", "0.333", "0.00775", "0.0015"],
     (5, 5)),
])
def test_the_warehouse_bills_each_mode_as_the_engine(
    mode: str, totals: list[str], amounts: list[str], scales: tuple[int, int], tmp_path: Path
) -> None:
    """The journal above as a usage table: November A=3, B=1, C=15 (2 free, 13 postpaid:
    10 × 0.0333 = 0.333, then 3 × 0.00125 + 0.004 flat = 0.00775), December A=1. The
    warehouse's bills and lines are the engine's; the output's `total` is DECIMAL(38, s) with
    s the increment's places on total, the lines' places when exact."""
    from ratecard.warehouse import bill_warehouse

    sheet = book(mode)
    result = bill_warehouse(sheet, str(_usage_table(tmp_path / "u.parquet", "acme", JOURNAL)))
    assert [(b["month"], b["total"]) for b in result.bills.to_pylist()] == [
        ("2026-11", Decimal(totals[0])), ("2026-12", Decimal(totals[1]))]
    assert [x["amount"] for x in result.lines.to_pylist()] == [Decimal(a) for a in amounts]
    engine = sheet.bill(JOURNAL)
    assert [b.total for b in engine] == [Decimal(t) for t in totals]
    assert [x.amount for b in engine for x in b.lines] == [Decimal(a) for a in amounts]
    assert (result.bills.schema.field("total").type.scale,
            result.lines.schema.field("amount").type.scale) == scales


@pytest.mark.parametrize(("mode", "expected"), [
    # As the quote above: precise lines 0.0045, 0.0101, discount −0.00505: 0.00955 → 0.01,
    # then the true-up 0.99 (rounded after the total, not with it): 1.00.
    ("total", [("a", "0.0045"), ("d", "0.0101"), ("d", "-0.00505"), ("*", "0.99")]),
    # Exact: the true-up is 1 − 0.00955 = 0.99045, the total exactly the minimum.
    ("exact", [("a", "0.0045"), ("d", "0.0101"), ("d", "-0.00505"), ("*", "0.99045")]),
])
def test_the_warehouse_bills_a_contract_in_each_mode_as_the_engine(
    mode: str, expected: list[tuple[str, str]], tmp_path: Path
) -> None:
    """A=3, D=1 in November under the contract (50% off d, minimum spend 1 a month): the
    warehouse adds the true-up after rounding the precise sum, as the engine's bill does."""
    from ratecard.warehouse import bill_warehouse

    contract_book(mode, tmp_path)
    (tmp_path / "contracts.csv").write_text("account,contract\nacme,acme.rules\n")
    entries: list[dict[str, object]] = [
        {"time": "2026-11-02T10:00:00Z", "type": "usage", "action": "D", "count": 1, "id": "1"},
        {"time": "2026-11-03T10:00:00Z", "type": "usage", "action": "A", "count": 3, "id": "2"},
    ]
    result = bill_warehouse(
        ratecard.load(tmp_path / "sheet.rules"),
        str(_usage_table(tmp_path / "u.parquet", "acme", entries)),
        contracts=str(tmp_path / "contracts.csv"),
    )
    assert [(x["meter"], x["amount"]) for x in result.lines.to_pylist()] == [
        (meter, Decimal(amount)) for meter, amount in expected]
    assert [(b["month"], b["total"]) for b in result.bills.to_pylist()] == [
        ("2026-11", Decimal(1))]
    engine = contract_book(mode, tmp_path).bill_month(entries, "2026-11")
    assert [(x.meter, format(x.amount, "f")) for x in engine.lines] == expected


def test_exact_rules_refuse_amounts_that_do_not_terminate() -> None:
    """Under `rounding exact` a price of 1 per 3 units, or a block of 3 prorated, makes amounts
    like 0.333… that nothing may round: `check` refuses them (E934) unless the meter rounds its
    lines (`amount rounded`), so neither the engine nor the warehouse ever sees them."""
    for price in ("1 per 3", "0.03 per block of 3 prorated"):
        text = SHEET.format(rounding=MODES["exact"]).replace("price b 0.0025", f"price b {price}")
        with pytest.raises(ratecard.RulesError, match="E934"):
            ratecard.loads(text, "exact.rules")
        rounded = ratecard.loads(text.replace(
            'meter b "乙" / "B" counts B', 'meter b "乙" / "B" counts B\n'
            "  amount rounded half_up to 0.000001"), "exact.rules")
        assert rounded.meter("b").amount_rounding is not None


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
@pytest.mark.parametrize(("mode", "words"), [("total", "rounding half_up 0.01 on total")])
def test_the_warehouse_refuses_amounts_it_cannot_hold(mode: str, words: str, engine: str) -> None:
    """A price of 1 per 3 units makes 1 unit cost 0.333… (the engine's 60 digits): a line kept
    precise cannot be held in a DECIMAL, so the run is refused before any input is read or any
    engine is opened (so without pyspark too), never rounded. (Under `rounding exact`, `check`
    refuses such a price without `amount rounded`: E934.)"""
    from ratecard.warehouse import bill_warehouse

    thirds = ratecard.loads(SHEET.format(rounding=MODES[mode]).replace(
        "price b 0.0025", "price b 1 per 3"), f"{mode}.rules")
    with pytest.raises(UsageError) as raised:
        bill_warehouse(thirds, "usage.parquet", engine=engine)
    assert str(raised.value) == (
        f"these rules say `{words}`, and meter `b` is priced 1 per 3: its amounts are not all "
        "decimals the warehouse can hold exactly (1 unit costs 1/3); bill these accounts with "
        "`ratecard bill`")


def test_the_warehouse_refuses_prorated_blocks_of_3_units(tmp_path: Path) -> None:
    """A block of 3 units prorated: 1 unit is 1/3 of a block (0.333… blocks), refused under
    `on total` as a price per 3 is (under `exact`, `check` refuses it: E934). In blocks of 3
    rounded up every amount is a whole number of
    blocks times the price, and is billed (by Python, as blocks are): November's B=1 is 1
    block, 0.03, and the month 0.0045 + 0.03 + 0.333 + 0.00775 = 0.37525."""
    from ratecard.warehouse import bill_warehouse

    def thirds(how: str, mode: str = "exact") -> PriceBook:
        return ratecard.loads(SHEET.format(rounding=MODES[mode]).replace(
            "price b 0.0025", f"price b 0.03 per block of 3 {how}"), "blocks.rules")

    with pytest.raises(UsageError) as raised:
        bill_warehouse(thirds("prorated", "total"), "usage.parquet")
    assert str(raised.value) == (
        "these rules say `rounding half_up 0.01 on total`, and meter `b` is priced per block "
        "of 3 prorated: "
        "its amounts are not all decimals the warehouse can hold exactly (a unit is 1/3 of a "
        "block); bill these accounts with `ratecard bill`")
    result = bill_warehouse(thirds("rounded up"),
                            str(_usage_table(tmp_path / "u.parquet", "acme", JOURNAL)))
    assert [(b["month"], b["total"]) for b in result.bills.to_pylist()] == [
        ("2026-11", Decimal("0.37525")), ("2026-12", Decimal("0.0015"))]
    assert [b.total for b in thirds("rounded up").bill(JOURNAL)] == [
        Decimal("0.37525"), Decimal("0.0015")]


def test_the_warehouse_refuses_amounts_with_more_decimals_than_it_holds(tmp_path: Path) -> None:
    """A price with 28 decimals on a meter rounded to 0.00001: a precise amount needs
    28 + 5 = 33 places, more than DECIMAL(38, s) holds with room for a bill's 10^6 lines and
    one whole digit (s at most 38 − 6 − 1 = 31)."""
    from ratecard.warehouse import bill_warehouse

    tiny = ratecard.loads(SHEET.format(rounding=MODES["exact"]).replace(
        "price a 0.0015", "price a 0." + "0" * 27 + "1").replace(
        'counts A', 'counts A quantity rounded half_up to 0.00001'), "tiny.rules")
    with pytest.raises(UsageError) as raised:
        bill_warehouse(tiny, str(_usage_table(tmp_path / "u.parquet", "acme", JOURNAL)))
    assert str(raised.value) == (
        "these rules say `rounding exact`, and their amounts need 33 decimal places: the "
        "warehouse holds an amount exactly in DECIMAL(38, s) with s at most 31; bill these "
        "accounts with `ratecard bill`")


def test_diff_names_the_rounding_mode() -> None:
    from ratecard.diff import compare, shown

    for mode, words in (("total", "half_up 0.01 on total"), ("exact", "exact")):
        (entry,) = compare(book("line"), book(mode)).entries
        assert (entry.change.what, shown(entry.change, entry.change.old),
                shown(entry.change, entry.change.new)) == ("rounding", "half_up 0.01", words)


def test_charge_of_one_meter_in_each_mode() -> None:
    """7 calls of b at 0.0025 = 0.0175: per line and on total 0.02, exact 0.0175."""
    assert [book(m).price_total("b", 7) for m in ("line", "total", "exact")] == [
        Decimal("0.02"), Decimal("0.02"), Decimal("0.0175")]


# --- the quote plan against the general path, on generated sheets in every mode ---------------

TERMS = st.one_of(
    st.decimals(min_value=0, max_value=50, places=5, allow_nan=False).map(lambda p: f"{p}"),
    st.tuples(st.decimals(min_value=0, max_value=50, places=3, allow_nan=False),
              st.sampled_from([3, 8, 1000, 1_000_000])).map(lambda t: f"{t[0]} per {t[1]}"),
    st.tuples(st.decimals(min_value=0, max_value=5, places=6, allow_nan=False),
              st.decimals(min_value=0, max_value=9, places=3, allow_nan=False)).map(
        lambda t: f"{t[0]} + {t[1]} flat"),
)


@st.composite
def mode_sheets(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A sheet of one to three meters (a `price` or a ladder each, some with a minimum) in a
    rounding mode; its text with `{rounding}` left to fill, and its actions."""
    text = ['rules g "G" / "G"', "currency USD, {rounding}, timezone UTC"]
    actions = []
    for m in range(draw(st.integers(1, 3))):
        text.append(f'meter m{m} "M{m}" / "M{m}" counts A{m}')
        actions.append(f"A{m}")
        if draw(st.booleans()):
            text.append(f"allowance {draw(st.sampled_from([10, 1000]))} per month on m{m}")
        if draw(st.booleans()):
            text.append(f"price m{m} {draw(TERMS)}")
            continue
        mode = draw(st.sampled_from(["volume", "graduated"]))
        bounds = sorted(draw(st.sets(st.integers(1, 100_000), max_size=3)))
        lows = [0, *bounds]
        text.append(f"ladder {mode} by {draw(st.sampled_from(['postpaid', 'total']))} "
                    f"per month on m{m} {{")
        for i, lo in enumerate(lows):
            hi = "∞)" if i == len(lows) - 1 else f"{lows[i + 1]}]"
            text.append(f"  ({lo}, {hi} {draw(TERMS)}")
        if draw(st.integers(0, 4)) == 0:
            text.append(f"  minimum {draw(st.decimals(min_value=0, max_value=9, places=3))}")
        text.append("}")
    text.append("deduct allowance, postpaid")
    return "\n".join(text) + "\n", actions


@settings(max_examples=150, deadline=None)
@given(mode_sheets(), st.sampled_from(["line", "total", "exact"]), st.data())
def test_the_quote_plan_prices_every_mode_as_the_general_path(
    sheet: tuple[str, list[str]], mode: str, data: st.DataObject
) -> None:
    text, actions = sheet
    try:
        priced = ratecard.loads(text.replace("{rounding}", MODES[mode]))
    except ratecard.RulesError as exc:
        # Under `rounding exact`, a price per 3 whose unit price does not terminate is refused
        # by `check` (E934: its amounts would have to be cut to some digits).
        assert mode == "exact" and " per 3" in text, str(exc)
        assert {d.code for d in exc.diagnostics if d.is_error} == {"E934"}, str(exc)
        return
    usage = data.draw(st.dictionaries(st.sampled_from(actions),
                                      st.one_of(st.integers(0, 10**7), st.integers(0, 2000))))
    assert priced.quote(usage) == priced._quote_general(usage)
    for meter in priced.meters:
        for quantity in (1, 999, 123_457):
            assert priced.price_lines(meter.name, quantity) == general_price(priced)(
                meter.name, quantity)
            with decimal.localcontext(CONTEXT):  # 60 digits: `1 per 3` has many
                lines_sum = sum((x.amount for x in priced.price_lines(meter.name, quantity)),
                                Decimal(0))
            assert priced.price_total(meter.name, quantity) == priced.rounding.total(lines_sum)


def test_the_text_and_json_quote_show_exact_amounts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ratecard quote` under `rounding exact`: A=3, B=1 → lines 0.0045 and 0.0025, total
    0.0070, in the table and in JSON."""
    from ratecard.cli import main

    path = tmp_path / "exact.rules"
    path.write_text(SHEET.format(rounding=MODES["exact"]), encoding="utf-8")
    assert main(["quote", str(path), "A=3", "B=1"]) == 0
    text = capsys.readouterr().out
    assert "0.0045" in text and "0.0025" in text and text.rstrip().endswith("total USD 0.0070")
    assert main(["quote", "--json", str(path), "A=3", "B=1"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["total"] == "0.0070"
    assert [line["amount"] for line in document["lines"]] == ["0.0045", "0.0025"]
