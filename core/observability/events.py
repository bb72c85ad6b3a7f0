"""Notable events, each one structured log line plus its Prometheus counter, raised at their source.

Breaker opened/closed, limiter waited or refused, budget alert, ledger spool used or
replayed, API key marked failing, attempt retried. Sources call these functions rather
than logging themselves, so the event names and fields stay one vocabulary.
"""

from __future__ import annotations

import logging

from core.observability import prom
from core.observability.logs import event

_breaker = logging.getLogger("tollgate.breaker")
_limits = logging.getLogger("tollgate.limits")
_budgets = logging.getLogger("tollgate.budgets")
_ledger = logging.getLogger("tollgate.ledger")
_keys = logging.getLogger("tollgate.keys")
_calls = logging.getLogger("tollgate.calls")
_shared = logging.getLogger("tollgate.shared")

_BREAKER_EVENTS = {"open": "breaker_opened", "closed": "breaker_closed", "half_open": "breaker_half_open"}


def breaker_changed(old: str, new: str) -> None:
    prom.BREAKER_TRANSITIONS.labels(new).inc()
    level = logging.WARNING if new == "open" else logging.INFO
    event(_breaker, _BREAKER_EVENTS.get(new, "breaker_changed"), level,
          f"circuit breaker {old} -> {new}", previous=old, state=new)


def limiter_waited(user: str, seconds: float, limit: str) -> None:
    """A call was admitted after waiting ``seconds`` for ``limit`` (e.g. 'requests per minute')."""
    prom.LIMITER_WAITS.labels(limit).inc()
    prom.LIMITER_WAIT_SECONDS.inc(seconds)
    event(_limits, "limiter_waited", logging.INFO, user=user, limit=limit, waited_s=round(seconds, 4))


def limiter_rejected(user: str, limit: str, retry_after_s: float) -> None:
    prom.LIMITER_REJECTIONS.labels(limit).inc()
    event(_limits, "limiter_rejected", logging.WARNING, user=user, limit=limit,
          retry_after_s=None if retry_after_s == float("inf") else round(retry_after_s, 3))


def budget_alert(alert) -> None:
    """A budget threshold was crossed (``core.budgets.alerts.Alert``)."""
    prom.BUDGET_ALERTS.labels(str(alert.threshold_pct)).inc()
    event(_budgets, "budget_alert", logging.WARNING, user=alert.user_id, month=alert.month,
          threshold_pct=alert.threshold_pct, spent_usd=str(alert.spent_usd), budget_usd=str(alert.budget_usd),
          webhook_status=alert.webhook_status)


def spool_used(path) -> None:
    """A ledger record went to the spool because the database could not take it."""
    prom.SPOOLED.inc()
    event(_ledger, "spool_used", logging.WARNING, spool=str(path))


def spool_replayed(path, records: int) -> None:
    event(_ledger, "spool_replayed", logging.INFO, spool=str(path), records=records)


def key_failing(label: str, healthy: int, total: int) -> None:
    prom.KEY_FAILURES.labels(label).inc()
    event(_keys, "key_marked_failing", logging.WARNING, f"API key {label!r} marked failing; {healthy} of {total} keys healthy",
          key_label=label, healthy_keys=healthy, keys=total)


def retried(call_id: str, model: str, attempt: int, code: str, wait_s: float) -> None:
    prom.observe_retry(model, code)
    event(_calls, "retry", logging.WARNING, request=call_id, model=model, attempt=attempt, code=code,
          wait_s=round(wait_s, 3))


def shared_state_fallback(part: str, outcome: str) -> None:
    """One operation on ``part`` could not use Redis: ``refused`` (closed mode) or done ``local``ly (open)."""
    prom.SHARED_FALLBACKS.labels(part, outcome).inc()


def shared_state_degraded(part: str, mode: str, reason: str) -> None:
    """Redis stopped answering for ``part``: logged once per outage, not once per call."""
    event(_shared, "shared_state_degraded", logging.WARNING,
          f"shared {part} unavailable ({reason}); failure mode {mode}", part=part, mode=mode, reason=reason)


def shared_state_recovered(part: str) -> None:
    event(_shared, "shared_state_recovered", logging.INFO, f"shared {part} back on Redis", part=part)
