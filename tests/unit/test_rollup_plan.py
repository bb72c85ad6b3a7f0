"""The split of a period between raw calls and the hourly, daily and (schema 14) monthly rollups."""

from __future__ import annotations

from datetime import datetime

from core.ledger.rollup_read import plan


def test_a_new_york_year_per_user_takes_its_whole_utc_months_from_the_monthly_rollup():
    p = plan(datetime(2025, 12, 1, 5), datetime(2026, 12, 1, 5), "America/New_York", by_local_day=False,
             daily_ok=True)
    assert (p.hs, p.he, p.ds, p.de) == (datetime(2025, 12, 1, 5), datetime(2026, 12, 1, 5), datetime(2025, 12, 2),
                                        datetime(2026, 12, 1))
    assert p.daily and p.months == (datetime(2026, 1, 1), datetime(2026, 12, 1))


def test_months_cross_the_year_and_need_a_whole_month_inside_the_days():
    p = plan(datetime(2026, 11, 15, 7, 30), datetime(2027, 1, 10), "UTC", by_local_day=False, daily_ok=True)
    assert (p.ds, p.de, p.months) == (datetime(2026, 11, 16), datetime(2027, 1, 10),
                                      (datetime(2026, 12, 1), datetime(2027, 1, 1)))
    inside = plan(datetime(2026, 11, 2), datetime(2026, 11, 30), "UTC", by_local_day=False, daily_ok=True)
    assert inside.daily and inside.months is None
    exact = plan(datetime(2026, 11, 1), datetime(2027, 1, 1), "UTC", by_local_day=False, daily_ok=True)
    assert exact.months == (datetime(2026, 11, 1), datetime(2027, 1, 1))


def test_local_days_outside_utc_get_neither_days_nor_months():
    p = plan(datetime(2025, 12, 1, 5), datetime(2026, 12, 1, 5), "America/New_York", by_local_day=True,
             daily_ok=True)
    assert not p.daily and p.months is None and (p.hs, p.he) == (datetime(2025, 12, 1, 5), datetime(2026, 12, 1, 5))
