"""Conservation with grants and credits (issue 15, "Must hold"), as Hypothesis properties:
every unit used is drawn from exactly one source (allowance, grant, pack, postpaid); a grant lot
gives no more than it holds and only while valid; every yuan of a credit is spent once; and
shuffled, resent, split-and-resumed and entry-by-entry journals give identical bills."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import ratecard
from ratecard import Account
from ratecard.engine.bills import Bill
from ratecard.engine.replay import bill_journal

D = Decimal
Entry = dict[str, Any]

SHEET = """\
rules p "性质" / "Properties"
currency CNY, rounding half_up 0.01, timezone Asia/Shanghai

meter vat "核验" / "Verification" unit "次" / "call" counts VatInvoiceVerify
meter ocr "识别" / "Recognition" unit "次" / "call" counts GeneralBasicOCR, IDCardOCR

allowance 100 per month on ocr
grant monthly "每月赠送" / "Monthly gift" 10 per month on vat, ocr
grant opening "开通赠送" / "Opening gift" 50 once on vat valid 2 months
credit trial "试用金" / "Trial credit" 5 once on every meter valid 2 months
credit commit "预付" / "Prepaid" prepaid on ocr valid 1 month

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

deduct allowance, monthly, packs by expiry, opening, postpaid
bill per month, issued on day 1
"""

BOOK = ratecard.loads(SHEET, "properties.rules")
# The same with one allowance pool shared by both meters (drawn entry by entry while it lasts)
# and the grant issued once drawn before the packs.
SHARED = ratecard.loads(
    SHEET.replace("allowance 100 per month on ocr", "allowance 100 per month on vat, ocr shared")
    .replace("deduct allowance, monthly, packs by expiry, opening, postpaid",
             "deduct allowance, opening, monthly, packs by expiry, postpaid"), "shared.rules")
BOOKS = st.sampled_from([BOOK, SHARED])
ZONE = timezone(timedelta(hours=8))
START = datetime(2026, 11, 1, tzinfo=ZONE)
METER = {"VatInvoiceVerify": "vat", "GeneralBasicOCR": "ocr", "IDCardOCR": "ocr"}
SIZES = {"opening": D(50), "trial": D(5)}


@st.composite
def journals(draw: st.DrawFn) -> list[Entry]:
    """Entries at distinct seconds over four months: usage, pack purchases, prepaid credits,
    and sometimes an `open` entry first."""
    count = draw(st.integers(1, 25))
    seconds = sorted(draw(st.sets(st.integers(0, 119 * 86400), min_size=count, max_size=count)))
    entries: list[Entry] = []
    if draw(st.booleans()):
        entries.append({"time": START.isoformat(), "type": "open"})
        seconds = [s + 1 for s in seconds]
    for index, second in enumerate(seconds):
        time = (START + timedelta(seconds=second)).isoformat()
        kind = draw(st.sampled_from(["usage", "usage", "usage", "purchase", "credit"]))
        if kind == "usage":
            entries.append({"time": time, "type": "usage", "id": f"u{index}",
                            "action": draw(st.sampled_from(sorted(METER))),
                            "count": draw(st.integers(0, 150))})
        elif kind == "purchase":
            entries.append({"time": time, "type": "purchase", "id": f"p{index}", "size": 100,
                            "meter": draw(st.sampled_from(["vat", "ocr"]))})
        else:
            entries.append({"time": time, "type": "credit", "credit": "commit",
                            "id": f"c{index}", "amount": str(draw(st.integers(1, 20)))})
    return entries


def month_of(entry: Entry) -> str:
    return datetime.fromisoformat(entry["time"]).astimezone(ZONE).strftime("%Y-%m")


def check_conservation(journal: list[Entry], bills: list[Bill]) -> None:
    used: Counter[tuple[str, str]] = Counter()
    for entry in journal:
        if entry["type"] == "usage":
            used[month_of(entry), METER[entry["action"]]] += entry["count"]
    drawn: Counter[tuple[str, str]] = Counter()
    from_grant: Counter[tuple[str, str]] = Counter()  # (meter, lot): each meter has its own
    paid: Counter[str] = Counter()
    bought: dict[str, D] = {e["id"]: D(e["amount"]) for e in journal if e["type"] == "credit"}
    for bill in bills:
        assert bill.month is not None
        month = bill.month.strftime("%Y-%m")
        assert bill.total == sum((line.amount for line in bill.lines), D(0))
        for line in bill.lines:
            if line.source in ("allowance", "grant", "pack", "postpaid"):
                drawn[month, line.meter] += int(line.quantity)
            if line.source == "grant":
                assert line.pack is not None
                from_grant[line.meter, line.pack] += int(line.quantity)
                if line.pack.startswith("monthly@"):
                    assert line.pack == f"monthly@{month}"  # drawn only in its month
            if line.source == "credit":
                assert line.pack is not None and line.amount < 0
                paid[line.pack] -= line.amount  # type: ignore[assignment]
        for meter in ("vat", "ocr"):
            owed = sum((x.amount for x in bill.lines
                        if x.meter == meter and x.source != "credit"), D(0))
            credited = -sum((x.amount for x in bill.lines
                             if x.meter == meter and x.source == "credit"), D(0))
            assert 0 <= credited <= owed
        for credit in bill.credits:
            assert credit.remaining >= 0
    assert +drawn == +used  # every unit from exactly one source, none lost, none made up
    for (_, lot), units in from_grant.items():
        assert units <= (10 if lot.startswith("monthly@") else 50)
    for lot, amount in paid.items():
        assert amount <= bought.get(lot, SIZES.get(lot, D(0)))  # every yuan spent once


def dicts(bills: list[Bill]) -> list[dict[str, Any]]:
    return [bill.to_dict() for bill in bills]


@settings(max_examples=60, deadline=None)
@given(journal=journals(), book=BOOKS)
def test_units_and_money_are_conserved(journal: list[Entry], book: ratecard.PriceBook) -> None:
    bills = book.bill(journal)
    check_conservation(journal, bills)
    by_entry = bill_journal(book, journal, aggregate=False)
    assert isinstance(by_entry, list)
    assert dicts(by_entry) == dicts(bills)


@settings(max_examples=40, deadline=None)
@given(journal=journals(), seed=st.integers(0, 2**32 - 1), book=BOOKS)
def test_shuffled_resent_and_resumed_journals_bill_alike(
    journal: list[Entry], seed: int, book: ratecard.PriceBook,
) -> None:
    bills = book.bill(journal)
    rng = random.Random(seed)
    shuffled = journal[:]
    rng.shuffle(shuffled)
    assert dicts(book.bill(shuffled)) == dicts(bills)
    resent = journal + [e for e in journal if "id" in e and rng.random() < 0.3]
    again = book.bill(resent)
    assert [(b.total, b.lines, b.credits) for b in again] == [
        (b.total, b.lines, b.credits) for b in bills]
    cut = rng.randint(0, len(journal))
    account = Account(book)
    issued = account.feed(journal[:cut])
    account = Account.restore(book, json.dumps(account.snapshot()))
    issued += account.feed(journal[cut:])
    last = bills[-1].month
    assert last is not None
    issued += account.close_through(last.strftime("%Y-%m"))
    assert dicts(issued) == dicts(bills)
