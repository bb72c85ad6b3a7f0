"""Read the ledger's aggregates from the rollups (closed, rolled hours) plus the raw calls not in them.

Every query over a naive-UTC period ``[start, end)`` sums three kinds of source, which partition its
calls exactly: the rollups over the whole hours (or UTC days; UTC months per user) inside the period, for rows already
rolled; the raw rolled rows of the partial hours at its edges; and every raw row not yet rolled (the
open hour, late arrivals). Grouping by local day needs sources whose buckets never straddle a local
midnight: hours do in zones whose offset is not whole hours (India, Nepal...), which then read raw
calls only, as do local days from the daily rollup (UTC days) outside UTC. Sums are exact; latency
percentiles come from log-spaced histograms (``percentiles``), within one bucket (4.4 %) of the exact.
"""

from __future__ import annotations

from bisect import bisect_right
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Date,
    DateTime,
    Numeric,
    and_,
    any_,
    case,
    cast,
    func,
    literal,
    literal_column,
    select,
    text,
    union_all,
)

from core.ledger.rollup import BAND, sum_sql
from core.ledger.schema import (
    COUNT_MEASURES,
    MONEY_MEASURES,
    calls,
    usage_daily,
    usage_daily_all,
    usage_hourly,
    usage_hourly_all,
    usage_monthly,
)
from core.types import SERVER_TOOL_FIELDS, USAGE_FIELDS

c = calls.c
MEASURES = (*COUNT_MEASURES, *MONEY_MEASURES)
# The measures a usage SELECT gives after calls and the counts by outcome, in core.reports.queries.metrics' order.
OUTPUT = ("unpriced", "cost_usd", *USAGE_FIELDS, "tokens_saved", *SERVER_TOOL_FIELDS, *MONEY_MEASURES[1:])
TEXT_KEYS = ("error_code", "service_tier", "inference_geo")  # '' in the rollups, NULL on the calls
NAMES = ("day", "utc_day", "user", "model", "status", *TEXT_KEYS, "prompt_band")


@dataclass(frozen=True)
class Plan:
    """Which part of ``[start, end)`` each source covers: rollups over ``[hs, he)`` (daily over ``[ds, de)``
    inside it, and monthly over ``months`` inside that, when given), raw rolled rows outside ``[hs, he)``;
    ``hs == he`` means raw calls only."""

    start: datetime
    end: datetime
    hs: datetime
    he: datetime
    ds: datetime
    de: datetime
    daily: bool
    months: tuple[datetime, datetime] | None = None


def _ceil(ts: datetime, unit: timedelta) -> datetime:
    floor = _floor(ts, unit)
    return floor if floor == ts else floor + unit


def _floor(ts: datetime, unit: timedelta) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0) if unit == timedelta(hours=1) else \
        ts.replace(hour=0, minute=0, second=0, microsecond=0)


def _month_floor(ts: datetime) -> datetime:
    return ts.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _month_ceil(ts: datetime) -> datetime:
    floor = _month_floor(ts)
    return floor if floor == ts else floor.replace(year=floor.year + floor.month // 12, month=floor.month % 12 + 1)


def whole_hours(tz: str, start: datetime, end: datetime) -> bool:
    """True when ``tz``'s offset is whole hours throughout the period, so no UTC hour straddles a local midnight."""
    return tz == "UTC" or all(minutes % 60 == 0 for _, minutes in offsets(tz, start, end))


def plan(start: datetime, end: datetime, tz: str, *, by_local_day: bool, daily_ok: bool) -> Plan:
    """The split of the period between rollups and raw calls (see the module doc)."""
    hour, day = timedelta(hours=1), timedelta(days=1)
    hs, he = _ceil(start, hour), _floor(end, hour)
    if he <= hs or (by_local_day and not whole_hours(tz, start, end)):
        return Plan(start, end, start, start, start, start, False)
    ds, de = _ceil(hs, day), _floor(he, day)
    daily = daily_ok and de > ds and (not by_local_day or tz == "UTC")
    if not daily:
        return Plan(start, end, hs, he, hs, hs, False)
    ms, me = _month_ceil(ds), _month_floor(de)
    return Plan(start, end, hs, he, ds, de, True, (ms, me) if me > ms else None)


def raw_wheres(p: Plan) -> list:
    """The raw calls a plan reads, as disjoint conditions (one index range each): every unrolled row of the
    period, and the rolled ones of its edges outside the rollups' hours."""
    if p.hs == p.he:
        return [and_(c.ts >= p.start, c.ts < p.end)]
    out = [and_(~c.rolled, c.ts >= p.start, c.ts < p.end)]
    out += [and_(c.rolled, c.ts >= lo, c.ts < hi) for lo, hi in ((p.start, p.hs), (p.he, p.end)) if lo < hi]
    return out


def _filters(t, users, models, statuses) -> list:
    conds = []
    if users is not None:
        conds.append(t.c.user_id.in_(list(users)))
    if models is not None:
        conds.append(t.c.model.in_(list(models)))
    if statuses is not None:
        conds.append(t.c.status.in_(list(statuses)))
    return conds


def _raw_bucket(dialect: str):
    """``ts`` floored to 15 minutes: every zone offset in use is a multiple of that."""
    if dialect == "postgresql":
        return func.date_bin(literal_column("INTERVAL '15 minutes'"), c.ts, literal_column("TIMESTAMP '2000-01-01'"))
    return func.time_bucket(literal_column("INTERVAL '15 minutes'"), c.ts)


def _raw_source(dialect: str, names: list[str], p: Plan, conds: list):
    exprs = {"bucket": _raw_bucket(dialect), "user": c.user_id, "model": c.model, "status": c.status,
             "prompt_band": literal_column(f"({BAND})")}
    exprs.update({k: func.coalesce(c[k], "") for k in TEXT_KEYS})
    keys = [exprs[n].label(n) for n in names]
    sums = [literal_column(sum_sql(m)).label(m) for m in MEASURES]
    return [select(*keys, *sums).where(where, *conds).group_by(*[exprs[n] for n in names]) for where in raw_wheres(p)]


def _rollup_source(table, bucket: str, names: list[str], lo: datetime, hi: datetime, conds: list, at=None):
    t = table.c
    exprs = {"bucket": t[bucket] if at is None else at, "user": t.user_id if "user_id" in t else None}
    exprs.update({n: t[n] for n in ("model", "status", *TEXT_KEYS, "prompt_band")})
    keys = [exprs[n].label(n) for n in names]
    # The rows as they are: the outer query sums them (grouping here first would only add a pass).
    return select(*keys, *[t[m].label(m) for m in MEASURES]).where(t[bucket] >= lo, t[bucket] < hi, *conds)


def _spans(p: Plan, with_user: bool) -> list[tuple]:
    """(table, its time column, lo, hi) for the rollups' share ``[hs, he)`` of the plan."""
    hourly, daily = (usage_hourly, usage_daily) if with_user else (usage_hourly_all, usage_daily_all)
    if not p.daily:
        return [(hourly, "hour", p.hs, p.he)]
    spans = [(hourly, "hour", p.hs, p.ds), (hourly, "hour", p.de, p.he)]
    if p.months and with_user:  # a year per user: twelve monthly rows, not 365 daily ones
        (ms, me), monthly = p.months, usage_monthly
        return [*spans, (daily, "day", p.ds, ms), (monthly, "month", ms, me), (daily, "day", me, p.de)]
    return [*spans, (daily, "day", p.ds, p.de)]


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


def _days_and_moved(names: list[str], p: Plan, tz: str, with_user: bool, conds) -> list:
    """PostgreSQL, per local day outside UTC: the rollups' hours ``[hs, he)`` as their whole UTC days from the daily
    rollup, each counted in the local day holding its noon, plus the hours that belong to the neighbouring local day
    (``strays``) read once from the hourly rollup, summed per UTC day, counted in their own local day and taken away
    from the noon's (latency_read's method for histograms). Sums stay exact (integers); a local day × model over a
    New York year sums ~30 k rows instead of the 225 k of usage_hourly_all (10 M calls)."""
    hourly, daily = (usage_hourly, usage_daily) if with_user else (usage_hourly_all, usage_daily_all)
    ds, de = whole_days(p.hs, p.he)
    if ds == de:
        return [_rollup_source(hourly, "hour", names, p.hs, p.he, conds(hourly))]
    parts = [_rollup_source(hourly, "hour", names, lo, hi, conds(hourly)) for lo, hi in ((p.hs, ds), (de, p.he))
             if lo < hi]
    parts.append(_rollup_source(daily, "day", names, ds, de, conds(daily), at=daily.c.day + NOON))
    moved = strays(tz, ds, de)
    if not moved:
        return parts
    t = hourly.c
    day = cast(cast(t.hour, Date), DateTime)
    keys = [n for n in names if n != "bucket"]
    cols = {"user": t.user_id if with_user else None, **{n: t[n] for n in ("model", "status", *TEXT_KEYS,
                                                                            "prompt_band")}}
    g = (select(day.label("d"), func.min(t.hour).label("first"), *[cols[n].label(n) for n in keys],
                *[cast(func.sum(t[m]), BigInteger).label(m) for m in MEASURES])
         .where(hours_in(t.hour, moved), *conds(hourly))
         .group_by(day, *[cols[n] for n in keys]).cte("moved"))
    for at, sign in ((g.c.first, 1), (g.c.d + NOON, -1)):
        parts.append(select(at.label("bucket"), *[g.c[n] for n in keys],
                            *[(g.c[m] if sign > 0 else -g.c[m]).label(m) for m in MEASURES]))
    return parts


def usage_union(dialect: str, names: list[str], p: Plan, users=None, models=None, statuses=None, tz: str = "UTC"):
    """One subquery: the period's calls summed per ``names`` (bucket, user, model, status...) from every source.

    Per local day outside UTC (``tz``) PostgreSQL reads whole UTC days plus the hours moved across
    (``_days_and_moved``); DuckDB reads the hourly rollup, which it sums in one columnar pass.
    """
    with_user = users is not None or "user" in names
    parts = _raw_source(dialect, names, p, _filters(calls, users, models, statuses))
    if p.hs < p.he and "bucket" in names and tz != "UTC" and dialect == "postgresql":
        parts += _days_and_moved(names, p, tz, with_user, lambda t: _filters(t, users, models, statuses))
    elif p.hs < p.he:
        # Monthly rows hold no day: only a read not grouped by time may take them.
        spans = _spans(p if "bucket" not in names else replace(p, months=None), with_user)
        parts += [_rollup_source(t, unit, names, lo, hi, _filters(t, users, models, statuses))
                  for t, unit, lo, hi in spans if lo < hi]
    return union_all(*parts).subquery("u")


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


def usage_select(dialect: str, groups: list[str], start: datetime, end: datetime, tz: str = "UTC",
                 users=None, models=None, statuses=None, measures=None):
    """SELECT of ``groups`` (of NAMES) and every measure (counts by outcome too) over the period, sorted by groups."""
    by_day = "day" in groups
    p = plan(start, end, tz, by_local_day=by_day, daily_ok=True)
    inner = [n for n in groups if n not in ("day", "utc_day")]
    inner = (["bucket"] if by_day or "utc_day" in groups else []) + inner + (["status"] if "status" not in inner
                                                                             else [])
    u = usage_union(dialect, inner, p, users, models, statuses, tz if by_day else "UTC")
    out = {"day": local_day(u.c.bucket, tz, start, end), "utc_day": cast(u.c.bucket, Date)} if "bucket" in inner \
        else {}
    for n in groups:
        if n not in out:
            out[n] = func.nullif(u.c[n], "") if n in TEXT_KEYS else u.c[n]
    keys = [out[n].label(n) for n in groups]

    def by_status(s: str):
        return cast(func.coalesce(func.sum(case((u.c.status == s, u.c.calls), else_=0)), 0), BigInteger)

    cols = [cast(func.coalesce(func.sum(u.c.calls), 0), BigInteger).label("calls")]
    cols += [by_status(s).label(label) for s, label in (("ok", "ok"), ("error", "errors"), ("cached", "cache_hits"),
                                                        ("blocked", "blocked"))]
    for m in OUTPUT if measures is None else measures:  # () asks for the counts alone
        total = func.coalesce(func.sum(u.c[m]), 0)
        if m in MONEY_MEASURES:  # units of 1e-10 USD back to exact dollars
            total = cast(cast(total, Numeric(28, 0)) * literal_column("0.0000000001"), Numeric(38, 10))
        cols.append(cast(total, BigInteger).label(m) if m not in MONEY_MEASURES else total.label(m))
    stmt = select(*keys, *cols)
    if not groups:
        return stmt
    # A local day whose only calls were moved to its neighbour sums to no call: no row (as from the raw calls).
    return stmt.group_by(*[out[n] for n in groups]).having(func.sum(u.c.calls) != 0).order_by(*[out[n] for n in groups])


def distinct_select(column: str, users=None):
    """SELECT DISTINCT of ``user`` or ``model`` over the whole ledger: the daily rollup plus unrolled calls."""
    d, col = usage_daily.c, {"user": "user_id", "model": "model"}[column]
    rolled = select(d[col].label("v")).distinct()
    raw = select(c[col].label("v")).distinct().where(~c.rolled)
    if users is not None:
        rolled, raw = rolled.where(d.user_id.in_(list(users))), raw.where(c.user_id.in_(list(users)))
    u = union_all(rolled, raw).subquery("d")
    return select(u.c.v).distinct().order_by(u.c.v)


def tune(conn) -> None:
    """PostgreSQL, for this transaction: room to hash a report's groups in memory (the default 4 MB work_mem
    sorts a year of rollup rows on disk), and no JIT: compiling a report's plan (~0.1 s each) costs more than
    it saves on the few hundred thousand rows a rollup read sums."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL work_mem = '64MB'"))
        conn.execute(text("SET LOCAL jit = off"))


@contextmanager
def reading(engine):
    """A connection for one report query (``tune``d)."""
    with engine.connect() as conn:
        tune(conn)
        yield conn
