"""Accounts, budgets and demo data are refused to non-admins in core (core.accounts.admin), not only by the page."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core.accounts import admin
from core.accounts.users import LOCAL_ADMIN, Principal, UserStore, check_password
from core.budgets.book import BudgetBook
from core.clock import FakeClock
from core.errors import NotAuthorised, TollgateError, ValidationError
from core.ledger.engine import make_engine
from core.ledger.migrations import migrate
from core.ledger.schema import calls

ANALYST = Principal("bob", "Bob", "analyst")
ADMIN = Principal("alice", "Alice", "admin")
NOW = datetime(2026, 11, 22, 15, tzinfo=UTC)


@pytest.fixture
def engine(tmp_path):
    eng = make_engine(f"duckdb:///{tmp_path / 'l.duckdb'}")
    migrate(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def store(tmp_path):
    s = UserStore(tmp_path / "users.yaml")
    s.add("alice", "Alice", "admin", "alices-password", rounds=4)
    s.add("bob", "Bob", "analyst", "bobs-password", rounds=4)
    return s


def _refused(fn, *args, **kw) -> NotAuthorised:
    with pytest.raises(NotAuthorised) as info:
        fn(*args, **kw)
    err = info.value
    assert isinstance(err, TollgateError) and err.code == "not_authorised" and not err.retryable
    assert "Only an admin can" in err.message and "'bob'" in err.message
    return err


@pytest.mark.parametrize("who", [ANALYST, None, Principal("", "", "admin")])
def test_an_analyst_or_nobody_cannot_change_accounts(store, who):
    before = store.users()
    ops = [lambda: admin.add_user(store, who, "mallory", "M", "admin", "a-long-password"),
           lambda: admin.change_user(store, who, "bob", role="admin"),
           lambda: admin.change_user(store, who, "alice", password="taken-over-password"),
           lambda: admin.remove_user(store, who, "alice")]
    for op in ops:
        with pytest.raises(NotAuthorised):
            op()
    if who is ANALYST:
        _refused(admin.change_user, store, who, "bob", role="admin")
    assert store.users() == before
    assert check_password("alices-password", store.credentials()["usernames"]["alice"]["password"])


def test_an_analyst_cannot_set_or_remove_budgets(engine):
    book = BudgetBook(engine, clock=FakeClock())
    book.set_budget("bob", Decimal("5"), by="alice")
    _refused(admin.set_budget, book, ANALYST, "bob", "1000")
    _refused(admin.remove_budget, book, ANALYST, "bob")
    assert book.get_budget("bob") == Decimal("5")


def test_an_analyst_cannot_fill_or_remove_demo_data(engine):
    _refused(admin.fill_demo_data, engine, ANALYST, days=2, now=NOW)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(calls)).scalar_one() == 0
    n = admin.fill_demo_data(engine, ADMIN, days=2, now=NOW, seed=1)
    _refused(admin.remove_demo_data, engine, ANALYST)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(calls)).scalar_one() == n > 0
    assert admin.remove_demo_data(engine, ADMIN) == n


def test_an_admin_sets_budgets_recorded_under_their_name(engine):
    book = BudgetBook(engine, clock=FakeClock())
    assert admin.set_budget(book, ADMIN, "bob", "25") == Decimal("25")
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT updated_by FROM budgets WHERE user_id = 'bob'")).scalar_one() == "alice"
    assert admin.remove_budget(book, ADMIN, "bob") is True and book.get_budget("bob") is None


def test_change_user_changes_only_what_is_given(store):
    bob_hash = store.credentials()["usernames"]["bob"]["password"]
    assert admin.change_user(store, ADMIN, "bob", role="analyst", password="") == []
    assert store.credentials()["usernames"]["bob"]["password"] == bob_hash
    assert admin.change_user(store, ADMIN, "bob", password="a-new-bob-password") == ["password"]
    assert store.principal("bob").role == "analyst"
    assert admin.change_user(store, ADMIN, "bob", role="admin") == ["role"]
    assert store.principal("bob").role == "admin"
    assert check_password("a-new-bob-password", store.credentials()["usernames"]["bob"]["password"])


def test_an_admin_cannot_demote_or_remove_themselves_but_the_cli_can(store):
    with pytest.raises(ValidationError, match="own admin role"):
        admin.change_user(store, ADMIN, "alice", role="analyst")
    with pytest.raises(ValidationError, match="own account"):
        admin.remove_user(store, ADMIN, "alice")
    assert store.principal("alice").role == "admin"
    assert admin.change_user(store, LOCAL_ADMIN, "alice", role="analyst") == ["role"]
    assert admin.remove_user(store, LOCAL_ADMIN, "alice") is True


def test_the_cli_acts_as_the_local_administrator(tmp_path, monkeypatch, capsys):
    import io

    from core.cli.main import main

    monkeypatch.setenv("TOLLGATE_USERS_FILE", str(tmp_path / "cli-users.yaml"))
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-cli-password\n"))
    assert main(["user", "add", "erin", "--role", "analyst", "--name", "Erin"]) == 0
    assert main(["user", "role", "erin", "admin"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("another-cli-password\n"))
    assert main(["user", "passwd", "erin"]) == 0
    store = UserStore(tmp_path / "cli-users.yaml")
    assert store.principal("erin").role == "admin"
    assert check_password("another-cli-password", store.credentials()["usernames"]["erin"]["password"])
    assert main(["user", "remove", "erin"]) == 0 and store.principal("erin") is None
    assert "Removed erin." in capsys.readouterr().out
