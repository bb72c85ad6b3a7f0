"""Every outcome the caller saw has a row: $0 outcomes survive SIGKILL and a script that never calls close()."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.clock import FakeClock
from core.ledger.engine import make_engine
from core.ledger.schema import calls
from core.ledger.spool import Spool
from core.ledger.store import Ledger

ROOT = Path(__file__).resolve().parents[2]

# Cache hits (and a refusal per round) from 4 threads; each id is printed only after the call returned.
HITS = textwrap.dedent("""
    import sys, threading
    from core import errors
    from core.config import load_settings
    from core.factory import build_client

    settings = load_settings(env={}, load_keys=False, ledger_url=sys.argv[1], spool_path=sys.argv[2],
                             cache="memory", log_level="error", sim_ttft_s=0.0, sim_tokens_per_s=0.0,
                             journal_sync_ms=float(sys.argv[4]))
    client = build_client(settings, source="library")
    lock = threading.Lock()

    def say(call_id):
        with lock:
            print(call_id, flush=True)

    def worker(w):
        for i in range(int(sys.argv[3])):
            r = client.create(f"hit {w} {i % 3}", user=f"u{w}", model="claude-haiku-5-5", max_tokens=16,
                              temperature=0)
            say(r.ledger_id)
            if i % 10 == 0:
                try:
                    client.create("", user=f"u{w}", model="claude-haiku-5-5")
                except errors.ValidationError:
                    say("blocked")  # a refusal carries no id: its rows are counted instead

    threads = [threading.Thread(target=worker, args=(w,), daemon=True) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("end", flush=True)  # and no close(): the interpreter exits with records queued
""")


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request, tmp_path):
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'ledger.duckdb'}"
    return request.getfixturevalue("pg_url")


def _run(url: str, spool: Path, per_thread: int, sync_ms: float = 0) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", HITS, url, str(spool), str(per_thread), str(sync_ms)],
                            cwd=ROOT, env=env,
                            text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _rows_once(url: str, spool: Path, ids: list[str]) -> int:
    """Restart: open the ledger (replays spool and journals), then every id has exactly one row.

    Returns the number of blocked rows.
    """
    engine = make_engine(url)
    ledger = Ledger(engine, Spool(spool), clock=FakeClock())
    assert ledger.open()
    with engine.connect() as conn:
        counts = dict(conn.execute(sa.select(calls.c.id, sa.func.count()).group_by(calls.c.id)).all())
        blocked = conn.execute(sa.select(sa.func.count()).where(calls.c.status == "blocked")).scalar_one()
    engine.dispose()
    missing = [i for i in ids if i not in counts]
    assert not missing, f"{len(missing)} of {len(ids)} outcomes returned to callers have no row"
    assert {counts[i] for i in ids} == {1}
    assert list(spool.parent.glob(spool.name + ".journal.*")) == []  # replayed, then removed
    return blocked


def test_sigkill_mid_burst_of_cache_hits_loses_no_returned_outcome(ledger_url, tmp_path):
    _kill_mid_burst_then_count(ledger_url, tmp_path, sync_ms=0)


def test_sigkill_with_batched_journal_fsync_loses_no_returned_outcome(tmp_path):
    """TOLLGATE_JOURNAL_SYNC_MS > 0: the line is written before the hit returns, so a killed process keeps it."""
    _kill_mid_burst_then_count(f"duckdb:///{tmp_path / 'ledger.duckdb'}", tmp_path, sync_ms=50)


def _kill_mid_burst_then_count(ledger_url: str, tmp_path: Path, *, sync_ms: float) -> None:
    spool = tmp_path / "ledger.spool"
    proc = _run(ledger_url, spool, 100_000, sync_ms)
    ids: list[str] = []
    try:
        while len(ids) < 300:
            line = proc.stdout.readline()
            assert line, "the burst ended early: " + proc.stderr.read()
            ids.append(line.strip())
        os.kill(proc.pid, signal.SIGKILL)  # no atexit, no flush
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    lines = ids + rest.splitlines()  # printed after their call returned: they count too
    ids = [line for line in lines if len(line) == 36]
    assert _rows_once(ledger_url, spool, ids) >= lines.count("blocked") > 0


def test_a_script_that_never_closes_keeps_every_row_and_exits_cleanly(ledger_url, tmp_path):
    spool = tmp_path / "ledger.spool"
    proc = _run(ledger_url, spool, 150)
    out, err = proc.communicate(timeout=300)
    lines = out.splitlines()
    assert proc.returncode == 0 and lines[-1] == "end", f"exit {proc.returncode}: {err[-2000:]}"
    assert "terminate called" not in err and "Traceback" not in err, err
    ids = [line for line in lines if len(line) == 36]
    assert len(ids) == 4 * 150 and lines.count("blocked") == 4 * 15
    assert _rows_once(ledger_url, spool, ids) == 4 * 15
