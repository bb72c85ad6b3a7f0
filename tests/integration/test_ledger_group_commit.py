"""The ledger's write path: records journaled before return, many calls per transaction, nothing lost."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.ledger.engine import make_engine
from core.ledger.schema import budget_reservations, calls
from core.ledger.spool import Spool
from core.ledger.store import Ledger
from tests.conftest import run_threads

ROOT = Path(__file__).resolve().parents[2]

MODEL = "claude-haiku-5-5"
BACKENDS = ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=BACKENDS)
def ledger_url(request, tmp_path):
    if request.param == "duckdb":
        return f"duckdb:///{tmp_path / 'ledger.duckdb'}"
    return request.getfixturevalue("pg_url")


def _client(make_client, url, tmp_path, **kw):
    return make_client(ledger_url=url, spool_path=str(tmp_path / "spool"), cache="off", real_time=True, **kw)


def _rows(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(calls)).scalar_one()


def _commits(engine) -> tuple[list[int], set[int]]:
    """The engine's commits (each one a durable write) and the threads that inserted call rows."""
    seen: list[int] = []
    writers: set[int] = set()
    sa.event.listen(engine, "commit", lambda conn: seen.append(threading.get_ident()))
    sa.event.listen(engine, "before_cursor_execute", lambda conn, cur, stmt, *a: writers.add(threading.get_ident())
                    if stmt.lstrip().upper().startswith("INSERT INTO CALLS") else None)
    return seen, writers


def test_concurrent_calls_share_transactions(make_client, ledger_url, tmp_path):
    client = _client(make_client, ledger_url, tmp_path)
    client.create("warm", user="ana", model=MODEL, max_tokens=8)
    client.ledger.settle()
    commits, writers = _commits(client.ledger.engine)
    callers: set[int] = set()

    def call(i: int) -> None:
        callers.add(threading.get_ident())
        client.create(f"question {i}", user="ana", model=MODEL, max_tokens=8)
    assert run_threads(call, 64, timeout_s=60) == []
    client.ledger.settle()
    assert _rows(client.ledger.engine) == 65
    assert not callers & writers, "a caller wrote its row to the database itself"
    assert len([t for t in commits if t not in callers]) < 64  # batched: fewer row transactions than calls


def test_a_call_with_no_budget_runs_no_sql_on_the_callers_thread(make_client, tmp_path):
    client = _client(make_client, f"duckdb:///{tmp_path / 'l.duckdb'}", tmp_path)
    client.create("warm", user="ana", model=MODEL, max_tokens=8)
    mine, me = [], threading.get_ident()
    sa.event.listen(client.ledger.engine, "before_cursor_execute",
                    lambda conn, cur, stmt, *a: mine.append(stmt) if threading.get_ident() == me else None)
    client.create("another", user="ana", model=MODEL, max_tokens=8)
    assert mine == []


def test_a_budget_set_later_is_seen_by_the_next_call(make_client, tmp_path):
    from core.errors import BudgetExceeded

    client = _client(make_client, f"duckdb:///{tmp_path / 'l.duckdb'}", tmp_path)
    client.create("warm", user="ana", model=MODEL, max_tokens=8)  # the list of budgeted users is cached now
    client.budgets.set_budget("ana", "0.000001")
    with pytest.raises(BudgetExceeded):
        client.create("refused", user="ana", model=MODEL, max_tokens=8)
    client.budgets.remove_budget("ana")
    client.create("allowed again", user="ana", model=MODEL, max_tokens=8)


def _spent_plus_held(engine, user: str) -> Decimal:
    """What a budget check counts, with no settling: on DuckDB the tally's figures (its holds and spend are in
    memory: one process owns the file), elsewhere read straight from the tables in one statement (one snapshot)."""
    from core.budgets.tally import tally_of

    tally = tally_of(engine)
    if tally is not None:
        with tally.lock:
            return tally.budgets[user] - tally.left(user)
    spent = sa.select(sa.func.coalesce(sa.func.sum(calls.c.cost_usd), 0)).where(calls.c.user_id == user)
    held = (sa.select(sa.func.coalesce(sa.func.sum(budget_reservations.c.amount_usd), 0))
            .where(budget_reservations.c.user_id == user))
    with engine.connect() as c:
        both = c.execute(sa.select(spent.scalar_subquery(), held.scalar_subquery())).one()
    return Decimal(str(both[0])) + Decimal(str(both[1]))


def test_a_hold_counts_until_its_row_lands(make_client, ledger_url, tmp_path):
    """Before the writer has stored a call its hold still stands: spent + reserved never misses it."""
    client = _client(make_client, ledger_url, tmp_path)
    client.create("warm", user="ana", model=MODEL, max_tokens=8)  # migrates the schema
    client.budgets.set_budget("ana", "5.00")
    engine = client.ledger.engine
    before = client.budgets.spent("ana")
    seen = []
    for i in range(10):
        r = client.create(f"one {i}", user="ana", model=MODEL, max_tokens=8)
        before += r.cost_usd
        seen.append(_spent_plus_held(engine, "ana") >= before)
    assert all(seen)
    assert client.budgets.spent("ana") == before  # settled: every row landed
    assert client.budgets.reserved("ana") == 0


def test_a_store_fault_mid_batch_loses_nothing(make_client, ledger_url, tmp_path):
    client = _client(make_client, ledger_url, tmp_path)
    client.create("warm", user="ana", model=MODEL, max_tokens=8)
    client.ledger.settle()
    engine, down = client.ledger.engine, threading.Event()

    def fault(conn, cur, stmt, *a) -> None:
        if down.is_set() and stmt.lstrip().upper().startswith("INSERT INTO CALLS"):
            raise sa.exc.OperationalError(stmt, None, ConnectionError("the database went away"))
    sa.event.listen(engine, "before_cursor_execute", fault)
    down.set()
    assert run_threads(lambda i: client.create(f"q {i}", user="ana", model=MODEL, max_tokens=8), 20,
                       timeout_s=60) == []
    client.ledger.settle()
    assert _rows(engine) == 1
    assert client.ledger.spool.count() == 20
    down.clear()
    client.ledger._down_until = None  # the back-off would wait retry_after_s of real time
    assert client.ledger.replay_spool() == 20
    assert _rows(engine) == 21


CHILD = """
import os, signal, sys
from core.config import load_settings
from core.factory import build_client
from core.upstream.keys import ApiKey
url, ledger_url, spool, sync_ms = sys.argv[1:5]
client = build_client(load_settings(env={}, load_keys=False, keys=(ApiKey("p", "sk-ant-test-fake-child-0000"),),
                                    base_url=url, ledger_url=ledger_url, spool_path=spool, cache="off",
                                    journal_sync_ms=float(sync_ms)))
r = client.create("kill me after this", user="ana", model="claude-haiku-5-5", max_tokens=8)
print(r.ledger_id, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # before the writer thread could store it
"""


@pytest.mark.parametrize("sync_ms", ["0", "50"])
def test_a_record_survives_a_kill_right_after_create_returns(fresh_sim, ledger_url, tmp_path, sync_ms):
    out = subprocess.run([sys.executable, "-c", CHILD, fresh_sim.url, ledger_url, str(tmp_path / "spool"), sync_ms],
                         cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == -signal.SIGKILL, out.stderr[-2000:]
    call_id = out.stdout.strip()
    assert call_id
    ledger = Ledger(make_engine(ledger_url), Spool(tmp_path / "spool"))
    try:
        assert ledger.open()  # the dead process's journal is replayed here
        row = ledger.get(call_id)
        assert row is not None and row.cost_usd > 0
    finally:
        ledger.close()
        ledger.engine.dispose()


def test_the_writer_thread_stores_records_after_close(make_client, ledger_url, tmp_path):
    client = _client(make_client, ledger_url, tmp_path)
    for i in range(5):
        client.create(f"q {i}", user="ana", model=MODEL, max_tokens=8)
    client.ledger.writer.close()
    assert client.ledger.writer.pending() == 0
    assert _rows(client.ledger.engine) == 5

