"""Edges of the pipeline: dropped streams, odd user ids, budget files, cut-off and slow streams."""

from __future__ import annotations

import gc
from decimal import Decimal

import pytest

from core import errors
from core.guards.tokens import estimate_text
from core.types import Usage

PROMPT = "List the open risks."


def test_a_dropped_stream_gives_back_its_slot_and_probe(make_client, fresh_sim):
    client = make_client(concurrency=1, limit_max_wait_s=0, max_attempts=1, breaker_failures=1)
    s = client.stream(PROMPT, user="ana", model="claude-haiku-5-5")  # never read, never closed
    del s
    gc.collect()
    assert client.limiter.snapshot()["global"]["concurrency"]["in_use"] == 0
    # The same for the breaker's one half-open probe.
    fresh_sim.script_faults([{"fault": "503"}])
    with pytest.raises(errors.UpstreamServerError):
        client.create(PROMPT, user="ana", model="claude-haiku-5-5")
    client.fake_clock.advance(60)
    probe = client.stream(PROMPT, user="ana", model="claude-haiku-5-5")
    del probe
    gc.collect()
    assert client.create(PROMPT, user="ana", model="claude-haiku-5-5").text
    assert client.breaker.state == "closed"


@pytest.mark.parametrize("user", ["*", "x" * 201, "tab\there"])
def test_user_ids_budgets_cannot_hold_are_refused(make_client, fresh_sim, user):
    with pytest.raises(errors.ValidationError) as info:
        make_client().create(PROMPT, user=user, model="claude-haiku-5-5")
    assert info.value.field == "user" and fresh_sim.stats()["messages_requests"] == 0


def test_budget_file_applies_to_a_fresh_ledger(make_client, fresh_sim, tmp_path):
    budget_file = tmp_path / "budgets.toml"
    budget_file.write_text('[budgets]\nana = "0.000001"\n')
    client = make_client(ledger_url=f"duckdb:///{tmp_path / 'l.duckdb'}", spool_path=str(tmp_path / "s"),
                         budget_file=str(budget_file))
    with pytest.raises(errors.BudgetExceeded):
        client.create(PROMPT, user="ana", model="claude-haiku-5-5")
    assert client.budgets.get_budget("ana") == Decimal("0.000001")
    assert fresh_sim.stats()["messages_requests"] == 0


def test_a_cut_off_stream_bills_at_least_what_arrived(make_client, fresh_sim, tmp_path):
    client = make_client(ledger_url=f"duckdb:///{tmp_path / 'l.duckdb'}", spool_path=str(tmp_path / "s"))
    fresh_sim.script_faults([{"fault": "stream-error"}])
    s = client.stream(PROMPT, user="ana", model="claude-opus-5-5", max_tokens=200)
    with pytest.raises(errors.StreamInterrupted) as info:
        for _ in s:
            pass
    client.recorder.flush()
    from core.reports.queries import most_expensive_calls
    today = client.fake_clock.now().date()
    row = most_expensive_calls(client.ledger.engine, today, today, n=1).iloc[0]
    assert row["status"] == "error" and row["output_tokens"] >= estimate_text(info.value.partial_text, "v2") > 1
    assert row["cost_usd"] > 0


def test_a_stream_slower_than_the_timeout_is_a_retried_timeout(make_client, fresh_sim):
    fresh_sim.configure(ttft_s=1.0)
    client = make_client(timeout_s=0.3, max_attempts=2, breaker_failures=5)
    with pytest.raises(errors.Timeout) as info:
        "".join(client.stream(PROMPT, user="ana", model="claude-haiku-5-5"))
    assert info.value.retries == 1 and client.breaker.snapshot()["failures_in_window"] == 1


def test_a_failed_stream_closed_afterwards_is_recorded_once(make_client, fresh_sim, tmp_path):
    client = make_client(ledger_url=f"duckdb:///{tmp_path / 'l.duckdb'}", spool_path=str(tmp_path / "s"),
                         max_attempts=1)
    fresh_sim.script_faults([{"fault": "400"}])
    with pytest.raises(errors.InvalidRequest), client.stream(PROMPT, user="ana", model="claude-haiku-5-5") as s:
        for _ in s:
            pass
    client.recorder.flush()
    from core.reports.queries import totals
    today = client.fake_clock.now().date()
    assert totals(client.ledger.engine, today, today).iloc[0]["calls"] == 1


def test_cache_hits_add_no_tokens_to_usage(make_client, fresh_sim, tmp_path):
    client = make_client(ledger_url=f"duckdb:///{tmp_path / 'l.duckdb'}", spool_path=str(tmp_path / "s"))
    first = client.create(PROMPT, user="ana", model="claude-haiku-5-5", temperature=0)
    hit = client.create(PROMPT, user="ana", model="claude-haiku-5-5", temperature=0)
    client.recorder.flush()
    assert client.ledger.get(hit.ledger_id).usage == Usage()
    from core.reports.queries import totals
    today = client.fake_clock.now().date()
    row = totals(client.ledger.engine, today, today).iloc[0]
    assert row["output_tokens"] == first.usage.output_tokens and row["tokens_saved"] == first.usage.total_tokens


@pytest.mark.parametrize("how", ["closed", "dropped"])
def test_a_stream_opened_at_its_head_and_never_read_is_settled_as_closed(make_client, fresh_sim, tmp_path, how):
    client = make_client(concurrency=1, limit_max_wait_s=0, ledger_url=f"duckdb:///{tmp_path / 'l.duckdb'}",
                         spool_path=str(tmp_path / "s"))
    s = client.stream(PROMPT, user="ana", model="claude-haiku-5-5").open(first_content=False)
    assert s.opened is not None and s.opened.request_id and fresh_sim.stats()["messages_requests"] == 1
    if how == "closed":
        s.close()
    else:
        del s
        gc.collect()
    assert client.limiter.snapshot()["global"]["concurrency"]["in_use"] == 0
    client.recorder.flush()
    import sqlalchemy as sa

    from core.ledger.schema import calls
    with client.ledger.engine.connect() as c:
        (row,) = c.execute(sa.select(calls)).mappings()
    assert row["status"] == "error" and row["streamed"] and "closed by the caller" in (row["detail"] or "").lower()


def test_a_stream_opened_at_its_head_reads_on_with_its_time_to_first_token(make_client, fresh_sim):
    client = make_client()
    fresh_sim.configure(ttft_s=0.2)
    skipped: list[bytes] = []
    s = client.stream(PROMPT, user="ana", model="claude-haiku-5-5").open(first_content=False,
                                                                         on_skipped=skipped.append)
    events = list(s.events())
    assert events[0].type == "message_start" and events[-1].type == "message_stop"
    assert [b.split(b"\n")[0] for b in skipped] == [b"event: ping"]  # handed on when read, not in a `before`
    assert all(not e.before for e in events)
    assert s.result.text and s.result.ttft_ms is not None  # set when the first content came (a fake clock here)
