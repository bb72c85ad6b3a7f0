"""``BudgetBook.reserve_many``: a batch's holds, all or nothing, on every ledger backend."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.budgets.book import BudgetBook
from core.budgets.holds import BATCH_HOLD_TTL, release_many
from core.errors import BudgetExceeded
from core.ledger.schema import budget_reservations
from core.ledger.spool import Spool
from core.ledger.store import Ledger

D = Decimal


@pytest.fixture(params=["book", "tally"])
def book(request, engine, clock, tmp_path):
    """The book on its own, and (DuckDB file) attached to a ledger: holds then checked against the tally in memory."""
    book = BudgetBook(engine, clock=clock, reservation_ttl_s=900)
    if request.param == "book":
        yield book
        return
    if engine.dialect.name != "duckdb" or ":memory:" in str(engine.url):
        pytest.skip("the tally is DuckDB's (a file one process owns)")
    ledger = Ledger(engine, Spool(tmp_path / "spool"), clock=clock)
    book.attach(ledger)
    yield book
    ledger.close()


def _ids(n: int) -> list[str]:
    return [str(uuid.uuid4()) for _ in range(n)]


def _held(engine) -> list:
    with engine.connect() as c:
        return c.execute(sa.select(budget_reservations)).mappings().all()


def test_every_hold_or_none_with_how_many_rows_would_fit(book, engine):
    book.set_budget("ana", D("1.00"))
    holds = [(i, D("0.30")) for i in _ids(5)]
    with pytest.raises(BudgetExceeded) as info:
        book.reserve_many("ana", holds)
    assert info.value.fits == 3 and "3 of 5 rows would fit" in info.value.message and info.value.needed_usd == D("1.5")
    assert _held(engine) == []
    assert book.reserve_many("ana", holds[:3]) is True
    assert book.reserved("ana") == D("0.9") and book.remaining("ana") == D("0.1")
    with pytest.raises(BudgetExceeded) as again:
        book.reserve_many("ana", [(i, D("0.05")) for i in _ids(3)])
    assert again.value.fits == 2


def test_the_organisation_budget_counts_too_and_no_budget_holds_nothing(book, engine):
    assert book.reserve_many("bo", [(i, D("5")) for i in _ids(2)]) is False and _held(engine) == []
    book.set_budget("*", D("0.50"))
    with pytest.raises(BudgetExceeded) as info:
        book.reserve_many("bo", [(i, D("0.2")) for i in _ids(3)])
    assert info.value.scope == "global" and info.value.fits == 2 and "for the organisation" in info.value.message


def test_holds_last_a_day_and_survive_the_purge_and_release_many_drops_them(book, engine, clock):
    book.set_budget("ana", D("10"))
    ids = _ids(4)
    book.reserve_many("ana", [(i, D("1")) for i in ids])
    rows = _held(engine)
    assert {r["expires_at"] - r["created_at"] for r in rows} == {BATCH_HOLD_TTL}
    clock.advance(timedelta(hours=23).total_seconds())  # well past the single-call TTL: the purge has run
    book.reserve("ana", str(uuid.uuid4()), D("0.01"))
    assert book.reserved("ana") == D("4.01")
    assert release_many(book, ids[:3]) == 3 and book.reserved("ana") == D("1.01")


def test_a_hold_id_used_twice_is_refused_and_holds_nothing(book, engine):
    book.set_budget("ana", D("10"))
    (dup,) = _ids(1)
    book.reserve_many("ana", [(dup, D("1"))])
    with pytest.raises(ValueError, match="already exists"):
        book.reserve_many("ana", [(str(uuid.uuid4()), D("1")), (dup, D("1"))])
    assert len(_held(engine)) == 1
