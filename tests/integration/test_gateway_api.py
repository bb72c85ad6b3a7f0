"""The official SDK against the gateway: the same answers, events and counts as straight from the simulator."""

from __future__ import annotations

import asyncio

import anthropic
import pytest
import sqlalchemy as sa

from core.ledger.schema import calls
from tests.integration.conftest import PRIMARY, messages_seen
from tests.integration.gateway_support import gateway

ASK = dict(model="claude-haiku-5-5", max_tokens=40, messages=[{"role": "user", "content": "Name three rivers"}])


@pytest.fixture
def gw(fresh_sim, tmp_path):
    with gateway(fresh_sim, tmp_path) as g:
        yield g


def sdk(url, key, **kw):
    return anthropic.Anthropic(base_url=url, api_key=key, max_retries=kw.pop("max_retries", 0), **kw)


def direct(sim):
    return anthropic.Anthropic(base_url=sim.url, api_key=PRIMARY.secret, max_retries=0)


def _rows(gw):
    gw.client.recorder.flush()
    with gw.client.ledger.engine.connect() as conn:
        return conn.execute(sa.select(calls).order_by(calls.c.ts)).all()


def test_a_message_through_the_gateway_is_the_message_from_the_upstream(gw, fresh_sim):
    key = gw.key()
    via = sdk(gw.url, key).messages.with_raw_response.create(**ASK)
    straight = direct(fresh_sim).messages.create(**ASK)
    msg = via.parse()
    assert [b.model_dump() for b in msg.content] == [b.model_dump() for b in straight.content]
    assert (msg.model, msg.stop_reason, msg.role, msg.type) == (straight.model, straight.stop_reason, "assistant",
                                                                "message")
    assert msg.usage.input_tokens == straight.usage.input_tokens
    assert msg.usage.output_tokens == straight.usage.output_tokens
    assert via.headers["request-id"].startswith("req_sim_") and msg.id.startswith("msg_sim_")
    (row,) = _rows(gw)
    info = gw.keys.verify(key)
    assert (row.user_id, row.source, row.api_key_id, row.status) == ("ana", "gateway", info.id, "ok")
    assert row.request_id == via.headers["request-id"] and row.cost_usd > 0


def test_a_stream_through_the_gateway_has_the_upstreams_events_in_order(gw, fresh_sim):
    with sdk(gw.url, gw.key()).messages.stream(**ASK) as s:
        via = [e for e in s]
        via_final = s.get_final_message()
        via_request_id = s.response.headers["request-id"]
    with direct(fresh_sim).messages.stream(**ASK) as s:
        straight = [e for e in s]
        straight_final = s.get_final_message()
    assert [e.type for e in via] == [e.type for e in straight]
    raw = [e for e in via if e.type in ("content_block_delta", "content_block_start", "content_block_stop")]
    raw_straight = [e for e in straight if e.type in ("content_block_delta", "content_block_start",
                                                       "content_block_stop")]
    assert [e.model_dump() for e in raw] == [e.model_dump() for e in raw_straight]
    assert via_final.content == straight_final.content and via_final.stop_reason == straight_final.stop_reason
    assert via_final.usage.output_tokens == straight_final.usage.output_tokens
    assert via_final.usage.input_tokens == straight_final.usage.input_tokens
    (row,) = _rows(gw)
    assert row.streamed and row.source == "gateway" and row.status == "ok"
    assert via_request_id.startswith("req_sim_") and row.request_id == via_request_id


def test_with_cors_the_mounted_route_streams_the_same_events_with_cors_headers(fresh_sim, tmp_path):
    import httpx2 as httpx

    origin = "https://app.example.com"
    with gateway(fresh_sim, tmp_path, gateway_cors_origins=origin) as cors_gw:
        key = cors_gw.key()
        with sdk(cors_gw.url, key).messages.stream(**ASK) as s:
            via = [e.type for e in s]
        with httpx.stream("POST", f"{cors_gw.url}/v1/messages", json={**ASK, "stream": True},
                          headers={"x-api-key": key, "origin": origin}) as r:
            body = r.read()
        rows = _rows(cors_gw)
    with direct(fresh_sim).messages.stream(**ASK) as s:
        straight = [e.type for e in s]
    assert via == straight and via[-1] == "message_stop"
    assert r.headers["access-control-allow-origin"] == origin
    assert r.headers["content-type"].startswith("text/event-stream") and body.rstrip().endswith(b"}")
    assert b"event: message_stop" in body and len(rows) == 2 and all(row.status == "ok" for row in rows)


def test_the_async_sdk_streams_and_creates_through_the_gateway(gw):
    key = gw.key()

    async def go():
        client = anthropic.AsyncAnthropic(base_url=gw.url, api_key=key, max_retries=0)
        made = await client.messages.create(**ASK)
        async with client.messages.stream(**ASK) as s:
            text = "".join([t async for t in s.text_stream])
        await client.close()
        return made, text

    made, text = asyncio.run(go())
    assert made.content[0].text == text


def test_100_concurrent_streams(fresh_sim, tmp_path):
    with gateway(fresh_sim, tmp_path, concurrency=None, user_concurrency=None) as gw:
        _hundred_streams(gw)


def _hundred_streams(gw):
    key = gw.key()

    async def go():
        client = anthropic.AsyncAnthropic(base_url=gw.url, api_key=key, max_retries=0)

        async def one(i):
            async with client.messages.stream(**{**ASK, "messages": [{"role": "user", "content": f"Q{i}"}]}) as s:
                return (await s.get_final_message()).stop_reason

        out = await asyncio.gather(*(one(i) for i in range(100)))
        await client.close()
        return out

    assert len(asyncio.run(go())) == 100
    assert sum(1 for r in _rows(gw) if r.status == "ok") == 100


def test_a_cache_hit_answers_in_the_same_format_json_and_sse(gw, fresh_sim):
    key = gw.key()
    ask = {**ASK, "extra_body": {"temperature": 0}}
    first = sdk(gw.url, key).messages.create(**ask)
    again = sdk(gw.url, key).messages.create(**ask)
    with sdk(gw.url, key).messages.stream(**ask) as s:
        types = [e.type for e in s]
        streamed = s.get_final_message()
    assert messages_seen(fresh_sim) == 1  # both answered from the cache
    text = first.content[0].text
    assert again.content[0].text == text and streamed.content[0].text == text
    assert types[0] == "message_start" and types[-1] == "message_stop" and "content_block_delta" in types
    assert [r.status for r in _rows(gw)] == ["ok", "cached", "cached"]


def test_count_tokens_is_the_upstreams_count(gw, fresh_sim):
    key = gw.key()
    body = dict(model="claude-haiku-5-5", messages=[{"role": "user", "content": "How long is this sentence?"}])
    via = sdk(gw.url, key).messages.count_tokens(**body)
    assert via.input_tokens == direct(fresh_sim).messages.count_tokens(**body).input_tokens > 0
    assert fresh_sim.stats()["paths"]["/v1/messages/count_tokens"] == 2


def test_count_tokens_failing_upstream_is_an_error_not_a_zero(gw, fresh_sim):
    fresh_sim.configure(reject_keys=[PRIMARY.secret])
    with pytest.raises(anthropic.APIStatusError) as info:
        sdk(gw.url, gw.key()).messages.count_tokens(model="claude-haiku-5-5",
                                                    messages=[{"role": "user", "content": "Hi"}])
    assert info.value.status_code >= 500


def test_models_are_the_catalogues_limited_to_the_keys(gw):
    every = [m.id for m in sdk(gw.url, gw.key()).models.list()]
    assert "claude-haiku-5-5" in every and "claude-opus-5-5" in every
    limited = [m.id for m in sdk(gw.url, gw.key(models=("claude-haiku-5-5",))).models.list()]
    assert limited == ["claude-haiku-5-5"]


def test_usage_reports_the_callers_month(gw):
    import httpx2 as httpx

    key = gw.key()
    sdk(gw.url, key).messages.create(**ASK)
    gw.client.budgets.set_budget("ana", "5")
    body = httpx.get(f"{gw.url}/api/usage", headers={"x-api-key": key}).json()
    assert body["user"] == "ana" and body["budget_usd"] == "5" and float(body["month_to_date_usd"]) > 0
    assert float(body["remaining_usd"]) == pytest.approx(5 - float(body["month_to_date_usd"]))
    other = httpx.get(f"{gw.url}/api/usage", params={"user": "bo"}, headers={"x-api-key": key})
    assert other.status_code == 403 and other.json()["error"]["type"] == "permission_error"


def test_an_admin_key_may_ask_for_any_user(gw):
    import httpx2 as httpx

    from core.accounts.users import UserStore

    UserStore(gw.client.settings.users_file).add("boss", "Boss", "admin", "a-long-password-1")
    body = httpx.get(f"{gw.url}/api/usage", params={"user": "ana"}, headers={"x-api-key": gw.key("boss")}).json()
    assert body["user"] == "ana" and body["month_to_date_usd"] == "0"


def test_the_openapi_description_names_the_api_routes(gw):
    import httpx2 as httpx

    doc = httpx.get(f"{gw.url}/api/openapi.json").json()
    assert doc["openapi"].startswith("3.") and "/api/usage" in doc["paths"]


def test_the_probes_are_served_headless(gw):
    import httpx2 as httpx

    assert httpx.get(f"{gw.url}/healthz").json() == {"status": "alive"}
    assert httpx.get(f"{gw.url}/readyz").status_code in (200, 503)
    assert "tollgate" in httpx.get(f"{gw.url}/metrics").text


def test_a_caller_who_leaves_mid_stream_frees_the_slot_and_the_stream_is_recorded(fresh_sim, tmp_path):
    fresh_sim.configure(tokens_per_s=20.0)  # slow enough that the caller leaves long before the end
    with gateway(fresh_sim, tmp_path, user_concurrency=1, limit_max_wait_s=5.0) as gw:
        key = gw.key()
        client = sdk(gw.url, key)
        with client.messages.stream(**{**ASK, "max_tokens": 200}) as s:
            next(e for e in s if e.type == "content_block_delta")
        # the one slot is free again once the gateway notices the caller left (within the limiter's wait)
        assert client.messages.create(**ASK).content
        rows = _rows(gw)
    assert sorted(r.status for r in rows) == ["error", "ok"]
    (left,) = [r for r in rows if r.status == "error"]
    assert left.streamed and "closed by the caller" in (left.detail or "").lower() and left.output_tokens > 0


def test_the_servers_own_key_never_leaves_it(gw, fresh_sim):
    fresh_sim.configure(reject_keys=[PRIMARY.secret])
    r = sdk(gw.url, gw.key()).messages.with_raw_response
    with pytest.raises(anthropic.APIStatusError) as info:
        r.create(**ASK)
    assert info.value.status_code == 502 and info.value.response.headers["x-should-retry"] == "false"
    assert PRIMARY.secret not in info.value.response.text and "sk-ant" not in info.value.response.text
