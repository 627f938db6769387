"""docs/language.md covers the whole language: every keyword of the grammar appears in it."""

from __future__ import annotations

from pathlib import Path

from lark.lexer import PatternStr

from ratecard.check import BLOCK_ROUNDINGS, DEDUCT_SOURCES, LADDER_PERIODS, PACK_ORDERS
from ratecard.engine.ladders import BASES, MODES
from ratecard.engine.money import ROUNDING_MODES
from ratecard.parser import lark_parser

DOC = (Path(__file__).resolve().parents[1] / "docs" / "language.md").read_text(encoding="utf-8")


def test_every_keyword_is_documented() -> None:
    keywords = {
        t.pattern.value
        for t in lark_parser().terminals
        if isinstance(t.pattern, PatternStr) and t.pattern.value.isalpha()
    }
    missing = {k for k in keywords if k not in DOC}
    assert keywords and missing == set()


def test_every_choice_word_is_documented() -> None:
    words = [*MODES, *BASES, *LADDER_PERIODS, *ROUNDING_MODES, *DEDUCT_SOURCES, *PACK_ORDERS,
             *BLOCK_ROUNDINGS]
    assert [w for w in words if f"`{w}`" not in DOC and w not in DOC] == []
