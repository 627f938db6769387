"""The view models: everything a template shows, as formatted strings.

A `SheetView` holds `Part`s (prices, versions to come, billing modes, the worked example), each
of `Block`s (lead paragraphs, `Table`s, bullets); a sentence is `Rich`, runs of text of which
some are marked as code (`Piece`).
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs


@attrs.frozen
class Piece:
    """A run of text in a sentence; `code` marks an identifier (an API action, a rules name)."""

    text: str
    code: bool = False


Rich = tuple[Piece, ...]


@attrs.frozen
class Table:
    """A table of formatted cells: a header row and body rows of the same width."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    # The rules' meter each row is about ("" for none), and the anchors the HTML gives a row
    # and its first cell (`postpaid-detection`, `meter-detection`; "" for none): set by
    # `sheet.build`, stable deep links that do not depend on the language.
    meters: tuple[str, ...] = ()
    anchors: tuple[tuple[str, str], ...] = ()
    # What the table is, for assistive technology (the HTML caption), and its id on the page
    # (`table-1`, ...): set by `sheet.build`.
    caption: str = ""
    ident: str = ""


@attrs.frozen
class Block:
    """A titled piece of a part: lead paragraphs, then tables, then bullets."""

    kind: str
    heading: str = ""
    lead: tuple[Rich, ...] = ()
    tables: tuple[Table, ...] = ()
    bullets: tuple[Rich, ...] = ()


@attrs.frozen
class Part:
    """A top-level section of the sheet: prices, billing modes, the worked example."""

    kind: str
    heading: str
    blocks: tuple[Block, ...]


@attrs.frozen
class SheetView:
    """Everything a template shows, formatted for one language."""

    lang: str
    html_lang: str
    title: str
    intro: Rich
    parts: tuple[Part, ...]
    footer: Rich
    # A sheet with dated versions: from (and until) when its prices are in effect.
    effective: tuple[Rich, ...] = ()
    # Publishing (`render --publish`): the vendor's name, its logo as a data: URI, a tax note.
    vendor: str = ""
    logo: str = ""
    tax: str = ""


@attrs.frozen
class RenderedSheet:
    """A rendered price sheet and the warnings raised while building it (missing names)."""

    text: str
    warnings: tuple[str, ...] = ()


def code(text: str) -> Rich:
    return (Piece(text, code=True),)


def joined(items: Sequence[Rich | str], sep: str, last: str | None = None) -> Rich:
    """Sentence parts joined by `sep` (and `last` before the final one, when given)."""
    pieces: list[Piece] = []
    for index, item in enumerate(items):
        if index:
            pieces.append(Piece(last if last is not None and index == len(items) - 1 else sep))
        pieces.extend((Piece(item),) if isinstance(item, str) else item)
    return merged(pieces)


def merged(pieces: Sequence[Piece]) -> Rich:
    out: list[Piece] = []
    for piece in pieces:
        if not piece.text:
            continue
        if out and not out[-1].code and not piece.code:
            out[-1] = Piece(out[-1].text + piece.text)
        else:
            out.append(piece)
    return tuple(out)


def plain_text(rich: Rich) -> str:
    """A sentence without code marks."""
    return "".join(piece.text for piece in rich)
