"""What the shared backends (Redis, SQL) have in common: a failing one is paused and logged rarely
(no secrets), an unreadable entry is a miss, hits and misses are counted."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable

from core.cache.entry import CachedResponse
from core.errors import mask_url_passwords, scrub

log = logging.getLogger("tollgate.cache")

_KV_PASSWORD = re.compile(r"(password\s*=\s*)\S+", re.IGNORECASE)


def describe(exc: BaseException, limit: int = 200) -> str:
    """Error class and a short message without passwords, keys or the SQL's parameters."""
    inner = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    text = " ".join(str(inner).split())
    text = _KV_PASSWORD.sub(r"\1***", mask_url_passwords(scrub(text)))
    if len(text) > limit:
        text = text[:limit] + "…"
    return f"{type(inner).__name__}: {text}" if text else type(inner).__name__


class FailureGuard:
    """After an error, the backend is skipped (a miss) for ``pause_s`` seconds, then retried."""

    def __init__(self, backend: str, monotonic: Callable[[], float], pause_s: float = 5.0,
                 log_every_s: float = 60.0) -> None:
        self.backend = backend
        self.errors = 0
        self._monotonic = monotonic
        self._pause_s = pause_s
        self._log_every_s = log_every_s
        self._until = float("-inf")
        self._next_log = float("-inf")
        self._lock = threading.Lock()

    def available(self) -> bool:
        return self._monotonic() >= self._until

    def failed(self, op: str, exc: BaseException) -> None:
        now = self._monotonic()
        with self._lock:
            self.errors += 1
            self._until = now + self._pause_s
            loud = now >= self._next_log
            if loud:
                self._next_log = now + self._log_every_s
        level = logging.WARNING if loud else logging.DEBUG
        log.log(level, "%s cache %s failed; the call goes on without the cache (backend paused "
                "%.0f s): %s",
                self.backend, op, self._pause_s, describe(exc))


class SharedBackend:
    """get/set/stats over a subclass's ``_load``, ``_store`` and ``delete``; none of them raises."""

    backend = "shared"

    def __init__(self, monotonic: Callable[[], float], pause_after_error_s: float) -> None:
        self._guard = FailureGuard(self.backend, monotonic, pause_after_error_s)
        self._count_lock = threading.Lock()
        self._hits = self._misses = 0

    def _load(self, key: str) -> str | bytes | None:
        """The stored payload, or None (nothing live, or the backend failed)."""
        raise NotImplementedError

    def _store(self, key: str, value: CachedResponse, ttl_s: float) -> None:
        raise NotImplementedError

    def delete(self, key: str) -> None:
        raise NotImplementedError

    def get(self, key: str) -> CachedResponse | None:
        value = self._decode_or_drop(key, self._load(key))
        with self._count_lock:
            if value is None:
                self._misses += 1
            else:
                self._hits += 1
        return value

    def _decode_or_drop(self, key: str, raw: str | bytes | None) -> CachedResponse | None:
        if raw is None:
            return None
        try:
            return CachedResponse.from_json(raw)
        except ValueError as exc:
            log.warning("%s cache: unreadable entry dropped: %s", self.backend, describe(exc))
            self.delete(key)
            return None

    def set(self, key: str, value: CachedResponse, ttl_s: float) -> None:
        if ttl_s <= 0:
            self.delete(key)
            return
        self._store(key, value, ttl_s)

    def _stats(self, size: int | None) -> dict:
        with self._count_lock:
            return {"backend": self.backend, "hits": self._hits, "misses": self._misses,
                    "size": size, "errors": self._guard.errors}
