"""Logins end when the account changes; weak cookie keys refuse to start (parallel guesses: test_login_lockout)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from core.accounts.users import EXAMPLE_COOKIE_KEY
from tests.app.conftest import APP, TIMEOUT


def shows_login(at: AppTest) -> bool:
    return [t.value for t in at.title] == ["Tollgate"] and [b.label for b in at.button] == ["Login"]


def guess(at: AppTest, user: str, password: str) -> AppTest:
    at.text_input[0].input(user)
    at.text_input[1].input(password)
    at.button[0].click().run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("page", [None, "pages/usage.py"])
@pytest.mark.parametrize("change", ["password", "role", "removal", "lock"])
def test_an_account_change_ends_its_open_login_at_the_next_run(console, anonymous, users, change, page):
    at = console(page, user="bob")
    assert at.title[0].value == ("Usage & cost" if page else "Playground")
    if change == "password":
        users.set_password("bob", "an-admin-set-new-password")
    elif change == "role":
        users.set_role("bob", "admin")
    elif change == "removal":
        users.remove("bob")
    else:
        attacker = anonymous()
        for _ in range(5):
            guess(attacker, "bob", "a-wrong-guess")
    at.run()
    assert not at.exception, at.exception
    assert shows_login(at) or not at.title  # AppTest reruns the page alone: its own check must hold
    assert not at.metric and not at.dataframe and not at.sidebar.markdown and not at.chat_input
    assert [w.value for w in at.warning if "login has ended" in w.value]


def test_an_untouched_login_stays_and_another_accounts_change_does_not_end_it(console, users):
    at = console(user="bob")
    users.set_password("carol", "carols-new-password")
    at.run()
    assert at.title[0].value == "Playground" and not shows_login(at)


@pytest.mark.parametrize("environment", ["development", "staging"])
@pytest.mark.parametrize("key", [EXAMPLE_COOKIE_KEY, "short-key-1234"])
def test_a_weak_cookie_key_refuses_to_start_in_every_environment(users, monkeypatch, environment, key):
    monkeypatch.setenv("TOLLGATE_ENVIRONMENT", environment)
    monkeypatch.setenv("TOLLGATE_COOKIE_KEY", key)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert any("TOLLGATE_COOKIE_KEY" in e.value for e in at.error)
    assert not at.button and not at.text_input and key not in " ".join(e.value for e in at.error)
