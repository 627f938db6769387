"""Diagnostic rendering: carets under the exact token, CJK widths, help, ordering, count line."""

from __future__ import annotations

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
