"""Liveness and readiness of this process, for /healthz and /readyz (Kubernetes, Docker, load balancers).

Ready means: every guarded client of the process (``core.observability.registry``) can
write its ledger, and none has its circuit open (the API broken off). Before the console
has built its client (that happens on the first page view), the ledger named in the
settings is probed directly with a short-lived engine. A probe opens the ledger the way
the client would (schema migrated, spool replayed), so a recovered database is taken up
again by the probe itself. Never raises; reasons are scrubbed of keys, and of addresses:
the probe is anonymous, so no host, port, URL or file path leaves the process through it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy.engine import Engine

from core.errors import scrub
from core.observability import registry

_ADDRESS = re.compile(
    r"[a-z][a-z0-9+.-]*://\S+"  # URLs (credentials, hosts)
    r"|\"[^\"]*\"|'[^']*'"  # quoted names: hosts, sockets, files
    r"|\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"  # IPv4 (and port)
    r"|\[?\b[0-9a-f]{0,4}(?::[0-9a-f]{0,4}){2,7}\]?"  # IPv6
    r"|\bport\s+\d+"
    r"|(?:^|(?<=\s))/[\w./-]+",  # paths
    re.IGNORECASE)


def _private(reason: str) -> str:
    """A reason fit for an anonymous probe: keys masked, every address replaced by '…'."""
    return _ADDRESS.sub("…", scrub(reason))


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
    return Readiness(ready=not reasons, reasons=[_private(r) for r in reasons], clients=len(clients))
