"""The usage ledger: one durable row per call, or a spooled line when the database is down.

``record`` writes the ``calls`` row and deletes the call's ``budget_reservations`` row
in ONE transaction (a settled call releases its hold), and returns only once the row
is committed or its spool line is fsync'd. It never raises for a database fault:
the record goes to the spool and comes back through ``replay_spool``, which inserts
if absent (so a line replayed twice lands once). After a fault the database is left
alone for ``retry_after_s`` so a dead server costs one failed connect, not one per call.
The client's path is ``record_later``: the journal's group fsync makes the record durable, and the
writer thread (``core.ledger.writer``) stores it with everyone else's in one transaction.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterable

from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from core.clock import Clock, SystemClock
from core.errors import LedgerUnavailable, mask_url_passwords, scrub
from core.ledger.engine import mask_url
from core.ledger.journal import Journal
from core.ledger.migrations import migrate
from core.ledger.records import check, from_row, row_from_json, to_json, to_row
from core.ledger.schema import budget_reservations, calls
from core.ledger.spool import Spool
from core.ledger.writer import GroupWriter
from core.types import CallRecord

log = logging.getLogger("tollgate.ledger")
SPOOL_LOOK_EVERY_S = 1.0  # replay_soon's stat of the spool file, at most this often (a caller's path asks)
REPLAY_CHUNK = 500  # rows per INSERT during replay: one statement, one transaction
_CONFLICT_RETRIES = 12  # with conflict_backoff_s: about 1.8 s of waiting before a conflict counts as a fault
def _insert_if_absent(dialect_name: str):
    """``INSERT … ON CONFLICT DO NOTHING`` (any backend): a row whose id or idempotency key is there is stored once."""
    mod = sqlite if dialect_name == "sqlite" else postgresql
    return mod.insert(calls).on_conflict_do_nothing()


def _is_conflict(exc: BaseException) -> bool:
    """A transient write-write conflict (DuckDB's optimistic concurrency, PG serialisation)."""
    orig = getattr(exc, "orig", exc)
    if getattr(orig, "sqlstate", None) in ("40001", "40P01"):
        return True
    return type(orig).__name__ == "TransactionException" and "conflict" in str(orig).lower()


def conflict_backoff_s(attempt: int) -> float:
    """Seconds to wait before retrying a conflicted write: 5 ms doubling to 250 ms, with jitter."""
    return min(0.005 * 2 ** attempt, 0.25) * random.uniform(0.5, 1.0)


def _is_permanent(exc: BaseException) -> bool:
    """The database refused this row itself (bad data), as opposed to being unavailable."""
    return isinstance(exc, IntegrityError | DataError)


class Ledger:
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
        self.last_error: str | None = None
        self.schema_version: int | None = None
        self._insert = _insert_if_absent(self.backend)
        self._schema_lock = threading.Lock()
        self._replay_lock = threading.Lock()
        self._down_until: float | None = None
        self.journal = Journal(self.spool.path, sync_ms=journal_sync_ms)  # $0 records, before they return
        self._replayer: threading.Thread | None = None
        self._replayer_guard = threading.Lock()
        self.writer = GroupWriter(self.store_remembered)  # journaled records, many per transaction
        self._next_spool_look, self._spooled = float("-inf"), False

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

    def _write(self, rows: list[dict], *, if_absent: bool = True) -> None:
        """Insert ``rows`` and release their reservations, in one transaction.

        ``if_absent`` adds ON CONFLICT DO NOTHING; the single-record path leaves it off
        because it doubles DuckDB's insert time, and falls back to it on a duplicate id.
        """
        ids = [r["id"] for r in rows]
        for attempt in range(_CONFLICT_RETRIES):
            stmt = self._insert if if_absent else insert(calls)
            try:
                with self.engine.begin() as conn:
                    if len(rows) == 1:
                        conn.execute(stmt, rows[0])
                    else:
                        conn.execute(stmt.values(rows))
                    conn.execute(delete(budget_reservations).where(budget_reservations.c.id.in_(ids)))
                return
            except IntegrityError:
                if if_absent:
                    raise
                if_absent = True  # the id is already there (a retried write): make it a no-op
            except DBAPIError as exc:
                if attempt == _CONFLICT_RETRIES - 1 or not _is_conflict(exc):
                    raise
                self.sleep(conflict_backoff_s(attempt))  # the other writer commits or rolls back meanwhile

    # --- the contract ------------------------------------------------------------------

    def open(self) -> bool:
        """Migrate the schema and replay the spool now; True when the database answered."""
        try:
            self._ensure_schema()
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

    def wait_for_replay(self, timeout_s: float = 60.0) -> None:
        """Return once a background replay started by ``replay_soon`` has ended (or after ``timeout_s``)."""
        replayer = self._replayer
        if replayer is not None:
            replayer.join(timeout=timeout_s)

    def record(self, rec: CallRecord) -> str:
        """Store one call durably (database, else spool) and return its id.

        Raises ValueError for a malformed record, and LedgerUnavailable only when
        neither the database nor the spool file could keep it.
        """
        check(rec)
        row = to_row(rec)
        if not self._backing_off():
            try:
                self._ensure_schema()
                self._write([row], if_absent=False)
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
        stays in the database until ``store_remembered`` writes the row and deletes the hold in
        one transaction, so ``spent + reserved`` counts the call all along. False when the
        journal could not take it: the record was then stored by ``record`` instead. Either way
        it is durable when this returns.
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
            self.writer.submit(rec)

    def settle(self, timeout_s: float = 60.0) -> bool:
        """Wait until every record handed to ``record_later`` so far is in the database (or spooled)."""
        return self.writer.settle(timeout_s)

    def store_remembered(self, recs: list[CallRecord]) -> None:
        """Write journaled records to the database in one transaction (else one by one, spooling)."""
        stored = 0
        try:
            if self._backing_off():
                raise LedgerUnavailable()
            self._ensure_schema()
            rows = [to_row(r) for r in recs]
            for start in range(0, len(rows), REPLAY_CHUNK):
                self._write(rows[start:start + REPLAY_CHUNK])
            stored = len(recs)
        except Exception:  # noqa: BLE001 - record() below sorts out bad rows, faults and the spool
            for rec in recs:
                self.record(rec)  # LedgerUnavailable: the rest stay journaled, replayed at the next start
                stored += 1
        finally:
            self.journal.done(stored)
        self.replay_soon()

    def replay_soon(self) -> None:
        """Replay the spool in a background thread, never on a caller's path; one at a time.

        The spool file is looked at once a second at most (another process may have spooled into it);
        at once after this process spooled.
        """
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
        for start in range(0, len(entries), REPLAY_CHUNK):
            chunk = entries[start:start + REPLAY_CHUNK]
            try:
                self._write([row for row, _ in chunk])
            except DBAPIError as exc:
                if not _is_permanent(exc):
                    raise  # unavailable: keep the whole spool for the next try
                rejected.extend(self._write_one_by_one(chunk))
        for line in rejected:
            log.error("ledger: a spooled record was refused for good; kept in %s",
                      self.spool.rejected_path)
            self.spool.reject(line)

    def _write_one_by_one(self, entries: Iterable[tuple[dict, str]]) -> list[str]:
        """Write rows singly; return the spool lines of those the database refuses for good."""
        refused = []
        for row, line in entries:
            try:
                self._write([row])
            except DBAPIError as exc:
                if not _is_permanent(exc):
                    raise
                refused.append(line)
        return refused

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
