"""What logs, metrics and tracing cost a guarded call, measured side by side in one run.

    python bench/observability.py [--n 3000]

Four clients against the simulator (its own process, zero latency), called in turn for each
prompt: plain, with OpenTelemetry spans, with JSON log lines written to a file, and with both
(Prometheus metrics are always on: they cost a few microseconds and cannot be turned off).
Each figure is the guard's own work (total time minus the SDK attempt), so the network's
jitter is left out. ``bench/overhead.py --observe`` gives the same against the raw SDK,
interleaved with the heavier DuckDB path, which leaves the CPU caches colder.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from overhead import KEY, MODEL, observability, pct, simulator, timing

from core.config import load_settings
from core.factory import build_client

VARIANTS = {"plain": ("off", False), "spans": ("on", False), "JSON logs": ("off", True),
            "spans + JSON logs": ("on", True)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=3000)
    n = ap.parse_args().n
    warm = min(200, n // 10)
    with simulator() as url, tempfile.TemporaryDirectory() as tmp:
        switch = observability(tmp)
        base = dict(env={}, load_keys=False, keys=(KEY,), base_url=url, ledger_url=None, cache="off",
                    concurrency=None, user_concurrency=None)
        clients, inner, own = {}, {}, {}
        for name, (tracing, _) in VARIANTS.items():
            client = build_client(load_settings(**base, tracing=tracing), use_ledger=False)
            inner[name], own[name] = [], []
            client.transport.create = timing(client.transport.create, inner[name])
            clients[name] = client
        for i in range(n + warm):
            for name, (_, logs) in VARIANTS.items():
                switch.on = logs
                t0 = time.perf_counter()
                clients[name].create(f"question {i}", user="bench", model=MODEL, max_tokens=32)
                total = (time.perf_counter() - t0) * 1000
                switch.on = False
                if i >= warm:
                    own[name].append(total - inner[name][-1])
        for client in clients.values():
            client.close()
    plain = pct(own["plain"], 0.5)
    print(f"{n} calls per variant, interleaved; the guard's own work per call (ms)\n")
    print(f"{'variant':22} {'p50':>7} {'p99':>7} {'vs plain p50':>13}")
    for name, xs in own.items():
        print(f"{name:22} {pct(xs, 0.5):7.3f} {pct(xs, 0.99):7.3f} {pct(xs, 0.5) - plain:+13.3f}")
    both = pct(own["spans + JSON logs"], 0.5)
    print(f"\nguard's own work with logs, metrics and tracing on: p50 {both:.3f} ms (target < 0.5): "
          f"{'OK' if both < 0.5 else 'MISSED'}")


if __name__ == "__main__":
    main()
