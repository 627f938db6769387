"""Lark parse tree → syntax tree (`nodes`). Shapes only: no semantic checks, never raises."""

from __future__ import annotations

import ast
import decimal
import re
from collections.abc import Iterable, Iterator
from datetime import date
from decimal import Decimal
from typing import Any

import attrs
import lark
from lark import Token, v_args

from ratecard import nodes as n
from ratecard.literals import NumberError, parse_number
from ratecard.source import SourceFile, Span

_PERCENT_CONTEXT = decimal.Context(
    prec=decimal.MAX_PREC, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN
)

# Callbacks take the parse tree's children, whose types Lark does not know.


@v_args(meta=True, inline=True)
class ToNodes(lark.Transformer[Token, n.Rules]):
    """Builds one node type per grammar rule."""

    def __init__(self, source: SourceFile) -> None:
        super().__init__()
        self._source = source

    # --- positions -------------------------------------------------------
    def _span(self, meta: Any) -> Span:
        if getattr(meta, "empty", True):
            return self._source.span(0, 0)
        return self._source.span(meta.start_pos, meta.end_pos)

    def _token_span(self, token: Token) -> Span:
        start = token.start_pos or 0
        end = token.end_pos if token.end_pos is not None else start + len(token)
        return self._source.span(start, end)

    def _name(self, token: Token) -> n.Name:
        return n.Name(str(token), self._token_span(token))

    # --- terminals turned into nodes on the fly ----------------------------
    def __default_token__(self, token: Token) -> Any:
        if token.type in ("NAME", "ZONE"):
            return self._name(token)
        if token.type == "STRING":
            try:
                value = ast.literal_eval(str(token))
            except (ValueError, SyntaxError):
                value = str(token)[1:-1]
            return n.Text(str(value), str(token), self._token_span(token))
        if token.type in ("OPEN", "CLOSE"):
            return n.Text(str(token), str(token), self._token_span(token))
        if token.type == "DATE":
            try:
                day: date | None = date.fromisoformat(str(token))
                problem = ""
            except ValueError:
                day, problem = None, "not a day of the calendar"
            return n.Day(str(token), day, problem, self._token_span(token))
        if token.type == "PERCENT":
            # Exact for any length of digits (a plain division could round or overflow).
            digits = Decimal(str(token)[:-1])
            value = digits.scaleb(-2, _PERCENT_CONTEXT)
            return n.Percent(str(token), value, self._token_span(token))
        return token

    # --- the file --------------------------------------------------------------
    def start(self, meta: Any, *statements: Any) -> n.Rules:
        return n.Rules(self._source.name, _flat(statements))

    def number(self, meta: Any, token: Token) -> n.Number:
        try:
            value: Decimal | None = parse_number(str(token))
            problem = ""
        except NumberError as exc:
            value, problem = None, str(exc)
        return n.Number(str(token), value, problem, self._token_span(token))

    def label(self, meta: Any, *parts: Any) -> n.Label:
        return n.Label(tuple(p for p in parts if isinstance(p, n.Text)), self._span(meta))

    def name_list(self, meta: Any, *parts: Any) -> tuple[n.Name, ...]:
        return tuple(p for p in parts if isinstance(p, n.Name))

    # --- header ------------------------------------------------------------------
    def rules_decl(self, meta: Any, _kw: Token, name: n.Name, label: n.Label) -> n.RulesDecl:
        return n.RulesDecl(name, label, self._span(meta))

    def settings(self, meta: Any, *parts: Any) -> tuple[n.Setting, ...]:
        return tuple(p for p in parts if not isinstance(p, Token))

    def currency_setting(self, meta: Any, _kw: Token, code: n.Name) -> n.CurrencySetting:
        return n.CurrencySetting(code, self._span(meta))

    def rounding_setting(
        self, meta: Any, _kw: Token, mode: n.Name, increment: n.Number | None,
        scope: tuple[n.Name, n.Name] | None,
    ) -> n.RoundingSetting:
        return n.RoundingSetting(mode, increment, scope, self._span(meta))

    def rounding_scope(self, meta: Any, word: Token, where: n.Name) -> tuple[n.Name, n.Name]:
        return self._name(word), where

    def timezone_setting(self, meta: Any, _kw: Token, zone: n.Name) -> n.TimezoneSetting:
        return n.TimezoneSetting(zone, self._span(meta))

    def languages_setting(self, meta: Any, _kw: Token, *parts: Any) -> n.LanguagesSetting:
        names = tuple(p for p in parts if isinstance(p, n.Name))
        return n.LanguagesSetting(names, self._span(meta))

    # --- meters ---------------------------------------------------------------------
    def meter_decl(
        self, meta: Any, _kw: Token, name: n.Name, label: n.Label, *clauses: Any
    ) -> n.Meter:
        counts: list[n.Name] = []
        free: list[n.Name] = []
        units: list[n.Label] = []
        displays: list[n.DisplayUnit] = []
        roundings: list[n.QuantityRounding] = []
        minimums: list[n.EntryMinimum] = []
        count_units: list[n.CountUnit] = []
        amounts: list[n.AmountRounding] = []
        for kind, value in clauses:
            if kind == "counts":
                actions, count_unit = value
                counts.extend(actions)
                if count_unit is not None:
                    count_units.append(count_unit)
            elif kind == "amount":
                amounts.append(value)
            elif kind == "free":
                free.extend(value)
            elif kind == "unit":
                metered, display = value
                units.append(metered)
                if display is not None:
                    displays.append(display)
            elif kind == "minimum":
                minimums.append(value)
            else:
                roundings.append(value)
        return n.Meter(
            name, label, tuple(counts), tuple(free), tuple(units), tuple(roundings),
            self._span(meta), tuple(displays), tuple(minimums), tuple(count_units),
            tuple(amounts),
        )

    def counts_clause(
        self, meta: Any, _kw: Token, names: tuple[n.Name, ...], _in: Token | None,
        unit: n.Name | None,
    ) -> Any:
        if unit is None:
            return ("counts", (names, None))
        return ("counts", (names, n.CountUnit(names, unit, self._span(meta))))

    def free_clause(self, meta: Any, _kw: Token, names: tuple[n.Name, ...]) -> Any:
        return ("free", names)

    def unit_clause(
        self, meta: Any, _kw: Token, label: n.Label, _equals: Token | None,
        size: n.Number | None, metered: n.Label | None,
    ) -> Any:
        if size is None or metered is None:
            return ("unit", (label, None))
        # The metered unit's label is the meter's unit (E208 counts it); the display unit apart.
        return ("unit", (metered, n.DisplayUnit(label, size, self._span(meta))))

    def quantity_clause(
        self, meta: Any, _kw: Token, _rounded: Token, mode: n.Name, _to: Token,
        increment: n.Number,
    ) -> Any:
        return ("quantity", n.QuantityRounding(mode, increment, self._span(meta)))

    def entry_minimum_clause(
        self, meta: Any, _kw: Token, _at: Token, _least: Token, amount: n.Number, _per: Token,
        per: n.Name, wording: n.Label | None,
    ) -> Any:
        return ("minimum", n.EntryMinimum(amount, per, self._span(meta), wording))

    def amount_clause(
        self, meta: Any, _kw: Token, _rounded: Token, mode: n.Name, _to: Token,
        increment: n.Number,
    ) -> Any:
        return ("amount", n.AmountRounding(mode, increment, self._span(meta)))

    def unpriced_decl(
        self, meta: Any, _kw: Token, names: tuple[n.Name, ...], reason: n.Label | None
    ) -> n.Unpriced:
        return n.Unpriced(names, reason, self._span(meta))

    def every_meter(
        self, meta: Any, _every: Token, _meter: Token, _except: Token | None,
        excluded: tuple[n.Name, ...] | None,
    ) -> n.Target:
        return n.Target(True, (), self._span(meta), excluded or ())

    def named_meters(self, meta: Any, names: tuple[n.Name, ...]) -> n.Target:
        return n.Target(False, names, self._span(meta))

    def period(self, meta: Any, _kw: Token, unit: n.Name) -> n.Period:
        return n.Period(unit, self._span(meta))

    # --- allowance and packs ----------------------------------------------------------
    def allowance_decl(
        self, meta: Any, extra: Token | None, _kw: Token, amount: n.Number, period: n.Period,
        _on: Token, target: n.Target, shared: Token | None, while_kw: Token | None,
        _active: Token | None,
    ) -> n.Allowance:
        return n.Allowance(
            amount, period, target, shared is not None, while_kw is not None, self._span(meta),
            None if extra is None else self._name(extra),
        )

    def packs_decl(self, meta: Any, _kw: Token, *parts: Any) -> n.Packs:
        valid = tuple(p for p in parts if isinstance(p, n.PackValid))
        restrictions = tuple(p for p in parts if isinstance(p, n.PackNo))
        size_rows = [p for p in parts if isinstance(p, tuple) and p and p[0] == "sizes"]
        sizes_node = size_rows[0]
        rows = []
        above: tuple[n.Number, ...] = ()  # (the first `size` row: the table's own `sizes`)
        for part in parts:  # each row priced by the `size` row above it
            if isinstance(part, tuple) and part and part[0] == "sizes":
                above = () if part is sizes_node else part[1]
            elif isinstance(part, n.PackRow):
                rows.append(attrs.evolve(part, sizes=above))
        return n.Packs(valid, restrictions, sizes_node[1], tuple(rows), sizes_node[2],
                       self._span(meta),
                       tuple(p for p in parts if isinstance(p, n.PackRefund)),
                       tuple(p for p in parts if isinstance(p, n.PackStop)),
                       tuple(p[1] for p in size_rows[1:]))

    def pack_valid(self, meta: Any, _kw: Token, amount: n.Number, unit: n.Name) -> n.PackValid:
        return n.PackValid(amount, unit, self._span(meta))

    def pack_no(self, meta: Any, _kw: Token, what: n.Name) -> n.PackNo:
        return n.PackNo(what, self._span(meta))

    def pack_refund(
        self, meta: Any, _kw: Token, _within: Token, amount: n.Number, unit: n.Name, _if: Token,
        _unused: Token,
    ) -> n.PackRefund:
        return n.PackRefund(amount, unit, self._span(meta))

    def pack_stop(self, meta: Any, _kw: Token, _when: Token, word: n.Name) -> n.PackStop:
        return n.PackStop(word, self._span(meta))

    def pack_sizes(self, meta: Any, _kw: Token, *sizes: n.Number) -> Any:
        return ("sizes", tuple(sizes), self._span(meta))

    def pack_row(self, meta: Any, meter: n.Name, *cells: n.PackCell) -> n.PackRow:
        return n.PackRow(meter, tuple(cells), self._span(meta))

    def pack_cell(self, meta: Any, value: n.Number) -> n.Number:
        return value

    def not_offered(self, meta: Any, _dash: Token) -> n.NotOffered:
        return n.NotOffered(self._span(meta))

    def contact_sales_cell(self, meta: Any, _contact: Token, _sales: Token) -> n.ContactSalesCell:
        return n.ContactSalesCell(self._span(meta))

    # --- ladders ----------------------------------------------------------------------
    def ladder_decl(
        self, meta: Any, _kw: Token, mode: n.Name, _by: Token | None, basis: n.Name | None,
        period: n.Period, _on: Token, target: n.Target, combined: Token | None,
        _lbrace: Token, *items: Any,
    ) -> n.Ladder:
        return n.Ladder(
            mode,
            basis,
            period,
            target,
            combined is not None,
            tuple(i for i in items if isinstance(i, n.Bracket)),
            tuple(i for i in items if isinstance(i, n.Minimum)),
            tuple(i for i in items if isinstance(i, n.Maximum)),
            any(i == "flat_at_zero" for i in items),
            self._span(meta),
        )

    def order_decl(
        self, meta: Any, _kw: Token, name: n.Name, label: n.Label, *items: Any
    ) -> n.Order:
        return n.Order(
            name,
            label,
            tuple(i for i in items if isinstance(i, n.OrderMinimum)),
            tuple(i[1][0] for i in items if isinstance(i, tuple) and i and i[0] == "unit"),
            tuple(i for i in items if isinstance(i, n.Bracket)),
            self._span(meta),
            tuple(i[1][1] for i in items
                  if isinstance(i, tuple) and i and i[0] == "unit" and i[1][1] is not None),
        )

    def grant_decl(
        self, meta: Any, _kw: Token, name: n.Name, label: n.Label, amount: n.Number,
        when: n.Period | None, _on: Token, target: n.Target, valid: n.PackValid | None,
    ) -> n.Grant:
        return n.Grant(name, label, amount, when, target, valid, self._span(meta))

    def grant_once(self, meta: Any, _kw: Token) -> None:
        return None

    def credit_prepaid(self, meta: Any, _kw: Token) -> None:
        return None

    def credit_decl(self, meta: Any, _kw: Token, name: n.Name, label: n.Label,
                    *parts: Any) -> n.Credit:
        amount = parts[0] if isinstance(parts[0], n.Number) else None
        rest = parts[1:] if amount is not None else parts
        # rest: (None: once / prepaid), `on`, target, validity
        target = next(p for p in rest if isinstance(p, n.Target))
        valid = next((p for p in rest if isinstance(p, n.PackValid)), None)
        return n.Credit(name, label, amount, target, valid, self._span(meta))

    def request_decl(self, meta: Any, _kw: Token, name: n.Name, label: n.Label | None,
                     *items: Any) -> n.Request:
        return n.Request(
            name, label,
            tuple(i for i in items if isinstance(i, n.RequestQuantity)),
            tuple(i for i in items if isinstance(i, n.RequestProperty)),
            self._span(meta),
            tuple(i for i in items if isinstance(i, n.RequestCharge)),
        )

    def request_charge(self, meta: Any, _kw: Token, meter: n.Name, *rest: Any) -> n.RequestCharge:
        # (`unless` is the last keyword: the name after it is the exception)
        unless = None
        names = list(rest)
        if len(names) >= 2 and isinstance(names[-2], Token) and names[-2].type == "UNLESS":
            unless = names[-1]
            names = names[:-2]
        return n.RequestCharge(meter, tuple(r for r in names if isinstance(r, n.Name)),
                               self._span(meta), unless)

    def prices_decl(self, meta: Any, _kw: Token, request: n.Name, _per: Token | None,
                    per: n.Number | None, _lbrace: Token, *items: Any) -> n.Prices:
        header = next(i for i in items if isinstance(i, tuple))
        return n.Prices(
            request, per,
            tuple(i for i in items if isinstance(i, n.PriceDerivation)),
            header[0], header[1],
            tuple(i for i in items if isinstance(i, n.PriceRow)),
            self._span(meta),
        )

    def modifier_decl(self, meta: Any, _kw: Token, name: n.Name, label: n.Label | None,
                      _when: Token, *items: Any) -> n.Modifier:
        conditions = tuple(i for i in items if isinstance(i, n.PropertyCondition))
        factor = next(i for i in items if isinstance(i, n.Number))
        meters = next(i for i in items if isinstance(i, tuple))
        return n.Modifier(name, label, conditions, factor, meters, self._span(meta))

    def property_condition(self, meta: Any, prop: n.Name, _eq: Token,
                           value: n.Text | n.Name) -> n.PropertyCondition:
        return n.PropertyCondition(prop, value, self._span(meta))

    def quantity_sum(self, meta: Any, *items: Any) -> n.QuantitySum:
        names = tuple(i for i in items if isinstance(i, n.Name))
        compare = next(i for i in items if isinstance(i, Token) and i.type == "COMPARE")
        limit = next(i for i in items if isinstance(i, n.Number))
        return n.QuantitySum(names, str(compare) == ">", limit, self._span(meta))

    def above_decl(self, meta: Any, _kw: Token, name: n.Name, label: n.Label | None,
                   _when: Token, *items: Any) -> n.Above:
        header = next(i for i in items if isinstance(i, tuple))
        return n.Above(
            name, label,
            tuple(i for i in items if isinstance(i, n.PropertyCondition)),
            tuple(i for i in items if isinstance(i, n.QuantitySum)),
            header[0], header[1],
            tuple(i for i in items if isinstance(i, n.PriceRow)),
            self._span(meta),
        )

    def price_derivation(self, meta: Any, meter: n.Name, _eq: Token, base: n.Name,
                         _times: Token, factor: n.Number) -> n.PriceDerivation:
        return n.PriceDerivation(meter, base, factor, self._span(meta))

    def price_header(self, meta: Any, prop: n.Name, *meters: n.Name) -> tuple[n.Name, Any]:
        return prop, tuple(meters)

    def price_row(self, meta: Any, value: n.Text, *cells: Any) -> n.PriceRow:
        return n.PriceRow(value, tuple(cells), self._span(meta))

    def request_quantity(self, meta: Any, _kw: Token, name: n.Name, _into: Token,
                         meter: n.Name) -> n.RequestQuantity:
        return n.RequestQuantity(name, meter, self._span(meta))

    def request_property(self, meta: Any, _kw: Token, name: n.Name, kind: Any,
                         _default: Token | None, default: Any) -> n.RequestProperty:
        values, word = kind
        return n.RequestProperty(name, values, word, default, self._span(meta))

    def property_values(self, meta: Any, *parts: Any) -> tuple[tuple[n.Text, ...], None]:
        return tuple(p for p in parts if isinstance(p, n.Text)), None

    def property_type(self, meta: Any, word: n.Name) -> tuple[tuple[n.Text, ...], n.Name]:
        return (), word

    def property_value(self, meta: Any, value: n.Text | n.Name) -> n.Text | n.Name:
        return value

    def order_minimum(self, meta: Any, _kw: Token, amount: n.Number) -> n.OrderMinimum:
        return n.OrderMinimum(amount, self._span(meta))

    def subscription_decl(
        self, meta: Any, _kw: Token, name: n.Name, label: n.Label, *items: Any
    ) -> n.Subscription:
        return n.Subscription(
            name,
            label,
            tuple(i for i in items if isinstance(i, n.Period)),
            tuple(i for i in items if isinstance(i, n.Prorate)),
            tuple(i for i in items if isinstance(i, n.SubscriptionMaximum)),
            tuple(i[1][0] for i in items if isinstance(i, tuple) and i and i[0] == "unit"),
            next((i for i in items if isinstance(i, n.Covers)), None),
            tuple(i for i in items if isinstance(i, n.Bracket)),
            self._span(meta),
            tuple(i[1][1] for i in items
                  if isinstance(i, tuple) and i and i[0] == "unit" and i[1][1] is not None),
        )

    def prorate_clause(self, meta: Any, _kw: Token, _by: Token, basis: n.Name) -> n.Prorate:
        return n.Prorate(basis, self._span(meta))

    def covers_clause(
        self, meta: Any, _kw: Token, one: Token | None, _of: Token | None, target: n.Target,
        up: n.Name | None, _to: Token | None, cap: n.Number | None, _per: Token | None = None,
        per: n.Name | None = None,
    ) -> n.Covers:
        return n.Covers(target, one is not None, cap, self._span(meta), up, per)

    def subscription_maximum(
        self, meta: Any, _kw: Token, amount: n.Number
    ) -> n.SubscriptionMaximum:
        return n.SubscriptionMaximum(amount, self._span(meta))

    def fee_decl(
        self, meta: Any, _kw: Token, name: n.Name, label: n.Label, amount: n.Number,
        period: n.Period, *rest: Any,
    ) -> n.Fee:
        proration = next((i for i in rest if isinstance(i, n.Prorate)), None)
        return n.Fee(name, label, amount, period, proration, self._span(meta))

    def price_decl(
        self, meta: Any, kw: Token, meters: tuple[n.Name, ...], price: Any
    ) -> n.Ladder:
        # `price M P` is the one-bracket ladder `volume by postpaid per month on M { (0, ∞) P }`;
        # the words it leaves out point at the keyword, the bracket at the price.
        at = self._token_span(kw)
        where = self._span(meta)
        terms: tuple[n.PriceTerm, ...] = ()
        contact = None
        if isinstance(price, n.ContactSales):
            contact = price
            price_span = price.span
        else:
            terms = price
            price_span = self._source.span(terms[0].span.start, terms[-1].span.end)
        bracket = n.Bracket(
            n.Text("(", "(", at), n.Number("0", Decimal(0), "", at), n.Unbounded(at),
            n.Text(")", ")", at), terms, contact, price_span,
        )
        target_span = self._source.span(meters[0].span.start, meters[-1].span.end)
        return n.Ladder(
            n.Name("volume", at), n.Name("postpaid", at), n.Period(n.Name("month", at), at),
            n.Target(False, meters, target_span), False, (bracket,), (), (), False,
            short=True, span=where,
        )

    def bracket(
        self, meta: Any, open_: n.Text, lo: n.Bound, _comma: Token, hi: n.Bound,
        close: n.Text, price: Any,
    ) -> n.Bracket:
        if isinstance(price, n.ContactSales):
            return n.Bracket(open_, lo, hi, close, (), price, self._span(meta))
        return n.Bracket(open_, lo, hi, close, price, None, self._span(meta))

    def bound(self, meta: Any, value: n.Number) -> n.Number:
        return value

    def unbounded(self, meta: Any, _token: Token) -> n.Unbounded:
        return n.Unbounded(self._span(meta))

    def price(self, meta: Any, *terms: Any) -> tuple[n.PriceTerm, ...]:
        return tuple(t for t in terms if not isinstance(t, Token))

    def flat_price(self, meta: Any, *terms: Any) -> tuple[n.PriceTerm, ...]:
        return tuple(t for t in terms if not isinstance(t, Token))

    def contact_sales(self, meta: Any, _contact: Token, _sales: Token) -> n.ContactSales:
        return n.ContactSales(self._span(meta))

    def unit_price(
        self, meta: Any, amount: n.Number, _per: Token | None, per: n.Number | None
    ) -> n.UnitPrice:
        return n.UnitPrice(amount, per, self._span(meta))

    def flat_fee(self, meta: Any, amount: n.Number, _flat: Token) -> n.FlatFee:
        return n.FlatFee(amount, self._span(meta))

    def block_price(
        self, meta: Any, amount: n.Number, _per: Token, _block: Token, _of: Token,
        size: n.Number, rounding: n.Name,
    ) -> n.BlockPrice:
        return n.BlockPrice(amount, size, rounding, self._span(meta))

    def block_rounding(self, meta: Any, _rounded: Token, mode: n.Name) -> n.Name:
        return mode

    def block_prorated(self, meta: Any, token: Token) -> n.Name:
        return n.Name("prorated", self._token_span(token))

    def ladder_flat_at_zero(self, meta: Any, *_tokens: Token) -> str:
        return "flat_at_zero"

    def ladder_minimum(self, meta: Any, _kw: Token, amount: n.Number) -> n.Minimum:
        return n.Minimum(amount, self._span(meta))

    def ladder_maximum(self, meta: Any, _kw: Token, amount: n.Number) -> n.Maximum:
        return n.Maximum(amount, self._span(meta))

    # --- deduction, alerts, bills ----------------------------------------------------------
    def deduct_decl(self, meta: Any, _kw: Token, *parts: Any) -> n.Deduct:
        steps = tuple(p for p in parts if isinstance(p, n.DeductStep))
        return n.Deduct(steps, self._span(meta))

    def deduct_step(
        self, meta: Any, source: n.Name, _by: Token | None, order: n.Name | None,
        _then: Token | None, then: n.Name | None,
    ) -> n.DeductStep:
        return n.DeductStep(source, order, self._span(meta), then)

    def alert_decl(self, meta: Any, _kw: Token, *parts: Any) -> n.Alert:
        conditions = tuple(p for p in parts if isinstance(p, n.AlertCondition))
        return n.Alert(conditions, self._span(meta))

    def alert_condition(self, meta: Any, *parts: Any) -> n.AlertCondition:
        words = tuple(p for p in parts if isinstance(p, n.Name))
        percent = parts[-1] if isinstance(parts[-1], n.Percent) else None
        return n.AlertCondition(words, percent, self._span(meta))

    def bill_daily_decl(
        self, meta: Any, _kw: Token, period: n.Period, _on: Token, target: n.Target
    ) -> n.Bill:
        return n.Bill(period, None, False, self._span(meta), False, target)

    def bill_decl(self, meta: Any, _kw: Token, period: n.Period, *options: Any) -> n.Bill:
        issued: n.Number | None = None
        settle = False
        skip_empty = False
        for option in options:
            if isinstance(option, n.Number):
                issued = option
            elif option == "settle":
                settle = True
            elif option == "skip_empty":
                skip_empty = True
        return n.Bill(period, issued, settle, self._span(meta), skip_empty)

    def bill_issued(
        self, meta: Any, _issued: Token, _on: Token, _day: Token, day: n.Number
    ) -> n.Number:
        return day

    def bill_settle(self, meta: Any, *_tokens: Token) -> str:
        return "settle"

    def bill_skip_empty(self, meta: Any, *_tokens: Token) -> str:
        return "skip_empty"

    def suspend_decl(
        self, meta: Any, _kw: Token, _for: Token, reasons: tuple[n.Name, ...]
    ) -> n.Suspend:
        return n.Suspend(reasons, self._span(meta))


    # --- versions and contracts ----------------------------------------------------------
    def version_decl(
        self, meta: Any, _kw: Token, start: n.Day, _until: Token | None, until: n.Day | None,
        keep: n.Keep | None, body: tuple[n.Statement, ...] | None,
    ) -> n.Version:
        return n.Version(start, until, keep, body, self._span(meta))

    def version_body(self, meta: Any, _open: Token, *parts: Any) -> tuple[n.Statement, ...]:
        return _flat(parts[:-1])

    def keep_clause(self, meta: Any, *parts: Any) -> n.Keep:
        days = [p for p in parts if isinstance(p, n.Day)]
        return n.Keep(days[0], days[1], self._span(meta))

    def contract_decl(
        self, meta: Any, _kw: Token, name: n.Name, label: n.Label | None, _extends: Token,
        path: n.Text,
    ) -> n.ContractDecl:
        return n.ContractDecl(name, label, path, self._span(meta))

    def accounts_decl(self, meta: Any, _kw: Token, *parts: Any) -> n.Accounts:
        accounts = tuple(
            p if isinstance(p, n.Name) else n.Name(p.value, p.span)
            for p in parts if isinstance(p, n.Name | n.Text)
        )
        return n.Accounts(accounts, self._span(meta))

    def discount_decl(
        self, meta: Any, _kw: Token, percent: n.Percent, _on: Token, target: n.Target
    ) -> n.Discount:
        return n.Discount(percent, target, self._span(meta))

    def minimum_spend_decl(
        self, meta: Any, _kw: Token, _spend: Token, amount: n.Number, period: n.Period
    ) -> n.MinimumSpend:
        return n.MinimumSpend(amount, period, self._span(meta))


def _flat(statements: Iterable[Any]) -> tuple[n.Statement, ...]:
    """Statements, with the settings of one line (a tuple) spread out."""
    flat: list[n.Statement] = []
    for statement in statements:
        if isinstance(statement, tuple):
            flat.extend(statement)
        else:
            flat.append(statement)
    return tuple(flat)


def to_nodes(tree: lark.Tree, source: SourceFile) -> n.Rules:  # type: ignore[type-arg]
    """The syntax tree of a parsed rules file, with its `# allow:` comments."""
    rules = ToNodes(source).transform(tree)
    return attrs.evolve(rules, allows=tuple(_allows(source, tree)))


# --- `# allow:` comments ----------------------------------------------------------------------

# `# allow: W003, W004 the page prices all units alike`: codes, then an optional reason. A word
# that looks like a code (`W03`, `w003`, `E203`) is taken as one, so that `check` can say it is
# wrong; the reason starts at the first word that does not.
_ALLOW = re.compile(r"#\s*allow\s*:")
_CODE = re.compile(r"[\s,]*([EWew]\d{2,4})\b")


def comment_spans(text: str, tokens: Iterable[Token]) -> Iterator[tuple[int, int]]:
    """(start, end) of every comment of a parsed file: `#` to the end of its line.

    Between two tokens there is only whitespace and comments, so a `#` there starts one.
    """
    position = 0
    for token in [*tokens, None]:
        stop = len(text) if token is None else token.start_pos or 0
        at = text.find("#", position, stop)
        while at != -1:
            end = text.find("\n", at, stop)
            end = stop if end == -1 else end
            yield at, end
            at = text.find("#", end, stop)
        if token is not None:
            position = token.end_pos if token.end_pos is not None else stop + len(token)


def _allows(source: SourceFile, tree: lark.Tree) -> Iterator[n.Allow]:  # type: ignore[type-arg]
    text = source.text
    tokens = tree.scan_values(lambda value: isinstance(value, Token))
    for start, end in comment_spans(text, tokens):
        head = _ALLOW.match(text, start, end)
        if head is None:
            continue
        codes: list[n.Name] = []
        at = head.end()
        while (code := _CODE.match(text, at, end)) is not None:
            codes.append(n.Name(code.group(1), source.span(code.start(1), code.end(1))))
            at = code.end()
        reason = text[at:end].strip().lstrip(",:;-—–").strip()
        written = start + len(text[start:end].rstrip())
        yield n.Allow(tuple(codes), reason, source.span(start, written))
