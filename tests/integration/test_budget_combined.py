"""On PostgreSQL one user's concurrent holds share locking transactions: never more held than the budget, each
refusal says what was left, and far fewer transactions than holds (16 threads were slower than one before)."""

from __future__ import annotations

import threading
import time
from decimal import Decimal

import pytest

from core.budgets import listen
from core.budgets.book import BudgetBook
from core.clock import SystemClock
from core.errors import BudgetExceeded
from core.ledger.engine import make_engine
from core.ledger.migrations import migrate
from tests.pg_wire import wire_counter

pytestmark = pytest.mark.postgres


def test_concurrent_holds_of_one_user_share_transactions_and_never_overshoot(pg_url):
    with wire_counter() as wire:
        _holds_of_sixteen_threads(wire, make_engine(wire.url(pg_url), pool_size=16))


def _holds_of_sixteen_threads(wire, engine) -> None:
    migrate(engine)
    book = BudgetBook(engine, clock=SystemClock())
    book.set_budget("ana", Decimal("1"))
    deadline = time.monotonic() + 10  # the budget listener live: a hold then asks nothing else
    while listen.listener(engine, book._key).cached() is None:
        assert time.monotonic() < deadline, "the budget listener did not start"
        book.release(book.reserve("ana", "warm", Decimal("0.01")).id)
        time.sleep(0.01)
    pooled = [engine.connect() for _ in range(16)]  # open the pool now: a new connection's set-up is not a hold
    for conn in pooled:
        conn.exec_driver_sql("SELECT 1")
        conn.close()
    wire.reset()
    held, refused, start = [], [], threading.Barrier(16)

    def run(i: int) -> None:
        start.wait()
        for k in range(10):
            try:
                held.append(book.reserve("ana", f"c-{i}-{k}", Decimal("0.01")))
            except BudgetExceeded as exc:
                refused.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(16)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    round_trips = wire.reset()[0]  # one a transaction (core.budgets.pg_hold)
    try:
        assert len(held) == 100 and len(refused) == 60  # exactly what fits: $1 at $0.01
        assert book.reserved("ana") == Decimal("1")
        assert all(r.remaining_usd >= 0 for r in held) and sorted(r.remaining_usd for r in held)[0] == 0
        assert all(e.remaining_usd < Decimal("0.01") for e in refused)
        assert round_trips < 160 * 0.75, f"{round_trips} round trips for 160 holds"
    finally:
        listen.stop_all()
        engine.dispose()
