"""The pipeline in three steps: parse → check → compile; `load` and `loads` for callers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ratecard.check import check_acknowledged
from ratecard.diagnostics import Diagnostic
from ratecard.errors import RulesError
from ratecard.nodes import Rules
from ratecard.parser import parse
from ratecard.source import SourceFile
from ratecard.transform import to_nodes

if TYPE_CHECKING:
    from ratecard.engine.pricebook import PriceBook


def analyze(source: SourceFile) -> tuple[Rules | None, list[Diagnostic]]:
    """The syntax tree of a rules file (None on a syntax error) and every diagnostic."""
    rules, diagnostics, _ = analyze_acknowledged(source)
    return rules, diagnostics


def analyze_acknowledged(
    source: SourceFile,
) -> tuple[Rules | None, list[Diagnostic], list[Diagnostic]]:
    """`analyze`, and the warnings the file acknowledges (`# allow:`), left out of the rest."""
    tree = parse(source)
    if isinstance(tree, Diagnostic):
        return None, [tree], []
    rules = to_nodes(tree, source)
    return (rules, *check_acknowledged(rules))


def loads(text: str, name: str = "<rules>") -> PriceBook:
    """Compile rules text; RulesError lists every problem if there is any error."""
    from ratecard.compile import compile_rules  # the evaluator: not needed to check

    rules, diagnostics = analyze(SourceFile(name, text))
    if rules is None or any(d.is_error for d in diagnostics):
        raise RulesError(diagnostics)
    return compile_rules(rules, tuple(diagnostics))


def load(path: str | Path) -> PriceBook:
    """Compile a rules file (UTF-8, an optional BOM is ignored)."""
    path = Path(path)
    return loads(read_rules_text(path), str(path))


def read_rules_text(path: Path) -> str:
    """A rules file's text: UTF-8, with a leading BOM dropped and line breaks kept."""
    data = path.read_bytes()
    return data.decode("utf-8-sig")
