"""`ratecard lsp`, driven as an editor drives it: `python -m ratecard lsp` on pipes, JSON-RPC
messages framed by `Content-Length` headers, one server for the module.

Positions are LSP's: 0-based lines, and characters counted in UTF-16 code units (the default
encoding; the client here offers no other).
"""

from __future__ import annotations

import contextlib
import json
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal as D  # noqa: N817
from pathlib import Path
from typing import IO, Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

pytest.importorskip("pygls", reason="`ratecard lsp` needs pygls: pip install 'ratecard[lsp]'")

from lsprotocol.types import Position, Range

from ratecard.api import analyze
from ratecard.cli import main
from ratecard.lsp import (
    Analysis,
    LineIndex,
    Names,
    completion_items,
    definitions,
    document_symbols,
    example_quantity,
    formatting,
    hover,
)
from ratecard.source import SourceFile
from tests.conftest import ROOT
from tests.strategies import mutated

URI = "file:///work/demo.rules"
TIMEOUT = 10.0

# Canonical layout (`ratecard fmt` leaves it as it is), no diagnostic: the cliff at 100万
# (1,000,000 × 0.002 = 2,000 > 1,000,001 × 0.0015 = 1,500.0015) is acknowledged.
DEMO = """\
rules demo "演示" / "Demo"
currency CNY, rounding half_up 0.01, timezone Asia/Shanghai

meter calls "调用" / "Calls"
  unit "次" / "call"
  counts Call, Ping
  free Health

unpriced Legacy "旧接口" / "old API"

allowance 1000 per month on calls

packs valid 1 year {
  size   1万  10万
  calls  18   170
}

ladder volume by postpaid per month on calls {
  (0, 100万]  0.002  # allow: W003 as on the page
  (100万, ∞)  0.0015
}

deduct allowance, packs by expiry, postpaid
"""


class Client:
    """The editor's side: writes framed requests and notifications, reads framed messages on a
    thread, hands out responses by id and notifications by method."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdin is not None and process.stdout is not None
        self.process = process
        self._stdin: IO[bytes] = process.stdin
        self._messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._pending: list[dict[str, Any]] = []
        self._next_id = 0
        threading.Thread(target=self._read, args=(process.stdout,), daemon=True).start()

    def _read(self, stream: IO[bytes]) -> None:
        while True:
            length = None
            while True:
                header = stream.readline()
                if not header:
                    self._messages.put(None)
                    return
                if header in (b"\r\n", b"\n"):
                    break
                name, _, value = header.decode("ascii").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            assert length is not None, "a message without Content-Length"
            self._messages.put(json.loads(stream.read(length)))

    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}, ensure_ascii=False).encode("utf-8")
        self._stdin.write(f"Content-Length: {len(body)}\r\n\r\n".encode("ascii") + body)
        self._stdin.flush()

    def notify(self, method: str, params: dict[str, Any]) -> None:
        self._send({"method": method, "params": params})

    def request(self, method: str, params: dict[str, Any] | None) -> Any:
        self._next_id += 1
        ident = self._next_id
        self._send({"id": ident, "method": method, "params": params})
        message = self._wait(lambda m: m.get("id") == ident and "method" not in m)
        assert "error" not in message, message["error"]
        return message["result"]

    def notification(self, method: str, **fields: Any) -> dict[str, Any]:
        """The params of the next notification of `method` whose params have these fields."""
        message = self._wait(lambda m: m.get("method") == method and all(
            m["params"].get(k) == v for k, v in fields.items()))
        params: dict[str, Any] = message["params"]
        return params

    def _wait(self, wanted: Any) -> dict[str, Any]:
        for i, message in enumerate(self._pending):
            if wanted(message):
                return self._pending.pop(i)
        while True:
            try:
                message = self._messages.get(timeout=TIMEOUT)
            except queue.Empty:
                raise AssertionError("the server did not answer in time") from None
            if message is None:
                raise AssertionError("the server closed its output")
            if wanted(message):
                return message
            self._pending.append(message)


@contextlib.contextmanager
def running(capabilities: dict[str, Any], text: str) -> Iterator[Client]:
    """`python -m ratecard lsp`, initialized with these client capabilities, `text` open at
    URI (version 1); shut down and exited cleanly (status 0) at the end."""
    process = subprocess.Popen(
        [sys.executable, "-m", "ratecard", "lsp"], cwd=ROOT,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        client = Client(process)
        client.initialize_result = client.request(  # type: ignore[attr-defined]
            "initialize", {"processId": None, "rootUri": None, "capabilities": capabilities})
        client.notify("initialized", {})
        client.notify("textDocument/didOpen", {"textDocument": {
            "uri": URI, "languageId": "ratecard", "version": 1, "text": text}})
        yield client
        assert client.request("shutdown", None) is None
        client.notify("exit", {})
        assert process.wait(timeout=TIMEOUT) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdin, process.stdout, process.stderr):
            assert stream is not None
            stream.close()


@pytest.fixture(scope="module")
def server() -> Iterator[Client]:
    with running({}, DEMO) as client:
        yield client


_version = iter(range(2, 10_000))


def change(client: Client, text: str, uri: str = URI) -> list[dict[str, Any]]:
    """Replace a document's text (full sync); the diagnostics published for that version."""
    version = next(_version)
    client.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": version},
        "contentChanges": [{"text": text}]})
    published = client.notification("textDocument/publishDiagnostics", uri=uri, version=version)
    diagnostics: list[dict[str, Any]] = published["diagnostics"]
    return diagnostics


@contextlib.contextmanager
def opened(client: Client, uri: str, text: str) -> Iterator[list[dict[str, Any]]]:
    """Another document open beside URI: the diagnostics published when it opens; closed (and
    its diagnostics cleared) at the end."""
    client.notify("textDocument/didOpen", {"textDocument": {
        "uri": uri, "languageId": "ratecard", "version": 1, "text": text}})
    try:
        yield client.notification("textDocument/publishDiagnostics", uri=uri,
                                   version=1)["diagnostics"]
    finally:
        client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        client.notification("textDocument/publishDiagnostics", uri=uri, diagnostics=[])


def at(line: int, character: int, uri: str = URI) -> dict[str, Any]:
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}


def span(line: int, start: int, end: int, end_line: int | None = None) -> dict[str, Any]:
    return {"start": {"line": line, "character": start},
            "end": {"line": line if end_line is None else end_line, "character": end}}


# --- the session ---------------------------------------------------------------------------------

def test_initialize_announces_the_features(server: Client) -> None:
    result = server.initialize_result  # type: ignore[attr-defined]
    assert result["serverInfo"]["name"] == "ratecard"
    capabilities = result["capabilities"]
    assert capabilities["positionEncoding"] == "utf-16"
    assert capabilities["textDocumentSync"]["change"] == 1  # the whole text at each change
    assert capabilities["textDocumentSync"]["openClose"] is True
    for provider in ("hoverProvider", "definitionProvider", "referencesProvider",
                     "documentSymbolProvider", "documentFormattingProvider"):
        assert capabilities[provider] not in (None, False), provider
    assert "completionProvider" in capabilities


def test_an_open_file_without_problems_gets_no_diagnostics(server: Client) -> None:
    """Published at didOpen (version 1), and again, the same, after a change to the same text."""
    published = server.notification("textDocument/publishDiagnostics", uri=URI, version=1)
    assert published["diagnostics"] == []
    assert change(server, DEMO) == []
    server.notify("textDocument/didSave", {"textDocument": {"uri": URI}})
    assert server.notification("textDocument/publishDiagnostics", uri=URI)["diagnostics"] == []


def test_closing_a_file_clears_its_diagnostics(server: Client) -> None:
    other = "file:///work/other.rules"
    server.notify("textDocument/didOpen", {"textDocument": {
        "uri": other, "languageId": "ratecard", "version": 1, "text": "rules x"}})
    [found] = server.notification("textDocument/publishDiagnostics", uri=other)["diagnostics"]
    assert (found["code"], found["range"]) == ("E002", span(0, 7, 7))
    server.notify("textDocument/didClose", {"textDocument": {"uri": other}})
    assert server.notification("textDocument/publishDiagnostics", uri=other) == {
        "uri": other, "diagnostics": []}


def test_a_mistake_gets_its_diagnostic_and_the_fix_clears_it(server: Client) -> None:
    """A misspelt meter in a ladder's target: check's E203, its label and help in the message,
    the range on the name (line 17, characters 39 to 44)."""
    broken = DEMO.replace("month on calls {", "month on callz {")
    assert change(server, broken) == [{
        "range": span(17, 39, 44),
        "severity": 1,
        "code": "E203",
        "source": "ratecard",
        "message": "unknown meter `callz`\nnot a meter of these rules\n"
                   "help: did you mean `calls`?",
    }]
    assert change(server, DEMO) == []


def test_ranges_count_utf16_code_units(server: Client) -> None:
    """`  unit "次😀" / "call" / "extra"`: the third name is E110. It starts at code point 23 of
    its line (check's column 24): 7 for `  unit `, 4 for `"次😀"`, 3, 6, 3. 😀 is outside the
    Basic Multilingual Plane, two UTF-16 code units, so LSP's character is 24, its end 31."""
    broken = DEMO.replace('unit "次" / "call"', 'unit "次😀" / "call" / "extra"')
    [found] = analyze(SourceFile("demo.rules", broken))[1]
    assert (found.code, found.span.line, found.span.column) == ("E110", 5, 24)
    [diagnostic] = change(server, broken)
    assert diagnostic["code"] == "E110"
    assert diagnostic["range"] == span(4, 24, 31)
    assert diagnostic["message"] == "\n".join([found.message, found.label, f"help: {found.help}"])
    assert change(server, DEMO) == []


def test_a_client_that_prefers_utf8_gets_byte_positions() -> None:
    """The same E110 as above, in UTF-8 code units: 次 is three bytes and 😀 four, so `"extra"`
    starts at byte 7 + 9 + 3 + 6 + 3 = 28 and ends at 35."""
    broken = DEMO.replace('unit "次" / "call"', 'unit "次😀" / "call" / "extra"').replace(
        'meter calls "调用" / "Calls"\n', 'meter calls "调用" / "Calls" free Probe\n')
    with running({"general": {"positionEncodings": ["utf-8", "utf-16"]}}, broken) as client:
        assert client.initialize_result[  # type: ignore[attr-defined]
            "capabilities"]["positionEncoding"] == "utf-8"
        published = client.notification("textDocument/publishDiagnostics", uri=URI, version=1)
        [diagnostic] = published["diagnostics"]
        assert (diagnostic["code"], diagnostic["range"]) == ("E110", span(4, 28, 35))
        # Positions from the client are bytes too: after `meter calls "调用" / "Calls" free `
        # (12 + 8 + 3 + 7 + 6 bytes, 29 characters), `Probe` is bytes 36 to 41.
        found = client.request("textDocument/references",
                               {**at(3, 38), "context": {"includeDeclaration": True}})
        assert found == [{"uri": URI, "range": span(3, 36, 41)}]


def test_warnings_are_warnings_and_allow_comments_are_honoured(server: Client) -> None:
    """Without its `# allow:`, the cliff at 100万 is W003 (severity 2), on the bracket's upper
    bound; an `# allow:` of a warning that is not there is W005, as `check` says."""
    [cliff] = change(server, DEMO.replace("  # allow: W003 as on the page", ""))
    assert (cliff["code"], cliff["severity"], cliff["range"]) == ("W003", 2, span(18, 6, 10))
    assert cliff["message"].startswith(
        "volume cliff: 750,001 to 1,000,000 units cost more than 1,000,001\n")
    stale = DEMO.replace("(100万, ∞)  0.0015", "(100万, ∞)  0.0015  # allow: W004")
    [w005] = change(server, stale)
    assert (w005["code"], w005["severity"], w005["range"]) == ("W005", 2, span(19, 30, 34))
    assert w005["message"].startswith("`# allow: W004` acknowledges nothing\n")
    assert change(server, DEMO) == []


def test_diagnostics_are_check_s_own(server: Client) -> None:
    """A file with several mistakes: the same codes, messages and positions as `check`."""
    broken = DEMO.replace("rounding half_up", "rounding half_upp").replace(
        "counts Call, Ping", "counts Call, Ping, Call").replace("valid 1 year", "valid 1 yaer")
    expected = analyze(SourceFile("demo.rules", broken))[1]
    published = change(server, broken)
    assert [d.code for d in expected] == ["E105", "E202", "E505"]
    assert [(p["code"], p["range"]["start"]["line"] + 1, p["range"]["start"]["character"] + 1)
            for p in published] == [(d.code, d.span.line, d.span.column) for d in expected]
    assert [p["message"].split("\n")[0] for p in published] == [d.message for d in expected]
    assert change(server, DEMO) == []


def test_a_syntax_error_is_one_diagnostic(server: Client) -> None:
    broken = DEMO.replace("allowance 1000 per month", "allowance 1000/month")
    [found] = change(server, broken)
    assert (found["code"], found["range"]) == ("E001", span(10, 14, 15))
    assert found["message"] == ("unexpected `/`\nexpected `per`\n"
                                "help: write `per` instead of `/`: `1000 per month`")
    assert change(server, DEMO) == []


# --- hover --------------------------------------------------------------------------------------

def hover_text(
    server: Client, line: int, character: int, uri: str = URI
) -> tuple[str, dict[str, Any]]:
    result = server.request("textDocument/hover", at(line, character, uri))
    assert result["contents"]["kind"] == "markdown"
    return result["contents"]["value"], result["range"]


def test_hover_on_a_meter_shows_its_rules_and_a_worked_quote(server: Client) -> None:
    """On `calls` in the ladder's target. The quote is of 1,000,000 calls (the largest power of
    ten in the first bracket (0, 100万]): the allowance takes 1,000 and 999,000 are postpaid at
    0.002 (volume, 999,000 is in the first bracket): 999,000 × 0.002 = 1,998.00."""
    text, where = hover_text(server, 17, 41)
    assert where == span(17, 39, 44)
    assert text == """\
**meter `calls`** — 调用 / Calls

- unit: 次 / call
- counts: `Call`, `Ping`
- free: `Health`
- allowance: 1000 per month
- packs (valid 1 year): 1万 for 18, 10万 for 170
- ladder volume by postpaid per month:
  - `(0, 100万] 0.002`
  - `(100万, ∞) 0.0015`

**Quote** — 1,000,000 `Call` in a month (`ratecard quote`):

| source | quantity | bracket | price | amount |
| --- | --: | --- | --: | --: |
| allowance | 1,000 |  |  | 0.00 |
| postpaid | 999,000 | (0, 1000000] | 0.002 | 1998.00 |
| **total** |  |  |  | **CNY 1998.00** |"""
    # The same on the declaration and on the pack row's name.
    assert hover_text(server, 3, 8)[0] == text
    assert hover_text(server, 14, 3)[0] == text


def test_hover_on_an_action(server: Client) -> None:
    """`Ping` is quoted like `Call`: the same meter, 1,000,000 − 1,000 = 999,000 × 0.002."""
    text, where = hover_text(server, 5, 16)
    assert where == span(5, 15, 19)
    assert text.split("\n")[:3] == [
        "**action `Ping`** — counted into meter `calls` (调用 / Calls)", "",
        "**Quote** — 1,000,000 `Ping` in a month (`ratecard quote`):"]
    assert text.endswith("| **total** |  |  |  | **CNY 1998.00** |")
    assert hover_text(server, 6, 8)[0] == (
        "**action `Health`** — free: recorded in meter `calls` (调用 / Calls), never billed")
    assert hover_text(server, 8, 11)[0] == (
        "**action `Legacy`** — unpriced: 旧接口 / old API; usage of it is an error")


def test_hover_on_a_pack_row(server: Client) -> None:
    """Per unit: 18 / 10,000 = 0.0018, 170 / 100,000 = 0.0017."""
    text, where = hover_text(server, 14, 9)
    assert where == span(14, 2, 17)
    assert text == """\
**packs of `calls`** — valid 1 year

| size | price | per unit |
|--:|--:|--:|
| 1万 (10,000) | 18 | 0.0018 |
| 10万 (100,000) | 170 | 0.0017 |"""


def test_hover_on_a_pack_row_with_pack_terms(server: Client) -> None:
    """A table's refund window and stop are among its options; a contact-sales cell reads so."""
    terms = DEMO.replace("packs valid 1 year {", "packs valid 1 year, refundable within 7 days "
                         "if unused, stop when exhausted {").replace(
        "calls  18   170", "calls  18   contact sales")
    ladder = terms.index("ladder volume")  # a meter that stops has no postpaid price
    terms = terms[:ladder] + terms[terms.index("}", ladder) + 2:]
    assert change(server, terms) == []
    text, _ = hover_text(server, 14, 9)
    change(server, DEMO)
    assert text == """\
**packs of `calls`** — valid 1 year, refundable within 7 days if unused, stop when exhausted

| size | price | per unit |
|--:|--:|--:|
| 1万 (10,000) | 18 | 0.0018 |
| 10万 (100,000) | contact sales | |"""


def test_hover_on_a_bracket_prices_a_round_quantity_in_it(server: Client) -> None:
    """(100万, ∞): 10,000,000 (ten times its start), all postpaid, all at 0.0015 (volume):
    10,000,000 × 0.0015 = 15,000.00."""
    text, where = hover_text(server, 19, 4)
    assert where == span(19, 2, 19)
    assert text == """\
**bracket** `(100万, ∞) 0.0015`

- quantity per month: over 1,000,000
- volume: every unit of the period costs this price once its quantity is in this bracket
- of ladder volume by postpaid per month on `calls`

**Price** — 10,000,000 units of `calls`, all postpaid: CNY 15000.00"""


def test_hover_without_a_compiled_book_shows_the_tree(server: Client) -> None:
    """An error elsewhere (a bad rounding mode): the meter's rules, and no quote."""
    change(server, DEMO.replace("half_up", "half_upp"))
    text, _ = hover_text(server, 3, 8)
    assert text.endswith("  - `(100万, ∞) 0.0015`")
    assert "Quote" not in text
    # A syntax error: no tree, no hover.
    change(server, DEMO.replace("allowance 1000 per", "allowance 1000 pr"))
    assert server.request("textDocument/hover", at(3, 8)) is None
    assert change(server, DEMO) == []


def test_hover_elsewhere_is_empty(server: Client) -> None:
    assert server.request("textDocument/hover", at(1, 3)) is None  # `currency`


# --- completion ---------------------------------------------------------------------------------

def complete(
    server: Client, text: str, uri: str = URI
) -> list[tuple[str, int, dict[str, Any]]]:
    """Completion at the `|` in `text`: (label, kind, edit range) of each item, in order."""
    line = text[: text.index("|")].count("\n")
    character = len(text[: text.index("|")].rsplit("\n", 1)[-1])
    change(server, text.replace("|", ""), uri)
    result = server.request("textDocument/completion", at(line, character, uri))
    assert result["isIncomplete"] is False
    items = [(i["label"], i["kind"], i["textEdit"]["range"]) for i in result["items"]]
    assert all(i["textEdit"]["newText"] == i["label"] for i in result["items"])
    return items


def labels(items: list[tuple[str, int, dict[str, Any]]]) -> list[str]:
    return [label for label, _, _ in items]


def test_completion_offers_the_keywords_the_grammar_accepts_here(server: Client) -> None:
    """After a meter's clause: the meter's own clause keywords (kind 14, keyword) first, then
    the statements of a rules file (`from`, a dated version, among them; a contract's
    `accounts`, `discount`, `extra`, `minimum` not); replacing the word begun (`co`,
    characters 2 to 4)."""
    items = complete(server, DEMO.replace("  free Health\n", "  free Health\n  co|\n"))
    assert labels(items) == [
        "amount", "counts", "free", "quantity", "unit",
        "above", "alert", "allowance", "bill", "credit", "currency", "deduct", "fee", "from",
        "grant", "ladder", "languages", "meter", "modifier", "order", "packs", "price",
        "prices", "request", "rounding", "rules", "subscription", "suspend", "timezone",
        "unpriced"]
    assert {kind for _, kind, _ in items} == {14}
    assert {str(where) for _, _, where in items} == {str(span(7, 2, 4))}


def test_completion_of_names(server: Client) -> None:
    assert labels(complete(server, DEMO.replace("on calls {", "on | {"))) == ["calls", "every"]
    assert labels(complete(server, DEMO.replace("counts Call, Ping", "counts Call, |"))) == [
        "Call", "Ping", "Health", "Legacy"]
    # a pack row, or a `size` row for the rows below it
    assert labels(complete(server, DEMO.replace("  calls  18", "  |  18"))) == ["calls", "size"]


def test_completion_of_choice_words(server: Client) -> None:
    assert labels(complete(server, DEMO.replace("rounding half_up", "rounding |"))) == [
        "half_up", "half_even", "half_down", "up", "down", "ceiling", "floor", "exact"]
    assert labels(complete(server, DEMO.replace("ladder volume by postpaid",
                                                "ladder volume by |"))) == [
        "postpaid", "total", "after_allowance"]
    assert labels(complete(server, DEMO.replace("ladder volume", "ladder |"))) == [
        "volume", "graduated"]
    assert labels(complete(server, DEMO.replace("packs by expiry", "packs by |"))) == [
        "expiry", "purchase"]
    assert labels(complete(server, DEMO.replace("  (100万, ∞)  0.0015",
                                                "  (100万, ∞)  1 per block of 5 rounded |"))) == [
        "up", "down"]
    assert labels(complete(server, DEMO.replace("allowance 1000 per month",
                                                "allowance 1000 per |"))) == ["month"]
    assert labels(complete(server, DEMO.replace("postpaid per month", "postpaid per |"))) == [
        "month", "day"]
    assert labels(complete(server, DEMO + "bill per |")) == ["month", "day"]  # (`bill per day on`)
    languages = DEMO.replace("currency CNY,", "languages zh / |\ncurrency CNY,")
    assert labels(complete(server, languages)) == ["zh", "en"]
    currencies = labels(complete(server, DEMO.replace("currency CNY", "currency |")))
    assert currencies[:7] == ["CNY", "USD", "EUR", "JPY", "GBP", "HKD", "SGD"]
    assert len(currencies) > 100


def test_completion_of_timezones_and_units(server: Client) -> None:
    """A zone replaces what was typed of it, `/` included (characters 46 to 53)."""
    items = complete(server, DEMO.replace("timezone Asia/Shanghai", "timezone Asia/Sh|"))
    assert labels(items)[:3] == ["UTC", "Asia/Shanghai", "Asia/Hong_Kong"]
    assert items[0][2] == span(1, 46, 53)
    assert labels(complete(server, DEMO.replace('  unit "次" / "call"', "  unit |"))) == [
        '"次" / "call"']


def test_completion_of_number_suffixes(server: Client) -> None:
    items = complete(server, DEMO.replace("allowance 1000 per", "allowance 300| per"))
    assert labels(items) == ["300k", "300千", "300万", "300M", "300亿", "300B"]
    assert items[0][2] == span(10, 10, 13)


def test_no_completion_in_comments_and_strings(server: Client) -> None:
    assert complete(server, DEMO.replace("as on the page", "as on| the page")) == []
    assert complete(server, DEMO.replace('"Calls"', '"Ca|lls"')) == []
    assert change(server, DEMO) == []


# --- definition, references -------------------------------------------------------------------

def test_definition_of_a_meter_and_an_action(server: Client) -> None:
    assert server.request("textDocument/definition", at(17, 41)) == [
        {"uri": URI, "range": span(3, 6, 11)}]
    assert server.request("textDocument/definition", at(14, 2)) == [
        {"uri": URI, "range": span(3, 6, 11)}]
    assert server.request("textDocument/definition", at(8, 9)) == [
        {"uri": URI, "range": span(8, 9, 15)}]
    assert server.request("textDocument/definition", at(1, 3)) == []


def test_references_of_a_meter(server: Client) -> None:
    """The declaration, the allowance's target, the pack row, the ladder's target."""
    everywhere = [span(3, 6, 11), span(10, 28, 33), span(14, 2, 7), span(17, 39, 44)]
    found = server.request("textDocument/references",
                           {**at(10, 30), "context": {"includeDeclaration": True}})
    assert found == [{"uri": URI, "range": r} for r in everywhere]
    found = server.request("textDocument/references",
                           {**at(10, 30), "context": {"includeDeclaration": False}})
    assert found == [{"uri": URI, "range": r} for r in everywhere[1:]]


def test_references_of_an_action(server: Client) -> None:
    """An action is named once, where it gets its meaning: that is its declaration."""
    found = server.request("textDocument/references",
                           {**at(5, 10), "context": {"includeDeclaration": True}})
    assert found == [{"uri": URI, "range": span(5, 9, 13)}]
    assert server.request("textDocument/references",
                          {**at(5, 10), "context": {"includeDeclaration": False}}) == []


# --- formatting -------------------------------------------------------------------------------

def test_formatting_is_fmt_s_layout(server: Client) -> None:
    """A file out of layout: one edit of the whole text, which becomes DEMO again."""
    messy = DEMO.replace("  counts Call, Ping", "counts   Call ,Ping").replace(
        "  calls  18   170", "calls 18 170")
    change(server, messy)
    options = {"tabSize": 2, "insertSpaces": True}
    [edit] = server.request("textDocument/formatting",
                            {"textDocument": {"uri": URI}, "options": options})
    assert edit == {"range": span(0, 0, 0, end_line=DEMO.count("\n")), "newText": DEMO}
    change(server, DEMO)
    assert server.request("textDocument/formatting",
                          {"textDocument": {"uri": URI}, "options": options}) == []
    change(server, DEMO.replace("{\n  size", "\n  size"))  # a syntax error: no edits
    assert server.request("textDocument/formatting",
                          {"textDocument": {"uri": URI}, "options": options}) == []
    assert change(server, DEMO) == []


# --- document symbols ---------------------------------------------------------------------------

def outline(items: list[dict[str, Any]]) -> list[Any]:
    """Document symbols as (name, kind, detail, children)."""
    return [(s["name"], s["kind"], s.get("detail"), outline(s.get("children") or []))
            for s in items]


def test_document_symbols_are_the_outline(server: Client) -> None:
    symbols = server.request("textDocument/documentSymbol", {"textDocument": {"uri": URI}})
    assert outline(symbols) == [
        ("calls", 5, "调用 / Calls", [
            ("Call", 6, "counted", []), ("Ping", 6, "counted", []), ("Health", 6, "free", [])]),
        ("allowance 1000", 14, "per month on calls", []),
        ("packs", 23, "valid 1 year", [("calls", 8, "1万 for 18, 10万 for 170", [])]),
        ("ladder volume by postpaid per month", 10, "on calls", [
            ("(0, 100万]", 22, "0.002", []), ("(100万, ∞)", 22, "0.0015", [])]),
    ]
    meter = symbols[0]
    assert (meter["range"], meter["selectionRange"]) == (span(3, 0, 13, end_line=6),
                                                         span(3, 6, 11))
    ladder = symbols[3]
    assert (ladder["range"], ladder["selectionRange"]) == (span(17, 0, 1, end_line=20),
                                                           span(17, 0, 6))


# --- dated versions -----------------------------------------------------------------------------

# DEMO and two versions: from 2027-01-01 the allowance is 2,000 and the packs cheaper
# (16 / 10,000 = 0.0016, 150 / 100,000 = 0.0015, 1300 / 1,000,000 = 0.0013 per unit, dearer
# for smaller packs as W001 wants); from 2027-07-01 the first bracket is 0.0018, accounts opened
# before that day keeping 0.002 until 2028-01-01. No diagnostic (the cliff at 100万 acknowledged).
VERSIONED = DEMO + """
from 2027-01-01 {
  allowance 2000 per month on calls

  packs {
    size   1万  10万  100万
    calls  16   150   1300
  }
}

from 2027-07-01 keep accounts opened before 2027-07-01 until 2028-01-01 {
  ladder volume by postpaid per month on calls {
    (0, 100万]  0.0018  # allow: W003 as on the page
    (100万, ∞)  0.0015
  }
}
"""


def test_hover_on_a_version_shows_what_changes_that_day(server: Client) -> None:
    """By the compiled sheets before and from the day: the allowance 1,000 → 2,000, the packs
    1万 18 → 16, 10万 170 → 150 and a new 100万 at 1300; then the first bracket 0.002 → 0.0018,
    with the grandfathering in words. The range is `from DAY` and its clauses, up to `{`."""
    assert change(server, VERSIONED) == []
    text, where = hover_text(server, 24, 7)
    assert where == span(24, 0, 15)
    assert text == """\
**from 2027-01-01** — version 1 of 2: what changes on this day

- allowance of `calls`: 1,000 → 2,000 per month
- packs of `calls`: 10,000 for 18 → 16, 100,000 for 170 → 150, 1,000,000 for 1300 (new)"""
    text, where = hover_text(server, 33, 50)
    assert where == span(33, 0, 71)
    assert text == """\
**from 2027-07-01** — version 2 of 2: what changes on this day

Accounts opened before 2027-07-01 keep the previous prices until 2028-01-01.

- ladder of `calls`: (0, 1000000] 0.002 → 0.0018"""
    # While the file has errors there are no compiled sheets: what the version restates.
    change(server, VERSIONED.replace("half_up", "half_upp"))
    assert hover_text(server, 24, 2)[0] == """\
**from 2027-01-01** — version 1 of 2: what changes on this day

- restates allowance 2000 per month on `calls`
- restates packs of `calls`"""
    assert change(server, DEMO) == []


def test_hover_in_a_version_prices_by_that_version(server: Client) -> None:
    """A bracket of the 2027-07-01 ladder: 1,000,000 × 0.0018 = 1,800.00 (the sheet as first
    written charges 2,000.00). A meter lists its changes by version; its quote is by the prices
    before the first version, whatever today is: 999,000 × 0.002 = 1,998.00."""
    change(server, VERSIONED)
    text, where = hover_text(server, 35, 8)
    assert where == span(35, 4, 21)
    assert text.endswith("**Price** — 1,000,000 units of `calls`, all postpaid: CNY 1800.00")
    text, where = hover_text(server, 25, 32)  # `calls` in the version's allowance
    assert where == span(25, 30, 35)
    lines = text.split("\n")
    assert lines[10:14] == [
        "- from 2027-01-01: allowance 1,000 → 2,000 per month; packs 10,000 for 18 → 16, "
        "100,000 for 170 → 150, 1,000,000 for 1300 (new)",
        "- from 2027-07-01: ladder (0, 1000000] 0.002 → 0.0018",
        "",
        "**Quote** — 1,000,000 `Call` in a month, by the prices before 2027-01-01 "
        "(`ratecard quote`):"]
    assert lines[-2:] == ["| postpaid | 999,000 | (0, 1000000] | 0.002 | 1998.00 |",
                          "| **total** |  |  |  | **CNY 1998.00** |"]
    assert change(server, DEMO) == []


def test_a_version_in_the_outline_holds_what_it_restates(server: Client) -> None:
    change(server, VERSIONED)
    symbols = server.request("textDocument/documentSymbol", {"textDocument": {"uri": URI}})
    assert outline(symbols[4:]) == [
        ("from 2027-01-01", 24, None, [
            ("allowance 2000", 14, "per month on calls", []),
            ("packs", 23, None, [("calls", 8, "1万 for 16, 10万 for 150, 100万 for 1300", [])]),
        ]),
        ("from 2027-07-01", 24, "keep accounts opened before 2027-07-01 until 2028-01-01", [
            ("ladder volume by postpaid per month", 10, "on calls", [
                ("(0, 100万]", 22, "0.0018", []), ("(100万, ∞)", 22, "0.0015", [])]),
        ]),
    ]
    assert (symbols[5]["range"], symbols[5]["selectionRange"]) == (
        span(33, 0, 1, end_line=38), span(33, 0, 71))
    assert change(server, DEMO) == []


def test_references_include_the_versions(server: Client) -> None:
    change(server, VERSIONED)
    found = server.request("textDocument/references",
                           {**at(3, 8), "context": {"includeDeclaration": False}})
    assert [r["range"] for r in found] == [
        span(10, 28, 33), span(14, 2, 7), span(17, 39, 44),
        span(25, 30, 35), span(29, 4, 9), span(34, 41, 46)]
    assert change(server, DEMO) == []


def test_completion_of_a_version(server: Client) -> None:
    """After `from `, a day: nothing until a year is typed, then its months' first days;
    `keep` after the day (a rules file's version has no `until`); in the block, only what a
    version restates; after the block, the statements again."""
    end = DEMO + "\nfrom |"
    assert complete(server, end) == []
    items = complete(server, end.replace("|", "2027|"))
    assert labels(items) == [f"2027-{m:02d}-01" for m in range(1, 13)]
    assert {kind for _, kind, _ in items} == {21}  # constant
    assert items[0][2] == span(24, 5, 9)
    items = complete(server, end.replace("|", "2027-1|"))
    assert (labels(items), items[0][2]) == (
        ["2027-10-01", "2027-11-01", "2027-12-01"], span(24, 5, 11))
    assert labels(complete(server, end.replace("|", "2027-01-01 |"))) == ["keep"]
    assert labels(complete(server, end.replace("|", "2027-01-01 {\n  |"))) == [
        "above", "allowance", "ladder", "modifier", "packs", "price", "prices"]
    assert labels(complete(server, end.replace(
        "|", "2027-01-01 {\n  ladder volume by postpaid per |"))) == ["month", "day"]
    assert labels(complete(server, end.replace("|", "2027-01-01 {\n  ladder |"))) == [
        "volume", "graduated"]
    after = labels(complete(server, VERSIONED + "|"))
    assert after == ["above", "alert", "allowance", "bill", "credit", "currency", "deduct",
                     "fee", "from", "grant", "ladder", "languages", "meter", "modifier",
                     "order", "packs", "price", "prices", "request", "rounding", "rules",
                     "subscription", "suspend", "timezone", "unpriced"]
    assert change(server, DEMO) == []


# --- contracts ----------------------------------------------------------------------------------

CONTRACT = """\
contract acme "Acme 合同" / "Acme contract" extends "sheet.rules"
accounts acme, "acme-eu"
from 2027-01-01 until 2028-01-01

discount 20% on calls
minimum spend 500 per month
extra allowance 500 per month on calls
packs {
  size   10万
  calls  150
}
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with the rules file `sheet.rules` (VERSIONED) and the contract `acme.rules`."""
    folder = tmp_path_factory.mktemp("contracts")
    (folder / "sheet.rules").write_text(VERSIONED, encoding="utf-8")
    (folder / "acme.rules").write_text(CONTRACT, encoding="utf-8")
    return folder


def test_a_contract_is_checked_against_the_rules_file_it_extends(
        server: Client, folder: Path) -> None:
    """The rules file is read next to the contract, by its path on disk: a clean contract has
    no diagnostic, a meter the sheet does not have is E203, a missing sheet E711 whose label
    is the path that was read."""
    uri = (folder / "acme.rules").as_uri()
    with opened(server, uri, CONTRACT) as published:
        assert published == []
        assert change(server, CONTRACT.replace("on calls\nminimum", "on callz\nminimum"),
                      uri) == [{
            "range": span(4, 16, 21), "severity": 1, "code": "E203", "source": "ratecard",
            "message": "unknown meter `callz`\nnot a meter of the sheet this contract extends\n"
                       "help: did you mean `calls`?"}]
        [missing] = change(server, CONTRACT.replace("sheet.rules", "sheet2.rules"), uri)
        assert (missing["code"], missing["range"]) == ("E711", span(0, 50, 64))
        assert missing["message"] == (
            f"cannot read the rules file `sheet2.rules`\n{folder / 'sheet2.rules'}: No such "
            "file or directory\nhelp: give the path of the rules file this contract extends, "
            "relative to the contract's directory")


def test_an_unsaved_contract_has_no_directory_to_read_from(server: Client) -> None:
    """An untitled document: E711 on the path, and nothing is read (not from the server's
    working directory either); its terms still hover, without the sheet's currency."""
    uri = "untitled:Untitled-1"
    with opened(server, uri, CONTRACT) as published:
        assert published == [{
            "range": span(0, 50, 63), "severity": 1, "code": "E711", "source": "ratecard",
            "message": "cannot read the rules file `sheet.rules`\n"
                       "this contract is not saved: it has no directory to read the rules file "
                       "from\nhelp: save the contract; `extends` names the rules file relative "
                       "to the contract's directory"}]
        text, _ = hover_text(server, 5, 3, uri)
        assert "- minimum spend: 500 per month" in text.split("\n")


def test_saving_a_rules_file_rechecks_the_contracts_that_extend_it(
        server: Client, folder: Path) -> None:
    """The checker reads the sheet from disk: when it is saved with an error, the open
    contract gets E711 at once; saved fixed, the E711 goes."""
    sheet = folder / "sheet.rules"
    contract_uri = (folder / "acme.rules").as_uri()
    with opened(server, contract_uri, CONTRACT) as published, \
            opened(server, sheet.as_uri(), VERSIONED):
        assert published == []
        try:
            sheet.write_text(VERSIONED.replace("half_up", "half_upp"), encoding="utf-8")
            server.notify("textDocument/didSave", {"textDocument": {"uri": sheet.as_uri()}})
            [found] = server.notification("textDocument/publishDiagnostics",
                                          uri=contract_uri)["diagnostics"]
            assert (found["code"], found["message"].split("\n")[0]) == (
                "E711", "the rules file `sheet.rules` has 1 error")
        finally:
            sheet.write_text(VERSIONED, encoding="utf-8")
        server.notify("textDocument/didSave", {"textDocument": {"uri": sheet.as_uri()}})
        assert server.notification("textDocument/publishDiagnostics",
                                   uri=contract_uri)["diagnostics"] == []


def test_hover_in_a_contract_shows_its_terms(server: Client, folder: Path) -> None:
    """Anywhere on its statements: accounts, the term (its last day: `until` is exclusive),
    discounts, minimum spend in the sheet's currency, extra allowance, its own prices. On a
    meter: the meter's name in the sheet and the contract's terms for it."""
    uri = (folder / "acme.rules").as_uri()
    with opened(server, uri, CONTRACT):
        text, where = hover_text(server, 1, 3, uri)
        assert where == span(1, 0, 24)
        assert text == """\
**contract `acme`** — Acme 合同 / Acme contract, extends `sheet.rules`

- accounts: `acme`, `acme-eu`
- term: from 2027-01-01 through 2027-12-31 (until 2028-01-01)
- discount: 20% on `calls`
- minimum spend: CNY 500 per month
- extra allowance: 500 per month on `calls`
- own prices: packs of `calls`"""
        assert hover_text(server, 2, 20, uri) == (text, span(2, 0, 32))
        text, where = hover_text(server, 4, 18, uri)
        assert where == span(4, 16, 21)
        assert text == """\
**meter `calls`** — 调用 / Calls, of `sheet.rules`

Under contract `acme`:

- discount: 20%
- extra allowance: 500 per month
- packs: 10万 for 150"""
        assert hover_text(server, 9, 3, uri) == (text, span(9, 2, 7))


def test_definition_from_a_contract_is_in_the_rules_file_it_extends(
        server: Client, folder: Path) -> None:
    """A meter of the contract goes to `meter calls` in sheet.rules (line 3, characters 6 to
    11); the `extends` path to the top of that file."""
    uri = (folder / "acme.rules").as_uri()
    sheet_uri = (folder / "sheet.rules").as_uri()
    with opened(server, uri, CONTRACT):
        for line, character in ((4, 18), (6, 34), (9, 3)):
            assert server.request("textDocument/definition", at(line, character, uri)) == [
                {"uri": sheet_uri, "range": span(3, 6, 11)}]
        assert server.request("textDocument/definition", at(0, 55, uri)) == [
            {"uri": sheet_uri, "range": span(0, 0, 0)}]
        assert server.request("textDocument/definition", at(1, 3, uri)) == []


def test_a_contract_in_the_outline(server: Client, folder: Path) -> None:
    uri = (folder / "acme.rules").as_uri()
    with opened(server, uri, CONTRACT):
        symbols = server.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    assert outline(symbols) == [
        ("contract acme", 4, "Acme 合同 / Acme contract, extends sheet.rules", []),
        ("accounts", 18, "acme, acme-eu", []),
        ("from 2027-01-01 until 2028-01-01", 24, "term", []),
        ("discount 20%", 16, "on calls", []),
        ("minimum spend 500", 16, "per month", []),
        ("extra allowance 500", 14, "per month on calls", []),
        ("packs", 23, None, [("calls", 8, "10万 for 150", [])]),
    ]
    assert [s["selectionRange"] for s in symbols] == [
        span(0, 9, 13), span(1, 0, 8), span(2, 0, 32), span(4, 0, 8), span(5, 0, 7),
        span(6, 0, 5), span(7, 0, 5)]


def test_completion_in_a_contract(server: Client, folder: Path) -> None:
    """A contract's statements (not a rules file's, nor `allowance` without `extra`); after
    its day, `until` (a contract's term has no `keep`); the sheet's meters in a target."""
    uri = (folder / "acme.rules").as_uri()
    statements = ["accounts", "discount", "extra", "from", "ladder", "minimum", "packs", "price"]
    with opened(server, uri, CONTRACT):
        assert labels(complete(server, CONTRACT + "|", uri)) == statements
        assert labels(complete(server, CONTRACT.replace("2027-01-01 until 2028-01-01",
                                                        "2027-01-01 |"), uri)) == [
            "until", *statements]
        assert labels(complete(server, CONTRACT.replace("20% on calls", "20% on |"),
                               uri)) == ["calls", "every"]
        assert labels(complete(server, CONTRACT + "minimum |", uri)) == ["spend"]
    # At the start of a file, a rules file's statements and `contract`.
    assert labels(complete(server, "|")) == [
        "above", "alert", "allowance", "bill", "contract", "credit", "currency", "deduct",
        "fee", "from", "grant", "ladder", "languages", "meter", "modifier", "order", "packs",
        "price", "prices", "request", "rounding", "rules", "subscription", "suspend",
        "timezone", "unpriced"]
    assert change(server, DEMO) == []


# --- without the server -------------------------------------------------------------------

def test_without_pygls_the_command_says_how_to_install_it(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delitem(sys.modules, "ratecard.lsp", raising=False)
    for module in ("pygls", "pygls.lsp", "pygls.lsp.server"):
        monkeypatch.setitem(sys.modules, module, None)
    assert main(["lsp"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("ratecard: error: `ratecard lsp` needs pygls: "
                            "pip install 'ratecard[lsp]'\n")


def test_line_index_counts_the_negotiated_code_units() -> None:
    """`a😀b`: b is at code point 2, UTF-16 unit 3, UTF-8 byte 5; a BOM is one unit of text
    to the editor; `\\r\\n` and a lone `\\r` both end a line."""
    text = "x\r\na😀b\rc"
    for encoding, character in (("utf-16", 3), ("utf-8", 5), ("utf-32", 2)):
        index = LineIndex(text, encoding)
        position = index.position(5)
        assert (position.line, position.character) == (1, character)
        assert index.offset(position) == 5
        end = index.position(text.index("c"))
        assert (end.line, end.character) == (2, 0)
    # A position past a line's end is the end of the line, not the next one.
    index = LineIndex(text)
    assert index.offset(Position(line=0, character=9)) == 1
    # A position inside a surrogate pair lands after it.
    assert index.offset(Position(line=1, character=2)) == 5


def test_a_byte_order_mark_is_one_more_unit_before_the_first_line() -> None:
    """ratecard's offsets start after a BOM (check's column 1 is the `r`); the editor's text
    holds it, so the range of a diagnostic on line 0 is one character further."""
    analysis = Analysis(URI, "\ufeffrules demo \"x\"\n")
    missing = [d for d in analysis.diagnostics if d.code == "E107"]
    assert missing and missing[0].span.start == 6  # `demo`, in ratecard's offsets
    assert analysis.range(missing[0].span) == Range(
        start=Position(line=0, character=7), end=Position(line=0, character=11))
    assert analysis.offset(Position(line=0, character=7)) == 6


def test_a_lone_surrogate_is_three_utf8_bytes_and_one_utf16_unit() -> None:
    """Found by the fuzzer (tests/test_fuzz_rules.py): a lone surrogate, which a didChange can
    carry as JSON's `\\ud800` escape, made UTF-8 positions raise. It counts as the U+FFFD a
    client writes in its place: 3 UTF-8 bytes, one UTF-16 unit, one code point. `XYZ` starts
    after `rules x "a` (10), the surrogate and `b" currency ` (12)."""
    text = 'rules x "a\ud800b" currency XYZ\n'
    columns = {}
    for encoding in ("utf-8", "utf-16", "utf-32"):
        analysis = Analysis(URI, text, encoding)
        (currency,) = [d for d in analysis.diagnostics if d.code == "E103"]
        where = analysis.range(currency.span)
        columns[encoding] = (where.start.character, where.end.character)
        assert analysis.offset(where.start) == currency.span.start == 23
    assert columns == {"utf-8": (25, 28), "utf-16": (23, 26), "utf-32": (23, 26)}


def test_example_quantities_are_round_and_in_the_bracket() -> None:
    assert example_quantity(D(0), D(3_000_000)) == D(1_000_000)
    assert example_quantity(D(0), D(10_000)) == D(10_000)
    assert example_quantity(D(100), D(150)) == D(150)  # no power of ten in (100, 150]
    assert example_quantity(D(0), None) == D(1000)
    assert example_quantity(D(15_000_000), None) == D(100_000_000)
    assert example_quantity(D(0), None, beyond=D(1_000_000)) == D(10_000_000)


@settings(max_examples=100)
@given(text=mutated(), data=st.data())
def test_every_feature_answers_on_broken_files(text: str, data: st.DataObject) -> None:
    """Shipped files with tokens deleted, repeated or swapped (mostly broken), as they are and
    with a BOM and CRLF line breaks: every feature answers without an exception, each
    diagnostic's range maps back to its span's offsets, each completion replaces text that
    ends at the cursor, and the formatting edit, applied, gives `fmt`'s layout."""
    for variant in (text, "\ufeff" + text.replace("\n", "\r\n")):
        analysis = Analysis(URI, variant)
        for diagnostic in analysis.diagnostics:
            where = analysis.range(diagnostic.span)
            assert (analysis.offset(where.start), analysis.offset(where.end)) == (
                diagnostic.span.start, diagnostic.span.end)
        document_symbols(analysis)
        for edit in formatting(analysis):
            assert analysis.offset(edit.range.start) == 0
            assert analysis.offset(edit.range.end) == len(analysis.source.text)
            assert analyze(SourceFile("f", edit.new_text))[0] is not None
        offset = data.draw(st.integers(0, len(analysis.source.text)))
        assume(analysis.source.text[offset - 1:offset] != "\r")  # inside a line break
        hover(analysis, offset)
        names = Names.of(analysis.rules, analysis.source) if analysis.rules else Names()
        for item in completion_items(analysis, offset, names):
            assert item.text_edit is not None
            assert analysis.offset(item.text_edit.range.end) == offset


_PIECE = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[\w.%-]+|\s+|.', re.DOTALL)


@st.composite
def broken(draw: st.DrawFn, text: str) -> str:
    """`text` with a few of its words, strings, comments and spaces deleted, repeated or
    swapped (days are one word)."""
    pieces = _PIECE.findall(text)
    for _ in range(draw(st.integers(1, 3))):
        i, j = draw(st.integers(0, len(pieces) - 1)), draw(st.integers(0, len(pieces) - 1))
        operation = draw(st.sampled_from(["delete", "duplicate", "swap"]))
        if operation == "delete" and len(pieces) > 1:
            del pieces[i]
        elif operation == "duplicate":
            pieces.insert(j, pieces[i])
        else:
            pieces[i], pieces[j] = pieces[j], pieces[i]
    return "".join(pieces)


@settings(max_examples=60)
@given(text=st.one_of(broken(VERSIONED), broken(CONTRACT)), data=st.data())
def test_every_feature_answers_on_broken_versions_and_contracts(
        folder: Path, text: str, data: st.DataObject) -> None:
    """Versions and contracts with tokens deleted, repeated or swapped, saved beside the rules
    file and unsaved: every feature answers, and each completion ends at the cursor."""
    for uri in ((folder / "acme.rules").as_uri(), "untitled:Untitled-1"):
        analysis = Analysis(uri, text)
        for diagnostic in analysis.diagnostics:
            where = analysis.range(diagnostic.span)
            assert (analysis.offset(where.start), analysis.offset(where.end)) == (
                diagnostic.span.start, diagnostic.span.end)
        document_symbols(analysis)
        formatting(analysis)
        offset = data.draw(st.integers(0, len(analysis.source.text)))
        hover(analysis, offset)
        definitions(analysis, offset, analysis.sheet)
        for item in completion_items(analysis, offset, analysis.names()):
            assert item.text_edit is not None
            assert analysis.offset(item.text_edit.range.end) == offset
