"""Postpaid ladders: the block with a table per ladder (a column per bracket, a row per meter),
how a bracket is chosen (volume or graduated, on which quantity), and what a table cannot show
(combined meters, minimum, maximum, flat fees)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

from ratecard.engine.ladders import (
    BASIS_AFTER_ALLOWANCE,
    BASIS_TOTAL,
    GRADUATED,
    Bracket,
    Ladder,
)
from ratecard.engine.pricebook import MeterPlan
from ratecard.engine.pricing import LadderGroup
from ratecard.engine.requests import PriceTable
from ratecard.literals import format_plain
from ratecard.render.filters import plural
from ratecard.render.page import Page, is_calls
from ratecard.render.view import Block, Piece, Rich, Table, joined, plain_text


def postpaid_block(page: Page) -> Block | None:
    groups = page.book.ladder_groups
    if not groups:
        return None
    bullets: list[Rich] = []
    flat: dict[str, Ladder] = {}
    for group in groups:
        bullets.extend(ladder_notes(page, group))
        if any(b.flat for b in group.ladder.brackets):
            flat.setdefault(group.ladder.mode, group.ladder)
    for mode, ladder in sorted(flat.items()):
        key = "flat_graduated" if mode == GRADUATED else "flat_volume"
        bullets.append(page.fmt(key, **page.period_words(ladder)))
    if any(b.price is None for group in groups for b in group.ladder.brackets):
        bullets.append(page.fmt("contact_note"))
    tables: list[Table] = []
    celled = {cell for plan in page.book.requests.values()
              for _, by_value in plan.cells.values()
              for variants in by_value.values() for cell in variants.values()}
    plain = [g for g in groups if g.ladder.short and g.meters[0] not in celled]
    for group in groups:
        if not group.ladder.short:
            tables.append(ladder_table(page, group))
        elif group is next(iter(plain), None):
            tables.append(price_table(page, plain))
    for priced in page.book.price_tables:
        tables.append(cell_table(page, priced))
        for variant in priced.variants:
            tables.append(cell_table(page, variant))
            bullets.append(variant_note(page, variant))
    return Block("postpaid", page.m["postpaid"], (page.paragraph(mode_sentences(page)),),
                 tuple(tables), tuple(bullets))


def ladder_table(page: Page, group: LadderGroup) -> Table:
    """One ladder: a column per bracket, a row per meter it prices."""
    ladder = group.ladder
    plans = page.group_plans(group)
    first = plans[0]
    corner = page.text("ladder_corner_calls" if is_calls(first) else "ladder_corner",
                       units=plural(page.units[first.name]), **page.period_words(ladder))
    header = (corner, *(page.bracket_header(b, first) for b in ladder.brackets))
    rows = tuple(
        (page.names[p.name], *(page.price_cell(b, p) for b in ladder.brackets))
        for p in plans
    )
    return Table(header, rows, tuple(p.name for p in plans))


def price_table(page: Page, groups: Sequence[LadderGroup]) -> Table:
    """The meters written with a flat price (`price web_search 10 per 1000`): one table of plain
    prices, a row per meter, in the place of the first of them (not a one-column ladder each)."""
    header = (page.m["price_corner"], page.m["price_column"])
    plans = [p for group in groups for p in page.group_plans(group)]
    rows = tuple(
        (page.names[p.name], page.price_cell(p.ladder.brackets[0], p))  # type: ignore[union-attr]
        for p in plans
    )
    return Table(header, rows, tuple(p.name for p in plans))


def cell_table(page: Page, table: PriceTable) -> Table:
    """A request's price table as the rules write it: a row per value of its property, a
    column per meter (`prices`), not a row per cell."""
    plans = {plan.name: plan for plan in page.book.meters}
    corner = (table.property if table.rule is None else
              page.text("variant_corner", name=_label(page, table), property=table.property))
    header = (corner, *(page.names[cells[0]].split(" · ", 1)[0]
                        for cells in zip(*(row for _, row in table.rows), strict=True)))
    rows = tuple(
        (value, *(page.price_cell(_flat(plans[cell]), plans[cell]) for cell in row))
        for value, row in table.rows
    )
    # (its caption names the table: a variant's name, or the meters the base table prices)
    caption = _label(page, table) if table.rule is not None else plain_text(
        page.join(list(header[1:])))
    return Table(header, rows, caption=caption)


def variant_note(page: Page, variant: PriceTable) -> Rich:
    """When a modifier or threshold applies, and what it does."""
    rule = variant.rule
    assert rule is not None, "a variant has its rule"
    name = _label(page, variant)
    conditions = page.join([
        ((Piece(f"{prop} = "), Piece(_shown(value), code=True)))
        for prop, value in rule.conditions], "list_last_sep")
    meters = page.join([_meter_label(page, variant, i) for i in range(len(variant.meters))])
    if rule.limit is None:
        assert variant.factor is not None
        return page.fmt("modifier_note", name=name, conditions=conditions, meters=meters,
                        factor=format_plain(variant.factor))
    return page.fmt("threshold_note", name=name, conditions=conditions,
                    quantities=" + ".join(rule.quantities),
                    compare=">" if rule.strict else "≥",
                    limit=format_plain(rule.limit))


def _label(page: Page, variant: PriceTable) -> str:
    labels = variant.labels
    if not labels:
        return variant.request
    index = page.book.languages.index(page.lang) if page.lang in page.book.languages else 0
    return labels[min(index, len(labels) - 1)]


def _meter_label(page: Page, variant: PriceTable, column: int) -> str:
    cell = variant.rows[0][1][column]
    return page.names[cell].split(" · ", 1)[0]


def _shown(value: str | bool) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else value


def _flat(plan: MeterPlan) -> Bracket:
    assert plan.ladder is not None, "a table's cell has its price"
    return plan.ladder.brackets[0]


def ladder_notes(page: Page, group: LadderGroup) -> list[Rich]:
    """What a ladder's table cannot show: combined meters, minimum, maximum, flat at zero."""
    ladder = group.ladder
    plans = page.group_plans(group)
    meters = page.meter_list(plans)
    period = page.period_words(ladder)
    noun = page.noun_for(plans[0])
    notes = []
    if ladder.combined and len(plans) > 1:
        notes.append(page.fmt("combined", meters=meters, noun=noun))
    if ladder.minimum is not None:
        notes.append(page.fmt("minimum_note", meters=meters,
                              amount=page.money(ladder.minimum), **period))
    if ladder.maximum is not None:
        notes.append(page.fmt("maximum_note", meters=meters,
                              amount=page.money(ladder.maximum), **period))
    if ladder.flat_at_zero and ladder.brackets[0].flat:
        notes.append(page.fmt("flat_at_zero", meters=meters, noun=noun, **period))
    return notes


def mode_sentence(page: Page, group: LadderGroup) -> Rich:
    """How a ladder prices: which quantity chooses the bracket, and volume or graduated."""
    ladder = group.ladder
    plans = page.group_plans(group)
    words = page.meter_words(plans[0])
    if ladder.short:
        return page.fmt("mode_price")
    if len(ladder.brackets) == 1:
        return page.fmt("mode_single", **words)
    basis = basis_phrase(page, ladder, words, plans)
    if ladder.mode != GRADUATED:
        return page.fmt("mode_volume", basis=basis, **words)
    counted_before = ladder.basis != "postpaid" and len(page.sources(plans)) > 1
    return page.fmt("mode_graduated_last" if counted_before else "mode_graduated",
                    basis=basis, **words)


def mode_sentences(page: Page) -> list[Rich]:
    """How brackets are chosen: once if every ladder agrees, else per group of meters."""
    groups = page.book.ladder_groups
    sentences = [mode_sentence(page, group) for group in groups]
    if len(set(sentences)) <= 1:
        out = sentences[:1]
    else:
        out = [page.fmt("mode_for", meters=page.meter_list(page.group_plans(group)),
                        sentence=sentence)
               for group, sentence in zip(groups, sentences, strict=True)]
    if groups and all(_descending(group.ladder) for group in groups):
        out.append(page.fmt("descending"))
    return out


def basis_phrase(
    page: Page, ladder: Ladder, words: Mapping[str, str], plans: Sequence[MeterPlan]
) -> Rich:
    """What selects the bracket, in words, from the ladder's basis and the deduction order
    (naming only the sources these meters have: a free quota, packs)."""
    order = page.sources(plans)
    before = order[: order.index("postpaid")] if "postpaid" in order else order
    before_words = [page.m[f"before_{source}"] for source in before]
    period = {**page.period_words(ladder), **words}
    if ladder.basis == BASIS_AFTER_ALLOWANCE:
        plain = "packs" not in order
        return page.fmt("basis_after_allowance_plain" if plain else "basis_after_allowance",
                        **period)
    if not before_words:
        return page.fmt("basis_all", **period)
    key = "basis_total" if ladder.basis == BASIS_TOTAL else "basis_postpaid"
    return page.fmt(key, before=joined(before_words, page.m["and_sep"]), **period)


def _descending(ladder: Ladder) -> bool:
    """True when every bracket has a plain unit price, each lower than the one before."""
    brackets = ladder.brackets
    if len(brackets) < 2 or any(b.price is None or b.flat for b in brackets):
        return False
    prices = [b.unit_price for b in brackets]
    return all(later < earlier for earlier, later in itertools.pairwise(prices))
