"""AppTest fixtures: a demo-mode console on a private DuckDB ledger and users file, caches cleared.

``console(page, user)`` runs ``app.py`` logged in as ``alice`` (admin), ``bob`` or ``carol``
(analysts), switched to ``page``; ``anonymous()`` runs it with nobody logged in.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from core.accounts.users import UserStore

APP = str(Path(__file__).resolve().parents[2] / "app.py")
TIMEOUT = 60
PASSWORD = "correct-horse-battery"  # test accounts only
USERS = {"alice": ("Alice Admin", "admin"), "bob": ("Bob Analyst", "analyst"), "carol": ("Carol Analyst", "analyst")}


@pytest.fixture(autouse=True)
def demo_env(tmp_path, monkeypatch):
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_API_KEY_FILE", "TOLLGATE_AWS_SECRET_ID",
                 "TOLLGATE_COOKIE_KEY", "TOLLGATE_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TOLLGATE_LEDGER_URL", f"duckdb:///{tmp_path / 'ledger.duckdb'}")
    monkeypatch.setenv("TOLLGATE_SPOOL_PATH", str(tmp_path / "spool" / "ledger.spool"))
    monkeypatch.setenv("TOLLGATE_USERS_FILE", str(tmp_path / "users.yaml"))
    monkeypatch.setenv("TOLLGATE_SIM_TTFT_S", "0")
    monkeypatch.setenv("TOLLGATE_SIM_TOKENS_PER_S", "0")
    st.cache_resource.clear()
    st.cache_data.clear()
    yield tmp_path
    for fn in (st.cache_resource, st.cache_data):
        fn.clear()


@pytest.fixture
def users(demo_env):
    """The test accounts in the console's users file (bcrypt at the lowest cost, for speed)."""
    store = UserStore(demo_env / "users.yaml")
    for username, (name, role) in USERS.items():
        store.add(username, name, role, PASSWORD, rounds=4)
    return store


def _run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.fixture
def console(users):
    """A factory: ``console("pages/usage.py", user="bob")`` -> a run AppTest logged in as bob."""
    def open_page(page: str | None = None, user: str = "alice") -> AppTest:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.session_state["authentication_status"] = True
        at.session_state["username"] = user
        at.session_state["name"] = USERS[user][0]
        _run(at)
        if page:
            at.switch_page(page)
            _run(at)
        return at
    return open_page


@pytest.fixture
def anonymous(users):
    """A factory for a console that nobody has logged in to."""
    return lambda: _run(AppTest.from_file(APP, default_timeout=TIMEOUT))
