"""The gateway's /v1/messages/batches relay through the official SDK: create, retrieve, list, cancel, results,
charged to the key's user at the batch price, each key seeing only its own user's batches."""

from __future__ import annotations

from decimal import Decimal

import anthropic
import httpx2
import pytest
import sqlalchemy as sa

from core.ledger.schema import calls
from core.types import Usage
from tests.integration.gateway_support import gateway


def _requests(n: int, model: str = "claude-haiku-5-5") -> list[dict]:
    return [{"custom_id": f"row-{i}", "params": {"model": model, "max_tokens": 50,
                                                 "messages": [{"role": "user", "content": f"Hello number {i}"}]}}
            for i in range(n)]


@pytest.fixture
def gw(fresh_sim, tmp_path):
    fresh_sim.configure(batch_seconds=60)
    with gateway(fresh_sim, tmp_path) as g:
        g.client.budgets.set_budget("ana", Decimal("1"))
        yield g


def _sdk(gw, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gw.url, api_key=key, max_retries=0, timeout=10.0)


def test_the_whole_lifecycle_through_the_official_sdk(gw, fresh_sim):
    sdk = _sdk(gw, gw.key("ana"))
    made = sdk.messages.batches.create(requests=_requests(3))
    assert made.processing_status == "in_progress" and made.request_counts.processing == 3
    assert gw.client.budgets.reserved("ana") > 0
    assert sdk.messages.batches.retrieve(made.id).id == made.id
    assert [b.id for b in sdk.messages.batches.list(limit=5).data] == [made.id]
    with pytest.raises(anthropic.AnthropicError, match="results_url"):
        list(sdk.messages.batches.results(made.id))
    fresh_sim.finish_batch(made.id)
    ended = sdk.messages.batches.retrieve(made.id)
    assert ended.processing_status == "ended" and ended.results_url.startswith(gw.url)
    results = list(sdk.messages.batches.results(made.id))
    assert sorted(r.custom_id for r in results) == ["row-0", "row-1", "row-2"]
    assert all(r.result.type == "succeeded" and r.result.message.content[0].text for r in results)
    gw.client.recorder.flush()
    with gw.client.ledger.engine.connect() as conn:
        rows = conn.execute(sa.select(calls).where(calls.c.batch.is_(True))).mappings().all()
    assert len(rows) == 3 and {r["user_id"] for r in rows} == {"ana"} and {r["source"] for r in rows} == {"gateway"}
    assert all(r["api_key_id"] for r in rows)
    spent = gw.client.budgets.spent("ana")
    assert spent == sum(r["cost_usd"] for r in rows) > 0 and gw.client.budgets.reserved("ana") == 0
    list(sdk.messages.batches.results(made.id))  # read again: billed once
    assert gw.client.budgets.spent("ana") == spent
    for r in results:
        usage = Usage.from_api({**r.result.message.usage.model_dump(), "service_tier": "standard"})
        standard = gw.client.pricing.price(usage, "claude-haiku-5-5")
        assert standard.cost == 2 * next(x["cost_usd"] for x in rows if x["idempotency_key"].endswith(r.custom_id))


def test_cancel_through_the_gateway_releases_the_holds(gw, fresh_sim):
    sdk = _sdk(gw, gw.key("ana"))
    made = sdk.messages.batches.create(requests=_requests(2))
    assert sdk.messages.batches.cancel(made.id).processing_status == "canceling"
    assert {r.result.type for r in sdk.messages.batches.results(made.id)} == {"canceled"}
    assert gw.client.budgets.reserved("ana") == 0 and gw.client.budgets.spent("ana") == 0


def test_delete_bills_the_unread_results_first_and_only_for_the_owner(gw, fresh_sim):
    ana, bo = _sdk(gw, gw.key("ana")), _sdk(gw, gw.key("bo"))
    made = ana.messages.batches.create(requests=_requests(3))
    with pytest.raises(anthropic.BadRequestError, match="cancel it first"):  # upstream's answer, relayed
        ana.messages.batches.delete(made.id)
    fresh_sim.finish_batch(made.id)
    with pytest.raises(anthropic.NotFoundError):
        bo.messages.batches.delete(made.id)
    gone = ana.messages.batches.delete(made.id)
    assert gone.id == made.id and gone.type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        ana.messages.batches.retrieve(made.id)
    assert ana.messages.batches.list().data == []
    # Its results were never read, and can no longer be: they were billed before the delete went upstream.
    gw.client.recorder.flush()
    with gw.client.ledger.engine.connect() as conn:
        rows = conn.execute(sa.select(calls).where(calls.c.batch.is_(True))).mappings().all()
    assert len(rows) == 3 and all(r["status"] == "ok" and r["cost_usd"] > 0 for r in rows)
    assert gw.client.budgets.spent("ana") == sum(r["cost_usd"] for r in rows)
    assert gw.client.budgets.reserved("ana") == 0


def test_a_key_sees_only_its_own_users_batches(gw, fresh_sim):
    ana, bo = _sdk(gw, gw.key("ana")), _sdk(gw, gw.key("bo"))
    mine = ana.messages.batches.create(requests=_requests(1)).id
    theirs = bo.messages.batches.create(requests=_requests(1)).id
    assert [b.id for b in ana.messages.batches.list()] == [mine]
    assert [b.id for b in bo.messages.batches.list()] == [theirs]
    for call in (bo.messages.batches.retrieve, bo.messages.batches.cancel):
        with pytest.raises(anthropic.NotFoundError):
            call(mine)
    fresh_sim.finish_batch(mine)
    raw = httpx2.get(f"{gw.url}/v1/messages/batches/{mine}/results", headers={"x-api-key": gw.key("bo")})
    assert raw.status_code == 404 and raw.json()["error"]["type"] == "not_found_error"
    assert ana.messages.batches.retrieve(mine).processing_status == "ended"  # untouched by bo


def test_refusals_the_budget_the_keys_models_and_a_bad_request(gw, fresh_sim):
    gw.client.budgets.set_budget("cy", Decimal("0.00003"))
    cy = _sdk(gw, gw.key("cy"))
    with pytest.raises(anthropic.PermissionDeniedError, match="rows would fit"):
        cy.messages.batches.create(requests=_requests(10))
    only_opus = _sdk(gw, gw.key("ana", models=["claude-opus-5-5"]))
    with pytest.raises(anthropic.PermissionDeniedError, match="may not use"):
        only_opus.messages.batches.create(requests=_requests(1))
    bad = _requests(2)
    bad[1]["params"]["max_tokens"] = 0
    with pytest.raises(anthropic.BadRequestError, match="row-1"):
        _sdk(gw, gw.key("ana")).messages.batches.create(requests=bad)
    with pytest.raises(anthropic.AuthenticationError):
        _sdk(gw, "sk-tg-not-a-key").messages.batches.list()
    assert fresh_sim.stats()["paths"].get("/v1/messages/batches", 0) == 0


def test_a_batch_that_a_running_batch_run_owns_is_not_deleted_under_it(gw, fresh_sim):
    ana = gw.key("ana")
    made = httpx2.post(f"{gw.url}/api/batches", headers={"x-api-key": ana}, json={
        "template": "Summarise {{id}}", "model": "claude-haiku-5-5", "max_tokens": 30, "mode": "batch",
        "rows": [{"id": str(i)} for i in range(3)]})
    assert made.status_code == 201, made.text
    run = httpx2.get(f"{gw.url}/api/batches/{made.json()['id']}", headers={"x-api-key": ana}).json()
    batch_id = run["upstream_batch_id"]
    fresh_sim.finish_batch(batch_id)
    with pytest.raises(anthropic.ConflictError, match="batch run") as refused:  # the SDK does not retry it
        _sdk(gw, ana).messages.batches.delete(batch_id)
    assert refused.value.response.headers["x-should-retry"] == "false"
    assert _sdk(gw, ana).messages.batches.retrieve(batch_id).processing_status == "ended"  # still there
