"""One contract, two limiters: the in-process RateLimiter and the Redis one (on a fake clock, so nothing sleeps).

The Redis limiter is given the test's clock in place of Redis TIME (``use_clock_time``), so both
backends see exactly the same time and every wait can be asserted to the millisecond.
"""

from __future__ import annotations

import math

import pytest

from core.errors import RateLimited
from core.guards.limits import CONCURRENCY, LimitConfig, LimitSpec, RateLimiter
from core.guards.redis_limits import RedisRateLimiter
from tests.conftest import require_service
from tests.integration.shared_redis import drop_prefix, fresh_prefix, machine_redis_url
from tests.limit_checks import OTPM, RPM, burst_then_refill


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def make(request, clock):
    """``make(global_spec, user_spec, max_wait_s)``: a limiter of the backend under test on ``clock``."""
    made = []
    if request.param == "redis":
        require_service("Redis", "127.0.0.1", 6379)
        import redis

        url, prefix = machine_redis_url(), fresh_prefix()
        client = redis.Redis.from_url(url)

    def build(glob: LimitSpec | None = None, user: LimitSpec | None = None, max_wait_s: float = 10.0, **kw):
        cfg = LimitConfig(global_=glob or LimitSpec(), per_user=user or LimitSpec(), max_wait_s=max_wait_s)
        if request.param == "memory":
            return RateLimiter(cfg, clock, clock.sleep)
        lim = RedisRateLimiter(cfg, client, sleep=clock.sleep, clock=clock, prefix=prefix, use_clock_time=True,
                               heartbeat=False, **kw)
        made.append(lim)
        return lim

    build.backend = request.param
    yield build
    if request.param == "redis":
        client.close()
        drop_prefix(url, prefix)


def level(lim, kind: str = "requests") -> float:
    return lim.snapshot()["global"][kind]["level"]


def test_a_full_bucket_admits_a_burst_then_waits_exactly_the_refill(make, clock):
    lim = make(LimitSpec(rpm=60, output_tpm=6000))
    burst_then_refill(lim, clock)


def test_refuses_at_once_when_the_wait_would_exceed_max_wait(make, clock):
    lim = make(LimitSpec(output_tpm=600), max_wait_s=10)
    lim.acquire("ann", 0, 600).release()
    with pytest.raises(RateLimited) as exc:
        lim.acquire("ann", 0, 200)
    assert (exc.value.limit, exc.value.user, exc.value.retryable) == (OTPM, None, True)
    assert exc.value.retry_after_s == pytest.approx(20.0)
    assert clock.sleeps == []


def test_per_user_buckets_are_apart_and_the_global_one_is_shared(make, clock):
    lim = make(LimitSpec(rpm=3), LimitSpec(rpm=2), max_wait_s=0)
    lim.acquire("ann", 0, 0).release()
    lim.acquire("ann", 0, 0).release()
    with pytest.raises(RateLimited) as exc:
        lim.acquire("ann", 0, 0)
    assert (exc.value.limit, exc.value.user) == (RPM, "ann")
    lim.acquire("bob", 0, 0).release()  # bob has his own two, but only one is left globally
    with pytest.raises(RateLimited) as exc:
        lim.acquire("bob", 0, 0)
    assert exc.value.user is None


def test_a_refused_call_takes_nothing_from_any_bucket(make, clock):
    """All buckets at once or none: the user's empty bucket refuses, and the global one keeps its unit."""
    lim = make(LimitSpec(rpm=10), LimitSpec(output_tpm=100), max_wait_s=0)
    lim.acquire("ann", 0, 100).release()
    before = level(lim)
    with pytest.raises(RateLimited):
        lim.acquire("ann", 0, 50)
    assert level(lim) == pytest.approx(before)


def test_a_request_larger_than_a_bucket_is_refused_for_good(make, clock):
    lim = make(LimitSpec(input_tpm=1000), LimitSpec(output_tpm=500))
    with pytest.raises(RateLimited) as exc:
        lim.acquire("ann", 1001, 1)
    assert exc.value.retryable is False and math.isinf(exc.value.retry_after_s) and "Shorten" in exc.value.message
    with pytest.raises(RateLimited) as exc:
        lim.acquire("ann", 1, 501)
    assert exc.value.user == "ann" and "Lower max_tokens" in exc.value.message
    assert clock.sleeps == []


def test_settling_gives_back_the_unused_reservation_and_charges_the_excess(make, clock):
    lim = make(LimitSpec(output_tpm=6000, input_tpm=1000), max_wait_s=30)
    p = lim.acquire("ann", 100, 6000)
    p.settle(100, 200)  # only 200 of the 6000 reserved were written
    p.release()
    assert level(lim, "output_tokens") == pytest.approx(5800)
    q = lim.acquire("ann", 100, 100)
    q.settle(700, 100)  # the estimate was 600 short: a debt the next call waits for
    q.release()
    assert level(lim, "input_tokens") == pytest.approx(200)
    lim.acquire("ann", 500, 0).release()
    assert clock.sleeps == [pytest.approx(18.0)]  # 300 missing tokens at 1000/60 a second


def test_concurrency_slots_refuse_then_free_on_release(make, clock):
    lim = make(LimitSpec(concurrency=2), LimitSpec(concurrency=5), max_wait_s=0)
    a, b = lim.acquire("ann", 0, 0), lim.acquire("bob", 0, 0)
    with pytest.raises(RateLimited) as exc:
        lim.acquire("cy", 0, 0)
    assert exc.value.limit == CONCURRENCY and exc.value.retry_after_s >= 1.0
    a.release()
    a.release()  # twice is harmless: it frees one slot, once
    c = lim.acquire("cy", 0, 0)
    with pytest.raises(RateLimited):
        lim.acquire("dee", 0, 0)
    assert a.released and not b.released
    b.release(), c.release()


def test_the_per_user_concurrency_cap(make, clock):
    lim = make(user=LimitSpec(concurrency=1), max_wait_s=0)
    with lim.acquire("ann", 0, 0):
        with pytest.raises(RateLimited) as exc:
            lim.acquire("ann", 0, 0)
        assert exc.value.user == "ann"
        lim.acquire("bob", 0, 0).release()
    lim.acquire("ann", 0, 0).release()


def test_server_headers_tighten_but_never_loosen(make, clock):
    lim = make(LimitSpec(rpm=100), max_wait_s=0)
    lim.observe_headers({"anthropic-ratelimit-requests-limit": "50",
                         "anthropic-ratelimit-requests-remaining": "2"})
    lim.acquire("ann", 0, 0).release()
    lim.acquire("ann", 0, 0).release()
    with pytest.raises(RateLimited) as exc:
        lim.acquire("ann", 0, 0)
    assert exc.value.retry_after_s == pytest.approx(60 / 50)  # refilled at the server's rate
    lim.observe_headers({"Anthropic-RateLimit-Requests-Limit": "500",
                         "anthropic-ratelimit-requests-remaining": "500"})
    assert lim.snapshot()["global"]["requests"]["capacity"] == 50


def test_a_limit_only_the_server_reports_becomes_a_bucket(make, clock):
    lim = make(max_wait_s=0)
    lim.observe_headers({"anthropic-ratelimit-output-tokens-limit": "1000",
                         "anthropic-ratelimit-output-tokens-remaining": "100", "garbage": "x"})
    lim.acquire("ann", 0, 100).release()
    with pytest.raises(RateLimited) as exc:
        lim.acquire("ann", 0, 50)
    assert exc.value.limit == OTPM
    lim.observe_headers({"anthropic-ratelimit-requests-limit": "NaN"})  # malformed: ignored
    assert lim.snapshot()["global"]["requests"] is None


def test_negative_token_counts_are_a_value_error(make, clock):
    with pytest.raises(ValueError):
        make().acquire("ann", -1, 0)


# --- what only the Redis limiter has: leases ----------------------------------------------

@pytest.fixture
def redis_make(clock):
    require_service("Redis", "127.0.0.1", 6379)
    import redis

    url, prefix = machine_redis_url(), fresh_prefix()
    client = redis.Redis.from_url(url)

    def build(glob: LimitSpec, **kw):
        return RedisRateLimiter(LimitConfig(glob, LimitSpec(), max_wait_s=0), client, sleep=clock.sleep,
                                clock=clock, prefix=prefix, use_clock_time=True, heartbeat=False, **kw)
    yield build
    client.close()
    drop_prefix(url, prefix)


@pytest.mark.redis
def test_a_slot_nobody_renews_expires_with_its_lease_and_a_renewed_one_does_not(redis_make, clock):
    lim = redis_make(LimitSpec(concurrency=1), lease_s=3.0)
    held = lim.acquire("ann", 0, 0)
    clock.advance(2.0)
    assert lim.renew() == 1  # renewed at t=2: good until t=5
    clock.advance(2.5)
    with pytest.raises(RateLimited):
        lim.acquire("bob", 0, 0)
    clock.advance(0.6)  # nobody renewed since t=2, as if this replica had died
    lim.acquire("bob", 0, 0).release()  # the dead slot expired by itself
    held.release()  # a late release of an expired slot is harmless


@pytest.mark.redis
def test_two_replicas_racing_for_the_last_units_never_both_get_them(redis_make, clock):
    """Two limiters (as two replicas) on one Redis, 40 threads at once: exactly the bucket is admitted."""
    from tests.conftest import run_threads

    a, b = redis_make(LimitSpec(rpm=25)), redis_make(LimitSpec(rpm=25))
    admitted = []

    def call(i: int) -> None:
        try:
            (a if i % 2 else b).acquire(f"u{i}", 0, 0).release()
            admitted.append(i)
        except RateLimited:
            pass
    assert run_threads(call, 40, timeout_s=30) == []
    assert len(admitted) == 25  # the fake clock stands still: no refill
