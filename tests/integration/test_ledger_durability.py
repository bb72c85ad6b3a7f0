"""Durability proof: every id ``record`` returned survives a SIGKILL of the writing process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from core.clock import FakeClock
from core.ledger.engine import make_engine
from core.ledger.schema import calls
from core.ledger.spool import Spool
from core.ledger.store import Ledger
from tests.integration.test_ledger import _lock_duckdb_file

REPO = Path(__file__).resolve().parents[2]

# Writes records as fast as it can and prints each id the moment record() has returned.
BURST = """
import sys, uuid
from datetime import datetime, timezone
from decimal import Decimal
from core.ledger.engine import make_engine
from core.ledger.spool import Spool
from core.ledger.store import Ledger
from core.types import CallRecord, Usage

ledger = Ledger(make_engine(sys.argv[1]), Spool(sys.argv[2]))
ledger.open()
print("ready", flush=True)
for i in range(1_000_000):
    rec = CallRecord(id=str(uuid.uuid4()), ts=datetime.now(timezone.utc), user="burst",
                     model="claude-haiku-5-5", status="ok", usage=Usage(input_tokens=i),
                     cost_usd=Decimal(i) / 10**10)
    sys.stdout.write(ledger.record(rec) + "\\n")
    sys.stdout.flush()
"""


def burst_then_kill(url: str, spool: Path, wait_for: int) -> list[str]:
    """Run the burst, SIGKILL it after ``wait_for`` acknowledged ids; every id it printed."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", BURST, url, str(spool)], stdout=subprocess.PIPE,
                            text=True, env=env, cwd=REPO)
    assert proc.stdout.readline().strip() == "ready"
    ids = []
    while len(ids) < wait_for:
        line = proc.stdout.readline()
        assert line, f"the burst died on its own (exit {proc.poll()})"
        ids.append(line.strip())
    os.kill(proc.pid, signal.SIGKILL)  # mid-burst: no cleanup, no atexit, no flush
    rest, _ = proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    # Lines already in the pipe were printed after record() returned: they count too.
    return ids + [line for line in rest.splitlines() if len(line) == 36]


def assert_all_present_once(url: str, spool: Path, ids: list[str]) -> None:
    engine = make_engine(url)
    ledger = Ledger(engine, Spool(spool), clock=FakeClock())
    assert ledger.open()  # restart: migrate, replay whatever was spooled
    with engine.connect() as conn:
        rows = conn.execute(sa.select(calls.c.id, sa.func.count()).where(calls.c.id.in_(ids))
                            .group_by(calls.c.id)).all()
    engine.dispose()
    counts = dict(rows)
    missing = [i for i in ids if i not in counts]
    assert not missing, f"{len(missing)} of {len(ids)} acknowledged records were lost"
    assert set(counts.values()) == {1}
    assert not Spool(spool).pending()


def test_sigkill_mid_burst_loses_no_acknowledged_record(tmp_path):
    url = f"duckdb:///{tmp_path / 'ledger.duckdb'}"
    spool = tmp_path / "ledger.spool"
    ids = burst_then_kill(url, spool, wait_for=40)
    assert len(ids) >= 40
    assert_all_present_once(url, spool, ids)


def test_sigkill_while_spooling_loses_no_acknowledged_record(tmp_path):
    db = tmp_path / "ledger.duckdb"
    url, spool = f"duckdb:///{db}", tmp_path / "ledger.spool"
    engine = make_engine(url)
    Ledger(engine, Spool(spool), clock=FakeClock()).open()
    engine.dispose()
    holder = _lock_duckdb_file(db)  # the burst can only spool
    try:
        ids = burst_then_kill(url, spool, wait_for=60)
        assert Spool(spool).count() >= 60
    finally:
        holder.communicate("")
    assert_all_present_once(url, spool, ids)
