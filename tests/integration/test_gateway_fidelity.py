"""What the gateway passes through as the API would: the caller's anthropic-version, one model, pings."""

from __future__ import annotations

import json
import time

import anthropic
import httpx2
import pytest
import sqlalchemy as sa

from core.ledger.schema import calls
from tests.integration.conftest import PRIMARY
from tests.integration.gateway_support import gateway

ASK = dict(model="claude-haiku-5-5", max_tokens=40, messages=[{"role": "user", "content": "Name three rivers"}])


@pytest.fixture
def gw(fresh_sim, tmp_path):
    with gateway(fresh_sim, tmp_path) as g:
        yield g


def sdk(url, key, **kw):
    return anthropic.Anthropic(base_url=url, api_key=key, max_retries=0, **kw)


def _rows(gw):
    gw.client.recorder.flush()
    with gw.client.ledger.engine.connect() as conn:
        return conn.execute(sa.select(calls).order_by(calls.c.ts)).all()


# --- anthropic-version -----------------------------------------------------------------------

def test_the_callers_anthropic_version_reaches_the_upstream(gw, fresh_sim):
    direct = httpx2.post(fresh_sim.url + "/v1/messages", json=ASK, headers={
        "x-api-key": PRIMARY.secret, "anthropic-version": "2099-01-01"})
    assert direct.status_code == 400  # the simulator checks it, as the API does
    with pytest.raises(anthropic.BadRequestError) as info:
        sdk(gw.url, gw.key(), default_headers={"anthropic-version": "2099-01-01"}).messages.create(**ASK)
    assert info.value.status_code == 400 and "2099-01-01" in info.value.message
    older = sdk(gw.url, gw.key(), default_headers={"anthropic-version": "2023-01-01"}).messages.create(**ASK)
    assert older.content[0].text
    with pytest.raises(anthropic.BadRequestError, match="2099-01-01"):
        sdk(gw.url, gw.key(), default_headers={"anthropic-version": "2099-01-01"}).messages.count_tokens(
            model=ASK["model"], messages=ASK["messages"])


def test_an_anthropic_version_that_is_not_a_token_is_refused_before_the_upstream(gw, fresh_sim):
    before = fresh_sim.stats()["messages_requests"]
    r = httpx2.post(gw.url + "/v1/messages", json=ASK, headers={"x-api-key": gw.key(),
                                                                  "anthropic-version": "2023-06-01, x" * 8})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    assert "anthropic-version" in r.json()["error"]["message"]
    assert fresh_sim.stats()["messages_requests"] == before
    (row,) = _rows(gw)
    assert row.status == "blocked"


def test_without_anthropic_version_the_sdks_default_is_sent(gw):
    r = httpx2.post(gw.url + "/v1/messages", json=ASK, headers={"x-api-key": gw.key()})
    assert r.status_code == 200 and r.json()["type"] == "message"


# --- GET /v1/models/{id} -------------------------------------------------------------------

def test_one_model_is_served_as_the_upstream_describes_it(gw, fresh_sim):
    via = sdk(gw.url, gw.key()).models.retrieve("claude-haiku-5-5")
    straight = sdk(fresh_sim.url, PRIMARY.secret).models.retrieve("claude-haiku-5-5")
    assert via.model_dump() == straight.model_dump() and via.id == "claude-haiku-5-5"


def test_a_model_the_key_may_not_use_or_unknown_is_not_found(gw):
    limited = sdk(gw.url, gw.key(models=("claude-haiku-5-5",)))
    assert limited.models.retrieve("claude-haiku-5-5").id == "claude-haiku-5-5"
    for model in ("claude-opus-5-5", "claude-nothing-9"):
        with pytest.raises(anthropic.NotFoundError) as info:
            limited.models.retrieve(model)
        assert info.value.body["error"]["type"] == "not_found_error" and model in info.value.body["error"]["message"]
        assert info.value.response.headers["x-should-retry"] == "false"


# --- ping events ---------------------------------------------------------------------------

def _events(url: str, key: str) -> list[tuple[str, dict]]:
    """(event name, data) of every SSE event of one streamed ASK, as sent."""
    with httpx2.stream("POST", url + "/v1/messages", json={**ASK, "stream": True},
                       headers={"x-api-key": key, "anthropic-version": "2023-06-01"}) as r:
        assert r.status_code == 200
        text = r.read().decode()
    out = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        fields = dict(line.split(": ", 1) for line in block.split("\n"))
        out.append((fields["event"], json.loads(fields["data"])))
    return out


def _without_ids(events):
    for name, data in events:
        if name == "message_start":
            data["message"]["id"] = "msg"
    return events


def test_a_stream_through_the_gateway_equals_the_upstreams_pings_included(gw, fresh_sim):
    straight = _events(fresh_sim.url, PRIMARY.secret)
    names = [n for n, _ in straight]
    assert names[:3] == ["message_start", "content_block_start", "ping"]  # where the API sends it
    via = _events(gw.url, gw.key())
    assert _without_ids(via) == _without_ids(straight)
    hit = _events(gw.url, gw.key())  # the cache's replay: the same events, the ping where it was
    assert [n for n, _ in hit] == names


def _arrivals(url: str, key: str) -> dict[str, float]:
    """Seconds from sending one streamed ASK to its response head and to each event's first arrival, by name."""
    seen: dict[str, float] = {}
    t0 = time.monotonic()
    with httpx2.stream("POST", url + "/v1/messages", json={**ASK, "stream": True},
                       headers={"x-api-key": key, "anthropic-version": "2023-06-01"}, timeout=30) as r:
        seen["head"] = time.monotonic() - t0
        text = ""
        for chunk in r.iter_text():
            text += chunk
            now = time.monotonic() - t0
            for block in text.split("\n\n")[:-1]:
                if block.startswith("event: "):
                    seen.setdefault(block.split("\n", 1)[0][7:], now)
    return seen


def test_a_stream_is_forwarded_as_it_arrives_not_held_until_its_first_token(gw, fresh_sim):
    """The API sends the head, message_start and content_block_start at once and the first delta after the
    model's time to first token; through the gateway they arrive as early (no buffering)."""
    fresh_sim.configure(ttft_s=1.0)
    key = gw.key()
    straight, via = _arrivals(fresh_sim.url, PRIMARY.secret), _arrivals(gw.url, key)
    for seen in (straight, via):
        assert seen["content_block_delta"] >= 1.0  # the simulator's first token waits out its TTFT
        for early in ("head", "message_start", "content_block_start", "ping"):
            assert seen[early] < seen["content_block_delta"] - 0.5, (early, seen)


def test_an_error_event_before_any_content_is_forwarded_as_the_api_sent_it(gw, fresh_sim):
    """Once the head is out (as it is at once), a failure is the stream's own error event, billed and recorded."""
    fresh_sim.script_faults([{"fault": "error-event", "after": 0}])
    with pytest.raises(anthropic.APIStatusError) as info, \
            sdk(gw.url, gw.key()).messages.stream(**ASK) as s:
        for _ in s:
            pass
    assert info.value.body["error"]["type"] == "overloaded_error"
    (row,) = _rows(gw)
    assert row.status == "error" and row.api_key_id is not None and row.input_tokens > 0


def test_python_callers_see_only_the_sdks_events(gw):
    with gw.client.stream(user="ana", **ASK) as s:
        events = list(s.events())
    assert "ping" not in [e.type for e in events]
    assert 'event: ping\n' in events[2].wire() and events[2].type == "content_block_delta"


# --- demo mode -------------------------------------------------------------------------------

def test_in_demo_mode_the_gateways_rows_are_marked_demo(fresh_sim, tmp_path):
    with gateway(fresh_sim, tmp_path, keys=()) as g:
        assert g.client.demo
        sdk(g.url, g.key()).messages.create(**ASK)
        (row,) = _rows(g)
    assert (row.source, row.status) == ("demo", "ok")
