"""Cache keys and the cacheability rule: which requests may share an answer.

The key is the SHA-256 (hex) of a canonical JSON document of the request. Choices:

* Canonical JSON: ``sort_keys=True``, separators ``(",", ":")``, ``ensure_ascii=False``
  (so "é" and "\\u00e9" in the source give the same bytes), a version field so a
  future change of the rules invalidates old entries instead of mis-hitting them.
* Content: a string ``content`` (or ``system``) becomes ``[{"type": "text", "text": s}]``,
  the form the API treats it as, so the two spellings share a key. SDK objects are
  dumped to plain dicts; ``None``-valued block fields are dropped (the API reads them
  as absent).
* ``cache_control`` markers are removed from system, message and tool blocks (and
  blocks nested in ``tool_result``): they change the price, never the answer.
* Parameters: ``None`` (and the SDK's ``NOT_GIVEN``/``omit``) mean "not sent" and are
  dropped; integral floats become ints (``temperature=1`` == ``1.0``). Every other
  parameter is IN the key unless it is known not to change the answer (metadata,
  stream, timeouts, service tier, Tollgate's own bookkeeping): an unknown parameter
  costs a miss, never a wrong hit.
* The model is taken as given: pass the resolved model id, not an alias.
* Scope: with a ``scope`` (the client passes the user, ``TOLLGATE_CACHE_SCOPE=user``, the
  default) only requests of that same scope share a key, so one user's prompt and answer are
  never served to another; ``scope=None`` (``shared``) lets every caller share.
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

KEY_VERSION = 1

# Parameters that do not change the answer; everything else goes into the key.
NEUTRAL_PARAMS = frozenset({
    "metadata", "stream", "timeout", "extra_headers", "extra_query", "service_tier",
    "user", "user_id", "source", "key_label", "cache", "cache_ttl", "cache_ttl_s", "no_cache",
    "allow_sampling",
    "model", "system", "messages",  # passed as their own arguments
})


def _absent(value: Any) -> bool:
    """None, or the SDK's "not given" sentinels (checked by name: no anthropic import)."""
    return value is None or type(value).__name__ in ("NotGiven", "Omit")


def _plain(value: Any) -> Any:
    """SDK/pydantic objects to plain JSON-ready values; exact Decimals as strings."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot build a cache key from a {type(value).__name__}")


def _block(block: Any) -> Any:
    """One content block without cache_control or None fields; nested content normalised."""
    if hasattr(block, "model_dump"):
        block = block.model_dump(mode="json", exclude_none=True)
    if not isinstance(block, dict):
        return block
    out = {k: v for k, v in block.items() if k != "cache_control" and not _absent(v)}
    if "content" in out:  # tool_result blocks carry a string or a list of blocks
        out["content"] = _content(out["content"])
    return out


def _content(content: Any) -> Any:
    """A string becomes one text block; a list has each block normalised."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, (list, tuple)):
        return [_block(b) for b in content]
    return content


def _message(message: Any) -> Any:
    if hasattr(message, "model_dump"):
        message = message.model_dump(mode="json", exclude_none=True)
    if not isinstance(message, dict):
        return message
    out = {k: v for k, v in message.items() if not _absent(v)}
    if "content" in out:
        out["content"] = _content(out["content"])
    return out


def _param(name: str, value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if name == "tools" and isinstance(value, (list, tuple)):
        return [_block(t) for t in value]  # a tool's cache_control sits at its top level
    return value


def canonical_request(model: str, system: Any, messages: Any, params: dict | None, *,
                      scope: str | None = None) -> str:
    """The canonical JSON text that ``request_key`` hashes (useful to debug a miss)."""
    doc: dict[str, Any] = {"v": KEY_VERSION, "model": model,
                           "messages": [_message(m) for m in (messages or [])]}
    if scope is not None:  # absent when shared, so shared keys are unchanged
        doc["scope"] = scope
    if not _absent(system):
        doc["system"] = _content(system)
    doc["params"] = {k: _param(k, v) for k, v in (params or {}).items()
                     if k not in NEUTRAL_PARAMS and not _absent(v)}
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=_plain)


def request_key(model: str, system: Any, messages: Any, params: dict | None, *,
                scope: str | None = None) -> str:
    """SHA-256 hex (64 chars) of the canonical request in ``scope`` (a user; None: shared): equal, equal keys."""
    text = canonical_request(model, system, messages, params, scope=scope)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cacheable(params: dict | None, *, allow_sampling: bool = False) -> bool:
    """Whether a request's answer may be reused: only deterministic (greedy) requests.

    Anthropic's default temperature is 1.0, so a request that sets NO temperature is
    sampling too and is not cacheable unless ``allow_sampling``. Likewise temperature
    > 0, or any ``top_p``/``top_k``. ``allow_sampling=True`` accepts them all (the
    caller is fine with replaying one sample of a random answer).
    """
    if allow_sampling:
        return True
    params = params or {}
    temperature = params.get("temperature")
    if _absent(temperature):
        return False  # API default 1.0: sampling
    try:
        if float(temperature) > 0:
            return False
    except (TypeError, ValueError):
        return False
    return _absent(params.get("top_p")) and _absent(params.get("top_k"))
