"""One attempt at the Messages API through the official SDK's client, and nothing else.

Holds one ``anthropic.Anthropic`` per key label (SDK retries off; the retry layer
above owns retrying), moves to the next key when one is rejected, and turns a
response or an SSE stream into a ``Reply``. A Messages body goes out through the SDK
client's own HTTP pool (``core.upstream.poster``), a stream's body is decoded by
``core.upstream.sse`` (SDK event objects built only when touched); SDK errors are translated here, once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from core.errors import (
    AuthenticationFailed,
    ConnectionFailed,
    MalformedResponse,
    StreamInterrupted,
)
from core.guards.tokens import estimate_text
from core.types import Usage
from core.upstream import deadline
from core.upstream.accumulate import Accumulator
from core.upstream.keys import ApiKey, KeyRing
from core.upstream.poster import Poster
from core.upstream.sdk_errors import translate
from core.upstream.sse import StreamEvent, read_events


@dataclass
class Reply:
    """What one successful attempt produced."""

    text: str
    usage: Usage
    stop_reason: str | None
    request_id: str | None
    headers: Mapping[str, str]
    key_label: str
    ttft_s: float | None = None  # monotonic seconds from attempt start to the first content delta
    message_id: str | None = None  # the API's msg_… id
    response_model: str | None = None  # the model the API says answered
    message: object = None  # the whole message: the API's JSON dict (create) or the SDK's Message (stream)
    content: list = field(default_factory=list)  # every block as a JSON-ready dict
    stop_sequence: str | None = None
    usage_detail: dict = field(default_factory=dict)  # the usage object as reported
    raw_json: bytes | None = None  # a JSON answer's body as the API sent it (a relay sends it unchanged)


@dataclass
class OpenStream:
    """A stream that has answered (its head; by default its first content delta too): the rest is read by the caller."""

    events: Iterator
    texts: list[str]
    usage_start: dict
    request_id: str | None
    headers: Mapping[str, str]
    key_label: str
    ttft_s: float | None
    stop_reason: str | None = None
    output_tokens: int | None = None
    done: bool = False
    closer: Callable[[], None] = field(default=lambda: None)
    message_id: str | None = None
    response_model: str | None = None
    idle_s: float | None = None  # longest wait for the next event (s)
    total_end: float | None = None  # time.monotonic() by which the whole stream must end, if any
    backlog: list = field(default_factory=list)  # StreamEvents read while opening, not yet handed on
    acc: Accumulator = field(default_factory=Accumulator)  # the message so far, as JSON (the SDK's on request)
    arrived: list = field(default_factory=list)  # thinking and tool-input text that arrived (billed if cut off)
    server_calls: dict = field(default_factory=dict)  # server tool blocks started, by name (billed if cut off)
    stop_sequence: str | None = None
    started: float = 0.0  # clock() when the attempt began (time to first token counts from here)
    clock: Callable[[], float] = time.monotonic  # the transport's clock (s)


class Transport:
    """Makes SDK calls with the ring's current key; builds SDK clients lazily."""

    def __init__(self, keyring: KeyRing, *, base_url: str | None, timeout_s: float, connect_timeout_s: float,
                 monotonic: Callable[[], float], http_client=None, stream_idle_timeout_s: float | None = None,
                 stream_timeout_s: float | None = None) -> None:
        self.keyring = keyring
        self.base_url = base_url
        self.timeout_s, self.connect_timeout_s = timeout_s, connect_timeout_s
        # Streams: the longest silence between events (unset: timeout_s), and an optional total.
        self.stream_idle_s = stream_idle_timeout_s or timeout_s
        self.stream_total_s = stream_timeout_s or None
        self.monotonic = monotonic
        self.http_client = http_client  # shared by every key's SDK client; its pools get read deadlines
        self._owns_http = http_client is None
        self._stream_timeout = None
        self._sdks: dict[str, object] = {}
        self._posters: dict[str, Poster] = {}  # one per key, beside its SDK client: what create and streams send
        self._create_timeout = None
        self._lock = threading.Lock()

    def sdk(self, key: ApiKey):
        """The SDK client for a key (one per label; SDK retries off)."""
        sdk = self._sdks.get(key.label)
        if sdk is None:
            import anthropic
            import httpx2

            with self._lock:
                sdk = self._sdks.get(key.label)
                if sdk is None:
                    if self._stream_timeout is None:
                        if self.http_client is None:  # the SDK's own defaults (keep-alive, proxies, limits)
                            self.http_client = anthropic.DefaultHttpxClient()
                        deadline.install(self.http_client)
                        self._stream_timeout = httpx2.Timeout(self.stream_idle_s, connect=self.connect_timeout_s)
                        self._create_timeout = httpx2.Timeout(self.timeout_s, connect=self.connect_timeout_s)
                    sdk = anthropic.Anthropic(
                        api_key=key.secret, base_url=self.base_url, max_retries=0,
                        timeout=self._create_timeout, http_client=self.http_client)
                    self._posters[key.label] = Poster(sdk, self.http_client)
                    self._sdks[key.label] = sdk
        return sdk

    def close(self) -> None:
        """Close the HTTP client this transport made (an injected one belongs to its owner)."""
        for poster in list(self._posters.values()):
            poster.close()
        if self._owns_http and self.http_client is not None:
            self.http_client.close()

    def _with_key(self, fn):
        """Run ``fn(sdk, key)``; on a rejected key, mark it failing and try the next one once each."""
        tried: set[str] = set()
        while True:
            key = self.keyring.current()
            try:
                out = fn(self.sdk(key), key)
            except Exception as exc:  # noqa: BLE001 - every SDK error is translated here
                err = translate(exc)
                if isinstance(err, AuthenticationFailed):
                    tried.add(key.label)
                    self.keyring.mark_failing(key.label)
                    if self.keyring.current().label not in tried:
                        continue
                raise err from None
            self.keyring.mark_ok(key.label)  # a key that failed once and works again is healthy
            return out

    def create(self, body: dict) -> Reply:
        """One non-streaming attempt."""
        def call(sdk, key: ApiKey) -> Reply:
            # TOLLGATE_TIMEOUT_S is the whole attempt: every read ends by this point, however the bytes trickle.
            token = deadline.until(time.monotonic() + self.timeout_s)
            try:
                response = self._posters[key.label].create(body, timeout=self._create_timeout)
            finally:
                deadline.release(token)
            return _reply(response, key)
        return self._with_key(call)

    def open_stream(self, body: dict, *, first_content: bool = True,
                    on_skipped: Callable[[bytes], None] | None = None) -> OpenStream:
        """Start a stream and read up to its first content delta (failures so far are retryable).

        ``first_content=False``: return once the upstream has answered 2xx with its head, nothing read (a
        relay forwards every event as it arrives; a failure after the head is then final, as the API's is).
        ``on_skipped``: given the bytes between events (pings, comments) as they are read (``read_events``).
        """
        started = self.monotonic()
        total_end = None if self.stream_total_s is None else time.monotonic() + self.stream_total_s

        def call(sdk, key: ApiKey) -> OpenStream:
            token = deadline.until(_event_deadline(self.stream_idle_s, total_end))
            try:
                stream = self._posters[key.label].stream(body, timeout=self._stream_timeout)
            finally:
                deadline.release(token)
            headers = stream.response.headers
            st = OpenStream(events=read_events(stream, on_skipped), texts=[], usage_start={},
                            request_id=headers.get("request-id"), headers=headers, key_label=key.label,
                            ttft_s=None, closer=stream.close, idle_s=self.stream_idle_s, total_end=total_end,
                            started=started, clock=self.monotonic)
            if not first_content:
                return st
            try:
                while (ev := _next_event(st)) is not None:
                    st.backlog.append(ev)
                    if _absorb(st, ev):
                        st.ttft_s = self.monotonic() - started
                        return st
                if not st.done:  # no message_stop: a cut-off, not an empty answer
                    raise ConnectionFailed("The stream ended before message_stop, before any content arrived.",
                                           request_id=st.request_id)
                return st
            except BaseException:
                stream.close()
                raise
        return self._with_key(call)

    def count_tokens(self, body: dict) -> int:
        """Anthropic's own count for a request (free, separately rate limited)."""
        keep = {k: body[k] for k in _COUNT_PARAMS if body.get(k) is not None}
        return self._with_key(lambda sdk, key: sdk.messages.count_tokens(**keep).input_tokens)

    def list_models(self) -> list[dict]:
        """The upstream's model list (every page), as the API's JSON objects."""
        return self._with_key(lambda sdk, key: [m.model_dump(mode="json") for m in sdk.models.list(limit=1000)])

    def get_model(self, model_id: str) -> dict:
        """One model as the upstream describes it (an unknown one: NotFound)."""
        return self._with_key(lambda sdk, key: sdk.models.retrieve(model_id).model_dump(mode="json"))


def _reply(raw, key: ApiKey) -> Reply:
    """A JSON answer as a ``Reply``, read from the API's own JSON: its ``message`` is that dict, made into the
    SDK ``Message`` only if someone reads ``CallResult.message`` (the SDK's parse costs ~0.3 ms a call)."""
    request_id = raw.headers.get("request-id")
    body = raw.content
    data = json.loads(body)
    if not (isinstance(data, dict) and isinstance(data.get("content"), list) and isinstance(data.get("usage"), dict)
            and all(isinstance(b, dict) for b in data["content"])):
        raise MalformedResponse(request_id=request_id)
    content = data["content"]
    text = "".join(b.get("text") or "" for b in content if b.get("type") == "text")
    return Reply(text=text, usage=Usage.from_api(data["usage"]), stop_reason=data.get("stop_reason"),
                 request_id=request_id, headers=raw.headers, key_label=key.label, message_id=data.get("id"),
                 response_model=data.get("model"), message=data, content=content,
                 stop_sequence=data.get("stop_sequence"), usage_detail=data["usage"], raw_json=body)


# What the count_tokens endpoint reads of a Messages request (documents and images travel in messages).
_COUNT_PARAMS = ("model", "messages", "system", "tools", "tool_choice", "thinking", "mcp_servers",
                 "output_config", "extra_headers")


def _event_deadline(idle_s: float | None, total_end: float | None) -> float | None:
    """When the wait for the next event must end: the idle limit from now, or the total, if sooner."""
    idle_end = None if idle_s is None else time.monotonic() + idle_s
    if total_end is None or (idle_end is not None and idle_end < total_end):
        return idle_end
    return total_end


def _next_event(st: OpenStream) -> StreamEvent | None:
    """The next event with its SSE, or None at the end of the body, read under the idle and total deadlines."""
    token = deadline.until(_event_deadline(st.idle_s, st.total_end))
    try:
        return next(st.events, None)
    finally:
        deadline.release(token)


def _absorb(st: OpenStream, ev: StreamEvent) -> bool:
    """Fold one event into ``st``; True when it carried content. A misshapen event is MalformedResponse."""
    try:
        st.acc.add(ev.obj)
        return _fold(st, ev.obj)
    except (AttributeError, TypeError, KeyError, IndexError, ValueError, RuntimeError):
        raise MalformedResponse(request_id=st.request_id) from None


# Deltas that are the answer arriving: after the first, a failure is StreamInterrupted (not retried).
_CONTENT_DELTAS = {"text_delta": "text", "thinking_delta": "thinking", "input_json_delta": "partial_json"}


def _fold(st: OpenStream, ev: dict) -> bool:
    kind = ev["type"]
    if kind == "content_block_delta":
        delta = ev["delta"]
        field_name = _CONTENT_DELTAS.get(delta["type"])
        if field_name == "text":
            st.texts.append(delta["text"])
        elif field_name is not None:
            st.arrived.append(delta[field_name])
        return field_name is not None
    if kind == "content_block_start":
        block = ev["content_block"]
        if block["type"] == "server_tool_use":
            name = block["name"]
            st.server_calls[name] = st.server_calls.get(name, 0) + 1
    elif kind == "message_start":
        message = ev["message"]
        st.usage_start = dict(message["usage"])
        st.message_id, st.response_model = message.get("id"), message.get("model")
    elif kind == "message_delta":
        delta, usage = ev["delta"], ev["usage"]
        st.stop_reason, st.stop_sequence = delta.get("stop_reason"), delta.get("stop_sequence")
        if usage is not None:
            st.output_tokens = usage["output_tokens"]
            if usage.get("server_tool_use") is not None:  # its final, cumulative count
                st.usage_start["server_tool_use"] = dict(usage["server_tool_use"])
    elif kind == "message_stop":
        st.done = True
    return False


def drain(st: OpenStream) -> Iterator[StreamEvent]:
    """Yield the rest of the stream's events; a failure now is final, with what arrived kept.

    Only ``message_stop`` ends a stream well: a body that ends before it is StreamInterrupted too.
    """
    try:
        while (ev := _next_event(st)) is not None:
            if _absorb(st, ev) and st.ttft_s is None:  # opened at its head: the first content arrives here
                st.ttft_s = st.clock() - st.started
            yield ev
    except Exception as exc:  # noqa: BLE001 - translated once, then reported with the partial text
        err = translate(exc)
        raise StreamInterrupted(f"The answer was cut off part-way through ({err.code}).",
                                partial_text="".join(st.texts), request_id=st.request_id, cause=err) from None
    finally:
        st.closer()
    if not st.done:
        raise StreamInterrupted("The answer was cut off: the stream ended before message_stop.",
                                partial_text="".join(st.texts), request_id=st.request_id)


# Server tool names -> the usage field Anthropic counts them in (server_tool_use).
_SERVER_COUNTS = {"web_search": "web_search_requests", "web_fetch": "web_fetch_requests"}


def stream_usage(st: OpenStream, tokenizer: str = "v1") -> Usage:
    """Merge usage: input and cache counts from message_start, output from message_delta.

    A stream cut off bills the larger of the server's output figure and an estimate of the text
    that arrived; a complete one without a figure bills the estimate (never 0 when text came).
    """
    merged = dict(st.usage_start)
    # message_start's output count is a placeholder; only message_delta carries the real one.
    out = st.output_tokens or 0
    if (st.texts or st.arrived) and (not st.done or st.output_tokens is None):
        out = max(out, estimate_text("".join(st.texts) + "".join(st.arrived), tokenizer))
    merged["output_tokens"] = out
    if st.server_calls and not st.done:  # cut off before the final count: bill each search or fetch that began
        reported = dict(merged.get("server_tool_use") or {})
        for name, field_name in _SERVER_COUNTS.items():
            reported[field_name] = max(reported.get(field_name) or 0, st.server_calls.get(name, 0))
        merged["server_tool_use"] = reported
    return Usage.from_api(merged)


def final_message(st: OpenStream):
    """The message accumulated so far as the SDK's ``ParsedMessage`` (its own accumulator), or None before
    ``message_start``."""
    return st.acc.sdk()
