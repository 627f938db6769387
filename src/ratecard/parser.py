"""The one Lark parser of the language, built once, and syntax errors as diagnostics."""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
from importlib import resources
from pathlib import Path
from typing import Any

import lark
from lark.lexer import PatternStr

from ratecard.diagnostics import Diagnostic, did_you_mean, error
from ratecard.source import SourceFile

_GRAMMAR_NAME = "ratecard.lark"

# What a person reads for the terminals that are not keywords or punctuation.
_TERMINAL_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number",
    "PERCENT": "a percentage such as `15%`",
    "STRING": 'a quoted name such as `"人体检测"`',
    "ZONE": "a timezone such as `Asia/Shanghai`",
    "INFINITY": "`∞`",
    "$END": "end of file",
}


def grammar_text() -> str:
    """The grammar: shipped inside the package, or read from the source tree's `grammar/`."""
    shipped = resources.files("ratecard").joinpath("grammar").joinpath(_GRAMMAR_NAME)
    if shipped.is_file():
        return shipped.read_text(encoding="utf-8")
    tree = Path(__file__).resolve().parents[2] / "grammar" / _GRAMMAR_NAME
    return tree.read_text(encoding="utf-8")


@functools.cache
def lark_parser() -> lark.Lark:
    """The language's LALR parser, with positions, built once per process.

    Building the LALR tables takes longer than checking a whole sheet, so the built parser is
    cached on disk (keyed by the grammar and Lark's version) for the next process.
    """
    text = grammar_text()
    options: dict[str, Any] = {
        "parser": "lalr",
        "lexer": "contextual",
        "propagate_positions": True,
        "maybe_placeholders": True,
    }
    cache = _cache_file(text)
    if cache is not None:
        try:
            return lark.Lark(text, cache=str(cache), **options)
        except (OSError, EOFError, pickle.UnpicklingError):
            cache.unlink(missing_ok=True)  # a stale or truncated cache: rebuild without it
    return lark.Lark(text, **options)


def _cache_file(text: str) -> Path | None:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    key = hashlib.sha256(f"{lark.__version__}\n{text}".encode()).hexdigest()[:20]
    folder = Path(base) / "ratecard"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder / f"grammar-{key}.lark-cache" if os.access(folder, os.W_OK) else None


@functools.cache
def _terminal_names() -> dict[str, str]:
    names = dict(_TERMINAL_WORDS)
    for terminal in lark_parser().terminals:
        if terminal.name not in names and isinstance(terminal.pattern, PatternStr):
            names[terminal.name] = f"`{terminal.pattern.value}`"
    names["OPEN"] = "`(`"
    names["CLOSE"] = "`]` or `)`"
    return names


def describe_terminal(name: str) -> str:
    """A terminal's name as a person reads it: `COMMA` → `,`, `$END` → end of file."""
    return _terminal_names().get(name, name.lower())


def _expected(names: set[str]) -> str:
    # Closers first: at the end of a block, `}` is what is most likely missing.
    words = sorted({describe_terminal(n) for n in names}, key=lambda w: (w != "`}`", w))
    if len(words) > 6:
        return ", ".join(words[:6]) + ", ..."
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _code_end_before(text: str, offset: int) -> int:
    """The end offset of the last token before `offset`, skipping whitespace and comments."""
    line_start = text.rfind("\n", 0, offset) + 1
    end = offset
    while True:
        code = _strip_comment(text[line_start:end]).rstrip()
        if code:
            return line_start + len(code)
        if line_start == 0:
            return 0
        end = line_start - 1
        line_start = text.rfind("\n", 0, end) + 1


def _strip_comment(line: str) -> str:
    in_string = False
    escaped = False
    for i, ch in enumerate(line):
        if escaped:
            escaped = False
        elif ch == "\\" and in_string:
            escaped = True
        elif ch == '"':
            in_string = not in_string
        elif ch == "#" and not in_string:
            return line[:i]
    return line


def parse(source: SourceFile) -> lark.Tree | Diagnostic:  # type: ignore[type-arg]
    """The parse tree of a rules file, or the diagnostic for its first syntax error."""
    try:
        return lark_parser().parse(source.text)
    except lark.UnexpectedCharacters as exc:
        return _unexpected_character(source, exc)
    except lark.UnexpectedToken as exc:
        return _unexpected_token(source, exc)
    except lark.UnexpectedEOF as exc:  # not raised by LALR, kept for safety of the contract
        at = _code_end_before(source.text, len(source.text))
        return error("E002", "unexpected end of file", source.span(at, at),
                     f"expected {_expected(set(exc.expected))} after this")


_FULL_WIDTH = {"，": ",", "（": "(", "）": ")", "【": "[", "】": "]", "“": '"', "”": '"', "：": ":",
               "｛": "{", "｝": "}", "＋": "+", "－": "-", "％": "%"}


def _unexpected_character(source: SourceFile, exc: lark.UnexpectedCharacters) -> Diagnostic:
    at = exc.pos_in_stream or 0
    ch = source.text[at]
    span = source.span(at, at + 1)
    if ch == '"':
        return error("E004", "unterminated string", span, "this quote is never closed",
                     'close the string on the same line: `"人体检测"`')
    if ch in _FULL_WIDTH:
        return error("E003", f"unexpected character `{ch}`", span, "full-width punctuation",
                     f"write the ASCII `{_FULL_WIDTH[ch]}` instead")
    allowed = exc.allowed or set()
    label = f"expected {_expected(set(allowed))}" if allowed else "not part of the language"
    shown = ch if ch.isprintable() else repr(ch)
    return error("E003", f"unexpected character `{shown}`", span, label,
                 "remove it, or put text in double quotes or after `#` as a comment")


def _unexpected_token(source: SourceFile, exc: lark.UnexpectedToken) -> Diagnostic:
    token = exc.token
    expected = set(exc.expected) - {"COMMENT", "WHITESPACE"}
    if token.type == "$END":
        at = _code_end_before(source.text, len(source.text))
        return error("E002", "unexpected end of file", source.span(at, at),
                     f"expected {_expected(expected)} after this",
                     _end_help(expected))
    start = token.start_pos if token.start_pos is not None else 0
    end = token.end_pos if token.end_pos is not None else start + len(str(token))
    help_text = ""
    if token.type in ("NAME", "ZONE"):
        keywords = [describe_terminal(n).strip("`") for n in expected
                    if describe_terminal(n).startswith("`")]
        help_text = did_you_mean(str(token), keywords)
    if not help_text:
        help_text = f"write {_expected(expected)} here"
    prev_end = _code_end_before(source.text, start)
    if source.position(prev_end)[0] < source.position(start)[0]:
        # Lark reports a missing token at the next one; when that is on a later line, the
        # missing token belongs right after the previous one: point there.
        return error("E001", f"expected {_expected(expected)}, found `{token}`",
                     source.span(prev_end, prev_end), f"expected {_expected(expected)} after this",
                     help_text)
    return error("E001", f"unexpected `{token}`", source.span(start, end),
                 f"expected {_expected(expected)}", help_text)


def _end_help(expected: set[str]) -> str:
    if "RBRACE" in expected:
        return "close the block with `}`"
    return f"the statement is incomplete: add {_expected(expected)}"
