"""Response cache in Redis: shared by every process and host, TTL kept by the server (PX)."""

from __future__ import annotations

import re
import threading

from core.cache._guard import FailureGuard, describe, log
from core.cache.entry import CachedResponse
from core.clock import Clock, SystemClock


class RedisCache:
    """Answers under ``prefix + key``; any Redis error is a miss (or a skipped set)."""

    backend = "redis"

    def __init__(self, url_or_client, prefix: str = "tollgate:cache:", clock: Clock | None = None,
                 *, socket_timeout_s: float = 0.5, pause_after_error_s: float = 5.0) -> None:
        # The URL may hold a password: it is kept, never logged; the client is made on first use.
        self._url = url_or_client if isinstance(url_or_client, str) else None
        self._client = None if self._url is not None else url_or_client
        self._client_lock = threading.Lock()
        self.prefix = prefix
        self._socket_timeout_s = socket_timeout_s
        self._guard = FailureGuard(self.backend, (clock or SystemClock()).monotonic,
                                   pause_after_error_s)
        self._count_lock = threading.Lock()
        self._hits = self._misses = 0

    def _redis(self):
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    import redis

                    self._client = redis.Redis.from_url(
                        self._url, socket_timeout=self._socket_timeout_s,
                        socket_connect_timeout=self._socket_timeout_s)
        return self._client

    def _count(self, hit: bool) -> None:
        with self._count_lock:
            if hit:
                self._hits += 1
            else:
                self._misses += 1

    def _run(self, op: str, fn):
        """Call ``fn(client)``; None (logged, backend paused) on any error."""
        if not self._guard.available():
            return None
        try:
            return fn(self._redis())
        except Exception as exc:
            self._guard.failed(op, exc)
            return None

    def get(self, key: str) -> CachedResponse | None:
        raw = self._run("get", lambda r: r.get(self.prefix + key))
        if raw is None:
            self._count(False)
            return None
        try:
            value = CachedResponse.from_json(raw)
        except ValueError as exc:
            log.warning("redis cache: unreadable entry dropped: %s", describe(exc))
            self.delete(key)
            self._count(False)
            return None
        self._count(True)
        return value

    def set(self, key: str, value: CachedResponse, ttl_s: float) -> None:
        if ttl_s <= 0:
            self.delete(key)
            return
        px = max(1, round(ttl_s * 1000))  # milliseconds: sub-second TTLs stay exact
        payload = value.to_json().encode("utf-8")
        self._run("set", lambda r: r.set(self.prefix + key, payload, px=px))

    def delete(self, key: str) -> None:
        self._run("delete", lambda r: r.delete(self.prefix + key))

    def clear(self) -> None:
        """Delete this prefix's keys only (SCAN, never FLUSHDB: the database may be shared)."""
        pattern = re.sub(r"([\\*?\[\]])", r"\\\1", self.prefix) + "*"

        def wipe(r):
            batch = []
            for name in r.scan_iter(match=pattern, count=500):
                batch.append(name)
                if len(batch) >= 500:
                    r.delete(*batch)
                    batch.clear()
            if batch:
                r.delete(*batch)

        self._run("clear", wipe)

    def stats(self) -> dict:
        with self._count_lock:  # size would need a SCAN: not cheap, so not reported
            return {"backend": self.backend, "hits": self._hits, "misses": self._misses,
                    "size": None, "errors": self._guard.errors}
