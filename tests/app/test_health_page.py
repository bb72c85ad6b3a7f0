"""The Health page: one verdict per part for admins and analysts, live in a fragment, keys only masked."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.ledger.engine import make_engine
from core.ledger.migrations import migrate
from core.ledger.schema import calls

ROOT = Path(__file__).resolve().parents[2]
PAGE = "pages/health.py"
PARTS = ("Upstream API", "Ledger", "Response cache", "Limiter headroom", "Shared state (Redis)", "Circuit breaker",
         "API keys", "Recent errors")


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_health_renders_every_part_for_admin_and_analyst(console, user):
    at = console(PAGE, user=user)
    assert at.title[0].value == "Health"
    overall = next(m for m in at.metric if m.label == "Overall")
    assert overall.value == "healthy"  # demo mode on a fresh ledger: every part is ok
    cards = " ".join(m.value for m in at.markdown)
    assert all(f"**{title}**" in cards for title in PARTS), cards
    assert [e.label for e in at.expander][:len(PARTS)] == [f"{t}: details" for t in PARTS]
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Spool backlog"] == "0" and metrics["Write (probe row)"].endswith(" ms")
    assert metrics["State"] == "closed"
    assert metrics["Backend"] in ("memory", "duckdb")  # limits per process by default (TOLLGATE_LIMITS=memory)


def test_only_admins_see_the_ledger_address(console):
    admin, analyst = console(PAGE, user="alice"), console(PAGE, user="bob")
    assert any("duckdb://" in c.value for c in admin.caption)
    assert not any("duckdb://" in c.value for c in analyst.caption)


def test_keys_are_shown_masked(console):
    at = console(PAGE, user="alice")
    frames = [df.value for df in at.dataframe]
    keys = next(f for f in frames if "key" in f.columns)
    assert list(keys["key"]) == ["sk-ant-…0000"] and list(keys["label"]) == ["demo"]
    shown = " ".join([f.to_string() for f in frames] + [e.value for e in (*at.caption, *at.markdown)])
    assert "simulator-fake-key" not in shown


def test_the_refresh_interval_can_be_changed(console):
    at = console(PAGE, user="bob")
    assert any("refreshes every 10 s" in c.value for c in at.caption)
    at.segmented_control(key="health_refresh").set_value("off").run()
    assert not at.exception, at.exception
    assert not any("refreshes every" in c.value for c in at.caption)


def test_recent_errors_are_everyones_for_an_admin_and_their_own_for_an_analyst(console, demo_env):
    engine = make_engine(f"duckdb:///{demo_env / 'ledger.duckdb'}")
    migrate(engine)
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as conn:
        conn.execute(calls.insert(), [
            {"id": str(uuid.uuid4()), "ts": now - timedelta(minutes=i), "user_id": user, "model": "claude-haiku-5-5",
             "status": "error", "error_code": "overloaded", "source": "console"}
            for i, user in enumerate(["alice", "bob", "carol"])])
    engine.dispose()

    def shown(user):
        at = console(PAGE, user=user)
        frame = next(df.value for df in at.dataframe if "error_code" in df.value.columns)
        return at, sorted(frame["user_id"])

    admin, users = shown("alice")
    assert users == ["alice", "bob", "carol"] and next(m for m in admin.metric if m.label == "Overall").value \
        == "needs attention"
    analyst, users = shown("bob")
    assert users == ["bob"]


def test_an_anonymous_visitor_opening_the_page_directly_is_refused(users):
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=60).run()
    assert not at.exception, at.exception
    assert [w.value for w in at.warning] == ["Log in to use the console."] and not at.title
