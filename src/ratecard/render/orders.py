"""One-time orders: each product sold by order, its price per unit by the order's quantity
(all units at the bracket the order falls in), and its minimum order."""

from __future__ import annotations

from ratecard.render.filters import bracket_text, format_quantity, format_unit_price
from ratecard.render.page import Page
from ratecard.render.view import Block, Rich, Table


def orders_block(page: Page) -> Block | None:
    if not page.book.orders:
        return None
    tables = []
    bullets: list[Rich] = []
    for plan in page.book.orders:
        name = page.label(plan.labels, f"order `{plan.name}`", plan.name)
        unit = page.label(plan.unit, f"the unit of order `{plan.name}`", "unit")
        brackets = plan.ladder.brackets
        header = (page.m["order_corner"], *(
            bracket_text(b.lo, b.hi, page.lang, page.m["order_noun"], page.m, b.closed_low)
            for b in brackets))
        cells = tuple(page.m["price_contact"] if b.price is None else
                      format_unit_price(b.price, page.book.currency, page.lang, unit, b.per)
                      for b in brackets)
        tables.append(Table(header, ((name, *cells),)))
        if plan.minimum > 1:
            bullets.append(page.fmt("order_minimum", product=name,
                                    minimum=format_quantity(plan.minimum, page.lang, unit)))
    bullets.append(page.fmt("order_all_units"))
    return Block("orders", page.m["orders"], (), tuple(tables), tuple(bullets))
