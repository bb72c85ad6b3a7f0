"""The retry layer: what is retried, how long it waits, when it gives up (nothing sleeps)."""

import pytest

from core import errors
from core.retry import Retrier, RetryPolicy, backoff_s, should_retry


def failing(*errs, then="ok"):
    """A callable that raises each error in turn, then returns ``then``."""
    seq = list(errs)
    calls = []

    def fn():
        calls.append(1)
        if seq:
            raise seq.pop(0)
        return then
    fn.calls = calls
    return fn


def retrier(clock, **kw):
    return Retrier(RetryPolicy(**kw), clock=clock, sleep=clock.sleep, rand=lambda: 0.0)


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_retryable_statuses_are_retried(clock, status):
    fn = failing(errors.from_status(status, None))
    result, retries = retrier(clock).run(fn)
    assert (result, retries, len(fn.calls)) == ("ok", 1, 2)


@pytest.mark.parametrize("status,etype", [(400, "invalid_request_error"), (401, "authentication_error"),
                                          (403, "permission_error"), (404, "not_found_error"),
                                          (413, "request_too_large"), (422, None)])
def test_client_errors_are_never_retried(clock, status, etype):
    fn = failing(errors.from_status(status, etype))
    with pytest.raises(errors.UpstreamError) as info:
        retrier(clock).run(fn)
    assert len(fn.calls) == 1 and clock.sleeps == [] and info.value.retries == 0


def test_spend_cap_429_is_final(clock):
    fn = failing(errors.from_status(429, "rate_limit_error", error_code="enforced_spend_limit_reached"))
    with pytest.raises(errors.SpendCapReached):
        retrier(clock).run(fn)
    assert len(fn.calls) == 1


def test_connection_errors_and_timeouts_are_retried(clock):
    fn = failing(errors.ConnectionFailed(), errors.Timeout())
    assert retrier(clock).run(fn) == ("ok", 2)


def test_exponential_backoff_with_cap(clock):
    fn = failing(*[errors.Overloaded() for _ in range(5)])
    retrier(clock, max_attempts=6, base_s=0.5, cap_s=2.0).run(fn)
    assert clock.sleeps == [0.5, 1.0, 2.0, 2.0, 2.0]


def test_jitter_takes_off_at_most_a_quarter():
    policy = RetryPolicy(base_s=1.0, cap_s=100)
    assert backoff_s(3, None, policy, rand=lambda: 1.0) == pytest.approx(3.0)
    assert backoff_s(3, None, policy, rand=lambda: 0.0) == 4.0


def test_retry_after_is_honoured(clock):
    err = errors.from_status(429, "rate_limit_error", headers={"retry-after": "7"})
    fn = failing(err)
    retrier(clock).run(fn)
    assert clock.sleeps == [7.0]


def test_retry_after_ms_wins_over_retry_after(clock):
    err = errors.from_status(529, "overloaded_error", headers={"retry-after-ms": "250", "retry-after": "9"})
    retrier(clock).run(failing(err))
    assert clock.sleeps == [0.25]


def test_retry_after_over_sixty_seconds_gives_up(clock):
    err = errors.from_status(429, "rate_limit_error", headers={"retry-after": "600"})
    fn = failing(err)
    with pytest.raises(errors.UpstreamRateLimited):
        retrier(clock).run(fn)
    assert len(fn.calls) == 1 and clock.sleeps == []


def test_attempts_are_capped(clock):
    fn = failing(*[errors.UpstreamServerError() for _ in range(10)])
    with pytest.raises(errors.UpstreamServerError) as info:
        retrier(clock, max_attempts=3).run(fn)
    assert len(fn.calls) == 3 and info.value.retries == 2


def test_total_deadline_counts_the_coming_wait(clock):
    fn = failing(*[errors.Overloaded() for _ in range(10)])
    with pytest.raises(errors.Overloaded):
        retrier(clock, max_attempts=10, base_s=4.0, cap_s=4.0, deadline_s=10.0).run(fn)
    assert sum(clock.sleeps) <= 10.0 and len(fn.calls) == 3


def test_own_refusals_are_not_retried():
    assert not should_retry(errors.RateLimited("requests per minute", 3.0))
    assert not should_retry(errors.CircuitOpen(5.0))
    assert not should_retry(errors.StreamInterrupted(partial_text="half"))
    assert should_retry(errors.Overloaded())


def test_sleep_is_injected_like_tenacity_tests(clock):
    calls = []
    r = Retrier(RetryPolicy(), clock=clock, sleep=calls.append, rand=lambda: 0.0)
    r.run(failing(errors.Overloaded()))
    assert calls == [0.5]
