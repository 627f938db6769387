"""The warehouse's SQL: only the allowed operations, snapshots per engine, times read and amounts
rounded exactly as Python does; input schemas, bad rows, outputs and the command line."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Decimal,
)
from pathlib import Path
from zoneinfo import ZoneInfo

import attrs
import pytest

pytest.importorskip("duckdb")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from sqlglot import exp  # noqa: E402

import ratecard  # noqa: E402
from ratecard.cli import main  # noqa: E402
from ratecard.engine.clock import TimeError, month_label, month_of, parse_time  # noqa: E402
from ratecard.engine.pricebook import PriceBook  # noqa: E402
from ratecard.warehouse import (  # noqa: E402
    InvalidInputError,
    SchemaError,
    bill_warehouse,
)
from ratecard.warehouse.months import calendar_rows, wall_micros  # noqa: E402
from ratecard.warehouse.probe import read_times, round_values  # noqa: E402
from ratecard.warehouse.queries import Queries, UsagePlan  # noqa: E402
from ratecard.warehouse.schema import BILL_COLUMNS, LINE_COLUMNS  # noqa: E402
from ratecard.warehouse.sql import (  # noqa: E402
    DIALECTS,
    DUCKDB,
    OperationError,
    Operations,
    check_operations,
    render,
)
from tests.conftest import BDA_RULES, RULES  # noqa: E402

# --- the set of operations -----------------------------------------------------------------------


def all_queries(book: PriceBook, dialect: str) -> dict[str, exp.Expression]:
    """Every query the warehouse builds for a book, for the plans an input may lead to."""
    q = Queries(book, dialect)
    plan = UsagePlan(
        count_kind="string",
        count_scale=None,
        account_kind="string",
        time_kind="string",
        id_kind="string",
        has_cuts=True,
        cut_columns=0,
        spans=True,
        late=True,
    )
    cut_spans = attrs.evolve(plan, spans_of_cut_only=True)
    plain = UsagePlan(
        count_kind="integer",
        count_scale=None,
        account_kind="integer",
        time_kind="instant",
        id_kind=None,
        has_cuts=False,
        cut_columns=0,
        spans=False,
        late=False,
        count_largest=2**63 - 1,  # BIGINT: never over the count limit, never checked
    )
    ladders = [(i, p.ladder) for i, p in enumerate(book.meters) if p.ladder is not None]
    shared = {book.meters[0].pool: [0, len(book.meters) - 1]}
    return {
        "usage_groups": q.usage_groups(plan),
        "usage_groups_plain": q.usage_groups(plain),
        "usage_groups_huge_integers": q.usage_groups(attrs.evolve(plain, count_largest=2**127 - 1)),
        "usage_groups_wide_cuts": q.usage_groups(attrs.evolve(plan, cut_columns=2)),
        "usage_groups_spans_of_cut_only": q.usage_groups(cut_spans),
        "problem_samples": q.problem_samples(plan, 5),
        "detail_keys": q.detail_keys(shared, book),
        "detail": q.detail(plan, [0]),
        "plain_quantities": q.plain_quantities(),
        "plain_period": q.plain_period(),
        "plain_ranges": q.plain_ranges(True),
        "plain_ranges_no_history": q.plain_ranges(False),
        "held_ranges": q.held_ranges(),
        "eventful_groups": q.eventful_groups(False),
        "postpaid_lines": q.postpaid_lines(ladders, 4, 4),
        "postpaid_lines_limited": q.postpaid_lines(
            ladders, 4, 4, {0: Decimal("1E+27"), 1: Decimal("5E+26")}
        ),
        "too_large": q.too_large({0: Decimal("1E+27"), 1: Decimal("5E+26")}),
        "contact_sales": q.contact_sales(),
        "bill_lines": q.bill_lines(2, True, True),
        "bill_months": q.bill_months(True),
        "output_bills": q.output_bills(2, True, None),
        "output_lines": q.output_lines(True, 24322),
    }


BOOKS = ("tencent-bda.rules", "aws-lambda.rules", "google-geocoding.rules")


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("name", BOOKS)
def test_every_query_uses_only_the_operations(name: str, dialect: str) -> None:
    book = ratecard.load(RULES / name)
    for query in all_queries(book, dialect).values():
        check_operations(query, dialect)
        text = render(query, dialect)
        assert "/" not in text.replace("'", "")  # no division anywhere outside strings
        assert "DOUBLE" not in text and "FLOAT" not in text


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("rounding", ["half_even 0.01 on total", "exact"])
def test_queries_on_total_and_exact_use_only_the_operations(rounding: str, dialect: str) -> None:
    """The BDA sheet rounded on the total or never: its lines keep the precise amount (no
    rounding in `postpaid_lines`), and on total a bill's one rounding is of its sum, the
    contract's true-up (meter `*`, number 4 of BDA's 4 meters) added after it."""
    text = (RULES / "tencent-bda.rules").read_text(encoding="utf-8").replace(
        "rounding half_up 0.01", f"rounding {rounding}")
    book = ratecard.loads(text, "bda.rules")
    q = Queries(book, dialect)
    queries = {
        **all_queries(book, dialect),
        "bill_lines_totals_only": q.bill_lines(5, True, True, numbered=False, contracts=True),
        "output_bills_contracts": q.output_bills(2, True, None, None, contracts=True),
    }
    for query in queries.values():
        check_operations(query, dialect)
        assert "/" not in render(query, dialect).replace("'", "")
    half_even = "ROUND_EVEN" if dialect == DUCKDB else "BROUND"
    assert half_even not in render(queries["postpaid_lines"], dialect)
    with_true_up = render(queries["output_bills_contracts"], dialect)
    assert (with_true_up.count(half_even), "meter = 4" in with_true_up) == (
        (1, True) if rounding.endswith("on total") else (0, False))


@pytest.mark.parametrize(
    ("tree", "why"),
    [
        (exp.Div(this=exp.column("a"), expression=exp.Literal.number(2)), "Div"),
        (exp.Cast(this=exp.column("a"), to=exp.DataType.build("DOUBLE")), "DOUBLE"),
        (exp.Literal.number("0.5"), "whole number"),
        (exp.Cast(this=exp.column("a"), to=exp.DataType.build("DECIMAL")), "declared DECIMAL"),
        (exp.Anonymous(this="CONVERT_TIMEZONE", expressions=[exp.column("a")]), "CONVERT_TIMEZONE"),
        (exp.CurrentTimestamp(), "CurrentTimestamp"),
    ],
)
def test_constructs_outside_the_set_are_rejected(tree: exp.Expression, why: str) -> None:
    query = exp.select(tree).from_("t")
    with pytest.raises(OperationError, match=why):
        check_operations(query, "duckdb")


@pytest.mark.parametrize("dialect", DIALECTS)
def test_generated_sql_snapshot(dialect: str, snapshot: object) -> None:
    """The BDA sheet's SQL per engine: a change to the SQL is a reviewed snapshot update."""
    book = ratecard.load(BDA_RULES)
    texts = {name: render(query, dialect) for name, query in all_queries(book, dialect).items()}
    assert texts == snapshot


# --- exact rounding ------------------------------------------------------------------------------

HALVES = [
    Decimal(s)
    for s in (
        "0.125",
        "-0.125",
        "0.135",
        "-0.135",
        "2.5",
        "-2.5",
        "3.5",
        "0.005",
        "-0.005",
        "1.0049999",
        "0",
        "123456789.995",
        "0.005000000000000001",
        "-7.25",
        "7.245",
    )
]


#: How each rounding mode of the language rounds (docs/language.md), written out here: the
#: expected values are not taken from the engine's own table.
ROUNDING_MODES = {
    "half_up": ROUND_HALF_UP,
    "half_even": ROUND_HALF_EVEN,
    "half_down": ROUND_HALF_DOWN,
    "up": ROUND_UP,
    "down": ROUND_DOWN,
    "ceiling": ROUND_CEILING,
    "floor": ROUND_FLOOR,
}


def test_the_modes_are_the_language_s() -> None:
    """Every mode above compiles in a rules file, and a mode not above does not."""
    for mode in ROUNDING_MODES:
        book = ratecard.loads(RULES_WITH_ROUNDING.format(mode=mode), "modes.rules")
        assert book.rounding.mode == mode
    with pytest.raises(ratecard.RulesError, match="E105"):
        ratecard.loads(RULES_WITH_ROUNDING.format(mode="half_odd"), "modes.rules")


RULES_WITH_ROUNDING = """rules modes "M" / "M"
currency CNY, rounding {mode} 0.01, timezone UTC
meter m "M" / "M" counts A
ladder volume by total per month on m {{
  (0, ∞) 0.001
}}
"""


@pytest.mark.parametrize(("mode", "expected"), [
    ("half_up", ["0.13", "-0.13", "0.14", "-0.14", "0.00", "0.00"]),
    ("half_even", ["0.12", "-0.12", "0.14", "-0.14", "0.00", "0.00"]),
    ("half_down", ["0.12", "-0.12", "0.13", "-0.13", "0.00", "0.00"]),
    ("up", ["0.13", "-0.13", "0.14", "-0.14", "0.01", "-0.01"]),
    ("down", ["0.12", "-0.12", "0.13", "-0.13", "0.00", "0.00"]),
    ("ceiling", ["0.13", "-0.12", "0.14", "-0.13", "0.01", "0.00"]),
    ("floor", ["0.12", "-0.13", "0.13", "-0.14", "0.00", "-0.01"]),
])
def test_duckdb_rounds_the_worked_values(mode: str, expected: list[str]) -> None:
    """0.125, -0.125, 0.135, -0.135, 0.001 and -0.001 to 0.01 in each mode, worked by hand."""
    values = [Decimal(v) for v in ("0.125", "-0.125", "0.135", "-0.135", "0.001", "-0.001")]
    assert round_values(values, -2, mode) == [Decimal(e) for e in expected]


@pytest.mark.parametrize("mode", sorted(ROUNDING_MODES))
@pytest.mark.parametrize("exponent", [-2, 0, -3, 1])
def test_duckdb_rounds_like_python(mode: str, exponent: int) -> None:
    increment = Decimal(1).scaleb(exponent)
    expected = [v.quantize(increment, rounding=ROUNDING_MODES[mode]) for v in HALVES]
    assert round_values(HALVES, exponent, mode) == expected


@settings(max_examples=15, deadline=None)
@given(
    st.lists(
        st.decimals(
            min_value=-(10**9), max_value=10**9, places=6, allow_nan=False, allow_infinity=False
        ),
        min_size=1,
        max_size=40,
    ),
    st.sampled_from(sorted(ROUNDING_MODES)),
    st.sampled_from([-2, -1, 0, 1]),
)
def test_duckdb_rounds_any_decimal_like_python(
    values: list[Decimal], mode: str, exponent: int
) -> None:
    increment = Decimal(1).scaleb(exponent)
    expected = [v.quantize(increment, rounding=ROUNDING_MODES[mode]) for v in values]
    assert round_values(values, exponent, mode) == expected


def test_half_even_is_not_half_up() -> None:
    """The engine's half-even function differs from ROUND exactly on .5."""
    assert (
        round_values([Decimal("0.125")], -2, "half_even")
        == [Decimal("0.125").quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)]
        == [Decimal("0.12")]
    )


# --- times ---------------------------------------------------------------------------------------

ZONES = ("UTC", "Asia/Shanghai", "America/Los_Angeles", "Europe/Berlin", "Australia/Lord_Howe")
OFFSETS = ("Z", "+08:00", "-05:00", "+0530", "+01", "-00:00", "+14:00", "-10:30", "+18:00",
           "-1745")


@st.composite
def written_times(draw: st.DrawFn, zone: str) -> str:
    """A time in the forms the warehouse reads, around month ends and offset changes."""
    base = draw(
        st.sampled_from(
            (
                datetime(2026, 3, 8, tzinfo=UTC),
                datetime(2026, 11, 1, tzinfo=UTC),
                datetime(2026, 3, 29, tzinfo=UTC),
                datetime(2026, 10, 4, tzinfo=UTC),
                datetime(1949, 5, 1, tzinfo=UTC),
                datetime(2099, 12, 31, tzinfo=UTC),
                datetime(1900, 1, 1, tzinfo=UTC),
            )
        )
    )
    moment = base + timedelta(seconds=draw(st.integers(-3 * 86400, 3 * 86400)))
    moment = moment.replace(microsecond=draw(st.sampled_from((0, 1, 500000, 999999))))
    sep = draw(st.sampled_from(("T", " ")))
    spec = draw(st.sampled_from(("minutes", "seconds", "milliseconds", "microseconds", "auto")))
    if draw(st.booleans()):
        wall = moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
        if draw(st.integers(0, 2)) == 0:  # on the hour: skipped and repeated times included
            wall = wall.replace(minute=draw(st.sampled_from((0, 30))), second=0, microsecond=0)
        return (
            wall.date().isoformat()
            if spec == "auto" and draw(st.booleans())
            else wall.isoformat(sep=sep, timespec=spec)
        )
    offset = draw(st.sampled_from(OFFSETS))
    sign = -1 if offset.startswith("-") else 1
    digits = offset[1:].replace(":", "") if offset != "Z" else "0000"
    delta = sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
    return (moment + delta).replace(tzinfo=None).isoformat(sep=sep, timespec=spec) + offset


def mutated(text: str, draw: st.DrawFn) -> str:
    """A near miss: a character changed, dropped or added."""
    position = draw(st.integers(0, len(text)))
    change = draw(st.sampled_from(("drop", "swap", "add")))
    char = draw(st.sampled_from(" T:-+.Z0129atz/"))
    if change == "drop" and position < len(text):
        return text[:position] + text[position + 1 :]
    if change == "swap" and position < len(text):
        return text[:position] + char + text[position + 1 :]
    return text[:position] + char + text[position:]


def engine_reading(text: str, zone: str) -> tuple[int, str] | None:
    try:
        moment = parse_time(text, ZoneInfo(zone))
    except TimeError:
        return None
    return moment, month_label(month_of(moment, ZoneInfo(zone)))


def zone_book(zone: str) -> PriceBook:
    return ratecard.loads(f"""
        rules t "T" / "T"
        currency USD, rounding half_up 0.01, timezone {zone}
        meter m "M" / "M" counts Call
        ladder volume by total per month on m {{ (0, ∞) 1 }}
        deduct postpaid
    """)


@settings(max_examples=30, deadline=None)
@given(
    st.sampled_from(ZONES).flatmap(
        lambda zone: st.tuples(
            st.just(zone), st.lists(written_times(zone), min_size=1, max_size=60)
        )
    )
)
def test_times_are_read_as_the_engine_reads_them(case: tuple[str, list[str]]) -> None:
    """Every time of the documented forms: the engine's instant and month, to the microsecond."""
    zone, texts = case
    read = read_times(zone_book(zone), texts, full_calendar=True)
    for text, (instant, label, problem) in zip(texts, read, strict=True):
        expected = engine_reading(text, zone)
        if expected is None:  # before 1900: the engine refuses it too
            assert problem == "time out of range", text
        else:
            assert problem is None, text
            assert (instant, label) == expected, text


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(ZONES), st.data())
def test_a_time_the_warehouse_accepts_is_the_engines(zone: str, data: st.DataObject) -> None:
    """Near misses: whatever the warehouse reads, the engine reads the same; the rest is
    reported (the engine may accept more spellings, e.g. `2026-11-02T10`)."""
    texts = [mutated(data.draw(written_times(zone)), data.draw) for _ in range(40)]
    for text, (instant, label, problem) in zip(
        texts, read_times(zone_book(zone), texts, full_calendar=True), strict=True
    ):
        if problem is None:
            assert (instant, label) == engine_reading(text, zone), text
        else:
            assert problem in ("bad time", "time out of range", "missing time"), text


def test_offsets_beyond_18_hours_are_reported() -> None:
    """Python reads offsets up to ±23:59, Java (so Spark) up to ±18:00: the warehouse reads the
    range both do and reports the rest rather than bill them differently per engine."""
    texts = ["2026-03-08T12:00+18:00", "2026-03-08T12:00:00-18", "2026-03-08T12:00+18:01",
             "2026-03-08T12:00:00-2359"]
    problems = [p for _, _, p in read_times(zone_book("UTC"), texts)]
    assert problems == [None, None, "bad time", "bad time"]


def test_bad_times_are_named() -> None:
    texts = [
        "",
        None,
        "yesterday",
        "2026-02-30T10:00:00Z",
        "2026-11-02T24:00:00Z",
        "1899-12-31T10:00:00Z",
        "2026-11-02t10:00:00Z",
        "2026-11-02T10:00:00.1234567Z",
        "2026-11-02T10:00:00+24:00",
        " 2026-11-02T10:00:00Z",
        "2026-11-02T10:00:00Z\n",
    ]
    problems = [p for _, _, p in read_times(zone_book("UTC"), texts)]
    assert problems == [
        "missing time",
        "missing time",
        "bad time",
        "bad time",
        "bad time",
        "time out of range",
        "bad time",
        "bad time",
        "bad time",
        "bad time",
        "bad time",
    ]


@pytest.mark.parametrize("zone", ZONES)
def test_calendar_reads_wall_times_as_python_does(zone: str) -> None:
    """Around every offset change of 2026 and 1949: the calendar's offset for a wall time is
    Python's (`fold=0`: a skipped time before the change, a repeated one the first)."""
    tz = ZoneInfo(zone)
    rows = {r.ord: r for r in calendar_rows(zone, 1)}
    start = datetime(1949, 1, 1)
    walls = [start + timedelta(minutes=15 * k) for k in range(0, 4 * 24 * 366)]
    walls += [datetime(2026, 1, 1) + timedelta(minutes=15 * k) for k in range(4 * 24 * 366)]
    for wall in walls:
        row = rows[wall.year * 12 + wall.month - 1]
        micros = wall_micros(wall)
        offset = row.off0
        if row.sw1 is not None and micros >= row.sw1:
            offset = row.off1
        if row.sw2 is not None and micros >= row.sw2:
            offset = row.off2
        expected = tz.utcoffset(wall)
        assert expected is not None
        assert offset == expected // timedelta(microseconds=1), (zone, wall)


# --- inputs, bad rows and outputs ----------------------------------------------------------------

BDA_ROWS = [
    ("a1", "2026-11-02T10:00:00+08:00", "DetectBody", 600000),
    ("a1", "2026-11-03T10:00:00+08:00", "DetectBodyJoints", 400000),
    ("a1", "2026-11-30T20:00:00Z", "SearchTrace", 5000),  # 2026-12-01 04:00 in Shanghai
    ("a2", "2026-11-05", "SegmentPortraitPic", 20000),
    ("a2", "2026-11-05 10:00", "GetGroupList", 3),
]


def usage_file(path: Path, rows: list[tuple[str, str, str, object]], count: object = None) -> str:
    counts = [r[3] for r in rows]
    table = pa.table(
        {
            "account": [r[0] for r in rows],
            "time": [r[1] for r in rows],
            "action": [r[2] for r in rows],
            "count": pa.array(counts, count) if count is not None else counts,
        }
    )
    pq.write_table(table, path)
    return str(path)


def purchase_file(path: Path) -> str:
    pq.write_table(
        pa.table(
            {
                "account": ["a1"],
                "time": ["2026-11-02T12:00:00+08:00"],
                "meter": ["detection"],
                "size": ["10万"],
            }
        ),
        path,
    )
    return str(path)


def test_worked_bda_month(tmp_path: Path) -> None:
    """a1: DetectBody 600,000 on Nov 2 (before the 10万 pack, bought at 12:00): 1,000 from the
    allowance, 599,000 postpaid; Joints 400,000 on Nov 3: 100,000 from the pack, 300,000
    postpaid. Postpaid 899,000 × 0.002 = 1,798.00. SearchTrace at 20:00Z on Nov 30 is Dec 1 in
    Shanghai: 1,000 free, 4,000 × 0.002 = 8.00 in December. a2: segmentation 20,000 − 1,000 free
    = 19,000 in (1万, 10万] at 0.009 = 171.00; GetGroupList is free."""
    book = ratecard.load(BDA_RULES)
    result = bill_warehouse(
        book,
        usage_file(tmp_path / "u.parquet", BDA_ROWS),
        purchases=purchase_file(tmp_path / "p.parquet"),
    )
    assert [(b["account"], b["month"], b["total"]) for b in result.bills.to_pylist()] == [
        ("a1", "2026-11", Decimal("1798.00")),
        ("a1", "2026-12", Decimal("8.00")),
        ("a2", "2026-11", Decimal("171.00")),
    ]
    lines = [
        (
            r["account"],
            r["month"],
            r["line"],
            r["meter"],
            r["source"],
            r["quantity"],
            r["amount"],
            r["pack"],
        )
        for r in result.lines.to_pylist()
    ]
    assert lines[:3] == [
        ("a1", "2026-11", 1, "detection", "allowance", "1000", Decimal("0.00"), None),
        ("a1", "2026-11", 2, "detection", "pack", "100000", Decimal("0.00"), "detection:100000#1"),
        ("a1", "2026-11", 3, "detection", "postpaid", "899000", Decimal("1798.00"), None),
    ]


def test_worked_pack_holder_with_meters_drawn_in_the_database(tmp_path: Path) -> None:
    """a1 buys a detection 10万 pack on Sep 20: DetectBody 3,000 on Oct 10, SegmentPortraitPic
    5,000 on Nov 5. Its segmentation holds no lots, so it is drawn down in the database with the
    plain accounts (min(5,000, 1,000) from the allowance, the rest postpaid, computed in SQL: no
    distinct quantity goes to Python), its detection in Python; its months run from the
    purchase to the last entry, which Python does not see: September 0.00; October: detection
    1,000 free + 2,000 from the pack = 0.00; November: segmentation 1,000 free + 4,000 × 0.01 =
    40.00. The engine bills the same journal alike."""
    book = ratecard.load(BDA_RULES)
    rows = [
        ("a1", "2026-10-10T09:00:00+08:00", "DetectBody", 3000),
        ("a1", "2026-11-05T09:00:00+08:00", "SegmentPortraitPic", 5000),
    ]
    pq.write_table(
        pa.table({"account": ["a1"], "time": ["2026-09-20T10:00:00+08:00"],
                  "meter": ["detection"], "size": ["10万"]}),
        tmp_path / "p.parquet",
    )
    result = bill_warehouse(
        book, usage_file(tmp_path / "u.parquet", rows), purchases=str(tmp_path / "p.parquet")
    )
    bills = [(b["account"], b["month"], b["total"]) for b in result.bills.to_pylist()]
    assert bills == [
        ("a1", "2026-09", Decimal("0.00")),
        ("a1", "2026-10", Decimal("0.00")),
        ("a1", "2026-11", Decimal("40.00")),
    ]
    lines = [
        (r["month"], r["line"], r["meter"], r["source"], r["quantity"], r["amount"], r["pack"])
        for r in result.lines.to_pylist()
    ]
    assert lines == [
        ("2026-10", 1, "detection", "allowance", "1000", Decimal("0.00"), None),
        ("2026-10", 2, "detection", "pack", "2000", Decimal("0.00"), "detection:100000#1"),
        ("2026-11", 1, "segmentation", "allowance", "1000", Decimal("0.00"), None),
        ("2026-11", 2, "segmentation", "postpaid", "4000", Decimal("40.00"), None),
    ]
    assert result.stats["plain_distinct_quantities"] == 0
    assert result.stats["accounts_drawn_in_python"] == 1
    engine = book.bill([
        {"type": "purchase", "time": "2026-09-20T10:00:00+08:00", "meter": "detection",
         "size": "10万"},
        *({"type": "usage", "time": t, "action": a, "count": c} for _, t, a, c in rows),
    ])
    assert [(b.month, b.total) for b in engine] == [
        (date.fromisoformat(f"{m}-01"), t) for _, m, t in bills]


@pytest.mark.parametrize(
    ("columns", "column", "message"),
    [
        (
            {"account": ["a"], "time": ["2026-11-02"], "action": ["DetectBody"]},
            "count",
            "is missing",
        ),
        (
            {"account": ["a"], "time": ["2026-11-02"], "action": ["DetectBody"], "count": [1.5]},
            "count",
            "has type DOUBLE; it must be a whole number, a decimal or a string",
        ),
        (
            {"account": ["a"], "time": [1], "action": ["DetectBody"], "count": [1]},
            "time",
            "must be a string",
        ),
        (
            {"Account": ["a"], "time": ["2026-11-02"], "action": ["DetectBody"], "count": [1]},
            "account",
            "names are lower case",
        ),
    ],
)
def test_a_schema_mismatch_names_the_column(
    tmp_path: Path, columns: dict[str, list[object]], column: str, message: str
) -> None:
    path = tmp_path / "u.parquet"
    pq.write_table(pa.table(columns), path)
    with pytest.raises(SchemaError, match=message) as info:
        bill_warehouse(ratecard.load(BDA_RULES), str(path))
    assert info.value.column == column
    assert f"column `{column}`" in str(info.value)


def test_cli_schema_mismatch_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "u.parquet"
    pq.write_table(
        pa.table({"account": ["a"], "time": ["2026-11-02"], "action": ["X"], "count": [1.5]}), path
    )
    assert main(["warehouse", str(BDA_RULES), "--usage", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "column `count` has type DOUBLE" in err
    assert "Traceback" not in err


BAD_ROWS = [
    *BDA_ROWS,
    ("a3", "yesterday", "DetectBody", 5),
    ("a3", "2026-11-05T10:00:00+08:00", "DetectBodyX", 5),
    ("a3", "2026-11-05T10:00:00+08:00", "DetectBody", -5),
    ("a3", "2026-11-05T10:00:00+08:00", "DetectBody", "1.5"),
    ("a3", "2026-11-05T10:00:00+08:00", "SegmentCustomizedPortraitPic", 1),
    ("", "2026-11-05T10:00:00+08:00", "DetectBody", 1),
    ("a3", "2026-11-05T10:00:00+08:00", "DetectBody", "1e3"),
    ("a3", None, "DetectBody", 1),
]


def test_bad_rows_are_counted_by_kind_with_samples(tmp_path: Path) -> None:
    rows = [(a, t, ac, str(c)) for a, t, ac, c in BAD_ROWS]
    result = bill_warehouse(ratecard.load(BDA_RULES), usage_file(tmp_path / "u.parquet", rows))
    found = {i.problem: (i.count, [s["time"] for s in i.samples]) for i in result.invalid}
    assert found == {
        "missing account": (1, ["2026-11-05T10:00:00+08:00"]),
        "missing time": (1, [None]),
        "bad time": (1, ["yesterday"]),
        "unknown action": (1, ["2026-11-05T10:00:00+08:00"]),
        "unpriced action": (1, ["2026-11-05T10:00:00+08:00"]),
        "bad count": (1, ["2026-11-05T10:00:00+08:00"]),
        "negative count": (1, ["2026-11-05T10:00:00+08:00"]),
        "fractional count": (1, ["2026-11-05T10:00:00+08:00"]),
    }
    sample = next(i for i in result.invalid if i.problem == "unknown action").samples[0]
    assert (sample["action"], sample["_row"]) == ("DetectBodyX", 7)
    # The good rows are billed as without the bad ones (no pack: 999,000 × 0.002 = 1,998.00).
    assert [b["total"] for b in result.bills.to_pylist()] == [
        Decimal("1998.00"),
        Decimal("8.00"),
        Decimal("171.00"),
    ]


def test_on_invalid_stop_bills_nothing(tmp_path: Path) -> None:
    rows = [(a, t, ac, str(c)) for a, t, ac, c in BAD_ROWS]
    out = tmp_path / "bills.csv"
    with pytest.raises(InvalidInputError, match="8 invalid input rows") as info:
        bill_warehouse(
            ratecard.load(BDA_RULES),
            usage_file(tmp_path / "u.parquet", rows),
            output=str(out),
            on_invalid="stop",
        )
    assert {i.problem for i in info.value.invalid} >= {"bad time", "negative count"}
    assert not out.exists()


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl"])
def test_outputs(tmp_path: Path, fmt: str) -> None:
    book = ratecard.load(BDA_RULES)
    bills = tmp_path / f"bills.{fmt}"
    lines = tmp_path / f"lines.{fmt}"
    result = bill_warehouse(
        book,
        usage_file(tmp_path / "u.parquet", BDA_ROWS),
        purchases=purchase_file(tmp_path / "p.parquet"),
        output=str(bills),
        lines=str(lines),
    )
    assert result.bills is None and result.stats["bills"] == 3 and result.stats["lines"] == 7
    if fmt == "parquet":
        table = pq.read_table(bills)
        assert table.schema.field("total").type == pa.decimal128(38, 2)
        assert table.column("total").to_pylist() == [
            Decimal("1798.00"),
            Decimal("8.00"),
            Decimal("171.00"),
        ]
        assert pq.read_table(lines).num_rows == 7
        assert tuple(table.column_names) == BILL_COLUMNS
        assert tuple(pq.read_table(lines).column_names) == LINE_COLUMNS
    elif fmt == "csv":
        assert bills.read_text().splitlines() == [
            "account,month,total",
            "a1,2026-11,1798.00",
            "a1,2026-12,8.00",
            "a2,2026-11,171.00",
        ]
        assert lines.read_text().splitlines()[0] == (
            "account,month,line,meter,source,quantity,unit_price,amount,precise_amount,bracket,"
            "pack,blocks,period,per"
        )
    else:
        first = json.loads(bills.read_text().splitlines()[0])
        assert first == {"account": "a1", "month": "2026-11", "total": "1798.00"}
        line = json.loads(lines.read_text().splitlines()[2])
        assert (line["source"], line["quantity"], line["amount"], line["bracket"]) == (
            "postpaid",
            "899000",
            "1798.00",
            "(0, 3000000]",
        )


def test_month_selects_that_months_bills(tmp_path: Path) -> None:
    result = bill_warehouse(
        ratecard.load(BDA_RULES),
        usage_file(tmp_path / "u.parquet", BDA_ROWS),
        purchases=purchase_file(tmp_path / "p.parquet"),
        month="2026-12",
    )
    assert [(b["account"], b["total"]) for b in result.bills.to_pylist()] == [
        ("a1", Decimal("8.00"))
    ]
    assert {r["month"] for r in result.lines.to_pylist()} == {"2026-12"}


def test_timestamp_columns_bill_like_strings(tmp_path: Path) -> None:
    """An instant (timestamp with time zone) and a wall-clock time (without) are read like
    `...Z` and like a time without an offset."""
    book = ratecard.load(BDA_RULES)
    texts = [r[1] for r in BDA_ROWS]
    instants = [
        datetime.fromisoformat(t)
        .replace(tzinfo=datetime.fromisoformat(t).tzinfo or ZoneInfo("Asia/Shanghai"))
        .astimezone(UTC)
        for t in texts
    ]
    base = {
        "account": [r[0] for r in BDA_ROWS],
        "action": [r[2] for r in BDA_ROWS],
        "count": [r[3] for r in BDA_ROWS],
    }
    tz_path = tmp_path / "tz.parquet"
    pq.write_table(
        pa.table({**base, "time": pa.array(instants, pa.timestamp("us", tz="UTC"))}), tz_path
    )
    walls = [i.astimezone(ZoneInfo("Asia/Shanghai")).replace(tzinfo=None) for i in instants]
    wall_path = tmp_path / "wall.parquet"
    pq.write_table(pa.table({**base, "time": pa.array(walls, pa.timestamp("us"))}), wall_path)
    expected = bill_warehouse(book, usage_file(tmp_path / "u.parquet", BDA_ROWS)).bills
    assert bill_warehouse(book, str(tz_path)).bills.equals(expected)
    assert bill_warehouse(book, str(wall_path)).bills.equals(expected)


def test_cli_prints_bills_and_reports_skipped_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [(a, t, ac, str(c)) for a, t, ac, c in BAD_ROWS]
    usage = usage_file(tmp_path / "u.csv.parquet", rows)
    code = main(
        ["warehouse", str(BDA_RULES), "--usage", usage, "--lines", str(tmp_path / "lines.csv")]
    )
    out, err = capsys.readouterr()
    assert code == 0
    assert out.splitlines() == [
        "account,month,total",
        "a1,2026-11,1998.00",
        "a1,2026-12,8.00",
        "a2,2026-11,171.00",
    ]
    assert "skipped usage: 1 row with bad time" in err and "e.g. " in err
    assert main(["warehouse", str(BDA_RULES), "--usage", usage, "--on-invalid", "stop"]) == 2
    assert "8 invalid input rows; nothing was billed" in capsys.readouterr().err


def test_daily_ladders_are_billed_by_the_engines_replay(tmp_path: Path) -> None:
    """One call on 2026-11-02 priced per day at 1: a bill of 1.00 whose line names its day
    (tests/test_warehouse_sources.py holds the differential tests)."""
    book = ratecard.loads("""
        rules d "D" / "D"
        currency USD, rounding half_up 0.01, timezone UTC
        meter m "M" / "M" counts Call
        ladder volume by total per day on m { (0, ∞) 1 }
        deduct postpaid
    """)
    path = usage_file(tmp_path / "u.parquet", [("a", "2026-11-02", "Call", 1)])
    result = bill_warehouse(book, path)
    assert result.bills is not None and result.lines is not None
    assert [(r["month"], r["total"]) for r in result.bills.to_pylist()] == [
        ("2026-11", Decimal("1.00"))]
    assert [r["period"] for r in result.lines.to_pylist()] == ["2026-11-02"]
    assert result.stats["accounts_replayed"] == 1


def test_daily_bills_are_written_apart(tmp_path: Path) -> None:
    """ASR bills four meters per day and `file` per month: a month's 1 s of `file` (within its
    free 10 hours) is a monthly bill of 0.00, and there are no daily bills."""
    book = ratecard.load(RULES / "tencent-asr.rules")
    path = usage_file(tmp_path / "u.parquet", [("a", "2026-11-02", "CreateRecTask", 1)])
    result = bill_warehouse(book, path)
    assert result.bills is not None and result.daily_bills is not None
    assert [(r["month"], r["total"]) for r in result.bills.to_pylist()] == [
        ("2026-11", Decimal("0.00"))]
    assert result.daily_bills.num_rows == 0


def test_operations_render_per_engine() -> None:
    o = Operations("spark")
    query = o.select(("x", o.try_cast(o.col("t"), exp.DataType.build("TIMESTAMP")))).from_(
        o.table("s")
    )
    assert "TRY_CAST(t AS TIMESTAMP)" in render(query, "spark")


def test_input_paths_local_and_remote(tmp_path: Path) -> None:
    """Local directories are listed in name order; remote paths go to the engine as they are
    (a remote folder is read as Parquet); formats never mix."""
    from ratecard.errors import UsageError
    from ratecard.warehouse.engines import input_paths

    for name in ("b.parquet", "a.parquet", "notes.txt"):
        (tmp_path / name).write_text("")
    assert input_paths(tmp_path, "usage") == (
        [str(tmp_path / "a.parquet"), str(tmp_path / "b.parquet")],
        "parquet",
    )
    assert input_paths("s3://bucket/usage/", "usage") == (["s3://bucket/usage/"], "parquet")
    assert input_paths("gs://b/u/*.csv", "usage") == (["gs://b/u/*.csv"], "csv")
    with pytest.raises(UsageError, match="mixes Parquet and CSV"):
        input_paths(["s3://b/u/x.csv", str(tmp_path / "a.parquet")], "usage")
    with pytest.raises(UsageError, match="no such file"):
        input_paths(tmp_path / "missing.parquet", "usage")


def test_a_run_without_lines_skips_their_numbering(tmp_path: Path) -> None:
    """Bills alone (no --lines): the same totals (a1: 1798.00 and 8.00, a2: 171.00), and the
    lines are not numbered, a sort of every line saved; with lines, they are."""
    book = ratecard.load(BDA_RULES)
    usage = usage_file(tmp_path / "u.parquet", BDA_ROWS)
    purchases = purchase_file(tmp_path / "p.parquet")
    alone = bill_warehouse(book, usage, purchases=purchases, output=str(tmp_path / "b.csv"))
    assert (tmp_path / "b.csv").read_text().splitlines()[1:] == [
        "a1,2026-11,1798.00",
        "a1,2026-12,8.00",
        "a2,2026-11,171.00",
    ]
    assert "ROW_NUMBER" not in alone.queries["bill_lines"].upper()
    both = bill_warehouse(book, usage, purchases=purchases)
    assert "ROW_NUMBER" in both.queries["bill_lines"].upper()
    assert [r["line"] for r in both.lines.to_pylist() if r["account"] == "a2"] == [1, 2]


def test_plain_months_drawn_in_sql_at_the_allowance_edges(tmp_path: Path) -> None:
    """Accounts without packs, each one DetectBody entry in November: 0, 999, 1,000, 1,001 and
    3,000 units of detection, whose month's allowance is 1,000. The database draws them itself,
    min(quantity, 1,000) from the allowance and the rest postpaid: 0 and 0 (a bill of no
    lines), 999 and 0, 1,000 and 0, 1,000 and 1 (1 × 0.002 = 0.002 → 0.00), 1,000 and 2,000
    (2,000 × 0.002 = 4.00). Each bill is the engine's for the same journal."""
    book = ratecard.load(BDA_RULES)
    counts = {"a0": 0, "a999": 999, "a1000": 1000, "a1001": 1001, "a3000": 3000}
    rows = [(a, "2026-11-05T09:00:00+08:00", "DetectBody", c) for a, c in counts.items()]
    result = bill_warehouse(book, usage_file(tmp_path / "u.parquet", rows))
    assert result.stats["plain_distinct_quantities"] == 0
    drawn = {
        (r["account"], r["source"]): r["quantity"]
        for r in result.lines.to_pylist()
        if r["meter"] == "detection"
    }
    assert drawn == {
        ("a999", "allowance"): "999",
        ("a1000", "allowance"): "1000",
        ("a1001", "allowance"): "1000",
        ("a1001", "postpaid"): "1",
        ("a3000", "allowance"): "1000",
        ("a3000", "postpaid"): "2000",
    }
    totals = {b["account"]: b["total"] for b in result.bills.to_pylist()}
    assert totals["a1001"] == Decimal("0.00")
    assert totals["a3000"] == Decimal("4.00")
    for bill in result.bills.to_pylist():
        engine = book.bill([{"type": "usage", "time": "2026-11-05T09:00:00+08:00",
                             "action": "DetectBody", "count": counts[bill["account"]]}])
        assert [(f"{b.month:%Y-%m}", b.total) for b in engine] == [(bill["month"], bill["total"])]
