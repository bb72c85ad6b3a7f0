"""Budget threshold alerts: one row per user, month and threshold (the primary key), then a webhook.

The ``budget_alerts`` primary key makes an alert fire once even when several threads or
processes cross the same threshold together: whoever inserts the row owns the alert and
posts the webhook; everyone else gets a duplicate-key error and stays quiet.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from core.ledger.schema import budget_alerts

WEBHOOK_TIMEOUT_S = 3.0


@dataclass(frozen=True)
class Alert:
    """A threshold crossed this month: ``spent_usd`` reached ``threshold_pct`` % of ``budget_usd``."""

    user_id: str  # "*" for the organisation-wide budget
    month: str  # YYYY-MM in the budget time zone
    threshold_pct: int
    spent_usd: Decimal
    budget_usd: Decimal
    ts: datetime  # naive UTC
    webhook_status: str | None  # HTTP status, "error: <kind>", or None without a webhook

    def payload(self) -> dict:
        """The webhook's JSON body; money as exact decimal strings."""
        return {"user": self.user_id, "month": self.month, "threshold_pct": self.threshold_pct,
                "spent_usd": str(self.spent_usd), "budget_usd": str(self.budget_usd)}


def post_json(url: str, body: dict, timeout: float = WEBHOOK_TIMEOUT_S) -> int:
    """POST ``body`` as JSON and return the HTTP status (an HTTP error status is returned, not raised)."""
    req = urllib.request.Request(url, data=json.dumps(body).encode("utf-8"), method="POST",
                                 headers={"Content-Type": "application/json",
                                          "User-Agent": "tollgate-budget-alerts"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 (admin-set URL)
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def crossed(spent: Decimal, budget: Decimal, thresholds: Iterable[int]) -> list[int]:
    """Thresholds (percent) that ``spent`` has reached; a zero budget counts as 100 % once anything is spent."""
    if budget <= 0:
        return [t for t in thresholds if spent > 0]
    return [t for t in thresholds if spent * 100 >= budget * t]


def _send(post: Callable[[str, dict], object], url: str, alert: Alert) -> str:
    """Post one alert; never raises (a webhook outage must not fail the call that triggered it)."""
    try:
        return str(post(url, alert.payload()))[:32]
    except Exception as exc:  # noqa: BLE001 — any failure is recorded, not propagated
        return f"error: {type(exc).__name__}"[:32]


def fire(tx: Callable[[Callable[[Connection], object]], object], *, user: str, month: str,
         spent: Decimal, budget: Decimal, thresholds: Iterable[int], now: datetime,
         webhook_url: str | None, post: Callable[[str, dict], object]) -> list[Alert]:
    """Insert each newly crossed threshold's row (once ever per month) and post it; returns those fired."""
    fired = []
    for pct in crossed(spent, budget, thresholds):
        alert = Alert(user, month, pct, spent, budget, now, None)
        row = {"user_id": user, "month": month, "threshold_pct": pct, "ts": now,
               "spent_usd": spent, "budget_usd": budget, "webhook_status": None}
        try:
            tx(lambda c, row=row: c.execute(insert(budget_alerts).values(**row)))
        except IntegrityError:
            continue  # someone (another thread or process) already alerted this threshold
        if webhook_url:
            status = _send(post, webhook_url, alert)
            key = ((budget_alerts.c.user_id == user) & (budget_alerts.c.month == month)
                   & (budget_alerts.c.threshold_pct == pct))
            tx(lambda c, key=key, status=status:
               c.execute(update(budget_alerts).where(key).values(webhook_status=status)))
            alert = Alert(user, month, pct, spent, budget, now, status)
        fired.append(alert)
    return fired


def frame(engine: Engine, month: str | None = None):
    """Recorded alerts as a pandas DataFrame, newest month first."""
    import pandas as pd

    q = select(budget_alerts).order_by(budget_alerts.c.month.desc(), budget_alerts.c.user_id,
                                       budget_alerts.c.threshold_pct)
    if month is not None:
        q = q.where(budget_alerts.c.month == month)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    cols = [c.name for c in budget_alerts.columns]
    return pd.DataFrame(rows, columns=cols)
