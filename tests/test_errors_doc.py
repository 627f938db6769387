"""docs/errors.md documents every diagnostic code, and each example really produces its code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ratecard.api import analyze
from ratecard.source import SourceFile

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "errors.md").read_text(encoding="utf-8")
SECTIONS = dict(re.findall(r"^## ([EW]\d{3}): .*?\n(.*?)(?=^## |\Z)", DOC, re.M | re.S))
HEADER = 'rules demo "示例" / "Demo"\ncurrency CNY, rounding half_up 0.01, timezone Asia/Shanghai\n'


def codes_in_source() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "src" / "ratecard").rglob("*.py"):
        found |= set(re.findall(r'"([EW]\d{3})"', path.read_text(encoding="utf-8")))
    return found


def codes_in_cases() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "tests" / "cases" / "invalid").glob("*.rules"):
        for marks in re.findall(r"#\s*(?:error|warning):\s*((?:[EW]\d{3}\s*)+)", path.read_text()):
            found |= set(marks.split())
    return found


def test_every_code_is_documented() -> None:
    assert codes_in_source() - set(SECTIONS) == set()


def test_every_documented_code_exists() -> None:
    assert set(SECTIONS) - codes_in_source() == set()


def test_every_code_has_an_invalid_case() -> None:
    assert codes_in_source() - codes_in_cases() == set()


@pytest.mark.parametrize("code", sorted(SECTIONS))
def test_example_produces_its_code(code: str) -> None:
    match = re.search(r"```rules( standalone)?\n(.*?)```", SECTIONS[code], re.S)
    assert match, f"{code} has no example"
    standalone, example = match.groups()
    text = example if standalone or re.search(r"^rules ", example, re.M) else HEADER + example
    # A contract's `extends` path is read relative to rules/: examples extend the shipped sheets.
    _, diagnostics = analyze(SourceFile(f"{code}.rules", text), ROOT / "rules")
    assert code in {d.code for d in diagnostics}, [d.code for d in diagnostics]
    assert "Fix:" in SECTIONS[code]
