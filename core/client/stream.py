"""A guarded streaming call: text deltas (or every SDK event) as they arrive, then the same result as ``create``.

Kept apart from ``core.client.guarded``: the client admits the call, this module only reads the
stream and hands each ending (done, failed, closed early, abandoned) to the call's
``core.client.run.CallRun``, which settles and records it. One generator reads the events;
iterating the stream picks the text deltas out of it, ``events()`` hands on all of them.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator

from core.client.replay import replay
from core.errors import TollgateError
from core.types import CallResult
from core.upstream.accumulate import LazyMessage
from core.upstream.sse import StreamEvent
from core.upstream.transport import Reply, drain, final_message, stream_usage


class _StreamState:
    """What the finaliser of an abandoned stream needs, kept apart from the stream itself."""

    def __init__(self, ended: bool) -> None:
        self.started = False
        self.ended = ended
        self.opened = None  # the transport's open stream once sent by ``open()``, before any event was read


def _abandoned(run, state: _StreamState) -> None:
    """A stream dropped without being read or closed: free what it held (runs at garbage collection)."""
    if not state.started and not state.ended:
        state.ended = True
        _unread(run, state.opened)


def _unread(run, st) -> None:
    """Settle a stream that was never read: nothing sent (cancelled), or sent and closed by the caller unread."""
    if st is None:
        run.cancel()
        return
    st.closer()
    run.fail(TollgateError("Stream closed by the caller."), usage=stream_usage(st, run.call.tokenizer),
             partial_text="", request_id=st.request_id, key_label=st.key_label)


def text_of(ev: StreamEvent) -> str | None:
    """The text a ``text_delta`` event carries, else None."""
    obj = ev.obj
    if obj.get("type") == "content_block_delta" and (delta := obj.get("delta")).get("type") == "text_delta":
        return delta["text"]
    return None


class GuardedStream:
    """Iterates text deltas of a guarded streaming call; ``events()`` gives every event; ``result`` once it ends.

    Use it as a context manager (or call ``close``) when you may stop early. A stream that is
    abandoned, even never read, is settled and recorded as cancelled, and its limiter slot,
    budget hold and breaker probe are freed.
    """

    def __init__(self, run) -> None:
        """``run``: the admitted call's ``CallRun``, or the ``CallResult`` of a cache hit."""
        self.result: CallResult | None = run if isinstance(run, CallResult) else None
        self._callrun = None if self.result is not None else run
        self.partial_text = ""
        self._gen: Iterator[StreamEvent] | None = None
        self._st = None  # the transport's open stream, once sent
        self._state = _StreamState(ended=self.result is not None)
        if self.result is None:
            weakref.finalize(self, _abandoned, run, self._state).atexit = False

    def __iter__(self) -> Iterator[str]:
        return (text for ev in self.events() if (text := text_of(ev)) is not None)

    @property
    def text_stream(self) -> Iterator[str]:
        """The text deltas, as the SDK's ``MessageStream.text_stream`` (the same as iterating the stream)."""
        return iter(self)

    def events(self) -> Iterator[StreamEvent]:
        """Every SDK stream event in order, each with its raw SSE (``sse_event``, ``data``, ``wire()``).

        Shares its progress with text iteration: an event read by one is not seen again by the other.
        """
        if self._gen is None:
            self._gen = self._run()
        return self._gen

    def _run(self) -> Iterator[StreamEvent]:
        state = self._state
        state.started = True
        if self.result is not None:  # a cache hit: the stored message, as the API would stream it
            yield from replay(self._hit_message())
            return
        run = self._callrun
        tokenizer = run.call.tokenizer
        st = self._st if self._st is not None else self._send(True)
        try:
            while st.backlog:  # read while opening (up to the first content): handed on first
                yield st.backlog.pop(0)
            yield from drain(st)
        except TollgateError as err:
            state.ended = True
            self.partial_text = "".join(st.texts)
            run.fail(err, usage=stream_usage(st, tokenizer), partial_text=self.partial_text,
                     request_id=st.request_id, key_label=st.key_label)
            raise
        except BaseException as exc:  # the caller stopped reading (GeneratorExit) or was interrupted
            state.ended = True
            st.closer()
            self.partial_text = "".join(st.texts)
            why = "Stream closed by the caller." if isinstance(exc, GeneratorExit) else \
                f"Interrupted: {type(exc).__name__}"
            run.fail(TollgateError(why), usage=stream_usage(st, tokenizer), partial_text=self.partial_text,
                     request_id=st.request_id, key_label=st.key_label)
            raise
        state.ended = True
        self.result = run.succeed(_reply(st, tokenizer), st.ttft_s)

    def open(self, *, first_content: bool = True, on_skipped=None) -> GuardedStream:
        """Send now, before the events are read: back once the first content arrived (a failure before it is
        retried) or, with ``first_content=False``, once the API answered with its head (a relay forwards every
        event as it comes; a failure after the head is final, as the API's own). ``on_skipped(raw)``: the bytes
        between events (pings, comments) the moment they are read, instead of in the next event's ``before``.
        A cache hit: nothing to send."""
        if self.result is None and self._st is None and not self._state.ended:
            self._send(first_content, on_skipped)
        return self

    def _send(self, first_content: bool, on_skipped=None):
        try:
            self._st = self._state.opened = self._callrun.open_stream(first_content, on_skipped)
        except BaseException:  # the run settled and recorded it
            self._state.ended = True
            raise
        return self._st

    @property
    def opened(self):
        """The transport's open stream once sent (its request id and headers); None for a cache hit or before."""
        return self._st

    def _hit_message(self) -> dict:
        r = self.result
        if r.message is not None:
            return r.message.to_dict(warnings=False)
        return {"id": None, "type": "message", "role": "assistant", "model": r.model, "content": r.content,
                "stop_reason": r.stop_reason, "stop_sequence": r.stop_sequence, "usage": r.usage_detail}

    @property
    def current_message_snapshot(self):
        """The message accumulated so far by the SDK's helper (None before ``message_start``)."""
        if self.result is not None and (self._st is None or self._state.ended):
            return self.result.message
        return None if self._st is None else final_message(self._st)

    def get_final_message(self):
        """Read the stream to its end and return the SDK ``Message`` (as ``MessageStream`` does)."""
        return self.final().message

    def final(self) -> CallResult:
        """Read the stream to its end and return the result."""
        for _ in self.events():
            pass
        return self.result

    def close(self) -> None:
        """Stop here: settle and record a stream that has not ended (idempotent)."""
        if self._state.ended:
            return
        if self._gen is not None:
            self._gen.close()
        if not self._state.ended:  # never read: nothing was sent (release what was held), or closed unread
            self._state.ended = True
            _unread(self._callrun, self._st)

    def __enter__(self) -> GuardedStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _reply(st, tokenizer: str) -> Reply:
    """A finished stream as the transport's Reply: the accumulated message (its JSON; the SDK's ``Message``
    built only if read), usage merged for billing."""
    msg = st.acc.message
    return Reply(text="".join(st.texts), usage=stream_usage(st, tokenizer), stop_reason=st.stop_reason,
                 request_id=st.request_id, headers=st.headers, key_label=st.key_label, ttft_s=st.ttft_s,
                 message_id=st.message_id, response_model=st.response_model,
                 message=LazyMessage(st.acc) if msg is not None else None,
                 content=msg["content"] if msg is not None else [], stop_sequence=st.stop_sequence,
                 usage_detail=msg["usage"] if msg is not None else {})
