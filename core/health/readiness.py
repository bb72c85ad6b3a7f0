"""Liveness and readiness of this process, for /healthz and /readyz (Kubernetes, Docker, load balancers).

Ready means: every guarded client of the process (``core.observability.registry``) can
write its ledger, and none has its circuit open (the API broken off). The probes are the
health report's own (``core.health.report.ready``: the ledger and breaker parts); this module only
makes their answer fit for an anonymous caller. Before the console has built its client
(that happens on the first page view), the ledger named in the settings is probed directly.
A probe opens the ledger the way the client would (schema migrated, spool replayed), so a
recovered database is taken up again by the probe itself. Never raises; reasons are scrubbed
of keys, and of addresses: no host, port, URL or file path leaves the process through it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from core.errors import scrub
from core.health import report as health
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
    degraded: list[str] = field(default_factory=list)  # shared state without Redis (TOLLGATE_LIMITS=redis)

    @property
    def status(self) -> str:
        return "degraded" if self.degraded else ("ready" if self.ready else "not ready")

    def to_dict(self) -> dict:
        return {"ready": self.ready, "status": self.status, "reasons": self.reasons, "clients": self.clients,
                "degraded": self.degraded}


def check(settings=None, clients=None) -> Readiness:
    """Probe every registered client (or, with none yet, the ledger in ``settings``).

    Shared state without Redis is "degraded": still ready in open failure mode (calls are served on
    per-process limits), not ready in closed mode (calls are refused).
    """
    clients = registry.clients() if clients is None else clients
    reasons = health.ready(clients, settings)
    degraded, refusing = health.degraded(clients)
    if refusing:
        reasons = reasons + degraded
    return Readiness(ready=not reasons, reasons=[_private(r) for r in reasons], clients=len(clients),
                     degraded=[_private(r) for r in degraded])
