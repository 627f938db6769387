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

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("duckdb")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

import ratecard  # noqa: E402
from ratecard.cli import main  # noqa: E402
from ratecard.engine.pricebook import PriceBook  # noqa: E402
from ratecard.errors import UsageError  # noqa: E402
from ratecard.warehouse import InvalidInputError, bill_warehouse  # noqa: E402
from ratecard.warehouse.duckdb_engine import literal  # noqa: E402
from ratecard.warehouse.schema import MAX_COUNT  # noqa: E402
from tests.conftest import BDA_RULES  # noqa: E402

HEAD = 'rules worked "W" / "W"\ncurrency USD, rounding half_up 0.01, timezone UTC\n'
D = Decimal


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
        for r in sorted(result.lines.to_pylist(), key=lambda r: (r["account"], r["month"], r["line"]))
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
