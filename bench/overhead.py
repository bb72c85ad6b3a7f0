"""What the guard adds to a call: raw SDK vs guarded client, side by side, against a zero-latency simulator.

    python bench/overhead.py [--n 2000] [--observe]

Prints p50/p99 per path, the time the guard adds and the ratio. Targets: the guard adds
< 0.5 ms at p50 on a cache miss (ledger off: the guard itself), and a cache hit returns in
< 0.2 ms. A miss with the DuckDB ledger is printed too: a durable write is part of that path;
so is a hit with the ledger (its journal fsync), strict and with TOLLGATE_JOURNAL_SYNC_MS=50.
``--observe`` adds the same miss and hit paths with observability on, side by side: JSON
call logs at INFO written to a file, OpenTelemetry spans through the SDK (to an exporter
that drops them), Prometheus metrics (always on: they are part of every path).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import anthropic  # noqa: E402
import httpx2  # noqa: E402

from core.config import load_settings  # noqa: E402
from core.factory import build_client  # noqa: E402
from core.upstream.keys import ApiKey  # noqa: E402

KEY = ApiKey("bench", "sk-ant-test-fake-bench-0000")
MODEL = "claude-haiku-5-5"



def timing(send, into: list[float]):
    """Wrap one SDK attempt so its time (ms) is kept apart from the guard's own work."""
    def run(body):
        t0 = time.perf_counter()
        try:
            return send(body)
        finally:
            into.append((time.perf_counter() - t0) * 1000)
    return run


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


@contextlib.contextmanager
def simulator():
    """The simulator in its own process, so its work doesn't share our interpreter's GIL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "core", "simulate", "--port", str(port), "--ttft", "0",
                             "--tps", "0"], cwd=ROOT, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url + "/_sim/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


class _Switch(logging.Filter):
    """Lets records through only while ``on``: the observed paths log, the others don't."""

    on = False

    def filter(self, record) -> bool:
        return self.on


def observability(tmp: str) -> _Switch:
    """JSON logs to a file (through a switch) and an OpenTelemetry SDK provider whose spans are dropped."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

    from core.observability import JsonFormatter

    class Drop(SpanExporter):
        def export(self, spans):
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Drop()))
    trace.set_tracer_provider(provider)
    switch = _Switch()
    handler = logging.FileHandler(f"{tmp}/tollgate.log")
    handler.setFormatter(JsonFormatter())
    handler.addFilter(switch)
    log = logging.getLogger("tollgate")
    log.addHandler(handler)
    log.propagate = False
    return switch


def _threaded_hits(client, body: dict, *, threads: int, each: int) -> float:
    """Wall time per cache hit (seconds) with ``threads`` callers hitting at once."""
    import threading

    def run() -> None:
        for _ in range(each):
            client.create("cached question", user="bench", temperature=0, **body)
    workers = [threading.Thread(target=run) for _ in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return (time.perf_counter() - start) / (threads * each)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--observe", action="store_true", help="also time the paths with logs and tracing on")
    args = ap.parse_args()
    n = args.n
    with simulator() as url, tempfile.TemporaryDirectory() as tmp:
        # The raw client is configured exactly as the guard configures its own (timeouts, no retries).
        raw = anthropic.Anthropic(api_key=KEY.secret, base_url=url, max_retries=0,
                                  timeout=httpx2.Timeout(60.0, connect=10.0))
        base = dict(env={}, load_keys=False, keys=(KEY,), base_url=url)
        switch = observability(tmp) if args.observe else None
        guard = build_client(load_settings(**base, ledger_url=None, cache="off", concurrency=None,
                                           user_concurrency=None, tracing="off"), use_ledger=False)
        hits = build_client(load_settings(**base, ledger_url=None, cache="memory", tracing="off"),
                            use_ledger=False)
        ledgered = build_client(load_settings(**base, ledger_url=f"duckdb:///{tmp}/bench.duckdb",
                                              spool_path=f"{tmp}/spool", cache="off"))
        body = dict(model=MODEL, max_tokens=32)
        inner: list[float] = []  # time spent inside the SDK attempt, to isolate the guard's own work
        inner_obs: list[float] = []
        guard.transport.create = timing(guard.transport.create, inner)
        hits.create("cached question", user="bench", model=MODEL, max_tokens=32, temperature=0)

        paths = {
            "raw SDK": lambda p: raw.messages.create(messages=[{"role": "user", "content": p}], **body),
            "guarded, miss": lambda p: guard.create(p, user="bench", **body),
            "guarded, miss + DuckDB ledger": lambda p: ledgered.create(p, user="bench", **body),
            "guarded, cache hit": lambda p: hits.create("cached question", user="bench", temperature=0, **body),
        }
        observed = []
        if switch is not None:
            obs_guard = build_client(load_settings(**base, ledger_url=None, cache="off", concurrency=None,
                                                   user_concurrency=None, tracing="on"), use_ledger=False)
            obs_hits = build_client(load_settings(**base, ledger_url=None, cache="memory", tracing="on"),
                                    use_ledger=False)
            obs_hits.create("cached question", user="bench", model=MODEL, max_tokens=32, temperature=0)
            observed = [obs_guard, obs_hits]
            obs_guard.transport.create = timing(obs_guard.transport.create, inner_obs)

            def on(fn):
                def run(p):
                    switch.on = True
                    try:
                        return fn(p)
                    finally:
                        switch.on = False
                return run
            plain = paths
            paths = {}
            for name, fn in plain.items():  # each observed path right after its plain twin
                paths[name] = fn
                if name == "guarded, miss":
                    paths["guarded, miss, observed"] = on(lambda p: obs_guard.create(p, user="bench", **body))
                if name == "guarded, cache hit":
                    paths["guarded, cache hit, observed"] = on(
                        lambda p: obs_hits.create("cached question", user="bench", temperature=0, **body))
        for fn in paths.values():  # warm up connections and imports
            for i in range(50):
                fn(f"warm {i}")
        times: dict[str, list[float]] = {k: [] for k in paths}
        for i in range(n):  # interleaved, so drift on the machine hits every path alike
            prompt = f"Question number {i}: what changed this week?"
            for name, fn in paths.items():
                times[name].append(timed(lambda fn=fn, p=prompt: fn(p)))
                # The ledger's background work (alert checks) must not run into the next path's timing.
                ledgered.recorder.flush()
        hot = [timed(lambda: paths["guarded, cache hit"]("")) for _ in range(n)]  # back to back
        hot_obs = [timed(lambda: paths["guarded, cache hit, observed"]("")) for _ in range(n)] if observed else []
        # With a ledger a hit is journaled (one group-committed fsync) before it returns.
        ledgered_hits = build_client(load_settings(**base, ledger_url=f"duckdb:///{tmp}/bench.duckdb",
                                                   spool_path=f"{tmp}/spool", cache="memory", tracing="off"),
                                     ledger=ledgered.ledger, budgets=ledgered.budgets)
        ledgered_hits.create("cached question", user="bench", temperature=0, **body)
        hot_led = [timed(lambda: ledgered_hits.create("cached question", user="bench", temperature=0, **body))
                   for _ in range(n)]
        threaded_s = _threaded_hits(ledgered_hits, body, threads=8, each=max(1, n // 8))
        batched = build_client(load_settings(**base, ledger_url=f"duckdb:///{tmp}/batched.duckdb",
                                             spool_path=f"{tmp}/batched/spool", cache="memory", tracing="off",
                                             journal_sync_ms=50.0))
        batched.create("cached question", user="bench", temperature=0, **body)
        hot_batched = [timed(lambda: batched.create("cached question", user="bench", temperature=0, **body))
                       for _ in range(n)]
        for c in (guard, hits, ledgered, ledgered_hits, batched, *observed):
            c.close()

    raw50, raw99 = pct(times["raw SDK"], 0.5), pct(times["raw SDK"], 0.99)
    print(f"{n} calls per path, interleaved, simulator at zero latency\n")
    print(f"{'path':32} {'p50 ms':>9} {'p99 ms':>9} {'added p50':>10} {'added p99':>10} {'ratio p50':>10}")
    for name, xs in times.items():
        p50, p99 = pct(xs, 0.5), pct(xs, 0.99)
        added = "" if name == "raw SDK" or "hit" in name else f"{p50 - raw50:10.3f} {p99 - raw99:10.3f}"
        added = added or f"{'':10} {'':10}"
        print(f"{name:32} {p50:9.3f} {p99:9.3f} {added} {p50 / raw50:10.2f}")
    added50 = pct(times["guarded, miss"], 0.5) - raw50
    hit50 = pct(times["guarded, cache hit"], 0.5)
    print(f"\nguard adds {added50:.3f} ms at p50 on a miss (target < 0.5): {'OK' if added50 < 0.5 else 'MISSED'}")
    own = [t - i for t, i in zip(times["guarded, miss"], inner[-len(times["guarded, miss"]):], strict=True)]
    print(f"guard's own work on a miss (total minus the SDK attempt): p50 {pct(own, 0.5):.3f} ms, "
          f"p99 {pct(own, 0.99):.3f} ms (target < 0.5): {'OK' if pct(own, 0.5) < 0.5 else 'MISSED'}")
    hot50, hot99 = pct(hot, 0.5), pct(hot, 0.99)
    print(f"cache hit, back to back: p50 {hot50:.3f} ms, p99 {hot99:.3f} ms (target < 0.2): "
          f"{'OK' if hot50 < 0.2 else 'MISSED'}")
    print(f"cache hit, interleaved with real calls: p50 {hit50:.3f} ms (target < 0.2): "
          f"{'OK' if hit50 < 0.2 else 'MISSED'} (CPU caches are cold after each HTTP round trip)")
    print(f"cache hit with the DuckDB ledger (journaled, fsync'd), back to back: p50 {pct(hot_led, 0.5):.3f} ms, "
          f"p99 {pct(hot_led, 0.99):.3f} ms; 8 threads at once: {threaded_s * 1000:.3f} ms per hit "
          "(concurrent hits share an fsync)")
    print(f"cache hit with the DuckDB ledger, TOLLGATE_JOURNAL_SYNC_MS=50 (written, fsync'd within 50 ms): "
          f"p50 {pct(hot_batched, 0.5):.3f} ms, p99 {pct(hot_batched, 0.99):.3f} ms")
    if observed:
        obs50 = pct(times["guarded, miss, observed"], 0.5) - raw50
        print(f"\nwith logs, metrics and tracing on: guard adds {obs50:.3f} ms at p50 on a miss "
              f"(target < 0.5): {'OK' if obs50 < 0.5 else 'MISSED'}; observability's own share "
              f"{obs50 - added50:+.3f} ms")
        own_obs = [t - i for t, i in zip(times["guarded, miss, observed"],
                                         inner_obs[-len(times["guarded, miss, observed"]):], strict=True)]
        print(f"guard's own work on a miss, observed: p50 {pct(own_obs, 0.5):.3f} ms, p99 {pct(own_obs, 0.99):.3f} ms "
              f"(target < 0.5): {'OK' if pct(own_obs, 0.5) < 0.5 else 'MISSED'}")
        print(f"cache hit with observability, back to back: p50 {pct(hot_obs, 0.5):.3f} ms, "
              f"p99 {pct(hot_obs, 0.99):.3f} ms")
    print(f"mean raw {statistics.mean(times['raw SDK']):.3f} ms")


if __name__ == "__main__":
    main()
