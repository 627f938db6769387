"""Diagnostics: one problem in a rules file, its code, position, label and help, and rendering.

Every code is documented, with a failing example and the fix, in docs/errors.md.
"""

from __future__ import annotations

import difflib
import enum
import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence

import attrs

from ratecard.source import SourceFile, Span
from ratecard.terminal import PLAIN, Palette


class Severity(enum.Enum):
    """How bad a diagnostic is: errors stop compilation, warnings do not."""

    ERROR = "error"
    WARNING = "warning"


@attrs.frozen
class Diagnostic:
    """One problem: a stable code, a message, where, a label under the carets, a help."""

    code: str
    message: str
    span: Span
    label: str = ""
    help: str = ""
    severity: Severity = Severity.ERROR

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.span.file, self.span.start, self.span.end, self.code)


def error(code: str, message: str, span: Span, label: str = "", help: str = "") -> Diagnostic:
    """An error diagnostic."""
    return Diagnostic(code, message, span, label, help, Severity.ERROR)


def warning(code: str, message: str, span: Span, label: str = "", help: str = "") -> Diagnostic:
    """A warning diagnostic."""
    return Diagnostic(code, message, span, label, help, Severity.WARNING)


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`did you mean `x`?` for the nearest candidate, or an empty string."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`?" if close else ""


def _width(text: str) -> int:
    """Terminal columns a string takes: CJK and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


#: Bidirectional formatting characters: they reorder the text around them when it is shown, so
#: a line can read differently from what it holds ("Trojan Source", CVE-2021-42574).
BIDI_CONTROLS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def is_control(char: str) -> bool:
    """A character that is not visible text: a control character (C0 with tab and line breaks,
    DEL, C1), a line or paragraph separator, a bidirectional control, a lone surrogate."""
    return unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") or char in BIDI_CONTROLS


def _visible(text: str) -> str:
    """A source line as a terminal can show it: a tab as a space, C0 controls as their symbols
    (␇), other control characters as �; one column each, so carets stay aligned."""
    if not any(is_control(ch) for ch in text):
        return text
    out = []
    for ch in text:
        if ch == "\t":
            out.append(" ")
        elif ord(ch) < 0x20 or ch == "\x7f":
            out.append(chr(0x2400 + (ord(ch) if ch != "\x7f" else 0x21)))
        elif is_control(ch):
            out.append("\ufffd")
        else:
            out.append(ch)
    return "".join(out)


def render(diagnostic: Diagnostic, source: SourceFile | None, palette: Palette = PLAIN) -> str:
    """rustc-style rendering: header, location, source line, carets under the token, help.

    With a colour palette, in rustc's colours: the severity and code, and the carets with
    their label, bold red (error) or yellow (warning); the message bold; ` --> `, the line
    number, `|` and `=` bold blue; `help` bold cyan. PLAIN gives the same text uncoloured.
    """
    d = diagnostic
    p = palette
    tone = "error" if d.is_error else "warning"
    lines = [p.paint(tone, f"{d.severity.value}[{d.code}]") + p.paint("bold", f": {d.message}")]
    arrow, bar, equals = p.paint("gutter", "-->"), p.paint("gutter", "|"), p.paint("gutter", "=")
    help_line = f"{equals} {p.paint('help', 'help')}: {d.help}"
    if source is None:
        lines.append(f" {arrow} {d.span}")
        if d.help:
            lines.append(f"  {help_line}")
        return "\n".join(lines)
    line_text = _visible(source.line_text(d.span.line))
    gutter = " " * len(str(d.span.line))
    lines.append(f"{gutter}{arrow} {d.span}")
    lines.append(f"{gutter} {bar}")
    lines.append(f"{p.paint('gutter', f'{d.span.line} |')} {line_text}")
    before = line_text[: d.span.column - 1]
    # Underline the token, cut at the end of its first line; at least one caret.
    token = _visible(source.text[d.span.start : d.span.end].split("\n", 1)[0].rstrip("\r"))
    carets = "^" * max(1, _width(token))
    label = f" {d.label}" if d.label else ""
    lines.append(f"{gutter} {bar} {' ' * _width(before)}{p.paint(tone, carets + label)}")
    if d.help:
        lines.append(f"{gutter} {bar}")
        lines.append(f"{gutter} {help_line}")
    return "\n".join(lines)


def render_concise(diagnostic: Diagnostic, palette: Palette = PLAIN) -> str:
    """One line: `file:line:col: error[E203] message` (with colour, `error[E203]` as in
    `render`)."""
    d = diagnostic
    kind = palette.paint("error" if d.is_error else "warning", f"{d.severity.value}[{d.code}]")
    return f"{d.span}: {kind} {d.message}"


# The version of `check --format json`'s shape; a change that breaks a reader gets a new one.
JSON_SCHEMA = "ratecard.check/1"


def to_json(diagnostics: Sequence[Diagnostic]) -> str:
    """`{"schema": "ratecard.check/1", "diagnostics": [...]}`, for editors and CI annotations.

    Positions count Unicode code points, not UTF-8 bytes: `start` and `end` are offsets into
    the file's text (a leading BOM dropped, line breaks kept as they are, so `\r\n` is two),
    `line` and `column` are 1-based, the column counting code points from the line's start.
    """
    return json.dumps(
        {"schema": JSON_SCHEMA, "diagnostics": [
            {
                "code": d.code,
                "severity": d.severity.value,
                "message": d.message,
                "file": d.span.file,
                "line": d.span.line,
                "column": d.span.column,
                "start": d.span.start,
                "end": d.span.end,
                "label": d.label,
                "help": d.help,
            }
            for d in diagnostics
        ]},
        ensure_ascii=False,
        indent=2,
    )


def summary(diagnostics: Sequence[Diagnostic], palette: Palette = PLAIN) -> str:
    """The closing count line: `2 errors, 1 warning` (with colour: each count in its own)."""
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors
    parts = []
    if errors:
        parts.append(palette.paint("error", f"{errors} error{'s' if errors != 1 else ''}"))
    if warnings:
        parts.append(palette.paint("warning",
                                   f"{warnings} warning{'s' if warnings != 1 else ''}"))
    return ", ".join(parts) if parts else "no problems"


def render_all(
    diagnostics: Sequence[Diagnostic], sources: Mapping[str, SourceFile], fmt: str = "full",
    palette: Palette = PLAIN,
) -> str:
    """Every diagnostic in position order, then the count line (full) or nothing more (concise).

    `palette` colours the full and concise forms; JSON never has colour."""
    ordered = sorted(diagnostics, key=Diagnostic.sort_key)
    if fmt == "json":
        return to_json(ordered)
    if fmt == "concise":
        return "\n".join(render_concise(d, palette) for d in ordered)
    blocks = [render(d, sources.get(d.span.file), palette) for d in ordered]
    return "\n\n".join(blocks) + f"\n\n{summary(ordered, palette)}"
