"""Nothing billed is lost: SIGKILL the process mid-burst, restart, and every returned call is on record once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[2]

BURST = textwrap.dedent("""
    import sys, threading
    from core.config import load_settings
    from core.factory import build_client

    settings = load_settings(env={}, load_keys=False, ledger_url=sys.argv[1], spool_path=sys.argv[2],
                             cache="off", sim_ttft_s=0.0, sim_tokens_per_s=0.0)
    client = build_client(settings, source="library")
    lock = threading.Lock()

    def worker(w):
        for i in range(10_000):
            r = client.create(f"burst {w}-{i}", user=f"u{w}", model="claude-haiku-5-5", max_tokens=16)
            with lock:  # the id is printed only after create() returned the result to us
                print(r.ledger_id, r.cost_usd, flush=True)

    for w in range(4):
        threading.Thread(target=worker, args=(w,), daemon=True).start()
    threading.Event().wait()
""")


def _returned_ids(proc: subprocess.Popen, n: int) -> dict[str, str]:
    got = {}
    while len(got) < n:
        line = proc.stdout.readline()
        assert line, "the burst process ended early: " + proc.stderr.read()
        call_id, cost = line.split()
        got[call_id] = cost
    return got


def _kill_mid_burst(url: str, spool: Path, n: int) -> dict[str, str]:
    proc = subprocess.Popen([sys.executable, "-c", BURST, url, str(spool)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        got = _returned_ids(proc, n)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        # Lines printed before the kill but not yet read were returned too.
        for line in proc.stdout.read().splitlines():
            if len(line.split()) == 2:
                call_id, cost = line.split()
                got[call_id] = cost
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    return got


def test_sigkill_mid_burst_loses_no_returned_call(tmp_path):
    url = f"duckdb:///{tmp_path / 'ledger.duckdb'}"
    spool = tmp_path / "ledger.spool"
    returned = _kill_mid_burst(url, spool, 60)

    from core.clock import SystemClock
    from core.ledger.engine import make_engine
    from core.ledger.spool import Spool
    from core.ledger.store import Ledger

    engine = make_engine(url)
    ledger = Ledger(engine, Spool(str(spool)), clock=SystemClock())
    assert ledger.open()  # restart: migrate, replay whatever was spooled
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, cost_usd, COUNT(*) OVER (PARTITION BY id) AS n FROM calls"
                                    " WHERE status = 'ok'")).fetchall()
    engine.dispose()
    on_record = {r.id: r for r in rows}
    missing = set(returned) - set(on_record)
    assert not missing, f"{len(missing)} returned calls are not in the ledger"
    assert all(on_record[i].n == 1 for i in returned)
    assert all(str(on_record[i].cost_usd).rstrip("0") == returned[i].rstrip("0") for i in returned)


def test_ledger_locked_by_another_process_spools_then_replays(tmp_path):
    """A DuckDB file held by another process: calls still succeed, records wait in the spool."""
    url = f"duckdb:///{tmp_path / 'ledger.duckdb'}"
    spool = tmp_path / "ledger.spool"
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, sys, time
        con = duckdb.connect({str(tmp_path / 'ledger.duckdb')!r})
        print("held", flush=True)
        sys.stdin.readline()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        from core.config import load_settings
        from core.factory import build_client

        settings = load_settings(env={}, load_keys=False, ledger_url=url, spool_path=str(spool), cache="off",
                                 sim_ttft_s=0.0, sim_tokens_per_s=0.0)
        with build_client(settings) as client:
            ids = [client.create(f"locked {i}", user="ana", model="claude-haiku-5-5", max_tokens=16).ledger_id
                   for i in range(5)]
            assert client.ledger.health()["spool_pending"] >= 5
    finally:
        holder.communicate("\n", timeout=10)
    from core.clock import SystemClock
    from core.ledger.engine import make_engine
    from core.ledger.spool import Spool
    from core.ledger.store import Ledger

    engine = make_engine(url)
    ledger = Ledger(engine, Spool(str(spool)), clock=SystemClock())
    assert ledger.open()
    with engine.connect() as conn:
        found = conn.execute(sa.text("SELECT id FROM calls")).scalars().all()
    engine.dispose()
    assert sorted(i for i in found if i in ids) == sorted(ids) and len(found) == len(set(found))
    assert ledger.health()["spool_pending"] == 0
