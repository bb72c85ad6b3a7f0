"""Three ``python -m core serve`` replicas (deploy/topology.py) over one PostgreSQL schema, one Redis and the simulator.

Callers spread their requests round-robin over the replicas, as the proxy of compose.yaml does. The
rate-limit bound: a per-user limit of R a minute is a bucket of R refilling at R/60 a second, so in T
seconds one process alone admits at most R + R*T/60 calls (plus one in flight when the window closes).
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import requests
import sqlalchemy as sa

from deploy.topology import Topology
from tests.conftest import require_service
from tests.integration.conftest import messages_seen
from tests.integration.shared_redis import PrivateRedis, drop_prefix, fresh_prefix, machine_redis_url

pytestmark = [pytest.mark.topology, pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]
HEADERS = {"anthropic-version": "2023-06-01", "content-type": "application/json"}
USER_RPM = 60


def one_process_bound(elapsed_s: float) -> float:
    return USER_RPM + USER_RPM * elapsed_s / 60 + 1


@pytest.fixture
def topology(fresh_sim, pg_url, tmp_path):
    """Start a topology of three replicas with these settings: (Topology, a key for ana); stopped afterwards."""
    require_service("Redis", "127.0.0.1", 6379)
    made: list[tuple[Topology, str]] = []

    def make(redis_url: str | None = None, proxy: bool = False, **settings):
        url, prefix = redis_url or machine_redis_url(), fresh_prefix()
        env = {f"TOLLGATE_{k.upper()}": v for k, v in settings.items()}
        env.setdefault("TOLLGATE_MAX_ATTEMPTS", 1)
        env.setdefault("TOLLGATE_LIMIT_MAX_WAIT_S", 0)  # a refusal answers at once: the test counts them
        topo = Topology(ledger_url=pg_url, redis_url=url, redis_prefix=prefix, data_dir=tmp_path / f"t{len(made)}",
                        upstream_url=fresh_sim.url, replicas=3, settings=env, proxy=proxy)
        key = topo.create_key("ana")
        made.append((topo, key))
        topo.start()
        return topo, key

    yield make
    for topo, _ in made:
        topo.stop()
        if topo.redis_url == machine_redis_url():
            drop_prefix(topo.redis_url, topo.redis_prefix)


def call(http: requests.Session, url: str, key: str, text: str, **body) -> requests.Response:
    payload = {"model": "claude-haiku-5-5", "max_tokens": 5, "messages": [{"role": "user", "content": text}]}
    return http.post(url + "/v1/messages", json={**payload, **body}, headers={**HEADERS, "x-api-key": key}, timeout=60)


def load(topo: Topology, key: str, seconds: float, threads: int = 6) -> tuple[dict[int, int], float]:
    """``threads`` callers round-robin over the replicas for ``seconds``: (count per status, seconds taken)."""
    counts: dict[int, int] = {}
    lock, n = threading.Lock(), itertools.count()
    end = time.monotonic() + seconds

    def worker(w: int) -> None:
        with requests.Session() as http:
            for url in itertools.cycle(topo.urls[w % 3:] + topo.urls[:w % 3]):
                if time.monotonic() >= end:
                    return
                status = call(http, url, key, f"call {next(n)}").status_code
                with lock:
                    counts[status] = counts.get(status, 0) + 1
                if status == 429:
                    time.sleep(0.05)  # "as fast as it can" without spinning on refusals

    t0 = time.monotonic()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(worker, range(threads)))
    return counts, time.monotonic() - t0


def test_three_replicas_with_redis_limits_admit_what_one_process_would_over_60_s(topology, fresh_sim):
    topo, key = topology(user_rpm=USER_RPM, limits="redis")
    before = messages_seen(fresh_sim)
    counts, elapsed = load(topo, key, 60.0)
    seen = messages_seen(fresh_sim) - before
    print(f"redis limits, 3 replicas: {seen} reached the upstream in {elapsed:.1f} s "
          f"(one process: <= {one_process_bound(elapsed):.1f}); {counts}")
    assert seen == counts.get(200, 0) and counts.get(429, 0) > 0, counts
    assert seen <= one_process_bound(elapsed), f"{seen} reached the upstream in {elapsed:.1f} s ({counts})"
    assert seen >= USER_RPM + USER_RPM * 55 / 60 - 5, f"the shared limit admitted too few: {seen} ({counts})"


def test_three_replicas_with_limits_in_memory_admit_three_times_as_much(topology, fresh_sim):
    topo, key = topology(user_rpm=USER_RPM, limits="memory")
    before = messages_seen(fresh_sim)
    counts, elapsed = load(topo, key, 4.0)
    seen = messages_seen(fresh_sim) - before
    print(f"memory limits, 3 replicas: {seen} in {elapsed:.1f} s (one process: <= {one_process_bound(elapsed):.1f})")
    # Each replica has its own bucket of 60: about 180 pass where one process would let 66 through.
    assert seen > 2.5 * one_process_bound(elapsed), f"{seen} in {elapsed:.1f} s ({counts})"


def _spent(url: str, user: str) -> Decimal:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return Decimal(str(conn.execute(sa.text("SELECT COALESCE(SUM(cost_usd), 0) FROM calls "
                                                    "WHERE user_id = :u"), {"u": user}).scalar_one()))
    finally:
        engine.dispose()


def test_3_x_50_concurrent_calls_against_one_small_budget_overshoot_by_0(topology, pg_url):
    topo, key = topology(user_concurrency=200, concurrency=200, limit_max_wait_s=10)
    budget = Decimal("0.02")
    topo.cli("budget", "set", "--user", "ana", "--usd", str(budget), "--force")
    barrier = threading.Barrier(150)

    def one(i: int) -> tuple[int, str]:
        with requests.Session() as http:
            barrier.wait(30)
            r = call(http, topo.urls[i % 3], key, f"{i}: write a long answer " * 20, model="claude-opus-5-5",
                     max_tokens=40)
            return r.status_code, r.text

    with ThreadPoolExecutor(150) as pool:
        answers = list(pool.map(one, range(150)))
    statuses = [status for status, _ in answers]
    spent = _spent(pg_url, "ana")
    print(f"3 x 50 calls: {statuses.count(200)} answered, {statuses.count(403)} refused, ${spent} of ${budget}")
    assert statuses.count(200) >= 1 and statuses.count(403) >= 1, statuses
    assert set(statuses) <= {200, 403}, statuses
    assert spent <= budget, f"spent ${spent} of ${budget} ({statuses.count(200)} of 150 answered)"
    # Each call holds its worst case (input bound and max_tokens at the Opus price), about twice what it then
    # costs, and holds are decided in arrival order: the first refusal of a round came when the holds admitted
    # so far plus its own passed the budget, so one more hold than were answered is worth more than the budget.
    # Holds differ by a few per cent (the prompt's number), hence the margin. Fewer answered means calls that
    # fitted were refused (as when spend read a hold twice).
    needed = [Decimal(m.group(1).replace(",", "")) for status, text in answers if status == 403
              for m in [re.search(r"up to \$([0-9.,]+) needed", text)] if m]
    assert needed, "no refusal said what it needed"
    answered = statuses.count(200)
    assert (answered + 1) * max(needed) > budget * Decimal("0.95"), \
        f"{answered} answered (${spent}) with holds of up to ${max(needed)}: the reservations refused too much"


def test_a_replica_killed_mid_stream_frees_its_concurrency_slot_within_the_lease(topology, fresh_sim):
    lease_s = 2.0
    topo, key = topology(limits="redis", user_concurrency=1, lease_s=lease_s)
    fresh_sim.configure(tokens_per_s=4.0)  # 80 tokens: a 20 s stream, far longer than the test
    body = {"model": "claude-haiku-5-5", "max_tokens": 80, "stream": True,
            "messages": [{"role": "user", "content": "tell a long story"}]}
    with requests.Session() as http:
        with http.post(topo.urls[0] + "/v1/messages", json=body, headers={**HEADERS, "x-api-key": key},
                       stream=True, timeout=10) as stream:
            assert stream.status_code == 200
            lines = stream.iter_lines(decode_unicode=True)
            while "content_block_delta" not in next(lines):
                pass
            assert call(http, topo.urls[1], key, "while it streams").status_code == 429  # ana's one slot is held
            topo.kill(0)
            killed = time.monotonic()
        fresh_sim.configure(tokens_per_s=0.0)
        while (status := call(http, topo.urls[1], key, "after the kill").status_code) == 429:
            assert time.monotonic() - killed < lease_s + 1.0, "the dead replica's slot was never freed"
            time.sleep(0.1)
        freed = time.monotonic() - killed
    print(f"slot of the killed replica freed after {freed:.2f} s (lease {lease_s} s)")
    assert status == 200 and freed <= lease_s + 1.0, f"freed after {freed:.1f} s (lease {lease_s} s)"


@pytest.mark.parametrize("mode", ["closed", "open"])
def test_redis_stopped_mid_run_follows_the_failure_mode(topology, tmp_path, mode):
    private = PrivateRedis(tmp_path).start()
    try:
        topo, key = topology(redis_url=private.url, limits="redis", shared_state_failure=mode, user_rpm=600)
        with requests.Session() as http:
            assert [call(http, u, key, f"before {u}").status_code for u in topo.urls] == [200] * 3
            private.stop()
            during = [call(http, u, key, f"during {u}") for u in topo.urls]
            ready = [http.get(u + "/readyz", timeout=10).json() for u in topo.urls]
            if mode == "closed":
                assert [r.status_code for r in during] == [503] * 3, [r.text for r in during]
                assert all("Redis" in r.json()["error"]["message"] and r.headers["retry-after"] for r in during)
                assert all(r["status"] == "degraded" and not r["ready"] for r in ready), ready
            else:
                assert [r.status_code for r in during] == [200] * 3, [r.text for r in during]
                assert all(r["status"] == "degraded" and r["ready"] for r in ready), ready
            private.start()
            deadline = time.monotonic() + 15
            while any(call(http, u, key, f"after {u}").status_code != 200 for u in topo.urls):
                assert time.monotonic() < deadline, "the replicas did not come back with Redis"
                time.sleep(0.2)
    finally:
        private.stop()


def require_nginx() -> None:
    """Skip without Debian's nginx (.ci/run installs it), or fail if the run demands every service."""
    if shutil.which("nginx") or os.path.exists("/usr/sbin/nginx"):
        return
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail("nginx is not installed (apt-get install nginx-light) and REQUIRE_SERVICES=1", pytrace=False)
    pytest.skip("nginx is not installed (apt-get install nginx-light)")


def test_deploy_nginx_conf_spreads_calls_streams_unbuffered_and_routes_around_a_dead_replica(topology, fresh_sim):
    require_nginx()
    topo, key = topology(proxy=True, limits="redis")
    with requests.Session() as http:
        assert [call(http, topo.proxy_url, key, f"via nginx {i}").status_code for i in range(9)] == [200] * 9
        per_replica = [http.get(u + "/metrics", timeout=10).text for u in topo.urls]
        assert all('tollgate_calls_total{' in m for m in per_replica), "a replica got no call from nginx"
        fresh_sim.configure(tokens_per_s=5.0)  # 40 tokens: 8 s to the end of the stream
        body = {"model": "claude-haiku-5-5", "max_tokens": 40, "stream": True,
                "messages": [{"role": "user", "content": "tell a long story"}]}
        t0 = time.monotonic()
        with http.post(topo.proxy_url + "/v1/messages", json=body, headers={**HEADERS, "x-api-key": key},
                       stream=True, timeout=20) as stream:
            assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.iter_lines(decode_unicode=True)
            while "content_block_delta" not in next(lines):
                pass
            first_text_s = time.monotonic() - t0
        fresh_sim.configure(tokens_per_s=0.0)
        assert first_text_s < 3.0, f"nginx held the stream back ({first_text_s:.1f} s to the first text)"
        topo.kill(1)
        assert [call(http, topo.proxy_url, key, f"one down {i}").status_code for i in range(6)] == [200] * 6
