"""Claims on idempotency keys: one caller at a time sends a keyed call, every later one gets its outcome.

A keyed call first inserts a ``pending`` claim (the primary key makes this atomic across threads and
processes on both backends); once answered it stores the outcome (``done``), which later callers
with the key get back instead of calling again; a call that fails drops its claim, so a retry may
send. A ``pending`` claim older than ``stale_after_s`` belonged to a process that died mid-call and
is taken over. The ledger's unique index on ``calls.idempotency_key`` is the last line behind this.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError

from core.clock import naive_utc
from core.ledger.migrations import migrate
from core.ledger.schema import idempotency_keys

PENDING, DONE = "pending", "done"
_RETRIES = 12


@dataclass(frozen=True)
class Claim:
    """What ``claim`` found: ``state`` "claimed" (ours now), "done" (with ``result``) or "pending" (another's)."""

    state: str
    user: str | None = None
    call_id: str | None = None
    result: dict | None = None
    took_over: str | None = None  # "claimed" from a dead process: the call id of its attempt, maybe answered


class IdempotencyStore:
    """Claims in the ledger database's ``idempotency_keys`` table."""

    def __init__(self, engine: Engine, *, stale_after_s: float = 600.0,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.engine, self.stale_after_s, self._sleep = engine, stale_after_s, sleep
        self._ready = False

    def _retry(self, fn):
        """Run ``fn(conn)`` in a transaction, again on a transient write conflict (DuckDB, PG)."""
        if not self._ready:  # the table comes with schema version 8
            migrate(self.engine)
            self._ready = True
        for attempt in range(_RETRIES):
            try:
                with self.engine.begin() as conn:
                    return fn(conn)
            except IntegrityError:
                raise
            except DBAPIError as exc:
                orig = getattr(exc, "orig", exc)
                if "duplicate key" in str(orig).lower():  # DuckDB finds a concurrent duplicate at commit
                    raise IntegrityError(str(exc.statement), exc.params, orig) from None
                conflict = (getattr(orig, "sqlstate", None) in ("40001", "40P01")
                            or "conflict" in str(orig).lower())
                if attempt == _RETRIES - 1 or not conflict:
                    raise
                self._sleep(min(0.005 * 2 ** attempt, 0.25))
        raise AssertionError("unreachable")

    def claim(self, key: str, user: str, call_id: str, now: datetime) -> Claim:
        """Take ``key`` for ``call_id``, or say who has it (done: with the outcome to replay)."""
        t = naive_utc(now)
        try:
            self._retry(lambda c: c.execute(insert(idempotency_keys).values(
                key=key, user_id=user, call_id=call_id, state=PENDING, result=None, claimed_at=t)))
            return Claim("claimed", user, call_id)
        except IntegrityError:
            pass
        row = self.get(key)
        if row is None:  # released between our insert and our read: try once more
            return self.claim(key, user, call_id, now)
        if row.state == PENDING and t - row.claimed_at > timedelta(seconds=self.stale_after_s):
            stmt = (update(idempotency_keys)
                    .where(idempotency_keys.c.key == key, idempotency_keys.c.call_id == row.call_id,
                           idempotency_keys.c.state == PENDING)
                    .values(call_id=call_id, user_id=user, claimed_at=t))
            if self._retry(lambda c: c.execute(stmt).rowcount):
                return Claim("claimed", user, call_id, took_over=row.call_id)
            return self.claim(key, user, call_id, now)
        result = json.loads(row.result) if row.state == DONE and row.result else None
        return Claim(DONE if row.state == DONE else PENDING, row.user_id, row.call_id, result)

    def get(self, key: str):
        """The claim row of ``key`` (key, user_id, call_id, state, result, claimed_at), or None."""
        with self.engine.connect() as conn:
            return conn.execute(select(idempotency_keys).where(idempotency_keys.c.key == key)).first()

    def complete(self, key: str, call_id: str, result: dict) -> None:
        """Store the outcome of ``call_id``'s keyed call: later callers get it back."""
        data = json.dumps(result, ensure_ascii=False, separators=(",", ":"), default=str)
        stmt = (update(idempotency_keys).where(idempotency_keys.c.key == key, idempotency_keys.c.call_id == call_id)
                .values(state=DONE, result=data))
        self._retry(lambda c: c.execute(stmt))

    def release(self, key: str, call_id: str) -> None:
        """Drop ``call_id``'s pending claim on ``key`` (its call failed or was refused): a retry may send."""
        stmt = delete(idempotency_keys).where(idempotency_keys.c.key == key, idempotency_keys.c.call_id == call_id,
                                              idempotency_keys.c.state == PENDING)
        self._retry(lambda c: c.execute(stmt))
