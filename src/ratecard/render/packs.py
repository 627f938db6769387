"""Prepaid packs: the block of pack prices (a table per unit), their validity and order of use,
what they do not allow, and the prepaid detail of the billing modes part."""

from __future__ import annotations

from decimal import Decimal

from ratecard.engine.pricebook import MeterPlan
from ratecard.render.filters import format_percent
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
    # A table per unit and, within a unit, per set of sizes on sale: meters whose packs come
    # in other sizes (a `size` row of their own) get a table of their own, so that no row is
    # filled out with sizes its meter does not sell.
    by_unit: dict[tuple[str, Decimal | None], list[MeterPlan]] = {}
    for plan in page.book.meters:
        if plan.packs:
            key = (page.units[plan.name], plan.display_size)
            by_unit.setdefault(key, []).append(plan)
    by_sizes: dict[tuple[str, Decimal | None, tuple[Decimal, ...]], list[MeterPlan]] = {}
    for key, plans in by_unit.items():
        shared = len({_sizes(plan) for plan in plans}) > 1 and _nested(plans)
        for plan in plans:
            by_sizes.setdefault((*key, () if shared else _sizes(plan)), []).append(plan)
    tables = []
    for plans in by_sizes.values():
        sizes = sorted({offer.size for plan in plans for offer in plan.packs})
        header = (page.m["pack_corner"],
                  *(page.quantity(size, plans[0]) for size in sizes))
        rows = []
        meters = tuple(plan.name for plan in plans)
        for plan in plans:
            cells = []
            for size in sizes:
                offer = plan.pack(size)
                cells.append(page.m["none"] if offer is None
                             else page.m["price_contact"] if offer.price is None
                             else page.money(offer.price))
            rows.append((page.names[plan.name], *cells))
        tables.append(Table(header, tuple(rows), meters))
    lost = "" if policy.frozen_after_expiry else page.text("pack_lost")
    order = page.fmt("pack_order_expiry" if policy.order == "expiry"
                     else "pack_order_purchase_smallest" if policy.smallest_first
                     else "pack_order_purchase")
    bullets: tuple[Rich, ...]
    if page.uniform_terms():
        bullets = (page.fmt("pack_validity", validity=page.validity, lost=lost), order)
    else:
        bullets = (*terms_sentences(page, lost), order)
    return Block("prepaid", page.m["prepaid"], lead, tuple(tables), bullets)


def _sizes(plan: MeterPlan) -> tuple[Decimal, ...]:
    return tuple(offer.size for offer in plan.packs)


def _nested(plans: list[MeterPlan]) -> bool:
    """Whether one meter's sizes hold every other's: then they share one table, the others'
    missing sizes shown as not sold (a table written with one `size` row and `-` cells)."""
    widest = max((set(_sizes(plan)) for plan in plans), key=len)
    return all(set(_sizes(plan)) <= widest for plan in plans)


def terms_sentences(page: Page, lost: str) -> list[Rich]:
    """Each pack table's own terms, by the meters it sells packs of."""
    return [
        page.fmt(
            "pack_terms", meters=page.meter_list(plans),
            validity=page.duration("validity", terms.valid_amount, terms.valid_unit),
            refund="" if terms.refund_amount is None else page.text(
                "pack_refund", window=page.duration(
                    "validity", terms.refund_amount, terms.refund_unit)),
            stop=page.text("pack_stop") if terms.stop_when_exhausted else "",
            lost=lost)
        for terms, plans in page.pack_terms_groups().items()
    ]


def pack_restriction(page: Page, prefix: str) -> Rich | None:
    policy = page.book.packs
    # Some tables refundable within a window: each table's terms say which.
    refundable = policy.refundable or any(
        plan.pack_terms.refund_amount is not None for plan in page.book.meters)
    if not refundable and not policy.frozen_after_expiry:
        return page.fmt(f"{prefix}_no_refund_freeze")
    if not refundable:
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
    if not page.uniform_terms():  # tables of their own terms: each says its own
        lost = "" if policy.frozen_after_expiry else page.text("pack_lost")
        overflow = page.m["prepaid_detail_overflow"] if page.overflow_to_postpaid() else ""
        sentences = [*terms_sentences(page, lost),
                     *([page.fmt("prepaid_detail_overflow_alone")] if overflow else [])]
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
