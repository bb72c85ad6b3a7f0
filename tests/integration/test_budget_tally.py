"""The DuckDB budget tally: a batch run's holds (reserve_many) and single calls' holds share one budget, never overshot."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.budgets.book import BudgetBook
from core.budgets.holds import release_many
from core.budgets.tally import tally_of
from core.errors import BudgetExceeded
from core.ledger.engine import make_engine
from core.ledger.schema import budget_reservations
from core.ledger.spool import Spool
from core.ledger.store import Ledger
from core.types import CallRecord, Usage

D = Decimal


@pytest.fixture
def stores(tmp_path, clock):
    engine = make_engine(f"duckdb:///{tmp_path / 'ledger.duckdb'}")
    ledger = Ledger(engine, Spool(tmp_path / "spool"), clock=clock)
    assert ledger.open()
    book = BudgetBook(engine, clock=clock, reservation_ttl_s=900)
    book.attach(ledger)
    yield ledger, book
    ledger.close()
    engine.dispose()


def _record(call_id: str, cost: str, clock) -> CallRecord:
    return CallRecord(id=call_id, ts=clock.now().astimezone(UTC), user="ana", model="claude-haiku-5-5", status="ok",
                      usage=Usage(10, 10), cost_usd=D(cost))


def _db_holds(engine) -> dict[str, Decimal]:
    with engine.connect() as c:
        return {i: a for i, a in c.execute(sa.select(budget_reservations.c.id, budget_reservations.c.amount_usd))}


def test_batch_holds_and_call_holds_count_together_and_settle_by_their_rows(stores, clock):
    ledger, book = stores
    book.set_budget("ana", D("1.00"))
    rows = [str(uuid.uuid4()) for _ in range(4)]
    assert book.reserve_many("ana", [(r, D("0.20")) for r in rows])  # 0.80 held for the run
    assert tally_of(ledger.engine) is not None  # the book checks in memory
    call = str(uuid.uuid4())
    assert book.reserve("ana", call, D("0.15")).remaining_usd == D("0.05")
    with pytest.raises(BudgetExceeded):
        book.reserve("ana", str(uuid.uuid4()), D("0.06"))  # 0.80 + 0.15 + 0.06 > 1.00
    ledger.record_later(_record(rows[0], "0.05", clock))  # a run row's record settles its hold (same id)
    ledger.record_later(_record(call, "0.01", clock))
    # spent 0.06, held 0.60 (three run rows): 0.34 left, checked before either row reached the database
    assert book.reserve("ana", str(uuid.uuid4()), D("0.34")).remaining_usd == 0
    with pytest.raises(BudgetExceeded):
        book.reserve("ana", str(uuid.uuid4()), D("0.000001"))
    assert release_many(book, rows[1:3]) == 2  # two rows ended unbilled: their 0.40 comes back
    book.reserve("ana", str(uuid.uuid4()), D("0.40"))
    with pytest.raises(BudgetExceeded):
        book.reserve("ana", str(uuid.uuid4()), D("0.000001"))
    # the reports (which settle the writer) agree with the tally: the calls' holds landed as rows
    assert book.spent("ana") == D("0.06")
    assert book.reserved("ana") == D("0.94") and book.remaining("ana") == 0
    assert sum(_db_holds(ledger.engine).values()) == D("0.94")


def test_concurrent_calls_and_batch_runs_never_overshoot(stores, clock):
    ledger, book = stores
    book.set_budget("ana", D("2.00"))
    granted: list[Decimal] = []
    lock = threading.Lock()

    def calls(i: int) -> None:
        for _ in range(25):
            try:
                held = book.reserve("ana", str(uuid.uuid4()), D("0.01"))
            except BudgetExceeded:
                continue
            if i % 2:  # half the calls end billed at a quarter of their hold, half stay in flight
                ledger.record_later(_record(held.id, "0.0025", clock))
            with lock:
                granted.append(D("0.0025") if i % 2 else held.amount_usd)

    def runs(_: int) -> None:
        for _ in range(5):
            ids = [str(uuid.uuid4()) for _ in range(10)]
            try:
                book.reserve_many("ana", [(h, D("0.02")) for h in ids])
            except BudgetExceeded:
                continue
            with lock:
                granted.extend([D("0.02")] * 10)

    threads = [threading.Thread(target=calls, args=(i,)) for i in range(12)]
    threads += [threading.Thread(target=runs, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) <= D("2.00")  # what was granted, at its settled cost or still held, fits the budget
    assert book.spent("ana") + book.reserved("ana") == sum(granted)
    assert book.remaining("ana") == D("2.00") - sum(granted)


def test_a_hold_deleted_behind_its_back_is_seen_before_a_refusal(stores, clock):
    """A now-mode run claims its rows by deleting their holds directly: the tally then counts too much, and reads
    the database again before refusing anyone."""
    ledger, book = stores
    book.set_budget("ana", D("1.00"))
    rows = [str(uuid.uuid4()) for _ in range(5)]
    book.reserve_many("ana", [(r, D("0.20")) for r in rows])
    with ledger.engine.begin() as c:  # as core.batches.store.claim does
        c.execute(sa.delete(budget_reservations).where(budget_reservations.c.id.in_(rows)))
    assert book.reserve("ana", str(uuid.uuid4()), D("0.90")).remaining_usd == D("0.10")


def test_a_record_of_another_ledger_on_the_same_file_counts(stores, clock, tmp_path):
    ledger, book = stores
    book.set_budget("ana", D("1.00"))
    book.reserve("ana", str(uuid.uuid4()), D("0.10"))  # the tally is loaded
    other = Ledger(ledger.engine, Spool(tmp_path / "other-spool"), clock=clock)  # a second client of the file
    other.record_later(_record(str(uuid.uuid4()), "0.85", clock))
    with pytest.raises(BudgetExceeded):
        book.reserve("ana", str(uuid.uuid4()), D("0.10"))
    other.close()
