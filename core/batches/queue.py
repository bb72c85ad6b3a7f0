"""Where now-mode rows run: worker threads in this process (no broker configured), or Dramatiq workers."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger("tollgate.batches")
CHUNK_ROWS = 10  # rows per task, at most: fewer per-task reads, and still every worker busy


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
        """The rows in chunks, one per worker at least (a chunk is sent row after row by one thread)."""
        pool = self._executor()
        size = max(1, min(CHUNK_ROWS, -(-len(rows) // self.workers)))
        for i in range(0, len(rows), size):
            pool.submit(self._safe, run_id, rows[i:i + size])

    def _safe(self, run_id: str, rows: list[int]) -> None:
        try:
            self._runs.work(run_id, rows)
        except Exception:  # noqa: BLE001 - the rows stay pending in the database; resume retries them
            log.exception("batch run %s: rows %s.. not run", run_id, rows[:1])

    def close(self, wait: bool = False) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=wait, cancel_futures=not wait)
