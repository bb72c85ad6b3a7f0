"""Budget months are calendar months in the budget time zone, as naive-UTC bounds (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from core.budgets.amounts import month_bounds


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_utc_month():
    assert month_bounds(utc(2026, 11, 22, 12), "UTC") == (
        datetime(2026, 11, 1), datetime(2026, 12, 1), "2026-11")


def test_december_rolls_into_next_year():
    start, end, key = month_bounds(utc(2026, 12, 31, 23, 59, 59), "UTC")
    assert (start, end, key) == (datetime(2026, 12, 1), datetime(2027, 1, 1), "2026-12")


def test_utc_instant_already_next_month_locally():
    # 23:30Z on 31 January is 00:30 on 1 February in Paris (UTC+1 in winter).
    start, end, key = month_bounds(utc(2026, 1, 31, 23, 30), "Europe/Paris")
    assert key == "2026-02"
    assert start == datetime(2026, 1, 31, 23, 0)
    assert end == datetime(2026, 2, 28, 23, 0)


def test_utc_instant_still_previous_month_locally():
    # 03:00Z on 1 March is still 28 February, 22:00 in New York (UTC-5).
    start, end, key = month_bounds(utc(2026, 3, 1, 3, 0), "America/New_York")
    assert key == "2026-02"
    assert (start, end) == (datetime(2026, 2, 1, 5, 0), datetime(2026, 3, 1, 5, 0))


def test_month_with_spring_forward_is_an_hour_short():
    # Paris moves from UTC+1 to UTC+2 on the last Sunday of March.
    start, end, key = month_bounds(utc(2026, 3, 15), "Europe/Paris")
    assert key == "2026-03"
    assert start == datetime(2026, 2, 28, 23, 0)
    assert end == datetime(2026, 3, 31, 22, 0)
    assert end - start == timedelta(days=31) - timedelta(hours=1)


def test_month_with_fall_back_is_an_hour_long():
    # New York leaves daylight time on 1 November 2026, two hours after the month starts.
    start, end, key = month_bounds(utc(2026, 11, 20), "America/New_York")
    assert key == "2026-11"
    assert start == datetime(2026, 11, 1, 4, 0)  # midnight EDT
    assert end == datetime(2026, 12, 1, 5, 0)  # midnight EST
    assert end - start == timedelta(days=30, hours=1)


def test_bounds_are_half_open():
    start, end, key = month_bounds(utc(2026, 6, 10), "Asia/Tokyo")
    assert month_bounds(start.replace(tzinfo=UTC), "Asia/Tokyo")[2] == key
    assert month_bounds((start - timedelta(microseconds=1)).replace(tzinfo=UTC), "Asia/Tokyo")[2] == "2026-05"
    assert month_bounds(end.replace(tzinfo=UTC), "Asia/Tokyo")[2] == "2026-07"


def test_naive_input_is_taken_as_utc():
    assert month_bounds(datetime(2026, 1, 31, 23, 30), "Europe/Paris") == \
        month_bounds(utc(2026, 1, 31, 23, 30), "Europe/Paris")


def test_accepts_a_zoneinfo_and_an_aware_non_utc_input():
    paris = ZoneInfo("Europe/Paris")
    local = datetime(2026, 2, 1, 0, 30, tzinfo=paris)
    assert month_bounds(local, paris) == month_bounds(utc(2026, 1, 31, 23, 30), "Europe/Paris")


@pytest.mark.parametrize("tz", ["UTC", "Europe/Paris", "America/New_York", "Australia/Lord_Howe",
                                "Asia/Kathmandu", "Pacific/Chatham"])
def test_every_instant_of_a_year_falls_in_a_month_starting_at_local_midnight_on_the_1st(tz):
    zone = ZoneInfo(tz)
    t = utc(2026, 1, 1)
    while t < utc(2027, 1, 1):
        start, end, key = month_bounds(t, tz)
        assert start <= t.replace(tzinfo=None) < end
        local_start = start.replace(tzinfo=UTC).astimezone(zone)
        local_end = end.replace(tzinfo=UTC).astimezone(zone)
        local_now = t.astimezone(zone)
        assert (local_start.day, local_start.hour, local_start.minute) == (1, 0, 0)
        assert (local_end.day, local_end.hour, local_end.minute) == (1, 0, 0)
        assert key == f"{local_now.year:04d}-{local_now.month:02d}"
        assert key == f"{local_start.year:04d}-{local_start.month:02d}"
        t += timedelta(hours=7, minutes=13)


def test_unknown_time_zone_is_a_clear_value_error():
    with pytest.raises(ValueError, match="Unknown budget time zone 'Mars/Olympus'"):
        month_bounds(utc(2026, 1, 1), "Mars/Olympus")
