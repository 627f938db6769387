"""The warehouse benchmark: a month of usage for many accounts, billed on DuckDB and on Spark.

    .venv/bin/python bench/warehouse.py                     # 100M rows, 1M accounts (DuckDB)
    .venv/bin/python bench/warehouse.py --rows 10M --accounts 100k --repeat 1
    .venv/bin/python bench/run.py --warehouse               # the same, from the main benchmark
    .venv/bin/python bench/warehouse.py --parts simulate    # simulate / one warehouse run

The usage is generated inside DuckDB (never in Python) into Parquet files under `--data` (kept
for the next run): `--rows` rows over `--accounts` accounts in November 2026, BDA actions (a free
one among them), counts 1–2000 (so most accounts pass the free allowance and pay), times as
ISO 8601 strings with an offset (the `-timestamps` runs read a copy with `time` as a Parquet
TIMESTAMP WITH TIME ZONE). Purchases: one 10万 pack (detection or segmentation, alternately) for
1% of the accounts ("few"), or for every account ("every"), bought between mid-October and
mid-November. Each measured run is a fresh process (its wall time and peak memory);
figures are medians. A sample of accounts is billed by the Python engine too: its rows per second,
and a check that the warehouse's bills for them are the engine's to the fen.

`floor` measures one run (1% hold packs, `time` a timestamp, bills only) beside DuckDB's bare
`GROUP BY account, action` sum of the same Parquet file (the least any bill of it costs),
alternately, and reports the ratio of their wall times (medians) and CPU times.

`replay` measures the engine's replay route (`--replay-rows` rows over `--replay-accounts`
accounts, 1% hold packs, bills only) on the BDA sheet with a 50.00 trial credit granted at every
account's opening: every account is then billed by the engine's replay from its compressed
journal (as with grants, credits, subscriptions, fees, daily bills): its rows per second beside
a plain run of the same data.

`simulate` measures `ratecard simulate` (the BDA sheet against the same sheet with its first
detection bracket at 0.0019: the usage metered once) beside one `ratecard warehouse` run of the
same data (bills only, written to Parquet), on `--simulate-rows` rows over `--simulate-accounts`
accounts (1% hold packs, `time` a timestamp), and reports the ratio of their wall times.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BDA = ROOT / "rules" / "tencent-bda.rules"
MEMORY_LIMIT = "3GB"  # DuckDB's own limit (it takes 80% of the machine's memory by default)
ACTIONS = (
    "DetectBody",
    "DetectBodyJoints",
    "SegmentPortraitPic",
    "CreatePerson",
    "CreateTrace",
    "SearchTrace",
    "GetGroupList",
)


def number(text: str) -> int:
    from ratecard.literals import parse_number

    return int(parse_number(text))


# --- data, generated in DuckDB -------------------------------------------------------------------


def generate(data: Path, rows: int, accounts: int) -> dict[str, Path]:
    """Usage and purchase files for `rows` and `accounts` (made once, then reused)."""
    import duckdb

    folder = data / f"r{rows}-a{accounts}-v2"
    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: folder / f"{name}.parquet" for name in ("usage", "few", "every")}
    con = duckdb.connect()
    con.execute("SET TimeZone = 'Asia/Shanghai'")
    account = "'acct-' || lpad(CAST({n} AS VARCHAR), 7, '0')"
    actions = "[" + ", ".join(f"'{a}'" for a in ACTIONS) + "]"
    if not paths["usage"].exists():
        started = time.perf_counter()
        con.execute(f"""
            COPY (
              SELECT {account.format(n=f"hash(i) % {accounts}")} AS account,
                     CAST(TIMESTAMPTZ '2026-11-01 00:00:00+08'
                          + to_microseconds(CAST(hash(i + 7919) % 2592000000000 AS BIGINT))
                          AS VARCHAR) AS time,
                     {actions}[1 + CAST(hash(i * 3) % {len(ACTIONS)} AS INTEGER)] AS action,
                     CAST(1 + hash(i * 5) % 2000 AS BIGINT) AS count
              FROM range({rows}) t(i)
            ) TO '{paths["usage"]}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)
        """)
        print(
            f"generated {rows:,} usage rows in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )
    for name, share in (("few", 100), ("every", 1)):
        if paths[name].exists():
            continue
        con.execute(f"""
            COPY (
              SELECT {account.format(n="a")} AS account,
                     CAST(TIMESTAMPTZ '2026-10-15 00:00:00+08'
                          + to_microseconds(CAST(hash(a + 17) % 2592000000000 AS BIGINT))
                          AS VARCHAR) AS time,
                     CASE WHEN a % 2 = 0 THEN 'detection' ELSE 'segmentation' END AS meter,
                     '10万' AS size
              FROM range(0, {accounts}, {share}) t(a)
            ) TO '{paths[name]}' (FORMAT parquet)
        """)
    con.close()
    return paths


def timestamped(usage: Path) -> Path:
    """The usage with `time` as a Parquet timestamp with time zone, as warehouses usually keep
    event times (made once from the text file, then reused)."""
    import duckdb

    target = usage.with_name("usage-timestamps.parquet")
    if not target.exists():
        con = duckdb.connect()
        con.execute(f"""
            COPY (SELECT account, CAST(time AS TIMESTAMPTZ) AS time, action, count
                  FROM '{usage}')
            TO '{target}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)
        """)
        con.close()
    return target


ANTHROPIC = ROOT / "rules" / "anthropic-claude.rules"


def generate_requests(data: Path, rows: int, accounts: int) -> Path:
    """A requests table for the Anthropic sheet (made once, then reused): `rows` Messages calls
    over `accounts` accounts in November 2026, models spread over the sheet's, 10% batch, 5% US
    inference, 5% with the 1M context window (about a third of those over 200K tokens), input
    0–300K tokens, a third with cache reads, output 0–4K tokens, ISO text times."""
    import duckdb

    import ratecard

    models = ratecard.load(ANTHROPIC).requests["messages"].properties["model"].values or ()
    folder = data / f"requests-r{rows}-a{accounts}-v1"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "requests.parquet"
    if path.exists():
        return path
    listed = "[" + ", ".join(f"'{m}'" for m in models) + "]"
    started = time.perf_counter()
    con = duckdb.connect()
    con.execute(f"""
        COPY (
          SELECT 'acct-' || lpad(CAST(hash(i) % {accounts} AS VARCHAR), 7, '0') AS account,
                 CAST(TIMESTAMPTZ '2026-11-01 00:00:00+00'
                      + to_microseconds(CAST(hash(i + 7919) % 2592000000000 AS BIGINT))
                      AS VARCHAR) AS time,
                 'messages' AS action,
                 {listed}[1 + CAST(hash(i * 3) % {len(models)} AS INTEGER)] AS model,
                 CASE WHEN hash(i * 11) % 10 = 0 THEN 'batch' END AS service_tier,
                 CASE WHEN hash(i * 13) % 20 = 0 THEN 'us' END AS inference_geo,
                 hash(i * 17) % 20 = 0 AS context_1m,
                 CAST(hash(i * 5) % 300000 AS BIGINT) AS input_tokens,
                 CASE WHEN hash(i * 19) % 3 = 0 THEN CAST(hash(i * 23) % 50000 AS BIGINT) END
                   AS cache_read_input_tokens,
                 CAST(hash(i * 7) % 4000 AS BIGINT) AS output_tokens
          FROM range({rows}) t(i)
        ) TO '{path}' (FORMAT parquet, ROW_GROUP_SIZE 1000000)
    """)
    con.close()
    print(f"generated {rows:,} request rows in {time.perf_counter() - started:.0f} s",
          file=sys.stderr)
    return path


def requests_once(path: str) -> dict[str, Any]:
    """Bill a requests table on the Anthropic sheet (in this process): wall and CPU time, peak
    memory, bills."""
    import resource

    import ratecard
    from ratecard.warehouse import bill_warehouse

    book = ratecard.load(ANTHROPIC)
    started, cpu = time.perf_counter(), _cpu()
    result = bill_warehouse(book, None, requests=path, threads=2, memory_limit=MEMORY_LIMIT,
                            return_lines=False)
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    return {
        "seconds": seconds, "cpu_seconds": cpu,
        "peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "worker_peak_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
        "stats": {"bills": result.bills.num_rows if result.bills is not None else 0,
                  "steps": result.stats["seconds"]},
    }


TRIAL = 'credit trial "试用金" / "Trial credit" 50 once on every meter valid 2 months\n'


def replay_once(usage: str, purchases: str, credit: str) -> dict[str, Any]:
    """Bill the BDA sheet (with the trial credit when `credit` is "1": every account replayed
    by the engine) in this process: wall and CPU time, peak memory, bills, accounts replayed."""
    import resource

    import ratecard
    from ratecard.warehouse import bill_warehouse

    text = BDA.read_text(encoding="utf-8") + (TRIAL if credit == "1" else "")
    book = ratecard.loads(text, "bda.rules")
    started, cpu = time.perf_counter(), _cpu()
    result = bill_warehouse(book, usage, purchases=purchases, threads=2,
                            memory_limit=MEMORY_LIMIT, return_lines=False)
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    return {
        "seconds": seconds, "cpu_seconds": cpu,
        "peak_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "worker_peak_bytes": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,
        "stats": {"bills": result.bills.num_rows if result.bills is not None else 0,
                  "replayed": result.stats.get("accounts_replayed", 0),
                  "steps": result.stats["seconds"]},
    }


def replay_bench(args: argparse.Namespace, data: Path) -> int:
    """The `replay` case: a plain run and the replay route on the same data, alternately, each
    a fresh process; medians."""
    rows, accounts = number(args.replay_rows), number(args.replay_accounts)
    paths = generate(data, rows, accounts)
    figures = {}
    for credit, label in (("0", "plain BDA sheet (SQL drawdown)"),
                          ("1", "BDA + a trial credit: every account replayed by the engine")):
        runs = []
        for _ in range(args.repeat):
            done = subprocess.run(
                [sys.executable, __file__, "--replay-once", str(paths["usage"]),
                 str(paths["few"]), credit],
                check=True, capture_output=True, text=True,
            )
            runs.append(json.loads(done.stdout.splitlines()[-1]))
        figures[label] = result = {**runs[-1], **_medians(runs)}
        print(row(f"DuckDB, {rows:,} rows, {accounts:,} accounts, 1% hold packs, {label}, "
                  "bills only", result, rows, "(reported)"), flush=True)
    print(json.dumps({"replay": figures}, default=str))
    return 0


# --- one measured run, in a fresh process --------------------------------------------------------


def _cpu() -> float:
    """CPU seconds (user and system) of this process and its ended children (the drawdown's
    workers): on a shared machine they vary less than wall time."""
    import resource

    mine = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return mine.ru_utime + mine.ru_stime + children.ru_utime + children.ru_stime


def changed_rules(folder: Path, reroute: bool = False) -> Path:
    """The BDA sheet with a price change: the first detection bracket at 0.0019 (not 0.002);
    with `reroute`, CreateTrace no longer counted (a change of routes: metered twice)."""
    text = BDA.read_text(encoding="utf-8")
    changed = text.replace("  (0, 300万]       0.002 ", "  (0, 300万]       0.0019 ", 1)
    assert changed != text
    if reroute:
        rerouted = changed.replace("counts CreatePerson, CreateTrace", "counts CreatePerson", 1)
        assert rerouted != changed
        changed = rerouted
    path = folder / ("tencent-bda-rerouted.rules" if reroute else "tencent-bda-changed.rules")
    if not path.exists() or path.read_text(encoding="utf-8") != changed:
        path.write_text(changed, encoding="utf-8")
    return path


def simulate_once(usage: str, purchases: str, new: str) -> dict[str, Any]:
    """Simulate the change (in this process): wall time, peak memory, and what ran."""
    import resource

    import ratecard
    from ratecard.warehouse.simulate import simulate_warehouse

    old_book, new_book = ratecard.load(BDA), ratecard.load(new)
    started, cpu = time.perf_counter(), _cpu()
    sim = simulate_warehouse(
        old_book, new_book, usage, purchases=purchases, threads=2, memory_limit=MEMORY_LIMIT
    )
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return {
        "seconds": seconds, "cpu_seconds": cpu, "peak_bytes": peak,
        "worker_peak_bytes": worker,
        "stats": {"bills": sim.old.stats.get("bills", 0), "one_scan": sim.one_scan,
                  "old": sim.old.stats["seconds"], "new": sim.new.stats["seconds"],
                  "accounts": sim.accounts, "delta": str(sim.delta)},
    }


def floor_once(usage: str) -> dict[str, Any]:
    """DuckDB's floor for the usage: a bare `GROUP BY account, action` sum of the count column,
    kept in memory (nothing written), with the settings of the warehouse runs (2 threads,
    `memory_limit` MEMORY_LIMIT): any bill of the usage reads it and groups it at least so."""
    import resource

    import duckdb

    con = duckdb.connect()
    con.execute("SET threads = 2")
    con.execute("SET memory_limit = ?", [MEMORY_LIMIT])
    con.execute("SET preserve_insertion_order = false")
    started, cpu = time.perf_counter(), _cpu()
    con.execute(
        "CREATE TEMP TABLE floor AS SELECT account, action, SUM(count) AS total "
        f"FROM read_parquet('{usage}') GROUP BY account, action"
    )
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    groups = con.execute("SELECT COUNT(*) FROM floor").fetchone()
    con.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_bytes": peak, "worker_peak_bytes": 0,
            "stats": {"bills": 0, "groups": groups[0] if groups else 0}}


def run_once(engine: str, usage: str, purchases: str, out: str, what: str) -> dict[str, Any]:
    """Bill the data (in this process) and report the wall time and the peak memory; `what`:
    `lines`, `bills`, or `simulate:NEW.rules`."""
    import resource

    import ratecard
    from ratecard.warehouse import bill_warehouse

    if what.startswith("simulate:"):
        return simulate_once(usage, purchases, what.split(":", 1)[1])
    if what == "floor":
        return floor_once(usage)
    book = ratecard.load(BDA)
    spark = None
    if engine == "spark":
        from ratecard.warehouse.spark_engine import local_session

        spark = local_session(2)
        spark.sparkContext.setLogLevel("ERROR")
    started, cpu = time.perf_counter(), _cpu()
    result = bill_warehouse(
        book,
        usage,
        purchases=purchases,
        engine=engine,
        spark=spark,
        output=f"{out}/bills.parquet",
        lines=f"{out}/lines.parquet" if what == "lines" else None,
        threads=2 if engine == "duckdb" else None,
        memory_limit=MEMORY_LIMIT if engine == "duckdb" else None,
    )
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if spark is not None:  # the JVM runs in a child process, still alive
        peak += sum(_peak_of(pid) for pid in _descendants(os.getpid()))
    # The drawdown's forked workers (ended by now): the biggest one's peak. They share the
    # parent's pages until they write, so parent + workers overstates what was resident.
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_bytes": peak,
            "worker_peak_bytes": worker,
            "stats": result.stats}


def _descendants(root: int) -> list[int]:
    """The processes started (directly or not) by `root`, from /proc."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    parents[int(entry)] = int(stat.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    found, frontier = [], [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        found.extend(children)
        frontier.extend(children)
    return found


def _peak_of(pid: int) -> int:
    """A process's peak resident memory (VmHWM), in bytes."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def measured(
    engine: str, usage: Path, purchases: Path, repeat: int, lines: bool = True,
    what: str | None = None,
) -> dict[str, Any]:
    """Median wall time and peak memory of `repeat` fresh-process runs, writing the bills and
    (with `lines`) their lines; or another `what` of `run_once`."""
    runs = []
    what = what or ("lines" if lines else "bills")
    for _ in range(repeat):
        with tempfile.TemporaryDirectory(prefix="ratecard-bench-") as out:
            done = subprocess.run(
                [sys.executable, __file__, "--run-once", engine, str(usage), str(purchases), out,
                 what],
                check=True,
                capture_output=True,
                text=True,
            )
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return {
        "seconds": statistics.median(r["seconds"] for r in runs),
        "cpu_seconds": statistics.median(r.get("cpu_seconds", 0) for r in runs),
        "peak_bytes": statistics.median(r["peak_bytes"] for r in runs),
        "worker_peak_bytes": statistics.median(r.get("worker_peak_bytes", 0) for r in runs),
        "stats": runs[-1]["stats"],
    }


def _medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    """The median wall time, CPU time and peak memory of measured runs."""
    return {key: statistics.median(r[key] for r in runs)
            for key in ("seconds", "cpu_seconds", "peak_bytes")}


# --- the Python engine on a sample of the same data ----------------------------------------------


def engine_sample(usage: Path, purchases: Path, accounts: int) -> dict[str, Any]:
    """Rows per second of `PriceBook.bill` over `accounts` accounts' journals, and whether the
    warehouse bills them identically."""
    import duckdb

    import ratecard
    from ratecard.warehouse import bill_warehouse

    book = ratecard.load(BDA)
    con = duckdb.connect()
    chosen = [f"acct-{n:07d}" for n in range(accounts)]
    con.execute("CREATE TABLE chosen AS SELECT unnest(?) AS account", [chosen])
    usage_rows = con.execute(
        f"SELECT account, time, action, count FROM '{usage}' JOIN chosen USING (account)"
    ).fetchall()
    purchase_rows = con.execute(
        f"SELECT account, time, meter, size FROM '{purchases}' JOIN chosen USING (account)"
    ).fetchall()
    with tempfile.TemporaryDirectory(prefix="ratecard-bench-") as folder:
        sample_usage = f"{folder}/usage.parquet"
        sample_purchases = f"{folder}/purchases.parquet"
        con.execute(
            f"COPY (SELECT u.* FROM '{usage}' u JOIN chosen USING (account)) "
            f"TO '{sample_usage}' (FORMAT parquet)"
        )
        con.execute(
            f"COPY (SELECT p.* FROM '{purchases}' p JOIN chosen USING (account)) "
            f"TO '{sample_purchases}' (FORMAT parquet)"
        )
        warehouse = bill_warehouse(book, sample_usage, purchases=sample_purchases)
    journals: dict[str, list[tuple[int, int, dict[str, Any]]]] = {}
    from ratecard.engine.clock import parse_time

    zone = book.zone
    for order, (account, when, meter, size) in enumerate(purchase_rows):
        journals.setdefault(account, []).append(
            (
                parse_time(when, zone),
                order,
                {"type": "purchase", "time": when, "meter": meter, "size": size},
            )
        )
    for order, (account, when, action, count) in enumerate(usage_rows):
        journals.setdefault(account, []).append(
            (
                parse_time(when, zone),
                10**12 + order,
                {"type": "usage", "time": when, "action": action, "count": count},
            )
        )
    ordered = {
        a: [e for *_, e in sorted(entries, key=lambda t: (t[0], t[1]))]
        for a, entries in journals.items()
    }
    started = time.perf_counter()
    bills = {account: book.bill(entries) for account, entries in ordered.items()}
    seconds = time.perf_counter() - started
    mine = {(b["account"], b["month"]): b["total"] for b in warehouse.bills.to_pylist()}
    theirs = {(a, b.to_dict()["month"]): b.total for a, listed in bills.items() for b in listed}
    return {
        "rows": len(usage_rows),
        "accounts": len(ordered),
        "seconds": seconds,
        "rows_per_second": len(usage_rows) / seconds,
        "identical": mine == theirs,
        "total": str(sum(theirs.values(), Decimal(0))),
    }


# --- the report ----------------------------------------------------------------------------------


def versions() -> str:
    import duckdb
    import pyarrow
    import sqlglot

    parts = [
        f"Python {platform.python_version()}",
        f"DuckDB {duckdb.__version__}",
        f"sqlglot {sqlglot.__version__}",
        f"pyarrow {pyarrow.__version__}",
    ]
    try:
        import pyspark

        parts.append(f"PySpark {pyspark.__version__}")
    except ImportError:
        pass
    return ", ".join(parts)


def row(label: str, result: dict[str, Any], rows: int, target: str) -> str:
    rate = rows / result["seconds"]
    stats = result["stats"]
    workers = ""
    if stats.get("drawdown_processes", 1) > 1 and result.get("worker_peak_bytes"):
        workers = (f" (+ {stats['drawdown_processes']} drawdown workers, "
                   f"≤ {result['worker_peak_bytes'] / 2**30:.2f} GiB each)")
    return (
        f"| {label} | {result['seconds']:.1f} s | {result['peak_bytes'] / 2**30:.2f} GiB"
        f"{workers} | "
        f"{rate / 1e6:.2f} M rows/s | {stats.get('bills', 0):,} | {target} |"
    )


#: The DuckDB runs on the 100M rows: who holds packs, times as text or timestamps, lines or not.
RUNS = [
    held + times + lines
    for held in ("few", "every")
    for times in ("", "-timestamps")
    for lines in ("", "-bills")
]


def requests_bench(args: argparse.Namespace, data: Path) -> int:
    """The `requests` case alone: each run a fresh process; medians."""
    rows, accounts = number(args.requests_rows), number(args.requests_accounts)
    path = generate_requests(data, rows, accounts)
    runs = []
    for _ in range(args.repeat):
        done = subprocess.run(
            [sys.executable, __file__, "--requests-once", str(path)],
            check=True, capture_output=True, text=True,
        )
        runs.append(json.loads(done.stdout.splitlines()[-1]))
    result = {**runs[-1], **_medians(runs)}
    print(row(f"DuckDB, requests table, {rows:,} Anthropic requests, {accounts:,} accounts, "
              "bills only", result, rows, "≤ 30 s"))
    print(json.dumps({"requests": result}, default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="100M", help="usage rows (default 100M)")
    parser.add_argument("--accounts", default="1M", help="accounts (default 1M)")
    parser.add_argument("--spark-rows", default="10M", help="rows for Spark (default 10M)")
    parser.add_argument("--spark-accounts", default="100k")
    parser.add_argument(
        "--simulate-rows", default="10M", help="rows for the simulate case (default 10M)"
    )
    parser.add_argument("--simulate-accounts", default="100k")
    parser.add_argument(
        "--requests-rows", default="10M", help="request rows for the requests case (10M)"
    )
    parser.add_argument("--requests-accounts", default="100k")
    parser.add_argument("--requests-once", metavar="PATH", help=argparse.SUPPRESS)
    parser.add_argument(
        "--replay-rows", default="1M", help="rows for the replay case (default 1M)"
    )
    parser.add_argument("--replay-accounts", default="100k")
    parser.add_argument("--replay-once", nargs=3, metavar=("USAGE", "PURCHASES", "CREDIT"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument(
        "--sample", type=int, default=2000, help="accounts billed by the Python engine too"
    )
    parser.add_argument(
        "--data", default=os.path.join(tempfile.gettempdir(), "ratecard-warehouse-bench")
    )
    parser.add_argument(
        "--parts",
        default=",".join([*RUNS, "spark", "python"]),
        help="what to measure, comma-separated: DuckDB on the 100M rows, with 1%% (few) or all "
        "(every) accounts holding packs, text or timestamp times, with lines or bills only ("
        + ", ".join(RUNS) + "); floor (one run, 1%% hold packs, timestamp times, bills only, "
        "beside DuckDB's bare GROUP BY account, action of the same file, alternately); spark; "
        "python; simulate; simulate-twice; requests (a requests table on the Anthropic sheet); "
        "replay (the engine's replay route, alone)",
    )
    parser.add_argument(
        "--run-once",
        nargs=5,
        metavar=("ENGINE", "USAGE", "PURCHASES", "OUT", "WHAT"),
        help=argparse.SUPPRESS,
    )
    args = parser.parse_args(argv)
    if args.run_once:
        print(json.dumps(run_once(*args.run_once), default=str))
        return 0
    if args.requests_once:
        print(json.dumps(requests_once(args.requests_once), default=str))
        return 0
    if args.replay_once:
        print(json.dumps(replay_once(*args.replay_once), default=str))
        return 0
    rows, accounts = number(args.rows), number(args.accounts)
    parts = set(args.parts.split(","))
    data = Path(args.data)
    if parts == {"requests"}:  # (the usage files are not needed)
        return requests_bench(args, Path(args.data))
    if parts == {"replay"}:  # (the replay route alone, on its own data)
        return replay_bench(args, Path(args.data))
    paths = generate(data, rows, accounts)

    def emit(line: str) -> None:  # each row as soon as it is measured
        print(line, flush=True)

    emit(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; {versions()}; "
        f"medians of {args.repeat} runs, each a fresh process; DuckDB with 2 threads and "
        f"memory_limit {MEMORY_LIMIT}; peak memory is the whole process tree's"
    )
    emit("")
    emit("| run | wall | peak memory | throughput | bills | target |")
    emit("|---|---|---|---|---|---|")
    figures: dict[str, Any] = {}
    holders = {"few": ("1% hold packs", "≤ 30 s, ≤ 4 GiB"), "every": ("all hold packs", "≤ 60 s")}
    for held, (who, target) in holders.items():
        for timestamps in (False, True):
            for with_lines in (True, False):
                part = held + ("-timestamps" if timestamps else "") + (
                    "" if with_lines else "-bills")
                if part not in parts:
                    continue
                usage = timestamped(paths["usage"]) if timestamps else paths["usage"]
                figures[part] = result = measured(
                    "duckdb", usage, paths[held], args.repeat, lines=with_lines
                )
                label = ", ".join([
                    f"DuckDB, {rows:,} rows, {accounts:,} accounts, {who}",
                    "`time` a TIMESTAMP WITH TIME ZONE" if timestamps else "ISO text times",
                    "bills and lines" if with_lines else "bills only",
                ])
                emit(row(label, result, rows, target))
    if "spark" in parts:
        spark_rows, spark_accounts = number(args.spark_rows), number(args.spark_accounts)
        spark_paths = generate(data, spark_rows, spark_accounts)
        for name, label in (("few", "1% hold packs"), ("every", "all hold packs")):
            result = measured(
                "spark", spark_paths["usage"], spark_paths[name], max(1, args.repeat - 2)
            )
            figures[f"spark-{name}"] = result
            emit(
                row(
                    f"Spark local[2], {spark_rows:,} rows, {spark_accounts:,} accounts, {label}",
                    result,
                    spark_rows,
                    "(reported)",
                )
            )
            duck = measured("duckdb", spark_paths["usage"], spark_paths[name], 1)
            figures[f"duckdb-{name}-small"] = duck
            emit(
                row(
                    f"DuckDB, same {spark_rows:,} rows, {label}",
                    duck,
                    spark_rows,
                    "(for comparison)",
                )
            )
    if "floor" in parts:  # one run beside DuckDB's bare GROUP BY of the same file
        usage = timestamped(paths["usage"])
        # Alternately, so that a change in the shared machine's speed hits both alike.
        floors: list[dict[str, Any]] = []
        runs: list[dict[str, Any]] = []
        for _ in range(args.repeat):
            floors.append(measured("duckdb", usage, paths["few"], 1, what="floor"))
            runs.append(measured("duckdb", usage, paths["few"], 1, lines=False))
        floor = {**floors[-1], **_medians(floors)}
        run = {**runs[-1], **_medians(runs)}
        figures["floor"], figures["floor-run"] = floor, run
        ratio = run["seconds"] / floor["seconds"]
        cpu = run["cpu_seconds"] / floor["cpu_seconds"]
        pairs = sorted(r["seconds"] / f["seconds"] for f, r in zip(floors, runs, strict=True))
        run["pair_ratios"] = pairs
        label = f"{rows:,} rows, {accounts:,} accounts, `time` a TIMESTAMP WITH TIME ZONE"
        emit(row(f"DuckDB floor: `SELECT account, action, SUM(count) … GROUP BY account, action`"
                 f" (kept in memory), {label}", floor, rows,
                 f"(the floor; {floor['stats']['groups']:,} groups; "
                 f"CPU {floor['cpu_seconds']:.1f} s)"))
        emit(row(f"DuckDB, one `ratecard warehouse` run, {label}, 1% hold packs, bills only",
                 run, rows,
                 f"{ratio:.2f}× the floor (target ≤ 1.5×: {'met' if ratio <= 1.5 else 'missed'}); "
                 f"pairs {statistics.median(pairs):.2f}× median, "
                 f"{pairs[0]:.2f}–{pairs[-1]:.2f}×; CPU {run['cpu_seconds']:.1f} s, {cpu:.2f}×"))
    if "simulate" in parts:
        sim_rows, sim_accounts = number(args.simulate_rows), number(args.simulate_accounts)
        sim_paths = generate(data, sim_rows, sim_accounts)
        sim_usage = timestamped(sim_paths["usage"])
        new = changed_rules(sim_paths["usage"].parent)
        # Alternately, so that a change in the shared machine's speed hits both alike.
        once: list[dict[str, Any]] = []
        both: list[dict[str, Any]] = []
        for _ in range(args.repeat):
            once.append(measured("duckdb", sim_usage, sim_paths["few"], 1, lines=False))
            both.append(measured("duckdb", sim_usage, sim_paths["few"], 1,
                                 what=f"simulate:{new}"))
        warehouse = {**once[-1], "seconds": statistics.median(r["seconds"] for r in once),
                     "peak_bytes": statistics.median(r["peak_bytes"] for r in once)}
        simulated = {**both[-1], "seconds": statistics.median(r["seconds"] for r in both),
                     "peak_bytes": statistics.median(r["peak_bytes"] for r in both)}
        figures["simulate-warehouse"] = warehouse
        figures["simulate"] = simulated
        label = (f"{sim_rows:,} rows, {sim_accounts:,} accounts, 1% hold packs, "
                 "`time` a TIMESTAMP WITH TIME ZONE, bills only")
        emit(row(f"DuckDB, one `ratecard warehouse` run, {label}", warehouse, sim_rows,
                 "(the yardstick)"))
        ratio = simulated["seconds"] / warehouse["seconds"]
        # Each simulation against the warehouse run just before it: on a shared machine the
        # pairs' ratios vary less than the runs do.
        pairs = sorted(b["seconds"] / o["seconds"] for o, b in zip(once, both, strict=True))
        simulated["pair_ratios"] = pairs
        cpu = statistics.median(b["cpu_seconds"] for b in both) / statistics.median(
            o["cpu_seconds"] for o in once)
        simulated["cpu_ratio"] = cpu
        scan = "metered once" if simulated["stats"]["one_scan"] else "metered twice"
        emit(row(f"DuckDB, `ratecard simulate` OLD NEW ({scan}), {label}", simulated, sim_rows,
                 f"{ratio:.2f}× one run (target ≤ 1.3×: {'met' if ratio <= 1.3 else 'missed'}); "
                 f"pairs {statistics.median(pairs):.2f}× median, "
                 f"{pairs[0]:.2f}–{pairs[-1]:.2f}×; CPU time {cpu:.2f}×"))
    if "simulate-twice" in parts:  # a change of routes: the usage metered for each file
        sim_rows, sim_accounts = number(args.simulate_rows), number(args.simulate_accounts)
        sim_paths = generate(data, sim_rows, sim_accounts)
        sim_usage = timestamped(sim_paths["usage"])
        rerouted = changed_rules(sim_paths["usage"].parent, reroute=True)
        once, both = [], []
        for _ in range(args.repeat):
            once.append(measured("duckdb", sim_usage, sim_paths["few"], 1, lines=False))
            both.append(measured("duckdb", sim_usage, sim_paths["few"], 1,
                                 what=f"simulate:{rerouted}"))
        seconds = statistics.median(r["seconds"] for r in once)
        twice = {**both[-1], "seconds": statistics.median(r["seconds"] for r in both),
                 "peak_bytes": statistics.median(r["peak_bytes"] for r in both)}
        figures["simulate-twice"] = twice
        label = f"{sim_rows:,} rows, {sim_accounts:,} accounts, 1% hold packs, bills only"
        emit(row(f"DuckDB, one `ratecard warehouse` run, {label}",
                 {**once[-1], "seconds": seconds}, sim_rows, "(the yardstick)"))
        emit(row(f"DuckDB, `ratecard simulate` with a change of routes (metered twice), {label}",
                 twice, sim_rows, f"{twice['seconds'] / seconds:.2f}× one run"))
    if "python" in parts:
        figures["sample"] = sample = engine_sample(paths["usage"], paths["every"], args.sample)
        emit(
            f"| Python engine (`PriceBook.bill` per account), {sample['accounts']:,} accounts, "
            f"{sample['rows']:,} rows of the same data, all hold packs | "
            f"{sample['seconds']:.1f} s | | {sample['rows_per_second'] / 1e6:.2f} M rows/s | | "
            f"warehouse bills identical: {'yes' if sample['identical'] else 'NO'} |"
        )
    print(json.dumps(figures, default=str), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
