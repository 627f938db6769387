"""The compiled price book: meters, routes from actions to meters, packs, ladders, and quotes."""

from __future__ import annotations

import decimal
from collections.abc import Mapping, Sequence
from decimal import Decimal
from zoneinfo import ZoneInfo

import attrs

from ratecard.diagnostics import Diagnostic, did_you_mean
from ratecard.engine.bills import Alert, Bill, BillLine
from ratecard.engine.deduction import Lot, deduct, lot_alerts
from ratecard.engine.ladders import BASIS_AFTER_ALLOWANCE, BASIS_TOTAL, Ladder
from ratecard.engine.money import CONTEXT, ZERO, Rounding
from ratecard.errors import UsageError
from ratecard.literals import NumberError, format_plain, parse_number


@attrs.frozen
class PackOffer:
    """A pack size on sale for a meter, and its price."""

    size: Decimal
    price: Decimal

    @property
    def unit_price(self) -> Decimal:
        return CONTEXT.divide(self.price, self.size)


@attrs.frozen
class MeterPlan:
    """Everything the evaluator needs about one meter, precomputed."""

    name: str
    labels: tuple[str, ...]
    unit: tuple[str, ...]
    actions: tuple[str, ...]
    free_actions: tuple[str, ...]
    allowance: Decimal
    ladder: Ladder | None
    packs: tuple[PackOffer, ...]

    def pack(self, size: Decimal) -> PackOffer | None:
        """The pack of this size, if it is on sale for this meter."""
        for offer in self.packs:
            if offer.size == size:
                return offer
        return None


@attrs.frozen
class HeldPack:
    """A pack held at the start of a quoted month: meter, size, units left (default: all)."""

    meter: str
    size: Decimal
    remaining: Decimal | None = None


@attrs.frozen
class AlertPolicy:
    """Which pack alerts the rules raise: below a fraction of the size, exhausted, expired."""

    low_threshold: Decimal | None = None
    exhausted: bool = False
    expired: bool = False


@attrs.frozen
class PackPolicy:
    """How long packs last, how they are ordered when drawn, and what they do not allow."""

    valid_amount: int = 1
    valid_unit: str = "year"
    order: str = "expiry"
    refundable: bool = True
    frozen_after_expiry: bool = True


@attrs.frozen
class BillingPolicy:
    """When bills are issued and how they settle; why an account may be suspended."""

    issued_day: int = 1
    settle_from_balance: bool = False
    suspend_reasons: tuple[str, ...] = ()
    allowance_while_active: bool = False


FREE = "free"


@attrs.frozen
class PriceBook:
    """A compiled rules file: immutable, thread-safe, and ready to quote and bill."""

    name: str
    labels: tuple[str, ...]
    languages: tuple[str, ...]
    currency: str
    rounding: Rounding
    timezone: str
    meters: tuple[MeterPlan, ...]
    routes: Mapping[str, str]  # action → meter name, or FREE
    unpriced: Mapping[str, tuple[str, ...]]  # action → reason labels (may be empty)
    deduct_order: tuple[str, ...]
    packs: PackPolicy
    alerts: AlertPolicy
    billing: BillingPolicy
    warnings: tuple[Diagnostic, ...] = attrs.field(default=(), eq=False, repr=False)
    _meters_by_name: Mapping[str, MeterPlan] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_meters_by_name", {m.name: m for m in self.meters})

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def meter(self, name: str) -> MeterPlan:
        """The meter of that name, or UsageError naming the nearest one."""
        try:
            return self._meters_by_name[name]
        except KeyError:
            hint = did_you_mean(name, self._meters_by_name)
            raise UsageError(f"unknown meter `{name}`" + (f"; {hint}" if hint else "")) from None

    def route(self, action: str) -> str:
        """The meter an action counts into, or FREE; UsageError for unknown or unpriced actions."""
        route = self.routes.get(action)
        if route is not None:
            return route
        if action in self.unpriced:
            reasons = self.unpriced[action]
            why = f": {' / '.join(reasons)}" if reasons else ""
            raise UsageError(f"action `{action}` is not priced by rules `{self.name}`{why}")
        hint = did_you_mean(action, list(self.routes) + list(self.unpriced))
        raise UsageError(
            f"unknown action `{action}` in rules `{self.name}`" + (f"; {hint}" if hint else "")
        )

    def parse_pack_size(self, meter: MeterPlan, text: str | Decimal | int) -> PackOffer:
        """The pack offer for a size in any number form of the language (100000, 100k, 10万)."""
        try:
            size = text if isinstance(text, Decimal) else parse_number(str(text))
        except NumberError as exc:
            raise UsageError(f"pack size: {exc}") from None
        offer = meter.pack(size)
        if offer is None:
            sizes = ", ".join(format_plain(p.size) for p in meter.packs) or "none"
            raise UsageError(
                f"meter `{meter.name}` has no pack of size {format_plain(size)} (sizes: {sizes})"
            )
        return offer

    # --- quoting -----------------------------------------------------------------
    def quote(
        self,
        usage: Mapping[str, int | Decimal | str],
        packs: Sequence[HeldPack] = (),
    ) -> Bill:
        """Price one month of usage given as totals per action, with packs held at its start.

        Packs are drawn in the order given (a quote has no purchase or expiry dates); the
        allowance is the full monthly allowance of an active account.
        """
        with decimal.localcontext(CONTEXT):
            totals = self._meter_totals(usage)
            lots_by_meter = self._lots(packs)
            lines: list[BillLine] = []
            alerts: list[Alert] = []
            for plan in self.meters:
                quantity = totals.get(plan.name, ZERO)
                lots = lots_by_meter.get(plan.name, [])
                lines.extend(self.price_meter(plan, quantity, plan.allowance, lots))
                alerts.extend(
                    lot_alerts(lots, self.alerts.low_threshold, self.alerts.exhausted, None)
                )
            return self.make_bill(lines, alerts)

    def make_bill(
        self, lines: Sequence[BillLine], alerts: Sequence[Alert], month: str | None = None
    ) -> Bill:
        """A bill whose total is the sum of its rounded lines."""
        total = self.rounding.round(sum((line.amount for line in lines), ZERO))
        return Bill(self.currency, total, tuple(lines), tuple(alerts), month)

    def price_meter(
        self, plan: MeterPlan, quantity: Decimal, allowance: Decimal, lots: Sequence[Lot]
    ) -> list[BillLine]:
        """Deduct a period's quantity for one meter and price what falls to postpaid."""
        if quantity <= 0:
            return []
        drawn = deduct(quantity, allowance, lots, self.deduct_order)
        lines: list[BillLine] = []
        nothing = self.rounding.round(ZERO)
        if drawn.allowance:
            lines.append(BillLine(plan.name, "allowance", drawn.allowance, ZERO, ZERO, nothing))
        for lot, taken in drawn.packs:
            lines.append(BillLine(plan.name, "pack", taken, ZERO, ZERO, nothing, pack=lot.id))
        if drawn.postpaid:
            lines.extend(self.postpaid_lines(plan, drawn.postpaid, quantity, drawn.allowance))
        return lines

    def postpaid_lines(
        self, plan: MeterPlan, postpaid: Decimal, total: Decimal, from_allowance: Decimal
    ) -> list[BillLine]:
        """The postpaid lines of one meter's period: a line per bracket charged, and adjustments."""
        ladder = plan.ladder
        if ladder is None:
            raise UsageError(
                f"meter `{plan.name}` has no postpaid price, and {format_plain(postpaid)} "
                "units are not covered by the allowance or packs"
            )
        if ladder.basis == BASIS_TOTAL:
            basis = total
        elif ladder.basis == BASIS_AFTER_ALLOWANCE:
            basis = total - from_allowance
        else:
            basis = postpaid
        lines = []
        charged = ZERO
        for charge in ladder.charges(postpaid, basis):
            charged += charge.precise_amount
            lines.append(
                BillLine(
                    plan.name,
                    "postpaid",
                    charge.quantity,
                    charge.unit_price,
                    charge.precise_amount,
                    self.rounding.round(charge.precise_amount),
                    bracket=charge.bracket.label,
                )
            )
        adjustment = ladder.adjustment(charged)
        if adjustment is not None:
            source, amount = adjustment
            lines.append(
                BillLine(plan.name, source, ZERO, ZERO, amount, self.rounding.round(amount))
            )
        return lines

    def _meter_totals(self, usage: Mapping[str, int | Decimal | str]) -> dict[str, Decimal]:
        totals: dict[str, Decimal] = {}
        for action, raw in usage.items():
            route = self.route(action)
            count = parse_count(action, raw)
            if route != FREE:
                totals[route] = totals.get(route, ZERO) + count
        return totals

    def _lots(self, packs: Sequence[HeldPack]) -> dict[str, list[Lot]]:
        lots: dict[str, list[Lot]] = {}
        for number, held in enumerate(packs, start=1):
            plan = self.meter(held.meter)
            offer = self.parse_pack_size(plan, held.size)
            remaining = offer.size if held.remaining is None else held.remaining
            if not 0 <= remaining <= offer.size:
                raise UsageError(
                    f"pack {plan.name}:{format_plain(offer.size)}: remaining "
                    f"{format_plain(remaining)} must be between 0 and the pack's size"
                )
            lot_id = f"{plan.name}:{format_plain(offer.size)}#{number}"
            lots.setdefault(plan.name, []).append(
                Lot(lot_id, plan.name, offer.size, remaining, offer.price)
            )
        return lots


def parse_count(action: str, raw: int | Decimal | str) -> Decimal:
    """A usage count: a whole number ≥ 0, in any number form of the language."""
    if isinstance(raw, bool):
        raise UsageError(f"{action}: count must be a whole number, not {raw!r}")
    try:
        count = raw if isinstance(raw, Decimal) else parse_number(str(raw))
    except NumberError as exc:
        raise UsageError(f"{action}: {exc}") from None
    if count < 0:
        raise UsageError(f"{action}: count {format_plain(count)} is negative")
    if count != count.to_integral_value():
        raise UsageError(f"{action}: count {format_plain(count)} is not a whole number")
    return count
