"""Usage proven good by its Parquet files' statistics: metered without checking each row.

A usage table whose footers state that no account, time, action or count is missing, that no
account is empty, that every time is in range and every count a whole number within the limit
is metered by `Queries.proven_groups` (no row checked, and no time read when every row falls
in one month), its accounts with cuts by the full query on their rows alone. These tests hold
that route to the one that checks every row (`statistics=False`) and to the engine's bills.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

pytest.importorskip("duckdb")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from hypothesis import event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import ratecard  # noqa: E402
from ratecard.engine.clock import parse_time  # noqa: E402
from ratecard.warehouse import bill_warehouse  # noqa: E402
from tests.conftest import RULES  # noqa: E402
from tests.test_warehouse import (  # noqa: E402
    _SHIPPED,
    SETTINGS,
    SHIPPED,
    Row,
    Sheet,
    cases,
    compare,
    journals,
    sheets,
    write_inputs,
)

BDA = ratecard.load(RULES / "tencent-bda.rules")


def _usage_table(
    rows: Sequence[dict[str, Any]], zone: str, unit: str = "us", account_type: Any = None
) -> Any:
    """Usage rows as Arrow, `time` a timestamp with time zone (in `unit`), `count` an int64."""
    micros = [None if r["time"] is None else parse_time(r["time"], ZoneInfo(zone)) for r in rows]
    scale = {"s": 1_000_000, "ms": 1000, "us": 1, "ns": 1}[unit]
    times = [None if m is None else (m * 1000 if unit == "ns" else m // scale) for m in micros]
    return pa.table(
        {
            "account": pa.array([r["account"] for r in rows], account_type or pa.string()),
            "time": pa.array(times, pa.timestamp(unit, tz="UTC")),
            "action": pa.array([r["action"] for r in rows], pa.string()),
            "count": pa.array([r["count"] for r in rows], pa.int64()),
        }
    )


def _bill_both(book: Any, usage: Path, purchases: Path | None = None) -> tuple[Any, Any]:
    """The run that may trust the statistics, and the one that checks every row."""
    runs = [
        bill_warehouse(
            book, str(usage), purchases=str(purchases) if purchases else None, statistics=trusted
        )
        for trusted in (True, False)
    ]
    return runs[0], runs[1]


def _same(proven: Any, checked: Any) -> None:
    """Two runs' bills, lines and reported rows are the same, row for row."""
    order = ["account", "month"]
    assert proven.bills.sort_by([(c, "ascending") for c in order]).equals(
        checked.bills.sort_by([(c, "ascending") for c in order])
    )
    key = [("account", "ascending"), ("month", "ascending"), ("line", "ascending")]
    assert proven.lines.sort_by(key).equals(checked.lines.sort_by(key))
    assert proven.invalid == checked.invalid
    assert proven.problems == checked.problems
    assert checked.stats["usage_proven"] is False


def _typed(rows: Sequence[Row]) -> list[Row] | None:
    """The case's rows with whole counts and valid times only (what a typed Parquet table
    holds; None when none is left), without ids (a table with ids is checked row by row)."""
    kept = []
    for row in rows:
        if row.table == "usage":
            count = row.fields["count"]
            if not row.valid and row.fields["action"] == "NoSuchAction" and count == 1:
                pass  # an unknown action: the one problem a proof leaves to the rows
            elif not row.valid or not isinstance(count, int):
                continue
            row = Row("usage", {**row.fields, "id": None}, row.valid)
        kept.append(row)
    return kept if any(r.table == "usage" for r in kept) else None


def _provable(sheet: Sheet) -> bool:
    """Whether a sheet's usage may be proven (`Queries.provable`): no quantity rounding, no
    shared allowance, no grants or credits (whose groups all need first and last instants)."""
    return "quantity rounded" not in sheet.text and " shared" not in sheet.text


@st.composite
def provable_cases(draw: st.DrawFn) -> tuple[Sheet, list[Row]]:
    """A sheet whose usage may be proven (shipped, one time in four, or generated) and a
    journal for it."""
    if draw(st.integers(0, 3)) == 0:
        sheet = _SHIPPED[draw(st.sampled_from(SHIPPED))]
    else:
        sheet = draw(sheets(grants=False, credits=False).filter(_provable))
    return sheet, draw(journals(sheet))


@settings(SETTINGS, max_examples=40)
@given(cases())
def test_proven_usage_bills_as_the_engine_and_as_every_row_checked(
    case: tuple[Sheet, list[Row]],
) -> None:
    """Generated and shipped sheets, journals with packs, events and unknown actions, months
    crossed: the proven metering gives the engine's bills, and the same bills, lines and
    reported rows as checking every row (which sheets whose usage cannot be proven take)."""
    _check_both_routes(case)


@settings(SETTINGS, max_examples=40)
@given(provable_cases())
def test_provable_sheets_bill_as_the_engine_and_as_every_row_checked(
    case: tuple[Sheet, list[Row]],
) -> None:
    """The same, on sheets whose usage the statistics may prove: most examples take the
    proven route (the events say how many)."""
    _check_both_routes(case)


def _check_both_routes(case: tuple[Sheet, list[Row]]) -> None:
    sheet, rows = case
    typed = _typed(rows)
    if typed is None:
        return
    with tempfile.TemporaryDirectory(prefix="ratecard-proof-") as directory:
        paths = write_inputs(typed, Path(directory), "parquet", "integer")
        usage = [r.fields for r in typed if r.table == "usage"]
        assert paths["usage"] is not None
        pq.write_table(_usage_table(usage, sheet.zone), paths["usage"])
        options: dict[str, Any] = {
            name: str(paths[name])
            for name in ("purchases", "events", "accounts")
            if paths[name] is not None
        }
        proven, checked = (
            bill_warehouse(sheet.book, str(paths["usage"]), statistics=trusted, **options)
            for trusted in (True, False)
        )
    event(f"proven: {proven.stats['usage_proven']}")
    compare(sheet, typed, proven)
    _same(proven, checked)


def _month_rows(
    account: str, times: Sequence[str], action: str = "DetectBody", count: int = 1000
) -> list[dict[str, Any]]:
    return [{"account": account, "time": t, "action": action, "count": count} for t in times]


def test_one_month_is_metered_without_reading_a_time(tmp_path: Path) -> None:
    """Every row in November 2026 (Asia/Shanghai): the month is the footers', no time is read.

    acct-a: 3 × 1000 DetectBody (detection) = 3000; the monthly free 1000 leaves 2000, priced
    on the volume ladder's first bracket ((0, 300万], 0.002 each): 2000 × 0.002 = 4.00.
    acct-b: 1000 (covered by the free quota): 0.00."""
    rows = _month_rows(
        "acct-a", ["2026-11-01T00:00:00+08:00", "2026-11-15T12:00:00Z", "2026-11-30T15:59:59Z"]
    )
    rows += _month_rows("acct-b", ["2026-11-20T08:00:00+08:00"])
    usage = tmp_path / "usage.parquet"
    pq.write_table(_usage_table(rows, "Asia/Shanghai"), usage)
    proven, checked = _bill_both(BDA, usage)
    assert proven.stats["usage_proven"] is True
    metering = proven.queries["usage_groups"]
    assert "usage_src" in metering
    assert "calendar" not in metering and "EPOCH_US" not in metering
    bills = sorted((b["account"], b["month"], b["total"]) for b in proven.bills.to_pylist())
    assert bills == [("acct-a", "2026-11", Decimal("4.00")), ("acct-b", "2026-11", Decimal("0.00"))]
    _same(proven, checked)


def test_months_are_told_apart_at_the_rules_midnight(tmp_path: Path) -> None:
    """Rows either side of 2026-12-01 00:00 in Asia/Shanghai (2026-11-30 16:00 UTC): two months,
    each row's month by comparing its instant with November's end.

    November: 2000 DetectBody, less the free 1000: 1000 × 0.002 = 2.00. December: 1500, less
    December's free 1000: 500 × 0.002 = 1.00."""
    rows = _month_rows("acct-a", ["2026-11-30T15:59:59.999999Z"], count=2000)
    rows += _month_rows("acct-a", ["2026-11-30T16:00:00Z"], count=1500)
    usage = tmp_path / "usage.parquet"
    pq.write_table(_usage_table(rows, "Asia/Shanghai"), usage)
    proven, checked = _bill_both(BDA, usage)
    assert proven.stats["usage_proven"] is True
    bills = sorted((b["month"], b["total"]) for b in proven.bills.to_pylist())
    assert bills == [("2026-11", Decimal("2.00")), ("2026-12", Decimal("1.00"))]
    _same(proven, checked)


@pytest.mark.parametrize("unit", ["s", "ms", "us"])
def test_every_timestamp_unit_is_proven_alike(tmp_path: Path, unit: str) -> None:
    """A footer's bounds in seconds, milliseconds or microseconds are read back as instants:
    a row at December's first instant (Asia/Shanghai) is December's in each.

    November: 1200 − 1000 free = 200 × 0.002 = 0.40; December: 1000, all free: 0.00."""
    rows = _month_rows("acct-a", ["2026-11-30T15:59:59Z"], count=1200)
    rows += _month_rows("acct-a", ["2026-11-30T16:00:00Z"])
    usage = tmp_path / "usage.parquet"
    pq.write_table(_usage_table(rows, "Asia/Shanghai", unit), usage)
    proven, checked = _bill_both(BDA, usage)
    assert proven.stats["usage_proven"] is True
    bills = sorted((b["month"], b["total"]) for b in proven.bills.to_pylist())
    assert bills == [("2026-11", Decimal("0.40")), ("2026-12", Decimal("0.00"))]
    _same(proven, checked)


def _holder_and_plain(directory: Path) -> tuple[Path, Path]:
    """Usage and purchases: acct-p uses 3000 DetectBody on 2026-11-05, buys a 10万 detection
    pack on 2026-11-10 and uses 5000 on 2026-11-20; acct-q uses 3000 on 2026-11-05."""
    rows = _month_rows("acct-p", ["2026-11-05T10:00:00+08:00"], count=3000)
    rows += _month_rows("acct-p", ["2026-11-20T10:00:00+08:00"], count=5000)
    rows += _month_rows("acct-q", ["2026-11-05T10:00:00+08:00"], count=3000)
    usage = directory / "usage.parquet"
    pq.write_table(_usage_table(rows, "Asia/Shanghai"), usage)
    purchases = directory / "purchases.parquet"
    pq.write_table(
        pa.table(
            {
                "account": ["acct-p"],
                "time": ["2026-11-10T00:00:00+08:00"],
                "meter": ["detection"],
                "size": ["10万"],
            }
        ),
        purchases,
    )
    return usage, purchases


def test_a_pack_holder_is_cut_while_the_others_are_proven(tmp_path: Path) -> None:
    """acct-p buys a 10万 detection pack on 2026-11-10; its usage before the purchase pays
    postpaid, after it draws the pack. acct-q has no pack.

    acct-p: 3000 before (1000 free, then 2000 postpaid), 5000 after, drawn from the pack.
    acct-q: 3000, less the free 1000: 2000 postpaid."""
    usage, purchases = _holder_and_plain(tmp_path)
    proven, checked = _bill_both(BDA, usage, purchases)
    assert proven.stats["usage_proven"] is True
    lines = {
        (r["account"], r["source"], r["quantity"])
        for r in proven.lines.to_pylist()
        if r["meter"] == "detection"
    }
    assert ("acct-p", "postpaid", "2000") in lines
    assert ("acct-p", "pack", "5000") in lines
    assert ("acct-q", "postpaid", "2000") in lines
    _same(proven, checked)


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ({"count": None}, "missing count"),
        ({"count": -3}, "negative count"),
        ({"account": ""}, "missing account"),
        ({"account": None}, "missing account"),
        ({"action": None}, "missing action"),
        ({"time": None}, "missing time"),
    ],
)
def test_what_the_statistics_cannot_prove_is_checked_row_by_row(
    tmp_path: Path, bad: dict[str, Any], problem: str
) -> None:
    """One bad row of each kind the footers state: the proof is refused, every row is checked,
    the bad row is reported and skipped. acct-a's good 3000 bill 4.00 (2000 × 0.002)."""
    rows = _month_rows("acct-a", ["2026-11-05T10:00:00+08:00"], count=3000)
    rows.append({**_month_rows("acct-a", ["2026-11-06T10:00:00+08:00"], count=7)[0], **bad})
    usage = tmp_path / "usage.parquet"
    pq.write_table(_usage_table(rows, "Asia/Shanghai"), usage)
    proven, checked = _bill_both(BDA, usage)
    assert proven.stats["usage_proven"] is False
    assert [(i.problem, i.count) for i in proven.invalid] == [(problem, 1)]
    assert [(b["account"], b["total"]) for b in proven.bills.to_pylist()] == [
        ("acct-a", Decimal("4.00"))
    ]
    _same(proven, checked)


def test_unknown_and_unpriced_actions_are_reported_from_a_proven_table(tmp_path: Path) -> None:
    """The statistics prove no action missing, not that each is known: an unknown action and
    one the sheet prices elsewhere (SegmentCustomizedPortraitPic) are told from their groups
    and reported with samples, as when every row is checked."""
    rows = _month_rows("acct-a", ["2026-11-05T10:00:00+08:00"], count=3000)
    rows += _month_rows("acct-a", ["2026-11-06T10:00:00+08:00"], action="NoSuchAction", count=4)
    rows += _month_rows(
        "acct-b", ["2026-11-07T10:00:00+08:00"], action="SegmentCustomizedPortraitPic", count=2
    )
    usage = tmp_path / "usage.parquet"
    pq.write_table(_usage_table(rows, "Asia/Shanghai"), usage)
    proven, checked = _bill_both(BDA, usage)
    assert proven.stats["usage_proven"] is True
    assert sorted((i.problem, i.count) for i in proven.invalid) == [
        ("unknown action", 1),
        ("unpriced action", 1),
    ]
    assert [s["action"] for i in proven.invalid for s in i.samples] == [
        "NoSuchAction",
        "SegmentCustomizedPortraitPic",
    ]
    _same(proven, checked)


def test_whole_number_accounts_are_proven_too(tmp_path: Path) -> None:
    """Accounts as int64 (written in digits on the bills): 42's 3000 bill 4.00."""
    rows = _month_rows(42, ["2026-11-05T10:00:00+08:00"], count=3000)  # type: ignore[arg-type]
    usage = tmp_path / "usage.parquet"
    pq.write_table(_usage_table(rows, "Asia/Shanghai", account_type=pa.int64()), usage)
    proven, checked = _bill_both(BDA, usage)
    assert proven.stats["usage_proven"] is True
    assert [(b["account"], b["total"]) for b in proven.bills.to_pylist()] == [
        ("42", Decimal("4.00"))
    ]
    _same(proven, checked)


def test_files_without_statistics_are_checked_row_by_row(tmp_path: Path) -> None:
    """A Parquet file written without statistics proves nothing, and a CSV file has none:
    every row is checked, and the bills are the same."""
    rows = _month_rows("acct-a", ["2026-11-05T10:00:00+08:00"], count=3000)
    bare = tmp_path / "bare.parquet"
    pq.write_table(_usage_table(rows, "Asia/Shanghai"), bare, write_statistics=False)
    text = tmp_path / "usage.csv"
    text.write_text(
        "account,time,action,count\nacct-a,2026-11-05T10:00:00+08:00,DetectBody,3000\n",
        encoding="utf-8",
    )
    for usage in (bare, text):
        result = bill_warehouse(BDA, str(usage))
        assert result.stats["usage_proven"] is False
        assert [(b["account"], b["total"]) for b in result.bills.to_pylist()] == [
            ("acct-a", Decimal("4.00"))
        ]


def test_many_months_are_labelled_by_the_calendar(tmp_path: Path) -> None:
    """Usage over more months than a proof compares (January to December 2026): the rows are
    still not checked one by one, but each row's month comes from the calendar join; each
    month's 1000 is free: twelve bills of 0.00."""
    times = [datetime(2026, m, 10, tzinfo=UTC).isoformat() for m in range(1, 13)]
    usage = tmp_path / "usage.parquet"
    pq.write_table(_usage_table(_month_rows("acct-a", times), "Asia/Shanghai"), usage)
    proven, checked = _bill_both(BDA, usage)
    assert proven.stats["usage_proven"] is False
    assert [b["total"] for b in proven.bills.to_pylist()] == [Decimal("0.00")] * 12
    _same(proven, checked)


def test_the_command_can_check_every_row(tmp_path: Path, capsys: Any) -> None:
    """`ratecard warehouse --no-statistics` checks every row; the bill is the same."""
    from ratecard.cli import main

    rows = _month_rows("acct-a", ["2026-11-05T10:00:00+08:00"], count=3000)
    usage = tmp_path / "usage.parquet"
    pq.write_table(_usage_table(rows, "Asia/Shanghai"), usage)
    outputs = []
    for flags in ([], ["--no-statistics"]):
        assert (
            main(
                ["warehouse", str(RULES / "tencent-bda.rules"), "--usage", str(usage), "-q", *flags]
            )
            == 0
        )
        outputs.append(capsys.readouterr().out)
    assert outputs[0] == outputs[1]
    assert "4.00" in outputs[0]


@pytest.mark.parametrize("kind", ["int8", "int16", "int32", "int64", "uint8", "uint32", "uint64"])
def test_every_whole_count_type_is_added_up_exactly(tmp_path: Path, kind: str) -> None:
    """Counts of each whole-number type are proven and added up as the full query adds them
    (an unsigned 64-bit count too, which DuckDB would otherwise sum into a float): 20 rows of
    100 DetectBody = 2000, less the free 1000: 1000 × 0.002 = 2.00."""
    rows = _month_rows(
        "acct-a", [f"2026-11-{day:02d}T10:00:00+08:00" for day in range(1, 21)], count=100
    )
    table = _usage_table(rows, "Asia/Shanghai")
    table = table.set_column(3, "count", table.column("count").cast(getattr(pa, kind)()))
    usage = tmp_path / "usage.parquet"
    pq.write_table(table, usage)
    proven, checked = _bill_both(BDA, usage)
    assert proven.stats["usage_proven"] is True
    assert [(b["account"], b["total"]) for b in proven.bills.to_pylist()] == [
        ("acct-a", Decimal("2.00"))
    ]
    _same(proven, checked)


@pytest.mark.parametrize("edge", ["infinity", "-infinity"])
def test_an_infinite_time_is_not_proven(tmp_path: Path, edge: str) -> None:
    """DuckDB writes ±infinity timestamps, and a footer's bound then reads as one: the proof is
    refused and the row reported out of range, not a run stopped. acct-a's good 3000 bill
    4.00 (2000 × 0.002)."""
    import duckdb

    usage = tmp_path / "usage.parquet"
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute(
        "COPY (SELECT 'acct-a' AS account, CAST(t AS TIMESTAMPTZ) AS time, 'DetectBody' AS "
        "action, c AS count FROM (VALUES (?, 7::BIGINT), ('2026-11-05 02:00:00+00', 3000)) "
        f"v(t, c)) TO '{usage}' (FORMAT parquet)",
        [edge],
    )
    con.close()
    proven, checked = _bill_both(BDA, usage)
    assert proven.stats["usage_proven"] is False
    assert [(i.problem, i.count) for i in proven.invalid] == [("time out of range", 1)]
    assert [(b["account"], b["total"]) for b in proven.bills.to_pylist()] == [
        ("acct-a", Decimal("4.00"))
    ]
    _same(proven, checked)


def test_a_simulation_of_proven_usage_meters_once_and_bills_as_the_warehouse(
    tmp_path: Path,
) -> None:
    """`ratecard simulate` on proven usage (a pack holder among plain accounts) meters it once
    and gives each side what the warehouse gives that file alone.

    NEW prices detection's first bracket at 0.0019: acct-q's 2000 postpaid detection calls
    (3000 less the free 1000) bill 4.00 under OLD (× 0.002), 3.80 under NEW (× 0.0019)."""
    from ratecard.warehouse.simulate import simulate_warehouse

    usage, purchases = _holder_and_plain(tmp_path)
    text = (RULES / "tencent-bda.rules").read_text(encoding="utf-8")
    changed = text.replace("(0, 300万]       0.002 ", "(0, 300万]       0.0019")
    assert changed != text
    new_file = tmp_path / "new.rules"
    new_file.write_text(changed, encoding="utf-8")
    new = ratecard.load(new_file)
    sim = simulate_warehouse(BDA, new, str(usage), purchases=str(purchases))
    assert sim.one_scan
    assert sim.old.stats["usage_proven"] is True
    for book, side in ((BDA, sim.old), (new, sim.new)):
        alone = bill_warehouse(book, str(usage), purchases=str(purchases))
        assert sorted(alone.bills.to_pylist(), key=str) == sorted(side.bills.to_pylist(), key=str)
    totals = {r["account"]: (r["old_total"], r["new_total"]) for r in sim.table.to_pylist()}
    assert totals["acct-q"] == (Decimal("4.00"), Decimal("3.80"))
