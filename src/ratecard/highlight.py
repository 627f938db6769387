"""Syntax highlighting of rules files for Pygments (and so for Sphinx, MkDocs, GitLab, ...).

Installed as the Pygments plugin `ratecard` (aliases `ratecard`, `rules`; files `*.rules`):

    pygmentize -l ratecard rules/tencent-bda.rules
    pygmentize -f html -O full -o bda.html rules/tencent-bda.rules

Statement keywords (`rules`, `meter`, `ladder`, ...) are declarations, clause keywords
(`counts`, `per`, `by`, ...) keywords, and the words the checker knows (`volume`, `postpaid`,
`half_up`, `expiry`, ...) builtins. Numbers keep their suffix in one token (`300万`, `1.5k`);
a malformed number (`1万次`) and any character the language does not have is an `Error` token,
so an editor shows it before `ratecard check` does.

Pygments is an optional dependency (`pip install 'ratecard[highlight]'`); nothing else in
ratecard imports this module.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pygments.lexer import RegexLexer, default, words
from pygments.token import (
    Comment,
    Error,
    Keyword,
    Literal,
    Name,
    Number,
    Operator,
    Punctuation,
    String,
    Whitespace,
)

# The grammar's keywords (tests/test_highlight.py keeps these lists complete): those that start
# a statement or a setting, and those inside one.
STATEMENT_KEYWORDS = (
    "rules", "currency", "rounding", "timezone", "languages", "meter", "unpriced", "allowance",
    "packs", "ladder", "price", "deduct", "alert", "bill", "suspend", "contract", "accounts",
    "discount", "order", "subscription", "fee", "grant", "credit", "request", "prices",
    "modifier", "above",
)
CLAUSE_KEYWORDS = (
    "counts", "free", "unit", "quantity", "rounded", "to", "shared", "combined", "block", "of",
    "prorated", "at", "charge", "zero", "every", "except", "per", "on", "while", "active",
    "valid", "no",
    "size", "by", "flat", "contact", "sales", "minimum", "maximum", "issued", "day", "settle",
    "from", "balance", "for", "until", "keep", "opened", "before", "extends", "extra", "spend",
    "skip", "empty",
    "refundable", "within", "if", "unused", "stop", "when", "then", "covers", "one", "once",
    "prepaid", "into", "property", "default", "and", "unless", "least", "in", "amount",
)
# Names the checker gives a meaning to: ladder modes and bases, periods, rounding modes, pack
# options and orders, deduction sources, alert words, suspension reasons, languages.
CHOICE_WORDS = (
    "volume", "graduated", "postpaid", "total", "after_allowance", "month", "months", "year",
    "years", "days", "half_up", "half_even", "half_down", "up", "down", "ceiling", "floor",
    "exact", "line", "refund", "freeze", "expiry", "purchase", "pack", "remaining", "below",
    "exhausted", "expired", "arrears", "violation", "zh", "en", "smallest", "subscriptions",
    "second", "minute", "hour", "bool", "true", "false",
)

_WORD_START = r"(?<![\w])"
_WORD_END = r"(?![\w])"
_SUFFIX = r"[kKMB千万亿]"
_DIGITS = r"[0-9]+(?:_[0-9]+)*"
_SPACE = r"[ \t\f\r\n\u3000\ufeff]+"
_ZONE = r"[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*"

TokenRule = tuple[Any, ...] | default


class RatecardLexer(RegexLexer):
    """Pygments lexer for ratecard rules files (`*.rules`)."""

    name = "Ratecard"
    aliases: ClassVar[list[str]] = ["ratecard", "rules"]
    filenames: ClassVar[list[str]] = ["*.rules"]
    mimetypes: ClassVar[list[str]] = ["text/x-ratecard"]

    tokens: ClassVar[dict[str, list[TokenRule]]] = {
        "root": [
            (_SPACE, Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r'"', String.Double, "string"),
            (words(("timezone",), prefix=_WORD_START, suffix=_WORD_END), Keyword.Declaration,
             "zone"),
            (r"[0-9]{4}-[0-9]{2}-[0-9]{2}(?![\w-])", Literal.Date),
            (rf"{_DIGITS}(?:\.{_DIGITS})?%", Number),
            (rf"-?{_DIGITS}\.{_DIGITS}{_SUFFIX}?{_WORD_END}(?!\.)", Number.Float),
            (rf"-?{_DIGITS}{_SUFFIX}?{_WORD_END}(?!\.)", Number.Integer),
            (r"-?[0-9][\w.]*", Error),  # a malformed number: `1万次`, `0.0.2`
            (r"∞", Keyword.Constant),
            (words(("inf",), prefix=_WORD_START, suffix=_WORD_END), Keyword.Constant),
            (words(STATEMENT_KEYWORDS, prefix=_WORD_START, suffix=_WORD_END),
             Keyword.Declaration),
            (words(CLAUSE_KEYWORDS, prefix=_WORD_START, suffix=_WORD_END), Keyword),
            (words(CHOICE_WORDS, prefix=_WORD_START, suffix=_WORD_END), Name.Builtin),
            (r"[A-Za-z_][A-Za-z0-9_]*", Name),
            (r"[{}()\[\],]", Punctuation),
            (r"[/+\-=×*>≥]", Operator),
        ],
        "zone": [
            (_SPACE, Whitespace),
            (r"#[^\n]*", Comment.Single),
            (_ZONE, Name.Constant, "#pop"),
            default("#pop"),
        ],
        "string": [
            (r'\\.', String.Escape),
            (r'[^"\\\n]+', String.Double),
            (r'"', String.Double, "#pop"),
            default("#pop"),  # a string that does not close on its line
        ],
    }

    def __init__(self, **options: Any) -> None:
        # Keep leading and trailing blank lines, so that highlighted lines keep their numbers.
        options.setdefault("stripnl", False)
        super().__init__(**options)

