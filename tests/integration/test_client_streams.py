"""Broken 200 streams through the real SDK: cut short, an error event, a malformed event.

A stream is a success only when it reaches ``message_stop``. Anything else is StreamInterrupted
(with the text that arrived) once text has arrived, billed for that text, never cached, and a
failure for the circuit breaker; before the first text it is the typed error, retried per its type.
"""

from __future__ import annotations

import asyncio

import pytest

from core import errors
from core.client.aio import AsyncGuardedClient
from core.guards.tokens import estimate_text
from tests.integration.conftest import messages_seen

PROMPT = "Summarise the vendor review in three lines."
MODEL = "claude-opus-5-5"  # the v2 tokenizer


def ledger_client(make_client, tmp_path, **kw):
    return make_client(ledger_url=f"duckdb:///{tmp_path / 'l.duckdb'}", spool_path=str(tmp_path / "s"), **kw)


def read(stream) -> tuple[list[str], BaseException | None]:
    got: list[str] = []
    try:
        for delta in stream:
            got.append(delta)
    except errors.TollgateError as err:
        return got, err
    return got, None


def ledger_rows(client) -> list:
    client.recorder.flush()
    import sqlalchemy as sa

    from core.ledger.schema import calls
    with client.ledger.engine.connect() as c:
        return list(c.execute(sa.select(calls)).mappings())


@pytest.mark.parametrize("fault,cause", [("truncate", None), ("error-event", "Overloaded"),
                                         ("malformed-event", "MalformedResponse")])
def test_a_broken_stream_after_text_is_interrupted_billed_and_never_cached(make_client, fresh_sim, tmp_path,
                                                                           fault, cause):
    client = ledger_client(make_client, tmp_path)
    fresh_sim.script_faults([{"fault": fault, "after": 4}])
    s = client.stream(PROMPT, user="ana", model=MODEL, max_tokens=200, temperature=0)
    got, err = read(s)
    assert isinstance(err, errors.StreamInterrupted), err
    assert len(got) == 4 and err.partial_text == "".join(got) == s.partial_text
    # The error event's (or the parse failure's) typed error is kept; a clean early end has none.
    assert (type(err.cause).__name__ if cause else err.cause) == cause
    assert messages_seen(fresh_sim) == 1  # text had arrived: never retried
    (row,) = ledger_rows(client)
    assert row["status"] == "error" and row["error_code"] == "stream_interrupted"
    assert row["output_tokens"] >= estimate_text(err.partial_text, "v2") > 0
    assert row["input_tokens"] > 0 and row["cost_usd"] > 0
    assert client.limiter.snapshot()["global"]["concurrency"]["in_use"] == 0
    # The same request again, from another user: a fresh answer from the API, not the cut-off text.
    again = client.stream(PROMPT, user="bob", model=MODEL, max_tokens=200, temperature=0)
    full = "".join(again)
    assert not again.result.cached and messages_seen(fresh_sim) == 2
    assert full.startswith(err.partial_text) and len(full) > len(err.partial_text)


@pytest.mark.parametrize("fault", ["truncate", "error-event", "malformed-event"])
def test_a_broken_stream_before_any_text_is_retried(make_client, fresh_sim, fault):
    client = make_client()
    fresh_sim.script_faults([{"fault": fault, "after": 0}])
    s = client.stream(PROMPT, user="ana", model=MODEL, max_tokens=64, temperature=0)
    got, err = read(s)
    assert err is None and s.result.retries == 1 and messages_seen(fresh_sim) == 2
    assert "".join(got) == s.result.text and s.result.usage.output_tokens > 0


def test_an_error_event_before_text_is_its_typed_error(make_client, fresh_sim):
    client = make_client(max_attempts=1)
    fresh_sim.script_faults([{"fault": "error-event", "after": 0}])
    _, err = read(client.stream(PROMPT, user="ana", model=MODEL, max_tokens=64))
    assert isinstance(err, errors.Overloaded) and err.retryable


def test_a_malformed_json_reply_is_a_typed_retried_error(make_client, fresh_sim):
    client = make_client(max_attempts=2)
    fresh_sim.script_faults([{"fault": "malformed-event"}, {"fault": "malformed-event"}])
    with pytest.raises(errors.UpstreamError) as info:
        client.create(PROMPT, user="ana", model=MODEL, max_tokens=64)
    assert info.value.code == "malformed_response" and info.value.retryable and info.value.retries == 1 and messages_seen(fresh_sim) == 2


def test_truncated_streams_open_the_circuit(make_client, fresh_sim):
    client = make_client(max_attempts=1, breaker_failures=2)
    fresh_sim.script_faults([{"fault": "truncate"}] * 2)
    for _ in range(2):
        _, err = read(client.stream(PROMPT, user="ana", model=MODEL, max_tokens=64))
        assert isinstance(err, errors.StreamInterrupted)
    assert client.breaker.state == "open"


def test_an_async_truncated_stream_is_interrupted_and_not_cached(make_client, fresh_sim):
    client = AsyncGuardedClient(make_client(real_time=True))
    fresh_sim.script_faults([{"fault": "truncate", "after": 2}])

    async def main():
        got = []
        with pytest.raises(errors.StreamInterrupted) as info:
            async for delta in client.stream(PROMPT, user="ana", model=MODEL, max_tokens=64, temperature=0):
                got.append(delta)
        again = client.stream(PROMPT, user="ana", model=MODEL, max_tokens=64, temperature=0)
        text = "".join([d async for d in again])
        return got, info.value, again.result, text

    got, err, result, text = asyncio.run(main())
    assert len(got) == 2 and err.partial_text == "".join(got)
    assert not result.cached and text.startswith(err.partial_text) and messages_seen(fresh_sim) == 2


def test_a_plain_reply_cut_mid_body_is_retried(make_client, fresh_sim):
    client = make_client()
    fresh_sim.script_faults([{"fault": "truncate"}])
    result = client.create(PROMPT, user="ana", model=MODEL, max_tokens=64, temperature=0)
    assert result.retries == 1 and messages_seen(fresh_sim) == 2 and result.text
