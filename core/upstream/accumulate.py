"""A stream's message so far, folded from the events' JSON as the SDK's ``accumulate_event`` folds them.

The gateway and the guard need the message as JSON (the response cache, the ledger, a relay), not
as SDK models, so each event is folded here into plain dicts: the same fields the SDK's snapshot
gives from ``to_dict()``, and the same failures (an event out of order or misshapen raises).
A Python caller who asks for the SDK's ``Message`` gets the SDK's own accumulation, run then, over the
same events (``sdk()``): what ``MessageStream`` would have given, not a copy of it.
"""

from __future__ import annotations

# The blocks whose input arrives as partial JSON (the SDK's ``TRACKS_TOOL_INPUT``: tool_use, server_tool_use).
_TRACKS_INPUT = frozenset({"tool_use", "server_tool_use"})
# Usage counts a message_delta may carry, each overwriting message_start's when present (cumulative totals).
_DELTA_USAGE = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "server_tool_use",
                "output_tokens_details")


def _copy(value):
    """A JSON value copied (dicts and lists anew): the snapshot never shares what an event holds."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


class Accumulator:
    """``add(event_dict)`` folds one event into ``message`` (None before message_start)."""

    __slots__ = ("_bufs", "_events", "_sdk", "_sdk_bufs", "_sdk_n", "message")

    def __init__(self) -> None:
        self.message: dict | None = None
        self._bufs: dict[int, bytes] = {}
        self._events: list = []
        self._sdk = None  # the SDK's snapshot, folded up to _sdk_n events, only when someone asked for it
        self._sdk_n = 0
        self._sdk_bufs: dict[int, bytes] = {}

    def add(self, ev: dict) -> None:
        """Fold one event in; raises (KeyError, TypeError, IndexError, ValueError, RuntimeError) where the SDK would."""
        kind = ev["type"]
        snap = self.message
        if snap is None:
            if kind != "message_start":
                raise RuntimeError(f'Unexpected event order, got {kind} before "message_start"')
            self.message = _copy(ev["message"])
        elif kind == "content_block_delta":
            _delta(snap["content"][ev["index"]], ev["delta"], ev["index"], self._bufs)
        elif kind == "content_block_start":
            snap["content"].append(_copy(ev["content_block"]))
        elif kind == "content_block_stop":
            snap["content"][ev["index"]]  # noqa: B018 - out of range is misshapen, as for the SDK
        elif kind == "message_delta":
            _message_delta(snap, ev)
        self._events.append(ev)

    def sdk(self):
        """The SDK's snapshot (``ParsedMessage``) of the events so far, by the SDK's ``accumulate_event``."""
        from anthropic.lib.streaming._messages import accumulate_event

        while self._sdk_n < len(self._events):
            ev = self._events[self._sdk_n]
            self._sdk = accumulate_event(event=ev, current_snapshot=self._sdk, json_bufs=self._sdk_bufs)
            self._sdk_n += 1
        return self._sdk


def _delta(block: dict, delta: dict, index: int, bufs: dict) -> None:
    """One delta into its block; a delta for a block of another type changes nothing (as the SDK's)."""
    kind, btype = delta["type"], block.get("type")
    if kind == "text_delta" and btype == "text":
        block["text"] += delta["text"]
    elif kind == "input_json_delta" and btype in _TRACKS_INPUT:
        buf = bufs.get(index, b"") + delta["partial_json"].encode()
        if buf:
            from jiter import from_json  # the SDK's parser of partial JSON, so a cut-off input reads alike

            try:
                block["input"] = from_json(buf, partial_mode=True)
            except ValueError as e:
                raise ValueError(f"Unable to parse tool parameter JSON from model: {e}") from e
        bufs[index] = buf
    elif kind == "citations_delta" and btype == "text":
        if not block.get("citations"):
            block["citations"] = [_copy(delta["citation"])]
        else:
            block["citations"].append(_copy(delta["citation"]))
    elif kind == "thinking_delta" and btype == "thinking":
        block["thinking"] += delta["thinking"]
    elif kind == "signature_delta" and btype == "thinking":
        block["signature"] = delta["signature"]


def _message_delta(snap: dict, ev: dict) -> None:
    delta, usage = ev["delta"], ev["usage"]
    snap["stop_reason"], snap["stop_sequence"] = delta.get("stop_reason"), delta.get("stop_sequence")
    snap["stop_details"] = _copy(delta.get("stop_details"))
    if delta.get("container") is not None:
        snap["container"] = _copy(delta["container"])
    out = snap["usage"]
    out["output_tokens"] = usage["output_tokens"]
    for name in _DELTA_USAGE:
        if usage.get(name) is not None:
            out[name] = _copy(usage[name])


class LazyMessage:
    """A finished stream's message: ``data`` (its JSON) now, the SDK's ``Message`` (``sdk()``) when asked."""

    __slots__ = ("_acc", "data")

    def __init__(self, acc: Accumulator) -> None:
        self._acc, self.data = acc, acc.message

    def sdk(self):
        return self._acc.sdk()
