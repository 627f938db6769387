"""Instants: field arithmetic (and its fixed-offset shortcut) equals datetime subtraction; pack
expiry equals its wall-clock definition."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from ratecard.engine.clock import EPOCH, MICROSECOND, add_period, instant, parse_time

OFFSETS = st.integers(-18 * 60, 18 * 60).map(lambda minutes: timedelta(minutes=minutes))
MOMENTS = st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(9000, 12, 30))
SHANGHAI = ZoneInfo("Asia/Shanghai")


@given(MOMENTS, OFFSETS)
def test_fixed_offsets(moment: datetime, offset: timedelta) -> None:
    """A new timezone object each time (as fromisoformat makes them), read twice (the second
    time through the cached shift): both equal the aware subtraction."""
    aware = moment.replace(tzinfo=timezone(offset))
    expected = (aware - EPOCH) // MICROSECOND
    assert instant(aware, SHANGHAI) == expected
    assert instant(moment.replace(tzinfo=timezone(offset)), SHANGHAI) == expected


@given(MOMENTS, st.sampled_from(["America/New_York", "Europe/London", "Asia/Shanghai"]))
def test_zoneinfo_and_naive_times(moment: datetime, name: str) -> None:
    """A ZoneInfo time, and a naive time read in the rules' zone, are the same instant."""
    zone = ZoneInfo(name)
    aware = moment.replace(tzinfo=zone)
    expected = (aware - EPOCH) // MICROSECOND
    assert instant(aware, SHANGHAI) == expected
    assert instant(moment, zone) == expected


def test_text_and_objects_agree() -> None:
    """2026-11-02T10:00:00+08:00 is 02:00 UTC, 1,793,584,800 s after the epoch."""
    text = "2026-11-02T10:00:00+08:00"
    assert parse_time(text, SHANGHAI) == 1_793_584_800_000_000
    assert instant(datetime(2026, 11, 2, 2, tzinfo=UTC), SHANGHAI) == 1_793_584_800_000_000


def _add_period_by_replace(moment: int, amount: int, unit: str, zone: ZoneInfo) -> int:
    """The definition of `add_period`: the wall clock of the instant (its `fold` kept), the
    date moved with `replace` (the day clamped to the target month), read back in `zone`."""
    wall = (EPOCH + moment * MICROSECOND).astimezone(zone).replace(tzinfo=None)
    if unit == "day":
        shifted = wall + timedelta(days=amount)
    else:
        index = wall.year * 12 + wall.month - 1 + (amount * 12 if unit == "year" else amount)
        year, month = divmod(index, 12)
        day = min(wall.day, calendar.monthrange(year, month + 1)[1])
        shifted = wall.replace(year=year, month=month + 1, day=day)
    return (shifted.replace(tzinfo=zone) - EPOCH) // MICROSECOND


@given(
    st.datetimes(min_value=datetime(1901, 1, 1), max_value=datetime(8990, 12, 31)),
    st.sampled_from(["America/New_York", "Europe/London", "Asia/Shanghai",
                     "Australia/Lord_Howe", "America/Santiago"]),
    st.sampled_from([(1, "year"), (2, "year"), (1, "month"), (13, "month"), (30, "day")]),
    st.integers(-2, 2),
)
def test_add_period_is_the_wall_clock_definition(
    moment: datetime, name: str, period: tuple[int, str], hours: int
) -> None:
    """Pack expiry: a year, months or days later on the wall clock, whatever the instant
    (on the hour near clock changes too, the second of two repeated wall times included)."""
    zone = ZoneInfo(name)
    start = (moment.replace(tzinfo=UTC) - EPOCH) // MICROSECOND
    if hours:  # on an hour, where clocks change
        start = start // 3_600_000_000 * 3_600_000_000 + hours * 1_800_000_000
    amount, unit = period
    expected = _add_period_by_replace(start, amount, unit, zone)
    assert add_period(start, amount, unit, zone) == expected


def test_add_period_keeps_the_second_of_two_repeated_times() -> None:
    """2026-11-01 06:30Z is 01:30 EST, the second 01:30 in New York (EDT ends at 06:00Z). Eleven
    years later, 2037-11-01 is again the day EDT ends: the second 01:30 again, EST, 06:30Z (the
    first would be 05:30Z)."""
    zone = ZoneInfo("America/New_York")
    start = (datetime(2026, 11, 1, 6, 30, tzinfo=UTC) - EPOCH) // MICROSECOND
    expected = (datetime(2037, 11, 1, 6, 30, tzinfo=UTC) - EPOCH) // MICROSECOND
    assert add_period(start, 11, "year", zone) == expected
