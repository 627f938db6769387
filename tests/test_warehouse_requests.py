"""The warehouse's requests table: each row a `request` entry, billed on DuckDB exactly as the
engine bills the same entries (differential tests on the Anthropic and Baidu sheets), its bad
rows reported, never free."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import ratecard  # noqa: E402
from ratecard.engine.pricebook import PriceBook  # noqa: E402
from ratecard.errors import UsageError  # noqa: E402
from ratecard.warehouse import bill_warehouse  # noqa: E402
from tests.conftest import RULES  # noqa: E402
from tests.test_warehouse import _line, _month, actual  # noqa: E402

# The shipped sheet: code execution counts in hours (made seconds), at least 300 s an
# execution, 5,580,000 s free a month, 0.05 per 3600 s, each line rounded half up to the
# micro-dollar under `rounding exact`.
ANTHROPIC = ratecard.load(RULES / "anthropic-claude.rules")
BAIDU = ratecard.load(RULES / "baidu-image-moderation.rules")
START = datetime(2026, 10, 1, tzinfo=UTC)
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture
    ],
)

MINIMUM_RULES = """\
rules ce "代码执行" / "Code execution"
currency USD, rounding exact, timezone UTC
meter sandbox "沙箱" / "Sandbox"
  unit "秒" / "second"
  quantity at least 60 per entry
request run { quantity sandbox_seconds into sandbox }
allowance 100 per month on sandbox
price sandbox 0.36 per 3600
deduct allowance, postpaid
"""


Row = dict[str, Any]  # a request row: account, time, action, id, quantities and properties


@st.composite
def request_rows(draw: st.DrawFn, book: PriceBook, bad: bool = True) -> tuple[list[Row], int]:
    """Rows of a requests table for `book` (a few accounts over two or three months, some
    ids repeated, some rows bad) and how many are bad."""
    rows: list[Row] = []
    invalid = 0
    for _ in range(draw(st.integers(1, 25))):
        action = draw(st.sampled_from(sorted(book.requests)))
        plan = book.requests[action]
        row: Row = {
            "account": draw(st.sampled_from(["a", "b", "c"])),
            "time": (START + timedelta(minutes=draw(st.integers(0, 80 * 24 * 60)))).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ),
            "action": action,
            "id": draw(st.sampled_from([None, None, "r1", "r2"])),
        }
        for quantity in plan.meters:
            row[quantity] = draw(
                st.none()
                | st.sampled_from([0, 1, 199_999, 200_000, 200_001])
                | st.integers(0, 150_000)
            )
        for name, prop in plan.properties.items():
            choices: list[Any] = [True, False] if prop.values is None else list(prop.values)
            if prop.default is not None:
                choices.append(None)
            row[name] = draw(st.sampled_from(choices))
        kind = draw(st.sampled_from(["good"] * 8 + ["negative", "value", "action"])) if bad \
            else "good"
        if kind == "negative" and not plan.meters:
            kind = "value"
        if kind == "value" and not plan.properties:
            kind = "negative"
        if kind == "negative":
            row[next(iter(plan.meters))] = -draw(st.integers(1, 5))
        elif kind == "value":
            row[next(iter(plan.properties))] = "nonsense"
        elif kind == "action":
            row["action"] = "no_such_request"
        if kind != "good":
            invalid += 1
            row["_bad"] = True
        rows.append(row)
    return rows, invalid


def columns_of(book: PriceBook) -> list[str]:
    names = ["account", "time", "action", "id"]
    for plan in book.requests.values():
        names += [c for c in (*plan.meters, *plan.properties) if c not in names]
    return names


def write(rows: list[Row], book: PriceBook, directory: Path, fmt: str) -> Path:
    names = columns_of(book)
    if fmt == "csv":
        path = directory / "requests.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(names)
            for row in rows:
                writer.writerow(["" if (v := row.get(n)) is None else
                                 ("true" if v is True else "false" if v is False else v)
                                 for n in names])
        return path
    path = directory / "requests.parquet"
    data: dict[str, list[Any]] = {n: [row.get(n) for row in rows] for n in names}
    arrays = {}
    for n, values in data.items():
        if any(type(v) is bool for v in values):
            arrays[n] = pa.array([v if type(v) is bool else None for v in values], pa.bool_())
            if any(v == "nonsense" for v in values):  # a bad value: the column is text
                arrays[n] = pa.array([None if v is None else str(v).lower() for v in values])
        elif any(type(v) is int for v in values):
            arrays[n] = pa.array(values, pa.int64())
        else:
            arrays[n] = pa.array([None if v is None else str(v) for v in values], pa.string())
    pq.write_table(pa.table(arrays), path)
    return path


def oracle(
    book: PriceBook, rows: list[Row], usage: Sequence[tuple[str, str, int | str]] = ()
) -> dict[str, list[Any]]:
    """Each account's bills by the engine, from the good rows as request entries (and usage
    rows `(account, time, count)` of code execution)."""
    journals: dict[str, list[tuple[str, int, dict[str, Any]]]] = {}
    for order, (account, time, count) in enumerate(usage, start=len(rows)):
        journals.setdefault(account, []).append((time, order, {
            "type": "usage", "time": time, "action": "code_execution", "count": count}))
    for order, row in enumerate(rows):
        if row.get("_bad"):
            continue
        plan = book.requests[row["action"]]
        entry: dict[str, Any] = {
            "type": "request",
            "time": row["time"],
            "action": row["action"],
            "quantities": {q: row[q] for q in plan.meters if row.get(q) is not None},
            "properties": {p: row[p] for p in plan.properties if row.get(p) is not None},
        }
        if row["id"] is not None:
            entry["id"] = row["id"]
        journals.setdefault(row["account"], []).append((row["time"], order, entry))
    expected: dict[str, list[Any]] = {}
    for account, timed in journals.items():
        timed.sort(key=lambda t: (t[0], t[1]))
        expected[account] = [
            (_month(bill.month), bill.total, [_line(line) for line in bill.lines])
            for bill in book.bill([entry for *_, entry in timed])
        ]
    return expected


def check(book: PriceBook, rows: list[Row], invalid: int, directory: Path, fmt: str) -> None:
    path = write(rows, book, directory, fmt)
    result = bill_warehouse(book, None, requests=str(path))
    assert actual(result) == oracle(book, rows)
    assert sum(i.count for i in result.invalid) == invalid
    assert not result.problems


HOURS = st.sampled_from(["0", "0.02", "0.0833", "0.0001", "1", "1550", "2.5"]) | st.decimals(
    0, 2000, places=4).map(lambda d: format(d, "f")) | st.integers(0, 50).map(str)


@SETTINGS
@given(st.data(), st.sampled_from(["csv", "parquet"]),
       # No execution (the requests table alone) about half the time.
       st.just([]) | st.lists(st.tuples(st.sampled_from(["a", "b", "d"]),
                                        st.integers(0, 80 * 24 * 60), HOURS),
                              min_size=1, max_size=8))
def test_anthropic_requests_bill_as_the_engine(
    tmp_path: Path, data: st.DataObject, fmt: str, executions: list[tuple[str, int, str]]
) -> None:
    """The shipped Anthropic sheet's requests table (CSV or Parquet), alone when no code
    execution is drawn, else beside a usage table of code execution (a usage action of the
    sheet, counted in hours): billed as one journal of both (each execution made seconds,
    raised to 300 s, its lines rounded to the micro-dollar). Each example bills the sheet's 117
    meters, so both inputs share one property."""
    rows, invalid = data.draw(request_rows(ANTHROPIC))
    usage = [(account, (START + timedelta(minutes=m, seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
              count) for account, m, count in executions]
    usage_path = None
    if usage:
        usage_path = tmp_path / "usage.csv"
        usage_path.write_text("account,time,action,count\n" + "".join(
            f"{a},{t},code_execution,{c}\n" for a, t, c in usage))
    path = write(rows, ANTHROPIC, tmp_path, fmt)
    result = bill_warehouse(ANTHROPIC, None if usage_path is None else str(usage_path),
                            requests=str(path))
    assert actual(result) == oracle(ANTHROPIC, rows, usage)
    assert sum(i.count for i in result.invalid) == invalid
    assert not result.problems


@SETTINGS
@given(st.data(), st.sampled_from(["csv", "parquet"]))
def test_baidu_requests_bill_as_the_engine(tmp_path: Path, data: st.DataObject, fmt: str) -> None:
    rows, invalid = data.draw(request_rows(BAIDU))
    check(BAIDU, rows, invalid, tmp_path, fmt)


@SETTINGS
@given(st.data())
def test_per_entry_minimums_are_per_row(tmp_path: Path, data: st.DataObject) -> None:
    book = ratecard.loads(MINIMUM_RULES, "ce.rules")
    rows, invalid = data.draw(request_rows(book))
    check(book, rows, invalid, tmp_path, "csv")


def test_worked_bill(tmp_path: Path) -> None:
    """Two Anthropic requests in November on claude-sonnet-4-5 (input 3, output 15 USD per
    million tokens; rounding exact):

    - 100,000 input + 2,000 output tokens, batch (× 0.5 on input and output): input
      100,000 × 1.5 / 10^6 = 0.15, output 2,000 × 7.5 / 10^6 = 0.015;
    - 150,000 input + 60,000 cache reads (210,000 > 200,000 with `context_1m`: long context,
      input 6, cache read 0.6, output 22.5 per million) + 1,000 output: 0.9 + 0.036 + 0.0225.

    Total 0.15 + 0.015 + 0.9 + 0.036 + 0.0225 = 1.1235."""
    path = tmp_path / "requests.csv"
    path.write_text(
        "account,time,action,model,service_tier,context_1m,input_tokens,"
        "cache_read_input_tokens,output_tokens\n"
        "a,2026-11-02T10:00:00Z,messages,claude-sonnet-4-5,batch,,100000,,2000\n"
        "a,2026-11-03T10:00:00Z,messages,claude-sonnet-4-5,,true,150000,60000,1000\n"
    )
    result = bill_warehouse(ANTHROPIC, None, requests=str(path))
    assert result.bills.to_pylist() == [
        {"account": "a", "month": "2026-11", "total": Decimal("1.1235")}
    ]
    amounts = sorted(Decimal(r["precise_amount"]) for r in result.lines.to_pylist())
    assert amounts == sorted(
        Decimal(a) for a in ("0.15", "0.015", "0.9", "0.036", "0.0225")
    )


def test_requests_beside_usage(tmp_path: Path) -> None:
    """Anthropic's code execution is a usage action: a usage table beside the requests table
    bills both, as one journal would."""
    requests = tmp_path / "requests.csv"
    requests.write_text(
        "account,time,action,model,input_tokens,output_tokens\n"
        "a,2026-11-02T10:00:00Z,messages,claude-haiku-4-5,1000000,100000\n"
    )
    usage = tmp_path / "usage.csv"
    usage.write_text("account,time,action,count\na,2026-11-02T11:00:00Z,code_execution,60\n")
    result = bill_warehouse(ANTHROPIC, str(usage), requests=str(requests))
    (bill,) = ANTHROPIC.bill([
        {"type": "request", "time": "2026-11-02T10:00:00Z", "action": "messages",
         "quantities": {"input_tokens": 1000000, "output_tokens": 100000},
         "properties": {"model": "claude-haiku-4-5"}},
        {"type": "usage", "time": "2026-11-02T11:00:00Z", "action": "code_execution",
         "count": 60},
    ])
    assert actual(result) == {"a": [(_month(bill.month), bill.total,
                                     [_line(line) for line in bill.lines])]}


def test_bad_rows_are_reported_never_free(tmp_path: Path) -> None:
    path = tmp_path / "requests.csv"
    path.write_text(
        "account,time,action,model,input_tokens\n"
        "a,2026-11-02T10:00:00Z,messages,claude-opus-9,10\n"
        "a,2026-11-02T10:00:00Z,messages,claude-opus-4-6,1.5\n"
        "a,2026-11-02T10:00:00Z,messages,,10\n"
        "a,2026-11-02T10:00:00Z,code_execution,claude-opus-4-6,10\n"
    )
    result = bill_warehouse(ANTHROPIC, None, requests=str(path))
    assert sorted((i.problem, i.count) for i in result.invalid) == [
        ("bad property", 2), ("bad quantity", 1), ("unknown action", 1)]
    assert result.bills.num_rows == 0


def test_an_unknown_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "requests.csv"
    path.write_text("account,time,action,model,input_tokenz\n")
    with pytest.raises(UsageError, match="`input_tokenz` is not a quantity or property"):
        bill_warehouse(ANTHROPIC, None, requests=str(path))


def test_spark_takes_requests() -> None:
    """Spark reads a requests table as DuckDB does (billed alike: test_warehouse_spark.py)."""
    from ratecard.warehouse.api import billable_terms

    assert billable_terms(ANTHROPIC, None, "spark").books == [ANTHROPIC]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_the_threshold_is_strict(tmp_path: Path, fmt: str) -> None:
    """`> 200000` over input and cache tokens: 150,000 + 50,000 is standard, 200,001 long
    context; without `context_1m`, standard whatever the count (as the engine bills them)."""
    rows: list[Row] = [
        {"account": "a", "time": "2026-11-02T10:00:00Z", "action": "messages", "id": None,
         "model": "claude-opus-4-6", "context_1m": True, "input_tokens": 150_000,
         "cache_read_input_tokens": 50_000, "output_tokens": 10},
        {"account": "a", "time": "2026-11-02T11:00:00Z", "action": "messages", "id": None,
         "model": "claude-opus-4-6", "context_1m": True, "input_tokens": 200_001,
         "output_tokens": 10, "inference_geo": "us", "service_tier": "batch"},
        {"account": "b", "time": "2026-11-02T11:00:00Z", "action": "messages", "id": None,
         "model": "claude-sonnet-4", "context_1m": False, "input_tokens": 300_000},
    ]
    check(ANTHROPIC, rows, 0, tmp_path, fmt)


def test_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`ratecard warehouse RULES --requests FILE`: Baidu's page example, porn + both politics
    sub-options on one call: base 2.5 + porn 2.5 + politics 6.3 × 2 = 17.6 元 per 10,000 calls;
    10,000 such calls bill 17.60."""
    from ratecard.cli import main

    path = tmp_path / "requests.csv"
    lines = ["account,time,action,porn,political_figures,public_figures"]
    lines += [f"a,2026-11-02T10:00:{i % 60:02d}+08:00,image_review,true,true,true"
              for i in range(10_000)]
    path.write_text("\n".join(lines) + "\n")
    code = main(["warehouse", str(RULES / "baidu-image-moderation.rules"), "--requests",
                 str(path), "--quiet"])
    assert code == 0
    assert capsys.readouterr().out == "account,month,total\na,2026-11,17.60\n"
    assert main(["warehouse", str(RULES / "baidu-image-moderation.rules")]) == 2
    assert "give --usage, --requests or both" in capsys.readouterr().err


def test_a_parquet_requests_table_beside_a_csv_usage_table(tmp_path: Path) -> None:
    """Column types differ between the tables (a typed id and counts beside text): each is read
    as its own table would be, and the bills are the engine's."""
    rows: list[Row] = [
        {"account": "a", "time": "2026-11-02T10:00:00Z", "action": "messages", "id": "x",
         "model": "claude-opus-4-1", "input_tokens": 1000, "output_tokens": 3},
        {"account": "a", "time": "2026-11-02T10:05:00Z", "action": "messages", "id": "x",
         "model": "claude-opus-4-1", "input_tokens": 5000, "output_tokens": 3},
    ]
    requests = write(rows, ANTHROPIC, tmp_path, "parquet")
    usage = tmp_path / "usage.csv"
    usage.write_text("account,time,action,count,id\na,2026-11-03T00:00:00Z,code_execution,2,y\n")
    result = bill_warehouse(ANTHROPIC, str(usage), requests=str(requests))
    (bill,) = ANTHROPIC.bill([
        {"type": "request", "time": "2026-11-02T10:00:00Z", "action": "messages", "id": "x",
         "quantities": {"input_tokens": 1000, "output_tokens": 3},
         "properties": {"model": "claude-opus-4-1"}},
        {"type": "usage", "time": "2026-11-03T00:00:00Z", "action": "code_execution",
         "count": 2, "id": "y"},
    ])
    assert actual(result) == {"a": [(_month(bill.month), bill.total,
                                     [_line(line) for line in bill.lines])]}


def test_the_shipped_code_execution_bills_as_the_engine(tmp_path: Path) -> None:
    """The shipped sheet in the warehouse, a requests table beside code execution in hours.
    Account a in November: one claude-haiku-4-5 request of 1,000,000 input tokens (1 per
    million: 1) and 100,000 output tokens (5 per million: 0.5); executions of 0.02 h (72 s,
    raised to 300 s), 0 h (0 s, no minimum), 1,550 h (5,580,000 s), 0.5 h (1,800 s) and
    0.0001 h (0.36 s, raised to 300 s): 5,582,400 s, 5,580,000 free, 2,400 s postpaid ×
    0.05 / 3,600 = 0.0333…, rounded half up to the micro-dollar 0.033333. Total 1 + 0.5 +
    0.033333 = 1.533333. Without the minimum it would be 1,872.36 s, 0.026005."""
    requests = tmp_path / "requests.csv"
    requests.write_text(
        "account,time,action,model,input_tokens,output_tokens\n"
        "a,2026-11-02T10:00:00Z,messages,claude-haiku-4-5,1000000,100000\n"
    )
    hours = ["0.02", "0", "1550", "0.5", "0.0001"]
    usage = tmp_path / "usage.csv"
    usage.write_text("account,time,action,count\n" + "".join(
        f"a,2026-11-0{day}T11:00:00Z,code_execution,{count}\n"
        for day, count in enumerate(hours, start=3)))
    result = bill_warehouse(ANTHROPIC, str(usage), requests=str(requests))
    assert not result.problems and not result.invalid
    assert result.bills.to_pylist() == [
        {"account": "a", "month": "2026-11", "total": Decimal("1.533333")}]
    assert [(r["meter"], r["source"], Decimal(r["quantity"]), r["amount"])
            for r in result.lines.to_pylist()] == [
        ("input[claude-haiku-4-5]", "postpaid", 1_000_000, 1),
        ("output[claude-haiku-4-5]", "postpaid", 100_000, Decimal("0.5")),
        ("code_execution", "allowance", 5_580_000, 0),
        ("code_execution", "postpaid", 2_400, Decimal("0.033333")),
    ]
    (bill,) = ANTHROPIC.bill([
        {"type": "request", "time": "2026-11-02T10:00:00Z", "action": "messages",
         "quantities": {"input_tokens": 1000000, "output_tokens": 100000},
         "properties": {"model": "claude-haiku-4-5"}},
        *({"type": "usage", "time": f"2026-11-0{day}T11:00:00Z", "action": "code_execution",
           "count": count} for day, count in enumerate(hours, start=3)),
    ])
    assert actual(result) == {"a": [(_month(bill.month), bill.total,
                                     [_line(line) for line in bill.lines])]}
    assert result.stats["accounts_replayed"] == 0


def test_counts_in_hours_are_checked_in_seconds(tmp_path: Path) -> None:
    """A count in hours is made seconds before it is checked: 0.00001 h is 0.036 s, rounded up
    to 0.0001 s (then raised to 300 s); a negative count or text is a bad row, never free."""
    usage = tmp_path / "usage.csv"
    usage.write_text("account,time,action,count\n"
                     "a,2026-11-03T11:00:00Z,code_execution,0.00001\n"
                     "a,2026-11-03T12:00:00Z,code_execution,-1\n"
                     "a,2026-11-03T13:00:00Z,code_execution,two\n")
    result = bill_warehouse(ANTHROPIC, str(usage))
    assert sorted((i.problem, i.count) for i in result.invalid) == [
        ("bad count", 1), ("negative count", 1)]
    assert [(r["source"], Decimal(r["quantity"])) for r in result.lines.to_pylist()] == [
        ("allowance", 300)]


VERSIONED_RULES = """\
rules gen "生成" / "Generation"
currency USD, rounding half_up 0.01, timezone UTC

meter tokens "令牌" / "Tokens"
meter calls "调用" / "Calls"
meter searches "搜索" / "Searches"

request generate "生成" / "Generate" {
  quantity input_tokens into tokens
  quantity output_tokens into tokens
  quantity web_searches into searches
  property fast bool default false
  charge calls
  charge calls when fast
}

allowance 100000 per month on tokens
price tokens 3 per 1000000
price calls 0.5 per 100
price searches 10 per 1000
deduct allowance, postpaid

from 2026-11-01 {
  allowance 200000 per month on tokens
  price calls 0.4 per 100
}

from 2026-12-01 {
  price tokens 2.5 per 1000000
}
"""

CONTRACT = """\
contract big "大客户" / "Big customer" extends "gen.rules"
accounts b
from 2026-11-01 until 2026-12-01
discount 10% on tokens
minimum spend 5 per month
extra allowance 50000 per month on tokens
price searches 8 per 1000
"""


def versioned(directory: Path) -> tuple[PriceBook, PriceBook, Path]:
    """The versioned sheet, the same under contract `big` (account b, November), and the
    contract's file."""
    (directory / "gen.rules").write_text(VERSIONED_RULES)
    (directory / "big.rules").write_text(CONTRACT)
    book = ratecard.load(directory / "gen.rules")
    return book, book.with_contract(directory / "big.rules"), directory / "big.rules"


def versioned_oracle(
    book: PriceBook, contracted: PriceBook, rows: list[Row]
) -> dict[str, list[Any]]:
    """The engine's bills: account b's by the sheet under its contract, the others' by the
    sheet."""
    return {
        **oracle(book, [r for r in rows if r["account"] != "b"]),
        **oracle(contracted, [r for r in rows if r["account"] == "b"]),
    }


@SETTINGS
@given(st.data(), st.sampled_from(["csv", "parquet"]))
def test_requests_bill_across_versions_and_contracts_as_the_engine(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, fmt: str
) -> None:
    """Rows from October to December: each month billed by the version in effect on its first
    day (November's allowance and calls price, December's tokens price), account b in November
    under its contract (discount, minimum spend, extra allowance, its own searches price)."""
    directory = tmp_path_factory.mktemp("versions")
    book, contracted, contract = versioned(directory)
    rows, invalid = data.draw(request_rows(book))
    path = write(rows, book, directory, fmt)
    result = bill_warehouse(book, None, requests=str(path), contracts={"b": contract})
    assert actual(result) == versioned_oracle(book, contracted, rows)
    assert sum(i.count for i in result.invalid) == invalid
    assert not result.problems


def test_worked_bills_across_versions_and_a_contract(tmp_path: Path) -> None:
    """One request a month from October to December, 300,000 input and 100,000 output tokens,
    10 web searches, `fast` (two calls):

    - October (first version): tokens 400,000 − 100,000 allowance = 300,000 × 3 / 10^6 = 0.90;
      calls 2 × 0.5 / 100 = 0.01; searches 10 × 10 / 1000 = 0.10. Total 1.01.
    - November (from 2026-11-01: allowance 200,000, calls 0.4 / 100): tokens 200,000 × 3 / 10^6
      = 0.60; calls 2 × 0.4 / 100 = 0.008 → 0.01; searches 0.10. Total 0.71.
    - December (from 2026-12-01: tokens 2.5 / 10^6): tokens 200,000 × 2.5 / 10^6 = 0.50;
      calls 0.01; searches 0.10. Total 0.61.

    Account b, under contract `big` in November: allowance 200,000 + 50,000 extra, so tokens
    150,000 × 3 / 10^6 = 0.45, less 10% (−0.045 → −0.05: 0.45 × 0.9 = 0.405 → 0.41, less the
    line's 0.45); calls 0.01; searches 10 × 8 / 1000 = 0.08; 0.41 + 0.01 + 0.08 = 0.50, a
    true-up of 4.50 to the minimum spend of 5. October and December as account a's."""
    book, _, contract = versioned(tmp_path)
    path = worked_requests(tmp_path / "requests.csv")
    result = bill_warehouse(book, None, requests=str(path), contracts={"b": contract})
    assert [(b["account"], b["month"], b["total"]) for b in result.bills.to_pylist()] == (
        WORKED_TOTALS
    )


WORKED_TOTALS = [
    ("a", "2026-10", Decimal("1.01")),
    ("a", "2026-11", Decimal("0.71")),
    ("a", "2026-12", Decimal("0.61")),
    ("b", "2026-10", Decimal("1.01")),
    ("b", "2026-11", Decimal("5.00")),
    ("b", "2026-12", Decimal("0.61")),
]


def worked_requests(path: Path) -> Path:
    """The requests of `test_worked_bills_across_versions_and_a_contract`."""
    path.write_text(
        "account,time,action,input_tokens,output_tokens,web_searches,fast\n" + "".join(
            f"{account},2026-{month}-15T10:00:00Z,generate,300000,100000,10,true\n"
            for account in "ab" for month in ("10", "11", "12")
        )
    )
    return path


GRANT_RULES = """\
rules gen "生成" / "Generation"
currency USD, rounding half_up 0.01, timezone UTC

meter tokens "令牌" / "Tokens"
meter calls "调用" / "Calls"
meter searches "搜索" / "Searches"
meter sandbox "沙箱" / "Sandbox"
  quantity at least 60 per entry

request generate "生成" / "Generate" {
  quantity input_tokens into tokens
  quantity output_tokens into tokens
  quantity web_searches into searches
  quantity sandbox_seconds into sandbox
  property fast bool default false
  charge calls
  charge calls when fast
}

allowance 100000 per month on tokens, calls
grant opening "开通赠送" / "Free on opening" 300000 once on tokens valid 2 months
grant monthly "每月赠送" / "Monthly gift" 3 per month on searches
credit trial "试用金" / "Trial credit" 1 once on every meter valid 3 months
price tokens 3 per 1000000
price calls 0.5 per 100
price searches 10 per 1000
price sandbox 0.36 per 3600
deduct allowance, monthly, opening, postpaid
"""


@SETTINGS
@given(st.data(), st.sampled_from(["csv", "parquet"]))
def test_requests_with_grants_and_credits_bill_as_the_engine(
    tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, fmt: str
) -> None:
    """Grants once and monthly and a credit once: every account is replayed by the engine
    from its opening (its first row), its request parts fed to the replay as the parts the
    engine makes of its request entries."""
    book = ratecard.loads(GRANT_RULES, "gen.rules")
    rows, invalid = data.draw(request_rows(book))
    path = write(rows, book, tmp_path_factory.mktemp("grants"), fmt)
    result = bill_warehouse(book, None, requests=str(path))
    assert actual(result) == oracle(book, rows)
    assert sum(i.count for i in result.invalid) == invalid
    assert not result.problems


GRANTED_TOTALS = [
    ("2026-10", Decimal("0.00")),
    ("2026-11", Decimal("0.05")),
    ("2026-12", Decimal("0.00")),
    ("2027-01", Decimal("11.59")),
]


def granted_requests(path: Path) -> Path:
    """The requests of `test_worked_bills_with_grants_and_a_credit`."""
    path.write_text(
        "account,time,action,input_tokens,output_tokens,web_searches,sandbox_seconds,fast\n"
        "a,2026-10-15T10:00:00Z,generate,300000,100000,10,30,true\n"
        "a,2026-11-15T10:00:00Z,generate,300000,100000,10,,true\n"
        "a,2027-01-15T10:00:00Z,generate,300000,100000,1000,7200,false\n"
    )
    return path


def test_worked_bills_with_grants_and_a_credit(tmp_path: Path) -> None:
    """Three requests of account a (opened at its first, 2026-10-15), by GRANT_RULES:

    - October: 300,000 + 100,000 tokens, 100,000 in the allowance and 300,000 from the opening
      grant (all of it); 2 calls (`fast`) in the allowance; 10 searches, 3 from the monthly
      grant, 7 postpaid × 10 / 1000 = 0.07; 30 sandbox seconds billed as the 60 at least per
      entry, 60 × 0.36 / 3600 = 0.006 → 0.01. The trial credit (1) pays 0.08: total 0.00.
    - November: tokens 300,000 postpaid (the grant is spent) × 3 / 10^6 = 0.90; searches 0.07;
      the credit pays its 0.92 left: total 0.97 − 0.92 = 0.05.
    - December: no requests, 0.00.
    - January (the credit expired on 2027-01-15): tokens 0.90; 1 call in the allowance;
      1,000 searches, 3 granted, 997 × 10 / 1000 = 9.97; 7,200 s × 0.36 / 3600 = 0.72: total
      11.59."""
    book = ratecard.loads(GRANT_RULES, "gen.rules")
    path = granted_requests(tmp_path / "requests.csv")
    result = bill_warehouse(book, None, requests=str(path))
    assert [(b["month"], b["total"]) for b in result.bills.to_pylist()] == GRANTED_TOTALS
    assert [(line["meter"], line["source"], line["amount"]) for line in result.lines.to_pylist()
            if line["month"] == "2026-11" and line["amount"]] == [
        ("tokens", "postpaid", Decimal("0.90")),
        ("tokens", "credit", Decimal("-0.90")),
        ("searches", "postpaid", Decimal("0.07")),
        ("searches", "credit", Decimal("-0.02")),
    ]


def test_a_sheet_with_other_requests_is_refused() -> None:
    """Every sheet a run bills by must make the same parts of a request as the first version
    (no version or contract that loads can differ; a sheet of other rules does)."""
    from ratecard.warehouse.terms import Terms, check_requests

    check_requests(Terms(ANTHROPIC, {"x": ANTHROPIC}))
    with pytest.raises(UsageError, match="a sheet declares its requests otherwise"):
        check_requests(Terms(ANTHROPIC, {"x": BAIDU}))


@pytest.mark.parametrize(("addition", "order", "named"), [
    ('credit commit "预付" / "Prepaid" prepaid on sandbox valid 1 year\n', "allowance",
     "prepaid credit `commit`.*bill by request"),
    ('grant week "周赠" / "Weekly" 50 per month on sandbox valid 7 days\n', "allowance, week",
     "grant `week` is issued per month and valid days.*by request"),
    ('subscription seats "席位" / "Seats", per day, covers sandbox up to 1000 {\n'
     "  (0, ∞)  18\n}\n", "allowance, subscriptions", "subscription `seats` and bill by request"),
])
def test_requests_beside_sources_only_the_replay_draws_are_refused_by_name(
        addition: str, order: str, named: str) -> None:
    """Prepaid credits, monthly grants valid days and subscriptions are billed beside usage
    rows by the engine's replay of those accounts (tests/test_warehouse_sources.py), not beside
    a requests table: the run is refused, naming the credit, grant or subscription."""
    book = ratecard.loads(MINIMUM_RULES.replace("deduct allowance, postpaid\n", "")
                          + addition + f"deduct {order}, postpaid\n", "ce.rules")
    with pytest.raises(UsageError, match=named):
        bill_warehouse(book, None, requests="requests.csv")


SHARED_RULES = """\
rules gen "生成" / "Generation"
currency USD, rounding half_up 0.01, timezone UTC
meter tokens "令牌" / "Tokens"
meter searches "搜索" / "Searches"
request generate { FIRST
  SECOND }
allowance 300000 per month on tokens, searches shared
price tokens 3 per 1000000
price searches 10 per 1000
deduct allowance, postpaid
"""
OUTPUT = "quantity output_tokens into tokens"
SEARCHES = "quantity web_searches into searches"


@pytest.mark.parametrize(("first", "second", "lines", "total"), [
    (OUTPUT, SEARCHES, [("tokens", "allowance", "199999", "0.00"),
                        ("searches", "allowance", "100001", "0.00"),
                        ("searches", "postpaid", "99998", "999.98")], "999.98"),
    (SEARCHES, OUTPUT, [("tokens", "allowance", "100001", "0.00"),
                        ("tokens", "postpaid", "99998", "0.30"),
                        ("searches", "allowance", "199999", "0.00")], "0.30"),
])
def test_a_shared_allowance_is_drawn_by_one_request_part_by_part(
    tmp_path: Path, first: str, second: str, lines: list[tuple[str, ...]], total: str
) -> None:
    """One request row of 199,999 output tokens (3 USD per million) and 199,999 web searches
    (10 USD per 1,000) against 300,000 units a month shared by both meters. The pool runs out
    within the row: its parts draw in the order the rules declare the request's quantities,
    as the engine draws an entry that lists them in that order.

    - Output tokens declared first: 199,999 tokens from the pool (0.00), 300,000 − 199,999 =
      100,001 searches from it (0.00), 199,999 − 100,001 = 99,998 searches billed:
      99,998 × 10 / 1,000 = 999.98.
    - Web searches declared first: 199,999 searches from the pool (0.00), 100,001 tokens from
      it (0.00), 99,998 tokens billed: 99,998 × 3 / 10^6 = 0.299994, rounded half up to 0.30.

    (Drawn in the meters' order, or the other part first, the first sheet would bill 0.30 and
    the second 999.98.)"""
    book = ratecard.loads(SHARED_RULES.replace("FIRST", first).replace("SECOND", second),
                          "gen.rules")
    path = tmp_path / "requests.csv"
    path.write_text("account,time,action,output_tokens,web_searches\n"
                    "a,2026-11-02T10:00:00Z,generate,199999,199999\n")
    result = bill_warehouse(book, None, requests=str(path))
    assert result.bills.to_pylist() == [
        {"account": "a", "month": "2026-11", "total": Decimal(total)}]
    assert [(r["meter"], r["source"], r["quantity"], str(r["amount"]))
            for r in result.lines.to_pylist()] == lines
    rows: list[Row] = [{"account": "a", "time": "2026-11-02T10:00:00Z", "action": "generate",
                        "id": None, "output_tokens": 199_999, "web_searches": 199_999}]
    assert actual(result) == oracle(book, rows)


#: A request feeding three meters of one shared pool (two quantities into one meter, declared
#: apart from the meters' order; a charge on every request, one more on a property) and another
#: request feeding one of them: the pool runs out in most months of a few large rows.
POOLED_RULES = """\
rules gen "生成" / "Generation"
currency USD, rounding half_up 0.01, timezone UTC
meter tokens "令牌" / "Tokens"
meter searches "搜索" / "Searches"
meter calls "调用" / "Calls"
request generate "生成" / "Generate" {
  property cite bool default false
  quantity web_searches into searches
  quantity output_tokens into tokens
  quantity input_tokens into tokens
  charge calls
  charge searches when cite
}
request search "搜索" / "Search" { quantity queries into searches }
allowance 300000 per month on tokens, searches, calls shared
price tokens 3 per 1000000
price searches 10 per 1000
price calls 1 per 1000
deduct allowance, postpaid
"""
POOLED = ratecard.loads(POOLED_RULES, "gen.rules")


@SETTINGS
@given(st.data(), st.sampled_from(["csv", "parquet"]))
def test_requests_feeding_a_shared_allowance_bill_as_the_engine(
    tmp_path: Path, data: st.DataObject, fmt: str
) -> None:
    """Random request journals on a sheet whose request feeds several meters of a shared
    allowance that runs out: the warehouse bills what `ratecard bill` bills."""
    rows, invalid = data.draw(request_rows(POOLED))
    check(POOLED, rows, invalid, tmp_path, fmt)


@pytest.mark.parametrize("fast", [True, False])
def test_a_requests_parts_draw_in_the_rules_order_whatever_the_entrys_key_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast: bool
) -> None:
    """The engine's side of the worked bill above (output tokens declared first): an entry
    that lists web searches before output tokens still draws the shared pool in the rules'
    order, so it bills 999.98 (199,999 tokens and 100,001 searches from the 300,000 pool,
    99,998 searches × 10 / 1,000), as one that lists them in the rules' order does. A JSON
    object's keys have no order a bill may depend on. Read from JSON Lines by the shortcut
    and by the checking path, and fed to an `Account` as mappings."""
    from ratecard.engine.journal import JsonLinesFile

    monkeypatch.setattr(JsonLinesFile, "fast", fast)
    book = ratecard.loads(SHARED_RULES.replace("FIRST", OUTPUT).replace("SECOND", SEARCHES),
                          "gen.rules")
    for quantities in ({"output_tokens": 199_999, "web_searches": 199_999},
                       {"web_searches": 199_999, "output_tokens": 199_999}):
        entry = {"time": "2026-11-02T10:00:00Z", "type": "request", "action": "generate",
                 "quantities": quantities}
        path = tmp_path / "journal.jsonl"
        path.write_text(json.dumps(entry) + "\n")
        bills = book.bill(path)
        assert isinstance(bills, list)
        assert [b.total for b in bills] == [Decimal("999.98")]
        account = ratecard.Account(book)
        account.feed([entry])
        assert [b.total for b in account.close_through("2026-11")] == [Decimal("999.98")]
