"""ratecard's benchmark: the compiled evaluator against a hand-written baseline, in one run.

    .venv/bin/python bench/run.py            # the full table (a few minutes)
    .venv/bin/python bench/run.py --quick    # smaller journals, fewer repeats

The yardstick for quotes is `handwritten_quote`, the function a careful engineer would write for
the BDA sheet without ratecard: exact Decimal, half-up to 0.01, the same line items; for one
meter's charge it is `handwritten_amount`. Both check their input, as ratecard does. Every figure
is the median of several repeats, measured in this process (or in fresh processes where a cold
start is the point), so ratios compare like with like on whatever machine runs this.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, NamedTuple

import ratecard
from ratecard import Usage

ROOT = Path(__file__).resolve().parents[1]
BDA = ROOT / "rules" / "tencent-bda.rules"
# The shipped example of a price change and a contract (examples/price-change).
PRICE_CHANGE = ROOT / "examples" / "price-change" / "bda-2027.rules"
CONTRACT = ROOT / "examples" / "price-change" / "acme.rules"
# A day in the contract's term: its discounts, minimum spend and pack price apply.
CONTRACT_DAY = "2027-03-01"

# --- the hand-written baseline --------------------------------------------------------------

CENT = Decimal("0.01")
ZERO = Decimal(0)
FREE_QUOTA = 1000
STANDARD = (
    (3_000_000, Decimal("0.002"), "(0, 3000000]"),
    (15_000_000, Decimal("0.0018"), "(3000000, 15000000]"),
    (None, Decimal("0.0015"), "(15000000, ∞)"),
)
SEGMENTATION = (
    (10_000, Decimal("0.01"), "(0, 10000]"),
    (100_000, Decimal("0.009"), "(10000, 100000]"),
    (1_000_000, Decimal("0.008"), "(100000, 1000000]"),
    (None, Decimal("0.007"), "(1000000, ∞)"),
)
LADDERS = {"segmentation": SEGMENTATION, "detection": STANDARD, "library": STANDARD,
           "search": STANDARD}
ACTIONS = {
    "SegmentPortraitPic": "segmentation",
    "DetectBody": "detection", "DetectBodyJoints": "detection",
    "CreatePerson": "library", "CreateTrace": "library",
    "SearchTrace": "search",
}
FREE_ACTIONS = frozenset({"CreateGroup", "DeleteGroup", "GetGroupList", "ModifyGroup",
                          "DeletePerson", "GetPersonList", "ModifyPersonInfo"})

class Line(NamedTuple):
    """A bill line as a careful engineer would return it: the cheapest named record."""

    meter: str
    source: str
    quantity: int
    unit_price: Decimal
    precise_amount: Decimal
    amount: Decimal
    bracket: str | None




def handwritten_charge(meter: str, postpaid: int) -> Line:
    """One meter's postpaid charge: the all-units bracket, precise and rounded amounts."""
    for hi, price, label in LADDERS[meter]:
        if hi is None or postpaid <= hi:
            precise = price * postpaid
            amount = precise.quantize(CENT, ROUND_HALF_UP)
            return Line(meter, "postpaid", postpaid, price, precise, amount, label)
    raise AssertionError("the last bracket is open-ended")


def handwritten_amount(meter: str, postpaid: int) -> Decimal:
    """One meter's postpaid charge alone: the all-units bracket's price × units, rounded; the
    quantity checked as `handwritten_quote` checks counts (in a request path, a float or a
    negative number must not become a price)."""
    if type(postpaid) is not int or postpaid < 0:
        raise ValueError(f"{meter}: the quantity must be a whole number ≥ 0, not {postpaid!r}")
    for hi, price, _ in LADDERS[meter]:
        if hi is None or postpaid <= hi:
            return (price * postpaid).quantize(CENT, ROUND_HALF_UP)
    raise AssertionError("the last bracket is open-ended")


def unchecked_amount(meter: str, postpaid: int) -> Decimal:
    """`handwritten_amount` without the check of its input (a copy, not a call: a baseline
    that called the other would pay for a call the hand-written one does not make)."""
    for hi, price, _ in LADDERS[meter]:
        if hi is None or postpaid <= hi:
            return (price * postpaid).quantize(CENT, ROUND_HALF_UP)
    raise AssertionError("the last bracket is open-ended")


def arithmetic_alone(price: Decimal, postpaid: int) -> Decimal:
    """The floor of any exact charge: the product and its rounding, the bracket already known."""
    return (price * postpaid).quantize(CENT, ROUND_HALF_UP)


def handwritten_quote(usage: dict[str, int]) -> tuple[Decimal, list[Line]]:
    """A month of BDA usage totals → (total, lines), written by hand for this one sheet."""
    totals = dict.fromkeys(LADDERS, 0)
    for action, count in usage.items():
        if type(count) is not int or count < 0:
            raise ValueError(f"{action}: the count must be a whole number ≥ 0, not {count!r}")
        meter = ACTIONS.get(action)
        if meter is None:
            if action in FREE_ACTIONS:
                continue
            raise ValueError(f"unknown action {action}")
        totals[meter] += count
    lines: list[Line] = []
    total = ZERO
    for meter, count in totals.items():
        if not count:
            continue
        free = min(count, FREE_QUOTA)
        lines.append(Line(meter, "allowance", free, ZERO, ZERO, ZERO, None))
        postpaid = count - free
        if postpaid:
            for hi, price, label in LADDERS[meter]:
                if hi is None or postpaid <= hi:
                    precise = price * postpaid
                    amount = precise.quantize(CENT, ROUND_HALF_UP)
                    lines.append(Line(meter, "postpaid", postpaid, price, precise, amount, label))
                    total += amount
                    break
    return total, lines


MONTH = {
    "SegmentPortraitPic": 50_000, "DetectBody": 600_000, "DetectBodyJoints": 400_000,
    "CreatePerson": 500, "CreateTrace": 800, "CreateGroup": 10_000, "SearchTrace": 3_001_001,
}

# --- measuring --------------------------------------------------------------------------------


def median_seconds(call: Callable[[], object], number: int, repeat: int) -> float:
    """The median time of one call, over `repeat` runs of `number` calls."""
    timer = timeit.Timer(call)
    return statistics.median(t / number for t in timer.repeat(repeat=repeat, number=number))


def compare(mine: Callable[[], object], theirs: Callable[[], object], number: int,
            repeat: int) -> tuple[float, float]:
    """Median times of one call of each, their runs interleaved so that both see the same
    machine (a busy neighbour slows both alike instead of whichever ran during it)."""
    a, b = timeit.Timer(mine), timeit.Timer(theirs)
    runs = [(a.timeit(number) / number, b.timeit(number) / number) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def journal_entries(count: int, packs: bool = True,
                    start: datetime = datetime(2026, 11, 1, tzinfo=timezone(timedelta(hours=8))),
                    ) -> Iterator[dict[str, Any]]:
    """A month of BDA usage in time order, spread over November 2026 (or the month of
    `start`), with pack purchases."""
    step = timedelta(days=29) / count
    actions = ("DetectBody", "DetectBodyJoints", "SearchTrace", "CreatePerson",
               "SegmentPortraitPic", "GetGroupList")
    if packs:
        yield {"time": start.isoformat(), "type": "purchase", "meter": "detection",
               "size": "100万"}
        yield {"time": start.isoformat(), "type": "purchase", "meter": "search", "size": "10万"}
    for i in range(count):
        yield {"time": (start + step * i).isoformat(timespec="microseconds"), "type": "usage",
               "action": actions[i % len(actions)], "count": 1 + i % 7}


def typed_entries(count: int, **options: Any) -> list[Any]:
    """The same journal as typed entries with parsed times (what a service holds in memory)."""
    typed: list[Any] = []
    for entry in journal_entries(count, **options):
        moment = datetime.fromisoformat(entry["time"])
        if entry["type"] == "usage":
            typed.append(Usage(moment, entry["action"], entry["count"]))
        else:
            typed.append(ratecard.Purchase(moment, entry["meter"], entry["size"]))
    return typed


def write_jsonl(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        for entry in journal_entries(count):
            out.write(json.dumps(entry) + "\n")


def write_csv(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(["time", "action", "count"])
        for entry in journal_entries(count, packs=False):
            writer.writerow([entry["time"], entry["action"], entry["count"]])


# --- requests: the Anthropic sheet -------------------------------------------------------------

CLAUDE = ROOT / "rules" / "anthropic-claude.rules"
MTOK = Decimal(1_000_000)
# input and output per MTok; the cache prices are 1.25, 2 and 0.1 times input (the page's table
# states each as that multiple).
CLAUDE_PRICES = {
    "claude-opus-4-6": (Decimal(5), Decimal(25)), "claude-opus-4-5": (Decimal(5), Decimal(25)),
    "claude-opus-4-1": (Decimal(15), Decimal(75)), "claude-opus-4": (Decimal(15), Decimal(75)),
    "claude-sonnet-4-5": (Decimal(3), Decimal(15)), "claude-sonnet-4": (Decimal(3), Decimal(15)),
    "claude-3-7-sonnet": (Decimal(3), Decimal(15)), "claude-haiku-4-5": (Decimal(1), Decimal(5)),
    "claude-3-5-haiku": (Decimal("0.80"), Decimal(4)),
}
CLAUDE_LONG = {"claude-opus-4-6": (Decimal(10), Decimal("37.50")),
               "claude-sonnet-4-5": (Decimal(6), Decimal("22.50")),
               "claude-sonnet-4": (Decimal(6), Decimal("22.50"))}
CACHE_FACTORS = {"cache_creation_5m_input_tokens": Decimal("1.25"),
                 "cache_creation_1h_input_tokens": Decimal(2),
                 "cache_read_input_tokens": Decimal("0.1")}
TOKEN_KINDS = ("input_tokens", "cache_creation_5m_input_tokens",
               "cache_creation_1h_input_tokens", "cache_read_input_tokens", "output_tokens")
INPUT_KINDS = TOKEN_KINDS[:4]


def handwritten_requests(path: Path) -> Decimal:
    """A month of Messages API calls from JSONL → its exact total, written by hand for the
    Anthropic sheet: each entry checked (in the month billed, November 2026 UTC; type, action,
    model and settings, whole token counts), tokens summed per price (kind, model, batch,
    US-only, long context), priced at the end."""
    tokens: dict[tuple[str, str, bool, bool, bool], int] = {}
    searches = 0
    loads = json.loads
    parse = datetime.fromisoformat
    start = datetime(2026, 11, 1, tzinfo=UTC)
    end = datetime(2026, 12, 1, tzinfo=UTC)
    with path.open("rb") as lines:
        for raw in lines:
            entry = loads(raw)
            if not start <= parse(entry["time"]) < end:
                raise ValueError("not in the month billed")
            if entry.get("type") != "request" or entry.get("action") != "messages":
                raise ValueError("not a Messages call")
            props = entry.get("properties") or {}
            model = props.get("model")
            if model not in CLAUDE_PRICES:
                raise ValueError(f"unknown model {model!r}")
            tier = props.get("service_tier", "standard")
            geo = props.get("inference_geo", "global")
            beta = props.get("context_1m", False)
            if tier not in ("standard", "batch") or geo not in ("global", "us") or type(
                    beta) is not bool:
                raise ValueError("bad settings")
            counts = entry.get("quantities") or {}
            for kind, count in counts.items():
                if (kind not in TOKEN_KINDS and kind != "web_search_requests") or type(
                        count) is not int or count < 0:
                    raise ValueError(f"bad quantity {kind}")
            long = beta and model in CLAUDE_LONG and sum(
                counts.get(k, 0) for k in INPUT_KINDS) > 200_000
            us = geo == "us" and model == "claude-opus-4-6"
            batch = tier == "batch"
            for kind, count in counts.items():
                if not count:
                    continue
                if kind == "web_search_requests":
                    searches += count
                    continue
                key = (kind, model, batch and kind in ("input_tokens", "output_tokens"), us, long)
                tokens[key] = tokens.get(key, 0) + count
    total = searches * Decimal(10) / 1000
    for (kind, model, batch, us, long), count in tokens.items():
        base_in, base_out = (CLAUDE_LONG if long else CLAUDE_PRICES)[model]
        price = base_out if kind == "output_tokens" else base_in * CACHE_FACTORS.get(kind, 1)
        if batch:
            price *= Decimal("0.5")
        if us:
            price *= Decimal("1.1")
        total += count * price / MTOK
    return total


def write_requests(path: Path, count: int) -> None:
    """`count` Messages calls over November 2026: every model, batch, US-only, the 1M window
    (some over 200K input tokens), cache writes and reads, web searches."""
    models = list(CLAUDE_PRICES)
    start = datetime(2026, 11, 1, tzinfo=UTC)
    step = timedelta(days=29) / count
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            quantities = {"input_tokens": 1000 + (i * 7919) % 300_000,
                          "output_tokens": 100 + (i * 104_729) % 20_000}
            if i % 3 == 0:
                quantities["cache_read_input_tokens"] = (i * 31) % 50_000
            if i % 5 == 0:
                quantities["cache_creation_5m_input_tokens"] = (i * 17) % 20_000
            if i % 11 == 0:
                quantities["web_search_requests"] = i % 4
            properties: dict[str, Any] = {"model": models[i % len(models)]}
            if i % 4 == 0:
                properties["service_tier"] = "batch"
            if i % 6 == 0:
                properties["inference_geo"] = "us"
            if i % 2 == 0:
                properties["context_1m"] = True
            out.write(json.dumps({"time": (start + step * i).isoformat(), "type": "request",
                                  "action": "messages", "id": f"r-{i}",
                                  "quantities": quantities, "properties": properties}) + "\n")


def requests_section(table: Table, repeat: int, count: int) -> None:
    """Replaying Messages API calls from JSONL against the hand-written function, one run."""
    book = ratecard.load(CLAUDE)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "requests.jsonl"
        write_requests(path, count)
        bills = book.bill(path)
        assert isinstance(bills, list) and len(bills) == 1
        assert bills[0].total == handwritten_requests(path), (bills[0].total,
                                                              handwritten_requests(path))
        runs = [(timed(lambda: book.bill(path), 1), timed(lambda: handwritten_requests(path), 1))
                for _ in range(repeat)]
    mine = statistics.median(run[0] for run in runs)
    theirs = statistics.median(run[1] for run in runs)
    rate = count / mine
    table.add(f"replay {count:,} Anthropic requests from JSONL (requests/s)", f"{rate:,.0f}",
              f"{count / theirs:,.0f} / {mine / theirs:.2f}",
              f"≥ 200,000 and ratio ≤ 1.0: {verdict(rate >= 200_000 and mine <= theirs)}")


def timed(call: Callable[[], object], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        gc.collect()
        began = time.perf_counter()
        call()
        runs.append(time.perf_counter() - began)
    return statistics.median(runs)


def peak_memory_of_replay(path: Path) -> int:
    """Peak resident memory (KiB) of a fresh process that bills a journal file."""
    code = (
        "import resource, sys, ratecard\n"
        f"book = ratecard.load({str(BDA)!r})\n"
        "book.bill(sys.argv[1])\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                            text=True, check=True)
    return int(result.stdout.strip())


def process_seconds(argv: list[str], repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False)
        runs.append(time.perf_counter() - began)
    return statistics.median(runs)


# --- the table ----------------------------------------------------------------------------------


class Table:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, what: str, figure: str, versus: str = "", verdict: str = "") -> None:
        self.rows.append((what, figure, versus, verdict))
        print(f"  {what}: {figure} {versus} {verdict}".rstrip(), file=sys.stderr, flush=True)

    def render(self) -> str:
        head = ("measure", "ratecard", "baseline / ratio", "target")
        widths = [max(len(r[i]) for r in [head, *self.rows]) for i in range(4)]
        lines = ["| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |",
                 "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
        lines += ["| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"
                  for row in self.rows]
        return "\n".join(lines)


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller journals, fewer repeats")
    parser.add_argument("--requests", action="store_true",
                        help="run only the requests section (Anthropic calls from JSONL)")
    parser.add_argument("--warehouse", action="store_true",
                        help="run the warehouse benchmark instead (bench/warehouse.py; its "
                        "options follow, e.g. --rows 10M)")
    args, rest = parser.parse_known_args()
    if args.warehouse:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import warehouse

        return int(warehouse.main(rest))
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    repeat = 3 if args.quick else 7
    entries = 100_000 if args.quick else 1_000_000
    table = Table()
    if args.requests:
        requests_section(table, repeat, entries // 5)
        print(table.render())
        return 0
    book = ratecard.load(BDA)

    # 1. A month quote for the four meters.
    mine = book.quote(MONTH)
    theirs = handwritten_quote(MONTH)
    assert mine.total == theirs[0], (mine.total, theirs[0])
    assert [(x.meter, x.source, x.quantity, x.amount) for x in mine.lines] == [
        (x.meter, x.source, x.quantity, x.amount) for x in theirs[1]]
    q_mine, q_base = compare(lambda: book.quote(MONTH), lambda: handwritten_quote(MONTH),
                             1000, repeat * 5)
    table.add("month quote, 4 meters (µs)", f"{q_mine * 1e6:.2f}",
              f"{q_base * 1e6:.2f} / {q_mine / q_base:.2f}",
              f"ratio ≤ 1.0: {verdict(q_mine <= q_base)}")

    # 2. One meter's postpaid charge for a quantity: the amount, then the line item.
    assert book.price_total("search", 3_000_001) == handwritten_amount("search", 3_000_001)
    c_mine, c_base = compare(lambda: book.price_total("search", 3_000_001),
                             lambda: handwritten_amount("search", 3_000_001), 10000, repeat * 5)
    table.add("one meter's postpaid charge, the amount (µs)", f"{c_mine * 1e6:.2f}",
              f"{c_base * 1e6:.2f} / {c_mine / c_base:.2f}",
              f"ratio ≤ 1.0: {verdict(c_mine <= c_base)}")
    # What the baseline costs without checking its input, and the floor under both: the exact
    # product and its rounding alone.
    u_mine, u_base = compare(lambda: book.price_total("search", 3_000_001),
                             lambda: unchecked_amount("search", 3_000_001), 10000, repeat * 5)
    table.add("  the same, baseline not checking its input (µs)", f"{u_mine * 1e6:.2f}",
              f"{u_base * 1e6:.2f} / {u_mine / u_base:.2f}", "(reported)")
    price = STANDARD[1][1]
    f_mine, f_base = compare(lambda: book.price_total("search", 3_000_001),
                             lambda: arithmetic_alone(price, 3_000_001), 10000, repeat * 5)
    table.add("  the same, against price × units rounded alone (µs)", f"{f_mine * 1e6:.2f}",
              f"{f_base * 1e6:.2f} / {f_mine / f_base:.2f}", "(reported)")
    (line,) = book.price_lines("search", 3_000_001)
    base_line = handwritten_charge("search", 3_000_001)
    assert (line.precise_amount, line.amount) == (base_line.precise_amount, base_line.amount)
    l_mine, l_base = compare(lambda: book.price_lines("search", 3_000_001),
                             lambda: handwritten_charge("search", 3_000_001), 10000, repeat * 5)
    table.add("one meter's postpaid charge, as bill lines (µs)", f"{l_mine * 1e6:.2f}",
              f"{l_base * 1e6:.2f} / {l_mine / l_base:.2f}", "(reported)")

    # 3. Journal replay.
    typed = typed_entries(entries)
    seconds = timed(lambda: book.bill(typed), repeat)
    rate = entries / seconds
    table.add(f"replay {entries:,} entries in memory (entries/s)", f"{rate:,.0f}", "",
              f"≥ 1,000,000: {verdict(rate >= 1_000_000)}")
    typed.clear()  # free the memory before the file runs
    with tempfile.TemporaryDirectory() as folder:
        jsonl = Path(folder) / "journal.jsonl"
        write_jsonl(jsonl, entries)
        seconds = timed(lambda: book.bill(jsonl), repeat)
        rate = entries / seconds
        table.add(f"replay {entries:,} entries from JSONL (entries/s)", f"{rate:,.0f}", "",
                  f"≥ 300,000: {verdict(rate >= 300_000)}")
        table_csv = Path(folder) / "journal.csv"
        write_csv(table_csv, entries)
        seconds = timed(lambda: book.bill(table_csv), repeat)
        rate = entries / seconds
        table.add(f"replay {entries:,} entries from CSV (entries/s)", f"{rate:,.0f}", "",
                  f"≥ 300,000: {verdict(rate >= 300_000)}")
        small, large = entries, entries * 4
        write_jsonl(jsonl, small)
        small_kib = peak_memory_of_replay(jsonl)
        write_jsonl(jsonl, large)
        large_kib = peak_memory_of_replay(jsonl)
        table.add(f"peak memory, {small:,} vs {large:,} entries (MiB)",
                  f"{small_kib / 1024:.0f} vs {large_kib / 1024:.0f}", "",
                  f"flat: {verdict(large_kib < small_kib * 1.25)}")

    # 4. Under a contract: the same quote and the same journal, on the example sheet with its
    # 2027 version, with and without the acme contract (discounts on two of the four meters, a
    # minimum spend, a pack price), on a day and in a month of the contract's term.
    sheet = ratecard.load(PRICE_CHANGE)
    contracted = sheet.with_contract(CONTRACT)
    plain_quote = sheet.quote(MONTH, at=CONTRACT_DAY)
    contract_quote = contracted.quote(MONTH, at=CONTRACT_DAY)
    assert contract_quote.contract == "acme" and plain_quote.contract is None
    assert [line.source for line in contract_quote.lines].count("discount") == 2
    k_mine, k_base = compare(lambda: contracted.quote(MONTH, at=CONTRACT_DAY),
                             lambda: sheet.quote(MONTH, at=CONTRACT_DAY), 1000, repeat * 5)
    table.add("month quote under a contract (µs)", f"{k_mine * 1e6:.2f}",
              f"{k_base * 1e6:.2f} / {k_mine / k_base:.2f}",
              f"ratio ≤ 1.2: {verdict(k_mine <= k_base * 1.2)}")
    march = typed_entries(entries, start=datetime(2027, 3, 1, tzinfo=timezone(timedelta(hours=8))))
    assert contracted.bill(march)[0].contract == "acme"
    runs = [(timed(lambda: contracted.bill(march), 1), timed(lambda: sheet.bill(march), 1))
            for _ in range(repeat)]
    r_mine = statistics.median(run[0] for run in runs)
    r_base = statistics.median(run[1] for run in runs)
    table.add(f"replay {entries:,} entries under a contract (entries/s)",
              f"{entries / r_mine:,.0f}", f"{entries / r_base:,.0f} / {r_mine / r_base:.2f}",
              f"ratio ≤ 1.2: {verdict(r_mine <= r_base * 1.2)}")
    march.clear()

    # 5. Request entries: the Anthropic sheet's calls from JSONL.
    requests_section(table, repeat, entries // 5)

    # 6. Checking and compiling.
    check = process_seconds([sys.executable, "-m", "ratecard", "check", str(BDA)], repeat)
    ratecard_bin = Path(sys.executable).with_name("ratecard")
    if ratecard_bin.exists():
        check = min(check, process_seconds([str(ratecard_bin), "check", str(BDA)], repeat))
    table.add("`ratecard check` BDA, whole process (ms)", f"{check * 1e3:.0f}", "",
              f"< 300: {verdict(check < 0.3)}")
    cold = process_seconds([sys.executable, "-c", f"import ratecard; ratecard.load({str(BDA)!r})"],
                           repeat)
    table.add("import + compile BDA, fresh process (ms)", f"{cold * 1e3:.0f}")
    text = BDA.read_text(encoding="utf-8")
    warm = median_seconds(lambda: ratecard.loads(text, "bda"), 20, repeat)
    table.add("compile BDA in-process, warm (ms)", f"{warm * 1e3:.2f}")

    print()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.processor() or '?'}; "
          f"Python {platform.python_version()}; medians of {repeat} runs")
    print(table.render())
    return 0


if __name__ == "__main__":
    sys.exit(main())
