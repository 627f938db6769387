"""`ratecard fmt`: one canonical layout, idempotent, the same syntax tree, every comment kept."""

from __future__ import annotations

import contextlib
import io
import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lark import Token
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from ratecard.api import analyze
from ratecard.cli import main
from ratecard.diagnostics import Diagnostic
from ratecard.fmt import WIDTH, comments, display_width, format_source
from ratecard.nodes import Rules
from ratecard.parser import parse
from ratecard.source import SourceFile
from tests.conftest import BDA_RULES, ROOT
from tests.strategies import mutated, rules_statements, rules_texts

SHEETS = sorted([
    *(ROOT / "rules").glob("*.rules"),
    *(ROOT / "tests" / "cases" / "valid").glob("*.rules"),
    *(ROOT / "tests" / "conformance").glob("*.rules"),
])
COMMENT = re.compile(r'"(?:[^"\\\n]|\\.)*"|(#[^\n]*)')


class RulesSnapshot(SingleFileSnapshotExtension):
    """A snapshot stored as a real `.rules` file."""

    file_extension = "rules"
    _write_mode = WriteMode.TEXT


def fmt(text: str, name: str = "x.rules") -> str:
    result = format_source(SourceFile(name, text))
    assert isinstance(result, str), result
    return result


def tree(text: str) -> Rules:
    rules, _ = analyze(SourceFile("x.rules", text))
    assert rules is not None
    return rules


def comment_texts(text: str) -> list[str]:
    """The comments of a rules file in order, trailing whitespace dropped."""
    return [m.group(1).rstrip() for m in COMMENT.finditer(text) if m.group(1)]


def places(text: str) -> list[tuple[str, str, bool]]:
    """Each comment, the token before it (empty at the start) and whether it has a line of its
    own (else it ends a line of code)."""
    parsed = parse(SourceFile("x.rules", text))
    assert not isinstance(parsed, Diagnostic), parsed
    tokens = list(parsed.scan_values(lambda v: isinstance(v, Token)))
    return [(c.text, str(tokens[c.after]) if c.after >= 0 else "", c.own_line)
            for c in comments(text, tokens)]


def assert_canonical(text: str) -> str:
    """fmt is idempotent, keeps the syntax tree and every comment where it was (after the same
    token, at the end of a line or on a line of its own); returns fmt(text)."""
    once = fmt(text)
    assert fmt(once) == once
    assert tree(once) == tree(text)
    assert comment_texts(once) == comment_texts(text)
    assert places(once) == places(text)
    return once


# --- the shipped and golden sheets --------------------------------------------------------------

@pytest.mark.parametrize("path", SHEETS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_every_sheet_formats_idempotently_and_keeps_its_tree(path: Path) -> None:
    assert_canonical(path.read_text(encoding="utf-8"))


INVALID = sorted((ROOT / "tests" / "cases" / "invalid").glob("*.rules"))

# The syntax error fmt reports for each syntax case: (code, line, column, message).
SYNTAX_ERRORS = {
    "syntax-adverb-for-period": ("E001", 4, 16, "unexpected `monthly`"),
    "syntax-bracket-line": ("E001", 6, 3, "unexpected `100`"),
    "syntax-bracket-unclosed": ("E001", 6, 15, "unexpected `0.001`"),
    "syntax-bracket-without-price": (
        "E001", 5, 11, "expected `contact sales` or a number, found `(`"),
    "syntax-currency-sign": ("E003", 5, 11, "unexpected character `¥`"),
    "syntax-en-dash": ("E003", 6, 16, "unexpected character `–`"),
    "syntax-end-of-file": ("E002", 5, 20, "unexpected end of file"),
    "syntax-fraction-increment": ("E001", 5, 27, "unexpected `/`"),
    "syntax-missing-label": (
        "E001", 3, 16, 'expected a quoted name such as `"人体检测"`, found `counts`'),
    "syntax-missing-per": ("E001", 4, 16, "unexpected `month`"),
    "syntax-scale-without-number": ("E003", 5, 19, "unexpected character `万`"),
    "syntax-slash-for-per": ("E001", 4, 15, "unexpected `/`"),
    "syntax-slash-in-price": ("E001", 5, 15, "unexpected `/`"),
    "syntax-unexpected-token": ("E001", 3, 43, "unexpected `count`"),
    "syntax-unit-after-price": ("E003", 5, 21, "unexpected character `元`"),
    "syntax-unknown-character": ("E003", 2, 13, "unexpected character `，`"),
    "syntax-unterminated-string": ("E004", 1, 20, "unterminated string"),
}


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_cases_format_or_give_their_syntax_error(path: Path) -> None:
    """Semantic mistakes are formatted like anything else; a syntax error stops formatting, and
    it is the one `check` reports (the code marked in the case file, at its position)."""
    text = path.read_text(encoding="utf-8")
    result = format_source(SourceFile(path.name, text))
    if path.stem.startswith("syntax-"):
        assert isinstance(result, Diagnostic)
        found = (result.code, result.span.line, result.span.column, result.message)
        assert found == SYNTAX_ERRORS[path.stem]
        assert f"# error: {result.code}" in text.splitlines()[result.span.line - 1]
    else:
        assert path.stem not in SYNTAX_ERRORS
        assert_canonical(text)


def test_every_syntax_case_has_its_expected_error() -> None:
    assert sorted(SYNTAX_ERRORS) == sorted(p.stem for p in INVALID if p.stem.startswith("syntax-"))


@pytest.mark.parametrize("path", sorted((ROOT / "rules").glob("*.rules")), ids=lambda p: p.stem)
def test_shipped_sheets_are_canonical(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert fmt(text) == text


def test_formatted_bda_snapshot(snapshot: SnapshotAssertion) -> None:
    assert fmt(BDA_RULES.read_text(encoding="utf-8")) == snapshot(extension_class=RulesSnapshot)


def test_bda_squashed_onto_one_line_comes_back() -> None:
    """Without comments and blank lines, the layout depends on the tokens alone."""
    text = BDA_RULES.read_text(encoding="utf-8")
    bare = "\n".join(line for line in COMMENT.sub(
        lambda m: "" if m.group(1) else m.group(0), text).splitlines() if line.strip())
    squashed = " ".join(bare.split())
    assert fmt(squashed) == fmt(bare)
    assert fmt(squashed).count("\n") == bare.count("\n") + 1


# --- the layout, case by case -------------------------------------------------------------------

HEADER = 'rules x "X" / "X"\ncurrency CNY, rounding half_up 0.01, timezone UTC\n'


def test_meter_clauses_go_on_their_own_lines() -> None:
    text = HEADER + 'meter a  "A"/"A" unit "次"/"call"   counts A1,A2 free  A3\n'
    assert fmt(text) == HEADER + (
        'meter a "A" / "A"\n'
        '  unit "次" / "call"\n'
        "  counts A1, A2\n"
        "  free A3\n"
    )


def test_long_action_lists_wrap_under_the_first_action() -> None:
    actions = [f"Action{i:02}" for i in range(12)]
    text = HEADER + f'meter a "A" counts {", ".join(actions)}\nunpriced {", ".join(actions)}' \
        ' "本页未定价" / "not priced on this page"\n'
    assert fmt(text) == HEADER + (
        'meter a "A"\n'
        "  counts Action00, Action01, Action02, Action03, Action04, Action05, Action06,\n"
        "         Action07, Action08, Action09, Action10, Action11\n"
        "unpriced Action00, Action01, Action02, Action03, Action04, Action05, Action06,\n"
        "         Action07, Action08, Action09, Action10, Action11\n"
        '  "本页未定价" / "not priced on this page"\n'
    )
    assert all(display_width(line) <= WIDTH for line in fmt(text).split("\n"))


def test_tables_align_by_display_width() -> None:
    text = HEADER + (
        "packs valid 1 year,no refund{size 1万 10万 100万\n"
        "detection 18 190 1800\nsearch 1.5 - 2_000}\n"
        "ladder volume by postpaid per month on detection,search{(0,300万]0.002\n"
        "(300万,∞)0.0015+10 flat minimum 1 charge flat at zero}\n"
    )
    assert fmt(text) == HEADER + (
        "packs valid 1 year, no refund {\n"
        "  size       1万  10万  100万\n"
        "  detection  18   190   1800\n"
        "  search     1.5  -     2_000\n"
        "}\n"
        "ladder volume by postpaid per month on detection, search {\n"
        "  (0, 300万]  0.002\n"
        "  (300万, ∞)  0.0015 + 10 flat\n"
        "  minimum 1\n"
        "  charge flat at zero\n"
        "}\n"
    )


def test_comments_stay_with_their_items() -> None:
    text = (
        "# the sheet\n"
        "\n"
        "\n"
        "\n"
        'rules x "X"   # header\n'
        "currency CNY, rounding half_up 0.01, timezone UTC\n"
        "# a meter\n"
        'meter a "A"\n'
        "      # what it counts\n"
        "      counts A1,   # the first\n"
        "             A2    # the second\n"
        "ladder volume by total per month on a {  # prices\n"
        "      # first bracket\n"
        "  (0, 10]   1   # cheap\n"
        "  (10, ∞)  0.5\n"
        "  # closing\n"
        "}   # done\n"
        "\n"
        "# the end\n"
    )
    assert fmt(text) == (
        "# the sheet\n"
        "\n"
        'rules x "X"  # header\n'
        "currency CNY, rounding half_up 0.01, timezone UTC\n"
        "# a meter\n"
        'meter a "A"\n'
        "  # what it counts\n"
        "  counts A1,  # the first\n"
        "         A2  # the second\n"
        "ladder volume by total per month on a {  # prices\n"
        "  # first bracket\n"
        "  (0, 10]  1  # cheap\n"
        "  (10, ∞)  0.5\n"
        "  # closing\n"
        "}  # done\n"
        "\n"
        "# the end\n"
    )
    assert_canonical(text)


# Every place a comment can end a line, and what fmt makes of it: the comment stays after the
# same token at the end of a line; the item goes on below (a list of actions under its first
# action, a table row at its next cell's column, anything else four spaces further in).
M = 'meter a "A" counts A\n'
MF = 'meter a "A"\n  counts A\n'
L = "ladder volume by total per month on a {\n  (0, ∞)  1\n}\n"
H = HEADER
P = "packs valid 1 year {\n"
D = "}\ndeduct packs by expiry, postpaid\n"
LH = "ladder volume by total per month on a {\n"
S = "currency CNY, rounding half_up 0.01, timezone UTC\n"

TRAILING = [
    ("after rules NAME",
     'rules odd  # c\n  "X" / "X"\n' + S + M + L,
     'rules odd  # c\n    "X" / "X"\n' + S + MF + L),
    ("after a label's first name",
     'rules x "X"  # c\n  / "X"\n' + S + M + L,
     'rules x "X"  # c\n    / "X"\n' + S + MF + L),
    ("after the header's label",
     'rules x "X" / "X"  # c\n' + S + M + L,
     'rules x "X" / "X"  # c\n' + S + MF + L),
    ("after currency CNY,",
     'rules x "X" / "X"\ncurrency CNY,  # c\n  rounding half_up 0.01, timezone UTC\n' + M + L,
     'rules x "X" / "X"\ncurrency CNY,  # c\n    rounding half_up 0.01, timezone UTC\n' + MF + L),
    ("after rounding's mode",
     'rules x "X" / "X"\ncurrency CNY, rounding half_up  # c\n  0.01, timezone UTC\n' + M + L,
     'rules x "X" / "X"\ncurrency CNY, rounding half_up  # c\n    0.01, timezone UTC\n' + MF + L),
    ("after the settings",
     'rules x "X" / "X"\ncurrency CNY, rounding half_up 0.01, timezone UTC  # c\n' + M + L,
     'rules x "X" / "X"\ncurrency CNY, rounding half_up 0.01, timezone UTC  # c\n' + MF + L),
    ("after meter NAME",
     H + 'meter a  # c\n  "A" counts A\n' + L,
     H + 'meter a  # c\n    "A"\n  counts A\n' + L),
    ("after a meter's label",
     H + 'meter a "A"  # c\n  counts A\n' + L,
     H + 'meter a "A"  # c\n  counts A\n' + L),
    ("after counts",
     H + 'meter a "A" counts  # c\n  A, B\n' + L,
     H + 'meter a "A"\n  counts  # c\n         A, B\n' + L),
    ("after counts A",
     H + 'meter a "A" counts A  # c\n' + L,
     H + 'meter a "A"\n  counts A  # c\n' + L),
    ("between two actions",
     H + 'meter a "A" counts A,  # c\n  B\n' + L,
     H + 'meter a "A"\n  counts A,  # c\n         B\n' + L),
    ("before a comma",
     H + 'meter a "A" counts A  # c\n  , B\n' + L,
     H + 'meter a "A"\n  counts A  # c\n         , B\n' + L),
    ("after a unit's first name",
     H + 'meter a "A" unit "次"  # c\n  / "call" counts A\n' + L,
     H + 'meter a "A"\n  unit "次"  # c\n      / "call"\n  counts A\n' + L),
    ("after quantity rounded",
     H + 'meter a "A" counts A quantity rounded  # c\n up to 1\n' + L,
     H + MF + "  quantity rounded  # c\n      up to 1\n" + L),
    ("after unpriced A,",
     H + M + 'unpriced A2,  # c\n  B2 "x" / "y"\n' + L,
     H + MF + 'unpriced A2,  # c\n         B2 "x" / "y"\n' + L),
    ("before unpriced's reason",
     H + M + 'unpriced A2, B2  # c\n  "x" / "y"\n' + L,
     H + MF + 'unpriced A2, B2  # c\n  "x" / "y"\n' + L),
    ("inside unpriced's reason",
     H + M + 'unpriced A2, B2 "x"  # c\n  / "y"\n' + L,
     H + MF + 'unpriced A2, B2 "x"  # c\n  / "y"\n' + L),
    ("after allowance N",
     H + M + "allowance 1000  # c\n per month on a\n" + L,
     H + MF + "allowance 1000  # c\n    per month on a\n" + L),
    ("after packs valid 1 year,",
     H + M + L + "packs valid 1 year,  # c\n  no refund {\n  size 1万\n  a 18\n" + D,
     H + MF + L + "packs valid 1 year,  # c\n    no refund {\n  size  1万\n  a     18\n" + D),
    ("after a pack table's {",
     H + M + L + "packs valid 1 year {  # c\n  size 1万\n  a 18\n" + D,
     H + MF + L + "packs valid 1 year {  # c\n  size  1万\n  a     18\n" + D),
    ("after size",
     H + M + L + P + "  size  # c\n  1万 10万\n  a 18 190\n" + D,
     H + MF + L + P + "  size  # c\n        1万  10万\n  a     18   190\n" + D),
    ("after size 1万",
     H + M + L + P + "  size 1万  # c\n  10万\n  a 18 190\n" + D,
     H + MF + L + P + "  size  1万  # c\n             10万\n  a     18   190\n" + D),
    ("after the size row",
     H + M + L + P + "  size 1万 10万  # c\n  a 18 190\n" + D,
     H + MF + L + P + "  size  1万  10万  # c\n  a     18   190\n" + D),
    ("after a pack row's meter",
     H + M + L + P + "  size 1万 10万\n  a  # c\n  18 190\n" + D,
     H + MF + L + P + "  size  1万  10万\n  a  # c\n        18   190\n" + D),
    ("inside a pack row",
     H + M + L + P + "  size 1万 10万\n  a 18  # c\n  190\n" + D,
     H + MF + L + P + "  size  1万  10万\n  a     18  # c\n             190\n" + D),
    ("after a pack row",
     H + M + L + P + "  size 1万 10万\n  a 18 190  # c\n" + D,
     H + MF + L + P + "  size  1万  10万\n  a     18   190  # c\n" + D),
    ("after a pack table's }",
     H + M + L + P + "  size 1万\n  a 18\n}  # c\ndeduct packs by expiry, postpaid\n",
     H + MF + L + P + "  size  1万\n  a     18\n}  # c\ndeduct packs by expiry, postpaid\n"),
    ("inside a ladder's header",
     H + M + "ladder volume by total  # c\n  per month on a {\n  (0, ∞)  1\n}\n",
     H + MF + "ladder volume by total  # c\n    per month on a {\n  (0, ∞)  1\n}\n"),
    ("after a ladder's {",
     H + M + "ladder volume by total per month on a {  # c\n  (0, ∞)  1\n}\n",
     H + MF + "ladder volume by total per month on a {  # c\n  (0, ∞)  1\n}\n"),
    ("after a bracket's (",
     H + M + LH + "  (  # c\n  0, 10] 2\n  (10, ∞) 1\n}\n",
     H + MF + LH + "  (  # c\n    0, 10]  2\n  (10, ∞)  1\n}\n"),
    ("after a bracket's lower bound",
     H + M + LH + "  (0,  # c\n  10] 2\n  (10, ∞) 1\n}\n",
     H + MF + LH + "  (0,  # c\n    10]    2\n  (10, ∞)  1\n}\n"),
    ("after a bracket",
     H + M + LH + "  (0, 10]  # c\n  2\n  (10, ∞) 1\n}\n",
     H + MF + LH + "  (0, 10]  # c\n           2\n  (10, ∞)  1\n}\n"),
    ("inside a price",
     H + M + LH + "  (0, 10] 2 +  # c\n  3 flat\n  (10, ∞) 1\n}\n",
     H + MF + LH + "  (0, 10]  2 +  # c\n             3 flat\n  (10, ∞)  1\n}\n"),
    ("after a bracket's price",
     H + M + LH + "  (0, 10] 2  # c\n  (10, ∞) 1\n}\n",
     H + MF + LH + "  (0, 10]  2  # c\n  (10, ∞)  1\n}\n"),
    ("after minimum",
     H + M + LH + "  (0, ∞) 1\n  minimum  # c\n  5\n}\n",
     H + MF + LH + "  (0, ∞)  1\n  minimum  # c\n      5\n}\n"),
    ("after a ladder's }",
     H + M + LH + "  (0, ∞) 1\n}  # c\n",
     H + MF + LH + "  (0, ∞)  1\n}  # c\n"),
    ("after deduct allowance,",
     H + M + L + "allowance 10 per month on a\ndeduct allowance,  # c\n  postpaid\n",
     H + MF + L + "allowance 10 per month on a\ndeduct allowance,  # c\n    postpaid\n"),
    ("after an alert",
     H + M + L + "alert pack exhausted,  # c\n  pack expired\n",
     H + MF + L + "alert pack exhausted,  # c\n    pack expired\n"),
    ("after bill per month,",
     H + M + L + "bill per month,  # c\n  issued on day 1\n",
     H + MF + L + "bill per month,  # c\n    issued on day 1\n"),
    ("after suspend for",
     H + M + L + "suspend for  # c\n  arrears\n",
     H + MF + L + "suspend for  # c\n    arrears\n"),
]


@pytest.mark.parametrize(("text", "expected"), [case[1:] for case in TRAILING],
                         ids=[case[0] for case in TRAILING])
def test_a_comment_at_the_end_of_a_line_stays_there(text: str, expected: str) -> None:
    assert fmt(text) == expected
    assert assert_canonical(text) == expected
    (place,) = places(expected)
    assert place[0] == "# c" and not place[2]


OWN_LINE = [
    ("between two actions",
     H + 'unpriced A,\n  # B is new\n  B "x"   # why\n',
     H + 'unpriced A,\n         # B is new\n         B "x"  # why\n'),
    ("after a comment, between two actions",
     H + 'meter a "A" counts A,  # one\n  # two\n  B\n' + L,
     H + 'meter a "A"\n  counts A,  # one\n         # two\n         B\n' + L),
    ("before unpriced's reason",
     H + M + 'unpriced A2, B2\n  # why\n  "x" / "y"\n' + L,
     H + MF + 'unpriced A2, B2\n  # why\n  "x" / "y"\n' + L),
    ("inside a header",
     'rules x\n# its name\n"X" / "X"\n' + S + M + L,
     'rules x\n    # its name\n    "X" / "X"\ncurrency CNY, rounding half_up 0.01, timezone UTC\n'
     + MF + L),
    ("inside a pack row",
     H + M + L + "packs valid 1 year {\n  size 1万 10万\n  a 18\n# 10万\n 190\n}\n"
     "deduct packs by expiry, postpaid\n",
     H + MF + L + "packs valid 1 year {\n  size  1万  10万\n  a     18\n             # 10万\n"
     "             190\n}\ndeduct packs by expiry, postpaid\n"),
    ("inside a bracket",
     H + M + "ladder volume by total per month on a {\n  (0, 10]\n  # price\n  2\n  (10, ∞) 1\n}\n",
     H + MF + "ladder volume by total per month on a {\n  (0, 10]\n           # price\n"
     "           2\n  (10, ∞)  1\n}\n"),
]


@pytest.mark.parametrize(("text", "expected"), [case[1:] for case in OWN_LINE],
                         ids=[case[0] for case in OWN_LINE])
def test_a_comment_on_a_line_of_its_own_inside_an_item_stays_there(
    text: str, expected: str
) -> None:
    assert fmt(text) == expected
    assert assert_canonical(text) == expected


def test_every_comment_of_the_issue_stays_on_its_line() -> None:
    """The repro of issue 13, item 22: comments after `rules odd`, a label, `currency CNY,`,
    `counts A`, `size 1万` and a pack row."""
    text = (
        "rules odd  # after rules odd\n"
        '  "X" / "Y"  # after a label\n'
        "currency CNY,  # after currency CNY,\n"
        "  rounding half_up 0.01, timezone UTC\n"
        'meter a "A"\n'
        "  counts A  # after counts A\n"
        "packs valid 1 year {\n"
        "  size 1万  # after size 1万\n"
        "    10万\n"
        "  a 18 190  # after a pack row\n"
        "}\n"
    )
    assert fmt(text) == (
        "rules odd  # after rules odd\n"
        '    "X" / "Y"  # after a label\n'
        "currency CNY,  # after currency CNY,\n"
        "    rounding half_up 0.01, timezone UTC\n"
        'meter a "A"\n'
        "  counts A  # after counts A\n"
        "packs valid 1 year {\n"
        "  size  1万  # after size 1万\n"
        "             10万\n"
        "  a     18   190  # after a pack row\n"
        "}\n"
    )
    assert_canonical(text)


def test_a_comment_forces_a_break_in_a_wrapped_list_which_still_wraps() -> None:
    actions = [f"Action{i:02}" for i in range(12)]
    text = HEADER + f'meter a "A" counts {", ".join(actions[:2])},  # first two\n' \
        f'{", ".join(actions[2:])}\n' + L
    assert fmt(text) == HEADER + (
        'meter a "A"\n'
        "  counts Action00, Action01,  # first two\n"
        "         Action02, Action03, Action04, Action05, Action06, Action07, Action08,\n"
        "         Action09, Action10, Action11\n"
    ) + L
    assert_canonical(text)


def test_line_breaks_tabs_and_a_bom_become_canonical() -> None:
    text = HEADER + 'meter a "A" counts A  # trailing\n'
    odd = "\ufeff" + text.replace("\n", "\r\n").replace(" ", "\t").replace(
        "#\ttrailing", "# trailing")
    assert fmt(odd) == fmt(text) == HEADER + 'meter a "A"\n  counts A  # trailing\n'


def test_empty_and_comment_only_files() -> None:
    assert fmt("") == ""
    assert fmt("\n\n  \n") == ""
    assert fmt("# only\n\n\n# comments   \n") == "# only\n\n# comments\n"


@pytest.mark.slow
def test_a_big_file_with_comments_everywhere() -> None:
    meters = "".join(f'# meter {i}\n\n\nmeter m{i} "M"   counts A{i}  # counted\n'
                     for i in range(1_000))
    text = HEADER + meters + "ladder volume by total per month on every meter {(0, ∞) 1}\n"
    once = assert_canonical(text)
    assert once.count("\n\n") == 1_000
    assert once.startswith(HEADER + '# meter 0\n\nmeter m0 "M"\n  counts A0  # counted\n')


def test_a_syntax_error_is_the_diagnostic() -> None:
    result = format_source(SourceFile("bad.rules", HEADER + "meter a {"))
    assert isinstance(result, Diagnostic)
    assert (result.code, result.span.line, result.span.column) == ("E001", 3, 9)


# --- properties ---------------------------------------------------------------------------------

PROPERTY = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROPERTY
@given(rules_texts())
def test_generated_sheets_format_canonically(text: str) -> None:
    assert_canonical(text)


@PROPERTY
@given(rules_texts(valid=False))
def test_generated_loose_sheets_format_canonically(text: str) -> None:
    assert_canonical(text)


@PROPERTY
@given(mutated())
def test_mutated_files_format_canonically_or_give_their_syntax_error(text: str) -> None:
    result = format_source(SourceFile("x.rules", text))
    if isinstance(result, Diagnostic):
        assert result.code in {"E001", "E002", "E003", "E004"}
    else:
        assert_canonical(text)


@PROPERTY
@given(rules_statements(), st.integers(0, 2**32))
def test_layout_depends_on_the_tokens_alone(statements: list[list[str]], seed: int) -> None:
    """Without comments and blank lines, any spacing of the same tokens formats the same."""
    rnd = random.Random(seed)
    tokens = [t for statement in statements for t in statement]
    spaced = "".join(t + rnd.choice((" ", "  ", "\t", "\n", " \n\t")) for t in tokens)
    assert fmt(spaced) == fmt(" ".join(tokens))


# --- the command line ---------------------------------------------------------------------------

def run(*argv: str, stdin: str | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        if stdin is None:
            code = main(list(argv))
        else:
            import sys

            real = sys.stdin
            sys.stdin = io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8")
            try:
                code = main(list(argv))
            finally:
                sys.stdin = real
    return code, out.getvalue(), err.getvalue()


MESSY = HEADER + 'meter a "A" counts A\nladder volume by total per month on a {(0,∞) 1}\n'
TIDY = HEADER + 'meter a "A"\n  counts A\nladder volume by total per month on a {\n  (0, ∞)  1\n}\n'


@pytest.fixture
def messy(tmp_path: Path) -> Path:
    path = tmp_path / "messy.rules"
    path.write_text(MESSY, encoding="utf-8")
    return path


def test_cli_prints_the_formatted_file(messy: Path) -> None:
    assert run("fmt", str(messy)) == (0, TIDY, "")
    assert messy.read_text(encoding="utf-8") == MESSY


def test_cli_check_lists_files_not_formatted(messy: Path, tmp_path: Path) -> None:
    tidy = tmp_path / "tidy.rules"
    tidy.write_text(TIDY, encoding="utf-8")
    assert run("fmt", "--check", str(tidy)) == (0, "1 file already formatted\n", "")
    assert run("fmt", "--check", str(tidy), str(tidy)) == (0, "2 files already formatted\n", "")
    assert run("fmt", "--check", str(messy), str(tidy)) == (
        1, f"would reformat {messy}\n1 file would be reformatted, 1 file already formatted\n", "")
    crlf = tmp_path / "crlf.rules"
    crlf.write_bytes(TIDY.replace("\n", "\r\n").encode())
    bom = tmp_path / "bom.rules"
    bom.write_bytes(b"\xef\xbb\xbf" + TIDY.encode())
    assert run("fmt", "--check", str(crlf), str(bom)) == (
        1, f"would reformat {crlf}\nwould reformat {bom}\n2 files would be reformatted\n", "")
    assert run("fmt", "--check", str(crlf), str(messy), str(tidy), str(tidy)) == (
        1, f"would reformat {crlf}\nwould reformat {messy}\n"
        "2 files would be reformatted, 2 files already formatted\n", "")


def test_cli_write_rewrites_in_place(messy: Path, tmp_path: Path) -> None:
    messy.chmod(0o640)
    assert run("fmt", "-w", str(messy)) == (0, f"{messy}: reformatted\n", "")
    assert messy.read_text(encoding="utf-8") == TIDY
    assert messy.stat().st_mode & 0o777 == 0o640
    assert run("fmt", "--write", str(messy)) == (0, "", "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["messy.rules"]


def test_cli_syntax_error_prints_the_diagnostic_and_changes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.rules"
    bad.write_text(HEADER + "meter a {\n", encoding="utf-8")
    for flags in ((), ("--check",), ("--write",)):
        code, out, err = run("fmt", *flags, str(bad))
        assert (code, out) == (1, "1 file with a syntax error\n" if flags == ("--check",) else "")
        assert err.startswith("error[E001]: unexpected `{`\n")
        assert f"--> {bad}:3:9" in err
        assert bad.read_text(encoding="utf-8") == HEADER + "meter a {\n"


def test_cli_io_errors_are_one_line(tmp_path: Path) -> None:
    latin = tmp_path / "latin1.rules"
    latin.write_bytes(b'rules x "\xe9"\n')
    assert run("fmt", str(latin)) == (2, "", f"ratecard: error: {latin}: not UTF-8 text (byte 9)\n")
    assert run("fmt", "--check", str(tmp_path / "none.rules")) == (
        2, "", f"ratecard: error: {tmp_path / 'none.rules'}: no such file\n")
    assert run("fmt", "-w", "-", stdin=MESSY) == (
        2, "", "ratecard: error: --write cannot rewrite standard input\n")


def test_cli_reads_standard_input() -> None:
    assert run("fmt", "-", stdin=MESSY) == (0, TIDY, "")
    assert run("fmt", "--check", "-", stdin=TIDY) == (0, "1 file already formatted\n", "")
    assert run("fmt", "--check", "-", stdin=MESSY) == (
        1, "would reformat -\n1 file would be reformatted\n", "")


def test_cli_check_and_write_are_exclusive(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["fmt", "--check", "--write", "x.rules"])
    assert exited.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err


def test_the_documented_example_is_canonical() -> None:
    doc = (ROOT / "docs" / "language.md").read_text(encoding="utf-8")
    section = doc[doc.index("## Canonical layout"):]
    example = section.split("```\n")[1]
    assert fmt(example) == example


def test_cli_check_counts_syntax_errors_apart(messy: Path, tmp_path: Path) -> None:
    """A file with a syntax error is neither formatted nor to be reformatted: counted apart."""
    bad = tmp_path / "bad.rules"
    bad.write_text(HEADER + "meter a {\n", encoding="utf-8")
    code, out, _ = run("fmt", "--check", str(bad), str(messy), str(bad))
    assert (code, out) == (
        1, f"would reformat {messy}\n1 file would be reformatted, 2 files with syntax errors\n")
