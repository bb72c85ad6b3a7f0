"""The usage ledger: one durable row per call, or a spooled line when the database is down.

``record`` writes the ``calls`` row and deletes the call's ``budget_reservations`` row
in ONE transaction (a settled call releases its hold), and returns only once the row
is committed or its spool line is fsync'd. It never raises for a database fault:
the record goes to the spool and comes back through ``replay_spool`` (core.ledger.replay), which
inserts if absent (so a line replayed twice lands once). After a fault the database is left
alone for ``retry_after_s`` so a dead server costs one failed connect, not one per call.
The client's path is ``record_later``: the journal's group fsync makes the record durable, and the
writer thread (``core.ledger.writer``) stores it with everyone else's in one transaction
(``core.ledger.writes``), with the budget holds the tally queued meanwhile.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from core.clock import Clock, SystemClock
from core.errors import LedgerUnavailable, mask_url_passwords, scrub
from core.ledger import watch
from core.ledger.engine import mask_url
from core.ledger.journal import Journal
from core.ledger.migrations import migrate
from core.ledger.records import check, from_row, to_json, to_row
from core.ledger.replay import REPLAY_CHUNK, SpoolReplay
from core.ledger.schema import calls
from core.ledger.spool import Spool
from core.ledger.writer import GroupWriter
from core.ledger.writes import BatchWrite, HoldWrite, conflict_backoff_s
from core.ledger.writes import is_conflict as _is_conflict
from core.types import CallRecord

log = logging.getLogger("tollgate.ledger")
__all__ = ["Ledger", "_is_conflict", "conflict_backoff_s"]  # the last two: core.batches.store retries with them


class Ledger(SpoolReplay):
    """Records calls into ``engine`` (schema migrated on first use), spooling on any fault."""

    def __init__(self, engine: Engine, spool: Spool | None = None, clock: Clock | None = None, *,
                 retry_after_s: float = 5.0, sleep=time.sleep, journal_sync_ms: float = 0.0) -> None:
        self.engine = engine
        self.sleep = sleep  # waits between retries of a write conflict
        self.spool = spool if spool is not None else Spool()
        self.clock = clock if clock is not None else SystemClock()
        self.retry_after_s = retry_after_s
        self.backend = engine.dialect.name
        self.url = mask_url(engine.url)
        self.key = str(engine.url)  # the budget tally of this database, if any, is registered under it
        self.last_error: str | None = None
        self.schema_version: int | None = None
        self.batch = BatchWrite(engine, lambda s: self.sleep(s))
        self._schema_lock = threading.Lock()
        self._down_until: float | None = None
        self.journal = Journal(self.spool.path, sync_ms=journal_sync_ms)  # $0 records, before they return
        self.writer = GroupWriter(self.store_remembered)  # journaled records and holds, many per transaction
        self._init_replay()
        watch.join(self.key, self)

    # --- plumbing ----------------------------------------------------------------------

    def _scrub(self, exc: BaseException) -> str:
        """The error's type and first line, with no SQL, parameters, password or key in it."""
        orig = getattr(exc, "orig", None) or exc
        lines = str(orig).strip().splitlines()
        msg = f"{type(orig).__name__}: {lines[0] if lines else ''}"[:300]
        password = self.engine.url.password
        if password:
            msg = msg.replace(str(password), "***")
        return scrub(mask_url_passwords(msg))

    def _fault(self, exc: BaseException, what: str) -> None:
        self.last_error = self._scrub(exc)
        self._down_until = self.clock.monotonic() + self.retry_after_s
        log.warning("ledger (%s %s) unavailable during %s, so records go to the spool: %s",
                    self.backend, self.url, what, self.last_error)

    def _backing_off(self) -> bool:
        return self._down_until is not None and self.clock.monotonic() < self._down_until

    def _ensure_schema(self) -> None:
        if self.schema_version is None:
            with self._schema_lock:
                if self.schema_version is None:
                    self.schema_version = migrate(self.engine, now=self.clock.now())

    # --- the contract ------------------------------------------------------------------

    def open(self) -> bool:
        """Migrate the schema and replay the spool now; True when the database answered."""
        try:
            with self._schema_lock:  # checked again (one query when current): the schema may have been dropped
                self.schema_version = migrate(self.engine, now=self.clock.now())
        except Exception as exc:  # noqa: BLE001 - any fault: report, keep spooling
            self._fault(exc, "open")
            return False
        self._down_until = None
        self.replay_spool()
        try:  # journals of processes that died before storing their $0 records
            moved = self.journal.drain_orphans(self._apply_lines)
        except Exception as exc:  # noqa: BLE001 - still down: the journals stay for the next open
            self._fault(exc, "journal replay")
        else:
            if moved:
                log.info("ledger: stored %d journaled record(s) of an ended process", moved)
        return not self._backing_off()

    def close(self) -> None:
        """Store what the writer holds, wait for a replay, remove this process's journal if all of it is stored."""
        self.writer.close()
        self.wait_for_replay()
        self.journal.close()
        if (watcher := watch.watcher_of(self.key)) is not None:
            watcher.closed(self)

    def record(self, rec: CallRecord) -> str:
        """Store one call durably (database, else spool) and return its id.

        Raises ValueError for a malformed record, and LedgerUnavailable only when
        neither the database nor the spool file could keep it.
        """
        check(rec)
        watcher = watch.watcher_of(self.key)
        return self._record_now(rec) if watcher is None else watcher.recorded(rec, self._record_now)

    def _record_now(self, rec: CallRecord) -> str:
        """``record`` without telling the tally (the writer's fallback: its records were counted already)."""
        row = to_row(rec)
        if not self._backing_off():
            try:
                self._ensure_schema()
                self.batch.write([row], if_absent=False)
            except Exception as exc:  # noqa: BLE001 - a DB fault of any kind: spool instead
                self._fault(exc, f"record {rec.id}")
            else:
                self._down_until = None
                self.replay_soon()
                return rec.id
        try:
            self.spool.append(to_json(rec))
            self._spooled = True
        except OSError as exc:
            log.error("ledger record %s could not be spooled to %s: %s", rec.id, self.spool.path,
                      type(exc).__name__)
            raise LedgerUnavailable("The usage record could not be stored: the ledger database and "
                                    "its spool file are both unavailable.") from None
        return rec.id

    def remember(self, rec: CallRecord, *, billed: bool = False) -> bool:
        """Journal a record (group-committed fsync) for ``store_remembered`` to write later.

        ``billed`` fsyncs before returning even with ``journal_sync_ms`` > 0. Its budget hold
        stays until ``store_remembered`` writes the row and deletes the hold in one transaction,
        so ``spent + reserved`` counts the call all along. False when the journal could not take
        it: the record was then stored by ``record`` instead. Either way it is durable when this returns.
        """
        check(rec)
        try:
            self.journal.append(to_json(rec), fsync=billed)
            return True
        except OSError as exc:
            log.warning("ledger journal unavailable (%s); recording %s directly", type(exc).__name__, rec.id)
            self.record(rec)
            return False

    def record_later(self, rec: CallRecord, *, billed: bool = True) -> None:
        """Make ``rec`` durable in the journal now and write it to the database with others' in one transaction.

        Durable when this returns (journal fsync, else ``record``'s own commit or spool line); the
        budget hold is deleted only when the row lands. Raises as ``record`` does.
        """
        if self.remember(rec, billed=billed):
            watcher = watch.watcher_of(self.key)
            if watcher is None:
                self.writer.submit(rec)
            else:
                watcher.recorded(rec, self.writer.submit)

    def queue_hold(self, hold: HoldWrite) -> None:
        """A budget hold to insert (or drop) in the writer's next transaction: the tally's, not waited for."""
        self.writer.submit(hold)

    def settle(self, timeout_s: float = 60.0) -> bool:
        """Wait until every record handed to ``record_later`` so far is in the database (or spooled).

        Every ledger of this database in this process, not this one only: a reader must see what another
        client of the same file recorded.
        """
        others = [led for led in watch.ledgers_of(self.key) if led is not self]
        return all([self.writer.settle(timeout_s), *(led.writer.settle(timeout_s) for led in others)])

    def store_remembered(self, items: list) -> None:
        """Write journaled records (and queued holds) in one transaction, else the records one by one, spooling."""
        recs = [r for r in items if isinstance(r, CallRecord)]
        holds = [h for h in items if isinstance(h, HoldWrite)]
        stored = 0
        try:
            if self._backing_off():
                raise LedgerUnavailable()
            self._ensure_schema()
            rows = [to_row(r) for r in recs]
            for start in range(0, max(len(rows), 1), REPLAY_CHUNK):
                self.batch.write(rows[start:start + REPLAY_CHUNK], holds if not start else (), if_absent=False)
            stored = len(recs)
        except Exception:  # noqa: BLE001 - _record_now below sorts out bad rows, faults and the spool
            for rec in recs:  # queued holds are dropped: the tally counts them in memory all the same
                self._record_now(rec)  # LedgerUnavailable: the rest stay journaled, replayed at the next start
                stored += 1
        finally:
            if recs:
                self.journal.done(stored)
        self.replay_soon()

    def get(self, call_id: str) -> CallRecord | None:
        """The stored record with this id, or None (the database only, not the spool)."""
        self.settle()
        self._ensure_schema()
        with self.engine.connect() as conn:
            row = conn.execute(select(calls).where(calls.c.id == call_id)).first()
        return from_row(row) if row is not None else None

    def health(self) -> dict:
        """Reachability, row count, spool backlog and the last error (scrubbed) for the console."""
        report = {"ok": False, "backend": self.backend, "url": self.url, "rows": None,
                  "spool_pending": 0, "last_error": self.last_error,
                  "schema_version": self.schema_version}
        self.settle(timeout_s=5.0)
        try:
            report["spool_pending"] = self.spool.count()
        except OSError as exc:
            report["spool_error"] = type(exc).__name__
        try:
            self._ensure_schema()
            with self.engine.connect() as conn:
                report["rows"] = int(conn.execute(select(func.count()).select_from(calls)).scalar_one())
        except Exception as exc:  # noqa: BLE001 - health reports, never raises
            self._fault(exc, "health check")
            report["last_error"] = self.last_error
            return report
        report["ok"] = True
        report["schema_version"] = self.schema_version
        return report
