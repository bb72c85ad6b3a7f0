"""Idempotent single calls through the real SDK: a key already answered is replayed, sent and billed once."""

from __future__ import annotations

import threading
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core import errors
from core.ledger.schema import calls
from tests.integration.conftest import LEDGER_BACKENDS, messages_seen


@pytest.fixture(params=LEDGER_BACKENDS)
def ledger_url(request, tmp_path):
    return f"duckdb:///{tmp_path / 'ledger.duckdb'}" if request.param == "duckdb-file" \
        else request.getfixturevalue("pg_url")


@pytest.fixture
def client(make_client, ledger_url, tmp_path):
    c = make_client(real_time=True, ledger_url=ledger_url, spool_path=str(tmp_path / "spool"), cache="off",
                    max_attempts=1)
    c.ledger.open()
    c.budgets.set_budget("ana", Decimal("5"))
    return c


def _rows(client, key: str) -> list:
    client.recorder.flush()
    with client.ledger.engine.connect() as conn:
        return conn.execute(sa.select(calls).where(calls.c.idempotency_key == key)).mappings().all()


def test_a_key_already_answered_is_replayed_without_a_call_or_a_second_bill(client, fresh_sim):
    first = client.create("Hello there", user="ana", model="claude-haiku-5-5", max_tokens=40,
                          idempotency_key="run:r1:0", run_id="r1", row_index=0)
    spent = client.budgets.spent("ana")
    again = client.create("Hello there", user="ana", model="claude-haiku-5-5", max_tokens=40,
                          idempotency_key="run:r1:0", run_id="r1", row_index=0)
    assert messages_seen(fresh_sim) == 1
    assert again.replayed and not first.replayed
    assert (again.text, again.cost_usd, again.ledger_id, again.usage) == (
        first.text, first.cost_usd, first.ledger_id, first.usage)
    assert again.content == first.content and again.message.id == first.message.id
    assert client.budgets.spent("ana") == spent == first.cost_usd > 0
    (row,) = _rows(client, "run:r1:0")
    assert (row["id"], row["status"], row["run_id"], row["row_index"], row["batch"]) == (
        first.ledger_id, "ok", "r1", 0, False)


def test_a_replayed_stream_gives_the_recorded_message_again(client, fresh_sim):
    s = client.stream("Tell me a story", user="ana", model="claude-haiku-5-5", max_tokens=60,
                      idempotency_key="k-stream")
    text = "".join(s)
    again = client.stream("Tell me a story", user="ana", model="claude-haiku-5-5", max_tokens=60,
                          idempotency_key="k-stream")
    assert "".join(again) == text == again.result.text and again.result.replayed
    assert messages_seen(fresh_sim) == 1 and len(_rows(client, "k-stream")) == 1


def test_a_failed_call_frees_its_key_so_a_retry_sends(client, fresh_sim):
    fresh_sim.script_faults([{"fault": "500"}])
    with pytest.raises(errors.UpstreamServerError):
        client.create("Hi", user="ana", model="claude-haiku-5-5", max_tokens=20, idempotency_key="k-retry")
    ok = client.create("Hi", user="ana", model="claude-haiku-5-5", max_tokens=20, idempotency_key="k-retry")
    assert not ok.replayed and messages_seen(fresh_sim) == 2
    assert [r["status"] for r in _rows(client, "k-retry")] == ["ok"]  # the failure's row holds no key


def test_two_concurrent_calls_with_one_key_send_and_bill_once(client, fresh_sim):
    fresh_sim.configure(ttft_s=0.3)  # the first is still in flight when the second arrives
    results, failures = [], []

    def call():
        try:
            results.append(client.create("Same row", user="ana", model="claude-haiku-5-5", max_tokens=30,
                                         idempotency_key="k-race"))
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not failures and len(results) == 4
    assert messages_seen(fresh_sim) == 1
    assert sorted(r.replayed for r in results) == [False, True, True, True]
    assert len({r.ledger_id for r in results}) == 1
    assert len(_rows(client, "k-race")) == 1
    assert client.budgets.spent("ana") == results[0].cost_usd


def test_a_key_belongs_to_its_user_and_a_bad_key_is_refused(client, fresh_sim):
    client.create("Mine", user="ana", model="claude-haiku-5-5", max_tokens=20, idempotency_key="k-own")
    with pytest.raises(errors.ValidationError, match="another user"):
        client.create("Mine", user="bo", model="claude-haiku-5-5", max_tokens=20, idempotency_key="k-own")
    for bad in ("", "x" * 129, 42):
        with pytest.raises(errors.ValidationError) as info:
            client.create("Hi", user="ana", model="claude-haiku-5-5", idempotency_key=bad)
        assert info.value.field == "idempotency_key"
    assert messages_seen(fresh_sim) == 1


def test_without_a_ledger_a_key_is_refused_in_one_clear_line(make_client, fresh_sim):
    c = make_client()
    with pytest.raises(errors.NotConfigured, match="ledger"):
        c.create("Hi", user="ana", model="claude-haiku-5-5", idempotency_key="k")
    assert messages_seen(fresh_sim) == 0


def test_two_clients_on_one_ledger_as_two_processes_send_a_key_once(client, make_client, ledger_url, tmp_path,
                                                                   fresh_sim):
    other = make_client(real_time=True, ledger_url=ledger_url, spool_path=str(tmp_path / "spool2"), cache="off")
    fresh_sim.configure(ttft_s=0.3)
    out = []
    threads = [threading.Thread(target=lambda c=c: out.append(c.create(
        "One row", user="ana", model="claude-haiku-5-5", max_tokens=20, idempotency_key="k-two")))
        for c in (client, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(out) == 2 and messages_seen(fresh_sim) == 1 and sorted(r.replayed for r in out) == [False, True]
    other.recorder.flush()
    assert len(_rows(client, "k-two")) == 1


def test_a_claim_left_by_a_dead_process_is_taken_over_once_stale(client, fresh_sim):
    from datetime import timedelta

    from core.clock import naive_utc
    from core.ledger.schema import idempotency_keys

    with client.ledger.engine.begin() as conn:  # a process died mid-call holding the key
        conn.execute(idempotency_keys.insert().values(
            key="k-dead", user_id="ana", call_id="dead-call", state="pending",
            claimed_at=naive_utc(client.clock.now()) - timedelta(hours=1)))
    r = client.create("Hi", user="ana", model="claude-haiku-5-5", max_tokens=20, idempotency_key="k-dead")
    assert not r.replayed and messages_seen(fresh_sim) == 1
    again = client.create("Hi", user="ana", model="claude-haiku-5-5", max_tokens=20, idempotency_key="k-dead")
    assert again.replayed and again.ledger_id == r.ledger_id
    # The dead process's attempt may have been answered and billed upstream: the ledger says so, on its own row.
    client.recorder.flush()
    with client.ledger.engine.connect() as conn:
        lost = conn.execute(sa.select(calls).where(calls.c.id == "dead-call")).mappings().one()
    assert lost["status"] == "error" and lost["error_code"] == "outcome_unknown" and lost["user_id"] == "ana"
    assert lost["cost_usd"] == 0 and r.ledger_id in lost["detail"] and lost["idempotency_key"] is None
