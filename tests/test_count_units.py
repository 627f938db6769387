"""`counts A in hours` (entry counts in the display unit, metered in seconds) and `amount
rounded` (a meter's own line rounding, under `rounding exact` the one rounding of a price whose
amounts do not terminate): `bill`, `Account.feed` resumed from snapshots and `quote` agree with
an oracle in fractions, with and without a minimum per entry."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ratecard
from ratecard import Account, UsageError

SHEET = """\
rules ce "代码执行" / "Code execution"
currency USD, rounding exact, timezone UTC
meter code_execution "代码执行" / "Code execution"
  unit "小时" / "hour" = 3600 "秒" / "second"
  counts code_execution in hours
  quantity rounded up to 0.0001
{minimum}  amount rounded half_up to 0.000001
allowance 3600 per month on code_execution
price code_execution 0.05 per 3600
deduct allowance, postpaid
"""
MINIMUM = ('  quantity at least 300 per entry "每次执行最少按 5 分钟计" / '
           '"minimum 5 minutes per execution"\n')
WITH_MINIMUM = ratecard.loads(SHEET.format(minimum=MINIMUM), "ce.rules")
WITHOUT_MINIMUM = ratecard.loads(SHEET.format(minimum=""), "ce.rules")

HOURS = st.lists(st.decimals(min_value=0, max_value=3, places=4), max_size=8)


def _entries(hours: list[Decimal]) -> list[dict[str, object]]:
    return [{"time": f"2026-11-{day + 1:02}T00:00:00Z", "type": "usage",
             "action": "code_execution", "count": str(count)}
            for day, count in enumerate(hours)]


def oracle(hours: list[Decimal], minimum: int) -> Decimal:
    """Each execution in seconds (h × 3,600: whole hundredths, no rounding), raised to the
    minimum when above 0; 3,600 s free; the rest × 0.05 / 3,600 in fractions, rounded half up
    to 0.000001."""
    seconds = [count * 3600 for count in hours]
    billed = sum((max(s, Decimal(minimum)) if s > 0 else Decimal(0) for s in seconds),
                 Decimal(0))
    postpaid = max(billed - 3600, Decimal(0))
    exact = Fraction(postpaid) * Fraction(5, 100) / 3600
    micro = exact * 1_000_000
    whole = micro.numerator // micro.denominator
    if (micro - whole) * 2 >= 1:
        whole += 1
    return (Decimal(whole) / Decimal(1_000_000)).quantize(Decimal("0.000001"), ROUND_HALF_UP)


@settings(max_examples=60, deadline=None)
@given(HOURS, st.booleans())
def test_bills_agree_with_the_oracle(hours: list[Decimal], minimum: bool) -> None:
    book = WITH_MINIMUM if minimum else WITHOUT_MINIMUM
    entries = _entries(hours)
    bills = book.bill(entries)
    expected = oracle(hours, 300 if minimum else 0)
    assert sum((b.total for b in bills), Decimal(0)) == expected
    account = Account(book)
    fed: list[ratecard.Bill] = []
    for entry in entries:  # one at a time, saved and restored after each
        fed += account.feed([entry])
        account = Account.restore(book, json.dumps(account.snapshot()))
    if entries:
        fed += account.close_through("2026-11")
    assert [b.to_dict() for b in fed] == [b.to_dict() for b in bills]
    if not minimum and hours:
        # A quote of the month's total hours (no fast plan: the general path) bills alike.
        assert WITHOUT_MINIMUM._plan is None
        assert book.quote({"code_execution": str(sum(hours))}).total == expected


def test_a_worked_month() -> None:
    """Executions of 0.02 h (72 s → 300 s, the minimum), 0.5 h (1,800 s) and 2 h (7,200 s):
    9,300 s, 3,600 free, 5,700 × 0.05 / 3,600 = 0.0791666… → 0.079167. Without the minimum:
    9,072 s, 5,472 × 0.05 / 3,600 = 0.076 exactly."""
    hours = [Decimal("0.02"), Decimal("0.5"), Decimal(2)]
    (bill,) = WITH_MINIMUM.bill(_entries(hours))
    assert [(line.source, line.quantity, line.precise_amount.quantize(Decimal("1e-9")),
             line.amount) for line in bill.lines] == [
        ("allowance", Decimal(3600), Decimal(0), Decimal(0)),
        ("postpaid", Decimal(5700), Decimal("0.079166667"), Decimal("0.079167"))]
    (plain,) = WITHOUT_MINIMUM.bill(_entries(hours))
    assert plain.total == Decimal("0.076")
    assert WITHOUT_MINIMUM.quote({"code_execution": "2.52"}).total == Decimal("0.076")


def test_counts_must_make_whole_units_without_a_rounding() -> None:
    """Without `quantity rounded`, a count in hours must make whole seconds: 0.0001 h is
    0.36 s, an error naming the entry's line; 0.25 h (900 s) is taken."""
    book = ratecard.loads(SHEET.format(minimum="").replace(
        "  quantity rounded up to 0.0001\n", ""), "ce.rules")
    (bill,) = book.bill(_entries([Decimal("0.25"), Decimal(1)]))
    assert bill.lines[-1].quantity == Decimal(900)
    with pytest.raises(UsageError, match=r"journal entry 2: field `count`: 0\.0001 × 3600 = "
                       r"0\.36 is not a whole"):
        book.bill(_entries([Decimal("0.25"), Decimal("0.0001")]))


def test_the_sheet_words_the_minimum_and_the_rounding() -> None:
    from ratecard.render import render

    en = render(WITH_MINIMUM, lang="en").text
    zh = render(WITH_MINIMUM, lang="zh").text
    assert "- Code execution: minimum 5 minutes per execution." in en
    assert "- 代码执行：每次执行最少按 5 分钟计。" in zh
    assert "- Code execution: each line's amount is rounded half up to $0.000001." in en
    assert "- Other amounts are never rounded: their lines and the total are exact." in en
    # The allowance and the price in the display unit.
    assert "Every service comes with 1 hour free each month" in en
    assert "| Code execution | $0.05/hour |" in en


def test_a_price_table_per_3_needs_a_rounding_under_exact() -> None:
    """`prices messages per 3`: a cell of 5 makes 5/3 a unit (1.666…), refused with a caret
    on the cell (E934) unless its meter rounds its lines; a cell of 3 (1 a unit) is exact.
    Rounded, 1 input token of `big` is 1.666667 and 2 output tokens 16.666667 (each line
    half up to 0.000001), the total their sum 18.333334."""
    from ratecard.api import analyze
    from ratecard.source import SourceFile

    text = (
        'rules v "表" / "Table"\ncurrency USD, rounding exact, timezone UTC\n'
        'meter input "输入" / "Input"\nmeter output "输出" / "Output"\n'
        "  amount rounded half_up to 0.000001\n"
        'request messages "消息" / "Messages" {\n  quantity input_tokens into input\n'
        '  quantity output_tokens into output\n  property model "big", "small"\n}\n'
        'prices messages per 3 {\n  model    input  output\n  "big"    5      25\n'
        '  "small"  3      5\n}\ndeduct postpaid\n')
    _, diagnostics = analyze(SourceFile("t.rules", text))
    assert [(d.code, d.span.line, d.span.column) for d in diagnostics] == [("E934", 13, 12)]
    book = ratecard.loads(text.replace(
        'meter input "输入" / "Input"\n',
        'meter input "输入" / "Input"\n  amount rounded half_up to 0.000001\n'), "t.rules")
    (bill,) = book.bill([{"time": "2026-11-01T00:00:00Z", "type": "request",
                          "action": "messages", "properties": {"model": "big"},
                          "quantities": {"input_tokens": 1, "output_tokens": 2}}])
    assert [(line.meter, line.amount) for line in bill.lines] == [
        ("input[big]", Decimal("1.666667")), ("output[big]", Decimal("16.666667"))]
    assert bill.total == Decimal("18.333334")
