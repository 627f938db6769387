"""The warehouse on Spark (local mode, one session for the whole test run: `spark` in
tests/conftest.py): the same bills as the Python engine and as DuckDB, times and roundings as
Python's, whatever the session's time zone."""

from __future__ import annotations

import shutil
import tempfile
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.spark

pytest.importorskip("pyspark", reason="pyspark is not installed (pip install -e '.[dev,spark]')")
if shutil.which("java") is None:
    pytest.skip("Spark needs Java (17): `java` is not on the PATH", allow_module_level=True)

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import ratecard  # noqa: E402
from ratecard.errors import UsageError  # noqa: E402
from ratecard.warehouse import bill_warehouse  # noqa: E402
from ratecard.warehouse.probe import read_times, round_values  # noqa: E402
from tests import test_warehouse_requests as req  # noqa: E402
from tests.conftest import BDA_RULES  # noqa: E402
from tests.test_warehouse import (  # noqa: E402
    _SHIPPED,
    INEXACT_PER_3,
    SHIPPED,
    Row,
    Sheet,
    actual,
    cases,
    compare,
    grant_cases,
    journals,
    run,
    unrounded_cases,
)
from tests.test_warehouse_sql import (  # noqa: E402
    BDA_ROWS,
    HALVES,
    ROUNDING_MODES,
    ZONES,
    engine_reading,
    purchase_file,
    usage_file,
    written_times,
    zone_book,
)
from tests.test_warehouse_versions import Versioned, materialise  # noqa: E402
from tests.test_warehouse_versions import cases as versioned_cases  # noqa: E402
from tests.test_warehouse_versions import compare as compare_versioned  # noqa: E402
from tests.test_warehouse_versions import run as run_versioned  # noqa: E402

SPARK_SETTINGS = settings(
    max_examples=4,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)


@SPARK_SETTINGS
@given(cases(shipped_share=2))
def test_spark_bills_match_the_engine(spark: Any, case: tuple[Sheet, list[Row]]) -> None:
    sheet, rows = case
    compare(sheet, rows, run(sheet, rows, engine="spark", spark=spark))


@settings(SPARK_SETTINGS, max_examples=3)
@given(unrounded_cases())
def test_spark_bills_on_total_and_exact_as_the_engine(
    spark: Any, case: tuple[Sheet, list[Row]]
) -> None:
    """Rules rounded on the total or never: the same SQL as DuckDB's, the engine's bills."""
    sheet, rows = case
    try:
        result = run(sheet, rows, engine="spark", spark=spark)
    except UsageError as exc:  # a price per 3 with no exact unit price, refused
        assert INEXACT_PER_3 in str(exc) and " per 3" in sheet.text, str(exc)
        return
    compare(sheet, rows, result)


@settings(SPARK_SETTINGS, max_examples=3)
@given(grant_cases())
def test_spark_bills_grants_as_the_engine(spark: Any, case: tuple[Sheet, list[Row]]) -> None:
    """Grants, accounts' openings among the inputs: the same SQL as DuckDB's, the engine's
    bills."""
    sheet, rows = case
    compare(sheet, rows, run(sheet, rows, engine="spark", spark=spark, fmt="csv"))


@pytest.mark.parametrize("basis", ["postpaid", "total", "after_allowance"])
def test_spark_bills_closed_low_brackets_at_their_edges(spark: Any, basis: str) -> None:
    """`[lo, hi)` brackets at each bound, one below and one above: Spark as the engine."""
    from tests.test_closed_low import edge_case

    sheet, rows = edge_case(basis)
    compare(sheet, rows, run(sheet, rows, engine="spark", spark=spark))


@settings(SPARK_SETTINGS, max_examples=3)
@given(
    st.sampled_from(SHIPPED).flatmap(
        lambda name: journals(_SHIPPED[name], accounts=5).map(lambda rows: (_SHIPPED[name], rows))
    )
)
def test_spark_and_duckdb_write_the_same_tables(spark: Any, case: tuple[Sheet, list[Row]]) -> None:
    sheet, rows = case
    on_spark = run(sheet, rows, engine="spark", spark=spark, fmt="csv")
    on_duckdb = run(sheet, rows, fmt="csv")
    assert on_spark.bills.to_pylist() == on_duckdb.bills.to_pylist()
    assert on_spark.lines.to_pylist() == on_duckdb.lines.to_pylist()
    assert [(i.problem, i.count) for i in on_spark.invalid] == [
        (i.problem, i.count) for i in on_duckdb.invalid
    ]


@settings(SPARK_SETTINGS, max_examples=3)
@given(versioned_cases())
def test_spark_bills_across_versions_and_contracts_as_the_engine(
    spark: Any, generated: tuple[Versioned, list[Row]]
) -> None:
    """Dated versions and contracts run the same queries and drawdown on Spark: the engine's
    bills, versions, contracts, discounts and true-ups."""
    versioned, rows = generated
    with tempfile.TemporaryDirectory(prefix="ratecard-whv-") as directory:
        case = materialise(versioned, rows, Path(directory))
        compare_versioned(case, run_versioned(case, engine="spark", spark=spark))


@pytest.mark.parametrize("mode", sorted(ROUNDING_MODES))
def test_spark_rounds_like_python(spark: Any, mode: str) -> None:
    """ROUND is half-up and BROUND half-even on .5, as Python's; the other modes by FLOOR."""
    for exponent in (-2, 0, 1):
        increment = Decimal(1).scaleb(exponent)
        expected = [v.quantize(increment, rounding=ROUNDING_MODES[mode]) for v in HALVES]
        assert round_values(HALVES, exponent, mode, engine="spark", spark=spark) == expected


@settings(SPARK_SETTINGS, max_examples=3)
@given(
    st.sampled_from(ZONES).flatmap(
        lambda zone: st.tuples(
            st.just(zone), st.lists(written_times(zone), min_size=50, max_size=200)
        )
    )
)
def test_spark_reads_times_as_the_engine(spark: Any, case: tuple[str, list[str]]) -> None:
    zone, texts = case
    read = read_times(zone_book(zone), texts, engine="spark", spark=spark, full_calendar=True)
    for text, (instant, label, problem) in zip(texts, read, strict=True):
        expected = engine_reading(text, zone)
        if expected is None:
            assert problem == "time out of range", text
        else:
            assert (problem, instant, label) == (None, *expected), text


def test_spark_session_time_zone_does_not_matter(spark: Any, tmp_path: Path) -> None:
    """A session in another zone bills the same, and gets its zone back afterwards."""
    book = ratecard.load(BDA_RULES)
    usage = usage_file(tmp_path / "u.parquet", BDA_ROWS)
    purchases = purchase_file(tmp_path / "p.parquet")
    spark.conf.set("spark.sql.session.timeZone", "America/Los_Angeles")
    try:
        result = bill_warehouse(book, usage, purchases=purchases, engine="spark", spark=spark)
        assert spark.conf.get("spark.sql.session.timeZone") == "America/Los_Angeles"
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    assert [(b["account"], b["month"], b["total"]) for b in result.bills.to_pylist()] == [
        ("a1", "2026-11", Decimal("1798.00")),
        ("a1", "2026-12", Decimal("8.00")),
        ("a2", "2026-11", Decimal("171.00")),
    ]


def test_spark_keeps_every_digit_of_big_amounts(spark: Any, tmp_path: Path) -> None:
    """10^15 units at 0.0000166667 is 16,666,700,000.0000000000 exactly: no precision lost to
    Spark's DECIMAL(38) arithmetic (allowPrecisionLoss is off for the run)."""
    book = ratecard.load(Path(__file__).resolve().parents[1] / "rules" / "aws-lambda.rules")
    rows = [("big", "2026-11-02T00:00:00Z", "DurationGBs", str(10**15))]
    usage = usage_file(tmp_path / "u.parquet", rows)
    on_spark = bill_warehouse(book, usage, engine="spark", spark=spark)
    expected = book.bill(
        [
            {
                "type": "usage",
                "time": "2026-11-02T00:00:00Z",
                "action": "DurationGBs",
                "count": str(10**15),
            }
        ]
    )
    assert [b["total"] for b in on_spark.bills.to_pylist()] == [b.total for b in expected]
    assert on_spark.bills.to_pylist() == bill_warehouse(book, usage).bills.to_pylist()


def test_spark_draws_down_in_one_process(spark: Any, tmp_path: Path) -> None:
    """Asked for two drawdown workers, a Spark run stays in one process (a forked worker would
    share the session's connection to the JVM), bills as before, and the session still
    answers afterwards."""
    book = ratecard.load(BDA_RULES)
    usage = usage_file(tmp_path / "u.parquet", BDA_ROWS)
    purchases = purchase_file(tmp_path / "p.parquet")
    result = bill_warehouse(
        book, usage, purchases=purchases, engine="spark", spark=spark, workers=2
    )
    assert result.stats["drawdown_processes"] == 1
    assert [(b["account"], b["month"], b["total"]) for b in result.bills.to_pylist()] == [
        ("a1", "2026-11", Decimal("1798.00")),
        ("a1", "2026-12", Decimal("8.00")),
        ("a2", "2026-11", Decimal("171.00")),
    ]
    assert spark.range(3).count() == 3


def test_spark_bills_credits_subscriptions_and_fees_as_the_engine(
    spark: Any, tmp_path: Path
) -> None:
    """tests/test_warehouse_sources.py's worked journals on Spark: a prepaid credit bought by an
    events row (bills 0.00, 30.00, 90.00), and subscriptions with a daily limit and a fee
    (170.00, 100.00 and 88.10): the engine's bills, lines and credit balances."""
    import ratecard
    from tests.test_credits import JOURNAL as CREDIT_JOURNAL
    from tests.test_credits import SHEET as CREDIT_SHEET
    from tests.test_subscriptions import SHEET as SEATS
    from tests.test_subscriptions import cancel, subscribe, usage
    from tests.test_warehouse_sources import differential

    credits = ratecard.loads(CREDIT_SHEET, "credits.rules")
    (tmp_path / "c").mkdir()
    differential(tmp_path / "c", credits, {"a": CREDIT_JOURNAL}, engine="spark", spark=spark)
    seats = ratecard.loads(SEATS, "seats.rules")
    a = [subscribe("2026-11-16T00:00:00+08:00", "seats", 2, "s1"),
         usage("2026-11-16T09:00:00+08:00", "Search", 1500),
         usage("2026-11-16T10:00:00+08:00", "Detect", 1000),
         usage("2026-11-17T09:00:00+08:00", "Search", 1500),
         cancel("2026-11-18T12:00:00+08:00", "s1"),
         usage("2026-11-20T09:00:00+08:00", "Search", 700)]
    b = [usage("2026-12-05T09:00:00+08:00", "Detect", 100)]
    (tmp_path / "s").mkdir()
    differential(tmp_path / "s", seats, {"a": a, "b": b}, engine="spark", spark=spark)


@pytest.mark.parametrize("rounding", ["rounding exact", "rounding half_up 0.01"])
def test_spark_bills_counts_in_hours_minimums_and_a_meter_rounding(
    spark: Any, tmp_path: Path, rounding: str
) -> None:
    """tests/test_warehouse_sources.py's code execution in hours on Spark: 0.02 h, 0 h, 0.5 h,
    1 h and 0.0001 h are 300 + 0 + 1,800 + 3,600 + 300 = 6,000 s, 2,400 s past the 3,600
    free, 0.033333 (the meter's own rounding); the bill 0.033333 exact, 0.03 to the cent."""
    import ratecard
    from tests.test_warehouse_sources import HOURS, HOURS_RULES, numeric_differential

    book = ratecard.loads(HOURS_RULES.replace("rounding exact", rounding), "ce.rules")
    result = numeric_differential(tmp_path, book, {"a": HOURS}, engine="spark", spark=spark)
    assert [r["total"] for r in result.bills.to_pylist()] == [
        Decimal("0.033333") if rounding == "rounding exact" else Decimal("0.03")]


@settings(SPARK_SETTINGS, max_examples=2)
@given(st.data(), st.sampled_from(["csv", "parquet"]))
def test_spark_bills_requests_as_the_engine(
    spark: Any, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject, fmt: str
) -> None:
    """A requests table (the Baidu or a per-entry-minimum sheet; some rows bad): its parts
    made in Spark SQL bill as the engine bills the same request entries. (The Anthropic sheet's
    117 meters make a run slow: one worked case below.)"""
    book = data.draw(st.sampled_from([req.BAIDU, ratecard.loads(req.MINIMUM_RULES, "ce.rules")]))
    rows, invalid = data.draw(req.request_rows(book))
    path = req.write(rows, book, tmp_path_factory.mktemp("requests"), fmt)
    result = bill_warehouse(book, None, requests=str(path), engine="spark", spark=spark)
    assert actual(result) == req.oracle(book, rows)
    assert sum(i.count for i in result.invalid) == invalid
    assert not result.problems


def test_spark_bills_requests_beside_usage_as_the_engine(spark: Any, tmp_path: Path) -> None:
    """A Parquet requests table (typed ids, counts and flags; a long-context request at
    200,001 tokens, one at exactly 200,000, two bad rows) beside a CSV usage table of code
    execution: Spark writes DuckDB's bills, lines and bad rows, which are the engine's."""
    rows: list[dict[str, Any]] = [
        {"account": "a", "time": "2026-11-02T10:00:00Z", "action": "messages", "id": "x",
         "model": "claude-opus-4-6", "context_1m": True, "input_tokens": 150_000,
         "cache_read_input_tokens": 50_000, "output_tokens": 10},
        {"account": "a", "time": "2026-11-02T11:00:00Z", "action": "messages", "id": None,
         "model": "claude-opus-4-6", "context_1m": True, "input_tokens": 200_001,
         "output_tokens": 10, "inference_geo": "us", "service_tier": "batch"},
        {"account": "b", "time": "2026-12-02T11:00:00Z", "action": "messages", "id": None,
         "model": "claude-sonnet-4", "context_1m": False, "input_tokens": 300_000},
        {"account": "b", "time": "2026-12-03T11:00:00Z", "action": "messages", "id": None,
         "model": "nonsense", "input_tokens": 3, "_bad": True},
        {"account": "b", "time": "2026-12-04T11:00:00Z", "action": "messages", "id": None,
         "model": "claude-sonnet-4", "input_tokens": -3, "_bad": True},
    ]
    requests = req.write(rows, req.ANTHROPIC, tmp_path, "parquet")
    usage = tmp_path / "usage.csv"
    usage.write_text(
        "account,time,action,count,id\n"
        "a,2026-11-03T00:00:00Z,code_execution,2,y\n"
        "c,2026-11-04T00:00:00Z,code_execution,90000,\n"
    )
    on_spark = bill_warehouse(
        req.ANTHROPIC, str(usage), requests=str(requests), engine="spark", spark=spark
    )
    on_duckdb = bill_warehouse(req.ANTHROPIC, str(usage), requests=str(requests))
    assert actual(on_spark) == req.oracle(
        req.ANTHROPIC, rows,
        [("a", "2026-11-03T00:00:00Z", 2), ("c", "2026-11-04T00:00:00Z", 90000)],
    )
    assert on_spark.bills.to_pylist() == on_duckdb.bills.to_pylist()
    assert on_spark.lines.to_pylist() == on_duckdb.lines.to_pylist()
    assert sorted((i.problem, i.count) for i in on_spark.invalid) == [
        ("bad property", 1), ("bad quantity", 1)]


def test_spark_bills_requests_across_versions_and_a_contract(spark: Any, tmp_path: Path) -> None:
    """The worked bills of test_warehouse_requests (three versions, a contract in November)
    on Spark."""
    book, _, contract = req.versioned(tmp_path)
    path = req.worked_requests(tmp_path / "requests.csv")
    result = bill_warehouse(
        book, None, requests=str(path), contracts={"b": contract}, engine="spark", spark=spark
    )
    assert [(b["account"], b["month"], b["total"]) for b in result.bills.to_pylist()] == (
        req.WORKED_TOTALS
    )


def test_spark_bills_requests_with_grants_and_a_credit(spark: Any, tmp_path: Path) -> None:
    """The worked bills of test_warehouse_requests (grants once and monthly, a trial credit, a
    minimum per entry) on Spark: its request parts replayed by the engine."""
    book = ratecard.loads(req.GRANT_RULES, "gen.rules")
    path = req.granted_requests(tmp_path / "requests.csv")
    result = bill_warehouse(book, None, requests=str(path), engine="spark", spark=spark)
    assert [(b["month"], b["total"]) for b in result.bills.to_pylist()] == req.GRANTED_TOTALS


def test_spark_draws_a_shared_allowance_part_by_part(spark: Any, tmp_path: Path) -> None:
    """The worked bill of test_warehouse_requests on Spark: one row of 199,999 output tokens
    (declared first; 3 USD per million) and 199,999 web searches (10 USD per 1,000) against
    300,000 shared units: 199,999 tokens and 100,001 searches from the pool, 99,998 searches
    billed: 99,998 × 10 / 1,000 = 999.98. A second row on December 1st, 0 tokens (no part)
    and 100 searches: December's fresh pool gives them, 0.00."""
    book = ratecard.loads(req.SHARED_RULES.replace("FIRST", req.OUTPUT)
                          .replace("SECOND", req.SEARCHES), "gen.rules")
    path = tmp_path / "requests.csv"
    path.write_text("account,time,action,output_tokens,web_searches\n"
                    "a,2026-11-02T10:00:00Z,generate,199999,199999\n"
                    "a,2026-12-01T00:00:00Z,generate,0,100\n")
    result = bill_warehouse(book, None, requests=str(path), engine="spark", spark=spark)
    assert [(b["month"], b["total"]) for b in result.bills.to_pylist()] == [
        ("2026-11", Decimal("999.98")), ("2026-12", Decimal("0.00"))]
    assert [(r["month"], r["meter"], r["source"], r["quantity"], str(r["amount"]))
            for r in result.lines.to_pylist()] == [
        ("2026-11", "tokens", "allowance", "199999", "0.00"),
        ("2026-11", "searches", "allowance", "100001", "0.00"),
        ("2026-11", "searches", "postpaid", "99998", "999.98"),
        ("2026-12", "searches", "allowance", "100", "0.00"),
    ]
    rows: list[dict[str, Any]] = [
        {"account": "a", "time": "2026-11-02T10:00:00Z", "action": "generate", "id": None,
         "output_tokens": 199_999, "web_searches": 199_999},
        {"account": "a", "time": "2026-12-01T00:00:00Z", "action": "generate", "id": None,
         "output_tokens": 0, "web_searches": 100},
    ]
    assert actual(result) == req.oracle(book, rows)
