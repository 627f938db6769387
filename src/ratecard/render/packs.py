"""Prepaid packs: the block of pack prices (a table per unit), their validity and order of use,
what they do not allow, and the prepaid detail of the billing modes part."""

from __future__ import annotations

from ratecard.engine.pricebook import MeterPlan
from ratecard.render.filters import format_percent, format_quantity
from ratecard.render.page import Page
from ratecard.render.view import Block, Rich, Table, joined


def prepaid_block(page: Page) -> Block | None:
    if not page.has_packs:
        return None
    policy = page.book.packs
    lead: tuple[Rich, ...] = ()
    restriction = pack_restriction(page, "prepaid")
    if restriction is not None:
        lead = (restriction,)
    by_unit: dict[str, list[MeterPlan]] = {}
    for plan in page.book.meters:
        if plan.packs:
            by_unit.setdefault(page.units[plan.name], []).append(plan)
    tables = []
    for unit, plans in by_unit.items():
        sizes = sorted({offer.size for plan in plans for offer in plan.packs})
        header = (page.m["pack_corner"],
                  *(format_quantity(size, page.lang, unit) for size in sizes))
        rows = []
        meters = tuple(plan.name for plan in plans)
        for plan in plans:
            cells = []
            for size in sizes:
                offer = plan.pack(size)
                cells.append(page.m["none"] if offer is None else page.money(offer.price))
            rows.append((page.names[plan.name], *cells))
        tables.append(Table(header, tuple(rows), meters))
    lost = "" if policy.frozen_after_expiry else page.text("pack_lost")
    bullets = (
        page.fmt("pack_validity", validity=page.validity, lost=lost),
        page.fmt("pack_order_expiry" if policy.order == "expiry" else "pack_order_purchase"),
    )
    return Block("prepaid", page.m["prepaid"], lead, tuple(tables), bullets)


def pack_restriction(page: Page, prefix: str) -> Rich | None:
    policy = page.book.packs
    if not policy.refundable and not policy.frozen_after_expiry:
        return page.fmt(f"{prefix}_no_refund_freeze")
    if not policy.refundable:
        return page.fmt(f"{prefix}_no_refund")
    if not policy.frozen_after_expiry:
        return page.fmt(f"{prefix}_no_freeze")
    return None


def prepaid_details(page: Page) -> tuple[Rich, ...]:
    policy = page.book.packs
    alerts = page.book.alerts
    several = any(len(p.packs) > 1 for p in page.book.meters)
    detail = page.fmt(
        "prepaid_detail",
        sizes=page.m["prepaid_detail_sizes"] if several else "",
        validity=page.validity,
        lost="" if policy.frozen_after_expiry else page.text("prepaid_detail_lost",
                                                             validity=page.validity),
        overflow=page.m["prepaid_detail_overflow"] if page.overflow_to_postpaid() else "",
    )
    sentences = [detail]
    conditions = []
    if alerts.low_threshold is not None:
        conditions.append(page.text("alert_low", percent=format_percent(alerts.low_threshold,
                                                                    page.lang)))
    if alerts.exhausted:
        conditions.append(page.m["alert_exhausted"])
    if conditions:
        then = page.text("alert_then") if alerts.exhausted and page.overflow_to_postpaid() \
            else ""
        sentences.append(page.fmt("alerts", conditions=joined(conditions, page.m["or_sep"]),
                                  then=then))
    if alerts.expired:
        sentences.append(page.fmt("alert_expired"))
    return (page.paragraph(sentences),)
