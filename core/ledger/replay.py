"""Moving spooled and orphaned journal lines into the database: in the background, once per id.

``replay_soon`` looks at the spool file at most once a second (another process may have spooled into
it), at once after this process spooled, and replays it in one background thread, never on a
caller's path. Lines are inserted if absent by id, so a line replayed twice lands once; a line the
database refuses for good goes to the spool's rejected file.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from sqlalchemy.exc import DBAPIError

from core.ledger import watch
from core.ledger.records import row_from_json
from core.ledger.writes import is_permanent

log = logging.getLogger("tollgate.ledger")
SPOOL_LOOK_EVERY_S = 1.0  # replay_soon's stat of the spool file, at most this often (a caller's path asks)
REPLAY_CHUNK = 500  # rows per INSERT during replay: one statement, one transaction


class SpoolReplay:
    """The ledger's replay half (mixed into ``Ledger``: its spool, batch writer, back-off and schema)."""

    def _init_replay(self) -> None:
        self._replay_lock = threading.Lock()
        self._replayer: threading.Thread | None = None
        self._replayer_guard = threading.Lock()
        self._next_spool_look, self._spooled = float("-inf"), False

    def wait_for_replay(self, timeout_s: float = 60.0) -> None:
        """Return once a background replay started by ``replay_soon`` has ended (or after ``timeout_s``)."""
        replayer = self._replayer
        if replayer is not None:
            replayer.join(timeout=timeout_s)

    def replay_soon(self) -> None:
        """Replay the spool in a background thread, never on a caller's path; one at a time."""
        now = self.clock.monotonic()
        if self._backing_off() or (now < self._next_spool_look and not self._spooled):
            return
        self._next_spool_look, self._spooled = now + SPOOL_LOOK_EVERY_S, False
        if not self.spool.pending():
            return
        with self._replayer_guard:
            if self._replayer is not None and self._replayer.is_alive():
                return
            self._replayer = threading.Thread(target=self._replay, kwargs={"wait": True}, daemon=True,
                                              name="tollgate-spool-replay")
            self._replayer.start()

    def replay_spool(self) -> int:
        """Move every spooled record into the database (once each); returns how many were moved."""
        return self._replay(wait=True)

    def _replay(self, *, wait: bool) -> int:
        if not self.spool.pending():
            return 0
        if not self._replay_lock.acquire(blocking=wait):
            return 0  # another thread is replaying already
        try:
            self._ensure_schema()
            moved = self.spool.drain(self._apply_lines)
        except Exception as exc:  # noqa: BLE001 - still down: the spool keeps everything
            self._fault(exc, "spool replay")
            return 0
        finally:
            self._replay_lock.release()
        if moved:
            log.info("ledger: replayed %d spooled record(s) into %s", moved, self.url)
        return moved

    def _apply_lines(self, lines: list[str]) -> None:
        parsed: dict[str, tuple[dict, str]] = {}
        rejected = []
        for line in lines:
            try:
                row = row_from_json(line)
                parsed[row["id"]] = (row, line)  # a record spooled twice is one row
            except (ValueError, KeyError, TypeError):
                rejected.append(line)
        entries = list(parsed.values())
        try:
            for start in range(0, len(entries), REPLAY_CHUNK):
                chunk = entries[start:start + REPLAY_CHUNK]
                try:
                    self.batch.write([row for row, _ in chunk])
                except DBAPIError as exc:
                    if not is_permanent(exc):
                        raise  # unavailable: keep the whole spool for the next try
                    rejected.extend(self._write_one_by_one(chunk))
        finally:
            if entries and (watcher := watch.watcher_of(self.key)) is not None:
                watcher.invalidate()  # rows it may not have counted (another process's, a dead one's)
        for line in rejected:
            log.error("ledger: a spooled record was refused for good; kept in %s",
                      self.spool.rejected_path)
            self.spool.reject(line)

    def _write_one_by_one(self, entries: Iterable[tuple[dict, str]]) -> list[str]:
        """Write rows singly; return the spool lines of those the database refuses for good."""
        refused = []
        for row, line in entries:
            try:
                self.batch.write([row])
            except DBAPIError as exc:
                if not is_permanent(exc):
                    raise
                refused.append(line)
        return refused
