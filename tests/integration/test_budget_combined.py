"""On PostgreSQL one user's concurrent holds share locking transactions: never more held than the budget, each
refusal says what was left, and far fewer transactions than holds (16 threads were slower than one before)."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.budgets.book import BudgetBook
from core.clock import SystemClock
from core.errors import BudgetExceeded
from core.ledger.engine import make_engine
from core.ledger.migrations import migrate

pytestmark = pytest.mark.postgres


def test_concurrent_holds_of_one_user_share_transactions_and_never_overshoot(pg_url):
    engine = make_engine(pg_url, pool_size=16)
    migrate(engine)
    book = BudgetBook(engine, clock=SystemClock())
    book.set_budget("ana", Decimal("1"))
    locks = []
    sa.event.listen(engine, "before_cursor_execute",
                    lambda conn, cur, stmt, *a: locks.append(1) if "FOR UPDATE" in stmt else None)
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
    try:
        assert len(held) == 100 and len(refused) == 60  # exactly what fits: $1 at $0.01
        assert book.reserved("ana") == Decimal("1")
        assert all(r.remaining_usd >= 0 for r in held) and sorted(r.remaining_usd for r in held)[0] == 0
        assert all(e.remaining_usd < Decimal("0.01") for e in refused)
        assert len(locks) < 160 * 0.75, f"{len(locks)} transactions for 160 holds"
    finally:
        from core.budgets.listen import stop_all

        stop_all()
        engine.dispose()
