"""Golden rules files: valid ones compile; invalid ones report exactly the marked diagnostics.

An invalid case marks each expected diagnostic on the line it belongs to, as starlark does:
`... # error: E203` (several codes separated by spaces; `warning:` for warnings). One test asserts
the (line, code) set; another snapshots the rendered diagnostics, so a snapshot update cannot
silently accept a wrong error.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from syrupy.assertion import SnapshotAssertion

import ratecard
from ratecard.api import analyze
from ratecard.diagnostics import render_all
from ratecard.nodes import dump
from ratecard.source import SourceFile

CASES = Path(__file__).parent / "cases"
VALID = sorted((CASES / "valid").glob("*.rules"))
INVALID = sorted((CASES / "invalid").glob("*.rules"))
MARKER = re.compile(r"#\s*(error|warning):\s*((?:[EW]\d{3}\s*)+)")


@pytest.fixture(autouse=True)
def _in_cases(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cases are named `valid/x.rules` and `invalid/x.rules`: a contract case's `extends` path
    resolves from there, as it would for `ratecard check invalid/x.rules` run in tests/cases."""
    monkeypatch.chdir(CASES)


def _source(path: Path) -> SourceFile:
    return SourceFile(f"{path.parent.name}/{path.name}", path.read_text(encoding="utf-8"))


def expected_marks(text: str) -> list[tuple[int, str]]:
    """The (line, code) pairs marked in a case file."""
    marks = []
    for number, line in enumerate(text.splitlines(), start=1):
        for match in MARKER.finditer(line):
            marks.extend((number, code) for code in match.group(2).split())
    return sorted(marks)


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_case_compiles_without_errors(path: Path, snapshot: SnapshotAssertion) -> None:
    source = _source(path)
    rules, diagnostics = analyze(source)
    assert rules is not None
    assert [d for d in diagnostics if d.is_error] == []
    ratecard.loads(source.text, source.name)
    assert dump(rules) == snapshot


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_case_reports_the_marked_codes(path: Path) -> None:
    source = _source(path)
    _, diagnostics = analyze(source)
    found = sorted((d.span.line, d.code) for d in diagnostics)
    assert found == expected_marks(source.text)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_case_rendering(path: Path, snapshot: SnapshotAssertion) -> None:
    source = _source(path)
    _, diagnostics = analyze(source)
    assert render_all(diagnostics, {source.name: source}) == snapshot


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_case_raises_rules_error_with_every_diagnostic(path: Path) -> None:
    source = _source(path)
    _, diagnostics = analyze(source)
    if not any(d.is_error for d in diagnostics):
        book = ratecard.loads(source.text, source.name)
        assert book.warnings == tuple(diagnostics)
        return
    with pytest.raises(ratecard.RulesError) as raised:
        ratecard.loads(source.text, source.name)
    assert raised.value.diagnostics == tuple(diagnostics)


def test_every_diagnostic_has_position_and_help() -> None:
    for path in INVALID:
        source = _source(path)
        _, diagnostics = analyze(source)
        for d in diagnostics:
            assert d.span.line >= 1 and d.span.column >= 1, d
            assert d.help, f"{path.name}: {d.code} has no help"


def test_shipped_rules_have_no_errors() -> None:
    for path in sorted((CASES.parents[1] / "rules").glob("*.rules")):
        rules, diagnostics = analyze(SourceFile(str(path), path.read_text(encoding="utf-8")))
        assert rules is not None
        assert [d for d in diagnostics if d.is_error] == [], path
