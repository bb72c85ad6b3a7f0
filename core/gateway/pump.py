"""A guarded stream opened and read in one worker thread, its events handed to the event loop as they arrive.

The guarded client blocks, so a stream is opened and read off the loop. ``OPENED`` comes first, the
moment ``open_stream()`` returns (the upstream's head is in: the reply may start), then each event.
One thread per stream, for its whole life (opening included: one hand-off, not two), rather than one
thread hop per event: an event is appended to a deque, and the loop is woken (``call_soon_threadsafe``)
only when no wake-up is on its way already; ``ready()`` lets the writer send every event that has
already arrived in one write. Once the first
content delta is handed over, the reader waits (at most ``FIRST_WRITE_WAIT_S``) until the writer says
it has written it (``written()``): reading on would hold the GIL while the event loop writes the first
token, the moment time to first token is measured by.
When the caller goes away, ``stop`` asks the reader to close the stream at its next event (it is
then settled and recorded as closed by the caller, its limiter slot and budget hold freed); the
reader is also the only thread that ever touches the stream, so nothing is read and closed at once.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Awaitable, Callable

from core.errors import TollgateError

END = object()
OPENED = object()  # the first item: the stream is open (its events follow)
FIRST_WRITE_WAIT_S = 0.05  # the longest the reader waits for the first write (a busy loop: read on anyway)


class Raw:
    """Bytes the upstream sent between events (a ping, a comment), relayed as they came."""

    __slots__ = ("raw",)
    type = ""

    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def wire_bytes(self) -> bytes:
        return self.raw


class Pump:
    """``await next()`` gives OPENED, each event of ``open_stream().events()``, then END; a failure is raised from it.

    ``open_stream(skipped)`` opens the stream (``skipped(raw)`` relays the bytes between events as they are
    read: ``Raw`` items); ``run(fn)`` runs ``fn`` in a worker thread (the gateway's pool); ``stream`` is set
    before the first item.
    """

    def __init__(self, open_stream: Callable[[Callable[[bytes], None]], object], run: Callable[[Callable[[], None]], Awaitable]) -> None:
        self.stream = None
        self._held = None  # END or a failure found by ready(), for the next next()
        self._open = open_stream
        # Handed over by the reader thread; the loop is woken once per burst, not once per event: an append
        # and a flag instead of a call_soon_threadsafe each (a lock, a handle, a wake-up) when events come fast.
        self._items: collections.deque = collections.deque()
        self._signalled = False  # a wake-up of the loop is on its way
        self._waiter: asyncio.Future | None = None  # next() waiting for an item
        self._loop = asyncio.get_running_loop()
        self._stop = threading.Event()
        self._written = threading.Event()  # the writer has sent the first content (or gave up)
        self._task = self._loop.create_task(_awaited(run(self._read)))

    def _put(self, item) -> None:
        self._items.append(item)  # before the flag is read: a wake-up that clears it finds the item
        if self._signalled:
            return
        self._signalled = True
        try:
            self._loop.call_soon_threadsafe(self._wake)
        except RuntimeError:  # the loop has closed: nobody is listening any more
            self._stop.set()

    def _wake(self) -> None:
        """On the loop: items have come; the waiting next() (if any) takes them."""
        self._signalled = False
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _skipped(self, raw: bytes) -> None:
        self._put(Raw(raw))

    def _read(self) -> None:
        try:
            self.stream = self._open(self._skipped)
            self._put(OPENED)
            waiting = True  # for the first content: until it is written, time to first token is what counts
            for event in self.stream.events():
                if self._stop.is_set():
                    break
                self._put(event)
                if waiting and event.type == "content_block_delta":
                    waiting = False
                    self._written.wait(FIRST_WRITE_WAIT_S)  # GIL released: the loop writes what came so far
            else:
                self._put(END)
        except TollgateError as err:
            self._put(err)
        except Exception as exc:  # noqa: BLE001 - a bug must still end the response, as one typed error
            self._put(TollgateError(f"The stream failed: {type(exc).__name__}."))
        finally:
            if self.stream is not None:
                self.stream.close()  # a no-op once it ended; else settled as closed by the caller

    async def next(self):
        while True:
            if self._held is not None:
                item, self._held = self._held, None
            elif self._items:
                item = self._items.popleft()
            else:
                self._waiter = self._loop.create_future()
                await self._waiter
                continue
            if isinstance(item, TollgateError):
                raise item
            return item

    def ready(self) -> list:
        """The events already handed over and not yet taken (END or a failure is left for ``next``)."""
        out = []
        while self._held is None and self._items:
            item = self._items.popleft()
            if item is END or isinstance(item, TollgateError):
                self._held = item
            else:
                out.append(item)
        return out

    def written(self) -> None:
        """The writer has sent what it was handed (after the first content: the reader may read on)."""
        self._written.set()

    async def stop(self) -> None:
        """The caller has gone (or the response ended): let the reader close the stream, then wait for it."""
        self._stop.set()
        self._written.set()
        await self._task


async def _awaited(awaitable: Awaitable) -> None:
    await awaitable
