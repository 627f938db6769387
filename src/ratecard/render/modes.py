"""The billing modes part: prepaid and postpaid side by side (payment, cycle, products,
when to choose it), then each mode in a paragraph."""

from __future__ import annotations

from collections.abc import Sequence

from ratecard.engine.pricebook import MeterPlan
from ratecard.render import ladders, packs
from ratecard.render.page import Page
from ratecard.render.view import Block, Part, Table, plain_text


def modes_part(page: Page) -> Part | None:
    # The comparison ("best for") only where there is a choice: with one way to pay, the
    # prices part has said everything (a second account of the one mode would repeat it).
    if not (page.has_packs and page.has_ladders):
        return None
    columns = ["prepaid", "postpaid"]
    policy = page.book.packs
    cells = {
        "prepaid": (
            page.m["pay_prepaid"],
            page.m["list_sep"].join(dict.fromkeys(
                page.duration("cycle", terms.valid_amount, terms.valid_unit)
                for terms in page.pack_terms_groups()))
            if not page.uniform_terms()
            else page.duration("cycle", policy.valid_amount, policy.valid_unit),
            products(page, [p for p in page.book.meters if p.packs]),
            page.text("scenario_prepaid", validity=page.validity),
        ),
        "postpaid": (
            page.m["pay_postpaid"],
            _postpaid_cycle(page),
            products(page, [p for p in page.book.meters if p.ladder is not None]),
            page.m["scenario_postpaid"],
        ),
    }
    header = (page.m["modes_corner"], *(page.m[f"mode_{c}"] for c in columns))
    rows = tuple(
        (page.m[row], *(cells[c][index] for c in columns))
        for index, row in enumerate(("row_payment", "row_cycle", "row_products",
                                     "row_scenario"))
    )
    blocks = [Block("modes", tables=(Table(header, rows),))]
    blocks.append(Block("prepaid-detail", page.m["prepaid"], packs.prepaid_details(page)))
    settle = page.m["postpaid_bill_settle"] if page.book.billing.settle_from_balance else ""
    bill = page.fmt("postpaid_bill", day=str(page.book.billing.issued_day), settle=settle)
    daily = [plan for plan in page.book.meters if plan.name in page.book.billing.daily]
    if daily:  # (`bill per day on ...`)
        bill = page.paragraph([bill, page.fmt("postpaid_bill_daily",
                                              meters=page.meter_list(daily))])
    paragraph = page.paragraph([*ladders.mode_sentences(page), bill])
    blocks.append(Block("postpaid-detail", page.m["postpaid"], (paragraph,)))
    return Part("modes", page.m["modes"], tuple(blocks))


def _postpaid_cycle(page: Page) -> str:
    """Month; or, under `bill per day on ...`, day and month (ASR: 日 / 月)."""
    month = page.duration("cycle", 1, "month")
    if not page.book.billing.daily:
        return month
    day = page.duration("cycle", 1, "day")
    if all(plan.name in page.book.billing.daily for plan in page.book.meters
           if plan.ladder is not None):
        return day
    return page.m["list_sep"].join((day, month))


def products(page: Page, plans: Sequence[MeterPlan]) -> str:
    if len(plans) == len(page.book.meters):
        return page.m["all_products"]
    return plain_text(page.meter_list(plans))
