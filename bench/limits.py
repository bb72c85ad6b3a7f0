"""What shared limits cost per call: the in-process limiter vs the Redis one, side by side in one run.

    python bench/limits.py [--n 2000] [--redis redis://127.0.0.1:6379/11]

Two levels, each interleaved so drift on the machine hits both alike: the limiter alone
(acquire, settle, release: what a call pays), and a whole guarded call (cache off, ledger
off) against a zero-latency simulator in its own process, with TOLLGATE_LIMITS=memory and
=redis. Limits are set high enough never to bind: this measures bookkeeping, not waiting.
Keys go under a random prefix in the given database and are deleted at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bench.overhead import KEY, MODEL, pct, simulator  # noqa: E402
from core.clock import SystemClock  # noqa: E402
from core.config import load_settings  # noqa: E402
from core.factory import build_client  # noqa: E402
from core.guards.limits import LimitConfig, LimitSpec, RateLimiter  # noqa: E402
from core.guards.redis_limits import RedisRateLimiter  # noqa: E402

HIGH = dict(rpm=10_000_000, input_tpm=10_000_000_000, output_tpm=10_000_000_000)


def limiter_alone(url: str, prefix: str, n: int) -> dict[str, list[float]]:
    """ms per acquire + settle + release, memory and Redis, interleaved."""
    cfg = LimitConfig(LimitSpec(**HIGH, concurrency=32), LimitSpec(**HIGH, concurrency=8))
    clock = SystemClock()
    memory = RateLimiter(cfg, clock, time.sleep)
    shared = RedisRateLimiter(cfg, redis.Redis.from_url(url), sleep=time.sleep, clock=clock, prefix=prefix)
    paths = {"limiter, memory": memory, "limiter, redis": shared}
    times: dict[str, list[float]] = {k: [] for k in paths}
    for i in range(n + 50):
        for name, lim in paths.items():
            t0 = time.perf_counter()
            permit = lim.acquire(f"user{i % 10}", 120, 32)
            permit.settle(100, 12)
            permit.release()
            if i >= 50:  # the first 50 warm connections and scripts
                times[name].append((time.perf_counter() - t0) * 1000)
    shared.close()
    return times


def guarded_calls(url: str, prefix: str, n: int) -> dict[str, list[float]]:
    """ms per guarded call (cache and ledger off), limits in memory and in Redis, interleaved."""
    times: dict[str, list[float]] = {}
    with simulator() as sim:
        base = dict(env={}, load_keys=False, keys=(KEY,), base_url=sim, ledger_url=None, cache="off",
                    tracing="off", **{f"user_{k}": v for k, v in HIGH.items()}, **HIGH)
        clients = {"guarded call, limits=memory": build_client(load_settings(**base), use_ledger=False),
                   "guarded call, limits=redis": build_client(load_settings(**base, limits="redis", redis_url=url,
                                                                            redis_prefix=prefix),
                                                              use_ledger=False)}
        times = {k: [] for k in clients}
        for c in clients.values():  # warm up connections and scripts
            for i in range(50):
                c.create(f"warm {i}", user="warm", model=MODEL, max_tokens=32)
        # Alternating blocks of 100, not single calls: two keep-alive connections used turn by turn
        # to the one simulator cost both paths milliseconds on a busy machine (a measurement artefact).
        for start in range(0, n, 100):
            for name, c in clients.items():
                for i in range(start, min(n, start + 100)):
                    t0 = time.perf_counter()
                    c.create(f"Question {i}", user=f"user{i % 10}", model=MODEL, max_tokens=32)
                    times[name].append((time.perf_counter() - t0) * 1000)
        for c in clients.values():
            c.close()
    return times


def report(times: dict[str, list[float]]) -> None:
    names = list(times)
    for name in names:
        xs = times[name]
        print(f"  {name:32} p50 {statistics.median(xs):7.3f} ms   p99 {pct(xs, 0.99):7.3f} ms")
    added = statistics.median(times[names[1]]) - statistics.median(times[names[0]])
    print(f"  {'redis adds per call':32} p50 {added:+7.3f} ms")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--redis", default="redis://127.0.0.1:6379/11", help="a database this run may write keys in")
    args = ap.parse_args()
    prefix = f"tollgate-bench-{uuid.uuid4().hex[:8]}:"
    try:
        print(f"limiter alone (acquire + settle + release), n={args.n}")
        report(limiter_alone(args.redis, prefix, args.n))
        print(f"whole guarded call, zero-latency simulator, cache and ledger off, n={args.n}")
        report(guarded_calls(args.redis, prefix, args.n))
    finally:
        r = redis.Redis.from_url(args.redis)
        for key in r.scan_iter(match=prefix + "*", count=500):
            r.delete(key)


if __name__ == "__main__":
    main()
