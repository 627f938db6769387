"""A book's sheet as one view model: the sections' pieces put together in the sheet's order."""

from __future__ import annotations

from datetime import date, datetime

import attrs

from ratecard.engine.pricebook import PriceBook
from ratecard.render import (
    allowance,
    example,
    grants,
    ladders,
    modes,
    notes,
    orders,
    packs,
    subscriptions,
    versions,
)
from ratecard.render.page import Page
from ratecard.render.versions import Dated, dated
from ratecard.render.view import Part, SheetView

LANGS = ("zh", "en")
HTML_LANG = {"zh": "zh-CN", "en": "en"}


def build(page: Page, where: Dated | None = None) -> SheetView:
    """The sheet's view: header, the prices (free quota, packs, ladders, notes), the versions
    to come, the billing modes and the worked example, each from its own section's module."""
    intro_key = {(True, True): "intro_both", (True, False): "intro_prepaid",
                 (False, True): "intro_postpaid", (False, False): "intro_none"}
    details = [b for b in (allowance.free_block(page), grants.grants_block(page),
                           grants.credits_block(page), packs.prepaid_block(page),
                           ladders.postpaid_block(page), orders.orders_block(page),
                           subscriptions.subscriptions_block(page),
                           notes.notes_block(page)) if b is not None]
    parts = [Part("prices", page.m["details"], tuple(details))]
    upcoming = None if where is None else versions.upcoming_part(page, where)
    if upcoming is not None:
        parts.append(upcoming)
    billing_modes = modes.modes_part(page)
    if billing_modes is not None:
        parts.append(billing_modes)
    worked = example.example_part(page)
    if worked is not None:
        parts.append(worked)
    return SheetView(
        lang=page.lang,
        html_lang=HTML_LANG[page.lang],
        title=page.text("title"),
        intro=page.fmt(intro_key[page.has_packs, page.has_ladders]),
        parts=finished(page, tuple(parts)),
        footer=page.fmt("footer"),
        effective=() if where is None else versions.effective(page, where),
    )


def finished(page: Page, parts: tuple[Part, ...]) -> tuple[Part, ...]:
    """The parts with what the HTML adds to each table: a caption (the block's heading, or the
    part's; with the meters of the table where a block has several tables), an id
    (`table-1`, ...), and deep-link anchors on the meter rows: each row `KIND-METER` (`free-`,
    `prepaid-`, `postpaid-`), and the first row of a meter on the page also `meter-METER` on
    its name. Anchors are rules identifiers, so the same in both languages."""
    seen: set[str] = set()
    count = 0
    out = []
    for part in parts:
        blocks = []
        for block in part.blocks:
            tables = []
            for table in block.tables:
                count += 1
                anchors = []
                for meter in table.meters:
                    first = bool(meter) and meter not in seen
                    seen.add(meter)
                    anchors.append((f"{block.kind}-{meter}" if meter else "",
                                    f"meter-{meter}" if first else ""))
                caption = block.heading or part.heading
                named = [page.names[m] for m in table.meters if m in page.names]
                if len(block.tables) > 1 and named:
                    caption = page.text("caption_of", heading=caption,
                                        meters=page.join(named))
                elif table.caption:  # (a price table's: what its columns price)
                    caption = page.text("caption_of", heading=caption, meters=table.caption)
                tables.append(attrs.evolve(table, anchors=tuple(anchors), caption=caption,
                                           ident=f"table-{count}"))
            blocks.append(attrs.evolve(block, tables=tuple(tables)))
        out.append(attrs.evolve(part, blocks=tuple(blocks)))
    return _distinct_captions(page, tuple(out))


def _distinct_captions(page: Page, parts: tuple[Part, ...]) -> tuple[Part, ...]:
    """Each table's caption names it apart from the others (a region of the page is known by
    it): tables that would share one, such as orders or subscriptions, one table each, add the
    name in their first row."""
    counts: dict[str, int] = {}
    for part in parts:
        for block in part.blocks:
            for table in block.tables:
                counts[table.caption] = counts.get(table.caption, 0) + 1
    if all(n == 1 for n in counts.values()):
        return parts
    return tuple(attrs.evolve(part, blocks=tuple(
        attrs.evolve(block, tables=tuple(
            attrs.evolve(table, caption=page.text(
                "caption_of", heading=table.caption, meters=str(table.rows[0][0])))
            if counts[table.caption] > 1 and table.rows and table.rows[0] else table
            for table in block.tables))
        for block in part.blocks)) for part in parts)


def build_sheet(
    book: PriceBook, lang: str, at: date | datetime | str | None = None
) -> tuple[SheetView, tuple[str, ...]]:
    """The view model of a book's price sheet in one language, and the fallback warnings.

    A book with dated versions shows the version in effect on the day `at` (see `render`)."""
    if lang not in LANGS:
        raise ValueError(f"unknown language `{lang}`; use one of {', '.join(LANGS)}")
    contract = next((b.contract for b in book.books if b.contract is not None), None)
    if contract is not None:
        raise ValueError(f"this book is billed under contract `{contract.name}`: a contract is "
                         "a customer's terms, not a published price sheet; render the sheet "
                         "it extends")
    shown, where = dated(book, at)
    page = Page(shown, lang)
    view = build(page, where)
    return view, tuple(dict.fromkeys(page.warnings))
