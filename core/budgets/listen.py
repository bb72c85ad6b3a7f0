"""Who has a budget, known in memory on PostgreSQL too: kept while a LISTEN connection hears every budget change.

A call for a user with no budget takes no hold, but finding that out was a query per call. Each budget
write sends ``NOTIFY tollgate_budgets`` in its own transaction, which PostgreSQL delivers at commit to every
process listening on the database, this one included; the list of budgeted users is then read again at the
next call. The list is trusted only while this process's listener is connected: before it has said LISTEN,
after its connection broke and until it is back, every call asks the database, as before. A call that
checks while another replica's change commits is concurrent with that change, and may come before it either
way, which is all a query could have told it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import Engine

log = logging.getLogger("tollgate.budgets")
CHANNEL = "tollgate_budgets"
RETRY_S = 2.0  # between attempts to (re)connect the listener
WAKE_S = 1.0  # the listener looks up from its wait this often, to see that it should stop


class BudgetListener:
    """One LISTEN connection per PostgreSQL database (and schema), and the budgeted users read while it holds."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._live = False  # LISTEN said and the connection holding: the cached list is kept up to date
        self._gen = 0  # bumped by every notification and every loss of the listener
        self._known: frozenset[str] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tollgate-budget-listener", daemon=True)

    def start(self) -> BudgetListener:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def cached(self) -> frozenset[str] | None:
        """The users with a budget if known in memory now (no I/O), else None."""
        with self._lock:
            return self._known if self._live else None

    def budgeted(self, load: Callable[[], frozenset[str]]) -> frozenset[str]:
        """The users with a budget: from memory while the listener holds, else ``load()`` (a query) every time."""
        with self._lock:
            if self._live and self._known is not None:
                return self._known
            gen, live = self._gen, self._live
        users = load()
        with self._lock:
            if live and self._live and self._gen == gen:  # no change was heard while it was read
                self._known = users
        return users

    def _forget(self, *, live: bool) -> None:
        with self._lock:
            self._gen += 1
            self._known, self._live = None, live

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                raw = self.engine.raw_connection()
            except Exception as exc:  # noqa: BLE001 - the database is down: ask it per call until it is back
                log.debug("budget listener not connected: %s", type(exc).__name__)
                self._stop.wait(RETRY_S)
                continue
            try:
                conn = raw.driver_connection
                conn.autocommit = True
                conn.execute(f"LISTEN {CHANNEL}")
                self._forget(live=True)  # only now: a change before LISTEN is not in what is read next
                while not self._stop.is_set():
                    for _ in conn.notifies(timeout=WAKE_S, stop_after=1):
                        self._forget(live=True)
            except Exception as exc:  # noqa: BLE001 - connection lost: trust nothing until LISTEN again
                log.info("budget listener lost its connection (%s); budgets are read per call meanwhile",
                         type(exc).__name__)
            finally:
                self._forget(live=False)
                try:
                    raw.invalidate()  # never back to the pool: it is in autocommit, LISTENing
                except Exception:  # noqa: BLE001 - already gone
                    pass
            self._stop.wait(RETRY_S)


_LISTENERS: dict[str, BudgetListener] = {}
_GUARD = threading.Lock()


def listener(engine: Engine, key: str) -> BudgetListener:
    """The listener of ``engine``'s database (``key``: its URL, schema option included), started at first use."""
    found = _LISTENERS.get(key)
    if found is None:
        with _GUARD:
            found = _LISTENERS.get(key)
            if found is None:
                found = _LISTENERS[key] = BudgetListener(engine).start()
    return found


def notify(conn) -> None:
    """Tell every listening process, once ``conn``'s transaction commits, that budgets changed."""
    conn.execute(text(f"NOTIFY {CHANNEL}"))


def stop_all() -> None:
    """Stop every listener (tests, and the interpreter's exit)."""
    with _GUARD:
        for found in _LISTENERS.values():
            found.stop()
        _LISTENERS.clear()
