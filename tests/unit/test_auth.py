"""Console accounts: hashing, the users file, roles, demo accounts and the cookie-key rule."""

from __future__ import annotations

import stat
from dataclasses import replace

import pytest

from core import auth
from core.config import Settings
from core.errors import ValidationError
from core.keys import ApiKey


@pytest.fixture
def store(tmp_path):
    return auth.UserStore(tmp_path / "users.yaml")


def test_passwords_are_stored_only_as_bcrypt_hashes_in_a_private_file(store):
    store.add("alice", "Alice", "admin", "a-long-password", rounds=4)
    raw = store.path.read_text()
    assert "a-long-password" not in raw and "$2b$04$" in raw
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    hashed = store.credentials()["usernames"]["alice"]["password"]
    assert auth.check_password("a-long-password", hashed) and not auth.check_password("wrong-password", hashed)


def test_the_users_file_has_the_login_widgets_shape(store):
    store.add("bob", "Bob", "analyst", "another-password", rounds=4)
    entry = store.credentials()["usernames"]["bob"]
    assert entry["name"] == "Bob" and entry["roles"] == ["analyst"] and entry["email"]


@pytest.mark.parametrize(("username", "role", "password"), [
    ("A", "analyst", "long-enough-pw"), ("has space", "analyst", "long-enough-pw"), ("ok", "root", "long-enough-pw"),
    ("ok", "analyst", "short")])
def test_bad_accounts_are_refused_with_a_clear_reason(store, username, role, password):
    with pytest.raises(ValidationError) as err:
        store.add(username, "", role, password, rounds=4)
    assert err.value.field in {"username", "role", "password"}
    assert store.users() == []


def test_duplicate_usernames_are_refused_and_names_are_normalised(store):
    store.add("  Carol ", "Carol", "analyst", "long-enough-pw", rounds=4)
    with pytest.raises(ValidationError, match="already exists"):
        store.add("carol", "C", "admin", "long-enough-pw", rounds=4)
    assert [u["username"] for u in store.users()] == ["carol"]


def test_roles_passwords_and_removal(store):
    store.add("dave", "Dave", "analyst", "long-enough-pw", rounds=4)
    store.set_role("dave", "admin")
    assert store.principal("dave") == auth.Principal("dave", "Dave", "admin") and store.principal("dave").is_admin
    store.set_password("dave", "a-new-long-password")
    assert auth.check_password("a-new-long-password", store.credentials()["usernames"]["dave"]["password"])
    assert store.remove("dave") and not store.remove("dave") and store.principal("dave") is None
    with pytest.raises(ValidationError):
        store.set_role("nobody", "admin")


def test_demo_accounts_only_in_demo_mode_and_only_when_there_are_no_accounts(store):
    demo = Settings()
    assert sorted(auth.ensure_demo_accounts(store, demo)) == ["admin", "analyst"]
    assert sorted(store.demo_accounts()) == ["admin", "analyst"]
    assert auth.check_password(auth.DEMO_PASSWORD, store.credentials()["usernames"]["admin"]["password"])
    assert auth.ensure_demo_accounts(store, demo) == []  # not again


def test_no_demo_accounts_with_a_real_key(tmp_path):
    store = auth.UserStore(tmp_path / "users.yaml")
    real = replace(Settings(), keys=(ApiKey("primary", "sk-ant-test-fake-0000"),))
    assert auth.ensure_demo_accounts(store, real) == [] and store.users() == []


def test_a_password_change_clears_the_demo_flag(store):
    auth.ensure_demo_accounts(store, Settings())
    store.set_password("admin", "a-real-admin-password")
    assert store.demo_accounts() == ["analyst"]


@pytest.mark.parametrize("key", [None, auth.EXAMPLE_COOKIE_KEY, "too-short"])
def test_production_refuses_a_missing_example_or_short_cookie_key(key):
    settings = replace(Settings(), environment="production", cookie_key=key)
    with pytest.raises(auth.RefuseToStart, match="TOLLGATE_COOKIE_KEY"):
        auth.cookie_key(settings)


def test_cookie_keys_outside_production_and_the_checklist_view(tmp_path):
    good = "k" * 40
    assert auth.cookie_key(replace(Settings(), environment="production", cookie_key=good)) == good
    dev = auth.cookie_key(Settings())  # no key outside production: a per-process random one
    assert len(dev) >= auth.MIN_COOKIE_KEY and dev == auth.cookie_key(Settings())
    status = auth.auth_status(replace(Settings(), users_file=str(tmp_path / "u.yaml"), cookie_key=good))
    assert status == {"enabled": True, "accounts": 0, "demo_accounts": [], "cookie_key_default": False}
    assert auth.auth_status(replace(Settings(), users_file=str(tmp_path / "u.yaml")))["cookie_key_default"]


def test_the_cookie_key_never_shows_in_the_settings_repr():
    assert "k" * 40 not in repr(replace(Settings(), cookie_key="k" * 40))


class _Widget:
    """What the login widget does to the credentials it is given: count a wrong password, mark a login."""

    def __init__(self, guard):
        self.guard = guard

    def attempt(self, user: str, ok: bool) -> str:
        entry = self.guard.credentials()["usernames"][user]
        if entry["failed_login_attempts"] >= self.guard.max_failures:
            result = "refused"
        elif ok:
            entry["failed_login_attempts"], entry["logged_in"] = 0, True
            result = "in"
        else:
            entry["failed_login_attempts"] += 1
            result = "wrong"
        self.guard.settle()
        return result


@pytest.fixture
def guarded(store):
    from core.clock import FakeClock

    store.add("erin", "Erin", "analyst", "erins-password", rounds=4)
    store.add("finn", "Finn", "analyst", "finns-password", rounds=4)
    clock = FakeClock()
    guard = auth.LoginGuard(store, clock=clock, max_failures=3, window_s=600, lockout_s=300)
    return _Widget(guard), clock


def test_an_account_locks_after_too_many_wrong_passwords_even_for_the_right_one(guarded):
    widget, _ = guarded
    assert [widget.attempt("erin", False) for _ in range(3)] == ["wrong"] * 3
    assert widget.attempt("erin", True) == "refused"
    assert 0 < widget.guard.locked_for("erin") <= 300
    assert widget.attempt("finn", True) == "in"  # others are not affected


def test_the_lock_lifts_after_the_lockout(guarded):
    widget, clock = guarded
    for _ in range(3):
        widget.attempt("erin", False)
    clock.advance(301)
    assert widget.guard.locked_for("erin") == 0 and widget.attempt("erin", True) == "in"


def test_wrong_passwords_spread_beyond_the_window_do_not_lock(guarded):
    widget, clock = guarded
    for _ in range(4):
        assert widget.attempt("erin", False) == "wrong"
        clock.advance(301)  # only two ever fall within a 600 s window
    assert widget.attempt("erin", True) == "in"


def test_a_successful_login_forgets_earlier_wrong_passwords(guarded):
    widget, _ = guarded
    widget.attempt("erin", False)
    widget.attempt("erin", False)
    widget.attempt("erin", True)
    widget.attempt("erin", False)
    widget.attempt("erin", False)
    assert widget.attempt("erin", True) == "in"


def test_a_new_password_lifts_the_lock(guarded, store):
    widget, _ = guarded
    for _ in range(3):
        widget.attempt("erin", False)
    store.set_password("erin", "a-brand-new-password")
    assert widget.attempt("erin", True) == "in"
