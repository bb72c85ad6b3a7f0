"""Where now-mode rows run: worker threads in this process (no broker configured), or Dramatiq workers."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger("tollgate.batches")


class ThreadQueue:
    """Rows on this process's threads: ``make run`` needs nothing more. Rows left when it stops are resumed
    from the ledger database by the next process (``BatchRuns.resume``)."""

    kind = "threads"

    def __init__(self, workers: int = 4) -> None:
        self.workers = max(1, int(workers))
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._runs = None

    def bind(self, runs) -> None:
        self._runs = runs

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="tollgate-batch")
            return self._pool

    def enqueue(self, run_id: str, rows: list[int]) -> None:
        pool = self._executor()
        for i in rows:
            pool.submit(self._safe, run_id, i)

    def _safe(self, run_id: str, row: int) -> None:
        try:
            self._runs.work(run_id, [row])
        except Exception:  # noqa: BLE001 - the row stays pending in the database; resume retries it
            log.exception("batch run %s: row %d not run", run_id, row)

    def close(self, wait: bool = False) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=not wait)
