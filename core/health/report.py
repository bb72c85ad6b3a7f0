"""Health of everything a call depends on, as one report whose overall status is its worst part.

Parts (``core.health.parts``): upstream, ledger, cache, limiter, breaker, keys, errors;
each ``{"status": ok|warn|fail, "reason": one line, ...detail}``. ``ok`` stays for the
CLI's exit status: False only when some part fails. Readiness (``ready``, behind /readyz)
is the subset ``READY`` of the same probes: what must hold for this process to take traffic.
"""

from __future__ import annotations

from core.errors import scrub
from core.health import parts
from core.health.parts import FAIL, OK, WARN

RANK = {OK: 0, WARN: 1, FAIL: 2}
ORDER = ("upstream", "ledger", "cache", "limiter", "shared", "breaker", "keys", "errors")
READY = ("ledger", "breaker")  # the parts /readyz asks: the others warn a person, they do not stop traffic
# /readyz also says "degraded" while shared state runs without Redis (not ready only in closed mode).


def overall(report_parts: dict[str, dict]) -> dict:
    """The worst status among the parts, and the reasons of the parts that have it."""
    status = max((p["status"] for p in report_parts.values()), key=RANK.__getitem__, default=OK)
    worst = [f"{name}: {p['reason']}" for name, p in report_parts.items() if p["status"] == status]
    reason = "Everything a call depends on is healthy." if status == OK else " · ".join(worst)
    return {"status": status, "reason": reason}


def check(client, user: str | None = None, errors: int = 10) -> dict:
    """The whole report; ``user`` limits recent errors to that user's calls (None: everyone's)."""
    from core.health.figures import METRICS

    found = {"upstream": parts.upstream(client), "ledger": parts.ledger(client), "cache": parts.cache(client),
             "limiter": parts.limiter(client), "shared": parts.shared(client), "breaker": parts.breaker(client), "keys": parts.keys(client),
             "errors": parts.errors(client, user=user, n=errors)}
    summary = overall(found)
    return {**summary, "ok": summary["status"] != FAIL, "checked_at": parts.stamp(client),
            "demo": client.demo, "parts": found, "metrics": METRICS.snapshot()}


def ready(clients, settings=None) -> list[str]:
    """Why this process may not take traffic (empty: ready): each client's ledger writable, no circuit open.

    With no client built yet, the ledger named in ``settings`` is probed with a short-lived
    engine. Never raises; reasons are key-scrubbed (``core.health.readiness`` also
    removes addresses before they leave the process).
    """
    reasons: list[str] = []
    engines: set[int] = set()
    for c in clients:
        try:
            if reason := parts.circuit_open(c):
                reasons.append(reason)
            engine = getattr(c.ledger, "engine", None)
            if engine is not None and id(engine) not in engines:  # clients sharing a ledger probe it once
                engines.add(id(engine))
                if reason := parts.ledger_ready(c.ledger):
                    reasons.append(reason)
        except Exception as exc:  # noqa: BLE001 - a probe that fails is a reason, not a crash
            reasons.append(scrub(f"readiness check failed: {type(exc).__name__}"))
    if not clients:
        try:
            reasons += _ready_from_settings(settings)
        except Exception as exc:  # noqa: BLE001
            reasons.append(scrub(f"ledger not writable: {type(exc).__name__}"))
    return reasons


def degraded(clients) -> tuple[list[str], bool]:
    """Why shared state runs degraded (Redis unreachable), and whether that refuses calls (closed mode)."""
    found, refusing, seen = [], False, set()
    for c in clients:
        state = getattr(c.limiter, "shared_state", None)
        if state is None or id(state) in seen:
            continue
        seen.add(id(state))
        try:
            reason = parts.shared_degraded(c)
        except Exception as exc:  # noqa: BLE001
            reason = scrub(f"degraded: shared state check failed: {type(exc).__name__}")
        if reason:
            found.append(reason)
            refusing = refusing or state.failure == "closed"
    return found, refusing


def _ready_from_settings(settings) -> list[str]:
    if settings is None or not settings.ledger_url:
        return []
    from core.ledger.engine import make_engine
    from core.ledger.spool import Spool
    from core.ledger.store import Ledger

    engine = make_engine(settings.ledger_url, pool_size=1)
    try:
        reason = parts.ledger_ready(Ledger(engine, Spool(settings.spool_path)))
    finally:
        engine.dispose()
    return [reason] if reason else []


__all__ = ["FAIL", "OK", "ORDER", "RANK", "READY", "WARN", "check", "degraded", "overall", "ready"]
