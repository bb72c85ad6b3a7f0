"""The one retry layer (tenacity): which errors to retry, how long to wait, when to give up.

The SDK's own retries are off (``max_retries=0``) so that every attempt passes through
here once: exponential backoff with jitter and a cap, ``retry-after`` honoured up to
60 s, all within a total deadline measured on the injected clock.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import tenacity

from core.clock import Clock
from core.errors import TollgateError, UpstreamError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Retry settings; durations in seconds."""

    max_attempts: int = 4  # the first try plus three retries
    base_s: float = 0.5  # first backoff
    cap_s: float = 8.0  # longest backoff without a retry-after
    retry_after_cap_s: float = 60.0  # a longer retry-after is not honoured: give up instead
    deadline_s: float = 120.0  # no attempt starts after this much time since the first
    jitter: float = 0.25  # up to this fraction is taken off each backoff


def should_retry(err: BaseException) -> bool:
    """True for upstream errors marked retryable: connection, timeout, 408/409/429/5xx/529.

    Never for client errors, the spend cap, our own limiter or breaker refusals, or a
    stream that already delivered text.
    """
    return isinstance(err, UpstreamError) and err.retryable


def backoff_s(attempt: int, err: BaseException | None, policy: RetryPolicy,
              rand: Callable[[], float] = random.random) -> float:
    """Seconds to wait after failed ``attempt`` (1-based): retry-after if given, else capped exponential."""
    asked = getattr(err, "retry_after_s", None)
    if asked is not None and 0 <= asked <= policy.retry_after_cap_s:
        return float(asked)
    raw = min(policy.base_s * 2 ** (attempt - 1), policy.cap_s)
    return raw * (1 - policy.jitter * rand())


class stop_on_retry_after_over(tenacity.stop.stop_base):  # noqa: N801 - named like tenacity's stops
    """Stop when the last error asked for a wait (retry-after) longer than ``cap_s``: not worth honouring."""

    def __init__(self, cap_s: float) -> None:
        self.cap_s = cap_s

    def __call__(self, state: tenacity.RetryCallState) -> bool:
        err = state.outcome.exception() if state.outcome else None
        asked = getattr(err, "retry_after_s", None)
        return asked is not None and asked > self.cap_s


class stop_before_deadline(tenacity.stop.stop_base):  # noqa: N801 - named like tenacity's stops
    """Stop when the coming wait would end past ``deadline_s`` after ``started`` (on the injected clock).

    tenacity's own ``stop_before_delay`` reads ``time.monotonic`` and starts at its first
    attempt; ours starts before the bare first attempt and follows the test's clock.
    """

    def __init__(self, deadline_s: float, clock: Clock, started: float) -> None:
        self.deadline_s, self.clock, self.started = deadline_s, clock, started

    def __call__(self, state: tenacity.RetryCallState) -> bool:
        return self.clock.monotonic() - self.started + state.upcoming_sleep > self.deadline_s


def give_up(policy: RetryPolicy, clock: Clock, started: float) -> tenacity.stop.stop_base:
    """The policy's stop: attempts | a retry-after over the cap | the deadline (counting the coming wait)."""
    return (tenacity.stop_after_attempt(policy.max_attempts)
            | stop_on_retry_after_over(policy.retry_after_cap_s)
            | stop_before_deadline(policy.deadline_s, clock, started))


class Retrier:
    """Runs a callable under the policy; ``attempts`` of the last run is readable."""

    def __init__(self, policy: RetryPolicy, *, clock: Clock, sleep: Callable[[float], None],
                 rand: Callable[[], float] = random.random,
                 on_retry: Callable[[int, BaseException, float], None] | None = None) -> None:
        self.policy, self.clock, self.sleep, self.rand = policy, clock, sleep, rand
        self.on_retry = on_retry

    def run(self, fn: Callable[[], T], *,
            on_retry: Callable[[int, BaseException, float], None] | None = None) -> tuple[T, int]:
        """Call ``fn`` until it succeeds or we give up; returns (result, retries made).

        ``on_retry(attempt, error, wait_s)`` is told of each retry of this run, after the
        retrier's own hook. On giving up, the last error is raised with ``retries`` set on it.
        """
        policy = self.policy
        started = self.clock.monotonic()
        # The first attempt runs bare: most calls succeed, and tenacity's machinery is then skipped.
        try:
            return fn(), 0
        except TollgateError as err:
            if not should_retry(err) or policy.max_attempts <= 1:
                err.retries = 0
                raise
            first: TollgateError | None = err

        def wait(state: tenacity.RetryCallState) -> float:
            err = state.outcome.exception() if state.outcome else None
            return backoff_s(state.attempt_number, err, policy, self.rand)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            for hook in (self.on_retry, on_retry):
                if hook is not None:
                    hook(state.attempt_number, state.outcome.exception(), state.upcoming_sleep)

        retrying = tenacity.Retrying(
            sleep=self.sleep, stop=give_up(policy, self.clock, started), wait=wait,
            retry=tenacity.retry_if_exception(should_retry), before_sleep=before_sleep, reraise=True)
        attempts = 0

        def attempt() -> T:
            nonlocal attempts, first
            attempts += 1
            if first is not None:  # attempt 1 already ran above: tenacity sees its outcome and waits
                err, first = first, None
                raise err
            return fn()

        try:
            result = retrying(attempt)
        except TollgateError as err:
            err.retries = max(0, attempts - 1)
            raise
        return result, attempts - 1
