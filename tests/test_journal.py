"""Reading journals: JSON Lines, CSV and iterables; bad entries named by line and field; order."""

from __future__ import annotations

import json
import random
import tempfile
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ratecard
from ratecard import JournalError
from ratecard.cli import main
from ratecard.engine import journal as journal_module
from ratecard.engine import ordering
from ratecard.engine.pricebook import PriceBook
from tests.conftest import BDA_RULES

USAGE = '{"time": "2026-11-02T10:00:00+08:00", "type": "usage", "action": "DetectBody", "count": 1}'


def write(path: Path, *lines: str) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def error_of(book: PriceBook, path: Path) -> JournalError:
    with pytest.raises(JournalError) as caught:
        book.bill(path)
    return caught.value


T = '"time": "2026-11-02T10:00:00+08:00"'


@pytest.mark.parametrize(("line", "field", "message"), [
    (f'{{{T}, "type": "usage", "action": "DetectBody", "count": 1',
     None, "not valid JSON: Expecting ',' delimiter at the end of the line"),
    (f'{{{T}, "type": "usage", "action": DetectBody, "count": 1}}',
     None, "not valid JSON: Expecting value at column 66"),
    ("[1, 2]", None, "an entry must be a JSON object with `time` and `type`"),
    (f'{{{T}, "action": "DetectBody", "count": 1}}',
     "type",
     "missing field `type` (one of usage, purchase, suspend, reopen, topup, refund, order, "
     "subscribe, cancel, open, credit, request)"),
    (f'{{{T}, "type": "usge", "action": "DetectBody", "count": 1}}',
     "type", "unknown entry type `usge`; did you mean `usage`?"),
    (f'{{{T}, "type": "usage", "action": "DetectBody"}}', "count", "missing field `count`"),
    (f'{{{T}, "type": "usage", "count": 1}}', "action", "missing field `action`"),
    (f'{{{T}, "type": "usage", "action": "DetectBodyJoint", "count": 1}}',
     "action", "unknown action `DetectBodyJoint` in rules `bda`; did you mean `DetectBodyJoints`?"),
    (f'{{{T}, "type": "usage", "action": "CreateSegmentationTask", "count": 1}}',
     "action", "action `CreateSegmentationTask` is not priced by rules `bda`: 本页未定价 / not "
     "priced on this page"),
    (f'{{{T}, "type": "usage", "action": "DetectBody", "count": -5}}',
     "count", "-5 is negative"),
    (f'{{{T}, "type": "usage", "action": "DetectBody", "count": 2.5}}',
     "count", "2.5 is not a whole number of units"),
    (f'{{{T}, "type": "usage", "action": "DetectBody", "count": "many"}}',
     "count", "`many` is not a number"),
    (f'{{{T}, "type": "usage", "action": "DetectBody", "count": true}}',
     "count", "true is not a number"),
    (f'{{{T}, "type": "usage", "action": "DetectBody", "count": 1, "id": {{"a": 1}}}}',
     "id", 'an id is a string (or a whole number), not {"a": 1}'),
    ('{"time": "10:30:00", "type": "usage", "action": "DetectBody", "count": 1}',
     "time", "`10:30:00` is a time without a date; write e.g. 2026-11-02T10:00:00+08:00"),
    ('{"time": "yesterday", "type": "usage", "action": "DetectBody", "count": 1}',
     "time", "`yesterday` is not an ISO 8601 time; write e.g. 2026-11-02T10:00:00+08:00"),
    ('{"time": "2026-02-30T10:00:00", "type": "usage", "action": "DetectBody", "count": 1}',
     "time", "`2026-02-30T10:00:00` is not a valid time: day is out of range for month"),
    ('{"type": "reopen"}', "time", "missing field `time`"),
    ('{"time": "9999-12-31T10:00:00", "type": "reopen"}',
     "time", "`9999-12-31T10:00:00` is out of range: times are from 1900 to 9000"),
    (f'{{{T}, "type": "purchase", "meter": "detecton", "size": "1万"}}',
     "meter", "unknown meter `detecton`; did you mean `detection`?"),
    (f'{{{T}, "type": "purchase", "meter": "detection", "size": "5万"}}',
     "size", "meter `detection` has no pack of size 50000 (sizes: 10000, 100000, 1000000, "
     "10000000)"),
    (f'{{{T}, "type": "purchase", "meter": "detection"}}', "size", "missing field `size`"),
    (f'{{{T}, "type": "refund", "meter": "detection", "size": "1万"}}',
     "type", "a refund cannot be billed: prepaid packs are non-refundable (rules `bda`: "
     "`packs valid 1 year, no refund, no freeze`)"),
    (f'{{{T}, "type": "suspend", "reason": "arrear"}}',
     "reason", "`arrear` is not a reason to suspend in rules `bda`; did you mean `arrears`?"),
    (f'{{{T}, "type": "topup", "amount": "0"}}',
     "amount", "a top-up must be a positive amount, not 0"),
    (f'{{{T}, "type": "topup", "amount": 1.001}}',
     "amount", "1.001 CNY is not a whole number of 0.01"),
    (f'{{{T}, "type": "topup", "amount": "lots"}}', "amount", "`lots` is not an amount of money"),
    (f'{{{T}, "type": "purchase", "meter": "detection", "size": "1万", "price": "-1"}}',
     "price", "a pack price must be an amount of 0 or more, not -1"),
    (f'{{{T}, "type": "purchase", "meter": "detection", "size": "1万", "price": "NaN"}}',
     "price", "a pack price must be an amount of 0 or more, not NaN"),
    (f'{{{T}, "type": "purchase", "meter": "detection", "size": "1万", "price": 8.005}}',
     "price", "8.005 CNY is not a whole number of 0.01"),
    (f'{{{T}, "type": "purchase", "meter": "detection", "size": "1万", "price": true}}',
     "price", 'an amount is a number such as 100 or "100.00", not true'),
    (f'{{{T}, "type": "purchase", "meter": "detection", "size": "1万", "price": "cheap"}}',
     "price", "`cheap` is not an amount of money"),
])
def test_bad_entry_names_line_and_field(
    bda: PriceBook, tmp_path: Path, line: str, field: str | None, message: str
) -> None:
    path = write(tmp_path / "journal.jsonl", USAGE, line, USAGE)
    error = error_of(bda, path)
    assert (error.path, error.line, error.field, error.message) == (str(path), 2, field, message)
    where = f"{path}:2: " + (f"field `{field}`: " if field else "")
    assert str(error) == where + message


def test_bad_bytes_are_a_bad_line(bda: PriceBook, tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(USAGE.encode() + b"\n\xff\xfe{}\n")
    assert str(error_of(bda, path)) == f"{path}:2: not UTF-8 text (byte 1 of the line)"


def test_an_iterable_names_the_entry_number(bda: PriceBook) -> None:
    with pytest.raises(JournalError, match=r"^journal entry 2: field `count`: -1 is negative$"):
        bda.bill([json.loads(USAGE), {**json.loads(USAGE), "count": -1}])


def test_counts_in_the_language_s_number_forms(bda: PriceBook) -> None:
    """"1万" and 10000 are the same count: 20,000 − 1,000 = 19,000 × 0.002 = 38.00."""
    entry = json.loads(USAGE)
    bill = bda.bill_month([{**entry, "count": "1万"}, {**entry, "count": 10000}], "2026-11")
    assert bill.total == Decimal("38.00")


def test_blank_lines_bom_and_crlf(bda: PriceBook, tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + USAGE.encode() + b"\r\n\r\n   \n" + USAGE.encode() + b"\r\n")
    (bill,) = bda.bill(path)
    assert bill.lines[0].quantity == 2


def test_extra_fields_are_ignored(bda: PriceBook) -> None:
    (bill,) = bda.bill([{**json.loads(USAGE), "region": "ap-shanghai"}])
    assert bill.lines[0].quantity == 1


# --- CSV ----------------------------------------------------------------------------------------


def test_csv_usage_journal(bda: PriceBook, tmp_path: Path) -> None:
    """Header optional, id optional, quoted fields allowed: 600 + 1,500 detection calls (the
    resent `b` ignored) − 1,000 allowance = 1,100 × 0.002 = 2.20."""
    path = write(tmp_path / "usage.csv",
                 "time,action,count,id",
                 "2026-11-02T10:00:00+08:00,DetectBody,600,a",
                 '"2026-11-03T10:00:00+08:00","DetectBodyJoints","1500",b',
                 "2026-11-03T10:00:00+08:00,DetectBodyJoints,1500,b",
                 "2026-11-04T10:00:00+08:00,CreateGroup,3")
    (bill,) = bda.bill(path)
    assert bill.total == Decimal("2.20")
    assert [(i.id, i.line) for i in bill.ignored] == [("b", 4)]
    assert [(f.action, f.quantity) for f in bill.free] == [("CreateGroup", 3)]
    no_header = write(tmp_path / "plain.csv", "2026-11-02T10:00:00+08:00,DetectBody,1500")
    assert bda.bill(no_header)[0].total == Decimal("1.00")


@pytest.mark.parametrize(("row", "field", "message"), [
    ("2026-11-02T10:00:00+08:00,DetectBody", None,
     "expected 3 or 4 columns (time,action,count[,id]), found 2"),
    ("2026-11-02T10:00:00+08:00,DetectBody,-3", "count", "-3 is negative"),
    ("2026-11-02,Detect,3", "action", "unknown action `Detect` in rules `bda`"),
    ("11:00,DetectBody,3", "time",
     "`11:00` is a time without a date; write e.g. 2026-11-02T10:00:00+08:00"),
])
def test_bad_csv_row(
    bda: PriceBook, tmp_path: Path, row: str, field: str | None, message: str
) -> None:
    path = write(tmp_path / "usage.csv", "time,action,count", row)
    error = error_of(bda, path)
    assert (error.line, error.field) == (2, field)
    assert error.message.startswith(message)


# --- skipping bad entries -------------------------------------------------------------------------


def test_on_invalid_skips_and_reports_each_bad_entry_once(bda: PriceBook, tmp_path: Path) -> None:
    """Out of order, the journal is read twice; each bad line is still reported once. The two
    good entries: 1,500 calls − 1,000 allowance = 500 × 0.002 = 1.00."""
    path = write(
        tmp_path / "journal.jsonl",
        '{"time": "2026-11-20", "type": "usage", "action": "DetectBody", "count": 500}',
        '{"time": "2026-11-21", "type": "usage", "action": "DetectBody", "count": -1}',
        '{"time": "2026-11-02", "type": "usage", "action": "DetectBody", "count": 1000}',
        '{"time": "2026-11-22", "type": "usage", "action": "Nope", "count": 1}',
    )
    reported: list[JournalError] = []
    (bill,) = bda.bill(path, on_invalid=reported.append)
    assert [(e.line, e.field) for e in reported] == [(2, "count"), (4, "action")]
    assert bill.total == Decimal("1.00")


# --- time order -----------------------------------------------------------------------------------


def _journal(size: int, seed: int) -> list[dict[str, Any]]:
    """A journal of `size` entries over three months, with purchases and unique times."""
    rng = random.Random(seed)
    start = datetime(2026, 10, 1)
    minutes = sorted(rng.sample(range(3 * 30 * 24 * 60), size))
    entries: list[dict[str, Any]] = []
    for index, minute in enumerate(minutes):
        time = (start + timedelta(minutes=minute)).isoformat() + "+08:00"
        if index % 40 == 0:
            entries.append({"time": time, "type": "purchase", "meter": "detection", "size": "1万"})
        else:
            action = rng.choice(["DetectBody", "DetectBodyJoints", "SearchTrace", "CreateGroup"])
            entries.append({"time": time, "type": "usage", "action": action,
                            "count": rng.randint(0, 900), "id": f"u{index % 97}-{index // 500}"})
    return entries


def _dicts(bills: list[ratecard.Bill]) -> list[dict[str, Any]]:
    data = [bill.to_dict() for bill in bills]
    for bill in data:
        for ignored in bill["ignored"]:
            del ignored["line"]  # where a resent entry sits depends on the file's order
    return data


@pytest.fixture
def small_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Sort and spool in runs of 7 records, with temporary files under a directory we watch."""
    monkeypatch.setattr(ordering, "RUN_SIZE", 7)
    monkeypatch.setattr(journal_module, "SPOOL_SIZE", 5)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return scratch


def test_out_of_order_file_is_sorted_through_temporary_runs(
    bda: PriceBook, tmp_path: Path, small_runs: Path
) -> None:
    entries = _journal(300, seed=3)
    ordered = bda.bill(entries)
    shuffled = entries[:]
    random.Random(4).shuffle(shuffled)
    path = write(tmp_path / "shuffled.jsonl", *(json.dumps(e) for e in shuffled))
    assert _dicts(bda.bill(path)) == _dicts(ordered)
    assert list(small_runs.iterdir()) == []  # the runs are removed


def test_one_shot_iterables_are_spooled(bda: PriceBook, small_runs: Path) -> None:
    """A generator cannot be read twice: in order it bills in one pass; out of order its
    spooled records are sorted and replayed."""
    entries = _journal(200, seed=5)
    ordered = bda.bill(entries)

    def generate(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        yield from items

    assert _dicts(bda.bill(generate(entries))) == _dicts(ordered)
    late = entries[:150] + entries[160:] + entries[150:160]
    assert _dicts(bda.bill(generate(late))) == _dicts(ordered)
    assert list(small_runs.iterdir()) == []


def test_ties_keep_the_journal_s_order(bda: PriceBook) -> None:
    """A suspension and a usage at the same instant: whichever the journal writes first
    happens first."""
    at = "2026-11-02T10:00:00+08:00"
    usage = {"time": at, "type": "usage", "action": "DetectBody", "count": 5}
    stop = {"time": at, "type": "suspend", "reason": "violation"}
    first = {"time": "2026-11-01", "type": "usage", "action": "DetectBody", "count": 1}
    assert bda.bill_month([first, usage, stop], "2026-11").rejected == ()
    assert bda.bill_month([first, stop, usage], "2026-11").rejected[0].quantity == 5
    # out of order, so sorted: the tie still keeps the journal's order
    assert bda.bill_month([usage, stop, first], "2026-11").rejected == ()


# --- memory -------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("form", ["file", "generator"])
def test_memory_is_flat_in_the_number_of_entries(
    bda: PriceBook, tmp_path: Path, form: str
) -> None:
    """Replaying 24,000 entries in time order holds no more than replaying 6,000 (beyond a
    spool's run of a few thousand records), with 300 kB of slack: nothing is kept per entry."""
    line = ('{"time": "2026-11-02T10:%02d:00+08:00", "type": "usage", "action": "DetectBody", '
            '"count": 3}\n')

    def peak(size: int) -> int:
        path = tmp_path / f"{size}.jsonl"
        path.write_text("".join(line % (i * 60 // size) for i in range(size)), encoding="utf-8")
        journal: Any = path
        if form == "generator":
            journal = (json.loads(text) for text in path.read_text(encoding="utf-8").splitlines())
        tracemalloc.start()
        try:
            bda.bill(journal)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    peak(100)  # first use fills caches (time zones, decoders) that later runs share
    assert peak(24_000) < peak(6_000) + 300_000


# --- a million entries ----------------------------------------------------------------------------


@pytest.mark.slow
def test_one_bad_line_in_a_million(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The replay stops at the bad line, names it, exits 2 and prints nothing on stdout."""
    good = USAGE + "\n"
    bad = USAGE.replace('"count": 1', '"count": -7') + "\n"
    path = tmp_path / "million.jsonl"
    path.write_text(good * 500_000 + bad + good * 499_999, encoding="utf-8")
    code = main(["bill", str(BDA_RULES), "--journal", str(path)])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err == f"ratecard: error: {path}:500001: field `count`: -7 is negative\n"


# --- no input is a crash ------------------------------------------------------------------------

_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.text(max_size=12)
    | st.decimals(allow_nan=False, places=3) | st.sampled_from(
        ["2026-11-02T10:00:00+08:00", "2026-11-31", "10:00", "9999-12-31", "1万", "-1", "0.5",
         "DetectBody", "CreateGroup", "detection", "arrears", "10k", "NaN", "1e3"]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5),
                                                                      children, max_size=3),
    max_leaves=6,
)
_FIELDS = ("time", "type", "action", "count", "id", "meter", "size", "reason", "amount")


@st.composite
def _lines(draw: st.DrawFn) -> str:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=40)).replace("\n", " ").replace("\r", " ")
    entry = {field: draw(_VALUES) for field in draw(st.sets(st.sampled_from(_FIELDS)))}
    if draw(st.booleans()):
        entry["type"] = draw(st.sampled_from(
            ["usage", "purchase", "suspend", "reopen", "topup", "refund"]))
    if draw(st.booleans()):
        entry["time"] = "2026-11-02T10:00:00+08:00"
    return json.dumps(entry, default=str, ensure_ascii=draw(st.booleans()))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_lines(), max_size=12))
def test_any_journal_bills_or_names_its_bad_lines(
    bda: PriceBook, tmp_path_factory: pytest.TempPathFactory, lines: list[str]
) -> None:
    """Whatever a journal holds, the replay bills it, skipping exactly the lines it reports;
    without skipping, it fails with a JournalError on the first of them, never a traceback."""
    path = tmp_path_factory.mktemp("fuzz") / "journal.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    reported: list[JournalError] = []
    bda.bill(path, on_invalid=reported.append)
    assert all(e.path == str(path) and 1 <= e.line <= len(lines) for e in reported)
    if reported:
        with pytest.raises(JournalError) as caught:
            bda.bill(path)
        assert caught.value.line == reported[0].line
    else:
        bda.bill(path)


def test_whole_counts_are_rounded_where_rounding_changes_them() -> None:
    """Regression: with `quantity rounded ceiling to 10`, a whole count of 1 is 10 units (it
    used to pass through unrounded: only decimal counts were rounded). 1 + 12 + 20 → 10 + 20
    + 20 = 50 units × 0.5 = 25.00, in the journal as in a quote."""
    book = ratecard.loads(
        'rules r "R"\ncurrency CNY, rounding half_up 0.01, timezone UTC\n'
        'meter m "M" counts Get quantity rounded ceiling to 10\n'
        "ladder volume by postpaid per month on m { (0, ∞) 0.5 }\n")
    at = "2026-11-02T10:00:00Z"
    bill = book.bill_month([{"time": at, "type": "usage", "action": "Get", "count": count}
                      for count in (1, 12, "20")], "2026-11")
    assert [(line.quantity, line.amount) for line in bill.lines] == [(50, Decimal("25.00"))]
    assert book.quote({"Get": 1}).lines[0].quantity == 10


_ZONES: dict[str, Any] = {
    "+08:00": lambda: timezone(timedelta(hours=8)),  # a new object each time, as parsing makes
    "-05:30": lambda: timezone(-timedelta(hours=5, minutes=30)),
    "UTC": lambda: UTC,
    "Asia/Shanghai": lambda: ZoneInfo("Asia/Shanghai"),
    "America/New_York": lambda: ZoneInfo("America/New_York"),
    "naive": lambda: None,
}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(
    st.one_of(  # minutes after Nov 1, 00:00 (wall clock): often within a day of a month's end
        st.integers(0, 90 * 24 * 60),
        st.builds(lambda days, minutes: days * 24 * 60 + minutes,
                  st.sampled_from([30, 61]), st.integers(-24 * 60, 24 * 60)),
    ),
    st.sampled_from(sorted(_ZONES)),
    st.sampled_from(["DetectBody", "SearchTrace", "CreateGroup", "SegmentPortraitPic", "Nope"]),
    st.one_of(st.integers(-2, 3000), st.just(True), st.just(Decimal("1.5"))),
    st.booleans(),
    st.sampled_from([1800, 2026]),
), max_size=40))
def test_typed_datetimes_bill_like_their_text(
    bda: PriceBook, rows: list[tuple[int, str, str, Any, bool, int]]
) -> None:
    """A journal of `Usage` entries holding datetimes (fixed offsets, zones, naive, the same
    object reused, years out of range, bad counts and actions) bills, and names its bad entries,
    exactly as the same journal written as text."""
    typed: list[ratecard.Usage] = []
    texts: list[dict[str, Any]] = []
    previous: datetime | None = None
    for minutes, zone, action, count, reuse, year in sorted(rows, key=lambda r: r[0]):
        wall = datetime(year, 11, 1) + timedelta(minutes=minutes)
        moment = previous if reuse and previous is not None else wall.replace(
            tzinfo=_ZONES[zone]())
        previous = moment
        typed.append(ratecard.Usage(moment, action, count))
        texts.append({"type": "usage", "time": moment.isoformat(), "action": action,
                      "count": count})

    def outcome(journal: list[Any]) -> tuple[list[Any], list[tuple[int, str]]]:
        problems: list[JournalError] = []
        try:
            bills: list[Any] = bda.bill(journal, on_invalid=problems.append)
        except JournalError as exc:  # out of time order: both must say so alike
            bills = [str(exc)]
        return bills, [(p.line, str(p)) for p in problems]

    assert outcome(typed) == outcome(texts)


_LINE_PARTS = st.sampled_from([
    '{"time": "2026-11-02T10:00:00+08:00", "type": "usage", "action": "DetectBody", "count": 1}',
    '{"time": "2026-11-02T10:00:01+08:00", "type": "usage", "action": "SearchTrace", '
    '"count": 2.50}',
    '{"time": "2026-11-02T10:00:02+08:00", "type": "usage", "action": "DetectBody", '
    '"count": NaN}',
    '[1, 2]', '"text"', "{", "}", "null", " ", "\t", "\r", "x", ",", '{"a": 1}', "1e400",
    '{"time": "2026-11-02T10:00:03+08:00", "type": "purchase", "meter": "detection", '
    '"size": "1万"}',
])


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.lists(_LINE_PARTS, min_size=1, max_size=3).map("".join), max_size=8))
def test_jsonl_lines_read_as_json_decode_reads_them(
    bda: PriceBook, tmp_path: Path, lines: list[str]
) -> None:
    """The JSON Lines reader scans each line with the C scanner and falls back to
    `JSONDecoder.decode` for anything it does not read whole: records and the problems it
    reports are those of decoding every line with `decode`."""
    from ratecard.engine.journal import JsonLinesFile, open_journal

    path = tmp_path / "journal.jsonl"
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")

    def read(scan_first: bool) -> tuple[list[Any], list[str]]:
        problems: list[JournalError] = []
        source = open_journal(bda, path, problems.append, reread=False)
        assert isinstance(source, JsonLinesFile)
        if not scan_first:
            def nothing(text: str, index: int) -> tuple[Any, int]:
                raise StopIteration(index)
            source._scan = nothing
        try:
            return list(source.records()), [str(p) for p in problems]
        finally:
            source.close()

    assert read(scan_first=True) == read(scan_first=False)
