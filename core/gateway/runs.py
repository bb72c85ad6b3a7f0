"""``/api/batches``: batch runs for apps (create, list, status, results, cancel), charged to the caller's user.

A caller sees and cancels only its own user's runs; an admin (by the users file) sees every run. Another
user's run is answered like a missing one (404), so run ids reveal nothing. The rows come in the body as
JSON objects, or as a file (``{"file": {"name": "t.csv", "content_base64": "…"}}``) read like an upload.
"""

from __future__ import annotations

import base64
import binascii

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.accounts.users import UserStore
from core.errors import RunNotFound, TollgateError, ValidationError
from core.gateway import errors as gw_errors

SOURCE = "gateway"


def _runs(gw):
    from core.batches.poller import shared_runs

    return shared_runs(gw.client, gw.config)


def _is_admin(gw, caller) -> bool:
    me = UserStore(gw.config.users_file).principal(caller.user)
    return me is not None and me.is_admin


def _owned(gw, caller, run_id: str):
    """The run's BatchRuns, once the caller may see the run (its owner or an admin); else RunNotFound."""
    runs = _runs(gw)
    if runs.owner(run_id) != caller.user and not _is_admin(gw, caller):
        raise RunNotFound(run_id)
    return runs


def _rows(gw, body: dict) -> list:
    from core.batches.files import read_table

    if "file" in body:
        f = body["file"]
        if not isinstance(f, dict) or not isinstance(f.get("name"), str) or not isinstance(f.get("content_base64"), str):
            raise ValidationError("file must be {\"name\": \"t.csv\", \"content_base64\": \"…\"}.", field="file")
        try:
            data = base64.b64decode(f["content_base64"], validate=True)
        except (binascii.Error, ValueError):
            raise ValidationError("file.content_base64 is not base64.", field="file") from None
        return read_table(f["name"], data, max_rows=gw.config.batch_max_rows)
    rows = body.get("rows")
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise ValidationError("rows must be a list of objects (column -> value), or give a file.", field="rows")
    return [{str(k): "" if v is None else str(v) for k, v in r.items()} for r in rows]


def _spec(gw, caller, body):
    from core.batches.model import RunSpec

    if not isinstance(body, dict):
        raise ValidationError("The body must be a JSON object.", field="body")
    for name in ("template", "model"):
        if not isinstance(body.get(name), str):
            raise ValidationError(f"{name} is required (text).", field=name)
    caller.check_model(body["model"], gw.client.catalogue)
    max_tokens = body.get("max_tokens", gw.config.default_max_tokens)
    return RunSpec(user=caller.user, template=body["template"], rows=_rows(gw, body), model=body["model"],
                   max_tokens=max_tokens, system=body.get("system"), temperature=body.get("temperature"),
                   mode=body.get("mode", "batch"), name=body.get("name"), source=SOURCE, api_key_id=caller.key_id)


def _results_json(rows: list[dict]) -> list[dict]:
    return [{**r, "cost_usd": None if r["cost_usd"] is None else format(r["cost_usd"], "f")} for r in rows]


def handlers(gw):
    """The /api/batches routes over the gateway ``gw`` (its auth, body reader and thread pool)."""

    async def create(request: Request) -> Response:
        try:
            caller = await gw._caller(request)
            body = await gw._json(request)
            st = await gw._run(lambda: _runs(gw).submit(_spec(gw, caller, body)))
            return JSONResponse(st.to_dict(), status_code=201)
        except TollgateError as err:
            return _error(err)

    async def listing(request: Request) -> Response:
        try:
            caller = await gw._caller(request)
            asked = request.query_params.get("user")

            def find():
                admin = _is_admin(gw, caller)
                if asked is not None and asked != caller.user and not admin:
                    from core.errors import NotAuthorised

                    raise NotAuthorised(f"see the batch runs of {asked!r}")
                return _runs(gw).list(asked if asked is not None else (None if admin else caller.user))
            found = await gw._run(find)
            return JSONResponse({"data": [st.to_dict() for st in found]})
        except TollgateError as err:
            return _error(err)

    def on_run(act):
        """A route that runs ``act(runs, run_id)`` on the caller's own run (an admin's: any), its status as JSON."""
        async def route(request: Request) -> Response:
            try:
                caller = await gw._caller(request)
                run_id = request.path_params["run_id"]
                st = await gw._run(lambda: act(_owned(gw, caller, run_id), run_id))
                return JSONResponse(st.to_dict())
            except TollgateError as err:
                return _error(err)
        return route

    status = on_run(lambda runs, run_id: runs.refresh(run_id))
    cancel = on_run(lambda runs, run_id: runs.cancel(run_id))

    async def results(request: Request) -> Response:
        try:
            caller = await gw._caller(request)
            run_id = request.path_params["run_id"]
            fmt = request.query_params.get("format", "json")
            if fmt not in ("json", "csv", "jsonl"):
                raise ValidationError("format must be json, csv or jsonl.", field="format")
            rows = await gw._run(lambda: _owned(gw, caller, run_id).results(run_id))
            if fmt == "json":
                return JSONResponse({"data": _results_json(rows)})
            from core.batches import export as exporting

            media = "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson"
            return Response(exporting.export(rows, fmt), media_type=media, headers={
                "content-disposition": f'attachment; filename="{run_id}.{fmt}"'})
        except TollgateError as err:
            return _error(err)

    return [Route("/batches", create, methods=["POST"]), Route("/batches", listing, methods=["GET"]),
            Route("/batches/{run_id}", status, methods=["GET"]),
            Route("/batches/{run_id}/results", results, methods=["GET"]),
            Route("/batches/{run_id}/cancel", cancel, methods=["POST"])]


def _error(err: TollgateError) -> Response:
    resp = gw_errors.response(err)
    fits = getattr(err, "fits", None)
    if fits is not None:  # a run that does not fit says how many rows would
        import json

        body = json.loads(resp.body)
        body["error"]["fits"] = fits
        return JSONResponse(body, status_code=resp.status_code, headers={
            k: v for k, v in resp.headers.items() if k.lower() not in ("content-length", "content-type")})
    return resp
