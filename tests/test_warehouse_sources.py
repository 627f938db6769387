"""The warehouse bills prepaid credits, subscriptions and fees as the engine does (issue 15):
differential tests of `bill_warehouse` against `ratecard bill` on one journal, split into the
warehouse's tables (usage rows; credit, subscribe and cancel rows in the events table; openings
in the accounts table), and worked bills with their arithmetic."""

from __future__ import annotations

import csv
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

pytest.importorskip("duckdb")

import ratecard
from ratecard.engine.pricebook import PriceBook
from ratecard.warehouse import bill_warehouse

D = Decimal
Entry = dict[str, Any]

EVENT_COLUMNS = ("account", "time", "type", "reason", "amount", "credit", "currency", "id",
                 "plan", "quantity", "meter", "subscription")


def _csv(path: Path, header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def tables(folder: Path, journals: dict[str, list[Entry]]) -> dict[str, str]:
    """The warehouse's input tables of some accounts' journals: usage rows, events rows (every
    other entry, its fields in the columns of the same names) and openings."""
    usage: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    opened: list[tuple[Any, ...]] = []
    bought: list[tuple[Any, ...]] = []
    for account, journal in journals.items():
        for entry in journal:
            if entry["type"] == "usage":
                usage.append((account, entry["time"], entry["action"], entry["count"]))
            elif entry["type"] == "purchase":
                bought.append((account, entry["time"], entry["meter"], entry["size"],
                               entry.get("id", "")))
            elif entry["type"] == "open":
                opened.append((account, entry["time"]))
            else:
                events.append(tuple(account if c == "account" else entry.get(c, "")
                                    for c in EVENT_COLUMNS))
    paths = {"usage": _csv(folder / "usage.csv", ("account", "time", "action", "count"), usage)}
    if events:
        paths["events"] = _csv(folder / "events.csv", EVENT_COLUMNS, events)
    if bought:
        paths["purchases"] = _csv(folder / "purchases.csv",
                                  ("account", "time", "meter", "size", "id"), bought)
    if opened:
        paths["accounts"] = _csv(folder / "accounts.csv", ("account", "opened"), opened)
    return paths


def engine_view(book: PriceBook, journals: dict[str, list[Entry]]) -> tuple[Any, ...]:
    """The engine's bills, lines and credit balances of each account's journal, as the
    warehouse writes them."""
    bills, lines, credits = {}, [], []
    for account, journal in journals.items():
        for bill in book.bill(journal):
            if bill.day is not None:  # a daily bill (`daily_view`)
                continue
            month = f"{bill.month:%Y-%m}"
            bills[(account, month)] = bill.total
            lines.extend((account, month, line.meter, line.source, format(line.quantity, "f"),
                          line.amount, line.pack,
                          None if line.period is None else line.period.isoformat())
                         for line in bill.lines)
            credits.extend((account, month, c.credit_id, c.credit, c.amount, c.paid,
                            c.remaining) for c in bill.credits)
    return bills, lines, credits


def warehouse_view(result: Any) -> tuple[Any, ...]:
    bills = {(r["account"], r["month"]): r["total"] for r in result.bills.to_pylist()}
    rows = sorted(result.lines.to_pylist(), key=lambda r: (r["account"], r["month"], r["line"]))
    lines = [(r["account"], r["month"], r["meter"], r["source"], format(D(r["quantity"]), "f"),
              r["amount"], r["pack"], r["period"]) for r in rows]
    credits = [] if result.credits is None else [
        (r["account"], r["month"], r["id"], r["credit"], r["amount"], r["paid"],
         r["remaining"]) for r in result.credits.to_pylist()]
    return bills, lines, credits


def differential(tmp_path: Path, book: PriceBook, journals: dict[str, list[Entry]],
                 **options: Any) -> Any:
    """Bill the journals' tables in the warehouse (`options`: the engine, a Spark session) and
    check its bills, lines and credit balances are the engine's."""
    result = bill_warehouse(book, **tables(tmp_path, journals), **options)
    assert not result.invalid and not result.problems
    assert warehouse_view(result) == engine_view(book, journals)
    return result


# --- prepaid credits ----------------------------------------------------------------------------

from tests.test_credits import JOURNAL as CREDIT_JOURNAL  # noqa: E402
from tests.test_credits import SHEET as CREDIT_SHEET  # noqa: E402


def test_a_prepaid_credit_from_the_events_table_pays_as_in_the_engine(tmp_path: Path) -> None:
    """tests/test_credits.py's journal, its `credit` entry a row of the events table (type
    `credit`, credit `commit`, amount 100.00, id c1). The account opens 2026-11-10 09:00 with
    the 50.00 trial credit (granted, every meter) and buys 100.00 of commitment (ocr only).

    November: vat 100 × 0.30 = 30.00 paid by the trial (20.00 left); ocr 200 × 0.15 = 30.00,
    20.00 by the trial, 10.00 by c1 (90.00 left): 0.00. December: vat 30.00 (trial spent), ocr
    400 × 0.15 = 60.00 by c1 (30.00 left): 30.00. January: ocr 800 × 0.15 = 120.00, 30.00 by
    c1: 90.00. Bills, lines and credit balances equal the engine's."""
    book = ratecard.loads(CREDIT_SHEET, "credits.rules")
    result = differential(tmp_path, book, {"a": CREDIT_JOURNAL})
    assert {m: t for (_, m), t in warehouse_view(result)[0].items()} == {
        "2026-11": D("0.00"), "2026-12": D("30.00"), "2027-01": D("90.00")}
    assert result.credits is not None
    assert [(r["month"], r["id"], r["paid"], r["remaining"], r["expires"])
            for r in result.credits.to_pylist()] == [
        ("2026-11", "trial", D("50.00"), D("0.00"), "2027-01-10T09:00:00+08:00"),
        ("2026-11", "c1", D("10.00"), D("90.00"), "2027-11-11T09:00:00+08:00"),
        ("2026-12", "c1", D("60.00"), D("30.00"), "2027-11-11T09:00:00+08:00"),
        ("2027-01", "c1", D("30.00"), D("0.00"), "2027-11-11T09:00:00+08:00"),
    ]


# --- subscriptions and fees ---------------------------------------------------------------------

from tests.test_subscriptions import (  # noqa: E402
    PROPERTY_SHEET,
    PROPS,
    SHEET,
    cancel,
    journals,
    subscribe,
    usage,
)


def test_subscriptions_and_a_fee_bill_as_in_the_engine(tmp_path: Path) -> None:
    """tests/test_subscriptions.py's seats sheet: `seats` per day at 18 a seat covering search
    and detect up to 1,000 calls a seat and day, `api_month` 300 a month prorated by the
    second, a platform fee of 100 a month prorated by day, calls 0.01.

    Account a opens 2026-11-16 00:00 (its first entry), subscribes 2 seats (s1) that day and
    cancels them 2026-11-18 12:00: seats charged for 3 days (16th, 17th, 18th), 2 × 18 × 3 =
    108.00; fee 15 of 30 days, 100 × 15/30 = 50.00. Calls: 1,500 + 1,000 on the 16th (2,000
    covered, 500 × 0.01 = 5.00 postpaid), 1,500 on the 17th (covered), 700 on the 20th (after
    the cancel, 7.00): November 108.00 + 50.00 + 12.00 = 170.00. December: the fee, 100.00.
    Account b has usage only: 100 calls on 2026-12-05 (1.00) and the fee for 27 of December's
    31 days, 100 × 27/31 = 87.10 (87.096… rounded): 88.10."""
    book = ratecard.loads(SHEET, "seats.rules")
    a = [subscribe("2026-11-16T00:00:00+08:00", "seats", 2, "s1"),
         usage("2026-11-16T09:00:00+08:00", "Search", 1500),
         usage("2026-11-16T10:00:00+08:00", "Detect", 1000),
         usage("2026-11-17T09:00:00+08:00", "Search", 1500),
         cancel("2026-11-18T12:00:00+08:00", "s1"),
         usage("2026-11-20T09:00:00+08:00", "Search", 700),
         usage("2026-12-02T09:00:00+08:00", "Search", 0)]
    b = [usage("2026-12-05T09:00:00+08:00", "Detect", 100)]
    result = differential(tmp_path, book, {"a": a, "b": b})
    assert warehouse_view(result)[0] == {
        ("a", "2026-11"): D("170.00"), ("a", "2026-12"): D("100.00"),
        ("b", "2026-12"): D("88.10")}
    assert result.stats["accounts_replayed"] == 2


@settings(max_examples=25, deadline=None)
@given(journals(), journals())
def test_subscription_journals_bill_in_the_warehouse_as_in_the_engine(
        first: list[Entry], second: list[Entry]) -> None:
    """tests/test_subscriptions.py's property sheet (an allowance and packs around the
    subscriptions, a covering plan with a daily limit, one covering a meter of the entry's
    choice, one prorated by the second, one whose limit is a rate, a fee) and two accounts'
    random journals: the warehouse's bills, lines (in order) and the engine's are equal."""
    with tempfile.TemporaryDirectory() as folder:
        differential(Path(folder), PROPS, {"a": first, "b": second})


# --- monthly grants valid some days -------------------------------------------------------------

GRANT_SHEET = """\
rules g "赠送" / "Grants"
currency CNY, rounding half_up 0.01, timezone Asia/Shanghai

meter calls "调用" / "Calls" counts Call
price calls 0.01

grant trial "试用" / "Trial" 100 per month on calls valid 10 days

deduct trial, postpaid
"""


def test_a_monthly_grant_valid_ten_days_bills_as_in_the_engine(tmp_path: Path) -> None:
    """100 calls granted each month, valid 10 days from their issue (the opening, then each
    month's start). Account a opens at its first entry, 2026-11-20 12:00: the first issue is
    void from 2026-11-30 12:00. November: 60 calls on the 21st (granted) and 80 on the 30th
    at 18:00 (after the expiry: 0.80). December: the issue of 12-01 00:00 is void from 12-11
    00:00: 50 calls on the 5th (granted) and 80 on the 20th (0.80). Without a cut at each
    month's expiry the warehouse would draw December's 130 calls as one, 100 of them from the
    grant (0.30)."""
    book = ratecard.loads(GRANT_SHEET, "grants.rules")
    journal = [usage("2026-11-20T12:00:00+08:00", "Call", 0),
               usage("2026-11-21T09:00:00+08:00", "Call", 60),
               usage("2026-11-30T18:00:00+08:00", "Call", 80),
               usage("2026-12-05T09:00:00+08:00", "Call", 50),
               usage("2026-12-20T09:00:00+08:00", "Call", 80)]
    result = differential(tmp_path, book, {"a": journal})
    assert warehouse_view(result)[0] == {("a", "2026-11"): D("0.80"),
                                         ("a", "2026-12"): D("0.80")}


# --- the engine's replay for mechanics entry by entry -------------------------------------------

from tests.test_entry_minimum import RULES as MINIMUM_RULES  # noqa: E402
from tests.test_pack_terms import SHEET as PACK_SHEET  # noqa: E402
from tests.test_pack_terms import STOPPING  # noqa: E402


def test_packs_that_stop_service_reject_usage_as_in_the_engine(tmp_path: Path) -> None:
    """tests/test_pack_terms.py's seal packs stop service when exhausted. Account a buys a
    1000-call pack on 2026-11-01 and calls 600, 600 and 50: the pack pays 600 then 400; 200 of
    the second entry and all 50 of the third are rejected (250 calls), never billed: 0.00.
    Account b calls 70 with no pack: all rejected. `WarehouseResult.rejected` lists them."""
    book = ratecard.loads(PACK_SHEET, "ocr.rules")
    b = [usage("2026-11-02T09:00:00+08:00", "SealOCR", 70)]
    result = differential(tmp_path, book, {"a": STOPPING, "b": b})
    assert warehouse_view(result)[0] == {("a", "2026-11"): D("0.00"),
                                         ("b", "2026-11"): D("0.00")}
    assert result.rejected is not None
    assert result.rejected.to_pylist() == [
        {"account": "a", "month": "2026-11", "meter": "seal", "action": "SealOCR",
         "quantity": "250", "reason": "packs exhausted"},
        {"account": "b", "month": "2026-11", "meter": "seal", "action": "SealOCR",
         "quantity": "70", "reason": "packs exhausted"}]


def test_a_minimum_per_entry_bills_as_in_the_engine(tmp_path: Path) -> None:
    """tests/test_entry_minimum.py's code execution, at least 300 s per entry, 3,600 s free a
    month, 0.05 per 3,600 s, here rounded half up to the cent. Executions of 120 s, 0 s, 300 s,
    3,000 s and 1,800 s on one day: 300 + 0 + 300 + 3,000 + 1,800 = 5,400 s; 1,800 × 0.05 /
    3,600 = 0.025 (the meter's own rounding to the micro-dollar: 0.025000), the bill's total
    rounded to the cent 0.03. Without the minimum: 5,220 s, 0.0225, rounded 0.02. The minimum
    is applied per usage row in SQL: no account goes to the engine's replay."""
    rules = MINIMUM_RULES.replace(
        "request run { quantity sandbox_seconds into sandbox }\n", "").replace(
        "price sandbox 0.36 per 3600\n", "").replace(
        'meter sandbox "沙箱" / "Sandbox"\n  unit "秒" / "second"\n'
        "  quantity at least 60 per entry\n", "").replace(
        "rounding exact", "rounding half_up 0.01")
    book = ratecard.loads(rules, "ce.rules")
    journal = [usage(f"2026-11-02T0{hour}:00:00Z", "code_execution", seconds)
               for hour, seconds in enumerate((120, 0, 300, 3000, 1800))]
    result = differential(tmp_path, book, {"a": journal})
    assert warehouse_view(result)[0] == {("a", "2026-11"): D("0.03")}
    assert [(r["meter"], r["source"], D(r["quantity"]), r["amount"])
            for r in result.lines.to_pylist()] == [
        ("code_execution", "allowance", D(3600), D(0)),
        ("code_execution", "postpaid", D(1800), D("0.025"))]
    assert result.stats["accounts_replayed"] == 0


def test_skip_empty_leaves_out_the_months_the_engine_leaves_out(tmp_path: Path) -> None:
    """`bill per month, skip empty`, calls at 0.01. Account a calls 50 on 2026-11-21 (0.50)
    and 120 on 2027-01-05 (1.20). December has no entry and nothing owed: no bill, as in the
    engine; without `skip empty` it gets one of 0.00."""
    sheet = GRANT_SHEET.replace(
        'grant trial "试用" / "Trial" 100 per month on calls valid 10 days\n', "").replace(
        "deduct trial, postpaid", "deduct postpaid")
    journal = [usage("2026-11-21T09:00:00+08:00", "Call", 50),
               usage("2027-01-05T09:00:00+08:00", "Call", 120)]
    book = ratecard.loads(sheet + "bill per month, skip empty\n", "skip.rules")
    result = differential(tmp_path, book, {"a": journal})
    assert warehouse_view(result)[0] == {("a", "2026-11"): D("0.50"),
                                         ("a", "2027-01"): D("1.20")}
    every = differential(tmp_path, ratecard.loads(sheet, "all.rules"), {"a": journal})
    assert warehouse_view(every)[0][("a", "2026-12")] == D("0.00")


def test_the_skip_empty_journal_bills_in_the_warehouse_as_in_the_engine(tmp_path: Path) -> None:
    """tests/test_skip_empty.py's journal (a top-up settled from, usage, a month with nothing,
    a pack bought, free actions only): the warehouse writes the bills the engine writes, and
    none of the months it leaves out."""
    from tests.test_skip_empty import JOURNAL, RULES

    book = ratecard.loads(RULES, "skip.rules")
    result = differential(tmp_path, book, {"a": JOURNAL})
    assert len(warehouse_view(result)[0]) < len({e["time"][:7] for e in JOURNAL}) + 1



# --- daily ladders and daily bills --------------------------------------------------------------

from tests.test_daily import RULES as SMS_RULES  # noqa: E402
from tests.test_daily_bills import ASR  # noqa: E402
from tests.test_daily_bills import JOURNAL as ASR_JOURNAL  # noqa: E402


def test_a_daily_ladder_bills_as_in_the_engine(tmp_path: Path) -> None:
    """tests/test_daily.py's SMS sheet: sms priced per day by total (0.05 to 1,000, then
    0.04, at most 100 a day), mms per month. 11-02: 600 + 500 = 1,100 (the month's 100 free,
    1,000 × 0.04 = 40.00); 11-03 (16:30Z on 11-02): 800 × 0.05 = 40.00; 11-04: 3,000 × 0.04 =
    120.00, capped at 100 (−20.00); mms 10 × 0.10 = 1.00: 181.00. Each line names its day."""
    book = ratecard.loads(SMS_RULES, "sms.rules")
    journal = [usage("2026-11-02T09:00:00+08:00", "Send", 600),
               usage("2026-11-02T20:00:00+08:00", "Send", 500),
               usage("2026-11-02T16:30:00Z", "Send", 800),
               usage("2026-11-04T12:00:00+08:00", "SendMms", 10),
               usage("2026-11-04T12:00:00+08:00", "Send", 3000)]
    result = differential(tmp_path, book, {"a": journal})
    assert warehouse_view(result)[0] == {("a", "2026-11"): D("181.00")}
    assert {r["period"] for r in result.lines.to_pylist() if r["meter"] == "sms"
            and r["source"] == "postpaid"} == {"2026-11-02", "2026-11-03", "2026-11-04"}


def test_daily_bills_are_written_beside_the_monthly_bills(tmp_path: Path) -> None:
    """Tencent ASR, tests/test_daily_bills.py's November: four daily bills (11-01 0.00, 11-02
    2193.40, 11-03 826.00, 11-04 32.00, each issued the next day) and the month's bill of the
    meter billed monthly (192.50). The warehouse's monthly bills, daily bills and daily lines
    are the engine's."""
    book = ratecard.load(ASR)
    result = differential(tmp_path, book, {"a": ASR_JOURNAL})
    assert warehouse_view(result)[0] == {("a", "2026-11"): D("192.50")}
    assert result.daily_bills is not None and result.daily_lines is not None
    assert [(r["day"], r["issued"], r["total"]) for r in result.daily_bills.to_pylist()] == [
        ("2026-11-01", "2026-11-02", D("0.00")), ("2026-11-02", "2026-11-03", D("2193.40")),
        ("2026-11-03", "2026-11-04", D("826.00")), ("2026-11-04", "2026-11-05", D("32.00"))]
    engine = [(f"{b.day}", number, line.meter, str(line.source), format(line.quantity, "f"),
               line.amount)
              for b in book.bill(ASR_JOURNAL) if b.day is not None
              for number, line in enumerate(b.lines, start=1)]
    assert [(r["day"], r["line"], r["meter"], r["source"], r["quantity"], r["amount"])
            for r in result.daily_lines.to_pylist()] == engine


# --- bad rows -----------------------------------------------------------------------------------


def test_bad_credit_and_subscription_rows_are_reported_and_skipped(tmp_path: Path) -> None:
    """Rows the engine's entry reader refuses are bad rows, named by their problem, with
    samples, and left out: a credit in USD, a credit the rules do not sell (`trial` is
    granted, not prepaid), a subscription and a cancel under rules that sell none. The good
    credit row (100.00 of commit) still pays: November's ocr 200 × 0.15 = 30.00, 20.00 by the
    trial and 10.00 by c1, vat 30.00 by the trial: 0.00, as in the engine without the bad
    rows."""
    book = ratecard.loads(CREDIT_SHEET, "credits.rules")
    paths = tables(tmp_path, {"a": CREDIT_JOURNAL})
    with open(paths["events"], "a", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        blank = dict.fromkeys(EVENT_COLUMNS, "")
        for extra in ({"type": "credit", "credit": "commit", "amount": "5", "currency": "USD"},
                      {"type": "credit", "credit": "trial", "amount": "5"},
                      {"type": "subscribe", "plan": "seats", "quantity": "1"},
                      {"type": "cancel"}):
            row = {**blank, "account": "a", "time": "2026-11-20T09:00:00+08:00", **extra}
            writer.writerow([row[c] for c in EVENT_COLUMNS])
    result = bill_warehouse(book, **paths)  # type: ignore[arg-type]
    assert [(i.table, i.problem, i.count) for i in result.invalid] == [
        ("events", "bad credit", 2), ("events", "bad subscription", 2)]
    assert warehouse_view(result)[0][("a", "2026-11")] == D("0.00")
    assert book.bill(CREDIT_JOURNAL)[0].total == D("0.00")


def test_a_cancel_before_its_subscription_reports_the_account(tmp_path: Path) -> None:
    """A cancel of s1 before s1 was bought is an error of the account's journal (the engine
    refuses it): the account is reported, with the engine's message, and gets no bill; the
    other account is billed (100 × 0.01 = 1.00 and the fee, 100 × 27/31 = 87.10: 88.10)."""
    book = ratecard.loads(SHEET, "seats.rules")
    a = [cancel("2026-11-15T00:00:00+08:00", "s1"),
         subscribe("2026-11-16T00:00:00+08:00", "seats", 2, "s1"),
         usage("2026-11-16T09:00:00+08:00", "Search", 10)]
    b = [usage("2026-12-05T09:00:00+08:00", "Detect", 100)]
    result = bill_warehouse(book, **tables(tmp_path, {"a": a, "b": b}))  # type: ignore[arg-type]
    assert warehouse_view(result)[0] == {("b", "2026-12"): D("88.10")}
    assert [p.account for p in result.problems] == ["a"]
    with pytest.raises(ratecard.UsageError) as raised:
        book.bill(a)
    assert str(raised.value).split(": ")[-1] in result.problems[0].message


def test_simulate_names_a_fee_among_the_meters(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ratecard simulate` of the seats sheet against the fee raised from 100 to 120 a month:
    account b (usage only, opened 2026-12-05) pays 100 × 27/31 = 87.10 then 120 × 27/31 =
    104.52 (104.516… rounded), and 100 × 0.01 = 1.00 for detect either way: 88.10 → 105.52.
    The per-meter report names the fee by its plan."""
    import json

    from ratecard.cli import main

    old = tmp_path / "old.rules"
    old.write_text(SHEET, encoding="utf-8")
    new = tmp_path / "new.rules"
    new.write_text(SHEET.replace("100 per month", "120 per month"), encoding="utf-8")
    paths = tables(tmp_path, {"b": [usage("2026-12-05T09:00:00+08:00", "Detect", 100)]})
    assert main(["simulate", str(old), str(new), "--usage", paths["usage"], "--json",
                 "-q"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["old_total"], report["new_total"]) == ("88.10", "105.52")
    assert [(m["meter"], m["old"], m["new"]) for m in report["meters"]] == [
        ("detect", "1.00", "1.00"), ("platform", "87.10", "104.52")]


def test_the_command_writes_credits_rejected_usage_and_daily_bills(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ratecard warehouse --credits --daily-bills --daily-lines --rejected`: the prepaid
    credit's balances (tests above: c1 paid 10.00 of 100.00 in November, 90.00 left), and for
    rules without daily bills a note on stderr and no file."""
    from ratecard.cli import main

    rules = tmp_path / "credits.rules"
    rules.write_text(CREDIT_SHEET, encoding="utf-8")
    paths = tables(tmp_path, {"a": CREDIT_JOURNAL})
    credits, daily = tmp_path / "credits.csv", tmp_path / "daily.csv"
    assert main(["warehouse", str(rules), "--usage", paths["usage"], "--events",
                 paths["events"], "--credits", str(credits), "--daily-bills", str(daily),
                 "-o", str(tmp_path / "bills.csv"), "-q"]) == 0
    written = credits.read_text(encoding="utf-8").splitlines()
    assert written[0] == "account,month,id,credit,amount,paid,remaining,expires"
    assert written[2].startswith("a,2026-11,c1,commit,100.00,10.00,90.00,")
    assert not daily.exists()
    assert "no daily bills written: the rules have no daily bills" in capsys.readouterr().err


def test_without_a_fee_only_subscribers_are_replayed(tmp_path: Path) -> None:
    """The seats sheet without its fee: account a (2 seats from 2026-11-16, cancelled
    2026-11-18 12:00: 2 × 18 × 3 days = 108.00; 5.00 + 7.00 postpaid as above: 120.00) is
    replayed by the engine; account b (usage only: 100 × 0.01 = 1.00) is drawn down in SQL."""
    sheet = SHEET.replace(
        'fee platform "平台费" / "Platform fee" 100 per month, prorated by day\n', "")
    book = ratecard.loads(sheet, "seats.rules")
    a = [subscribe("2026-11-16T00:00:00+08:00", "seats", 2, "s1"),
         usage("2026-11-16T09:00:00+08:00", "Search", 1500),
         usage("2026-11-16T10:00:00+08:00", "Detect", 1000),
         usage("2026-11-17T09:00:00+08:00", "Search", 1500),
         cancel("2026-11-18T12:00:00+08:00", "s1"),
         usage("2026-11-20T09:00:00+08:00", "Search", 700)]
    b = [usage("2026-12-05T09:00:00+08:00", "Detect", 100)]
    result = differential(tmp_path, book, {"a": a, "b": b})
    assert warehouse_view(result)[0] == {("a", "2026-11"): D("120.00"),
                                         ("b", "2026-12"): D("1.00")}
    assert result.stats["accounts_replayed"] == 1


NO_FEE = ratecard.loads(PROPERTY_SHEET.replace(
    'fee platform "平台费" / "Platform fee" 100 per month, prorated by day\n', ""), "props.rules")


@settings(max_examples=25, deadline=None)
@given(journals(), journals())
def test_subscribers_bill_in_the_warehouse_as_in_the_engine_without_a_fee(
        first: list[Entry], second: list[Entry]) -> None:
    """The property sheet without its fee: only accounts with subscribe or cancel rows are
    replayed (the others drawn down in SQL, or in Python with their packs); the warehouse's
    bills and lines are the engine's."""
    with tempfile.TemporaryDirectory() as folder:
        differential(Path(folder), NO_FEE, {"a": first, "b": second})


# --- counts in a display unit, a minimum per entry, a meter's own rounding, in SQL ---------------

HOURS_RULES = """\
rules ce "代码执行" / "Code execution"
currency USD, rounding exact, timezone UTC
meter code_execution "代码执行" / "Code execution"
  unit "小时" / "hour" = 3600 "秒" / "second"
  counts code_execution in hours
  quantity rounded up to 0.0001
  quantity at least 300 per entry
  amount rounded half_up to 0.000001
allowance 3600 per month on code_execution
price code_execution 0.05 per 3600
deduct allowance, postpaid
"""
def numeric_differential(tmp_path: Path, book: PriceBook, journals: dict[str, list[Entry]],
                         **options: Any) -> Any:
    """`differential`, the lines' quantities compared as numbers (a meter rounded to 0.0001
    writes its allowance line's 3600 as 3600.0000)."""
    def numeric(view: tuple[Any, ...]) -> tuple[Any, ...]:
        bills, lines, credits = view
        return bills, [(*x[:4], D(x[4]), *x[5:]) for x in lines], credits

    result = bill_warehouse(book, **tables(tmp_path, journals), **options)
    assert not result.invalid and not result.problems
    assert numeric(warehouse_view(result)) == numeric(engine_view(book, journals))
    return result


HOURS = [usage(f"2026-11-0{day}T09:00:00Z", "code_execution", count)  # type: ignore[arg-type]
         for day, count in enumerate(("0.02", "0", "0.5", "1", "0.0001"), start=2)]


@pytest.mark.parametrize(("rounding", "total"), [
    ("rounding exact", D("0.033333")),
    ("rounding half_up 0.01", D("0.03")),
    ("rounding half_up 0.01 on total", D("0.03")),
    ("rounding down 0.01", D("0.03")),
])
def test_counts_in_hours_a_minimum_and_a_meter_rounding_bill_in_sql(
    tmp_path: Path, rounding: str, total: Decimal
) -> None:
    """Executions of 0.02 h (72 s, raised to 300 s), 0 h, 0.5 h (1,800 s), 1 h (3,600 s) and
    0.0001 h (0.36 s, raised to 300 s): 6,000 s, 3,600 free, 2,400 s × 0.05 / 3,600 = 0.0333…,
    the line rounded half up to the micro-dollar 0.033333 whatever the sheet's rounding; the
    total is the sheet's rounding of it (exact 0.033333; to the cent 0.03 half up, on total,
    and down). No account is replayed."""
    book = ratecard.loads(HOURS_RULES.replace("rounding exact", rounding), "ce.rules")
    result = numeric_differential(tmp_path, book, {"a": HOURS})
    assert warehouse_view(result)[0] == {("a", "2026-11"): total}
    assert [(r["source"], D(r["quantity"]), r["amount"]) for r in result.lines.to_pylist()] == [
        ("allowance", D(3600), D(0)), ("postpaid", D(2400), D("0.033333"))]
    assert result.stats["accounts_replayed"] == 0


def test_counts_in_hours_replayed_with_a_grant(tmp_path: Path) -> None:
    """With a grant every account is replayed by the engine from the SQL's metered, raised
    quantities, which the replay neither converts nor raises again: a grant of 1,200 s valid
    the month on top of the 3,600 s free leaves 1,200 s, 0.016667 (1,200 × 0.05 / 3,600 =
    0.01666…)."""
    rules = HOURS_RULES.replace(
        "deduct allowance, postpaid",
        'grant trial "试用" / "Trial" 1200 once on code_execution valid 1 year\n'
        "deduct allowance, trial, postpaid")
    book = ratecard.loads(rules, "grant.rules")
    journal = [{"type": "open", "time": "2026-11-01T00:00:00Z"}, *HOURS]
    result = numeric_differential(tmp_path, book, {"a": journal})
    assert warehouse_view(result)[0] == {("a", "2026-11"): D("0.016667")}
    assert result.stats["accounts_replayed"] == 1


def test_a_count_in_hours_that_makes_no_whole_second_is_a_bad_row(tmp_path: Path) -> None:
    """Without `quantity rounded`, code execution counts whole seconds: 0.0001 h is 0.36 s, a
    bad row (`fractional count`, as the engine refuses the entry), 0.5 h is 1,800 s, raised to
    nothing (over 300), all free; integer hours (an INTEGER column) are made seconds too:
    2 h is 7,200 s, 3,600 past the 3,600 free: 0.05."""
    book = ratecard.loads(HOURS_RULES.replace("  quantity rounded up to 0.0001\n", ""), "w.rules")
    with pytest.raises(ratecard.UsageError, match=r"0\.36"):
        book.bill([usage("2026-11-02T09:00:00Z", "code_execution", "0.0001")])  # type: ignore[arg-type]
    path = tmp_path / "usage.csv"
    path.write_text("account,time,action,count\n"
                    "a,2026-11-02T09:00:00Z,code_execution,0.0001\n"
                    "a,2026-11-03T09:00:00Z,code_execution,0.5\n")
    result = bill_warehouse(book, str(path))
    assert [(i.problem, i.count) for i in result.invalid] == [("fractional count", 1)]
    assert [(r["source"], D(r["quantity"])) for r in result.lines.to_pylist()] == [
        ("allowance", D(1800))]
    whole = tmp_path / "whole.csv"
    whole.write_text("account,time,action,count\na,2026-11-02T09:00:00Z,code_execution,2\n")
    result = bill_warehouse(book, str(whole))
    assert result.bills.to_pylist()[0]["total"] == D("0.05")
