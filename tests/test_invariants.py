"""Billing invariants over random rules and random journals: nothing breaks the bills.

Rules are generated from the language's billing constructs with small numbers, so that random
journals reach every mechanism: own and shared allowances (`while active` or not), packs of
random sizes, prices and validity (days, months, years; by expiry or by purchase), volume and
graduated ladders by postpaid, total or after_allowance, monthly and daily, combined or not,
with unit prices, `per N`, blocks, flat fees, minimums and maximums; alert thresholds; bills
issued on any day and settled from the balance or not; suspension reasons. Sound sheets from
the fuzzing generator (tests/strategies.py) are billed too, with counts scaled to their numbers.

Journals start at a month's start and span about three months (more when they aim at a pack's
expiry a year on), in the rules' timezone and in others, with usage (whole and decimal counts,
free actions), purchases, suspensions, reopenings, top-ups, entries at the same instant, ids
that collide and exact resends of earlier entries. They aim at the instants where the rules
change what an entry does: on, a microsecond before and after a day's and a month's start, a
bill's issue, a DST change (Berlin, Los Angeles, Lord Howe's half hour) and every lot's expiry;
the instant of a purchase; purchases on Feb 29 (years of validity), on the 29th to 31st
(months), and where the expiry falls on a wall time that a DST change skips or repeats; counts
near the rules' numbers and that bring a meter's month to a bracket bound or one either side.

The invariants:
- every unit recorded is on the bill once: allowance + pack + postpaid + rejected for a meter's
  actions, free + rejected for free actions;
- each line's amount is its precise amount rounded as the rules say (the modes written out
  here, `ROUNDING_MODES`), and each total is the sum of the rounded lines;
- every lot expires when its validity says, computed here apart from the engine (`expiry_of`:
  Feb 29 + 1 year is Feb 28); every unit of a pack is drawn, void at its expiry or still held;
  no lot is held below zero or past its expiry, none is drawn in a month after the one it
  expired in, and no usage alert comes at or after its expiry; entries at a lot's expiry
  instant bill as they would a microsecond later (expiry is exclusive);
- the same journal billed twice, shuffled (entries at one instant keeping their order), or with
  resends of random earlier entries gives the same bills (the resends listed as ignored);
- an account fed the journal entry by entry, saved to JSON and restored after every entry
  (a service that crashes between any two entries), or fed in random batches with time
  advanced between them, issues exactly the bills of one replay;
- the aggregated replay equals the entry-by-entry reference (`aggregate=False`).

Example counts: each property asks for the long profile's; the default (quick) profile runs a
tenth of them (tests/conftest.py), `RATECARD_PROFILE=long` three fifths. The module prints how many
examples each property ran. Planted in the engine, an inclusive expiry or Feb 29 + 1 year =
Mar 1 fails several of these properties in the quick profile, without the worked tests.
"""

from __future__ import annotations

import calendar
import functools
import json
import random
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import (
    ROUND_CEILING,
    ROUND_DOWN,
    ROUND_FLOOR,
    ROUND_HALF_DOWN,
    ROUND_HALF_EVEN,
    ROUND_HALF_UP,
    ROUND_UP,
    Context,
    Decimal,
)
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ratecard
from ratecard import Bill
from ratecard.engine.account import Account
from ratecard.engine.pricebook import FREE, PriceBook
from ratecard.engine.replay import bill_journal
from ratecard.errors import ContactSalesError
from ratecard.literals import format_plain
from tests.strategies import rules_texts

Entry = dict[str, Any]

EXAMPLES: Counter[str] = Counter()

#: How each rounding mode of the language rounds (docs/language.md), written out here rather
#: than taken from the engine, so that a line's rounding is checked against the definition.
ROUNDING_MODES = {
    "half_up": ROUND_HALF_UP, "half_even": ROUND_HALF_EVEN, "half_down": ROUND_HALF_DOWN,
    "up": ROUND_UP, "down": ROUND_DOWN, "ceiling": ROUND_CEILING, "floor": ROUND_FLOOR,
}


def rounded(amount: Decimal, mode: str, increment: Decimal) -> Decimal:
    """`amount` rounded to a multiple of `increment` (a power of ten) the way `mode` says."""
    return amount.quantize(increment, rounding=ROUNDING_MODES[mode], context=Context(prec=200))


@pytest.fixture(scope="module", autouse=True)
def example_counts(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print how many examples each property ran, once the module is done."""
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None and EXAMPLES:
        summary = ", ".join(f"{name} {count}" for name, count in sorted(EXAMPLES.items()))
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\ninvariant examples: {summary} "
                                f"(total {sum(EXAMPLES.values())})")


# --- rules --------------------------------------------------------------------------------------

ZONES = ("Asia/Shanghai", "UTC", "Europe/Berlin", "America/Los_Angeles", "Asia/Kathmandu",
         "Australia/Lord_Howe")


def _money(draw: st.DrawFn, high: int, places: int = 2) -> str:
    return format_plain(Decimal(draw(st.integers(0, high))).scaleb(-draw(st.integers(0, places))))


def _price(draw: st.DrawFn) -> str:
    """A bracket's price: per unit, per N units, per block, a flat fee, or a sum of two."""
    unit = _money(draw, 500, 4)
    per = f"{_money(draw, 900, 2)} per {draw(st.sampled_from(['10', '100', '1000', '7']))}"
    rounding = draw(st.sampled_from(["rounded up", "rounded down", "prorated"]))
    block = f"{_money(draw, 300, 2)} per block of {draw(st.integers(1, 60))} {rounding}"
    flat = f"{_money(draw, 900, 2)} flat"
    return draw(st.sampled_from([unit, unit, per, block, flat, f"{unit} + {flat}",
                                 f"{block} + {flat}"]))


@st.composite
def sheets(draw: st.DrawFn) -> str:
    """A sound rules file with small numbers, exercising every billing mechanism."""
    meters = [f"m{i}" for i in range(draw(st.integers(1, 3)))]
    increment = draw(st.sampled_from(["0.01", "1", "0.1", "0.001"]))
    mode = draw(st.sampled_from(["half_up", "half_even", "down", "up", "ceiling", "floor"]))
    lines = ['rules inv "不变量" / "Invariants"',
             f"currency {draw(st.sampled_from(['CNY', 'USD', 'JPY']))}, rounding {mode} "
             f"{increment}, timezone {draw(st.sampled_from(ZONES))}"]
    for i, meter in enumerate(meters):
        counts = f"a{i}" + (f", b{i}" if draw(st.booleans()) else "")
        clause = f'meter {meter} "计量{i}" / "Meter {i}" counts {counts}'
        if draw(st.booleans()):
            clause += f" free f{i}"
        if draw(st.integers(0, 3)) == 0:
            clause += (f" quantity rounded {draw(st.sampled_from(['up', 'half_up', 'down']))} "
                       f"to {draw(st.sampled_from(['0.1', '1', '0.01']))}")
        lines.append(clause)

    with_allowance = draw(st.lists(st.sampled_from(meters), unique=True))
    while with_allowance:
        size = 1
        if len(with_allowance) >= 2 and draw(st.booleans()):
            size = draw(st.integers(2, len(with_allowance)))
        group, with_allowance = with_allowance[:size], with_allowance[size:]
        statement = f"allowance {draw(st.integers(1, 300))} per month on {', '.join(group)}"
        if size > 1:
            statement += " shared"
        if draw(st.booleans()):
            statement += " while active"
        lines.append(statement)
    has_allowance = any(line.startswith("allowance") for line in lines)

    with_packs = draw(st.lists(st.sampled_from(meters), unique=True))
    stopping: list[str] = []  # meters whose packs `stop when exhausted`: in no ladder
    # One pack table, or (pack terms) two, each with its own validity and options: a refund
    # window, `stop when exhausted`, `contact sales` cells (bought at a price of their own).
    split = len(with_packs) > 1 and draw(st.booleans())
    for group in ([with_packs[:1], with_packs[1:]] if split else [with_packs] if with_packs
                  else []):
        sizes = draw(st.lists(st.integers(10, 1500), min_size=1, max_size=3, unique=True))
        amount = draw(st.integers(1, 3))
        unit = draw(st.sampled_from(["day", "month", "year"]))
        if unit == "day":
            amount = draw(st.integers(1, 40))
        options = [f"valid {amount} {unit}{'s' if amount > 1 else ''}"]
        options += draw(st.lists(st.sampled_from(["no refund", "no freeze"]), unique=True))
        if "no refund" not in options and draw(st.integers(0, 3)) == 0:
            options.append(f"refundable within {draw(st.integers(1, 10))} days if unused")
        if draw(st.integers(0, 4)) == 0:
            options.append("stop when exhausted")
            stopping += group
        table = [f"packs {', '.join(options)} {{", "  size " + " ".join(map(str, sizes))]
        for row, meter in enumerate(group):
            cells = [(_money(draw, 5000) if draw(st.integers(0, 5)) else "contact sales")
                     if row == 0 or draw(st.integers(0, 3)) else "-" for _ in sizes]
            if all(cell == "-" for cell in cells):
                cells[0] = _money(draw, 5000)
            table.append(f"  {meter} " + " ".join(cells))
        lines += [*table, "}"]

    rest = [meter for meter in meters if meter not in stopping]
    by_day: list[list[str]] = []  # the groups priced per day (candidates for daily bills)
    while rest:
        size = draw(st.integers(1, len(rest)))
        group, rest = rest[:size], rest[size:]
        daily = draw(st.integers(0, 3)) == 0
        if daily:
            by_day.append(group)
        ladder = (f"ladder {draw(st.sampled_from(['volume', 'graduated']))} by "
                  f"{draw(st.sampled_from(['postpaid', 'total', 'after_allowance']))} per "
                  f"{'day' if daily else 'month'} on {', '.join(group)}")
        if len(group) > 1 and draw(st.booleans()):
            ladder += " combined"
        bounds = sorted(draw(st.sets(st.integers(1, 3000), max_size=3)))
        edges = [0, *bounds]
        lines.append(ladder + " {")
        for lo, hi in zip(edges, [*bounds, None], strict=True):
            upper = "∞)" if hi is None else f"{hi}]"
            lines.append(f"  ({lo}, {upper} {_price(draw)}")
        low = Decimal(draw(st.integers(0, 3000))) / 100
        if not daily and draw(st.integers(0, 3)) == 0:
            lines.append(f"  minimum {format_plain(low)}")
        if draw(st.integers(0, 3)) == 0:
            lines.append(f"  maximum {format_plain(low + Decimal(draw(st.integers(0, 5000))))}")
        if not daily and draw(st.integers(0, 3)) == 0:
            lines.append("  charge flat at zero")
        lines.append("}")

    steps = []
    if has_allowance:
        steps.append("allowance")
    if with_packs:
        order = draw(st.sampled_from(["expiry", "purchase", "purchase then smallest"]))
        steps.append(f"packs by {order}")
    if steps:
        lines.append(f"deduct {', '.join([*draw(st.permutations(steps)), 'postpaid'])}")
    conditions = draw(st.lists(st.sampled_from(
        [f"pack remaining below {draw(st.integers(1, 100))}%", "pack exhausted",
         "pack expired"]), unique=True))
    if conditions:
        lines.append(f"alert {', '.join(conditions)}")
    bill = ["bill per month"]
    if draw(st.booleans()):
        bill.append(f"issued on day {draw(st.sampled_from([1, 1, 2, 15, 28]))}")
    if draw(st.booleans()):
        bill.append("settle from balance")
    lines.append(", ".join(bill))
    if by_day and draw(st.booleans()):  # some daily groups billed day by day
        days = [meter for group in by_day if draw(st.booleans()) for meter in group]
        lines.append(f"bill per day on {', '.join(days or by_day[0])}")
    reasons = draw(st.lists(st.sampled_from(["arrears", "violation"]), unique=True))
    if reasons:
        lines.append(f"suspend for {', '.join(reasons)}")
    return "\n".join(lines) + "\n"


@functools.lru_cache(maxsize=256)
def compiled(text: str) -> PriceBook:
    """Compile a generated sheet (they are sound: a RulesError is a generator bug)."""
    return ratecard.loads(text, "generated.rules")


# --- journals -----------------------------------------------------------------------------------

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
# Month ends of 28 and 29 days, years with and without Feb 29, DST changes in March and October.
STARTS = ((2026, 10), (2027, 1), (2028, 1), (2028, 2), (2027, 3))
# How far from an edge an entry lands: on it, just before or just after it.
NUDGES = (timedelta(0), timedelta(0), -MICROSECOND, MICROSECOND, -timedelta(seconds=1))


def instant_of(text: str, zone: ZoneInfo) -> int:
    """Microseconds since the epoch of a journal time (one without an offset is in `zone`)."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return (moment - EPOCH) // timedelta(microseconds=1)


def expiry_of(bought: datetime, amount: int, unit: str, zone: ZoneInfo) -> datetime:
    """When a pack bought at `bought` expires, as docs/billing.md defines it, written here apart
    from the engine's `add_period`: the same wall time `amount` days, months or years later in
    `zone`; a day that the month reached lacks becomes its last day (Feb 29 + 1 year is Feb 28,
    Jan 31 + 1 month is Feb 28 or 29); a wall time that a DST change skips or repeats is read
    with the purchase's `fold` (PEP 495: the offset before the change when it is 0)."""
    wall = bought.astimezone(zone)
    naive = wall.replace(tzinfo=None)
    if unit == "day":
        naive += timedelta(days=amount)
    else:
        months = wall.month - 1 + amount * (12 if unit == "year" else 1)
        year, month = wall.year + months // 12, months % 12 + 1
        naive = naive.replace(year=year, month=month,
                              day=min(wall.day, calendar.monthrange(year, month)[1]))
    return naive.replace(tzinfo=zone, fold=wall.fold).astimezone(UTC)


@functools.lru_cache(maxsize=64)
def transitions(key: str, year: int) -> tuple[datetime, ...]:
    """The instants in `year` at which the zone `key` changes its offset (DST), to the
    microsecond: the first instant with the new offset."""
    zone = ZoneInfo(key)
    found = []
    moment, end, step = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC), \
        timedelta(hours=6)
    while moment < end:
        lo, hi = moment, moment + step
        before = lo.astimezone(zone).utcoffset()
        if hi.astimezone(zone).utcoffset() != before:
            while hi - lo > MICROSECOND:
                middle = lo + (hi - lo) // 2
                lo, hi = (middle, hi) if middle.astimezone(zone).utcoffset() == before else (
                    lo, middle)
            found.append(hi)
        moment += step
    return tuple(found)


def edges(book: PriceBook, moment: datetime, expiries: list[datetime]) -> list[datetime]:
    """The instants after `moment` where the rules change what an entry does: the next day and
    the next two months start (allowances, daily and monthly ladders), the next bill's issue
    (settlement), the zone's next DST changes, and the expiry of every lot bought so far."""
    zone = book.zone
    wall = moment.astimezone(zone)
    day = wall.date() + timedelta(days=1)
    found = [datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)]
    for ahead in (1, 2):
        year, month = wall.year + (wall.month - 1 + ahead) // 12, (wall.month - 1 + ahead) % 12 + 1
        found.append(datetime(year, month, 1, tzinfo=zone).astimezone(UTC))
        if ahead == 1:
            issued = min(book.billing.issued_day, calendar.monthrange(year, month)[1])
            found.append(datetime(year, month, issued, tzinfo=zone).astimezone(UTC))
    changes = [t for t in (*transitions(zone.key, wall.year), *transitions(zone.key, wall.year + 1))
               if t > moment]
    found += changes[:2]
    found += [t for t in expiries if t >= moment]
    return sorted(found)


def purchase_targets(book: PriceBook, moment: datetime) -> list[datetime]:
    """Purchase instants after `moment` whose expiry lands where calendar arithmetic is hard:
    on a day the month reached lacks (bought Feb 29 with years of validity, or on the 29th to
    31st with months), and on a wall time that a DST change skips or repeats."""
    zone = book.zone
    amount, unit = book.packs.valid_amount, book.packs.valid_unit
    wall = moment.astimezone(zone)
    found = []
    if unit == "year":
        leap = next(year for year in range(wall.year, wall.year + 8) if calendar.isleap(year))
        found += [datetime(leap, 2, 29, 13, 30, tzinfo=zone)] * 2
    elif unit == "month":
        for ahead in (0, 1):
            year, month = (wall.year + (wall.month - 1 + ahead) // 12,
                           (wall.month - 1 + ahead) % 12 + 1)
            found += [datetime(year, month, day, 23, 59, 59, tzinfo=zone)
                      for day in range(29, calendar.monthrange(year, month)[1] + 1)]
    for change in (*transitions(zone.key, wall.year), *transitions(zone.key, wall.year + 1)):
        # The wall times the change skips or repeats: from the earlier of the wall clock
        # just before and at the change, for as long as the offset moves.
        before = (change - MICROSECOND).astimezone(zone)
        after = change.astimezone(zone)
        shift = abs(after.utcoffset() - before.utcoffset())  # type: ignore[operator]
        start = min(before.replace(tzinfo=None) + MICROSECOND, after.replace(tzinfo=None))
        odd = start + shift / 2
        # bought at that wall time `amount` units earlier, it expires at the odd wall time
        if unit == "day":
            bought = odd - timedelta(days=amount)
        else:
            months = odd.month - 1 - amount * (12 if unit == "year" else 1)
            year, month = odd.year + months // 12, months % 12 + 1
            bought = odd.replace(year=year, month=month,
                                 day=min(odd.day, calendar.monthrange(year, month)[1]))
        found.append(bought.replace(tzinfo=zone))
    return [t.astimezone(UTC) for t in found if t.astimezone(UTC) >= moment]


def _time_text(draw: st.DrawFn, moment: datetime, zone: ZoneInfo) -> str:
    """One way of writing an instant: UTC, another offset, or wall time in the rules' zone."""
    wall = moment.astimezone(zone)
    form = draw(st.integers(0, 4))
    if form == 0:
        return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if form == 1:
        hours = draw(st.sampled_from([-8, -5, 1, 8, 14]))
        return moment.astimezone(timezone(timedelta(hours=hours))).isoformat()
    if wall.fold == 0 and wall.replace(tzinfo=None).replace(tzinfo=zone) == moment:
        if form == 4 and wall.time() == datetime.min.time():
            return wall.date().isoformat()
        return wall.replace(tzinfo=None).isoformat()
    return wall.isoformat()


def month_key(moment: datetime, zone: ZoneInfo) -> tuple[int, int]:
    wall = moment.astimezone(zone)
    return wall.year, wall.month


@st.composite
def journals(draw: st.DrawFn, book: PriceBook, scale: tuple[int, ...] = ()) -> list[Entry]:
    """A journal in time order, from a month start over about three months (more when it aims
    at a pack's expiry a year on): every entry type the rules allow, ties, colliding ids and
    exact resends of earlier entries.

    Entries aim at the instants where the rules change what they do (`edges`): on, just before
    and just after a day's or a month's start, a bill's issue, a DST change and the expiry of
    every lot bought; at the instant of a purchase; purchases on Feb 29 and month ends, and
    where the expiry falls on a wall time a DST change skips or repeats (`purchase_targets`).
    `scale` lists quantities that matter to the rules (allowances, pack sizes, bracket bounds):
    counts are drawn near them, and near what brings a meter's month to them.
    """
    zone = book.zone
    year, month = draw(st.sampled_from(STARTS))
    moment = datetime(year, month, 1, tzinfo=zone).astimezone(UTC)
    actions = {a: plan for plan in book.meters for a in (*plan.actions, *plan.free_actions)}
    with_packs = [plan for plan in book.meters if plan.packs]
    reasons = book.billing.suspend_reasons
    increment = book.rounding.increment
    kinds = ["usage"] * 12 + ["purchase"] * (5 if with_packs else 0) + [
        "suspend"] * (1 if reasons else 0) + ["reopen", "topup", "resend", "resend"]
    near = [q for q in scale if q > 0] or [1]
    entries: list[tuple[datetime, Entry]] = []
    expiries: list[datetime] = []
    month_usage: Counter[tuple[tuple[int, int], str]] = Counter()
    for _ in range(draw(st.integers(1, 36))):
        kind = draw(st.sampled_from(kinds))
        step = draw(st.integers(0, 6))
        ahead = [t for t in expiries if t >= moment]
        targets = purchase_targets(book, moment) if kind == "purchase" else []
        if step == 0 and entries:
            pass  # the same instant as the entry before (a purchase, a month's start, ...)
        elif step == 1:
            edge = draw(st.sampled_from(edges(book, moment, expiries)))
            moment = max(moment, edge + draw(st.sampled_from(NUDGES)))
        elif step in (2, 3) and targets:
            moment = draw(st.sampled_from(targets))
        elif step in (2, 3) and ahead:  # a lot's expiry, the instant its units are void
            moment = max(moment, draw(st.sampled_from(ahead)) + draw(st.sampled_from(NUDGES)))
        else:
            moment += timedelta(minutes=draw(st.integers(1, 6 * 24 * 60)))
        if kind == "resend":
            copies = [(t, e) for t, e in entries if "id" in e]
            if copies:
                entries.append(draw(st.sampled_from(copies)))
                continue
            kind = "usage"
        time = _time_text(draw, moment, zone)
        entry_id = draw(st.none() | st.sampled_from(["r1", "r2", "r3", "r4", "r5"]))
        entry: Entry
        if kind == "usage":
            action = draw(st.sampled_from(sorted(actions)))
            plan = actions[action]
            so_far = int(month_usage[month_key(moment, zone), plan.name])
            to_bound = [max(0, q - so_far + d) for q in near for d in (-1, 0, 1)]
            count: Any = draw(
                st.integers(0, 40) | st.integers(0, 1500)
                | st.sampled_from(near).flatmap(lambda q: st.integers(max(0, q - 2), q + 2))
                | st.sampled_from(to_bound))  # the meter's month to a bound, or ± 1
            if (plan.quantity_rounding is not None or action in plan.free_actions) and (
                    draw(st.booleans())):
                count = format_plain(Decimal(count) + Decimal(draw(st.integers(1, 999))) / 1000)
            month_usage[month_key(moment, zone), plan.name] += Decimal(count)  # type: ignore[assignment]
            entry = {"time": time, "type": "usage", "action": action, "count": count}
        elif kind == "purchase":
            plan = draw(st.sampled_from(with_packs))
            offer = draw(st.sampled_from(plan.packs))
            entry = {"time": time, "type": "purchase", "meter": plan.name,
                     "size": format_plain(offer.size)}
            if offer.price is None:  # `contact sales`: sold at a price of its own
                entry["price"] = format_plain(Decimal(draw(st.integers(0, 3000))) * increment)
            entry_id = None if entry_id is None else "p" + entry_id
            terms = plan.pack_terms
            expiries.append(expiry_of(moment, terms.valid_amount, terms.valid_unit, zone))
        elif kind == "suspend":
            entry = {"time": time, "type": "suspend", "reason": draw(st.sampled_from(reasons))}
            entry_id = None
        elif kind == "reopen":
            entry = {"time": time, "type": "reopen"}
            entry_id = None
        else:
            amount = Decimal(draw(st.integers(1, 3000))) * increment
            entry = {"time": time, "type": "topup", "amount": format_plain(amount)}
            entry_id = None
        if entry_id is not None:
            entry["id"] = entry_id
        entries.append((moment, entry))
    # Resends keep the time of the entry they copy: put the journal in time order again,
    # stably, so that a resend comes after its original.
    return [entry for _, entry in sorted(entries, key=lambda item: item[0])]


def scale_of(book: PriceBook) -> tuple[int, ...]:
    """The quantities that matter to the rules: where counts are worth drawing near."""
    numbers: set[Decimal] = set(book._new_allowances().values())
    for plan in book.meters:
        numbers.update(offer.size for offer in plan.packs)
    for group in book.ladder_groups:
        for bracket in group.ladder.brackets:
            numbers.update(b for b in (bracket.lo, bracket.hi, bracket.block) if b is not None)
    return tuple(sorted(int(n) for n in numbers if n <= 10**9))


# --- what the bills must say ------------------------------------------------------------------

def comparable(bills: list[Bill]) -> list[dict[str, Any]]:
    """Bills as data, without where in the journal an ignored entry was."""
    data = [bill.to_dict() for bill in bills]
    for bill in data:
        for ignored in bill["ignored"]:
            del ignored["line"]
    return data


def recorded(book: PriceBook, journal: list[Entry]) -> tuple[Counter[str], Counter[str], int]:
    """Units recorded per meter and per free action, in time order without resent ids; and
    the number of resent entries."""
    zone = book.zone
    owner = {a: plan for plan in book.meters for a in (*plan.actions, *plan.free_actions)}
    order = sorted(range(len(journal)), key=lambda i: (instant_of(journal[i]["time"], zone), i))
    seen: set[tuple[str, str]] = set()
    meters: Counter[str] = Counter()
    free: Counter[str] = Counter()
    resent = 0
    for index in order:
        entry = journal[index]
        if "id" in entry:
            key = (entry["type"], entry["id"])
            if key in seen:
                resent += 1
                continue
            seen.add(key)
        if entry["type"] != "usage":
            continue
        plan = owner[entry["action"]]
        count = Decimal(str(entry["count"]))
        if book.routes[entry["action"]] == FREE:
            free[entry["action"]] += count  # type: ignore[assignment]
        else:
            if plan.quantity_rounding is not None:
                count = plan.quantity_rounding.round(count)
            meters[plan.name] += count  # type: ignore[assignment]
    return meters, free, resent


def check_bills(book: PriceBook, journal: list[Entry], bills: list[Bill]) -> None:
    """Units conserved, amounts rounded, totals summed, pack units accounted for."""
    meters, free, resent = recorded(book, journal)
    mode, increment = book.rounding.mode, book.rounding.increment
    billed: Counter[str] = Counter()
    billed_free: Counter[str] = Counter()
    for bill in bills:
        assert bill.total == sum((line.amount for line in bill.lines), Decimal(0))
        for line in bill.lines:
            assert line.amount == rounded(line.precise_amount, mode, increment), line
            assert line.quantity >= 0, line
            billed[line.meter] += line.quantity  # type: ignore[assignment]
        for rejected in bill.rejected:
            if book.routes[rejected.action] == FREE:
                billed_free[rejected.action] += rejected.quantity  # type: ignore[assignment]
            else:
                billed[rejected.meter] += rejected.quantity  # type: ignore[assignment]
        for usage in bill.free:
            billed_free[usage.action] += usage.quantity  # type: ignore[assignment]
    assert +billed == +meters
    assert +billed_free == +free
    assert sum(len(bill.ignored) for bill in bills) == resent
    check_days(book, bills)
    check_packs(book, bills)


def check_days(book: PriceBook, bills: list[Bill]) -> None:
    """`bill per day on ...`: a daily bill holds lines of its day and of meters billed per day
    only, is issued the next day and comes in the order of issue; a monthly bill holds no line
    of those meters."""
    daily = set(book.billing.daily)
    issued = [bill.issued for bill in bills]
    assert issued == sorted(issued)  # type: ignore[type-var]
    days = [bill.day for bill in bills if bill.day is not None]
    assert days == sorted(days) and len(days) == len(set(days))
    for bill in bills:
        if bill.day is None:
            assert not any(line.meter in daily for line in bill.lines), bill.lines
            continue
        assert daily and bill.lines
        assert bill.month == bill.day.replace(day=1)
        assert bill.issued == bill.day + timedelta(days=1)
        assert all(line.meter in daily and line.period == bill.day for line in bill.lines)


def check_packs(book: PriceBook, bills: list[Bill]) -> None:
    """Every lot expires when its validity says (`expiry_of`), and its units are drawn, void at
    its expiry or still held; nothing is drawn from it, and no alert is raised by usage, at or
    after its expiry (expiry is exclusive), nor in a month after the one it expired in."""
    zone = book.zone
    bought: dict[str, tuple[Decimal, datetime, datetime]] = {}
    for bill in bills:
        for p in bill.prepaid:
            time, expires = p.time, p.expires
            terms = book.meter(p.meter).pack_terms  # its own table's validity
            assert expires == expiry_of(time, terms.valid_amount, terms.valid_unit, zone), p
            bought[p.pack] = (p.size, time, expires)
    accounted: Counter[str] = Counter()
    for bill in bills:
        assert bill.month is not None
        year, month = bill.month.year, bill.month.month
        assert bill.month.day == 1
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
        for line in bill.lines:
            if line.pack is not None:
                assert line.quantity > 0
                accounted[line.pack] += line.quantity  # type: ignore[assignment]
                # nothing is drawn from a lot in a month after the one it expired in
                expires = bought[line.pack][2].astimezone(zone)
                assert (year, month) <= (expires.year, expires.month), (line, bill.month)
        for void in bill.void:
            accounted[void.pack] += void.quantity  # type: ignore[assignment]
            assert void.time == bought[void.pack][2], void
            assert month_key(bought[void.pack][2], zone) == (year, month), (void, bill.month)
        for alert in bill.alerts:
            if alert.kind in ("low", "exhausted"):
                assert alert.time is not None
                _, time, expires = bought[alert.pack]
                assert time <= alert.time < expires, alert
        for held in bill.packs:
            assert 0 < held.remaining <= held.size
            # held at the month's end: bought before it, expiring at it or later
            _, time, expires = bought[held.pack]
            assert time < end <= expires, (held, bill.month)
    monthly = [bill for bill in bills if bill.day is None]
    if monthly:  # (the last bill may be a day's, issued before its month's bill)
        for held in monthly[-1].packs:
            accounted[held.pack] += held.remaining  # type: ignore[assignment]
    assert {pack: accounted[pack] for pack in bought} == {p: s for p, (s, _, _) in bought.items()}


def moved_off_expiries(book: PriceBook, journal: list[Entry], bills: list[Bill]) -> list[Entry]:
    """The journal with the entries at a lot's expiry instant moved a microsecond later (where
    no purchase is at that instant: a purchase moved would move its own lot's expiry; and where
    the next microsecond is still the same day: one that starts a day starts a month, or the
    day of a daily ladder, or the day a bill is issued)."""
    zone = book.zone
    expiries = {instant_of(p.expires.isoformat(), zone) for bill in bills for p in bill.prepaid}
    expiries -= {instant_of(e["time"], zone) for e in journal if e["type"] == "purchase"}
    expiries = {t for t in expiries
                if (EPOCH + t * MICROSECOND).astimezone(zone).date()
                == (EPOCH + (t + 1) * MICROSECOND).astimezone(zone).date()}
    moved = []
    for entry in journal:
        moment = instant_of(entry["time"], zone)
        if moment in expiries:
            entry = {**entry, "time": (EPOCH + (moment + 1) * MICROSECOND).isoformat()}
        moved.append(entry)
    return moved


def essentials(bills: list[Bill]) -> list[tuple[Any, ...]]:
    """What a bill charges and holds, without the times it prints."""
    return [(bill.month, bill.day, bill.total, bill.lines, bill.rejected, bill.free,
             bill.settlement,
             [(a.kind, a.pack, a.remaining) for a in bill.alerts],
             [(v.pack, v.quantity) for v in bill.void],
             [(p.pack, p.remaining) for p in bill.packs]) for bill in bills]


def billed(book: PriceBook, journal: list[Entry], aggregate: bool = True) -> list[Bill] | str:
    """The bills, or the message of the contact-sales error that stops them."""
    try:
        result = bill_journal(book, journal, aggregate=aggregate)
    except ContactSalesError as exc:
        return str(exc)
    assert isinstance(result, list)
    return result


def tie_keeping_shuffle(book: PriceBook, journal: list[Entry], seed: int) -> list[Entry]:
    """The journal shuffled, except that entries at one instant keep their relative order."""
    zone = book.zone
    positions = list(range(len(journal)))
    random.Random(seed).shuffle(positions)
    by_instant: dict[int, list[Entry]] = {}
    for entry in journal:
        by_instant.setdefault(instant_of(entry["time"], zone), []).append(entry)
    queues = {moment: iter(group) for moment, group in by_instant.items()}
    return [next(queues[instant_of(journal[i]["time"], zone)]) for i in positions]


def resume_entry_by_entry(book: PriceBook, journal: list[Entry]) -> list[Bill]:
    """An account fed one entry at a time, saved as JSON and restored after each: a service
    that restarts between any two entries. Checks the held lots in every snapshot."""
    account = Account(book)
    bills: list[Bill] = []
    for entry in journal:
        bills += account.feed([entry])
        saved = json.dumps(account.snapshot())
        state = json.loads(saved)
        last = instant_of(state["last"], book.zone)
        for lot in state["lots"]:
            remaining = Decimal(lot["remaining"])
            assert Decimal(0) <= remaining <= Decimal(lot["size"])
        for meter, held in state["held"].items():
            for index in held:
                lot = state["lots"][index]
                assert lot["meter"] == meter
                # a lot held is not past its expiry, so nothing can be drawn from it after
                assert instant_of(lot["expires"], book.zone) > last, lot
        account = Account.restore(book, saved)
    if account.month is not None:
        bills += account.close_through(account.month)
    return bills


# --- the properties -------------------------------------------------------------------------------

@settings(max_examples=200)
@given(text=sheets(), data=st.data())
def test_units_conserved_amounts_rounded_packs_accounted(text: str, data: st.DataObject) -> None:
    """Every recorded unit is on the bills once; lines are rounded as the rules say and totals
    are their sums; every pack unit is drawn, void or held; nothing is drawn past expiry.

    Expiry is exclusive: at its expiry instant a lot is gone, so entries there bill as they
    would a microsecond later."""
    EXAMPLES["conservation"] += 1
    book = compiled(text)
    journal = data.draw(journals(book, scale_of(book)))
    bills = billed(book, journal)
    assert isinstance(bills, list)  # generated sheets have no `contact sales` bracket
    check_bills(book, journal, bills)
    moved = moved_off_expiries(book, journal, bills)
    if moved != journal:
        EXAMPLES["entries at an expiry"] += 1
        later = billed(book, moved)
        assert isinstance(later, list)
        assert essentials(later) == essentials(bills)


@settings(max_examples=150)
@given(text=sheets(), data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_same_bills_twice_shuffled_resent_and_entry_by_entry(
    text: str, data: st.DataObject, seed: int
) -> None:
    """Billing is a function of the journal's content in time order: twice, shuffled, with
    resends, or drawing every entry on its own, the bills are the same."""
    EXAMPLES["order, resends, reference"] += 1
    book = compiled(text)
    journal = data.draw(journals(book, scale_of(book)))
    bills = billed(book, journal)
    assert billed(book, journal) == bills
    assert billed(book, journal, aggregate=False) == bills
    shuffled = tie_keeping_shuffle(book, journal, seed)
    again = billed(book, shuffled)
    assert isinstance(again, list) and isinstance(bills, list)
    check_packs(book, bills)
    assert comparable(again) == comparable(bills)

    rng = random.Random(seed)
    with_ids = [e for e in journal if "id" in e]
    if with_ids:
        resent = list(journal)
        for _ in range(rng.randint(1, 4)):
            copy = dict(rng.choice(with_ids))
            first = next(i for i, e in enumerate(resent) if e == copy)
            resent.insert(rng.randint(first + 1, len(resent)), copy)
        with_resends = billed(book, resent)
        assert isinstance(with_resends, list)
        check_bills(book, resent, with_resends)
        stripped = [{**bill, "ignored": []} for bill in comparable(with_resends)]
        assert stripped == [{**bill, "ignored": []} for bill in comparable(bills)]


@settings(max_examples=120)
@given(text=sheets(), data=st.data())
def test_resuming_from_saved_state_after_any_entry_gives_the_same_bills(
    text: str, data: st.DataObject
) -> None:
    """A service that saves the account after every entry and restarts from the JSON each time
    issues exactly the bills of one replay, and no held lot is ever below zero or expired."""
    EXAMPLES["resume after every entry"] += 1
    book = compiled(text)
    journal = data.draw(journals(book, scale_of(book)))
    bills = billed(book, journal)
    assert isinstance(bills, list)
    check_packs(book, bills)
    assert resume_entry_by_entry(book, journal) == bills


@settings(max_examples=120)
@given(text=sheets(), data=st.data())
def test_batches_and_advancing_time_give_the_same_bills(text: str, data: st.DataObject) -> None:
    """Fed in random batches (each batch shuffled), with `advance` to random instants up to the
    next entry and a snapshot round trip between batches, an account issues the bills of one
    replay (but for the lines of ignored entries, which moved), each as soon as the time of its
    issue is reached."""
    EXAMPLES["batches and advance"] += 1
    book = compiled(text)
    zone = book.zone
    journal = data.draw(journals(book, scale_of(book)))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(journal)), max_size=5)))
    account = Account(book)
    bills: list[Bill] = []
    for lo, hi in zip([0, *cuts], [*cuts, len(journal)], strict=True):
        batch = journal[lo:hi]
        shuffled = tie_keeping_shuffle(book, batch, data.draw(st.integers(0, 2**16)))
        bills += account.feed(shuffled)
        for bill in bills:
            assert bill.issued is not None
            issued = datetime.combine(bill.issued, datetime.min.time(), zone)
            assert account.last_time is not None
            assert issued <= datetime.fromisoformat(account.last_time)
        if hi < len(journal) and account.last_time is not None:
            now = instant_of(account.last_time, zone)
            upto = instant_of(journal[hi]["time"], zone)
            if upto > now:
                target = now + data.draw(st.integers(0, upto - now))
                bills += account.advance(datetime(1970, 1, 1, tzinfo=UTC)
                                         + timedelta(microseconds=target))
        account = Account.restore(book, json.dumps(account.snapshot()))
    if account.month is not None:
        bills += account.close_through(account.month)
    expected = billed(book, journal)
    assert isinstance(expected, list)
    check_packs(book, expected)
    assert comparable(bills) == comparable(expected)  # lines differ: the batches were shuffled
    assert account.bills_issued == len(bills)
    assert account.entries == len(journal)


@settings(max_examples=150)
@given(text=rules_texts(), data=st.data())
def test_any_sound_sheet_bills_consistently(text: str, data: st.DataObject) -> None:
    """Sound sheets from the language's whole grammar (tests/strategies.py), with counts near
    their own numbers: the invariants hold, the aggregated replay equals the reference and a
    resumed account equals one replay; or every one of them stops at the same contact-sales
    bracket."""
    EXAMPLES["fuzz-generator sheets"] += 1
    book = compiled(text)
    journal = data.draw(journals(book, scale_of(book)))
    bills = billed(book, journal)
    assert billed(book, journal, aggregate=False) == bills
    if isinstance(bills, str):
        with pytest.raises(ContactSalesError):
            resume_entry_by_entry(book, journal)
        return
    check_bills(book, journal, bills)
    assert resume_entry_by_entry(book, journal) == bills
