"""Tools, thinking, citations, PDFs and images through the guard, via the real SDK against the simulator.

The simulator answers to the contract of issue 12 (a tool named in the prompt is called, with input
built from its schema; a tool_result turn is answered by quoting it; thinking comes first with a
signature; documents with citations enabled are quoted in cited text). Every cost is checked exactly:
the price table's rates for the model applied to the usage the simulator reported.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from anthropic.types import Message

from tests.media import image_block, pdf_block, png, text_document

MODEL = "claude-haiku-5-5"
# Haiku 5.5's rates (USD per million tokens) from data/: input, output, 5-minute cache write, cache read.
RATES = {"input_tokens": Decimal("0.10"), "output_tokens": Decimal("0.50"),
         "cache_creation_input_tokens": Decimal("0.125"), "cache_read_input_tokens": Decimal("0.01")}
WEATHER = {"name": "get_weather", "description": "The weather now in a city.",
           "input_schema": {"type": "object", "properties": {"city": {"type": "string"},
                                                             "days": {"type": "integer"}},
                            "required": ["city", "days"]}}
ASK = "Call get_weather for Marseille."  # the longest word is the tool's string input


WEB_SEARCH_USD = Decimal(10) / 1000  # per search ($10 per 1,000), once Usage carries the count (issue 12's cost part)


def exact_cost(result) -> Decimal:
    """The price table applied to the usage as the API reported it (not Tollgate's reading of it)."""
    u = result.usage_detail
    tokens = sum((RATES[k] * (u.get(k) or 0) for k in RATES), Decimal(0)) / 1_000_000
    searches = (u.get("server_tool_use") or {}).get("web_search_requests") or 0
    return tokens + (WEB_SEARCH_USD * searches if hasattr(result.usage, "web_search_requests") else 0)


def priced_exactly(result) -> bool:
    return result.cost_usd == exact_cost(result) and result.cost_usd > 0


def tool_result_turn(first, said: str) -> list[dict]:
    (use,) = first.tool_uses
    return [{"role": "user", "content": ASK}, {"role": "assistant", "content": first.content},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use["id"], "content": said}]}]


def test_a_two_turn_tool_loop(make_client):
    client = make_client()
    first = client.create(ASK, user="ana", model=MODEL, tools=[WEATHER])
    assert first.stop_reason == "tool_use" and [b["type"] for b in first.content] == ["text", "tool_use"]
    (use,) = first.tool_uses
    assert use["name"] == "get_weather" and use["id"].startswith("toolu_01") and len(use["id"]) == 30
    assert use["input"] == {"city": "Marseille", "days": 1}
    assert first.text == "I'll use the get_weather tool." and priced_exactly(first)
    final = client.create(messages=tool_result_turn(first, "18 C and sunny"), user="ana", model=MODEL,
                          tools=[WEATHER])
    assert final.stop_reason == "end_turn" and final.tool_uses == []
    assert final.text.startswith('The get_weather tool returned "18 C and sunny".') and priced_exactly(final)


def test_a_two_turn_tool_loop_streamed(make_client):
    client = make_client()
    s = client.stream(ASK, user="ana", model=MODEL, tools=[WEATHER])
    events = list(s.events())
    json_parts = [e.delta.partial_json for e in events if e.type == "content_block_delta"
                  and e.delta.type == "input_json_delta"]
    assert json_parts and "".join(json_parts).replace(" ", "") == '{"city":"Marseille","days":1}'
    first = s.result
    assert first.stop_reason == "tool_use" and first.tool_uses[0]["input"] == {"city": "Marseille", "days": 1}
    assert s.get_final_message().content[-1].input == {"city": "Marseille", "days": 1} and priced_exactly(first)
    same = client.create(ASK, user="ana", model=MODEL, tools=[WEATHER])  # the same answer, not streamed
    assert same.content == first.content and same.usage == first.usage
    s2 = client.stream(messages=tool_result_turn(first, "18 C and sunny"), user="ana", model=MODEL,
                       tools=[WEATHER])
    assert "".join(s2).startswith('The get_weather tool returned "18 C and sunny".')
    assert s2.result.stop_reason == "end_turn" and priced_exactly(s2.result)


def test_a_forced_tool_call_has_no_text_and_is_cached_whole(make_client):
    client = make_client(cache="memory")
    kw = dict(user="ana", model=MODEL, tools=[WEATHER], tool_choice={"type": "tool", "name": "get_weather"},
              temperature=0)
    first = client.create("Weather for Rome?", **kw)
    assert first.text == "" and [b["type"] for b in first.content] == ["tool_use"]
    hit = client.create("Weather for Rome?", **kw)
    assert hit.cached and hit.content == first.content and hit.stop_reason == "tool_use" and hit.text == ""
    replayed = client.stream("Weather for Rome?", **kw)
    assert replayed.get_final_message().content[0].input == first.tool_uses[0]["input"]


@pytest.mark.parametrize("streamed", [False, True])
def test_thinking_comes_first_with_its_signature_and_is_billed_as_output(make_client, streamed):
    client = make_client()
    kw = dict(user="ana", model=MODEL, max_tokens=2048, thinking={"type": "enabled", "budget_tokens": 1024})
    if streamed:
        s = client.stream("Why is the sky blue?", **kw)
        kinds = [e.delta.type for e in s.events() if e.type == "content_block_delta"]
        assert kinds.index("thinking_delta") < kinds.index("signature_delta") < kinds.index("text_delta")
        r = s.result
    else:
        r = client.create("Why is the sky blue?", **kw)
    thinking, text = r.content
    assert thinking["type"] == "thinking" and thinking["thinking"] and thinking["signature"]
    assert text["type"] == "text" and r.text == text["text"]
    words = len(thinking["thinking"].split()) + len(text["text"].split())  # the simulator's one token a word
    assert r.usage.output_tokens == words and priced_exactly(r)


def test_redacted_thinking_is_kept_as_sent(make_client):
    from core.simulator.compose import MAGIC_REDACTED

    client = make_client()
    r = client.create(f"Test {MAGIC_REDACTED}", user="ana", model=MODEL,
                      thinking={"type": "enabled", "budget_tokens": 1024}, max_tokens=2048)
    assert r.content[0]["type"] == "redacted_thinking" and r.content[0]["data"] and priced_exactly(r)
    assert isinstance(r.message, Message) and r.message.content[0].type == "redacted_thinking"


@pytest.mark.parametrize("streamed", [False, True])
def test_citations_of_a_text_document(make_client, streamed):
    client = make_client()
    doc = text_document("The Paris office opens at nine. The Lyon office opens at ten.", title="hours",
                        citations=True)
    messages = [{"role": "user", "content": [doc, {"type": "text", "text": "When does Paris open?"}]}]
    if streamed:
        s = client.stream(messages=messages, user="ana", model=MODEL)
        deltas = [e.delta.type for e in s.events() if e.type == "content_block_delta"]
        assert "citations_delta" in deltas
        r = s.result
    else:
        r = client.create(messages=messages, user="ana", model=MODEL)
    cited = [c for b in r.content if b["type"] == "text" for c in b.get("citations") or ()]
    assert cited and all(c["type"] == "char_location" and c["document_index"] == 0 for c in cited)
    assert all(c["cited_text"] in doc["source"]["data"] for c in cited) and priced_exactly(r)


def test_a_pdf_question_is_answered_with_page_citations_and_counted_exactly(make_client):
    client = make_client()
    messages = [{"role": "user", "content": [pdf_block(citations=True),
                                             {"type": "text", "text": "What does page two say?"}]}]
    r = client.create(messages=messages, user="ana", model=MODEL)
    cited = [c for b in r.content if b["type"] == "text" for c in b.get("citations") or ()]
    assert cited and {c["type"] for c in cited} == {"page_location"}
    assert r.usage.input_tokens >= 2 * 1600 and priced_exactly(r)  # two pages at 1,600 tokens each
    assert client.count_tokens(messages=messages, model=MODEL, exact=True) == r.usage.input_tokens


def test_an_image_is_counted_by_its_size(make_client):
    client = make_client()
    ask = {"type": "text", "text": "What colour is this?"}
    small = client.count_tokens(messages=[{"role": "user", "content": [image_block(png(2, 2)), ask]}],
                                model=MODEL, exact=True)
    large = client.count_tokens(messages=[{"role": "user", "content": [image_block(png(750, 1000)), ask]}],
                                model=MODEL, exact=True)
    assert large - small == pytest.approx(1000 - 0, abs=2)  # w*h/750: 1,000 tokens for 750x1000
    r = client.create(messages=[{"role": "user", "content": [image_block(png(750, 1000)), ask]}],
                      user="ana", model=MODEL)
    assert r.usage.input_tokens == large and priced_exactly(r)


def test_web_search_blocks_and_server_tool_usage_come_through(make_client):
    client = make_client()
    r = client.create("Use web search to find the Tollgate release notes.", user="ana", model=MODEL,
                      tools=[{"type": "web_search_20250305", "name": "web_search"}])
    kinds = [b["type"] for b in r.content]
    assert "server_tool_use" in kinds and "web_search_tool_result" in kinds
    assert r.usage_detail["server_tool_use"]["web_search_requests"] == 1
    assert r.usage_detail["service_tier"] == "standard"
    assert any(c["type"] == "web_search_result_location" for b in r.content if b["type"] == "text"
               for c in b.get("citations") or ())


def test_a_stream_cut_off_in_its_thinking_is_interrupted_billed_for_what_arrived_and_not_retried(
        make_client, fresh_sim, tmp_path):
    from core import errors
    from core.guards.tokens import estimate_text
    from tests.integration.conftest import messages_seen

    client = make_client(ledger_url=f"duckdb:///{tmp_path / 'l.duckdb'}", spool_path=str(tmp_path / "s"))
    fresh_sim.script_faults([{"fault": "truncate", "after": 3}])
    s = client.stream("Why is the sky blue?", user="ana", model=MODEL, max_tokens=2048,
                      thinking={"type": "enabled", "budget_tokens": 1024})
    got = []
    with pytest.raises(errors.StreamInterrupted) as err:
        for e in s.events():
            got.append(e)
    arrived = "".join(e.delta.thinking for e in got if e.type == "content_block_delta"
                      and e.delta.type == "thinking_delta")
    assert arrived and err.value.partial_text == "" and messages_seen(fresh_sim) == 1
    client.recorder.flush()
    import sqlalchemy as sa

    from core.ledger.schema import calls
    with client.ledger.engine.connect() as c:
        (row,) = c.execute(sa.select(calls)).mappings()
    tokenizer = client.catalogue.get(MODEL).tokenizer
    assert row["status"] == "error" and row["error_code"] == "stream_interrupted"
    assert row["output_tokens"] >= estimate_text(arrived, tokenizer) > 0 and row["cost_usd"] > 0


def test_the_async_stream_hands_on_every_event_and_the_final_message(make_client):
    import asyncio

    from core.client.aio import AsyncGuardedClient

    async def run():
        aclient = AsyncGuardedClient(make_client())
        s = aclient.stream(ASK, user="ana", model=MODEL, tools=[WEATHER])
        kinds = [e.type async for e in s.events()]
        return kinds, s.result, await aclient.stream(ASK, user="ana", model=MODEL, tools=[WEATHER]).get_final_message()

    kinds, result, final = asyncio.run(run())
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop" and "content_block_delta" in kinds
    assert result.tool_uses[0]["input"] == {"city": "Marseille", "days": 1}
    assert isinstance(final, Message) and final.content[-1].input == {"city": "Marseille", "days": 1}


@pytest.mark.parametrize("streamed", [False, True])
def test_a_thinking_tool_loop_sends_the_content_back_as_it_came(make_client, streamed):
    """The API wants the thinking block (with its signature) back in a tool loop: ``content`` goes back as is."""
    client = make_client()
    kw = dict(user="ana", model=MODEL, tools=[WEATHER], max_tokens=2048,
              thinking={"type": "enabled", "budget_tokens": 1024})

    def call(**more):
        if not streamed:
            return client.create(**kw, **more)
        s = client.stream(**kw, **more)
        s.final()
        return s.result
    first = call(prompt=ASK)
    assert [b["type"] for b in first.content] == ["thinking", "text", "tool_use"] and priced_exactly(first)
    final = call(messages=tool_result_turn(first, "18 C and sunny"))
    assert 'The get_weather tool returned "18 C and sunny".' in final.text and priced_exactly(final)
    assert final.stop_reason == "end_turn"
