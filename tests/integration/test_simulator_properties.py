"""Property tests: for any mix of tools, thinking, media, citations and limits, the simulator's stream rebuilds its
plain reply through the SDK's own helper, and its usage adds up; arbitrary JSON bodies get a 4xx, never a 500."""

from __future__ import annotations

import http.client
import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.simulator.compose import MAGIC_REDACTED
from tests.integration.conftest import without_id
from tests.media import image_block, pdf, pdf_block, png, text_document

KEY = "sk-ant-test-fake-0000"
MODEL = "claude-sonnet-5-5"
SOME = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                       HealthCheck.too_slow])
LOOKUP = {"name": "lookup", "input_schema": {"type": "object", "required": ["q", "n"],
                                             "properties": {"q": {"type": "string"}, "n": {"type": "integer"}}}}
TOOLS = st.sampled_from([None, [LOOKUP], [LOOKUP, {"type": "web_search_20250305", "name": "web_search"}],
                         [{"type": "web_fetch_20250910", "name": "web_fetch"}]])
PROMPTS = st.sampled_from(["use lookup for Oslo", "please web search for prices", "web fetch https://example.com/a",
                           "What does it say?", f"{MAGIC_REDACTED} go", "Summarise, briefly."])
EXTRAS = st.lists(st.sampled_from([
    image_block(png(300, 200)), pdf_block(citations=True), pdf_block(pdf(["one", "two", "three"])),
    text_document("The sky is blue. Grass is green.", title="facts", citations=True),
    {"type": "search_result", "source": "kb://1", "title": "KB", "content": [{"type": "text", "text": "Yes."}],
     "citations": {"enabled": True}}]), max_size=3)
THINKING = st.sampled_from([None, {"type": "enabled", "budget_tokens": 1024}, {"type": "adaptive"},
                            {"type": "adaptive", "display": "omitted"}, {"type": "disabled"}])


@SOME
@given(tools=TOOLS, prompt=PROMPTS, extras=EXTRAS, thinking=THINKING, max_tokens=st.sampled_from([5, 30, 1500]),
       stop=st.sampled_from([[], ["the"], ["."]]), choice=st.sampled_from([None, "auto", "any", "none"]))
def test_the_stream_rebuilds_the_plain_reply(sdk, tools, prompt, extras, thinking, max_tokens, stop, choice):
    kw: dict = {"stop_sequences": stop}
    if tools:
        kw["tools"] = tools
        if choice:
            kw["tool_choice"] = {"type": choice}
    if thinking and not (thinking["type"] == "enabled" and max_tokens <= 1024) and kw.get(
            "tool_choice", {}).get("type") != "any":
        kw["thinking"] = thinking
    messages = [{"role": "user", "content": [*extras, {"type": "text", "text": prompt}]}]
    plain = sdk.messages.create(model=MODEL, max_tokens=max_tokens, messages=messages, **kw)
    with sdk.messages.stream(model=MODEL, max_tokens=max_tokens, messages=messages, **kw) as s:
        final = s.get_final_message()
    assert without_id(final) == without_id(plain)
    u = plain.usage
    assert 1 <= u.output_tokens <= max_tokens
    assert plain.stop_reason in ("end_turn", "max_tokens", "stop_sequence", "tool_use")
    if u.output_tokens_details is not None:
        assert u.output_tokens_details.thinking_tokens <= u.output_tokens
    used = [b.name for b in plain.content if b.type == "server_tool_use"]
    assert (u.server_tool_use is None) == (not used)
    counted = sdk.messages.count_tokens(model=MODEL, messages=messages, tools=kw.get("tools", []))
    assert counted.input_tokens == u.input_tokens


JSONISH = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                                 st.text(max_size=8)),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                                      max_size=3), max_leaves=10)
FIELDS = st.sampled_from(["tools", "tool_choice", "thinking", "system", "metadata", "stop_sequences", "cache_control",
                          "temperature", "top_k", "top_p", "inference_geo", "service_tier", "max_tokens", "messages"])


@SOME
@given(changes=st.dictionaries(FIELDS, JSONISH, max_size=3), block=JSONISH)
def test_arbitrary_bodies_get_an_api_error_not_a_500(fresh_sim, changes, block):
    body = {"model": MODEL, "max_tokens": 50,
            "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}, block]}], **changes}
    conn = http.client.HTTPConnection("127.0.0.1", fresh_sim.port, timeout=5)
    try:
        conn.request("POST", "/v1/messages", body=json.dumps(body), headers={"x-api-key": KEY})
        resp = conn.getresponse()
        status, data = resp.status, json.loads(resp.read())
    finally:
        conn.close()
    assert status in (200, 400, 404), data
    assert data["type"] == ("message" if status == 200 else "error")
