"""Subscriptions and recurring fees: each subscription's price per unit and period by the
subscribed quantity (all units at the bracket it falls in), how a partial period is charged, its
maximum and the usage it covers; then the fees every account pays."""

from __future__ import annotations

from ratecard.engine.subscriptions import SubscriptionPlan
from ratecard.render.filters import bracket_text, format_quantity, format_unit_price
from ratecard.render.page import Page
from ratecard.render.view import Block, Rich, Table


def subscriptions_block(page: Page) -> Block | None:
    plans = page.book.subscriptions
    if not plans:
        return None
    tables = []
    bullets: list[Rich] = []
    for plan in plans:
        name = page.label(plan.labels, f"subscription `{plan.name}`", plan.name)
        period = page.m[f"period_{plan.period}"]
        if plan.automatic:
            bracket = plan.ladder.brackets[0]
            assert bracket.price is not None, "a fee has a price"
            price = f"{format_unit_price(bracket.price, page.book.currency, page.lang, period)}"
            prorated = "" if plan.proration is None else page.m[f"fee_prorated_{plan.proration}"]
            bullets.append(page.fmt("fee_line", fee=name, price=price, period=period,
                                    prorated=prorated))
            continue
        unit = page.label(plan.unit, f"the unit of subscription `{plan.name}`", "unit")
        brackets = plan.ladder.brackets
        header = (page.m["subscription_corner"], *(
            bracket_text(b.lo, b.hi, page.lang, page.m["subscription_noun"], page.m,
                         b.closed_low)
            for b in brackets))
        cells = tuple(page.m["price_contact"] if b.price is None else
                      format_unit_price(b.price, page.book.currency, page.lang, unit) + "/"
                      + period for b in brackets)
        tables.append(Table(header, ((name, *cells),)))
        bullets.extend(_terms(page, plan, name, unit, period))
    if tables:
        bullets.append(page.fmt("subscription_all_units"))
    return Block("subscriptions", page.m["subscriptions"], (), tuple(tables), tuple(bullets))


def _terms(page: Page, plan: SubscriptionPlan, name: str, unit: str,
           period: str) -> list[Rich]:
    terms = [page.fmt(f"subscription_{plan.period}_{plan.proration or 'whole'}"
                      if not (plan.period == "day" and plan.proration == "day")
                      else "subscription_day_whole", plan=name)]
    if plan.maximum is not None:
        terms.append(page.fmt("subscription_maximum", plan=name,
                              maximum=format_quantity(plan.maximum, page.lang, unit)))
    if plan.covers:
        rate = {1: "second", 60: "minute", 3600: "hour"}.get(plan.rate_seconds or 0)
        cap = "" if plan.cap is None else "".join(
            piece.text for piece in page.fmt(
                "subscription_cap" if rate is None else "subscription_rate",
                cap=format_quantity(plan.cap, page.lang), unit=unit, period=period,
                rate="" if rate is None else page.m[f"rate_{rate}"]))
        if plan.one:
            terms.append(page.fmt("subscription_covers_one", plan=name, cap=cap))
        else:
            meters = "、".join(page.label(page.book.meter(m).labels, f"meter `{m}`", m)
                              for m in plan.covers) if page.lang == "zh" else ", ".join(
                page.label(page.book.meter(m).labels, f"meter `{m}`", m) for m in plan.covers)
            terms.append(page.fmt("subscription_covers", plan=name, meters=meters, cap=cap))
    return terms
