"""A circuit breaker: after repeated system failures, stop calling the API and let it recover.

closed → open after ``failure_threshold`` system failures within ``window_s`` → half_open once
``recovery_s`` has passed, where exactly one probe call is let through → a success closes it,
a system failure opens it again. Only failures that say the API (or the way to it) is
unwell count; an error the API answered with (a bad request, a 429) proves it is up.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable

from core.clock import Clock
from core.errors import (
    CircuitOpen,
    ConnectionFailed,
    Overloaded,
    StreamInterrupted,
    Timeout,
    TollgateError,
    UpstreamError,
    UpstreamServerError,
)
from core.observability import events
from core.upstream.sdk_errors import translate

log = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
SHARED_PART = "circuit breaker"
_SYSTEM_FAILURES = (Overloaded, UpstreamServerError, ConnectionFailed, Timeout, StreamInterrupted)
# Callers turned away while the probe is in flight: its outcome time is unknown (s).
_PROBE_BUSY_RETRY_S = 1.0


def _as_tollgate(err: BaseException) -> TollgateError | None:
    """The Tollgate error behind ``err`` (unwrapping tenacity's RetryError), or None."""
    last = getattr(err, "last_attempt", None)  # tenacity.RetryError, without importing tenacity
    if last is not None and hasattr(last, "exception"):
        try:
            inner = last.exception()
        except BaseException:  # a cancelled attempt has no exception to give
            inner = None
        if inner is not None:
            err = inner
    if isinstance(err, TollgateError):
        return err
    if type(err).__module__.split(".")[0] == "anthropic":  # an SDK error nobody translated yet
        return translate(err)
    return None  # a local bug, KeyboardInterrupt, cancellation: says nothing about the API


def is_system_failure(err: BaseException) -> bool:
    """True for failures that suggest the API is unwell (overload, 5xx, network, timeout, cut stream)."""
    return isinstance(_as_tollgate(err), _SYSTEM_FAILURES)


def _api_answered(err: BaseException) -> bool:
    """True when the API itself answered with a client error: proof that it is up."""
    tg = _as_tollgate(err)
    return isinstance(tg, UpstreamError) and not isinstance(tg, _SYSTEM_FAILURES)


class CircuitBreaker:
    """Thread-safe breaker around calls to the API; times are ``clock.monotonic()`` seconds."""

    def __init__(self, failure_threshold: int = 5, window_s: float = 60.0, recovery_s: float = 30.0,
                 *, clock: Clock, on_change: Callable[[str, str], None] | None = None, shared=None) -> None:
        """``shared``: a ``core.guards.shared.SharedState`` (TOLLGATE_SHARED_BREAKER=1): an open circuit is
        published to Redis for ``recovery_s``, and every replica refuses calls until it expires."""
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if window_s <= 0 or recovery_s < 0:
            raise ValueError("window_s must be positive and recovery_s non-negative")
        self.failure_threshold = failure_threshold
        self.window_s = window_s
        self.recovery_s = recovery_s
        self._clock = clock
        self._on_change = on_change
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures: deque[float] = deque()  # times of system failures while closed
        self._opened_at: float | None = None
        self._probe_in_flight = False
        self._shared = shared

    # --- the open state shared across replicas (Redis; its time is the server's, via PX) --------

    def _shared_open_s(self) -> float:
        """Seconds another replica's opening still has to run (0: none); this replica's view if Redis is down."""
        if self._shared is None:
            return 0.0
        key = self._shared.key("breaker", "open")
        ms = self._shared.run(SHARED_PART, lambda r: r.pttl(key), lambda: -2, refuse_when_closed=False)
        return ms / 1000 if ms and ms > 0 else 0.0

    def _publish_open(self) -> None:
        if self._shared is None:
            return
        key, px = self._shared.key("breaker", "open"), max(1, round(self.recovery_s * 1000))
        self._shared.run(SHARED_PART, lambda r: r.set(key, "1", px=px), lambda: None, refuse_when_closed=False)

    # --- transitions (under the lock; they return the change to report after it) ----------

    def _move(self, new: str) -> tuple[str, str] | None:
        old, self._state = self._state, new
        return (old, new) if old != new else None

    def _tick(self) -> tuple[str, str] | None:
        """Open → half-open once the recovery time has passed."""
        if self._state == OPEN and self._clock.monotonic() >= self._opened_at + self.recovery_s:
            self._probe_in_flight = False
            return self._move(HALF_OPEN)
        return None

    def _open(self) -> tuple[str, str] | None:
        self._opened_at = self._clock.monotonic()
        self._probe_in_flight = False
        self._failures.clear()
        return self._move(OPEN)

    def _close(self) -> tuple[str, str] | None:
        self._opened_at = None
        self._probe_in_flight = False
        self._failures.clear()
        return self._move(CLOSED)

    def _prune(self) -> None:
        horizon = self._clock.monotonic() - self.window_s
        while self._failures and self._failures[0] <= horizon:
            self._failures.popleft()

    def _notify(self, *changes: tuple[str, str] | None) -> None:
        # Outside the lock, so a callback may read the breaker; its failure never breaks a call.
        for change in changes:
            if change is None:
                continue
            if change[1] == OPEN:
                self._publish_open()
            events.breaker_changed(*change)
            if self._on_change is not None:
                try:
                    self._on_change(*change)
                except Exception:
                    log.exception("circuit breaker on_change callback failed")

    def _retry_after(self) -> float:
        if self._state == OPEN:
            return max(0.0, self._opened_at + self.recovery_s - self._clock.monotonic())
        if self._state == HALF_OPEN and self._probe_in_flight:
            return _PROBE_BUSY_RETRY_S
        return 0.0

    # --- the call protocol -------------------------------------------------------------

    def before_call(self) -> None:
        """Admit a call, or raise CircuitOpen; in half-open the one admitted call is the probe."""
        with self._lock:
            change = self._tick()
            refused = None
            if self._state == OPEN or (self._state == HALF_OPEN and self._probe_in_flight):
                refused = CircuitOpen(self._retry_after())
            elif self._state == HALF_OPEN:
                self._probe_in_flight = True
        self._notify(change)
        if refused is not None:
            raise refused
        if (elsewhere := self._shared_open_s()) > 0:  # opened by another replica
            with self._lock:
                self._probe_in_flight = False  # a half-open probe admitted above is given back
            raise CircuitOpen(elsewhere)

    def record_success(self) -> None:
        """The call succeeded: in half-open this closes the circuit."""
        with self._lock:
            change = self._tick()
            closed = self._close() if self._state == HALF_OPEN else None
        self._notify(change, closed)

    def record_failure(self, err: BaseException) -> None:
        """The call failed with ``err``: count system failures; an API answer counts as success.

        Anything else (a local error, a cancellation) proves nothing either way: it only frees
        the probe slot, so the next caller probes.
        """
        system, answered = is_system_failure(err), _api_answered(err)
        with self._lock:
            change = self._tick()
            moved = None
            if self._state == CLOSED and system:
                self._prune()
                self._failures.append(self._clock.monotonic())
                if len(self._failures) >= self.failure_threshold:
                    moved = self._open()
            elif self._state == HALF_OPEN:
                if system:
                    moved = self._open()
                elif answered:
                    moved = self._close()
                else:
                    self._probe_in_flight = False
            # While open, late results of calls admitted earlier change nothing.
        self._notify(change, moved)

    # --- readable state ----------------------------------------------------------------

    @property
    def state(self) -> str:
        """One of closed, open, half_open (open turns half_open once the recovery time is up)."""
        with self._lock:
            change = self._tick()
            state = self._state
        self._notify(change)
        return state

    @property
    def next_probe_at(self) -> float | None:
        """Monotonic time (s) a probe is allowed: None while closed or while a probe is out."""
        with self._lock:
            change = self._tick()
            at = None
            if self._state == OPEN or (self._state == HALF_OPEN and not self._probe_in_flight):
                at = self._opened_at + self.recovery_s
        self._notify(change)
        return at

    @property
    def retry_after_s(self) -> float:
        """Seconds until a call may be admitted (0 when one would be now)."""
        with self._lock:
            change = self._tick()
            wait = self._retry_after()
        self._notify(change)
        return wait

    def snapshot(self) -> dict:
        """State, failures in the window, when it opened and the next probe, for the health page."""
        with self._lock:
            change = self._tick()
            now = self._clock.monotonic()
            self._prune()
            next_in = None
            if self._state == OPEN or (self._state == HALF_OPEN and not self._probe_in_flight):
                next_in = max(0.0, self._opened_at + self.recovery_s - now)
            snap = {"state": self._state, "failures_in_window": len(self._failures),
                    "failure_threshold": self.failure_threshold, "window_s": self.window_s,
                    "recovery_s": self.recovery_s, "opened_at": self._opened_at,
                    "next_probe_in_s": next_in, "probe_in_flight": self._probe_in_flight}
        self._notify(change)
        if snap["state"] == CLOSED and (elsewhere := self._shared_open_s()) > 0:
            snap.update(state=OPEN, next_probe_in_s=elsewhere, opened_elsewhere=True)
        return snap
