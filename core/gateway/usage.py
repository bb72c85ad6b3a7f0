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
            "schemas": {"Error": error, "Usage": {"type": "object", "required": ["user", "month"], "properties": {
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
            f"{base_path}/openapi.json": {"get": {"summary": "This description", "security": [],
                                                  "responses": {"200": {"description": "OpenAPI 3.1"}}}},
        },
    }
