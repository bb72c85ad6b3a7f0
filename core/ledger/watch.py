"""Who must hear of every call row written to one database by this process: its budget tally, if any.

A DuckDB file is owned by one process, so the budget book keeps that database's spend and holds in
memory (``core.budgets.tally``); every ledger on the file tells it of each record before writing it,
and of rows it could not account for (a replayed spool or journal). Keyed by the engine's URL, so
two clients of one file in one process share one tally.
"""

from __future__ import annotations

import threading
import weakref
from typing import Protocol

from core.types import CallRecord

_WATCHERS: dict[str, Watcher] = {}
_LEDGERS: dict[str, weakref.WeakSet] = {}  # every live ledger of a database: a read settles all their writers
_GUARD = threading.Lock()


class Watcher(Protocol):
    def recorded(self, rec: CallRecord, write): ...  # account for ``rec``, then ``write(rec)``, atomically

    def invalidate(self) -> None: ...  # rows were written it did not see: read the database again

    def closed(self, ledger) -> None: ...  # ``ledger`` closed: forget it (and go, when it was the last)


def join(key: str, ledger) -> None:
    with _GUARD:
        _LEDGERS.setdefault(key, weakref.WeakSet()).add(ledger)


def ledgers_of(key: str) -> list:
    """The live ledgers of the database ``key`` in this process (two clients of one file: both)."""
    with _GUARD:
        return list(_LEDGERS.get(key, ()))


def watcher_of(key: str) -> Watcher | None:
    return _WATCHERS.get(key)


def watch(key: str, watcher: Watcher) -> None:
    with _GUARD:
        _WATCHERS[key] = watcher


def unwatch(key: str, watcher: Watcher) -> None:
    with _GUARD:
        if _WATCHERS.get(key) is watcher:
            del _WATCHERS[key]
