"""The poller: a background thread that advances batch-mode runs (and, once, resumes threaded now-mode runs).

It runs in the console or ``serve`` process and in every worker; ``BatchRuns.poll`` is idempotent and
safe in several processes at once, so running it in each of them bills nothing twice.
"""

from __future__ import annotations

import atexit
import logging
import threading
import weakref

log = logging.getLogger("tollgate.batches")
_SHARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # client -> (BatchRuns, Poller)
_SHARED_LOCK = threading.Lock()
_LIVE: weakref.WeakSet = weakref.WeakSet()  # pollers running, stopped at exit (see _stop_all)


class Poller:
    """``runs.poll()`` every ``every_s`` seconds on a daemon thread until ``stop()``."""

    def __init__(self, runs, every_s: float, *, resume: bool = False) -> None:
        self.runs, self.every_s, self.resume = runs, every_s, resume
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Poller:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="tollgate-batch-poller", daemon=True)
            self._thread.start()
            _LIVE.add(self)
        return self

    def _loop(self) -> None:
        if self.resume:
            try:
                n = self.runs.resume()
                if n:
                    log.info("batch runs: %d unfinished row(s) queued again", n)
            except Exception:  # noqa: BLE001 - the ledger may be down: the next start tries again
                log.exception("batch runs not resumed")
        while True:
            try:
                self.runs.poll()
            except Exception:  # noqa: BLE001 - a poll that fails is tried again next time
                log.exception("batch poll failed")
            if self._stop.wait(self.every_s):
                return

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)


@atexit.register
def _stop_all() -> None:
    """Stop every poller before the interpreter finalises: a daemon thread still inside a database driver's
    native code then would be torn down there, which aborts the process."""
    for poller in list(_LIVE):
        poller.stop(timeout_s=10.0)


def shared_runs(client, settings=None, *, poll: bool = True):
    """The one BatchRuns of this process for ``client`` (the console's door and the gateway share it), with its
    poller started; its rows go where the settings say (Dramatiq, or this process's threads)."""
    from core.batches.broker import queue_from_settings
    from core.batches.service import BatchRuns

    with _SHARED_LOCK:
        found = _SHARED.get(client)
        if found is not None:
            return found[0]
        settings = settings or client.settings
        queue = queue_from_settings(settings)
        runs = BatchRuns(client, queue=queue, settings=settings)
        poller = Poller(runs, settings.batch_poll_s, resume=queue.kind == "threads").start() if poll else None
        _SHARED[client] = (runs, poller)
        client.closers.append(lambda: _stop_shared(client))  # runs before the engine goes (closers run reversed)
        return runs


def _stop_shared(client) -> None:
    found = _SHARED.pop(client, None)
    if found is None:
        return
    runs, poller = found
    if poller is not None:
        poller.stop()
    runs.close()
