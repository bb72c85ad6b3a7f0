"""The simulator through the real anthropic SDK over loopback: replies, streams, caching, limits."""

from __future__ import annotations

import http.client
import json
from datetime import datetime

import anthropic
import pytest

from core.catalog.models import default_catalogue
from core.simulator import Simulator
from core.simulator.tokenizer import REQUEST_TOKENS, count_block
from core.simulator.tokenizer import count_request as estimate_request  # the simulator bills its own count

KEY = "sk-ant-test-fake-0000"
MODEL = "claude-haiku-5-5"  # a "v2" tokenizer model
V1_MODEL = "claude-haiku-4-5"  # an alias of a "v1" tokenizer model
HELLO = [{"role": "user", "content": "Summarise our token spend for November, please."}]

pytestmark = pytest.mark.usefixtures("fresh_sim")  # the shared simulator, reset and configured


def create(sdk, messages=HELLO, model=MODEL, max_tokens=200, **kw):
    return sdk.messages.create(model=model, max_tokens=max_tokens, messages=messages, **kw)


def post_raw(sim, path, body, headers=None):
    """A request the SDK would refuse to build; returns (status, JSON body)."""
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    try:
        conn.request("POST", path, body=json.dumps(body).encode(),
                     headers={"content-type": "application/json", "x-api-key": KEY, **(headers or {})})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


# --- replies ------------------------------------------------------------------------

def test_create_returns_a_message_with_usage(sdk):
    msg = create(sdk)
    assert msg.id.startswith("msg_sim_") and msg.type == "message" and msg.role == "assistant"
    assert msg.model == MODEL
    assert msg.stop_reason == "end_turn" and msg.stop_sequence is None
    text = msg.content[0].text
    assert msg.content[0].type == "text" and 12 <= len(text.split()) <= 80
    u = msg.usage
    assert u.input_tokens == estimate_request(None, HELLO, "v2")
    assert u.output_tokens == len(text.split())
    assert u.cache_creation_input_tokens == 0 and u.cache_read_input_tokens == 0
    assert u.cache_creation.ephemeral_5m_input_tokens == 0 and u.cache_creation.ephemeral_1h_input_tokens == 0


def test_alias_resolves_and_uses_its_tokenizer(sdk):
    msg = create(sdk, model=V1_MODEL)
    assert msg.model == "claude-haiku-4-5-20251001"
    assert msg.usage.input_tokens == estimate_request(None, HELLO, "v1")
    assert msg.usage.input_tokens < estimate_request(None, HELLO, "v2")


def test_replies_are_deterministic_per_request(sdk):
    first, again = create(sdk), create(sdk)
    other = create(sdk, messages=[{"role": "user", "content": "Something else entirely."}])
    assert first.content[0].text == again.content[0].text
    assert first.id != again.id
    assert other.content[0].text != first.content[0].text


def test_max_tokens_truncates(sdk):
    msg = create(sdk, max_tokens=5)
    assert msg.stop_reason == "max_tokens"
    assert msg.usage.output_tokens == 5 and len(msg.content[0].text.split()) == 5


def test_stop_sequence_cuts_the_reply(sdk):
    full = create(sdk).content[0].text
    word = full.split()[3]
    msg = create(sdk, stop_sequences=[word])
    assert msg.stop_reason == "stop_sequence" and msg.stop_sequence == word
    assert full.startswith(msg.content[0].text) and word not in msg.content[0].text


# --- streaming ----------------------------------------------------------------------

def test_stream_helper_matches_the_json_reply(sdk):
    plain = create(sdk)
    with sdk.messages.stream(model=MODEL, max_tokens=200, messages=HELLO) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == plain.content[0].text == final.content[0].text
    assert final.stop_reason == plain.stop_reason
    assert final.usage.input_tokens == plain.usage.input_tokens
    assert final.usage.output_tokens == plain.usage.output_tokens


def test_create_stream_events_merge_to_the_json_usage(sdk):
    plain = create(sdk, max_tokens=7)
    events = list(create(sdk, max_tokens=7, stream=True))
    kinds = [e.type for e in events]
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    deltas = [e.delta.text for e in events if e.type == "content_block_delta"]
    assert len(deltas) > 3 and "".join(deltas) == plain.content[0].text
    start, end = events[0].message.usage, events[-2].usage
    assert start.output_tokens <= 1
    assert (start.input_tokens, end.output_tokens) == (plain.usage.input_tokens, plain.usage.output_tokens)
    assert events[-2].delta.stop_reason == "max_tokens"


def test_raw_sse_framing_has_ping_and_event_names(sim):
    status, raw = post_raw(sim, "/v1/messages", {"model": MODEL, "max_tokens": 20, "messages": HELLO,
                                                 "stream": True})
    assert status == 200
    names = [line.split(": ", 1)[1] for line in raw.decode().splitlines() if line.startswith("event: ")]
    assert names[:3] == ["message_start", "content_block_start", "ping"]
    assert names[-1] == "message_stop" and "content_block_delta" in names


# --- prompt caching and token counting ---------------------------------------------------

def cached_request(ttl_system="5m", ttl_message=None):
    system = [{"type": "text", "text": "You are a careful analyst. " * 40,
               "cache_control": {"type": "ephemeral", "ttl": ttl_system}}]
    block = {"type": "text", "text": "Here is the quarter's usage table. " * 30}
    if ttl_message:
        block["cache_control"] = {"type": "ephemeral", "ttl": ttl_message}
    return system, [{"role": "user", "content": [block, {"type": "text", "text": "What changed?"}]}]


def test_cache_control_writes_then_reads(sdk):
    system, messages = cached_request()
    total = estimate_request(system, messages, "v2")
    prefix = REQUEST_TOKENS + count_block(system[0], "v2")
    first = create(sdk, messages=messages, system=system).usage
    second = create(sdk, messages=messages, system=system).usage
    assert first.cache_creation_input_tokens == first.cache_creation.ephemeral_5m_input_tokens > 0
    assert first.cache_read_input_tokens == 0 and first.cache_creation.ephemeral_1h_input_tokens == 0
    assert first.cache_creation_input_tokens == prefix
    assert first.input_tokens + first.cache_creation_input_tokens == total
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
    assert second.cache_creation_input_tokens == 0 and second.input_tokens == first.input_tokens


def test_cache_ttls_split_between_1h_and_5m(sdk):
    system, messages = cached_request("1h", "5m")
    total = estimate_request(system, messages, "v2")
    first = create(sdk, messages=messages, system=system).usage
    c1, c5 = first.cache_creation.ephemeral_1h_input_tokens, first.cache_creation.ephemeral_5m_input_tokens
    assert c1 > 0 and c5 > 0 and c1 + c5 == first.cache_creation_input_tokens
    assert first.input_tokens + c1 + c5 == total
    # Same system prefix, new message: the 1h prefix is read, the new 5m block written.
    _, other = cached_request("1h", "5m")
    other[0]["content"][0]["text"] = "A different table this time. " * 30
    second = create(sdk, messages=other, system=system).usage
    assert second.cache_read_input_tokens == c1
    assert second.cache_creation.ephemeral_5m_input_tokens > 0
    assert second.cache_creation.ephemeral_1h_input_tokens == 0


def test_cache_entries_expire_after_their_ttl(clock):
    system, messages = cached_request()
    with Simulator(clock=clock) as sim, anthropic.Anthropic(api_key=KEY, base_url=sim.url,
                                                              max_retries=0, timeout=5) as c:
        wrote = create(c, messages=messages, system=system).usage.cache_creation_input_tokens
        clock.advance(299)
        assert create(c, messages=messages, system=system).usage.cache_read_input_tokens == wrote
        clock.advance(299)  # the read refreshed the 5-minute TTL
        assert create(c, messages=messages, system=system).usage.cache_read_input_tokens == wrote
        clock.advance(301)
        again = create(c, messages=messages, system=system).usage
        assert again.cache_read_input_tokens == 0 and again.cache_creation_input_tokens == wrote


def test_count_tokens_matches_usage(sdk):
    counted = sdk.messages.count_tokens(model=MODEL, messages=HELLO, system="Be brief.")
    used = create(sdk, system="Be brief.").usage
    assert counted.input_tokens == used.input_tokens == estimate_request("Be brief.", HELLO, "v2")
    system, messages = cached_request("1h", "5m")
    counted = sdk.messages.count_tokens(model=MODEL, messages=messages, system=system)
    u = create(sdk, messages=messages, system=system).usage
    assert counted.input_tokens == u.input_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens


# --- models, headers, validation -------------------------------------------------------

def test_models_list_and_retrieve(sdk):
    cat = default_catalogue()
    listed = list(sdk.models.list(limit=5))  # the SDK pages through with after_id
    assert [m.id for m in listed] == list(cat.models)
    assert all(m.type == "model" and m.display_name.startswith("Claude ") for m in listed)
    page = sdk.models.list(limit=3)
    assert page.has_more is True and page.first_id == listed[0].id and page.last_id == listed[2].id
    got = sdk.models.retrieve("claude-opus-4-5")
    assert got.id == "claude-opus-4-5-20251101" and got.display_name == "Claude Opus 4.5"
    assert got.created_at.year == 2025
    with pytest.raises(anthropic.NotFoundError):
        sdk.models.retrieve("claude-nonexistent-1")


def test_request_id_and_rate_limit_headers(sdk):
    raw = sdk.messages.with_raw_response.create(model=MODEL, max_tokens=10, messages=HELLO)
    assert raw.headers["request-id"].startswith("req_sim_")
    assert raw.parse().content[0].text
    for family in ("requests", "tokens", "input-tokens", "output-tokens"):
        assert int(raw.headers[f"anthropic-ratelimit-{family}-limit"]) > 0
        datetime.fromisoformat(raw.headers[f"anthropic-ratelimit-{family}-reset"].replace("Z", "+00:00"))
    assert raw.headers["anthropic-ratelimit-requests-limit"] == "4000"


@pytest.mark.parametrize(("body", "status", "fragment"), [
    ({"model": MODEL, "messages": HELLO}, 400, "max_tokens"),
    ({"model": MODEL, "max_tokens": 10, "messages": []}, 400, "at least one message"),
    ({"model": MODEL, "max_tokens": 10, "messages": [{"role": "robot", "content": "hi"}]}, 400, "role"),
    ({"model": MODEL, "max_tokens": 10**6, "messages": HELLO}, 400, "maximum allowed"),
    ({"model": "claude-nonexistent-1", "max_tokens": 10, "messages": HELLO}, 404, "claude-nonexistent-1"),
    ({"model": "claude-3-haiku-20240307", "max_tokens": 10, "messages": HELLO}, 404, "retired"),
])
def test_invalid_requests_get_api_errors(sim, body, status, fragment):
    got, raw = post_raw(sim, "/v1/messages", body)
    err = json.loads(raw)
    assert got == status and err["type"] == "error" and err["request_id"].startswith("req_sim_")
    assert err["error"]["type"] == ("not_found_error" if status == 404 else "invalid_request_error")
    assert fragment in err["error"]["message"]


def test_sdk_raises_bad_request_and_not_found(sdk):
    with pytest.raises(anthropic.BadRequestError):
        create(sdk, messages=[{"role": "robot", "content": "hi"}])
    with pytest.raises(anthropic.NotFoundError):
        create(sdk, model="claude-nonexistent-1")


def test_loopback_only():
    with pytest.raises(ValueError, match="loopback"):
        Simulator(host="0.0.0.0")
