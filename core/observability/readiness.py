"""Liveness and readiness of this process, for /healthz and /readyz (Kubernetes, Docker, load balancers).

Ready means: every guarded client of the process (``core.observability.registry``) can
write its ledger, and none has its circuit open (the API broken off). Before the console
has built its client (that happens on the first page view), the ledger named in the
settings is probed directly with a short-lived engine. A probe opens the ledger the way
the client would (schema migrated, spool replayed), so a recovered database is taken up
again by the probe itself. Never raises; reasons are scrubbed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from core.errors import scrub
from core.observability import registry


@dataclass
class Readiness:
    ready: bool
    reasons: list[str] = field(default_factory=list)
    clients: int = 0

    def to_dict(self) -> dict:
        return {"ready": self.ready, "reasons": self.reasons, "clients": self.clients}


def ledger_writable(engine: Engine) -> str | None:
    """None when a committed write and read of this process's probe row succeed, else why not (scrubbed)."""
    from core.ledger.probe import round_trip  # the health page's probe: its own row, never ``calls``

    try:
        round_trip(engine)
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return scrub(f"ledger not writable: {type(exc).__name__}: {first}"[:300])
    return None


def ledger_ready(ledger) -> str | None:
    """None when the ledger opens (schema, spool replay) and takes a write, else why not."""
    if not ledger.open():
        return scrub(f"ledger unavailable: {ledger.last_error}")
    return ledger_writable(ledger.engine)


def _from_settings(settings) -> list[str]:
    if settings is None or not settings.ledger_url:
        return []
    from core.ledger.engine import make_engine
    from core.ledger.spool import Spool
    from core.ledger.store import Ledger

    engine = make_engine(settings.ledger_url, pool_size=1)
    try:
        reason = ledger_ready(Ledger(engine, Spool(settings.spool_path)))
    finally:
        engine.dispose()
    return [reason] if reason else []


def check(settings=None, clients=None) -> Readiness:
    """Probe every registered client (or, with none yet, the ledger in ``settings``)."""
    clients = registry.clients() if clients is None else clients
    reasons: list[str] = []
    engines: set[int] = set()
    for c in clients:
        try:
            state = c.breaker.state
            if state == "open":
                reasons.append(f"circuit open: calls to the API are broken off for "
                               f"{c.breaker.retry_after_s:.0f} s more")
            engine = getattr(c.ledger, "engine", None)
            if engine is not None and id(engine) not in engines:
                engines.add(id(engine))
                if reason := ledger_ready(c.ledger):
                    reasons.append(reason)
        except Exception as exc:  # noqa: BLE001 - a probe that fails is a reason, not a crash
            reasons.append(scrub(f"readiness check failed: {type(exc).__name__}"))
    if not clients:
        try:
            reasons += _from_settings(settings)
        except Exception as exc:  # noqa: BLE001
            reasons.append(scrub(f"ledger not writable: {type(exc).__name__}"))
    return Readiness(ready=not reasons, reasons=reasons, clients=len(clients))
