"""Persistent response cache in the ledger database: survives restarts, shared by processes.

Rows live in ``response_cache`` (naive UTC times). Expiry uses the clock's wall time,
since monotonic time means nothing to another process. Any database error is a miss
(or a skipped set), logged without secrets, and pauses the backend briefly.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from core.cache._guard import FailureGuard, describe, log
from core.cache.entry import CachedResponse
from core.clock import Clock, SystemClock
from core.ledger.schema import metadata, response_cache

_T = response_cache


class SqlCache:
    """Answers in a SQL table (DuckDB or PostgreSQL; SQLite works too); created on first use."""

    backend = "sql"

    def __init__(self, engine: sa.Engine, clock: Clock | None = None, *,
                 purge_interval_s: float = 300.0, pause_after_error_s: float = 5.0) -> None:
        self._engine = engine
        self._clock = clock or SystemClock()
        self._purge_interval_s = purge_interval_s
        self._next_purge = float("-inf")
        self._ready = False
        self._ready_lock = threading.Lock()
        # A DuckDB connection must not be used by two threads at once (StaticPool shares one).
        self._serial = (threading.Lock() if engine.dialect.name == "duckdb"
                        else contextlib.nullcontext())
        self._guard = FailureGuard(self.backend, self._clock.monotonic, pause_after_error_s)
        self._count_lock = threading.Lock()
        self._hits = self._misses = 0

    # -- helpers ---------------------------------------------------------------------
    def _utcnow(self) -> datetime:
        return self._clock.now().astimezone(UTC).replace(tzinfo=None)

    def _ensure_table(self) -> None:
        if not self._ready:
            with self._ready_lock:
                if not self._ready:
                    metadata.create_all(self._engine, tables=[_T])
                    self._ready = True

    def _count(self, hit: bool) -> None:
        with self._count_lock:
            if hit:
                self._hits += 1
            else:
                self._misses += 1

    def _write(self, op: str, *statements) -> bool:
        """Run statements in one transaction; False (logged) on any error."""
        if not self._guard.available():
            return False
        try:
            with self._serial:
                self._ensure_table()
                with self._engine.begin() as conn:
                    for stmt in statements:
                        conn.execute(stmt)
            return True
        except Exception as exc:
            self._guard.failed(op, exc)
            return False

    def _upsert(self, row: dict):
        """INSERT … ON CONFLICT (key) DO UPDATE; both DuckDB and PostgreSQL speak it."""
        name = self._engine.dialect.name
        if name in ("postgresql", "duckdb"):
            from sqlalchemy.dialects.postgresql import insert
        elif name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:  # a portable fallback: replace within one transaction
            return [sa.delete(_T).where(_T.c.key == row["key"]), sa.insert(_T).values(**row)]
        stmt = insert(_T).values(**row)
        stmt = stmt.on_conflict_do_update(
            index_elements=[_T.c.key],
            set_={c: stmt.excluded[c] for c in ("payload", "created_at", "expires_at")})
        return [stmt]

    # -- the ResponseCache interface ----------------------------------------------------
    def get(self, key: str) -> CachedResponse | None:
        if not self._guard.available():
            self._count(False)
            return None
        query = sa.select(_T.c.payload).where(_T.c.key == key, _T.c.expires_at > self._utcnow())
        try:
            with self._serial:
                self._ensure_table()
                with self._engine.connect() as conn:
                    row = conn.execute(query).first()
        except Exception as exc:
            self._guard.failed("get", exc)
            row = None
        if row is None:
            self._count(False)
            return None
        try:
            value = CachedResponse.from_json(row[0])
        except ValueError as exc:
            log.warning("sql cache: unreadable entry dropped: %s", describe(exc))
            self.delete(key)
            self._count(False)
            return None
        self._count(True)
        return value

    def set(self, key: str, value: CachedResponse, ttl_s: float) -> None:
        if ttl_s <= 0:
            self.delete(key)
            return
        now = self._utcnow()
        row = {"key": key, "payload": value.to_json(), "created_at": now,
               "expires_at": now + timedelta(seconds=ttl_s)}
        if self._write("set", *self._upsert(row)):
            self._maybe_purge(now)

    def _maybe_purge(self, now: datetime) -> None:
        """Delete expired rows at most once per ``purge_interval_s`` (after a successful set)."""
        mono = self._clock.monotonic()
        if mono < self._next_purge:
            return
        self._next_purge = mono + self._purge_interval_s
        self._write("purge", sa.delete(_T).where(_T.c.expires_at <= now))

    def purge_expired(self) -> None:
        """Delete every expired row now."""
        self._write("purge", sa.delete(_T).where(_T.c.expires_at <= self._utcnow()))

    def delete(self, key: str) -> None:
        self._write("delete", sa.delete(_T).where(_T.c.key == key))

    def clear(self) -> None:
        self._write("clear", sa.delete(_T))

    def stats(self) -> dict:
        size = None
        if self._guard.available():
            query = sa.select(sa.func.count()).select_from(_T).where(_T.c.expires_at > self._utcnow())
            try:
                with self._serial:
                    self._ensure_table()
                    with self._engine.connect() as conn:
                        size = conn.execute(query).scalar_one()
            except Exception as exc:
                self._guard.failed("stats", exc)
        with self._count_lock:
            return {"backend": self.backend, "hits": self._hits, "misses": self._misses,
                    "size": size, "errors": self._guard.errors}
