"""Nothing breaks the front end: generated and mutated rules text always ends in a syntax tree
with diagnostics, or in one syntax diagnostic at a real position; never an exception or a hang.

- Sheets built from the language's constructs (tests/strategies.py) always parse, and the sound
  ones compile without errors; the same sheet with CRLF line breaks or a byte order mark gives
  the same diagnostics at the same lines and columns.
- Every file of rules/ and tests/cases/valid/, mutated (tokens deleted, duplicated and swapped,
  characters inserted, tabs, CRLF, a BOM), ends in a tree or one syntax diagnostic whose span lies
  within the text; rendering the diagnostics never fails.
- Random bytes (invalid UTF-8 included) through `ratecard check`: exit 0, 1, or 2 with a
  one-line error, never a traceback.
- Big inputs: a 10 MB comment, thousands of meters, a megabyte-long line, deep brackets, a
  number with a million digits.
- The language server: generated, mutated and spliced texts (any code point, lone surrogates
  too) through the functions behind every handler of `ratecard lsp`, in each position encoding:
  no exception, every range inside the document.

The example counts are sized for CI. `RATECARD_FUZZ=N` multiplies them by N for a long local
run (`RATECARD_FUZZ=50 pytest tests/test_fuzz_rules.py -s`); the module prints how many cases
each property ran.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ratecard
from ratecard.api import analyze
from ratecard.cli import main
from ratecard.compile import compile_rules
from ratecard.diagnostics import Diagnostic, render_all
from ratecard.engine.pricebook import PriceBook
from ratecard.literals import MAX_DIGITS
from ratecard.source import SourceFile
from tests.strategies import SEED_TEXTS, mutated, rules_texts

SYNTAX_CODES = {"E001", "E002", "E003", "E004"}

SCALE = int(os.environ.get("RATECARD_FUZZ", "1") or "1")
CASES: Counter[str] = Counter()


def fuzz(examples: int) -> settings:
    """Hypothesis settings for a fuzz property: no deadline, `examples` times RATECARD_FUZZ."""
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.filter_too_much],
    )


@pytest.fixture(scope="module", autouse=True)
def case_counts(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print how many cases each property ran, once the module is done."""
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None and CASES:
        summary = ", ".join(f"{name} {count}" for name, count in sorted(CASES.items()))
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\nfuzz cases: {summary} (total {sum(CASES.values())})")


# --- the invariant ----------------------------------------------------------------------------

def outcome(
    text: str, name: str = "fuzz.rules", compile_: bool = True
) -> tuple[bool, list[Diagnostic]]:
    """Analyze text and assert the front end's contract; (parsed, diagnostics).

    The diagnostics render in every format; a tree without errors compiles (unless `compile_`
    is false: the CRLF and BOM variants of a text compile as the text does).
    """
    source = SourceFile(name, text)
    rules, diagnostics = analyze(source)
    if rules is None:
        assert len(diagnostics) == 1 and diagnostics[0].code in SYNTAX_CODES, diagnostics
    for d in diagnostics:
        assert_position(source, d)
    for fmt in ("full", "concise", "json"):
        assert isinstance(render_all(diagnostics, {name: source}, fmt), str)
    if compile_ and rules is not None and not any(d.is_error for d in diagnostics):
        assert isinstance(compile_rules(rules, tuple(diagnostics)), PriceBook)
    return rules is not None, diagnostics


def assert_position(source: SourceFile, d: Diagnostic) -> None:
    """A diagnostic's span lies within the text, and its line and column are its start's."""
    span = d.span
    assert span.file == source.name
    assert 0 <= span.start <= span.end <= len(source.text), (d, len(source.text))
    assert span.line >= 1 and span.column >= 1
    assert source.position(span.start) == (span.line, span.column), d
    assert span.line <= source.text.count("\n") + 1


def shape(diagnostics: list[Diagnostic]) -> list[tuple[str, int, int, str, str, str]]:
    """What a reader sees of diagnostics: code, line, column, message, label and help."""
    return [(d.code, d.span.line, d.span.column, d.message, d.label, d.help) for d in diagnostics]


def rendered(text: str, diagnostics: list[Diagnostic]) -> str:
    source = SourceFile("fuzz.rules", text)
    return render_all(diagnostics, {source.name: source})


def assert_same_for_crlf_and_bom(text: str, plain: list[Diagnostic] | None = None) -> None:
    """CRLF line breaks and a leading BOM change no diagnostic, position or rendering."""
    if plain is None:
        _, plain = outcome(text)
    for variant in (text.replace("\n", "\r\n"), "\ufeff" + text):
        _, diagnostics = outcome(variant, compile_=False)
        assert shape(diagnostics) == shape(plain)
        assert rendered(variant, diagnostics) == rendered(text, plain)


# --- generated sheets ------------------------------------------------------------------------

@fuzz(100)
@given(rules_texts())
def test_generated_sheets_parse_and_compile(text: str) -> None:
    CASES["generated sound sheets"] += 1
    parsed, diagnostics = outcome(text, compile_=False)
    assert parsed, diagnostics
    assert [d for d in diagnostics if d.is_error] == []
    book = ratecard.loads(text)
    assert book.meters
    assert_same_for_crlf_and_bom(text, diagnostics)


@fuzz(100)
@given(rules_texts(valid=False))
def test_generated_loose_sheets_parse(text: str) -> None:
    """Arbitrary names, choice words and numbers: diagnostics from the checker, no exception."""
    CASES["generated loose sheets"] += 1
    parsed, diagnostics = outcome(text)
    assert parsed, diagnostics


# --- mutated files ----------------------------------------------------------------------------

@fuzz(300)
@given(mutated())
def test_mutated_files_end_in_a_tree_or_a_syntax_diagnostic(text: str) -> None:
    CASES["mutated files"] += 1
    outcome(text)


@fuzz(60)
@given(mutated())
def test_mutated_files_read_the_same_with_crlf_and_bom(text: str) -> None:
    CASES["mutated files, CRLF and BOM"] += 1
    assert_same_for_crlf_and_bom(text)


@pytest.mark.parametrize("name", sorted(SEED_TEXTS))
def test_seed_files_read_the_same_with_crlf_bom_and_tabs(name: str) -> None:
    text = SEED_TEXTS[name]
    assert_same_for_crlf_and_bom(text)
    parsed, diagnostics = outcome(text.replace("  ", "\t"))
    assert parsed and not any(d.is_error for d in diagnostics)


# --- bytes through the command line ---------------------------------------------------------------

@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz") / "bytes.rules"


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


@fuzz(100)
@given(data=st.data())
def test_random_bytes_through_check(scratch: Path, data: st.DataObject) -> None:
    """Bytes inserted into a seed file, invalid UTF-8 included: exit 0, 1 or 2, no traceback."""
    CASES["byte-mutated files through `ratecard check`"] += 1
    raw = bytearray(SEED_TEXTS[data.draw(st.sampled_from(sorted(SEED_TEXTS)))].encode())
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(raw)))
        raw[at:at] = data.draw(st.binary(min_size=1, max_size=4)
                               | st.sampled_from([b"\xff", b"\xc3", b"\xe4\xb8", b"\xed\xa0\x80"]))
    scratch.write_bytes(bytes(raw))
    code, out, err = run_cli("check", str(scratch))
    try:
        bytes(raw).decode("utf-8")
    except UnicodeDecodeError as exc:
        assert (code, out) == (2, "")
        assert err == f"ratecard: error: {scratch}: not UTF-8 text (byte {exc.start})\n"
    else:
        assert code in (0, 1)
        # A verdict line, unless there is nothing to report (then nothing at all).
        assert out.startswith(f"{scratch}: ") or (code, out, err) == (0, "", "")


def test_invalid_utf8_in_a_real_process(tmp_path: Path) -> None:
    """The installed command, not just `main`: one line on stderr, exit 2, no traceback."""
    path = tmp_path / "latin1.rules"
    path.write_bytes(SEED_TEXTS["tencent-bda.rules"].encode()[:40] + b"\xe9t\xe9\n")
    result = subprocess.run([sys.executable, "-m", "ratecard", "check", str(path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == f"ratecard: error: {path}: not UTF-8 text (byte 40)\n"


# --- big and odd inputs -----------------------------------------------------------------------

BDA = SEED_TEXTS["tencent-bda.rules"]


@pytest.mark.slow
def test_a_ten_megabyte_comment() -> None:
    CASES["big inputs"] += 1
    text = BDA + "# " + "人体分析 billing notes " * 500_000 + "\n"
    assert len(text.encode()) > 10_000_000
    _, big = outcome(text)
    _, plain = outcome(BDA)
    assert shape(big) == shape(plain)


@pytest.mark.slow
def test_thousands_of_meters() -> None:
    CASES["big inputs"] += 1
    count = 2_000 * SCALE
    meters = "".join(f'meter m{i} "计量 {i}" / "Meter {i}" counts Action{i}\n'
                     for i in range(count))
    text = ('rules many "多" / "Many"\ncurrency CNY, rounding half_up 0.01, timezone UTC\n'
            + meters + "ladder graduated by total per month on every meter { (0, ∞) 0.01 }\n")
    parsed, diagnostics = outcome(text)
    assert parsed and diagnostics == []
    # One mistake at the very end is found at its line and column.
    _, diagnostics = outcome(text.replace("(0, ∞) 0.01 }", "(0, ∞) 0.01 "))
    assert [(d.code, d.span.line, d.span.column) for d in diagnostics] == [
        ("E002", count + 3, 65)]


@pytest.mark.slow
def test_a_megabyte_long_line() -> None:
    CASES["big inputs"] += 1
    text = 'rules long "长" ' + "   " * 350_000 + "meter"
    _, diagnostics = outcome(text)
    assert [(d.code, d.span.line, d.span.column) for d in diagnostics] == [
        ("E002", 1, 1_050_021)]
    names = ", ".join(f"A{i}" for i in range(50_000))
    parsed, diagnostics = outcome(f'rules long "长" unpriced {names}')
    assert parsed and {d.code for d in diagnostics} == {"E107"}


def line_of(text: str, needle: str) -> int:
    return text[: text.index(needle)].count("\n") + 1


@pytest.mark.parametrize("opener", ["(", "[", "{", "((", "\"(", "#("])
def test_deeply_nested_brackets(opener: str) -> None:
    CASES["big inputs"] += 1
    text = BDA.replace("(0, 300万]", opener * 50_000 + "0, 300万]")
    parsed, diagnostics = outcome(text)
    if opener.startswith("#"):  # the first bracket is a comment now: the ladder starts at 300万
        assert parsed and "E405" in [d.code for d in diagnostics]
        return
    assert not parsed and diagnostics[0].code == "E001"
    # At the second bracket, or just after the ladder's `{` when the first one cannot start here.
    line = line_of(BDA, "(0, 300万]")
    assert diagnostics[0].span.line in (line - 1, line, line + 1)


# --- the language server ----------------------------------------------------------------------

ANY_CHARACTER = st.characters(exclude_categories=())  # surrogates too (Hypothesis leaves them out)
# Characters whose width differs between encodings, or that break lines for one reader and not
# another, often enough to meet every handler; and any text at all.
ODD_TEXT = st.one_of(
    st.sampled_from(["\ud800", "\udfff", "\U0001f600", "é", "人", "\u2028", "\x85", "\r", "\x00",
                     "\ufeff", "\t"]),
    st.text(ANY_CHARACTER, min_size=1, max_size=4),
)


@st.composite
def spliced(draw: st.DrawFn) -> str:
    """A seed file with any text put in a few places: every code point an editor's buffer can
    hold (controls, line and paragraph separators, characters beyond the BMP, lone surrogates,
    which JSON's `\\ud800` escapes carry), so that positions in every encoding are tried."""
    text = SEED_TEXTS[draw(st.sampled_from(sorted(SEED_TEXTS)))]
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(ODD_TEXT) + text[at:]
    return text


LSP_TEXTS = st.one_of(rules_texts(), rules_texts(valid=False), mutated(), spliced())
ENCODINGS = ("utf-8", "utf-16", "utf-32")


@fuzz(150)
@given(text=LSP_TEXTS, encoding=st.sampled_from(ENCODINGS), data=st.data())
def test_the_language_server_answers_every_fuzzed_text(
    text: str, encoding: str, data: st.DataObject
) -> None:
    """The functions behind `ratecard lsp`'s handlers, called as the server calls them on a
    document's text (didOpen/didChange, hover, completion, go to definition, references,
    document symbols, formatting), in each position encoding a client may choose: none
    raises, and every range they return lies within the document (its end not before its
    start, on a line the document has)."""
    pytest.importorskip("pygls", reason="`ratecard lsp` needs pygls: pip install 'ratecard[lsp]'")
    from lsprotocol.types import Range

    from ratecard import lsp

    CASES["fuzzed texts through the language server"] += 1
    analysis = lsp.Analysis("file:///fuzz/fuzz.rules", text, encoding)
    lines = analysis.index.position(len(text)).line + 1

    def inside(where: Range) -> None:
        start, end = where.start, where.end
        assert (start.line, start.character) <= (end.line, end.character), where
        assert start.line >= 0 and end.line < lines, (where, lines)

    for diagnostic in lsp.diagnostics(analysis):
        inside(diagnostic.range)
        assert diagnostic.code and diagnostic.message
    for symbol in lsp.document_symbols(analysis):
        inside(symbol.range)
        inside(symbol.selection_range)
    for edit in lsp.formatting(analysis):
        inside(edit.range)
    names = analysis.names()
    offsets = data.draw(st.lists(st.integers(0, len(analysis.source.text)), min_size=1,
                                 max_size=4))
    if analysis.rules is not None:  # where a meter or an action is named, as a click would be
        offsets += [o.span.start for o in lsp.occurrences(analysis.rules)[:5]]
    for offset in offsets:
        found = lsp.hover(analysis, offset)
        if found is not None:
            assert found[0]
            inside(analysis.range(found[1]))
        for item in lsp.completion_items(analysis, offset, names):
            assert item.text_edit is not None
            inside(item.text_edit.range)
        for location in lsp.definitions(analysis, offset, None):
            inside(location.range)
        if analysis.rules is not None:
            named = lsp.occurrence_at(analysis.rules, offset)
            if named is not None:
                for other in lsp.references(analysis.rules, named.kind, named.name, True):
                    inside(analysis.range(other.span))


# --- regressions found by the properties above --------------------------------------------------

def test_a_number_with_too_many_digits_is_a_diagnostic_not_a_crash() -> None:
    """`9…9B` (30 digits) once raised decimal.InvalidOperation inside the transformer. The label
    under the number names it only when the source line cannot show it whole (shortened)."""
    shown = {
        MAX_DIGITS + 1: "has more than 28 digits",
        1_000_000: f"`{'9' * 20}…{'9' * 7}B (1000001 characters)` has more than 28 digits",
    }
    for digits in (MAX_DIGITS + 1, 1_000_000):
        number = "9" * digits
        text = BDA.replace("(1500万, ∞)      0.0015", f"(1500万, ∞) {number}B").replace(
            "below 15%", f"below {number}%")
        _, diagnostics = outcome(text)
        found = [(d.code, d.span.line, d.label) for d in diagnostics if d.is_error]
        assert found == [
            ("E301", line_of(BDA, "(1500万, ∞)"), shown[digits]),
            ("E607", line_of(BDA, "below 15%"), "between 0% and 100%"),
        ]


def test_the_longest_number_is_exact() -> None:
    number = "9" * MAX_DIGITS
    book = ratecard.loads(BDA.replace("(1500万, ∞)      0.0015", f"(1500万, ∞) 0.{number}"))
    assert book is not None
    _, diagnostics = outcome(BDA.replace("allowance 1000", f"allowance {number}B"))
    assert not any(d.is_error for d in diagnostics)


def test_crlf_carets_underline_the_same_width() -> None:
    """A span that runs past its line's end once got one caret more for the `\\r` of CRLF."""
    text = BDA.replace("deduct allowance, packs by expiry, postpaid\n", "")
    _, plain = outcome(text)
    _, crlf = outcome(text.replace("\n", "\r\n"))
    assert [d.code for d in plain] == [d.code for d in crlf] and "E601" in [d.code for d in plain]
    assert rendered(text.replace("\n", "\r\n"), crlf) == rendered(text, plain)


def test_a_bom_does_not_shift_the_first_line() -> None:
    """`SourceFile` drops a leading BOM, so columns on line 1 count from the first character."""
    text = 'rules x "X" currency XYZ'
    _, plain = outcome(text)
    _, bom = outcome("\ufeff" + text)
    assert shape(bom) == shape(plain)
    assert [(d.code, d.span.column) for d in bom if d.code == "E103"] == [("E103", 22)]
