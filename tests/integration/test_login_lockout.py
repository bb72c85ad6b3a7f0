"""The login lock-out: atomic under parallel guesses, shared by every console process (SQL or Redis)."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from core.accounts import users as auth
from core.accounts.lockout import LoginGuard, MemoryAttempts, RedisAttempts, SqlAttempts
from core.clock import FakeClock
from tests.conftest import run_threads

PASSWORD = "correct-horse-battery"  # test accounts only


@pytest.fixture
def store(tmp_path):
    s = auth.UserStore(tmp_path / "users.yaml")
    s.add("erin", "Erin", "analyst", PASSWORD, rounds=4)
    s.add("finn", "Finn", "analyst", PASSWORD, rounds=4)
    return s


@pytest.fixture(params=["memory", "duckdb", pytest.param("postgres", marks=pytest.mark.postgres), "redis",
                        pytest.param("shared-redis", marks=pytest.mark.redis)])
def attempts(request, tmp_path):
    """Where the counts live; one factory call is one console process's view of it."""
    if request.param == "shared-redis":  # TOLLGATE_LIMITS=redis: each process its own SharedState
        from core.accounts.lockout import SharedAttempts
        from core.guards.shared import SharedState
        from tests.conftest import require_service
        from tests.integration.shared_redis import drop_prefix, fresh_prefix, machine_redis_url

        require_service("Redis", "127.0.0.1", 6379)
        url, prefix = machine_redis_url(), fresh_prefix()
        yield lambda: SharedAttempts(SharedState(url, prefix=prefix))
        drop_prefix(url, prefix)
        return
    if request.param == "memory":
        shared = MemoryAttempts()
        yield lambda: shared
        return
    if request.param == "redis":
        import redis

        client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
        yield lambda: RedisAttempts(client)
        client.close()
        return
    url = (f"duckdb:///{tmp_path / 'ledger.duckdb'}" if request.param == "duckdb"
           else request.getfixturevalue("pg_url"))
    engine = sa.create_engine(url)
    yield lambda: SqlAttempts(engine)
    engine.dispose()


class Counted:
    """The real bcrypt check, counted: how many guesses were actually tried against the hash."""

    def __init__(self) -> None:
        self.calls, self._lock = 0, threading.Lock()

    def __call__(self, password: str, hashed: str) -> bool:
        with self._lock:
            self.calls += 1
        return auth.check_password(password, hashed)


def guard(store, attempts, clock, check=auth.check_password) -> LoginGuard:
    return LoginGuard(store, clock=clock, attempts=attempts, max_failures=5, window_s=900, lockout_s=900,
                      check=check)


def test_twelve_parallel_wrong_guesses_get_at_most_five_checks(store, attempts):
    checks, clock = Counted(), FakeClock()
    # Two console processes (two guards) share the counts, as replicas behind a balancer would.
    guards = [guard(store, attempts(), clock, checks), guard(store, attempts(), clock, checks)]
    results: list[str] = []
    errors = run_threads(lambda i: results.append(guards[i % 2].login("erin", f"guess-{i}").status), 12,
                         timeout_s=60)
    assert errors == []
    assert checks.calls <= 5, f"{checks.calls} of 12 parallel guesses were checked"
    assert results.count("wrong") <= 4 and results.count("locked") >= 8 and "ok" not in results
    assert guards[0].login("erin", PASSWORD).status == "locked"  # the right password too, in either process
    assert guards[1].locked_for("erin") > 0
    assert guards[1].login("finn", PASSWORD).status == "ok"  # others are not affected


def test_the_lock_lifts_after_the_lockout_and_a_new_password_lifts_it_at_once(store, attempts):
    clock = FakeClock()
    g = guard(store, attempts(), clock)
    assert [g.login("erin", "nope").status for _ in range(5)] == ["wrong"] * 4 + ["locked"]
    clock.advance(901)
    assert g.login("erin", PASSWORD).status == "ok"
    assert [g.login("erin", "nope").status for _ in range(5)][-1] == "locked"
    store.set_password("erin", "an-admin-set-new-password")
    assert g.login("erin", "an-admin-set-new-password").status == "ok"


def test_a_lock_ends_the_accounts_open_logins(store, attempts):
    before = store.session_version("erin")
    g = guard(store, attempts(), FakeClock())
    for _ in range(5):
        g.login("erin", "nope")
    assert store.session_version("erin") != before


def test_wrong_passwords_spread_beyond_the_window_do_not_lock_and_a_login_forgets_them(store, attempts):
    clock = FakeClock()
    g = guard(store, attempts(), clock)
    for _ in range(6):
        assert g.login("erin", "nope").status == "wrong"
        clock.advance(300)  # only three ever fall within a 900 s window
    for _ in range(4):
        g.login("finn", "nope")
    assert g.login("finn", PASSWORD).status == "ok"
    assert [g.login("finn", "nope").status for _ in range(4)] == ["wrong"] * 4


def test_unknown_users_are_wrong_and_never_counted(store, attempts):
    a = attempts()
    g = guard(store, a, FakeClock())
    assert {g.login("nobody", "x").status for _ in range(8)} == {"wrong"}
    assert g.login("", "").status == "wrong" and g.login(None, None).status == "wrong"
    assert a.locked_until("nobody", "any") is None
