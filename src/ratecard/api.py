"""The pipeline in three steps: parse → check → compile; `load` and `loads` for callers."""

from __future__ import annotations

import errno
import stat
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from ratecard.check import check_acknowledged, check_contract_acknowledged
from ratecard.diagnostics import Diagnostic, error
from ratecard.engine import contracts
from ratecard.errors import RulesError
from ratecard.nodes import Rules
from ratecard.parser import parse
from ratecard.source import SourceFile, Span
from ratecard.transform import to_nodes
from ratecard.versions import contract_parts, is_contract

if TYPE_CHECKING:
    from ratecard.engine.pricebook import PriceBook


def analyze(
    source: SourceFile, directory: Path | None = None
) -> tuple[Rules | None, list[Diagnostic]]:
    """The syntax tree of a rules file (None on a syntax error) and every diagnostic.

    A contract file (it starts with `contract`) is checked against the rules file it extends,
    read from a path relative to `directory` (default: the directory of `source.name`).
    """
    rules, diagnostics, _ = analyze_acknowledged(source, directory)
    return rules, diagnostics


def analyze_acknowledged(
    source: SourceFile, directory: Path | None = None
) -> tuple[Rules | None, list[Diagnostic], list[Diagnostic]]:
    """`analyze`, and the warnings the file acknowledges (`# allow:`), left out of the rest."""
    tree = parse(source)
    if isinstance(tree, Diagnostic):
        return None, [tree], []
    rules = to_nodes(tree, source)
    if not is_contract(rules):
        return (rules, *check_acknowledged(rules))
    sheet, problem = _extended(rules, directory or Path(source.name).parent)
    if sheet is None:
        assert problem is not None
        return rules, [problem], []
    return (rules, *check_contract_acknowledged(rules, sheet))


def _extended(contract: Rules, directory: Path) -> tuple[Rules | None, Diagnostic | None]:
    """The checked, error-free syntax tree of the rules file a contract extends, or the E711
    diagnostic that says why there is none."""
    header = contract_parts(contract).header
    where = header.extends
    path = directory / where.value
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO or a device would block or never end
            raise IsADirectoryError(errno.EISDIR, "not a regular file")
        text = read_rules_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return None, error("E711", f"cannot read the rules file `{where.value}`", where.span,
                           f"{path}: {reason}", "give the path of the rules file this "
                           "contract extends, relative to the contract's directory")
    extended = SourceFile(str(path), text)
    tree = parse(extended)
    sheet = None if isinstance(tree, Diagnostic) else to_nodes(tree, extended)
    errors: list[Diagnostic] = []
    if sheet is not None and not is_contract(sheet):  # (never a contract's own extension:
        errors = [d for d in check_acknowledged(sheet)[0] if d.is_error]  # it may be this one)
    if sheet is not None and is_contract(sheet):
        return None, error("E711", f"the rules file `{where.value}` is a contract, not a rules "
                           "file", where.span, "a contract extends a price sheet",
                           "extend the rules file (it starts with `rules`) that the other "
                           "contract extends; contracts do not extend contracts")
    if sheet is None or errors:
        what = f"has {len(errors) or 1} error{'s' if len(errors) > 1 else ''}"
        return None, error("E711", f"the rules file `{where.value}` {what}", where.span,
                           "a contract extends a rules file without errors",
                           f"run `ratecard check {path}` and fix it first")
    return sheet, None


def loads(text: str, name: str = "<rules>") -> PriceBook:
    """Compile rules text; RulesError lists every problem if there is any error.

    Contract text (`contract ... extends "x.rules"`) compiles to the sheet it extends billed
    under the contract (the path is read relative to `name`'s directory).
    """
    from ratecard.compile import compile_contract, compile_rules  # not needed to check

    source = SourceFile(name, text)
    rules, diagnostics = analyze(source)
    if rules is None or any(d.is_error for d in diagnostics):
        raise RulesError(diagnostics)
    if not is_contract(rules):
        return compile_rules(rules, tuple(diagnostics))
    sheet, _ = _extended(rules, Path(name).parent)
    assert sheet is not None
    return compile_contract(rules, sheet, tuple(diagnostics))


def load(path: str | Path) -> PriceBook:
    """Compile a rules file (UTF-8, an optional BOM is ignored); a contract file compiles to
    the sheet it extends under its terms (see `load_contract`)."""
    path = Path(path)
    return loads(read_rules_text(path), str(path))


def load_contract(path: str | Path, book: PriceBook | None = None) -> PriceBook:
    """The sheet a contract file extends, billed under the contract: from the contract's start
    to its end, its discounts, minimum spend, prices and extra allowance apply.

    With `book`, the contract must extend that very sheet (the same compiled rules): a
    contract written for another sheet, or for an older text of this one, raises RulesError.
    RulesError when the file is not a contract.
    """
    from ratecard.compile import compile_rules

    path = Path(path)
    source = SourceFile(str(path), read_rules_text(path))
    rules, diagnostics = analyze(source)
    if rules is None or any(d.is_error for d in diagnostics):
        raise RulesError(diagnostics)
    if not is_contract(rules):
        raise RulesError([error(
            "E712", "not a contract", _start(source), "this is a rules file",
            'a contract starts with `contract NAME extends "sheet.rules"`')])
    contracted = loads(source.text, source.name)
    if book is not None:
        sheet, _ = _extended(rules, path.parent)
        assert sheet is not None
        extended = compile_rules(sheet)
        if _plain(extended) != _plain(book):
            header = contract_parts(rules).header
            raise RulesError([error(
                "E711", f"contract `{header.name.value}` extends another sheet",
                header.extends.span,
                f"`{header.extends.value}` is rules `{extended.name}`, not the sheet given"
                + (f" (rules `{book.name}`)" if book.name != extended.name else
                   " (its prices differ)"),
                "bill the contract with the rules file it extends, or point `extends` at "
                "this one")])
    return contracted


def _plain(book: PriceBook) -> tuple[object, ...]:
    """What identifies a sheet's prices: every version's book, without warnings."""
    return tuple(
        (segment.start, segment.keep_before, segment.keep_until)
        for segment in book.timeline
    ) + tuple(attrs.evolve(b, timeline=()) for b in book.books)


def _start(source: SourceFile) -> Span:
    return source.span(0, 0)


def read_rules_text(path: Path) -> str:
    """A rules file's text: UTF-8, with a leading BOM dropped and line breaks kept."""
    data = path.read_bytes()
    return data.decode("utf-8-sig")


# `PriceBook.with_contract` compiles contracts with `load_contract` (see engine.contracts).
contracts.install(load_contract)
