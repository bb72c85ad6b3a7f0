"""The gateway's Message Batches relay: ``/v1/messages/batches`` for any SDK, charged to the key's user.

create (POST), list (GET), retrieve (GET ``/{id}``), cancel (POST ``/{id}/cancel``), delete (DELETE
``/{id}``, an ended batch's unread results billed first) and results (GET ``/{id}/results``, JSONL) go through the guarded client's ``client.batches``: each request checked like a
single call (and against the key's models), the whole worst case held against the user's budget before
anything is sent, each result billed once at the batch price when results are read. A key sees only its
own user's batches (the ledger records whose each is): another's is "not found", as if it did not exist.
``results_url`` points back at this gateway, so the SDKs fetch results through it.
"""

from __future__ import annotations

import functools
import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.errors import NotFound, TollgateError, ValidationError
from core.gateway import errors as gw_errors

SOURCE = "gateway"


class BatchRelay:
    """The batch routes over a ``core.gateway.app.Gateway`` (its auth, body reader, thread pool and client)."""

    def __init__(self, gw) -> None:
        self.gw = gw

    def _public(self, batch: dict, request: Request) -> dict:
        """The MessageBatch as the caller sees it: results fetched through this gateway."""
        if batch.get("results_url"):
            base = f"{request.url.scheme}://{request.url.netloc}"
            batch = {**batch, "results_url": f"{base}/v1/messages/batches/{batch['id']}/results"}
        return batch

    def _poller(self) -> None:
        from core.batches.poller import shared_runs

        shared_runs(self.gw.client, self.gw.config)

    async def _owned(self, request: Request, caller) -> str:
        """The path's batch id, once it is known to be the caller's user's (else NotFound, 404)."""
        batch_id = request.path_params["batch_id"]
        owner = await self.gw._run(self.gw.client.batches.owner, batch_id)
        if owner != caller.user:
            raise NotFound(f"Message Batch {batch_id} was not found.", status_code=404)
        return batch_id

    async def create(self, request: Request) -> Response:
        try:
            caller = await self.gw._caller(request)
            body = await self.gw._json(request)
            if not isinstance(body, dict) or not isinstance(body.get("requests"), list):
                raise ValidationError('A batch is {"requests": [{"custom_id", "params"}, ...]}.', field="requests")
            await self.gw._run(self._poller)  # a create whose answer is lost is then looked for upstream
            extra = sorted(set(body) - {"requests"})
            if extra:
                raise ValidationError(f"{extra[0]}: Extra inputs are not permitted", field=extra[0])
            sub = await self.gw._run(functools.partial(
                self.gw.client.batches.create, body["requests"], user=caller.user, source=SOURCE,
                api_key_id=caller.key_id, models=caller.models or None))
            return JSONResponse(self._public(sub.message_batch, request),
                                headers={"x-tollgate-reserved-usd": str(sub.reserved_usd)})
        except TollgateError as err:
            return gw_errors.response(err)

    async def list(self, request: Request) -> Response:
        try:
            caller = await self.gw._caller(request)
            raw = request.query_params.get("limit", "20")
            if not raw.isdigit() or not 1 <= int(raw) <= 1000:
                raise ValidationError("limit: Input should be between 1 and 1000", field="limit")
            limit, after = int(raw), request.query_params.get("after_id")
            batches = await self.gw._run(functools.partial(
                self.gw.client.batches.list, limit + 1, after, user=caller.user))
            data = [self._public(b, request) for b in batches[:limit]]
            return JSONResponse({"data": data, "has_more": len(batches) > limit,
                                 "first_id": data[0]["id"] if data else None,
                                 "last_id": data[-1]["id"] if data else None})
        except TollgateError as err:
            return gw_errors.response(err)

    async def _on_owned(self, request: Request, action) -> Response:
        """``action(batch_id)`` on the caller's own batch (run off the event loop), its answer as JSON."""
        try:
            batch_id = await self._owned(request, await self.gw._caller(request))
            out = await self.gw._run(action, batch_id)
            return JSONResponse(self._public(out, request) if out.get("type") == "message_batch" else out)
        except TollgateError as err:
            return gw_errors.response(err)

    async def retrieve(self, request: Request) -> Response:
        return await self._on_owned(request, self.gw.client.batches.retrieve)

    async def cancel(self, request: Request) -> Response:
        return await self._on_owned(request, self.gw.client.batches.cancel)

    async def delete(self, request: Request) -> Response:
        """Delete an ended batch (its unread results billed first); in progress: upstream's 400."""
        def delete(batch_id: str) -> dict:
            from core.batches.poller import shared_runs

            shared_runs(self.gw.client, self.gw.config).deletable(batch_id)
            return self.gw.client.batches.delete(batch_id)

        return await self._on_owned(request, delete)

    async def results(self, request: Request) -> Response:
        """The results as JSONL, each succeeded row billed (once) to the caller's user as it is read."""
        try:
            caller = await self.gw._caller(request)
            batch_id = await self._owned(request, caller)
            rows = await self.gw._run(lambda: list(self.gw.client.batches.results(batch_id, user=caller.user)))
            data = b"".join(json.dumps({"custom_id": r.custom_id, "result": r.raw}, separators=(",", ":"),
                                       ensure_ascii=False).encode() + b"\n" for r in rows)
            return Response(data, media_type="application/x-jsonl")
        except TollgateError as err:
            return gw_errors.response(err)


def routes(gw) -> list[Route]:
    """The batch routes, to mount under /v1 beside /messages."""
    relay = BatchRelay(gw)
    return [Route("/messages/batches", relay.create, methods=["POST"]),
            Route("/messages/batches", relay.list, methods=["GET"]),
            Route("/messages/batches/{batch_id}", relay.retrieve, methods=["GET"]),
            Route("/messages/batches/{batch_id}", relay.delete, methods=["DELETE"]),
            Route("/messages/batches/{batch_id}/cancel", relay.cancel, methods=["POST"]),
            Route("/messages/batches/{batch_id}/results", relay.results, methods=["GET"])]
