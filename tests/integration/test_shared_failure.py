"""Redis stopped mid-run: the configured failure mode holds, /readyz and the health page say degraded,
a counter counts the fallbacks, and the client goes back to Redis when it returns.

Each test stops a private ``redis-server`` of its own (never the machine's).
"""

from __future__ import annotations

import time

import pytest
from prometheus_client import REGISTRY

from core.accounts.lockout import attempts_for
from core.errors import RateLimited, SharedStateUnavailable
from core.health import parts, readiness
from tests.integration.conftest import messages_seen
from tests.integration.shared_redis import PrivateRedis, fresh_prefix

pytestmark = [pytest.mark.redis, pytest.mark.slow]
PROMPT, MODEL = "ping", "claude-haiku-5-5"


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path).start()
    yield server
    server.stop()


def fallbacks(outcome: str, part: str = "rate limits") -> float:
    return REGISTRY.get_sample_value("tollgate_shared_state_fallbacks_total",
                                     {"part": part, "outcome": outcome}) or 0.0


def shared_client(make_client, server, failure: str, **overrides):
    return make_client(real_time=True, limits="redis", redis_url=server.url, redis_prefix=fresh_prefix(),
                       shared_state_failure=failure, limit_max_wait_s=0, max_attempts=1, **overrides)


def test_closed_mode_refuses_with_a_typed_error_until_redis_is_back(make_client, fresh_sim, private_redis):
    client = shared_client(make_client, private_redis, "closed", user_rpm=30)
    client.create(PROMPT, user="ana", model=MODEL)
    assert readiness.check(clients=[client]).to_dict()["status"] == "ready"
    private_redis.stop()
    sent, refused_before = messages_seen(fresh_sim), fallbacks("refused")
    t0 = time.monotonic()
    with pytest.raises(SharedStateUnavailable) as exc:
        client.create(PROMPT, user="ana", model=MODEL)
    assert time.monotonic() - t0 < 2.0  # a short socket timeout, not the call timeout
    err = exc.value
    assert err.code == "shared_state_unavailable" and err.retryable and "Redis" in err.message
    assert "\n" not in err.message and "127.0.0.1" not in err.message
    with pytest.raises(SharedStateUnavailable):  # the next one does not even wait for Redis
        client.create(PROMPT, user="ana", model=MODEL)
    assert messages_seen(fresh_sim) == sent and fallbacks("refused") == refused_before + 2
    state = readiness.check(clients=[client])
    assert (state.ready, state.status) == (False, "degraded") and state.degraded
    assert all("127.0.0.1" not in r and str(private_redis.port) not in r for r in state.reasons)
    assert parts.shared(client)["status"] == "fail"
    private_redis.start()  # same port, empty (no persistence)
    assert parts.shared(client)["status"] == "ok"  # the probe finds it and recovers every part
    client.create(PROMPT, user="ana", model=MODEL)
    assert readiness.check(clients=[client]).to_dict() | {"clients": 1} == {
        "ready": True, "status": "ready", "reasons": [], "clients": 1, "degraded": []}


def test_open_mode_falls_back_to_the_process_share_of_each_limit(make_client, fresh_sim, private_redis):
    """TOLLGATE_REPLICAS=2 and 10 a minute per user: alone, this process admits 5 (its half)."""
    client = shared_client(make_client, private_redis, "open", user_rpm=10, replicas=2)
    private_redis.stop()
    local_before = fallbacks("local")
    for _ in range(5):
        client.create(PROMPT, user="ana", model=MODEL)
    with pytest.raises(RateLimited) as exc:
        client.create(PROMPT, user="ana", model=MODEL)
    assert exc.value.user == "ana"
    assert fallbacks("local") == local_before + 6
    state = readiness.check(clients=[client])
    assert (state.ready, state.status) == (True, "degraded") and "1/2" in state.degraded[0]
    assert parts.shared(client)["status"] == "warn"
    private_redis.start()
    time.sleep(2.1)  # the pause after a failure (2 s) ends: the next call tries Redis again
    for _ in range(10):  # Redis came back empty: the shared bucket is full again
        client.create(PROMPT, user="bo", model=MODEL)
    assert client.limiter.shared_state.degraded() == {}
    assert readiness.check(clients=[client]).status == "ready"


def test_login_lockouts_follow_the_failure_mode(private_redis, tmp_path):
    from core.config import load_settings

    def attempts(failure: str):
        settings = load_settings(env={}, load_keys=False, limits="redis", redis_url=private_redis.url,
                                 redis_prefix=fresh_prefix(), shared_state_failure=failure)
        return attempts_for(settings)

    closed, opened = attempts("closed"), attempts("open")
    assert closed.begin("ana|x", 1000.0, 900) == 1 and opened.begin("ana|x", 1000.0, 900) == 1
    private_redis.stop()
    with pytest.raises(SharedStateUnavailable) as exc:
        closed.begin("ana|x", 1001.0, 900)
    assert exc.value.part == "login lock-outs"
    assert opened.begin("ana|x", 1001.0, 900) == 1  # this process's own count, from zero
    private_redis.start()
