"""Ledger queries only the benchmark runs (no page, report or CLI uses them), kept beside it, not in core.

They are built from ``core.reports.queries``' public pieces, so they measure the same SQL
shapes the console's queries use; tests/integration/test_ledger_queries.py checks them.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

import pandas as pd
from sqlalchemy import func, literal_column, select
from sqlalchemy.engine import Engine

from core.ledger.schema import calls
from core.reports import queries as q
from core.reports.queries import Moment
from core.types import STATUS_OK

c = calls.c


def latency_by_model(engine: Engine, since: Moment, until: Moment, tz: str = "UTC", users=None,
                     models=None) -> pd.DataFrame:
    """p50/p95 latency and time-to-first-token (ms) per model, successful calls only (exact)."""
    stmt = (select(c.model.label("model"), func.count().label("calls"),
                   q.p50_p95(c.latency_ms).label("latency"), q.p50_p95(c.ttft_ms).label("ttft"))
            .where(q.period_filter(since, until, tz, users, models, status=STATUS_OK))
            .group_by(c.model).order_by(c.model))
    return q.split_pairs(q.frame(engine, stmt), ["model"])


def month_to_date(now: datetime, tz: str = "UTC") -> tuple[datetime, datetime]:
    """The start of ``now``'s calendar month in ``tz`` and ``now`` itself, both aware."""
    z = q.zone(tz)
    local = (now if now.tzinfo else now.replace(tzinfo=UTC)).astimezone(z)
    return datetime.combine(local.date().replace(day=1), time(0), z), local


def month_to_date_by_user(engine: Engine, now: datetime, tz: str = "UTC", users=None) -> pd.DataFrame:
    """Each user's usage from the 1st of ``now``'s month (local midnight in ``tz``) until ``now``."""
    start, end = month_to_date(now, tz)
    return q.usage_by(engine, "user", start, end, tz, users=users)


def top_users(engine: Engine, since: Moment, until: Moment, n: int = 10, tz: str = "UTC",
              models=None) -> pd.DataFrame:
    """The ``n`` users who spent the most over the period, dearest first."""
    key = c.user_id.label("user")
    stmt = (select(key, *q.metrics()).where(q.period_filter(since, until, tz, None, models))
            .group_by(c.user_id).order_by(literal_column("cost_usd").desc(), c.user_id).limit(int(n)))
    return q.frame(engine, stmt)
