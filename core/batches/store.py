"""Run state in the ledger database: ``batch_runs`` and ``batch_items`` (reads, inserts, guarded state moves)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from core.ledger.schema import batch_items, batch_runs, calls
from core.ledger.store import _is_conflict, conflict_backoff_s

_RETRIES = 20


def write(engine: Engine, fn):
    """``fn(conn)`` in one transaction, run again on a write-write conflict (DuckDB's optimistic concurrency)."""
    for attempt in range(_RETRIES):
        try:
            with engine.begin() as conn:
                return fn(conn)
        except DBAPIError as exc:
            if attempt == _RETRIES - 1 or not _is_conflict(exc):
                raise
            time.sleep(conflict_backoff_s(attempt))
    raise AssertionError("unreachable")

LIVE = ("queued", "in_progress", "canceling")  # a run still moving
ENDED = ("ended", "canceled", "failed")
ITEM_DONE = ("succeeded", "failed", "canceled", "expired")
UNFINISHED = ("pending", "running")


def custom_id(row_index: int) -> str:
    """The Message Batches custom_id of a row (``row-000042``): 1-64 characters of [a-zA-Z0-9_-]."""
    return f"row-{row_index:06d}"


class RunStore:
    """SQL over the two run tables; every state change is a conditional UPDATE, safe in several processes."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def insert(self, run: dict, items: Sequence[dict]) -> None:
        with self.engine.begin() as conn:
            conn.execute(batch_runs.insert().values(**run))
            for i in range(0, len(items), 500):
                conn.execute(batch_items.insert(), list(items[i:i + 500]))

    def run(self, run_id: str) -> dict | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(batch_runs).where(batch_runs.c.id == run_id)).mappings().first()
        return dict(row) if row else None

    def runs(self, *, user: str | None = None, states: Iterable[str] | None = None, mode: str | None = None,
             limit: int = 200) -> list[dict]:
        q = select(batch_runs).order_by(batch_runs.c.created_at.desc(), batch_runs.c.id).limit(limit)
        if user is not None:
            q = q.where(batch_runs.c.user_id == user)
        if states is not None:
            q = q.where(batch_runs.c.state.in_(list(states)))
        if mode is not None:
            q = q.where(batch_runs.c.mode == mode)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def run_of_batch(self, batch_id: str, states: Iterable[str]) -> str | None:
        """The id of the run in one of ``states`` whose Message Batch is ``batch_id``, if any."""
        q = select(batch_runs.c.id).where(and_(batch_runs.c.upstream_batch_id == batch_id,
                                               batch_runs.c.state.in_(list(states))))
        with self.engine.connect() as conn:
            return conn.execute(q).scalars().first()

    def items(self, run_id: str, *, states: Iterable[str] | None = None,
              rows: Sequence[int] | None = None) -> list[dict]:
        q = select(batch_items).where(batch_items.c.run_id == run_id).order_by(batch_items.c.row_index)
        if states is not None:
            q = q.where(batch_items.c.state.in_(list(states)))
        if rows is not None:
            q = q.where(batch_items.c.row_index.in_(list(rows)))
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(q).mappings()]

    def counts(self, run_ids: Sequence[str]) -> dict[str, tuple[dict[str, int], Decimal]]:
        """Per run: item counts by state and the cost of its items so far."""
        out: dict[str, tuple[dict[str, int], Decimal]] = {r: ({}, Decimal(0)) for r in run_ids}
        if not run_ids:
            return out
        q = (select(batch_items.c.run_id, batch_items.c.state, func.count(),
                    func.coalesce(func.sum(batch_items.c.cost_usd), 0))
             .where(batch_items.c.run_id.in_(list(run_ids)))
             .group_by(batch_items.c.run_id, batch_items.c.state))
        with self.engine.connect() as conn:
            for run_id, state, n, cost in conn.execute(q).all():
                counts, spent = out[run_id]
                counts[state] = int(n)
                out[run_id] = (counts, spent + Decimal(str(cost)))
        return out

    def move(self, run_id: str, to: str, *, frm: Iterable[str], now: datetime | None = None, **values) -> bool:
        """Set the run's state to ``to`` if it is in one of ``frm``; True if this caller moved it."""
        if to in ENDED and now is not None:
            values.setdefault("ended_at", now)
        stmt = (update(batch_runs).where(and_(batch_runs.c.id == run_id, batch_runs.c.state.in_(list(frm))))
                .values(state=to, **values))
        return bool(write(self.engine, lambda conn: conn.execute(stmt).rowcount))

    def set_run(self, run_id: str, **values) -> None:
        write(self.engine, lambda conn: conn.execute(update(batch_runs).where(batch_runs.c.id == run_id)
                                                     .values(**values)))

    def finish_item(self, run_id: str, row_index: int, *, now: datetime, **values) -> bool:
        """Record an item's outcome once: only a pending or running item changes (a second report is a no-op)."""
        return self.finish_items(run_id, [(row_index, values)], now=now) > 0

    def finish_items(self, run_id: str, outcomes: list[tuple[int, dict]], *, now: datetime) -> int:
        """Record many items' outcomes in one transaction, each only if still unfinished; how many changed.

        The run is ended by ``end_if_done`` after this commits, never inside it: two workers finishing their
        last rows at once would each see the other's still running in their snapshot, and neither end it."""
        def finish(conn) -> int:
            return sum(conn.execute(update(batch_items).where(and_(
                batch_items.c.run_id == run_id, batch_items.c.row_index == row_index,
                batch_items.c.state.in_(list(UNFINISHED)))).values(updated_at=now, **values)).rowcount
                for row_index, values in outcomes)
        return int(write(self.engine, finish))

    def end_if_done(self, run_id: str, now: datetime) -> bool:
        """End the run if no item is pending or running; True if this call ended it."""
        return bool(write(self.engine, lambda conn: _end_if_done(conn, run_id, now)))

    def cancel_pending(self, run_id: str, *, now: datetime) -> list[int]:
        """Mark every pending item canceled; the rows it changed."""
        def cancel(conn) -> list[int]:
            rows = list(conn.execute(select(batch_items.c.row_index).where(and_(
                batch_items.c.run_id == run_id, batch_items.c.state == "pending"))).scalars())
            if rows:
                conn.execute(update(batch_items).where(and_(
                    batch_items.c.run_id == run_id, batch_items.c.state == "pending"))
                    .values(state="canceled", updated_at=now, cost_usd=0))
            return rows
        return write(self.engine, cancel)

    def billed(self, run_id: str) -> dict[int, dict]:
        """The run's rows the ledger holds a record for, by row number: ``id``, ``status`` and ``cost_usd``."""
        q = select(calls.c.row_index, calls.c.id, calls.c.status, calls.c.cost_usd).where(and_(
            calls.c.run_id == run_id, calls.c.row_index.is_not(None)))
        with self.engine.connect() as conn:
            return {r.row_index: {"id": r.id, "status": r.status, "cost_usd": r.cost_usd} for r in conn.execute(q)}

    def unfinished(self, run_id: str) -> int:
        """Items not yet done (pending or running)."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(batch_items).where(and_(
                batch_items.c.run_id == run_id, batch_items.c.state.in_(["pending", "running"])))).scalar() or 0)


def _end_if_done(conn, run_id: str, now: datetime) -> bool:
    left = conn.execute(select(func.count()).select_from(batch_items).where(and_(
        batch_items.c.run_id == run_id, batch_items.c.state.in_(list(UNFINISHED))))).scalar()
    if left:
        return False
    for frm, to in ((("queued", "in_progress"), "ended"), (("canceling",), "canceled")):
        if conn.execute(update(batch_runs).where(and_(batch_runs.c.id == run_id, batch_runs.c.state.in_(frm)))
                        .values(state=to, ended_at=now)).rowcount:
            return True
    return False


def row_json(row) -> str:
    return json.dumps(dict(row), ensure_ascii=False, sort_keys=False)


def claim(engine: Engine, run_id: str, rows, now: datetime) -> dict[int, str]:
    """Take rows to send them, in one transaction: pending (or running, left by a process that died) become
    running. The prompts of the rows taken (done or canceled ones are not); their run holds stay, each taken
    over by its row's call (core.batches.nowmode)."""
    def take(conn) -> dict[int, str]:
        found = dict(conn.execute(select(batch_items.c.row_index, batch_items.c.prompt).where(and_(
            batch_items.c.run_id == run_id, batch_items.c.row_index.in_(list(rows)),
            batch_items.c.state.in_(list(UNFINISHED))))).all())
        if found:
            conn.execute(update(batch_items).where(and_(
                batch_items.c.run_id == run_id, batch_items.c.row_index.in_(list(found)),
                batch_items.c.state.in_(list(UNFINISHED)))).values(state="running", updated_at=now))
        return found
    return write(engine, take)


def delete_run(engine: Engine, run_id: str) -> None:
    """Remove a run refused before anything was sent (its rows and items)."""
    from sqlalchemy import delete

    with engine.begin() as conn:
        conn.execute(delete(batch_items).where(batch_items.c.run_id == run_id))
        conn.execute(delete(batch_runs).where(batch_runs.c.id == run_id))
