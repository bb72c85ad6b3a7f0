"""Two (or more) checkouts' gateways against one simulator, call by call in turn: a before/after on a busy machine.

    python bench/gateway_ab.py BEFORE_DIR AFTER_DIR [--n 1000] [--port 9160]

bench/gateway.py times each path in a block of its own, so load that comes and goes between blocks
moves the figures by more than a change is worth. Here the raw SDK and each checkout's
``python -m core serve`` (ledger off, HS256 JWT) take one JSON call and one stream in turn, ``--n``
times, so every path sees the same load. Prints added p50 of a call and of time to first token per
checkout, and each gateway process's CPU per call (JSON and stream averaged, from /proc).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import anthropic  # noqa: E402
import jwt  # noqa: E402

from bench.gateway import JWT_SECRET, UPSTREAM_KEY, calls, first_tokens, gateway_env, pct, wait_for  # noqa: E402


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("trees", nargs="+", help="checkouts whose `python -m core serve` to compare")
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--port", type=int, default=9160, help="the simulator's port; gateways take the next ones")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    sim_url = f"http://127.0.0.1:{args.port}"
    procs = [subprocess.Popen([sys.executable, "-m", "core", "simulate", "--port", str(args.port), "--ttft", "0",
                               "--tps", "0"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    token = jwt.encode({"sub": "bench", "exp": int(time.time()) + 3600}, JWT_SECRET, algorithm="HS256")
    clients = {"raw SDK": anthropic.Anthropic(base_url=sim_url, api_key=UPSTREAM_KEY, max_retries=0)}
    try:
        wait_for(sim_url + "/_sim/health")
        for i, tree in enumerate(args.trees):
            port = args.port + 1 + i
            procs.append(subprocess.Popen([sys.executable, "-m", "core", "serve", "--port", str(port)], cwd=tree,
                                          env=gateway_env(sim_url, f"{tmp}/{i}", ledger=False),
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            wait_for(f"http://127.0.0.1:{port}/healthz")
            clients[f"{i}: {tree}"] = anthropic.Anthropic(base_url=f"http://127.0.0.1:{port}", api_key=token,
                                                          max_retries=0)
        for c in clients.values():  # warm: connections, imports, threads
            calls(c, 30), first_tokens(c, 30)
        cpu0 = [cpu_s(p.pid) for p in procs[1:]]
        lat = {k: [] for k in clients}
        ttft = {k: [] for k in clients}
        for _ in range(args.n):
            for k, c in clients.items():
                lat[k] += calls(c, 1)
            for k, c in clients.items():
                ttft[k] += first_tokens(c, 1)
        cpu = [(cpu_s(p.pid) - c0) / (2 * args.n) * 1000 for p, c0 in zip(procs[1:], cpu0, strict=True)]
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=20)
    base50, base_t50 = pct(lat["raw SDK"], 0.5), pct(ttft["raw SDK"], 0.5)
    print(f"{'path':40} {'p50 ms':>7} {'added':>7} {'ttft p50':>9} {'added':>7} {'CPU ms/call':>12}")
    for i, k in enumerate(clients):
        p50, t50 = pct(lat[k], 0.5), pct(ttft[k], 0.5)
        gw_cpu = f"{cpu[i - 1]:12.3f}" if i else f"{'':12}"
        print(f"{k[-40:]:40} {p50:7.3f} {p50 - base50:7.3f} {t50:9.3f} {t50 - base_t50:7.3f} {gw_cpu}")
    print(f"\n{args.n} JSON calls and {args.n} streams per path, in turn; load average {os.getloadavg()[0]:.1f}.")


if __name__ == "__main__":
    main()
