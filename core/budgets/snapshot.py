"""The snapshot of budgeted users: a small JSON file beside the spool, for when the budget store is down.

Nobody can change a budget while its store is unreachable, so the last list of who has one is
still true then; the gate reads it to let users with no budget go on. Any process that can read
the store rewrites it (atomically: a reader never sees half a file), after every budget change too.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sqlalchemy import select


def write_snapshot(engine, path: str | Path) -> list[str]:
    """Copy the list of users with a budget ("*" for the global one) to ``path``, atomically."""
    from core.ledger.schema import budgets

    with engine.connect() as conn:
        users = sorted(conn.execute(select(budgets.c.user_id)).scalars())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"budgeted_users": users}), encoding="utf-8")
    os.replace(tmp, path)
    return users


def read_snapshot(path: str | Path | None) -> set[str] | None:
    """The users with a budget as last seen by any process, or None when there is no snapshot."""
    try:
        return set(json.loads(Path(path).read_text(encoding="utf-8"))["budgeted_users"])
    except (OSError, TypeError, ValueError, KeyError):
        return None
