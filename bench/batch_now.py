"""Rows per second of a 1,000-row batch run in "now" mode, beside the raw SDK making the same calls.

    python bench/batch_now.py [--rows 1000] [--workers 4]

Against a zero-latency simulator (its own process, so it does not share our GIL), one run, side by side:
the raw SDK sequentially, the raw SDK on ``--workers`` threads, and Tollgate's now mode with the same number
of worker threads (TOLLGATE_BATCH_WORKERS) over a DuckDB ledger with a budget: the whole run validated,
priced and held before the first row, then each row a guarded call with its idempotency key (claimed,
recorded, replayable), its item row updated; and, to tell the run's own cost from the guard's, the same
keyed calls through the guarded client alone. Prints rows/s of each and the ratios.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import anthropic  # noqa: E402

from core.batches.model import RunSpec  # noqa: E402
from core.batches.queue import ThreadQueue  # noqa: E402
from core.batches.service import BatchRuns  # noqa: E402
from core.config import load_settings  # noqa: E402
from core.factory import build_client  # noqa: E402
from core.upstream.keys import ApiKey  # noqa: E402
from deploy import topology  # noqa: E402

KEY = ApiKey("bench", "sk-ant-test-fake-bench-0000")
MODEL = "claude-haiku-5-5"
PORTS = range(19400, 19500)


def simulator() -> tuple[subprocess.Popen, str]:
    port = topology.free_port(ports=PORTS)
    proc = subprocess.Popen([sys.executable, "-m", "core", "simulate", "--port", str(port), "--ttft", "0",
                             "--tps", "0"], cwd=ROOT, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    sdk = anthropic.Anthropic(api_key=KEY.secret, base_url=url, max_retries=0)
    for _ in range(200):
        try:
            sdk.messages.create(model=MODEL, max_tokens=20, messages=[{"role": "user", "content": "warm up"}])
            return proc, url
        except anthropic.APIConnectionError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the simulator did not start")


def prompt(i: int) -> str:
    return f"Summarise ticket {i}: the printer on floor {i % 7} is jammed again"


def raw(url: str, rows: int, workers: int) -> float:
    """Seconds for ``rows`` SDK calls on ``workers`` threads (1: one after another)."""
    sdk = anthropic.Anthropic(api_key=KEY.secret, base_url=url, max_retries=0)

    def one(i: int) -> None:
        sdk.messages.create(model=MODEL, max_tokens=40, messages=[{"role": "user", "content": prompt(i)}])
    t0 = time.perf_counter()
    if workers == 1:
        for i in range(rows):
            one(i)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, range(rows)))
    return time.perf_counter() - t0


def _settings(url: str, rows: int, workers: int, data: Path):
    return load_settings(env={}, load_keys=False, keys=(KEY,), base_url=url, cache="off",
                         ledger_url=f"duckdb:///{data / 'ledger.duckdb'}", spool_path=str(data / "spool"),
                         user_concurrency=max(8, workers), batch_workers=workers, batch_max_rows=rows)


def guarded(url: str, rows: int, workers: int, data: Path) -> float:
    """Seconds for the same calls through the guarded client alone (budget, ledger, idempotency key each), on
    ``workers`` threads: what a run's rows cost before the run's own bookkeeping."""
    with build_client(_settings(url, rows, workers, data), source="bench") as client:
        client.ledger.open()
        client.budgets.set_budget("ana", Decimal("1000"))

        def one(i: int) -> None:
            client.create(prompt(i), user="ana", model=MODEL, max_tokens=40, use_cache=False,
                          idempotency_key=f"bench:{i}")
        t0 = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(one, range(rows)))
        return time.perf_counter() - t0


def now_mode(url: str, rows: int, workers: int, data: Path) -> float:
    """Seconds from submit to the run's end, for a ``rows``-row now-mode run on ``workers`` threads."""
    settings = _settings(url, rows, workers, data)
    with build_client(settings, source="bench") as client:
        client.ledger.open()
        client.budgets.set_budget("ana", Decimal("1000"))
        runs = BatchRuns(client, queue=ThreadQueue(workers), settings=settings)
        spec = RunSpec(user="ana", template="Summarise ticket {{id}}: {{text}}", model=MODEL, max_tokens=40,
                       mode="now", rows=[{"id": str(i), "text": prompt(i).split(": ", 1)[1]} for i in range(rows)])
        t0 = time.perf_counter()
        st = runs.submit(spec)
        while not st.done:
            time.sleep(0.25)  # as a progress bar would: the run's status is a read of the ledger
            st = runs.status(st.id)
        took = time.perf_counter() - t0
        runs.close()
        assert st.counts["succeeded"] == rows, st
        return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()
    proc, url = simulator()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            seq = raw(url, args.rows, 1)
            par = raw(url, args.rows, args.workers)
            (Path(tmp) / "g").mkdir()
            alone = guarded(url, args.rows, args.workers, Path(tmp) / "g")
            ours = now_mode(url, args.rows, args.workers, Path(tmp))
    finally:
        proc.terminate()
        proc.wait(10)
    n = args.rows
    print(f"{n} rows, zero-latency simulator, {args.workers} threads where concurrent")
    print(f"  raw SDK, sequential:            {n / seq:8.1f} rows/s")
    print(f"  raw SDK, {args.workers} threads:              {n / par:8.1f} rows/s")
    print(f"  guarded calls alone, {args.workers} threads:  {n / alone:8.1f} rows/s  (budget + DuckDB ledger + "
          "idempotency key per call)")
    print(f"  Tollgate now mode, {args.workers} workers:    {n / ours:8.1f} rows/s")
    print(f"  now mode / raw SDK same threads: {par / ours:.2f}x the rate "
          f"({(ours - par) / n * 1000:.2f} ms more per row); / raw sequential: {seq / ours:.2f}x; "
          f"/ guarded calls alone: {alone / ours:.2f}x")


if __name__ == "__main__":
    main()
