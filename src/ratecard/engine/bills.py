"""What the evaluator returns: bill lines, pack alerts, and bills."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from ratecard.literals import format_plain

SOURCES = ("allowance", "pack", "postpaid", "minimum", "maximum")


@attrs.frozen
class BillLine:
    """Units of one meter from one source, with their price and amount (precise and rounded).

    Allowance and pack lines cost nothing on the bill (packs are prepaid); postpaid lines carry
    the bracket and unit price (per block, with `blocks`, when the bracket prices blocks);
    `minimum` and `maximum` lines adjust a period's postpaid charge.
    """

    meter: str
    source: str
    quantity: Decimal
    unit_price: Decimal
    precise_amount: Decimal
    amount: Decimal
    bracket: str | None = None
    pack: str | None = None
    blocks: Decimal | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "meter": self.meter,
            "source": self.source,
            "quantity": format_plain(self.quantity),
            "unit_price": format_plain(self.unit_price),
            "amount": format_plain(self.amount),
            "precise_amount": format_plain(self.precise_amount),
            "bracket": self.bracket,
            "pack": self.pack,
            "blocks": None if self.blocks is None else format_plain(self.blocks),
        }


@attrs.frozen
class Alert:
    """A pack alert: `low` (below the threshold), `exhausted`, or `expired` with units left."""

    kind: str
    meter: str
    pack: str
    size: Decimal
    remaining: Decimal
    time: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "meter": self.meter,
            "pack": self.pack,
            "size": format_plain(self.size),
            "remaining": format_plain(self.remaining),
            "time": self.time,
        }


@attrs.frozen
class Bill:
    """A priced period: its lines, the alerts raised, and the total (the sum of rounded lines)."""

    currency: str
    total: Decimal
    lines: tuple[BillLine, ...]
    alerts: tuple[Alert, ...] = ()
    month: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form of DESIGN.md: money and quantities as strings."""
        data: dict[str, Any] = {"currency": self.currency}
        if self.month is not None:
            data["month"] = self.month
        data["total"] = format_plain(self.total)
        data["lines"] = [line.to_dict() for line in self.lines]
        data["alerts"] = [alert.to_dict() for alert in self.alerts]
        return data
