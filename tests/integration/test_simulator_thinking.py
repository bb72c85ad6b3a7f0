"""Extended thinking through the real SDK against the simulator: blocks, signatures, streams, tokens and the 400s."""

from __future__ import annotations

import http.client
import json

import anthropic
import pytest

from core.simulator.compose import MAGIC_REDACTED
from tests.integration.conftest import without_id

KEY = "sk-ant-test-fake-0000"
MODEL = "claude-opus-5-5"
HELLO = [{"role": "user", "content": "Summarise our token spend for November, please."}]
ENABLED = {"type": "enabled", "budget_tokens": 2048}

pytestmark = pytest.mark.usefixtures("fresh_sim")


def create(sdk, messages=HELLO, max_tokens=4000, **kw):
    return sdk.messages.create(model=MODEL, max_tokens=max_tokens, messages=messages, **kw)


@pytest.mark.parametrize("thinking", [ENABLED, {"type": "adaptive"}])
def test_a_thinking_block_with_a_signature_comes_first(sdk, thinking):
    msg = create(sdk, thinking=thinking)
    think, text = msg.content
    assert think.type == "thinking" and len(think.thinking.split()) >= 12 and len(think.signature) > 100
    assert text.type == "text" and text.text
    u = msg.usage
    assert u.output_tokens_details.thinking_tokens == len(think.thinking.split())
    assert u.output_tokens == u.output_tokens_details.thinking_tokens + len(text.text.split())
    assert create(sdk, thinking=thinking).content[0].signature == think.signature  # deterministic


def test_disabled_thinking_gives_plain_text(sdk):
    msg = create(sdk, thinking={"type": "disabled"})
    assert [b.type for b in msg.content] == ["text"] and msg.usage.output_tokens_details is None


def test_omitted_display_keeps_the_signature_and_the_bill(sdk):
    shown = create(sdk, thinking=ENABLED)
    hidden = create(sdk, thinking={**ENABLED, "display": "omitted"})
    assert hidden.content[0].thinking == "" and hidden.content[0].signature
    assert hidden.usage.output_tokens == shown.usage.output_tokens


def test_the_magic_string_gives_redacted_thinking(sdk):
    ask = [{"role": "user", "content": f"{MAGIC_REDACTED} Then answer briefly."}]
    msg = create(sdk, ask, thinking=ENABLED)
    assert [b.type for b in msg.content] == ["redacted_thinking", "text"] and msg.content[0].data
    with sdk.messages.stream(model=MODEL, max_tokens=4000, messages=ask, thinking=ENABLED) as s:
        final = s.get_final_message()
    assert without_id(final) == without_id(msg)
    assert [b.type for b in create(sdk, ask).content] == ["text"]  # no thinking asked: no block


def test_stream_sends_thinking_deltas_then_the_signature(sdk):
    plain = create(sdk, thinking=ENABLED)
    with sdk.messages.stream(model=MODEL, max_tokens=4000, messages=HELLO, thinking=ENABLED) as s:
        events = [e for e in s if e.type in ("content_block_start", "content_block_delta", "content_block_stop")]
        final = s.get_final_message()
    assert without_id(final) == without_id(plain)
    block0 = [e for e in events if e.index == 0]
    assert block0[0].type == "content_block_start" and block0[0].content_block.type == "thinking"
    kinds = [e.delta.type for e in block0 if e.type == "content_block_delta"]
    assert set(kinds[:-1]) == {"thinking_delta"} and kinds[-1] == "signature_delta"
    assert block0[-1].type == "content_block_stop"


def test_raw_event_order_for_thinking_text_and_a_tool(sim):
    body = {"model": MODEL, "max_tokens": 4000, "stream": True, "thinking": ENABLED,
            "messages": [{"role": "user", "content": "use lookup for Oslo"}],
            "tools": [{"name": "lookup", "input_schema": {"type": "object", "required": ["q"],
                                                          "properties": {"q": {"type": "string"}}}}]}
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    conn.request("POST", "/v1/messages", body=json.dumps(body), headers={"x-api-key": KEY})
    raw = conn.getresponse().read().decode()
    conn.close()
    events = [json.loads(line[6:]) for line in raw.splitlines() if line.startswith("data: ")]
    order, last = [], None
    for e in events:  # collapse runs of the same delta type
        label = e["type"] + (":" + e["delta"]["type"] if e["type"] == "content_block_delta" else "") + (
            ":" + e["content_block"]["type"] if e["type"] == "content_block_start" else "")
        if label != last:
            order.append(label)
        last = label
    assert order == ["message_start", "content_block_start:thinking", "ping", "content_block_delta:thinking_delta",
                     "content_block_delta:signature_delta", "content_block_stop", "content_block_start:text",
                     "content_block_delta:text_delta", "content_block_stop", "content_block_start:tool_use",
                     "content_block_delta:input_json_delta", "content_block_stop", "message_delta", "message_stop"]
    assert events[-2]["delta"]["stop_reason"] == "tool_use"
    assert events[-2]["usage"]["output_tokens_details"]["thinking_tokens"] > 0


def test_thinking_counts_against_max_tokens(sdk):
    msg = create(sdk, max_tokens=10, thinking={"type": "adaptive"})
    assert msg.stop_reason == "max_tokens" and [b.type for b in msg.content] == ["thinking"]
    assert msg.usage.output_tokens == 10 == len(msg.content[0].thinking.split())


@pytest.mark.parametrize(("kw", "match"), [
    ({"thinking": {"type": "enabled", "budget_tokens": 1023}}, "greater than or equal to 1024"),
    ({"thinking": {"type": "enabled", "budget_tokens": 4000}}, "`max_tokens` must be greater than"),
    ({"thinking": {"type": "enabled"}}, "budget_tokens: Field required"),
    ({"thinking": {"type": "deep"}}, "thinking.type"),
    ({"thinking": ENABLED, "extra_body": {"temperature": 0.5}}, "`temperature` may only be set to 1"),
    ({"thinking": ENABLED, "extra_body": {"top_k": 5}}, "`top_k` must be unset"),
    ({"thinking": ENABLED, "extra_body": {"top_p": 0.5}}, "`top_p` must be greater than or equal to 0.95"),
    ({"thinking": ENABLED, "tools": [{"name": "f", "input_schema": {"type": "object"}}],
      "tool_choice": {"type": "any"}}, "Thinking may not be enabled when tool_choice forces tool use"),
])
def test_bad_thinking_requests_are_refused(sdk, kw, match):
    with pytest.raises(anthropic.BadRequestError, match=match):
        create(sdk, **kw)


def test_thinking_with_temperature_one_and_high_top_p_is_accepted(sdk):
    msg = create(sdk, thinking=ENABLED, extra_body={"temperature": 1, "top_p": 0.95})
    assert msg.content[0].type == "thinking"


def test_a_tool_loop_with_thinking_needs_the_thinking_block_sent_back(sdk):
    tools = [{"name": "lookup", "input_schema": {"type": "object", "required": ["q"],
                                                 "properties": {"q": {"type": "string"}}}}]
    ask = [{"role": "user", "content": "use lookup for Oslo"}]
    first = create(sdk, ask, thinking=ENABLED, tools=tools)
    assert [b.type for b in first.content] == ["thinking", "text", "tool_use"]
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": first.content[-1].id,
                                           "content": "sunny"}]}
    kept = [*ask, {"role": "assistant", "content": [b.to_dict() for b in first.content]}, result]
    final = create(sdk, kept, thinking=ENABLED, tools=tools)
    assert [b.type for b in final.content] == ["thinking", "text"] and '"sunny"' in final.content[1].text
    stripped = [*ask, {"role": "assistant", "content": [b.to_dict() for b in first.content[1:]]}, result]
    with pytest.raises(anthropic.BadRequestError, match="Expected `thinking` or `redacted_thinking`, but found `text`"):
        create(sdk, stripped, thinking=ENABLED, tools=tools)
    assert create(sdk, stripped, tools=tools).content[0].type == "text"  # without thinking: fine
