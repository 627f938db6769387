"""The warehouse against the Python engine: every bill of every account, to the fen.

The oracle is `PriceBook.bill` over each account's journal (its valid usage, purchases and events
in time order; at one instant events, then purchases, then usage, each in file order). Rules are
the shipped sheets or generated ones (every ladder mode, basis, price form, allowances own and
shared, packs by expiry and by purchase, suspension, settlement); journals span month ends and
daylight-saving changes, with times written with and without offsets, repeated ids, and bad rows.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

pytest.importorskip("duckdb")
pytest.importorskip("sqlglot")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import ratecard  # noqa: E402
from ratecard.engine.bills import month_text  # noqa: E402
from ratecard.engine.clock import (  # noqa: E402
    add_period,
    month_start,
    next_month,
    parse_time,
)
from ratecard.engine.money import ON_TOTAL  # noqa: E402
from ratecard.engine.pricebook import PriceBook  # noqa: E402
from ratecard.errors import UsageError  # noqa: E402
from ratecard.warehouse import bill_warehouse  # noqa: E402
from tests.conftest import RULES  # noqa: E402

# --- generated rules -----------------------------------------------------------------------------

ZONES = ("UTC", "Asia/Shanghai", "America/Los_Angeles", "Europe/Berlin", "Australia/Lord_Howe")
MODES = ("half_up", "half_even", "half_down", "up", "down", "ceiling", "floor")


@dataclass
class Sheet:
    """A generated rules file and what a journal for it may use."""

    text: str
    zone: str
    actions: dict[str, str]  # action → meter
    free: list[str]
    unpriced: list[str]
    decimal_meters: set[str]
    packs: dict[str, list[str]]  # meter → sizes on sale, as written
    reasons: list[str]
    negotiated: set[tuple[str, str]] = field(default_factory=set)  # `contact sales` (meter, size)
    grants: bool = False  # whether it declares grants or credits (journals give openings)
    book: PriceBook = field(init=False)

    def __post_init__(self) -> None:
        self.book = ratecard.loads(self.text, "generated.rules")


def _bracket_price(draw: st.DrawFn, last: bool, exact: bool = False) -> str:
    if last and draw(st.integers(0, 9)) == 0:
        return "contact sales"
    form = draw(st.sampled_from(("unit", "unit", "unit", "per", "per3", "block")))
    price = Decimal(draw(st.integers(0, 500))).scaleb(-draw(st.integers(0, 4)))
    if form == "unit":
        text = format(price, "f")
    elif form == "per":
        text = f"{format(price * 10, 'f')} per {draw(st.sampled_from(('10', '100', '1k')))}"
    elif form == "per3" and exact:
        # (Under `rounding exact`, a price per 3 whose unit price does not terminate is refused
        # by `check`, E934: one that does, 3 × p per 3.)
        text = f"{format(price * 3, 'f')} per 3"
    elif form == "per3":
        text = f"{format(price, 'f')} per 3"
    else:
        how = draw(st.sampled_from(("rounded up", "rounded down", "prorated")))
        text = f"{format(price * 10, 'f')} per block of {draw(st.sampled_from((10, 100)))} {how}"
    if draw(st.integers(0, 5)) == 0:
        text += f" + {draw(st.integers(1, 20))} flat"
    return text


def _ladder(draw: st.DrawFn, meters: Sequence[str], combined: bool, exact: bool = False) -> str:
    mode = draw(st.sampled_from(("volume", "graduated")))
    basis = draw(st.sampled_from(("postpaid", "total", "after_allowance")))
    bounds = sorted(draw(st.sets(st.sampled_from((50, 100, 300, 1000, 2500, 10000)), max_size=3)))
    edges = [0, *bounds]
    rows = []
    # Either form: `(lo, hi]`, or `[lo, hi)` (a quantity equal to hi is in the next bracket).
    opening, closing = draw(st.sampled_from((("(", "]"), ("(", "]"), ("[", ")"))))
    for index, low in enumerate(edges):
        last = index == len(edges) - 1
        high = "∞)" if last else f"{edges[index + 1]}{closing}"
        rows.append(f"  {opening}{low}, {high} {_bracket_price(draw, last, exact)}")
    extra = []
    if draw(st.integers(0, 7)) == 0:
        extra.append(f"  minimum {draw(st.integers(1, 30))}")
    elif draw(st.integers(0, 7)) == 0:
        extra.append(f"  maximum {draw(st.integers(5, 60))}")
    if draw(st.integers(0, 9)) == 0:
        extra.append("  charge flat at zero")
    on = ", ".join(meters) + (" combined" if combined else "")
    return f"ladder {mode} by {basis} per month on {on} {{\n" + "\n".join(rows + extra) + "\n}\n"


@st.composite
def sheets(
    draw: st.DrawFn,
    scopes: Sequence[str] = ("per line",),
    grants: bool | None = None,
    credits: bool | None = None,
) -> Sheet:
    """A valid rules file exercising what the warehouse must price like the engine; its
    rounding per line, or, drawn from `scopes`, `on total` or `exact`; with grants (issued
    once or per month, with a validity or not) if `grants`, or one time in four if None; with
    credits granted at the opening if `credits`, or one time in six if None."""
    zone = draw(st.sampled_from(ZONES))
    mode = draw(st.sampled_from(MODES))
    increment = draw(st.sampled_from(("0.01", "0.01", "1", "0.1")))
    scope = draw(st.sampled_from(tuple(scopes)))
    rounding = ("exact" if scope == "exact" else
                f"{mode} {increment}" + (" on total" if scope == "on total" else ""))
    count = draw(st.integers(1, 3))
    meters = [f"m{i}" for i in range(count)]
    actions: dict[str, str] = {}
    free: list[str] = []
    decimal_meters: set[str] = set()
    lines = [f'rules gen "G" / "G"\ncurrency USD, rounding {rounding}, timezone {zone}\n']
    for i, meter in enumerate(meters):
        counted = [f"Act{i}x", f"Act{i}y"][: draw(st.integers(1, 2))]
        actions.update(dict.fromkeys(counted, meter))
        clause = f'meter {meter} "M{i}" / "M{i}" counts {", ".join(counted)}'
        if draw(st.booleans()):
            free.append(f"Free{i}")
            clause += f" free Free{i}"
        if draw(st.integers(0, 3)) == 0:
            decimal_meters.add(meter)
            rmode = draw(st.sampled_from(MODES))
            rinc = draw(st.sampled_from(("0.001", "0.1", "1")))
            clause += f" quantity rounded {rmode} to {rinc}"
        lines.append(clause + "\n")
    unpriced = ["Unpriced0"] if draw(st.booleans()) else []
    if unpriced:
        lines.append("unpriced Unpriced0\n")
    has_allowance = draw(st.booleans())
    shared = False
    while_active = draw(st.booleans())
    if has_allowance:
        shared = count > 1 and draw(st.booleans())
        amount = draw(st.sampled_from((10, 100, 500)))
        tail = (" shared" if shared else "") + (" while active" if while_active else "")
        lines.append(f"allowance {amount} per month on {', '.join(meters)}{tail}\n")
    packs: dict[str, list[str]] = {}
    negotiated: set[tuple[str, str]] = set()
    has_packs = draw(st.booleans())
    if has_packs:
        # One table, or (pack terms) a table per meter, each with its own validity, some
        # refundable, some cells `contact sales`.
        split = draw(st.integers(0, 2)) == 0
        tables = [[m] for m in meters] if split else [meters]
        for table in tables:
            sizes = sorted(draw(st.sets(st.sampled_from((50, 200, 1000)), min_size=1,
                                        max_size=2)))
            validity = draw(st.sampled_from(("1 month", "10 days", "1 year", "2 months")))
            rows = ["  size " + " ".join(str(s) for s in sizes)]
            for meter in table:
                if draw(st.integers(0, 3)) == 0:
                    continue
                prices = []
                for size in sizes:
                    if draw(st.integers(0, 5)) == 0:
                        prices.append("contact sales")
                        negotiated.add((meter, str(size)))
                    else:
                        prices.append(str(draw(st.integers(1, 9)) * size // 10))
                rows.append(f"  {meter} " + " ".join(prices))
                packs[meter] = [str(s) for s in sizes]
            if len(rows) > 1:
                refund = ", refundable within 7 days if unused" if draw(st.booleans()) else ""
                lines.append(f"packs valid {validity}{refund} {{\n" + "\n".join(rows)
                             + "\n}\n")
        has_packs = bool(packs)
    if count > 1 and draw(st.integers(0, 3)) == 0:
        lines.append(_ladder(draw, meters, combined=True, exact=scope == "exact"))
    else:
        for meter in meters:
            lines.append(_ladder(draw, [meter], combined=False, exact=scope == "exact"))
    sources = []
    if has_allowance:
        sources.append("allowance")
    if has_packs:
        order = draw(st.sampled_from(("expiry", "purchase", "purchase then smallest")))
        sources.append(f"packs by {order}")
    if len(sources) == 2 and draw(st.integers(0, 3)) == 0:
        sources.reverse()
    if grants is None:
        grants = draw(st.integers(0, 3)) == 0
    if grants:
        for g in range(draw(st.integers(1, 2))):
            monthly = draw(st.booleans())
            on = draw(st.lists(st.sampled_from(meters), min_size=1, max_size=len(meters),
                               unique=True))
            amount = draw(st.sampled_from((5, 20, 50)))
            validity = draw(st.sampled_from(
                ("", " valid 1 month", " valid 2 months", " valid 1 year") if monthly else
                (" valid 10 days", " valid 1 month", " valid 40 days", " valid 1 year")))
            lines.append(f'grant g{g} "G{g}" / "G{g}" {amount} '
                         f'{"per month" if monthly else "once"} on {", ".join(on)}{validity}\n')
            sources.insert(draw(st.integers(0, len(sources))), f"g{g}")
    if credits is None:
        credits = draw(st.integers(0, 5)) == 0
    if credits:
        for c in range(draw(st.integers(1, 2))):
            on = draw(st.lists(st.sampled_from(meters), min_size=1, max_size=len(meters),
                               unique=True))
            amount = draw(st.sampled_from((1, 5, 20, 100)))
            validity = draw(st.sampled_from(("10 days", "1 month", "2 months", "1 year")))
            lines.append(f'credit c{c} "C{c}" / "C{c}" {amount} once on {", ".join(on)} '
                         f"valid {validity}\n")
    lines.append(f"deduct {', '.join([*sources, 'postpaid'])}\n")
    reasons: list[str] = []
    settle = draw(st.booleans())
    day = draw(st.sampled_from((1, 1, 5)))
    lines.append(
        f"bill per month, issued on day {day}" + (", settle from balance" if settle else "") + "\n"
    )
    if draw(st.booleans()):
        reasons = ["arrears", "violation"]
        lines.append("suspend for arrears, violation\n")
    del shared, while_active
    return Sheet("".join(lines), zone, actions, free, unpriced, decimal_meters, packs, reasons,
                 negotiated, grants or credits)


def shipped(name: str) -> Sheet:
    """A shipped rules file as a Sheet."""
    book = ratecard.load(RULES / name)
    actions = {a: p.name for p in book.meters for a in p.actions}
    free = [a for p in book.meters for a in p.free_actions]
    packs = {p.name: [format(o.size, "f") for o in p.packs] for p in book.meters if p.packs}
    # A negotiated size (`contact sales`): the journal gives the price it was sold at, which the
    # warehouse does not read (no bill of its shows it), as generated sheets' negotiated sizes.
    negotiated = {(p.name, format(o.size, "f")) for p in book.meters for o in p.packs
                  if o.price is None}
    return Sheet(
        (RULES / name).read_text(encoding="utf-8"),
        book.timezone,
        actions,
        free,
        list(book.unpriced),
        {p.name for p in book.meters if p.quantity_rounding},
        packs,
        list(book.billing.suspend_reasons),
        negotiated,
        grants=bool(book.grants or book.credits),
    )


SHIPPED = ("tencent-bda.rules", "aws-lambda.rules", "google-geocoding.rules",
           "tencent-face-recognition.rules", "tencent-ocr.rules")

# --- generated journals --------------------------------------------------------------------------

#: Windows around month ends and daylight-saving changes (spring: March; autumn: Oct/Nov), and
#: a leap day (a pack bought on Feb 29 for a year expires on Feb 28).
WINDOWS = (
    (datetime(2026, 2, 24, tzinfo=UTC), 45),
    (datetime(2026, 10, 20, tzinfo=UTC), 45),
    (datetime(2027, 3, 28, tzinfo=UTC), 10),
    (datetime(2028, 2, 27, tzinfo=UTC), 5),
)
OFFSETS = ("+08:00", "-05:00", "Z", "+0530", "+01", "-10:00", "+00:00")


@dataclass
class Row:
    """An input row of one of the three tables, with its place (file order)."""

    table: str
    fields: dict[str, Any]
    valid: bool = True


def _time_text(draw: st.DrawFn, zone: str, start: datetime, days: int) -> str:
    """A time in the window, written in one of the forms the warehouse reads."""
    moment = start + timedelta(seconds=draw(st.integers(0, days * 86400)))
    if draw(st.integers(0, 4)) == 0:  # near a month's end, in the rules' zone
        local = moment.astimezone(ZoneInfo(zone))
        first = local.replace(day=1, hour=0, minute=0, second=0) + timedelta(days=32)
        first = first.replace(day=1)
        moment = first - timedelta(seconds=draw(st.integers(-7200, 7200)))
    micro = draw(st.sampled_from((0, 0, 0, 500000, 123456, 1)))
    moment = moment.replace(microsecond=micro)
    form = draw(st.integers(0, 5))
    sep = draw(st.sampled_from(("T", "T", " ")))
    if form == 0:  # wall clock of the rules' zone, no offset (times skipped or repeated too)
        wall = moment.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
        if draw(st.integers(0, 3)) == 0:
            wall = wall.replace(minute=draw(st.sampled_from((0, 30))), second=0, microsecond=0)
        return wall.isoformat(sep=sep)
    if form == 1 and draw(st.booleans()):
        wall = moment.astimezone(ZoneInfo(zone))
        return wall.date().isoformat()
    offset = draw(st.sampled_from(OFFSETS))
    if offset == "Z":
        delta = timedelta(0)
    else:
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        delta = sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
    wall = (moment + delta).replace(tzinfo=None)
    text = wall.isoformat(
        sep=sep,
        timespec=draw(
            st.sampled_from(("auto", "seconds", "minutes", "microseconds", "milliseconds"))
        ),
    )
    return text + offset


def _instant_text(draw: st.DrawFn, zone: str, moment: int) -> str:
    """An exact instant (microseconds) written in one of the forms the warehouse reads: on the
    rules' wall clock without an offset (a date alone at midnight), or with an offset."""
    at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=moment)
    form = draw(st.integers(0, 2))
    if form == 0:
        wall = at.astimezone(ZoneInfo(zone)).replace(tzinfo=None)
        if wall.time() == datetime.min.time() and draw(st.booleans()):
            return wall.date().isoformat()
        return wall.isoformat(sep=draw(st.sampled_from(("T", " "))))
    offset = draw(st.sampled_from(OFFSETS))
    if offset == "Z":
        delta = timedelta(0)
    else:
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        delta = sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
    return (at + delta).replace(tzinfo=None).isoformat() + offset


def _aimed_time(
    draw: st.DrawFn, sheet: Sheet, start: datetime, days: int, changes: Sequence[int]
) -> str:
    """A time in the window, or, as often, exactly at (or a microsecond before) an instant where
    what the rules do changes: one of the account's purchases or events, a pack's expiry
    (`changes`), or a month's start in the rules' timezone."""
    aim = draw(st.integers(0, 5))
    if aim <= 2:
        return _time_text(draw, sheet.zone, start, days)
    if aim <= 4 and changes:
        moment = draw(st.sampled_from(changes))
    else:
        day = start + timedelta(days=draw(st.integers(0, days)))
        local = day.astimezone(ZoneInfo(sheet.zone))
        moment = month_start((local.year, local.month), sheet.book.zone)
        if draw(st.booleans()):
            moment = month_start(next_month((local.year, local.month)), sheet.book.zone)
    return _instant_text(draw, sheet.zone, moment - draw(st.sampled_from((0, 0, 0, 1))))


def _expiry(sheet: Sheet, meter: str, moment: int) -> int:
    """When a pack of `meter` bought at `moment` expires (its table's validity on the rules'
    wall clock)."""
    terms = sheet.book.meter(meter).pack_terms
    return add_period(moment, terms.valid_amount, terms.valid_unit, sheet.book.zone)


def _count(draw: st.DrawFn, decimal_meter: bool) -> Any:
    big = draw(st.integers(0, 6)) == 0
    whole = draw(st.integers(0, 20000 if big else 400))
    if decimal_meter and draw(st.booleans()):
        return Decimal(draw(st.integers(0, 10**7))).scaleb(-draw(st.integers(1, 6)))
    return whole


@st.composite
def journals(
    draw: st.DrawFn,
    sheet: Sheet,
    accounts: int = 3,
    bad_rows: bool = True,
    window: tuple[datetime, int] | None = None,
) -> list[Row]:
    """Rows of usage, purchases and events for a few accounts, in file order, in one of the
    WINDOWS (or in `window`)."""
    start, days = window if window is not None else draw(st.sampled_from(WINDOWS))
    names = draw(
        st.lists(
            st.sampled_from(("acct-1", "acct-2", "acct-3", "b", "42")),
            min_size=1,
            max_size=accounts,
            unique=True,
        )
    )
    rows: list[Row] = []
    actions = sorted(sheet.actions)
    ids = ("u1", "u2", "u3")
    zone = ZoneInfo(sheet.zone)
    for account in names:
        # The instants where what the rules do changes for this account: its purchases, their
        # expiries and its events. Usage (and later events) aim at them as often as not.
        changes: list[int] = []
        if sheet.grants and draw(st.booleans()):
            # An opening before every entry of the window (the window's start, less up to a
            # month): the grants issued then, their expiries too, are changes.
            opened = start - timedelta(seconds=draw(st.integers(0, 31 * 86400)))
            rows.append(Row("accounts", {"account": account,
                                         "opened": opened.isoformat().replace("+00:00", "Z")}))
            moment = parse_time(rows[-1].fields["opened"], zone)
            changes.extend(
                add_period(moment, g.valid_amount, g.valid_unit, sheet.book.zone)
                for g in sheet.book.grants if g.valid_amount is not None
            )
        for _ in range(draw(st.integers(0, 3)) if sheet.packs else 0):
            meter = draw(st.sampled_from(sorted(sheet.packs)))
            when = _aimed_time(draw, sheet, start, days, changes)
            moment = parse_time(when, zone)
            changes.extend((moment, _expiry(sheet, meter, moment)))
            rows.append(
                Row(
                    "purchases",
                    {
                        "account": account,
                        "time": when,
                        "meter": meter,
                        "size": draw(st.sampled_from(sheet.packs[meter])),
                        "id": draw(st.sampled_from((None, None, "p1", "p2"))),
                    },
                )
            )
        for _ in range(draw(st.integers(0, 3))):
            kind = draw(st.sampled_from(("suspend", "reopen", "topup")))
            fields: dict[str, Any] = {
                "account": account,
                "time": _aimed_time(draw, sheet, start, days, changes),
                "type": kind,
                "reason": None,
                "amount": None,
            }
            if kind == "suspend":
                if not sheet.reasons:
                    continue
                fields["reason"] = draw(st.sampled_from(sheet.reasons))
            if kind == "topup":
                fields["amount"] = str(draw(st.sampled_from((1, 5, 50, 500))))
            changes.append(parse_time(fields["time"], zone))
            rows.append(Row("events", fields))
        for _ in range(draw(st.integers(0, 14))):
            action = (
                draw(st.sampled_from(actions + sheet.free))
                if sheet.free
                else draw(st.sampled_from(actions))
            )
            meter = sheet.actions.get(action)
            fields = {
                "account": account,
                "time": _aimed_time(draw, sheet, start, days, changes),
                "action": action,
                "count": _count(draw, meter in sheet.decimal_meters),
                "id": draw(st.sampled_from((None, None, None, "", *ids))),
            }
            rows.append(Row("usage", fields))
    if bad_rows and draw(st.integers(0, 2)) == 0:
        for _ in range(draw(st.integers(1, 3))):
            kind = draw(st.sampled_from(("time", "action", "negative", "unpriced", "fraction")))
            fields = {
                "account": draw(st.sampled_from(names)),
                "time": "2026-03-01T00:00:00Z",
                "action": actions[0],
                "count": 1,
                "id": None,
            }
            if kind == "time":
                fields["time"] = draw(
                    st.sampled_from(
                        ("yesterday", "2026-02-30T10:00:00Z", "2026-03-01T24:00:00Z", "")
                    )
                )
            elif kind == "action":
                fields["action"] = "NoSuchAction"
            elif kind == "negative":
                fields["count"] = -3
            elif kind == "unpriced" and sheet.unpriced:
                fields["action"] = sheet.unpriced[0]
            elif kind == "fraction" and sheet.actions[actions[0]] not in sheet.decimal_meters:
                fields["count"] = Decimal("1.5")
            else:
                fields["action"] = "NoSuchAction"
            rows.append(Row("usage", fields, valid=False))
    return draw(st.permutations(rows))


# --- files ---------------------------------------------------------------------------------------

COLUMNS = {
    "usage": ("account", "time", "action", "count", "id"),
    "purchases": ("account", "time", "meter", "size", "id"),
    "events": ("account", "time", "type", "reason", "amount"),
    "accounts": ("account", "opened"),
}


def write_inputs(
    rows: Sequence[Row], directory: Path, fmt: str, count_kind: str
) -> dict[str, Path | None]:
    """The rows as Parquet or CSV files, one per table (None for a table without rows)."""
    paths: dict[str, Path | None] = {}
    for table, columns in COLUMNS.items():
        mine = [r.fields for r in rows if r.table == table]
        if not mine and table != "usage":
            paths[table] = None
            continue
        path = directory / f"{table}.{fmt}"
        if fmt == "csv":
            with open(path, "w", newline="", encoding="utf-8") as stream:
                writer = csv.writer(stream)
                writer.writerow(columns)
                for fields in mine:
                    writer.writerow(
                        ["" if fields.get(c) is None else _text(fields[c]) for c in columns]
                    )
        else:
            data = {c: [None if f.get(c) is None else _text(f[c]) for f in mine] for c in columns}
            arrays = {c: pa.array(v, pa.string()) for c, v in data.items()}
            if table == "usage" and count_kind != "string":
                arrays["count"] = _count_array([f["count"] for f in mine], count_kind)
            pq.write_table(pa.table(arrays), path)
        paths[table] = path
    return paths


def _text(value: Any) -> str:
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def _count_array(values: Sequence[Any], kind: str) -> Any:
    if kind == "integer" and all(isinstance(v, int) for v in values):
        return pa.array(values, pa.int64())
    scale = 6
    return pa.array(
        [None if v is None else Decimal(v).quantize(Decimal(1).scaleb(-scale)) for v in values],
        pa.decimal128(30, scale),
    )


# --- the oracle ----------------------------------------------------------------------------------

Expected = dict[str, list[tuple[str, Decimal, list[tuple[Any, ...]]]] | str]


def oracle(sheet: Sheet, rows: Sequence[Row]) -> Expected:
    """Each account's bills by the engine (or the error that stops its replay)."""
    zone = ZoneInfo(sheet.zone)
    rank = {"events": 0, "purchases": 1, "usage": 2}
    journals: dict[str, list[tuple[int, int, int, dict[str, Any]]]] = {}
    for order, row in enumerate(rows):
        if not row.valid:
            continue
        fields = row.fields
        if row.table == "accounts":  # the account's `open` entry, before every other
            moment = parse_time(fields["opened"], zone)
            journals.setdefault(fields["account"], []).append(
                (moment, -1, order, {"time": fields["opened"], "type": "open"}))
            continue
        entry: dict[str, Any] = {"time": fields["time"]}
        if row.table == "usage":
            entry.update(type="usage", action=fields["action"], count=fields["count"])
            if fields.get("id"):
                entry["id"] = fields["id"]
        elif row.table == "purchases":
            entry.update(type="purchase", meter=fields["meter"], size=fields["size"])
            if fields.get("id"):
                entry["id"] = fields["id"]
            if (fields["meter"], str(fields["size"])) in sheet.negotiated:
                entry["price"] = "0"  # its price is on no warehouse bill
        else:
            entry["type"] = fields["type"]
            if fields["reason"] is not None:
                entry["reason"] = fields["reason"]
            if fields["amount"] is not None:
                entry["amount"] = fields["amount"]
        moment = parse_time(fields["time"], zone)
        journals.setdefault(fields["account"], []).append((moment, rank[row.table], order, entry))
    expected: Expected = {}
    for account, timed in journals.items():
        timed.sort(key=lambda t: (t[0], t[1], t[2]))
        try:
            bills = sheet.book.bill([entry for *_, entry in timed])
        except UsageError as exc:
            expected[account] = str(exc)
            continue
        expected[account] = [
            (_month(bill.month), bill.total, [_line(line) for line in bill.lines])
            for bill in bills
        ]
    return expected


def _month(month: date | None) -> str:
    """A bill's month as the warehouse's rows write it: `2026-11` ("" for none)."""
    return "" if month is None else month_text(month)


def _line(line: Any) -> tuple[Any, ...]:
    return (
        line.meter,
        line.source,
        line.quantity,
        line.unit_price,
        line.amount,
        line.precise_amount,
        line.bracket,
        line.pack,
        line.blocks,
    )


def _number(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def actual(result: Any) -> dict[str, list[tuple[str, Decimal, list[tuple[Any, ...]]]]]:
    lines: dict[tuple[str, str], list[tuple[Any, ...]]] = {}
    for row in result.lines.to_pylist():
        lines.setdefault((row["account"], row["month"]), []).append(
            (
                row["line"],
                (
                    row["meter"],
                    row["source"],
                    _number(row["quantity"]),
                    _number(row["unit_price"]),
                    row["amount"],
                    _number(row["precise_amount"]),
                    row["bracket"],
                    row["pack"],
                    _number(row["blocks"]),
                ),
            )
        )
    out: dict[str, list[tuple[str, Decimal, list[tuple[Any, ...]]]]] = {}
    for row in result.bills.to_pylist():
        made = [line for _, line in sorted(lines.get((row["account"], row["month"]), []))]
        out.setdefault(row["account"], []).append((row["month"], row["total"], made))
    return out


def compare(sheet: Sheet, rows: Sequence[Row], result: Any) -> None:
    """Every account's bills equal the engine's (numbers compared as decimals)."""
    expected = oracle(sheet, rows)
    got = actual(result)
    failed = {p.account for p in result.problems}
    for account, bills in expected.items():
        if isinstance(bills, str):
            assert account in failed, (account, bills)
            continue
        assert account not in failed, (account, [p.describe() for p in result.problems])
        assert got.get(account, []) == bills, (account, sheet.text)
    assert set(got) <= set(expected), set(got) - set(expected)
    invalid = sum(1 for r in rows if not r.valid)
    assert sum(i.count for i in result.invalid) == invalid


def run(
    sheet: Sheet,
    rows: Sequence[Row],
    fmt: str = "parquet",
    count_kind: str = "string",
    engine: str = "duckdb",
    **options: Any,
) -> Any:
    with tempfile.TemporaryDirectory(prefix="ratecard-wh-") as directory:
        paths = write_inputs(rows, Path(directory), fmt, count_kind)
        assert paths["usage"] is not None
        return bill_warehouse(
            sheet.book,
            str(paths["usage"]),
            purchases=str(paths["purchases"]) if paths["purchases"] else None,
            events=str(paths["events"]) if paths["events"] else None,
            accounts=str(paths["accounts"]) if paths["accounts"] else None,
            engine=engine,
            **options,
        )


SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@st.composite
def cases(draw: st.DrawFn, shipped_share: int = 4) -> tuple[Sheet, list[Row]]:
    if draw(st.integers(0, shipped_share)) == 0:
        sheet = _SHIPPED[draw(st.sampled_from(SHIPPED))]
    else:
        sheet = draw(sheets())
    return sheet, draw(journals(sheet))


@st.composite
def unrounded_cases(draw: st.DrawFn) -> tuple[Sheet, list[Row]]:
    """Generated rules that keep lines' precise amounts (`on total`, `exact`), and a journal."""
    sheet = draw(sheets(scopes=("on total", "exact")))
    return sheet, draw(journals(sheet))


_SHIPPED = {name: shipped(name) for name in SHIPPED}


# --- the differential tests ----------------------------------------------------------------------


@settings(SETTINGS, max_examples=30)
@given(cases())
def test_duckdb_bills_match_the_engine(case: tuple[Sheet, list[Row]]) -> None:
    sheet, rows = case
    compare(sheet, rows, run(sheet, rows))


@settings(SETTINGS, max_examples=25)
@given(cases(), st.sampled_from(("csv", "parquet")), st.sampled_from(("integer", "decimal")))
def test_duckdb_bills_match_the_engine_whatever_the_file_and_count_type(
    case: tuple[Sheet, list[Row]], fmt: str, count_kind: str
) -> None:
    sheet, rows = case
    compare(sheet, rows, run(sheet, rows, fmt=fmt, count_kind=count_kind))


@settings(SETTINGS, max_examples=25)
@given(
    st.sampled_from(SHIPPED).flatmap(
        lambda name: journals(_SHIPPED[name], accounts=5, bad_rows=False).map(
            lambda rows: (_SHIPPED[name], rows)
        )
    )
)
def test_shipped_sheets_many_accounts(case: tuple[Sheet, list[Row]]) -> None:
    sheet, rows = case
    compare(sheet, rows, run(sheet, rows))


@pytest.mark.slow
@settings(SETTINGS, max_examples=15)
@given(cases())
def test_drawdown_in_worker_processes_bills_the_same(case: tuple[Sheet, list[Row]]) -> None:
    """The drawdown cut into two forked workers (as for a million accounts) changes nothing."""
    sheet, rows = case
    compare(sheet, rows, run(sheet, rows, workers=2))


#: A price per 3 that is not a whole number of 10^-k per unit: its amounts (0.333…) are not
#: decimals, and rules that keep precise amounts are refused for it.
INEXACT_PER_3 = "is priced"


@settings(SETTINGS, max_examples=25)
@given(unrounded_cases(), st.sampled_from(("csv", "parquet")))
def test_duckdb_bills_match_the_engine_on_total_and_exact(
    case: tuple[Sheet, list[Row]], fmt: str
) -> None:
    """Rules that round the bill's total once (`on total`) or never (`exact`): every line keeps
    its precise amount and every total is the engine's, to the last digit, through the SQL's
    ladders, Python's (blocks, minimums, combined ladders), allowances, packs and settlement.
    A price per 3 whose unit price is not an exact decimal is refused before anything is read,
    naming its meter; no amount is ever rounded to fit."""
    sheet, rows = case
    assert not sheet.book.rounding.per_line
    try:
        result = run(sheet, rows, fmt=fmt)
    except UsageError as exc:
        assert INEXACT_PER_3 in str(exc) and " per 3" in str(exc), str(exc)
        assert " per 3" in sheet.text
        event("refused: a price per 3")
        return
    event(f"billed: {sheet.book.rounding.scope}")
    compare(sheet, rows, result)
    # On total, totals are on the increment (0.1: DECIMAL(38, 1)); exact, at the lines' scale.
    total_scale = result.bills.schema.field("total").type.scale
    line_scale = result.lines.schema.field("amount").type.scale
    if sheet.book.rounding.scope == ON_TOTAL:
        assert total_scale == -sheet.book.rounding.increment.as_tuple().exponent
    else:
        assert total_scale == line_scale
    for row in result.lines.to_pylist():  # a line's amount is its precise amount, unrounded
        assert row["amount"] == Decimal(row["precise_amount"]), row


@settings(SETTINGS, max_examples=25)
@given(cases())
def test_bills_alone_total_as_the_engine(case: tuple[Sheet, list[Row]]) -> None:
    """A run that returns no lines (their numbering and text left out) bills the same totals."""
    sheet, rows = case
    result = run(sheet, rows, return_lines=False)
    assert result.lines is None
    expected = oracle(sheet, rows)
    failed = {p.account for p in result.problems}
    got: dict[str, list[tuple[str, Decimal]]] = {}
    for row in result.bills.to_pylist():
        got.setdefault(row["account"], []).append((row["month"], row["total"]))
    for account, bills in expected.items():
        if isinstance(bills, str):
            assert account in failed, (account, bills)
            continue
        assert got.get(account, []) == [(month, total) for month, total, _ in bills], account


# --- pack terms (per-table validity, then smallest, contact sales, refunds, stop) -------------

PACK_TERMS = """\
rules pt "资源包" / "Pack terms"
currency CNY, rounding half_up 0.01, timezone Asia/Shanghai
meter a "甲" / "A" counts A1
meter b "乙" / "B" counts B1
packs valid 10 days, refundable within 7 days if unused {
  size  100  1000
  a     10   contact sales
}
packs valid 2 months {
  size  100  1000
  b     10   80
}
ladder volume by postpaid per month on a, b {
  (0, ∞)  0.5
}
deduct packs by purchase then smallest, postpaid
"""


def test_pack_terms_bill_in_the_warehouse_as_in_the_engine() -> None:
    """`a`'s packs last 10 days, `b`'s 2 months; `big` and `small` are bought at one instant
    (the smaller drawn first); `deal` is a `contact sales` pack (no price in the warehouse's
    purchases, none needed on its bills). By hand, account x: November, 150 of `a` from
    `small` (100) and `big` (50), 100 of `b` from `bp`: 0.00. December: `big` and `deal`
    expired on 11-11 and 11-12 (10 days), so 30 of `a` are postpaid at 0.5 = 15.00; `bp`
    (2 months) gave all its 100 in November, so 120 of `b` are postpaid = 60.00; 75.00."""
    sheet = Sheet(PACK_TERMS, "Asia/Shanghai", {"A1": "a", "B1": "b"}, [], [], set(),
                  {"a": ["100", "1000"], "b": ["100", "1000"]}, [], {("a", "1000")})
    rows = [
        Row("purchases", {"account": "x", "time": "2026-11-01T09:00:00+08:00", "meter": "a",
                          "size": "1000", "id": "big"}),
        Row("purchases", {"account": "x", "time": "2026-11-01T09:00:00+08:00", "meter": "a",
                          "size": "100", "id": "small"}),
        Row("purchases", {"account": "x", "time": "2026-11-02T09:00:00+08:00", "meter": "a",
                          "size": "1000", "id": "deal"}),
        Row("purchases", {"account": "x", "time": "2026-11-01T09:00:00+08:00", "meter": "b",
                          "size": "100", "id": "bp"}),
        Row("usage", {"account": "x", "time": "2026-11-03T09:00:00+08:00", "action": "A1",
                      "count": "150", "id": None}),
        Row("usage", {"account": "x", "time": "2026-11-03T09:00:00+08:00", "action": "B1",
                      "count": "100", "id": None}),
        Row("usage", {"account": "x", "time": "2026-12-03T09:00:00+08:00", "action": "A1",
                      "count": "30", "id": None}),
        Row("usage", {"account": "x", "time": "2026-12-03T09:00:00+08:00", "action": "B1",
                      "count": "120", "id": None}),
    ]
    result = run(sheet, rows)
    compare(sheet, rows, result)
    got = actual(result)["x"]
    assert [(month, total) for month, total, _ in got] == [
        ("2026-11", Decimal("0.00")), ("2026-12", Decimal("75.00"))]
    assert [(line[0], line[1], line[2], line[7]) for line in got[0][2]] == [
        ("a", "pack", Decimal(100), "small"), ("a", "pack", Decimal(50), "big"),
        ("b", "pack", Decimal(100), "bp")]


def test_the_warehouse_bills_packs_that_stop_service() -> None:
    """Packs that stop service when exhausted are billed by the engine's replay (worked bills:
    tests/test_warehouse_sources.py): the harness's bills are the engine's."""
    text = PACK_TERMS.replace("packs valid 2 months {", "packs valid 2 months, stop when "
                              "exhausted {").replace("on a, b {", "on a {")
    sheet = Sheet(text, "Asia/Shanghai", {"A1": "a", "B1": "b"}, [], [], set(), {}, [])
    rows = [Row("usage", {"account": "x", "time": "2026-11-03T09:00:00+08:00", "action": "A1",
                          "count": "1", "id": None}),
            Row("usage", {"account": "x", "time": "2026-11-04T09:00:00+08:00", "action": "B1",
                          "count": "5", "id": None})]
    result = run(sheet, rows)
    compare(sheet, rows, result)
    assert result.stats["accounts_replayed"] == 1


def test_a_sheet_with_orders_bills_its_usage_as_the_engine() -> None:
    """Orders are not read by the warehouse (listed apart from a bill's lines, as pack
    purchases are): the sheet's usage bills as the engine bills it. 1,000 searches at 0.0032
    = 3.20."""
    from tests.test_orders import SHEET as FACE

    sheet = Sheet(FACE, "Asia/Shanghai", {"SearchFaces": "search"}, [], [], set(), {}, [])
    rows = [Row("usage", {"account": "x", "time": "2026-11-03T09:00:00+08:00",
                          "action": "SearchFaces", "count": "1000", "id": None})]
    result = run(sheet, rows)
    compare(sheet, rows, result)
    assert [(month, total) for month, total, _ in actual(result)["x"]] == [
        ("2026-11", Decimal("3.20"))]


SHARED_BALANCE = """\
rules pool "共享" / "Pool"
currency CNY, rounding half_up 0.01, timezone Asia/Shanghai
meter a "甲" / "A" counts A1
meter b "乙" / "B" counts B1
allowance 100 per month on a, b shared
ladder graduated by total per month on a, b {
  (0, ∞)  0.01
}
deduct allowance, postpaid
bill per month, issued on day 1, settle from balance
suspend for arrears
"""


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_an_account_that_settles_from_a_balance_with_whole_counts(fmt: str) -> None:
    """A sheet that settles from a balance and shares its allowance, whole counts typed as
    integers: an account with a top-up is replayed by the engine from its metered detail (the
    path where an integer count once reached `_count`, found by the differential property
    below). By hand: November, 80 A and 70 B, 100 of them free from the shared pool (80 A,
    20 B), 50 B × 0.01 = 0.50, settled from the 5.00 topped up."""
    sheet = Sheet(SHARED_BALANCE, "Asia/Shanghai", {"A1": "a", "B1": "b"}, [], [], set(), {},
                  ["arrears"])
    rows = [
        Row("events", {"account": "x", "time": "2026-11-01T08:00:00+08:00", "type": "topup",
                       "reason": None, "amount": "5"}),
        Row("usage", {"account": "x", "time": "2026-11-02T09:00:00+08:00",
                      "action": "A1", "count": "80", "id": None}),
        Row("usage", {"account": "x", "time": "2026-11-03T09:00:00+08:00",
                      "action": "B1", "count": "70", "id": None}),
        Row("usage", {"account": "x", "time": "2026-11-04T09:00:00+08:00",
                      "action": "B1", "count": "0", "id": None}),
    ]
    result = run(sheet, rows, fmt=fmt, count_kind="integer")
    compare(sheet, rows, result)
    assert [(month, total) for month, total, _ in actual(result)["x"]] == [
        ("2026-11", Decimal("0.50"))]


# --- grants ---------------------------------------------------------------------------------------


@st.composite
def grant_cases(draw: st.DrawFn) -> tuple[Sheet, list[Row]]:
    """Generated rules with grants, and a journal whose accounts may have an opening row."""
    sheet = draw(sheets(grants=True))
    return sheet, draw(journals(sheet))


@settings(SETTINGS, max_examples=25)
@given(grant_cases(), st.sampled_from(("csv", "parquet")))
def test_grants_bill_in_the_warehouse_as_in_the_engine(
    case: tuple[Sheet, list[Row]], fmt: str
) -> None:
    sheet, rows = case
    compare(sheet, rows, run(sheet, rows, fmt=fmt))


@st.composite
def credit_cases(draw: st.DrawFn) -> tuple[Sheet, list[Row]]:
    """Generated rules with credits granted at the opening (and grants one time in four), a
    journal whose accounts may have an opening row."""
    sheet = draw(sheets(scopes=("per line", "on total", "exact"), credits=True))
    return sheet, draw(journals(sheet))


@settings(SETTINGS, max_examples=25)
@given(credit_cases(), st.sampled_from(("csv", "parquet")))
def test_credits_bill_in_the_warehouse_as_in_the_engine(
    case: tuple[Sheet, list[Row]], fmt: str
) -> None:
    sheet, rows = case
    try:
        result = run(sheet, rows, fmt=fmt)
    except UsageError as exc:  # a price per 3 with no exact unit price, refused
        assert INEXACT_PER_3 in str(exc) and " per 3" in sheet.text, str(exc)
        return
    compare(sheet, rows, result)
    paid = any(row["source"] == "credit" for row in result.lines.to_pylist())
    event(f"a credit paid: {paid}")
