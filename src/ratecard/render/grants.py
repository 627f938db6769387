"""The grants block of the prices part: units given once when the account opens, or every
month, on some meters, with their validity and their place in the deduction order."""

from __future__ import annotations

from ratecard.engine.deduction import MONTHLY
from ratecard.render.page import Page
from ratecard.render.view import Block, Table, joined


def grants_block(page: Page) -> Block | None:
    grants = page.book.grants
    if not grants:
        return None
    rows = []
    for grant in grants:
        plans = [page.book.meter(name) for name in grant.meters]
        issued = page.m["grant_monthly" if grant.recurrence == MONTHLY else "grant_once"]
        valid = (page.m["grant_valid_month"] if grant.valid_amount is None
                 else page.duration("validity", grant.valid_amount, grant.valid_unit))
        meters = page.meter_list(plans)
        rows.append((page.label(grant.labels, f"grant `{grant.name}`", grant.name),
                     page.text("grant_each" if len(plans) > 1 else "grant_one", meters=meters),
                     page.count(grant.amount, plans[0]) if plans else page.m["none"],
                     issued, valid))
    table = Table((page.m["grant_corner"], page.m["grant_meters"], page.m["grant_units"],
                   page.m["grant_issued"], page.m["grant_valid"]), tuple(rows),
                  tuple("" for _ in rows))
    names = {grant.name: page.label(grant.labels, f"grant `{grant.name}`", grant.name)
             for grant in grants}
    chain = [names[source] if source in names else page.m[f"source_{source}"]
             for source in page.book.deduct_order]
    bullets = (page.fmt("grant_order", order=joined(chain, " > ")),
               page.fmt("grant_lapse"))
    return Block("grants", page.m["grants"], (page.fmt("grant_lead"),), (table,), bullets)


def credits_block(page: Page) -> Block | None:
    credits = page.book.credits
    if not credits:
        return None
    rows = []
    for credit in credits:
        plans = [page.book.meter(name) for name in credit.meters]
        amount = (page.m["credit_prepaid"] if credit.amount is None
                  else page.money(credit.amount))
        rows.append((page.label(credit.labels, f"credit `{credit.name}`", credit.name),
                     page.text("grant_one", meters=page.meter_list(plans))
                     if len(plans) < len(page.book.meters)
                     else page.m["credit_every"], amount,
                     page.duration("validity", credit.valid_amount, credit.valid_unit)))
    table = Table((page.m["credit_corner"], page.m["grant_meters"], page.m["credit_amount"],
                   page.m["grant_valid"]), tuple(rows), tuple("" for _ in rows))
    return Block("credits", page.m["credits"], (page.fmt("credit_lead"),), (table,),
                 (page.fmt("credit_order"),))
