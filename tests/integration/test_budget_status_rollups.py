"""Contract: the budget table (``BudgetBook.status``) and the reservation's own check (``spent``, ``reserve``)
read each month-to-date spend from the rollups plus the raw rows not in them, and every figure equals the raw
``sum(cost_usd)`` of the month's calls to the 1e-10 USD, on DuckDB and PostgreSQL: month edges in the budget's
zone, late and unrolled rows, holds."""

from __future__ import annotations

import uuid
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.budgets.amounts import budget_zone, month_bounds
from core.budgets.book import BudgetBook
from core.clock import FakeClock
from core.errors import BudgetExceeded
from core.ledger import rollup
from core.ledger.engine import make_engine
from core.ledger.migrations import migrate
from core.ledger.schema import budget_reservations
from tests.conftest import pg_schema
from tests.integration.conftest import LEDGER_BACKENDS
from tests.integration.test_rollups import add, rows

NOW = datetime(2026, 11, 20, 13, 37, 11, tzinfo=UTC)  # mid-hour: the month's open end is a partial hour
TZ = "America/New_York"  # November starts at 04:00 UTC there: the month's first edge is not a UTC day


@pytest.fixture(params=LEDGER_BACKENDS)
def engine(request, tmp_path):
    with ExitStack() as stack:
        url = f"duckdb:///{tmp_path / 'b.duckdb'}" if request.param == "duckdb-file" else \
            stack.enter_context(pg_schema("t_i14pg_"))
        e = make_engine(url)
        migrate(e)
        yield e
        e.dispose()


def _book(engine) -> BudgetBook:
    book = BudgetBook(engine, tz=TZ, clock=FakeClock(wall=NOW))
    for user, usd in (("ana", 500), ("bo", 250), ("nobody", 10), ("*", 900)):
        book.set_budget(user, usd)
    return book


def _holds(engine) -> None:
    now = NOW.replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(budget_reservations.insert(), [
            {"id": str(uuid.uuid4()), "user_id": u, "month": "2026-11", "amount_usd": Decimal(amount),
             "created_at": now - timedelta(minutes=1), "expires_at": now + timedelta(minutes=minutes)}
            for u, amount, minutes in (("ana", "1.2500000001", 10), ("ana", "3", -5), ("cy", "0.75", 10),
                                       ("bo", "2.5", 1))])


def _raw_spent(engine, user: str) -> Decimal:
    """The month's spend summed over the raw calls, rollups ignored."""
    start, end, _ = month_bounds(NOW, budget_zone(TZ))
    q = "SELECT coalesce(sum(cost_usd), 0) FROM calls WHERE ts >= :a AND ts < :b"
    with engine.connect() as conn:
        if user == "*":
            return Decimal(conn.execute(sa.text(q), {"a": start, "b": end}).scalar())
        return Decimal(conn.execute(sa.text(q + " AND user_id = :u"), {"a": start, "b": end, "u": user}).scalar())


def _raw(book: BudgetBook, users) -> dict:
    return {u: (_raw_spent(book._engine, u), book.reserved(u, NOW)) for u in users}


def _checked(book: BudgetBook, users) -> dict:
    """What the reservation's check sees: spent, and held."""
    return {u: (book.spent(u, NOW), book.reserved(u, NOW)) for u in users}


def _table(book: BudgetBook) -> dict:
    df = book.status(NOW)
    return {r.user_id: (r.spent_usd, r.reserved_usd) for r in df.itertuples()}


def test_budget_table_equals_the_raw_sums_with_rolled_unrolled_and_edge_rows(engine):
    book = _book(engine)
    # Around both month edges in New York (Nov 1 04:00 UTC, Dec 1 05:00 UTC) and up to the open hour.
    add([engine], rows(1500, datetime(2026, 10, 30), 24 * 22, seed=21))
    rollup.refresh(engine)
    add([engine], rows(200, datetime(2026, 11, 1, 3), 3, seed=22)  # late rows at the month's first edge
        + rows(60, datetime(2026, 11, 20, 13), 0.6, seed=23))  # the open hour, before NOW's minute
    _holds(engine)
    users = ("*", "ana", "bo", "nobody")
    truth = _raw(book, users)
    assert truth["ana"][0] > 0 and truth["*"][0] > truth["ana"][0] + truth["bo"][0]  # not a table of zeros
    assert truth["*"][1] == Decimal("4.5000000001")  # every live hold, the unbudgeted cy's too
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM calls WHERE NOT rolled")).scalar() == 260
    assert _table(book) == truth and _checked(book, users) == truth
    rollup.refresh(engine)
    assert _table(book) == truth and _checked(book, users) == truth


def test_a_hold_fits_exactly_what_the_raw_sums_leave(engine):
    book = _book(engine)
    add([engine], rows(900, datetime(2026, 10, 31, 20), 24 * 12, seed=25))
    rollup.refresh(engine)
    add([engine], rows(40, datetime(2026, 11, 20, 13), 0.5, seed=26))  # unrolled, in the open hour
    left = Decimal(250) - _raw_spent(engine, "bo")
    assert Decimal(0) < left < Decimal(250)  # bo's calls: some rolled, some not
    too_much = left + Decimal("0.0000000001")
    with pytest.raises(BudgetExceeded):
        book.reserve("bo", str(uuid.uuid4()), too_much, now=NOW)
    held = book.reserve("bo", str(uuid.uuid4()), left, now=NOW)
    assert held.remaining_usd == 0


def test_budget_table_and_check_read_the_rollups(engine):
    """A rolled row changed behind the rollups' back is not seen by the table, nor by PostgreSQL's check
    (DuckDB's check sums the raw calls: a column scan is cheaper there than the rollup union)."""
    book = _book(engine)
    add([engine], rows(800, datetime(2026, 11, 2), 24 * 10, seed=24))
    rollup.refresh(engine)
    before = _table(book)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE calls SET cost_usd = cost_usd + 1 WHERE ts >= :a AND ts < :b"),
                     {"a": datetime(2026, 11, 5), "b": datetime(2026, 11, 6)})
    assert _table(book) == before
    checked = before["*"][0] if engine.dialect.name == "postgresql" else _raw_spent(engine, "*")
    assert book.spent("*", NOW) == checked and before["*"][0] < _raw_spent(engine, "*")
