"""The simulator's ``/v1/messages/batches`` routes: create, list, retrieve, cancel, results (JSONL), delete."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from .paging import list_body, page
from .validate import invalid

_PREFIX = "/v1/messages/batches"


def batch_api(handler, method: str, path: str, query: str, raw: bytes) -> None:
    """Answer one Message Batches request on ``handler`` (a SimHandler); RequestError for a refusal."""
    book = handler.state.batches
    base = f"http://{handler.headers.get('host') or '127.0.0.1'}"
    rest = path[len(_PREFIX):].strip("/")
    parts = rest.split("/") if rest else []
    try:
        if not parts:
            if method == "POST":
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise invalid("Invalid JSON in request body") from None
                return handler._send_json(200, book.as_json(book.create(body), base))
            if method == "GET":
                batches, more = page(book.list(), parse_qs(query), lambda b: b.id)
                return handler._send_json(200, list_body([book.as_json(b, base) for b in batches], more))
        elif len(parts) == 1 and method == "GET":
            return handler._send_json(200, book.as_json(book.get(parts[0]), base))
        elif len(parts) == 1 and method == "DELETE":
            book.delete(parts[0])
            return handler._send_json(200, {"id": parts[0], "type": "message_batch_deleted"})
        elif len(parts) == 2 and parts[1] == "cancel" and method == "POST":
            return handler._send_json(200, book.as_json(book.cancel(parts[0]), base))
        elif len(parts) == 2 and parts[1] == "results" and method == "GET":
            data = book.results_jsonl(book.get(parts[0]))
            return handler._send_raw(200, data, "application/x-jsonl")
    except LookupError:
        return handler._send_error(404, "not_found_error", f"Message Batch {parts[0] if parts else ''} not found")
    return handler._send_error(404, "not_found_error", f"Not found: {method} {path}")
