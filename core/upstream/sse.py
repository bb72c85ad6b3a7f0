"""Stream events read from the SSE body of an SDK ``Stream``'s response, each with the bytes it came as.

Tollgate decodes the body itself (``core.upstream.sse_decode``) and parses each event's JSON with
``json.loads``; the SDK's event object (``.event``: real SDK types, ``ev.delta.text``) is built,
by the SDK's own ``_process_response_data``, only when a Python caller touches it, so a relay pays
no pydantic per event. What the SDK's ``Stream`` skips (``ping``, blocks without an event name or
data, comments) rides along in the next event's ``before``: Python callers see the SDK's events,
and ``wire()`` gives a relay every byte in the order it came. An ``error`` event raises the SDK's
own status error, as the SDK's ``Stream`` does, and its tracing observer hears how the read ended.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator

from core.upstream.sse_decode import Decoder


class StreamEvent:
    """One stream event: its JSON (``obj``), SSE ``sse_event`` name, ``data`` string and wire bytes.

    ``event`` is the SDK's event object, built on first use; attribute access falls through to it, so
    ``ev.type`` and ``ev.delta.text`` read as on the SDK's own stream. ``data`` is the string as
    received; an event synthesised for a cache hit carries compact JSON of its own.
    """

    __slots__ = ("_event", "_make", "before", "data", "obj", "raw", "sse_event")

    def __init__(self, obj, sse_event: str | None, data: str, raw: bytes | None = None, before: bytes = b"",
                 make: Callable[[object], object] | None = None, event=None) -> None:
        self.obj, self.sse_event, self.data, self.raw = obj, sse_event, data, raw
        self.before = before  # the bytes the SDK's Stream skipped just before this event (pings, comments)
        self._make, self._event = make, event

    @property
    def event(self):
        """The SDK's event object (a ``RawMessageStreamEvent``), built from ``obj`` the first time."""
        if self._event is None:
            self._event = self._make(self.obj)
        return self._event

    def __getattr__(self, name: str):
        if name in StreamEvent.__slots__:  # not set yet (a copy being built): no lookup through the event
            raise AttributeError(name)
        return getattr(self.event, name)

    @property
    def type(self) -> str:
        obj = self.obj
        return obj.get("type", "") if isinstance(obj, dict) else getattr(self.event, "type", "")

    def wire_bytes(self) -> bytes:
        """This event's SSE bytes after those skipped just before it: as received, or made here."""
        if self.raw is not None:
            return self.before + self.raw if self.before else self.raw
        return self.before + f"event: {self.sse_event}\ndata: {self.data}\n\n".encode()

    def wire(self) -> str:
        """``wire_bytes()`` as text."""
        return self.wire_bytes().decode()

    def __repr__(self) -> str:
        return f"StreamEvent({self.sse_event!r}, {self.data!r})"


PING = b'event: ping\ndata: {"type": "ping"}\n\n'  # what the API sends after the first content_block_start


def read_events(stream, on_skipped: Callable[[bytes], None] | None = None) -> Iterator[StreamEvent]:
    """The events of an SDK ``Stream`` (unread), from its response's bytes; closes the response at the end.

    Skips what the SDK's ``Stream.__stream__`` skips (into the next event's ``before``, or, given
    ``on_skipped``, handed to it the moment it is read: a relay forwards a ping when it comes), raises an
    ``error`` event as the SDK's status error, and tells the response's tracing observer (if any) as the
    SDK's ``Stream`` would.
    """
    from anthropic.types import RawMessageStreamEvent

    response, client = stream.response, stream._client
    process = client._process_response_data

    def make(obj):
        return process(data=obj, cast_to=RawMessageStreamEvent, response=response)

    observer = stream._observer
    if observer is not None:
        observer.begin()
    decoder, before = Decoder(), []
    try:
        chunks = response.iter_bytes()
        last = False
        while not last:
            chunk = next(chunks, None)
            if chunk is None:
                chunk, last = b"", True
            for name, data, raw in decoder.feed(chunk, last=last):
                if name is None or name == "ping" or (not data and name != "error"):
                    if on_skipped is not None:
                        on_skipped(raw)
                    else:
                        before.append(raw)
                    continue
                if name == "error":
                    raise _error(client, response, data)
                ev = StreamEvent(json.loads(data), name, data, raw, b"".join(before) if before else b"", make)
                before = []
                if observer is not None:  # the event itself: its SDK object is built only if the observer reads it
                    observer.item(ev)
                yield ev
        if observer is not None:
            observer.end("read")
    except Exception as err:
        if observer is not None:
            observer.end("failed", err)
        raise
    finally:
        if sys.is_finalizing():  # as the SDK: closing at interpreter shutdown can crash CPython 3.13
            response.is_closed = True
        else:
            response.close()


def _error(client, response, data: str) -> Exception:
    """An ``error`` event as the SDK's ``Stream`` raises it: its status error, built by the SDK."""
    body = data
    try:
        body = json.loads(data)
        message = f"{body}"
    except Exception:  # noqa: BLE001 - as the SDK: a body that is not JSON is its own message
        message = data or f"Error code: {response.status_code}"
    if hasattr(response, "httpx"):  # the lean path's response (core.upstream.wire): the SDK wants httpx's
        response = response.httpx()
    return client._make_status_error(message, body=body, response=response)
