"""Grants in the warehouse: worked bills of rules/tencent-ocr.rules' one-time grant, an accounts
table's openings, a grant's expiry, and what the warehouse refuses (the differential property
is `test_grants_bill_in_the_warehouse_as_in_the_engine` in tests/test_warehouse.py)."""

from __future__ import annotations

import csv
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("duckdb")

import ratecard
from ratecard.errors import UsageError
from ratecard.warehouse import bill_warehouse
from tests.conftest import RULES

OCR = RULES / "tencent-ocr.rules"


def _csv(path: Path, header: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


def _usage(path: Path, rows: list[tuple[str, str, int]]) -> str:
    return _csv(path, ("account", "time", "action", "count"),
                [(account, time, "VatInvoiceVerify", count) for account, time, count in rows])


def _bills(result: Any) -> dict[tuple[str, str], Decimal]:
    return {(row["account"], row["month"]): row["total"] for row in result.bills.to_pylist()}


def _lines(result: Any, account: str, month: str) -> list[tuple[str, str, str, str | None]]:
    return [
        (row["meter"], row["source"], row["quantity"], row["pack"])
        for row in sorted(result.lines.to_pylist(), key=lambda r: r["line"])
        if row["account"] == account and row["month"] == month
    ]


def _engine(book: Any, journal: list[dict[str, Any]]) -> list[tuple[str, Decimal]]:
    return [(f"{b.month:%Y-%m}", b.total) for b in book.bill(journal)]


def test_the_one_time_grant_of_an_account_opened_that_month(tmp_path: Path) -> None:
    """Tencent OCR gives 50 VatInvoiceVerify calls once, valid 5 years. An account without an
    accounts row opens at its first usage (2026-03-05): its 1,000 + 30 = 1,030 calls draw the
    50 granted calls first, and 1,030 − 50 = 980 are postpaid at 0.30: 980 × 0.30 = 294.00."""
    book = ratecard.load(OCR)
    usage = _usage(tmp_path / "usage.csv", [("a", "2026-03-05T10:00:00+08:00", 1000),
                                            ("a", "2026-03-20T10:00:00+08:00", 30)])
    result = bill_warehouse(book, usage)
    assert _bills(result) == {("a", "2026-03"): Decimal("294.00")}
    assert _lines(result, "a", "2026-03") == [
        ("vat_verify", "grant", "50", "opening"),
        ("vat_verify", "postpaid", "980", None),
    ]
    assert result.stats["accounts_replayed"] == 1


def test_an_accounts_table_opens_accounts_before_their_first_usage(tmp_path: Path) -> None:
    """Account b opened 2026-02-01 (its accounts row): February's bill is 0.00 (no usage).
    March: 30 calls, all from the 50-call grant (20 left): 0.00. April: 40 calls, 20 from the
    grant and 20 postpaid: 20 × 0.30 = 6.00. The engine, given b's journal with its `open`
    entry, bills the same."""
    book = ratecard.load(OCR)
    rows = [("b", "2026-03-05T10:00:00+08:00", 30), ("b", "2026-04-05T10:00:00+08:00", 40)]
    usage = _usage(tmp_path / "usage.csv", rows)
    accounts = _csv(tmp_path / "accounts.csv", ("account", "opened"),
                    [("b", "2026-02-01T00:00:00+08:00")])
    result = bill_warehouse(book, usage, accounts=accounts)
    assert _bills(result) == {
        ("b", "2026-02"): Decimal("0.00"),
        ("b", "2026-03"): Decimal("0.00"),
        ("b", "2026-04"): Decimal("6.00"),
    }
    assert _lines(result, "b", "2026-04") == [
        ("vat_verify", "grant", "20", "opening"),
        ("vat_verify", "postpaid", "20", None),
    ]
    journal = [{"type": "open", "time": "2026-02-01T00:00:00+08:00"}] + [
        {"type": "usage", "time": t, "action": "VatInvoiceVerify", "count": c}
        for _, t, c in rows
    ]
    assert [(m, t) for (_, m), t in sorted(_bills(result).items())] == _engine(book, journal)


def test_a_grant_expires_mid_month(tmp_path: Path) -> None:
    """Account c opened 2021-03-10T00:00+08:00, so its grant is void from
    2026-03-10T00:00+08:00 (5 years). In March 2026: 10 calls on the 9th draw the grant; 10 calls
    on the 11th are postpaid: 10 × 0.30 = 3.00. Both fall in one month, so the warehouse cuts
    the month at the expiry; without the cut the 20 calls would all draw the grant (0.00)."""
    book = ratecard.load(OCR)
    usage = _usage(tmp_path / "usage.csv", [("c", "2026-03-09T12:00:00+08:00", 10),
                                            ("c", "2026-03-11T12:00:00+08:00", 10)])
    accounts = _csv(tmp_path / "accounts.csv", ("account", "opened"),
                    [("c", "2021-03-10T00:00:00+08:00")])
    result = bill_warehouse(book, usage, accounts=accounts, month="2026-03")
    assert _bills(result) == {("c", "2026-03"): Decimal("3.00")}
    assert _lines(result, "c", "2026-03") == [
        ("vat_verify", "grant", "10", "opening"),
        ("vat_verify", "postpaid", "10", None),
    ]


def test_a_bad_opening_row_is_reported_and_skipped(tmp_path: Path) -> None:
    """An accounts row whose `opened` is not a time is bad input, named by its table; the
    account then opens at its first usage (2026-03-05), as without a row: 294.00 (see the first
    test)."""
    book = ratecard.load(OCR)
    usage = _usage(tmp_path / "usage.csv", [("a", "2026-03-05T10:00:00+08:00", 1000),
                                            ("a", "2026-03-20T10:00:00+08:00", 30)])
    accounts = _csv(tmp_path / "accounts.csv", ("account", "opened"), [("a", "last spring")])
    result = bill_warehouse(book, usage, accounts=accounts)
    assert _bills(result) == {("a", "2026-03"): Decimal("294.00")}
    assert [(i.table, i.problem, i.count) for i in result.invalid] == [
        ("accounts", "bad time", 1)]


def test_a_monthly_grant_valid_days_bills_as_in_the_engine(tmp_path: Path) -> None:
    """Tencent OCR plus 10 vat_verify calls a month valid 10 days, drawn first. Account a
    opens 2026-02-20 (its accounts row): March's issue (03-01 00:00) is void from 03-11 00:00.
    March: 5 calls on the 5th (the monthly grant) and 60 on the 20th (the monthly grant is
    void: 50 from the one-time grant, 10 × 0.30 = 3.00). The engine, from the journal with its
    `open` entry, bills the same."""
    text = (OCR.read_text(encoding="utf-8")
            + 'grant trial "试用" / "Trial" 10 per month on vat_verify valid 10 days\n')
    text = text.replace("deduct ", "deduct trial, ", 1)
    book = ratecard.loads(text, "ocr.rules")
    rows = [("a", "2026-03-05T10:00:00+08:00", 5), ("a", "2026-03-20T10:00:00+08:00", 60)]
    usage = _usage(tmp_path / "usage.csv", rows)
    accounts = _csv(tmp_path / "accounts.csv", ("account", "opened"),
                    [("a", "2026-02-20T00:00:00+08:00")])
    result = bill_warehouse(book, usage, accounts=accounts)
    assert _bills(result)[("a", "2026-03")] == Decimal("3.00")
    journal = [{"type": "open", "time": "2026-02-20T00:00:00+08:00"}] + [
        {"type": "usage", "time": t, "action": "VatInvoiceVerify", "count": c}
        for _, t, c in rows
    ]
    assert [(m, t) for (_, m), t in sorted(_bills(result).items())] == _engine(book, journal)


def test_the_warehouse_command_reads_an_accounts_table(tmp_path: Path) -> None:
    """`ratecard warehouse --accounts`: account b opened 2026-02-01 and used 30 calls in March
    and 40 in April: 0.00, 0.00 and 20 × 0.30 = 6.00 (the second test, from the command)."""
    from ratecard.cli import main

    usage = _usage(tmp_path / "usage.csv", [("b", "2026-03-05T10:00:00+08:00", 30),
                                            ("b", "2026-04-05T10:00:00+08:00", 40)])
    accounts = _csv(tmp_path / "accounts.csv", ("account", "opened"),
                    [("b", "2026-02-01T00:00:00+08:00")])
    out = tmp_path / "bills.csv"
    assert main(["warehouse", str(OCR), "--usage", usage, "--accounts", accounts,
                 "--output", str(out), "-q"]) == 0
    assert out.read_text(encoding="utf-8").splitlines() == [
        "account,month,total", "b,2026-02,0.00", "b,2026-03,0.00", "b,2026-04,6.00"]


def test_simulate_reads_an_accounts_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ratecard simulate --accounts`: the grant raised from 50 to 100 calls. Account a opened
    2026-02-01 (its row; February bills 0.00 on both sides) and made 1,030 calls in March: old
    (1,030 − 50) × 0.30 = 294.00, new (1,030 − 100) × 0.30 = 279.00, delta −15.00."""
    import json

    from ratecard.cli import main

    text = OCR.read_text(encoding="utf-8")
    assert '"Free pack on opening" 50 once' in text
    new = tmp_path / "new.rules"
    new.write_text(text.replace('"Free pack on opening" 50 once',
                                '"Free pack on opening" 100 once'), encoding="utf-8")
    usage = _usage(tmp_path / "usage.csv", [("a", "2026-03-05T10:00:00+08:00", 1030)])
    accounts = _csv(tmp_path / "accounts.csv", ("account", "opened"),
                    [("a", "2026-02-01T00:00:00+08:00")])
    assert main(["simulate", str(OCR), str(new), "--usage", usage, "--accounts", accounts,
                 "--json", "-q"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["old_total"], report["new_total"], report["delta"]) == (
        "294.00", "279.00", "-15.00")
    assert [(m["month"], m["old"], m["new"]) for m in report["months"]] == [
        ("2026-02", "0.00", "0.00"), ("2026-03", "294.00", "279.00")]


# --- credits ------------------------------------------------------------------------------------

TRIAL = 'credit trial "试用金" / "Trial credit" 50 once on every meter valid 2 months\n'


def _with_trial() -> Any:
    return ratecard.loads(OCR.read_text(encoding="utf-8") + TRIAL, "ocr-trial.rules")


def test_a_trial_credit_pays_the_first_bills(tmp_path: Path) -> None:
    """Tencent OCR with a 50.00 trial credit granted at the opening, valid 2 months. Account a
    opens at its first usage, 2026-03-05. March: 1,030 calls, 50 from the grant, 980 × 0.30 =
    294.00, of which the credit pays 50.00: total 294.00 − 50.00 = 244.00. April: 100 calls,
    100 × 0.30 = 30.00, the credit spent: 30.00."""
    book = _with_trial()
    usage = _usage(tmp_path / "usage.csv", [("a", "2026-03-05T10:00:00+08:00", 1000),
                                            ("a", "2026-03-20T10:00:00+08:00", 30),
                                            ("a", "2026-04-02T10:00:00+08:00", 100)])
    result = bill_warehouse(book, usage)
    assert _bills(result) == {("a", "2026-03"): Decimal("244.00"),
                              ("a", "2026-04"): Decimal("30.00")}
    credit = [(r["meter"], r["amount"], r["pack"]) for r in result.lines.to_pylist()
              if r["source"] == "credit"]
    assert credit == [("vat_verify", Decimal("-50.00"), "trial")]
    assert _lines(result, "a", "2026-03")[-1] == ("vat_verify", "credit", "0", "trial")


def test_accounts_replayed_in_two_workers_bill_as_in_one(tmp_path: Path) -> None:
    """The trial credit again, four accounts replayed by the engine in two forked workers (their
    lines and credit balances come back from the workers) and in one process. March, each
    account opening at its first usage: a 1,030 calls, (1,030 − 50) × 0.30 = 294.00 − 50.00
    credit = 244.00; b 100 calls, (100 − 50) × 0.30 = 15.00, all paid by the credit (35.00
    left): 0.00; c 200 calls, 150 × 0.30 = 45.00 − 45.00 = 0.00 (5.00 left); d 400 calls,
    350 × 0.30 = 105.00 − 50.00 = 55.00."""
    book = _with_trial()
    usage = _usage(tmp_path / "usage.csv", [("a", "2026-03-05T10:00:00+08:00", 1000),
                                            ("a", "2026-03-20T10:00:00+08:00", 30),
                                            ("b", "2026-03-10T10:00:00+08:00", 100),
                                            ("c", "2026-03-11T10:00:00+08:00", 200),
                                            ("d", "2026-03-12T10:00:00+08:00", 400)])
    two = bill_warehouse(book, usage, workers=2)
    one = bill_warehouse(book, usage, workers=1)
    assert two.stats["drawdown_processes"] == 2
    assert _bills(two) == {("a", "2026-03"): Decimal("244.00"),
                           ("b", "2026-03"): Decimal("0.00"),
                           ("c", "2026-03"): Decimal("0.00"),
                           ("d", "2026-03"): Decimal("55.00")}
    assert two.credits is not None and one.credits is not None
    assert [(r["account"], r["paid"], r["remaining"]) for r in two.credits.to_pylist()] == [
        ("a", Decimal("50.00"), Decimal("0.00")), ("b", Decimal("15.00"), Decimal("35.00")),
        ("c", Decimal("45.00"), Decimal("5.00")), ("d", Decimal("50.00"), Decimal("0.00"))]
    assert two.bills == one.bills
    assert two.lines == one.lines
    assert two.credits == one.credits


def test_a_trial_credit_expires_two_months_after_the_opening_row(tmp_path: Path) -> None:
    """The same account with an accounts row: opened 2026-01-01, its trial credit is valid
    until 2026-03-01 and pays the bills of January and February (0.00: no usage). March:
    294.00, with no credit left. The one-time grant is the opening's too: 50 calls drawn in
    March, (1,030 − 50) × 0.30 = 294.00."""
    book = _with_trial()
    usage = _usage(tmp_path / "usage.csv", [("a", "2026-03-05T10:00:00+08:00", 1030)])
    accounts = _csv(tmp_path / "accounts.csv", ("account", "opened"),
                    [("a", "2026-01-01T00:00:00+08:00")])
    result = bill_warehouse(book, usage, accounts=accounts)
    assert _bills(result) == {("a", "2026-01"): Decimal("0.00"),
                              ("a", "2026-02"): Decimal("0.00"),
                              ("a", "2026-03"): Decimal("294.00")}
    assert not [r for r in result.lines.to_pylist() if r["source"] == "credit"]


def test_a_prepaid_credit_bought_by_an_events_row(tmp_path: Path) -> None:
    """Tencent OCR with a prepaid commitment on vat_verify: account a buys 100.00 of it
    (an events row of type `credit`) on 2026-03-01 and makes 1,030 calls on 2026-03-05. The
    50-call grant is drawn first; 980 × 0.30 = 294.00, of which the commitment pays 100.00:
    194.00, and 0.00 of it remains."""
    text = (OCR.read_text(encoding="utf-8")
            + 'credit commit "预付" / "Commitment" prepaid on vat_verify valid 1 year\n')
    book = ratecard.loads(text, "ocr.rules")
    usage = _usage(tmp_path / "usage.csv", [("a", "2026-03-05T10:00:00+08:00", 1030)])
    events = _csv(tmp_path / "events.csv", ("account", "time", "type", "credit", "amount"),
                  [("a", "2026-03-01T10:00:00+08:00", "credit", "commit", "100.00")])
    result = bill_warehouse(book, usage, events=events)
    assert _bills(result) == {("a", "2026-03"): Decimal("194.00")}
    assert result.credits is not None
    assert [(r["credit"], r["paid"], r["remaining"]) for r in result.credits.to_pylist()] == [
        ("commit", Decimal("100.00"), Decimal("0.00"))]


def test_an_opening_after_the_first_entry_is_reported(tmp_path: Path) -> None:
    """The engine refuses an `open` entry after the journal's first entry; the warehouse reports
    the account (no bill), naming the accounts table and both instants, and bills the others."""
    book = ratecard.load(OCR)
    usage = _usage(tmp_path / "usage.csv", [("a", "2026-03-05T10:00:00+08:00", 10),
                                            ("b", "2026-03-05T10:00:00+08:00", 60)])
    accounts = _csv(tmp_path / "accounts.csv", ("account", "opened"),
                    [("a", "2026-04-01T00:00:00+08:00")])
    result = bill_warehouse(book, usage, accounts=accounts)
    assert _bills(result) == {("b", "2026-03"): Decimal("3.00")}  # (60 − 50) × 0.30
    assert [(p.account, p.month, p.message) for p in result.problems] == [
        ("a", None, "the accounts table opens the account 2026-04-01T00:00:00+08:00, after its "
         "first entry (2026-03-05T10:00:00+08:00): an account opens at or before its first "
         "entry, and its grants are issued then")]
    journal = [{"type": "usage", "time": "2026-03-05T10:00:00+08:00",
                "action": "VatInvoiceVerify", "count": 10},
               {"type": "open", "time": "2026-04-01T00:00:00+08:00"}]
    with pytest.raises(UsageError, match="an `open` entry must be the account's first"):
        book.bill(journal)


def test_openings_may_be_timestamps(tmp_path: Path) -> None:
    """A Parquet accounts table whose `opened` is a timestamp with time zone (an instant) or
    without (wall-clock time in the rules' timezone, Asia/Shanghai): both open account b
    2026-01-31 20:00 +08:00, in January (the wall-clock time read as UTC would be in February):
    January and February 0.00, March 30 calls from the grant, 0.00, April 20 from the grant
    and 20 × 0.30 = 6.00."""
    from datetime import UTC, datetime

    import pyarrow as pa
    import pyarrow.parquet as pq

    book = ratecard.load(OCR)
    assert book.timezone == "Asia/Shanghai"
    rows = [("b", "2026-03-05T10:00:00+08:00", 30), ("b", "2026-04-05T10:00:00+08:00", 40)]
    usage = _usage(tmp_path / "usage.csv", rows)
    for kind, moment in (("us", datetime(2026, 1, 31, 12, tzinfo=UTC)),
                         (None, datetime(2026, 1, 31, 20, 0))):
        path = tmp_path / f"accounts-{kind}.parquet"
        typ = pa.timestamp("us", tz="UTC") if kind else pa.timestamp("us")
        pq.write_table(pa.table({"account": ["b"], "opened": pa.array([moment], typ)}), path)
        result = bill_warehouse(book, usage, accounts=str(path))
        assert _bills(result) == {
            ("b", "2026-01"): Decimal("0.00"),
            ("b", "2026-02"): Decimal("0.00"),
            ("b", "2026-03"): Decimal("0.00"),
            ("b", "2026-04"): Decimal("6.00"),
        }, kind
