"""The Checklist page: every item with a status for admins and analysts; only admins tick; ticks are kept."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.checklist.items import ITEMS
from core.checklist.store import history
from core.ledger.engine import make_engine

ROOT = Path(__file__).resolve().parents[2]
PAGE = "pages/checklist.py"


@pytest.fixture(autouse=True)
def no_public_url(monkeypatch):
    monkeypatch.delenv("TOLLGATE_PUBLIC_URL", raising=False)  # keeps 'https' a manual item


def ticks(demo_env):
    engine = make_engine(f"duckdb:///{demo_env / 'ledger.duckdb'}")
    try:
        return history(engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_every_item_renders_for_admin_and_analyst(console, user):
    at = console(PAGE, user=user)
    assert at.title[0].value == "Production checklist"
    text = " ".join(m.value for m in at.markdown)
    assert all(item.title in text for item in ITEMS)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Done"].endswith(f"/ {len(ITEMS)}")
    # The console's users file has no demo accounts, but no cookie key is set: the login item fails.
    assert "Login is on, but the login cookie key is missing" in text
    assert text.count("badge[") == len(ITEMS)


def test_an_admin_ticks_a_manual_item_and_it_is_stored(console, demo_env):
    at = console(PAGE, user="alice")
    before = datetime.now(UTC)
    at.text_input(key="note_https").input("TLS terminates at the ingress (checked with curl -v)")
    at.button(key="tick_https").click().run()
    assert not at.exception, at.exception
    [t] = ticks(demo_env)
    assert (t.item_id, t.ticked_by, t.unticked_at) == ("https", "alice", None)
    assert before - timedelta(seconds=1) <= t.ticked_at <= datetime.now(UTC)
    assert t.note.startswith("TLS terminates")
    assert any("Ticked by **alice**" in c.value for c in at.caption)
    at.button(key="untick_https").click().run()
    assert not at.exception, at.exception
    [t] = ticks(demo_env)
    assert t.unticked_by == "alice" and t.unticked_at is not None


def test_an_analyst_cannot_tick(console, demo_env):
    at = console(PAGE, user="bob")
    assert not [b for b in at.button if b.key and b.key.startswith(("tick_", "untick_"))]
    assert any("Only an admin can tick" in c.value for c in at.caption)
    assert ticks(demo_env) == []


def test_the_markdown_report_can_be_downloaded(console):
    at = console(PAGE, user="bob")
    [button] = [e for e in at.get("download_button")]
    assert "Markdown" in button.proto.label


def test_an_anonymous_visitor_opening_the_page_directly_is_refused(users):
    at = AppTest.from_file(str(ROOT / PAGE), default_timeout=60).run()
    assert not at.exception, at.exception
    assert [w.value for w in at.warning] == ["Log in to use the console."] and not at.title
