"""The JSON Lines shortcut for request and usage entries is the checking path, only faster.

`JsonLinesFile.records` reads a well-formed line with orjson and the readers' shortcuts
(`EntryReader.quick_request`, `RequestPlan.quick_records`, compiled per tuple of property items
and quantity names); anything else goes the checking path. These tests bill random journals of
the Anthropic sheet's Messages calls, good and bad lines mixed, both ways (`JsonLinesFile.fast`
on and off) and through `Account.feed` in pieces, and require the same bills, the same error
naming the same line and field, and the same entries reported to `on_invalid`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ratecard
from ratecard import Account, JournalError
from ratecard.engine.journal import JsonLinesFile

ROOT = Path(__file__).resolve().parents[1]
BOOK = ratecard.load(ROOT / "rules" / "anthropic-claude.rules")

MODELS = ["claude-opus-4-6", "claude-sonnet-4-5", "claude-haiku-4-5", "claude-3-5-haiku",
          "claude-opus-4"]
KINDS = ["input_tokens", "output_tokens", "cache_read_input_tokens",
         "cache_creation_5m_input_tokens", "cache_creation_1h_input_tokens",
         "web_search_requests"]

# Values as JSON text, odd ones among them: a float for an int, a huge int, a bool, a string,
# NaN (not JSON), an array, an exponent.
COUNT_TEXT = st.one_of(
    st.integers(0, 400_000).map(str), st.integers(0, 400_000).map(str),
    st.sampled_from(["-1", "1.0", "1e3", "0.5", "true", "false", "null", "\"12\"", "[1]",
                     "18446744073709551616", "99999999999999999999999", "1000000000000000001",
                     "1000000000000000000", "NaN", "-0", "{}"]))
PROPERTY_TEXT = st.one_of(
    st.sampled_from(MODELS).map(json.dumps), st.sampled_from(MODELS).map(json.dumps),
    st.sampled_from(["\"batch\"", "\"standard\"", "\"us\"", "\"global\"", "true", "false", "1",
                     "0", "1.0", "null", "\"claude-opus-4-7\"", "\"\\ud800\"", "[true]",
                     "\"caf\u00e9\""]))
PROPERTY_NAMES = ["model", "model", "service_tier", "inference_geo", "context_1m", "speed"]
TIMES = ["2026-11-{day:02d}T{hour:02d}:00:00Z", "2026-11-{day:02d}T{hour:02d}:30:00.5+08:00",
         "2026-11-{day:02d}T{hour:02d}:00:00", "2026-11-{day:02d} {hour:02d}:07:00+00:00",
         "2026-11-{day:02d}"]


@st.composite
def request_line(draw: st.DrawFn, index: int) -> str:
    """One line of a Messages journal as JSON text: mostly well-formed calls, some with a
    field that is wrong or unusual (every such line must go the checking path)."""
    day, hour = 1 + index // 24 % 28, index % 24
    if draw(st.integers(0, 30)) == 0:
        day, hour = draw(st.integers(1, 28)), draw(st.integers(0, 23))  # out of order, maybe
    time = json.dumps(draw(st.sampled_from(TIMES)).format(day=day, hour=hour))
    if draw(st.integers(0, 40)) == 0:
        time = draw(st.sampled_from(["\"2026-13-01T00:00:00Z\"", "null", "17", "\"\""]))
    quantities = draw(st.lists(st.tuples(st.sampled_from([*KINDS, "thinking_tokens"]),
                                         COUNT_TEXT), max_size=5))
    fields = [f"\"time\": {time}", "\"type\": \"request\""]
    action = draw(st.sampled_from(["\"messages\"", "\"messages\"", "\"messages\"",
                                   "\"code_execution\"", "\"complete\"", "1"]))
    fields.append(f"\"action\": {action}")
    if quantities or draw(st.booleans()):
        fields.append("\"quantities\": {" + ", ".join(
            f"{json.dumps(name)}: {value}" for name, value in quantities) + "}")
    properties = draw(st.lists(st.tuples(st.sampled_from(PROPERTY_NAMES), PROPERTY_TEXT),
                               max_size=4))
    if properties or draw(st.booleans()):
        fields.append("\"properties\": {" + ", ".join(
            f"{json.dumps(name)}: {value}" for name, value in properties) + "}")
    entry_id = draw(st.sampled_from([None, f"\"r-{index}\"", f"\"r-{index}\"", "\"r-0\"",
                                     "\"\"", str(index), "1.5", "\"r-\u00e9\""]))
    if entry_id is not None:
        fields.append(f"\"id\": {entry_id}")
    extra = draw(st.sampled_from([None, None, None, "\"note\": 1.5", "\"tags\": [[[]]]",
                                  "\"type\": \"request\""]))
    if extra is not None:
        fields.append(extra)
    fields = draw(st.permutations(fields)) if draw(st.integers(0, 5)) == 0 else fields
    text = "{" + ", ".join(fields) + "}"
    return draw(st.sampled_from([text, text, text, text, " " + text, text + "\r", text + "x",
                                 text + "\f", "", text[:-1]]))


@st.composite
def call_line(draw: st.DrawFn, index: int) -> str:
    """A line of a Messages call of few shapes (so shapes are compiled, then reused), its
    input near the 200K threshold, sometimes with a value equal to a good one but of another
    type (`1` for `true`, `2e5` for 200000)."""
    time = f"2026-11-{1 + index // 24 % 28:02d}T{index % 24:02d}:00:00Z"
    near = st.sampled_from(["199999", "200000", "200001", "150000", "50000", "0", "2e5",
                            "200000.0"])
    quantities = {"input_tokens": draw(near), "cache_read_input_tokens": draw(near),
                  "output_tokens": draw(st.sampled_from(["10", "0", "7"]))}
    chosen = draw(st.lists(st.sampled_from(list(quantities)), unique=True))
    properties = {"model": json.dumps(draw(st.sampled_from(MODELS[:2])))}
    window = draw(st.sampled_from([None, "true", "false", "true", "1", "0"]))
    if window is not None:
        properties["context_1m"] = window
    return ("{" + f"\"time\": \"{time}\", \"type\": \"request\", \"action\": \"messages\", "
            + "\"quantities\": {" + ", ".join(f"\"{q}\": {quantities[q]}" for q in chosen)
            + "}, \"properties\": {" + ", ".join(f"\"{k}\": {v}" for k, v in properties.items())
            + "}}")


@st.composite
def journal_lines(draw: st.DrawFn) -> list[str]:
    count = draw(st.integers(1, 12))
    return [draw(request_line(i) | call_line(i)) for i in range(count)]


@contextmanager
def checking_path() -> Iterator[None]:
    """Every JSON Lines entry read by the checking path alone."""
    JsonLinesFile.fast = False
    try:
        yield
    finally:
        JsonLinesFile.fast = True


def outcome(path: Path) -> tuple[Any, list[str]]:
    """What billing the file gives: its bills (as dicts) or its error; then the bills and the
    errors reported when bad entries are skipped."""
    try:
        billed: Any = [bill.to_dict() for bill in BOOK.bill(path)]
    except JournalError as exc:
        billed = (str(exc), exc.line, exc.field)
    except ratecard.UsageError as exc:  # (an entry out of time order)
        billed = str(exc)
    errors: list[JournalError] = []
    try:
        skipped: Any = [bill.to_dict() for bill in BOOK.bill(path, on_invalid=errors.append)]
    except ratecard.UsageError as exc:
        skipped = str(exc)
    return (billed, skipped), [f"{e.line} {e.field} {e}" for e in errors]


def write(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "requests.jsonl"
    path.write_bytes("".join(line + "\n" for line in lines).encode("utf-8", "surrogatepass"))
    return path


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(lines=journal_lines())
def test_the_shortcut_bills_as_the_checking_path(tmp_path: Path, lines: list[str]) -> None:
    path = write(tmp_path, lines)
    fast = outcome(path)
    with checking_path():
        assert outcome(path) == fast


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(lines=journal_lines(), split=st.integers(0, 12))
def test_feed_in_pieces_bills_as_the_checking_path(
    tmp_path: Path, lines: list[str], split: int
) -> None:
    """A journal fed to an account in two files, with a snapshot between them, bills as the
    whole file does by the checking path (or stops at the same entry)."""
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text("".join(line + "\n" for line in lines[:split]), encoding="utf-8",
                     errors="surrogatepass")
    second.write_text("".join(line + "\n" for line in lines[split:]), encoding="utf-8",
                      errors="surrogatepass")

    def fed() -> Any:
        account = Account(BOOK)
        try:
            bills = account.feed(first)
            account = Account.restore(BOOK, json.dumps(account.snapshot()))
            bills += account.feed(second)
            bills += account.close_through("2026-12")
        except ratecard.UsageError as exc:
            return type(exc).__name__, getattr(exc, "field", None)
        return [bill.to_dict() for bill in bills]

    fast = fed()
    with checking_path():
        assert fed() == fast


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(lines=journal_lines())
def test_quote_of_requests_as_the_checking_path(tmp_path: Path, lines: list[str]) -> None:
    path = write(tmp_path, lines)

    def quoted() -> Any:
        try:
            return BOOK.quote_requests(path).to_dict()
        except ratecard.UsageError as exc:
            return str(exc)

    fast = quoted()
    with checking_path():
        assert quoted() == fast


def test_a_month_of_calls_bills_alike(tmp_path: Path) -> None:
    """A generated month (every model, batch, US-only, the 1M window past and below 200K,
    cache writes and reads, searches) bills the same both ways, and by the shortcut."""
    lines = []
    for i in range(600):
        quantities = {"input_tokens": 1000 + (i * 7919) % 300_000,
                      "output_tokens": 100 + (i * 104_729) % 20_000}
        if i % 3 == 0:
            quantities["cache_read_input_tokens"] = (i * 31) % 50_000
        if i % 11 == 0:
            quantities["web_search_requests"] = i % 4
        properties: dict[str, Any] = {"model": MODELS[i % len(MODELS)]}
        if i % 4 == 0:
            properties["service_tier"] = "batch"
        if i % 6 == 0:
            properties["inference_geo"] = "us"
        if i % 2 == 0:
            properties["context_1m"] = True
        lines.append(json.dumps({"time": f"2026-11-{1 + i // 24:02d}T{i % 24:02d}:00:00Z",
                                 "type": "request", "action": "messages", "id": f"r-{i}",
                                 "quantities": quantities, "properties": properties}))
    path = write(tmp_path, lines)
    fast = outcome(path)
    with checking_path():
        assert outcome(path) == fast
    plan = BOOK.requests["messages"]
    assert plan._shapes, "the shortcut compiled the calls' shapes"


@pytest.mark.parametrize(("line", "field"), [
    ('{"time": "2026-11-02T00:00:00Z", "type": "request", "action": "messages", '
     '"quantities": {"input_tokens": 10}, "properties": {"model": "claude-opus-4-6", '
     '"context_1m": 1}}', "properties.context_1m"),
    ('{"time": "2026-11-02T00:00:00Z", "type": "request", "action": "messages", '
     '"quantities": {"input_tokens": 1.5}, "properties": {"model": "claude-opus-4-6"}}',
     "quantities.input_tokens"),
    ('{"time": "2026-11-02T00:00:00Z", "type": "request", "action": "messages", '
     '"quantities": {"input_tokens": 1000000000000000001}, "properties": {"model": '
     '"claude-opus-4-6"}}', "quantities.input_tokens"),
])
def test_a_value_equal_to_a_good_one_is_not_taken_for_it(
    tmp_path: Path, line: str, field: str
) -> None:
    """A property `1` equals `true` in a shape's cache key, and a float or an integer past
    the limit is no count: the shortcut checks types and ranges, so the entry goes the checking
    path, which names the line and the field. A good line is read first so that its shape is
    compiled."""
    good = ('{"time": "2026-11-01T00:00:00Z", "type": "request", "action": "messages", '
            '"quantities": {"input_tokens": 10}, "properties": {"model": "claude-opus-4-6", '
            '"context_1m": true}}')
    path = write(tmp_path, [good, line])
    fast = outcome(path)
    with checking_path():
        assert outcome(path) == fast
    assert fast[0][0][1:] == (2, field)
