"""What a PostgreSQL budget hold costs on the wire: one round trip (core.budgets.pg_hold), counted by a relay.

Before, a hold took six round trips (BEGIN, SET LOCAL, the lock, the user's budget read, the insert, COMMIT)
and seven with an organisation budget; a release three.
"""

from __future__ import annotations

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
D = Decimal


@pytest.fixture
def wired(pg_url):
    """(relay, book) on a migrated schema reached through the counting relay."""
    with wire_counter() as wire:
        engine = make_engine(wire.url(pg_url))
        migrate(engine)
        try:
            yield wire, BudgetBook(engine, clock=SystemClock())
        finally:
            listen.stop_all()
            engine.dispose()


def warm(book: BudgetBook, user: str) -> Decimal:
    """The budget listener live (else every hold asks who has a budget) and the hold's statements prepared
    (psycopg prepares a statement at its fifth run)."""
    deadline, i = time.monotonic() + 10, 0
    while i < 6 or listen.listener(book._engine, book._key).cached() is None:
        assert time.monotonic() < deadline, "the budget listener did not start"
        book.reserve(user, f"warm-{i}", D("0.0001"))
        i += 1
        time.sleep(0.01)
    return D("0.0001") * i  # held by the warm holds

@pytest.mark.parametrize("org_budget", [False, True], ids=["user budget", "user and organisation budgets"])
def test_a_hold_is_one_round_trip_and_so_is_a_refusal(wired, org_budget):
    wire, book = wired
    book.set_budget("ana", D("1"))
    if org_budget:
        book.set_budget("*", D("100"))
    warmed = warm(book, "ana")
    counted = []
    for i in range(5):
        wire.reset()
        book.reserve("ana", f"c-{i}", D("0.01"))
        counted.append(wire.reset())
    # BEGIN, SET LOCAL synchronous_commit, the lock, the check-and-insert, COMMIT: one pipeline
    assert counted == [(1, 5)] * 5
    wire.reset()
    with pytest.raises(BudgetExceeded) as refused:
        book.reserve("ana", "too-big", D("1"))
    assert wire.reset() == (1, 5)
    assert refused.value.scope == "user" and refused.value.remaining_usd == D("1") - warmed - D("0.05")


def test_durable_holds_skip_only_the_set_local(pg_url):
    with wire_counter() as wire:
        engine = make_engine(wire.url(pg_url))
        migrate(engine)
        book = BudgetBook(engine, clock=SystemClock(), durable_holds=True)
        try:
            book.set_budget("ana", D("1"))
            warm(book, "ana")
            wire.reset()
            book.reserve("ana", "c", D("0.01"))
            assert wire.reset() == (1, 4)
        finally:
            listen.stop_all()
            engine.dispose()


def test_a_release_is_one_round_trip(wired):
    wire, book = wired
    book.set_budget("ana", D("1"))
    warm(book, "ana")
    for i in range(6):  # prepared at the fifth
        book.release(f"warm-{i}")
    book.set_budget("ana", D("1"))  # budgets changed: the listener reads them again at the next hold
    book.reserve("ana", "c", D("0.5"))
    wire.reset()
    assert book.release("c") is True
    assert wire.reset() == (1, 1)
    assert book.reserved("ana") == 0


def test_a_hold_that_replaces_one_made_ahead_takes_two_round_trips(wired):
    """The walk decides whether the dropped hold comes back (ROLLBACK) before the transaction ends."""
    wire, book = wired
    book.set_budget("ana", D("1"))
    warmed = warm(book, "ana")
    book.reserve("ana", "ahead", D("0.5"))
    for i in range(5):  # the replacing path's statements prepared too
        book.reserve("ana", f"again-{i}", D("0.0001"), replaces=f"warm-{i}")
    wire.reset()
    with pytest.raises(BudgetExceeded):
        book.reserve("ana", "row-1", D("1") - warmed + D("0.0000000001"), replaces="ahead")  # one unit too many
    assert wire.reset()[0] == 2
    assert book.reserved("ana") == D("0.5") + warmed  # "ahead" is still held
    wire.reset()
    assert book.reserve("ana", "row-1", D("1") - warmed, replaces="ahead").remaining_usd == 0  # an exact fit
    assert wire.reset()[0] == 2
    assert book.reserved("ana") == D("1")
