"""A healthy ledger never refuses a call: concurrent first use and write conflicts are handled inside."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy as sa

from core import errors
from core.clock import FakeClock
from core.ledger.engine import make_engine
from core.ledger.schema import budget_reservations, calls
from core.ledger.spool import Spool
from core.ledger.store import Ledger
from core.types import CallRecord, Usage
from tests.conftest import run_threads


def test_sixteen_threads_on_a_fresh_duckdb_ledger_are_never_refused(make_client, tmp_path):
    """The first calls race the schema's creation: none may see a missing table as an unavailable ledger."""
    client = make_client(ledger_url=f"duckdb:///{tmp_path / 'ledger.duckdb'}", spool_path=str(tmp_path / "s"),
                         real_time=True, cache="off", log_level="error")
    refused, lock = [], threading.Lock()

    def burst(i: int) -> None:
        for n in range(3):
            try:
                client.create(f"thread {i} call {n}", user=f"u{i % 4}", model="claude-haiku-5-5", max_tokens=16)
            except errors.LedgerUnavailable as exc:
                with lock:
                    refused.append(exc)

    assert run_threads(burst, 16, timeout_s=120) == []
    assert refused == [], f"{len(refused)} of 48 calls refused ledger_unavailable by a healthy ledger"
    client.recorder.flush()
    with client.ledger.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(calls)
                            .where(calls.c.status == "ok")).scalar_one() == 48


def _rec(call_id: str) -> CallRecord:
    return CallRecord(id=call_id, ts=datetime.now(UTC), user="ana", model="claude-haiku-5-5", status="ok",
                      usage=Usage(input_tokens=10), cost_usd=Decimal("0.00001"))


def test_a_write_conflict_is_retried_in_the_ledger_not_spooled(tmp_path):
    """Another transaction holds the call's reservation row: the ledger waits it out and writes the row."""
    engine = make_engine(f"duckdb:///{tmp_path / 'ledger.duckdb'}")
    ledger = Ledger(engine, Spool(tmp_path / "s"), clock=FakeClock())
    assert ledger.open()
    call_id, now = str(uuid.uuid4()), datetime(2026, 12, 1)
    with engine.begin() as conn:
        conn.execute(sa.insert(budget_reservations).values(id=call_id, user_id="ana", month="2026-12",
                                                          amount_usd=1, created_at=now, expires_at=now))
    holder = engine.connect()
    tx = holder.begin()
    # Uncommitted, like a purge of expired holds: the ledger's delete of the same row conflicts.
    holder.execute(sa.delete(budget_reservations).where(budget_reservations.c.id == call_id))
    done = threading.Event()
    threading.Thread(target=lambda: (done.wait(10), tx.rollback(), holder.close()), daemon=True).start()
    threading.Timer(0.2, done.set).start()
    ledger.record(_rec(call_id))
    assert not ledger.spool.pending(), "a transient conflict sent a healthy ledger's record to the spool"
    assert ledger.get(call_id) is not None
    engine.dispose()
