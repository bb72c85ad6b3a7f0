"""BudgetBook's contract on every ledger backend: DuckDB file, DuckDB in memory, PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.budgets.book import BudgetBook
from core.clock import FakeClock
from core.errors import BudgetExceeded
from core.ledger.schema import budget_reservations, budgets, calls

EXAMPLE = Path(__file__).resolve().parents[2] / "data" / "budgets.example.toml"
D = Decimal


@pytest.fixture
def book(engine, clock):
    return BudgetBook(engine, clock=clock)


def record(engine, call_id: str, user: str, cost: Decimal, ts: datetime, status: str = "ok") -> None:
    """What Ledger.record does for budgets: insert the calls row and drop its hold, in one transaction."""
    with engine.begin() as c:
        c.execute(sa.insert(calls).values(id=call_id, ts=ts.astimezone(UTC).replace(tzinfo=None),
                                          user_id=user, model="claude-test", status=status, cost_usd=cost))
        c.execute(sa.delete(budget_reservations).where(budget_reservations.c.id == call_id))


def holds(engine) -> int:
    with engine.connect() as c:
        return c.execute(sa.select(sa.func.count()).select_from(budget_reservations)).scalar_one()


def new_id() -> str:
    return str(uuid.uuid4())


# --- administration -------------------------------------------------------------------

def test_set_get_update_and_remove_a_budget(book, engine):
    assert book.get_budget("alice") is None
    book.set_budget("alice", D("25.00"), by="admin")
    assert book.get_budget("alice") == D("25")
    book.set_budget("alice", "30.5")
    assert book.get_budget("alice") == D("30.5")
    with engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(budgets)).scalar_one() == 1
    assert book.remove_budget("alice") is True
    assert book.get_budget("alice") is None
    assert book.remove_budget("alice") is False


@pytest.mark.parametrize("bad", [D("-1"), "-0.01", "abc", "", "NaN", "Infinity", True, None, [1]])
def test_invalid_amounts_are_refused_with_a_clear_message(book, bad):
    with pytest.raises(ValueError, match="non-negative decimal amount in USD"):
        book.set_budget("alice", bad)
    assert book.get_budget("alice") is None


@pytest.mark.parametrize("user", ["", "   ", None, "x" * 201])
def test_invalid_user_ids_are_refused(book, user):
    with pytest.raises(ValueError, match="user id"):
        book.set_budget(user, D("1"))


def test_load_the_example_file(book):
    loaded = book.load_file(EXAMPLE)
    assert loaded["*"] == D("500.00") and loaded["alice"] == D("25.00")
    for user, amount in loaded.items():
        assert book.get_budget(user) == amount
    assert book.tz == "Europe/Paris"
    assert book.thresholds == (50, 80, 100)


def test_a_bad_file_writes_nothing(book, tmp_path):
    path = tmp_path / "budgets.toml"
    path.write_text('[budgets]\nalice = "25"\nbob = "-3"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="The budget for 'bob'"):
        book.load_file(path)
    assert book.get_budget("alice") is None
    path.write_text('timezone = "Mars/Olympus"\n[budgets]\nalice = "25"\n', encoding="utf-8")
    with pytest.raises(ValueError, match="Unknown budget time zone"):
        book.load_file(path)
    path.write_text("[budgets\n", encoding="utf-8")
    with pytest.raises(ValueError, match="not valid TOML"):
        book.load_file(path)
    path.write_text('thresholds = [50, "lots"]\n', encoding="utf-8")
    with pytest.raises(ValueError, match="thresholds"):
        book.load_file(path)
    assert book.get_budget("alice") is None and book.thresholds == (50, 80, 100)


# --- reserving and settling -----------------------------------------------------------

def test_no_budget_means_no_hold(book, engine):
    assert book.reserve("alice", new_id(), D("3")) is None
    assert holds(engine) == 0
    assert book.remaining("alice") is None


def test_a_hold_counts_until_the_ledger_settles_it(book, engine, clock):
    book.set_budget("alice", D("1.00"))
    cid = new_id()
    held = book.reserve("alice", cid, D("0.30"))
    assert (held.id, held.user_id, held.month, held.amount_usd) == (cid, "alice", "2026-11", D("0.30"))
    assert held.remaining_usd == D("0.7")
    assert held.expires_at == clock.now().replace(tzinfo=None) + timedelta(seconds=900)
    assert book.reserved("alice") == D("0.30") and book.spent("alice") == 0
    assert book.remaining("alice") == D("0.70")
    record(engine, cid, "alice", D("0.12"), clock.now())
    assert book.reserved("alice") == 0
    assert book.spent("alice") == D("0.12")
    assert book.remaining("alice") == D("0.88")


def test_a_call_that_does_not_fit_is_refused_with_the_amount_left(book, engine, clock):
    book.set_budget("alice", D("1.00"))
    record(engine, new_id(), "alice", D("0.55"), clock.now())
    book.reserve("alice", new_id(), D("0.25"))
    with pytest.raises(BudgetExceeded) as info:
        book.reserve("alice", new_id(), D("0.2000001"))
    err = info.value
    assert (err.user, err.scope, err.remaining_usd, err.needed_usd) == ("alice", "user", D("0.2"), D("0.2000001"))
    assert "$0.20 left" in err.message and err.code == "budget_exceeded"
    assert holds(engine) == 1
    assert book.reserve("alice", new_id(), D("0.20")).remaining_usd == 0  # an exact fit is allowed
    with pytest.raises(BudgetExceeded):
        book.reserve("alice", new_id(), D("0.0000000001"))


def test_spend_counts_every_status_but_only_this_user_and_month(book, engine, clock):
    book.set_budget("alice", D("10"))
    now = clock.now()
    record(engine, new_id(), "alice", D("1.5"), now, status="ok")
    record(engine, new_id(), "alice", D("0.25"), now, status="error")
    record(engine, new_id(), "bob", D("4"), now)
    record(engine, new_id(), "alice", D("3"), now - timedelta(days=40))
    assert book.spent("alice") == D("1.75")
    assert book.spent("*") == D("5.75")
    assert book.remaining("alice") == D("8.25")


def test_a_hold_that_replaces_one_made_ahead_drops_it_only_when_it_fits(book, engine):
    """A run's row takes over its share of the run hold in its own check (``replaces``); refused, the share stays."""
    book.set_budget("alice", D("1"))
    ahead = new_id()
    book.reserve("alice", ahead, D("0.6"))
    with pytest.raises(BudgetExceeded) as info:
        book.reserve("alice", new_id(), D("1.0000000001"), replaces=ahead)  # one unit more than the whole budget
    assert info.value.remaining_usd == D("1")  # what is left once the share is dropped
    assert holds(engine) == 1 and book.reserved("alice") == D("0.6")
    held = book.reserve("alice", new_id(), D("1"), replaces=ahead)  # an exact fit, with the share dropped
    assert held.remaining_usd == 0 and holds(engine) == 1 and book.reserved("alice") == D("1")


def test_release_drops_a_hold(book, engine):
    book.set_budget("alice", D("1"))
    cid = new_id()
    book.reserve("alice", cid, D("0.9"))
    assert book.release(cid) is True
    assert book.release(cid) is False
    assert holds(engine) == 0 and book.remaining("alice") == D("1")


def test_a_reused_call_id_or_the_global_name_is_refused(book):
    book.set_budget("alice", D("1"))
    cid = new_id()
    book.reserve("alice", cid, D("0.1"))
    with pytest.raises(ValueError, match="already exists"):
        book.reserve("alice", cid, D("0.1"))
    with pytest.raises(ValueError, match="organisation"):
        book.reserve("*", new_id(), D("0.1"))
    with pytest.raises(ValueError, match="reserved amount"):
        book.reserve("alice", new_id(), D("-0.1"))


def test_expired_holds_stop_counting_and_are_purged(engine, clock):
    book = BudgetBook(engine, clock=clock, reservation_ttl_s=60)
    book.set_budget("alice", D("1"))
    book.reserve("alice", "crashed-call", D("0.9"))
    with pytest.raises(BudgetExceeded):
        book.reserve("alice", new_id(), D("0.2"))
    clock.advance(61)  # the process holding 0.9 died; its hold has expired
    assert book.reserved("alice") == 0 and book.remaining("alice") == D("1")
    assert book.reserve("alice", new_id(), D("0.2")) is not None
    assert holds(engine) == 2  # expired, but still within the purge grace period
    clock.advance(121)  # now both holds are past expiry plus one TTL of grace
    fresh = book.reserve("alice", new_id(), D("0.1"))
    with engine.connect() as c:
        left = set(c.execute(sa.select(budget_reservations.c.id)).scalars())
    assert left == {fresh.id}


def test_the_month_resets_at_local_midnight_on_the_first(engine):
    # 14:59Z on 28 Feb 2026 is 23:59 in Tokyo; 15:00Z is 00:00 on 1 March there (still Feb in UTC).
    clock = FakeClock(wall=datetime(2026, 2, 28, 14, 59, tzinfo=UTC))
    book = BudgetBook(engine, clock=clock, tz="Asia/Tokyo")
    book.set_budget("alice", D("1"))
    record(engine, new_id(), "alice", D("0.95"), clock.now())
    with pytest.raises(BudgetExceeded):
        book.reserve("alice", new_id(), D("0.10"))
    clock.advance(59)
    assert book.remaining("alice") == D("0.05")
    clock.advance(1)
    assert book.spent("alice") == 0 and book.remaining("alice") == D("1")
    assert book.reserve("alice", new_id(), D("0.10")).month == "2026-03"
    assert BudgetBook(engine, clock=clock).spent("alice") == D("0.95")  # a UTC book: still February


def test_the_global_budget_binds_across_users(book, engine, clock):
    book.set_budget("*", D("1.00"))
    book.set_budget("carol", D("5.00"))  # her own budget is looser than the organisation's
    record(engine, new_id(), "alice", D("0.50"), clock.now())
    book.reserve("bob", new_id(), D("0.30"))
    assert book.remaining("dave") == D("0.2")
    with pytest.raises(BudgetExceeded) as info:
        book.reserve("carol", new_id(), D("0.25"))
    assert info.value.scope == "global" and info.value.remaining_usd == D("0.2")
    assert "organisation" in info.value.message
    book.set_budget("dave", D("0.05"))  # a tighter own budget is checked first
    with pytest.raises(BudgetExceeded) as info:
        book.reserve("dave", new_id(), D("0.10"))
    assert info.value.scope == "user" and info.value.remaining_usd == D("0.05")
    assert book.reserve("carol", new_id(), D("0.2")).remaining_usd == 0


def test_status_lists_every_budget(book, engine, clock):
    book.set_budget("*", D("100"))
    book.set_budget("alice", D("10"))
    record(engine, new_id(), "alice", D("2.5"), clock.now())
    record(engine, new_id(), "bob", D("1.5"), clock.now())
    book.reserve("alice", new_id(), D("1"))
    frame = book.status().set_index("user_id")
    assert list(frame.index) == ["*", "alice"]
    alice, org = frame.loc["alice"], frame.loc["*"]
    assert (alice.budget_usd, alice.spent_usd, alice.reserved_usd, alice.remaining_usd) == (
        D("10"), D("2.5"), D("1"), D("6.5"))
    assert alice.pct_used == pytest.approx(25.0) and alice.month == "2026-11"
    assert (org.spent_usd, org.remaining_usd) == (D("4"), D("95"))


@pytest.mark.parametrize("backend", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_the_real_ledger_settles_holds(backend, tmp_path, clock, request):
    from core.ledger.engine import make_engine
    from core.ledger.migrations import migrate
    from core.ledger.spool import Spool
    from core.ledger.store import Ledger
    from core.types import CallRecord

    url = f"duckdb:///{tmp_path / 'ledger.duckdb'}" if backend == "duckdb" else request.getfixturevalue("pg_url")
    engine = make_engine(url)
    migrate(engine)
    book, ledger = BudgetBook(engine, clock=clock), Ledger(engine, Spool(tmp_path / "spool.jsonl"), clock)
    book.set_budget("alice", D("1"))
    ok, failed = new_id(), new_id()
    book.reserve("alice", ok, D("0.6"))
    book.reserve("alice", failed, D("0.3"))
    assert book.remaining("alice") == D("0.1")
    ledger.record(CallRecord(id=ok, ts=clock.now(), user="alice", model="claude-test", status="ok",
                             cost_usd=D("0.25")))
    ledger.record(CallRecord(id=failed, ts=clock.now(), user="alice", model="claude-test", status="error",
                             error_code="overloaded"))
    assert (book.spent("alice"), book.reserved("alice"), book.remaining("alice")) == (D("0.25"), 0, D("0.75"))
    assert holds(engine) == 0
    engine.dispose()
