"""The warehouse's requests table: each row a `request` entry, billed on DuckDB exactly as the
engine bills the same entries (differential tests on the Anthropic and Baidu sheets), its bad
rows reported, never free."""

from __future__ import annotations

import csv
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


@SETTINGS
@given(st.data(), st.sampled_from(["csv", "parquet"]))
def test_anthropic_requests_bill_as_the_engine(
    tmp_path: Path, data: st.DataObject, fmt: str
) -> None:
    rows, invalid = data.draw(request_rows(ANTHROPIC))
    check(ANTHROPIC, rows, invalid, tmp_path, fmt)


HOURS = st.sampled_from(["0", "0.02", "0.0833", "0.0001", "1", "1550", "2.5"]) | st.decimals(
    0, 2000, places=4).map(lambda d: format(d, "f")) | st.integers(0, 50).map(str)


@SETTINGS
@given(st.data(), st.lists(st.tuples(st.sampled_from(["a", "b", "d"]),
                                     st.integers(0, 80 * 24 * 60), HOURS),
                           max_size=8))
def test_anthropic_requests_beside_usage_bill_as_the_engine(
    tmp_path: Path, data: st.DataObject, executions: list[tuple[str, int, str]]
) -> None:
    """Code execution is a usage action of the shipped Anthropic sheet, counted in hours: a
    usage table beside the requests table, billed as one journal of both (each execution
    made seconds, raised to 300 s, its lines rounded to the micro-dollar)."""
    rows, invalid = data.draw(request_rows(ANTHROPIC))
    usage = [(account, (START + timedelta(minutes=m, seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ"),
              count) for account, m, count in executions]
    usage_path = tmp_path / "usage.csv"
    usage_path.write_text("account,time,action,count\n" + "".join(
        f"{a},{t},code_execution,{c}\n" for a, t, c in usage))
    path = write(rows, ANTHROPIC, tmp_path, "csv")
    result = bill_warehouse(ANTHROPIC, str(usage_path), requests=str(path))
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


def test_spark_refuses_requests() -> None:
    from ratecard.warehouse.api import billable_terms

    with pytest.raises(UsageError, match="requests table on DuckDB only"):
        billable_terms(ANTHROPIC, None, "spark")


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
