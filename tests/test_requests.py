"""Requests: `request` statements, journal `request` entries, `Request`, `quote --requests`.

One request entry carries several quantities, each counted into the meter its rules name, and
properties checked against the values the rules declare. They bill through `bill`,
`Account.feed` and snapshots alike, and a bad one is an error naming its line.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ratecard
from ratecard import Account, JournalError, Request, Usage
from ratecard.api import analyze
from ratecard.source import SourceFile

RULES = """\
rules llm "模型" / "Models"
currency USD, rounding half_up 0.01, timezone UTC

meter input "输入" / "Input tokens"
meter output "输出" / "Output tokens"
meter search "搜索" / "Web search" counts search_call

allowance 1000 per month on search
deduct allowance, postpaid

request messages "消息" / "Messages" {
  quantity input_tokens into input
  quantity output_tokens into output
  quantity web_search_requests into search
  property model "small", "large"
  property service_tier "standard", "batch" default "standard"
  property context_1m bool default false
}

price input 3 per 1000000
price output 15 per 1000000
price search 10 per 1000
"""


@pytest.fixture(scope="module")
def book() -> ratecard.PriceBook:
    return ratecard.loads(RULES, "llm.rules")


def _request(time: str, quantities: dict[str, Any], model: str = "small",
             entry_id: str | None = None, **properties: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"time": time, "type": "request", "action": "messages",
                             "quantities": quantities,
                             "properties": {"model": model, **properties}}
    if entry_id is not None:
        entry["id"] = entry_id
    return entry


JOURNAL = [
    _request("2026-11-02T10:00:00Z", {"input_tokens": 2_000_000, "output_tokens": 300_000},
             entry_id="r-1"),
    _request("2026-11-03T10:00:00Z", {"input_tokens": 1_000_000, "web_search_requests": 800},
             model="large", entry_id="r-2", service_tier="batch", context_1m=True),
    # a resend of r-1: ignored
    _request("2026-11-04T10:00:00Z", {"input_tokens": 2_000_000, "output_tokens": 300_000},
             entry_id="r-1"),
    {"time": "2026-11-05T10:00:00Z", "type": "usage", "action": "search_call", "count": 700},
    _request("2026-12-01T00:00:00Z", {"output_tokens": 1_000_000}),
]


def test_worked_bill(book: ratecard.PriceBook) -> None:
    """November: input 2,000,000 + 1,000,000 = 3,000,000 tokens × 3/1M = 9.00;
    output 300,000 × 15/1M = 4.50; search 800 (request) + 700 (usage) = 1,500, of which 1,000
    from the monthly allowance and 500 postpaid × 10/1000 = 5.00; r-1 resent is ignored.
    Total 9.00 + 4.50 + 5.00 = 18.50. December: 1,000,000 output × 15/1M = 15.00."""
    bills = book.bill(JOURNAL)
    assert isinstance(bills, list)
    november, december = bills
    lines = [(line.meter, line.source, line.quantity, line.amount) for line in november.lines]
    assert lines == [
        ("input", "postpaid", Decimal(3_000_000), Decimal("9.00")),
        ("output", "postpaid", Decimal(300_000), Decimal("4.50")),
        ("search", "allowance", Decimal(1000), Decimal("0.00")),
        ("search", "postpaid", Decimal(500), Decimal("5.00")),
    ]
    assert november.total == Decimal("18.50")
    assert [(i.type, i.id, i.line) for i in november.ignored] == [("request", "r-1", 3)]
    assert december.total == Decimal("15.00")


def test_typed_requests_bill_as_dicts(book: ratecard.PriceBook) -> None:
    typed: list[Any] = []
    for entry in JOURNAL:
        if entry["type"] == "usage":
            typed.append(Usage(entry["time"], entry["action"], entry["count"]))
        else:
            typed.append(Request(entry["time"], "messages", entry["quantities"],
                                 entry["properties"], entry.get("id")))
    assert [b.to_dict() for b in book.bill(typed)] == [b.to_dict() for b in book.bill(JOURNAL)]


def test_jsonl_file_bills_as_the_list(book: ratecard.PriceBook, tmp_path: Path) -> None:
    path = tmp_path / "journal.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in JOURNAL), encoding="utf-8")
    assert [b.to_dict() for b in book.bill(path)] == [b.to_dict() for b in book.bill(JOURNAL)]


@pytest.mark.parametrize("split", range(len(JOURNAL) + 1))
def test_feed_and_snapshots_resumed_anywhere_bill_alike(
    book: ratecard.PriceBook, split: int
) -> None:
    expected = [b.to_dict() for b in book.bill(JOURNAL)]
    account = Account(book)
    bills = account.feed(JOURNAL[:split])
    resumed = Account.restore(book, json.dumps(account.snapshot()))
    bills += resumed.feed(JOURNAL[split:])
    bills += resumed.close_through("2026-12")
    assert [b.to_dict() for b in bills] == expected


def test_resend_after_a_snapshot_is_ignored(book: ratecard.PriceBook) -> None:
    account = Account(book)
    account.feed(JOURNAL[:1])
    resumed = Account.restore(book, account.snapshot())
    resumed.feed([JOURNAL[2]])
    (bill,) = resumed.close_through("2026-11")
    assert bill.total == Decimal("6.00") + Decimal("4.50")  # 2M input, 300k output, once
    assert [(i.type, i.id) for i in bill.ignored] == [("request", "r-1")]


def test_missing_quantities_are_zero_and_defaults_apply(book: ratecard.PriceBook) -> None:
    """A request with no quantity given still counts as an entry (nothing billed)."""
    (bill,) = book.bill([_request("2026-11-02T10:00:00Z", {})])
    assert bill.total == Decimal("0.00")
    assert bill.lines == ()


BAD = [
    ({"action": "mesages"}, "action",
     "`mesages` is not a request of rules `llm`; did you mean `messages`?"),
    ({"action": 5}, "action", "an action is a name such as messages, not 5"),
    ({"action": "search_call"}, "type",
     "`search_call` is billed by `usage` entries (one `count`), not by `request` entries"),
    ({"quantities": {"input_token": 5}}, "quantities.input_token",
     "`input_token` is not a quantity of request `messages`; did you mean `input_tokens`?"),
    ({"quantities": {"input_tokens": -5}}, "quantities.input_tokens", "-5 is negative"),
    ({"quantities": {"input_tokens": "2.5"}}, "quantities.input_tokens",
     "2.5 is not a whole number of units"),
    ({"quantities": {"input_tokens": True}}, "quantities.input_tokens", "true is not a number"),
    ({"quantities": [1]}, "quantities",
     "`quantities` is an object of names and whole numbers, not an array"),
    ({"properties": {"model": "medium"}}, "properties.model",
     "\"medium\" is not a value of `model` (one of \"small\", \"large\")"),
    ({"properties": {"model": "smal"}}, "properties.model",
     "\"smal\" is not a value of `model`; did you mean `small`?"),
    ({"properties": {"model": "small", "context_1m": "true"}}, "properties.context_1m",
     "`context_1m` is true or false, not \"true\""),
    ({"properties": {"model": True}}, "properties.model",
     "`model` is one of \"small\", \"large\", not true"),
    ({"properties": {"model": "small", "tier": "batch"}}, "properties.tier",
     "`tier` is not a property of request `messages` (one of model, service_tier, context_1m)"),
    ({"properties": {}}, "properties.model",
     "missing property `model` of request `messages` (one of \"small\", \"large\")"),
]


@pytest.mark.parametrize(("change", "field", "message"), BAD)
def test_bad_request_names_line_and_field(
    book: ratecard.PriceBook, change: dict[str, Any], field: str, message: str
) -> None:
    entry = _request("2026-11-02T10:00:00Z", {"input_tokens": 10}) | change
    good = _request("2026-11-01T10:00:00Z", {"input_tokens": 10})
    with pytest.raises(JournalError) as caught:
        book.bill([good, entry])
    assert (caught.value.line, caught.value.field, caught.value.message) == (2, field, message)


def test_usage_entry_of_a_request_action_is_refused(book: ratecard.PriceBook) -> None:
    with pytest.raises(JournalError) as caught:
        book.bill([{"time": "2026-11-01T00:00:00Z", "type": "usage", "action": "messages",
                    "count": 1}])
    assert caught.value.message == ("`messages` is billed by `request` entries (its quantities "
                                    "and properties), not by `usage` entries")
    with pytest.raises(JournalError):  # nor may a usage entry name a quantity's part
        book.bill([{"time": "2026-11-01T00:00:00Z", "type": "usage",
                    "action": "messages.input_tokens", "count": 1}])


def test_bad_request_leaves_the_account_as_it_was(book: ratecard.PriceBook) -> None:
    account = Account(book)
    account.feed(JOURNAL[:1])
    before = account.snapshot()
    with pytest.raises(JournalError):
        account.feed([JOURNAL[1], _request("2026-11-04T00:00:00Z", {"output_tokens": -1})])
    assert account.snapshot() == before


def test_on_invalid_skips_the_whole_request(book: ratecard.PriceBook) -> None:
    errors: list[JournalError] = []
    bad = _request("2026-11-02T10:00:00Z", {"input_tokens": 1_000_000, "output_tokens": -1})
    (bill,) = book.bill([bad, JOURNAL[0]], on_invalid=errors.append)
    assert [e.line for e in errors] == [1]
    assert bill.total == Decimal("10.50")  # r-1 only: 2M × 3/1M + 300k × 15/1M


def test_quote_requests_matches_the_month_billed(book: ratecard.PriceBook) -> None:
    november = [e for e in JOURNAL if e["time"].startswith("2026-11") and e["type"] == "request"]
    quoted = book.quote_requests(november, {"search_call": 700})
    (billed, _) = book.bill(JOURNAL)
    assert quoted.to_dict()["lines"] == billed.to_dict()["lines"]
    assert quoted.total == Decimal("18.50")


def test_quote_requests_refuses_other_entries(book: ratecard.PriceBook) -> None:
    with pytest.raises(JournalError) as caught:
        book.quote_requests([JOURNAL[0], JOURNAL[3]])
    assert caught.value.line == 2
    assert caught.value.message == "a quote of requests takes `request` entries only"


def test_quote_requests_command(tmp_path: Path) -> None:
    rules = tmp_path / "llm.rules"
    rules.write_text(RULES, encoding="utf-8")
    requests = tmp_path / "requests.jsonl"
    requests.write_text("".join(json.dumps(e) + "\n" for e in JOURNAL[:2]), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "ratecard", "quote", str(rules), "search_call=700",
         "--requests", str(requests), "--json"],
        capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["total"] == "18.50"
    requests.write_text(json.dumps(_request("2026-11-01T00:00:00Z", {"input_tokens": 1.5}))
                        + "\n", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "ratecard", "quote", str(rules), "--requests", str(requests)],
        capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().endswith(
        "requests.jsonl:1: field `quantities.input_tokens`: 1.5 is not a whole number of units")


def test_stream_input(book: ratecard.PriceBook) -> None:
    data = "".join(json.dumps(e) + "\n" for e in JOURNAL).encode()
    bills = book.bill(io.BytesIO(data))
    assert isinstance(bills, list)
    assert [b.total for b in bills] == [Decimal("18.50"), Decimal("15.00")]


# --- the rules -------------------------------------------------------------------------------


def _codes(text: str) -> list[tuple[int, str]]:
    _, diagnostics = analyze(SourceFile("x.rules", text))
    return sorted((d.span.line, d.code) for d in diagnostics)


HEADER = 'rules x "x" / "x"\ncurrency USD, rounding exact, timezone UTC\n'


def test_rules_mistakes() -> None:
    text = HEADER + """\
meter a "a" / "a"
price a 1
request r {
  quantity q into a
  quantity w into b
  property p "x", "x" default "y"
  property f boolean
  property g bool default "true"
  property q bool
}
request s { }
request r { quantity z into a }
request t { quantity z into a  quantity z into a }
"""
    assert _codes(text) == [
        (7, "E203"), (8, "E923"), (8, "E924"), (9, "E923"), (10, "E924"),
        (11, "E922"), (13, "E921"), (14, "E202"), (15, "E922"),
    ]


def test_a_meter_fed_by_a_request_counts_something() -> None:
    text = HEADER + 'meter a "a" / "a"\nprice a 1\nrequest r { quantity q into a }\n'
    assert _codes(text) == []


def test_the_calculator_refuses_requests(book: ratecard.PriceBook) -> None:
    """(The warehouse bills them on DuckDB and Spark: tests/test_warehouse_requests.py.)"""
    from ratecard.render.calculator import unsupported

    assert "requests (quantities and properties per call)" in unsupported(book)


def test_a_late_resent_request_is_listed_once(book: ratecard.PriceBook) -> None:
    """A request resent after the account has moved past its time is ignored whole, listed once
    with type `request` (its three quantities are three parts of one entry)."""
    account = Account(book)
    first = _request("2026-11-02T10:00:00Z", {"input_tokens": 1, "output_tokens": 1,
                                              "web_search_requests": 1}, entry_id="r-9")
    account.feed([first, _request("2026-11-03T10:00:00Z", {"input_tokens": 1})])
    account.feed([first])
    (bill,) = account.close_through("2026-11")
    assert [(i.type, i.id) for i in bill.ignored] == [("request", "r-9")]
    assert [line.quantity for line in bill.lines if line.meter == "input"] == [Decimal(2)]


def test_a_resent_charge_only_request_is_a_request() -> None:
    """Charges (`charge base`) are parts of their request too: a resend is a `request`."""
    text = RULES.replace("  property context_1m bool default false\n",
                         "  property context_1m bool default false\n  charge search\n")
    charged = ratecard.loads(text, "charged.rules")
    entry = _request("2026-11-02T10:00:00Z", {}, entry_id="c-1")
    (bill,) = charged.bill([entry, entry | {"time": "2026-11-02T11:00:00Z"}])
    assert [(i.type, i.id) for i in bill.ignored] == [("request", "c-1")]
    assert [(line.meter, line.quantity) for line in bill.lines] == [
        ("search", Decimal(1))]  # (from the monthly allowance)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-10**20, 10**20) | st.text(max_size=8)
    | st.decimals(allow_nan=False, allow_infinity=False, places=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                 max_size=3),
    max_leaves=6)
NAMES = st.sampled_from(["input_tokens", "output_tokens", "web_search_requests", "model",
                         "service_tier", "context_1m", "x"])


@settings(max_examples=150, deadline=None)
@given(action=st.sampled_from(["messages", "search_call", "nope"]) | JSONISH,
       quantities=st.dictionaries(NAMES, JSONISH, max_size=4) | JSONISH,
       properties=st.dictionaries(NAMES, st.sampled_from(["small", "batch", True]) | JSONISH,
                                  max_size=4) | JSONISH,
       entry_id=st.none() | st.text(max_size=4) | JSONISH)
def test_any_request_entry_bills_or_names_its_line(
    book: ratecard.PriceBook, action: Any, quantities: Any, properties: Any, entry_id: Any
) -> None:
    """Whatever a request entry holds, it bills or is a JournalError naming line 1, and the
    checked and the on_invalid paths agree on which."""
    entry = {"time": "2026-11-02T10:00:00Z", "type": "request", "action": action,
             "quantities": quantities, "properties": properties, "id": entry_id}
    errors: list[JournalError] = []
    try:
        billed = book.bill([entry])
    except JournalError as exc:
        assert exc.line == 1
        book.bill([entry], on_invalid=errors.append)
        assert [e.line for e in errors] == [1]
    else:
        assert book.bill([entry], on_invalid=errors.append) == billed and not errors
