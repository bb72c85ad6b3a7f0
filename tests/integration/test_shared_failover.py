"""Key failover, the circuit breaker's open state and streams' slots, shared across replicas through Redis.

Two KeyRings (or breakers), each with its own SharedState, stand for two replicas.
"""

from __future__ import annotations

import pytest

from core.errors import CircuitOpen, Overloaded, RateLimited
from core.guards.shared import SharedState
from core.upstream.breaker import CircuitBreaker
from core.upstream.keys import ApiKey, KeyRing
from tests.conftest import require_service
from tests.integration.shared_redis import drop_prefix, fresh_prefix, machine_redis_url

pytestmark = pytest.mark.redis
OLD, NEW = ApiKey("old", "sk-ant-test-fake-old-00000000"), ApiKey("new", "sk-ant-test-fake-new-00000000")


@pytest.fixture
def replicas():
    """``replicas(n)``: n SharedStates on one Redis and one fresh prefix (n replicas' views)."""
    require_service("Redis", "127.0.0.1", 6379)
    url, prefix = machine_redis_url(), fresh_prefix()
    yield lambda n: [SharedState(url, prefix=prefix) for _ in range(n)]
    drop_prefix(url, prefix)


def test_a_key_marked_failing_on_one_replica_is_skipped_by_every_replica(replicas, clock):
    a, b = replicas(2)
    ring_a = KeyRing([OLD, NEW], clock=clock, shared=a, shared_refresh_s=1.0)
    ring_b = KeyRing([ApiKey("renamed", OLD.secret), NEW], clock=clock, shared=b, shared_refresh_s=1.0)
    assert ring_b.current().label == "renamed"
    ring_a.mark_failing("old")
    assert ring_a.current() == NEW
    assert ring_b.current().label == "renamed"  # b read the set less than a second ago
    clock.advance(1.0)
    assert ring_b.current() == NEW  # the same secret, whatever this replica calls it
    assert [k["failing"] for k in ring_b.snapshot()] == [True, False]
    import redis

    stored = redis.Redis.from_url(a._url).hgetall(a.key("keys", "failing"))  # noqa: SLF001 - the test's own URL
    assert len(stored) == 1 and not any(b"sk-ant" in k + v for k, v in stored.items())  # fingerprints only
    ring_b.mark_ok("renamed")  # a success clears the shared mark (a's own mark stays until a sees one)
    assert ring_b.current().label == "renamed"
    third = KeyRing([OLD, NEW], clock=clock, shared=replicas(1)[0])
    assert third.current() == OLD


def test_a_key_ring_without_redis_keeps_its_own_view(clock, tmp_path):
    dead = SharedState("redis://127.0.0.1:18799/0", failure="closed", socket_timeout_s=0.2)
    ring = KeyRing([OLD, NEW], clock=clock, shared=dead, shared_refresh_s=0)
    ring.mark_failing("old")  # never raises, even in closed mode: the limiter is what refuses calls
    assert ring.current() == NEW and dead.degraded()


def test_a_circuit_opened_on_one_replica_refuses_calls_on_the_others(replicas, clock):
    a, b = replicas(2)
    opener = CircuitBreaker(failure_threshold=2, recovery_s=0.5, clock=clock, shared=a)
    other = CircuitBreaker(failure_threshold=2, recovery_s=0.5, clock=clock, shared=b)
    other.before_call()
    for _ in range(2):
        opener.record_failure(Overloaded())
    assert opener.state == "open"
    with pytest.raises(CircuitOpen) as exc:
        other.before_call()
    assert 0 < exc.value.retry_after_s <= 0.5
    snap = other.snapshot()
    assert snap["state"] == "open" and snap["opened_elsewhere"]
    import time

    time.sleep(0.6)  # the shared open state lives recovery_s on Redis's clock (PX), not this process's
    other.before_call()
    other.record_success()


def test_without_the_shared_setting_the_breaker_is_per_process(clock):
    lone = CircuitBreaker(failure_threshold=1, clock=clock)
    lone.record_failure(Overloaded())
    CircuitBreaker(failure_threshold=1, clock=clock).before_call()


@pytest.fixture
def redis_client_factory(make_client):
    require_service("Redis", "127.0.0.1", 6379)
    url, prefix = machine_redis_url(), fresh_prefix()
    yield lambda **kw: make_client(real_time=True, limits="redis", redis_url=url, redis_prefix=prefix, **kw)
    drop_prefix(url, prefix)


def test_a_stream_closed_early_or_abandoned_gives_its_shared_slot_back(redis_client_factory, fresh_sim):
    """The leak the anchors are known for (a cancelled stream keeps its slot): here both ways free it."""
    import gc

    fresh_sim.configure(tokens_per_s=50.0)
    client = redis_client_factory(concurrency=1, limit_max_wait_s=0, max_attempts=1)
    other = redis_client_factory(concurrency=1, limit_max_wait_s=0, max_attempts=1)  # a second replica
    with client.stream("tell a story", user="ana", model="claude-haiku-5-5", max_tokens=40) as s:
        next(iter(s))
        with pytest.raises(RateLimited):
            other.create("ping", user="bo", model="claude-haiku-5-5")
    other.create("ping", user="bo", model="claude-haiku-5-5")  # closed early: the slot is back
    dropped = client.stream("tell a story", user="ana", model="claude-haiku-5-5", max_tokens=40)
    with pytest.raises(RateLimited):
        other.create("ping", user="bo", model="claude-haiku-5-5")
    del dropped  # never read, never closed
    gc.collect()
    other.create("ping", user="bo", model="claude-haiku-5-5")
