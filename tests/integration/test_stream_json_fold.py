"""A stream read from its bytes: the message folded as JSON equals the SDK's own accumulation, and the
events a relay sends are the upstream's bytes, every one of them, in order.

The simulator gives every block kind (text, citations, tool_use with partial JSON, thinking with its
signature, server tools and their results); ``sdk_wire`` gives a body with CRLF line endings and comments.
"""

from __future__ import annotations

import json

import httpx2
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import RawContentBlockDeltaEvent, RawMessageStartEvent

from core.types import message_data
from tests.integration.sdk_wire import EVERY_BLOCK, WEATHER_TOOL, Upstream, message_events, sse, wire_client
from tests.integration.test_client_blocks_sim import CASES, MODEL


def sdk_accumulated(events):
    """The SDK's ``accumulate_event`` over each event's data string, as ``MessageStream`` folds it."""
    snap, bufs = None, {}
    for e in events:
        snap = accumulate_event(event=json.loads(e.data), current_snapshot=snap, json_bufs=bufs)
    return snap


def check(s, events):
    sdk = sdk_accumulated(events)
    assert message_data(s.result) == sdk.to_dict(warnings=False)  # the JSON the cache, ledger and relay use
    assert s.result.content == sdk.to_dict(warnings=False)["content"] and s.result.content
    final = s.get_final_message()
    assert final == sdk and type(final) is type(sdk)  # the SDK's own ParsedMessage, built on request


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_the_json_fold_equals_the_sdks_accumulation_on_every_simulated_block(make_client, case):
    client = make_client()
    kw = {k: v for k, v in case.items() if k != "prompt"}
    s = client.stream(case.get("prompt"), user="ana", model=MODEL, use_cache=False, **kw)
    events = list(s.events())
    check(s, events)


def test_the_json_fold_equals_the_sdks_on_thinking_citations_and_chunked_tool_input():
    with wire_client(Upstream(EVERY_BLOCK)) as client:
        s = client.stream("Weather?", user="ana", model="claude-sonnet-5-5", tools=[WEATHER_TOOL])
        events = list(s.events())
        assert sum(e.type == "content_block_delta" and e.obj["delta"]["type"] == "input_json_delta"
                   for e in events) > 1
        check(s, events)
        assert s.current_message_snapshot is s.get_final_message()


def test_events_are_sdk_objects_only_when_touched():
    with wire_client(Upstream(EVERY_BLOCK)) as client:
        events = list(client.stream("Weather?", user="ana", model="claude-sonnet-5-5").events())
    assert all(e._event is None for e in events)  # the guard and a relay read JSON only
    assert isinstance(events[0].event, RawMessageStartEvent) and events[0].message.id == EVERY_BLOCK["id"]
    delta = next(e for e in events if e.type == "content_block_delta")
    assert isinstance(delta.event, RawContentBlockDeltaEvent) and delta.delta.type == delta.obj["delta"]["type"]


class CrlfUpstream(Upstream):
    """Streams with CRLF line endings, comments and a keep-alive between events: as a proxy may."""

    def body(self) -> bytes:
        text = sse(message_events(self.message)).decode().replace("\n", "\r\n")
        return text.replace("event: content_block_stop", ": keep-alive\r\n\r\nevent: content_block_stop").encode()

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return httpx2.Response(200, content=self.body(), headers={"content-type": "text/event-stream"})


def test_a_relay_gets_every_byte_as_it_came_crlf_comments_and_pings_included():
    upstream = CrlfUpstream(EVERY_BLOCK)
    with wire_client(upstream) as client:
        s = client.stream("Weather?", user="ana", model="claude-sonnet-5-5")
        events = list(s.events())
    assert "".join(e.wire() for e in events).encode() == upstream.body()
    assert b"".join(e.wire_bytes() for e in events) == upstream.body()
    assert [e.type for e in events] == [e["type"] for e in message_events(EVERY_BLOCK)]  # pings, comments: wire only
    assert s.result.content == EVERY_BLOCK["content"]
