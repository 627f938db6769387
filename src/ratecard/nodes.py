"""The syntax tree of a rules file: frozen attrs nodes, each with the span it came from.

Nodes hold what was written, not what it means: a misspelt ladder mode is a `Name` like any
other, and a malformed number keeps its text and the reason it is malformed. `check.py` turns
those into diagnostics; `compile.py` turns a clean tree into evaluator objects.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import cast

import attrs

from ratecard.source import Span


@attrs.frozen
class Name:
    """An identifier as written: a meter, an action, a keyword-like choice (`volume`, `month`)."""

    value: str
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Text:
    """A string literal, unquoted and unescaped; `raw` is the token as written, quotes and all."""

    value: str
    raw: str = attrs.field(eq=False, repr=False)
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Number:
    """A number literal: its text and exact value; if malformed, no value and why."""

    text: str
    value: Decimal | None
    problem: str
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Percent:
    """A percentage literal such as `15%`; `value` is the fraction (0.15)."""

    text: str
    value: Decimal
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Label:
    """Display names, one per language, in the order of `languages` (zh / en by default)."""

    texts: tuple[Text, ...]
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class RulesDecl:
    """`rules bda "人体分析" / "Body Analysis"`: the sheet's identifier and display name."""

    name: Name
    label: Label
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class CurrencySetting:
    """`currency CNY`."""

    code: Name
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class RoundingSetting:
    """`rounding half_up 0.01 [per line | on total]` or `rounding exact`: how a bill's amounts
    are rounded, to what increment, and where (`scope`: the words after the increment, as
    written: `per line`, `on total`; None when left out)."""

    mode: Name
    increment: Number | None
    scope: tuple[Name, Name] | None
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class TimezoneSetting:
    """`timezone Asia/Shanghai`: the zone whose calendar months are the billing periods."""

    zone: Name
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class LanguagesSetting:
    """`languages zh / en`: the languages of every label, in order."""

    languages: tuple[Name, ...]
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class QuantityRounding:
    """`quantity rounded up to 1`: decimal quantities, each recorded one rounded so."""

    mode: Name
    increment: Number
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class EntryMinimum:
    """`quantity at least 300 per entry`: each entry's quantity billed as at least this."""

    amount: Number
    per: Name
    span: Span = attrs.field(eq=False, repr=False)
    # How the price sheet words the minimum (the page's words), if the rules give it.
    wording: Label | None = None


@attrs.frozen
class CountUnit:
    """`counts code_execution in hours`: these actions' counts are in the meter's display
    unit, each counted as that many display units of metered units."""

    actions: tuple[Name, ...]
    unit: Name
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class AmountRounding:
    """`amount rounded half_up to 0.000001`: each bill line of the meter rounded so."""

    mode: Name
    increment: Number
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class DisplayUnit:
    """`unit "小时" / "hour" = 3600 "秒" / "second"`: the unit a sheet shows quantities and
    prices in (`label`), and how many metered units (`size`) make one."""

    label: Label
    size: Number
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Meter:
    """A meter: the actions counted into it, those recorded but never billed, and its unit."""

    name: Name
    label: Label
    counts: tuple[Name, ...]
    free: tuple[Name, ...]
    units: tuple[Label, ...]
    quantity_roundings: tuple[QuantityRounding, ...]
    span: Span = attrs.field(eq=False, repr=False)
    # The display units of `unit ... = N ...` clauses (the metered unit's label is in `units`).
    display_units: tuple[DisplayUnit, ...] = ()
    entry_minimums: tuple[EntryMinimum, ...] = ()
    count_units: tuple[CountUnit, ...] = ()
    amount_roundings: tuple[AmountRounding, ...] = ()


@attrs.frozen
class Unpriced:
    """Actions that exist but that these rules do not price: using one is an error."""

    actions: tuple[Name, ...]
    reason: Label | None
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Target:
    """The meters a statement applies to: `every meter` (less those `excluded`, from `every
    meter except a, b`), or a list of names."""

    every: bool
    meters: tuple[Name, ...]
    span: Span = attrs.field(eq=False, repr=False)
    excluded: tuple[Name, ...] = ()

    def of(self, meters: Iterable[str]) -> list[str]:
        """The names this target applies to among `meters` (the sheet's, in its order): all
        but the excluded for `every meter`, else the listed ones that are among them."""
        known = list(meters)
        if self.every:
            out = {name.value for name in self.excluded}
            return [m for m in known if m not in out]
        return [m.value for m in self.meters if m.value in known]


@attrs.frozen
class Period:
    """`per month`, `per day`."""

    unit: Name
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Allowance:
    """A free quota: `allowance 1000 per month on every meter while active`."""

    amount: Number
    period: Period
    target: Target
    shared: bool
    while_active: bool
    span: Span = attrs.field(eq=False, repr=False)
    extra: Name | None = None  # `extra allowance ...` (contracts: added to the sheet's)


@attrs.frozen
class PackValid:
    """`valid 1 year`: how long a pack lasts from the instant it is bought."""

    amount: Number
    unit: Name
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class PackNo:
    """`no refund`, `no freeze`: something packs do not allow."""

    what: Name
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class PackRefund:
    """`refundable within 7 days if unused`: an undrawn pack may be returned in that window."""

    amount: Number
    unit: Name
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class PackStop:
    """`stop when exhausted`: usage past the allowance and these packs is rejected."""

    word: Name
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class NotOffered:
    """A `-` cell in a pack table: this size is not sold for this meter."""

    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class ContactSalesCell:
    """A `contact sales` cell in a pack table: sold by negotiation, at no published price."""

    span: Span = attrs.field(eq=False, repr=False)


PackCell = Number | NotOffered | ContactSalesCell


@attrs.frozen
class PackRow:
    """One meter's pack prices, one cell per size of the `size` row above it: `sizes`, or,
    when empty, the table's first `size` row (`Packs.row_sizes`)."""

    meter: Name
    cells: tuple[PackCell, ...]
    span: Span = attrs.field(eq=False, repr=False)
    sizes: tuple[Number, ...] = ()


@attrs.frozen
class Packs:
    """A table of prepaid packs: sizes across, meters down, prices in the cells."""

    valid: tuple[PackValid, ...]
    restrictions: tuple[PackNo, ...]
    sizes: tuple[Number, ...]
    rows: tuple[PackRow, ...]
    sizes_span: Span = attrs.field(eq=False, repr=False)
    span: Span = attrs.field(eq=False, repr=False)
    refunds: tuple[PackRefund, ...] = ()
    stops: tuple[PackStop, ...] = ()
    # `size` rows after the first: meters whose packs come in other sizes, each priced by the
    # `size` row above it (see `row_sizes`).
    more_sizes: tuple[tuple[Number, ...], ...] = ()

    def row_sizes(self, row: PackRow) -> tuple[Number, ...]:
        """The sizes a row's cells price: those of the `size` row above it."""
        return row.sizes or self.sizes


@attrs.frozen
class Unbounded:
    """`∞` (or `inf`): the open upper end of the last bracket."""

    span: Span = attrs.field(eq=False, repr=False)


Bound = Number | Unbounded


@attrs.frozen
class UnitPrice:
    """`0.002` per unit, or `0.10 per 1000` per thousand units."""

    amount: Number
    per: Number | None
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class BlockPrice:
    """`10 per block of 5 rounded up`: a price per block of units, blocks rounded up or down."""

    amount: Number
    size: Number
    rounding: Name
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class FlatFee:
    """`10 flat`: charged once when the bracket is reached."""

    amount: Number
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class ContactSales:
    """`contact sales`: a bracket with no published price."""

    span: Span = attrs.field(eq=False, repr=False)


PriceTerm = UnitPrice | BlockPrice | FlatFee


@attrs.frozen
class Bracket:
    """One bracket `(lo, hi]` and its price."""

    open: Text
    lo: Bound
    hi: Bound
    close: Text
    terms: tuple[PriceTerm, ...]
    contact_sales: ContactSales | None
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Minimum:
    """`minimum 10`: the least a period's postpaid charge may be (a true-up line fills the gap)."""

    amount: Number
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Maximum:
    """`maximum 100`: the most a period's postpaid charge may be (a cap)."""

    amount: Number
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Ladder:
    """A postpaid price ladder: mode, basis, period, meters and brackets.

    `short` marks a flat price written `price web_search 10 per 1000`: the parser makes it this
    one-bracket ladder `volume by postpaid per month`, `(0, ∞)`, so every later stage prices it as
    the ladder it is; `fmt` and `render` show it in its short form.
    """

    mode: Name
    basis: Name | None
    period: Period
    target: Target
    combined: bool
    brackets: tuple[Bracket, ...]
    minimums: tuple[Minimum, ...]
    maximums: tuple[Maximum, ...]
    flat_at_zero: bool
    short: bool = attrs.field(default=False, kw_only=True)
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class DeductStep:
    """One source of units in the deduction order: `allowance`, `packs by expiry`, `postpaid`."""

    source: Name
    order: Name | None
    span: Span = attrs.field(eq=False, repr=False)
    then: Name | None = None  # `packs by purchase then smallest`: how ties are broken


@attrs.frozen
class Deduct:
    """The order in which usage is deducted from the sources."""

    steps: tuple[DeductStep, ...]
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class AlertCondition:
    """`pack remaining below 15%`, `pack exhausted`, `pack expired`."""

    words: tuple[Name, ...]
    percent: Percent | None
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Alert:
    """The pack alerts these rules raise."""

    conditions: tuple[AlertCondition, ...]
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Bill:
    """`bill per month, issued on day 1, settle from balance, skip empty`, or `bill per day on
    realtime, sentence` (`target`: the meters billed day by day; None for the monthly bill)."""

    period: Period
    issued_day: Number | None
    settle_from_balance: bool
    span: Span = attrs.field(eq=False, repr=False)
    skip_empty: bool = False
    target: Target | None = None


@attrs.frozen
class Suspend:
    """`suspend for arrears, violation`: the reasons an account may be suspended."""

    reasons: tuple[Name, ...]
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Day:
    """A day literal, `2027-01-01`: its text and value; if not a real day, no value and why."""

    text: str
    value: date | None
    problem: str
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Keep:
    """`keep accounts opened before D1 until D2`: grandfathering of a version."""

    before: Day
    until: Day
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Version:
    """`from 2027-01-01 { ... }`: what changes from a day; in a contract, without a block and
    with `until`, the contract's term (`body` is None when there is no block)."""

    start: Day
    until: Day | None
    keep: Keep | None
    body: tuple[Statement, ...] | None
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class ContractDecl:
    """`contract acme "Acme" extends "bda-2027.rules"`: a contract file's header."""

    name: Name
    label: Label | None
    extends: Text
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Accounts:
    """`accounts acme, "acme-eu"`: the accounts a contract applies to."""

    accounts: tuple[Name, ...]
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Discount:
    """`discount 20% on detection, search`: a contract's discount on postpaid lines."""

    percent: Percent
    target: Target
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class MinimumSpend:
    """`minimum spend 500 per month`: a contract's least bill per period."""

    amount: Number
    period: Period
    span: Span = attrs.field(eq=False, repr=False)


Setting = CurrencySetting | RoundingSetting | TimezoneSetting | LanguagesSetting
@attrs.frozen
class OrderMinimum:
    """`minimum 50`: the fewest units one order may buy."""

    amount: Number
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Order:
    """`order NAME label, minimum N { brackets }`: a product bought once, N units at a time,
    each order priced all-units by the bracket its own quantity falls in."""

    name: Name
    label: Label
    minimums: tuple[OrderMinimum, ...]
    units: tuple[Label, ...]
    brackets: tuple[Bracket, ...]
    span: Span = attrs.field(eq=False, repr=False)
    display_units: tuple[DisplayUnit, ...] = ()  # refused: an order counts what it shows


@attrs.frozen
class Prorate:
    """`prorated by day` / `prorated by second`: how a partial period is charged."""

    basis: Name
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Covers:
    """`covers [one of] TARGET [up to N]`: the meters a subscription makes free while it runs,
    up to N units per subscribed unit and period (None: without limit); `one`: the one meter
    the `subscribe` entry names."""

    target: Target
    one: bool
    cap: Number | None
    span: Span = attrs.field(eq=False, repr=False)
    up: Name | None = None  # the word before `to`: `up` (the checker says so)
    per: Name | None = None  # `up to N per second`: a rate, N units per second (or minute, hour)


@attrs.frozen
class SubscriptionMaximum:
    """`maximum 300`: the most units one subscription may buy."""

    amount: Number
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Grant:
    """`grant NAME label 50 once on a, b valid 5 years`: units given on each meter, issued once
    (at the account's opening; `period` None) or every period, drawn at its name's place in
    the deduction order."""

    name: Name
    label: Label
    amount: Number
    period: Period | None
    target: Target
    valid: PackValid | None
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class RequestQuantity:
    """`quantity input_tokens into input`: a quantity of a request, counted into a meter."""

    name: Name
    meter: Name
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Subscription:
    """`subscription NAME label, per month, prorated by day, covers ... { brackets }`: a fee
    per unit and period, bought by a `subscribe` entry and charged until cancelled, every unit
    at the bracket the subscribed quantity falls in."""

    name: Name
    label: Label
    periods: tuple[Period, ...]
    prorations: tuple[Prorate, ...]
    maximums: tuple[SubscriptionMaximum, ...]
    units: tuple[Label, ...]
    covers: Covers | None
    brackets: tuple[Bracket, ...]
    span: Span = attrs.field(eq=False, repr=False)
    display_units: tuple[DisplayUnit, ...] = ()  # refused: a subscription counts what it shows


@attrs.frozen
class Fee:
    """`fee NAME label AMOUNT per month [, prorated by day]`: a recurring fee charged from the
    account's opening, with no entry."""

    name: Name
    label: Label
    amount: Number
    period: Period
    proration: Prorate | None
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class RequestProperty:
    """`property model "a", "b" [default "a"]` or `property context_1m bool [default false]`:
    a setting of a request and the values it may take (`values` empty and `type` the word
    written, `bool`, for a type; `type` None for a list of strings)."""

    name: Name
    values: tuple[Text, ...]
    type: Name | None
    default: Text | Name | None
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Credit:
    """`credit NAME label 50 once on ... valid 3 months` (granted at the opening) or `credit
    NAME label prepaid on ... valid 1 year` (`amount` None: bought by a `credit` entry)."""

    name: Name
    label: Label
    amount: Number | None
    target: Target
    valid: PackValid | None
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class RequestCharge:
    """`charge METER [when PROP and PROP] [unless PROP]`: one unit into a meter per call, or
    per call whose named bool properties are all true (and, with `unless`, that one false)."""

    meter: Name
    when: tuple[Name, ...]
    span: Span = attrs.field(eq=False, repr=False)
    unless: Name | None = None  # free when this bool property is true too


@attrs.frozen
class Request:
    """`request NAME [label] { quantity ... property ... }`: an action whose journal entries
    carry several quantities, each counted into a meter, and properties with declared values."""

    name: Name
    label: Label | None
    quantities: tuple[RequestQuantity, ...]
    properties: tuple[RequestProperty, ...]
    span: Span = attrs.field(eq=False, repr=False)
    charges: tuple[RequestCharge, ...] = ()


@attrs.frozen
class PriceDerivation:
    """`cache_read = input × 0.1`: a column of a price table derived from another."""

    meter: Name
    base: Name
    factor: Number
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class PriceRow:
    """A row of a price table: a property value and a price (or `-`: derived) per column."""

    value: Text
    cells: tuple[PackCell, ...]
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Prices:
    """`prices REQUEST [per N] { derivations; header; rows }`: the request's meters (columns)
    priced by the value of one of its properties (rows)."""

    request: Name
    per: Number | None
    derivations: tuple[PriceDerivation, ...]
    property: Name
    meters: tuple[Name, ...]
    rows: tuple[PriceRow, ...]
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class PropertyCondition:
    """`service_tier = "batch"`: a request property's value (a string, or `true`/`false`)."""

    property: Name
    value: Text | Name
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class QuantitySum:
    """`input_tokens + cache_read_input_tokens > 200000`: a sum of a request's own quantities
    against a limit; `strict` for `>`, not for `≥` (`>=`)."""

    quantities: tuple[Name, ...]
    strict: bool
    limit: Number
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Modifier:
    """`modifier NAME [label] when CONDITIONS × FACTOR on METERS`."""

    name: Name
    label: Label | None
    conditions: tuple[PropertyCondition, ...]
    factor: Number
    meters: tuple[Name, ...]
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Above:
    """`above NAME [label] when CONDITIONS { table }`: a per-request threshold whose table
    reprices the request's units."""

    name: Name
    label: Label | None
    conditions: tuple[PropertyCondition, ...]
    sums: tuple[QuantitySum, ...]
    property: Name
    meters: tuple[Name, ...]
    rows: tuple[PriceRow, ...]
    span: Span = attrs.field(eq=False, repr=False)


Statement = (
    RulesDecl | Setting | Meter | Unpriced | Allowance | Packs | Ladder | Deduct | Alert | Bill
    | Suspend | Version | ContractDecl | Accounts | Discount | MinimumSpend | Order
    | Subscription | Fee | Grant | Credit | Request | Prices | Modifier | Above
)


@attrs.frozen
class Allow:
    """`# allow: W003 reason`: a comment that acknowledges warnings on its line (`span.line`).

    `codes` are the codes as written (checked by `check.py`), `reason` the text after them.
    """

    codes: tuple[Name, ...]
    reason: str
    span: Span = attrs.field(eq=False, repr=False)


@attrs.frozen
class Rules:
    """A whole rules file: its statements in source order, and its `# allow:` comments."""

    file: str
    statements: tuple[Statement, ...]
    allows: tuple[Allow, ...] = ()


def dump(node: object, indent: int = 0) -> str:
    """A readable, stable, multi-line dump of a tree (for snapshots and debugging)."""
    pad = "  " * indent
    if isinstance(node, Name | Text):
        return f"{pad}{type(node).__name__} {node.value!r}"
    if isinstance(node, Number):
        shown = node.text if node.value is None else f"{node.text} = {node.value}"
        return f"{pad}Number {shown}" + (f" ({node.problem})" if node.problem else "")
    if isinstance(node, Percent):
        return f"{pad}Percent {node.text}"
    if isinstance(node, Day):
        return f"{pad}Day {node.text}" + (f" ({node.problem})" if node.problem else "")
    if isinstance(node, bool):
        return f"{pad}{node}"
    if not attrs.has(type(node)):
        return f"{pad}{node!r}"
    lines = [f"{pad}{type(node).__name__}"]
    for field in attrs.fields(cast("type[attrs.AttrsInstance]", type(node))):
        if field.name == "span" or field.name.endswith("_span"):
            continue
        value = getattr(node, field.name)
        if isinstance(value, tuple):
            if not value:
                continue
            lines.append(f"{pad}  {field.name}:")
            lines.extend(dump(item, indent + 2) for item in value)
        elif value is None or value is False:
            continue
        elif isinstance(value, str):
            lines.append(f"{pad}  {field.name}: {value!r}")
        elif isinstance(value, bool):
            lines.append(f"{pad}  {field.name}: {value}")
        else:
            lines.append(f"{pad}  {field.name}:")
            lines.append(dump(value, indent + 2))
    return "\n".join(lines)
