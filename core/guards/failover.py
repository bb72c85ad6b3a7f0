"""TOLLGATE_LIMITS=redis: the shared limiter, with the failure mode applied when Redis is unreachable.

``FailoverLimiter`` has the ``RateLimiter`` interface. Each call goes to the Redis limiter;
when Redis does not answer, ``SharedState.run`` refuses it (closed) or admits it through a
per-process limiter whose every limit is divided by the replica count (open): N replicas
each keeping 1/N of a limit admit the limit in total, as the shared one would. The first
call after Redis is back uses it again. ``shared_for`` keeps one ``SharedState`` per process
and Redis, so the limiter, lock-outs, breaker and keys share one connection and one verdict.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping

from core.clock import Clock
from core.guards.limits import LimitConfig, LimitSpec, RateLimiter
from core.guards.redis_limits import RedisRateLimiter
from core.guards.shared import SharedState

PART = "rate limits"

_states: dict[tuple, SharedState] = {}
_states_lock = threading.Lock()


def shared_for(settings) -> SharedState | None:
    """This process's SharedState for the settings' Redis (None with TOLLGATE_LIMITS=memory)."""
    if getattr(settings, "limits", "memory") != "redis":
        return None
    key = (settings.redis_url, settings.redis_prefix, settings.shared_state_failure, settings.replicas)
    with _states_lock:
        state = _states.get(key)
        if state is None:
            state = _states[key] = SharedState(settings.redis_url, failure=settings.shared_state_failure,
                                               replicas=settings.replicas, prefix=settings.redis_prefix)
        return state


def divided(spec: LimitSpec, replicas: int) -> LimitSpec:
    """``spec`` with every limit split ``replicas`` ways (at least 1 each: a tiny limit may be exceeded N-fold)."""
    def share(v):
        return None if v is None else max(1.0, v / replicas)

    conc = None if spec.concurrency is None else max(1, spec.concurrency // replicas)
    return LimitSpec(rpm=share(spec.rpm), input_tpm=share(spec.input_tpm), output_tpm=share(spec.output_tpm),
                     concurrency=conc)


class FailoverLimiter:
    """The Redis limiter while Redis answers; else refuse (closed) or this process's 1/N share (open)."""

    def __init__(self, config: LimitConfig, state: SharedState, *, clock: Clock, sleep: Callable[[float], None],
                 lease_s: float = 30.0, use_clock_time: bool = False, heartbeat: bool = True) -> None:
        self._config, self.shared_state = config, state
        self._redis = RedisRateLimiter(config, state.client(), sleep=sleep, clock=clock, prefix=state.prefix,
                                       lease_s=lease_s, use_clock_time=use_clock_time, heartbeat=heartbeat,
                                       on_error=self._permit_error)
        n = state.replicas
        self._local = RateLimiter(LimitConfig(divided(config.global_, n), divided(config.per_user, n),
                                              config.max_wait_s), clock, sleep)

    @property
    def config(self) -> LimitConfig:
        return self._config

    @property
    def redis(self) -> RedisRateLimiter:
        return self._redis

    @property
    def local(self) -> RateLimiter:
        return self._local

    def _permit_error(self, op: str, exc: BaseException) -> None:
        if self.shared_state.unreachable(exc):
            self.shared_state.failed(PART, exc)

    def acquire(self, user: str, input_tokens: int, max_tokens: int):
        """Admit one call (a Redis or a local permit: both settle and release), or raise."""
        return self.shared_state.run(PART, lambda _r: self._redis.acquire(user, input_tokens, max_tokens),
                                     lambda: self._local.acquire(user, input_tokens, max_tokens))

    def observe_headers(self, headers: Mapping[str, str], user: str | None = None) -> None:
        """Tighten the shared buckets and the local fallback's; never raises after a finished call."""
        self._local.observe_headers(headers, user)
        self._quietly(lambda: self._redis.observe_headers(headers, user))

    def _quietly(self, fn):
        """``fn()`` on Redis unless it is known down; an outage is noted, not counted as a call's fallback."""
        state = self.shared_state
        if not state.usable():
            return None
        try:
            return fn()
        except Exception as exc:
            if not state.unreachable(exc):
                raise
            state.failed(PART, exc)
            return None

    def snapshot(self) -> dict:
        """The shared figures when Redis answers, else the local fallback's; ``shared`` says which."""
        snap = self._quietly(self._redis.snapshot)  # a scrape or a page view is no fallback to count
        if snap is None:
            snap = {**self._local.snapshot(), "backend": "local fallback"}
        return {**snap, "shared": self.shared_state.snapshot()}

    def close(self) -> None:
        self._redis.close()
