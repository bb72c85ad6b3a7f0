"""What the gateway adds: the raw SDK straight to a zero-latency simulator vs the same SDK through the gateway.

    python bench/gateway.py [--n 1000] [--clients 16] [--seconds 5]

Side by side in one run, call by call in turn, against the same simulator (its own process): the raw SDK direct; the SDK
through ``python -m core serve`` with the ledger off (authenticated by an HS256 JWT, as a gateway
without a ledger has no keys) and with the default DuckDB ledger (a Tollgate key). Prints p50/p99
of a call and of the time to first token on a stream, what the gateway adds to each, and requests
per second with ``--clients`` concurrent clients. Targets: under 1 ms added at p50 with the ledger
off, time to first token added under 1 ms, and at least 70 % of the raw SDK's throughput at 16
clients with the ledger off. Then, against a simulator whose first token takes 50 ms, the time to a
stream's first byte (its head), raw and through the gateway in turn: nothing may wait for the token
(target: under 1 ms added). The gateway's number includes the guard's own work (validation,
limits, pricing, recording), which bench/overhead.py measures alone.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import anthropic  # noqa: E402
import jwt  # noqa: E402

from deploy.topology import free_port  # noqa: E402

UPSTREAM_KEY = "sk-ant-test-fake-bench-0000"
JWT_SECRET = "bench-only-shared-secret-0123456789abcdef"
ASK = dict(model="claude-haiku-5-5", max_tokens=16, messages=[{"role": "user", "content": "Say hi"}])


ROUNDS = 5  # throughput is measured in this many rounds per path, the paths taking turns
SLOW_TTFT_S = 0.05  # the simulated model's time to first token when time to first byte is timed
PORTS = [range(18600, 18700)]  # --ports A-B: where the simulator and the two gateways listen


def port() -> int:
    return free_port(ports=PORTS[0])


def wait_for(url: str) -> None:
    for _ in range(300):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


@contextlib.contextmanager
def process(args: list[str], env: dict | None = None):
    proc = subprocess.Popen([sys.executable, "-m", "core", *args], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def gateway_env(sim_url: str, tmp: str, ledger: bool) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "TOLLGATE_"))}
    env.update(ANTHROPIC_BASE_URL=sim_url, ANTHROPIC_API_KEY=UPSTREAM_KEY, TOLLGATE_CONCURRENCY="none",
               TOLLGATE_USER_CONCURRENCY="none", TOLLGATE_LOG_LEVEL="WARNING", TOLLGATE_JWT_SECRET=JWT_SECRET,
               TOLLGATE_DATA_DIR=tmp, TOLLGATE_LEDGER_URL=f"duckdb:///{tmp}/ledger.duckdb" if ledger else "off")
    return env


def make_key(env: dict) -> str:
    out = subprocess.run([sys.executable, "-m", "core", "key", "create", "--user", "bench", "--json"], cwd=ROOT,
                         env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out)["key"]


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def calls(client, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        client.messages.create(**ASK)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def first_tokens(client, n: int) -> list[float]:
    """Milliseconds from sending a streamed request to its first text delta."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        with client.messages.stream(**ASK) as s:
            for ev in s:
                if ev.type == "content_block_delta":
                    out.append((time.perf_counter() - t0) * 1000)
                    break
            for _ in s:
                pass
    return out


def heads(client, n: int) -> list[tuple[float, float]]:
    """Milliseconds from sending a streamed request to its response head and to its first text delta."""
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        with client.messages.stream(**ASK) as s:  # entered once the head is in
            head, first = (time.perf_counter() - t0) * 1000, None
            for ev in s:
                if first is None and ev.type == "content_block_delta":
                    first = (time.perf_counter() - t0) * 1000
        out.append((head, first))
    return out


def time_heads(sim_port: int, gw_port: int, n: int) -> dict[str, list[float]]:
    """Time to the head of ``n`` streams, straight to the simulator and through the gateway, in turn."""
    token = jwt.encode({"sub": "bench", "exp": int(time.time()) + 3600}, JWT_SECRET, algorithm="HS256")
    direct = anthropic.Anthropic(base_url=f"http://127.0.0.1:{sim_port}", api_key=UPSTREAM_KEY, max_retries=0)
    via = anthropic.Anthropic(base_url=f"http://127.0.0.1:{gw_port}", api_key=token, max_retries=0)
    heads(direct, 5), heads(via, 5)  # warm
    out: dict[str, list[tuple[float, float]]] = {"raw SDK direct": [], "gateway, ledger off": []}
    for _ in range(n):  # in turn, so both see the same load
        out["raw SDK direct"] += heads(direct, 1)
        out["gateway, ledger off"] += heads(via, 1)
    return out


def throughput(sdk_clients: list, seconds: float) -> float:
    """Requests per second with one thread per SDK client (made beforehand), all calling for ``seconds``."""
    done, ready = [0] * len(sdk_clients), threading.Barrier(len(sdk_clients) + 1)
    stop = [0.0]

    def run(i: int) -> None:
        ready.wait()
        c = sdk_clients[i]
        while time.perf_counter() < stop[0]:
            c.messages.create(**ASK)
            done[i] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(sdk_clients))]
    for t in threads:
        t.start()
    start = time.perf_counter()
    stop[0] = start + seconds
    ready.wait()
    for t in threads:
        t.join()
    return sum(done) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--ports", default="18600-18700", help="port range A-B to listen on (loopback)")
    ap.add_argument("--heads", type=int, default=100, help="streams timed to their head with a slow first token")
    args = ap.parse_args()
    lo, hi = (int(x) for x in args.ports.split("-"))
    PORTS[0] = range(lo, hi)

    with tempfile.TemporaryDirectory() as tmp:
        slow_port = port()
        with process(["simulate", "--port", str(slow_port), "--ttft", str(SLOW_TTFT_S), "--tps", "0"]):
            wait_for(f"http://127.0.0.1:{slow_port}/_sim/health")  # bound: the next free port is another
            slow_gw = port()
            with process(["serve", "--port", str(slow_gw)],
                         gateway_env(f"http://127.0.0.1:{slow_port}", tmp + "/slow", ledger=False)):
                wait_for(f"http://127.0.0.1:{slow_gw}/healthz")
                first_byte = time_heads(slow_port, slow_gw, args.heads)
        sim_port = port()
        with process(["simulate", "--port", str(sim_port), "--ttft", "0", "--tps", "0"]):
            sim_url = f"http://127.0.0.1:{sim_port}"
            wait_for(sim_url + "/_sim/health")
            compare(sim_url, tmp, args)
        print(f"\nWith a {SLOW_TTFT_S * 1000:.0f} ms time to first token, {args.heads} streams each, in turn:")
        for i, what in ((0, "time to first byte (the head)"), (1, "time to first token")):
            raw = pct([x[i] for x in first_byte["raw SDK direct"]], 0.5)
            gw = pct([x[i] for x in first_byte["gateway, ledger off"]], 0.5)
            print(f"  {what:30} raw {raw:8.3f} ms, gateway {gw:8.3f} ms, added {gw - raw:6.3f} ms")


def compare(sim_url: str, tmp: str, args) -> None:
    """The three paths against the zero-latency simulator at ``sim_url``: the table."""
    token = jwt.encode({"sub": "bench", "exp": int(time.time()) + 3600}, JWT_SECRET, algorithm="HS256")
    led_env = gateway_env(sim_url, tmp, ledger=True)
    key = make_key(led_env)
    off_port = port()
    with process(["serve", "--port", str(off_port)], gateway_env(sim_url, tmp + "/off", ledger=False)):
        wait_for(f"http://127.0.0.1:{off_port}/healthz")  # bound: the next free port is another
        on_port = port()
        with process(["serve", "--port", str(on_port)], led_env):
            paths = {
                "raw SDK direct": lambda: anthropic.Anthropic(base_url=sim_url, api_key=UPSTREAM_KEY, max_retries=0),
                "gateway, ledger off": lambda: anthropic.Anthropic(base_url=f"http://127.0.0.1:{off_port}",
                                                                   api_key=token, max_retries=0),
                "gateway, DuckDB ledger": lambda: anthropic.Anthropic(base_url=f"http://127.0.0.1:{on_port}",
                                                                      api_key=key, max_retries=0),
            }
            wait_for(f"http://127.0.0.1:{on_port}/healthz")
            report(paths, args)


def report(paths: dict, args) -> None:
    # In turn, call by call (and throughput in rounds), so that load coming and going on the machine
    # falls on every path alike instead of on whichever block it happened to meet.
    lat, ttft = {name: [] for name in paths}, {name: [] for name in paths}
    clients = {name: make() for name, make in paths.items()}
    for c in clients.values():
        calls(c, 50), first_tokens(c, 20)  # warm: connections, imports, the first ledger write
    streams = max(100, args.n // 4)
    for i in range(args.n):
        for name, c in clients.items():
            lat[name] += calls(c, 1)
            if i < streams:
                ttft[name] += first_tokens(c, 1)
    pools = {name: [make() for _ in range(args.clients)] for name, make in paths.items()}
    for pool in pools.values():
        throughput(pool, 0.2)  # warm: every client's connection
    rounds = max(1, min(ROUNDS, round(args.seconds)))
    rps = {name: 0.0 for name in paths}
    for _ in range(rounds):
        for name, pool in pools.items():
            rps[name] += throughput(pool, args.seconds / rounds) / rounds
    base = "raw SDK direct"
    print(f"{'path':24} {'p50 ms':>8} {'p99 ms':>8} {'added p50':>10} {'added p99':>10} "
          f"{'ttft p50':>9} {'ttft +p50':>10} {'req/s@' + str(args.clients):>10} {'of raw':>7}")
    for name in paths:
        p50, p99, t50 = pct(lat[name], 0.5), pct(lat[name], 0.99), pct(ttft[name], 0.5)
        add50, add99 = p50 - pct(lat[base], 0.5), p99 - pct(lat[base], 0.99)
        print(f"{name:24} {p50:8.3f} {p99:8.3f} {add50:10.3f} {add99:10.3f} {t50:9.3f} "
              f"{t50 - pct(ttft[base], 0.5):10.3f} {rps[name]:10.0f} {rps[name] / rps[base]:7.0%}")
    print(f"\n{args.n} sequential calls per path, in turn (mean raw {statistics.mean(lat[base]):.3f} ms); "
          f"{streams} streams for time to first token; {args.clients} clients for {args.seconds:.0f} s per path "
          f"in {rounds} rounds; load average {os.getloadavg()[0]:.1f}.")


if __name__ == "__main__":
    main()
