"""The retry layer: what is retried, how long it waits, when it gives up (nothing sleeps)."""

import pytest

from core import errors
from core.upstream import sdk_errors
from core.upstream.retry import Retrier, RetryPolicy, backoff_s, should_retry


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
    fn = failing(sdk_errors.from_status(status, None))
    result, retries = retrier(clock).run(fn)
    assert (result, retries, len(fn.calls)) == ("ok", 1, 2)


@pytest.mark.parametrize("status,etype", [(400, "invalid_request_error"), (401, "authentication_error"),
                                          (403, "permission_error"), (404, "not_found_error"),
                                          (413, "request_too_large"), (422, None)])
def test_client_errors_are_never_retried(clock, status, etype):
    fn = failing(sdk_errors.from_status(status, etype))
    with pytest.raises(errors.UpstreamError) as info:
        retrier(clock).run(fn)
    assert len(fn.calls) == 1 and clock.sleeps == [] and info.value.retries == 0


def test_spend_cap_429_is_final(clock):
    fn = failing(sdk_errors.from_status(429, "rate_limit_error", error_code="enforced_spend_limit_reached"))
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
    err = sdk_errors.from_status(429, "rate_limit_error", headers={"retry-after": "7"})
    fn = failing(err)
    retrier(clock).run(fn)
    assert clock.sleeps == [7.0]


def test_retry_after_ms_wins_over_retry_after(clock):
    err = sdk_errors.from_status(529, "overloaded_error", headers={"retry-after-ms": "250", "retry-after": "9"})
    retrier(clock).run(failing(err))
    assert clock.sleeps == [0.25]


def test_retry_after_over_sixty_seconds_gives_up(clock):
    err = sdk_errors.from_status(429, "rate_limit_error", headers={"retry-after": "600"})
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


# --- composed stops (tenacity-style: stop_a | stop_b) ----------------------------------------

def _state(attempt: int, err: BaseException | None = None, upcoming: float = 0.0):
    """A real tenacity RetryCallState after ``attempt`` failed with ``err``, about to wait ``upcoming``."""
    import tenacity

    state = tenacity.RetryCallState(tenacity.Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    if err is not None:
        state.set_exception((type(err), err, None))
    state.upcoming_sleep = upcoming
    return state


def test_give_up_is_an_or_of_three_stops(clock):
    import tenacity

    from core.upstream.retry import give_up, stop_before_deadline, stop_on_retry_after_over

    stop = give_up(RetryPolicy(max_attempts=3, retry_after_cap_s=60.0, deadline_s=10.0), clock, clock.monotonic())
    assert isinstance(stop, tenacity.stop.stop_any)
    def leaves(s):
        return [x for part in s.stops for x in leaves(part)] if isinstance(s, tenacity.stop.stop_any) else [s]

    kinds = [type(s) for s in leaves(stop)]
    assert tenacity.stop_after_attempt in kinds and stop_on_retry_after_over in kinds
    assert stop_before_deadline in kinds
    assert not stop(_state(1, errors.Overloaded(), upcoming=1.0))
    assert stop(_state(3, errors.Overloaded(), upcoming=1.0))  # attempts
    assert stop(_state(1, sdk_errors.from_status(429, "rate_limit_error", headers={"retry-after": "61"}), upcoming=0.0))  # retry-after cap
    assert stop(_state(1, errors.Overloaded(), upcoming=10.5))  # the coming wait ends past the deadline


def test_each_stop_alone_and_composed_with_or(clock):
    from core.upstream.retry import stop_before_deadline, stop_on_retry_after_over

    deadline = stop_before_deadline(10.0, clock, clock.monotonic())
    long_ask = stop_on_retry_after_over(60.0)
    ask = sdk_errors.from_status(429, "rate_limit_error", headers={"retry-after": "90"})
    assert long_ask(_state(1, ask)) and not long_ask(_state(1, errors.Overloaded()))
    assert not deadline(_state(1, errors.Overloaded(), upcoming=10.0))  # ends exactly at the deadline
    clock.advance(9.0)
    assert deadline(_state(1, errors.Overloaded(), upcoming=1.5))
    either = deadline | long_ask
    assert either(_state(1, ask, upcoming=0.0)) and either(_state(1, errors.Overloaded(), upcoming=2.0))
    assert not either(_state(1, errors.Overloaded(), upcoming=0.5))


def test_deadline_stop_follows_the_injected_clock_with_sleep_appended(clock):
    calls = []
    fn = failing(*[errors.Overloaded() for _ in range(10)])

    def slow():
        clock.advance(3.0)  # each attempt takes 3 s on the fake clock; nothing really sleeps
        return fn()

    r = Retrier(RetryPolicy(max_attempts=10, base_s=1.0, cap_s=1.0, deadline_s=10.0), clock=clock,
                sleep=calls.append, rand=lambda: 0.0)
    with pytest.raises(errors.Overloaded) as info:
        r.run(slow)
    # attempts end at 3, 6, 9, 12 s; a wait ending exactly at 10 s is allowed, 12 + 1 > 10 is not
    assert calls == [1.0, 1.0, 1.0] and len(fn.calls) == 4 and info.value.retries == 3
