"""The one burn-down (engine/deduction.py `deduct`): the allowance, packs, declared grants and
subscriptions' coverage are all lots, drawn by one walk of the declared deduction order.
Each unit is drawn from exactly one source, and in the declared order: no unit is drawn at a
step while a lot of an earlier step (or an earlier lot of the same step) still holds units, and
none is left to postpaid while any lot does. Checked on `deduct` itself over random lots and
orders, and on every burn-down of random journals replayed on a sheet that mixes them all."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

import ratecard
from ratecard.engine import replay as replay_module
from ratecard.engine.account import Account
from ratecard.engine.deduction import (
    ALLOWANCE,
    PACKS,
    POSTPAID,
    SUBSCRIPTIONS,
    Deduction,
    Lot,
    allowance_lot,
    deduct,
)
from ratecard.engine.replay import bill_journal
from tests.conftest import RULES

D = Decimal
Entry = dict[str, Any]
GRANTS = ("monthly", "opening")


def check_draw(quantity: D, order: Sequence[str], before: list[tuple[Lot, D]],
               drawn: Deduction) -> None:
    """One burn-down of `quantity` over lots that held `before` (in the order handed to it):
    every unit from exactly one lot or postpaid, no lot overdrawn, in the declared order."""
    taken: dict[int, D] = {}
    for lot, units in (*drawn.packs, *drawn.grants, *drawn.covered):
        assert units > 0
        taken[id(lot)] = taken.get(id(lot), D(0)) + units
    allowance = [lot for lot, _ in before if lot.source == ALLOWANCE]
    if allowance:
        assert len(allowance) == 1  # a meter draws one pool's lot
        taken[id(allowance[0])] = taken.get(id(allowance[0]), D(0)) + drawn.allowance
    else:
        assert drawn.allowance == 0
    covered = sum((units for _, units in drawn.covered), D(0))
    assert drawn.prepaid + covered + drawn.postpaid == quantity  # exactly one source each
    assert drawn.postpaid >= 0
    # In the order walked: each step's lots in the order given, then postpaid.
    walk = [(lot, held) for step in order for lot, held in before if lot.source == step]
    exhausted_so_far = True
    for lot, held in walk:
        units = taken.pop(id(lot), D(0))
        assert 0 <= units <= max(held, D(0))
        assert lot.remaining == held - units
        if units > 0:
            assert exhausted_so_far, f"{lot.id} drawn while an earlier lot held units"
        if held > 0 and lot.remaining > 0:
            exhausted_so_far = False
    assert not any(taken.values())  # nothing drawn from a lot not on the walk
    if drawn.postpaid > 0:
        assert exhausted_so_far, "units left to postpaid while a lot held units"


def test_a_worked_draw_in_the_declared_order() -> None:
    """750 units, order subscriptions, allowance, monthly, packs, opening, postpaid:
    the subscription covers 100, the allowance 300, the monthly grant 50, pack a 200 (its 200),
    pack b 100 (of 400): 100 + 300 + 50 + 200 + 100 = 750; the opening grant and postpaid
    nothing. The same lots under `packs, postpaid`: packs a and b pay 200 + 400, postpaid 150."""
    def lots() -> tuple[Lot, list[Lot], list[Lot], list[Lot]]:
        return (allowance_lot("ocr", D(300)),
                [Lot("monthly@2026-11", "ocr", D(50), D(50), source="monthly"),
                 Lot("opening", "ocr", D(80), D(80), source="opening")],
                [Lot("a", "ocr", D(500), D(200)), Lot("b", "ocr", D(400), D(400))],
                [Lot("s1", "ocr", D(100), D(100), source=SUBSCRIPTIONS)])
    order = (SUBSCRIPTIONS, ALLOWANCE, "monthly", PACKS, "opening", POSTPAID)
    allowance, grants, packs, covering = lots()
    drawn = deduct(D(750), order, (allowance,), grants, packs, covering)
    assert drawn.allowance == 300
    assert [(lot.id, units) for lot, units in drawn.covered] == [("s1", 100)]
    assert [(lot.id, units) for lot, units in drawn.grants] == [("monthly@2026-11", 50)]
    assert [(lot.id, units) for lot, units in drawn.packs] == [("a", 200), ("b", 100)]
    assert drawn.postpaid == 0
    assert (allowance.remaining, packs[1].remaining, grants[1].remaining) == (0, 300, 80)
    allowance, grants, packs, covering = lots()
    drawn = deduct(D(750), (PACKS, POSTPAID), (allowance,), grants, packs, covering)
    assert (drawn.allowance, drawn.grants, drawn.covered) == (0, (), ())
    assert [(lot.id, units) for lot, units in drawn.packs] == [("a", 200), ("b", 400)]
    assert drawn.postpaid == 150
    assert allowance.remaining == 300


STEPS = (ALLOWANCE, PACKS, SUBSCRIPTIONS, *GRANTS)


@st.composite
def holdings(draw: st.DrawFn) -> tuple[tuple[str, ...], list[list[Lot]]]:
    """A declared order (the steps in some order, some left out, postpaid last) and lots of
    every kind, in a few sequences, some empty or spent."""
    steps = draw(st.permutations(STEPS))
    order = (*steps[:draw(st.integers(0, len(steps)))], POSTPAID)
    amounts = st.integers(-2, 60).map(D)
    held: list[list[Lot]] = [[allowance_lot("pool", draw(amounts))]]
    for index in range(draw(st.integers(1, 3))):
        group = []
        for number in range(draw(st.integers(0, 4))):
            source = draw(st.sampled_from((PACKS, SUBSCRIPTIONS, *GRANTS)))
            size = draw(amounts)
            group.append(Lot(f"{source}-{index}-{number}", "m", size, size, source=source))
        held.append(group)
    return order, held


@settings(max_examples=300, deadline=None)
@given(holding=holdings(), quantities=st.lists(st.integers(0, 120).map(D), max_size=5))
def test_deduct_draws_each_unit_once_in_the_declared_order(
    holding: tuple[tuple[str, ...], list[list[Lot]]], quantities: list[D],
) -> None:
    order, held = holding
    for quantity in quantities:  # burn-downs one after another over the same lots
        before = [(lot, lot.remaining) for group in held for lot in group]
        drawn = deduct(quantity, order, *held)
        check_draw(quantity, order, before, drawn)


# A sheet that mixes every source: an allowance (shared by both meters in one variant), a
# monthly grant, a grant issued once, packs, and a subscription covering ocr up to 40 calls a
# month per seat, in two declared orders.
SHEET = """\
rules mix "混合" / "Mixed"
currency CNY, rounding half_up 0.01, timezone Asia/Shanghai

meter vat "核验" / "Verification" unit "次" / "call" counts VatInvoiceVerify
meter ocr "识别" / "Recognition" unit "次" / "call" counts GeneralBasicOCR, IDCardOCR

allowance 100 per month on ocr
grant monthly "每月赠送" / "Monthly gift" 10 per month on vat, ocr
grant opening "开通赠送" / "Opening gift" 50 once on vat, ocr valid 2 months

subscription seats "席位" / "Seats", per month, prorated by day, unit "个" / "seat", \
maximum 10, covers ocr up to 40 {
  (0, ∞)  20
}

packs valid 1 month {
  size 100
  vat  28
  ocr  12
}

ladder volume by postpaid per month on vat {
  (0, ∞) 0.30
}
ladder volume by postpaid per month on ocr {
  (0, ∞) 0.15
}

deduct subscriptions, allowance, monthly, packs by expiry, opening, postpaid
bill per month, issued on day 1
"""
BOOK = ratecard.loads(SHEET, "mix.rules")
OTHER = ratecard.loads(
    SHEET.replace("allowance 100 per month on ocr", "allowance 100 per month on vat, ocr shared")
    .replace("deduct subscriptions, allowance, monthly, packs by expiry, opening, postpaid",
             "deduct opening, packs by expiry, subscriptions, monthly, allowance, postpaid"),
    "mix-other.rules")
ZONE = timezone(timedelta(hours=8))
START = datetime(2026, 11, 1, tzinfo=ZONE)
METER = {"VatInvoiceVerify": "vat", "GeneralBasicOCR": "ocr", "IDCardOCR": "ocr"}
SOURCES = ("allowance", "grant", "pack", "subscription", "postpaid")


@st.composite
def journals(draw: st.DrawFn) -> list[Entry]:
    """Entries at distinct seconds over three months: usage, pack purchases, subscriptions
    and their cancels."""
    count = draw(st.integers(1, 25))
    seconds = sorted(draw(st.sets(st.integers(0, 89 * 86400), min_size=count, max_size=count)))
    entries: list[Entry] = [{"time": START.isoformat(), "type": "open"}]
    subscribed: list[str] = []
    for index, second in enumerate(seconds):
        time = (START + timedelta(seconds=second + 1)).isoformat()
        kind = draw(st.sampled_from(["usage", "usage", "usage", "purchase", "subscribe",
                                     "cancel"]))
        if kind == "cancel" and subscribed:
            entries.append({"time": time, "type": "cancel", "subscription": subscribed.pop(0)})
        elif kind == "subscribe":
            entries.append({"time": time, "type": "subscribe", "plan": "seats",
                            "quantity": draw(st.integers(1, 3)), "id": f"s{index}"})
            subscribed.append(f"s{index}")
        elif kind == "purchase":
            entries.append({"time": time, "type": "purchase", "id": f"p{index}", "size": 100,
                            "meter": draw(st.sampled_from(["vat", "ocr"]))})
        else:
            entries.append({"time": time, "type": "usage", "id": f"u{index}",
                            "action": draw(st.sampled_from(sorted(METER))),
                            "count": draw(st.integers(0, 150))})
    return entries


@settings(max_examples=60, deadline=None)
@given(journal=journals(), book=st.sampled_from([BOOK, OTHER]),
       aggregate=st.booleans())
def test_every_burn_down_of_a_replay_draws_each_unit_once_in_order(
    journal: list[Entry], book: ratecard.PriceBook, aggregate: bool,
) -> None:
    """Every burn-down the replay makes is checked as it happens; and over the bills, each
    unit used is on exactly one line of an allowance, grant, pack, subscription or postpaid."""
    calls = 0

    def checked(quantity: D, order: Sequence[str], *held: Sequence[Lot]) -> Deduction:
        nonlocal calls
        calls += 1
        before = [(lot, lot.remaining) for group in held for lot in group]
        drawn = deduct(quantity, order, *held)
        check_draw(quantity, order, before, drawn)
        return drawn

    with mock.patch.object(replay_module, "deduct", checked):
        bills = bill_journal(book, journal, aggregate=aggregate)
    assert isinstance(bills, list)
    used: Counter[tuple[str, str]] = Counter()
    for entry in journal:
        if entry["type"] == "usage" and entry["count"]:
            month = datetime.fromisoformat(entry["time"]).strftime("%Y-%m")
            used[month, METER[entry["action"]]] += entry["count"]
    assert calls >= (1 if used else 0)
    drawn: Counter[tuple[str, str]] = Counter()
    for bill in bills:
        assert bill.month is not None
        for line in bill.lines:
            if line.source in SOURCES:
                drawn[bill.month.strftime("%Y-%m"), line.meter] += int(line.quantity)
    assert +drawn == +used


SHARED_BDA = (RULES / "tencent-bda.rules").read_text(encoding="utf-8").replace(
    "allowance 1000 per month on every meter while active",
    "allowance 1000 per month on detection, search shared\n"
    "allowance 1000 per month on segmentation, library")


def test_a_shared_allowance_is_one_lot_its_meters_draw() -> None:
    """BDA with detection and search sharing 1,000 free calls a month: November's allowance is
    one lot of the pool `detection+search`, valid to the month's end; 600 DetectBody and 300
    SearchTrace calls draw 900 of it (100 left), and 200 more DetectBody calls take the last
    100 and leave 100 postpaid (100 × 0.0020 = 0.20). December opens with a fresh lot."""
    book = ratecard.loads(SHARED_BDA, "shared.rules")
    account = Account(book)
    account.feed([
        {"time": "2026-11-02T10:00:00+08:00", "type": "usage", "action": "DetectBody",
         "count": 600},
        {"time": "2026-11-02T11:00:00+08:00", "type": "usage", "action": "SearchTrace",
         "count": 300},
    ])
    replay = account._replay
    lot = replay.allowances["detection+search"]
    assert replay.allowances["detection+search"] is lot
    assert (lot.id, lot.meter, lot.source, lot.size, lot.remaining) == (
        "allowance:detection+search@2026-11", "detection+search", ALLOWANCE, 1000, 100)
    assert lot.expires == datetime(2026, 12, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    assert replay.allowance_left["detection+search"] == 100
    account.feed([{"time": "2026-11-03T10:00:00+08:00", "type": "usage",
                   "action": "DetectBody", "count": 200}])
    assert lot.remaining == 0
    bills = account.close_through("2026-11")
    assert [(line.meter, str(line.source), line.quantity, line.amount)
            for line in bills[0].lines] == [
        ("detection", "allowance", 700, D("0.00")),
        ("detection", "postpaid", 100, D("0.20")),
        ("search", "allowance", 300, D("0.00")),
    ]
    assert replay.allowances["detection+search"].id == "allowance:detection+search@2026-12"
    assert replay.allowances["detection+search"].remaining == 1000
