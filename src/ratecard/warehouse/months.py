"""The calendar table: every month the engine bills, in the rules' timezone, as plain integers.

The database never converts time zones. Month boundaries, bill issue instants and the offsets of
the rules' timezone are computed here, by the engine's own clock (`ratecard.engine.clock`, Python's
zoneinfo), and handed to the database as a table with one row per month from 1899-12 to 9001-01
(the engine reads times of the years 1900 to 9000; a time written in one of them may fall in the
month before or after in the rules' timezone), or, for most runs, up to 2200-12 only. The
database only compares integers against it, so a month label is the engine's label whatever time
zone database the database ships and whatever its session's time zone.

A row of month `ord` (year × 12 + month − 1) holds:

- `start`, `end`: the instants (microseconds since the epoch) the month starts and ends;
- `issue`: the instant the previous month's bill is issued (the rules' issue day, 00:00);
- `wall`: the first microsecond of the month on the wall clock, counted as if it were UTC;
- `off0`, `sw1`, `off1`, `sw2`, `off2`: how a wall-clock time of this month without an offset
  becomes an instant. Its offset is `off0`, or `off1` from the wall time `sw1` on, or `off2`
  from `sw2` on (NULL: no further change). This is the engine's reading (Python's `fold=0`):
  a time repeated when clocks go back is the first one, a time skipped when they go forward is
  read with the offset before the change. A month in which the offset changes more than twice
  has no `off0`; its times without an offset are reported, not guessed.
"""

from __future__ import annotations

import functools
import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import attrs

from ratecard.engine.clock import FIRST_YEAR, LAST_YEAR, day_start, issue_date, month_start

FIRST_ORD = FIRST_YEAR * 12 - 1  # 1899-12
LAST_ORD = (LAST_YEAR + 1) * 12  # 9001-01
# Most runs read times of this century and the next: the table is built up to the end of 2200
# first (in milliseconds), and in full (a few seconds) only if some time falls beyond it.
NEAR_LAST_ORD = 2201 * 12 - 1
MICROS = 1_000_000
_EPOCH = datetime(1970, 1, 1)
# Until this year the time zone database lists changes one by one and a month may hold two;
# after it, yearly rules apply and a month holds at most one.
_DENSE_UNTIL = 2100


@attrs.frozen
class MonthRow:
    """One month of the calendar table; see the module docstring for the columns."""

    ord: int
    start: int
    end: int
    issue: int
    wall: int
    off0: int | None
    sw1: int | None = None
    off1: int | None = None
    sw2: int | None = None
    off2: int | None = None


COLUMNS = ("ord", "start", "end", "issue", "wall", "off0", "sw1", "off1", "sw2", "off2")


def ord_of(year: int, month: int) -> int:
    """A month's ordinal: year × 12 + month − 1."""
    return year * 12 + month - 1


def label_of(ordinal: int) -> str:
    """`2026-11` for a month's ordinal."""
    year, index = divmod(ordinal, 12)
    return f"{year:04d}-{index + 1:02d}"


def month_of_ord(ordinal: int) -> tuple[int, int]:
    """(year, month) of an ordinal."""
    year, index = divmod(ordinal, 12)
    return year, index + 1


def wall_micros(moment: datetime) -> int:
    """A naive wall-clock time as microseconds, counted as if it were UTC."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


#: The range of a timestamp column's microseconds (read as UTC digits) that the engine reads:
#: from 1900-01-01 up to, not including, 9001-01-01, as the engine reads a time's year, that of
#: the time as written (an instant's in UTC, a wall-clock time's on the wall).
FIRST_MICROS = wall_micros(datetime(FIRST_YEAR, 1, 1))
LAST_MICROS = wall_micros(datetime(LAST_YEAR + 1, 1, 1))


@functools.lru_cache(maxsize=8)
def calendar_rows(zone_name: str, issued_day: int, full: bool = False) -> tuple[MonthRow, ...]:
    """The calendar table of a timezone and issue day, to 2200-12 or, if `full`, to 9001-01
    (computed once per process)."""
    zone = ZoneInfo(zone_name)
    last_ord = LAST_ORD if full else NEAR_LAST_ORD
    starts = {o: month_start(month_of_ord(o), zone) for o in range(FIRST_ORD - 1, last_ord + 2)}
    switches = _switches(zone, starts, last_ord)
    rows = []
    cursor = 0
    for o in range(FIRST_ORD, last_ord + 1):
        year, month = month_of_ord(o)
        wall = wall_micros(datetime(year, month, 1))
        next_wall = wall_micros(datetime(*_next(year, month), 1))
        offset = zone.utcoffset(datetime(year, month, 1))
        assert offset is not None
        inside: list[tuple[int, int]] = []
        while cursor < len(switches) and switches[cursor][0] <= wall:
            cursor += 1
        probe = cursor
        while probe < len(switches) and switches[probe][0] < next_wall:
            inside.append(switches[probe])
            probe += 1
        issue = (
            starts[o]
            if issued_day == 1
            else day_start(issue_date(month_of_ord(o - 1), issued_day), zone)
        )
        off0 = offset // timedelta(microseconds=1)
        if len(inside) > 2:
            rows.append(MonthRow(o, starts[o], starts[o + 1], issue, wall, None))
            continue
        padded: list[tuple[int | None, int | None]] = [*inside, (None, None), (None, None)]
        (sw1, off1), (sw2, off2) = padded[:2]
        rows.append(MonthRow(o, starts[o], starts[o + 1], issue, wall, off0, sw1, off1, sw2, off2))
    return tuple(rows)


def _next(year: int, month: int) -> tuple[int, int]:
    return (year + 1, 1) if month == 12 else (year, month + 1)


def _offset_at(zone: ZoneInfo, seconds: int) -> int:
    moment = datetime.fromtimestamp(seconds, UTC).astimezone(zone)
    offset = moment.utcoffset()
    assert offset is not None
    return offset // timedelta(microseconds=1)


def _switches(zone: ZoneInfo, starts: dict[int, int], last_ord: int) -> list[tuple[int, int]]:
    """Every change of the zone's offset, as (the wall time from which a time without an offset
    takes the new offset, the new offset), in order.

    A change at instant T from offset a to offset b applies to wall times from T + max(a, b):
    earlier ones keep offset a (skipped times are read before the change, repeated times are
    the first occurrence), which is how Python reads a wall time with `fold=0`.
    """
    samples: list[int] = []
    for o in range(FIRST_ORD - 1, last_ord + 1):
        first = starts[o] // MICROS
        samples.append(first)
        if o // 12 < _DENSE_UNTIL:
            last = starts[o + 1] // MICROS
            step = (last - first) // 4
            samples.extend(first + step * k for k in (1, 2, 3))
    samples.append(starts[last_ord + 1] // MICROS)
    found: list[tuple[int, int]] = []
    before = _offset_at(zone, samples[0])
    for left, right in itertools.pairwise(samples):
        after = _offset_at(zone, right)
        if after != before:
            low, high = left, right  # offset(low) == before, offset(high) != before
            while high - low > 1:
                middle = (low + high) // 2
                if _offset_at(zone, middle) == before:
                    low = middle
                else:
                    high = middle
            changed_to = _offset_at(zone, high)
            found.append((high * MICROS + max(before, changed_to), changed_to))
            before = changed_to
            if changed_to != after:  # a second change between the same two samples
                found.extend(_switches_between(zone, high, right, changed_to))
                before = after
    return found


def _switches_between(zone: ZoneInfo, left: int, right: int, before: int) -> list[tuple[int, int]]:
    """Changes between two instants (seconds) hourly sampled: rare, for the few odd months."""
    found = []
    seconds = left
    while seconds < right:
        following = min(seconds + 3600, right)
        after = _offset_at(zone, following)
        if after != before:
            low, high = seconds, following
            while high - low > 1:
                middle = (low + high) // 2
                if _offset_at(zone, middle) == before:
                    low = middle
                else:
                    high = middle
            found.append((high * MICROS + max(before, after), after))
            before = after
        seconds = following
    return found
