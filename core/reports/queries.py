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
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
from sqlalchemy import BigInteger, Date, Numeric, and_, cast, func, literal_column, select
from sqlalchemy.engine import Engine

from core.clock import naive_utc
from core.ledger.schema import COST_PART_COLUMNS, calls
from core.types import (
    SERVER_TOOL_FIELDS,
    STATUS_BLOCKED,
    STATUS_CACHED,
    STATUS_ERROR,
    STATUS_OK,
    USAGE_FIELDS,
)

Moment = date | datetime
GROUPS = ("day", "user", "model")
TOKEN_COLUMNS = (*USAGE_FIELDS, "tokens_saved")
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


def _key(name: str, tz: str):
    if name == "day":
        return cast(local_ts(tz), Date).label("day")
    if name == "user":
        return c.user_id.label("user")
    if name == "model":
        return c.model.label("model")
    raise ValueError(f"Cannot group usage by {name!r}; choose from {', '.join(GROUPS)}.")


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
    with engine.connect() as conn:
        result = conn.execute(stmt)
        return to_frame(result.all(), list(result.keys()))


def _bucket(dialect: str):
    """``ts`` floored to 15 minutes: every zone offset in use is a multiple of that, so all
    calls of one bucket share a local calendar day, and only buckets need converting."""
    if dialect == "postgresql":
        return func.date_bin(literal_column("INTERVAL '15 minutes'"), c.ts,
                             literal_column("TIMESTAMP '2000-01-01'"))
    return func.time_bucket(literal_column("INTERVAL '15 minutes'"), c.ts)


def _usage_by_local_day(engine: Engine, names: list[str], where, tz: str):
    """Two stages: aggregate per UTC bucket (and the other keys), then per local day.

    Converting 10 million timestamps one by one costs over a second; converting the
    ~35,000 buckets of a year costs nothing, and sums of sums are the same sums.
    """
    others = [_key(n, tz) for n in names if n != "day"]
    inner_keys = [_bucket(engine.dialect.name).label("bucket"), *others]
    inner = select(*inner_keys, *metrics()).where(where).group_by(*inner_keys).subquery()
    bucket_local = func.timezone(literal_column(f"'{tz}'"),
                                 func.timezone(literal_column("'UTC'"), inner.c.bucket))
    outer = {"day": cast(bucket_local, Date).label("day")}
    outer.update({n: inner.c[n] for n in names if n != "day"})
    keys = [outer[n] for n in names]
    sums = [cast(func.sum(inner.c[m.name]), Numeric(38, 10) if m.name in MONEY_MEASURES else BigInteger)
            .label(m.name) for m in metrics()]
    return select(*keys, *sums).group_by(*keys).order_by(*keys)


def usage_by(engine: Engine, by: str | Iterable[str], since: Moment, until: Moment, tz: str = "UTC",
             users=None, models=None) -> pd.DataFrame:
    """Usage grouped by ``by`` ("day" in ``tz``, "user", "model" or a list): one row per group."""
    names = _as_list(by) or []
    if not names or len(set(names)) != len(names):
        raise ValueError(f"Group by one or more distinct keys of {', '.join(GROUPS)}.")
    keys = [_key(n, tz) for n in names]
    where = period_filter(since, until, tz, users, models)
    if "day" in names and tz != "UTC":
        return frame(engine, _usage_by_local_day(engine, names, where, tz))
    stmt = select(*keys, *metrics()).where(where).group_by(*keys).order_by(*keys)
    return frame(engine, stmt)


def totals(engine: Engine, since: Moment, until: Moment, tz: str = "UTC", users=None,
           models=None) -> pd.DataFrame:
    """One row: every measure over the period, plus how many distinct users called."""
    stmt = select(*metrics(), func.count(c.user_id.distinct()).label("users")).where(
        period_filter(since, until, tz, users, models))
    return frame(engine, stmt)


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


def p50_p95(col):
    """One ordered-set aggregate for both fractions: a third faster than two."""
    return func.percentile_cont(literal_column("ARRAY[0.5, 0.95]")).within_group(col)


def split_pairs(raw: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    out = raw[[*keys, "calls"]].copy()
    for name in ("latency", "ttft"):
        pairs = [tuple(v) if v is not None else (None, None) for v in raw[name]]
        out[f"p50_{name}_ms"] = [p[0] for p in pairs]
        out[f"p95_{name}_ms"] = [p[1] for p in pairs]
    return out


def latency_summary(engine: Engine, since: Moment, until: Moment, tz: str = "UTC", users=None,
                    models=None) -> pd.DataFrame:
    """One row: p50/p95 latency and time to first token (ms) over the period, successful calls only."""
    stmt = (select(func.count().label("calls"), p50_p95(c.latency_ms).label("latency"),
                   p50_p95(c.ttft_ms).label("ttft"))
            .where(period_filter(since, until, tz, users, models, status=STATUS_OK)))
    return split_pairs(frame(engine, stmt), [])


def latency_by_day(engine: Engine, since: Moment, until: Moment, tz: str = "UTC", users=None,
                   models=None) -> pd.DataFrame:
    """p50/p95 latency and time to first token (ms) per local day in ``tz``, successful calls only."""
    day = cast(local_ts(tz), Date).label("day")
    stmt = (select(day, func.count().label("calls"), p50_p95(c.latency_ms).label("latency"),
                   p50_p95(c.ttft_ms).label("ttft"))
            .where(period_filter(since, until, tz, users, models, status=STATUS_OK))
            .group_by(day).order_by(day))
    return split_pairs(frame(engine, stmt), ["day"])


def errors_by_code(engine: Engine, since: Moment, until: Moment, tz: str = "UTC", users=None,
                   models=None) -> pd.DataFrame:
    """Failed (``error``) and refused (``blocked``) calls per status and code, most frequent first."""
    stmt = (select(c.status, func.coalesce(c.error_code, "unknown").label("error_code"),
                   func.count().label("calls"))
            .where(period_filter(since, until, tz, users, models), c.status.in_([STATUS_ERROR, STATUS_BLOCKED]))
            .group_by(c.status, literal_column("error_code"))
            .order_by(literal_column("calls").desc(), c.status, literal_column("error_code")))
    return frame(engine, stmt)


def distinct(engine: Engine, column: str, users=None) -> list[str]:
    """Every distinct ``user`` or ``model`` in the ledger (of ``users`` only, if given), sorted."""
    col = {"user": c.user_id, "model": c.model}[column]
    stmt = select(col).distinct().order_by(col)
    if (u := _as_list(users)) is not None:
        stmt = stmt.where(c.user_id.in_(u))
    with engine.connect() as conn:
        return [v for (v,) in conn.execute(stmt)]


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
