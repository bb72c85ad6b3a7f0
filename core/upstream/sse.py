"""Stream events as the SDK parses them, each with the raw SSE it came from, and their accumulation.

The SDK's ``Stream`` decodes SSE, skips pings and raises an ``error`` event as its typed error;
Tollgate keeps that path and only taps the decoder, so every SDK event can be paired with the
server-sent event (name, data string and wire lines) it was parsed from, never re-serialised.
The events the SDK skipped just before it (``ping``) ride along as ``before``: Python callers see
only the SDK's events, and ``wire()`` gives a relay every byte in the order it came.
The final message is accumulated by the SDK's own helper (``accumulate_event``), not by hand.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterator


class StreamEvent:
    """One SDK stream event (``.event``) with its SSE ``sse_event`` name, ``data`` string and wire lines.

    Attribute access falls through to the SDK event, so ``ev.type`` and ``ev.delta.text`` read as on
    the SDK's own stream. ``data`` is the string as received (a relay can send it byte for byte);
    an event synthesised for a cache hit carries compact JSON of its own.
    """

    __slots__ = ("before", "data", "event", "lines", "sse_event")

    def __init__(self, event, sse_event: str | None, data: str | None, lines: tuple[str, ...] = (),
                 before: str = "") -> None:
        self.event, self.sse_event, self.data, self.lines = event, sse_event, data, lines
        self.before = before  # the SSE text of the events the SDK skipped just before this one (pings)

    def __getattr__(self, name: str):
        if name in StreamEvent.__slots__:  # not set yet (a copy being built): no lookup through the event
            raise AttributeError(name)
        return getattr(self.event, name)

    @property
    def type(self) -> str:
        return getattr(self.event, "type", "")

    def wire(self) -> str:
        """The SSE text of this event, after the pings that came just before it: its wire lines as received,
        or ``event:``/``data:`` lines when made here."""
        if self.lines:
            return self.before + "\n".join(self.lines) + "\n\n"
        return f"{self.before}event: {self.sse_event}\ndata: {self.data}\n\n"

    def __repr__(self) -> str:
        return f"StreamEvent({self.sse_event!r}, {self.data!r})"


class _Tap:
    """Stands in for the SDK stream's SSE decoder: decodes the same way, remembering each event."""

    def __init__(self, decoder) -> None:
        self.decoder = decoder
        self.seen: deque = deque()

    def iter_bytes(self, chunks) -> Iterator:
        for sse in self.decoder.iter_bytes(chunks):
            self.seen.append(sse)
            yield sse

    async def aiter_bytes(self, chunks):
        async for sse in self.decoder.aiter_bytes(chunks):
            self.seen.append(sse)
            yield sse


def tap(stream) -> _Tap | None:
    """Tap an SDK ``Stream``/``AsyncStream`` before it is first read; None if this SDK has no decoder to tap."""
    decoder = getattr(stream, "_decoder", None)
    if decoder is None or not hasattr(decoder, "iter_bytes"):
        return None
    t = _Tap(decoder)
    stream._decoder = t
    return t


def paired(event, t: _Tap | None) -> StreamEvent:
    """``event`` (just yielded by the SDK stream) with the SSE it was parsed from.

    The SDK yields once per SSE with data (pings and empty events are skipped), so the last SSE
    the tap saw is this event's; the skipped ones before it (pings) become its ``before``.
    """
    sse = None
    if t is not None:
        skipped = []
        while t.seen:
            if sse is not None:
                skipped.append(sse)
            sse = t.seen.popleft()
        if sse is not None:
            before = "".join(_text(s) for s in skipped if s.event is not None)
            return StreamEvent(event, sse.event, sse.data, tuple(getattr(sse, "raw", ()) or ()), before)
    name = getattr(event, "type", None)
    return StreamEvent(event, name, json.dumps(event.to_dict(), separators=(",", ":"), ensure_ascii=False))


def _text(sse) -> str:
    """One decoded SSE as it came over the wire."""
    raw = getattr(sse, "raw", None)
    if raw:
        return "\n".join(raw) + "\n\n"
    return f"event: {sse.event}\ndata: {sse.data}\n\n"


PING = 'event: ping\ndata: {"type": "ping"}\n\n'  # what the API sends after the first content_block_start


class Accumulator:
    """The message so far, built from events by the SDK's ``accumulate_event`` (import deferred: start-up cost)."""

    __slots__ = ("_bufs", "snapshot")

    def __init__(self) -> None:
        self.snapshot = None
        self._bufs: dict[int, bytes] = {}

    def add(self, event) -> None:
        """Fold one SDK event in; raises on an event out of order or misshapen (the caller's MalformedResponse)."""
        self.snapshot = _accumulate()(event=event, current_snapshot=self.snapshot, json_bufs=self._bufs)


_ACCUMULATE = []


def _accumulate():
    """The SDK's ``accumulate_event`` (what ``MessageStream`` uses), imported on first use."""
    if not _ACCUMULATE:
        from anthropic.lib.streaming._messages import accumulate_event

        _ACCUMULATE.append(accumulate_event)
    return _ACCUMULATE[0]
