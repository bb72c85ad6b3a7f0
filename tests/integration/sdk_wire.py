"""Messages API answers as the wire carries them (JSON and SSE, in Anthropic's documented shapes), served
through ``httpx2.MockTransport`` to the real SDK: for reply kinds the simulator does not produce yet.

Every message here is the API's own form: blocks with their optional fields as the API sends them,
usage with ``service_tier``; streams have ``event:`` lines, pings and the documented event order.
"""

from __future__ import annotations

import json

import httpx2

from core.clock import FakeClock
from core.config import load_settings
from core.factory import build_client
from core.upstream.keys import ApiKey

KEY = ApiKey("primary", "sk-ant-test-fake-wire-0000")
BASE_URL = "http://upstream.test"
USAGE = {"input_tokens": 472, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
         "output_tokens": 89, "service_tier": "standard"}
WEATHER_TOOL = {"name": "get_weather", "description": "The weather now at a place.",
                "input_schema": {"type": "object", "properties": {"location": {"type": "string"}},
                                 "required": ["location"]}}
TOOL_USE_ONLY = {
    "id": "msg_01Aq9w938a90dw8q", "type": "message", "role": "assistant", "model": "claude-sonnet-5-5",
    "content": [{"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
                 "input": {"location": "San Francisco, CA"}}],
    "stop_reason": "tool_use", "stop_sequence": None, "usage": USAGE}
EVERY_BLOCK = {
    "id": "msg_01ThinkCiteTool", "type": "message", "role": "assistant", "model": "claude-sonnet-5-5",
    "content": [
        {"type": "thinking", "thinking": "The memo names the city; check its weather.", "signature": "EqQBCgIYAhIM1gbcDa9"},
        {"type": "text", "text": "The memo is about San Francisco", "citations": [
            {"type": "char_location", "cited_text": "San Francisco office", "document_index": 0,
             "document_title": "memo", "start_char_index": 12, "end_char_index": 32}]},
        {"type": "text", "text": ". Let me check the weather."},
        {"type": "tool_use", "id": "toolu_01Xyz", "name": "get_weather", "input": {"location": "San Francisco"}},
    ],
    "stop_reason": "tool_use", "stop_sequence": None,
    "usage": {**USAGE, "server_tool_use": {"web_search_requests": 0}, "inference_geo": "global"}}


def message_events(msg: dict) -> list[dict]:
    """The events the API streams for ``msg``, with text split in two deltas and tool input in chunks."""
    head = {k: v for k, v in msg.items() if k not in ("content",)}
    out = [{"type": "message_start", "message": {**head, "content": [], "stop_reason": None,
                                                 "usage": {**msg["usage"], "output_tokens": 1}}}]
    for i, block in enumerate(msg["content"]):
        kind = block["type"]
        if kind == "text":
            start = {"type": "text", "text": ""} | ({"citations": []} if block.get("citations") else {})
            half = len(block["text"]) // 2
            deltas = [{"type": "text_delta", "text": block["text"][:half]}]
            deltas += [{"type": "citations_delta", "citation": c} for c in block.get("citations") or ()]
            deltas += [{"type": "text_delta", "text": block["text"][half:]}]
        elif kind == "thinking":
            start = {"type": "thinking", "thinking": "", "signature": ""}
            deltas = [{"type": "thinking_delta", "thinking": block["thinking"]},
                      {"type": "signature_delta", "signature": block["signature"]}]
        else:
            start = {**block, "input": {}}
            raw = json.dumps(block["input"])
            deltas = [{"type": "input_json_delta", "partial_json": raw[j:j + 7]} for j in range(0, len(raw), 7)]
        out.append({"type": "content_block_start", "index": i, "content_block": start})
        out += [{"type": "content_block_delta", "index": i, "delta": d} for d in deltas]
        out.append({"type": "content_block_stop", "index": i})
    out.append({"type": "message_delta", "delta": {"stop_reason": msg["stop_reason"],
                                                   "stop_sequence": msg["stop_sequence"]},
                "usage": {"output_tokens": msg["usage"]["output_tokens"]}})
    out.append({"type": "message_stop"})
    return out


def sse(events: list[dict]) -> bytes:
    """SSE as the API writes it: ``event:`` and ``data:`` lines, a ping after message_start."""
    parts = []
    for ev in events:
        parts.append(f"event: {ev['type']}\ndata: {json.dumps(ev)}\n\n")
        if ev["type"] == "message_start":
            parts.append('event: ping\ndata: {"type": "ping"}\n\n')
    return "".join(parts).encode()


class Upstream:
    """A MockTransport handler answering /v1/messages with ``message`` (JSON or SSE); keeps what it was sent."""

    def __init__(self, message: dict) -> None:
        self.message = message
        self.requests: list[httpx2.Request] = []

    def bodies(self, path: str = "/v1/messages") -> list[dict]:
        return [json.loads(r.content) for r in self.requests if r.url.path == path]

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        headers = {"request-id": f"req_wire_{len(self.requests):04d}"}
        if request.url.path == "/v1/messages/count_tokens":
            return httpx2.Response(200, json={"input_tokens": 1234}, headers=headers)
        if json.loads(request.content).get("stream"):
            return httpx2.Response(200, content=sse(message_events(self.message)),
                                   headers={**headers, "content-type": "text/event-stream"})
        return httpx2.Response(200, json=self.message, headers=headers)


def wire_client(upstream: Upstream, **overrides):
    """A guarded client whose SDK talks to ``upstream`` (memory cache, no ledger, a fake clock)."""
    clock = FakeClock()
    settings = load_settings(env={}, load_keys=False, keys=(KEY,), base_url=BASE_URL, ledger_url=None,
                             **{"cache": "memory", **overrides})
    http = httpx2.Client(transport=httpx2.MockTransport(upstream))
    return build_client(settings, clock=clock, sleep=clock.sleep, use_ledger=False, http_client=http)
