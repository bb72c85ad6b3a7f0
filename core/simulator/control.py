"""The /_sim/* control endpoints (no API key): stats, reset, config and the fault script."""

from __future__ import annotations

import json

from .faults import error_body
from .state import SimState


def handle_control(state: SimState, method: str, path: str, raw: bytes,
                   request_id: str) -> tuple[int, dict]:
    """Status and JSON body for one control request."""
    try:
        body = json.loads(raw) if raw.strip() else {}
    except ValueError:
        return 400, error_body("invalid_request_error", "Invalid JSON in request body", request_id)
    if not isinstance(body, dict):
        return 400, error_body("invalid_request_error", "The body must be a JSON object", request_id)
    try:
        return _route(state, method, path, body)
    except ValueError as exc:
        return 400, error_body("invalid_request_error", str(exc), request_id)
    except LookupError:
        return 404, error_body("not_found_error", f"Not found: {method} {path}", request_id)


def _route(state: SimState, method: str, path: str, body: dict) -> tuple[int, dict]:
    if path == "/_sim/health" and method == "GET":
        return 200, {"ok": True}
    if path == "/_sim/stats" and method == "GET":
        return 200, state.snapshot()
    if path == "/_sim/reset" and method == "POST":
        state.reset()
        return 200, {"ok": True}
    if path == "/_sim/config":
        if method == "GET":
            return 200, state.config()
        if method == "POST":
            return 200, state.configure(**body)
    if path == "/_sim/faults":
        if method == "GET":
            return 200, {"pending": state.script.pending()}
        if method == "POST":
            faults = body.get("faults")
            if not isinstance(faults, list):
                raise ValueError('expected {"faults": [{"fault": "529", "retry_after": 0.2}, ...]}')
            count = state.script.load(faults, append=bool(body.get("append", False)))
            return 200, {"pending": count}
        if method == "DELETE":
            state.script.clear()
            return 200, {"pending": 0}
    parts = path.split("/")  # /_sim/batches/{id}/expire | finish: Message Batch faults on demand
    if method == "POST" and len(parts) == 5 and parts[2] == "batches" and parts[4] in ("expire", "finish"):
        batch = getattr(state.batches, parts[4])(parts[3])
        return 200, {"id": batch.id, "ended_at": str(batch.ended_at)}
    raise LookupError(path)
