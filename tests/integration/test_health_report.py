"""The health report through the real SDK against the simulator, with a real ledger (DuckDB and PostgreSQL)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from core import errors
from core.health.report import ORDER, READY, check, ready
from core.ledger.recent import recent_errors
from core.upstream.keys import ApiKey
from tests.integration.conftest import open_circuit

PROMPT = "Is everything all right?"


@pytest.fixture(params=["duckdb-file", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request, tmp_path):
    if request.param == "postgres":
        return request.getfixturevalue("pg_url")
    return f"duckdb:///{tmp_path / 'ledger.duckdb'}"


def statuses(report) -> dict[str, str]:
    return {name: p["status"] for name, p in report["parts"].items()}


def test_a_healthy_client_is_ok_everywhere_and_the_probe_never_touches_calls(make_client, ledger_url, tmp_path):
    client = make_client(ledger_url=ledger_url, spool_path=str(tmp_path / "spool"))
    client.create(PROMPT, user="ana", model="claude-haiku-5-5", temperature=0)
    assert client.create(PROMPT, user="ana", model="claude-haiku-5-5", temperature=0).cached
    report = check(client)
    assert report["status"] == "ok" and report["ok"] and set(statuses(report).values()) == {"ok"}
    led = report["parts"]["ledger"]
    assert led["write_ms"] > 0 and led["read_ms"] > 0 and led["spool_pending"] == 0
    assert report["parts"]["cache"]["hit_rate"] == 0.5
    assert report["parts"]["limiter"]["server"]  # the simulator's rate-limit headers were seen
    client.recorder.flush()  # the cache hit's row is journaled at once, stored in the database in the background
    with client.ledger.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM calls")).scalar() == 2


def test_a_spool_backlog_is_a_warning(make_client, tmp_path):
    client = make_client(ledger_url=f"duckdb:///{tmp_path / 'l.duckdb'}", spool_path=str(tmp_path / "spool"))
    client.ledger.spool.append('{"waiting": true}')
    report = check(client)
    assert report["status"] == "warn" and report["parts"]["ledger"]["status"] == "warn"
    assert "1 record(s) wait" in report["reason"]


def test_an_open_circuit_fails_the_report(make_client, fresh_sim):
    client = make_client(max_attempts=1, breaker_failures=2, breaker_recovery_s=30)
    open_circuit(client, fresh_sim)
    report = check(client)
    assert report["status"] == "fail" and not report["ok"]
    assert report["parts"]["breaker"]["status"] == "fail"
    assert report["parts"]["upstream"]["status"] == "ok"  # the API answers: only the breaker is open


def test_a_rejected_key_fails_upstream_and_keys(make_client, fresh_sim):
    key = ApiKey("primary", "sk-ant-test-fake-0bad")
    fresh_sim.configure(reject_keys=[key.secret])
    client = make_client(keys=(key,))
    with pytest.raises(errors.AuthenticationFailed):
        client.create(PROMPT, user="ana", model="claude-haiku-5-5")
    report = check(client)
    assert statuses(report)["upstream"] == "fail" and statuses(report)["keys"] == "fail"
    assert key.secret not in str(report)


def test_recent_errors_are_the_viewers_own_unless_admin(make_client, fresh_sim, ledger_url, tmp_path):
    client = make_client(max_attempts=1, ledger_url=ledger_url, spool_path=str(tmp_path / "spool"))
    fresh_sim.script_faults([{"fault": "400"}, {"fault": "400"}, {"fault": "400"}])
    for user in ("ana", "bo", "ana"):
        with pytest.raises(errors.InvalidRequest):
            client.create(PROMPT, user=user, model="claude-haiku-5-5")
    client.create(PROMPT, user="bo", model="claude-haiku-5-5")  # a success is not an error
    mine = check(client, user="ana")["parts"]["errors"]
    assert mine["status"] == "warn" and [r["user_id"] for r in mine["rows"]] == ["ana", "ana"]
    everyone = check(client)["parts"]["errors"]
    assert sorted(r["user_id"] for r in everyone["rows"]) == ["ana", "ana", "bo"]
    assert [r["user_id"] for r in recent_errors(client.ledger.engine, n=1, user="bo")] == ["bo"]
    client.fake_clock.advance(2 * 3600)
    assert check(client, user="ana")["parts"]["errors"]["status"] == "ok"  # old errors are history


def test_readiness_is_the_ledger_and_breaker_probes_of_the_same_report(make_client, fresh_sim, tmp_path):
    client = make_client(max_attempts=1, breaker_failures=2, breaker_recovery_s=30,
                         ledger_url=f"duckdb:///{tmp_path / 'db' / 'ledger.duckdb'}",
                         spool_path=str(tmp_path / "spool" / "ledger.spool"))
    assert set(READY) <= set(ORDER)

    def failing() -> set[str]:
        return {name for name in READY if check(client)["parts"][name]["status"] == "fail"}

    assert ready([client]) == [] and failing() == set()
    open_circuit(client, fresh_sim)
    reasons = ready([client])
    assert failing() == {"breaker"} and len(reasons) == 1 and reasons[0].startswith("circuit open: ")
    client.fake_clock.advance(31)
    client.create(PROMPT, user="ana", model="claude-haiku-5-5")  # the probe call closes the circuit
    assert ready([client]) == [] and failing() == set()
    db, away = tmp_path / "db", tmp_path / "db-away"
    client.ledger.engine.dispose()  # pooled connections would hide the loss until they are reopened
    db.rename(away)
    try:
        reasons = ready([client])
        assert failing() == {"ledger"} and len(reasons) == 1 and reasons[0].startswith("ledger ")
    finally:
        client.ledger.engine.dispose()
        away.rename(db)
    assert ready([client]) == [] and failing() == set()
