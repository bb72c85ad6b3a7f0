"""Read deadlines at the socket: every network read of an attempt ends by a point in time.

httpx's read timeout is per read, so a server that trickles a byte at a time never trips it.
``DeadlineBackend`` wraps the SDK client's connection pools and clamps each read and write to
the deadline in force on this thread (``until``), so a total (or idle) limit is exact. Connecting
and the TLS handshake are clamped the same way. Deadlines
are ``time.monotonic()`` seconds: socket timeouts run on real time whatever clock the guard has.
"""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar

import httpcore2

log = logging.getLogger("tollgate")

_DEADLINE: ContextVar[float | None] = ContextVar("tollgate_read_deadline", default=None)


def until(deadline: float | None):
    """Put ``deadline`` in force for this thread's reads; returns the token for ``release``."""
    return _DEADLINE.set(deadline)


def current() -> float | None:
    """The deadline in force on this thread (``time.monotonic()`` seconds), if any."""
    return _DEADLINE.get()


def release(token) -> None:
    """End the deadline ``until`` put in force (the previous one, usually none, applies again)."""
    _DEADLINE.reset(token)


def clamp(timeout: float | None, expired=httpcore2.ReadTimeout) -> float | None:
    """Seconds a read, write or connect may take: ``timeout`` clamped to the deadline in force (``expired`` once past)."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("deadline passed")
    return left if timeout is None else min(timeout, left)


class _Stream(httpcore2.NetworkStream):
    """A network stream whose reads and writes end by the deadline in force."""

    def __init__(self, inner) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, clamp(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, clamp(timeout, httpcore2.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, clamp(timeout, httpcore2.ConnectTimeout)))

    def get_extra_info(self, info: str):
        return self._inner.get_extra_info(info)


class DeadlineBackend(httpcore2.NetworkBackend):
    """The pool's own backend, with every stream it opens wrapped in ``_Stream``."""

    def __init__(self, inner) -> None:
        self._inner = inner

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        timeout = clamp(timeout, httpcore2.ConnectTimeout)  # connecting counts against the attempt too
        return _Stream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        return _Stream(self._inner.connect_unix_socket(path, clamp(timeout, httpcore2.ConnectTimeout),
                                                       socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def install(http_client) -> bool:
    """Wrap the backend of each connection pool of an ``httpx2.Client``; False if none was found.

    httpx exposes no hook for this, so it reaches the pools through their (stable) attributes;
    the tests in tests/integration/test_client_timeouts.py fail if an upgrade moves them.
    """
    transports = [getattr(http_client, "_transport", None), *getattr(http_client, "_mounts", {}).values()]
    done = False
    for transport in transports:
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if backend is None:
            continue
        if not isinstance(backend, DeadlineBackend):
            pool._network_backend = DeadlineBackend(backend)
        done = True
    if not done:
        log.warning("timeouts: no connection pool found to enforce total deadlines on; reads are per-read only")
    return done
