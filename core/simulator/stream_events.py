"""A reply as the SSE events the API streams, in its order.

message_start, then per content block content_block_start, its deltas (text_delta, citations_delta,
thinking_delta then signature_delta, input_json_delta in partial_json chunks) and content_block_stop,
a ping after the first block starts, then message_delta (stop reason, final usage) and message_stop.
Blocks the API sends whole (redacted_thinking, server tool results) have no deltas.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .catalogue import ModelInfo
from .prompt_cache import PromptUsage
from .replies import Reply, Tier, new_id, usage_dict, word_chunks

JSON_CHUNK = 16  # characters of tool input per input_json_delta


@dataclass(frozen=True)
class Event:
    """One framed SSE event; ``delta`` marks a content_block_delta (what stream faults count)."""

    data: bytes
    delta: bool = False


def sse(event: str, data: dict) -> bytes:
    """One server-sent event as Anthropic frames it."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def message_start(model: ModelInfo, prompt: PromptUsage, tier: Tier = Tier()) -> Event:
    """The message shell: no content, input and cache counts, output 1 (the final count comes in message_delta)."""
    usage = {**prompt.as_api(), "output_tokens": 1, "service_tier": tier.service_tier,
             "inference_geo": tier.inference_geo}
    message = {"id": new_id("msg_sim_"), "type": "message", "role": "assistant", "model": model.id,
               "content": [], "stop_reason": None, "stop_sequence": None, "stop_details": None,
               "usage": usage}
    return Event(sse("message_start", {"type": "message_start", "message": message}))


def _delta(index: int, delta: dict) -> Event:
    return Event(sse("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta}),
                 delta=True)


def _start(index: int, block: dict) -> Event:
    return Event(sse("content_block_start", {"type": "content_block_start", "index": index,
                                             "content_block": block}))


def block_events(index: int, block: dict) -> list[Event]:
    """content_block_start, the deltas that rebuild ``block``, content_block_stop."""
    kind = block["type"]
    if kind == "text":
        events = [_start(index, {"type": "text", "text": ""})]
        events += [_delta(index, {"type": "citations_delta", "citation": c}) for c in block.get("citations") or ()]
        events += [_delta(index, {"type": "text_delta", "text": t}) for t in word_chunks(block["text"])]
    elif kind == "thinking":
        events = [_start(index, {"type": "thinking", "thinking": "", "signature": ""})]
        events += [_delta(index, {"type": "thinking_delta", "thinking": t}) for t in word_chunks(block["thinking"])]
        events.append(_delta(index, {"type": "signature_delta", "signature": block["signature"]}))
    elif kind in ("tool_use", "server_tool_use"):
        events = [_start(index, {**block, "input": {}})]
        raw = json.dumps(block["input"], ensure_ascii=False)
        pieces = [""] + [raw[i:i + JSON_CHUNK] for i in range(0, len(raw), JSON_CHUNK)]  # the API opens with ""
        events += [_delta(index, {"type": "input_json_delta", "partial_json": p}) for p in pieces]
    else:  # redacted_thinking, web_search_tool_result, ...: sent whole in content_block_start
        events = [_start(index, dict(block))]
    events.append(Event(sse("content_block_stop", {"type": "content_block_stop", "index": index})))
    return events


def content_events(reply: Reply) -> list[Event]:
    """Every block's events, with the ping the API sends after the first content_block_start."""
    events: list[Event] = []
    for i, block in enumerate(reply.content):
        part = block_events(i, block)
        if i == 0:
            part.insert(1, Event(sse("ping", {"type": "ping"})))
        events += part
    return events


def message_end(reply: Reply, prompt: PromptUsage) -> list[Event]:
    """message_delta (stop reason and sequence, the cumulative usage) and message_stop."""
    full = usage_dict(prompt, reply)
    usage = {k: full[k] for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens",
                                  "output_tokens", "server_tool_use", "output_tokens_details") if k in full}
    delta = {"type": "message_delta", "delta": {"stop_reason": reply.stop_reason, "stop_sequence": reply.stop_sequence,
                                                "stop_details": None}, "usage": usage}
    return [Event(sse("message_delta", delta)), Event(sse("message_stop", {"type": "message_stop"}))]


def stream_error(error_type: str, message: str, request_id: str) -> bytes:
    return sse("error", {"type": "error", "error": {"type": error_type, "message": message},
                         "request_id": request_id})
