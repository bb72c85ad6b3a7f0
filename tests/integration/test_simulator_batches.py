"""The simulator's Message Batches lifecycle, through the real SDK: faithful to the API's types and rules."""

from __future__ import annotations

import time

import anthropic
import httpx2 as httpx
import pytest
from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse

from tests.integration.conftest import SIM_KEY


def _requests(n: int, *ids: str) -> list[dict]:
    names = list(ids) or [f"row-{i}" for i in range(n)]
    return [{"custom_id": cid, "params": {"model": "claude-haiku-5-5", "max_tokens": 40,
                                          "messages": [{"role": "user", "content": f"Say hello to {cid}"}]}}
            for cid in names]


@pytest.fixture
def batches(sdk, fresh_sim):
    fresh_sim.configure(batch_seconds=0.6)
    return sdk.messages.batches


def test_in_progress_then_ended_with_counts_and_results_only_after_the_end(batches, fresh_sim):
    b = batches.create(requests=_requests(3))
    assert isinstance(b, MessageBatch) and b.processing_status == "in_progress" and b.results_url is None
    assert b.request_counts.processing == 3 and b.request_counts.succeeded == 0
    assert (b.expires_at - b.created_at).total_seconds() == 24 * 3600 and b.ended_at is None
    with pytest.raises(anthropic.AnthropicError, match="results_url"):
        list(batches.results(b.id))
    raw = httpx.get(f"{fresh_sim.url}/v1/messages/batches/{b.id}/results", headers={"x-api-key": SIM_KEY})
    assert raw.status_code == 400 and raw.json()["error"]["type"] == "invalid_request_error"
    time.sleep(0.7)
    ended = batches.retrieve(b.id)
    assert ended.processing_status == "ended" and ended.ended_at is not None
    assert ended.request_counts.model_dump() == {"processing": 0, "succeeded": 3, "errored": 0, "canceled": 0,
                                                 "expired": 0}
    assert ended.results_url.endswith(f"/v1/messages/batches/{b.id}/results")
    results = list(batches.results(b.id))
    assert all(isinstance(r, MessageBatchIndividualResponse) for r in results)
    assert sorted(r.custom_id for r in results) == ["row-0", "row-1", "row-2"]
    for r in results:
        assert r.result.type == "succeeded" and r.result.message.usage.service_tier == "batch"
        assert r.result.message.content[0].text


def test_cancel_while_in_progress_cancels_what_had_not_run(batches, fresh_sim):
    fresh_sim.configure(batch_seconds=30)
    b = batches.create(requests=_requests(4))
    canceling = batches.cancel(b.id)
    assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at is not None
    ended = batches.retrieve(b.id)
    assert ended.processing_status == "ended" and ended.request_counts.canceled == 4
    assert {r.result.type for r in batches.results(b.id)} == {"canceled"}
    assert batches.cancel(b.id).processing_status == "ended"  # cancelling an ended batch changes nothing


def test_errored_and_expired_requests_on_demand(batches, fresh_sim):
    b = batches.create(requests=_requests(0, "ok-1", "sim-errored-1", "sim-expired-1"))
    fresh_sim.finish_batch(b.id)
    by_id = {r.custom_id: r.result for r in batches.results(b.id)}
    assert by_id["ok-1"].type == "succeeded" and by_id["sim-expired-1"].type == "expired"
    assert by_id["sim-errored-1"].type == "errored" and by_id["sim-errored-1"].error.error.type == "api_error"
    counts = batches.retrieve(b.id).request_counts
    assert (counts.succeeded, counts.errored, counts.expired) == (1, 1, 1)
    fresh_sim.configure(batch_seconds=30)
    late = batches.create(requests=_requests(2))
    fresh_sim.expire_batch(late.id)  # its 24 hours are up: nothing had run
    assert batches.retrieve(late.id).request_counts.expired == 2
    assert {r.result.type for r in batches.results(late.id)} == {"expired"}


def test_a_request_the_api_would_refuse_is_an_errored_result(batches, fresh_sim):
    bad = {"custom_id": "bad", "params": {"model": "claude-haiku-5-5", "max_tokens": 0,
                                          "messages": [{"role": "user", "content": "x"}]}}
    b = batches.create(requests=[*_requests(1), bad])
    fresh_sim.finish_batch(b.id)
    by_id = {r.custom_id: r.result for r in batches.results(b.id)}
    assert by_id["bad"].type == "errored" and by_id["bad"].error.error.type == "invalid_request_error"


def test_shape_errors_list_pages_delete_and_not_found(batches, fresh_sim):
    for bad in ([], [{"custom_id": "a b", "params": {}}], _requests(0, "x", "x"),
                [{"custom_id": "s", "params": {"model": "claude-haiku-5-5", "max_tokens": 5, "stream": True,
                                               "messages": [{"role": "user", "content": "x"}]}}]):
        with pytest.raises(anthropic.BadRequestError):
            batches.create(requests=bad)
    made = [batches.create(requests=_requests(1)).id for _ in range(3)]
    first = batches.list(limit=2)
    assert [b.id for b in first.data] == made[::-1][:2] and first.has_more
    assert [b.id for b in first.get_next_page().data] == [made[0]]
    assert [b.id for b in batches.list()] == made[::-1]  # auto-paging, most recent first
    with pytest.raises(anthropic.BadRequestError):
        batches.delete(made[0])  # still in progress
    fresh_sim.finish_batch(made[0])
    assert batches.delete(made[0]).type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        batches.retrieve(made[0])
