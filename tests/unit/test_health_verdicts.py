"""Health verdicts: the overall status is the worst part; breaker, keys and limiter parts from real objects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from core import errors as E
from core.guards.limits import LimitConfig, LimitSpec, RateLimiter
from core.health import parts as hp
from core.health.report import overall
from core.upstream.breaker import CircuitBreaker
from core.upstream.keys import ApiKey, KeyRing


def p(status, reason="r"):
    return {"status": status, "reason": reason}


@pytest.mark.parametrize("statuses, expected", [
    (["ok", "ok"], "ok"), (["ok", "warn"], "warn"), (["warn", "fail", "ok"], "fail"), ([], "ok"),
])
def test_overall_is_the_worst_part(statuses, expected):
    assert overall({f"p{i}": p(s) for i, s in enumerate(statuses)})["status"] == expected


def test_overall_reason_names_the_worst_parts_only():
    got = overall({"ledger": p("fail", "database down"), "cache": p("warn", "off"), "keys": p("fail", "all 401")})
    assert got["reason"] == "ledger: database down · keys: all 401"


def client(clock, *, keys=(), demo=False, breaker=None, limiter=None):
    ring = KeyRing(list(keys) or [ApiKey("demo", "sk-ant-test-fake-0000")], clock=clock)
    return SimpleNamespace(clock=clock, demo=demo, transport=SimpleNamespace(keyring=ring), breaker=breaker,
                           limiter=limiter)


def test_breaker_part_follows_the_state_and_gives_the_next_probe_time(clock):
    b = CircuitBreaker(failure_threshold=2, window_s=60, recovery_s=30, clock=clock)
    c = client(clock, breaker=b)
    assert hp.breaker(c)["status"] == "ok"
    for _ in range(2):
        b.before_call()
        b.record_failure(E.Overloaded())
    got = hp.breaker(c)
    assert got["status"] == "fail" and got["next_probe_at"] == clock.now() + timedelta(seconds=30)
    clock.advance(30)
    assert hp.breaker(c)["status"] == "warn"  # half-open: waiting for its one probe


def test_keys_part_reports_failing_and_old_keys_masked(clock):
    now = clock.now()
    fresh = ApiKey("fresh", "sk-ant-test-fake-1111", "env", now - timedelta(days=5))
    old = ApiKey("old", "sk-ant-test-fake-2222", "env", now - timedelta(days=120))
    c = client(clock, keys=(fresh, ApiKey("undated", "sk-ant-test-fake-3333", "env")))
    assert hp.keys(c)["status"] == "ok"
    c.transport.keyring.mark_failing("fresh")
    assert hp.keys(c)["status"] == "warn"
    c.transport.keyring.mark_failing("undated")
    assert hp.keys(c)["status"] == "fail"
    got = hp.keys(client(clock, keys=(fresh, old)))
    assert got["status"] == "warn" and "old" in got["reason"]
    rows = {r["label"]: r for r in got["keys"]}
    assert rows["old"]["age_days"] == 120 and rows["old"]["masked"] == "sk-ant-…2222"
    assert "fake-2222" not in str(got)


def limiter(clock, **spec):
    return RateLimiter(LimitConfig(global_=LimitSpec(**spec), per_user=LimitSpec()), clock=clock, sleep=clock.sleep)


def test_limiter_part_local_and_server_headroom(clock):
    lim = limiter(clock, rpm=10, concurrency=4)
    assert hp.limiter(client(clock, limiter=lim))["status"] == "ok"
    for _ in range(10):
        lim.acquire("ana", 0, 0).release()
    got = hp.limiter(client(clock, limiter=lim))
    assert got["status"] == "warn" and got["local"]["requests"] < hp.LOW_HEADROOM
    lim.observe_headers({"anthropic-ratelimit-requests-limit": "50", "anthropic-ratelimit-requests-remaining": "0"})
    got = hp.limiter(client(clock, limiter=lim))
    assert got["status"] == "fail" and got["server"]["requests"] == 0


def test_key_age_comes_from_the_clock(clock):
    created = datetime(2026, 8, 1, tzinfo=UTC)
    ring = KeyRing([ApiKey("primary", "sk-ant-test-fake-0000", "env", created)], clock=clock)
    [row] = ring.snapshot()
    assert row["created"] == created and row["age_days"] == (clock.now() - created).days
