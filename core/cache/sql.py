"""Persistent response cache in the ledger database: survives restarts, shared by processes.

Rows live in ``response_cache`` (naive UTC times). Expiry uses the clock's wall time,
since monotonic time means nothing to another process. Any database error is a miss
(or a skipped set), logged without secrets, and pauses the backend briefly.
"""

from __future__ import annotations

import contextlib
import threading
from datetime import datetime, timedelta

import sqlalchemy as sa

from core.cache._guard import SharedBackend
from core.cache.entry import CachedResponse
from core.clock import Clock, SystemClock, naive_utc
from core.ledger.schema import metadata, response_cache

_T = response_cache


class SqlCache(SharedBackend):
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
        super().__init__(self._clock.monotonic, pause_after_error_s)

    # -- helpers ---------------------------------------------------------------------
    def _utcnow(self) -> datetime:
        return naive_utc(self._clock.now())

    def _ensure_table(self) -> None:
        if not self._ready:
            with self._ready_lock:
                if not self._ready:
                    metadata.create_all(self._engine, tables=[_T])
                    self._ready = True

    def _run(self, op: str, work, *, write: bool = False):
        """``work(conn)`` (in one transaction if ``write``); None (logged, backend paused) on any error."""
        if not self._guard.available():
            return None
        try:
            with self._serial:
                self._ensure_table()
                with (self._engine.begin() if write else self._engine.connect()) as conn:
                    return work(conn)
        except Exception as exc:
            self._guard.failed(op, exc)
            return None

    def _write(self, op: str, *statements) -> bool:
        """Run statements in one transaction; False (logged) on any error."""
        def run_all(conn) -> bool:
            for stmt in statements:
                conn.execute(stmt)
            return True

        return self._run(op, run_all, write=True) is True

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

    # -- what SharedBackend builds get, set and stats on --------------------------------
    def _load(self, key: str) -> str | None:
        query = sa.select(_T.c.payload).where(_T.c.key == key, _T.c.expires_at > self._utcnow())
        row = self._run("get", lambda conn: conn.execute(query).first())
        return None if row is None else row[0]

    def _store(self, key: str, value: CachedResponse, ttl_s: float) -> None:
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

    def delete(self, key: str) -> None:
        self._write("delete", sa.delete(_T).where(_T.c.key == key))

    def clear(self) -> None:
        self._write("clear", sa.delete(_T))

    def stats(self) -> dict:
        query = sa.select(sa.func.count()).select_from(_T).where(_T.c.expires_at > self._utcnow())
        return self._stats(size=self._run("stats", lambda conn: conn.execute(query).scalar_one()))
