"""The async variants: the same guarded pipeline from an event loop, streaming included."""

from __future__ import annotations

import asyncio

import pytest

from core import errors
from core.client.aio import AsyncGuardedClient

PROMPT = "Name three risks of a new vendor."


def test_async_create_stream_and_errors(make_client, fresh_sim):
    client = AsyncGuardedClient(make_client(real_time=True, cache="off"))

    async def main():
        results = await asyncio.gather(*(client.create(f"{PROMPT} {i}", user="ana", model="claude-haiku-5-5",
                                                       max_tokens=32) for i in range(8)))
        s = client.stream(PROMPT, user="ana", model="claude-haiku-5-5", max_tokens=32)
        deltas = [d async for d in s]
        with pytest.raises(errors.UnknownModel):
            await client.create(PROMPT, user="ana", model="claude-nope")
        fresh_sim.script_faults([{"fault": "529"}])
        retried = await client.create(PROMPT + "?", user="ana", model="claude-haiku-5-5", max_tokens=32)
        tokens = await client.count_tokens(PROMPT, model="claude-haiku-5-5")
        return results, deltas, s.result, retried, tokens

    results, deltas, streamed, retried, tokens = asyncio.run(main())
    assert len(results) == 8 and all(r.text and r.cost_usd > 0 for r in results)
    assert "".join(deltas) == streamed.text and streamed.ttft_ms is not None
    assert retried.retries == 1 and tokens > 0


def test_async_stream_left_early_is_settled(make_client, fresh_sim):
    sync = make_client(real_time=True, cache="off", concurrency=1, limit_max_wait_s=0)
    client = AsyncGuardedClient(sync)

    async def main():
        async with client.stream(PROMPT, user="ana", model="claude-haiku-5-5", max_tokens=64) as s:
            async for _ in s:
                break
        return await client.create(PROMPT + "!", user="ana", model="claude-haiku-5-5", max_tokens=16)

    assert asyncio.run(main()).text  # the abandoned stream gave its only slot back
    assert sync.limiter.snapshot()["global"]["concurrency"]["in_use"] == 0
