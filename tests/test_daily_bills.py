"""Daily bills (`bill per day on ...`) and pack tables with per-meter sizes, on Tencent Cloud's
ASR page (rules/tencent-asr.rules) and on small sheets of their own.

ASR: 录音文件识别 (`file`) is billed monthly on monthly brackets; 实时语音识别 (`realtime`),
一句话识别 (`sentence`), 录音文件识别极速版 (`flash`) and 语音流异步识别 (`stream`) each day on
daily brackets (`[lo, hi)`, chosen by the day's total), issued the next day. Audio is metered
in seconds, rounded up to a whole second per entry, and priced per hour (per 3600 seconds).
The free quota is monthly and drains over the days.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ratecard
from ratecard import cli
from ratecard.engine.account import Account
from ratecard.engine.bills import Bill
from ratecard.engine.clock import parse_time
from ratecard.render import render
from tests.conftest import RULES
from tests.test_daily import RULES as SMS

ASR = RULES / "tencent-asr.rules"

Entry = dict[str, Any]


def use(time: str, action: str, count: int | str, entry_id: str | None = None) -> Entry:
    entry: Entry = {"time": time, "type": "usage", "action": action, "count": count}
    if entry_id is not None:
        entry["id"] = entry_id
    return entry


# November 2026 of one ASR account (times in Asia/Shanghai unless they say Z).
JOURNAL: list[Entry] = [
    use("2026-11-01T10:00:00+08:00", "SentenceRecognition", 2000, "u1"),
    {"time": "2026-11-02T09:00:00+08:00", "type": "purchase", "meter": "sentence",
     "size": "1000000", "id": "pk-1"},
    use("2026-11-02T12:00:00+08:00", "SentenceRecognition", 2_000_000, "u2"),
    use("2026-11-03T08:00:00+08:00", "RealtimeRecognition", "1079999.4", "u3"),
    use("2026-11-03T16:30:00Z", "RealtimeRecognition", 36000, "u4"),  # 11-04 00:30 Shanghai
    use("2026-11-05T10:00:00+08:00", "CreateRecTask", 72000, "u5"),
    use("2026-11-20T10:00:00+08:00", "CreateRecTask", 360000, "u6"),
]


def lines_of(bill: Bill) -> list[tuple[Any, ...]]:
    return [(line.meter, str(line.source), line.quantity, line.amount, line.period)
            for line in bill.lines]


def test_asr_november_daily_and_monthly_bills() -> None:
    """Four daily bills, then the month's bill, in the order they are issued.

    11-01: 一句话识别 2,000 calls, all from the month's 5,000 free → a bill of 0.00.
    11-02: a 100万-call pack bought (1800, prepaid: on the month's bill); 2,000,000 calls: the
      3,000 free calls left, 1,000,000 from the pack, 997,000 postpaid. The bracket is chosen
      by the day's total, 2,000 千次 in [1000, 3000) → 2.2 per 1000:
      997,000 / 1000 × 2.2 = 2193.40 (the page's example 二, less the pack's 1800).
    11-03: 实时语音识别 1,079,999.4 s, rounded up to 1,080,000 s = 300 h: in [300, 1000) h →
      2.8/h (the bracket closed at 300). 5 free hours (18,000 s) first, 295 h postpaid:
      295 × 2.8 = 826.00.
    11-04 (16:30Z on 11-03 is 00:30 on 11-04): 36,000 s = 10 h, nothing free left, in [0, 300)
      → 10 × 3.2 = 32.00.
    November (录音文件识别, monthly): 72,000 + 360,000 s = 120 h; 10 free hours, 110 h postpaid
      in [0, 12万) h → 110 × 1.75 = 192.50.
    """
    bills = ratecard.load(ASR).bill(JOURNAL)
    assert [(b.day, b.issued, b.total) for b in bills] == [
        (date(2026, 11, 1), date(2026, 11, 2), Decimal("0.00")),
        (date(2026, 11, 2), date(2026, 11, 3), Decimal("2193.40")),
        (date(2026, 11, 3), date(2026, 11, 4), Decimal("826.00")),
        (date(2026, 11, 4), date(2026, 11, 5), Decimal("32.00")),
        (None, date(2026, 12, 1), Decimal("192.50")),
    ]
    day1, day2, day3, day4, month = bills
    assert lines_of(day1) == [("sentence", "allowance", 2000, Decimal("0.00"), date(2026, 11, 1))]
    on = date(2026, 11, 2)
    assert lines_of(day2) == [
        ("sentence", "allowance", 3000, Decimal("0.00"), on),
        ("sentence", "pack", 1_000_000, Decimal("0.00"), on),
        ("sentence", "postpaid", 997_000, Decimal("2193.40"), on),
    ]
    assert (day2.lines[2].bracket, day2.lines[2].unit_price, day2.lines[2].per) == (
        "[1000000, 3000000)", Decimal("2.2"), Decimal(1000))
    on = date(2026, 11, 3)
    assert lines_of(day3) == [
        ("realtime", "allowance", 18000, Decimal("0.00"), on),
        ("realtime", "postpaid", 1_062_000, Decimal("826.00"), on),
    ]
    assert lines_of(day4) == [
        ("realtime", "postpaid", 36000, Decimal("32.00"), date(2026, 11, 4))]
    assert lines_of(month) == [
        ("file", "allowance", 36000, Decimal("0.00"), None),
        ("file", "postpaid", 396_000, Decimal("192.50"), None),
    ]
    assert [(p.pack, p.price) for p in month.prepaid] == [("pk-1", Decimal("1800.00"))]
    # The daily bills list nothing apart: the month's bill does.
    assert all(not b.prepaid and not b.packs for b in bills[:4])
    assert [(p.pack, p.remaining) for p in month.packs] == []


def test_bill_month_is_the_months_bill_and_json_names_the_day() -> None:
    book = ratecard.load(ASR)
    assert book.bill_month(JOURNAL, "2026-11").total == Decimal("192.50")
    data = book.bill(JOURNAL)[1].to_dict()
    assert (data["month"], data["day"], data["issued"], data["total"]) == (
        "2026-11", "2026-11-02", "2026-11-03", "2193.40")
    assert [line["period"] for line in data["lines"]] == ["2026-11-02"] * 3
    assert "day" not in book.bill(JOURNAL)[-1].to_dict()


def test_cli_bill_month_prints_the_days_then_the_month(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal = tmp_path / "asr.jsonl"
    journal.write_text("".join(json.dumps(e) + "\n" for e in JOURNAL), encoding="utf-8")
    assert cli.main(["bill", str(ASR), "--journal", str(journal), "--month", "2026-11"]) == 0
    out = capsys.readouterr().out
    headings = [line for line in out.splitlines() if ", issued " in line]
    assert headings == [
        "2026-11-01 (daily bill), issued 2026-11-02",
        "2026-11-02 (daily bill), issued 2026-11-03",
        "2026-11-03 (daily bill), issued 2026-11-04",
        "2026-11-04 (daily bill), issued 2026-11-05",
        "2026-11, issued 2026-12-01",
    ]
    assert cli.main(["bill", str(ASR), "--journal", str(journal), "--month", "2026-11",
                     "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["schema"] == "ratecard.bills/1"
    assert [b.get("day") for b in data["bills"]] == [
        "2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04", None]
    assert cli.main(["bill", str(ASR), "--journal", str(journal), "--month", "2026-12"]) == 2
    assert "no bill for 2026-12" in capsys.readouterr().err


def test_quote_prices_a_day_of_a_daily_billed_meter() -> None:
    """A quote is one period's totals: a day for the meters billed per day, with the month's
    free quota still whole (a quote is a first day of a month). 2,000,000 calls: 5,000 free,
    1,995,000 postpaid, the total 2,000 千次 in [1000, 3000) → 1,995 × 2.2 = 4389.00."""
    book = ratecard.load(ASR)
    quote = book.quote({"SentenceRecognition": 2_000_000})
    assert quote.total == Decimal("4389.00")
    assert [(str(line.source), line.quantity) for line in quote.lines] == [
        ("allowance", 5000), ("postpaid", 1_995_000)]


def test_daily_bills_settle_the_next_day_and_suspend_for_arrears() -> None:
    """SMS billed per day from a balance of 50.00:
    11-02: 1,100 messages by total in (1000, ∞): 100 free, 1,000 × 0.04 = 40.00, settled at
      11-03 00:00 → balance 10.00.
    11-03: 800 in (0, 1000] × 0.05 = 40.00, settled at 11-04 00:00 → −30.00: suspended for
      arrears at 11-04 00:00, so 11-04's 500 messages are rejected, not billed.
    The month's bill (mms 10 × 0.10 = 1.00) settles on 12-01: −31.00."""
    book = ratecard.loads(SMS + "bill per month, settle from balance\nbill per day on sms\n"
                          "suspend for arrears\n")
    journal = [
        {"time": "2026-11-01T08:00:00+08:00", "type": "topup", "amount": "50"},
        use("2026-11-02T09:00:00+08:00", "Send", 1100),
        use("2026-11-03T09:00:00+08:00", "Send", 800),
        use("2026-11-04T09:00:00+08:00", "Send", 500),
        use("2026-11-04T09:00:00+08:00", "SendMms", 10),
    ]
    bills = book.bill(journal)
    assert [(b.day, b.total) for b in bills] == [
        (date(2026, 11, 2), Decimal("40.00")), (date(2026, 11, 3), Decimal("40.00")),
        (None, Decimal("0.00"))]
    settled = [b.settlement for b in bills]
    assert [(s.balance_before, s.balance_after, s.suspended) for s in settled if s] == [
        (Decimal("50"), Decimal("10.00"), False), (Decimal("10.00"), Decimal("-30.00"), True),
        (Decimal("-30.00"), Decimal("-30.00"), False)]
    month = bills[-1]
    assert [(r.action, r.quantity) for r in month.rejected] == [
        ("Send", 500), ("SendMms", 10)]
    assert [(e.kind, e.reason, e.time.isoformat()) for e in month.events
            if e.automatic] == [("suspend", "arrears", "2026-11-04T00:00:00+08:00")]


def test_an_account_issues_a_days_bill_once_the_day_is_over() -> None:
    """Fed entry by entry, the account returns 11-01's bill when an entry of 11-02 arrives
    (or when told the time has passed), and the rest as `PriceBook.bill` gives them."""
    book = ratecard.load(ASR)
    account = Account(book)
    assert account.feed(JOURNAL[:1]) == []
    (first,) = account.advance("2026-11-02T00:00:00+08:00")
    assert (first.day, first.total) == (date(2026, 11, 1), Decimal("0.00"))
    issued = account.feed(JOURNAL[1:])
    issued += account.close_through("2026-11")
    assert [first, *issued] == book.bill(JOURNAL)


def _split_and_resumed(book: ratecard.PriceBook, journal: list[Entry], cuts: list[int]) -> list[
        Bill]:
    """Fed in pieces cut at `cuts`, saved as JSON and restored between them."""
    account = Account(book)
    bills: list[Bill] = []
    start = 0
    for cut in [*sorted(set(cuts)), len(journal)]:
        bills += account.feed(journal[start:cut])
        account = Account.restore(book, json.dumps(account.snapshot()))
        start = cut
    return bills + account.close_through(account.month or "2026-11")


# Mid-day entries, so that a cut falls inside a day of every meter billed per day.
DENSE: list[Entry] = [
    *JOURNAL[:3],
    use("2026-11-02T18:00:00+08:00", "SentenceRecognition", 400_000, "u2b"),
    use("2026-11-02T23:59:59.5+08:00", "FlashRecognition", "7200.2", "u2c"),
    *JOURNAL[3:],
    use("2026-11-03T20:00:00+08:00", "CreateAsyncRecognitionTask", 3600, "u3b"),
    use("2026-11-03T20:00:00+08:00", "RealtimeRecognition", 1800, "u3c"),
]
DENSE.sort(key=lambda e: parse_time(e["time"], ZoneInfo("Asia/Shanghai")))


@settings(max_examples=40, deadline=None)
@given(order=st.permutations(range(len(DENSE))),
       cuts=st.lists(st.integers(0, len(DENSE)), max_size=4),
       resent=st.lists(st.integers(0, len(DENSE) - 1), max_size=3))
def test_shuffled_resent_and_split_journals_give_the_same_daily_bills(
    order: list[int], cuts: list[int], resent: list[int]
) -> None:
    """The bills of the journal in time order, whatever the order it arrives in, with entries
    sent twice (same ids), and fed in pieces with the account saved and restored between them
    (mid-day included)."""
    book = ratecard.load(ASR)
    expected = book.bill(DENSE)
    shuffled = [DENSE[i] for i in order] + [DENSE[i] for i in resent]
    again = book.bill(shuffled)
    assert [(b.day, b.total, b.lines, b.settlement) for b in again] == [
        (b.day, b.total, b.lines, b.settlement) for b in expected]
    assert _split_and_resumed(book, DENSE, cuts) == expected


def test_the_asr_sheet_reads_as_the_page() -> None:
    """Per-hour and per-千次 prices, a pack table per set of sizes, and the daily bills."""
    book = ratecard.load(ASR)
    zh = render(book, "md", "zh").text
    assert "| 资源包规格 | 60小时 | 1000小时 | 1万小时 | 10万小时 | 30万小时 |" in zh
    assert "| 录音文件识别 | 90元 | 1200元 | 10000元 | 80000元 | 210000元 |" in zh
    assert "| 资源包规格 | 30小时 | 1000小时 | 1万小时 | 10万小时 | 30万小时 |" in zh
    assert "| 录音文件识别极速版 | 72元 | 1500元 | 12000元 | 110000元 | 300000元 |" in zh
    assert "| 一句话识别 | 3.2元/千次 | 2.8元/千次 | 2.2元/千次 | 1.6元/千次 | 1.2元/千次 |" in zh
    assert "| 录音文件识别 | 1.75元/小时 | 1.40元/小时 | 0.95元/小时 |" in zh
    assert "| 月用量 | 0 ≤ 用量 < 12万 | 12万 ≤ 用量 < 30万 | 用量 ≥ 30万 |" in zh
    assert ("实时语音识别、一句话识别、录音文件识别极速版、语音流异步识别每日对上一日用量出账单。"
            in zh)
    assert "每条用量记录按向上进位精确到1秒" in zh
    assert "| 计费周期 | 年 | 天、月 |" in zh  # (days for four services, a month for one)
    en = render(book, "md", "en").text
    assert "| Real-time speech recognition | CN¥3.2/hour | CN¥2.8/hour | CN¥2.2/hour |" in en
    assert "thousand callses" not in en
    assert ("billed every day; each day's bill is issued the next day." in en)


# --- pack tables with per-meter sizes ------------------------------------------------------------

SIZES = """
rules t "测试" / "Test"
currency CNY, rounding half_up 0.01, timezone Asia/Shanghai
meter a "甲" / "A" counts A
meter b "乙" / "B" counts B
packs valid 1 year {
  size  60  1000
  a     90  1200
  size  30  1000  10000
  b     90  1800  15000
}
deduct packs by expiry, postpaid
price a, b 5
"""


def test_each_pack_row_takes_the_sizes_above_it() -> None:
    book = ratecard.loads(SIZES)
    assert [(o.size, o.price) for o in book.meter("a").packs] == [
        (60, Decimal(90)), (1000, Decimal(1200))]
    assert [(o.size, o.price) for o in book.meter("b").packs] == [
        (30, Decimal(90)), (1000, Decimal(1800)), (10000, Decimal(15000))]
    bill = book.bill_month([
        {"time": "2026-11-02T09:00:00+08:00", "type": "purchase", "meter": "a", "size": "60"},
        use("2026-11-02T10:00:00+08:00", "A", 70),
    ], "2026-11")
    assert [(str(line.source), line.quantity) for line in bill.lines] == [
        ("pack", 60), ("postpaid", 10)]
    with pytest.raises(ratecard.UsageError, match="size 30"):
        book.bill([{"time": "2026-11-02T09:00:00+08:00", "type": "purchase", "meter": "a",
                    "size": "30"}])
    en = render(book, "md", "en").text
    assert ("| Pack size | 60 calls | 1K calls |\n| --- | --- | --- |\n"
            "| A | CN¥90 | CN¥1,200 |") in en
    assert "| B | CN¥90 | CN¥1,800 | CN¥15,000 |" in en


def test_a_row_counts_its_cells_against_its_own_size_row() -> None:
    text = SIZES.replace("  b     90  1800  15000", "  b     90  1800")
    with pytest.raises(ratecard.RulesError) as caught:
        ratecard.loads(text)
    assert [(d.code, d.message) for d in caught.value.diagnostics] == [
        ("E501", "pack size `10000` has no price for `b`")]
    text = SIZES.replace("  a     90  1200", "  a     90  1200  9000")
    with pytest.raises(ratecard.RulesError) as caught:
        ratecard.loads(text)
    assert [d.code for d in caught.value.diagnostics] == ["E502"]


@pytest.mark.parametrize(("extra", "code", "message"), [
    ("bill per day on b\n", "E612", "meter `b` is billed per day but not priced per day"),
    ("bill per day\n", "E611", "`bill per day` does not name its meters"),
    ("bill per month on a\n", "E611", "the monthly bill names meters"),
    ("bill per week\n", "E404", "unknown period `week`"),
])
def test_bill_statements_that_do_not_hold(extra: str, code: str, message: str) -> None:
    text = SIZES.replace("price a, b 5\n", "ladder volume by total per day on a {\n"
                         "  (0, ∞) 5\n}\nprice b 5\n") + extra
    with pytest.raises(ratecard.RulesError) as caught:
        ratecard.loads(text)
    assert [(d.code, d.message) for d in caught.value.diagnostics] == [(code, message)]


def test_quote_days_prices_each_day_of_a_month_of_days(
    capsys: pytest.CaptureFixture[str]
) -> None:
    """`quote --days 5`: 2 hours (7,200 s) of real-time recognition a day from 11-01. The
    month's 5 free hours cover days 1 and 2 and half of day 3; then each day is its own bracket
    [0, 300) h at 3.2/h: day 3 1 h = 3.20, days 4 and 5 2 h = 6.40 each; 16.00 in all."""
    assert cli.main(["quote", str(ASR), "RealtimeRecognition=7200", "--days", "5",
                     "--at", "2026-11-01", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [(b.get("day"), b["total"]) for b in data["bills"]] == [
        ("2026-11-01", "0.00"), ("2026-11-02", "0.00"), ("2026-11-03", "3.20"),
        ("2026-11-04", "6.40"), ("2026-11-05", "6.40"), (None, "0.00")]
    assert cli.main(["quote", str(ASR), "RealtimeRecognition=7200", "--days", "5",
                     "--at", "2026-11-01"]) == 0
    assert capsys.readouterr().out.endswith(
        "5 days from 2026-11-01: 6 bills, total CNY 16.00\n")
    assert cli.main(["quote", str(ASR), "RealtimeRecognition=1", "--days", "0"]) == 2
    assert "--days 0: quote from 1 to 366 days" in capsys.readouterr().err


def test_a_dated_version_prices_the_days_it_is_in_effect_for() -> None:
    """From 2026-12-01 一句话识别's first bracket is 3.0 per 1000 (was 3.2). 15,000 calls on
    11-30 and on 12-01, each day with the month's fresh 5,000 free: 10 千次 postpaid each day,
    11-30 at 3.2 = 32.00 (the first version), 12-01 at 3.0 = 30.00 (the version of 12-01)."""
    text = ASR.read_text(encoding="utf-8") + (
        "from 2026-12-01 {\n  ladder volume by total per day on sentence {\n"
        "    [0, 30万)      3.0 per 1000\n    [30万, 100万)  2.8 per 1000\n"
        "    [100万, 300万) 2.2 per 1000\n    [300万, 500万) 1.6 per 1000\n"
        "    [500万, ∞)     1.2 per 1000\n  }\n}\n")
    book = ratecard.loads(text)
    journal = [use("2026-11-30T10:00:00+08:00", "SentenceRecognition", 15000),
               use("2026-12-01T10:00:00+08:00", "SentenceRecognition", 15000)]
    bills = book.bill(journal)
    assert [(b.day, b.version, b.total) for b in bills] == [
        (date(2026, 11, 30), None, Decimal("32.00")), (None, None, Decimal("0.00")),
        (date(2026, 12, 1), date(2026, 12, 1), Decimal("30.00")),
        (None, date(2026, 12, 1), Decimal("0.00"))]
    assert _split_and_resumed(book, journal, [1]) == bills


def test_a_contract_discounts_daily_lines_and_counts_them_towards_its_minimum(
    tmp_path: Path,
) -> None:
    """Acme: 20% off 实时语音识别, a minimum spend of 100 a month.
    11-03: 54,000 s = 15 h of real-time recognition, 5 free, 10 h × 3.2 = 32.00, less 20%:
      a discount line of −6.40 → the day's bill 25.60.
    November: 录音文件识别 20 h, 10 free, 10 × 1.75 = 17.50; with the daily 25.60 the month
      comes to 43.10, so the true-up is 100 − 43.10 = 56.90 and the month's bill 74.40."""
    (tmp_path / "tencent-asr.rules").write_text(ASR.read_text(encoding="utf-8"),
                                                encoding="utf-8")
    (tmp_path / "acme.rules").write_text(
        'contract acme "Acme 合同" / "Acme contract" extends "tencent-asr.rules"\n'
        "accounts acme\nfrom 2026-11-01 until 2027-11-01\n"
        "discount 20% on realtime\nminimum spend 100 per month\n", encoding="utf-8")
    book = ratecard.load(tmp_path / "tencent-asr.rules").with_contract(tmp_path / "acme.rules")
    journal = [use("2026-11-03T08:00:00+08:00", "RealtimeRecognition", 54000, "r1"),
               use("2026-11-05T10:00:00+08:00", "CreateRecTask", 72000, "f1")]
    day, month = book.bill(journal)
    assert (day.day, day.total, day.contract) == (date(2026, 11, 3), Decimal("25.60"), "acme")
    assert [(str(line.source), line.amount) for line in day.lines] == [
        ("allowance", Decimal("0.00")), ("postpaid", Decimal("32.00")),
        ("discount", Decimal("-6.40"))]
    assert [(str(line.source), line.amount) for line in month.lines] == [
        ("allowance", Decimal("0.00")), ("postpaid", Decimal("17.50")),
        ("true_up", Decimal("56.90"))]
    assert month.total == Decimal("74.40")
    # Resumed from a snapshot taken after the day's bill, the month counts it all the same.
    assert _split_and_resumed(book, journal, [1, 2]) == [day, month]
    account = Account(book)
    account.feed(journal)
    assert account.snapshot()["month"]["days_spent"] == "25.60"


def test_days_are_the_rules_timezone_days_across_a_clock_change() -> None:
    """America/New_York leaves daylight time on 2026-11-01 (a 25-hour day): 04:30Z is 00:30
    EDT and 2026-11-02T04:30Z is 23:30 EST, both of 11-01; 05:30Z on 11-02 is 00:30 EST on
    11-02. The month's 100 free messages go to 11-01's first 100; the rest is (0, 1000] × 0.05:
    11-01 100 × 0.05 = 5.00, 11-02 100 × 0.05 = 5.00."""
    book = ratecard.loads(SMS.replace("timezone Asia/Shanghai", "timezone America/New_York")
                          + "bill per day on sms\n")
    journal = [use("2026-11-01T04:30:00Z", "Send", 100), use("2026-11-02T04:30:00Z", "Send", 100),
               use("2026-11-02T05:30:00Z", "Send", 100)]
    bills = book.bill(journal)
    assert [(b.day, b.issued, b.total) for b in bills] == [
        (date(2026, 11, 1), date(2026, 11, 2), Decimal("5.00")),
        (date(2026, 11, 2), date(2026, 11, 3), Decimal("5.00")),
        (None, date(2026, 12, 1), Decimal("0.00"))]
    assert [line.quantity for line in bills[0].lines] == [100, 100]  # 100 free, 100 at 0.05
