"""Response cache in Redis: shared by every process and host, TTL kept by the server (PX)."""

from __future__ import annotations

import re
import threading

from core.cache._guard import SharedBackend
from core.cache.entry import CachedResponse
from core.clock import Clock, SystemClock


class RedisCache(SharedBackend):
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
        super().__init__((clock or SystemClock()).monotonic, pause_after_error_s)

    def _redis(self):
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    import redis

                    self._client = redis.Redis.from_url(
                        self._url, socket_timeout=self._socket_timeout_s,
                        socket_connect_timeout=self._socket_timeout_s)
        return self._client

    def _run(self, op: str, fn):
        """Call ``fn(client)``; None (logged, backend paused) on any error."""
        if not self._guard.available():
            return None
        try:
            return fn(self._redis())
        except Exception as exc:
            self._guard.failed(op, exc)
            return None

    def _load(self, key: str) -> bytes | None:
        return self._run("get", lambda r: r.get(self.prefix + key))

    def _store(self, key: str, value: CachedResponse, ttl_s: float) -> None:
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
        return self._stats(size=None)  # size would need a SCAN: not cheap, so not reported
