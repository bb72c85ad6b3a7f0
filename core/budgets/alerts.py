"""Budget alerts and reports: each threshold once per user and month, a webhook, status frames.

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
from core.observability import events

WEBHOOK_TIMEOUT_S = 3.0


def as_usd(value: object) -> Decimal:
    """A database sum or amount as an exact Decimal (NULL is zero)."""
    return value if isinstance(value, Decimal) else Decimal(str(value or 0))


def tidy_usd(d: Decimal) -> Decimal:
    """Drop the column's trailing zeros ($0.05, not $0.0500000000) without ever writing an exponent."""
    return d.quantize(Decimal(1)) if d == d.to_integral_value() else d.normalize()


def check_thresholds(values: Iterable[object]) -> tuple[int, ...]:
    """Alert thresholds as sorted, distinct whole percentages (ValueError otherwise)."""
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ValueError("thresholds must be a list of percentages, e.g. [50, 80, 100].")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int) or not 0 < v <= 1000:
            raise ValueError(f"Alert thresholds are whole percentages between 1 and 1000; got {v!r}.")
    return tuple(sorted(set(values)))


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
    if not url.lower().startswith(("http://", "https://")):  # urllib would also open file:// URLs
        raise ValueError("The budget webhook URL must be http:// or https://.")
    req = urllib.request.Request(url, data=json.dumps(body).encode("utf-8"), method="POST",
                                 headers={"Content-Type": "application/json",
                                          "User-Agent": "tollgate-budget-alerts"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def crossed(spent: Decimal, budget: Decimal, thresholds: Iterable[int]) -> list[int]:
    """Thresholds (percent) that ``spent`` has reached; a zero budget counts as 100 % once anything is spent."""
    if budget <= 0:
        return [t for t in thresholds if spent > 0]
    return [t for t in thresholds if spent * 100 >= budget * t]


def may_fire(held, thresholds: Iterable[int], seen: set) -> bool:
    """Whether a check after ``held``'s call may fire an alert: its spend bounds (spent and held when it reserved,
    plus its own hold, which its cost never exceeds) reach a threshold not known to be recorded. No bounds: True.

    Calls held together are covered by the last to reserve, whose bound counts every earlier one's hold."""
    bounds = getattr(held, "bounds", None)
    if not bounds:
        return True
    return any((user, held.month, pct) not in seen and crossed(bound, budget, (pct,))
               for user, budget, bound in bounds for pct in thresholds)


def _send(post: Callable[[str, dict], object], url: str, alert: Alert) -> str:
    """Post one alert; never raises (a webhook outage must not fail the call that triggered it)."""
    try:
        return str(post(url, alert.payload()))[:32]
    except Exception as exc:  # noqa: BLE001 — any failure is recorded, not propagated
        return f"error: {type(exc).__name__}"[:32]


def fire(tx: Callable[[Callable[[Connection], object]], object], *, user: str, month: str,
         spent: Decimal, budget: Decimal, thresholds: Iterable[int], now: datetime,
         webhook_url: str | None, post: Callable[[str, dict], object], seen: set | None = None) -> list[Alert]:
    """Insert each newly crossed threshold's row (once ever per month) and post it; returns those fired.

    ``seen`` (user, month, pct) are known to be recorded already: skipped with no write; those found so are added.
    """
    fired = []
    seen = set() if seen is None else seen
    for pct in crossed(spent, budget, thresholds):
        if (user, month, pct) in seen:
            continue
        alert = Alert(user, month, pct, spent, budget, now, None)
        row = {"user_id": user, "month": month, "threshold_pct": pct, "ts": now,
               "spent_usd": spent, "budget_usd": budget, "webhook_status": None}
        try:
            tx(lambda c, row=row: c.execute(insert(budget_alerts).values(**row)))
        except IntegrityError:
            seen.add((user, month, pct))
            continue  # someone (another thread or process) already alerted this threshold
        seen.add((user, month, pct))
        if webhook_url:
            status = _send(post, webhook_url, alert)
            key = ((budget_alerts.c.user_id == user) & (budget_alerts.c.month == month)
                   & (budget_alerts.c.threshold_pct == pct))
            tx(lambda c, key=key, status=status:
               c.execute(update(budget_alerts).where(key).values(webhook_status=status)))
            alert = Alert(user, month, pct, spent, budget, now, status)
        events.budget_alert(alert)
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


def status_frame(rows: Iterable[tuple[str, Decimal, Decimal, Decimal]], month: str):
    """(user, budget, spent, reserved) rows as the status DataFrame, with remaining and pct_used."""
    import pandas as pd

    out = []
    for user, budget, spent, held in rows:
        pct = float(spent * 100 / budget) if budget else (0.0 if not spent else float("inf"))
        out.append({"user_id": user, "month": month, "budget_usd": tidy_usd(budget),
                    "spent_usd": tidy_usd(spent), "reserved_usd": tidy_usd(held),
                    "remaining_usd": tidy_usd(max(Decimal(0), budget - spent - held)),
                    "pct_used": round(pct, 2)})
    cols = ["user_id", "month", "budget_usd", "spent_usd", "reserved_usd", "remaining_usd", "pct_used"]
    return pd.DataFrame(out, columns=cols)
