"""Nothing billed is lost: SIGKILL the process mid-burst, restart, and every returned call is on record once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from core import errors

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


def _hold(path: Path) -> subprocess.Popen:
    """Another process that opens the DuckDB file (taking its lock) until told to stop."""
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import duckdb, sys
        con = duckdb.connect({str(path)!r})
        print("held", flush=True)
        sys.stdin.readline()
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


def _client(url: str, spool: Path):
    from core.config import load_settings
    from core.factory import build_client

    return build_client(load_settings(env={}, load_keys=False, ledger_url=url, spool_path=str(spool), cache="off",
                                      sim_ttft_s=0.0, sim_tokens_per_s=0.0))


def _reopen(url: str, spool: Path):
    from core.clock import SystemClock
    from core.ledger.engine import make_engine
    from core.ledger.spool import Spool
    from core.ledger.store import Ledger

    ledger = Ledger(make_engine(url), Spool(str(spool)), clock=SystemClock())
    assert ledger.open()  # replays the spool
    return ledger


def test_ledger_locked_mid_run_spools_then_replays_exactly_once(tmp_path):
    """The ledger becomes unreachable: calls by users known to have no budget go on, records wait in
    the spool, and land exactly once when it is back."""
    url, spool = f"duckdb:///{tmp_path / 'ledger.duckdb'}", tmp_path / "ledger.spool"
    with _client(url, spool) as client:
        client.ledger.open()
        client.budgets.set_budget("bo", Decimal("5"))
        before = client.create("before", user="ana", model="claude-haiku-5-5", max_tokens=16).ledger_id
        client.recorder.flush()
        client.ledger.engine.dispose()  # let another process take the file
        holder = _hold(tmp_path / "ledger.duckdb")
        try:
            ids = [client.create(f"locked {i}", user="ana", model="claude-haiku-5-5", max_tokens=16).ledger_id
                   for i in range(5)]
            assert client.ledger.health()["spool_pending"] >= 5
            with pytest.raises(errors.LedgerUnavailable):  # bo has a budget that cannot be checked now
                client.create("budgeted", user="bo", model="claude-haiku-5-5", max_tokens=16)
            ids.append(client.create("new", user="newcomer", model="claude-haiku-5-5", max_tokens=16).ledger_id)
        finally:
            holder.communicate("\n", timeout=10)
            client.ledger.engine.dispose()
    ledger = _reopen(url, spool)
    with ledger.engine.connect() as conn:
        found = conn.execute(sa.text("SELECT id FROM calls WHERE status = 'ok'")).scalars().all()
    ledger.engine.dispose()
    assert sorted(found) == sorted([before, *ids]) and ledger.health()["spool_pending"] == 0


def test_fresh_process_uses_the_budget_snapshot_while_the_ledger_is_locked(tmp_path):
    """The console holds the DuckDB file; a CLI process started now knows budgets from the snapshot."""
    url, spool = f"duckdb:///{tmp_path / 'ledger.duckdb'}", tmp_path / "ledger.spool"
    with _client(url, spool) as console:
        console.ledger.open()
        console.budgets.set_budget("bo", Decimal("5"))
        console.create("hi", user="ana", model="claude-haiku-5-5", max_tokens=16)  # writes the snapshot
    holder = _hold(tmp_path / "ledger.duckdb")
    try:
        with _client(url, spool) as cli:
            free = cli.create("no budget here", user="cy", model="claude-haiku-5-5", max_tokens=16)
            with pytest.raises(errors.LedgerUnavailable):
                cli.create("budgeted", user="bo", model="claude-haiku-5-5", max_tokens=16)
    finally:
        holder.communicate("\n", timeout=10)
    ledger = _reopen(url, spool)
    with ledger.engine.connect() as conn:
        rows = dict(conn.execute(sa.text("SELECT user_id, status FROM calls WHERE user_id IN ('bo', 'cy')")).all())
    ledger.engine.dispose()
    assert free.ledger_id and rows == {"cy": "ok", "bo": "blocked"}


def test_fresh_process_with_a_locked_ledger_refuses_rather_than_overshoot(tmp_path):
    url, spool = f"duckdb:///{tmp_path / 'ledger.duckdb'}", tmp_path / "ledger.spool"
    _reopen(url, spool).engine.dispose()  # a ledger no process has read budgets from: no snapshot
    holder = _hold(tmp_path / "ledger.duckdb")
    try:
        with _client(url, spool) as client, pytest.raises(errors.LedgerUnavailable):
            client.create("hello", user="ana", model="claude-haiku-5-5", max_tokens=16)
    finally:
        holder.communicate("\n", timeout=10)
    ledger = _reopen(url, spool)  # the refusal itself was recorded (spooled, then replayed)
    with ledger.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT status, error_code FROM calls")).all()
    ledger.engine.dispose()
    assert rows == [("blocked", "ledger_unavailable")]
