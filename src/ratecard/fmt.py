"""`ratecard fmt`: rules files in one canonical layout, every comment kept.

The formatter works on the parse tree and changes only the whitespace between tokens: every
token is written as it was (numbers keep their form, strings their escapes), in the same order,
so the formatted file means exactly what the original meant. The layout (docs/language.md,
"Canonical layout"):

- one statement per line group, starting at column 1; blank lines between statements are kept,
  several collapsed into one; none inside a statement;
- a meter's clauses, a pack table's rows, a ladder's (and an order's) brackets and items each
  on their own line, indented by two spaces; pack tables and bracket columns aligned (by
  display width, so CJK digits such as 万 line up);
- lists of actions wrapped at 80 columns, continued under the first action;
- single spaces between tokens, none before `,`, `)`, `]` or after `(`, `[`;
- comments stay where they were: each stays after the same token, at the end of a line if it
  was at the end of one, on a line of its own if it was on one. A comment inside an item ends
  the item's line there; the item goes on below: a list of actions under its first action, a
  table row with its next cell at that cell's column, anything else four spaces further in.

The output is checked before it is returned: the same tokens and the same comments, in order,
each after the same token and in the same place on its line (end of a line, or a line of its own).
"""

from __future__ import annotations

import bisect
import unicodedata
from collections.abc import Iterator, Sequence

import attrs
import lark
from lark import Token

from ratecard.diagnostics import Diagnostic
from ratecard.parser import parse
from ratecard.source import SourceFile

#: Lists of actions are wrapped to stay within this many columns.
WIDTH = 80
INDENT = 2

_NO_SPACE_BEFORE = frozenset({"COMMA", "CLOSE"})
_NO_SPACE_AFTER = frozenset({"OPEN"})
_WRAPPED_CLAUSES = frozenset({"counts_clause", "free_clause"})


class FormatError(Exception):
    """The formatter would change a file's tokens or comments: a bug, never the file's fault."""


def format_source(source: SourceFile) -> str | Diagnostic:
    """The file in canonical layout, or the diagnostic of its first syntax error."""
    tree = parse(source)
    if isinstance(tree, Diagnostic):
        return tree
    layout = _Layout(source.text, tree)
    text = layout.render()
    _verify(source, layout.tokens, text)
    return text


def display_width(text: str) -> int:
    """Columns a string takes in a terminal or editor: CJK and full-width characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


# --- tokens and comments --------------------------------------------------------------------------

def _tokens(node: lark.Tree | Token | None) -> Iterator[Token]:  # type: ignore[type-arg]
    """The tokens of a subtree in source order."""
    if isinstance(node, Token):
        yield node
    elif node is not None:
        for child in node.children:
            yield from _tokens(child)


def _join(tokens: Sequence[Token]) -> str:
    """Tokens with canonical spacing: one space, none before `,` `)` `]` or after `(` `[`."""
    out: list[str] = []
    previous: Token | None = None
    for token in tokens:
        if previous is not None and not (
            token.type in _NO_SPACE_BEFORE or previous.type in _NO_SPACE_AFTER
        ):
            out.append(" ")
        out.append(str(token))
        previous = token
    return "".join(out)


@attrs.frozen
class Comment:
    """A comment: its text (trailing whitespace dropped) and where it sits among the tokens."""

    start: int
    text: str
    after: int  # index of the token before it, -1 at the start of the file
    own_line: bool  # nothing but whitespace before it on its line
    blank_before: bool  # an empty line separates it from what comes before


def comments(text: str, tokens: Sequence[Token]) -> list[Comment]:
    """Every comment of a parsed file: the text between tokens is whitespace and comments only."""
    found: list[Comment] = []
    for index in range(len(tokens) + 1):
        start = _end(tokens[index - 1]) if index else 0
        stop = _start(tokens[index]) if index < len(tokens) else len(text)
        at = text.find("#", start, stop)
        previous_end = start
        while at != -1:
            end = text.find("\n", at, stop)
            end = stop if end == -1 else end
            gap = text[previous_end:at]
            own_line = index == 0 or previous_end != start or "\n" in gap
            found.append(Comment(at, text[at:end].rstrip(), index - 1, own_line,
                                 gap.count("\n") >= 2))
            previous_end = end
            at = text.find("#", end, stop)
    return found


def _start(token: Token) -> int:
    return token.start_pos or 0


def _end(token: Token) -> int:
    return token.end_pos if token.end_pos is not None else _start(token) + len(token)


# --- the layout -----------------------------------------------------------------------------

Range = tuple[int, int]  # the indices of a run's first and last tokens


@attrs.define
class _Unit:
    """One item of the layout (a statement's line, a clause, a row, a bracket, a `}`)."""

    first: int  # index of its first token
    last: int  # index of its last token
    indent: int
    top: bool  # the first line of a top-level statement
    head: int = -1  # a wrapped list: its keyword's token, its items and its tail (a label)
    items: tuple[Range, ...] = ()
    tail: Range | None = None
    cells: tuple[Range, ...] = ()  # a row of an aligned table
    table: int = -1
    closing: bool = False  # a `}`: comments before it sit at the block's indent


class _Layout:
    """Builds the units of a parse tree, places the comments, and renders the text."""

    def __init__(self, text: str, tree: lark.Tree) -> None:  # type: ignore[type-arg]
        self.text = text
        self.tokens = list(_tokens(tree))
        self.index = {_start(t): i for i, t in enumerate(self.tokens)}
        self.units: list[_Unit] = []
        self.tables = 0
        # Comments between two tokens of one unit, by the index of the token before them: the
        # unit's line ends after that token (with the comment, if it was at the end of a line).
        self.inside: dict[int, list[Comment]] = {}
        for statement in tree.children:
            if isinstance(statement, lark.Tree):
                self._statement(statement)

    # --- units -------------------------------------------------------------------------------
    def _range(self, nodes: Sequence[lark.Tree | Token | None]) -> Range:  # type: ignore[type-arg]
        tokens = [t for node in nodes for t in _tokens(node)]
        return self.index[_start(tokens[0])], self.index[_start(tokens[-1])]

    def _plain(self, nodes: Sequence[lark.Tree | Token | None], indent: int,  # type: ignore[type-arg]
               top: bool = False, closing: bool = False) -> None:
        first, last = self._range(nodes)
        self.units.append(_Unit(first, last, indent, top, closing=closing))

    def _wrapped(self, keyword: Token, names: lark.Tree, tail: lark.Tree | None,  # type: ignore[type-arg]
                 indent: int, top: bool) -> None:
        first, last = self._range([keyword, names, tail])
        items: list[Range] = []
        for token in _tokens(names):
            at = self.index[_start(token)]
            if token.type == "COMMA":
                items[-1] = (items[-1][0], at)
            else:
                items.append((at, at))
        label = self._range([tail]) if tail is not None else None
        self.units.append(_Unit(first, last, indent, top, head=first, items=tuple(items),
                                tail=label))

    def _row(self, cells: Sequence[Sequence[lark.Tree | Token | None]],  # type: ignore[type-arg]
             indent: int) -> None:
        ranges = tuple(self._range(cell) for cell in cells)
        self.units.append(_Unit(ranges[0][0], ranges[-1][1], indent, False, cells=ranges,
                                table=self.tables))

    def _statement(self, tree: lark.Tree, at: int = 0) -> None:  # type: ignore[type-arg]
        """A statement's units; `at` is its indent (a version's statements are indented)."""
        children = tree.children
        if tree.data == "meter_decl":
            self._plain(children[:3], at, top=True)
            for clause in children[3:]:
                assert isinstance(clause, lark.Tree)
                if clause.data in _WRAPPED_CLAUSES and clause.children[2:] in ([], [None, None]):
                    keyword, names = clause.children[:2]
                    assert isinstance(keyword, Token) and isinstance(names, lark.Tree)
                    self._wrapped(keyword, names, None, at + INDENT, False)
                else:
                    self._plain([clause], at + INDENT)
        elif tree.data == "unpriced_decl":
            keyword, names, label = children
            assert isinstance(keyword, Token) and isinstance(names, lark.Tree)
            assert label is None or isinstance(label, lark.Tree)
            self._wrapped(keyword, names, label, at, True)
        elif tree.data in ("packs_decl", "ladder_decl", "order_decl", "subscription_decl",
                           "request_decl", "prices_decl", "above_decl"):
            self._block(children, at)
        elif tree.data == "version_decl" and isinstance(children[-1], lark.Tree):
            body = children[-1]
            self._plain([*children[:-1], body.children[0]], at, top=True)
            for statement in body.children[1:-1]:
                if isinstance(statement, lark.Tree):
                    self._statement(statement, at + INDENT)
            self._plain(body.children[-1:], at, closing=True)
        else:
            self._plain([tree], at, top=True)

    def _block(self, children: list[lark.Tree | Token | None],  # type: ignore[type-arg]
               at: int = 0) -> None:
        brace = next(i for i, c in enumerate(children)
                     if isinstance(c, Token) and c.type == "LBRACE")
        self._plain(children[:brace + 1], at, top=True)
        self.tables += 1
        for item in children[brace + 1:-1]:
            assert isinstance(item, lark.Tree)
            if item.data in ("pack_sizes", "pack_row", "price_header", "price_row"):
                self._row([[child] for child in item.children], at + INDENT)
            elif item.data == "bracket":
                self._row([item.children[:5], item.children[5:]], at + INDENT)
            else:
                self._plain([item], at + INDENT)
        self._plain(children[-1:], at, closing=True)

    # --- rendering ---------------------------------------------------------------------------
    def _place(self, notes: Sequence[Comment]) -> tuple[
        dict[int, list[Comment]], dict[int, Comment], list[Comment]
    ]:
        """Each comment's place: before a unit, at the end of a unit's last line, inside a unit
        (`self.inside`), or at the end of the file."""
        unit_of = [0] * len(self.tokens)
        for number, unit in enumerate(self.units):
            for i in range(unit.first, unit.last + 1):
                unit_of[i] = number
        leading: dict[int, list[Comment]] = {}
        trailing: dict[int, Comment] = {}
        ending: list[Comment] = []
        self.inside = {}
        for note in notes:
            following = note.after + 1
            if note.after >= 0 and note.after < self.units[unit_of[note.after]].last:
                self.inside.setdefault(note.after, []).append(note)
            elif not note.own_line:
                trailing[unit_of[note.after]] = note
            elif following >= len(self.tokens):
                ending.append(note)
            else:
                leading.setdefault(unit_of[following], []).append(note)
        return leading, trailing, ending

    def render(self) -> str:
        """The canonical text: units in order, comments placed, blank lines kept at the top."""
        notes = comments(self.text, self.tokens)
        starts = [note.start for note in notes]
        leading, trailing, ending = self._place(notes)
        widths = self._table_widths()
        out: list[str] = []

        def emit(line: str, blank: bool) -> None:
            if blank and out and out[-1] != "":
                out.append("")
            out.append(line.rstrip())

        for number, unit in enumerate(self.units):
            blank = unit.top and self._blank_before(unit.first, notes, starts)
            pad = " " * (unit.indent + (INDENT if unit.closing else 0))
            for note in leading.get(number, []):
                emit(pad + note.text, unit.top and note.blank_before)
            lines = self._lines(unit, widths)
            if number in trailing:
                lines[-1] += "  " + trailing[number].text
            emit(lines[0], blank)
            for line in lines[1:]:
                emit(line, False)
        for note in ending:
            emit(note.text, note.blank_before)
        return "\n".join(out) + "\n" if out else ""

    def _blank_before(self, index: int, notes: Sequence[Comment], starts: Sequence[int]) -> bool:
        """Whether an empty line separates token `index` from the token or comment before it."""
        start = _start(self.tokens[index])
        previous = _end(self.tokens[index - 1]) if index else 0
        before = bisect.bisect_left(starts, start) - 1  # the last comment before the token
        if before >= 0 and notes[before].start >= previous:
            end = self.text.find("\n", notes[before].start, start)
            previous = start if end == -1 else end
        return self.text.count("\n", previous, start) >= 2

    def _text(self, run: Range) -> str:
        return _join(self.tokens[run[0]:run[1] + 1])

    def _table_widths(self) -> dict[int, list[int]]:
        widths: dict[int, list[int]] = {}
        for unit in self.units:
            if unit.table < 0:
                continue
            column = widths.setdefault(unit.table, [])
            for i, cell in enumerate(unit.cells):
                if i == len(column):
                    column.append(0)
                column[i] = max(column[i], display_width(self._text(cell)))
        return widths

    def _pieces(self, run: Range) -> list[Range]:
        """A run of tokens cut after each token that a comment follows inside the unit."""
        pieces: list[Range] = []
        first = run[0]
        for index in range(run[0], run[1]):
            if index in self.inside:
                pieces.append((first, index))
                first = index + 1
        pieces.append((first, run[1]))
        return pieces

    def _end_line(self, lines: list[str], index: int, column: int) -> None:
        """The line ends after token `index`: its comment at the end of the line, if it was at
        the end of one, and the comments on lines of their own below it, at `column`."""
        for note in self.inside[index]:
            if note.own_line:
                lines.append(" " * column + note.text)
            else:
                lines[-1] += "  " + note.text

    def _lines(self, unit: _Unit, widths: dict[int, list[int]]) -> list[str]:
        if unit.table >= 0:
            return self._row_lines(unit, widths[unit.table])
        if unit.head >= 0:
            return self._wrapped_lines(unit)
        lines: list[str] = []
        continued = unit.indent + 2 * INDENT
        for number, piece in enumerate(self._pieces((unit.first, unit.last))):
            lines.append(" " * (continued if number else unit.indent) + self._text(piece))
            if piece[1] != unit.last:
                self._end_line(lines, piece[1], continued)
        return lines

    def _wrapped_lines(self, unit: _Unit) -> list[str]:
        """A list of actions: wrapped before WIDTH, and after a comment, under its first action;
        the tail (unpriced's reason) on the same line if it fits, else on its own line."""
        pad = " " * unit.indent
        hanging = display_width(f"{pad}{self.tokens[unit.head]} ")
        words = [(run, hanging) for run in [(unit.head, unit.head), *unit.items]]
        if unit.tail is not None:
            words.append((unit.tail, unit.indent + INDENT))
        pieces = [(piece, column, number == 0) for run, column in words
                  for number, piece in enumerate(self._pieces(run))]
        lines: list[str] = []
        line = pad
        broken = True  # the line has ended: the next piece starts a new one
        for at, (piece, column, starts_word) in enumerate(pieces):
            text = self._text(piece)
            if broken:
                line = (" " * column if lines else pad) + text
            elif starts_word and display_width(line) + 1 + display_width(text) <= WIDTH:
                line += " " + text
            else:
                lines.append(line)
                line = " " * column + text
            broken = piece[1] in self.inside and piece[1] != unit.last
            if broken:
                lines.append(line)
                self._end_line(lines, piece[1], pieces[at + 1][1])
        if not broken:
            lines.append(line)
        return lines

    def _row_lines(self, unit: _Unit, widths: Sequence[int]) -> list[str]:
        """A table row: each cell at its column; after a comment, the row goes on below, the
        next cell at its own column (or the rest of a cell two columns further in)."""
        columns = [unit.indent]
        for width in widths:
            columns.append(columns[-1] + width + 2)
        lines: list[str] = []
        line = ""
        fresh = True
        for i, cell in enumerate(unit.cells):
            for number, piece in enumerate(self._pieces(cell)):
                target = columns[i] + (INDENT if number else 0)
                text = self._text(piece)
                if fresh:
                    line = " " * target + text
                else:
                    line += " " * max(2, target - display_width(line)) + text
                fresh = piece[1] in self.inside and piece[1] != unit.last
                if fresh:
                    lines.append(line)
                    following = columns[i + 1] if piece[1] == cell[1] else columns[i] + INDENT
                    self._end_line(lines, piece[1], following)
        if not fresh:
            lines.append(line)
        return lines


# --- the safety check ------------------------------------------------------------------------

def _verify(source: SourceFile, before: Sequence[Token], formatted: str) -> None:
    """The formatted text has the same tokens and the same comments, in the same order, each
    after the same token, and at the end of a line or on a line of its own as it was."""
    again = parse(SourceFile(source.name, formatted))
    if isinstance(again, Diagnostic):
        raise FormatError(f"{source.name}: the formatted text does not parse")
    after = list(_tokens(again))
    if [(t.type, str(t)) for t in before] != [(t.type, str(t)) for t in after]:
        raise FormatError(f"{source.name}: formatting would change the tokens")
    old_notes = [(c.text, c.after, c.own_line) for c in comments(source.text, before)]
    new_notes = [(c.text, c.after, c.own_line) for c in comments(formatted, after)]
    if old_notes != new_notes:
        raise FormatError(f"{source.name}: formatting would lose or move a comment")
