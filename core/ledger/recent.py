"""The latest failed calls in the ledger, for the health page (a viewer may be limited to their own)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.engine import Engine

from core.ledger.schema import calls
from core.types import STATUS_ERROR

COLUMNS = ("ts", "user_id", "model", "error_code", "detail", "request_id", "key_label")


def recent_errors(engine: Engine, n: int = 10, user: str | None = None) -> list[dict]:
    """The ``n`` newest ``error`` rows (naive-UTC ``ts``), newest first; only ``user``'s when given."""
    stmt = (select(*(calls.c[name] for name in COLUMNS)).where(calls.c.status == STATUS_ERROR)
            .order_by(calls.c.ts.desc()).limit(n))
    if user is not None:
        stmt = stmt.where(calls.c.user_id == user)
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(stmt)]
