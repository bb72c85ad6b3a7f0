"""On PostgreSQL, who has a budget is known in memory while a LISTEN connection hears every change: a call for a
user without one reads no table, and a budget set by another process (replica) applies at its next call."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.budgets.book import BudgetBook
from core.clock import SystemClock
from core.errors import BudgetExceeded
from core.ledger.engine import make_engine
from core.ledger.migrations import migrate
from tests.conftest import PG_URL

pytestmark = pytest.mark.postgres
APP = "tollgate-listen-test"


def _wait(pred, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def two(pg_url):
    """Two books on one schema through two engines: two replicas' worth."""
    engines = [make_engine(f"{pg_url}&application_name={APP}") for _ in range(2)]
    migrate(engines[0])
    yield [BudgetBook(e, clock=SystemClock()) for e in engines]
    from core.budgets.listen import stop_all

    stop_all()
    for e in engines:
        e.dispose()


def _statements(engine) -> list[str]:
    seen: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda conn, cur, stmt, *a: seen.append(stmt))
    return seen


def test_an_unbudgeted_user_costs_no_query_and_another_replicas_budget_applies_at_once(two):
    mine, other = two
    # No budget: no hold. The first calls start the listener; once it listens, one of them reads the list.
    assert _wait(lambda: mine.reserve("ana", "c-0", Decimal("0.5")) is None and mine.surely_unbudgeted("ana"))
    seen = _statements(mine._engine)
    for i in range(20):
        assert mine.reserve("ana", f"c-free-{i}", Decimal("0.5")) is None
    assert seen == []  # known in memory: no table read per call
    other.set_budget("ana", Decimal("1"))  # another replica; its NOTIFY reaches this one at commit
    assert _wait(lambda: not mine.surely_unbudgeted("ana"))
    assert mine.reserve("ana", "c-2", Decimal("0.75")) is not None
    with pytest.raises(BudgetExceeded):
        mine.reserve("ana", "c-3", Decimal("0.5"))


def test_without_its_listener_a_book_reads_the_table_every_call(two):
    mine, other = two
    assert _wait(lambda: mine.reserve("ana", "c-0", Decimal("0.5")) is None and mine.surely_unbudgeted("ana"))
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:  # cut the listener's connection (and the pool's): what it missed is not trusted
        c.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = :a "
                          "AND query LIKE 'LISTEN%'"), {"a": APP})
    admin.dispose()
    assert _wait(lambda: not mine.surely_unbudgeted("ana"), 5)
    other.set_budget("ana", Decimal("0.1"))  # while it may still be reconnecting
    with pytest.raises(BudgetExceeded):
        mine.reserve("ana", "c-2", Decimal("0.5"))
