"""A Messages request into a guarded call, and its answer back in the Messages API's own form, JSON or SSE.

The seam with the whole-Messages-API work (issue 12): when a ``CallResult`` carries the SDK's
``message`` it is returned as it is, and when a ``GuardedStream`` offers ``events()`` with each
event's raw SSE text, those bytes are forwarded one by one. Until then, the answer is framed here
from what the guard returns (the text, its usage, stop reason and the upstream's message id), event
for event as Anthropic frames a text reply: message_start, content_block_start, ping, the text
deltas, content_block_stop, message_delta, message_stop.
"""

from __future__ import annotations

import json

from core.errors import ValidationError
from core.types import CallResult, Usage

# Body fields that are ``GuardedClient.create`` arguments of its own, not Messages parameters.
_RESERVED = frozenset({"prompt", "user", "use_cache", "source", "api_key_id", "extra_headers"})
PASSED_HEADERS = ("anthropic-version", "anthropic-beta")


def call_kwargs(body, headers) -> dict:
    """``GuardedClient.create``/``stream`` arguments for a Messages request body (stream flag left out)."""
    if not isinstance(body, dict):
        raise ValidationError("The request body must be a JSON object (a Messages request).", field="body")
    for name in ("model", "messages", "max_tokens"):
        if name not in body:
            raise ValidationError(f"{name}: Field required", field=name)
    bad = sorted(_RESERVED & body.keys())
    if bad:
        raise ValidationError(f"{bad[0]}: Extra inputs are not permitted", field=bad[0])
    kw = {k: v for k, v in body.items() if k != "stream"}
    passed = {h: headers[h] for h in PASSED_HEADERS if headers.get(h)}
    if "anthropic-beta" in passed:  # the version header is the SDK's own; a beta changes the answer
        kw["extra_headers"] = {"anthropic-beta": passed["anthropic-beta"]}
    return kw


def usage_json(u: Usage) -> dict:
    """A ``Usage`` in the API's field names (the cache-write split under ``cache_creation``)."""
    return {"input_tokens": u.input_tokens,
            "cache_creation_input_tokens": u.cache_creation_5m_tokens + u.cache_creation_1h_tokens,
            "cache_read_input_tokens": u.cache_read_tokens,
            "cache_creation": {"ephemeral_5m_input_tokens": u.cache_creation_5m_tokens,
                               "ephemeral_1h_input_tokens": u.cache_creation_1h_tokens},
            "output_tokens": u.output_tokens}


def _message_id(result: CallResult) -> str:
    return result.message_id or f"msg_tollgate_{(result.ledger_id or 'cached').replace('-', '')}"


def message_json(result: CallResult) -> dict:
    """The Messages response body for a guarded result: the SDK's own message when the client has it."""
    message = getattr(result, "message", None)  # issue 12's CallResult.message (the SDK's Message)
    if message is not None and hasattr(message, "model_dump"):
        return message.model_dump(mode="json", exclude_none=False)
    return {"id": _message_id(result), "type": "message", "role": "assistant", "model": result.model,
            "content": [{"type": "text", "text": result.text}], "stop_reason": result.stop_reason,
            "stop_sequence": None, "usage": usage_json(result.usage)}


def sse(event: str, data: dict) -> bytes:
    """One server-sent event as Anthropic frames it."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'), ensure_ascii=False)}\n\n".encode()


def stream_head(opened, model: str, result: CallResult | None = None) -> list[bytes]:
    """message_start (from the upstream's own: id, model, input usage), content_block_start and a ping."""
    if opened is not None:
        usage = {k: v for k, v in opened.usage_start.items() if v is not None}  # the SDK's dump adds nulls
        msg_id, model = opened.message_id, opened.response_model or model
    else:  # a cache hit: the stored answer's usage
        usage = {**usage_json(result.usage), "output_tokens": result.usage.output_tokens}
        msg_id = _message_id(result)
    message = {"id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
               "stop_reason": None, "stop_sequence": None, "usage": usage}
    return [sse("message_start", {"type": "message_start", "message": message}),
            sse("content_block_start", {"type": "content_block_start", "index": 0,
                                        "content_block": {"type": "text", "text": ""}}),
            sse("ping", {"type": "ping"})]


def text_event(text: str) -> bytes:
    return sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                       "delta": {"type": "text_delta", "text": text}})


def stream_tail(result: CallResult) -> list[bytes]:
    """content_block_stop, message_delta (stop reason, final output tokens), message_stop."""
    return [sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
            sse("message_delta", {"type": "message_delta",
                                  "delta": {"stop_reason": result.stop_reason, "stop_sequence": None},
                                  "usage": {"output_tokens": result.usage.output_tokens}}),
            sse("message_stop", {"type": "message_stop"})]


def error_event(etype: str, message: str, request_id: str | None) -> bytes:
    """A stream that fails after it started ends with Anthropic's error event."""
    data = {"type": "error", "error": {"type": etype, "message": message}}
    if request_id:
        data["request_id"] = request_id
    return sse("error", data)
