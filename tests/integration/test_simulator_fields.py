"""Web search, service tiers, inference_geo, stop sequences, unknown fields and stream faults across block types,
through the real SDK against the simulator."""

from __future__ import annotations

import json

import anthropic
import pytest

from tests.integration.conftest import without_id

MODEL = "claude-opus-5-5"
HELLO = [{"role": "user", "content": "Summarise our token spend for November, please."}]
SEARCH = [{"type": "web_search_20250305", "name": "web_search"}]
FIND = [{"role": "user", "content": "Please web search for the Tollgate price table"}]
LOOKUP = {"name": "lookup", "input_schema": {"type": "object", "required": ["q"],
                                             "properties": {"q": {"type": "string"}}}}

pytestmark = pytest.mark.usefixtures("fresh_sim")


def create(sdk, messages=HELLO, max_tokens=300, **kw):
    return sdk.messages.create(model=MODEL, max_tokens=max_tokens, messages=messages, **kw)


# --- web search ----------------------------------------------------------------------------

def test_web_search_gives_server_blocks_cited_text_and_a_count(sdk):
    msg = create(sdk, FIND, tools=SEARCH)
    pre, use, result, answer = msg.content
    assert pre.type == "text" and use.type == "server_tool_use" and use.name == "web_search"
    assert use.id.startswith("srvtoolu_01") and use.input == {"query": FIND[0]["content"]}
    assert result.type == "web_search_tool_result" and result.tool_use_id == use.id
    assert [r.type for r in result.content] == ["web_search_result"] * 2
    (c,) = answer.citations
    assert c.type == "web_search_result_location" and c.url == result.content[0].url and c.cited_text
    assert msg.stop_reason == "end_turn"
    assert (msg.usage.server_tool_use.web_search_requests, msg.usage.server_tool_use.web_fetch_requests) == (1, 0)


def test_streamed_web_search_rebuilds_the_plain_message(sdk):
    plain = create(sdk, FIND, tools=SEARCH, tool_choice={"type": "tool", "name": "web_search"})
    assert plain.content[0].type == "server_tool_use"  # forced: no text before it
    with sdk.messages.stream(model=MODEL, max_tokens=300, messages=FIND, tools=SEARCH,
                             tool_choice={"type": "tool", "name": "web_search"}) as s:
        final = s.get_final_message()
    assert without_id(final) == without_id(plain)
    assert final.usage.server_tool_use.web_search_requests == 1


def test_web_fetch_gets_the_prompts_url_as_a_document(sdk):
    tools = [{"type": "web_fetch_20250910", "name": "web_fetch"}]
    ask = [{"role": "user", "content": "Use web fetch on https://example.org/prices, then summarise."}]
    plain = create(sdk, ask, tools=tools)
    _, use, result, answer = plain.content
    assert (use.name, use.input) == ("web_fetch", {"url": "https://example.org/prices"})
    assert result.type == "web_fetch_tool_result" and result.content.url == "https://example.org/prices"
    assert result.content.content.source.data.startswith("Simulated page at https://example.org/prices.")
    assert answer.type == "text" and plain.stop_reason == "end_turn"
    assert (plain.usage.server_tool_use.web_fetch_requests, plain.usage.server_tool_use.web_search_requests) == (1, 0)
    with sdk.messages.stream(model=MODEL, max_tokens=300, messages=ask, tools=tools) as s:
        assert without_id(s.get_final_message()) == without_id(plain)


def test_no_search_no_server_tool_usage(sdk):
    assert create(sdk, tools=SEARCH).usage.server_tool_use is None


# --- tiers and residency ---------------------------------------------------------------------

def test_usage_reports_the_standard_tier_and_global_geo_by_default(sdk):
    u = create(sdk).usage
    assert (u.service_tier, u.inference_geo) == ("standard", "global")


@pytest.mark.filterwarnings("ignore:The model 'claude-opus-4-5' is deprecated:DeprecationWarning")
def test_inference_geo_us_is_reported_and_other_values_refused(sdk):
    assert create(sdk, inference_geo="us").usage.inference_geo == "us"
    with sdk.messages.stream(model=MODEL, max_tokens=20, messages=HELLO, inference_geo="us") as s:
        assert s.get_final_message().usage.inference_geo == "us"
    with pytest.raises(anthropic.BadRequestError, match="inference_geo"):
        create(sdk, inference_geo="eu")
    with pytest.raises(anthropic.BadRequestError, match="not supported for model claude-opus-4-5"):
        sdk.messages.create(model="claude-opus-4-5", max_tokens=20, messages=HELLO, inference_geo="us")


def test_the_priority_tier_when_the_simulator_is_told(sim, sdk):
    header = {"x-simulate-service-tier": "priority"}
    assert create(sdk, service_tier="auto", extra_headers=header).usage.service_tier == "priority"
    assert create(sdk, service_tier="standard_only", extra_headers=header).usage.service_tier == "standard"
    sim.configure(service_tier="batch")
    assert create(sdk).usage.service_tier == "batch"
    with pytest.raises(anthropic.BadRequestError, match="service_tier"):
        create(sdk, service_tier="priority")


# --- stop sequences --------------------------------------------------------------------------

def test_a_stop_sequence_in_the_preamble_drops_the_tool_call(sdk):
    msg = create(sdk, [{"role": "user", "content": "use lookup for Oslo"}], tools=[LOOKUP],
                 stop_sequences=["lookup"])
    assert msg.stop_reason == "stop_sequence" and msg.stop_sequence == "lookup"
    assert [b.type for b in msg.content] == ["text"] and msg.content[0].text == "I'll use the "


def test_a_stop_sequence_is_streamed_like_the_plain_reply(sdk):
    full = create(sdk).content[0].text
    word = full.split()[4]
    plain = create(sdk, stop_sequences=[word])
    with sdk.messages.stream(model=MODEL, max_tokens=300, messages=HELLO, stop_sequences=[word]) as s:
        final = s.get_final_message()
    assert without_id(final) == without_id(plain) and final.stop_sequence == word


# --- fields ----------------------------------------------------------------------------------

def test_an_unknown_top_level_field_is_refused_as_the_api_does(sdk):
    with pytest.raises(anthropic.BadRequestError, match="frobnicate: Extra inputs are not permitted"):
        create(sdk, extra_body={"frobnicate": True})
    with pytest.raises(anthropic.BadRequestError, match="max_tokens: Extra inputs are not permitted"):
        sdk.messages.count_tokens(model=MODEL, messages=HELLO, extra_body={"max_tokens": 5})


def test_every_declared_parameter_is_accepted(sdk):
    msg = create(sdk, metadata={"user_id": "user-7f3a"}, service_tier="auto", speed="standard",
                 stop_sequences=["zzz"], system=[{"type": "text", "text": "Be brief."}],
                 extra_body={"top_p": 0.9, "top_k": 40, "temperature": 0.2})
    assert msg.content[0].text


def test_beta_fields_are_known(sdk):
    ctx = {"edits": [{"type": "clear_tool_uses_20250919"}]}
    msg = sdk.beta.messages.create(model=MODEL, max_tokens=20, messages=HELLO, context_management=ctx)
    assert msg.content[0].text
    assert sdk.beta.messages.count_tokens(model=MODEL, messages=HELLO, context_management=ctx).input_tokens


@pytest.mark.parametrize(("messages", "match"), [
    ([{"role": "user", "content": [{"type": "text", "text": "hi", "colour": "red"}]}],
     "text.colour: Extra inputs are not permitted"),
    ([{"role": "user", "content": [{"type": "hologram"}]}], "Input tag 'hologram'"),
    ([{"role": "user", "content": "hi", "name": "ana"}], "messages.0.name: Extra inputs"),
])
def test_unknown_block_fields_and_types_are_refused(sdk, messages, match):
    with pytest.raises(anthropic.BadRequestError, match=match):
        create(sdk, messages)


def test_structured_output_answers_with_json_from_the_schema(sdk):
    schema = {"type": "object", "additionalProperties": False, "required": ["city", "score"],
              "properties": {"city": {"type": "string"}, "score": {"type": "number"}}}
    ask = [{"role": "user", "content": "Rate Copenhagen"}]
    msg = create(sdk, ask, output_config={"format": {"type": "json_schema", "schema": schema}, "effort": "low"})
    assert json.loads(msg.content[0].text) == {"city": "Copenhagen", "score": 1}
    with pytest.raises(anthropic.BadRequestError, match="output_config.format.type"):
        create(sdk, ask, output_config={"format": {"type": "yaml"}})
    with pytest.raises(anthropic.BadRequestError, match="output_config.effort"):
        create(sdk, ask, output_config={"effort": "extreme"})


def test_metadata_takes_only_a_user_id(sdk):
    with pytest.raises(anthropic.BadRequestError, match="metadata.email: Extra inputs"):
        create(sdk, metadata={"user_id": "u1", "email": "a@example.com"})


# --- stream faults on every block type --------------------------------------------------------

THINK = {"type": "enabled", "budget_tokens": 1024}


def stream_events(sdk, headers, **kw):
    return list(sdk.messages.create(model=MODEL, max_tokens=2000, stream=True, extra_headers=headers,
                                    messages=[{"role": "user", "content": "use lookup for Oslo"}],
                                    tools=[LOOKUP], **kw))


def test_truncate_counts_thinking_and_tool_deltas(sdk):
    whole = stream_events(sdk, {}, thinking=THINK)
    total = sum(e.type == "content_block_delta" for e in whole)
    got = stream_events(sdk, {"x-simulate-fault": "truncate", "x-simulate-after": str(total - 1)},
                        thinking=THINK)
    kinds = [e.type for e in got]
    assert kinds.count("content_block_delta") == total - 1 and "message_stop" not in kinds
    assert got[-1].type == "content_block_delta" and got[-1].delta.partial_json == ""  # cut inside the input


def test_an_error_event_mid_thinking(sdk):
    seen = []
    with pytest.raises(anthropic.APIStatusError) as info:
        for ev in sdk.messages.create(model=MODEL, max_tokens=2000, messages=HELLO, stream=True,
                                      thinking=THINK, extra_headers={"x-simulate-fault": "error-event",
                                                                     "x-simulate-after": "2"}):
            seen.append(ev)
    assert [e.delta.type for e in seen if e.type == "content_block_delta"] == ["thinking_delta"] * 2
    assert info.value.body["error"]["type"] == "overloaded_error"


def test_trickle_carries_a_tool_stream_whole(sdk):
    plain = stream_events(sdk, {})
    slow = stream_events(sdk, {"x-simulate-fault": "trickle", "x-simulate-hold-s": "0"})
    assert [e.type for e in slow] == [e.type for e in plain]
    assert slow[-2].delta.stop_reason == "tool_use"


def test_a_malformed_event_mid_tool_call(sdk):
    with pytest.raises(json.JSONDecodeError):
        stream_events(sdk, {"x-simulate-fault": "malformed-event", "x-simulate-after": "4"}, thinking=THINK)
    with pytest.raises(anthropic.InternalServerError):  # a status fault, whatever the blocks
        stream_events(sdk, {"x-simulate-fault": "500"}, thinking=THINK)
