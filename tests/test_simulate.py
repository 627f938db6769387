"""`ratecard simulate OLD NEW`: every account billed under both rules files and compared.

The per-account totals are those `bill_warehouse` gives for each rules file alone (differential,
with packs and a contract), whether the usage is metered once (the files route actions alike)
or twice; a worked example carries its arithmetic; the JSON validates against its schema; the
HTML report is self-contained; bad input is refused naming both files.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

import ratecard  # noqa: E402
from ratecard.cli import main  # noqa: E402
from ratecard.warehouse import bill_warehouse  # noqa: E402
from ratecard.warehouse.simulate import (  # noqa: E402
    SCHEMA,
    Simulation,
    contracts_on,
    nearest_rank,
    simulate_warehouse,
)
from ratecard.warehouse.simulate_command import progress  # noqa: E402
from tests.conftest import ROOT  # noqa: E402

EXAMPLE = ROOT / "examples" / "price-change"
SHEET = (EXAMPLE / "bda-2027.rules").read_text(encoding="utf-8")
ACME = (EXAMPLE / "acme.rules").read_text(encoding="utf-8")
#: The 2027 price change made dearer: the first detection/library/search bracket from 0.0016
#: to 0.0017 a call.
DEARER = SHEET.replace("    (0, 300万]       0.0016\n", "    (0, 300万]       0.0017\n")
#: The same, and a bigger 2027 allowance: metered once, drawn down twice.
ROOMIER = DEARER.replace("  allowance 2000 per month on every meter while active\n",
                         "  allowance 2500 per month on every meter while active\n")
assert ROOMIER != DEARER
#: The same, with no published price from 3,000,000 calls a month on in 2027.
CLIFF = DEARER.replace(
    "    (300万, 1500万]  0.0018  # allow: W003, W004 the first bracket is discounted in 2027\n",
    "    (300万, 1500万]  contact sales\n")
assert CLIFF != DEARER
#: A change that meters differently: CreateTrace is no longer an action of the sheet, and the
#: 2027 segmentation price is cut.
REROUTED = SHEET.replace("  counts CreatePerson, CreateTrace\n", "  counts CreatePerson\n").replace(
    "    (0, 1万]       0.009\n", "    (0, 1万]       0.008\n"
)
assert DEARER != SHEET and REROUTED.count("CreateTrace") == SHEET.count("CreateTrace") - 1

#: The worked accounts (as in tests/test_warehouse_versions.py): `plain` uses the sheet alone,
#: `holder` holds a 1万 detection pack, `acme` is under the acme contract from 2027-01-01.
USAGE = [
    ("plain", "2026-12-05T10:00:00+08:00", "DetectBody", 5000),
    ("plain", "2027-01-05T10:00:00+08:00", "DetectBody", 5000),
    ("holder", "2026-12-21T10:00:00+08:00", "DetectBody", 3000),
    ("holder", "2027-01-05T10:00:00+08:00", "DetectBody", 12000),
    ("acme", "2026-12-05T10:00:00+08:00", "DetectBody", 5000),
    ("acme", "2027-01-05T10:00:00+08:00", "DetectBody", 300000),
    ("acme", "2027-03-05T10:00:00+08:00", "SearchTrace", 1000),
]
PURCHASES = [
    ("holder", "2026-12-20T10:00:00+08:00", "detection", "1万"),
    ("acme", "2027-01-02T10:00:00+08:00", "detection", "10万"),
]
ACTIONS = ["DetectBody", "DetectBodyJoints", "SegmentPortraitPic", "CreatePerson", "CreateTrace",
           "SearchTrace", "GetGroupList"]


def _write(path: Path, header: list[str], rows: list[tuple[Any, ...]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return path


class Case:
    """Rules files (old, new, each with the acme contract extending it), usage, purchases and a
    contracts table in a directory."""

    def __init__(self, directory: Path, new_text: str, usage: list[tuple[Any, ...]],
                 purchases: list[tuple[Any, ...]]) -> None:
        self.dir = directory
        for side, text in (("old", SHEET), ("new", new_text)):
            (directory / side).mkdir()
            (directory / side / "bda-2027.rules").write_text(text, encoding="utf-8")
            (directory / side / "acme.rules").write_text(ACME, encoding="utf-8")
            (directory / side / "contracts.csv").write_text(
                "account,contract\nacme,acme.rules\n", encoding="utf-8")
        self.old = str(directory / "old" / "bda-2027.rules")
        self.new = str(directory / "new" / "bda-2027.rules")
        # The table the simulation is given: its contract extends the old file (as in a
        # repository where the new file replaces it).
        self.contracts = str(directory / "old" / "contracts.csv")
        self.usage = str(_write(directory / "usage.csv", ["account", "time", "action", "count"],
                                usage))
        self.purchases = str(_write(directory / "purchases.csv",
                                    ["account", "time", "meter", "size"], purchases))

    def simulate(self, **options: Any) -> Simulation:
        old, new = ratecard.load(self.old), ratecard.load(self.new)
        return simulate_warehouse(
            old, new, self.usage, old_name=self.old, new_name=self.new,
            purchases=self.purchases,
            contracts=(contracts_on(self.old, self.contracts),
                       contracts_on(self.new, self.contracts)),
            **options,
        )

    def alone(self, side: str, **options: Any) -> dict[tuple[str, str], Decimal]:
        """`ratecard warehouse`'s totals for one rules file, with the contract that extends
        that very file."""
        result = bill_warehouse(
            ratecard.load(self.dir / side / "bda-2027.rules"), self.usage,
            purchases=self.purchases, contracts=str(self.dir / side / "contracts.csv"),
            return_lines=False, **options,
        )
        assert result.bills is not None
        return {(r["account"], r["month"]): r["total"] for r in result.bills.to_pylist()}


def _generated(seed: int) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Forty accounts over 2026-11 to 2027-02 (across the sheet's 2027 version), a quarter of
    them buying packs, acme under its contract, with enough calls to reach the second bracket
    now and then."""
    rng = random.Random(seed)
    usage: list[tuple[Any, ...]] = list(USAGE)
    purchases: list[tuple[Any, ...]] = list(PURCHASES)
    months = ["2026-11", "2026-12", "2027-01", "2027-02"]
    for number in range(40):
        account = f"a{number:02d}"
        for _ in range(rng.randint(1, 6)):
            day = f"{rng.choice(months)}-{rng.randint(1, 28):02d}T{rng.randint(0, 23):02d}:00:00"
            count = rng.choice([rng.randint(0, 3000), rng.randint(0, 400_000), 3_100_000])
            usage.append((account, day + "+08:00", rng.choice(ACTIONS), count))
        if number % 4 == 0:
            meter = rng.choice(["detection", "segmentation", "search"])
            size = "1万" if meter == "detection" else rng.choice(["1万", "10万"])
            purchases.append((account, f"{rng.choice(months)}-03T08:00:00+08:00", meter, size))
    return usage, purchases


def _per_account_month(sim: Simulation) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    return {(r["account"], r["month"]): (r["old_total"], r["new_total"])
            for r in sim.table.to_pylist()}


def _assert_matches_warehouse(case: Case, sim: Simulation, **options: Any) -> None:
    old, new = case.alone("old", **options), case.alone("new", **options)
    got = _per_account_month(sim)
    assert set(got) == set(old) | set(new)
    zero = Decimal("0.00")
    for key, (old_total, new_total) in got.items():
        assert old_total == old.get(key, zero), key
        assert new_total == new.get(key, zero), key
        assert old_total.as_tuple().exponent == -2 and new_total.as_tuple().exponent == -2
    assert sim.old_total == sum(old.values()) and sim.new_total == sum(new.values())
    # The meters add up to the bills: every line is counted once.
    assert sum(c.old for c in sim.meters) == sim.old_total
    assert sum(c.new for c in sim.meters) == sim.new_total
    assert sum(c.old for c in sim.months) == sim.old_total


# --- the warehouse's bills, under each rules file ---------------------------------------------

@pytest.mark.parametrize("seed", [1, 2])
def test_metered_once_the_totals_are_the_warehouses_for_each_file(tmp_path: Path,
                                                                  seed: int) -> None:
    usage, purchases = _generated(seed)
    case = Case(tmp_path, DEARER, usage, purchases)
    sim = case.simulate()
    assert sim.one_scan and sim.two_scans_because is None
    assert sim.shared == ("metering", "plain drawdown")
    assert sim.old.invalid == () and sim.old.problems == () and sim.new.problems == ()
    assert sim.old.stats["accounts_with_history"] == 12  # 10 + holder buy packs; acme
    assert sim.new.queries["usage_groups"] == sim.old.queries["usage_groups"]
    _assert_matches_warehouse(case, sim)
    assert sim.accounts == 43 and sim.up + sim.down + sim.same == 43
    assert sim.delta > 0 and sim.down == 0  # only a price went up


def test_metered_once_and_drawn_down_twice_when_the_allowance_changes(tmp_path: Path) -> None:
    usage, purchases = _generated(7)
    case = Case(tmp_path, ROOMIER, usage, purchases)
    sim = case.simulate()
    assert sim.shared == ("metering",)
    _assert_matches_warehouse(case, sim)
    assert sim.new.queries["usage_groups"] == sim.old.queries["usage_groups"]


def test_metered_twice_when_the_files_route_actions_differently(tmp_path: Path) -> None:
    usage, purchases = _generated(3)
    case = Case(tmp_path, REROUTED, usage, purchases)
    sim = case.simulate()
    assert not sim.one_scan and sim.shared == ()
    assert sim.two_scans_because == "the actions are counted by other meters"
    _assert_matches_warehouse(case, sim)
    # CreateTrace rows are bad rows of the new file only, counted with samples.
    creates = sum(1 for row in usage if row[2] == "CreateTrace")
    assert creates > 0
    assert [(i.problem, i.count) for i in sim.new.invalid] == [("unknown action", creates)]
    assert sim.new.invalid[0].samples[0]["action"] == "CreateTrace"
    assert sim.old.invalid == ()


def test_months_one_file_cannot_bill_are_left_out_of_the_comparison(tmp_path: Path) -> None:
    """An account month that reaches `contact sales` under the new file is billed by neither
    side of the comparison (it would be a spurious mover), and counted in `left_out`."""
    usage, purchases = _generated(1)
    case = Case(tmp_path, CLIFF, usage, purchases)
    sim = case.simulate()
    assert sim.old.problems == ()
    cut = {(p.account, p.month) for p in sim.new.problems}
    assert cut and all(month is not None and month >= "2027-01" for _, month in cut)
    assert sim.left_out == len(cut)
    got = _per_account_month(sim)
    assert not cut & set(got)
    old, new = case.alone("old"), case.alone("new")
    assert set(got) == set(old) - cut == set(new)
    assert all(got[key] == (old[key], new[key]) for key in got)
    assert sim.to_dict()["left_out"] == len(cut)


def test_one_month(tmp_path: Path) -> None:
    usage, purchases = _generated(4)
    case = Case(tmp_path, DEARER, usage, purchases)
    sim = case.simulate(month="2027-01")
    assert {c.name for c in sim.months} == {"2027-01"}
    _assert_matches_warehouse(case, sim, month="2027-01")


# --- a worked example ------------------------------------------------------------------------

def test_worked_example(tmp_path: Path) -> None:
    """examples/price-change with the 2027 first bracket of detection at 0.0017 instead of
    0.0016 a call (old → new):

    - plain, 2027-01: 3000 postpaid calls: 4.80 → 5.10 (+0.30); 2026-12 8.00 both. Over both
      months 12.80 → 13.10: +0.30, 0.30 / 12.80 = 2.34375% → +2.34%.
    - holder, 2027-01: 2000 postpaid calls: 3.20 → 3.40 (+0.20); 0.20 / 3.20 = +6.25%.
    - acme, 2027-01 under its contract: 198000 postpaid calls 316.80 → 336.60, 20% off
      253.44 → 269.28, the true-up to the minimum spend of 500 246.56 → 230.72: 500.00 both;
      2026-12 8.00, 2027-02 and 2027-03 500.00: 1508.00, unchanged (0.00%).
    - Totals 8.00 + 500 × 3 + 0.00 + 3.20 + 8.00 + 4.80 = 1524.00 → 1524.50 (+0.50;
      0.50 / 1524 = 0.0328% → +0.03%). Up 2, down 0, unchanged 1.
    - Percentiles (nearest rank of 3): the changes sorted 0.00, 0.20, 0.30; p25 is the 1st
      (ceil 0.75), p50 the 2nd (ceil 1.5), p75 the 3rd. In percent: 0.00, 2.34, 6.25.
    - By meter: detection old 8.00 + 4.80 + 3.20 + 8.00 + 316.80 − 63.36 = 277.44, new
      8.00 + 5.10 + 3.40 + 8.00 + 336.60 − 67.32 = 293.78 (+16.34, +5.89%); the true-ups (`*`)
      246.56 + 500 + 500 = 1246.56 → 1230.72 (−15.84, −1.27%); search 0.00 both.
    """
    case = Case(tmp_path, DEARER, USAGE, PURCHASES)
    sim = case.simulate()
    assert (sim.old_total, sim.new_total, sim.delta, sim.percent) == (
        Decimal("1524.00"), Decimal("1524.50"), Decimal("0.50"), Decimal("0.03"))
    assert (sim.accounts, sim.up, sim.down, sim.same, sim.from_zero) == (3, 2, 0, 1, 0)
    by = {p.percentile: (p.delta, p.percent) for p in sim.percentiles}
    assert by[0] == by[25] == (Decimal("0.00"), Decimal("0.00"))
    assert by[50] == (Decimal("0.20"), Decimal("2.34"))
    assert by[75] == by[100] == (Decimal("0.30"), Decimal("6.25"))
    assert [(m.account, m.old, m.new, m.delta, m.percent) for m in sim.movers_up] == [
        ("plain", Decimal("12.80"), Decimal("13.10"), Decimal("0.30"), Decimal("2.34")),
        ("holder", Decimal("3.20"), Decimal("3.40"), Decimal("0.20"), Decimal("6.25")),
    ]
    assert sim.movers_down == ()
    assert [(c.name, c.old, c.new, c.delta, c.percent) for c in sim.meters] == [
        ("detection", Decimal("277.44"), Decimal("293.78"), Decimal("16.34"), Decimal("5.89")),
        ("search", Decimal("0.00"), Decimal("0.00"), Decimal("0.00"), None),
        ("*", Decimal("1246.56"), Decimal("1230.72"), Decimal("-15.84"), Decimal("-1.27")),
    ]
    assert [(c.name, c.old, c.new, c.accounts) for c in sim.months] == [
        ("2026-12", Decimal("16.00"), Decimal("16.00"), 3),
        ("2027-01", Decimal("508.00"), Decimal("508.50"), 3),
        ("2027-02", Decimal("500.00"), Decimal("500.00"), 1),
        ("2027-03", Decimal("500.00"), Decimal("500.00"), 1),
    ]


def test_nearest_rank() -> None:
    assert [nearest_rank(p, 3) for p in (0, 1, 25, 34, 50, 67, 100)] == [1, 1, 1, 2, 2, 3, 3]
    assert [nearest_rank(p, 200) for p in (0, 1, 50, 99, 100)] == [1, 2, 100, 198, 200]


# --- the command line ------------------------------------------------------------------------

def _cli(case: Case, *extra: str) -> list[str]:
    return ["simulate", case.old, case.new, "--usage", case.usage, "--purchases",
            case.purchases, "--contracts", case.contracts, *extra]


def test_json_validates_against_its_schema(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    case = Case(tmp_path, DEARER, USAGE, PURCHASES)
    assert main(_cli(case, "--json")) == 0
    data = json.loads(capsys.readouterr().out)
    schema = json.loads((ROOT / "docs" / "schemas" / "simulate.json").read_text())
    jsonschema.Draft202012Validator(schema).validate(data)
    assert data["schema"] == SCHEMA
    assert (data["accounts"], data["old_total"], data["new_total"], data["delta"]) == (
        3, "1524.00", "1524.50", "0.50")
    assert (data["up"], data["down"], data["same"]) == (2, 0, 1)
    # Money is never a JSON number.
    assert not re.search(r'"(old|new|delta|old_total|new_total)": \d', json.dumps(data))
    broken = {**data, "delta": 0.5}
    assert not jsonschema.Draft202012Validator(schema).is_valid(broken)


def test_summary_and_accounts_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = Case(tmp_path, DEARER, USAGE, PURCHASES)
    out_csv, out_parquet = tmp_path / "accounts.csv", tmp_path / "accounts.parquet"
    assert main(_cli(case, "--accounts-out", str(out_csv))) == 0
    out, err = capsys.readouterr()
    assert "Usage is assumed unchanged by the price change." in out
    assert re.search(r"^revenue\s+1,524\.00\s+1,524\.50\s+\+0\.50\s+\+0\.03%$", out, re.M)
    assert "accounts: 2 up, 0 down, 1 unchanged" in out
    assert err == ""  # not a terminal: no progress
    assert out_csv.read_text().splitlines()[:3] == [
        "account,month,old_total,new_total,delta",
        "acme,2026-12,8.00,8.00,0.00",
        "acme,2027-01,500.00,500.00,0.00",
    ]
    assert main(_cli(case, "--accounts-out", str(out_parquet))) == 0
    table = pq.read_table(out_parquet)
    assert table.column_names == ["account", "month", "old_total", "new_total", "delta"]
    assert str(table.schema.field("delta").type) == "decimal128(38, 2)"
    assert table.to_pylist()[-1] == {"account": "plain", "month": "2027-01",
                                     "old_total": Decimal("4.80"), "new_total": Decimal("5.10"),
                                     "delta": Decimal("0.30")}


def test_report_is_self_contained(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("matplotlib")
    usage, purchases = _generated(5)
    case = Case(tmp_path, DEARER, usage, purchases)
    report = tmp_path / "report.html"
    assert main(_cli(case, "-o", str(report), "-q")) == 0
    capsys.readouterr()
    html = report.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert "Usage is assumed unchanged by the price change" in html
    assert html.count("<svg") == 3  # distribution, meters, movers
    assert not re.search(r"(src|href)\s*=\s*[\"']?\s*(https?:)?//", html, re.I)
    assert "http" not in html and "<script" not in html and "<link" not in html
    assert "<img" not in html
    assert not re.search(r"url\((?!#)", html)  # only the page's own fragments (clip paths)
    assert not re.search(r"href=\"(?!#)", html)
    assert ">1,524.00<" not in html  # the generated case, not the worked one
    sim = case.simulate()
    assert f">{sim.old_total:,f}<" in html and f">{sim.new_total:,f}<" in html


def test_progress_on_a_terminal_only() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    shown = Terminal()
    with progress(shown, quiet=False, steps=15) as step:
        assert step is not None
        step("old.rules: read")
        step("old.rules: meter")
    assert "old.rules: meter" in shown.getvalue()
    with progress(Terminal(), quiet=True, steps=15) as step:
        assert step is None
    with progress(io.StringIO(), quiet=False, steps=15) as step:
        assert step is None


# --- refusals --------------------------------------------------------------------------------

@pytest.mark.parametrize(("find", "replace", "message"), [
    ("currency CNY", "currency USD",
     "{old} bills in CNY and {new} in USD: a simulation compares bills in one currency"),
    ("timezone Asia/Shanghai", "timezone Europe/Paris",
     "{old} keeps time in Asia/Shanghai and {new} in Europe/Paris: a simulation compares the "
     "same months, in one timezone"),
])
def test_unlike_rules_files_are_refused_naming_both(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], find: str, replace: str, message: str
) -> None:
    case = Case(tmp_path, SHEET.replace(find, replace), USAGE, PURCHASES)
    assert main(["simulate", case.old, case.new, "--usage", case.usage]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip() == "ratecard: error: " + message.format(old=case.old, new=case.new)


def test_rules_with_errors_exit_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = Case(tmp_path, SHEET.replace("currency CNY", "currency"), USAGE, PURCHASES)
    assert main(["simulate", case.old, case.new, "--usage", case.usage]) == 1
    assert "error" in capsys.readouterr().err


def test_bad_paths_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    case = Case(tmp_path, DEARER, USAGE, PURCHASES)
    assert main(_cli(case, "--accounts-out", case.usage)) == 2
    assert "would replace the usage input" in capsys.readouterr().err
    assert main(_cli(case, "--accounts-out", str(tmp_path / "a.json"))) == 2
    assert ".parquet or .csv" in capsys.readouterr().err
    assert main(_cli(case, "-o", str(tmp_path / "report.txt"))) == 2
    assert "an .html file" in capsys.readouterr().err
    assert main(["simulate", case.old, case.new, "--usage", str(tmp_path / "none.csv")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_a_contract_that_does_not_apply_on_the_new_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The new file drops the search meter, which the contract discounts: refused, with the
    contract's diagnostic (exit 1, as a contract with errors everywhere)."""
    without_search = SHEET.replace("  counts SearchTrace\n", "  counts SearchTrace\n", 1)
    without_search = re.sub(r'meter search .*?\n  counts SearchTrace\n', "", without_search,
                            flags=re.S)
    without_search = without_search.replace("on detection, library, search",
                                            "on detection, library")
    without_search = re.sub(r"\n  search  .*", "", without_search)
    assert "meter search" not in without_search
    case = Case(tmp_path, without_search, USAGE, PURCHASES)
    assert ratecard.loads(without_search).meters  # the new file itself is fine
    assert main(_cli(case)) == 1
    err = capsys.readouterr().err
    assert f"does not apply on {case.new}" in err


# --- Spark ------------------------------------------------------------------------------------

@pytest.mark.spark
def test_spark_simulates_as_duckdb(tmp_path: Path, spark: Any) -> None:
    """The simulation on Spark is DuckDB's, to the last field, and its totals are the
    warehouse's for each rules file (on DuckDB: Spark's bills with versions, contracts and
    packs are checked against the engine in tests/test_warehouse_spark.py)."""
    usage, purchases = _generated(6)
    case = Case(tmp_path, DEARER, usage, purchases)
    on_duckdb = case.simulate()
    on_spark = case.simulate(engine="spark", spark=spark)
    assert on_spark.one_scan
    assert _per_account_month(on_spark) == _per_account_month(on_duckdb)
    assert on_spark.to_dict() | {"engine": "duckdb"} == on_duckdb.to_dict()
    _assert_matches_warehouse(case, on_spark)


@pytest.mark.parametrize("command", ["warehouse", "simulate"])
def test_progress_of_the_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  command: str) -> None:
    """On a terminal, `warehouse` and `simulate` show their steps on stderr; with `--quiet`
    they do not."""
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    case = Case(tmp_path, DEARER, USAGE, PURCHASES)
    files = [case.old] if command == "warehouse" else [case.old, case.new]
    for quiet in (False, True):
        shown = Terminal()
        monkeypatch.setattr("sys.stderr", shown)
        argv = [command, *files, "--usage", case.usage, "--purchases", case.purchases,
                *(["-q"] if quiet else [])]
        assert main(argv) == 0
        text = shown.getvalue()
        assert ("meter" in text and "drawdown" in text) is not quiet, (quiet, text)


def test_a_change_to_exact_amounts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The rounding-modes sheet (tests/test_rounding_modes.py) from `rounding half_up 0.01` to
    `rounding exact`, same prices, its journal as the usage table. November: per line 0.00 +
    0.00 + 0.33 + 0.01 = 0.34; exact 0.0045 + 0.0025 + 0.333 + 0.00775 = 0.34775 (+0.00775,
    0.00775 / 0.34 = 2.279% → +2.28%). December: 0.0015 → 0.00 per line, 0.0015 exact. Over both
    0.34 → 0.34925, +0.00925 (2.7206% → +2.72%). By meter: a 0.00 → 0.0045 + 0.0015 = 0.006;
    b 0.00 → 0.0025; c 0.33 + 0.01 = 0.34 → 0.34075 (+0.00075, +0.22%). Money is compared at
    the exact side's 5 decimals."""
    from tests.test_rounding_modes import JOURNAL, MODES
    from tests.test_rounding_modes import SHEET as ROUNDING_SHEET

    for mode in ("line", "exact"):
        (tmp_path / f"{mode}.rules").write_text(ROUNDING_SHEET.format(rounding=MODES[mode]),
                                                encoding="utf-8")
    usage = _write(tmp_path / "usage.csv", ["account", "time", "action", "count", "id"],
                   [("acme", e["time"], e["action"], e["count"], e["id"]) for e in JOURNAL])
    accounts = tmp_path / "accounts.csv"
    assert main(["simulate", str(tmp_path / "line.rules"), str(tmp_path / "exact.rules"),
                 "--usage", str(usage), "--json", "-q", "--accounts-out", str(accounts)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["old_total"], report["new_total"], report["delta"], report["percent"]) == (
        "0.34000", "0.34925", "0.00925", "2.72")
    assert [(m["meter"], m["old"], m["new"], m["percent"]) for m in report["meters"]] == [
        ("a", "0.00", "0.00600", None), ("b", "0.00", "0.00250", None),
        ("c", "0.34", "0.34075", "0.22")]
    assert [(m["month"], m["old"], m["new"], m["percent"]) for m in report["months"]] == [
        ("2026-11", "0.34000", "0.34775", "2.28"), ("2026-12", "0.00000", "0.00150", None)]
    assert accounts.read_text().splitlines() == [
        "account,month,old_total,new_total,delta",
        "acme,2026-11,0.34000,0.34775,0.00775",
        "acme,2026-12,0.00000,0.00150,0.00150",
    ]
