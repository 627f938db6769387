"""Time for billing: instants, calendar months and validity periods in the rules' timezone.

An instant is a whole number of microseconds since 1970-01-01T00:00:00Z: exact, cheap to compare
and to sort, and the same whatever offset an input time was written with. Months and pack expiry
are calendar arithmetic on the wall clock of the rules' timezone.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from ratecard.literals import shorten

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
EPOCH_DAY = EPOCH.toordinal()
_OFFSETS: dict[timedelta, int] = {}  # UTC offset → microseconds; there are few offsets
# A fixed-offset tzinfo → its offset in microseconds (equal timezones hash alike, so the many
# tzinfo objects that parsing `+08:00` makes share one entry).
FIXED_SHIFTS: dict[timezone, int] = {}

# Times a bill can be computed for: month ends, issue days and pack expiry stay in range.
FIRST_YEAR = 1900
LAST_YEAR = 9000

_NO_DATE = re.compile(r"\s*T?\d{1,2}(:\d{2}){1,2}(\.\d+)?(Z|[+-]\d{2}(:?\d{2})?)?\s*$")
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_OFFSET = re.compile(r"[+-]\d{2}(:?\d{2}(:?\d{2}(\.\d+)?)?)?$")


class TimeError(ValueError):
    """A time that cannot be read; the message says why and how to write it."""


def instant(moment: datetime, zone: ZoneInfo) -> int:
    """The instant of a datetime; one without an offset is read in `zone`."""
    # Field arithmetic: exact, and several times cheaper than subtracting aware datetimes.
    tz = moment.tzinfo
    if type(tz) is timezone:  # a fixed offset (what fromisoformat gives): no utcoffset() call
        shift = FIXED_SHIFTS.get(tz)
        if shift is None:
            shift = FIXED_SHIFTS[tz] = tz.utcoffset(None) // MICROSECOND
    else:
        offset = moment.utcoffset() if tz is not None else zone.utcoffset(moment)
        if offset is None:  # a tzinfo that gives no offset: the time is read in `zone`
            offset = zone.utcoffset(moment.replace(tzinfo=None)) or timedelta(0)
        shift = _OFFSETS.get(offset)
        if shift is None:
            shift = _OFFSETS[offset] = offset // MICROSECOND
    seconds = ((moment.toordinal() - EPOCH_DAY) * 86400
               + moment.hour * 3600 + moment.minute * 60 + moment.second)
    return seconds * 1_000_000 + moment.microsecond - shift


def parse_time(text: str, zone: ZoneInfo) -> int:
    """The instant of an ISO 8601 time; one without an offset is read in `zone`.

    A date alone is midnight of that day; a time of day without a date is an error, and so is
    an empty time (never the epoch).
    """
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise TimeError(_why_not_a_time(text, str(exc))) from None
    return checked_instant(moment, zone)


def checked_instant(moment: datetime, zone: ZoneInfo) -> int:
    """The instant of a datetime, or TimeError if it is outside the years billing handles."""
    if not FIRST_YEAR <= moment.year <= LAST_YEAR:
        raise TimeError(f"`{moment.isoformat()}` is out of range: times are from "
                        f"{FIRST_YEAR} to {LAST_YEAR}")
    return instant(moment, zone)


def _why_not_a_time(text: str, reason: str) -> str:
    example = "write e.g. 2026-11-02T10:00:00+08:00"
    if not text or text.isspace():
        return f"the time is {'empty' if not text else 'blank'}; {example}"
    shown = shorten(text)
    if _NO_DATE.match(text):
        return f"`{shown}` is a time without a date; {example}"
    if reason.startswith("offset must be a timedelta"):  # Python's words: a timedelta's repr
        offset = _OFFSET.search(text)
        written = f"offset {offset.group(0)}" if offset else "its offset"
        return f"`{shown}` is not a valid time: {written} is out of range (-23:59..+23:59)"
    if not reason.startswith("Invalid isoformat"):
        return f"`{shown}` is not a valid time: {reason}"
    return f"`{shown}` is not an ISO 8601 time; {example}"


def local(moment: int, zone: ZoneInfo) -> datetime:
    """The wall-clock datetime of an instant in `zone` (aware)."""
    return (EPOCH + moment * MICROSECOND).astimezone(zone)


_FIXED: dict[timedelta, timezone] = {}  # UTC offset → its fixed-offset tzinfo, made once


def stamp(moment: int, zone: ZoneInfo) -> datetime:
    """An instant as a bill gives it: the wall clock of `zone` with that moment's UTC offset as
    a fixed-offset tzinfo (`isoformat()` is `format_instant`'s text). A fixed offset, not the
    zone: aware datetimes in a repeated hour compare unequal across zones (PEP 495), and these
    are compared and hashed freely."""
    return fixed(local(moment, zone))


def fixed(moment: datetime) -> datetime:
    """An aware datetime with its UTC offset as a fixed-offset tzinfo: the same instant and
    wall clock."""
    offset = moment.utcoffset()
    assert offset is not None, "an aware datetime"
    tz = _FIXED.get(offset)
    if tz is None:
        tz = _FIXED[offset] = timezone(offset)
    return moment.replace(tzinfo=tz, fold=0)


def format_instant(moment: int, zone: ZoneInfo) -> str:
    """An instant as ISO 8601 in `zone`: 2026-11-02T10:00:00+08:00."""
    return local(moment, zone).isoformat()


def month_of(moment: int, zone: ZoneInfo) -> tuple[int, int]:
    """The (year, month) an instant falls in, in `zone`."""
    wall = local(moment, zone)
    return wall.year, wall.month


def month_label(month: tuple[int, int]) -> str:
    """`2026-11`."""
    return f"{month[0]:04d}-{month[1]:02d}"


def parse_month(text: str) -> tuple[int, int]:
    """(year, month) of `YYYY-MM`; TimeError otherwise."""
    if not isinstance(text, str):
        raise TimeError(f"a month is a string YYYY-MM such as \"2026-11\", not "
                        f"{shorten(repr(text))} ({type(text).__name__})")
    match = _MONTH.fullmatch(text)
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise TimeError(f"month `{shorten(text)}` must be written YYYY-MM, e.g. 2026-11")
    return int(match.group(1)), int(match.group(2))


def next_month(month: tuple[int, int]) -> tuple[int, int]:
    year, number = month
    return (year + 1, 1) if number == 12 else (year, number + 1)


def month_start(month: tuple[int, int], zone: ZoneInfo) -> int:
    """The instant a month starts: 00:00 on its 1st in `zone`."""
    return instant(datetime(month[0], month[1], 1, tzinfo=zone), zone)


def issue_date(month: tuple[int, int], day: int) -> date:
    """The day a month's bill is issued: `day` of the next month (clamped to its last day)."""
    year, number = next_month(month)
    return date(year, number, min(day, calendar.monthrange(year, number)[1]))


def day_start(day: date, zone: ZoneInfo) -> int:
    """The instant a day starts in `zone`."""
    return instant(datetime(day.year, day.month, day.day, tzinfo=zone), zone)


def add_period(moment: int, amount: int, unit: str, zone: ZoneInfo) -> int:
    """`moment` plus `amount` years, months or days on the wall clock of `zone`.

    A day of the month that the target month lacks falls back to its last day, so
    Feb 29 + 1 year is Feb 28 and Jan 31 + 1 month is Feb 28 (or 29).
    """
    wall = local(moment, zone)
    if unit == "day":
        shifted = wall.replace(tzinfo=None) + timedelta(days=amount)
    else:
        months = amount * 12 if unit == "year" else amount
        index = wall.year * 12 + (wall.month - 1) + months
        year, number = divmod(index, 12)
        number += 1
        day = wall.day
        if day > 28:
            day = min(day, calendar.monthrange(year, number)[1])
        # The same wall time on the new date, naive, keeping `fold` (which of two repeated
        # wall times it is) as `replace` would.
        shifted = datetime(year, number, day, wall.hour, wall.minute, wall.second,
                           wall.microsecond, fold=wall.fold)
    return instant(shifted, zone)
