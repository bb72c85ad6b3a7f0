"""Client-side rate limits, in process: per-minute token buckets and concurrency caps.

Each call is checked against the global buckets and the caller's own ones, all at once:
one request, its input tokens (estimated; cache reads excluded by the caller) and its
``max_tokens`` as reserved output, plus a slot among the calls in flight. It waits (through
the injected ``sleep``) while the wait stays within ``max_wait_s``, else raises RateLimited.
Server ``anthropic-ratelimit-*`` headers can only tighten the global buckets.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from core.clock import Clock
from core.errors import RateLimited, scrub
from core.guards.buckets import TokenBucket
from core.observability import events

log = logging.getLogger(__name__)

# Bucket kinds, the limit text a RateLimited carries, and the server's header families.
_KINDS = ("requests", "input_tokens", "output_tokens")
_NAMES = {"requests": "requests per minute", "input_tokens": "input tokens per minute",
          "output_tokens": "output tokens per minute"}
_FAMILIES = {"requests": "requests", "input-tokens": "input_tokens", "output-tokens": "output_tokens"}
CONCURRENCY = "concurrent requests"
# When a slot will free up is unknown; this is only the hint a refusal carries (s).
_SLOT_RETRY_HINT_S = 1.0
# Above this many remembered users, idle ones with full buckets (same as new) are forgotten.
_MAX_USERS = 1000
_EPS = 1e-9


@dataclass(frozen=True)
class LimitSpec:
    """One set of limits; each None means unlimited. Per-minute values, concurrency in calls."""

    rpm: float | None = None
    input_tpm: float | None = None
    output_tpm: float | None = None
    concurrency: int | None = None

    def __post_init__(self) -> None:
        for name in ("rpm", "input_tpm", "output_tpm"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= 1):
                raise ValueError(f"{name} must be at least 1 per minute (or None), not {value!r}")
        if self.concurrency is not None and (int(self.concurrency) != self.concurrency
                                             or self.concurrency < 1):
            raise ValueError(f"concurrency must be a whole number >= 1 (or None), not {self.concurrency!r}")

    def per_minute(self) -> dict[str, float | None]:
        return {"requests": self.rpm, "input_tokens": self.input_tpm, "output_tokens": self.output_tpm}


@dataclass(frozen=True)
class LimitConfig:
    """Global limits, limits per user, and the longest a call may wait for them (s)."""

    global_: LimitSpec
    per_user: LimitSpec
    max_wait_s: float = 10.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.max_wait_s) and self.max_wait_s >= 0):
            raise ValueError(f"max_wait_s must be a non-negative number, not {self.max_wait_s!r}")


class _Scope:
    """The buckets and in-flight count of one owner: everyone (user None) or one user."""

    def __init__(self, user: str | None, spec: LimitSpec, clock: Clock) -> None:
        self.user = user
        self.buckets = {kind: TokenBucket.per_minute(limit, clock)
                        for kind, limit in spec.per_minute().items() if limit is not None}
        self.concurrency = spec.concurrency
        self.in_flight = 0

    def idle_and_full(self) -> bool:
        return self.in_flight == 0 and all(b.level >= b.capacity for b in self.buckets.values())

    def snapshot(self) -> dict:
        out: dict = {kind: (self.buckets[kind].snapshot() if kind in self.buckets else None)
                     for kind in _KINDS}
        out["concurrency"] = {"limit": self.concurrency, "in_use": self.in_flight}
        return out


class Permit:
    """An admitted call's reservation; ``settle`` corrects it, ``release`` frees the slot."""

    def __init__(self, lock: threading.Lock, scopes: tuple[_Scope, ...],
                 input_tokens: int, max_tokens: int) -> None:
        self._lock = lock
        self._scopes = scopes
        # The bucket objects charged, kept so a later header-created bucket is never credited.
        self._charged = [(kind, b) for s in scopes for kind, b in s.buckets.items()]
        self._input = input_tokens
        self._output = max_tokens
        self._released = False

    def settle(self, input_tokens: int, output_tokens: int) -> None:
        """Correct the reservation to the real counts (input excludes cache reads)."""
        with self._lock:
            delta = {"input_tokens": input_tokens - self._input,
                     "output_tokens": output_tokens - self._output}
            for kind, bucket in self._charged:
                d = delta.get(kind, 0)
                if d > 0:
                    bucket.take(d)
                elif d < 0:
                    bucket.give_back(-d)
            self._input, self._output = input_tokens, output_tokens

    def release(self) -> None:
        """Free the concurrency slot; safe to call more than once."""
        with self._lock:
            if self._released:
                return
            self._released = True
            for scope in self._scopes:
                scope.in_flight -= 1

    @property
    def released(self) -> bool:
        return self._released

    def __enter__(self) -> Permit:
        return self

    def __exit__(self, *exc) -> None:
        # Unsettled, the reservation stays charged: a failed call still used a request.
        self.release()


class RateLimiter:
    """Global and per-user limits for one process; thread-safe. ``sleep`` takes seconds."""

    def __init__(self, config: LimitConfig, clock: Clock, sleep: Callable[[float], None],
                 *, poll_s: float = 0.02) -> None:
        self._config = config
        self._clock = clock
        self._sleep = sleep
        self._poll_s = poll_s  # how often a call waiting for a free slot looks again (s)
        self._lock = threading.Lock()
        self._global = _Scope(None, config.global_, clock)
        self._users: dict[str, _Scope] = {}
        self._server: dict[str, dict] = {}  # the last anthropic-ratelimit-* report per family

    @property
    def config(self) -> LimitConfig:
        return self._config

    def _user_scope(self, user: str) -> _Scope:
        scope = self._users.get(user)
        if scope is None:
            if len(self._users) >= _MAX_USERS:
                self._users = {u: s for u, s in self._users.items() if not s.idle_and_full()}
            scope = self._users[user] = _Scope(user, self._config.per_user, self._clock)
        return scope

    def acquire(self, user: str, input_tokens: int, max_tokens: int) -> Permit:
        """Admit one call, waiting up to ``max_wait_s`` in total, or raise RateLimited."""
        if input_tokens < 0 or max_tokens < 0:
            raise ValueError("token counts cannot be negative")
        start = self._clock.monotonic()
        waited: list[str] = []  # the limits waited for, reported once the call is admitted
        try:
            permit = self._admit(user, input_tokens, max_tokens, start, waited)
        except RateLimited as err:
            events.limiter_rejected(user, err.limit, err.retry_after_s)
            raise
        if waited:
            events.limiter_waited(user, self._clock.monotonic() - start, waited[-1])
        return permit

    def _admit(self, user: str, input_tokens: int, max_tokens: int, start: float, waited: list[str]) -> Permit:
        amounts = {"requests": 1, "input_tokens": input_tokens, "output_tokens": max_tokens}
        while True:
            with self._lock:
                scopes = (self._global, self._user_scope(user))
                _refuse_if_never_fits(scopes, amounts)
                wait, binding = 0.0, None
                for scope in scopes:
                    for kind, bucket in scope.buckets.items():
                        w = bucket.time_until(amounts[kind])
                        if w > wait:
                            wait, binding = w, (_NAMES[kind], scope.user)
                busy = next((s for s in scopes
                             if s.concurrency is not None and s.in_flight >= s.concurrency), None)
                if binding is None and busy is None:
                    for scope in scopes:
                        for kind, bucket in scope.buckets.items():
                            bucket.take(amounts[kind])
                        scope.in_flight += 1
                    return Permit(self._lock, scopes, input_tokens, max_tokens)
            left = self._config.max_wait_s - (self._clock.monotonic() - start)
            if binding is not None and wait > left + _EPS:
                raise RateLimited(binding[0], retry_after_s=wait, user=binding[1])
            if busy is None:
                waited[:] = [binding[0]]
                self._sleep(wait)
            elif left <= _EPS:
                raise RateLimited(CONCURRENCY, retry_after_s=max(wait, _SLOT_RETRY_HINT_S), user=busy.user)
            else:
                waited[:] = [CONCURRENCY]
                self._sleep(min(max(wait, self._poll_s), left))

    def observe_headers(self, headers: Mapping[str, str], user: str | None = None) -> None:
        """Tighten the global buckets to what the server reports; malformed headers are ignored.

        The server's limits are organisation-wide, so ``user`` (whose response carried the
        headers) is only logged. Call it after ``Permit.settle`` so the reservation is final.
        """
        reports = server_reports(headers)
        with self._lock:
            for family, kind in _FAMILIES.items():
                report = reports.get(family)
                if report is None:
                    continue
                self._server[family] = report
                bucket = self._global.buckets.get(kind)
                if bucket is None:
                    if report["limit"] is None or report["limit"] < 1:
                        continue
                    # Unlimited in our config: the server's limit is the real one.
                    bucket = self._global.buckets[kind] = TokenBucket.per_minute(report["limit"],
                                                                                 self._clock)
                if bucket.tighten(capacity=report["limit"], level=report["remaining"]):
                    log.debug("server limits tightened %s after a call by %s: %s",
                              _NAMES[kind], user, report)

    def snapshot(self) -> dict:
        """Every bucket's capacity, level and refill, and slots in use, for the health page."""
        with self._lock:
            server = {family: {**r, "reset": r["reset"].isoformat() if r["reset"] else None}
                      for family, r in self._server.items()}
            return {"max_wait_s": self._config.max_wait_s,
                    "global": self._global.snapshot(),
                    "users": {u: s.snapshot() for u, s in sorted(self._users.items())},
                    "server": server}


def server_reports(headers: Mapping[str, str]) -> dict[str, dict]:
    """The ``anthropic-ratelimit-*`` families a response reported: {family: {limit, remaining, reset}}."""
    try:  # one pass, keeping only these headers (httpx2.Headers.get scans every header each time)
        items = headers.multi_items() if hasattr(headers, "multi_items") else headers.items()
        lower = {k.lower(): v for k, v in items if k[:20].lower() == "anthropic-ratelimit-"}
    except (AttributeError, TypeError):
        return {}
    if not lower:
        return {}
    reports = {}
    for family in (*_FAMILIES, "tokens"):
        prefix = f"anthropic-ratelimit-{family}"
        try:  # a family with a garbled count is suspect as a whole
            limit = _count(lower.get(f"{prefix}-limit"))
            remaining = _count(lower.get(f"{prefix}-remaining"))
        except ValueError:
            continue
        if (limit is None and remaining is None) or (
                limit is not None and remaining is not None and remaining > limit):
            continue
        reports[family] = {"limit": limit, "remaining": remaining,
                           "reset": _rfc3339(lower.get(f"{prefix}-reset"))}
    # "tokens" is whichever token limit is most restrictive, so it stands in only for a
    # family the response did not report on its own.
    if "tokens" in reports:
        for family in ("input-tokens", "output-tokens"):
            reports.setdefault(family, reports["tokens"])
    return reports


def _refuse_if_never_fits(scopes: tuple[_Scope, ...], amounts: dict[str, int]) -> None:
    """Raise at once when a request is larger than a bucket can ever hold: waiting cannot help."""
    for scope in scopes:
        for kind, bucket in scope.buckets.items():
            if amounts[kind] > bucket.capacity:
                raise never_fits(kind, bucket.capacity, amounts[kind], scope.user)


def never_fits(kind: str, capacity: float, needed: int, user: str | None) -> RateLimited:
    """The refusal, not retryable, of a request larger than a ``kind`` bucket of ``capacity`` can ever hold."""
    err = RateLimited(_NAMES[kind], retry_after_s=math.inf, user=user)
    err.retryable = False
    who = f" for user {user!r}" if user else ""
    fix = "Lower max_tokens." if kind == "output_tokens" else "Shorten the prompt."
    err.message = scrub(f"This request can never pass the client-side limit of "
                        f"{capacity:,.0f} {_NAMES[kind]}{who}: it needs {needed:,}. {fix}")
    err.args = (err.message,)
    return err


def _count(raw: object) -> float | None:
    """A non-negative finite number from a header value, None when missing; ValueError if malformed."""
    if raw is None:
        return None
    value = float(str(raw).strip())
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"not a count: {raw!r}")
    return value


def _rfc3339(raw: object) -> datetime | None:
    """An RFC 3339 timestamp (``Z`` or an offset) as an aware datetime, or None."""
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None
