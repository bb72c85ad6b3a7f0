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
  costs a miss, never a wrong hit. Tools, ``tool_choice``, ``thinking`` and attachments
  (they sit in the messages) are in it like any other. Of ``extra_headers`` only
  ``anthropic-beta`` is (a beta can change the answer); other headers never are.
* The model is taken as given: pass the resolved model id, not an alias.
* Scope: with a ``scope`` (the client passes the user, ``TOLLGATE_CACHE_SCOPE=user``, the
  default) only requests of that same scope share a key, so one user's prompt and answer are
  never served to another; ``scope=None`` (``shared``) lets every caller share. The scope
  follows the JSON on a line of its own, so the request is serialised and hashed once and
  the scope only extends that hash.
* One pass: ``digest_request`` builds the canonical text once per call; the prompt hash on
  the ledger row is its SHA-256, the cache key extends that hash with the scope, and the same
  walk notes whether any block carries ``cache_control`` (a prompt-cache write may be billed).
"""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal
from typing import Any

KEY_VERSION = 2  # 2: the scope follows the JSON instead of sitting in it

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


def _block(block: Any, marks: list) -> Any:
    """One content block without cache_control or None fields; nested content normalised.

    A ``cache_control`` marker found on the way is appended to ``marks`` (the caller's flag).
    """
    if hasattr(block, "model_dump"):
        block = block.model_dump(mode="json", exclude_none=True)
    if not isinstance(block, dict):
        return block
    out = {}
    for k, v in block.items():
        if k == "cache_control":
            if not _absent(v):
                marks.append(True)
        elif not _absent(v):
            out[k] = v
    if "content" in out:  # tool_result blocks carry a string or a list of blocks
        out["content"] = _content(out["content"], marks)
    return out


def _content(content: Any, marks: list) -> Any:
    """A string becomes one text block; a list has each block normalised."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if isinstance(content, (list, tuple)):
        return [_block(b, marks) for b in content]
    return content


def _message(message: Any, marks: list) -> Any:
    if hasattr(message, "model_dump"):
        message = message.model_dump(mode="json", exclude_none=True)
    if not isinstance(message, dict):
        return message
    out = {k: v for k, v in message.items() if not _absent(v)}
    if "content" in out:
        out["content"] = _content(out["content"], marks)
    return out


def _param(name: str, value: Any, marks: list) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if name == "tools" and isinstance(value, (list, tuple)):
        return [_block(t, marks) for t in value]  # a tool's cache_control sits at its top level
    if name == "cache_control" and not _absent(value):  # a request-wide marker
        marks.append(True)
    return value


def _document(model: str, system: Any, messages: Any, params: dict | None, marks: list) -> dict:
    """The request as the API reads it, minus what cannot change the answer (one walk)."""
    doc: dict[str, Any] = {"v": KEY_VERSION, "model": model,
                           "messages": [_message(m, marks) for m in (messages or [])]}
    if not _absent(system):
        doc["system"] = _content(system, marks)
    doc["params"] = {k: _param(k, v, marks) for k, v in (params or {}).items()
                     if k not in NEUTRAL_PARAMS and not _absent(v)}
    headers = (params or {}).get("extra_headers")
    if headers:
        betas = [v for k, v in headers.items() if isinstance(k, str) and k.lower() == "anthropic-beta" and v]
        if betas:
            doc["params"]["anthropic-beta"] = betas
    return doc


class RequestDigest:
    """One request serialised once: its canonical text, SHA-256 and prompt-cache flag."""

    __slots__ = ("_hash", "cache_marked", "keyable", "sha256", "text")

    def __init__(self, text: str, cache_marked: bool, keyable: bool = True) -> None:
        self.text, self.cache_marked, self.keyable = text, cache_marked, keyable
        self._hash = hashlib.sha256(text.encode("utf-8", "surrogatepass"))
        self.sha256 = self._hash.hexdigest()  # the prompt hash on the ledger row

    def key(self, scope: str | None = None) -> str | None:
        """The cache key in ``scope`` (a user; None: shared), or None when the request cannot be keyed."""
        if not self.keyable:
            return None
        if scope is None:
            return self.sha256
        scoped = self._hash.copy()  # the text is hashed once; the scope only extends it
        scoped.update(b"\n" + scope.encode("utf-8", "surrogatepass"))
        return scoped.hexdigest()


def digest_request(model: str, system: Any, messages: Any, params: dict | None) -> RequestDigest:
    """Walk and serialise the request once (canonical JSON: sorted keys, compact, unescaped Unicode).

    A value JSON cannot hold is written by its ``str`` and the request gets no cache key: it
    still has a prompt hash, and a miss is the worst it costs.
    """
    marks: list = []
    doc = _document(model, system, messages, params, marks)
    try:
        return RequestDigest(_dumps(doc, _plain), bool(marks))
    except (TypeError, ValueError, RecursionError):
        try:
            text = _dumps(doc, str)
        except (TypeError, ValueError, RecursionError):
            text = f"<unserialisable {type(messages).__name__}>"
        return RequestDigest(text, bool(marks), keyable=False)


def _dumps(doc: dict, default) -> str:
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=default)


def marks_cache(body: dict) -> bool:
    """Whether any block of a request body carries ``cache_control`` (walked, never searched as text)."""
    marks: list = []
    _document(body.get("model", ""), body.get("system"), body.get("messages"),
              {k: v for k, v in body.items() if k not in ("model", "system", "messages")}, marks)
    return bool(marks)


def canonical_request(model: str, system: Any, messages: Any, params: dict | None, *,
                      scope: str | None = None) -> str:
    """The text that ``request_key`` hashes (useful to debug a miss): the JSON, then the scope's line."""
    text = digest_request(model, system, messages, params).text
    return text if scope is None else f"{text}\n{scope}"


def request_key(model: str, system: Any, messages: Any, params: dict | None, *,
                scope: str | None = None) -> str:
    """SHA-256 hex (64 chars) of the canonical request in ``scope`` (a user; None: shared): equal, equal keys."""
    key = digest_request(model, system, messages, params).key(scope)
    if key is None:  # as before: a request JSON cannot hold has no key
        raise TypeError("cannot build a cache key from this request")
    return key


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
