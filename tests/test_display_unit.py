"""A display unit beside the metered unit: `unit "小时" / "hour" = 3600 "秒" / "second"`.

The meter counts seconds (journals, quotes, allowances, pack sizes and bracket bounds are in
seconds, as the journal is); the rendered sheet shows hours and prices per hour, exactly.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

import ratecard
from ratecard.cli import format_bill
from ratecard.render import render

ASR = """
rules asr "语音识别" / "Speech recognition"
currency CNY, rounding half_up 0.01, timezone Asia/Shanghai
meter realtime "实时语音识别" / "Real-time ASR" counts Recognize
  unit "小时" / "hour" = 3600 "秒" / "second"
  quantity rounded up to 1
allowance 18000 per month on realtime
packs valid 1 year {
  size      108000  3600000
  realtime  90      1800
}
deduct allowance, packs by expiry, postpaid
ladder volume by total per day on realtime {
  [0, 108万)      3.2 per 3600
  [108万, 360万)  2.8 per 3600
  [360万, ∞)      2.2 per 3600
}
"""


def test_the_meter_keeps_its_metered_unit_and_learns_its_display_unit() -> None:
    (plan,) = ratecard.loads(ASR).meters
    assert plan.unit == ("秒", "second")
    assert plan.display_unit == ("小时", "hour")
    assert plan.display_size == Decimal(3600)


def test_the_sheet_shows_hours_and_prices_per_hour() -> None:
    """Bounds 1,080,000 and 3,600,000 seconds are 300 and 1000 hours; 3.2 per 3600 seconds is
    3.2 per hour; the free 18,000 seconds are 5 hours; packs of 108,000 and 3,600,000 seconds
    are 30 and 1000 hours."""
    book = ratecard.loads(ASR)
    zh = render(book, "md", "zh").text
    assert "| 日用量 | 0 ≤ 用量 < 300 | 300 ≤ 用量 < 1000 | 用量 ≥ 1000 |" in zh
    assert "| 实时语音识别 | 3.2元/小时 | 2.8元/小时 | 2.2元/小时 |" in zh
    assert "您每月每种服务均有5小时的免费额度" in zh
    assert "| 资源包规格 | 30小时 | 1000小时 |" in zh
    # Seconds appear once: the metered quantity is rounded up to 1 second (not ≈0.000278 hour).
    assert "3600" not in zh and zh.count("秒") == 1
    assert "实时语音识别的每条用量记录按向上进位精确到1秒。" in zh
    en = render(book, "md", "en").text
    assert "| Real-time ASR | CN¥3.2/hour | CN¥2.8/hour | CN¥2.2/hour |" in en
    assert "0 ≤ volume < 300 | 300 ≤ volume < 1K | volume ≥ 1K" in en
    assert "3.6K seconds" not in en


def test_the_worked_example_is_in_hours() -> None:
    """The example takes 1,000,000 hours (round in hours): 5 free, the 1000-hour pack held,
    999,995 − 1000 = 998,995 postpaid at 2.2 (the day's total is ≥ 1000 hours):
    998,995 × 2.2 = 2,197,789.00."""
    en = render(ratecard.loads(ASR), "md", "en").text
    assert "| Postpaid | 998,995 hours | volume ≥ 1K | CN¥2.2/hour | CN¥2,197,789.00 |" in en
    assert "998,995 × CN¥2.2 = CN¥2,197,789.00" in en


def test_a_price_per_second_is_shown_per_hour_exactly() -> None:
    """0.001 per second is 0.001 × 3600 = 3.6 per hour; 1 per 7 seconds is 514.285714...
    per hour, shown rounded and marked ≈."""
    text = ASR.replace("3.2 per 3600", "0.001").replace("2.8 per 3600", "1 per 7")
    zh = render(ratecard.loads(text), "md", "zh").text
    assert "| 实时语音识别 | 3.6元/小时 | ≈514.285714元/小时 | 2.2元/小时 |" in zh


def test_bills_keep_seconds_and_price_per_hour() -> None:
    """2026-11-02 (Shanghai): 1,080,000.4 seconds, rounded up to 1,080,001: the day's total
    is ≥ 300 hours, [108万, 360万) at 2.8 per 3600 seconds. 18,000 seconds free; 1,062,001
    postpaid × 2.8 / 3600 = 826.000777... → 826.00."""
    book = ratecard.loads(ASR)
    bill = book.bill_month([{"time": "2026-11-02T10:00:00+08:00", "type": "usage",
                       "action": "Recognize", "count": "1080000.4"}], "2026-11")
    lines = [(x.source, x.quantity, x.unit_price, x.per, x.amount) for x in bill.lines]
    assert lines == [
        ("allowance", Decimal(18000), Decimal(0), None, Decimal("0.00")),
        ("postpaid", Decimal(1062001), Decimal("2.8"), Decimal(3600), Decimal("826.00")),
    ]
    assert bill.lines[1].precise_amount.quantize(Decimal("1E-9")) == Decimal("826.000777778")
    text = format_bill(book, bill)
    assert "2.8 per hour" in text
    assert "1,062,001" in text


def test_a_display_unit_of_no_units_is_refused() -> None:
    with pytest.raises(ratecard.RulesError) as raised:
        ratecard.loads(ASR.replace("= 3600", "= 0"))
    errors = [(d.code, d.span.line) for d in raised.value.diagnostics if d.is_error]
    assert errors == [("E304", 5)]


def test_a_unit_and_a_display_unit_are_two_units() -> None:
    with pytest.raises(ratecard.RulesError) as raised:
        ratecard.loads(ASR.replace('  quantity rounded up to 1',
                                   '  quantity rounded up to 1\n  unit "秒" / "second"'))
    assert [d.code for d in raised.value.diagnostics if d.is_error] == ["E208"]


def test_a_display_unit_does_not_change_what_snapshots_are_tied_to() -> None:
    """The display unit never reaches a bill: the fingerprint is that of the same sheet
    without it (a snapshot taken before the clause was added still restores)."""
    from ratecard.engine.snapshot import fingerprint

    plain = ASR.replace('unit "小时" / "hour" = 3600 "秒" / "second"', 'unit "秒" / "second"')
    assert fingerprint(ratecard.loads(ASR)) == fingerprint(ratecard.loads(plain))
