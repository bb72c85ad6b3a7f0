"""The gateway's routes (Starlette): /v1/messages (JSON and SSE), count_tokens, models, /api/usage, /api/openapi.json.

``routes(settings, client_source)`` is mounted by server.py beside the console and by
``python -m core serve`` alone (``app``). Every request is authenticated before its body is
read; the guarded client (blocking: it runs in the gateway's own thread pool, whose hand-off costs
a quarter of anyio's ``to_thread``) is charged to the caller's user with source "gateway" ("demo" in
demo mode). SSE is forwarded event by event as the upstream sends it: each event
is written, as its raw SSE text, the moment the guarded stream yields it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import anyio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

from core.errors import InvalidApiKey, NotFound, RequestTooLarge, TollgateError, ValidationError
from core.gateway import batches as gw_batches
from core.gateway import errors as gw_errors
from core.gateway import relay
from core.gateway import runs as gw_runs
from core.gateway import usage as gw_usage
from core.gateway.auth import Authenticator, Caller, token_of
from core.gateway.pump import Pump
from core.gateway.sse_reply import SseReply

SOURCE = "gateway"
DEMO_SOURCE = "demo"  # demo mode (no key: the simulator answers): kept apart from real spend, as the console's
NO_CACHE_HEADER = "x-tollgate-cache"  # "off": skip the response cache for this request (the CLI's --no-cache)


def source_of(client) -> str:
    """The ledger source of the gateway's calls through ``client``."""
    return DEMO_SOURCE if getattr(client, "demo", False) else SOURCE


class Gateway:
    """The handlers, over a guarded client made on first use (the console's, or the headless server's)."""

    def __init__(self, settings, client_source: Callable[[], object], *, authenticator: Authenticator | None = None,
                 threads: int = 128):
        self.settings = settings
        # Blocking work (guarded calls, open streams: one thread each while they last) runs here.
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tollgate-gateway")
        self._source = client_source
        self._client = None
        self._auth = authenticator
        self._lock = threading.Lock()
        self.max_body = settings.gateway_max_body_bytes

    @property
    def client(self):
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._source()
        return self._client

    @property
    def config(self):
        """The client's settings (the console's include st.secrets), else those the routes were built with."""
        return getattr(self.client, "settings", None) or self.settings

    @property
    def authenticator(self) -> Authenticator:
        if self._auth is None:
            from core.accounts.keys import KeyStore
            from core.gateway.tokens import TokenVerifier

            client = self.client
            cfg = self.config
            keys = None if client.ledger is None else KeyStore(client.ledger.engine, clock=client.clock,
                                                                cache_s=cfg.gateway_key_cache_s)
            self._auth = Authenticator(keys, TokenVerifier.from_settings(cfg))
        return self._auth

    def close(self) -> None:
        """Let the worker threads end (calls in flight finish first)."""
        self._pool.shutdown(wait=False)

    # --- helpers --------------------------------------------------------------------------

    async def _run(self, fn, *args):
        """``fn(*args)`` in the gateway's thread pool, awaited on the loop."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(fn, *args))

    async def _caller(self, request: Request) -> Caller:
        if token_of(request.headers) is None:  # refused before anything is built or read
            raise InvalidApiKey("no key was given")
        if self._auth is None:  # the first request builds the client (seconds): not on the event loop
            await self._run(lambda: self.authenticator)
        headers, auth = request.headers, self.authenticator
        if not auth.needs_io(headers):  # a cached key or an HS256 token: microseconds, on the loop
            return auth.authenticate(headers)
        return await self._run(lambda: auth.authenticate(headers))

    async def _json(self, request: Request):
        """The body as JSON, read up to the cap (larger: RequestTooLarge, 413)."""
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_body:
            raise self._too_big()
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                raise self._too_big()
            chunks.append(chunk)
        try:
            return json.loads(b"".join(chunks))
        except ValueError:
            raise ValidationError("The request body is not valid JSON.", field="body") from None

    def _too_big(self) -> RequestTooLarge:
        """The 413 of a body over the cap (made only then: an error's message is scrubbed as it is built)."""
        return RequestTooLarge(f"The request body is larger than this gateway accepts "
                               f"({self.max_body:,} bytes, TOLLGATE_GATEWAY_MAX_BODY_BYTES).", status_code=413)

    async def _admitted(self, request: Request, caller: Caller) -> tuple[dict, dict]:
        """(body, call arguments) of a request the gateway itself accepts; a refusal here is recorded like the
        guard's own (a blocked row with the key id): a body too large or not JSON, a missing field, a model
        the key may not use."""
        body = None
        try:
            body = await self._json(request)
            kw = relay.call_kwargs(body, request.headers)
            caller.check_model(kw["model"], self.client.catalogue)
            return body, kw
        except TollgateError as err:
            model = body.get("model") if isinstance(body, dict) else None
            streamed = bool(body.get("stream")) if isinstance(body, dict) else False
            await self._run(record_refusal, self.client, caller, model, streamed, err)
            raise

    @staticmethod
    def _headers(request_id: str | None) -> dict[str, str]:
        return {"request-id": request_id} if request_id else {}

    # --- /v1 ------------------------------------------------------------------------------

    async def messages(self, request: Request) -> Response | SseReply:
        try:
            caller = await self._caller(request)
            body, kw = await self._admitted(request, caller)
            client = self.client
            kw.update(user=caller.user, source=source_of(client), api_key_id=caller.key_id,
                      use_cache=request.headers.get(NO_CACHE_HEADER, "").lower() != "off")
            if body.get("stream"):
                return await self._stream(client, kw)
            result = await self._run(functools.partial(client.create, **kw))
            return Response(relay.message_body(result), media_type="application/json",
                            headers={**self._headers(result.request_id), **relay.cost_headers(result)})
        except TollgateError as err:
            return gw_errors.response(err)

    async def _stream(self, client, kw: dict) -> SseReply:
        """Refusals and failures before the upstream's head are plain error responses; later ones an error event.

        The reply starts the moment the upstream has answered, and each event follows as it arrives: nothing
        waits for the first token (the API's own head and message_start come before it)."""
        pump = Pump(lambda skipped: client.stream(**kw).open(first_content=False, on_skipped=skipped), self._run)
        try:
            await pump.next()  # OPENED
        except BaseException:
            with anyio.CancelScope(shield=True):
                await pump.stop()
            raise
        stream = pump.stream
        opened = stream.opened
        request_id = opened.request_id if opened is not None else (stream.result.request_id if stream.result
                                                                     else None)
        headers = {**self._headers(request_id), "cache-control": "no-cache", "x-accel-buffering": "no"}
        return SseReply(pump, headers, request_id)

    async def count_tokens(self, request: Request) -> Response:
        try:
            caller = await self._caller(request)
            body = await self._json(request)
            if not isinstance(body, dict) or "model" not in body or "messages" not in body:
                raise ValidationError("count_tokens needs model and messages", field="body")
            client = self.client
            caller.check_model(body["model"], client.catalogue)
            body = {**body, "model": client.catalogue.resolve(body["model"])}
            body.pop("extra_headers", None)
            if passed := relay.passed_headers(request.headers):
                body["extra_headers"] = passed
            n = await self._run(lambda: client.transport.count_tokens(body))
            return JSONResponse({"input_tokens": n})
        except TollgateError as err:
            return gw_errors.response(err)

    async def models(self, request: Request) -> Response:
        """The upstream's model list, limited to the catalogue's models and to those the key may use."""
        try:
            caller = await self._caller(request)
            client = self.client
            listed = await self._run(client.transport.list_models)
            data = [m for m in listed if m.get("id") in client.catalogue.models
                    and (not caller.models or m["id"] in caller.models)]
            return JSONResponse({"data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
                                 "last_id": data[-1]["id"] if data else None})
        except TollgateError as err:
            return gw_errors.response(err)

    async def model(self, request: Request) -> Response:
        """One model, as listed: a model outside the catalogue or the key's list is not found (404)."""
        try:
            caller = await self._caller(request)
            client, asked = self.client, request.path_params["model_id"]
            model_id = client.catalogue.resolve(asked)
            if model_id not in client.catalogue.models or (caller.models and model_id not in caller.models):
                raise NotFound(f"model: {asked[:100]}", status_code=404)
            return JSONResponse(await self._run(client.transport.get_model, model_id))
        except TollgateError as err:
            return gw_errors.response(err)

    # --- /api -----------------------------------------------------------------------------

    async def usage(self, request: Request) -> Response:
        try:
            caller = await self._caller(request)
            asked = request.query_params.get("user")
            out = await self._run(
                lambda: gw_usage.usage_of(self.client, self.config.users_file, caller, asked))
            return JSONResponse(out)
        except TollgateError as err:
            return gw_errors.response(err)

    async def openapi(self, request: Request) -> Response:
        return JSONResponse(gw_usage.openapi())


def record_refusal(client, caller: Caller, model, streamed: bool, err: TollgateError) -> None:
    """A refusal made here, before the guard saw the call, as its ledger row (blocked, with the key id)."""
    import uuid

    from core.client.pipeline import Call

    label = model if isinstance(model, str) and 0 < len(model) <= 100 and model.isprintable() else "(invalid)"
    call = Call(id=str(uuid.uuid4()), user=caller.user, model=label, source=source_of(client), streamed=streamed,
                started=client.clock.monotonic(), ts=client.clock.now(), api_key_id=caller.key_id)
    client.recorder.refused(call, err)


async def _not_found(request: Request, exc) -> Response:
    return gw_errors.plain(404, "not_found_error", f"Not found: {request.method} {request.url.path}")


async def _not_allowed(request: Request, exc) -> Response:
    return gw_errors.plain(405, "invalid_request_error", f"Method {request.method} not allowed here")


def _origins(settings) -> list[str]:
    return [o.strip() for o in (settings.gateway_cors_origins or "").split(",") if o.strip()]


def _sub_app(routes: list[Route], settings) -> Starlette:
    """One mounted app, with CORS only when origins are configured (closed otherwise: no CORS headers)."""
    origins = _origins(settings)
    middleware = [Middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST", "DELETE"],
                             allow_headers=["*"], expose_headers=["request-id"])] if origins else []
    return Starlette(routes=routes, middleware=middleware,
                     exception_handlers={404: _not_found, 405: _not_allowed})


def routes(settings, client_source: Callable[[], object], *, gateway: Gateway | None = None) -> list[BaseRoute]:
    """The gateway's mounts, /v1 and /api, over a client made by ``client_source()`` at the first request."""
    gw = gateway or Gateway(settings, client_source)
    v1 = _sub_app([Route("/messages", gw.messages, methods=["POST"]),
                   Route("/messages/count_tokens", gw.count_tokens, methods=["POST"]),
                   Route("/models", gw.models, methods=["GET"]),
                   Route("/models/{model_id:path}", gw.model, methods=["GET"]),
                   *gw_batches.routes(gw)], settings)
    api = _sub_app([Route("/usage", gw.usage, methods=["GET"]),
                    Route("/openapi.json", gw.openapi, methods=["GET"]), *gw_runs.handlers(gw)], settings)
    return [Mount("/v1", app=v1), Mount("/api", app=api)]


class _Messages:
    """ASGI: ``POST /v1/messages`` straight to the gateway's handler, everything else to the Starlette app.

    The hot route skips two routers and two middleware stacks (the app's and the /v1 mount's: ~0.1 ms a
    call); only when no CORS origin is configured, since CORS headers come from the mount's middleware."""

    def __init__(self, app: Starlette, gw: Gateway) -> None:
        self.app, self.gw = app, gw

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST" and scope["path"] == "/v1/messages":
            response = await self.gw.messages(Request(scope, receive))
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def app(settings, client, *, gateway: Gateway | None = None):
    """The headless gateway (an ASGI app): the /v1 and /api routes plus /healthz, /readyz and /metrics."""
    from core.health import web

    gw = gateway or Gateway(settings, lambda: client)
    whole = Starlette(routes=web.routes(settings) + routes(settings, lambda: client, gateway=gw))
    return whole if _origins(settings) else _Messages(whole, gw)
