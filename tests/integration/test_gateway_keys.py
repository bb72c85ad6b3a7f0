"""Tollgate keys: stored as hashes only, checked in constant time, revoked and expired at once, masked later."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa

from core.accounts import admin
from core.accounts.keys import PREFIX, KeyStore, parse
from core.accounts.users import Principal
from core.clock import FakeClock
from core.errors import InvalidApiKey, NotAuthorised, ValidationError
from core.ledger.engine import make_engine
from core.ledger.migrations import migrate
from core.ledger.schema import api_keys, calls
from core.observability.redact import redact

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path):
    engine = make_engine(f"duckdb:///{tmp_path / 'keys.duckdb'}")
    migrate(engine)
    clock = FakeClock()
    yield KeyStore(engine, clock=clock, cache_s=0.0)
    engine.dispose()


def test_a_key_is_stored_as_a_hash_only_and_verifies(store):
    info, key = store.create("ana", name="laptop")
    assert key.startswith(PREFIX) and parse(key) == (info.id, key.split("_", 1)[1])
    with store.engine.connect() as conn:
        stored = " ".join(str(v) for row in conn.execute(sa.select(api_keys)).all() for v in row)
    secret = key.split("_", 1)[1]
    assert secret not in stored and key not in stored and secret[-4:] in stored
    assert store.verify(key).user == "ana"
    assert info.shown == f"{PREFIX}…{secret[-4:]}" and secret[:-4] not in info.shown


def test_the_key_format_is_one_the_log_scrubbing_masks(store):
    _, key = store.create("ana")
    assert key not in redact(f"the key is {key} ok") and "[key]" in redact(f"the key is {key} ok")


@pytest.mark.parametrize("bad", ["", "sk-ant-api03-fake", PREFIX + "zz", PREFIX + "0123456789ab_short"])
def test_malformed_keys_are_refused(store, bad):
    with pytest.raises(InvalidApiKey):
        store.verify(bad)


def test_a_wrong_secret_for_a_real_id_is_refused(store):
    info, key = store.create("ana")
    wrong = key[:-1] + ("A" if key[-1] != "A" else "B")
    with pytest.raises(InvalidApiKey, match="not known"):
        store.verify(wrong)


def test_revoked_keys_stop_at_once_even_with_a_cache(store):
    cached = KeyStore(store.engine, clock=store.clock, cache_s=3600)
    info, key = cached.create("ana")
    assert cached.verify(key).id == info.id
    assert cached.revoke(info.id) and not cached.revoke(info.id)
    with pytest.raises(InvalidApiKey, match="revoked"):
        cached.verify(key)


def test_a_key_revoked_by_another_process_stops_within_the_cache_time(store):
    here = KeyStore(store.engine, clock=store.clock, cache_s=5.0)
    info, key = here.create("ana")
    here.verify(key)
    KeyStore(store.engine, clock=store.clock).revoke(info.id)  # e.g. `python -m core key revoke`
    here.verify(key)  # still trusted from the cache
    store.clock.advance(5.1)
    with pytest.raises(InvalidApiKey, match="revoked"):
        here.verify(key)


def test_keys_expire(store):
    _, key = store.create("ana", expires_days=1)
    store.verify(key)
    store.clock.advance(timedelta(days=1, seconds=1).total_seconds())
    with pytest.raises(InvalidApiKey, match="expired"):
        store.verify(key)
    assert store.list()[0]["status"] == "expired"


def test_the_list_shows_last_use_and_spend_from_the_ledger(store):
    info, key = store.create("ana", models=("claude-haiku-5-5",))
    store.verify(key)
    with store.engine.begin() as conn:
        for cost in ("0.0125", "0.0075"):
            conn.execute(calls.insert().values(id=os.urandom(8).hex(), ts=store.clock.now().replace(tzinfo=None),
                                               user_id="ana", model="claude-haiku-5-5", status="ok",
                                               cost_usd=cost, source="gateway", api_key_id=info.id))
    (row,) = store.list()
    assert row["calls"] == 2 and Decimal(row["spent_usd"]) == Decimal("0.02")
    assert row["last_used"] is not None and row["models"] == "claude-haiku-5-5" and row["key"] == info.shown
    assert key.split("_", 1)[1] not in json.dumps(row, default=str)


def test_only_admins_manage_keys(store):
    analyst = Principal("bo", "Bo", "analyst")
    for action in (lambda: admin.create_key(store, analyst, "bo"), lambda: admin.list_keys(store, analyst),
                   lambda: admin.revoke_key(store, analyst, "x")):
        with pytest.raises(NotAuthorised):
            action()


@pytest.mark.parametrize("kw", [{"expires_days": 0}, {"name": "a\nb"}])
def test_bad_key_requests_are_refused(store, kw):
    with pytest.raises(ValidationError):
        store.create("ana", **kw)
    with pytest.raises(ValidationError):
        store.create("*")


def test_the_key_commands(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "TOLLGATE_"))}
    env.update(TOLLGATE_LEDGER_URL=f"duckdb:///{tmp_path / 'l.duckdb'}", TOLLGATE_SPOOL_PATH=str(tmp_path / "s"))

    def cli(*args, rc=0):
        p = subprocess.run([sys.executable, "-m", "core", "key", *args], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=60)
        assert p.returncode == rc, p.stdout + p.stderr
        return p

    made = json.loads(cli("create", "--user", "ana", "--name", "ci", "--expires-days", "7", "--models",
                          "simple", "--json").stdout)
    assert set(made) == {"id", "key", "user", "expires"} and made["user"] == "ana" and made["expires"]
    listed = json.loads(cli("list", "--json").stdout)
    assert [r["id"] for r in listed] == [made["id"]] and listed[0]["models"] == "claude-haiku-5-5"
    assert made["key"] not in cli("list").stdout and made["key"][-4:] in cli("list").stdout
    assert "revoked" in cli("revoke", made["id"]).stdout
    assert json.loads(cli("list", "--json").stdout)[0]["status"] == "revoked"
    assert "no active key" in cli("revoke", made["id"], rc=2).stderr
    assert "unknown model" in cli("create", "--user", "ana", "--models", "claude-nope", rc=2).stderr


def test_fresh_says_when_a_check_needs_no_database_read(store):
    here = KeyStore(store.engine, clock=store.clock, cache_s=5.0)
    info, key = here.create("ana")
    assert not here.fresh(key)  # never read
    here.verify(key)
    assert here.fresh(key) and here.fresh("garbage")
    store.clock.advance(5.1)
    assert not here.fresh(key)
    here.verify(key)
    here.revoke(info.id)
    assert not here.fresh(key)
