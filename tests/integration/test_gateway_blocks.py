"""Whole messages through the gateway: a tool loop (JSON and SSE), a PDF, and the raw SSE bytes of a stream."""

from __future__ import annotations

import json

import anthropic
import httpx2
import pytest

from tests.integration.conftest import PRIMARY
from tests.integration.gateway_support import gateway
from tests.media import pdf_block

MODEL = "claude-haiku-5-5"
WEATHER = {"name": "get_weather", "description": "The weather now in a city.",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"},
                                                             "days": {"type": "integer"}},
                            "required": ["city", "days"]}}
ASK = "Call get_weather for Marseille."


@pytest.fixture
def gw(fresh_sim, tmp_path):
    with gateway(fresh_sim, tmp_path) as g:
        yield g


def _pair(gw, sim):
    key = gw.key()
    return (anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0),
            anthropic.Anthropic(base_url=sim.url, api_key=PRIMARY.secret, max_retries=0))


def _blocks(msg) -> list[dict]:
    """Content blocks without the ids the simulator makes fresh per request."""
    out = []
    for b in msg.content:
        d = b.to_dict()
        d.pop("id", None)
        out.append(d)
    return out


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "sse"])
def test_a_two_turn_tool_loop(gw, fresh_sim, streamed):
    via, straight = _pair(gw, fresh_sim)

    def ask(client, messages):
        kw = dict(model=MODEL, max_tokens=200, tools=[WEATHER], messages=messages)
        if not streamed:
            return client.messages.create(**kw)
        with client.messages.stream(**kw) as s:
            return s.get_final_message()

    first, first_straight = ask(via, [{"role": "user", "content": ASK}]), ask(straight, [{"role": "user",
                                                                                         "content": ASK}])
    assert first.stop_reason == "tool_use" and _blocks(first) == _blocks(first_straight)
    use = next(b for b in first.content if b.type == "tool_use")
    assert use.input == {"city": "Marseille", "days": 1}
    turn = [{"role": "user", "content": ASK}, {"role": "assistant", "content": first.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "18 C"}]}]
    final = ask(via, turn)
    assert final.stop_reason == "end_turn" and _blocks(final) == _blocks(ask(straight, turn))


def test_a_pdf_question_and_its_count(gw, fresh_sim):
    via, straight = _pair(gw, fresh_sim)
    messages = [{"role": "user", "content": [pdf_block(citations=True),
                                             {"type": "text", "text": "What does page two say?"}]}]
    got = via.messages.create(model=MODEL, max_tokens=200, messages=messages)
    assert _blocks(got) == _blocks(straight.messages.create(model=MODEL, max_tokens=200, messages=messages))
    assert via.messages.count_tokens(model=MODEL, messages=messages).input_tokens == got.usage.input_tokens


def _raw_events(url, key, body) -> list[tuple[str, dict]]:
    """(event name, data) of each SSE event, pings left out, the per-request message id blanked."""
    out = []
    with httpx2.stream("POST", f"{url}/v1/messages", json=body, headers={"x-api-key": key}) as r:
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
        text = "".join(r.iter_text())
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        data = json.loads(lines["data"])
        if lines["event"] == "ping":
            continue
        if data.get("type") == "message_start":
            data["message"]["id"] = "msg"
        out.append((lines["event"], data))
    return out


def test_the_raw_sse_is_the_upstreams_event_for_event(gw, fresh_sim):
    body = dict(model=MODEL, max_tokens=200, stream=True, tools=[WEATHER], messages=[{"role": "user",
                                                                                       "content": ASK}])
    via = _raw_events(gw.url, gw.key(), body)
    straight = _raw_events(fresh_sim.url, PRIMARY.secret, body)
    for events in (via, straight):  # tool ids are fresh per request
        for _, data in events:
            if data.get("content_block", {}).get("type") == "tool_use":
                data["content_block"]["id"] = "toolu"
    assert [e for e, _ in via] == [e for e, _ in straight]
    assert via == straight and any(d.get("delta", {}).get("type") == "input_json_delta" for _, d in via)
