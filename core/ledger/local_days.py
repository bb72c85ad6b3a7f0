"""A zone's local days in SQL over naive-UTC columns: its offsets over a period, a column's local date, and the
UTC hours a whole UTC day's noon does not share a local date with (those a local-day read moves across)."""

from __future__ import annotations

from bisect import bisect_right
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import ARRAY, Date, DateTime, any_, case, cast, func, literal, literal_column

HOUR, DAY = timedelta(hours=1), timedelta(days=1)
NOON = literal_column("INTERVAL '12 hours'")


@lru_cache(maxsize=256)
def strays(tz: str, ds: datetime, de: datetime) -> tuple[datetime, ...]:
    """The UTC hours of the whole UTC days ``[ds, de)`` whose local date in ``tz`` is not that of their day's noon."""
    segs = offsets(tz, ds, de)
    starts = [t for t, _ in segs]

    def local(t: datetime):
        return (t + timedelta(minutes=segs[max(0, bisect_right(starts, t) - 1)][1])).date()

    out, d = [], ds
    while d < de:
        noon = local(d + 12 * HOUR)
        out += [h for h in (d + k * HOUR for k in range(24)) if local(h) != noon]
        d += DAY
    return tuple(out)


def hours_in(col, hours: tuple[datetime, ...]):
    """``col`` among ``hours`` (PostgreSQL): one array parameter, not an IN list of a bound value each (a New York
    year's 1,825 moved hours made a 60 kB statement that psycopg parsed anew, ~10 ms of Python a read)."""
    return col == any_(cast(literal(list(hours), ARRAY(DateTime)), ARRAY(DateTime)))


def whole_days(hs: datetime, he: datetime) -> tuple[datetime, datetime]:
    """The whole UTC days ``[ds, de)`` inside the whole hours ``[hs, he)`` (``ds == de``: none)."""
    ds = hs.replace(hour=0) + (DAY if hs.hour else timedelta(0))
    return ds, max(ds, he.replace(hour=0))


@lru_cache(maxsize=256)
def offsets(tz: str, start: datetime, end: datetime) -> tuple[tuple[datetime, int], ...]:
    """``tz``'s UTC offsets over ``[start, end)`` as (from when, naive UTC; offset in minutes), oldest first.
    Sampled every 12 hours (zones change offset at most twice a year), each change found to the second."""
    z, utc = ZoneInfo(tz), ZoneInfo("UTC")

    def off(t: datetime) -> int:
        return int(t.replace(tzinfo=utc).astimezone(z).utcoffset().total_seconds() // 60)

    out = [(start, off(start))]
    t = start
    while t < end:
        nxt = min(end, t + timedelta(hours=12))
        if off(nxt) != out[-1][1]:  # a change within (t, nxt]: find its second
            lo, hi = 0, int((nxt - t).total_seconds())
            while hi - lo > 1:
                mid = (lo + hi) // 2
                lo, hi = (mid, hi) if off(t + timedelta(seconds=mid)) == out[-1][1] else (lo, mid)
            out.append((t + timedelta(seconds=hi), off(t + timedelta(seconds=hi))))
        t = nxt
    return tuple(out)


def local_day(col, tz: str, start: datetime | None = None, end: datetime | None = None):
    """``col`` (naive UTC) as a local calendar date in ``tz``: plain arithmetic with the period's offsets
    (cheaper than a time-zone conversion per row), the same SQL on DuckDB and PostgreSQL."""
    if tz == "UTC":
        return cast(col, Date)
    if start is None or end is None:
        return cast(func.timezone(literal_column(f"'{tz}'"), func.timezone(literal_column("'UTC'"), col)), Date)
    segs = offsets(tz, start, end)

    def shifted(minutes: int):
        return cast(col + literal_column(f"INTERVAL '{minutes} minutes'"), Date)

    if len(segs) == 1:
        return shifted(segs[0][1])
    whens = [(col < segs[i + 1][0], shifted(segs[i][1])) for i in range(len(segs) - 1)]
    return case(*whens, else_=shifted(segs[-1][1]))
