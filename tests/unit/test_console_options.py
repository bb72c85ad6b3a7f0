"""The playground's tools editor, tool choice and thinking settings; its conversation's tool loop as data."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from core.console import conversation, options
from core.errors import ValidationError
from core.types import CallResult, Usage


def test_the_example_tool_is_valid_and_offers_its_name_as_a_choice():
    tools = options.parse_tools(options.EXAMPLE_TOOLS)
    assert [t["name"] for t in tools] == ["get_weather"]
    assert options.choice_labels(tools) == ["auto", "any", "none", "tool: get_weather"]
    assert options.tool_choice("tool: get_weather", tools) == {"type": "tool", "name": "get_weather"}
    assert options.tool_choice("any", tools) == {"type": "any"}


def test_one_tool_object_alone_is_taken_as_a_list_of_one():
    tool = {"name": "lookup", "input_schema": {"type": "object", "properties": {}}}
    assert options.parse_tools(json.dumps(tool)) == [tool]


@pytest.mark.parametrize(("text", "says"), [
    ('[{"name": "x", }]', "Tools are not valid JSON: Expecting property name enclosed in double quotes at line 1"),
    ("[]", "must be a JSON list of tool objects"),
    ('"get_weather"', "must be a JSON list of tool objects"),
    ("[1]", "Tool 1 is not a JSON object"),
    ('[{"name": "has space", "input_schema": {"type": "object"}}]', "Tool 1's name must be 1-64 letters"),
    ('[{"input_schema": {"type": "object"}}]', "Tool 1's name must be"),
    ('[{"name": "a", "input_schema": {"type": "object"}}, {"name": "a", "input_schema": {"type": "object"}}]',
     "Two tools are named a"),
    ('[{"name": "a"}]', "Tool a needs an input_schema that is a JSON Schema object"),
    ('[{"name": "a", "input_schema": {"type": "string"}}]', "Tool a needs an input_schema"),
    ('[{"name": "a", "input_schema": {"type": "object"}, "description": 5}]', "tools[0].description"),
])
def test_a_bad_tool_is_refused_with_what_to_fix(text, says):
    with pytest.raises(ValidationError) as exc:
        options.parse_tools(text)
    assert says in exc.value.message and exc.value.field == "tools"


def test_thinking_runs_at_temperature_one_and_needs_room_below_max_tokens():
    params = options.request_params(temperature=0.0, max_tokens=4096, thinking_budget=2048)
    assert params == {"temperature": 1.0, "thinking": {"type": "enabled", "budget_tokens": 2048}}
    with pytest.raises(ValidationError, match=r"thinking budget \(2,048\) must be below max output tokens \(1,024\)"):
        options.request_params(temperature=1.0, max_tokens=1024, thinking_budget=2048)
    with pytest.raises(ValidationError, match="at least 1,024"):
        options.thinking(512, 4096)


def test_thinking_allows_only_auto_or_none_tool_choice():
    tools = options.parse_tools(options.EXAMPLE_TOOLS)
    ok = options.request_params(temperature=0.5, max_tokens=4096, tools=tools, choice="auto", thinking_budget=1024)
    assert ok["tool_choice"] == {"type": "auto"} and ok["tools"] == tools
    with pytest.raises(ValidationError, match="only be auto or none"):
        options.request_params(temperature=0.5, max_tokens=4096, tools=tools, choice="any", thinking_budget=1024)
    assert options.request_params(temperature=0.5, max_tokens=100) == {"temperature": 0.5}


TOOL_USE = {"type": "tool_use", "id": "toolu_01abc", "name": "get_weather", "input": {"city": "Paris"}}


def _answer(content, stop="end_turn"):
    r = CallResult(text="".join(b.get("text", "") for b in content if b["type"] == "text"), model="claude-haiku-5-5",
                   usage=Usage(input_tokens=5, output_tokens=3), cost_usd=Decimal("0.000002"), price_version="v",
                   stop_reason=stop, content=content)
    return r


def test_a_tool_loop_resends_the_assistants_blocks_then_the_tool_results():
    turns = [conversation.user_turn("Weather in Paris?"),
             conversation.from_result(_answer([{"type": "text", "text": "Let me check."}, TOOL_USE], "tool_use"))]
    assert conversation.pending_tool_uses(turns) == [TOOL_USE]
    results = conversation.tool_results([("toolu_01abc", "18 °C, sunny", False)])
    assert results == [{"type": "tool_result", "tool_use_id": "toolu_01abc", "content": "18 °C, sunny"}]
    turns.append(conversation.user_turn("", results))
    assert conversation.pending_tool_uses(turns) == [TOOL_USE]  # not answered yet
    turns.append(conversation.from_result(_answer([{"type": "text", "text": "It is 18 °C."}])))
    assert conversation.pending_tool_uses(turns) == []
    assert conversation.messages(turns) == [
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": [{"type": "text", "text": "Let me check."}, TOOL_USE]},
        {"role": "user", "content": results},
        {"role": "assistant", "content": [{"type": "text", "text": "It is 18 °C."}]}]
    assert conversation.tool_results([("t", "boom", True)])[0]["is_error"] is True


def test_a_failed_turn_is_not_resent_and_a_tool_call_stays_pending():
    turns = [conversation.user_turn("Weather?"), conversation.from_result(_answer([TOOL_USE], "tool_use")),
             conversation.user_turn("", conversation.tool_results([("toolu_01abc", "x", False)])),
             conversation.Turn("error", "Overloaded")]
    assert len(conversation.messages(turns)) == 2
    assert conversation.pending_tool_uses(turns) == [TOOL_USE]


def test_attachments_go_before_the_text_and_exports_leave_their_data_out():
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "QUJD" * 1000}}
    turn = conversation.user_turn("What is this?", [image])
    assert turn.api_content() == [image, {"type": "text", "text": "What is this?"}]
    exported = conversation.to_json([turn], user="bob", system=None)
    assert "QUJD" not in exported and "4,000 characters of base64 left out" in exported
    md = conversation.to_markdown([turn, conversation.from_result(_answer(
        [{"type": "thinking", "thinking": "Hmm", "signature": "sig"}, TOOL_USE], "tool_use"))],
        user="bob", system=None)
    assert "QUJD" not in md and "*Attached image*" in md and "*Thinking*" in md and '"city": "Paris"' in md


def test_media_is_found_anywhere_in_the_conversation():
    doc = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "x"}}
    assert conversation.has_media([{"role": "user", "content": "hi"}, {"role": "user", "content": [doc]}])
    assert conversation.has_media([{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t", "content": [doc]}]}])
    assert not conversation.has_media([{"role": "user", "content": [{"type": "text", "text": "hi"}]}])
