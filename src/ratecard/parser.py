"""The one Lark parser of the language, built once, and syntax errors as diagnostics."""

from __future__ import annotations

import functools
import hashlib
import os
import pickle
import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

import lark
from lark.lexer import PatternStr

from ratecard.diagnostics import Diagnostic, did_you_mean, error
from ratecard.source import SourceFile, Span

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
    names["CONTACT"] = "`contact sales`"
    names["CLOSE"] = "`]` or `)`"
    return names


def describe_terminal(name: str) -> str:
    """A terminal's name as a person reads it: `COMMA` → `,`, `$END` → end of file."""
    return _terminal_names().get(name, name.lower())


# Statements of contract files (and `extra allowance`): named in an "expected ..." list only
# when nothing else fits, so that a rules file's mistakes list the rules file's own words.
_CONTRACT_WORDS = frozenset({"ACCOUNTS", "CONTRACT", "DISCOUNT", "EXTRA"})


def _expected(names: set[str]) -> str:
    if names - _CONTRACT_WORDS:
        names = names - _CONTRACT_WORDS
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


# --- what can follow, here ---------------------------------------------------------------------

def _accepted(exc: lark.UnexpectedInput, fallback: set[str]) -> set[str]:
    """The terminals the parser accepts where it stopped, in this context.

    Lark's `expected` is the lookahead set of the LALR state, which merges every context that
    reaches it: after the number of `allowance 1000` it lists `}`, `(`, `+` and `]` because a
    number ends a bracket or a price elsewhere. Feeding each candidate to a copy of the parser
    keeps only those that can really come next (`per`)."""
    interactive = getattr(exc, "interactive_parser", None)
    if interactive is None:
        return fallback - _IGNORED
    try:
        return set(interactive.accepts()) - _IGNORED
    except lark.LarkError:  # pragma: no cover - a parser copy that cannot be fed
        return fallback - _IGNORED


_IGNORED = {"COMMENT", "WHITESPACE"}


def _recent(exc: lark.UnexpectedInput) -> tuple[str, ...]:
    """What the parser holds of the current statement, as terminal or rule names, oldest
    first: `(..., "QUANTITY", "ROUNDED", "NAME", "TO", "NUMBER")`."""
    interactive = getattr(exc, "interactive_parser", None)
    if interactive is None:
        return ()
    return tuple(
        value.type if isinstance(value, lark.Token) else str(getattr(value, "data", ""))
        for value in interactive.parser_state.value_stack
    )


class _Found(NamedTuple):
    """A syntax error's context: what was found where, and what the parser accepts there."""

    source: SourceFile
    start: int
    end: int
    text: str  # the token, or the one unexpected character
    kind: str  # its terminal, or "" for a character no terminal matches
    accepts: set[str]
    recent: tuple[str, ...]

    @property
    def span(self) -> Span:
        return self.source.span(self.start, self.end)

    @property
    def shown(self) -> str:
        return self.text if self.text.isprintable() else repr(self.text)

    @property
    def message(self) -> str:
        code = "character " if not self.kind else ""
        return f"unexpected {code}`{self.shown}`"

    @property
    def code(self) -> str:
        return "E001" if self.kind else "E003"

    def word_before(self) -> str:
        """The word or number just before what was found (on its line)."""
        line_start = self.source.text.rfind("\n", 0, self.start) + 1
        match = re.search(r"(\S+)\s*$", self.source.text[line_start:self.start])
        return match.group(1) if match else ""

    def word_after(self) -> str:
        """The word or number just after what was found (on its line)."""
        match = re.match(r"[ \t]*([^\s#]+)", self.source.text[self.end:])
        return match.group(1) if match else ""

    def line_code(self) -> str:
        """The code of the found text's line, from it to a comment."""
        line_end = self.source.text.find("\n", self.start)
        line_end = len(self.source.text) if line_end < 0 else line_end
        return _strip_comment(self.source.text[self.start:line_end]).strip()

    def first_on_line(self) -> bool:
        line_start = self.source.text.rfind("\n", 0, self.start) + 1
        return not self.source.text[line_start:self.start].strip()


# --- common mistakes: each a tailored diagnostic, or None where it does not apply --------------

def _slash_for_per(found: _Found) -> Diagnostic | None:
    """`allowance 1000/month`, `0.10/1000`: a slash where `per` is what the language says."""
    if found.text != "/" or "PER" not in found.accepts:
        return None
    example = f"{found.word_before()} per {found.word_after()}".strip()
    return error(found.code, found.message, found.span, "expected `per`",
                 f"write `per` instead of `/`: `{example}`")


def _fraction(found: _Found) -> Diagnostic | None:
    """`quantity rounded up to 1/3600`, `size 1/2`: a fraction where a number is expected."""
    if found.text != "/" or not found.recent or found.recent[-1] not in _NUMBERS:
        return None
    if found.recent[-2:-1] == ("TO",) and "QUANTITY" in found.recent[-5:]:
        per = found.word_after() or "N"
        return error(found.code, found.message, found.span,
                     "a quantity is rounded to a number, not a fraction",
                     "round to a power of ten (`to 1`, `to 0.001`); to price per "
                     f"{per} units, write `per {per}` after the ladder's price "
                     f"(`0.50 per {per}`)")
    return error(found.code, found.message, found.span, "a number here is not a fraction",
                 "write it as a decimal (`0.5`, not `1/2`)")


_NUMBERS = ("NUMBER", "number")
# A word: the contextual lexer matches identifiers as NAME or ZONE, by the state.
_WORDS = ("NAME", "ZONE")
_SCALES = ("千", "万", "亿", "k", "K", "M", "B")


def _scale_without_number(found: _Found) -> Diagnostic | None:
    """`2.5 per 万`: a scale suffix with no number before it."""
    if (found.text not in _SCALES or "NUMBER" not in found.accepts
            or found.kind not in ("", *_WORDS)):
        return None
    return error(found.code, found.message, found.span, "a scale needs a number before it",
                 f"write `1{found.text}`")


_PERIODS = {"monthly": "month", "daily": "day", "yearly": "year", "annually": "year",
            "month": "month", "day": "day", "year": "year"}


def _adverb_for_period(found: _Found) -> Diagnostic | None:
    """`allowance 1000 monthly`, `allowance 1000 month`: a period without `per`."""
    period = _PERIODS.get(found.text.lower())
    if found.kind not in _WORDS or period is None or "PER" not in found.accepts:
        return None
    return error(found.code, found.message, found.span, "expected `per`",
                 f"write `per {period}`")


def _bracket_without_open(found: _Found) -> Diagnostic | None:
    """`  100, ∞) 0.001` in a ladder: a bracket line that does not start with `(`."""
    if "OPEN" not in found.accepts or found.kind not in ("NUMBER", "INFINITY", "COMMA"):
        return None
    code = " ".join(found.line_code().split())
    fixed = f"`({code}`" if re.fullmatch(r"[^,]*,[^\])]*[\])].*", code) else "`(lo, hi] price`"
    return error(found.code, found.message, found.span, "a bracket starts with `(`",
                 f"write the bracket as {fixed}")


_CURRENCY_SIGNS = "¥￥$€£"


def _currency_sign(found: _Found) -> Diagnostic | None:
    """`(0, ∞) ¥0.002`: a currency sign before a price."""
    if found.kind or found.text not in _CURRENCY_SIGNS or "NUMBER" not in found.accepts:
        return None
    return error("E003", found.message, found.span, "a currency sign",
                 "remove it: every price is in the sheet's `currency`")


def _unit_after_price(found: _Found) -> Diagnostic | None:
    """`(0, ∞) 0.002 元`, `0.001 per 1000 units`: a currency or unit written after a price."""
    if (found.kind not in ("", *_WORDS) or "OPEN" not in found.accepts
            or "CLOSE" not in found.recent[-8:] or found.first_on_line()):
        return None
    keywords = [describe_terminal(n).strip("`") for n in found.accepts
                if describe_terminal(n).startswith("`")]
    if found.kind and did_you_mean(found.text, keywords):
        return None  # a misspelt keyword (`flt`): the general message suggests it
    return error(found.code, found.message, found.span, "a price is a plain number",
                 f"remove `{found.shown}`: prices are in the sheet's `currency`, per the "
                 "meter's `unit`")


# Characters that look like the language's: what to write instead, and what they are.
_LOOK_ALIKES = {
    **{ch: (ascii_, "full-width punctuation") for ch, ascii_ in (
        ("，", ","), ("（", "("), ("）", ")"), ("【", "["), ("】", "]"), ("“", '"'), ("”", '"'),
        ("：", ":"), ("｛", "{"), ("｝", "}"), ("＋", "+"), ("－", "-"), ("％", "%"), ("．", "."),
        ("／", "/"),
    )},
    **{chr(0xFF10 + digit): (str(digit), "a full-width digit") for digit in range(10)},
    "–": ("-", "an en dash"),
    "—": ("-", "an em dash"),
    "‒": ("-", "a figure dash"),
    "―": ("-", "a horizontal bar"),
    "−": ("-", "a minus sign"),
    "‐": ("-", "a Unicode hyphen"),
    "‑": ("-", "a non-breaking hyphen"),
    "﹣": ("-", "a small hyphen-minus"),
    "‘": ('"', "a curly quote"),
    "’": ('"', "a curly quote"),
    "「": ('"', "a corner bracket"),
    "」": ('"', "a corner bracket"),
    "\u00a0": (" ", "a non-breaking space"),
    "\u2009": (" ", "a thin space"),
    "\u202f": (" ", "a narrow non-breaking space"),
}


def _look_alike(found: _Found) -> Diagnostic | None:
    """An en dash in a pack cell, a full-width comma: a character that looks like ASCII."""
    if found.kind or found.text not in _LOOK_ALIKES:
        return None
    ascii_, what = _LOOK_ALIKES[found.text]
    instead = "a plain space" if ascii_ == " " else f"the ASCII `{ascii_}`"
    return error("E003", found.message, found.span, what, f"write {instead} instead")


#: The common mistakes, tried in order before the general message.
MISTAKES: tuple[Callable[[_Found], Diagnostic | None], ...] = (
    _look_alike,
    _slash_for_per,
    _fraction,
    _scale_without_number,
    _adverb_for_period,
    _bracket_without_open,
    _currency_sign,
    _unit_after_price,
)


def _mistake(found: _Found) -> Diagnostic | None:
    for mistake in MISTAKES:
        diagnostic = mistake(found)
        if diagnostic is not None:
            return diagnostic
    return None


def _unexpected_character(source: SourceFile, exc: lark.UnexpectedCharacters) -> Diagnostic:
    at = exc.pos_in_stream or 0
    ch = source.text[at]
    span = source.span(at, at + 1)
    if ch == '"':
        return error("E004", "unterminated string", span, "this quote is never closed",
                     'close the string on the same line: `"人体检测"`')
    accepts = _accepted(exc, set(exc.allowed or ()))
    found = _Found(source, at, at + 1, ch, "", accepts, _recent(exc))
    tailored = _mistake(found)
    if tailored is not None:
        return tailored
    label = f"expected {_expected(accepts)}" if accepts else "not part of the language"
    text = "put text in double quotes or after `#` as a comment" if "STRING" in accepts else (
        "put text after `#` as a comment")
    return error("E003", found.message, span, label, f"remove it, or {text}")


def _unexpected_token(source: SourceFile, exc: lark.UnexpectedToken) -> Diagnostic:
    token = exc.token
    expected = _accepted(exc, set(exc.expected))
    if token.type == "$END":
        at = _code_end_before(source.text, len(source.text))
        return error("E002", "unexpected end of file", source.span(at, at),
                     f"expected {_expected(expected)} after this",
                     _end_help(expected))
    start = token.start_pos if token.start_pos is not None else 0
    end = token.end_pos if token.end_pos is not None else start + len(str(token))
    found = _Found(source, start, end, str(token), token.type, expected, _recent(exc))
    tailored = _mistake(found)
    if tailored is not None:
        return tailored
    help_text = ""
    if token.type in ("NAME", "ZONE"):
        keywords = [describe_terminal(n).strip("`") for n in expected
                    if describe_terminal(n).startswith("`")]
        help_text = did_you_mean(str(token), keywords)
    if not help_text:
        help_text = f"write {_expected(expected)} here"
    prev_end = _code_end_before(source.text, start)
    if (source.position(prev_end)[0] < source.position(start)[0]
            and not expected & _CAN_END):
        # Lark reports a missing token at the next one; when that is on a later line and what
        # comes before it is unfinished, the missing token belongs right after it: point there.
        # (Where a block or the file could end, the later line is the one in error.)
        return error("E001", f"expected {_expected(expected)}, found `{token}`",
                     source.span(prev_end, prev_end), f"expected {_expected(expected)} after this",
                     help_text)
    return error("E001", found.message, found.span, f"expected {_expected(expected)}", help_text)


# Where the parser accepts one of these, what came before is complete.
_CAN_END = {"RBRACE", "$END"}


def _end_help(expected: set[str]) -> str:
    if "RBRACE" in expected:
        return "close the block with `}`"
    return f"the statement is incomplete: add {_expected(expected)}"
