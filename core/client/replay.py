"""A stored message as the SSE events the API would have streamed for it (a cache hit's stream).

The sequence is what the Messages API sends: ``message_start`` (no content, input usage),
per block ``content_block_start`` (the block emptied), its deltas (the text in one
``text_delta`` plus one ``citations_delta`` per citation; ``thinking_delta`` then
``signature_delta``; tool input as one ``input_json_delta``), ``content_block_stop``; then
``message_delta`` (stop reason, output usage) and ``message_stop``, with the ``ping`` the API sends
after the first ``content_block_start`` (in the next event's ``before``: on the wire only). Blocks that never stream
in parts (redacted thinking, server tool results, types this code does not know) start whole.
Accumulating these events with the SDK's helper gives the stored message back.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from core.upstream.sse import PING, StreamEvent

_STREAMED_INPUT = ("tool_use", "server_tool_use", "mcp_tool_use")


def _blocks(index: int, block: dict) -> Iterator[dict]:
    """The start, deltas and stop of one content block."""
    kind = block.get("type")
    if kind == "text":
        start = {k: v for k, v in block.items() if k not in ("text", "citations")}
        start["text"] = ""
        if "citations" in block:  # kept as the block had it: a list filled by the deltas, or null
            start["citations"] = None if block["citations"] is None else []
        deltas = [{"type": "text_delta", "text": block.get("text", "")}]
        deltas += [{"type": "citations_delta", "citation": c} for c in block.get("citations") or ()]
    elif kind == "thinking":
        start = {**block, "thinking": "", "signature": ""}
        deltas = [{"type": "thinking_delta", "thinking": block.get("thinking", "")},
                  {"type": "signature_delta", "signature": block.get("signature", "")}]
    elif kind in _STREAMED_INPUT:
        start = {**block, "input": {}}
        deltas = [{"type": "input_json_delta",
                   "partial_json": json.dumps(block.get("input", {}), separators=(",", ":"), ensure_ascii=False)}]
    else:
        start, deltas = block, []
    yield {"type": "content_block_start", "index": index, "content_block": start}
    for delta in deltas:
        yield {"type": "content_block_delta", "index": index, "delta": delta}
    yield {"type": "content_block_stop", "index": index}


def event_dicts(message: dict) -> Iterator[dict]:
    """The stream of ``message`` as event dicts, in the API's order."""
    usage = dict(message.get("usage") or {})
    start_usage = {**usage, "output_tokens": 0}  # the API's message_start carries input counts only
    head = {k: v for k, v in message.items()
            if k not in ("content", "usage", "stop_reason", "stop_sequence", "stop_details")}
    yield {"type": "message_start", "message": {**head, "content": [], "stop_reason": None,
                                                "stop_sequence": None, "usage": start_usage}}
    for i, block in enumerate(message.get("content") or ()):
        yield from _blocks(i, block)
    delta = {"stop_reason": message.get("stop_reason"), "stop_sequence": message.get("stop_sequence")}
    delta.update({k: message[k] for k in ("stop_details", "container") if message.get(k) is not None})
    yield {"type": "message_delta", "delta": delta, "usage": usage}
    yield {"type": "message_stop"}


def replay(message: dict) -> Iterator[StreamEvent]:
    """The events of ``message`` (SDK event objects built when touched), each with the compact JSON it would
    travel as."""
    from anthropic._models import construct_type_unchecked
    from anthropic.types import RawMessageStreamEvent

    def make(d):
        return construct_type_unchecked(type_=RawMessageStreamEvent, value=d)

    before, started = b"", False
    for d in event_dicts(message):
        yield StreamEvent(d, d["type"], json.dumps(d, separators=(",", ":"), ensure_ascii=False), before=before,
                          make=make)
        before = b""
        if d["type"] == "content_block_start" and not started:  # the ping goes out before the next event
            started, before = True, PING
