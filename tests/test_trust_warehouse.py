"""The warehouse held to bills worked by hand, and to the inputs a hostile user gives it.

The differential tests (`test_warehouse.py`) compare the warehouse with the Python engine, but
the warehouse calls the engine's own `deduct`, `add_period`, `bill_journal` and
`LadderGroup.lines`: a bug in those is in both. The bills here are independent of the engine:
each is worked out in its docstring, and the test asserts the totals and every line exactly.

Then the inputs: times of typed Parquet columns outside the years the engine reads, counts too
large for a row or for a sum, empty ids, outputs that are inputs or each other, and file names
that look like patterns.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("duckdb")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

import ratecard  # noqa: E402
from ratecard.cli import main  # noqa: E402
from ratecard.engine.journal import USAGE  # noqa: E402
from ratecard.engine.pricebook import PriceBook  # noqa: E402
from ratecard.errors import UsageError  # noqa: E402
from ratecard.warehouse import InvalidInputError, bill_warehouse  # noqa: E402
from ratecard.warehouse.duckdb_engine import literal  # noqa: E402
from ratecard.warehouse.schema import MAX_COUNT  # noqa: E402

HEAD = 'rules worked "W" / "W"\ncurrency USD, rounding half_up 0.01, timezone UTC\n'
D = Decimal
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def book_of(body: str) -> PriceBook:
    return ratecard.loads(HEAD + body, "worked.rules")


def usage_table(rows: list[tuple[Any, ...]]) -> Any:
    """(account, time, action, count[, id]) rows as an Arrow table (counts as text)."""
    table: dict[str, Any] = {
        "account": [r[0] for r in rows],
        "time": [r[1] for r in rows],
        "action": [r[2] for r in rows],
        "count": [str(r[3]) for r in rows],
    }
    if any(len(r) > 4 for r in rows):
        table["id"] = pa.array([r[4] if len(r) > 4 else None for r in rows], pa.string())
    return pa.table(table)


def warehouse(
    tmp_path: Path,
    book: PriceBook,
    usage: list[tuple[Any, ...]],
    purchases: list[tuple[str, str, str, str]] | None = None,
    events: list[tuple[str, str, str, str | None]] | None = None,
) -> Any:
    """Bill the rows on DuckDB, from Parquet files."""
    pq.write_table(usage_table(usage), tmp_path / "usage.parquet")
    options: dict[str, Any] = {}
    if purchases:
        pq.write_table(
            pa.table(
                {
                    "account": [p[0] for p in purchases],
                    "time": [p[1] for p in purchases],
                    "meter": [p[2] for p in purchases],
                    "size": [p[3] for p in purchases],
                }
            ),
            tmp_path / "purchases.parquet",
        )
        options["purchases"] = str(tmp_path / "purchases.parquet")
    if events:
        pq.write_table(
            pa.table(
                {
                    "account": [e[0] for e in events],
                    "time": [e[1] for e in events],
                    "type": [e[2] for e in events],
                    "reason": pa.array([e[3] for e in events], pa.string()),
                }
            ),
            tmp_path / "events.parquet",
        )
        options["events"] = str(tmp_path / "events.parquet")
    result = bill_warehouse(book, str(tmp_path / "usage.parquet"), **options)
    assert result.invalid == () and result.problems == ()
    return result


def bills(result: Any) -> list[tuple[str, str, Decimal]]:
    return [(b["account"], b["month"], b["total"]) for b in result.bills.to_pylist()]


def lines(result: Any) -> list[tuple[Any, ...]]:
    """(account, month, meter, source, quantity, unit price, amount, bracket, pack) per line, in
    the bill's order; numbers as decimals (the text columns hold exact decimals)."""
    return [
        (
            r["account"],
            r["month"],
            r["meter"],
            r["source"],
            D(r["quantity"]),
            D(r["unit_price"]),
            r["amount"],
            r["bracket"],
            r["pack"],
        )
        for r in sorted(
            result.lines.to_pylist(), key=lambda r: (r["account"], r["month"], r["line"])
        )
    ]


# --- worked bills --------------------------------------------------------------------------------

ALLOWANCE = """
meter calls "Calls" / "Calls" counts Call
allowance 100 per month on calls
ladder volume by postpaid per month on calls { (0, ∞) 0.01 }
deduct allowance, postpaid
"""


def test_worked_allowance_only(tmp_path: Path) -> None:
    """a: November 30 + 90 = 120 calls: 100 from the allowance, 20 postpaid × 0.01 = 0.20.
    December 50 calls: a fresh allowance of 100 pays them all: 0.00.
    b: exactly 100 calls in November: the allowance pays them all, 0.00 (no postpaid line)."""
    result = warehouse(
        tmp_path,
        book_of(ALLOWANCE),
        [
            ("a", "2026-11-02T10:00:00Z", "Call", 30),
            ("a", "2026-11-20T10:00:00Z", "Call", 90),
            ("a", "2026-12-01T00:00:00Z", "Call", 50),
            ("b", "2026-11-30T23:59:59.999999Z", "Call", 100),
        ],
    )
    assert bills(result) == [
        ("a", "2026-11", D("0.20")),
        ("a", "2026-12", D("0.00")),
        ("b", "2026-11", D("0.00")),
    ]
    assert lines(result) == [
        ("a", "2026-11", "calls", "allowance", 100, 0, D("0.00"), None, None),
        ("a", "2026-11", "calls", "postpaid", 20, D("0.01"), D("0.20"), "(0, ∞)", None),
        ("a", "2026-12", "calls", "allowance", 50, 0, D("0.00"), None, None),
        ("b", "2026-11", "calls", "allowance", 100, 0, D("0.00"), None, None),
    ]


PACKS = """
meter calls "Calls" / "Calls" counts Call
allowance 100 per month on calls
packs valid 10 days {
  size  1000
  calls 5
}
ladder volume by postpaid per month on calls { (0, ∞) 0.02 }
deduct allowance, packs by expiry, postpaid
"""


def test_worked_allowance_and_pack(tmp_path: Path) -> None:
    """A pack of 1,000 calls bought on Nov 1 at 10:00, 1,500 calls on Nov 3: 100 from the
    allowance, 1,000 from the pack, 400 postpaid × 0.02 = 8.00. The pack's price is paid when
    it is bought, not on the bill. 50 calls on Nov 1 at 09:00, before the purchase, come from
    the allowance: the allowance gives 50 + 50, the pack 1,000, postpaid 1,500 − 50 − 1,000 =
    450 × 0.02 = 9.00 for account b."""
    purchases = [
        ("a", "2026-11-01T10:00:00Z", "calls", "1000"),
        ("b", "2026-11-01T10:00:00Z", "calls", "1000"),
    ]
    result = warehouse(
        tmp_path,
        book_of(PACKS),
        [
            ("a", "2026-11-03T10:00:00Z", "Call", 1500),
            ("b", "2026-11-01T09:00:00Z", "Call", 50),
            ("b", "2026-11-03T10:00:00Z", "Call", 1500),
        ],
        purchases,
    )
    assert bills(result) == [("a", "2026-11", D("8.00")), ("b", "2026-11", D("9.00"))]
    assert lines(result) == [
        ("a", "2026-11", "calls", "allowance", 100, 0, D("0.00"), None, None),
        ("a", "2026-11", "calls", "pack", 1000, 0, D("0.00"), None, "calls:1000#1"),
        ("a", "2026-11", "calls", "postpaid", 400, D("0.02"), D("8.00"), "(0, ∞)", None),
        ("b", "2026-11", "calls", "allowance", 100, 0, D("0.00"), None, None),
        ("b", "2026-11", "calls", "pack", 1000, 0, D("0.00"), None, "calls:1000#1"),
        ("b", "2026-11", "calls", "postpaid", 450, D("0.02"), D("9.00"), "(0, ∞)", None),
    ]


EXPIRY = """
meter calls "Calls" / "Calls" counts Call
packs valid 10 days {
  size  1000
  calls 5
}
ladder volume by postpaid per month on calls { (0, ∞) 0.02 }
deduct packs by expiry, postpaid
"""


def test_worked_pack_expiring_mid_month_at_and_after_the_instant(tmp_path: Path) -> None:
    """A pack of 1,000 calls bought on Nov 1 at 00:00Z is valid 10 days: it expires on Nov 11 at
    00:00Z, and a pack's expiry comes before anything at its instant. 300 calls on Nov 5 come
    from the pack (700 left, which expire); 400 calls at exactly Nov 11 00:00:00Z meet no pack:
    postpaid; 100 on Nov 20: postpaid. Postpaid 400 + 100 = 500 × 0.02 = 10.00.
    (With the expiry inclusive, the 400 would come from the pack: 100 × 0.02 = 2.00.)
    Account b: only 400 calls at the expiry instant: 400 × 0.02 = 8.00, never 0.00."""
    purchases = [
        ("a", "2026-11-01T00:00:00Z", "calls", "1000"),
        ("b", "2026-11-01T00:00:00Z", "calls", "1000"),
    ]
    result = warehouse(
        tmp_path,
        book_of(EXPIRY),
        [
            ("a", "2026-11-05T10:00:00Z", "Call", 300),
            ("a", "2026-11-11T00:00:00Z", "Call", 400),
            ("a", "2026-11-20T10:00:00Z", "Call", 100),
            ("b", "2026-11-11T08:00:00+08:00", "Call", 400),
        ],
        purchases,
    )
    assert bills(result) == [("a", "2026-11", D("10.00")), ("b", "2026-11", D("8.00"))]
    assert lines(result) == [
        ("a", "2026-11", "calls", "pack", 300, 0, D("0.00"), None, "calls:1000#1"),
        ("a", "2026-11", "calls", "postpaid", 500, D("0.02"), D("10.00"), "(0, ∞)", None),
        ("b", "2026-11", "calls", "postpaid", 400, D("0.02"), D("8.00"), "(0, ∞)", None),
    ]


def test_worked_usage_one_microsecond_before_the_expiry_uses_the_pack(tmp_path: Path) -> None:
    """The same pack (expiring Nov 11 00:00Z): 400 calls at Nov 10 23:59:59.999999Z come from
    the pack, 0.00; 1 call at the expiry instant is postpaid, 1 × 0.02 = 0.02."""
    result = warehouse(
        tmp_path,
        book_of(EXPIRY),
        [
            ("a", "2026-11-10T23:59:59.999999Z", "Call", 400),
            ("a", "2026-11-11T00:00:00Z", "Call", 1),
        ],
        [("a", "2026-11-01T00:00:00Z", "calls", "1000")],
    )
    assert bills(result) == [("a", "2026-11", D("0.02"))]
    assert lines(result) == [
        ("a", "2026-11", "calls", "pack", 400, 0, D("0.00"), None, "calls:1000#1"),
        ("a", "2026-11", "calls", "postpaid", 1, D("0.02"), D("0.02"), "(0, ∞)", None),
    ]


LADDERS = """
meter calls "Calls" / "Calls" counts Call
meter maps "Maps" / "Maps" counts Map
ladder graduated by postpaid per month on calls {
  (0, 1000]  0.01
  (1000, ∞)  0.005
}
ladder volume by postpaid per month on maps {
  (0, 500]  0.02
  (500, ∞)  0.01
}
deduct postpaid
"""


def test_worked_graduated_and_volume_ladders_across_a_bound(tmp_path: Path) -> None:
    """Graduated: 1,500 calls: the first 1,000 at 0.01 = 10.00, the next 500 at 0.005 = 2.50.
    Volume: 600 maps pass 500, so all 600 are priced at 0.01 = 6.00; a total of 18.50 for a.
    b: exactly 1,000 calls (all in the first bracket: 10.00) and exactly 500 maps (the bound
    belongs to (0, 500]: 500 × 0.02 = 10.00): 20.00."""
    result = warehouse(
        tmp_path,
        book_of(LADDERS),
        [
            ("a", "2026-11-02T10:00:00Z", "Call", 900),
            ("a", "2026-11-03T10:00:00Z", "Call", 600),
            ("a", "2026-11-04T10:00:00Z", "Map", 600),
            ("b", "2026-11-02T10:00:00Z", "Call", 1000),
            ("b", "2026-11-02T10:00:00Z", "Map", 500),
        ],
    )
    assert bills(result) == [("a", "2026-11", D("18.50")), ("b", "2026-11", D("20.00"))]
    assert lines(result) == [
        ("a", "2026-11", "calls", "postpaid", 1000, D("0.01"), D("10.00"), "(0, 1000]", None),
        ("a", "2026-11", "calls", "postpaid", 500, D("0.005"), D("2.50"), "(1000, ∞)", None),
        ("a", "2026-11", "maps", "postpaid", 600, D("0.01"), D("6.00"), "(500, ∞)", None),
        ("b", "2026-11", "calls", "postpaid", 1000, D("0.01"), D("10.00"), "(0, 1000]", None),
        ("b", "2026-11", "maps", "postpaid", 500, D("0.02"), D("10.00"), "(0, 500]", None),
    ]


COMBINED = """
meter calls "Calls" / "Calls" counts Call
meter maps "Maps" / "Maps" counts Map
ladder volume by postpaid per month on calls, maps combined {
  (0, 100]  0.1 + 5 flat
  (100, ∞)  0.05 + 5 flat
}
deduct postpaid
"""


def test_worked_combined_volume_ladder_charges_its_flat_fee_once(tmp_path: Path) -> None:
    """One ladder for calls and maps together: the bracket is chosen by their combined
    quantity and its flat fee of 5 is charged once, on the first meter's line.
    a: 30 calls + 60 maps = 90, in (0, 100]: calls 30 × 0.1 + 5 = 8.00, maps 60 × 0.1 = 6.00:
    14.00 (a flat fee per meter would make it 19.00).
    b: 80 calls + 40 maps = 120, in (100, ∞): calls 80 × 0.05 + 5 = 9.00, maps 40 × 0.05 =
    2.00: 11.00.
    c: 70 maps alone: 70 × 0.1 + 5 = 12.00 (the fee goes with the first meter that has units)."""
    result = warehouse(
        tmp_path,
        book_of(COMBINED),
        [
            ("a", "2026-11-02T10:00:00Z", "Call", 30),
            ("a", "2026-11-02T11:00:00Z", "Map", 60),
            ("b", "2026-11-02T10:00:00Z", "Call", 80),
            ("b", "2026-11-02T11:00:00Z", "Map", 40),
            ("c", "2026-11-02T11:00:00Z", "Map", 70),
        ],
    )
    assert bills(result) == [
        ("a", "2026-11", D("14.00")),
        ("b", "2026-11", D("11.00")),
        ("c", "2026-11", D("12.00")),
    ]
    assert lines(result) == [
        ("a", "2026-11", "calls", "postpaid", 30, D("0.1"), D("8.00"), "(0, 100]", None),
        ("a", "2026-11", "maps", "postpaid", 60, D("0.1"), D("6.00"), "(0, 100]", None),
        ("b", "2026-11", "calls", "postpaid", 80, D("0.05"), D("9.00"), "(100, ∞)", None),
        ("b", "2026-11", "maps", "postpaid", 40, D("0.05"), D("2.00"), "(100, ∞)", None),
        ("c", "2026-11", "maps", "postpaid", 70, D("0.1"), D("12.00"), "(0, 100]", None),
    ]


SUSPENSION = """
meter calls "Calls" / "Calls" counts Call
allowance 100 per month on calls while active
ladder volume by postpaid per month on calls { (0, ∞) 0.01 }
deduct allowance, postpaid
bill per month, issued on day 1
suspend for arrears, violation
"""


def test_worked_suspension(tmp_path: Path) -> None:
    """Suspended (violation) Nov 10, reopened Nov 20, suspended Nov 28, reopened Dec 3.
    November: 50 calls on Nov 5 from the allowance (50 left); 70 on Nov 15 while suspended are
    rejected, never billed; 80 on Nov 25: 50 from what is left of the allowance, 30 postpaid ×
    0.01 = 0.30. December: suspended at its start, so its allowance is issued when it reopens on
    Dec 3; 40 calls on Dec 2 are rejected; 150 on Dec 5: 100 from the allowance, 50 postpaid =
    0.50."""
    events = [
        ("a", "2026-11-10T00:00:00Z", "suspend", "violation"),
        ("a", "2026-11-20T00:00:00Z", "reopen", None),
        ("a", "2026-11-28T00:00:00Z", "suspend", "violation"),
        ("a", "2026-12-03T00:00:00Z", "reopen", None),
    ]
    result = warehouse(
        tmp_path,
        book_of(SUSPENSION),
        [
            ("a", "2026-11-05T10:00:00Z", "Call", 50),
            ("a", "2026-11-15T10:00:00Z", "Call", 70),
            ("a", "2026-11-25T10:00:00Z", "Call", 80),
            ("a", "2026-12-02T10:00:00Z", "Call", 40),
            ("a", "2026-12-05T10:00:00Z", "Call", 150),
        ],
        events=events,
    )
    assert bills(result) == [("a", "2026-11", D("0.30")), ("a", "2026-12", D("0.50"))]
    assert lines(result) == [
        ("a", "2026-11", "calls", "allowance", 100, 0, D("0.00"), None, None),
        ("a", "2026-11", "calls", "postpaid", 30, D("0.01"), D("0.30"), "(0, ∞)", None),
        ("a", "2026-12", "calls", "allowance", 100, 0, D("0.00"), None, None),
        ("a", "2026-12", "calls", "postpaid", 50, D("0.01"), D("0.50"), "(0, ∞)", None),
    ]


# --- times and counts the engine does not read (issue 13, item 6) -------------------------------

PLAIN = """
meter calls "Calls" / "Calls" counts Call
ladder volume by postpaid per month on calls { (0, ∞) 0.01 }
deduct postpaid
"""


@pytest.mark.parametrize("zone", [None, "UTC"], ids=["wall-clock", "instant"])
def test_typed_times_outside_the_years_are_bad_rows(tmp_path: Path, zone: str | None) -> None:
    """A Parquet TIMESTAMP (with or without time zone) outside the years 1900 to 9000 (an
    instant's year in UTC, a wall-clock time's on the wall, as the engine reads them), and
    DuckDB's ±infinity, are counted as `time out of range` with samples and skipped. In range:
    a at 1900-01-01 00:00, 5 calls × 0.01 = 0.05; b on 2026-11-02, 7 calls = 0.07."""
    micros = [
        micros_of(datetime(1899, 12, 31, 23, 59, 59, 999999)),
        micros_of(datetime(1800, 1, 1)),
        micros_of(datetime(1900, 1, 1)),
        micros_of(datetime(9001, 1, 1)),
        micros_of(datetime(2026, 11, 2, 10)),
        2**63 - 1,  # DuckDB's infinity
        micros_of(datetime(9500, 6, 1)),
    ]
    table = pa.table(
        {
            "account": ["x1", "x2", "a", "x3", "b", "x4", "x5"],
            "time": pa.array(micros, pa.timestamp("us", tz=zone)),
            "action": ["Call"] * 7,
            "count": [1, 2, 5, 3, 7, 4, 6],
        }
    )
    path = tmp_path / "typed.parquet"
    pq.write_table(table, path)
    book = book_of(PLAIN)
    result = bill_warehouse(book, str(path))
    assert [(i.problem, i.count) for i in result.invalid] == [("time out of range", 5)]
    invalid = result.invalid[0]
    assert invalid.message == "the time is outside the years 1900 to 9000"
    assert [(s["account"], s["_row"]) for s in invalid.samples] == [
        ("x1", 1),
        ("x2", 2),
        ("x3", 4),
        ("x4", 6),
        ("x5", 7),
    ]
    assert [s["time"][:10] for s in invalid.samples] == [
        "1899-12-31",
        "1800-01-01",
        "9001-01-01",
        "infinity",
        "9500-06-01",
    ]
    assert bills(result) == [("a", "1900-01", D("0.05")), ("b", "2026-11", D("0.07"))]
    with pytest.raises(InvalidInputError, match="5 invalid input rows; nothing was billed"):
        bill_warehouse(book, str(path), on_invalid="stop")


def micros_of(wall: datetime) -> int:
    """A naive datetime as microseconds since the epoch, counted as UTC."""
    return (wall.replace(tzinfo=UTC) - EPOCH) // timedelta(microseconds=1)


@pytest.mark.parametrize("kind", ["instant", "wall"])
def test_typed_time_range_edges(kind: str) -> None:
    """The edges of the years the engine reads, to the microsecond: 1900-01-01 00:00 and
    9000-12-31 23:59:59.999999 are read; a microsecond outside either is out of range (kind 3);
    NULL is missing (0). (Bills of the year 9000 need the calendar in full, seconds to build:
    the edges are checked on the query that reads the times.)"""
    import duckdb

    from ratecard.warehouse.queries import Queries
    from ratecard.warehouse.sql import render

    edges = [
        micros_of(datetime(1899, 12, 31, 23, 59, 59, 999999)),
        micros_of(datetime(1900, 1, 1)),
        micros_of(datetime(9000, 12, 31, 23, 59, 59, 999999)),
        micros_of(datetime(9001, 1, 1)),
        None,
    ]
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    typed = pa.array(edges, pa.timestamp("us", tz="UTC" if kind == "instant" else None))
    con.register("edges", pa.table({"time": typed, "n": range(5)}))
    q = Queries(book_of(PLAIN), "duckdb")
    query = q.parsed_times(q.ops.table("edges"), ["time", "n"], kind)
    rows = con.execute(render(query, "duckdb") + " ORDER BY n").fetchall()
    read = 1 if kind == "instant" else 2
    assert [(r[1], r[2]) for r in rows] == [(0, 3), (1, read), (2, read), (3, 3), (4, 0)]


def test_typed_time_out_of_range_on_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same as the command sees it: skipped and reported (exit 0), or, with `--on-invalid
    stop`, exit 2 and nothing written."""
    rules = tmp_path / "w.rules"
    rules.write_text(HEAD + PLAIN, encoding="utf-8")
    path = tmp_path / "typed.parquet"
    pq.write_table(
        pa.table(
            {
                "account": ["a", "b"],
                "time": pa.array([datetime(1800, 1, 1), datetime(2026, 11, 2)], pa.timestamp("us")),
                "action": ["Call", "Call"],
                "count": [1, 5],
            }
        ),
        path,
    )
    assert main(["warehouse", str(rules), "--usage", str(path)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["account,month,total", "b,2026-11,0.05"]
    assert "skipped usage: 1 row with time out of range" in err
    assert "time='1800-01-01 00:00:00'" in err and "Traceback" not in err
    bills_path = tmp_path / "bills.csv"
    code = main(
        [
            "warehouse",
            str(rules),
            "--usage",
            str(path),
            "--on-invalid",
            "stop",
            "-o",
            str(bills_path),
        ]
    )
    assert code == 2
    assert "1 invalid input row; nothing was billed" in capsys.readouterr().err
    assert not bills_path.exists()


def test_counts_over_the_limit_are_bad_rows_and_sums_never_overflow(tmp_path: Path) -> None:
    """A DECIMAL(38, 0) count: 10^38 − 1 (x), twenty rows of 10^37 (y) and 10^18 + 1 (z) are over
    the limit of 10^18 units a row (the engine's one limit for a count): 22 rows of `count too
    large`, reported, skipped. At the limit: c, 10^18 calls × 0.01 = 10^16 =
    10000000000000000.00; d, twenty rows of 10^18 add up to 2 × 10^19 calls × 0.01 =
    200000000000000000.00."""
    assert MAX_COUNT == 10**18
    rows = [("x", 10**38 - 1), *[("y", 10**37)] * 20, ("c", 10**18), ("z", 10**18 + 1)]
    rows += [("d", 10**18)] * 20
    path = tmp_path / "counts.parquet"
    pq.write_table(
        pa.table(
            {
                "account": [r[0] for r in rows],
                "time": ["2026-11-02T10:00:00Z"] * len(rows),
                "action": ["Call"] * len(rows),
                "count": pa.array([D(r[1]) for r in rows], pa.decimal128(38, 0)),
            }
        ),
        path,
    )
    result = bill_warehouse(book_of(PLAIN), str(path))
    assert [(i.problem, i.count) for i in result.invalid] == [("count too large", 22)]
    invalid = result.invalid[0]
    assert invalid.message == "the count is above 10^18, the most units one row may count"
    assert [(s["account"], s["_row"]) for s in invalid.samples] == [
        ("x", 1),
        ("y", 2),
        ("y", 3),
        ("y", 4),
        ("y", 5),
    ]
    assert invalid.samples[0]["count"] == "9" * 38
    assert bills(result) == [
        ("c", "2026-11", D("10000000000000000.00")),
        ("d", "2026-11", D("200000000000000000.00")),
    ]


def test_text_and_unsigned_counts_at_and_over_the_limit(tmp_path: Path) -> None:
    """Counts as text (a CSV file): 1000000000000000001 is over the limit, 10^18 is at it
    (a: 10^18 × 0.01 = 10000000000000000.00). An unsigned 64-bit column may pass the limit
    (2^64 − 1 is a bad row) and twenty rows just under it add up exactly, never through a
    double: 20 × 999999999999999999 = 19999999999999999980 calls × 0.01 =
    199999999999999999.80."""
    csv_path = tmp_path / "counts.csv"
    csv_path.write_text(
        "account,time,action,count\n"
        "a,2026-11-02T10:00:00Z,Call,1000000000000000000\n"
        "z,2026-11-02T10:00:00Z,Call,1000000000000000001\n",
        encoding="utf-8",
    )
    book = book_of(PLAIN)
    result = bill_warehouse(book, str(csv_path))
    assert [(i.problem, i.count) for i in result.invalid] == [("count too large", 1)]
    assert bills(result) == [("a", "2026-11", D("10000000000000000.00"))]
    path = tmp_path / "unsigned.parquet"
    pq.write_table(
        pa.table(
            {
                "account": ["u"] * 20 + ["v"],
                "time": ["2026-11-02T10:00:00Z"] * 21,
                "action": ["Call"] * 21,
                "count": pa.array([10**18 - 1] * 20 + [2**64 - 1], pa.uint64()),
            }
        ),
        path,
    )
    result = bill_warehouse(book, str(path))
    assert [(i.problem, i.count) for i in result.invalid] == [("count too large", 1)]
    assert bills(result) == [("u", "2026-11", D("199999999999999999.80"))]


def test_a_month_too_costly_for_the_sql_is_reported_with_its_account(tmp_path: Path) -> None:
    """At 10^15 a call, rounded to 0.0001, twenty rows of 10^18 calls cost 2 × 10^34: more than
    a DECIMAL(38, 4) holds. Account a's month is reported (naming the meter and its units) and
    gets no bill; b's 3 calls cost 3 × 10^15 = 3000000000000000.0000."""
    book = ratecard.loads(
        'rules big "B" / "B"\ncurrency USD, rounding half_up 0.0001, timezone UTC\n'
        'meter calls "Calls" / "Calls" counts Call\n'
        "ladder volume by postpaid per month on calls { (0, ∞) 1000000000000000 }\n"
        "deduct postpaid\n"
    )
    path = tmp_path / "u.parquet"
    pq.write_table(
        pa.table(
            {
                "account": ["a"] * 20 + ["b"],
                "time": ["2026-11-02T10:00:00Z"] * 21,
                "action": ["Call"] * 21,
                "count": pa.array([D(10**18)] * 20 + [D(3)], pa.decimal128(38, 0)),
            }
        ),
        path,
    )
    result = bill_warehouse(book, str(path))
    assert [p.describe() for p in result.problems] == [
        "account a 2026-11: meter `calls`: 20000000000000000000 postpaid units cost more "
        "than the warehouse adds up exactly (at most 10000000000000 units at these prices); "
        "bill this account with `ratecard bill`"
    ]
    assert bills(result) == [("b", "2026-11", D("3000000000000000.0000"))]


def test_a_timestamp_duckdb_cannot_read_is_one_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Parquet timestamp in milliseconds beyond DuckDB's years fails DuckDB's scan of the whole
    file: exit 2 with one line, never a traceback."""
    path = tmp_path / "far.parquet"
    pq.write_table(
        pa.table(
            {
                "account": ["a"],
                "time": pa.array([2**62], pa.timestamp("ms")),
                "action": ["Call"],
                "count": [1],
            }
        ),
        path,
    )
    rules = tmp_path / "w.rules"
    rules.write_text(HEAD + PLAIN, encoding="utf-8")
    assert main(["warehouse", str(rules), "--usage", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ratecard: error: an input holds a value DuckDB cannot read")
    assert err.count("\n") == 1


# --- an empty id is no id (item 12) ---------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_an_empty_id_is_no_id(tmp_path: Path, fmt: str) -> None:
    """Two rows with the id "" are two entries (100 + 100); two with the id "x" are one entry
    resent (50, once): 250 calls × 0.01 = 2.50. A row without an id column value (NULL) is no
    id either: b, 10 + 10 = 20 calls = 0.20."""
    rows = [
        ("a", "2026-11-02T10:00:00Z", "Call", 100, ""),
        ("a", "2026-11-02T11:00:00Z", "Call", 100, ""),
        ("a", "2026-11-02T12:00:00Z", "Call", 50, "x"),
        ("a", "2026-11-02T13:00:00Z", "Call", 50, "x"),
        ("b", "2026-11-02T12:00:00Z", "Call", 10, None),
        ("b", "2026-11-02T12:00:00Z", "Call", 10, None),
    ]
    if fmt == "parquet":
        path = tmp_path / "u.parquet"
        pq.write_table(usage_table(rows), path)
    else:
        path = tmp_path / "u.csv"
        text = ["account,time,action,count,id"]
        text += [
            f"{r[0]},{r[1]},{r[2]},{r[3]},{'' if r[4] is None else chr(34) + r[4] + chr(34)}"
            for r in rows
        ]
        path.write_text("\n".join(text) + "\n", encoding="utf-8")
    result = bill_warehouse(book_of(PLAIN), str(path))
    assert bills(result) == [("a", "2026-11", D("2.50")), ("b", "2026-11", D("0.20"))]


def test_an_empty_purchase_id_is_no_id(tmp_path: Path) -> None:
    """Two purchases with the id "" are two packs of 1,000 (lots #1 and #2); two with the id "p"
    are one pack bought once. a: 1,800 calls: 1,000 from the first lot, 800 from the second,
    0.00. b: 1,800 calls: 1,000 from its one lot, 800 postpaid × 0.02 = 16.00."""
    pq.write_table(
        pa.table(
            {
                "account": ["a", "a", "b", "b"],
                "time": ["2026-11-01T00:00:00Z", "2026-11-01T01:00:00Z"] * 2,
                "meter": ["calls"] * 4,
                "size": ["1000"] * 4,
                "id": ["", "", "p", "p"],
            }
        ),
        tmp_path / "p.parquet",
    )
    pq.write_table(
        usage_table(
            [
                ("a", "2026-11-05T00:00:00Z", "Call", 1800),
                ("b", "2026-11-05T00:00:00Z", "Call", 1800),
            ]
        ),
        tmp_path / "u.parquet",
    )
    result = bill_warehouse(
        book_of(EXPIRY), str(tmp_path / "u.parquet"), purchases=str(tmp_path / "p.parquet")
    )
    assert bills(result) == [("a", "2026-11", D("0.00")), ("b", "2026-11", D("16.00"))]
    assert [(x[0], x[3], x[4], x[8]) for x in lines(result)] == [
        ("a", "pack", 1000, "calls:1000#1"),
        ("a", "pack", 800, "calls:1000#2"),
        ("b", "pack", 1000, "p"),
        ("b", "postpaid", 800, None),
    ]


# --- outputs that are inputs, or each other (item 14) --------------------------------------------


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A rules file and a usage CSV (a: 500 calls = 5.00)."""
    rules = tmp_path / "w.rules"
    rules.write_text(HEAD + PLAIN, encoding="utf-8")
    usage = tmp_path / "u.csv"
    usage.write_text("account,time,action,count\na,2026-11-02T10:00:00Z,Call,500\n")
    return {"rules": rules, "usage": usage}


def test_outputs_that_are_inputs_or_each_other_are_refused(
    tmp_path: Path, files: dict[str, Path]
) -> None:
    book = book_of(PLAIN)
    usage = files["usage"]
    before = usage.read_bytes()
    same = tmp_path / "same.csv"
    with pytest.raises(
        UsageError, match=r"the bills \(output\) and the lines would be written to the same file"
    ):
        bill_warehouse(book, str(usage), output=str(same), lines=str(same))
    assert not same.exists()
    (tmp_path / "sub").mkdir()
    link = tmp_path / "link.csv"
    link.symlink_to(usage)
    hard = tmp_path / "hard.csv"
    hard.hardlink_to(usage)
    for written in (usage, tmp_path / "sub" / ".." / "u.csv", link, hard):
        with pytest.raises(UsageError, match="would replace the usage input"):
            bill_warehouse(book, str(usage), output=str(written))
        with pytest.raises(UsageError, match="would replace the usage input"):
            bill_warehouse(book, str(usage), lines=str(written))
    purchases = tmp_path / "p.csv"
    purchases.write_text("account,time,meter,size\n")
    with pytest.raises(UsageError, match="would replace the purchases input"):
        bill_warehouse(book, str(usage), purchases=str(purchases), output=str(purchases))
    assert usage.read_bytes() == before
    # Different files are fine.
    result = bill_warehouse(book, str(usage), output=str(tmp_path / "b.csv"), lines=str(same))
    assert result.stats["bills"] == 1
    assert (tmp_path / "b.csv").read_text().splitlines() == [
        "account,month,total",
        "a,2026-11,5.00",
    ]


def test_cli_refuses_colliding_outputs_before_writing(
    tmp_path: Path, files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    rules, usage = str(files["rules"]), str(files["usage"])
    before = files["usage"].read_bytes()
    same = str(tmp_path / "same.csv")
    cases = [
        (["-o", same, "--lines", same], "the bills (output) and the lines would be written"),
        (["-o", usage], "writing the bills (output) there would replace the usage input"),
        (["--lines", usage], "writing the lines there would replace the usage input"),
        (["-o", rules], "writing the bills (output) there would replace the rules input"),
    ]
    for extra, message in cases:
        assert main(["warehouse", rules, "--usage", usage, *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert files["usage"].read_bytes() == before
    assert files["rules"].read_text(encoding="utf-8") == HEAD + PLAIN
    assert not Path(same).exists()


# --- file names are names, not patterns (item 17) -------------------------------------------------

ODD_NAMES = ["[ab].csv", "it's *{x} ?.csv", 'sp ace "q".csv', "back\\slash.csv", "**.csv"]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_an_input_file_is_read_as_the_file_it_names(tmp_path: Path, name: str) -> None:
    """A file whose name holds `[`, `*`, `?`, `{`, quotes, spaces or a backslash is read as that
    file, never as a pattern: its 500 calls bill 5.00, and a.csv and b.csv beside it (which
    `[ab].csv` or `*.csv` would match as patterns) are not read. Its bad row is reported with
    its name."""
    for other, count in (("a.csv", 100), ("b.csv", 200)):
        (tmp_path / other).write_text(
            f"account,time,action,count\nz,2026-11-02T10:00:00Z,Call,{count}\n"
        )
    odd = tmp_path / name
    odd.write_text(
        "account,time,action,count\na,2026-11-02T10:00:00Z,Call,500\na,2026-11-03,Nope,1\n"
    )
    result = bill_warehouse(book_of(PLAIN), str(odd))
    assert bills(result) == [("a", "2026-11", D("5.00"))]
    assert result.invalid[0].samples[0]["_file"] == str(odd)
    as_parquet = tmp_path / name.replace(".csv", ".parquet")
    pq.write_table(usage_table([("p", "2026-11-02T10:00:00Z", "Call", 300)]), as_parquet)
    assert bills(bill_warehouse(book_of(PLAIN), str(as_parquet))) == [("p", "2026-11", D("3.00"))]


def test_a_folder_with_odd_names_is_read_file_by_file(tmp_path: Path) -> None:
    """A folder `[d]` holding `*.parquet` and `[ab].parquet`: both files, in name order, read as
    named (p: 300 + 200 = 500 calls = 5.00); a pattern that names no file still matches files."""
    folder = tmp_path / "[d]"
    folder.mkdir()
    pq.write_table(usage_table([("p", "2026-11-02T10:00:00Z", "Call", 300)]), folder / "*.parquet")
    pq.write_table(
        usage_table([("p", "2026-11-03T10:00:00Z", "Call", 200)]), folder / "[ab].parquet"
    )
    pq.write_table(usage_table([("q", "2026-11-03T10:00:00Z", "Call", 1)]), folder / "a.parquet")
    result = bill_warehouse(book_of(PLAIN), str(folder))
    assert bills(result) == [("p", "2026-11", D("5.00")), ("q", "2026-11", D("0.01"))]
    pattern = bill_warehouse(book_of(PLAIN), str(tmp_path / "[[]d]" / "[a]*.parquet"))
    assert bills(pattern) == [("q", "2026-11", D("0.01"))]
    with pytest.raises(UsageError, match="no such file, and no file matches it as a pattern"):
        bill_warehouse(book_of(PLAIN), str(tmp_path / "nothing-*.parquet"))


def test_paths_are_made_literal_for_each_engine() -> None:
    """DuckDB reads every path as a glob: `*`, `?` and `[` go in classes of their own. Spark
    (Hadoop) reads `\\ { } [ ] * ?` as a glob: each is escaped with a backslash. Remote paths
    are the engines' to list."""
    from ratecard.warehouse.spark_engine import literal as spark_literal

    assert literal("/d/[ab]*?{c}.csv") == "/d/[[]ab][*][?]{c}.csv"
    assert spark_literal("/d/[ab]*?{c}\\.csv") == "/d/\\[ab\\]\\*\\?\\{c\\}\\\\.csv"
    assert literal("s3://b/u/*.parquet") == "s3://b/u/*.parquet"
    assert spark_literal("s3://b/u/*.parquet") == "s3://b/u/*.parquet"


def test_a_replayed_account_gives_the_engine_entries_within_its_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An account that settles from a balance (it tops up) is replayed by the engine over its
    groups' quantities; a group of twenty rows at the limit (2 × 10^19 calls) reaches the engine
    as twenty entries of 10^18, each within the engine's limit for one entry, drawn one after
    another as their sum would be. November: 2 × 10^19 × 0.01 = 200000000000000000.00."""
    from ratecard.warehouse import drawdown

    seen: list[Any] = []
    original = drawdown.bill_records

    def recording(book: PriceBook, records: list[Any]) -> Any:
        seen.extend(count for _, _, kind, _, count, _ in records if kind == USAGE)
        return original(book, records)

    monkeypatch.setattr(drawdown, "bill_records", recording)
    book = book_of(PLAIN + "bill per month, issued on day 1, settle from balance\n")
    pq.write_table(
        usage_table([("a", "2026-11-02T10:00:00Z", "Call", 10**18)] * 20),
        tmp_path / "u.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "account": ["a"],
                "time": ["2026-11-01T00:00:00Z"],
                "type": ["topup"],
                "amount": ["1000"],
            }
        ),
        tmp_path / "e.parquet",
    )
    result = bill_warehouse(book, str(tmp_path / "u.parquet"), events=str(tmp_path / "e.parquet"))
    assert result.stats["accounts_replayed"] == 1
    assert bills(result) == [("a", "2026-11", D("200000000000000000.00"))]
    assert max(seen) == MAX_COUNT and sum(seen) == 20 * MAX_COUNT


def test_credit_balances_keep_the_decimals_a_credit_paid(tmp_path: Path) -> None:
    """Under `on total` a credit pays a line's precise amount: one call at 0.001 is paid 0.001
    by credit c0 (of 1), which leaves 0.999, and c1 pays nothing. The balances are written with
    every decimal (they were cut to the rounding's two and the run stopped with a traceback)."""
    book = ratecard.loads(
        'rules gen "G" / "G"\n'
        "currency USD, rounding half_up 0.01 on total, timezone UTC\n"
        'meter m0 "M0" / "M0" counts Act0x\n'
        "ladder volume by postpaid per month on m0 {\n  (0, ∞)  0.001\n}\n"
        'credit c0 "C0" / "C0" 1 once on m0 valid 10 days\n'
        'credit c1 "C1" / "C1" 1 once on m0 valid 10 days\n'
        "deduct postpaid\nbill per month, issued on day 1\n",
        "credits.rules",
    )
    usage = tmp_path / "usage.csv"
    usage.write_text("account,time,action,count\na,2026-01-25T10:00:00Z,Act0x,1\n",
                     encoding="utf-8")
    result = bill_warehouse(book, str(usage))
    assert [(b["account"], b["total"]) for b in result.bills.to_pylist()] == [
        ("a", Decimal("0.00"))]
    assert result.credits is not None
    balances = [(r["id"], r["amount"], r["paid"], r["remaining"])
                for r in result.credits.to_pylist()]
    assert balances == [("c0", Decimal(1), Decimal("0.001"), Decimal("0.999")),
                        ("c1", Decimal(1), Decimal(0), Decimal(1))]
    (bill,) = book.bill([{"time": "2026-01-25T10:00:00Z", "type": "usage", "action": "Act0x",
                          "count": 1}])
    assert [(c.credit_id, c.paid, c.remaining) for c in bill.credits] == [
        (i, p, r) for i, _, p, r in balances]
