"""A budgeted call with a PostgreSQL ledger, two checkouts side by side: blocks of calls in turn, one simulator.

    python bench/ledger_write_ab.py --before ../base [--after .] [--n 1000] [--block 20] [--threads 16]
                                    [--seconds 5] [--pg URL]

On a shared machine the load moves between two runs of bench/ledger_write.py; here each checkout runs in its
own process (its own code, its own schema), and the two take turns, ``--block`` sequential calls each, so drift
hits both alike. Each process times, call by call in turn, the raw SDK, a call by a user with a budget (it
holds) and one by a user without (no hold): added = guarded - raw at p50, the hold's share = budgeted -
unbudgeted. Then ``--threads`` callers for ``--seconds``, twice per checkout in turn: budgeted calls/s as a
share of the raw SDK's, and how many were refused.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PATHS = ("raw", "budgeted", "unbudgeted")


def worker(root: str, sim: str, pg: str) -> None:
    """One checkout's client: answers the parent's commands (JSON lines on stdin) with timings."""
    sys.path.insert(0, root)
    import anthropic
    import httpx2

    from bench.ledger_write import _threaded
    from bench.overhead import KEY, MODEL, timed
    from core.config import load_settings
    from core.factory import build_client

    body = dict(model=MODEL, max_tokens=32)
    tmp = tempfile.mkdtemp()
    base = dict(env={}, load_keys=False, keys=(KEY,), base_url=sim, cache="off", tracing="off")
    client = build_client(load_settings(**base, ledger_url=pg, spool_path=f"{tmp}/spool"))
    client.ledger.open()
    client.budgets.set_budget("bench-ab", 1_000_000)
    raw = anthropic.Anthropic(api_key=KEY.secret, base_url=sim, max_retries=0,
                              timeout=httpx2.Timeout(60.0, connect=10.0))
    fns = {"raw": lambda p: raw.messages.create(messages=[{"role": "user", "content": p}], **body),
           "budgeted": lambda p: client.create(p, user="bench-ab", **body),
           "unbudgeted": lambda p: client.create(p, user="bench-free", **body)}
    for i in range(50):
        for fn in fns.values():
            fn(f"warm {i}")
    print(json.dumps({"ready": True}), flush=True)
    k = 0
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["do"] == "seq":
            out: dict = {name: [] for name in fns}
            for _ in range(cmd["n"]):
                k += 1
                for name, fn in fns.items():
                    out[name].append(timed(lambda fn=fn, p=f"Question {k}: what changed?": fn(p)))
            print(json.dumps(out), flush=True)
        elif cmd["do"] == "threads":
            out = {}
            for name in ("raw", "budgeted"):
                out[name] = _threaded(fns[name], threads=cmd["threads"], seconds=cmd["seconds"])
                client.recorder.flush()
            print(json.dumps(out), flush=True)
        else:
            break
    client.budgets.remove_budget("bench-ab")
    client.close()


def _python(root: Path) -> str:
    venv = root / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True, help="the other checkout (its .venv is used when it has one)")
    ap.add_argument("--after", default=str(ROOT))
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--block", type=int, default=20)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--pg", default=None, help="PostgreSQL URL (default: bench/ledger_write.py's)")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from bench.ledger_write import PG_DEFAULT, pg_schema
    from bench.overhead import simulator

    roots = {"before": Path(args.before).resolve(), "after": Path(args.after).resolve()}
    with contextlib.ExitStack() as stack:
        sim = stack.enter_context(simulator())
        procs = {}
        for name, root in roots.items():
            pg = stack.enter_context(pg_schema(args.pg or PG_DEFAULT))
            procs[name] = subprocess.Popen([_python(root), __file__, "--worker", str(root), sim, pg],
                                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for p in procs.values():
            assert json.loads(p.stdout.readline())["ready"]

        def ask(name: str, cmd: dict) -> dict:
            procs[name].stdin.write(json.dumps(cmd) + "\n")
            procs[name].stdin.flush()
            return json.loads(procs[name].stdout.readline())

        times = {n: {k: [] for k in PATHS} for n in procs}
        for _ in range(max(1, args.n // args.block)):
            for n in procs:
                for k, xs in ask(n, {"do": "seq", "n": args.block}).items():
                    times[n][k] += xs
        rates: dict[str, list] = {n: [] for n in procs}
        for _ in range(2):
            for n in procs:
                rates[n].append(ask(n, {"do": "threads", "threads": args.threads, "seconds": args.seconds}))
        for p in procs.values():
            p.stdin.write(json.dumps({"do": "stop"}) + "\n")
            p.stdin.flush()
            p.wait(120)
    print(f"{args.n} sequential calls per path and checkout, {args.block} at a time in turn; "
          f"{args.threads} threads for {args.seconds:.0f} s, twice each\n")
    for n in procs:
        p50 = {k: statistics.median(times[n][k]) for k in PATHS}
        shares = ", ".join(f"{r['budgeted'][0] / r['raw'][0]:.0%} ({r['budgeted'][2]} refused)" for r in rates[n])
        print(f"{n:7} raw p50 {p50['raw']:.3f} ms; budgeted adds {p50['budgeted'] - p50['raw']:.3f} ms, unbudgeted "
              f"{p50['unbudgeted'] - p50['raw']:.3f} ms, so the hold's share is "
              f"{p50['budgeted'] - p50['unbudgeted']:.3f} ms; budgeted at {args.threads} threads: {shares} of raw")


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--worker":
        worker(*sys.argv[2:])
    else:
        main()
