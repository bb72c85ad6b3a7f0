"""The HTTP handler: routes /v1/* like the Anthropic API and /_sim/* to the control endpoints.

Order for an API request: count it, check the key, serve a fault (header first, then the
script), validate, apply rate limits, then reply (JSON, or SSE with chunked encoding so the
connection stays reusable). Nothing here logs headers, so a key never reaches a log line.
"""

from __future__ import annotations

import json
import math
import socket
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit

from .batch_api import batch_api
from .compose import compose
from .control import handle_control
from .faults import ERROR_FAULTS, Fault, error_body, fault_error, parse_fault, retry_after_headers
from .paging import list_body, page
from .prompt_cache import PromptUsage, find_breakpoints
from .replies import Reply, Tier, message_json, model_json, new_id
from .state import SimState
from .stream_events import content_events, message_end, message_start, stream_error
from .validate import MessagesRequest, RequestError, invalid, parse_messages_body, resolve_model

STREAM_FAULTS = frozenset({"stream-error", "truncate", "error-event", "malformed-event"})
DEFAULT_AFTER = 3  # deltas (of any block) a broken stream sends before its fault
DEFAULT_TRICKLE_S = 0.05  # seconds between the bytes of a trickled body

def _api_versions() -> frozenset[str]:
    """The ``anthropic-version`` values the API accepts: the published ones and the installed SDK's own."""
    try:
        from anthropic._constants import ANTHROPIC_API_VERSION
    except ImportError:
        ANTHROPIC_API_VERSION = "2023-06-01"  # noqa: N806 - the SDK's name
    return frozenset({"2023-01-01", "2023-06-01", ANTHROPIC_API_VERSION})


API_VERSIONS = _api_versions()
_GONE = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError)


class SimHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects
    disable_nagle_algorithm = True  # headers and body go out in separate writes: no 40 ms delayed-ACK stall
    server_version = "anthropic-simulator"
    sys_version = ""
    timeout = 120  # idle keep-alive connections end after this many seconds

    @property
    def state(self) -> SimState:
        return self.server.state

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        if self.state.verbose:
            super().log_message(format, *args)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PUT(self):
        self._dispatch("PUT")

    # --- plumbing -----------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        self.rid = new_id("req_sim_")
        self._api_headers = False
        self._started = False
        self._gen: int | None = None  # the stats generation this request counts in
        url = urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        try:
            raw = self._read_body()
            if path.startswith("/_sim/"):
                status, body = handle_control(self.state, method, path, raw, self.rid)
                self._send_json(status, body)
            else:
                self._api_headers = True
                self._api(method, path, url.query, raw)
        except _GONE:
            self.close_connection = True  # the client went away (e.g. its read timed out)
        except Exception:  # a simulator bug: answer like the API would rather than hang up
            if self._started:
                self.close_connection = True  # mid-response: the only honest signal left
            else:
                try:
                    self._send_error(500, "api_error", "Internal server error (simulator)")
                except OSError:
                    self.close_connection = True
            if self.state.verbose:
                raise

    def end_headers(self) -> None:
        self._started = True
        super().end_headers()

    def _read_body(self) -> bytes:
        length = int(self.headers.get("content-length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _common_headers(self) -> None:
        self.send_header("request-id", self.rid)
        if self._api_headers:
            for name, value in self.state.limiter.headers().items():
                self.send_header(name, value)

    def _send_json(self, status: int, body: dict, extra: dict | None = None) -> None:
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self._common_headers()
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        if self._api_headers:
            self.state.stats.status(status, self._gen)

    def _send_error(self, status: int, etype: str, message: str, details: dict | None = None,
                    extra: dict | None = None) -> None:
        self._send_json(status, error_body(etype, message, self.rid, details), extra)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _disconnect(self) -> None:
        """Close the socket without a byte of response."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # --- the API ------------------------------------------------------------------

    def _api(self, method: str, path: str, query: str, raw: bytes) -> None:
        st = self.state
        self._gen = st.stats.request(path)
        key = _api_key(self.headers)
        if not key:
            return self._send_error(401, "authentication_error",
                                    "An API key is required (x-api-key or Authorization: Bearer header)")
        if st.key_rejected(key):
            return self._send_error(401, "authentication_error", "invalid x-api-key")
        version = self.headers.get("anthropic-version")
        if version is not None and version not in API_VERSIONS:  # absent: accepted, as the tests' raw calls
            return self._send_error(400, "invalid_request_error",
                                    f"anthropic-version: {json.dumps(version)} is not a valid version")
        is_messages = method == "POST" and path in ("/v1/messages", "/v1/messages/batches")  # scripted faults
        try:
            fault = self._pick_fault(is_messages, method == "POST" and path == "/v1/messages/count_tokens")
        except ValueError as exc:
            return self._send_error(400, "invalid_request_error", f"x-simulate-fault: {exc}")
        try:
            if fault is not None and self._serve_fault(fault, raw):
                return None
            if is_messages and path == "/v1/messages":
                return self._messages(_json_body(raw), fault)
            if method == "POST" and path == "/v1/messages/count_tokens":
                req = parse_messages_body(_json_body(raw), st.catalogue, count_only=True)
                return self._send_json(200, {"input_tokens": req.prompt_tokens})
            if path == "/v1/messages/batches" or path.startswith("/v1/messages/batches/"):
                return batch_api(self, method, path, query, raw)
            if method == "GET" and path == "/v1/models":
                models = self.state.catalogue.models
                ids, more = page(list(models), parse_qs(query), str)
                return self._send_json(200, list_body([model_json(models[m]) for m in ids], more))
            if method == "GET" and path.startswith("/v1/models/"):
                info = resolve_model(st.catalogue, path.removeprefix("/v1/models/"), for_inference=False)
                return self._send_json(200, model_json(info))
            return self._send_error(404, "not_found_error", f"Not found: {method} {path}")
        except RequestError as exc:
            return self._send_error(exc.status, exc.error_type, exc.message)

    def _pick_fault(self, is_messages: bool, is_count: bool = False) -> Fault | None:
        header = self.headers.get("x-simulate-fault")
        if header:
            h = self.headers
            return parse_fault(header, h.get("x-simulate-retry-after"), h.get("x-simulate-hold-s"),
                               h.get("x-simulate-after"), h.get("x-simulate-should-retry"))
        if is_count and self.state.count_tokens_fault:  # count_tokens down while messages work
            return parse_fault(self.state.count_tokens_fault)
        return self.state.script.next() if is_messages else None

    def _serve_fault(self, fault: Fault, raw: bytes) -> bool:
        """Serve a fault; True when the request is finished (False: carry on normally)."""
        st = self.state
        st.stats.fault(fault.kind, self._gen)
        if fault.kind == "disconnect":
            self._disconnect()
            return True
        if fault.kind == "timeout":
            st.sleep(st.timeout_hold_s if fault.hold_s is None else fault.hold_s)
            return False
        if fault.kind == "echo":
            return False
        if fault.kind in ERROR_FAULTS:
            status, etype, message, details = fault_error(fault)
            extra = retry_after_headers(fault.retry_after)
            if fault.should_retry is not None:
                extra["x-should-retry"] = "true" if fault.should_retry else "false"
            self._send_error(status, etype, message, details, extra)
            return True
        if fault.kind in ("trickle", "truncate", "malformed-event"):
            return False  # served while replying (JSON or SSE)
        # stream-error, error-event: a broken stream when streaming, else a plain 500.
        try:
            streaming = json.loads(raw).get("stream") is True
        except (ValueError, AttributeError):
            streaming = False
        if not streaming:
            self._send_error(500, "api_error", "Internal server error")
            return True
        return False

    def _tier(self, req: MessagesRequest) -> Tier:
        """The tier usage reports: "standard" unless x-simulate-service-tier (or the config) says otherwise."""
        asked = self.headers.get("x-simulate-service-tier") or self.state.service_tier
        if asked not in ("priority", "batch") or (asked == "priority" and req.service_tier == "standard_only"):
            asked = "standard"
        return Tier(service_tier=asked, inference_geo=req.inference_geo or "global")

    def _messages(self, body, fault: Fault | None) -> None:
        st = self.state
        req = parse_messages_body(body, st.catalogue)
        breakpoints = find_breakpoints(req.model.id, req.system, req.messages, req.model.tokenizer, req.tools,
                                       req.cache_control)
        total = req.prompt_tokens
        peek = st.cache.account(breakpoints, total, commit=False)
        refusal = st.limiter.admit(peek.rate_limited_input, req.max_tokens)
        if refusal is not None:
            st.stats.limited(self._gen)
            return self._send_error(429, "rate_limit_error", refusal.message,
                                    extra=retry_after_headers(math.ceil(refusal.retry_after_s)))
        prompt = st.cache.account(breakpoints, total)
        reply = compose(req, echo=fault is not None and fault.kind == "echo")
        st.limiter.settle(req.max_tokens, reply.output_tokens)
        if req.stream:
            st.stats.stream(self._gen)
            return self._stream(req, prompt, reply, fault)
        tier = self._tier(req)
        ttft, per_token = st.latency()
        wait = ttft + per_token * reply.output_tokens
        if wait > 0:
            st.sleep(wait)
        kind = fault.kind if fault is not None else None
        if kind == "malformed-event":
            return self._send_raw(200, b'{"type": "message", "content": [', "application/json")
        if kind in ("trickle", "truncate"):
            data = json.dumps(message_json(req.model, reply, prompt, tier), separators=(",", ":")).encode()
            return self._send_raw(200, data, "application/json", fault=fault)
        return self._send_json(200, message_json(req.model, reply, prompt, tier))

    def _send_raw(self, status: int, data: bytes, ctype: str, *, fault: Fault | None = None) -> None:
        """A body as is; ``trickle`` sends it a byte at a time, ``truncate`` only its first half, then hangs up."""
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(data)))
        self._common_headers()
        self.end_headers()
        self.state.stats.status(status, self._gen)
        if fault is not None and fault.kind == "truncate":
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            return self._disconnect()
        if fault is not None and fault.kind == "trickle":
            return self._trickle(data, fault)
        self.wfile.write(data)

    def _trickle(self, data: bytes, fault: Fault) -> None:
        hold = DEFAULT_TRICKLE_S if fault.hold_s is None else fault.hold_s
        for i in range(len(data)):
            self.wfile.write(data[i:i + 1])
            self.wfile.flush()
            self.state.sleep(hold)

    def _stream(self, req: MessagesRequest, prompt: PromptUsage, reply: Reply, fault: Fault | None) -> None:
        """SSE as Anthropic sends it, or broken the way a stream fault asks (after ``after`` deltas)."""
        st = self.state
        kind = fault.kind if fault is not None else None
        broken = kind in STREAM_FAULTS
        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self._common_headers()
        self.end_headers()
        st.stats.status(200, self._gen)
        send = self._chunk if kind != "trickle" else (lambda event: self._chunk_trickled(event, fault))
        send(message_start(req.model, prompt, self._tier(req)).data)
        ttft, per_token = st.latency()
        limit = (DEFAULT_AFTER if fault.after is None else fault.after) if broken else None
        deltas = 0
        for event in content_events(reply):
            if event.delta:
                if limit is not None and deltas == limit:
                    break
                if deltas and per_token > 0:
                    st.sleep(per_token)
                elif not deltas and ttft > 0:
                    st.sleep(ttft)
                deltas += 1
            send(event.data)
        if kind in ("stream-error", "error-event"):
            self._chunk(stream_error("overloaded_error", "Overloaded", self.rid))
        elif kind == "malformed-event":
            self._chunk(b'event: content_block_delta\ndata: {"type": "content_block_delta", "delta": {\n\n')
        elif kind != "truncate":  # truncate: the body ends cleanly here, without message_delta/message_stop
            for event in message_end(reply, prompt):
                send(event.data)
        self.wfile.write(b"0\r\n\r\n")

    def _chunk_trickled(self, event: bytes, fault: Fault) -> None:
        """One SSE event, a byte per chunk, ``hold_s`` apart (a server that never quite goes silent)."""
        hold = DEFAULT_TRICKLE_S if fault.hold_s is None else fault.hold_s
        for i in range(len(event)):
            self._chunk(event[i:i + 1])
            self.wfile.flush()
            self.state.sleep(hold)


def _api_key(headers) -> str | None:
    """The key from ``x-api-key`` or, as SDK 2.x sends it, ``Authorization: Bearer``."""
    key = headers.get("x-api-key")
    if key:
        return key.strip()
    scheme, _, token = (headers.get("authorization") or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _json_body(raw: bytes):
    try:
        return json.loads(raw)
    except ValueError:
        raise invalid("Invalid JSON in request body") from None
