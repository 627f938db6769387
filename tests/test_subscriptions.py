"""Subscriptions and recurring fees (issue 15, item 4), and the face-recognition sheet (item 7).

A subscription is bought by a `subscribe` entry and charged on each month's bill for the part of
the month it ran (until a `cancel` entry), every unit at the bracket the subscribed quantity
falls in; while it runs it covers its meters' usage (drawn where `subscriptions` stands in the
deduction order). A fee is charged every period from the account's opening. The worked bills
below carry their arithmetic; the page is Tencent Cloud's face recognition pricing page.
"""

from __future__ import annotations

import json
import random
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ratecard
from ratecard import Account, Bill, Cancel, JournalError, Subscribe
from ratecard.cli import main
from ratecard.engine.pricebook import PriceBook
from tests.conftest import RULES
from tests.test_json_schema import assert_valid

D = Decimal
Entry = dict[str, Any]
FACE_RULES = RULES / "tencent-face-recognition.rules"

# A small sheet for the mechanics the face page does not use: a coverage limit, a fee, and
# proration by the second.
SHEET = """\
rules seats "席位" / "Seats"
currency CNY, rounding half_up 0.01, timezone Asia/Shanghai

meter search "搜索" / "Search" counts Search
meter detect "检测" / "Detect" counts Detect
price search, detect 0.01

subscription seats "席位" / "Seats", per day, covers search, detect up to 1000 {
  (0, ∞)  18
}
subscription api_month "接口包月" / "API, monthly", per month, prorated by second {
  (0, ∞)  300
}
fee platform "平台费" / "Platform fee" 100 per month, prorated by day

deduct subscriptions, postpaid
"""


@pytest.fixture(scope="module")
def face() -> PriceBook:
    return ratecard.load(FACE_RULES)


@pytest.fixture(scope="module")
def seats() -> PriceBook:
    return ratecard.loads(SHEET, "seats.rules")


def usage(time: str, action: str, count: int) -> Entry:
    return {"time": time, "type": "usage", "action": action, "count": count}


def subscribe(time: str, plan: str, quantity: int, sub_id: str | None = None,
              meter: str | None = None) -> Entry:
    entry: Entry = {"time": time, "type": "subscribe", "plan": plan, "quantity": quantity}
    if sub_id is not None:
        entry["id"] = sub_id
    if meter is not None:
        entry["meter"] = meter
    return entry


def cancel(time: str, sub_id: str) -> Entry:
    return {"time": time, "type": "cancel", "subscription": sub_id}


def lines(bill: Bill) -> list[tuple[str, str, str | None, Decimal, Decimal]]:
    return [(line.meter, str(line.source), line.pack, line.quantity, line.amount)
            for line in bill.lines]


# A QPS subscription by the month for face search, and usage before, during and after it.
MONTHLY = [
    usage("2026-11-10T10:00:00+08:00", "SearchFaces", 50_000),
    subscribe("2026-11-15T10:00:00+08:00", "qps_month", 10, "s-1", "search"),
    usage("2026-11-20T10:00:00+08:00", "SearchFaces", 2_000_000),
    cancel("2026-12-10T12:00:00+08:00", "s-1"),
    usage("2026-12-20T10:00:00+08:00", "SearchPersons", 30_000),
]


def test_a_monthly_qps_subscription_prorated_by_day(face: PriceBook) -> None:
    """November: 50,000 searches on 11-10, before the subscription: 10,000 free, 40,000 ×
    0.0032 = 128.00. 10 QPS bought 11-15 10:00 ((0, 10]: 280 per QPS and month), prorated by
    day: it touches 11-15 to 11-30, 16 of November's 30 days: 10 × 280 × 16/30 = 1493.333… →
    1493.33; the 2,000,000 searches of 11-20 are covered by it (free). Total 1621.33.
    December: cancelled 12-10 12:00, so it touches 12-01 to 12-10, 10 of 31 days: 10 × 280 ×
    10/31 = 903.2258… → 903.23; the 30,000 searches of 12-20 come after it: 10,000 free,
    20,000 × 0.0032 = 64.00. Total 967.23."""
    november, december = face.bill(MONTHLY)
    assert lines(november) == [
        ("search", "subscription", "s-1", D(2_000_000), D("0.00")),
        ("search", "allowance", None, D(10_000), D("0.00")),
        ("search", "postpaid", None, D(40_000), D("128.00")),
        ("qps_month", "fee", "s-1", D(10), D("1493.33")),
    ]
    assert november.total == D("1621.33")
    (charge,) = november.subscriptions
    assert (charge.measure, charge.used, charge.of, charge.unit_price, charge.meter) == (
        "day", D(16), D(30), D(280), "search")
    assert charge.start.isoformat() == "2026-11-15T10:00:00+08:00"
    assert charge.end.isoformat() == "2026-12-01T00:00:00+08:00"
    assert lines(december) == [
        ("search", "allowance", None, D(10_000), D("0.00")),
        ("search", "postpaid", None, D(20_000), D("64.00")),
        ("qps_month", "fee", "s-1", D(10), D("903.23")),
    ]
    assert december.total == D("967.23")
    assert december.subscriptions[0].end.isoformat() == "2026-12-10T12:00:00+08:00"
    assert (december.subscriptions[0].used, december.subscriptions[0].of) == (D(10), D(31))


def test_a_daily_qps_subscription_covers_only_its_meter(face: PriceBook) -> None:
    """60 QPS by the day for face detection, 11-03 09:00 until 11-05 08:00: it touches three
    days (a started day is charged whole), in the bracket (50, 100] at 12 per QPS and day:
    60 × 12 × 3 = 2160.00. The 500,000 detections of 11-04 are covered; the 15,000 searches
    that day are not (the subscription covers detection only): 10,000 free, 5,000 × 0.0032 =
    16.00; the 20,000 detections of 11-06 come after it: 10,000 free, 10,000 × 0.0005 = 5.00.
    Total 2160.00 + 16.00 + 5.00 = 2181.00."""
    (bill,) = face.bill([
        subscribe("2026-11-03T09:00:00+08:00", "qps_day", 60, "d-1", "detection"),
        usage("2026-11-04T10:00:00+08:00", "DetectFace", 500_000),
        usage("2026-11-04T11:00:00+08:00", "SearchFaces", 15_000),
        cancel("2026-11-05T08:00:00+08:00", "d-1"),
        usage("2026-11-06T10:00:00+08:00", "DetectFace", 20_000),
    ])
    assert lines(bill) == [
        ("detection", "subscription", "d-1", D(500_000), D("0.00")),
        ("detection", "allowance", None, D(10_000), D("0.00")),
        ("detection", "postpaid", None, D(10_000), D("5.00")),
        ("search", "allowance", None, D(10_000), D("0.00")),
        ("search", "postpaid", None, D(5_000), D("16.00")),
        ("qps_day", "fee", "d-1", D(60), D("2160.00")),
    ]
    assert bill.total == D("2181.00")
    charge = bill.subscriptions[0]
    assert (charge.bracket, charge.measure, charge.used, charge.of) == (
        "(50, 100]", "day", D(3), D(1))


def test_the_pages_qps_example_for_ten_qps(face: PriceBook) -> None:
    """The page's example (§5): 10 QPS for one month and 5 days, bought as a month plus five
    days. Here: by the month for all of November (10 × 280 = 2800.00) and by the day for
    12-01 to 12-05 (10 × 18 × 5 = 900.00): 3700.00 in all, where the page writes 370 (its
    arithmetic is for 1 QPS)."""
    november, december = face.bill([
        subscribe("2026-11-01T00:00:00+08:00", "qps_month", 10, "m", "search"),
        cancel("2026-12-01T00:00:00+08:00", "m"),
        subscribe("2026-12-01T00:00:00+08:00", "qps_day", 10, "d", "search"),
        cancel("2026-12-06T00:00:00+08:00", "d"),
    ])
    assert lines(november) == [("qps_month", "fee", "m", D(10), D("2800.00"))]
    assert lines(december) == [("qps_day", "fee", "d", D(10), D("900.00"))]
    assert november.total + december.total == D("3700.00")


def test_the_pages_pack_example_bills_as_the_page(face: PriceBook) -> None:
    """§7.1: 32,000,000 face searches and 20,000,000 person searches in a month holding a
    5000万 search pack: (32,000,000 + 20,000,000 − 50,000,000 − 10,000) × 0.0032 = 6368.00
    postpaid (the bracket chosen by the postpaid 1,990,000), + 142500 for the pack = 148868."""
    (bill,) = face.bill([
        {"time": "2026-11-01T00:00:00+08:00", "type": "purchase", "meter": "search",
         "size": "5000万"},
        usage("2026-11-02T00:00:00+08:00", "SearchFaces", 32_000_000),
        usage("2026-11-03T00:00:00+08:00", "SearchPersons", 20_000_000),
    ])
    assert bill.total == D("6368.00")
    assert bill.total + bill.prepaid_total == D("148868.00")


def test_the_pages_device_licence_example(face: PriceBook) -> None:
    """§6: 1000 offline face recognition licences: 1000 × 118 = 118000; 5000 fall in the
    bracket (1000, 5000] at 95: 475000; 49 are below the minimum order of 50."""
    (bill,) = face.bill([
        {"time": "2026-11-01T00:00:00+08:00", "type": "order",
         "product": "offline_recognition", "quantity": 1000},
        {"time": "2026-11-02T00:00:00+08:00", "type": "order",
         "product": "offline_recognition", "quantity": 5000},
    ])
    assert [(o.quantity, o.unit_price, o.amount) for o in bill.orders] == [
        (D(1000), D(118), D("118000.00")), (D(5000), D(95), D("475000.00"))]
    with pytest.raises(JournalError, match="below the minimum order of 50"):
        face.bill([{"time": "2026-11-01T00:00:00+08:00", "type": "order",
                    "product": "offline_detection", "quantity": 49}])


SEATS_JOURNAL = [
    subscribe("2026-11-01T00:00:00+08:00", "seats", 2, "seat-1"),
    usage("2026-11-01T10:00:00+08:00", "Search", 1500),
    usage("2026-11-01T11:00:00+08:00", "Detect", 700),
    usage("2026-11-02T10:00:00+08:00", "Search", 2500),
    cancel("2026-11-03T00:00:00+08:00", "seat-1"),
    subscribe("2026-11-16T00:00:00+08:00", "api_month", 1),
]


def test_a_coverage_limit_a_fee_and_proration_by_the_second(seats: PriceBook) -> None:
    """2 seats cover up to 2 × 1000 = 2000 calls of search and detect a day. 11-01: 1500
    searches covered, then 700 detections: 500 covered (the day's 2000 reached), 200 postpaid;
    11-02 (a new day): 2500 searches, 2000 covered, 500 postpaid. Postpaid: 500 × 0.01 = 5.00
    and 200 × 0.01 = 2.00. The seats run 11-01 and 11-02 (cancelled 11-03 00:00): 2 × 18 × 2
    = 72.00. `api_month` from 11-16 00:00, prorated by the second: 15 × 86,400 of 30 × 86,400
    seconds: 300 × 1,296,000/2,592,000 = 150.00. The platform fee from the account's opening
    (11-01), prorated by day: 30 of 30 days = 100.00. Total 5 + 2 + 72 + 150 + 100 = 329.00."""
    (bill,) = seats.bill(SEATS_JOURNAL)
    assert lines(bill) == [
        ("search", "subscription", "seat-1", D(3500), D("0.00")),
        ("search", "postpaid", None, D(500), D("5.00")),
        ("detect", "subscription", "seat-1", D(500), D("0.00")),
        ("detect", "postpaid", None, D(200), D("2.00")),
        ("platform", "fee", "platform", D(1), D("100.00")),
        ("seats", "fee", "seat-1", D(2), D("72.00")),
        ("api_month", "fee", "api_month#2", D(1), D("150.00")),
    ]
    assert bill.total == D("329.00")
    by_id = {c.subscription: c for c in bill.subscriptions}
    assert (by_id["api_month#2"].measure, by_id["api_month#2"].used,
            by_id["api_month#2"].of) == ("second", D(1_296_000), D(2_592_000))
    assert by_id["platform"].fee and (by_id["platform"].used, by_id["platform"].of) == (
        D(30), D(30))


def test_a_fee_renews_every_month_and_a_quote_charges_it_in_full(seats: PriceBook) -> None:
    """An account opened 11-16 pays the platform fee for 15 of 30 days (50.00), then all of
    December and January (100.00 each) with no entry; a quote of a month charges it in full:
    1000 searches × 0.01 = 10.00 + 100.00 = 110.00."""
    bills = seats.bill([usage("2026-11-16T00:00:00+08:00", "Search", 0),
                        usage("2027-01-05T00:00:00+08:00", "Search", 0)])
    assert [(str(b.month), b.total) for b in bills] == [
        ("2026-11-01", D("50.00")), ("2026-12-01", D("100.00")), ("2027-01-01", D("100.00"))]
    quote = seats.quote({"Search": 1000})
    assert [(line.meter, str(line.source), line.amount) for line in quote.lines] == [
        ("search", "postpaid", D("10.00")), ("platform", "fee", D("100.00"))]
    assert quote.total == D("110.00")


def test_typed_entries_shuffled_and_resent_bill_alike(face: PriceBook) -> None:
    """The typed entries bill as the dicts; the journal shuffled, and with every entry sent
    twice, bills the same (a resent subscribe is ignored by its id, a resent cancel too)."""
    typed = [
        ratecard.Usage("2026-11-10T10:00:00+08:00", "SearchFaces", 50_000),
        Subscribe("2026-11-15T10:00:00+08:00", "qps_month", 10, id="s-1", meter="search"),
        ratecard.Usage("2026-11-20T10:00:00+08:00", "SearchFaces", 2_000_000),
        Cancel("2026-12-10T12:00:00+08:00", "s-1"),
        ratecard.Usage("2026-12-20T10:00:00+08:00", "SearchPersons", 30_000),
    ]
    expected = [b.total for b in face.bill(MONTHLY)]
    assert [b.total for b in face.bill(typed)] == expected
    shuffled = list(MONTHLY)
    random.Random(7).shuffle(shuffled)
    assert [b.to_dict() for b in face.bill(shuffled)] == [b.to_dict()
                                                          for b in face.bill(MONTHLY)]
    twice = [*MONTHLY, *[e for e in MONTHLY if e["type"] != "usage"]]
    resent = face.bill(twice)
    assert [b.total for b in resent] == expected
    assert sorted(i.type for b in resent for i in b.ignored) == ["cancel", "subscribe"]


@pytest.mark.parametrize("journal", [MONTHLY, SEATS_JOURNAL], ids=["face", "seats"])
def test_split_and_resumed_from_a_snapshot_bills_alike(
        face: PriceBook, seats: PriceBook, journal: list[Entry]) -> None:
    """Fed in two parts with a snapshot between them, at every cut, the account issues the
    bills of the whole journal."""
    book = face if journal is MONTHLY else seats
    whole = [b.to_dict() for b in book.bill(journal)]
    for cut in range(len(journal) + 1):
        account = Account(book)
        issued = account.feed(journal[:cut])
        resumed = Account.restore(book, json.dumps(account.snapshot()))
        issued += resumed.feed(journal[cut:])
        issued += resumed.close_through(whole[-1]["month"])
        assert [b.to_dict() for b in issued] == whole, cut


@pytest.mark.parametrize(("entry", "field", "message"), [
    (cancel("2026-11-14T10:00:00+08:00", "s-1"), "subscription",
     "subscription `s-1` cannot be cancelled at 2026-11-14T10:00:00+08:00: it starts "
     "2026-11-15T10:00:00+08:00"),
    (cancel("2026-11-16T10:00:00+08:00", "s-9"), "subscription",
     "no subscription `s-9` is held"),
    (subscribe("2026-11-16T10:00:00+08:00", "qps_month", 0, "s-2", "search"), "quantity",
     "a subscription is of a whole number of units above 0, not 0"),
    (subscribe("2026-11-16T10:00:00+08:00", "qps_month", -3, "s-2", "search"), "quantity",
     "-3 is negative"),
    (subscribe("2026-11-16T10:00:00+08:00", "qps_month", 301, "s-2", "search"), "quantity",
     "a subscription of 301 `qps_month` is above the maximum of 300"),
    (subscribe("2026-11-16T10:00:00+08:00", "qps_month", 5, "s-2"), "meter",
     "missing field `meter`"),
    (subscribe("2026-11-16T10:00:00+08:00", "qps_mnth", 5, "s-2", "search"), "plan",
     "did you mean `qps_month`"),
])
def test_bad_entries_are_errors_naming_the_entry_and_nothing_is_lost(
        face: PriceBook, entry: Entry, field: str, message: str) -> None:
    """Each bad entry is a JournalError naming its position and field; skipped with
    `on_invalid`, the rest bills exactly as without it."""
    journal = [subscribe("2026-11-15T10:00:00+08:00", "qps_month", 10, "s-1", "search"),
               entry, usage("2026-11-20T10:00:00+08:00", "SearchFaces", 20_000)]
    with pytest.raises(JournalError) as caught:
        face.bill(journal)
    assert (caught.value.line, caught.value.field) == (2, field)
    assert message in str(caught.value)
    skipped: list[JournalError] = []
    kept = face.bill(journal, on_invalid=skipped.append)
    assert [e.line for e in skipped] == [2]
    assert [b.to_dict() for b in kept] == [b.to_dict() for b in face.bill(journal[::2])]


def test_a_refused_cancel_leaves_an_open_account_as_it_was(face: PriceBook) -> None:
    """Fed a batch whose cancel names no subscription, the account raises and keeps its
    state: its snapshot is the same, and the good entries can be fed again."""
    account = Account(face)
    account.feed(MONTHLY[:2])
    before = account.snapshot()
    with pytest.raises(JournalError, match="no subscription `nope` is held"):
        account.feed([MONTHLY[2], cancel("2026-11-21T00:00:00+08:00", "nope")])
    assert account.snapshot() == before
    issued = account.feed(MONTHLY[2:]) + account.close_through("2026-12")
    assert [b.total for b in issued] == [D("1621.33"), D("967.23")]


def test_the_command_shows_the_arithmetic_and_the_json_validates(
        face: PriceBook, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    journal = tmp_path / "qps.jsonl"
    journal.write_text("".join(json.dumps(e) + "\n" for e in MONTHLY), encoding="utf-8")
    assert main(["bill", str(FACE_RULES), "--journal", str(journal), "--month",
                 "2026-11"]) == 0
    out = capsys.readouterr().out
    assert "search     subscription s-1  2,000,000" in out
    assert ("subscription s-1: qps_month on search, 10 QPS at 280 per QPS and month, "
            "2026-11-15T10:00:00+08:00 to 2026-12-01T00:00:00+08:00: "
            "10 × 280 × 16/30 days = 1493.33") in out
    assert main(["bill", str(FACE_RULES), "--journal", str(journal), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert_valid(data)
    assert data["bills"][0]["subscriptions"][0]["amount"] == "1493.33"


def test_the_face_sheet_renders_its_subscriptions_in_both_languages() -> None:
    zh = ratecard.render_sheet(ratecard.load(FACE_RULES), lang="zh").text
    en = ratecard.render_sheet(ratecard.load(FACE_RULES), lang="en").text
    assert "| QPS 按月购买 | 280元/QPS/月 | 240元/QPS/月 | 180元/QPS/月 | 145元/QPS/月 |" in zh
    assert "QPS 按天购买按天计费，不足一天按一天计费。" in zh
    assert "| QPS, bought by the day | CN¥18/QPS/day |" in en
    assert ("While QPS, bought by the month runs, calls of the service chosen when buying it "
            "are not charged.") in en


def test_the_calculator_refuses_fees_by_name(face: PriceBook, seats: PriceBook) -> None:
    """A sheet with a fee cannot be quoted by the calculator: it names the mechanic. The
    warehouse bills both sheets (subscribe and cancel rows in its events table, fees charged to
    every account: tests/test_warehouse_sources.py)."""
    from ratecard.render.calculator import unsupported
    from ratecard.warehouse.api import billable_terms

    assert unsupported(seats) == ("recurring fees",)
    assert unsupported(face) == ()
    billable_terms(seats, None)
    billable_terms(face, None)


# --- properties ------------------------------------------------------------------------------

# A sheet with every mechanic at once: an allowance and packs around the subscriptions in the
# deduction order, a covering plan with a daily limit, one covering a meter of the entry's
# choice, one prorated by the second, one whose limit is a rate, and a fee.
PROPERTY_SHEET = """\
rules props "性质" / "Properties"
currency CNY, rounding half_up 0.01, timezone Asia/Shanghai

meter search "搜索" / "Search" counts Search
meter detect "检测" / "Detect" counts Detect
allowance 100 per month on every meter
packs valid 1 month, no refund, no freeze {
  size    1000
  search  5
  detect  5
}
price search, detect 0.01

subscription seats "席位" / "Seats", per day, covers search, detect up to 300 {
  (0, 2]  18
  (2, ∞)  15
}
subscription qps "QPS" / "QPS", per month, prorated by day, maximum 5, covers one of every meter {
  (0, ∞)  280
}
subscription api "接口" / "API", per month, prorated by second {
  (0, ∞)  300
}
subscription burst "突发" / "Burst", per month, covers detect up to 1 per hour {
  (0, ∞)  30
}
fee platform "平台费" / "Platform fee" 100 per month, prorated by day

deduct allowance, subscriptions, packs by expiry, postpaid
"""
PROPS = ratecard.loads(PROPERTY_SHEET, "props.rules")
START = 1_795_968_000  # 2026-11-30T00:00:00+08:00, in seconds since the epoch


def _at(seconds: int) -> str:
    from datetime import UTC, datetime, timedelta, timezone

    moment = datetime.fromtimestamp(START + seconds, UTC)
    return moment.astimezone(timezone(timedelta(hours=8))).isoformat()


@st.composite
def journals(draw: st.DrawFn) -> list[Entry]:
    """Usage, pack purchases, subscriptions and their cancels over about two months, in time
    order at distinct instants (a cancel is never before its subscription: those are errors,
    tested above)."""
    entries: list[tuple[int, Entry]] = []
    for number in range(draw(st.integers(0, 4))):
        start = draw(st.integers(0, 50 * 86_400))
        plan = draw(st.sampled_from(("seats", "qps", "api", "burst")))
        entry = subscribe(_at(start), plan, draw(st.integers(1, 5)), f"s-{number}",
                          draw(st.sampled_from(("search", "detect"))) if plan == "qps"
                          else None)
        entries.append((start, entry))
        if draw(st.booleans()):
            end = start + draw(st.integers(0, 20 * 86_400))
            entries.append((end, cancel(_at(end), f"s-{number}")))
    for _ in range(draw(st.integers(0, 3))):
        when = draw(st.integers(0, 50 * 86_400))
        entries.append((when, {"time": _at(when), "type": "purchase",
                               "meter": draw(st.sampled_from(("search", "detect"))),
                               "size": 1000}))
    for _ in range(draw(st.integers(1, 25))):
        when = draw(st.integers(0, 50 * 86_400))
        entries.append((when, usage(_at(when), draw(st.sampled_from(("Search", "Detect"))),
                                    draw(st.integers(0, 800)))))
    entries.sort(key=lambda item: item[0])
    # Distinct times (one second apart at least): entries at one instant bill in the
    # journal's order, which shuffling changes.
    return [dict(entry, time=_at(when + index)) for index, (when, entry) in enumerate(entries)]


@settings(max_examples=60, deadline=None)
@given(journals(), st.randoms(use_true_random=False))
def test_subscription_journals_bill_alike_however_they_are_fed(
        journal: list[Entry], rnd: random.Random) -> None:
    """Shuffled, fed in two parts with a snapshot between them, or replayed entry by entry, a
    journal bills the same; every unit used is drawn from exactly one source; each month's
    fee lines are what its `subscriptions` say, and the total is the sum of the lines."""
    from ratecard.engine.replay import bill_journal

    bills = PROPS.bill(journal)
    whole = [b.to_dict() for b in bills]
    shuffled = list(journal)
    rnd.shuffle(shuffled)
    assert [b.to_dict() for b in PROPS.bill(shuffled)] == whole
    unaggregated = bill_journal(PROPS, journal, aggregate=False)
    assert isinstance(unaggregated, list)
    assert [b.to_dict() for b in unaggregated] == whole
    cut = rnd.randint(0, len(journal))
    account = Account(PROPS)
    issued = account.feed(journal[:cut])
    resumed = Account.restore(PROPS, json.dumps(account.snapshot()))
    issued += resumed.feed(journal[cut:])
    issued += resumed.close_through(whole[-1]["month"])
    assert [b.to_dict() for b in issued] == whole
    used = {"search": D(0), "detect": D(0)}
    for entry in journal:
        if entry["type"] == "usage":
            used["search" if entry["action"] == "Search" else "detect"] += entry["count"]
    drawn = {"search": D(0), "detect": D(0)}
    for bill in bills:
        for line in bill.lines:
            if line.source in ("allowance", "pack", "subscription", "postpaid"):
                drawn[line.meter] += line.quantity
        fees = [line for line in bill.lines if line.source == "fee"]
        assert [(line.pack, line.amount) for line in fees] == [
            (c.subscription, c.amount) for c in bill.subscriptions]
        for charge in bill.subscriptions:
            assert charge.amount == (charge.unit_price * charge.quantity * charge.used
                                     / charge.of).quantize(D("0.01"), ROUND_HALF_UP)
        assert bill.total == sum((line.amount for line in bill.lines), D(0))
    assert drawn == used


def test_subscriptions_are_part_of_the_fingerprint_and_absent_ones_leave_it_as_it_was(
        seats: PriceBook) -> None:
    """A snapshot taken under a sheet is refused under one whose subscriptions or fees bill
    otherwise; a sheet without any keeps the fingerprint it had before subscriptions existed
    (the canonical form leaves the empty field out, as it leaves out `skip_empty`), so that
    snapshots already saved still resume."""
    import attrs

    from ratecard.engine.snapshot import _canonical, fingerprint

    dearer = ratecard.loads(SHEET.replace("100 per month", "120 per month"), "seats.rules")
    assert fingerprint(dearer) != fingerprint(seats)
    bda = ratecard.load(RULES / "tencent-bda.rules")
    assert "subscriptions" not in _canonical(bda)
    assert "subscriptions" in _canonical(seats)
    assert attrs.fields_dict(PriceBook)["subscriptions"].default == ()


def test_diff_names_each_changed_subscription_and_fee(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A dearer seat, a limit raised, another proration, and the fee withdrawn: each a change of
    its own (`"what": "subscription"`); swapped, the files swap old and new."""
    old = tmp_path / "old.rules"
    old.write_text(SHEET, encoding="utf-8")
    edited = (SHEET.replace("(0, ∞)  18", "(0, ∞)  20").replace("up to 1000", "up to 2000")
              .replace("per month, prorated by second", "per month, prorated by day")
              .replace('fee platform "平台费" / "Platform fee" 100 per month, prorated by day\n',
                       ""))
    new = tmp_path / "new.rules"
    new.write_text(edited, encoding="utf-8")
    assert main(["diff", str(old), str(new), "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert_valid(data)
    assert [(c["what"], c["key"], c["old"], c["new"]) for c in data["changes"]] == [
        ("subscription", "seats coverage limit", "1000", "2000"),
        ("subscription", "seats prices", "(0, ∞) 18", "(0, ∞) 20"),
        ("subscription", "api_month proration", "second", "day"),
        ("subscription", "platform", "platform", None),
    ]
    assert main(["diff", str(new), str(old), "--format", "json"]) == 1
    swapped = json.loads(capsys.readouterr().out)["changes"]
    assert [(c["key"], c["old"], c["new"]) for c in swapped][-1] == (
        "platform", None, "platform")


def test_a_fee_is_neither_subscribed_nor_cancelled_and_negotiated_brackets_are_refused(
        seats: PriceBook) -> None:
    """A fee is every account's: a `subscribe` entry cannot name it, nor a `cancel`; a quantity
    in a `contact sales` bracket has no price to charge, so its subscribe entry is refused."""
    with pytest.raises(JournalError, match="`platform` is not a subscription of rules `seats`"):
        seats.bill([subscribe("2026-11-01T00:00:00+08:00", "platform", 1)])
    with pytest.raises(JournalError, match="`platform` is a fee of the rules"):
        seats.bill([usage("2026-11-01T00:00:00+08:00", "Search", 1),
                    cancel("2026-11-02T00:00:00+08:00", "platform")])
    negotiated = ratecard.loads(
        SHEET.replace("(0, ∞)  18", "(0, 10]  18\n  (10, ∞)  contact sales"), "seats.rules")
    with pytest.raises(JournalError, match=r"in the bracket \(10, ∞\), sold by negotiation"):
        negotiated.bill([subscribe("2026-11-01T00:00:00+08:00", "seats", 11)])
    (bill,) = negotiated.bill([subscribe("2026-11-01T00:00:00+08:00", "seats", 10, "s"),
                               cancel("2026-11-02T00:00:00+08:00", "s")])
    assert [(line.pack, line.amount) for line in bill.lines if line.source == "fee"] == [
        ("platform", D("100.00")), ("s", D("180.00"))]  # 10 × 18 × 1 day; 30/30 of 100


def test_a_coverage_rate_counts_over_each_period() -> None:
    """`up to 1 per minute` on a daily plan: 1440 calls a day per unit. 2 units from 11-01:
    2880 a day. 11-01: 3000 calls, 2880 covered, 120 × 0.01 = 1.20 postpaid; 11-02: 100 calls,
    covered (a new day). The plan is not prorated and runs all 30 days of November: 2 × 18 ×
    30 = 1080.00. With the sheet's platform fee (30 of 30 days, 100.00): 1181.20."""
    book = ratecard.loads(SHEET.replace("up to 1000", "up to 1 per minute"), "rate.rules")
    (bill,) = book.bill([subscribe("2026-11-01T00:00:00+08:00", "seats", 2, "r"),
                         usage("2026-11-01T10:00:00+08:00", "Search", 3000),
                         usage("2026-11-02T10:00:00+08:00", "Search", 100)])
    assert lines(bill)[:2] == [("search", "subscription", "r", D(2980), D("0.00")),
                               ("search", "postpaid", None, D(120), D("1.20"))]
    assert [line.amount for line in bill.lines if line.pack == "r" and line.source == "fee"] == [
        D("1080.00")]
    assert bill.total == D("1181.20")
    en = ratecard.render_sheet(book, lang="en").text
    assert "(up to 1 a minute per unit, counted over each day)" in en


def test_lagos_prorated_seat_example() -> None:
    """Lago's prorated-charges page: a $10 seat added on July 10th is charged for the 22 days it
    is used (the 10th to the 31st, both counted). Over July's 31 days: 10 × 22/31 = 7.0967… →
    7.10. (The page writes $7.33, which is 22/30: it divides by 30 whatever the month; here a
    month is its own days, as Zuora's "use actual number of days".)"""
    sheet = """\
rules lago "座席" / "Seats"
currency USD, rounding half_up 0.01, timezone UTC
meter calls "调用" / "Calls" counts Call
price calls 0.01
subscription seat "座席" / "Seat", per month, prorated by day {
  (0, ∞)  10
}
"""
    book = ratecard.loads(sheet, "lago.rules")
    (july,) = book.bill([subscribe("2027-07-10T12:00:00Z", "seat", 1)])
    (charge,) = july.subscriptions
    assert (charge.used, charge.of, charge.amount) == (D(22), D(31), D("7.10"))
