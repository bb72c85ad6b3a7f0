"""A Messages request into a guarded call, and its answer back in the Messages API's own form, JSON or SSE.

JSON: the message the guarded client returns (``CallResult.message``: the upstream's own JSON; a cache
hit's is the stored one), sent as it is. SSE: every event of ``GuardedStream.events()`` sent
as its raw SSE text (``wire()``), as the upstream sent it, the moment it is read; a cache hit is
replayed as the API would stream it. ``ping`` events go out where they came: each SDK event carries
the pings just before it (``StreamEvent.before``, part of its ``wire()``).
"""

from __future__ import annotations

import json
import re

from core.errors import ValidationError
from core.types import CallResult, message_data

# Body fields that are ``GuardedClient.create`` arguments of its own, not Messages parameters.
_RESERVED = frozenset({"prompt", "user", "use_cache", "source", "api_key_id", "extra_headers"})
PASSED_HEADERS = ("anthropic-version", "anthropic-beta")
# What an ``anthropic-version`` may look like ("2023-06-01"): a short token, never a header injection.
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,31}")


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
    extra = passed_headers(headers)
    if extra:
        kw["extra_headers"] = extra
    return kw


def passed_headers(headers) -> dict[str, str]:
    """The caller's ``anthropic-version`` and ``anthropic-beta``, to send upstream as they came.

    An absent ``anthropic-version`` is the SDK's own default; one that is not a short token is refused.
    """
    out = {}
    version = headers.get("anthropic-version")
    if version is not None:
        if not _VERSION.fullmatch(version):
            raise ValidationError("anthropic-version: must be a version such as 2023-06-01.",
                                  field="anthropic-version")
        out["anthropic-version"] = version
    beta = headers.get("anthropic-beta")
    if beta:
        out["anthropic-beta"] = beta
    return out


def message_body(result: CallResult) -> bytes:
    """The Messages response body of a guarded result: the upstream's own bytes when it has them."""
    if result.raw_json is not None:
        return result.raw_json
    return json.dumps(message_json(result), separators=(",", ":"), ensure_ascii=False).encode()


def message_json(result: CallResult) -> dict:
    """The Messages response body of a guarded result."""
    message = message_data(result)  # the upstream's JSON as it came (a hit: as stored); no SDK object built
    if message is not None:
        return message
    return {"id": result.message_id, "type": "message", "role": "assistant", "model": result.model,
            "content": result.content, "stop_reason": result.stop_reason, "stop_sequence": result.stop_sequence,
            "usage": result.usage_detail}


def cost_headers(result: CallResult) -> dict[str, str]:
    """What Tollgate adds to a JSON reply: the call's exact cost, whether it was a cache hit, its ledger row."""
    out = {"x-tollgate-cost-usd": "unpriced" if result.unpriced else format(result.cost_usd, "f"),
           "x-tollgate-cached": "true" if result.cached else "false"}
    if result.ledger_id:
        out["x-tollgate-ledger-id"] = result.ledger_id
    return out


def wire(event) -> bytes:
    """One stream event as the SSE bytes it arrived as."""
    return event.wire_bytes()


def error_event(etype: str, message: str, request_id: str | None) -> bytes:
    """A stream that fails after it started ends with Anthropic's error event."""
    data = {"type": "error", "error": {"type": etype, "message": message}}
    if request_id:
        data["request_id"] = request_id
    return f"event: error\ndata: {json.dumps(data, separators=(',', ':'), ensure_ascii=False)}\n\n".encode()
