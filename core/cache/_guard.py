"""Keeps a failing cache backend from slowing or flooding calls: pause it, log rarely, no secrets."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable

from core.errors import scrub

log = logging.getLogger("tollgate.cache")

_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
_KV_PASSWORD = re.compile(r"(password\s*=\s*)\S+", re.IGNORECASE)


def describe(exc: BaseException, limit: int = 200) -> str:
    """Error class and a short message without passwords, keys or the SQL's parameters."""
    inner = getattr(exc, "orig", None) or exc  # SQLAlchemy wraps the driver's error
    text = " ".join(str(inner).split())
    text = _KV_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", scrub(text)))
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
