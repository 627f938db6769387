"""Dated versions on a sheet: where the sheet shown sits on its book's timeline (`dated`), from
(and until) when its prices are in effect, and the part announcing later versions with a table of
what changes (old → new; `ratecard.changes`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal

import attrs

from ratecard.changes import (
    ALLOWANCE,
    BRACKET_BOUND,
    BRACKET_PRICE,
    CONTACT_SALES,
    LADDER,
    LADDER_MAXIMUM,
    LADDER_MINIMUM,
    PACK_ADDED,
    PACK_FREEZE,
    PACK_PRICE,
    PACK_REFUND,
    PACK_VALIDITY,
    PACK_WITHDRAWN,
    Change,
    changes,
)
from ratecard.engine.ladders import Bracket, Ladder
from ratecard.engine.pricebook import MeterPlan, PriceBook, Segment
from ratecard.render.page import Page
from ratecard.render.view import Block, Part, Rich, Table, plain_text

_ONE_DAY = timedelta(days=1)


@attrs.frozen
class Dated:
    """Where the sheet shown sits on its book's timeline: the day it is rendered for (None for
    a single version's book), the first day of the version shown (None: the sheet as first
    written) and of the next one, the shown version's segment while it still keeps older
    accounts on the previous prices, and each later segment with its changes."""

    day: date | None
    start: date | None
    until: date | None
    kept: Segment | None
    upcoming: tuple[tuple[Segment, tuple[Change, ...]], ...]


def dated(book: PriceBook, at: date | datetime | str | None = None
          ) -> tuple[PriceBook, Dated | None]:
    """The sheet in effect on the day `at` (default: today in the rules' timezone) and where
    it sits on the timeline; a book without versions is itself, with None."""
    if not book.timeline:
        if book.version is None:
            return book, None
        return book, Dated(None, book.version, None, None, ())
    day = book._day(at)  # the day `PriceBook.at` reads
    segments = book.timeline
    index = sum(1 for segment in segments if segment.start <= day)
    books = book.books
    kept = None
    if index:
        current = segments[index - 1]
        if current.keep_until is not None and day < current.keep_until:
            kept = current
    upcoming = tuple((segments[j], tuple(changes(books[j], books[j + 1])))
                     for j in range(index, len(segments)))
    until = segments[index].start if index < len(segments) else None
    shown = book.at(day)
    return shown, Dated(day, shown.version, until, kept, upcoming)


def change_days(book: PriceBook) -> tuple[date, ...]:
    """The days on which a book's rendered sheet changes (in order): each version's first day,
    and the day a version stops keeping older accounts on the previous prices. Empty for
    a book without versions: its sheet is the same on every day."""
    days = {segment.start for segment in book.timeline}
    days.update(segment.keep_until for segment in book.timeline
                if segment.keep_until is not None)
    return tuple(sorted(days))


def effective(page: Page, dated: Dated) -> tuple[Rich, ...]:
    """From (and until) when the prices shown are in effect, and who keeps older ones."""
    last = None if dated.until is None else page.date(dated.until - _ONE_DAY)
    if dated.start is None:
        sentence = page.fmt("effective_until", last=last or "")
    elif last is None:
        sentence = page.fmt("effective_from", day=page.date(dated.start))
    else:
        sentence = page.fmt("effective_between", day=page.date(dated.start), last=last)
    kept = dated.kept
    if kept is not None and kept.keep_before is not None and kept.keep_until is not None:
        sentence = page.paragraph([sentence, page.fmt(
            "effective_kept", before=page.date(kept.keep_before),
            last=page.date(kept.keep_until - _ONE_DAY), until=page.date(kept.keep_until))])
    return (sentence,)


def upcoming_part(page: Page, dated: Dated) -> Part | None:
    """The announcement of later versions: for each, its day, who keeps the previous
    prices for a while, and a table of what changes (old → new)."""
    blocks = []
    for segment, found in dated.upcoming:
        keeps = segment.keep_before is not None and segment.keep_until is not None
        if not found and not keeps:
            continue
        lead = [page.fmt("upcoming_lead", day=page.date(segment.start))]
        if segment.keep_before is not None and segment.keep_until is not None:
            lead.append(page.fmt("upcoming_kept", before=page.date(segment.keep_before),
                                 last=page.date(segment.keep_until - _ONE_DAY)))
        if any(change.what.startswith("pack") for change in found):
            lead.append(page.fmt("upcoming_packs"))
        tables: tuple[Table, ...] = ()
        if found:
            header = tuple(page.m[f"change_{column}"]
                           for column in ("meter", "item", "old", "new"))
            tables = (Table(header, change_rows(page, found, segment.book)),)
        blocks.append(Block("upcoming", page.text("upcoming_from",
                                                  day=page.date(segment.start)),
                            (page.paragraph(lead),), tables))
    if not blocks:
        return None
    return Part("upcoming", page.m["upcoming"], tuple(blocks))


def change_rows(
    page: Page, found: Sequence[Change], book: PriceBook
) -> tuple[tuple[str, ...], ...]:
    """A row per change (service, item, before, after); the same change of several
    meters is one row naming them all (every meter: `全部服务` / `All services`), and a
    shared allowance's row names its meters as shared."""
    rows: dict[tuple[bool, str, str, str], list[str]] = {}
    for change in found:
        meters = change_meters(page, change, book)
        plan = _plan_of(book, page.book, meters[0]) if meters else None
        shared = change.what == ALLOWANCE and len(meters) > 1
        covered = rows.setdefault((shared, *change_cells(page, change, plan)), [])
        covered.extend(m for m in meters if m not in covered)
    everyone = sorted(plan.name for plan in page.book.meters)
    out = []
    for (shared, item, old, new), meters in rows.items():
        names = page.join([page.names.get(m, m) for m in meters])
        if shared:
            who = page.text("free_shared", meters=names)
        elif not meters or sorted(meters) == everyone:
            who = page.m["change_all"]
        else:
            who = plain_text(names)
        out.append((who, item, old, new))
    return tuple(out)


def change_meters(page: Page, change: Change, book: PriceBook) -> list[str]:
    """The meters a change is about: its meter, a shared pool's members, none (all)."""
    if change.meter is None:
        return []
    if change.what == ALLOWANCE:
        members = [plan.name for plan in (*book.meters, *page.book.meters)
                   if plan.pool == change.meter]
        if members:
            return list(dict.fromkeys(members))
    return [change.meter]


def change_cells(page: Page, change: Change, plan: MeterPlan | None) -> tuple[str, str, str]:
    """What a change is about, and its value before and after, as a sheet writes them."""
    none = page.m["none"]
    what, old, new = change.what, change.old, change.new
    if what == PACK_VALIDITY:
        assert isinstance(old, tuple) and isinstance(new, tuple)
        return (page.m["item_pack_validity"], page.duration("validity", *old),
                page.duration("validity", *new))
    if what in (PACK_REFUND, PACK_FREEZE):
        word = "refund" if what == PACK_REFUND else "freeze"
        return (page.text(f"item_pack_{word}"), page.m[f"{word}_{'yes' if old else 'no'}"],
                page.m[f"{word}_{'yes' if new else 'no'}"])
    assert plan is not None
    if what == ALLOWANCE:
        return (page.m["item_allowance"], count_or(page, old, plan), count_or(page, new, plan))
    if what in (PACK_PRICE, PACK_ADDED, PACK_WITHDRAWN):
        assert isinstance(change.key, Decimal)
        item = page.text("item_pack", size=page.quantity(change.key, plan))
        contact = page.m["price_contact"]
        withdrawn = page.m["pack_withdrawn"]
        return (item, contact if old == CONTACT_SALES else money_or(page, old, none),
                contact if new == CONTACT_SALES else money_or(page, new, withdrawn))
    if what == BRACKET_PRICE:
        assert isinstance(old, Bracket) and isinstance(new, Bracket)
        assert isinstance(change.key, int)
        return (page.text("item_bracket", bracket=page.bracket_header(new, plan)),
                page.price_cell(old, plan), page.price_cell(new, plan))
    if what == BRACKET_BOUND:
        assert isinstance(change.key, int)
        return (page.text("item_bound", n=str(change.key + 1)),
                quantity_or(page, old, plan), quantity_or(page, new, plan))
    if what in (LADDER_MINIMUM, LADDER_MAXIMUM):
        ladder = plan.ladder
        period = page.period_words(ladder) if ladder is not None else {
            "period": page.m["period_month"]}
        key = "item_minimum" if what == LADDER_MINIMUM else "item_maximum"
        return (page.text(key, **period), money_or(page, old, none),
                money_or(page, new, none))
    assert what == LADDER, what
    return (page.m["item_ladder"], ladder_or(page, old, plan), ladder_or(page, new, plan))


def count_or(page: Page, value: object, plan: MeterPlan) -> str:
    return page.count(value, plan) if isinstance(value, Decimal) else page.m["none"]


def quantity_or(page: Page, value: object, plan: MeterPlan) -> str:
    if isinstance(value, Decimal):
        return page.quantity(value, plan)
    return "∞"


def money_or(page: Page, value: object, otherwise: str) -> str:
    return page.money(value) if isinstance(value, Decimal) else otherwise


def ladder_or(page: Page, value: object, plan: MeterPlan) -> str:
    """A whole ladder in one cell: each bracket and its price."""
    if not isinstance(value, Ladder):
        return page.m["ladder_none"]
    return page.m["ladder_sep"].join(
        page.text("ladder_bracket", bracket=page.bracket_header(b, plan),
                  price=page.price_cell(b, plan))
        for b in value.brackets)


def _plan_of(book: PriceBook, other: PriceBook, name: str) -> MeterPlan | None:
    for source in (book, other):
        for plan in source.meters:
            if plan.name == name:
                return plan
    return None
