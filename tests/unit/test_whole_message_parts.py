"""The pure parts of carrying whole messages: the cache entry, the replayed events, the key, the SDK kwargs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from anthropic.lib.streaming._messages import accumulate_event

from core.cache.entry import CachedResponse
from core.cache.keys import digest_request
from core.client.replay import event_dicts, replay
from core.types import CallResult, Usage

MSG = {"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-sonnet-5-5",
       "content": [
           {"type": "thinking", "thinking": "First the memo.", "signature": "EqQBsig"},
           {"type": "redacted_thinking", "data": "EmwKAhgBEgy3va3pzix"},
           {"type": "text", "text": "Per the memo, Paris", "citations": [
               {"type": "page_location", "cited_text": "Paris office", "document_index": 0,
                "document_title": None, "start_page_number": 1, "end_page_number": 2}]},
           {"type": "text", "text": ".", "citations": None},
           {"type": "server_tool_use", "id": "srvtoolu_01", "name": "web_search", "input": {"query": "paris"}},
           {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_01", "content": [
               {"type": "web_search_result", "url": "https://example.com", "title": "Paris",
                "encrypted_content": "EqgfCioI", "page_age": None}]},
           {"type": "tool_use", "id": "toolu_01", "name": "get_weather", "input": {"city": "Paris", "days": [1]}},
       ],
       "stop_reason": "tool_use", "stop_sequence": None,
       "usage": {"input_tokens": 50, "output_tokens": 70, "cache_creation_input_tokens": 0,
                 "cache_read_input_tokens": 0, "server_tool_use": {"web_search_requests": 1},
                 "service_tier": "standard", "inference_geo": "global"}}
T = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def entry(**kw) -> CachedResponse:
    base = dict(text="Per the memo, Paris.", model="claude-sonnet-5-5", usage=Usage(input_tokens=50, output_tokens=70),
                stop_reason="tool_use", request_id="req_1", created_at=T, price_version="v1",
                cost_usd=Decimal("0.0008"), message=MSG)
    return CachedResponse(**{**base, **kw})


def test_replayed_events_accumulate_with_the_sdks_helper_to_the_stored_message():
    snap, bufs = None, {}
    events = list(replay(MSG))
    for ev in events:
        snap = accumulate_event(event=ev.event, current_snapshot=snap, json_bufs=bufs)
    # The SDK's accumulator sets stop_details (None here) from message_delta, as on a live stream.
    assert {k: v for k, v in snap.to_dict().items() if k != "stop_details"} == MSG
    assert [e.type for e in events][0] == "message_start" and events[-1].type == "message_stop"
    assert [json.loads(e.data) for e in events] == list(event_dicts(MSG))  # compact JSON of each event
    assert all(e.sse_event == e.type for e in events)


def test_replay_starts_with_input_usage_and_ends_with_the_stop_reason_and_output():
    dicts = list(event_dicts(MSG))
    assert dicts[0]["message"]["content"] == [] and dicts[0]["message"]["usage"]["output_tokens"] == 0
    assert dicts[0]["message"]["usage"]["input_tokens"] == 50
    assert dicts[-2]["delta"] == {"stop_reason": "tool_use", "stop_sequence": None}
    assert dicts[-2]["usage"]["output_tokens"] == 70
    deltas = [d["delta"]["type"] for d in dicts if d["type"] == "content_block_delta"]
    assert deltas == ["thinking_delta", "signature_delta", "text_delta", "citations_delta", "text_delta",
                      "input_json_delta", "input_json_delta"]


def test_a_cache_entry_keeps_the_whole_message_and_hands_out_copies():
    e = CachedResponse.from_json(entry().to_json())
    assert e.message == MSG
    one, two = e.whole_message(), e.whole_message()
    one["content"][0]["thinking"] = "changed"
    assert two["content"][0]["thinking"] == "First the memo." and e.message == MSG


def test_an_entry_written_before_messages_were_kept_loads_as_one_text_block():
    old = json.loads(entry(message=None, stop_reason="end_turn").to_json())
    old["v"] = 1
    old.pop("message")
    e = CachedResponse.from_json(json.dumps(old))
    assert e.message is None
    assert e.whole_message()["content"] == [{"type": "text", "text": "Per the memo, Paris."}]
    assert e.whole_message()["stop_reason"] == "end_turn"


def test_an_old_text_only_entry_of_a_tool_use_answer_is_a_miss():
    old = json.loads(entry(message=None, text="").to_json())
    old["v"] = 1
    with pytest.raises(ValueError):
        CachedResponse.from_json(json.dumps(old))


@pytest.mark.parametrize("message", [{"content": "text"}, [1], "x"])
def test_a_misshapen_stored_message_is_a_miss(message):
    raw = json.loads(entry().to_json())
    raw["message"] = message
    with pytest.raises(ValueError):
        CachedResponse.from_json(json.dumps(raw))


@pytest.mark.parametrize("extra", [
    {"tools": [{"name": "get_weather", "input_schema": {"type": "object"}}]},
    {"tool_choice": {"type": "any"}},
    {"thinking": {"type": "enabled", "budget_tokens": 1024}},
    {"extra_headers": {"anthropic-beta": "context-1m-2025-08-07"}},
    {"extra_headers": {"Anthropic-Beta": "context-1m-2025-08-07"}},
])
def test_tools_tool_choice_thinking_and_betas_are_in_the_key(extra):
    msgs = [{"role": "user", "content": "weather?"}]
    base = digest_request("claude-sonnet-5-5", None, msgs, {"max_tokens": 64, "temperature": 0})
    other = digest_request("claude-sonnet-5-5", None, msgs, {"max_tokens": 64, "temperature": 0, **extra})
    assert base.key("ana") != other.key("ana")


def test_attachments_are_in_the_key_and_other_headers_are_not():
    def key(content, **params):
        return digest_request("claude-sonnet-5-5", None, [{"role": "user", "content": content}],
                              {"max_tokens": 64, **params}).key(None)
    pdf = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}}
    other = {**pdf, "source": {**pdf["source"], "data": "JVBERi0y"}}
    ask = {"type": "text", "text": "Summarise."}
    assert key([pdf, ask]) != key([other, ask])
    assert key([ask], extra_headers={"x-trace": "abc"}) == key([ask])


@pytest.fixture(params=["fast", "traced"])
def traced(request, monkeypatch):
    """The Poster's two paths: its own POST, or the SDK's messages.create (when the SDK would make a span)."""
    from core.upstream.poster import Poster

    monkeypatch.setattr(Poster, "_sdk_traces", lambda self: request.param == "traced")
    return request.param


def test_extra_headers_go_as_headers_and_every_other_field_in_the_body(traced):
    import anthropic
    import httpx2

    from core.upstream.poster import Poster

    sent = []

    def answer(request):
        sent.append(request)
        return httpx2.Response(200, json={"ok": True}, headers={"request-id": "req_1"})

    http = httpx2.Client(transport=httpx2.MockTransport(answer))
    sdk = anthropic.Anthropic(api_key="sk-ant-test-fake-unit-0000", base_url="http://upstream.test",
                              max_retries=0, http_client=http)
    poster = Poster(sdk, http)
    body = {"model": "m", "messages": [], "max_tokens": 5, "thinking": {"type": "adaptive"}, "top_k": 3,
            "a_parameter_of_next_year": 1,
            "extra_headers": {"anthropic-beta": "b", "anthropic-version": "2023-01-01", "user-agent": None}}
    response = poster.stream(body, timeout=httpx2.Timeout(5.0)).response
    (request,) = sent
    assert json.loads(request.content) == {**{k: v for k, v in body.items() if k != "extra_headers"},
                                           "stream": True}
    assert request.headers["anthropic-beta"] == "b" and request.headers["anthropic-version"] == "2023-01-01"
    # the SDK's user agent is left out (through the SDK, httpx's own default stands in)
    assert "Anthropic" not in request.headers.get("user-agent", "")
    assert request.url == "http://upstream.test/v1/messages"
    assert request.headers["content-type"] == "application/json" and response.headers["request-id"] == "req_1"
    poster.create({"model": "m", "messages": [], "max_tokens": 5}, timeout=httpx2.Timeout(5.0))
    assert sent[1].headers["anthropic-version"] == sdk.default_headers["anthropic-version"]  # the SDK's own
    assert "stream" not in json.loads(sent[1].content) and body["extra_headers"]["anthropic-beta"] == "b"


def test_a_result_rebuilds_the_sdk_message_from_a_dict_only_when_read():
    from anthropic.types import Message

    r = CallResult(text="", model="m", usage=Usage(), cost_usd=Decimal(0), price_version=None,
                   content=MSG["content"], message=MSG)
    assert "Message(" not in repr(r)  # a repr does not build it
    assert isinstance(r.message, Message) and r.message.content[-1].input == {"city": "Paris", "days": [1]}
    assert r.tool_uses == [MSG["content"][-1]]
    d = r.to_dict()
    assert d["content"] == MSG["content"] and "message" not in d


def test_the_cli_summary_names_the_blocks_a_text_answer_leaves_out():
    from core.cli.support import blocks_note

    def result(content, stop="end_turn"):
        return CallResult(text="", model="m", usage=Usage(), cost_usd=Decimal(0), price_version=None,
                          content=content, stop_reason=stop)
    assert blocks_note(result([{"type": "text", "text": "hi"}])) == ""
    assert blocks_note(result(MSG["content"], "tool_use")) == (
        " · blocks: thinking, redacted_thinking, server_tool_use web_search, web_search_tool_result, "
        "tool_use get_weather · stopped: tool_use")
    assert blocks_note(result([{"type": "text", "text": "cut"}], "max_tokens")) == " · stopped: max_tokens"
