"""Instants: field arithmetic (and its fixed-offset shortcut) equals datetime subtraction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from ratecard.engine.clock import EPOCH, MICROSECOND, instant, parse_time

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
