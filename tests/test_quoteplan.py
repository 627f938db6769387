"""Quote plans (the compiled fast quote) are held to the general path, bill for bill."""

from __future__ import annotations

import decimal
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ratecard
from ratecard.engine.pricebook import PriceBook

PRICES = st.decimals(min_value=0, max_value=100, places=4, allow_nan=False)
# Minimums and maximums: whole, on the cent, or between two cents (billed as the cent above
# for a minimum, below for a maximum).
BOUNDS = st.one_of(st.integers(0, 50_000).map(Decimal),
                   st.decimals(min_value=0, max_value=100, places=2, allow_nan=False),
                   st.decimals(min_value=0, max_value=1, places=3, allow_nan=False))


@st.composite
def books(draw: st.DrawFn) -> PriceBook:
    """A sheet of one to three meters, each with its own random ladder and allowance, and some
    with a minimum, a maximum or both (on the rounding increment or between two of its steps,
    near the charges that small counts make). The ladders are declared in any order, not
    necessarily their meters'."""
    meters = draw(st.integers(1, 3))
    text = ['rules r "R" / "R"', "currency USD, rounding half_up 0.01, timezone UTC"]
    ladders: list[list[str]] = []
    for m in range(meters):
        text.append(f'meter m{m} "M{m}" / "M{m}" counts A{m}, B{m}' + (
            f" free F{m}" if draw(st.booleans()) else ""))
        allowance = draw(st.sampled_from([0, 0, 10, 1000, 1_000_000]))
        if allowance:
            text.append(f"allowance {allowance} per month on m{m}")
        mode = draw(st.sampled_from(["volume", "graduated"]))
        basis = draw(st.sampled_from(["postpaid", "total", "after_allowance"]))
        bounds = sorted(set(draw(st.lists(st.one_of(  # whole bounds, and some like 1234.5
            st.integers(1, 5_000_000),
            st.integers(1, 5_000_000).map(lambda n: Decimal(n) + Decimal("0.5")),
        ), max_size=4))))
        lows = [0, *bounds]
        brackets = []
        # Either form, `(lo, hi]` or `[lo, hi)` (a quantity equal to hi in the next bracket).
        opening, closing = draw(st.sampled_from([("(", "]"), ("[", ")")]))
        for i, lo in enumerate(lows):
            hi = "∞)" if i == len(lows) - 1 else f"{lows[i + 1]}{closing}"
            kind = draw(st.sampled_from(["unit", "unit", "unit", "per", "flat", "contact"]))
            price = draw(PRICES)
            if kind == "unit":
                term = f"{price}"
            elif kind == "per":
                term = f"{price} per {draw(st.sampled_from([1000, 10_000, 1_000_000]))}"
            elif kind == "flat":
                term = f"{price} + {draw(PRICES)} flat"
            else:
                term = "contact sales"
            brackets.append(f"  {opening}{lo}, {hi} {term}")
        ladder = [f"ladder {mode} by {basis} per month on m{m} {{", *brackets]
        bounds_drawn = draw(st.sampled_from(["", "", "minimum", "maximum", "both"]))
        low = draw(BOUNDS)
        if bounds_drawn in ("minimum", "both"):
            ladder.append(f"  minimum {low}")
        if bounds_drawn in ("maximum", "both"):
            ladder.append(f"  maximum {low + draw(BOUNDS)}")
        ladders.append([*ladder, "}"])
    for ladder in draw(st.permutations(ladders)):
        text.extend(ladder)
    text.append("deduct allowance, postpaid")
    return ratecard.loads("\n".join(text))


def same(book: PriceBook, call: str, *args: object) -> None:
    """The plan's answer equals the general path's (or both fail with the same error)."""
    general = book._quote_general if call == "quote" else _general_price(book)
    try:
        expected = general(*args)  # type: ignore[operator]
    except ratecard.ContactSalesError as exc:
        with pytest.raises(ratecard.ContactSalesError) as raised:
            getattr(book, call)(*args)
        assert str(raised.value) == str(exc)
        return
    assert getattr(book, call)(*args) == expected


def _general_price(book: PriceBook) -> object:
    def price(meter: str, quantity: int) -> object:
        with decimal.localcontext(decimal.Context(prec=60)):
            from ratecard.engine.money import ZERO
            from ratecard.engine.pricing import MeterUsage

            units = Decimal(quantity)
            (group,) = [g for g in book.ladder_groups if meter in g.meters]
            return group.lines({meter: MeterUsage(units, ZERO, units)}, book.rounding)
    return price


@settings(max_examples=300, deadline=None)
@given(books(), st.data())
def test_plan_quotes_exactly_as_the_general_path(book: PriceBook, data: st.DataObject) -> None:
    assert book._plan is not None  # these sheets are the plan's to price
    actions = [a for m in book.meters for a in (*m.actions, *m.free_actions)]
    usage = data.draw(st.dictionaries(
        st.sampled_from(actions),
        st.one_of(st.integers(0, 20_000_000), st.sampled_from([0, 1, 999, 1000, 1001]),
                  st.integers(0, 5000)),
    ))
    same(book, "quote", usage)


def _edges(book: PriceBook) -> list[int]:
    """Whole quantities at and around every bracket bound of the book's ladders, and those
    bounds plus each allowance (where a `by postpaid` basis reaches them)."""
    bounds = {b.hi for g in book.ladder_groups for b in g.ladder.brackets if b.hi is not None}
    allowances = {Decimal(0), *(m.allowance for m in book.meters)}
    return sorted({
        int(edge) + step
        for bound in bounds
        for allowance in allowances
        for edge in (bound + allowance,
                     (bound + allowance).to_integral_value(decimal.ROUND_CEILING))
        for step in (-1, 0, 1)
        if int(edge) + step >= 0
    })


@settings(max_examples=200, deadline=None)
@given(books(), st.data())
def test_plan_quotes_exactly_as_the_general_path_at_the_bracket_edges(
    book: PriceBook, data: st.DataObject
) -> None:
    """Quantities equal to a bound, one below and one above: `(lo, hi]` keeps hi in its
    bracket, `[lo, hi)` moves it to the next; the plan's whole-number bounds must agree."""
    edges = _edges(book)
    if not edges:
        return
    actions = [a for m in book.meters for a in m.actions]
    usage = data.draw(st.dictionaries(st.sampled_from(actions), st.sampled_from(edges),
                                      min_size=1))
    same(book, "quote", usage)
    meter = book.meters[0].name
    quantity = data.draw(st.sampled_from(edges))
    same(book, "price_lines", meter, quantity)
    if quantity > 0:
        try:
            lines = _general_price(book)(meter, quantity)  # type: ignore[operator]
        except ratecard.ContactSalesError:
            with pytest.raises(ratecard.ContactSalesError):
                book.price_total(meter, quantity)
            return
        assert book.price_total(meter, quantity) == sum(
            (line.amount for line in lines), book.rounding.round(Decimal(0)))


@settings(max_examples=200, deadline=None)
@given(books(), st.one_of(st.integers(0, 20_000_000), st.integers(0, 5000)))
def test_plan_prices_a_meter_exactly_as_the_general_path(book: PriceBook, quantity: int) -> None:
    same(book, "price_lines", book.meters[0].name, quantity)


def test_plan_steps_aside_for_a_narrow_decimal_context() -> None:
    """Under a 6-digit context the plan declines; the general path still bills exactly."""
    book = ratecard.load("rules/tencent-bda.rules")
    with decimal.localcontext(decimal.Context(prec=6)):
        bill = book.quote({"SearchTrace": 3_001_001})
    assert bill.lines[-1].precise_amount == Decimal("5400.0018")
    assert bill.total == Decimal("5400.00")


# A price of 13 digits on the cent: the plan's limit is 10^28 // (1,234,567,890,123 × 10) =
# 810,000,007,290,299 calls, under the largest count (10^18), so a count can pass it.
DEAR = """rules dear "D" / "D"
currency USD, rounding half_up 0.01, timezone UTC
meter m "M" / "M" counts A
ladder volume by postpaid per month on m {
  (0, ∞)  12345678901.23
}
deduct postpaid
"""


def test_plan_steps_aside_for_huge_quantities() -> None:
    """Past the plan's limit the general path takes the quote.

    10^15 × 12,345,678,901.23 = 12,345,678,901,230,000,000,000,000, exact to its 26 digits.
    """
    book = ratecard.loads(DEAR)
    assert book._plan is not None and book._plan._limit == 810_000_007_290_299
    bill = book.quote({"A": 10**15})
    assert bill.lines[-1].precise_amount == Decimal("12345678901230000000000000.00")
    assert bill.total == Decimal("12345678901230000000000000.00")


def test_plan_covers_the_shipped_sheets() -> None:
    for name in ("tencent-bda", "google-geocoding", "aws-lambda"):
        assert ratecard.load(f"rules/{name}.rules")._plan is not None, name


def test_sheets_the_plan_does_not_cover() -> None:
    """Blocks and a flat fee charged at zero usage take the general path."""
    for path in ("tests/conformance/openmeter-o1-minimum.rules",
                 "tests/conformance/stripe-s3-blocks-up.rules"):
        assert ratecard.load(path)._plan is None, path


def test_plan_covers_minimums_and_maximums() -> None:
    """Lago's L7 (a 10.00 minimum on 1.00 a unit) is priced by the plan: 7 units are 7.00 and
    a 3.00 true-up; no usage at all is the minimum alone (no allowance line); 12 units are
    12.00 with no adjustment."""
    book = ratecard.load("tests/conformance/lago-l7-minimum.rules")
    assert book._plan is not None
    for usage in ({"Use": 7}, {}, {"Use": 0}, {"Use": 12}):
        assert book.quote(usage) == book._quote_general(usage), usage
    assert [(line.source, line.amount) for line in book.quote({}).lines] == [
        ("minimum", Decimal("10.00"))]
    assert book.quote({"Use": 7}).total == Decimal("10.00")
    assert book.quote({"Use": 12}).total == Decimal("12.00")


def test_one_meter_s_price_is_exact_in_a_narrow_context_and_past_the_limit() -> None:
    """`price_lines` takes its shortcut only where the Decimal operator is exact.

    Under a 6-digit context: 3,000,001 × 0.0018 = 5,400.0018 (8 digits), kept whole.
    Past the limit (sheet DEAR): 10^15 × 12,345,678,901.23 = 12,345,678,901,230,000,000,000,000.
    """
    book = ratecard.load("rules/tencent-bda.rules")
    with decimal.localcontext(decimal.Context(prec=6)):
        (line,) = book.price_lines("search", 3_000_001)
    assert (line.precise_amount, line.amount) == (Decimal("5400.0018"), Decimal("5400.00"))
    dear = ratecard.loads(DEAR)
    with decimal.localcontext(decimal.Context(prec=6)):
        (line,) = dear.price_lines("m", 10**15)
    assert line.precise_amount == Decimal("12345678901230000000000000")
    assert line.amount == Decimal("12345678901230000000000000.00")
    assert line.quantity == Decimal(10**15)


def test_one_meter_s_charge_is_exact_in_a_narrow_context() -> None:
    """Search, 3,002,225 calls at 0.0018 = 5,404.005 exactly, half-up: 5,404.01. A 6-digit
    context would have rounded the product to 5,404.00 (half-even) first: `price_total` computes it
    in ratecard's own context, whatever the caller's."""
    book = ratecard.load("rules/tencent-bda.rules")
    assert book.price_total("search", 3_002_225) == Decimal("5404.01")
    with decimal.localcontext(decimal.Context(prec=6)):
        assert book.price_total("search", 3_002_225) == Decimal("5404.01")


@settings(max_examples=200, deadline=None)
@given(books(), st.integers(0, 20_000_000))
def test_a_meter_s_charge_is_the_sum_of_its_priced_lines(book: PriceBook, quantity: int) -> None:
    """`price_total` (the plan's shortcut) is what the general path's lines add up to."""
    meter = book.meters[0].name
    try:
        lines = _general_price(book)(meter, quantity)  # type: ignore[operator]
    except ratecard.ContactSalesError as exc:
        with pytest.raises(ratecard.ContactSalesError) as raised:
            book.price_total(meter, quantity)
        assert str(raised.value) == str(exc)
        return
    assert book.price_total(meter, quantity) == sum((line.amount for line in lines), Decimal(0))


def test_charge_of_the_bda_search_meter_and_of_a_minimum() -> None:
    """Search, 3,000,001 calls: all in (3,000,000, 15,000,000] at 0.0018 = 5,400.0018 → 5,400.00.
    Lago's L7 (a 10.00 minimum on 1.00 a unit): 7 units → 7.00 + a 3.00 true-up = 10.00.
    No units at all: the minimum alone, 10.00 (priced on its own, the period has a charge of 0);
    the BDA sheet charges 0.00 for none."""
    assert ratecard.load("rules/tencent-bda.rules").price_total("search", 3_000_001) == Decimal(
        "5400.00")
    minimum = ratecard.load("tests/conformance/lago-l7-minimum.rules")
    assert minimum.price_total("use", 7) == Decimal("10.00")
    assert minimum.price_total("use", 0) == Decimal("10.00")
    assert str(ratecard.load("rules/tencent-bda.rules").price_total("search", 0)) == "0.00"


def test_decimal_bounds_in_a_plan() -> None:
    """A volume ladder with a decimal bound, (0, 100.5] at 1 and (100.5, ∞) at 0.5: 100 units
    are in the first bracket (100.00), 101 in the second (50.50); the plan (which compares whole
    quantities with ⌊100.5⌋ = 100) agrees with the general path."""
    book = ratecard.loads(
        'rules r "R" / "R"\ncurrency USD, rounding half_up 0.01, timezone UTC\n'
        'meter m "M" / "M" counts A\n'
        "ladder volume by postpaid per month on m {\n  (0, 100.5] 1\n  (100.5, ∞) 0.5\n}\n"
        "deduct postpaid\n"
    )
    assert book._plan is not None
    assert book.price_total("m", 100) == Decimal("100.00")
    assert book.price_total("m", 101) == Decimal("50.50")
    for units in (100, 101):
        same(book, "price_lines", "m", units)
        same(book, "quote", {"A": units})
