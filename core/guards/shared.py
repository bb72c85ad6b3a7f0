"""The Redis behind state shared across replicas (limits, lock-outs, breaker, key failover) and its failure mode.

One ``SharedState`` per process is handed to every part that keeps shared state. Each part
runs its Redis work through ``run(part, fn, local)``: on success the part is healthy; when
Redis does not answer, the part is marked degraded (logged once, counted every time) and the
failure mode decides: ``closed`` raises ``SharedStateUnavailable`` (retryable), ``open``
returns ``local()``, the part's per-process answer. After a failure Redis is left alone for
``retry_s`` seconds (so a dead server costs one timeout per ``retry_s``, not one per call),
then tried again: the first success recovers the part.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from core.errors import SharedStateUnavailable, mask_url_passwords, scrub
from core.observability import events

T = TypeVar("T")
CLOSED, OPEN = "closed", "open"


def _unreachable_errors() -> tuple[type[BaseException], ...]:
    """What "Redis did not answer" looks like: connection, timeout, a read-only replica, the OS."""
    import redis.exceptions as rex

    return rex.ConnectionError, rex.TimeoutError, rex.ReadOnlyError, rex.ClusterDownError, OSError


class SharedState:
    """A lazily connected Redis client, the failure mode and which parts are degraded (thread-safe)."""

    def __init__(self, url_or_client, *, failure: str = CLOSED, replicas: int = 1, prefix: str = "tollgate:",
                 retry_s: float = 2.0, socket_timeout_s: float = 0.5,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if failure not in (CLOSED, OPEN):
            raise ValueError(f"failure mode must be closed or open, not {failure!r}")
        if replicas < 1:
            raise ValueError(f"replicas must be at least 1, not {replicas!r}")
        # The URL may hold a password: kept for connecting, never logged or shown.
        self._url = url_or_client if isinstance(url_or_client, str) else None
        self._client = None if self._url is not None else url_or_client
        self.failure, self.replicas, self.prefix = failure, replicas, prefix
        self._retry_s, self._timeout_s, self._monotonic = retry_s, socket_timeout_s, monotonic
        self._lock = threading.Lock()
        self._paused_until = 0.0
        self._degraded: dict[str, str] = {}  # part -> why (one line, no address)
        self._fallbacks = 0
        self._errors: tuple[type[BaseException], ...] | None = None

    def client(self):
        """The Redis client (made on first use; short socket timeouts so an outage is noticed fast)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import redis

                    self._client = redis.Redis.from_url(self._url, socket_timeout=self._timeout_s,
                                                        socket_connect_timeout=self._timeout_s)
        return self._client

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def unreachable(self, exc: BaseException) -> bool:
        """True when ``exc`` means Redis could not be reached (not a bug in the caller)."""
        if self._errors is None:
            self._errors = _unreachable_errors()
        return isinstance(exc, self._errors)

    def usable(self) -> bool:
        """False for ``retry_s`` after a failure: Redis is not tried again before then."""
        return self._monotonic() >= self._paused_until

    def run(self, part: str, fn: Callable[[object], T], local: Callable[[], T] | None = None, *,
            refuse_when_closed: bool = True) -> T:
        """``fn(redis)``; when Redis is unreachable, ``local()`` (open) or SharedStateUnavailable (closed).

        ``local=None`` means the part has no per-process answer: it is refused in either mode.
        ``refuse_when_closed=False``: ``local()`` in both modes (parts whose refusal the limiter already makes).
        """
        if self.usable():
            try:
                out = fn(self.client())
            except Exception as exc:
                if not self.unreachable(exc):
                    raise
                self.failed(part, exc)
            else:
                self._recovered(part)
                return out
        with self._lock:
            self._fallbacks += 1
            self._degraded.setdefault(part, "Redis did not answer")
        if local is None or (self.failure == CLOSED and refuse_when_closed):
            events.shared_state_fallback(part, "refused")
            raise SharedStateUnavailable(part, retry_after_s=max(1.0, self._retry_s))
        events.shared_state_fallback(part, "local")
        return local()

    def failed(self, part: str, exc: BaseException) -> None:
        """Redis failed ``part``: mark it degraded and leave Redis alone for ``retry_s``."""
        reason = scrub(mask_url_passwords(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"))
        with self._lock:
            self._paused_until = self._monotonic() + self._retry_s
            new = part not in self._degraded
            self._degraded[part] = reason[:200]
        if new:
            events.shared_state_degraded(part, self.failure, reason[:200])

    def _recovered(self, part: str) -> None:
        """Redis answered ``part``: every part is back (they share the one server)."""
        if not self._degraded:  # the common case: no lock taken
            return
        with self._lock:
            back, self._degraded = list(self._degraded), {}
        for name in back:
            events.shared_state_recovered(name)

    def probe(self) -> str | None:
        """PING Redis now (the health page, /readyz): None when it answers, else why not; a success recovers."""
        try:
            self.client().ping()
        except Exception as exc:  # noqa: BLE001 - any failure is the verdict
            self.failed("redis", exc)
            return self._degraded.get("redis", type(exc).__name__)
        with self._lock:
            self._paused_until = 0.0
        self._recovered("redis")
        return None

    def degraded(self) -> dict[str, str]:
        """The parts running without Redis right now, and why."""
        with self._lock:
            return dict(self._degraded)

    def snapshot(self) -> dict:
        with self._lock:
            return {"backend": "redis", "failure": self.failure, "replicas": self.replicas,
                    "degraded": dict(self._degraded), "fallbacks": self._fallbacks}
