"""The ledger's write path: raw SDK vs the guard with a DuckDB and a PostgreSQL ledger, in one run.

    python bench/ledger_write.py [--n 1000] [--threads 16] [--seconds 5] [--pg URL] [--budget]

Sequential: p50/p99 per path and the time each path adds over the raw SDK (target: DuckDB
< 1.5 ms at p50, PostgreSQL < 3 ms). Concurrent: calls/s with ``--threads`` callers for each path,
as a share of the raw SDK's (target: DuckDB >= 80 %, PostgreSQL >= 40 %), and how many calls
were refused (target: none). ``--budget`` gives the bench user a large budget, so every call
takes a hold too. The simulator runs in its own process at zero latency.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import anthropic  # noqa: E402
import httpx2  # noqa: E402

from bench.overhead import KEY, MODEL, pct, simulator, timed  # noqa: E402
from bench.threads import run_threads  # noqa: E402
from core.config import load_settings  # noqa: E402
from core.errors import TollgateError  # noqa: E402
from core.factory import build_client  # noqa: E402

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BODY = dict(model=MODEL, max_tokens=32)


@contextlib.contextmanager
def pg_schema(url: str):
    """``url`` with a fresh schema of its own as the search path, dropped afterwards."""
    from sqlalchemy import create_engine, text

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _threaded(fn, *, threads: int, seconds: float) -> tuple[float, int, int]:
    """(calls/s, calls done, calls refused) with ``threads`` callers for ``seconds``."""
    done, refused, stop = [0] * threads, [0] * threads, time.perf_counter() + seconds

    def run(i: int) -> None:
        k = 0
        while time.perf_counter() < stop:
            k += 1
            try:
                fn(f"thread {i} question {k}")
                done[i] += 1
            except TollgateError:
                refused[i] += 1
    elapsed = run_threads(run, threads)  # first: the counts are read after the threads end
    return sum(done) / elapsed, sum(done), sum(refused)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--pg", default=PG_DEFAULT, help="PostgreSQL URL ('' to skip)")
    ap.add_argument("--budget", action="store_true", help="give the bench user a budget: every call holds")
    args = ap.parse_args()
    with contextlib.ExitStack() as stack:
        url, tmp = stack.enter_context(simulator()), stack.enter_context(tempfile.TemporaryDirectory())
        pg = stack.enter_context(pg_schema(args.pg)) if args.pg else None
        raw = anthropic.Anthropic(api_key=KEY.secret, base_url=url, max_retries=0,
                                  timeout=httpx2.Timeout(60.0, connect=10.0))
        base = dict(env={}, load_keys=False, keys=(KEY,), base_url=url, cache="off", tracing="off")
        clients = {"DuckDB": build_client(load_settings(**base, ledger_url=f"duckdb:///{tmp}/bench.duckdb",
                                                        spool_path=f"{tmp}/duck/spool"))}
        if pg:
            clients["PostgreSQL"] = build_client(load_settings(**base, ledger_url=pg,
                                                               spool_path=f"{tmp}/pg/spool"))
        user = "bench-lw"
        if args.budget:
            for c in clients.values():
                c.ledger.open()  # the schema first: set_budget writes the budgets table
                c.budgets.set_budget(user, 1_000_000)
        off = build_client(load_settings(**base, ledger_url=None), use_ledger=False)
        paths = {"raw SDK": lambda p: raw.messages.create(messages=[{"role": "user", "content": p}], **BODY),
                 "guarded, ledger off": lambda p: off.create(p, user=user, **BODY)}
        for name, c in clients.items():
            paths[f"guarded + {name} ledger"] = lambda p, c=c: c.create(p, user=user, **BODY)
        for fn in paths.values():
            for i in range(50):
                fn(f"warm {i}")
        times: dict[str, list[float]] = {k: [] for k in paths}
        for i in range(args.n):  # interleaved, so drift on the machine hits every path alike
            for name, fn in paths.items():
                times[name].append(timed(lambda fn=fn, p=f"Question {i}: what changed?": fn(p)))
        for c in clients.values():
            c.recorder.flush()
        rates = {}
        for name, fn in paths.items():
            rates[name] = _threaded(fn, threads=args.threads, seconds=args.seconds)
            for c in clients.values():
                c.recorder.flush()  # the background writer catches up before the next path is timed
        if args.budget:
            for c in clients.values():
                c.budgets.remove_budget(user)
        for c in (*clients.values(), off):
            c.close()

    raw50 = pct(times["raw SDK"], 0.5)
    print(f"{args.n} sequential calls per path, interleaved; {args.threads} threads for {args.seconds:.0f} s each; "
          f"budget holds: {'on' if args.budget else 'off (no budget)'}\n")
    print(f"{'path':30} {'p50 ms':>8} {'p99 ms':>8} {'added p50':>10} {'calls/s':>8} {'of raw':>7} {'refused':>8}")
    raw_rate = rates["raw SDK"][0]
    for name, xs in times.items():
        p50, p99 = pct(xs, 0.5), pct(xs, 0.99)
        rate, _, refused = rates[name]
        added = "" if name == "raw SDK" else f"{p50 - raw50:10.3f}"
        print(f"{name:30} {p50:8.3f} {pct(xs, 0.99):8.3f} {added:>10} {rate:8.0f} {rate / raw_rate:7.0%} {refused:8d}"
              if p99 is not None else "")
    off50 = pct(times["guarded, ledger off"], 0.5)
    for name, limit_ms, share in (("DuckDB", 1.5, 0.8), ("PostgreSQL", 3.0, 0.4)):
        key = f"guarded + {name} ledger"
        if key not in times:
            continue
        added = pct(times[key], 0.5) - raw50
        rate, _, refused = rates[key]
        ok = added < limit_ms and rate / raw_rate >= share and refused == 0
        print(f"{name}: adds {added:.3f} ms at p50 (target < {limit_ms}; the ledger's own share "
              f"{pct(times[key], 0.5) - off50:.3f} ms), {rate / raw_rate:.0%} of raw throughput "
              f"(target >= {share:.0%}), {refused} refused (target 0): {'OK' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
