"""The whole message through the guard, via the real SDK: content blocks, events with their raw SSE,
the cache keeping whole messages, extra headers and the exact count.

Answers the simulator does not give yet (a tool_use-only reply, thinking + citations + tool_use in one)
come from ``tests/integration/sdk_wire.py`` over ``httpx2.MockTransport``.
"""

from __future__ import annotations

import json

import pytest
from anthropic.types import Message

from tests.integration.sdk_wire import (
    EVERY_BLOCK,
    TOOL_USE_ONLY,
    WEATHER_TOOL,
    Upstream,
    message_events,
    wire_client,
)

ASK = "What is the weather in San Francisco?"


@pytest.fixture
def upstream():
    return Upstream(TOOL_USE_ONLY)


def test_a_tool_use_reply_is_cached_whole_not_as_empty_text(upstream):
    """Reproduces the bug: a reply with no text but a tool call was cached, and replayed, as empty text."""
    with wire_client(upstream) as client:
        kw = dict(user="ana", model="claude-sonnet-5-5", tools=[WEATHER_TOOL], temperature=0)
        first = client.create(ASK, **kw)
        assert first.text == "" and first.stop_reason == "tool_use"
        assert first.content == TOOL_USE_ONLY["content"]
        again = client.create(ASK, **kw)
        assert again.cached and len(upstream.bodies()) == 1
        assert again.text == "" and again.stop_reason == "tool_use"
        assert again.content == TOOL_USE_ONLY["content"]  # the tool call, not an empty answer
        assert isinstance(again.message, Message) and again.message.content[0].input == {
            "location": "San Francisco, CA"}
        assert again.tool_uses == TOOL_USE_ONLY["content"]


def test_a_create_result_carries_every_block_and_the_whole_usage():
    upstream = Upstream(EVERY_BLOCK)
    with wire_client(upstream) as client:
        r = client.create(ASK, user="ana", model="claude-sonnet-5-5", tools=[WEATHER_TOOL],
                          thinking={"type": "enabled", "budget_tokens": 2048})
    assert r.content == EVERY_BLOCK["content"]  # thinking with its signature, citations, tool_use: as sent
    assert r.text == "The memo is about San Francisco. Let me check the weather."
    assert r.usage_detail == EVERY_BLOCK["usage"] and r.stop_sequence is None
    assert isinstance(r.message, Message) and r.message.id == "msg_01ThinkCiteTool"
    d = r.to_dict()
    assert d["content"] == EVERY_BLOCK["content"] and d["usage_detail"]["service_tier"] == "standard"
    json.dumps(d)  # JSON-ready


def test_a_stream_hands_on_every_event_with_its_raw_sse_and_the_sdk_accumulated_message():
    upstream = Upstream(EVERY_BLOCK)
    with wire_client(upstream) as client:
        s = client.stream(ASK, user="ana", model="claude-sonnet-5-5", tools=[WEATHER_TOOL],
                          thinking={"type": "enabled", "budget_tokens": 2048})
        got = list(s.events())
        sent = message_events(EVERY_BLOCK)
        assert [e.type for e in got] == [e["type"] for e in sent]  # pings dropped, as the SDK drops them
        # The raw SSE as received: the event name and the data string, byte for byte.
        assert [(e.sse_event, e.data) for e in got] == [(e["type"], json.dumps(e)) for e in sent]
        assert got[0].wire() == f"event: message_start\ndata: {json.dumps(sent[0])}\n\n"
        kinds = {e.delta.type for e in got if e.type == "content_block_delta"}
        assert kinds == {"thinking_delta", "signature_delta", "text_delta", "citations_delta", "input_json_delta"}
        final = s.get_final_message()
        assert isinstance(final, Message)
        assert [b.to_dict() for b in final.content] == EVERY_BLOCK["content"]
        assert s.result.content == EVERY_BLOCK["content"] and s.result.text == (
            "The memo is about San Francisco. Let me check the weather.")
        assert s.result.stop_reason == "tool_use" and s.result.usage.output_tokens == 89
        assert s.current_message_snapshot is final


def test_text_iteration_still_gives_only_the_text_deltas():
    with wire_client(Upstream(EVERY_BLOCK)) as client:
        s = client.stream(ASK, user="ana", model="claude-sonnet-5-5", tools=[WEATHER_TOOL])
        first = next(iter(s))
        assert first + "".join(s.text_stream) == "The memo is about San Francisco. Let me check the weather."
        assert s.result.content == EVERY_BLOCK["content"]


def test_a_cached_stream_replays_an_sdk_valid_event_sequence_of_the_stored_message():
    upstream = Upstream(EVERY_BLOCK)
    with wire_client(upstream) as client:
        kw = dict(user="ana", model="claude-sonnet-5-5", tools=[WEATHER_TOOL], temperature=0)
        client.create(ASK, **kw)
        s = client.stream(ASK, **kw)
        events = list(s.events())
        assert s.result.cached and len(upstream.bodies()) == 1
        assert [e.type for e in events][:2] == ["message_start", "content_block_start"]
        assert events[-2].type == "message_delta" and events[-1].type == "message_stop"
        assert all(json.loads(e.data)["type"] == e.sse_event == e.type for e in events)
        from anthropic.lib.streaming._messages import accumulate_event
        snap, bufs = None, {}
        for e in events:
            snap = accumulate_event(event=e.event, current_snapshot=snap, json_bufs=bufs)
        assert [b.to_dict() for b in snap.content] == EVERY_BLOCK["content"]
        assert snap.stop_reason == "tool_use" and snap.usage.output_tokens == 89
        again = client.stream(ASK, **kw)
        assert "".join(again) == "The memo is about San Francisco. Let me check the weather."


def test_extra_headers_are_sent_as_headers_never_in_the_body(upstream, json_logs):
    beta = "context-1m-2025-08-07"
    with wire_client(upstream) as client:
        client.create(ASK, user="ana", model="claude-sonnet-5-5", extra_headers={"anthropic-beta": beta},
                      metadata={"user_id": "user-7f3a"}, stop_sequences=["END"], service_tier="auto",
                      top_k=5, top_p=0.9, inference_geo="us")
    (request,) = upstream.requests
    assert request.headers["anthropic-beta"] == beta
    body = json.loads(request.content)
    assert "extra_headers" not in body and beta not in request.content.decode()
    assert body["metadata"] == {"user_id": "user-7f3a"} and body["stop_sequences"] == ["END"]
    assert (body["service_tier"], body["top_k"], body["top_p"], body["inference_geo"]) == ("auto", 5, 0.9, "us")
    assert beta not in json_logs.text()


def test_the_exact_count_sends_tools_system_thinking_documents_and_images(upstream):
    doc = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "memo"}}
    image = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    messages = [{"role": "user", "content": [doc, image, {"type": "text", "text": ASK}]}]
    with wire_client(upstream) as client:
        n = client.count_tokens(messages=messages, model="claude-sonnet-5-5", system="Be brief.", exact=True,
                                tools=[WEATHER_TOOL], tool_choice={"type": "auto"},
                                thinking={"type": "enabled", "budget_tokens": 2048})
    assert n == 1234
    (body,) = upstream.bodies("/v1/messages/count_tokens")
    assert body["messages"] == messages and body["system"] == "Be brief."
    assert body["tools"] == [WEATHER_TOOL] and body["tool_choice"] == {"type": "auto"}
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 2048}
