"""Async variants for asyncio services: the same guarded pipeline, run off the event loop.

Every step of a guarded call (limiter waits, budget transactions, the SDK call) blocks, so
each call runs in a worker thread; the event loop never waits on it. Stream deltas are
handed to the loop as they arrive.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator

from core.client.guarded import GuardedClient, GuardedStream
from core.client.stream import text_of
from core.types import CallResult

_END = object()


class AsyncGuardedClient:
    """``await create(...)``, ``async for delta in stream(...)``, ``await count_tokens(...)``."""

    def __init__(self, client: GuardedClient) -> None:
        self.client = client

    async def create(self, prompt: str | None = None, **kw) -> CallResult:
        """One guarded call (same arguments and errors as ``GuardedClient.create``)."""
        return await asyncio.to_thread(self.client.create, prompt, **kw)

    async def count_tokens(self, prompt: str | None = None, **kw) -> int:
        return await asyncio.to_thread(self.client.count_tokens, prompt, **kw)

    def stream(self, prompt: str | None = None, **kw) -> AsyncGuardedStream:
        """A guarded stream; refusals raise on the first ``async for`` step."""
        return AsyncGuardedStream(self.client, prompt, kw)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.client.close)

    async def __aenter__(self) -> AsyncGuardedClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()


class AsyncGuardedStream:
    """Text deltas as they arrive (or every SDK event, with ``events()``); ``result`` once the stream has ended."""

    def __init__(self, client: GuardedClient, prompt, kw: dict) -> None:
        self._client, self._prompt, self._kw = client, prompt, kw
        self._sync: GuardedStream | None = None
        self._stop = threading.Event()  # set when the async reader leaves early
        self._worker: asyncio.Future | None = None
        self.result: CallResult | None = None

    async def __aiter__(self) -> AsyncIterator[str]:
        events = self.events()
        try:
            async for ev in events:
                text = text_of(ev)
                if text is not None:
                    yield text
        finally:  # leaving early: close the reader now, not whenever the loop finalises it
            await events.aclose()

    async def events(self) -> AsyncIterator:
        """Every SDK stream event in order, each with its raw SSE (see ``GuardedStream.events``)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = self._stop

        def pump() -> None:  # runs in a worker thread: the whole guarded stream, delta by delta
            try:
                self._sync = self._client.stream(self._prompt, **self._kw)
                for event in self._sync.events():
                    if stop.is_set():  # settled and recorded as cancelled by close()
                        self._sync.close()
                        return
                    loop.call_soon_threadsafe(queue.put_nowait, event)
                loop.call_soon_threadsafe(queue.put_nowait, _END)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting side as is
                loop.call_soon_threadsafe(queue.put_nowait, exc)

        worker = self._worker = loop.run_in_executor(None, pump)
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            await worker
            if self._sync is not None:
                self.result = self._sync.result

    async def aclose(self) -> None:
        """Stop reading now: the stream is settled and recorded as cancelled, its slot freed."""
        self._stop.set()
        if self._worker is not None:
            await self._worker
        if self._sync is not None:
            self.result = self._sync.result

    async def __aenter__(self) -> AsyncGuardedStream:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def final(self) -> CallResult:
        """Read to the end and return the result."""
        async for _ in self.events():
            pass
        return self.result

    async def get_final_message(self):
        """Read to the end and return the SDK ``Message`` (as ``AsyncMessageStream`` does)."""
        return (await self.final()).message
