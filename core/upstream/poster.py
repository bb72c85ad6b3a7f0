"""One POST of an already-validated Messages body through the SDK client's own HTTP connection pool.

The SDK's request machinery (options models, body transform, header layering, httpx's client
send with its auth, redirect and hook steps) costs about 1 ms of CPU a call; the body here was
validated by the guard already, so it is encoded once and handed to the SDK's own httpx transport
(the same pool, proxies, keep-alive and socket deadlines, ``core.upstream.deadline``) with the SDK
client's own headers (key, ``anthropic-version``, user agent), computed once per key. A non-2xx
answer is raised as the SDK's own status error, built by the SDK from the read body, so
``core.upstream.sdk_errors.translate`` stays the one translation; transport failures are httpx's.
When that transport is httpx's own pool straight to the origin (no proxy mount, no mock), the POST
goes out on ``core.upstream.wire``'s kept-alive sockets instead: httpcore and h11 cost half a call's CPU.

When the SDK client traces (OpenTelemetry configured), the body goes through the SDK's own
``messages.create`` instead, so its span and trace-context headers nest under Tollgate's span.
"""

from __future__ import annotations

import json

# Parameters the SDK's ``messages.create`` takes by name; the rest (temperature, top_p, top_k for the
# models that still accept them, fields newer than the SDK) travel in ``extra_body``, passed through untouched.
_SDK_PARAMS = frozenset({"max_tokens", "messages", "model", "cache_control", "container", "diagnostics",
                         "inference_geo", "metadata", "output_config", "service_tier", "speed",
                         "stop_sequences", "system", "thinking", "tool_choice", "tools", "user_profile_id",
                         "workspace_id"})


def sdk_kwargs(body: dict) -> dict:
    """A request body as the SDK's named arguments, ``extra_body`` and ``extra_headers`` (never in the body)."""
    kw = {k: v for k, v in body.items() if k in _SDK_PARAMS}
    extra = {k: v for k, v in body.items() if k not in _SDK_PARAMS and k != "extra_headers"}
    if extra:
        kw["extra_body"] = extra
    if body.get("extra_headers"):  # None leaves a header out: the SDK's ``omit``
        from anthropic import omit

        kw["extra_headers"] = {k: omit if v is None else v for k, v in body["extra_headers"].items()}
    return kw


class Poster:
    """POSTs bodies to ``/v1/messages`` as ``sdk`` would, through the transport its HTTP client picks."""

    __slots__ = ("_headers", "_heads", "_http", "_pool", "_sdk", "_transport", "_url")

    def __init__(self, sdk, http_client) -> None:
        import httpx2
        from anthropic._types import Omit

        self._sdk, self._http = sdk, http_client
        self._url = httpx2.URL(str(sdk._prepare_url("/v1/messages")))
        self._headers = {k.lower(): v for k, v in sdk.default_headers.items() if not isinstance(v, Omit)}
        self._transport = http_client._transport_for_url(self._url)  # the proxy mount, if any, as httpx picks
        self._pool = lean_pool(http_client, self._transport, self._url)
        self._heads: dict[tuple, bytes | None] = {}  # the encoded header lines, by the call's extra headers

    def close(self) -> None:
        """Close the kept-alive connections of the lean path (the SDK's own pool is its client's)."""
        if self._pool is not None:
            self._pool.close()

    def _sdk_traces(self) -> bool:
        """Whether the SDK client would make a span: it has a tracer, and a real provider stands behind it.

        With OpenTelemetry installed but no SDK provider set (the default), the SDK's tracer makes
        non-recording spans that it drops, so the fast path loses nothing; asked per call, since a
        provider may be set at any time."""
        if self._sdk._tracer is None:
            return False
        if self._sdk._open_telemetry.get("tracer_provider") is not None:
            return True
        from opentelemetry import trace

        return not isinstance(trace.get_tracer_provider(), (trace.ProxyTracerProvider, trace.NoOpTracerProvider))

    def create(self, body: dict, *, timeout) -> object:
        """The read ``httpx2.Response`` of one JSON POST; a non-2xx answer raised as the SDK's."""
        if self._sdk_traces():  # the SDK's own span, nested under Tollgate's
            return self._sdk.messages.with_raw_response.create(**sdk_kwargs(body), timeout=timeout).http_response
        return self._send(body, stream=False, timeout=timeout)

    def stream(self, body: dict, *, timeout) -> object:
        """The SDK's own ``Stream`` of message events (its SSE decoding, ping skipping, error events), unread."""
        if self._sdk_traces():  # the SDK's span ends with its own stream
            return self._sdk.messages.create(**sdk_kwargs(body), stream=True, timeout=timeout)
        import anthropic
        from anthropic.types import RawMessageStreamEvent

        response = self._send(body, stream=True, timeout=timeout)
        return anthropic.Stream(cast_to=RawMessageStreamEvent, response=response, client=self._sdk)

    def _send(self, body: dict, *, stream: bool, timeout) -> object:
        """The ``httpx2.Response`` of one POST (a stream's body unread); a non-2xx answer raised as the SDK's."""
        import httpx2

        extra = body.get("extra_headers")
        data = {k: v for k, v in body.items() if k != "extra_headers"}
        if stream:
            data["stream"] = True
        content = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
        if self._pool is not None and (head := self._head(extra)) is not None:
            return self._lean(head, content, stream, timeout)
        headers = self._headers
        if extra:  # the caller's (anthropic-beta, anthropic-version) win
            headers = dict(headers)
            for name, value in extra.items():
                if value is None:  # None: leave the header out, as the SDK does
                    headers.pop(name.lower(), None)
                else:
                    headers[name.lower()] = value
        request = httpx2.Request("POST", self._url, headers=headers, content=content,
                                 extensions={"timeout": timeout.as_dict()})
        response = self._transport.handle_request(request)
        response.request = request
        if response.status_code >= 400:
            try:
                response.read()
            finally:
                response.close()
            raise self._sdk._make_status_error_from_response(response)
        if not stream:
            try:
                response.read()
            finally:
                response.close()
        return response


    def _head(self, extra: dict | None) -> bytes | None:
        """The header lines for a call with ``extra`` headers, encoded once per set; None: not plain ASCII
        tokens and values (httpx then sends it, or refuses it, as before)."""
        key = tuple(extra.items()) if extra else ()
        head = self._heads.get(key, b"")
        if head != b"":
            return head
        headers = dict(self._headers)
        for name, value in key:
            if value is None:
                headers.pop(name.lower(), None)
            else:
                headers[name.lower()] = value
        head = _encode(headers)
        if len(self._heads) < 256:
            self._heads[key] = head
        return head

    def _lean(self, head: bytes, content: bytes, stream: bool, timeout) -> object:
        """One POST on the lean path (``core.upstream.wire``); a non-2xx answer raised as the SDK's."""
        response = self._pool.post(head, content, timeout)
        if response.status_code >= 400:
            response.read()
            raise self._sdk._make_status_error_from_response(response.httpx())
        if not stream:
            response.read()
        return response


def _encode(headers: dict) -> bytes | None:
    """``name: value`` lines, CRLF-ended; None if a name or value is not plain printable ASCII."""
    lines = []
    for name, value in headers.items():
        if not isinstance(value, str) or not name.isascii() or not value.isascii():
            return None
        if not all(c.isalnum() or c in "-_" for c in name) or not value.isprintable():
            return None
        lines.append(f"{name}: {value}\r\n")
    return "".join(lines).encode("ascii")


def lean_pool(http_client, transport, url):
    """A ``core.upstream.wire.Pool`` for ``url`` when the SDK client would send straight to it through httpx's
    own pool (no proxy, no mock transport, no unix socket or local address), else None."""
    import httpcore2
    import httpx2

    from core.upstream.wire import Pool

    pool = getattr(transport, "_pool", None)
    if type(transport) is not httpx2.HTTPTransport or transport is not getattr(http_client, "_transport", None):
        return None
    if type(pool) is not httpcore2.ConnectionPool or url.scheme not in ("http", "https"):
        return None
    if getattr(pool, "_uds", None) or getattr(pool, "_local_address", None) or getattr(pool, "_http2", False):
        return None
    ssl_context = getattr(pool, "_ssl_context", None)
    if url.scheme == "https" and ssl_context is None:
        return None
    return Pool(url, ssl_context, socket_options=getattr(pool, "_socket_options", None) or ())
