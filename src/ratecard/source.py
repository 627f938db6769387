"""Source text and positions: what a diagnostic points at."""

from __future__ import annotations

import bisect
from functools import cached_property

import attrs


def _without_bom(text: str) -> str:
    """A leading byte order mark is not part of the text: positions count from what follows."""
    return text.removeprefix("\ufeff")


@attrs.frozen
class SourceFile:
    """A rules file's name and text, with line lookup for diagnostics."""

    name: str
    text: str = attrs.field(converter=_without_bom)

    @cached_property
    def _line_starts(self) -> tuple[int, ...]:
        starts = [0]
        starts.extend(i + 1 for i, ch in enumerate(self.text) if ch == "\n")
        return tuple(starts)

    def position(self, offset: int) -> tuple[int, int]:
        """The 1-based (line, column) of a character offset; columns count characters."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect.bisect_right(self._line_starts, offset) - 1
        return line + 1, offset - self._line_starts[line] + 1

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its line break."""
        starts = self._line_starts
        if not 1 <= line <= len(starts):
            return ""
        start = starts[line - 1]
        end = starts[line] - 1 if line < len(starts) else len(self.text)
        return self.text[start:end].rstrip("\r")

    def span(self, start: int, end: int) -> Span:
        """The span of text[start:end]."""
        line, column = self.position(start)
        return Span(self.name, start, max(start, end), line, column)


@attrs.frozen
class Span:
    """Where a piece of source sits: file, character offsets, the start's line and column."""

    file: str
    start: int
    end: int
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"
