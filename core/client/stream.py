"""A guarded streaming call: text deltas as they arrive, then the same result as ``create``.

Kept apart from ``core.client.guarded``: the client admits the call, this module only reads the
stream and hands each ending (done, failed, closed early, abandoned) to the call's
``core.client.run.CallRun``, which settles and records it.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator

from core.errors import TollgateError
from core.types import CallResult
from core.upstream.transport import drain, stream_usage


class _StreamState:
    """What the finaliser of an abandoned stream needs, kept apart from the stream itself."""

    def __init__(self, ended: bool) -> None:
        self.started = False
        self.ended = ended


def _abandoned(run, state: _StreamState) -> None:
    """A stream dropped without being read or closed: free what it held (runs at garbage collection)."""
    if not state.started and not state.ended:
        state.ended = True
        run.cancel()


class GuardedStream:
    """Iterates text deltas of a guarded streaming call; ``result`` is set once it ends.

    Use it as a context manager (or call ``close``) when you may stop early. A stream that is
    abandoned, even never read, is settled and recorded as cancelled, and its limiter slot,
    budget hold and breaker probe are freed.
    """

    def __init__(self, run) -> None:
        """``run``: the admitted call's ``CallRun``, or the ``CallResult`` of a cache hit."""
        self.result: CallResult | None = run if isinstance(run, CallResult) else None
        self._callrun = None if self.result is not None else run
        self.partial_text = ""
        # The transport's open stream once the first text has arrived (message id, usage so far, headers):
        # what a relay needs to frame message_start. None for a cache hit or before the first text.
        self.opened = None
        self._gen: Iterator[str] | None = None
        self._state = _StreamState(ended=self.result is not None)
        if self.result is None:
            weakref.finalize(self, _abandoned, run, self._state).atexit = False

    def __iter__(self) -> Iterator[str]:
        if self._gen is None:
            self._gen = self._run()
        return self._gen

    def _run(self) -> Iterator[str]:
        state = self._state
        state.started = True
        if self.result is not None:  # a cache hit: the whole answer at once
            yield self.result.text
            return
        run = self._callrun
        tokenizer = run.call.tokenizer
        try:
            st = run.open_stream()
        except BaseException:  # the run settled and recorded it
            state.ended = True
            raise
        self.opened = st
        try:
            yield from list(st.texts)
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
        self.result = run.succeed("".join(st.texts), stream_usage(st, tokenizer), st.stop_reason,
                                  st.request_id, st.headers, st.key_label, st.ttft_s, st.message_id,
                                  st.response_model)

    def final(self) -> CallResult:
        """Read the stream to its end and return the result."""
        for _ in self:
            pass
        return self.result

    def close(self) -> None:
        """Stop here: settle and record a stream that has not ended (idempotent)."""
        if self._state.ended:
            return
        if self._gen is not None:
            self._gen.close()
        if not self._state.ended:  # never started: nothing was sent, so release what was held
            self._state.ended = True
            self._callrun.cancel()

    def __enter__(self) -> GuardedStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
