"""The console's door (core.console.door) refuses non-admins in core, scopes what an analyst sees, bills the principal."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.accounts.users import Principal
from core.config import load_settings
from core.console.door import Console, open_console
from core.errors import NotAuthorised, TollgateError
from core.factory import build_client
from core.upstream.keys import ApiKey

ADMIN = Principal("alice", "Alice", "admin")
ANALYST = Principal("bob", "Bob", "analyst")
FAKE_KEY = ApiKey("primary", "sk-ant-test-fake-door-0000")


@pytest.fixture
def door(fresh_sim, tmp_path):
    settings = load_settings(env={}, load_keys=False, keys=(FAKE_KEY,), base_url=fresh_sim.url,
                             ledger_url=f"duckdb:///{tmp_path / 'l.duckdb'}", users_file=str(tmp_path / "u.yaml"),
                             spool_path=str(tmp_path / "spool"), timeout_s=2.0)
    d = open_console(settings, client=build_client(settings, source="console"))
    d.accounts.add("alice", "Alice", "admin", "alices-password", rounds=4)
    d.accounts.add("bob", "Bob", "analyst", "bobs-password", rounds=4)
    yield d
    d.close()


def test_an_analyst_is_refused_every_admin_operation_in_core(door: Console):
    ops = {"users": lambda: door.users(ANALYST), "account": lambda: door.account(ANALYST, "alice"),
           "add_user": lambda: door.add_user(ANALYST, "mallory", "M", "admin", "a-long-password"),
           "change_user": lambda: door.change_user(ANALYST, "bob", role="admin"),
           "remove_user": lambda: door.remove_user(ANALYST, "alice"),
           "budget_table": lambda: door.budget_table(ANALYST), "budget_alerts": lambda: door.budget_alerts(ANALYST),
           "set_budget": lambda: door.set_budget(ANALYST, "*", "1000"),
           "remove_budget": lambda: door.remove_budget(ANALYST, "*"),
           "fill_demo_data": lambda: door.fill_demo_data(ANALYST),
           "remove_demo_data": lambda: door.remove_demo_data(ANALYST),
           "tick": lambda: door.tick(ANALYST, "backups", "said so"), "untick": lambda: door.untick(ANALYST, "backups")}
    for name, op in ops.items():
        with pytest.raises(NotAuthorised) as info:
            op()
        assert info.value.code == "not_authorised" and "'bob'" in info.value.message, name
    assert door.accounts.principal("bob").role == "analyst" and door.accounts.principal("mallory") is None
    assert door.client.budgets.get_budget("*") is None


def test_an_admin_sets_a_budget_and_the_sidebar_spend_follows(door: Console):
    assert door.set_budget(ADMIN, "bob", "5") == Decimal("5")
    assert [r for r in door.budget_table(ADMIN)["user_id"]] == ["bob"]
    result = door.ask(ANALYST, model="claude-haiku-5-5", messages=[{"role": "user", "content": "hi"}], max_tokens=16)
    spent, left = door.spend(ANALYST)
    assert spent == result.cost_usd > 0 and left == Decimal("5") - spent
    assert door.spend(ADMIN) == (Decimal("0"), None)


def test_an_analyst_sees_only_their_own_errors_without_key_labels_or_the_ledger_url(door: Console, fresh_sim):
    fresh_sim.script_faults([{"fault": "400"}, {"fault": "400"}])  # one failed call each, not retried
    for who in (ADMIN, ANALYST):
        with pytest.raises(TollgateError):
            door.ask(who, model="claude-haiku-5-5", messages=[{"role": "user", "content": "hi"}], max_tokens=16)
    mine = door.health(ANALYST)["parts"]
    assert {r["user_id"] for r in mine["errors"]["rows"]} == {"bob"}
    assert all("key_label" not in r for r in mine["errors"]["rows"]) and "url" not in mine["ledger"]
    everyone = door.health(ADMIN)["parts"]
    assert {r["user_id"] for r in everyone["errors"]["rows"]} == {"alice", "bob"}
    assert all("key_label" in r for r in everyone["errors"]["rows"]) and everyone["ledger"].get("url")
