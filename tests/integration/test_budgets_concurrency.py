"""Budgets are never overshot under real concurrency: 200 threads on DuckDB, 4 processes on PostgreSQL."""

from __future__ import annotations

import multiprocessing
import threading
import uuid
from datetime import UTC
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.budgets.book import BudgetBook
from core.clock import FakeClock
from core.errors import BudgetExceeded
from core.ledger.schema import budget_reservations, calls, metadata
from tests.conftest import run_threads

BUDGET = Decimal("0.05")
WORST = Decimal("0.004")  # the worst case each call reserves
FIT = int(BUDGET / WORST)  # calls that must succeed at least: each settles at most WORST


def real_cost(i: int) -> Decimal:
    """What call ``i`` really cost: between a quarter of and exactly its worst case."""
    return WORST * (1 + i % 4) / 4


def settle(engine, call_id: str, user: str, cost: Decimal, clock) -> None:
    """What Ledger.record does for budgets: the calls row and the hold's deletion, in one transaction."""
    with engine.begin() as c:
        c.execute(sa.insert(calls).values(id=call_id, ts=clock.now().astimezone(UTC).replace(tzinfo=None),
                                          user_id=user, model="claude-test", status="ok", cost_usd=cost))
        c.execute(sa.delete(budget_reservations).where(budget_reservations.c.id == call_id))


def one_call(book: BudgetBook, engine, user: str, i: int, clock) -> tuple[str, Decimal]:
    """Reserve, "call", settle; ("ok", cost) or ("refused", amount left when refused)."""
    call_id = str(uuid.uuid4())
    try:
        book.reserve(user, call_id, WORST)
    except BudgetExceeded as exc:
        assert exc.needed_usd == WORST
        return "refused", exc.remaining_usd
    settle(engine, call_id, user, real_cost(i), clock)
    return "ok", real_cost(i)


def ledger_totals(engine) -> tuple[Decimal, int, int]:
    with engine.connect() as c:
        spent, n = c.execute(sa.select(sa.func.coalesce(sa.func.sum(calls.c.cost_usd), 0),
                                       sa.func.count())).one()
        held = c.execute(sa.select(sa.func.count()).select_from(budget_reservations)).scalar_one()
    return Decimal(spent), n, held


def check_outcomes(outcomes: list[tuple[str, Decimal]], engine, n_calls: int) -> None:
    ok = [v for kind, v in outcomes if kind == "ok"]
    refused = [v for kind, v in outcomes if kind == "refused"]
    spent, rows, held = ledger_totals(engine)
    assert len(outcomes) == n_calls
    assert spent <= BUDGET, f"overspent: ${spent} recorded against a ${BUDGET} budget"
    assert rows == len(ok) and spent == sum(ok)
    assert len(ok) >= FIT  # refusals only start once at least FIT calls hold or spent WORST each
    assert refused and all(left < WORST for left in refused)
    assert held == 0


def test_200_threads_on_duckdb_never_overshoot(tmp_path, clock):
    engine = sa.create_engine(f"duckdb:///{tmp_path / 'ledger.duckdb'}", pool_size=10, max_overflow=40)
    metadata.create_all(engine)
    book = BudgetBook(engine, clock=clock)
    book.set_budget("alice", BUDGET)
    outcomes = []
    assert run_threads(lambda i: outcomes.append(one_call(book, engine, "alice", i, clock)), 200,
                       timeout_s=60) == []
    check_outcomes(outcomes, engine, 200)
    assert book.remaining("alice") == BUDGET - sum(v for kind, v in outcomes if kind == "ok")
    engine.dispose()


def _process(url: str, users: list[str], start, n: int, offset: int) -> list[tuple[str, Decimal]]:
    """One worker process: its own engine and book, ``n`` calls once every process is ready."""
    engine = sa.create_engine(url, pool_size=1)
    clock = FakeClock()
    book = BudgetBook(engine, clock=clock)
    start.wait()
    try:
        return [one_call(book, engine, users[i % len(users)], offset + i, clock) for i in range(n)]
    finally:
        engine.dispose()


def _run_processes(url: str, users: list[str], procs: int = 4, per_proc: int = 50):
    ctx = multiprocessing.get_context("fork")
    with ctx.Manager() as manager, ctx.Pool(procs) as pool:
        start = manager.Barrier(procs, timeout=30)
        parts = pool.starmap(_process, [(url, users, start, per_proc, p * per_proc) for p in range(procs)])
    return [o for part in parts for o in part]


@pytest.mark.postgres
def test_four_processes_on_postgres_never_overshoot_a_user_budget(pg_url):
    engine = sa.create_engine(pg_url)
    metadata.create_all(engine)
    BudgetBook(engine, clock=FakeClock()).set_budget("alice", BUDGET)
    outcomes = _run_processes(pg_url, ["alice"])
    check_outcomes(outcomes, engine, 200)
    engine.dispose()


@pytest.mark.postgres
def test_four_processes_on_postgres_never_overshoot_the_global_budget(pg_url):
    engine = sa.create_engine(pg_url)
    metadata.create_all(engine)
    book = BudgetBook(engine, clock=FakeClock())
    book.set_budget("*", BUDGET)
    book.set_budget("bob", Decimal("1"))  # bob's own budget is loose: "*" must still bind him
    outcomes = _run_processes(pg_url, ["alice", "bob", "carol"])
    check_outcomes(outcomes, engine, 200)
    engine.dispose()


def _threaded_process(url: str, users: list[str], start, threads: int, per_thread: int,
                      offset: int) -> list[tuple[str, Decimal]]:
    """One worker process whose ``threads`` threads share one book (one user's holds combined, core.budgets.pg_hold)."""
    from core.budgets.listen import stop_all
    from core.clock import SystemClock
    from core.ledger.engine import make_engine

    engine = make_engine(url, pool_size=threads)
    book = BudgetBook(engine, clock=SystemClock())
    outcomes: list[tuple[str, Decimal]] = []
    gate = threading.Barrier(threads)

    def run(t: int) -> None:
        gate.wait()
        for k in range(per_thread):
            i = offset + t * per_thread + k
            outcomes.append(one_call(book, engine, users[i % len(users)], i, SystemClock()))

    start.wait()
    try:
        assert run_threads(run, threads, timeout_s=120) == []
        return outcomes
    finally:
        stop_all()
        engine.dispose()


@pytest.mark.postgres
@pytest.mark.parametrize("scope", ["user", "global"])
def test_two_processes_of_eight_threads_never_overshoot_one_small_budget(pg_url, scope):
    """The pipelined hold (lock, then check-and-insert in a statement of its own) under threads and processes."""
    engine = sa.create_engine(pg_url)
    metadata.create_all(engine)
    book = BudgetBook(engine, clock=FakeClock())
    users = ["alice"] if scope == "user" else ["alice", "bob"]
    book.set_budget("alice" if scope == "user" else "*", BUDGET)
    if scope == "global":
        book.set_budget("bob", Decimal("1"))  # loose: "*" binds bob too
    ctx = multiprocessing.get_context("fork")
    with ctx.Manager() as manager, ctx.Pool(2) as pool:
        start = manager.Barrier(2, timeout=30)
        parts = pool.starmap(_threaded_process, [(pg_url, users, start, 8, 5, p * 40) for p in range(2)])
    check_outcomes([o for part in parts for o in part], engine, 80)
    engine.dispose()
