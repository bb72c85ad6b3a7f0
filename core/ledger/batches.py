"""Whose each Message Batch is, and what its rows were: the ``message_batches`` table, and the rows already billed.

A batch is recorded before it is sent, under a ``pending_…`` id that becomes the upstream id once the
create is answered (so a crash or a lost answer leaves a trace to recover the batch by), with its user
(the API knows nothing of Tollgate's users, so this is how the gateway shows a key only its own user's
batches), each request's model and row number, which its results are priced and recorded as.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine

from core.clock import naive_utc
from core.ledger.migrations import migrate
from core.ledger.records import from_row
from core.ledger.schema import calls, message_batches
from core.types import CallRecord

_CHUNK = 500
PENDING = "pending_"  # the id prefix of a batch recorded before it is sent, until upstream names it


class BatchRecords:
    """The ledger database's record of Message Batches and of their billed rows."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._ready = False

    def _ensure(self) -> None:
        if not self._ready:  # the table comes with schema version 8
            migrate(self.engine)
            self._ready = True

    def record(self, batch_id: str, *, user: str, api_key_id: str | None, run_id: str | None, source: str,
               reserved_usd: Decimal, hold_prefix: str, items: dict[str, tuple[str, int | None]],
               now: datetime) -> None:
        """The batch and its requests (custom_id -> (model, row index)), as created."""
        self._ensure()
        with self.engine.begin() as conn:
            conn.execute(insert(message_batches).values(
                id=batch_id, user_id=user, api_key_id=api_key_id, run_id=run_id, source=source, rows=len(items),
                reserved_usd=reserved_usd, hold_prefix=hold_prefix, created_at=naive_utc(now),
                items=json.dumps({k: list(v) for k, v in items.items()}, separators=(",", ":"))))

    def confirm(self, pending_id: str, batch_id: str) -> bool:
        """Give a batch recorded before sending (``pending_…``) the id upstream gave it; False if already done."""
        self._ensure()
        with self.engine.begin() as conn:
            return conn.execute(update(message_batches).where(message_batches.c.id == pending_id)
                                .values(id=batch_id)).rowcount == 1

    def pending(self) -> list[dict]:
        """Batches recorded before sending that never got an upstream id (a crash or an unanswered create)."""
        self._ensure()
        with self.engine.connect() as conn:
            ids = conn.execute(select(message_batches.c.id).where(
                message_batches.c.id.like(f"{PENDING}%"))).scalars().all()
        return [r for r in map(self.get, ids) if r is not None]

    def get(self, batch_id: str) -> dict | None:
        """The batch's row (``items`` decoded), or None when Tollgate did not create it."""
        self._ensure()
        with self.engine.connect() as conn:
            row = conn.execute(select(message_batches).where(message_batches.c.id == batch_id)).mappings().first()
        if row is None:
            return None
        out = dict(row)
        out["items"] = {k: (v[0], v[1]) for k, v in json.loads(row["items"]).items()}
        return out

    def forget(self, batch_id: str) -> None:
        """Drop a deleted batch's record (its billed rows stay in ``calls``)."""
        self._ensure()
        with self.engine.begin() as conn:
            conn.execute(delete(message_batches).where(message_batches.c.id == batch_id))

    def of_user(self, user: str | None, *, limit: int = 20, after_id: str | None = None) -> list[str]:
        """Ids of ``user``'s batches (None: everyone's), most recent first, after ``after_id``."""
        self._ensure()
        q = select(message_batches.c.id, message_batches.c.created_at).order_by(
            message_batches.c.created_at.desc(), message_batches.c.id.desc())
        if user is not None:
            q = q.where(message_batches.c.user_id == user)
        with self.engine.connect() as conn:
            rows = conn.execute(q).all()
        ids = [r.id for r in rows]
        if after_id in ids:
            ids = ids[ids.index(after_id) + 1:]
        return ids[:limit]

    def billed(self, keys: Iterable[str]) -> dict[str, CallRecord]:
        """The ledger rows already recorded under these idempotency keys."""
        self._ensure()
        keys, found = list(keys), {}
        with self.engine.connect() as conn:
            for i in range(0, len(keys), _CHUNK):
                rows = conn.execute(select(calls).where(calls.c.idempotency_key.in_(keys[i:i + _CHUNK]))).all()
                for row in rows:
                    rec = from_row(row)
                    found[rec.idempotency_key] = rec
        return found
