"""Tool use through the real SDK against the simulator: the choice rule, schema-built input, streams, the loop, 400s."""

from __future__ import annotations

import json
import re

import anthropic
import pytest

from tests.integration.conftest import without_id

MODEL = "claude-haiku-5-5"
WEATHER = {"name": "get_weather", "description": "Weather for a city.",
           "input_schema": {"type": "object", "required": ["city", "unit", "days", "alerts", "hours", "where"],
                            "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]},
                                           "days": {"type": "integer", "minimum": 3}, "alerts": {"type": "boolean"},
                                           "hours": {"type": "array", "items": {"type": "number"}},
                                           "where": {"type": "object", "required": ["country"],
                                                     "properties": {"country": {"type": "string"},
                                                                    "zip": {"type": "string"}}},
                                           "note": {"type": "string"}}}}
CLOCK = {"name": "world-clock", "input_schema": {"type": "object", "properties": {}}}
ASK = "Please use get_weather to check Copenhagen"
EXPECTED_INPUT = {"city": "Copenhagen", "unit": "celsius", "days": 3, "alerts": True, "hours": [1],
                  "where": {"country": "Copenhagen"}}
ID = re.compile(r"^toolu_01[0-9A-Za-z]{22}$")

pytestmark = pytest.mark.usefixtures("fresh_sim")


def ask(text=ASK):
    return [{"role": "user", "content": text}]


def create(sdk, messages=None, tools=(WEATHER, CLOCK), max_tokens=300, **kw):
    return sdk.messages.create(model=MODEL, max_tokens=max_tokens, messages=messages or ask(),
                               tools=list(tools), **kw)


def test_auto_uses_the_named_tool_after_a_short_text(sdk):
    msg = create(sdk)
    text, use = msg.content
    assert text.type == "text" and "get_weather" in text.text
    assert use.type == "tool_use" and use.name == "get_weather" and ID.match(use.id)
    assert use.input == EXPECTED_INPUT  # required fields only, each by the schema rule
    assert msg.stop_reason == "tool_use" and msg.stop_sequence is None
    assert create(sdk).content[1].id == use.id  # deterministic per request


def test_a_name_matches_in_any_case_and_with_spaces_for_separators(sdk):
    assert create(sdk, ask("what does the WORLD CLOCK say?")).content[1].name == "world-clock"
    plain = create(sdk, ask("what is the weather like?"))  # names no tool
    assert [b.type for b in plain.content] == ["text"] and plain.stop_reason == "end_turn"


def test_forced_choices_use_the_tool_without_text(sdk):
    forced = create(sdk, ask("hello"), tool_choice={"type": "tool", "name": "world-clock"})
    assert [b.type for b in forced.content] == ["tool_use"] and forced.content[0].name == "world-clock"
    assert forced.content[0].input == {}
    first = create(sdk, ask("hello"), tool_choice={"type": "any", "disable_parallel_tool_use": True})
    assert [(b.type, b.name) for b in first.content] == [("tool_use", "get_weather")]
    assert first.content[0].input["city"] == "hello"
    never = create(sdk, tool_choice={"type": "none"})
    assert [b.type for b in never.content] == ["text"] and never.stop_reason == "end_turn"


@pytest.mark.parametrize("choice", [None, {"type": "any"}])
def test_stream_helper_rebuilds_the_plain_message(sdk, choice):
    kw = {"tool_choice": choice} if choice else {}
    plain = create(sdk, **kw)
    with sdk.messages.stream(model=MODEL, max_tokens=300, messages=ask(), tools=[WEATHER, CLOCK], **kw) as s:
        events = list(s)
        final = s.get_final_message()
    assert without_id(final) == without_id(plain)
    json_deltas = [e.delta.partial_json for e in events
                   if e.type == "content_block_delta" and e.delta.type == "input_json_delta"]
    assert json_deltas[0] == "" and len(json_deltas) > 2  # the API opens with an empty chunk
    assert json.loads("".join(json_deltas)) == EXPECTED_INPUT


def test_two_turn_tool_loop(sdk):
    first = create(sdk)
    use = first.content[-1]
    turns = [*ask(), {"role": "assistant", "content": [b.to_dict() for b in first.content]},
             {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                           "content": [{"type": "text", "text": "12 C and windy"}]}]}]
    final = create(sdk, turns)
    assert [b.type for b in final.content] == ["text"] and final.stop_reason == "end_turn"
    assert final.content[0].text.startswith('The get_weather tool returned "12 C and windy".')
    turns[-1]["content"][0] = {"type": "tool_result", "tool_use_id": use.id, "content": "no network",
                               "is_error": True}
    with sdk.messages.stream(model=MODEL, max_tokens=300, messages=turns, tools=[WEATHER]) as s:
        text = "".join(s.text_stream)
    assert text.startswith('The get_weather tool failed with "no network".')
    assert final.usage.input_tokens > first.usage.input_tokens


def test_a_tool_result_may_hold_a_tool_reference_a_message_may_not(sdk):
    first = create(sdk)
    use = first.content[-1]
    ref = {"type": "tool_reference", "tool_name": "world-clock"}
    turns = [*ask(), {"role": "assistant", "content": [b.to_dict() for b in first.content]},
             {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": [ref]}]}]
    assert create(sdk, turns).stop_reason == "end_turn"
    bad(sdk, "Input tag 'tool_reference'", messages=[{"role": "user", "content": [ref]}])


def test_output_tokens_count_the_tool_call(sdk):
    msg = create(sdk, tool_choice={"type": "tool", "name": "get_weather"})
    small = create(sdk, tool_choice={"type": "tool", "name": "world-clock"})
    assert msg.usage.output_tokens > small.usage.output_tokens >= 1
    cut = create(sdk, max_tokens=3)  # the preamble text fits; the tool call does not
    assert cut.stop_reason == "max_tokens" and [b.type for b in cut.content] == ["text"]


def test_tools_count_toward_input_and_count_tokens(sdk):
    with_tools = sdk.messages.count_tokens(model=MODEL, messages=ask(), tools=[WEATHER, CLOCK])
    without = sdk.messages.count_tokens(model=MODEL, messages=ask())
    assert with_tools.input_tokens > without.input_tokens + 300
    assert create(sdk).usage.input_tokens == with_tools.input_tokens


def bad(sdk, match, **kw):
    with pytest.raises(anthropic.BadRequestError, match=match) as err:
        create(sdk, **kw)
    assert err.value.body["error"]["type"] == "invalid_request_error"


def test_a_tool_use_without_its_result_is_refused(sdk):
    first = create(sdk)
    turns = [*ask(), {"role": "assistant", "content": [b.to_dict() for b in first.content]},
             {"role": "user", "content": "never mind"}]
    bad(sdk, "`tool_use` ids were found without `tool_result` blocks immediately after", messages=turns)


def test_a_result_for_no_tool_use_is_refused(sdk):
    turns = [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_01nothing",
                                           "content": "42"}]}]
    bad(sdk, "unexpected `tool_use_id` found in `tool_result` blocks: toolu_01nothing", messages=turns)


@pytest.mark.parametrize(("tools", "choice", "match"), [
    ([WEATHER], {"type": "tool", "name": "get_time"}, "Tool 'get_time' not found"),
    ([WEATHER, {**WEATHER}], None, "Tool names must be unique"),
    ([{**WEATHER, "name": "get weather"}], None, "String should match pattern"),
    ([{**WEATHER, "name": "x" * 129}], None, "String should match pattern"),
    ([{"name": "f"}], None, "input_schema: Field required"),
    ([{"name": "f", "input_schema": {"type": "array"}}], None, "input_schema.type: Input should be 'object'"),
    ([{"type": "web_search_20250305", "name": "search"}], None, "name: Input should be 'web_search'"),
    ([{"type": "telepathy_20990101", "name": "t"}], None, "does not match any of the expected tags"),
    ([WEATHER], {"type": "maybe"}, "tool_choice.type"),
])
def test_bad_tools_and_tool_choices_are_refused(sdk, tools, choice, match):
    kw = {"tool_choice": choice} if choice else {}
    bad(sdk, match, tools=tools, **kw)


def test_a_forced_choice_without_tools_is_refused(sdk):
    bad(sdk, "tool_choice may only be specified while providing tools", tools=(),
        tool_choice={"type": "any"})


def test_server_tools_are_accepted_and_their_blocks_come_back_in_a_later_turn(sdk):
    tools = [{"type": "web_search_20250305", "name": "web_search", "max_uses": 2},
             {"type": "web_fetch_20250910", "name": "web_fetch"},
             {"type": "code_execution_20250825", "name": "code_execution"}]
    first = create(sdk, ask("Please web search for simulator pricing"), tools=tools)
    assert [b.type for b in first.content] == ["text", "server_tool_use", "web_search_tool_result", "text"]
    turns = [*ask("Please web search for simulator pricing"),
             {"role": "assistant", "content": [b.to_dict() for b in first.content]},
             {"role": "user", "content": "Thanks. And in one line?"}]
    again = create(sdk, turns, tools=tools)
    assert [b.type for b in again.content] == ["text"] and again.usage.server_tool_use is None
    ran = create(sdk, ask("hello"), tools=tools[2:], tool_choice={"type": "any"})  # code execution is not run
    assert [b.type for b in ran.content] == ["text"] and ran.stop_reason == "end_turn"
