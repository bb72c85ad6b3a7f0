"""Replicas as real processes: each builds its own guarded client against one simulator and one Redis.

The bound every burst test asserts: a per-user limit of R a minute is a bucket of R that refills at
R/60 a second, so over a window of T seconds one process alone admits at most R + R*T/60 calls
(plus one for the call in flight when the window closes). With the limits in memory each process
has its own bucket, and N processes admit about N times that; with TOLLGATE_LIMITS=redis they share
one bucket and together stay within the one-process bound. A ~3 s window keeps the test short: the
burst capacity (30) dwarfs the refill (1.5), so the difference between 1x and 2x is unmistakable.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from core.clock import SystemClock
from core.errors import RateLimited
from core.guards.limits import LimitConfig, LimitSpec
from core.guards.redis_limits import RedisRateLimiter
from core.paths import SOURCE_ROOT
from tests.conftest import require_service
from tests.integration.conftest import messages_seen
from tests.integration.shared_redis import drop_prefix, fresh_prefix, machine_redis_url

pytestmark = pytest.mark.slow
USER_RPM, WINDOW_S = 30, 3.0


def one_process_bound(elapsed_s: float) -> float:
    return USER_RPM + USER_RPM * elapsed_s / 60 + 1


@pytest.fixture
def shared_redis():
    require_service("Redis", "127.0.0.1", 6379)
    url, prefix = machine_redis_url(), fresh_prefix()
    yield url, prefix
    drop_prefix(url, prefix)


def replica_env(sim, tmp_path, **settings) -> dict[str, str]:
    """This environment without any Tollgate or Anthropic setting, plus the test's own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOLLGATE_", "ANTHROPIC_"))}
    env.update({"ANTHROPIC_BASE_URL": sim.url, "TOLLGATE_LEDGER_URL": "off", "TOLLGATE_CACHE": "off",
                "TOLLGATE_DATA_DIR": str(tmp_path), "TOLLGATE_MAX_ATTEMPTS": "1", "TOLLGATE_LOG_LEVEL": "ERROR",
                "TOLLGATE_USER_RPM": str(USER_RPM), "TOLLGATE_LIMIT_MAX_WAIT_S": "0"})
    env.update({f"TOLLGATE_{k.upper()}": str(v) for k, v in settings.items()})
    return env


def start(n: int, env: dict[str, str], *args: str) -> list[subprocess.Popen]:
    procs = [subprocess.Popen([sys.executable, "-m", "tests.integration.replica_worker", *args], cwd=SOURCE_ROOT,
                              env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
             for _ in range(n)]
    for p in procs:
        line = p.stdout.readline().strip()
        assert line == "ready", f"a replica did not start (said {line!r}, exit {p.poll()})"
    return procs


def burst(sim, procs) -> tuple[int, float, list[dict]]:
    """Release every replica at once; (requests the simulator saw, seconds it took, each replica's counts)."""
    before, t0 = messages_seen(sim), time.monotonic()
    for p in procs:
        p.stdin.write("go\n")
        p.stdin.flush()
    counts = [json.loads(p.stdout.readline()) for p in procs]
    elapsed = time.monotonic() - t0
    for p in procs:
        p.wait(30)
    return messages_seen(sim) - before, elapsed, counts


def test_with_limits_in_memory_two_processes_admit_twice_the_per_user_limit(fresh_sim, tmp_path):
    """The defect this issue fixes, reproduced: each process keeps its own bucket."""
    seen, elapsed, counts = burst(fresh_sim, start(2, replica_env(fresh_sim, tmp_path), "burst", str(WINDOW_S)))
    assert all(c["sent"] >= USER_RPM for c in counts)
    assert seen >= 2 * USER_RPM > one_process_bound(elapsed)


def test_with_limits_in_redis_three_processes_admit_no_more_than_one(fresh_sim, tmp_path, shared_redis):
    url, prefix = shared_redis
    env = replica_env(fresh_sim, tmp_path, limits="redis", redis_url=url, redis_prefix=prefix)
    seen, elapsed, counts = burst(fresh_sim, start(3, env, "burst", str(WINDOW_S)))
    assert USER_RPM <= seen <= one_process_bound(elapsed), counts
    assert sum(c["sent"] for c in counts) == seen and all(c["refused"] > 0 for c in counts)


def test_a_replica_killed_mid_stream_frees_its_slot_within_the_lease(fresh_sim, tmp_path, shared_redis):
    """While the stream runs its lease is renewed (so it outlives the lease time); once killed, it expires."""
    url, prefix = shared_redis
    lease_s = 1.5
    fresh_sim.configure(tokens_per_s=2.0)  # 12 to 80 words: a stream of 6 s or more
    env = replica_env(fresh_sim, tmp_path, limits="redis", redis_url=url, redis_prefix=prefix, concurrency=1,
                      lease_s=lease_s)
    (proc,) = start(1, env, "stream")
    import redis

    other = RedisRateLimiter(LimitConfig(LimitSpec(concurrency=1), LimitSpec(), max_wait_s=0),
                             redis.Redis.from_url(url), sleep=time.sleep, clock=SystemClock(), prefix=prefix,
                             heartbeat=False)
    try:
        proc.stdin.write("go\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "streaming"
        time.sleep(2 * lease_s)  # two lease times: only the heartbeat keeps the slot taken
        with pytest.raises(RateLimited):
            other.acquire("bo", 0, 0)
        os.kill(proc.pid, signal.SIGKILL)
        killed = time.monotonic()
        while True:
            try:
                other.acquire("bo", 0, 0).release()
                break
            except RateLimited:
                assert time.monotonic() - killed < lease_s + 1.0, "the dead replica's slot never expired"
                time.sleep(0.05)
        assert time.monotonic() - killed <= lease_s + 0.3
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
