"""One pass over a request: the canonical text, its hash, the scoped cache key and the prompt-cache flag."""

from __future__ import annotations

import hashlib

import pytest

from core.cache.keys import digest_request, marks_cache, request_key

MODEL = "claude-haiku-5-5"
PARAMS = {"max_tokens": 64, "temperature": 0}


def test_the_hash_is_of_the_canonical_text_and_the_shared_key_is_that_hash():
    msgs = [{"role": "user", "content": "naïve café"}]
    d = digest_request(MODEL, "Be brief.", msgs, PARAMS)
    assert "naïve café" in d.text and ": " not in d.text and ", " not in d.text
    assert d.sha256 == hashlib.sha256(d.text.encode("utf-8")).hexdigest()
    assert d.key(None) == d.sha256 == request_key(MODEL, "Be brief.", msgs, PARAMS)


def test_the_scoped_key_differs_per_user_and_matches_request_key():
    msgs = [{"role": "user", "content": "Same question"}]
    d = digest_request(MODEL, None, msgs, PARAMS)
    assert len({d.key("ana"), d.key("bob"), d.key(None)}) == 3
    assert d.key("ana") == request_key(MODEL, None, msgs, PARAMS, scope="ana")
    assert d.key("ana") == hashlib.sha256((d.text + "\nana").encode("utf-8")).hexdigest()


@pytest.mark.parametrize(("messages", "system", "params", "marked"), [
    ([{"role": "user", "content": "What does cache_control do?"}], None, {}, False),
    ([{"role": "user", "content": '{"cache_control": {"type": "ephemeral"}}'}], None, {}, False),
    ([{"role": "user", "content": "hi"}], None,
     {"tools": [{"name": "t", "input_schema": {"properties": {"cache_control": {"type": "string"}}}}]}, False),
    ([{"role": "assistant", "content": [{"type": "tool_use", "id": "tu_1", "name": "t",
                                         "input": {"cache_control": "on"}}]}], None, {}, False),
    ([{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}]}],
     None, {}, True),
    ([{"role": "user", "content": "hi"}], [{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
     {}, True),
    ([{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "tu_1", "content": [
        {"type": "text", "text": "42", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]}]}], None, {}, True),
    ([{"role": "user", "content": "hi"}], None,
     {"tools": [{"name": "t", "input_schema": {}, "cache_control": {"type": "ephemeral"}}]}, True),
    ([{"role": "user", "content": [{"type": "text", "text": "hi", "cache_control": None}]}], None, {}, False),
])
def test_only_a_block_that_carries_cache_control_marks_the_request(messages, system, params, marked):
    assert digest_request(MODEL, system, messages, {**PARAMS, **params}).cache_marked is marked
    body = {"model": MODEL, "messages": messages, **({"system": system} if system else {}), **PARAMS, **params}
    assert marks_cache(body) is marked


def test_a_value_json_cannot_hold_still_has_a_hash_but_no_key():
    d = digest_request(MODEL, None, [{"role": "user", "content": "hi"}], {**PARAMS, "weird": object()})
    assert len(d.sha256) == 64 and d.key("ana") is None and d.key(None) is None
    with pytest.raises(TypeError):
        request_key(MODEL, None, [{"role": "user", "content": "hi"}], {**PARAMS, "weird": object()})
