"""Health of everything a call depends on, as one report whose overall status is its worst part.

Parts (``core.health_parts``): upstream, ledger, cache, limiter, breaker, keys, errors;
each ``{"status": ok|warn|fail, "reason": one line, ...detail}``. ``ok`` stays for the
CLI's exit status: False only when some part fails.
"""

from __future__ import annotations

from core import health_parts as parts
from core.health_parts import FAIL, OK, WARN

RANK = {OK: 0, WARN: 1, FAIL: 2}
ORDER = ("upstream", "ledger", "cache", "limiter", "breaker", "keys", "errors")


def overall(report_parts: dict[str, dict]) -> dict:
    """The worst status among the parts, and the reasons of the parts that have it."""
    status = max((p["status"] for p in report_parts.values()), key=RANK.__getitem__, default=OK)
    worst = [f"{name}: {p['reason']}" for name, p in report_parts.items() if p["status"] == status]
    reason = "Everything a call depends on is healthy." if status == OK else " · ".join(worst)
    return {"status": status, "reason": reason}


def check(client, user: str | None = None, errors: int = 10) -> dict:
    """The whole report; ``user`` limits recent errors to that user's calls (None: everyone's)."""
    from core.metrics import METRICS

    found = {"upstream": parts.upstream(client), "ledger": parts.ledger(client), "cache": parts.cache(client),
             "limiter": parts.limiter(client), "breaker": parts.breaker(client), "keys": parts.keys(client),
             "errors": parts.errors(client, user=user, n=errors)}
    summary = overall(found)
    return {**summary, "ok": summary["status"] != FAIL, "checked_at": parts.stamp(client),
            "demo": client.demo, "parts": found, "metrics": METRICS.snapshot()}


__all__ = ["FAIL", "OK", "ORDER", "RANK", "WARN", "check", "overall"]
