"""Dashboard aggregates over the ledger, computed in SQL and returned as small DataFrames.

Every function takes a period ``since``/``until`` in the time zone ``tz``: a ``date``
is a whole local calendar day (both ends inclusive), a ``datetime`` an instant
(``since`` inclusive, ``until`` exclusive; a naive one is read in ``tz``). The period
becomes a UTC range on the stored naive-UTC ``ts`` (so DuckDB's zone maps and the
``ts`` indexes apply), and only the grouping converts UTC to local time, in SQL, the
same way on DuckDB and PostgreSQL. Costs come back as exact ``Decimal``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
from sqlalchemy import and_, func, literal_column, select
from sqlalchemy.engine import Engine

from core.clock import naive_utc
from core.ledger import rollup_read
from core.ledger.schema import COST_PART_COLUMNS, calls
from core.reports import latency
from core.types import (
    SERVER_TOOL_FIELDS,
    STATUS_BLOCKED,
    STATUS_CACHED,
    STATUS_ERROR,
    STATUS_OK,
    USAGE_FIELDS,
)

Moment = date | datetime
T = TypeVar("T")
GROUPS = ("day", "user", "model")
TOKEN_COLUMNS = (*USAGE_FIELDS, "tokens_saved")
SPLIT_DAYS = 90  # latency_by_day_and_period: a period this long is read in two halves at once on PostgreSQL
UNSPLIT = "unsplit_cost_usd"  # cost of billed rows recorded before schema 6, which have no split
MONEY_MEASURES = ("cost_usd", *COST_PART_COLUMNS, UNSPLIT)
_SAFE_ZONE = re.compile(r"^[A-Za-z0-9_+\-/]+$")
c = calls.c


def zone(tz: str) -> ZoneInfo:
    """The IANA zone ``tz``; ValueError for an unknown name (it is also inlined into SQL)."""
    if not isinstance(tz, str) or not _SAFE_ZONE.match(tz):
        raise ValueError(f"Not a time zone name: {tz!r}")
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"Unknown time zone {tz!r} (use an IANA name such as 'Europe/Paris').") from None


def _instant(value: Moment, tz: ZoneInfo, *, end: bool) -> datetime:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=tz)
    elif isinstance(value, date):
        day = value + timedelta(days=1) if end else value
        aware = datetime.combine(day, time(0), tz)
    else:
        raise TypeError(f"expected a date or datetime, got {value!r}")
    return naive_utc(aware)


def window(since: Moment, until: Moment, tz: str = "UTC") -> tuple[datetime, datetime]:
    """The period as a naive-UTC half-open range ``[start, end)`` (see the module doc)."""
    z = zone(tz)
    return _instant(since, z, end=False), _instant(until, z, end=True)


def local_ts(tz: str):
    """SQL for ``ts`` as local wall time in ``tz`` (UTC -> tz; works on DuckDB and PostgreSQL)."""
    zone(tz)
    if tz == "UTC":
        return c.ts
    # timezone(z, naive) reads the naive value in z; timezone(z, aware) gives z's wall time.
    utc = func.timezone(literal_column("'UTC'"), c.ts)
    return func.timezone(literal_column(f"'{tz}'"), utc)


def _as_list(values: str | Iterable[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [values] if isinstance(values, str) else list(values)


def period_filter(since: Moment, until: Moment, tz: str, users=None, models=None, status: str | None = None):
    start, end = window(since, until, tz)
    conds = [c.ts >= start, c.ts < end]
    if (u := _as_list(users)) is not None:
        conds.append(c.user_id.in_(u))
    if (m := _as_list(models)) is not None:
        conds.append(c.model.in_(m))
    if status is not None:
        conds.append(c.status == status)
    return and_(*conds)


def metrics() -> list:
    """The measures of every usage view: counts by outcome, exact cost and its split by part (plus the
    cost no row split), token and server-tool sums."""
    def count(status: str):
        return func.count().filter(c.status == status)

    cols = [func.count().label("calls"), count(STATUS_OK).label("ok"),
            count(STATUS_ERROR).label("errors"), count(STATUS_CACHED).label("cache_hits"),
            count(STATUS_BLOCKED).label("blocked"), func.count().filter(c.unpriced).label("unpriced"),
            func.coalesce(func.sum(c.cost_usd), 0).label("cost_usd")]
    cols += [func.coalesce(func.sum(getattr(c, name)), 0).label(name) for name in TOKEN_COLUMNS]
    cols += [func.coalesce(func.sum(getattr(c, name)), 0).label(name) for name in SERVER_TOOL_FIELDS]
    cols += [func.coalesce(func.sum(getattr(c, name)), 0).label(name) for name in COST_PART_COLUMNS]
    cols.append(func.coalesce(func.sum(c.cost_usd).filter(c.cost_input_usd.is_(None)), 0).label(UNSPLIT))
    return cols


def to_frame(rows, columns: list[str]) -> pd.DataFrame:
    """A DataFrame that keeps SQL NULL as None (pandas would turn a missing string into NaN)."""
    df = pd.DataFrame(rows, columns=columns)
    for col in df.columns:
        if df[col].dtype == object and len(df) and isinstance(df[col].iloc[0], Decimal):
            # A zero sum of NUMERIC(20, 10) comes back as Decimal("0E-10"): show it as 0.
            df[col] = [Decimal(0) if isinstance(v, Decimal) and not v else v for v in df[col]]
        if pd.api.types.is_string_dtype(df[col].dtype) and df[col].isna().any():
            df[col] = df[col].astype(object).where(df[col].notna(), None)
    return df


def frame(engine: Engine, stmt) -> pd.DataFrame:
    """Run ``stmt`` and return its (already aggregated) rows as a DataFrame."""
    with rollup_read.reading(engine) as conn:
        result = conn.execute(stmt)
        return to_frame(result.all(), list(result.keys()))


def _names(by) -> list[str]:
    names = _as_list(by) or []
    if not names or len(set(names)) != len(names) or not set(names) <= set(GROUPS):
        raise ValueError(f"Group by one or more distinct keys of {', '.join(GROUPS)}.")
    return names


def usage_by(engine: Engine, by: str | Iterable[str], since: Moment, until: Moment, tz: str = "UTC",
             users=None, models=None, measures: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Usage grouped by ``by`` ("day" in ``tz``, "user", "model" or a list): one row per group, with the counts by
    outcome and every measure (of ``measures`` only, if given: fewer sums over a year of rollup rows).

    Read from the rollups plus the raw calls not in them (core.ledger.rollup_read): exact sums.
    """
    names = _names(by)
    start, end = window(since, until, tz)
    return frame(engine, rollup_read.usage_select(engine.dialect.name, names, start, end, tz,
                                                  _as_list(users), _as_list(models), measures=measures))


def totals(engine: Engine, since: Moment, until: Moment, tz: str = "UTC", users=None,
           models=None) -> pd.DataFrame:
    """One row: every measure over the period, plus how many distinct users called."""
    start, end = window(since, until, tz)
    per_user = rollup_read.usage_select(engine.dialect.name, ["user"], start, end, tz, _as_list(users),
                                        _as_list(models)).subquery()
    sums = [func.coalesce(func.sum(col), 0).label(col.name) for col in per_user.c if col.name != "user"]
    return frame(engine, select(*sums, func.count().label("users")).select_from(per_user))


def most_expensive_calls(engine: Engine, since: Moment, until: Moment, n: int = 20, tz: str = "UTC",
                         users=None, models=None) -> pd.DataFrame:
    """The ``n`` dearest single calls of the period (``ts`` shown as local time in ``tz``)."""
    stmt = (select(c.id, local_ts(tz).label("ts"), c.user_id.label("user"), c.model, c.status,
                   c.cost_usd, c.price_version, c.input_tokens, c.output_tokens,
                   c.cache_creation_5m_tokens, c.cache_creation_1h_tokens, c.cache_read_tokens,
                   c.latency_ms, c.request_id)
            .where(period_filter(since, until, tz, users, models))
            .order_by(c.cost_usd.desc(), c.ts.desc()).limit(int(n)))
    return frame(engine, stmt)


def latency_summary(engine: Engine, since: Moment, until: Moment, tz: str = "UTC", users=None,
                    models=None) -> pd.DataFrame:
    """One row: p50/p95 latency and time to first token (ms) over the period, successful calls only
    (from histograms: within 4.4 % of the exact percentile, core.reports.latency)."""
    start, end = window(since, until, tz)
    return latency.percentiles(engine, [], start, end, tz, _as_list(users), _as_list(models))


def latency_histograms(engine: Engine, groups: list[str], since: Moment, until: Moment, tz: str = "UTC",
                       users=None, models=None) -> pd.DataFrame:
    """The latency and time-to-first-token histograms per ``groups`` (day, model): core.reports.latency."""
    start, end = window(since, until, tz)
    return latency.histograms(engine, groups, start, end, tz, _as_list(users), _as_list(models))


def latency_by_day(engine: Engine, since: Moment, until: Moment, tz: str = "UTC", users=None,
                   models=None) -> pd.DataFrame:
    """p50/p95 latency and time to first token (ms) per local day in ``tz``, successful calls only."""
    start, end = window(since, until, tz)
    return latency.percentiles(engine, ["day"], start, end, tz, _as_list(users), _as_list(models))


def latency_by_day_and_period(engine: Engine, since: Moment, until: Moment, tz: str = "UTC", users=None,
                              models=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``latency_by_day`` and ``latency_summary`` of the same period, from one read of its daily histograms (on
    PostgreSQL a long period's two halves read at once, cut at a local midnight: the longest of the page's reads, a
    New York year at 10 M calls ~0.55 s in one server process)."""
    start, end = window(since, until, tz)
    cuts = ()
    whole_days = not isinstance(since, datetime) and not isinstance(until, datetime)
    # One user's latency is read from raw calls (an index): two halves of it measured no faster.
    if engine.dialect.name == "postgresql" and users is None and whole_days and (until - since).days >= SPLIT_DAYS:
        cuts = (window(since + timedelta(days=(until - since).days // 2), until, tz)[0],)
    return latency.percentiles_and_whole(engine, ["day"], start, end, tz, _as_list(users), _as_list(models),
                                         cuts=cuts, run=lambda reads: at_once(engine, reads))


def errors_by_code(engine: Engine, since: Moment, until: Moment, tz: str = "UTC", users=None,
                   models=None) -> pd.DataFrame:
    """Failed (``error``) and refused (``blocked``) calls per status and code, most frequent first."""
    start, end = window(since, until, tz)
    df = frame(engine, rollup_read.usage_select(engine.dialect.name, ["status", "error_code"], start, end, tz,
                                                _as_list(users), _as_list(models), [STATUS_ERROR, STATUS_BLOCKED],
                                                measures=()))
    df["error_code"] = [v if v is not None else "unknown" for v in df["error_code"]]
    df = df.groupby(["status", "error_code"], as_index=False)["calls"].sum()
    df = df.sort_values(["calls", "status", "error_code"], ascending=[False, True, True], kind="stable")
    return df[["status", "error_code", "calls"]].reset_index(drop=True)


def at_once(engine: Engine, reads: dict[str, Callable[[], T]]) -> dict[str, T]:
    """Each of independent ``reads``' result: at once on PostgreSQL (a connection and a server process each,
    so a page waits for its slowest read, not for their sum); in turn on DuckDB, whose queries use every core."""
    if engine.dialect.name != "postgresql" or len(reads) < 2:
        return {k: read() for k, read in reads.items()}
    with ThreadPoolExecutor(max_workers=len(reads), thread_name_prefix="tollgate-report") as pool:
        running = {k: pool.submit(read) for k, read in reads.items()}
        return {k: r.result() for k, r in running.items()}


def distinct(engine: Engine, column: str, users=None) -> list[str]:
    """Every distinct ``user`` or ``model`` in the ledger (of ``users`` only, if given), sorted."""
    with rollup_read.reading(engine) as conn:
        return [v for (v,) in conn.execute(rollup_read.distinct_select(column, _as_list(users)))]


EXPORT_COLUMNS = ("id", "ts", "user", "model", "status", "error_code", *TOKEN_COLUMNS, *SERVER_TOOL_FIELDS,
                  "service_tier", "inference_geo", "cost_usd", *COST_PART_COLUMNS, "price_version", "unpriced",
                  "latency_ms", "ttft_ms", "streamed", "retries", "request_id", "key_label", "source", "detail")


def call_rows(engine: Engine, since: Moment, until: Moment, tz: str = "UTC", users=None,
              models=None) -> pd.DataFrame:
    """Every call of the period, oldest first, ``ts`` as local time in ``tz`` (prompt text left out)."""
    picked = [local_ts(tz).label("ts") if n == "ts" else c.user_id.label("user") if n == "user" else c[n]
              for n in EXPORT_COLUMNS]
    stmt = select(*picked).where(period_filter(since, until, tz, users, models)).order_by(c.ts, c.id)
    return frame(engine, stmt)
