"""Read successful calls' latency histograms from the rollups plus the raw calls not in them (rollup_read's split).

On PostgreSQL, per local day in a zone other than UTC (whole-hour offsets only: ``rollup_read.plan``), the whole
UTC days of the period come from the daily histograms, each counted in the local day that holds its noon; the
hours of such a day that belong to the neighbouring local day (``strays``: 4 or 5 a day in New York, at most 12)
are then moved across, counted again in their own local day and taken away (a negative n) from the noon's. Counts
stay exact, and a year of local days reads far fewer rollup rows than 24 hourly histograms a day.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Date,
    DateTime,
    Integer,
    cast,
    func,
    literal,
    literal_column,
    select,
    union_all,
)
from sqlalchemy.dialects.postgresql import aggregate_order_by

from core.ledger.rollup import bucket_sql
from core.ledger.rollup_read import (
    NOON,
    Plan,
    _filters,
    _raw_bucket,
    hours_in,
    local_day,
    plan,
    raw_wheres,
    strays,
    whole_days,
)
from core.ledger.schema import (
    LATENCY,
    TTFT,
    calls,
    latency_daily,
    latency_daily_all,
    latency_hourly,
    latency_hourly_all,
)
from core.types import STATUS_OK

c = calls.c


def _count(n, sign: int):
    """A rollup row's count as INTEGER (each is one bucket of one hour or day: far below 2^31), so PostgreSQL sums
    them in 64-bit integers instead of the NUMERIC its sum of BIGINT gives (measured: the costlier aggregate)."""
    return cast(n if sign > 0 else -n, Integer)


def _rollup_part(table, unit: str, lo, hi, models, *, bucket=None, sign: int = 1, only=None):
    t = table.c
    model = t.model if "model" in t else literal_column("''")
    where = [t[unit].in_(list(only))] if only is not None else [t[unit] >= lo, t[unit] < hi]
    return select((t[unit] if bucket is None else bucket).label("bucket"), model.label("model"),
                  t.metric.label("metric"), t.bucket.label("bucket_no"), _count(t.n, sign).label("n")) \
        .where(*where, *_filters(table, None, models, None))


def _rollup_parts(dialect: str, p: Plan, tz: str, by_day: bool, with_model: bool, models) -> list:
    """The rollups' share of the period ``p`` (its rolled whole hours ``[hs, he)``)."""
    hourly = latency_hourly if with_model else latency_hourly_all
    daily = latency_daily if with_model else latency_daily_all
    if p.daily:  # UTC days mean the same in the daily rollup and in the report
        spans = [(hourly, "hour", p.hs, p.ds), (hourly, "hour", p.de, p.he), (daily, "day", p.ds, p.de)]
        return [_rollup_part(t, u, lo, hi, models) for t, u, lo, hi in spans if lo < hi]
    # DuckDB sums a year of hourly histograms in one columnar pass (0.4 s at 10 M calls), faster than it filters the
    # moved hours out of them (0.8 s, measured side by side): the days are PostgreSQL's, whose index finds those hours.
    ds, de = whole_days(p.hs, p.he) if by_day and dialect == "postgresql" else (p.hs, p.hs)
    if ds == de:
        return [_rollup_part(hourly, "hour", p.hs, p.he, models)]
    parts = [_rollup_part(hourly, "hour", lo, hi, models) for lo, hi in ((p.hs, ds), (de, p.he)) if lo < hi]
    parts.append(_rollup_part(daily, "day", ds, de, models, bucket=daily.c.day + NOON))
    if moved := strays(tz, ds, de):
        parts += _moved_parts(hourly, moved, models)
    return parts


def _moved_parts(hourly, moved: tuple[datetime, ...], models) -> list:
    """The ``moved`` hours read once and summed per UTC day (a day's moved hours share one local date), then counted
    at their first hour (their own local day) and taken away at their day's noon: fewer rows for the outer sum than
    reading each hour twice (a New York year at 10 M calls: 207 k rows instead of 458 k)."""
    t = hourly.c
    day = cast(cast(t.hour, Date), DateTime)
    model = [t.model] if "model" in t else []
    g = (select(day.label("d"), func.min(t.hour).label("first"), *[m.label("model") for m in model],
                t.metric.label("metric"), t.bucket.label("bucket_no"), func.sum(t.n).label("n"))
         .where(hours_in(t.hour, moved), *_filters(hourly, None, models, None))
         .group_by(day, *model, t.metric, t.bucket).cte("moved"))
    m = g.c.model if model else literal_column("''")
    return [select(at.label("bucket"), m.label("model"), g.c.metric, g.c.bucket_no, _count(g.c.n, sign).label("n"))
            for at, sign in ((g.c.first, 1), (g.c.d + NOON, -1))]


def latency_select(dialect: str, groups: list[str], start: datetime, end: datetime, tz: str = "UTC",
                   users=None, models=None):
    """SELECT of ``groups`` (day, model), metric, bucket and n: the histogram of successful calls' latency and
    time to first token over the period (rollups plus raw rows; raw only when ``users`` is given)."""
    by_day = "day" in groups
    p = plan(start, end, tz, by_local_day=by_day, daily_ok=True)
    if users is not None:  # the latency rollup has no user: one user's calls are read raw
        p = Plan(start, end, start, start, start, start, False)
    parts = []
    # Raw rows go to the outer sum one by one (n = 1): grouping them by 15 minutes first would be a second pass
    # over about as many groups as calls when a user's year is read raw.
    for (metric, col), where in ((m, w) for m in ((LATENCY, "latency_ms"), (TTFT, "ttft_ms")) for w in raw_wheres(p)):
        parts.append(select(_raw_bucket(dialect).label("bucket"), c.model.label("model"),
                            literal(metric).label("metric"), literal_column(bucket_sql(col)).label("bucket_no"),
                            cast(literal(1), Integer).label("n"))
                     .where(where, c.status == literal_column(f"'{STATUS_OK}'"), *_filters(calls, users, models, None)))
    if p.hs < p.he:
        # Histograms over every model when no model is asked for: a few times fewer rows than per model.
        parts += _rollup_parts(dialect, p, tz, by_day, models is not None or "model" in groups, models)
    u = union_all(*parts).subquery("h")
    out = {"day": lambda: local_day(u.c.bucket, tz, start, end), "model": lambda: u.c.model}
    out = {n: out[n]() for n in groups}
    keys = [out[n].label(n) for n in groups]
    total = func.sum(u.c.n)
    return (select(*keys, u.c.metric, u.c.bucket_no, cast(total, BigInteger).label("n"))
            .group_by(*[out[n] for n in groups], u.c.metric, u.c.bucket_no)
            .having(total != 0))  # a bucket whose moved hours took away all it had: no calls, no row


def arrays_select(dialect: str, groups: list[str], start: datetime, end: datetime, tz: str = "UTC",
                  users=None, models=None):
    """``latency_select``'s histograms gathered per (``groups``, metric): ``buckets`` (ascending) and their ``counts``
    as two arrays, one row per histogram. A year of local days is then 730 rows instead of ~80 k: read row by row,
    those cost the page more in Python (~0.25 s at 1 M calls, measured) than the database spent summing them."""
    h = latency_select(dialect, groups, start, end, tz, users, models).subquery("hist")
    keys = [h.c[n] for n in groups]
    return (select(*keys, h.c.metric, func.array_agg(aggregate_order_by(h.c.bucket_no, h.c.bucket_no)).label("buckets"),
                   func.array_agg(aggregate_order_by(h.c.n, h.c.bucket_no)).label("counts"))
            .group_by(*keys, h.c.metric))
