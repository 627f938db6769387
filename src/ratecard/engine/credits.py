"""Credits: money, not units, that pays the amounts of a bill's lines before the balance.

A credit is declared by the rules (`credit NAME label ...`): `granted` credits give an amount
once, when the account opens (a 50 元 trial credit); `prepaid` credits are bought by a journal's
`credit` entry, for the amount the entry gives (a prepaid commitment). Each issue is a
`CreditLot`, valid for the credit's span from its issue. When a month's bill is closed, the
lots issued before the month ends and valid through its end pay, in the order the rules declare
the credits (then earliest expiry, then earliest issue), the amounts of the lines of the meters
each credit applies to, meter by meter in the bill's order: each payment is a `credit` line
(negative amount, the lot's id in `pack`) after the meter's lines, and the bill lists every
lot's balance (`Bill.credits`). A lot spent or expired pays no more; what an expired lot held is
lost. Every yuan of a lot is spent at most once: `paid` never exceeds what the lot held.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

import attrs

from ratecard.engine.bills import Bill, BillLine, CreditBalance, Source
from ratecard.engine.money import ZERO

GRANTED = "granted"
PREPAID = "prepaid"


@attrs.frozen
class CreditPlan:
    """A declared credit: `amount` (None for a prepaid credit, whose entry gives it) on
    `meters`, valid `valid_amount` `valid_unit`s from its issue; `rank` its priority (the order
    the rules declare credits in, first paying first)."""

    name: str
    labels: tuple[str, ...]
    amount: Decimal | None
    meters: tuple[str, ...]
    valid_amount: int
    valid_unit: str
    rank: int

    @property
    def kind(self) -> str:
        return PREPAID if self.amount is None else GRANTED


@attrs.define
class CreditLot:
    """One issue of a credit: what it held, what is left, when issued and when it expires."""

    id: str
    credit: str
    amount: Decimal
    remaining: Decimal
    issued: datetime
    expires: datetime
    rank: int

    def order_key(self) -> tuple[int, datetime, datetime]:
        return (self.rank, self.expires, self.issued)


def apply_credits(
    bill: Bill, lots: Sequence[CreditLot], plans: dict[str, CreditPlan], end: datetime,
) -> Bill:
    """`bill` with the credits valid at the month's `end` paying its lines (lots updated in
    place) and its credit balances; its total is left for the caller to compute again from
    the lines, by the rules' rounding (`pricebook.bill_total`)."""
    usable = sorted((lot for lot in lots if lot.issued < end <= lot.expires),
                    key=CreditLot.order_key)
    paid_by: dict[str, Decimal] = {}
    out: list[BillLine] = []
    lines = bill.lines
    for index, line in enumerate(lines):
        out.append(line)
        last = index + 1 == len(lines) or lines[index + 1].meter != line.meter
        if not last:
            continue
        owed = sum((x.amount for x in lines if x.meter == line.meter), ZERO)
        for lot in usable:
            if owed <= 0:
                break
            if lot.remaining <= 0 or line.meter not in plans[lot.credit].meters:
                continue
            taken = min(owed, lot.remaining)
            lot.remaining -= taken
            owed -= taken
            paid_by[lot.id] = paid_by.get(lot.id, ZERO) + taken
            out.append(BillLine(line.meter, Source.CREDIT, ZERO, ZERO, -taken, -taken,
                                pack=lot.id))
    balances = tuple(
        CreditBalance(lot.id, lot.credit, lot.amount, paid_by.get(lot.id, ZERO), lot.remaining,
                      lot.expires)
        for lot in sorted(lots, key=CreditLot.order_key) if lot.issued < end)
    if not paid_by and not balances:
        return bill
    return attrs.evolve(bill, lines=tuple(out), credits=balances)
