"""Diagnostic rendering: carets under the exact token, CJK widths, help, ordering, count line."""

from __future__ import annotations

import pytest

from ratecard.api import analyze
from ratecard.diagnostics import error, render, render_all, summary, warning
from ratecard.source import SourceFile

HEADER = 'rules t "测试" / "Test"\ncurrency CNY, rounding half_up 0.01, timezone Asia/Shanghai\n'


def test_caret_under_token_after_wide_characters() -> None:
    text = HEADER + (
        'meter a "人体检测" / "A" counts A1\n'
        "ladder volume by postpaid per month on b {\n(0, ∞) 1\n}\n"
    )
    source = SourceFile("t.rules", text)
    _, diagnostics = analyze(source)
    unknown = next(d for d in diagnostics if d.code == "E203")
    assert render(unknown, source) == "\n".join([
        "error[E203]: unknown meter `b`",
        " --> t.rules:4:40",
        "  |",
        "4 | ladder volume by postpaid per month on b {",
        "  |                                        ^ not a meter of these rules",
        "  |",
        '  = help: declare it with `meter b "名称" / "Name" counts ...`',
    ])
    # The caret accounts for double-width characters before the token.
    source = SourceFile("w.rules", 'meter 甲 "人体" counts X\n')
    rendered = render(error("E999", "m", source.span(8, 12), "here"), source)
    assert rendered.splitlines()[3] == "1 | meter 甲 \"人体\" counts X"
    assert rendered.splitlines()[4] == "  |          ^^^^^^ here"


def test_render_all_sorts_and_counts() -> None:
    source = SourceFile("f.rules", "a\nb\n")
    later = warning("W001", "later", source.span(2, 3), "", "h")
    earlier = error("E001", "earlier", source.span(0, 1), "", "h")
    text = render_all([later, earlier], {"f.rules": source})
    assert text.index("earlier") < text.index("later")
    assert text.endswith("\n\n1 error, 1 warning")
    assert summary([]) == "no problems"


def test_every_problem_in_one_run() -> None:
    text = HEADER + (
        'meter a "甲" / "A" counts A1\n'
        'meter a "甲" / "A" counts A2\n'
        'ladder volum by postpaid per month on a, zz {\n(0, 10] 1\n(20, ∞) -1\n}\n'
    )
    _, diagnostics = analyze(SourceFile("t.rules", text))
    assert [d.code for d in diagnostics] == ["E201", "E401", "E203", "E406", "E302"]


# --- syntax errors read as advice (issue 13, item 29) --------------------------------------------

METER = 'meter calls "调用" / "Calls" counts Call\n'


def _syntax(body: str) -> tuple[str, str, str, str, int, int]:
    """The one syntax diagnostic of HEADER + METER + body: code, message, label, help, line
    (counted from the body's first line) and column."""
    _, diagnostics = analyze(SourceFile("t.rules", HEADER + METER + body))
    (d,) = diagnostics
    return d.code, d.message, d.label, d.help, d.span.line - 3, d.span.column


def _ladder(line: str) -> str:
    return f"ladder volume by postpaid per month on calls {{\n  (0, 10]  1\n  {line}\n}}\n"


@pytest.mark.parametrize(("body", "expected"), [
    # A slash where `per` is meant, wherever `per` may come.
    ("allowance 1000/month on calls\n",
     ("E001", "unexpected `/`", "expected `per`", "write `per` instead of `/`: `1000 per month`",
      1, 15)),
    ("allowance 1万/day on calls\n",
     ("E001", "unexpected `/`", "expected `per`", "write `per` instead of `/`: `1万 per day`",
      1, 13)),
    ("bill /month\n",
     ("E001", "unexpected `/`", "expected `per`", "write `per` instead of `/`: `bill per month`",
      1, 6)),
    (_ladder("(10, ∞) 2/1000"),
     ("E001", "unexpected `/`", "expected `per`", "write `per` instead of `/`: `2 per 1000`",
      3, 12)),
    # A period without `per`.
    ("bill monthly\n", ("E001", "unexpected `monthly`", "expected `per`", "write `per month`",
                        1, 6)),
    ("allowance 10 daily on calls\n",
     ("E001", "unexpected `daily`", "expected `per`", "write `per day`", 1, 14)),
    # A fraction where a number is expected.
    ("meter h \"时\" / \"H\" counts H quantity rounded up to 1/60\n",
     ("E001", "unexpected `/`", "a quantity is rounded to a number, not a fraction",
      "round to a power of ten (`to 1`, `to 0.001`); to price per 60 units, write `per 60` "
      "after the ladder's price (`0.50 per 60`)", 1, 52)),
    ("packs valid 1/2 year {\n  size 1万\n  calls 18\n}\n",
     ("E001", "unexpected `/`", "a number here is not a fraction",
      "write it as a decimal (`0.5`, not `1/2`)", 1, 14)),
    # A scale with no number before it, as a character or a word.
    (_ladder("(10, ∞) 2.5 per 万"),
     ("E003", "unexpected character `万`", "a scale needs a number before it", "write `1万`",
      3, 19)),
    (_ladder("(10, ∞) 2.5 per k"),
     ("E001", "unexpected `k`", "a scale needs a number before it", "write `1k`", 3, 19)),
    ("allowance 亿 per month on calls\n",
     ("E003", "unexpected character `亿`", "a scale needs a number before it", "write `1亿`",
      1, 11)),
    # A bracket line without its `(`: the caret on that line, not the one above.
    (_ladder("10, ∞) 0.5"),
     ("E001", "unexpected `10`", "a bracket starts with `(`",
      "write the bracket as `(10, ∞) 0.5`", 3, 3)),
    (_ladder("10-20 0.5"),
     ("E001", "unexpected `10`", "a bracket starts with `(`",
      "write the bracket as `(lo, hi] price`", 3, 3)),
    # ... but a bracket without its price is reported after the line that lacks it.
    ("ladder volume by postpaid per month on calls {\n  (0, 10]\n  (10, ∞) 1\n}\n",
     ("E001", "expected `contact sales` or a number, found `(`",
      "expected `contact sales` or a number after this", "write `contact sales` or a number here",
      2, 10)),
    # Look-alike characters get the ASCII one.
    ("packs valid 1 year {\n  size 1万 10万\n  calls 18 —\n}\n",
     ("E003", "unexpected character `—`", "an em dash", "write the ASCII `-` instead", 3, 12)),
    (_ladder("(10, ∞) −0.5"),
     ("E003", "unexpected character `−`", "a minus sign", "write the ASCII `-` instead", 3, 11)),
    ("packs valid １ year {\n  size 1万\n  calls 18\n}\n",
     ("E003", "unexpected character `１`", "a full-width digit", "write the ASCII `1` instead",
      1, 13)),
    ("allowance 1000\u00a0per month on calls\n",
     ("E003", "unexpected character `'\\xa0'`", "a non-breaking space",
      "write a plain space instead", 1, 15)),
    # A currency or unit written with a price.
    (_ladder("(10, ∞) ¥0.5"),
     ("E003", "unexpected character `¥`", "a currency sign",
      "remove it: every price is in the sheet's `currency`", 3, 11)),
    (_ladder("(10, ∞) 0.5 per 1000 calls"),
     ("E001", "unexpected `calls`", "a price is a plain number",
      "remove `calls`: prices are in the sheet's `currency`, per the meter's `unit`", 3, 24)),
])
def test_common_syntax_mistakes_get_advice(
    body: str, expected: tuple[str, str, str, str, int, int]
) -> None:
    assert _syntax(body) == expected


@pytest.mark.parametrize(("body", "label"), [
    # After a number the LALR state's lookahead set is every context's (`}`, `(`, `+`, `]`):
    # the label lists only what can follow here.
    ("allowance 1000 month on calls\n", "expected `per`"),
    ("allowance 1000 per month on calls shared while meter\n", "expected `active`"),
    ("meter h \"时\" / \"H\" counts H quantity rounded up to 1 by\n",
     "expected `above`, `alert`, `allowance`, `amount`, `bill`, `counts`, ..."),
    ("ladder volume by postpaid per month on calls {\n  (0, 10 1\n}\n", "expected `]` or `)`"),
    ("packs valid 1 year {\n  size 1万\n  calls 18 ,\n}\n",
     "expected `}`, `-`, `contact sales`, `size`, a name or a number"),
    ("packs valid 1 year {\n  size 1万\n  calls 18\n  more x\n}\n",
     "expected `-`, `contact sales` or a number"),
])
def test_expected_tokens_are_those_possible_in_context(body: str, label: str) -> None:
    assert _syntax(body)[2] == label


def test_a_misspelt_keyword_after_a_price_is_suggested() -> None:
    """`flt` after a price is a misspelt `flat`, not a unit: the help says so."""
    assert _syntax(_ladder("(10, ∞) 0.5 + 1 flt"))[3] == "did you mean `flat`?"
