"""Notable events, raised where they happen: one JSON log line each, and their Prometheus counter."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from core import errors
from core.budgets import alerts as budget_alerts
from core.ledger.engine import make_engine
from core.ledger.schema import metadata
from core.ledger.spool import Spool
from core.ledger.store import Ledger
from core.types import CallRecord
from core.upstream.keys import ApiKey

MODEL = "claude-haiku-5-5"
OLD = ApiKey("old", "sk-ant-test-fake-OLDKEY-5e6f7a8b9c")
NEW = ApiKey("new", "sk-ant-test-fake-NEWKEY-1a2b3c4d5e")


def value(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_limiter_waits_and_refusals(make_client, fresh_sim, json_logs):
    waits, refusals = value("tollgate_limiter_waits_total", limit="requests per minute"), \
        value("tollgate_limiter_rejections_total", limit="requests per minute")
    client = make_client(user_rpm=1, limit_max_wait_s=120, cache="off")
    client.create("one", user="ana", model=MODEL, max_tokens=16)
    client.create("two", user="ana", model=MODEL, max_tokens=16)  # waits for the bucket to refill
    strict = make_client(user_rpm=1, limit_max_wait_s=1, cache="off")
    strict.create("one", user="ana", model=MODEL, max_tokens=16)
    with pytest.raises(errors.RateLimited):
        strict.create("two", user="ana", model=MODEL, max_tokens=16)
    assert value("tollgate_limiter_waits_total", limit="requests per minute") - waits == 1
    assert value("tollgate_limiter_rejections_total", limit="requests per minute") - refusals == 1
    (waited,) = json_logs("limiter_waited")
    assert waited["user"] == "ana" and waited["waited_s"] == pytest.approx(60, abs=0.5)
    (refused,) = json_logs("limiter_rejected")
    assert refused["level"] == "WARNING" and refused["retry_after_s"] > 1


def test_breaker_transitions(make_client, fresh_sim, json_logs):
    opened = value("tollgate_breaker_transitions_total", to="open")
    client = make_client(breaker_failures=1, breaker_recovery_s=30, max_attempts=1, cache="off")
    fresh_sim.script_faults([{"fault": "529"}])
    with pytest.raises(errors.Overloaded):
        client.create("overloaded", user="ana", model=MODEL, max_tokens=16)
    client.fake_clock.advance(31)
    client.create("probe", user="ana", model=MODEL, max_tokens=16)
    assert value("tollgate_breaker_transitions_total", to="open") - opened == 1
    names = [e["event"] for e in json_logs() if e["event"].startswith("breaker_")]
    assert names == ["breaker_opened", "breaker_half_open", "breaker_closed"]


def test_key_marked_failing(make_client, fresh_sim, json_logs):
    before = value("tollgate_key_failures_total", key="old")
    fresh_sim.configure(reject_keys=[OLD.secret])
    client = make_client(keys=(OLD, NEW), cache="off")
    assert client.create("rotate", user="ana", model=MODEL, max_tokens=16).text
    assert value("tollgate_key_failures_total", key="old") - before == 1
    (ev,) = json_logs("key_marked_failing")
    assert ev["key_label"] == "old" and ev["healthy_keys"] == 1 and ev["keys"] == 2
    assert OLD.secret not in json_logs.text() and NEW.secret not in json_logs.text()


def test_spool_used_and_replayed(tmp_path, json_logs):
    before = value("tollgate_ledger_spooled_records_total")
    spool = Spool(tmp_path / "spool" / "ledger.spool")
    dead = Ledger(make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none"), spool)
    rec = CallRecord(id="00000000-0000-4000-8000-000000000001", ts=datetime.now(UTC), user="ana", model=MODEL,
                     status="ok", cost_usd=Decimal("0.01"))
    dead.record(rec)
    assert value("tollgate_ledger_spooled_records_total") - before == 1
    (used,) = json_logs("spool_used")
    assert used["level"] == "WARNING" and used["spool"].endswith("ledger.spool")
    live = Ledger(make_engine(f"duckdb:///{tmp_path / 'ledger.duckdb'}"), spool)
    assert live.open()  # replays the spool
    (replayed,) = json_logs("spool_replayed")
    assert replayed["records"] == 1


def test_budget_alert(tmp_path, json_logs):
    before = value("tollgate_budget_alerts_total", threshold_pct="80")
    engine = sa.create_engine(f"duckdb:///{tmp_path / 'alerts.duckdb'}")
    metadata.create_all(engine)

    def tx(fn):
        with engine.begin() as conn:
            return fn(conn)
    fired = budget_alerts.fire(tx, user="ana", month="2026-11", spent=Decimal("8.5"), budget=Decimal("10"),
                               thresholds=(50, 80, 100), now=datetime(2026, 11, 22), webhook_url=None,
                               post=lambda url, body: 200)
    engine.dispose()
    assert [a.threshold_pct for a in fired] == [50, 80]
    assert value("tollgate_budget_alerts_total", threshold_pct="80") - before == 1
    assert [(e["threshold_pct"], e["spent_usd"], e["budget_usd"]) for e in json_logs("budget_alert")] == [
        (50, "8.5", "10"), (80, "8.5", "10")]
