"""The free quota block of the prices part: each meter's (or shared pool's) monthly allowance,
and where it comes in the deduction order."""

from __future__ import annotations

from ratecard.render.page import Page
from ratecard.render.view import Block, Table, joined


def free_block(page: Page) -> Block | None:
    entries = page.allowances()
    if not entries:
        return None
    meters = [plan for plan in page.book.meters if plan.name not in page.cells]
    order = page.sources()
    # With packs on sale the free quota is presented as a free pack (the first one drawn);
    # without packs it is what it is, a free quota.
    pack = page.has_packs
    first = (page.m["free_first" if pack else "free_first_quota"]
             if order and order[0] == "allowance" else "")
    tables: tuple[Table, ...] = ()
    uniform = (
        len(entries) == len(meters)
        and not any(shared for _, _, shared in entries)
        and len({(amount, page.units[plans[0].name]) for plans, amount, _ in entries}) == 1
    )
    if uniform:
        plan = entries[0][0][0]
        # "Whichever way you pay": with packs there are two ways (every meter has a ladder).
        lead = page.fmt("free_every" if pack else "free_every_quota",
                        amount=page.count(entries[0][1], plan), first=first)
    else:
        lead = page.fmt("free_some" if pack else "free_some_quota", first=first)
        rows = []
        keys = []  # a shared pool's row is about several meters: no one meter's anchor
        covered: set[str] = set()
        for plans, amount, shared in entries:
            covered.update(p.name for p in plans)
            name = (page.text("free_shared", meters=page.meter_list(plans)) if shared
                    else page.names[plans[0].name])
            rows.append((name, page.count(amount, plans[0])))
            keys.append("" if shared else plans[0].name)
        for p in meters:
            if p.name not in covered:
                rows.append((page.names[p.name], page.m["none"]))
                keys.append(p.name)
        tables = (Table((page.m["free_corner"], page.m["free_column"]), tuple(rows),
                        tuple(keys)),)
    bullets = []
    if order and order[0] == "allowance" and len(order) > 1:
        rest = [page.m[f"chain_{source}"] for source in order[1:]]
        key = ("free_chain" if len(rest) > 1 else "free_chain_one") if pack \
            else "free_chain_quota"
        bullets.append(page.fmt(key, rest=joined(rest, page.m["then_sep"])))
    bullets.append(page.fmt("free_month"))
    return Block("free", page.m["free"], (lead,), tables, tuple(bullets))
