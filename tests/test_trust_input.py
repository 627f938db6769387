"""Hostile input to the engine: pipes, empty times, huge and non-finite counts, deep JSON, lone
surrogates, empty ids, the caller's decimal context, wrong argument types, signals, and the
example service (issue 13, items 1, 2, 5, 7, 8, 10, 11, 12, 16, 18, 19, 20)."""

from __future__ import annotations

import contextlib
import decimal
import http.client
import importlib.util
import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import ratecard
from ratecard import Account, HeldPack, JournalError, Usage, UsageError
from ratecard.cli import main
from ratecard.engine.pricebook import PriceBook
from tests.conftest import BDA_RULES, ROOT, RULES

BDA = str(BDA_RULES)
NOV = "2026-11-02T10:00:00+08:00"


def usage(count: Any, time: str = NOV, **more: Any) -> dict[str, Any]:
    return {"time": time, "type": "usage", "action": "DetectBody", "count": count, **more}


def raw_usage(count: str, time: str = NOV) -> str:
    """A usage line with its count written as given (a JSON number, or a string in quotes)."""
    return f'{{"time": "{time}", "type": "usage", "action": "DetectBody", "count": {count}}}'


def jsonl(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def journal_error(call: Callable[[], object]) -> JournalError:
    with pytest.raises(JournalError) as caught:
        call()
    return caught.value


def usage_error(call: Callable[[], object]) -> str:
    with pytest.raises(UsageError) as caught:
        call()
    return str(caught.value)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --- 1. a journal is read once: pipes, FIFOs, standard input -------------------------------------


def shuffled_month() -> bytes:
    """2,000 entries of 100 DetectBody calls in November 2026, out of order."""
    lines = [json.dumps(usage(100, f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00+08:00"))
             for i in range(2000)]
    random.Random(13).shuffle(lines)
    return "".join(line + "\n" for line in lines).encode()


def test_an_out_of_order_journal_from_a_pipe_bills_as_the_file(
    bda: PriceBook, tmp_path: Path
) -> None:
    """Standard input (`-` and `/dev/stdin`, a real pipe from another process) bills exactly
    as the same bytes in a file: 2,000 × 100 = 200,000 calls, 1,000 free, 199,000 × 0.002 =
    398.00. (Re-opening the pipe for the sorting pass once lost 32 entries: 391.60.)"""
    data = shuffled_month()
    path = tmp_path / "month.jsonl"
    path.write_bytes(data)
    (from_file,) = bda.bill(path)
    assert from_file.total == Decimal("398.00")
    for journal in ("-", "/dev/stdin"):
        done = subprocess.run(
            [sys.executable, "-m", "ratecard", "bill", BDA, "--journal", journal, "--json"],
            input=data, capture_output=True, cwd=ROOT, check=False,
            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
        )
        assert (done.returncode, done.stderr) == (0, b""), journal
        (bill,) = json.loads(done.stdout)["bills"]
        assert bill["total"] == "398.00", journal


def feed_through(writer: Callable[[int], None]) -> int:
    """A real pipe: the read end, with `writer` filling the write end from a thread."""
    read, write = os.pipe()
    threading.Thread(target=writer, args=(write,), daemon=True).start()
    return read


def writing(data: bytes) -> Callable[[int], None]:
    def write(fd: int) -> None:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
    return write


def test_a_binary_stream_and_a_fifo_are_read_once(bda: PriceBook, tmp_path: Path) -> None:
    """`book.bill` takes a binary stream (here an os.pipe) and a FIFO's path: 398.00 both."""
    data = shuffled_month()
    with os.fdopen(feed_through(writing(data)), "rb") as stream:
        (bill,) = bda.bill(stream)
    assert bill.total == Decimal("398.00")
    fifo = tmp_path / "journal.fifo"
    os.mkfifo(fifo)

    def fill() -> None:
        with open(fifo, "wb") as stream:
            stream.write(data)

    threading.Thread(target=fill, daemon=True).start()
    (bill,) = bda.bill(fifo)  # once hung: the sorting pass opened the FIFO again
    assert bill.total == Decimal("398.00")


def test_cli_journal_dash_reads_standard_input(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's repro: December's 5,000 calls first, then November's; each month bills
    4,000 × 0.002 = 8.00."""
    data = (json.dumps(usage(5000, "2026-12-02T10:00:00+08:00")) + "\n"
            + json.dumps(usage(5000)) + "\n").encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(
        os.fdopen(feed_through(writing(data)), "rb")))
    code, out, err = run(capsys, "bill", BDA, "--journal", "-", "--json")
    assert (code, err) == (0, "")
    assert [(b["month"], b["total"]) for b in json.loads(out)["bills"]] == [
        ("2026-11", "8.00"), ("2026-12", "8.00")]


def test_a_file_is_billed_as_it_was_read(bda: PriceBook, tmp_path: Path) -> None:
    """The sorting pass reads the copy of what the first pass read, not the file again: a
    file truncated between the passes still bills its 2,000 entries (398.00)."""
    path = tmp_path / "month.jsonl"
    path.write_bytes(shuffled_month())
    from ratecard.engine import journal as journal_module

    chunks = journal_module.ReadOnce.chunks

    def truncating(self: Any) -> Iterator[bytes]:
        yield from chunks(self)
        path.write_bytes(b"")  # a writer empties the file after the first pass has read it

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(journal_module.ReadOnce, "chunks", truncating)
        (bill,) = bda.bill(path)
    assert bill.total == Decimal("398.00")


# --- 2. an empty time -----------------------------------------------------------------------------

EMPTY = "the time is empty; write e.g. 2026-11-02T10:00:00+08:00"


def test_an_empty_time_is_an_error_in_a_jsonl_and_a_csv_journal(
    bda: PriceBook, tmp_path: Path
) -> None:
    """Once billed in 1970-01 (the shortcut's cache began with "" at instant 0); with a
    purchase first, 683 monthly bills."""
    purchase = '{"time": "2026-11-01", "type": "purchase", "meter": "detection", "size": "1万"}'
    for lines, line in (([json.dumps(usage(5000, ""))], 1),
                        ([purchase, json.dumps(usage(5000, ""))], 2)):
        error = journal_error(lambda lines=lines: bda.bill(jsonl(tmp_path / "j.jsonl", *lines)))
        assert (error.line, error.field, error.message) == (line, "time", EMPTY)
    error = journal_error(lambda: bda.bill(jsonl(tmp_path / "j.csv", ",DetectBody,5000")))
    assert (error.line, error.field, error.message) == (1, "time", EMPTY)
    error = journal_error(lambda: bda.bill(jsonl(tmp_path / "j.jsonl", json.dumps(usage(5, " ")))))
    assert error.message == "the time is blank; write e.g. 2026-11-02T10:00:00+08:00"


def test_an_empty_time_is_an_error_from_python(bda: PriceBook) -> None:
    for entries in ([usage(5000, "")], [Usage("", "DetectBody", 5000)],
                    [usage(1), Usage("", "DetectBody", 5000)]):
        error = journal_error(lambda entries=entries: bda.bill(entries))
        assert (error.field, error.message) == ("time", EMPTY)
        assert error.line == len(entries)
        account = Account(bda)
        error = journal_error(lambda entries=entries, account=account: account.feed(entries))
        assert (error.line, error.field, error.message) == (len(entries), "time", EMPTY)
        assert account.month is None  # nothing applied
    # A typed entry without a time once met the in-memory cache's empty slot (instant 0) too.
    error = journal_error(lambda: bda.bill([Usage(None, "DetectBody", 5)])  # type: ignore[arg-type]
                          )
    assert (error.field, error.message) == ("time", "missing field `time`")
    assert usage_error(lambda: Account(bda).advance("")) == EMPTY


# --- 5. counts: one rule on every path -----------------------------------------------------------

LIMIT = "is more than the largest count, 1000000000000000000 (10^18)"


@pytest.mark.parametrize(("count", "message"), [
    ("1e100", f"1E+100 {LIMIT}"),
    ("1e400", f"1E+400 {LIMIT}"),
    ("1e999999", f"1E+999999 {LIMIT}"),
    ("9" * 100, f"99999999999999999999…99999999 (100 digits) {LIMIT}"),
    ("9" * 5000, f"99999999999999999999…99999999 (5000 digits) {LIMIT}"),
    ("1000000000000000001", f"1000000000000000001 {LIMIT}"),
    ('"1e100"', f"1E+100 {LIMIT}"),
    ('"1e999999999"', f"1e999999999 {LIMIT}"),
    ('"NaN"', "`NaN` is not a number"),
    ('"Infinity"', "`Infinity` is not a number"),
    ("-1e3", "-1000 is negative"),
    ("1e-3", "0.001 is not a whole number of units"),
    ('"0.00000000000000000000000000001"', "`0.00000000000000000000000000001` has more than 28 "
     "digits"),
])
def test_a_count_ratecard_refuses_names_the_value_line_and_field(
    bda: PriceBook, tmp_path: Path, count: str, message: str
) -> None:
    """Once a raw decimal.InvalidOperation, or Python's advice to raise its digit limit."""
    path = jsonl(tmp_path / "j.jsonl", json.dumps(usage(1)), raw_usage(count))
    error = journal_error(lambda: bda.bill(path))
    assert (error.line, error.field, error.message) == (2, "count", message)
    assert "set_int_max_str_digits" not in str(error)


def test_skip_invalid_reports_a_huge_count_and_bills_the_rest(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The bad entry is skipped and reported; 5,000 + 7,000 calls bill 11,000 × 0.002 = 22.00."""
    path = jsonl(tmp_path / "j.jsonl", json.dumps(usage(5000)), raw_usage("1e100"),
                 json.dumps(usage(7000)))
    code, out, err = run(capsys, "bill", BDA, "--journal", str(path), "--skip-invalid", "--json")
    assert code == 0
    assert json.loads(out)["bills"][0]["total"] == "22.00"
    assert err == (f"ratecard: skipped {path}:2: field `count`: 1E+100 {LIMIT}\n"
                   "ratecard: skipped 1 invalid journal entry\n")


def test_a_csv_count_takes_the_same_rule(bda: PriceBook, tmp_path: Path) -> None:
    for count, message in (("1e100", f"1E+100 {LIMIT}"),
                           ("9" * 5000, f"99999999999999999999…99999999 (5000 digits) {LIMIT}"),
                           ("NaN", "`NaN` is not a number")):
        path = jsonl(tmp_path / "j.csv", f"{NOV},DetectBody,{count}")
        error = journal_error(lambda path=path: bda.bill(path))
        assert (error.line, error.field, error.message) == (1, "count", message)


@pytest.mark.parametrize(("count", "message"), [
    (Decimal("NaN"), "NaN is not a finite number"),
    (Decimal("sNaN"), "sNaN is not a finite number"),
    (Decimal("Infinity"), "Infinity is not a finite number"),
    (Decimal("1e61"), f"1E+61 {LIMIT}"),
    (10**18 + 1, f"1000000000000000001 {LIMIT}"),
    (10**5000, f"10000000000000000000…00000000 (5001 digits) {LIMIT}"),
    (1e3, "1000.0 is a float: pass a count as an int, a Decimal or a str (counts are exact, "
     "never binary floats)"),
    (True, "True is not a number"),
    ([1], "[1] is not a number"),
], ids=["NaN", "sNaN", "Infinity", "1e61", "1e18+1", "10^5000", "float", "bool", "list"])
def test_a_quoted_count_takes_the_same_rule(bda: PriceBook, count: Any, message: str) -> None:
    """Once InvalidOperation (NaN, Infinity, sNaN, ≥ 1e61), and a float 1e3 was taken."""
    assert usage_error(lambda: bda.quote({"DetectBody": count})) == f"DetectBody: count {message}"


def test_the_largest_count_bills_exactly(bda: PriceBook) -> None:
    """10^18 calls: (10^18 − 1,000) × 0.0015 = 1,499,999,999,999,998.5, on the cent."""
    bill = bda.quote({"DetectBody": 10**18})
    assert bill.total == Decimal("1499999999999998.50")
    assert bda._quote_general({"DetectBody": 10**18}) == bill
    assert bda.price_total("detection", 10**18) == Decimal("1500000000000000.00")
    assert "largest count" in usage_error(lambda: bda.price_total("detection", 10**18 + 1))
    assert "largest count" in usage_error(lambda: bda.price_lines("detection", 10**18 + 1))


def test_exponent_forms_are_read_alike_everywhere(
    bda: PriceBook, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """1e3 (and 1.5E+3) calls, written any way, are 1,000 (1,500) calls: with 1,000 free,
    1,500 bill 500 × 0.002 = 1.00. `quote X=1e3` was refused while a journal's 1e3 was taken."""
    assert bda.quote({"DetectBody": "1.5e3"}).total == Decimal("1.00")
    assert bda.quote({"DetectBody": Decimal("1.5E+3")}).total == Decimal("1.00")
    code, out, _ = run(capsys, "quote", BDA, "DetectBody=1.5e3", "--json")
    assert (code, json.loads(out)["total"]) == (0, "1.00")
    for written in ("1.5e3", '"1.5e3"', '"1500"'):
        path = jsonl(tmp_path / "j.jsonl", raw_usage(written))
        assert bda.bill_month(path, "2026-11").total == Decimal("1.00"), written
    csv = jsonl(tmp_path / "j.csv", f"{NOV},DetectBody,1.5e3")
    assert bda.bill_month(csv, "2026-11").total == Decimal("1.00")
    assert bda.bill_month([Usage(NOV, "DetectBody", "1.5e3")], "2026-11").total == Decimal("1.00")


def test_an_account_refuses_a_huge_count_when_fed(bda: PriceBook) -> None:
    """Once accepted by `feed`, then a crash in `advance`; now refused at once, the account
    untouched and usable."""
    account = Account(bda)
    error = journal_error(lambda: account.feed([usage(1), usage(Decimal("1e100"))]))
    assert (error.line, error.field, error.message) == (2, "count", f"1E+100 {LIMIT}")
    assert account.entries == 0
    account.feed([usage(5000)])
    (november,) = account.advance("2026-12-01T00:00:00+08:00")
    assert november.total == Decimal("8.00")  # 4,000 × 0.002


def test_a_rounded_meter_takes_decimal_counts_within_the_rule() -> None:
    """AWS Lambda's duration rounds up to 0.000001 GB-s: 1.0000005 → 1.000001. A count past
    the limit is refused there too."""
    lam = ratecard.load(RULES / "aws-lambda.rules")
    entry = {"time": "2026-11-02", "type": "usage", "action": "DurationGBs"}
    assert lam.quote({"DurationGBs": "1.0000005"}).lines == lam.quote(
        {"DurationGBs": Decimal("1.000001")}).lines
    error = journal_error(lambda: lam.bill([{**entry, "count": "1e19"}]))
    assert (error.field, error.message) == ("count", f"10000000000000000000 {LIMIT}")


# --- 7, 8: deep JSON, lone surrogates ------------------------------------------------------------


def test_json_nested_too_deeply_is_a_bad_line(
    bda: PriceBook, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A line nested 100,000 deep in a field ratecard does not read: once a RecursionError."""
    deep = raw_usage(f'1, "x": {"[" * 100_000}{"]" * 100_000}')
    path = jsonl(tmp_path / "j.jsonl", json.dumps(usage(5000)), deep)
    error = journal_error(lambda: bda.bill(path))
    assert (error.line, error.field) == (2, None)
    assert error.message == "the JSON nests arrays or objects too deeply to be read"
    code, out, err = run(capsys, "bill", BDA, "--journal", str(path))
    assert (code, out) == (2, "")
    assert err == f"ratecard: error: {path}:2: {error.message}\n"
    assert bda.bill_month(path, "2026-11", on_invalid=lambda _: None).total == Decimal("8.00")


SURROGATE = ("`\\ud800` is not text: it holds a lone surrogate (a \\ud800-\\udfff escape that is "
             "not half of a pair)")


def test_a_lone_surrogate_is_refused_when_read(bda: PriceBook, tmp_path: Path) -> None:
    """`"id": "\\ud800"` once failed on output and in the snapshot's checksum."""
    path = jsonl(tmp_path / "j.jsonl", json.dumps(usage(1)), json.dumps(usage(1, id="\ud800")))
    error = journal_error(lambda: bda.bill(path))
    assert (error.line, error.field, error.message) == (2, "id", SURROGATE)
    str(error).encode("utf-8")  # the message itself is writable
    purchase = {"time": NOV, "type": "purchase", "meter": "detection", "size": "1万",
                "id": "p\ud800"}
    error = journal_error(lambda: bda.bill([purchase]))
    assert (error.field, error.message) == ("id", SURROGATE.replace("`\\ud800`", "`p\\ud800`"))
    error = journal_error(lambda: bda.bill([usage(1) | {"action": "Detect\ud800"}]))
    assert error.field == "action"
    assert "Detect\\ud800" in str(error)
    str(error).encode("utf-8")
    account = Account(bda)
    error = journal_error(lambda: account.feed([Usage(NOV, "DetectBody", 1, id="\udfff")]))
    assert error.field == "id"
    account.feed([Usage(NOV, "DetectBody", 1, id="正常")])  # other non-ASCII ids are fine
    json.dumps(account.snapshot(), ensure_ascii=False).encode("utf-8")


# --- 11. ratecard's own decimal context -----------------------------------------------------------


@pytest.mark.parametrize("precision", [4, 28])
def test_the_caller_s_decimal_context_changes_nothing(bda: PriceBook, precision: int) -> None:
    """A top-up of 100.00 was refused under prec=4 and 1e27 under prec=28 (book.bill took it).
    Both take the same amounts now, and refuse 1e28 (29 digits) alike."""
    topup = {"time": "2026-11-01", "type": "topup"}
    journal = [topup | {"amount": "100.00"}, topup | {"amount": "1e27"}, usage(600000)]
    expected = bda.bill(journal)
    quote = bda.quote({"DetectBody": 600000, "SearchTrace": 3_002_225})
    too_many = topup | {"amount": "1e28"}
    with decimal.localcontext(decimal.Context(prec=precision)):
        assert bda.bill(journal) == expected
        assert bda.quote({"DetectBody": 600000, "SearchTrace": 3_002_225}) == quote
        account = Account(bda)
        account.feed(journal)
        assert account.close_through("2026-11") == expected
        for call in (lambda: bda.bill([too_many]), lambda: Account(bda).feed([too_many])):
            error = journal_error(call)
            assert (error.field, error.message) == (
                "amount", "10000000000000000000000000000 has more than 28 digits")
    (november,) = expected
    assert november.total == Decimal("1198.00")  # 599,000 × 0.002
    assert november.settlement is not None
    assert november.settlement.balance_after == Decimal("999999999999999999999998902.00")


# --- 12. an empty id is no id ---------------------------------------------------------------------


def test_an_empty_id_is_no_id_on_every_path(bda: PriceBook, tmp_path: Path) -> None:
    """Two entries of 3,000 calls with `"id": ""` are both billed (JSON Lines once ignored the
    second as a resend, CSV did not): 6,000 − 1,000 free = 5,000 × 0.002 = 10.00."""
    entries = [usage(3000, id=""), usage(3000, "2026-11-03T10:00:00+08:00", id="")]
    path = jsonl(tmp_path / "j.jsonl", *(json.dumps(e) for e in entries))
    csv = jsonl(tmp_path / "j.csv", f"{NOV},DetectBody,3000,", "2026-11-03,DetectBody,3000,")
    typed = [Usage(e["time"], "DetectBody", 3000, id="") for e in entries]
    for journal in (path, csv, entries, typed):
        bill = bda.bill_month(journal, "2026-11")
        assert (bill.total, bill.ignored) == (Decimal("10.00"), ()), journal
    account = Account(bda)
    account.feed(entries[:1])
    account.feed(entries[1:])
    assert account.close_through("2026-11")[0].total == Decimal("10.00")
    assert account.snapshot()["seen"] == {"usage": [], "purchase": []}
    packs = [{"time": "2026-11-01", "type": "purchase", "meter": "detection", "size": "1万",
              "id": ""}] * 2
    bill = bda.bill_month(packs, "2026-11")
    assert [p.pack for p in bill.prepaid] == ["detection:10000#1", "detection:10000#2"]


# --- 16. units left in a held pack ----------------------------------------------------------------


def test_half_a_unit_left_in_a_pack_is_refused(
    bda: PriceBook, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "quote", BDA, "DetectBody=1000", "--pack", "detection:10000:0.5")
    assert (code, out) == (2, "")
    assert err == ("ratecard: error: pack detection:10000: remaining 0.5 is not a whole number "
                   "of units (meter `detection` counts whole units)\n")
    message = usage_error(lambda: bda.quote({}, [HeldPack("detection", Decimal(10000),
                                                          Decimal("0.5"))]))
    assert message == err.removeprefix("ratecard: error: ").rstrip("\n")
    assert usage_error(lambda: bda.quote({}, [HeldPack("detection", Decimal(10000),
                                                       Decimal("NaN"))])) == (
        "pack detection:10000: remaining NaN is not a finite number")
    # 2,500 left, given as text: 12,000 calls take 1,000 free, 2,500 from the pack and 8,500
    # postpaid (17.00).
    bill = bda.quote({"DetectBody": 12000}, [HeldPack("detection", Decimal(10000), "2500")])
    assert bill.total == Decimal("17.00")


# --- 18. plain messages ---------------------------------------------------------------------------


def test_an_offset_out_of_range_is_said_plainly(bda: PriceBook) -> None:
    error = journal_error(lambda: bda.bill([usage(1, "2026-11-02T10:00:00+24:00")]))
    assert error.message == ("`2026-11-02T10:00:00+24:00` is not a valid time: offset +24:00 is "
                             "out of range (-23:59..+23:59)")
    assert "timedelta" not in error.message


# --- 19. signals ----------------------------------------------------------------------------------


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="reads /proc to see open files")
def test_sigterm_mid_replay_leaves_no_temporary_files(tmp_path: Path) -> None:
    """A replay of an out-of-order journal from a pipe, stopped by SIGTERM while it sorts: it
    holds temporary files in $TMPDIR (the journal's copy, a sorted run), exits 143 without a
    traceback, and leaves $TMPDIR empty."""
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "ratecard", "bill", BDA, "--journal", "-"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
        env={**os.environ, "TMPDIR": str(scratch), "PYTHONPATH": str(ROOT / "src")},
    )
    assert process.stdin is not None
    line = '{"time":"2026-11-%02d","type":"usage","action":"DetectBody","count":1}\n'
    process.stdin.write(b'{"time":"2026-12-01","type":"usage","action":"DetectBody","count":1}\n')
    # More than a sorting run (100,000) before the last, partly filled chunk the reader waits on.
    process.stdin.write("".join(line % (1 + i % 28) for i in range(102_000)).encode())
    process.stdin.flush()  # the pipe stays open: the replay waits for more, mid-sort

    def held() -> list[str]:
        names = []
        for fd in Path(f"/proc/{process.pid}/fd").iterdir():
            with contextlib.suppress(OSError):  # (an fd closed meanwhile)
                names.append(os.readlink(fd))
        return [name for name in names if name.startswith(str(scratch))]

    deadline = time.monotonic() + 20
    while len(held()) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(held()) >= 2, "the replay should hold its copy and a sorted run"
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=20)
    assert (process.returncode, err) == (128 + signal.SIGTERM, b"")
    assert list(scratch.iterdir()) == []


# --- 20. wrong argument types ---------------------------------------------------------------------


@pytest.mark.parametrize(("call", "message"), [
    (lambda b: b.quote({1: 5}), "an action is a name such as SegmentPortraitPic, not 1 (int)"),
    (lambda b: b.quote("x"), 'usage is a mapping of actions to counts, such as '
     '{"SegmentPortraitPic": 5000}, not \'x\' (str)'),
    (lambda b: b.quote(None), 'usage is a mapping of actions to counts, such as '
     '{"SegmentPortraitPic": 5000}, not None (NoneType)'),
    (lambda b: b.quote({}, HeldPack("detection", Decimal(10000))),
     "packs is a list of ratecard.HeldPack, not one: write [pack]"),
    (lambda b: b.quote({}, ["x"]),
     "a held pack is a ratecard.HeldPack(meter, size, remaining), not 'x' (str)"),
    (lambda b: b.quote({}, [HeldPack(1, Decimal(5))]),
     "a meter is a name such as segmentation, not 1 (int)"),
    (lambda b: b.bill_month(ROOT / "tests/journals/worked-1.jsonl", 202611),
     'a month is a string YYYY-MM such as "2026-11", not 202611 (int)'),
    (lambda b: b.bill(12345), "a journal is a path, a binary stream or an iterable of entries, "
     "not int"),
    (lambda b: b.bill(b"{}"), "a journal is a path, a binary stream or an iterable of entries, "
     "not bytes"),
    (lambda b: b.bill(usage(1)), "a journal is a list of entries, not one entry: write [entry]"),
    (lambda b: b.bill([], on_invalid=5),
     "on_invalid is a function that takes a JournalError, not int"),
    (lambda b: b.price_lines(1, 5), "a meter is a name such as segmentation, not 1 (int)"),
    (lambda b: b.price_total("detection", 1.5), "detection: count 1.5 is a float: pass a count "
     "as an int, a Decimal or a str (counts are exact, never binary floats)"),
    (lambda b: b.price_lines("detection", None), "detection: count None is not a number"),
    (lambda b: Account(b).close_through(202611),
     'a month is a string YYYY-MM such as "2026-11", not 202611 (int)'),
    (lambda b: Account(b).feed(5), "a journal is a path, a binary stream or an iterable of "
     "entries, not int"),
])
def test_wrong_argument_types_are_usage_errors(
    bda: PriceBook, call: Callable[[PriceBook], object], message: str
) -> None:
    """Once TypeError or AttributeError from deep inside (`'int' object is not iterable`)."""
    assert usage_error(lambda: call(bda)) == message


# --- 10. the example service ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """examples/service.py serving BDA on a free loopback port, from a thread."""
    spec = importlib.util.spec_from_file_location("ratecard_example_service",
                                                  ROOT / "examples" / "service.py")
    assert spec is not None and spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    server = module.serve(ratecard.load(BDA_RULES), tmp_path_factory.mktemp("accounts"), 0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield "127.0.0.1", server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def ask(service: tuple[str, int], path: str, body: bytes,
        headers: dict[str, str] | None = None) -> tuple[int, Any]:
    connection = http.client.HTTPConnection(*service, timeout=10)
    try:
        connection.request("POST", path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.mark.parametrize(("path", "body", "message"), [
    ("/quote", b'{"usage": {"DetectBody": 1e100}}', f"DetectBody: count 1E+100 {LIMIT}"),
    ("/quote", b'{"usage": {"DetectBody": %s}}' % (b"9" * 5000),
     f"DetectBody: count 99999999999999999999…99999999 (5000 digits) {LIMIT}"),
    ("/quote", b'{"usage": {"DetectBody": NaN}}',
     "the request body is not valid JSON: NaN is not a number"),
    ("/quote", b"not json", "the request body is not valid JSON: Expecting value: line 1 "
     "column 1 (char 0)"),
    ("/quote", b"\xff", "the request body is not valid JSON: 'utf-8' codec can't decode byte "
     "0xff in position 0: invalid start byte"),
    ("/quote", b"[" * 100_000 + b"]" * 100_000,
     "the request body nests arrays or objects too deeply"),
    ("/quote", b"[1]", "the request must be a JSON object"),
    ("/quote", b'{"usage": "x"}', 'usage is a mapping of actions to counts, such as '
     '{"SegmentPortraitPic": 5000}, not \'x\' (str)'),
    ("/quote", b'{}', "the request needs `usage`"),
    ("/quote", b'{"usage": {}, "packs": [{"meter": "detection"}]}', "pack 1 needs `size`"),
    ("/quote", b'{"usage": {}, "packs": 5}',
     'packs` is a list of {"meter", "size", "remaining"}'),
    ("/quote", b'{"usage": {"\\ud800": 1}}', "unknown action `\\ud800` in rules `bda`"),
    ("/accounts/a1/entries", json.dumps(usage(1)).encode(),
     "feed takes a list of entries, not one entry: write feed([entry])"),
    ("/accounts/a1/entries", json.dumps([usage(1, "")]).encode(),
     f"journal entry 1: field `time`: {EMPTY}"),
    ("/accounts/a1/advance", b'{"time": 5}', "a time is an ISO 8601 string such as "
     "2026-12-01T00:00:00+08:00 or a datetime, not int"),
    ("/accounts/a1/advance", b"[]", "the request must be a JSON object"),
])
def test_the_service_answers_bad_input_400_with_the_message(
    service: tuple[str, int], path: str, body: bytes, message: str
) -> None:
    """`POST /quote {"usage": {"DetectBody": 1e100}}` once dropped the connection."""
    status, answer = ask(service, path, body)
    assert status == 400
    assert answer["error"].endswith(message)


def test_the_service_refuses_a_bad_content_length_and_keeps_serving(
    service: tuple[str, int]
) -> None:
    for length in ("-1", "abc", "9" * 30):
        connection = http.client.HTTPConnection(*service, timeout=10)
        try:
            connection.putrequest("POST", "/quote")
            connection.putheader("Content-Length", length)
            connection.endheaders()
            response = connection.getresponse()
            assert response.status == 400, length
            assert "Content-Length" in json.loads(response.read())["error"] or length == "9" * 30
        finally:
            connection.close()
    status, answer = ask(service, "/quote", b'{"usage": {"DetectBody": 600000}}')
    assert (status, answer["total"]) == (200, "1198.00")  # 599,000 × 0.002
