"""The Pygments lexer: found by name and file name, lossless, every keyword a keyword."""

from __future__ import annotations

from pathlib import Path

import pytest
from lark.lexer import PatternStr
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.token import Comment, Error, Keyword, Name, Number, Punctuation, String, Token

from ratecard.highlight import CHOICE_WORDS, RatecardLexer
from ratecard.parser import lark_parser
from tests.conftest import ROOT

SHEETS = sorted([
    *(ROOT / "rules").glob("*.rules"),
    *(ROOT / "tests" / "cases" / "valid").glob("*.rules"),
    *(ROOT / "tests" / "conformance").glob("*.rules"),
])
KEYWORDS = sorted(
    t.pattern.value
    for t in lark_parser().terminals
    if isinstance(t.pattern, PatternStr) and t.pattern.value.isalpha()
)


def lex(text: str) -> list[tuple[object, str]]:
    return [(kind, value) for kind, value in RatecardLexer().get_tokens(text) if value.strip()]


def test_pygments_finds_the_lexer_by_name_and_file_name() -> None:
    """Through the `pygments.lexers` entry point of the installed package."""
    for alias in ("ratecard", "rules"):
        assert isinstance(get_lexer_by_name(alias), RatecardLexer)
    assert isinstance(get_lexer_for_filename("x.rules"), RatecardLexer)
    assert isinstance(get_lexer_for_filename("rules/tencent-bda.rules"), RatecardLexer)


@pytest.mark.parametrize("path", SHEETS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_sheets_lex_without_errors_and_round_trip(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    tokens = list(RatecardLexer().get_tokens(text))
    assert [value for kind, value in tokens if kind in Error] == []
    assert "".join(value for _, value in tokens) == text


def test_every_keyword_of_the_grammar_is_a_keyword() -> None:
    assert len(KEYWORDS) > 40
    for word in KEYWORDS:
        [(kind, value)] = lex(word)
        assert value == word and kind in Keyword, (word, kind)


def test_choice_words_are_builtins_and_other_names_are_names() -> None:
    for word in CHOICE_WORDS:
        assert lex(word) == [(Name.Builtin, word)]
    assert lex("DetectBody detection_2") == [(Name, "DetectBody"), (Name, "detection_2")]


def test_a_bda_ladder() -> None:
    text = (
        "# 后付费\n"
        "ladder volume by postpaid per month on detection, search {\n"
        "  (300万, 1500万]  0.0018 + 10 flat\n"
        "  [1.5k, inf)  contact sales\n"
        "}\n"
        'timezone Asia/Shanghai  meter a "人体\\"检测" / "x"\n'
        "alert pack remaining below 15%\n"
    )
    assert lex(text) == [
        (Comment.Single, "# 后付费"),
        (Keyword.Declaration, "ladder"), (Name.Builtin, "volume"), (Keyword, "by"),
        (Name.Builtin, "postpaid"), (Keyword, "per"), (Name.Builtin, "month"), (Keyword, "on"),
        (Name, "detection"), (Punctuation, ","), (Name, "search"), (Punctuation, "{"),
        (Punctuation, "("), (Number.Integer, "300万"), (Punctuation, ","),
        (Number.Integer, "1500万"), (Punctuation, "]"), (Number.Float, "0.0018"),
        (Token.Operator, "+"), (Number.Integer, "10"), (Keyword, "flat"),
        (Punctuation, "["), (Number.Float, "1.5k"), (Punctuation, ","),
        (Keyword.Constant, "inf"), (Punctuation, ")"), (Keyword, "contact"), (Keyword, "sales"),
        (Punctuation, "}"),
        (Keyword.Declaration, "timezone"), (Name.Constant, "Asia/Shanghai"),
        (Keyword.Declaration, "meter"), (Name, "a"), (String.Double, '"'),
        (String.Double, "人体"), (String.Escape, '\\"'), (String.Double, "检测"),
        (String.Double, '"'), (Token.Operator, "/"), (String.Double, '"'),
        (String.Double, "x"), (String.Double, '"'),
        (Keyword.Declaration, "alert"), (Name.Builtin, "pack"), (Name.Builtin, "remaining"),
        (Name.Builtin, "below"), (Number, "15%"),
    ]


def test_mistakes_are_errors() -> None:
    assert (Error, "1万次") in lex("(0, 1万次] 0.0.2")
    assert (Error, "0.0.2") in lex("(0, 1万次] 0.0.2")
    assert (Error, "，") in lex("counts A， B")
    unterminated = list(RatecardLexer().get_tokens('meter a "open\nmeter b "B"\n'))
    assert (Keyword.Declaration, "meter") in unterminated[5:]  # the next line lexes normally


def test_leading_blank_lines_are_kept() -> None:
    text = "\n\nrules x \"X\"\n"
    assert "".join(value for _, value in RatecardLexer().get_tokens(text)) == text


def test_html_highlighting() -> None:
    html = highlight('meter a "A" counts A1  # note\n', RatecardLexer(), HtmlFormatter())
    assert '<span class="kd">meter</span>' in html
    assert '<span class="c1"># note</span>' in html
