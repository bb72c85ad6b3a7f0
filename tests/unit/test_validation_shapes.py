"""Message shapes checked against the SDK's own param types: every current block passes, bad shapes name their path."""

from __future__ import annotations

import pytest

from core.catalog.models import default_catalogue
from core.errors import ValidationError
from core.guards.validation import ValidationPolicy, validate

CAT = default_catalogue()
SECRET = "zebra-quartz-ledger"  # must never show in an error message

IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
CURRENT_BLOCKS = [
    {"type": "text", "text": f"read this {SECRET}", "cache_control": {"type": "ephemeral", "ttl": "1h"}},
    IMAGE,
    {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}},
    {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "a memo"}, "title": "memo"},
    {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0="}},
    {"type": "document", "source": {"type": "file", "file_id": "file_011"}},
    {"type": "search_result", "source": "https://example.com", "title": "hit",
     "content": [{"type": "text", "text": "found"}]},
    {"type": "container_upload", "file_id": "file_012"},
    {"type": "tool_result", "tool_use_id": "toolu_1", "content": [
        {"type": "text", "text": "42"}, IMAGE,
        {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "d"}}]},
    {"type": "tool_result", "tool_use_id": "toolu_2", "content": "plain result", "is_error": True},
]
ASSISTANT_BLOCKS = [
    {"type": "thinking", "thinking": "let me see", "signature": "sig"},
    {"type": "redacted_thinking", "data": "opaque"},
    {"type": "text", "text": "calling a tool"},
    {"type": "tool_use", "id": "toolu_1", "name": "calc", "input": {"x": 1}},
    {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"query": "q"}},
]


def ok(messages, **kw):
    kw.setdefault("max_tokens", 100)
    return validate("claude-sonnet-5-5", messages, catalogue=CAT, policy=ValidationPolicy(), **kw)


def refused(messages=None, **kw) -> ValidationError:
    messages = messages if messages is not None else [{"role": "user", "content": f"hi {SECRET}"}]
    with pytest.raises(ValidationError) as err:
        ok(messages, **kw)
    assert SECRET not in err.value.message and "\n" not in err.value.message
    return err.value


@pytest.mark.parametrize("block", CURRENT_BLOCKS, ids=lambda b: b["type"])
def test_every_current_user_block_passes(block):
    assert ok([{"role": "user", "content": [block]}]).model == "claude-sonnet-5-5"


def test_assistant_thinking_tool_use_and_server_blocks_pass():
    v = ok([{"role": "user", "content": "go"}, {"role": "assistant", "content": ASSISTANT_BLOCKS},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "2"}]}])
    assert len(v.messages) == 3


def test_unknown_new_fields_pass_through_unchanged():
    block = {"type": "text", "text": "hi", "a_field_of_next_year": {"deep": [1, 2]}}
    v = ok([{"role": "user", "content": [block]}])
    assert v.messages[0]["content"][0] is block and "a_field_of_next_year" in block


@pytest.mark.parametrize(("block", "field", "words"), [
    ({"type": "document"}, "messages[0].content", "messages[0].content[0] (document) needs 'source'"),
    ({"type": "document", "source": {"type": "text", "media_type": "text/html", "data": "x"}},
     "messages[0].content", "messages[0].content[0].source.media_type is not valid: input should be 'text/plain'"),
    ({"type": "thinking", "thinking": "x"}, "messages[0].content", "(thinking) needs 'signature'"),
    ({"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "2h"}},
     "messages[0].content", "messages[0].content[0].cache_control.ttl is not valid"),
    ({"type": "image", "source": {"type": "base64", "media_type": "image/png"}},
     "messages[0].content", "messages[0].content[0].source needs 'data'"),
    ({"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": 5}]},
     "messages[0].content[0].content", "messages[0].content[0].content[0] (text) needs 'text' as the API defines it"),
    ({"type": "tool_result", "tool_use_id": "t", "content": [{"type": "thinking"}]},
     "messages[0].content[0].content", "must be a block of type text, image, search_result, document"),
    ({"type": "text", "text": 7}, "messages[0].content", "(text) needs 'text'"),
    ({"text": "no type"}, "messages[0].content", "messages[0].content[0] must be an object with a 'type'"),
    ({"type": "audio", "data": SECRET}, "messages[0].content", "thinking, redacted_thinking, tool_use, tool_result"),
])
def test_bad_block_shapes_name_the_path(block, field, words):
    err = refused([{"role": "user", "content": [block]}])
    assert err.field == field and words in err.message, err.message


def test_system_blocks_follow_the_sdk_text_block():
    assert ok([{"role": "user", "content": "hi"}],
              system=[{"type": "text", "text": "be brief", "cache_control": {"type": "ephemeral"}}]).system
    err = refused(system=[{"type": "text", "text": "x", "cache_control": {"type": "forever"}}])
    assert err.field == "system" and "system[0].cache_control.type is not valid" in err.message


@pytest.mark.parametrize("tools", [
    [{"name": "calc", "input_schema": {"type": "object", "properties": {}}}],
    [{"type": "custom", "name": "calc", "input_schema": {"type": "object"}, "description": "adds"}],
    [{"type": "web_search_20250305", "name": "web_search", "max_uses": 3}],
])
def test_tools_of_the_sdk_pass(tools):
    assert ok([{"role": "user", "content": "hi"}], params={"tools": tools, "tool_choice": {"type": "auto"}})


@pytest.mark.parametrize(("params", "field", "words"), [
    ({"tools": [{"name": "calc"}]}, "tools", "tools[0] needs 'input_schema'"),
    ({"tools": [{"type": "laser_20990101", "name": "x"}]}, "tools", "tools[0] must be a block of type custom, bash_"),
    ({"tools": {"name": "calc"}}, "tools", "tools is not valid: input should be a valid list"),
    ({"tool_choice": {"type": "tool"}}, "tool_choice", "tool_choice needs 'name'"),
    ({"tool_choice": {"type": "sometimes"}}, "tool_choice", "must be a block of type auto, any, tool, none"),
    ({"tool_choice": "auto"}, "tool_choice", "must be an object with a 'type'"),
])
def test_bad_tools_and_tool_choice_are_refused_with_their_path(params, field, words):
    err = refused(params=params)
    assert err.field == field and words in err.message, err.message


def test_own_checks_still_apply_inside_sdk_shaped_blocks():
    err = refused([{"role": "user", "content": [{"type": "document", "title": "bad\ud800",
                                                 "source": {"type": "text", "media_type": "text/plain", "data": "d"}}]}])
    assert "lone surrogate" in err.message and err.field == "messages[0].content[0].title"
    err = refused([{"role": "user", "content": [{"type": "text", "text": "bell\x07"}]}])
    assert "control character U+0007" in err.message


def test_a_path_through_odd_keys_never_quotes_them():
    block = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "d"},
             "citations": {"enabled": "very"}}
    err = refused([{"role": "user", "content": [block]}])
    assert "messages[0].content[0].citations.enabled" in err.message
    odd = {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "x",
                                                                    "cache_control": {"type": SECRET}}]}
    err = refused([{"role": "user", "content": [odd]}])
    assert err.field == "messages[0].content[0].content" and "cache_control.type" in err.message
