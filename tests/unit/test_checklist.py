"""Each production-checklist item against constructed settings and facts: pass, warn, fail (and manual)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from core.checklist import items as cl
from core.checklist.items import FAIL, ITEMS, MANUAL, PASS, WARN, Facts
from core.checklist.report import evaluate, markdown, summary
from core.checklist.scan import Finding
from core.checklist.store import Tick
from core.config import Settings
from core.upstream.keys import ApiKey

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def key(label="primary", source="env", age_days=None):
    created = None if age_days is None else NOW - timedelta(days=age_days)
    return ApiKey(label, f"sk-ant-test-fake-{label}-0000", source, created)


def facts(settings: Settings | None = None, **kw) -> Facts:
    base = {"auth": {"enabled": True, "demo_accounts": [], "cookie_key_default": False}, "budget_users": ("*",),
            "euid": 1000}
    return Facts(settings=settings or Settings(keys=(key(age_days=10),)), now=NOW, **{**base, **kw})


def status(check, settings=None, **kw) -> str:
    return check(facts(settings, **kw))[0]


@pytest.mark.parametrize("keys, expected", [
    ((key(source="env"), key("aws-1", source="aws")), PASS),
    ((key(source="st.secrets"),), PASS),
    ((), WARN),  # demo mode
    ((key(source="explicit"),), FAIL),
])
def test_key_source(keys, expected):
    assert status(cl.key_source, Settings(keys=keys)) == expected


def test_key_in_repo():
    tracked = Finding("core/x.py", 3, "sk-ant-…AAAA", tracked=True)
    local = Finding(".env", 1, "sk-ant-…BBBB", tracked=False)
    assert status(cl.no_key_in_repo) == PASS
    assert status(cl.no_key_in_repo, findings=(local,)) == WARN
    assert status(cl.no_key_in_repo, Settings(environment="production"), findings=(local,)) == FAIL
    s, reason = cl.no_key_in_repo(facts(findings=(tracked, local)))
    assert s == FAIL and "core/x.py:3" in reason and ".env" not in reason


@pytest.mark.parametrize("ages, expected", [
    ((10, 40), PASS), ((10, 80), WARN), ((10, 90), FAIL), ((10, None), MANUAL), ((None, 200), FAIL),
])
def test_key_age(ages, expected):
    keys = tuple(key(f"k{i}", age_days=a) for i, a in enumerate(ages))
    assert status(cl.key_age, Settings(keys=keys)) == expected


def test_key_age_in_demo_mode_warns():
    assert status(cl.key_age, Settings(keys=())) == WARN


@pytest.mark.parametrize("env, labels, expected", [
    ("production", ("primary", "backup"), MANUAL),
    ("production", ("primary", "dev-laptop"), FAIL),
    ("production", ("stg.eu",), FAIL),
    ("production", ("devops",), MANUAL),  # a word that merely starts like one is not a label for it
    ("development", ("prod",), FAIL),
    ("staging", ("staging-1",), MANUAL),
    ("prodution", ("primary",), FAIL),  # a typo is not an environment
])
def test_separate_keys(env, labels, expected):
    keys = tuple(key(label) for label in labels)
    assert status(cl.separate_keys, Settings(environment=env, keys=keys)) == expected


def test_separate_keys_in_demo_mode_warns():
    assert status(cl.separate_keys, Settings(environment="production", keys=())) == WARN


@pytest.mark.parametrize("attempts, base, expected", [(4, 0.5, PASS), (1, 0.5, FAIL), (4, 0.0, FAIL), (10, 0.5, WARN)])
def test_retries(attempts, base, expected):
    assert status(cl.retries, Settings(max_attempts=attempts, backoff_base_s=base)) == expected


@pytest.mark.parametrize("t, expected", [(30, PASS), (60, PASS), (45, PASS), (20, WARN), (90, WARN), (2, FAIL),
                                         (900, FAIL)])
def test_timeout(t, expected):
    assert status(cl.timeout, Settings(timeout_s=t)) == expected


@pytest.mark.parametrize("kw, expected", [
    ({"budget_webhook_url": "https://hooks.example.com/x"}, PASS),
    ({}, WARN),
    ({"budget_webhook_url": "https://hooks.example.com/x", "budget_thresholds": ()}, FAIL),
    ({"ledger_url": None, "budget_webhook_url": "https://hooks.example.com/x"}, FAIL),
])
def test_cost_alerts(kw, expected):
    assert status(cl.cost_alerts, Settings(**kw)) == expected


@pytest.mark.parametrize("level, handlers, expected", [
    (logging.INFO, True, PASS), (logging.DEBUG, True, PASS), (logging.WARNING, True, WARN), (logging.INFO, False, FAIL),
])
def test_logging(level, handlers, expected):
    assert status(cl.logging_on, log_level=level, log_handlers=handlers) == expected


@pytest.mark.parametrize("cache, expected", [("memory", PASS), ("redis", PASS), ("off", WARN)])
def test_cache(cache, expected):
    assert status(cl.cache_on, Settings(cache=cache)) == expected


def test_prompts_private():
    assert status(cl.prompts_private, Settings(store_prompts=False)) == PASS
    assert status(cl.prompts_private, Settings(store_prompts=True)) == WARN


@pytest.mark.parametrize("url, expected", [
    (None, PASS), ("https://relay.corp.example/anthropic", PASS), ("http://127.0.0.1:8787", WARN),
    ("http://localhost:8787", WARN), ("http://relay.corp.example", FAIL), ("http://10.0.0.5:8080", FAIL),
])
def test_relay_url(url, expected):
    assert status(cl.relay_url, Settings(base_url=url, keys=(key(),))) == expected


def test_relay_url_in_demo_mode_says_calls_go_to_the_simulator():
    state, reason = cl.relay_url(facts(Settings(base_url=None, keys=())))
    assert state == WARN and "simulator" in reason and "go straight to" not in reason


@pytest.mark.parametrize("auth, expected", [
    ({"enabled": True, "demo_accounts": [], "cookie_key_default": False}, PASS),
    ({"enabled": True, "demo_accounts": ["admin"], "cookie_key_default": False}, FAIL),
    ({"enabled": True, "demo_accounts": [], "cookie_key_default": True}, FAIL),
    ({"enabled": False, "demo_accounts": [], "cookie_key_default": False}, FAIL),
    (None, FAIL),
])
def test_login(auth, expected):
    assert status(cl.login, auth=auth) == expected


@pytest.mark.parametrize("users, expected", [(("*", "ana"), PASS), (("ana",), WARN), ((), FAIL), (None, WARN)])
def test_budgets(users, expected):
    assert status(cl.budgets, budget_users=users) == expected


@pytest.mark.parametrize("url, proto, expected", [
    ("https://tollgate.example.com", None, PASS), ("http://tollgate.example.com", "https", FAIL),
    (None, "https", PASS), (None, "http", FAIL), (None, None, MANUAL),
])
def test_https(url, proto, expected):
    assert status(cl.https, Settings(public_url=url), forwarded_proto=proto) == expected


@pytest.mark.parametrize("euid, container, expected", [
    (1000, True, PASS), (1000, False, PASS), (0, True, FAIL), (0, False, WARN), (None, False, MANUAL),
])
def test_non_root(euid, container, expected):
    assert status(cl.non_root, euid=euid, in_container=container) == expected


def test_every_item_has_why_and_fix_and_a_unique_id():
    ids = [i.id for i in ITEMS]
    assert len(set(ids)) == len(ids) == 16
    assert all(i.title and i.why and i.fix for i in ITEMS)


def test_a_broken_check_fails_without_hiding_the_others():
    rows = evaluate(Facts(settings=None, now=NOW))  # no settings at all: most checks raise
    assert len(rows) == len(ITEMS) and all(r.status in (PASS, WARN, FAIL, MANUAL) for r in rows)
    assert any("check itself failed" in r.reason for r in rows)


def test_ticks_count_only_on_manual_items_and_the_markdown_has_everything():
    tick = Tick("https", "alice", NOW, "TLS at the ingress")
    stray = Tick("timeout", "alice", NOW)  # an automatic item: a tick must not change its status
    rows = evaluate(facts(), {"https": tick, "timeout": stray})
    by_id = {r.item.id: r for r in rows}
    assert by_id["https"].status == MANUAL and by_id["https"].tick == tick and by_id["https"].done
    assert by_id["timeout"].tick is None
    counts = summary(rows)
    assert counts["ticked"] == 1 and counts["total"] == len(ITEMS)
    assert counts["done"] == counts[PASS] + 1
    md = markdown(rows, environment="production", generated_at=NOW, generated_by="alice")
    assert all(f"`{i.id}`" in md and i.title in md and i.why in md for i in ITEMS)
    assert "alice, 2026-11-22 12:00 UTC: TLS at the ingress" in md
    assert md.count("\n| ") == len(ITEMS) + 1  # header + one row per item
