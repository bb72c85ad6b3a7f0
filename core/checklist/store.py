"""Admins' ticks on the checklist items no code can check, kept in the ledger database.

A tick is a row of ``checklist_ticks``; unticking closes that row (``unticked_by``/``_at``)
instead of deleting it, so the table is also the history of who vouched for what, when.
Only an admin may tick or untick: the page hides the buttons, and this module refuses too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.engine import Engine

from core.checklist.items import BY_ID
from core.clock import naive_utc
from core.errors import ValidationError
from core.ledger.migrations import migrate
from core.ledger.schema import checklist_ticks as T

MAX_NOTE = 2000


@dataclass(frozen=True)
class Tick:
    item_id: str
    ticked_by: str
    ticked_at: datetime  # aware UTC
    note: str | None = None
    unticked_by: str | None = None
    unticked_at: datetime | None = None  # aware UTC; None while the tick stands


def _utc(dt: datetime | None) -> datetime | None:
    return None if dt is None else dt.replace(tzinfo=UTC)


def _tick(row) -> Tick:
    return Tick(row.item_id, row.ticked_by, _utc(row.ticked_at), row.note, row.unticked_by, _utc(row.unticked_at))


def _admin(who) -> str:
    """The username of an admin principal (anything with ``username`` and ``is_admin``)."""
    if not getattr(who, "is_admin", False):
        raise ValidationError("Only an admin can tick or untick checklist items.", field="user")
    return who.username


def _open(conn, item_id: str):
    return conn.execute(select(T).where(T.c.item_id == item_id, T.c.unticked_at.is_(None))
                        .order_by(T.c.ticked_at.desc())).first()


def tick(engine: Engine, item_id: str, who, note: str | None = None, now: datetime | None = None) -> Tick:
    """Tick ``item_id`` as ``who`` (an admin); a standing tick is kept, not duplicated."""
    by = _admin(who)
    if item_id not in BY_ID:
        raise ValidationError(f"No checklist item {item_id!r}.", field="item_id")
    note = (note or "").strip()[:MAX_NOTE] or None
    migrate(engine)
    with engine.begin() as conn:
        row = _open(conn, item_id)
        if row is not None:
            return _tick(row)
        at = naive_utc(now)
        conn.execute(T.insert().values(id=str(uuid.uuid4()), item_id=item_id, ticked_by=by, ticked_at=at,
                                       note=note))
    return Tick(item_id, by, _utc(at), note)


def untick(engine: Engine, item_id: str, who, now: datetime | None = None) -> bool:
    """Close ``item_id``'s standing tick as ``who`` (an admin); False when it was not ticked."""
    by = _admin(who)
    migrate(engine)
    with engine.begin() as conn:
        done = conn.execute(update(T).where(T.c.item_id == item_id, T.c.unticked_at.is_(None))
                            .values(unticked_by=by, unticked_at=naive_utc(now)))
        return bool(done.rowcount)


def standing(engine: Engine) -> dict[str, Tick]:
    """The tick that stands on each item, by item id."""
    migrate(engine)
    with engine.connect() as conn:
        rows = conn.execute(select(T).where(T.c.unticked_at.is_(None)).order_by(T.c.ticked_at)).all()
    return {r.item_id: _tick(r) for r in rows}


def history(engine: Engine, item_id: str | None = None) -> list[Tick]:
    """Every tick ever made (of one item, when given), oldest first, unticked ones included."""
    migrate(engine)
    stmt = select(T).order_by(T.c.ticked_at, T.c.id)
    if item_id is not None:
        stmt = stmt.where(T.c.item_id == item_id)
    with engine.connect() as conn:
        return [_tick(r) for r in conn.execute(stmt).all()]
