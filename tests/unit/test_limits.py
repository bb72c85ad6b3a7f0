"""Token buckets and the client-side rate limiter, on a fake clock (nothing really sleeps)."""

from __future__ import annotations

import math
import random
import threading
import time

import pytest

from core.clock import SystemClock
from core.errors import RateLimited
from core.guards.limits import CONCURRENCY, LimitConfig, LimitSpec, RateLimiter
from tests.limit_checks import ITPM, OTPM, RPM, burst_then_refill


def limiter(clock, glob: LimitSpec | None = None, user: LimitSpec | None = None,
            max_wait_s: float = 10.0, sleep=None, **kw) -> RateLimiter:
    cfg = LimitConfig(global_=glob or LimitSpec(), per_user=user or LimitSpec(), max_wait_s=max_wait_s)
    return RateLimiter(cfg, clock, sleep or clock.sleep, **kw)


# --- waiting and refusing -------------------------------------------------------------

def test_burst_then_waits_exactly_the_computed_time(clock):
    lim = limiter(clock, LimitSpec(rpm=60, output_tpm=6000))
    burst_then_refill(lim, clock)


def test_refuses_when_the_wait_exceeds_max_wait(clock):
    lim = limiter(clock, LimitSpec(output_tpm=600), max_wait_s=10)  # 10 tokens a second
    lim.acquire("ann", 0, 600).release()
    with pytest.raises(RateLimited) as exc:
        lim.acquire("ann", 0, 200)
    assert exc.value.limit == OTPM
    assert exc.value.retry_after_s == pytest.approx(20.0)
    assert exc.value.user is None
    assert clock.sleeps == []  # refused without waiting in vain


def test_total_wait_counts_every_sleep(clock):
    """A token stolen during the wait must not let the caller wait past max_wait_s in total."""
    box = {}

    def sleep(s):
        clock.sleep(s)
        if len(clock.sleeps) == 1:
            box["lim"].acquire("thief", 0, 0).release()  # takes the token that just refilled

    lim = box["lim"] = limiter(clock, LimitSpec(rpm=60), max_wait_s=1.5, sleep=sleep)
    for _ in range(60):
        lim.acquire("ann", 0, 0).release()
    with pytest.raises(RateLimited) as exc:
        lim.acquire("ann", 0, 0)
    assert clock.sleeps == [pytest.approx(1.0)]
    assert exc.value.retry_after_s == pytest.approx(1.0)


def test_oversized_request_is_refused_at_once(clock):
    lim = limiter(clock, LimitSpec(output_tpm=4000), LimitSpec(input_tpm=1000))
    with pytest.raises(RateLimited) as exc:
        lim.acquire("ann", 10, 8000)
    assert (exc.value.limit, exc.value.user, exc.value.retryable) == (OTPM, None, False)
    assert exc.value.retry_after_s == math.inf
    assert "4,000" in exc.value.message and "8,000" in exc.value.message
    with pytest.raises(RateLimited) as exc:
        lim.acquire("ann", 1001, 10)
    assert (exc.value.limit, exc.value.user) == (ITPM, "ann")
    assert clock.sleeps == []
    assert lim.snapshot()["global"]["output_tokens"]["level"] == 4000  # nothing was taken


def test_users_are_isolated_but_the_global_limit_binds_all(clock):
    lim = limiter(clock, LimitSpec(rpm=3), LimitSpec(rpm=2), max_wait_s=0)
    lim.acquire("ann", 0, 0).release()
    lim.acquire("ann", 0, 0).release()
    with pytest.raises(RateLimited) as exc:
        lim.acquire("ann", 0, 0)
    assert (exc.value.limit, exc.value.user) == (RPM, "ann")
    lim.acquire("bob", 0, 0).release()  # ann's usage does not block bob
    with pytest.raises(RateLimited) as exc:
        lim.acquire("cy", 0, 0)  # but the three global requests are spent
    assert (exc.value.limit, exc.value.user) == (RPM, None)


def test_settle_gives_back_unused_output_and_corrects_input(clock):
    lim = limiter(clock, LimitSpec(input_tpm=1000, output_tpm=1000), max_wait_s=0)
    permit = lim.acquire("ann", 100, 1000)
    permit.settle(input_tokens=300, output_tokens=120)
    g = lim.snapshot()["global"]
    assert g["output_tokens"]["level"] == pytest.approx(880)
    assert g["input_tokens"]["level"] == pytest.approx(700)
    permit.release()
    lim.acquire("ann", 700, 880).release()  # fits only thanks to the give-back


def test_unsettled_permit_keeps_its_charge_and_frees_its_slot(clock):
    lim = limiter(clock, LimitSpec(rpm=10, output_tpm=500, concurrency=1), max_wait_s=0)
    with lim.acquire("ann", 0, 400) as permit:
        assert lim.snapshot()["global"]["concurrency"]["in_use"] == 1
    permit.release()  # idempotent
    g = lim.snapshot()["global"]
    assert (g["concurrency"]["in_use"], g["output_tokens"]["level"]) == (0, pytest.approx(100))
    assert g["requests"]["level"] == pytest.approx(9)


# --- concurrency ----------------------------------------------------------------------

def test_concurrency_is_counted_globally_and_per_user(clock):
    lim = limiter(clock, LimitSpec(concurrency=2), LimitSpec(concurrency=1), max_wait_s=0)
    a = lim.acquire("ann", 0, 0)
    with pytest.raises(RateLimited) as exc:
        lim.acquire("ann", 0, 0)
    assert (exc.value.limit, exc.value.user) == (CONCURRENCY, "ann")
    b = lim.acquire("bob", 0, 0)
    with pytest.raises(RateLimited) as exc:
        lim.acquire("cy", 0, 0)
    assert (exc.value.limit, exc.value.user) == (CONCURRENCY, None)
    a.release()
    b.release()
    lim.acquire("cy", 0, 0).release()


def test_waits_for_a_slot_freed_by_another_thread(clock):
    holding, release_now, released = threading.Event(), threading.Event(), threading.Event()

    def sleep(s):  # the waiter's sleep is the moment the holder finishes
        clock.sleep(s)
        release_now.set()
        assert released.wait(2)

    lim = limiter(clock, LimitSpec(concurrency=1), sleep=sleep, poll_s=0.05)

    def holder():
        with lim.acquire("ann", 0, 0):
            holding.set()
            release_now.wait(2)
        released.set()

    t = threading.Thread(target=holder)
    t.start()
    assert holding.wait(2)
    lim.acquire("bob", 0, 0).release()
    t.join(2)
    assert clock.sleeps == [0.05]


def test_slot_wait_times_out_in_real_time():
    lim = limiter(SystemClock(), LimitSpec(), LimitSpec(concurrency=1), max_wait_s=0.1,
                  sleep=time.sleep, poll_s=0.01)
    held = lim.acquire("ann", 0, 0)
    t0 = time.monotonic()
    with pytest.raises(RateLimited) as exc:
        lim.acquire("ann", 0, 0)
    assert 0.09 <= time.monotonic() - t0 < 1.0
    assert (exc.value.limit, exc.value.user) == (CONCURRENCY, "ann")
    held.release()


def test_real_threads_never_exceed_the_concurrency_limit():
    lim = limiter(SystemClock(), LimitSpec(concurrency=3), max_wait_s=5, sleep=time.sleep, poll_s=0.002)
    lock, now, peak, done = threading.Lock(), [0], [0], []

    def worker(i):
        with lim.acquire(f"u{i % 4}", 0, 0):
            with lock:
                now[0] += 1
                peak[0] = max(peak[0], now[0])
            time.sleep(0.01)
            with lock:
                now[0] -= 1
        done.append(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert sorted(done) == list(range(12))
    assert peak[0] <= 3
    assert lim.snapshot()["global"]["concurrency"]["in_use"] == 0


# --- server headers -------------------------------------------------------------------

def headers(family, limit, remaining, reset="2026-11-22T12:01:00Z"):
    p = f"anthropic-ratelimit-{family}"
    return {f"{p}-limit": str(limit), f"{p}-remaining": str(remaining), f"{p}-reset": reset}


def test_headers_tighten_and_never_loosen(clock):
    lim = limiter(clock, LimitSpec(rpm=100, output_tpm=1000))
    lim.observe_headers(headers("requests", 50, 10), user="ann")
    r = lim.snapshot()["global"]["requests"]
    assert (r["capacity"], r["level"], r["refill_per_s"]) == (50, 10, pytest.approx(50 / 60))
    lim.observe_headers(headers("requests", 500, 500))
    lim.observe_headers(headers("output-tokens", 2000, 2000))
    g = lim.snapshot()["global"]
    assert (g["requests"]["capacity"], g["requests"]["level"]) == (50, 10)
    assert (g["output_tokens"]["capacity"], g["output_tokens"]["level"]) == (1000, 1000)
    assert lim.snapshot()["server"]["requests"]["reset"] == "2026-11-22T12:01:00+00:00"


def test_headers_fill_in_unconfigured_limits(clock):
    lim = limiter(clock, LimitSpec(), max_wait_s=0)
    lim.observe_headers({k.upper(): v for k, v in headers("input-tokens", 600, 300).items()})
    lim.acquire("ann", 300, 0).release()
    with pytest.raises(RateLimited) as exc:
        lim.acquire("ann", 10, 0)
    assert exc.value.limit == ITPM
    assert exc.value.retry_after_s == pytest.approx(1.0)  # 600 a minute is 10 a second


def test_combined_tokens_header_only_stands_in_for_missing_families(clock):
    lim = limiter(clock, LimitSpec(input_tpm=10_000, output_tpm=10_000))
    lim.observe_headers({**headers("tokens", 800, 800), **headers("output-tokens", 5000, 4000)})
    g = lim.snapshot()["global"]
    assert g["input_tokens"]["capacity"] == 800
    assert (g["output_tokens"]["capacity"], g["output_tokens"]["level"]) == (5000, 4000)


@pytest.mark.parametrize("bad", [
    headers("requests", "abc", 5), headers("requests", -5, "x"), headers("requests", "nan", "inf"),
    headers("requests", 10, 20), {"anthropic-ratelimit-requests-limit": None}, {},
])
def test_malformed_headers_are_ignored(clock, bad):
    lim = limiter(clock, LimitSpec(rpm=100))
    lim.observe_headers(bad)
    r = lim.snapshot()["global"]["requests"]
    assert (r["capacity"], r["level"]) == (100, 100)


def test_a_bad_reset_does_not_discard_a_good_limit(clock):
    lim = limiter(clock, LimitSpec(rpm=100))
    lim.observe_headers(headers("requests", 40, 40, reset="soon"))
    assert lim.snapshot()["global"]["requests"]["capacity"] == 40
    assert lim.snapshot()["server"]["requests"]["reset"] is None


# --- the guarantee, checked on random traffic -----------------------------------------

def _max_excess(times, sizes, capacity, rate):
    """Largest (admitted in [t_i, t_j]) - (capacity + rate * (t_j - t_i)) over all i <= j."""
    worst = -math.inf
    for i in range(len(times)):
        total = 0.0
        for j in range(i, len(times)):
            total += sizes[j]
            worst = max(worst, total - capacity - rate * (times[j] - times[i]))
    return worst


@pytest.mark.parametrize("seed", [1, 2])
def test_random_traffic_never_beats_capacity_plus_refill(clock, seed):
    rng = random.Random(seed)
    lim = limiter(clock, LimitSpec(rpm=60, input_tpm=6000), LimitSpec(rpm=30), max_wait_s=rng.choice([0, 3]))
    admitted: dict[str, list[tuple[float, int]]] = {}
    for _ in range(900):  # about five simulated minutes at three arrivals a second
        clock.advance(rng.expovariate(3.0))
        user, size = rng.choice("abc"), rng.randint(1, 400)
        try:
            lim.acquire(user, size, 0).release()
        except RateLimited:
            continue
        admitted.setdefault(user, []).append((clock.monotonic(), size))
    everyone = sorted(x for rows in admitted.values() for x in rows)
    times = [t for t, _ in everyone]
    assert len(everyone) > 200  # the limits really were exercised
    assert _max_excess(times, [1] * len(times), 60, 1.0) <= 1e-6
    assert _max_excess(times, [s for _, s in everyone], 6000, 100.0) <= 1e-3
    for rows in admitted.values():
        assert _max_excess([t for t, _ in rows], [1] * len(rows), 30, 0.5) <= 1e-6
    # Hence every sliding 60 s window holds at most capacity + 60 s of refill = 120 requests.
    assert max(sum(1 for u in times if t <= u < t + 60) for t in times) <= 120


def test_snapshot_lists_buckets_and_slots(clock):
    lim = limiter(clock, LimitSpec(rpm=60, concurrency=4), LimitSpec(output_tpm=100))
    permit = lim.acquire("ann", 0, 40)
    snap = lim.snapshot()
    assert snap["global"]["requests"] == {"capacity": 60, "level": 59, "refill_per_s": 1.0}
    assert snap["global"]["input_tokens"] is None
    assert snap["global"]["concurrency"] == {"limit": 4, "in_use": 1}
    assert snap["users"]["ann"]["output_tokens"]["level"] == 60
    permit.release()


def test_config_rejects_nonsense():
    with pytest.raises(ValueError):
        LimitSpec(rpm=0)
    with pytest.raises(ValueError):
        LimitSpec(concurrency=0)
    with pytest.raises(ValueError):
        LimitConfig(LimitSpec(), LimitSpec(), max_wait_s=-1)
