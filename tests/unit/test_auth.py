"""Console accounts: hashing, the users file, roles, demo accounts and the cookie-key rule."""

from __future__ import annotations

import stat

import pytest

from core.accounts import users as auth
from core.config import Settings, replace
from core.errors import ValidationError
from core.upstream.keys import ApiKey


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


@pytest.mark.parametrize("environment", ["development", "staging"])
@pytest.mark.parametrize("key", [auth.EXAMPLE_COOKIE_KEY, "k" * 31])
def test_the_example_or_a_short_cookie_key_is_refused_in_every_environment(environment, key):
    # The example key is public: accepting it anywhere lets anyone mint an admin login.
    with pytest.raises(auth.RefuseToStart, match="TOLLGATE_COOKIE_KEY") as err:
        auth.cookie_key(replace(Settings(), environment=environment, cookie_key=key))
    assert key not in str(err.value)


def test_every_account_change_moves_its_session_version_on(store):
    store.add("gwen", "Gwen", "analyst", "long-enough-pw", rounds=4)
    seen = [store.session_version("gwen")]
    for change in (lambda: store.set_password("gwen", "another-long-pw"), lambda: store.set_role("gwen", "admin"),
                   lambda: store.revoke("gwen")):
        change()
        seen.append(store.session_version("gwen"))
    assert len(set(seen)) == 4 and seen == sorted(seen)
    store.remove("gwen")
    assert store.session_version("gwen") is None
    store.add("gwen", "Gwen again", "analyst", "long-enough-pw", rounds=4)
    assert store.session_version("gwen") not in seen  # an old login never fits a new namesake


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
