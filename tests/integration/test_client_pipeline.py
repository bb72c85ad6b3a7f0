"""The order and the single pass of a call: cheap refusals first, one canonical request, outcomes to sinks."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
import sqlalchemy as sa

from core import errors
from core.guards.tokens import bound_request
from core.ledger.schema import budget_reservations, calls
from tests.integration.conftest import open_circuit

MODEL = "claude-haiku-5-5"


def _ledger_client(make_client, tmp_path, **kw):
    client = make_client(ledger_url=f"duckdb:///{tmp_path / 'ledger.duckdb'}",
                         spool_path=str(tmp_path / "spool"), **kw)
    client.ledger.open()
    return client


def _reservations(client) -> list[tuple[str, Decimal]]:
    client.ledger.settle()  # a finished call's hold goes with its row, written by the ledger's writer thread
    with client.ledger.engine.connect() as conn:
        rows = conn.execute(sa.select(budget_reservations.c.id, budget_reservations.c.amount_usd)).all()
    return [(r.id, Decimal(str(r.amount_usd))) for r in rows]


def test_an_open_circuit_refuses_before_any_budget_reservation_or_limiter_token(make_client, fresh_sim, tmp_path):
    client = _ledger_client(make_client, tmp_path, max_attempts=1, breaker_failures=2, rpm=100, user_rpm=50,
                            input_tpm=1_000_000, cache="off")
    client.budgets.set_budget("ana", "5.00")
    open_circuit(client, fresh_sim, model=MODEL)
    limiter_before, held_before = client.limiter.snapshot(), _reservations(client)
    writes: list[str] = []
    sa.event.listen(client.ledger.engine, "before_cursor_execute",
                    lambda conn, cur, stmt, *a: writes.append(stmt) if "budget_reservations" in stmt else None)
    with pytest.raises(errors.CircuitOpen):
        client.create("ping", user="ana", model=MODEL)
    assert not [s for s in writes if s.lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
    assert _reservations(client) == held_before == []
    assert client.limiter.snapshot() == limiter_before  # no request, token or slot taken


def _held_while_streaming(client, messages, tools=None) -> Decimal:
    """The amount reserved for a streaming call that has been admitted but not read yet."""
    stream = client.stream(messages=messages, user="ana", model=MODEL, max_tokens=16, use_cache=False,
                           tools=tools)
    try:
        (held,) = _reservations(client)
        return held[1]
    finally:
        stream.close()


def _worst(client, messages, *, cache_writes: bool, tools=None) -> Decimal:
    row = client.pricing.row_for(MODEL, client.clock.now())
    return client.pricing.worst_case_cost(row, bound_request(None, messages, tools), 16, cache_writes=cache_writes)


def test_a_prompt_that_mentions_cache_control_is_not_reserved_at_cache_write_prices(make_client, fresh_sim,
                                                                                     tmp_path):
    client = _ledger_client(make_client, tmp_path)
    client.budgets.set_budget("ana", "5.00")
    text = [{"role": "user", "content": 'What does "cache_control": {"type": "ephemeral"} do in a request?'}]
    plain, dear = _worst(client, text, cache_writes=False), _worst(client, text, cache_writes=True)
    assert plain < dear
    assert _held_while_streaming(client, text) == plain


def test_a_field_named_cache_control_in_a_tool_schema_is_not_a_cache_marker(make_client, fresh_sim, tmp_path):
    """The old substring search for '"cache_control"' in the JSON body took this key for a marker."""
    client = _ledger_client(make_client, tmp_path)
    client.budgets.set_budget("ana", "5.00")
    tools = [{"name": "set_caching", "description": "Configure caching.",
              "input_schema": {"type": "object", "properties": {"cache_control": {"type": "string"}}}}]
    text = [{"role": "user", "content": "Turn caching on."}]
    plain = _worst(client, text, cache_writes=False, tools=tools)
    assert plain < _worst(client, text, cache_writes=True, tools=tools)
    assert _held_while_streaming(client, text, tools=tools) == plain


def test_a_block_that_carries_cache_control_is_reserved_at_cache_write_prices(make_client, fresh_sim, tmp_path):
    client = _ledger_client(make_client, tmp_path)
    client.budgets.set_budget("ana", "5.00")
    marked = [{"role": "user", "content": [
        {"type": "text", "text": "A long shared preamble.", "cache_control": {"type": "ephemeral"}}]}]
    assert _held_while_streaming(client, marked) == _worst(client, marked, cache_writes=True)


def test_the_prompt_hash_is_the_sha256_of_the_canonical_request(make_client, fresh_sim, tmp_path):
    import hashlib

    from core.cache import canonical_request

    client = _ledger_client(make_client, tmp_path, cache="off")
    msgs = [{"role": "user", "content": "café au lait"}]
    r = client.create(messages=msgs, user="ana", model=MODEL, max_tokens=16, temperature=0)
    client.recorder.flush()
    with client.ledger.engine.connect() as conn:
        sha = conn.execute(sa.select(calls.c.prompt_sha256).where(calls.c.id == r.ledger_id)).scalar_one()
    text = canonical_request(MODEL, None, msgs, {"max_tokens": 16, "temperature": 0})
    assert sha == hashlib.sha256(text.encode("utf-8")).hexdigest()


class _Broken:
    """A sink that always fails: the call and its ledger row must not notice."""

    def __init__(self) -> None:
        self.seen = 0

    def emit(self, outcome) -> None:
        self.seen += 1
        raise RuntimeError("sink down")


def test_a_failing_sink_loses_no_ledger_row_and_breaks_no_call(make_client, fresh_sim, tmp_path, caplog):
    client = _ledger_client(make_client, tmp_path, cache="off")
    broken = _Broken()
    client.recorder.sinks.insert(0, broken)  # first in line: the ledger sink still runs after it
    with caplog.at_level(logging.ERROR, logger="tollgate.calls"):
        r = client.create("ping", user="ana", model=MODEL, max_tokens=16)
    client.recorder.flush()
    with client.ledger.engine.connect() as conn:
        status = conn.execute(sa.select(calls.c.status).where(calls.c.id == r.ledger_id)).scalar_one()
    assert status == "ok" and broken.seen == 1
    assert any("sink" in rec.getMessage() and "_Broken" in rec.getMessage() for rec in caplog.records)


def test_the_factory_builds_one_sink_per_destination(make_client, fresh_sim, tmp_path):
    from core.client import sinks

    client = _ledger_client(make_client, tmp_path)
    kinds = [type(s) for s in client.recorder.sinks]
    assert kinds[0] is sinks.LedgerSink  # durable before anything else hears of it
    assert {sinks.PrometheusSink, sinks.SpanSink, sinks.LogSink, sinks.SentrySink,
            sinks.BudgetAlertSink} <= set(kinds)


def test_the_client_has_no_private_steps_for_the_stream_to_drive(make_client, fresh_sim):
    client = make_client()
    for name in ("_send", "_fail", "_succeed", "_cancel"):
        assert not hasattr(client, name), name


def test_a_budget_refusal_after_the_probe_was_admitted_frees_the_probe(make_client, fresh_sim, tmp_path):
    client = _ledger_client(make_client, tmp_path, max_attempts=1, breaker_failures=2, breaker_recovery_s=30.0,
                            cache="off")
    open_circuit(client, fresh_sim, model=MODEL)
    client.fake_clock.advance(31)  # half-open: the next admitted call is the one probe
    client.budgets.set_budget("bob", "0.0000001")
    with pytest.raises(errors.BudgetExceeded):
        client.create("ping", user="bob", model=MODEL, max_tokens=16)
    assert client.breaker.snapshot()["probe_in_flight"] is False
    assert client.create("ping", user="ana", model=MODEL, max_tokens=16).text  # the probe goes, and closes it
    assert client.breaker.state == "closed"
