"""Group commit for the ledger: one thread writes every journaled record queued meanwhile in one transaction.

A record reaches this queue only once it is durable in the journal, so the caller never waits for
the database: while one batch commits (a DuckDB commit costs ~8 ms), the next calls' records queue
up and share the following commit. ``settle`` is the barrier for readers that must see every row
queued so far (``Ledger.get``, budget reports, tests).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("tollgate.ledger")
BATCH = 500  # records per transaction at most
# A batch waits this long for company before it is written: sequential calls then share a transaction
# too. A DuckDB insert-and-commit costs ~5 ms of CPU whatever its size (1 row or 64), on a machine whose
# cores the callers and the API share: at 20 ms, 50 commits a second took a quarter of a core. The records
# are durable in the journal meanwhile; their holds are counted (in the tally, or as rows) until the batch
# lands; ``settle`` and ``close`` cut the wait short.
LINGER_S = 0.1


class GroupWriter:
    """Hands queued items to ``store`` in batches, from one daemon thread started at the first submit."""

    def __init__(self, store: Callable[[list], None], *, batch: int = BATCH, linger_s: float = LINGER_S) -> None:
        self._store, self._batch, self._linger_s = store, batch, linger_s
        self._hurry = 0  # callers of settle waiting: write without lingering
        self._cond = threading.Condition()
        self._items: list = []
        self._queued = 0  # items submitted so far
        self._finished = 0  # of those, items whose store call has returned (stored, spooled or left journaled)
        self._thread: threading.Thread | None = None
        self._closing = False

    def submit(self, item) -> None:
        with self._cond:
            self._items.append(item)
            self._queued += 1
            if self._thread is None:
                self._closing = False
                self._thread = threading.Thread(target=self._run, name="tollgate-ledger-writer", daemon=True)
                self._thread.start()
            # Woken only when it waits for a first item or a batch is full: while it lingers, a wake-up per
            # call cost 16 callers a GIL hand-over each for nothing (its linger ends by itself).
            if len(self._items) == 1 or len(self._items) >= self._batch:
                self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._items:
                    if self._closing:
                        self._thread = None
                        self._cond.notify_all()
                        return
                    self._cond.wait()
                until = time.monotonic() + self._linger_s
                while len(self._items) < self._batch and not (self._hurry or self._closing):
                    left = until - time.monotonic()
                    if left <= 0:
                        break
                    self._cond.wait(left)
                batch, self._items = self._items[:self._batch], self._items[self._batch:]
            try:
                self._store(batch)
            except Exception:  # noqa: BLE001 - unstored records stay in the journal, replayed at the next start
                log.exception("ledger writer: a batch of %d record(s) was left in the journal", len(batch))
            with self._cond:
                self._finished += len(batch)
                self._cond.notify_all()

    def pending(self) -> int:
        """Items submitted whose store call has not returned yet."""
        with self._cond:
            return self._queued - self._finished

    def settle(self, timeout_s: float = 60.0) -> bool:
        """Wait until every item submitted before this call was handed to ``store``; False on timeout."""
        with self._cond:
            if threading.current_thread() is self._thread:
                return True  # the writer itself (e.g. a spool replay it runs) cannot wait for itself
            target, deadline = self._queued, time.monotonic() + timeout_s
            self._hurry += 1
            self._cond.notify_all()
            try:
                while self._finished < target:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return False
                    self._cond.wait(left)
                return True
            finally:
                self._hurry -= 1

    def close(self, timeout_s: float = 60.0) -> None:
        """Store what is queued and end the thread (a later submit starts a new one)."""
        with self._cond:
            thread = self._thread
            self._closing = True
            self._cond.notify_all()
        if thread is not None:
            thread.join(timeout=timeout_s)
