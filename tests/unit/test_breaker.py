"""The circuit breaker's transitions, window, single probe and error classes, on a fake clock."""

from __future__ import annotations

import pytest

from core import errors as E
from core.upstream.breaker import CircuitBreaker, is_system_failure
from tests.conftest import run_threads

SYSTEM = [E.Overloaded(), E.UpstreamServerError(), E.ConnectionFailed(), E.Timeout(),
          E.StreamInterrupted(partial_text="Hel")]
ANSWERED = [E.InvalidRequest(), E.AuthenticationFailed(), E.PermissionDenied(), E.NotFound(),
            E.RequestTooLarge(), E.SpendCapReached(), E.UpstreamRateLimited()]
LOCAL = [E.ValidationError("bad"), E.BudgetExceeded("ann", 0, 1), ValueError("bug"), KeyboardInterrupt()]


@pytest.fixture
def changes():
    return []


@pytest.fixture
def breaker(clock, changes):
    return CircuitBreaker(failure_threshold=3, window_s=60, recovery_s=30, clock=clock,
                          on_change=lambda old, new: changes.append((old, new)))


def trip(breaker):
    for _ in range(breaker.failure_threshold):
        breaker.before_call()
        breaker.record_failure(E.Overloaded())


def probe_fails(breaker, clock, err, after_s: float = 30) -> None:
    """Open the breaker, wait ``after_s`` seconds, then let the half-open probe fail with ``err``."""
    trip(breaker)
    clock.advance(after_s)
    breaker.before_call()
    breaker.record_failure(err)


def test_opens_after_threshold_failures_and_refuses(breaker, clock, changes):
    breaker.before_call()
    breaker.record_failure(E.Overloaded())
    breaker.record_failure(E.Timeout())
    assert breaker.state == "closed"
    assert breaker.snapshot()["failures_in_window"] == 2
    breaker.record_failure(E.ConnectionFailed())
    assert breaker.state == "open"
    assert changes == [("closed", "open")]
    clock.advance(10)
    with pytest.raises(E.CircuitOpen) as exc:
        breaker.before_call()
    assert exc.value.retry_after_s == pytest.approx(20)
    assert breaker.next_probe_at == pytest.approx(clock.monotonic() + 20)


def test_old_failures_fall_out_of_the_window(breaker, clock):
    breaker.record_failure(E.Overloaded())
    clock.advance(30)
    breaker.record_failure(E.Overloaded())
    clock.advance(31)  # the first is now 61 s old
    breaker.record_failure(E.Overloaded())
    assert breaker.state == "closed"
    assert breaker.snapshot()["failures_in_window"] == 2
    breaker.record_failure(E.Overloaded())
    assert breaker.state == "open"


def test_half_open_after_recovery_admits_exactly_one_probe(breaker, clock, changes):
    trip(breaker)
    clock.advance(29.9)
    assert breaker.state == "open"
    assert breaker.retry_after_s == pytest.approx(0.1)
    clock.advance(0.1)
    assert breaker.state == "half_open"
    assert breaker.retry_after_s == 0.0
    assert breaker.next_probe_at == pytest.approx(clock.monotonic())
    breaker.before_call()  # the probe
    assert breaker.snapshot()["probe_in_flight"] is True
    assert breaker.next_probe_at is None
    with pytest.raises(E.CircuitOpen):
        breaker.before_call()
    breaker.record_success()
    assert breaker.state == "closed"
    assert breaker.snapshot()["failures_in_window"] == 0
    assert changes == [("closed", "open"), ("open", "half_open"), ("half_open", "closed")]
    breaker.before_call()
    breaker.record_failure(E.Overloaded())
    assert breaker.state == "closed"  # the failures before opening were cleared


def test_failed_probe_reopens_with_a_fresh_recovery(breaker, clock):
    probe_fails(breaker, clock, E.UpstreamServerError(), after_s=45)
    assert breaker.state == "open"
    snap = breaker.snapshot()
    assert snap["opened_at"] == clock.monotonic()
    assert snap["next_probe_in_s"] == pytest.approx(30)
    with pytest.raises(E.CircuitOpen) as exc:
        breaker.before_call()
    assert exc.value.retry_after_s == pytest.approx(30)


@pytest.mark.parametrize("err", ANSWERED, ids=lambda e: type(e).__name__)
def test_client_errors_never_count(breaker, err):
    for _ in range(10):
        breaker.before_call()
        breaker.record_failure(err)
    assert breaker.state == "closed"
    assert breaker.snapshot()["failures_in_window"] == 0


@pytest.mark.parametrize("err", ANSWERED, ids=lambda e: type(e).__name__)
def test_an_api_answer_in_half_open_closes(breaker, clock, err):
    probe_fails(breaker, clock, err)
    assert breaker.state == "closed"


@pytest.mark.parametrize("err", LOCAL, ids=lambda e: type(e).__name__)
def test_a_local_error_frees_the_probe_without_deciding(breaker, clock, err):
    probe_fails(breaker, clock, err)
    assert breaker.state == "half_open"
    breaker.before_call()  # the slot is free again: the next caller probes
    with pytest.raises(E.CircuitOpen):
        breaker.before_call()


def test_late_results_while_open_change_nothing(breaker, clock):
    trip(breaker)
    clock.advance(10)
    breaker.record_success()
    breaker.record_failure(E.Overloaded())
    assert breaker.state == "open"
    assert breaker.retry_after_s == pytest.approx(20)


def test_many_threads_get_exactly_one_probe(breaker, clock):
    trip(breaker)
    clock.advance(30)
    n, admitted, refused = 32, [], []

    def call(_):
        try:
            breaker.before_call()
            admitted.append(1)
        except E.CircuitOpen:
            refused.append(1)

    assert run_threads(call, n, timeout_s=2) == []
    assert (len(admitted), len(refused)) == (1, n - 1)


@pytest.mark.parametrize("err", SYSTEM, ids=lambda e: type(e).__name__)
def test_system_failures(err):
    assert is_system_failure(err)


@pytest.mark.parametrize("err", ANSWERED + LOCAL, ids=lambda e: type(e).__name__)
def test_not_system_failures(err):
    assert not is_system_failure(err)


def test_sdk_and_retry_wrapped_errors_are_classified():
    import anthropic
    import httpx2
    import tenacity

    raw = anthropic.APIConnectionError(request=httpx2.Request("POST", "https://api.invalid/v1/messages"))
    assert is_system_failure(raw)
    wrapped = tenacity.Future(3)
    wrapped.set_exception(E.Overloaded())
    assert is_system_failure(tenacity.RetryError(wrapped))
    answered = tenacity.Future(1)
    answered.set_exception(E.InvalidRequest())
    assert not is_system_failure(tenacity.RetryError(answered))


def test_callbacks_may_read_the_breaker_and_may_fail(clock):
    seen = []

    def on_change(old, new):
        seen.append((old, new, cb.state))
        raise RuntimeError("metrics are down")

    cb = CircuitBreaker(failure_threshold=1, recovery_s=5, clock=clock, on_change=on_change)
    cb.record_failure(E.Timeout())  # would deadlock if the callback ran under the lock
    clock.advance(5)
    cb.before_call()
    assert seen == [("closed", "open", "open"), ("open", "half_open", "half_open")]


def test_closed_snapshot_and_validation(clock):
    cb = CircuitBreaker(clock=clock)
    assert (cb.state, cb.next_probe_at, cb.retry_after_s) == ("closed", None, 0.0)
    snap = cb.snapshot()
    assert (snap["opened_at"], snap["next_probe_in_s"], snap["failure_threshold"]) == (None, None, 5)
    with pytest.raises(ValueError):
        CircuitBreaker(failure_threshold=0, clock=clock)
    with pytest.raises(TypeError):
        CircuitBreaker()  # the clock is required
