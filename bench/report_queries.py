"""Ledger queries only the benchmark runs (no page, report or CLI uses them), kept beside it, not in core.

They are built from ``core.reports.queries``' public pieces, so they measure the same SQL
shapes the console's queries use; tests/integration/test_ledger_queries.py checks them.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

import pandas as pd
from sqlalchemy.engine import Engine

from core.reports import latency
from core.reports import queries as q
from core.reports.queries import Moment


def latency_by_model(engine: Engine, since: Moment, until: Moment, tz: str = "UTC", users=None,
                     models=None) -> pd.DataFrame:
    """p50/p95 latency and time-to-first-token (ms) per model, successful calls only (histograms)."""
    start, end = q.window(since, until, tz)
    return latency.percentiles(engine, ["model"], start, end, tz, users, models)


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
    df = q.usage_by(engine, "user", since, until, tz, models=models)
    return df.sort_values(["cost_usd", "user"], ascending=[False, True]).head(int(n)).reset_index(drop=True)
