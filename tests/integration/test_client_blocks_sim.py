"""Every block and event kind through the guard, streamed and not, against the simulator via the real SDK.

For each request the streamed call (events accumulated by the SDK's helper) and the plain call must
agree on the whole message: content, stop reason and sequence, usage as reported, and an exact cost.
"""

from __future__ import annotations

import pytest

from tests.integration.test_client_tools_sim import MODEL, WEATHER, priced_exactly
from tests.media import image_block, pdf_block, png, text_document

SEARCH = {"type": "search_result", "source": "https://example.com/kb/7", "title": "Opening hours",
          "content": [{"type": "text", "text": "The Paris office opens at nine."}], "citations": {"enabled": True}}
CONTENT_DOC = {"type": "document", "title": "hours", "citations": {"enabled": True}, "source": {
    "type": "content", "content": [{"type": "text", "text": "Paris opens at nine."},
                                   {"type": "text", "text": "Lyon opens at ten."}]}}


def user(*blocks, text="When does Paris open?"):
    return [{"role": "user", "content": [*blocks, {"type": "text", "text": text}]}]


CASES = {
    "tool_use": dict(prompt="Call get_weather for Marseille.", tools=[WEATHER]),
    "forced tool": dict(prompt="Weather?", tools=[WEATHER], tool_choice={"type": "any"}),
    "thinking": dict(prompt="Why is the sky blue?", thinking={"type": "enabled", "budget_tokens": 1024},
                     max_tokens=2048),
    "adaptive thinking and a tool": dict(prompt="Call get_weather for Marseille.", tools=[WEATHER],
                                         thinking={"type": "adaptive"}, max_tokens=2048),
    "text document citations": dict(messages=user(text_document("Paris opens at nine.", citations=True))),
    "content document citations": dict(messages=user(CONTENT_DOC)),
    "search_result citations": dict(messages=user(SEARCH)),
    "pdf page citations": dict(messages=user(pdf_block(citations=True), text="What does page two say?")),
    "images, base64 and url": dict(messages=user(image_block(png(300, 200)), {
        "type": "image", "source": {"type": "url", "url": "https://example.com/chart.png"}}, text="Compare them.")),
    "web search": dict(prompt="Use web search to find the Tollgate release notes.",
                       tools=[{"type": "web_search_20250305", "name": "web_search"}]),
    "stop sequence": dict(prompt="Tell me about the ledger.", stop_sequences=["the", "The", "a"]),
    "service tier and geo": dict(prompt="Hello", service_tier="auto", inference_geo="global",
                                 metadata={"user_id": "user-7f3a"}),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_streamed_and_plain_calls_agree_on_the_whole_message(make_client, case):
    client = make_client()
    kw = {k: v for k, v in case.items() if k != "prompt"}
    plain = client.create(case.get("prompt"), user="ana", model=MODEL, **kw)
    s = client.stream(case.get("prompt"), user="ana", model=MODEL, **kw)
    events = list(s.events())
    streamed = s.result
    assert events[0].type == "message_start" and events[-1].type == "message_stop"
    assert all(e.sse_event == e.type and e.data for e in events)  # each with its raw SSE
    assert streamed.content == plain.content and plain.content
    assert (streamed.stop_reason, streamed.stop_sequence) == (plain.stop_reason, plain.stop_sequence)
    assert streamed.usage == plain.usage and streamed.text == plain.text
    assert streamed.usage_detail == plain.usage_detail
    assert [b.to_dict() for b in s.get_final_message().content] == plain.content
    assert priced_exactly(plain) and priced_exactly(streamed)
    assert streamed.cost_usd == plain.cost_usd


def test_each_block_kind_arrives_as_the_api_defines_it(make_client):
    client = make_client()
    kinds = {}
    for case in CASES.values():
        kw = {k: v for k, v in case.items() if k != "prompt"}
        r = client.create(case.get("prompt"), user="ana", model=MODEL, **kw)
        for b in r.content:
            kinds.setdefault(b["type"], b)
            for c in b.get("citations") or ():
                kinds.setdefault(c["type"], c)
    assert {"text", "tool_use", "thinking", "server_tool_use", "web_search_tool_result", "char_location",
            "page_location", "content_block_location", "search_result_location",
            "web_search_result_location"} <= set(kinds)
    assert kinds["search_result_location"]["source"] == SEARCH["source"]
    stop = client.create(CASES["stop sequence"]["prompt"], user="ana", model=MODEL, stop_sequences=["the", "The", "a"])
    assert stop.stop_reason == "stop_sequence" and stop.stop_sequence in ("the", "The", "a")
    geo = client.create("Hello", user="ana", model=MODEL, service_tier="auto", inference_geo="global")
    assert geo.usage_detail["service_tier"] == "standard" and geo.usage_detail["inference_geo"] == "global"
