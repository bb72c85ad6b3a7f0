"""``GET /api/usage``: the caller's month to date, budget and what is left (an admin may ask for any user)."""

from __future__ import annotations

from core.accounts.users import UserStore
from core.budgets.alerts import tidy_usd
from core.budgets.book import month_bounds
from core.errors import LedgerUnavailable, NotAuthorised, ValidationError


def _money(value) -> str | None:
    """An exact USD decimal as plain digits without the column's trailing zeros (5, 0.0000281)."""
    return None if value is None else format(tidy_usd(value), "f")


def usage_of(client, users_file: str, caller, asked: str | None) -> dict:
    """The usage body for ``asked`` (default: the caller), refusing another user unless the caller is an admin."""
    user = caller.user if asked is None else asked.strip()
    if not user or len(user) > 200 or not user.isprintable():
        raise ValidationError("user: 1 to 200 printable characters", field="user")
    if user != caller.user:
        me = UserStore(users_file).principal(caller.user)
        if me is None or not me.is_admin:
            raise NotAuthorised(f"see the usage of {user!r}", me)
    book = client.budgets
    if book is None:
        raise LedgerUnavailable("The ledger is off (TOLLGATE_LEDGER_URL=off), so there is no usage to report.")
    now = client.clock.now()
    month = month_bounds(now, book.tz)[2]
    return {"user": user, "month": month, "month_to_date_usd": _money(book.spent(user, now)),
            "reserved_usd": _money(book.reserved(user, now)), "budget_usd": _money(book.get_budget(user)),
            "remaining_usd": _money(book.remaining(user, now))}


def openapi(base_path: str = "/api") -> dict:
    """An OpenAPI 3.1 description of Tollgate's own /api routes (the /v1 routes are Anthropic's)."""
    money = {"type": ["string", "null"], "description": "USD as an exact decimal string"}
    error = {"type": "object", "properties": {"type": {"const": "error"}, "error": {
        "type": "object", "properties": {"type": {"type": "string"}, "message": {"type": "string"}}}}}
    errors = {str(s): {"description": d, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
              for s, d in ((401, "no, a bad, an expired or a revoked key"), (403, "another user, and not an admin"),
                           (503, "the ledger is off or unreachable"))}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Tollgate API", "version": "1",
                 "description": "Tollgate's own routes. /v1/messages, /v1/messages/count_tokens and /v1/models "
                                "are Anthropic's Messages API, described by Anthropic."},
        "components": {
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
                                "bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": error, **batch_schemas(money), "Usage": {"type": "object", "required": ["user", "month"], "properties": {
                "user": {"type": "string"}, "month": {"type": "string", "description": "YYYY-MM, budget time zone"},
                "month_to_date_usd": money, "reserved_usd": money,
                "budget_usd": {**money, "description": "monthly budget; null: none"},
                "remaining_usd": {**money, "description": "what can still be spent this month; null: no limit"}}}}},
        "security": [{"apiKey": []}, {"bearer": []}],
        "paths": {
            f"{base_path}/usage": {"get": {
                "summary": "The caller's month to date, budget and what is left",
                "parameters": [{"name": "user", "in": "query", "required": False, "schema": {"type": "string"},
                                "description": "another user (admins only)"}],
                "responses": {"200": {"description": "usage", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Usage"}}}}, **errors}}},
            **batch_paths(base_path, errors),
            f"{base_path}/openapi.json": {"get": {"summary": "This description", "security": [],
                                                  "responses": {"200": {"description": "OpenAPI 3.1"}}}},
        },
    }


def batch_schemas(money: dict) -> dict:
    """The /api/batches bodies: a run to create, its status, one result row."""
    counts = {"type": "object", "properties": {k: {"type": "integer"} for k in
                                               ("succeeded", "failed", "pending", "canceled", "expired")}}
    return {
        "BatchRunCreate": {"type": "object", "required": ["template", "model"], "properties": {
            "template": {"type": "string", "description": "the prompt, with {{column}} for each row's values"},
            "rows": {"type": "array", "items": {"type": "object"}, "description": "the input rows (or give file)"},
            "file": {"type": "object", "properties": {"name": {"type": "string"}, "content_base64": {"type": "string"}},
                     "description": "a .csv, .jsonl or .xlsx table instead of rows"},
            "model": {"type": "string"}, "max_tokens": {"type": "integer"}, "system": {"type": "string"},
            "temperature": {"type": "number"}, "mode": {"enum": ["batch", "now"], "default": "batch"},
            "name": {"type": "string"}}},
        "BatchRun": {"type": "object", "properties": {
            "id": {"type": "string"}, "user": {"type": "string"}, "name": {"type": ["string", "null"]},
            "mode": {"enum": ["batch", "now"]},
            "state": {"enum": ["queued", "in_progress", "canceling", "ended", "canceled", "failed"]},
            "model": {"type": "string"}, "rows": {"type": "integer"}, "counts": counts, "spent_usd": money,
            "reserved_usd": {**money, "description": "the whole run's worst case, held when it was created"},
            "progress": {"type": "number"}, "created_at": {"type": "string"},
            "ended_at": {"type": ["string", "null"]}, "compare_key": {"type": "string"}}},
        "BatchResult": {"type": "object", "description": "the input columns, plus:", "properties": {
            "row": {"type": "integer", "description": "1-based"}, "prompt": {"type": "string"},
            "output": {"type": ["string", "null"]}, "cost_usd": money, "latency_ms": {"type": ["number", "null"]},
            "outcome": {"enum": ["pending", "succeeded", "failed", "canceled", "expired"]},
            "error": {"type": ["string", "null"]}}},
    }


def batch_paths(base_path: str, errors: dict) -> dict:
    """/api/batches: create, list, status, results, cancel (own runs; an admin sees all)."""
    def ref(name: str) -> dict:
        return {"$ref": f"#/components/schemas/{name}"}

    def one(description: str, schema: dict) -> dict:
        return {"description": description, "content": {"application/json": {"schema": schema}}}
    run_id = [{"name": "run_id", "in": "path", "required": True, "schema": {"type": "string"}}]
    missing = {"404": {"description": "no such run, or another user's"}}
    return {
        f"{base_path}/batches": {
            "post": {"summary": "Check, reserve (the whole run's worst case) and start a batch run",
                     "requestBody": {"required": True, "content": {"application/json": {"schema": ref("BatchRunCreate")}}},
                     "responses": {"201": one("the run", ref("BatchRun")),
                                   "400": {"description": "a bad template, row, model or file"},
                                   "403": {"description": "does not fit the budget (error.fits: rows that would)"},
                                   **errors}},
            "get": {"summary": "The caller's runs, newest first (an admin: everyone's, or ?user=)",
                    "parameters": [{"name": "user", "in": "query", "required": False, "schema": {"type": "string"}}],
                    "responses": {"200": one("runs", {"type": "object", "properties": {
                        "data": {"type": "array", "items": ref("BatchRun")}}}), **errors}}},
        f"{base_path}/batches/{{run_id}}": {"get": {
            "summary": "A run's state, counts and spend (the seeds' task-status endpoint)", "parameters": run_id,
            "responses": {"200": one("the run", ref("BatchRun")), **missing, **errors}}},
        f"{base_path}/batches/{{run_id}}/results": {"get": {
            "summary": "Results joined to the input rows, in order",
            "parameters": run_id + [{"name": "format", "in": "query", "required": False,
                                     "schema": {"enum": ["json", "csv", "jsonl"], "default": "json"}}],
            "responses": {"200": one("rows", {"type": "object", "properties": {
                "data": {"type": "array", "items": ref("BatchResult")}}}), **missing, **errors}}},
        f"{base_path}/batches/{{run_id}}/cancel": {"post": {
            "summary": "Cancel a run: unsent rows are canceled and their holds released", "parameters": run_id,
            "responses": {"200": one("the run", ref("BatchRun")), **missing, **errors}}},
    }
