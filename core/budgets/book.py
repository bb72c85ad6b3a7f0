"""Per-user monthly budgets that are never overshot: reserve the worst case, let the ledger settle.

``reserve`` checks ``spent + reserved + amount <= budget`` for the user's and the organisation's
(``"*"``) budget and inserts a hold, in one transaction; the ledger later writes the real cost
and deletes the hold in one transaction, so ``spent + reserved`` never passes what was checked.
PostgreSQL: the budget rows are locked ``FOR UPDATE`` under READ COMMITTED, so sums read after
the lock (by a statement of their own) see every earlier hold, across processes; the whole transaction
is one pipelined round trip (``core.budgets.pg_hold``) and its commit does not wait for the disk unless
``durable_holds``. DuckDB (embedded, one process): once attached to its ledger, the book checks and
holds against the tally in memory (``core.budgets.tally``), else a lock per database serialises the
check-and-insert. Months are calendar months in the budget time zone.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import delete, insert, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from core.budgets import alerts as budget_alerts
from core.budgets import combined, listen, spending, tallied
from core.budgets import tally as tallies
from core.budgets.alerts import Alert, as_usd, check_thresholds, tidy_usd
from core.budgets.amounts import (
    GLOBAL,
    budget_zone,
    check_user,
    checked_budget,
    month_bounds,
    parse_usd,
    read_budget_file,
)
from core.budgets.tally import forget_budgets  # core.reports.demo_data imports it from here too
from core.clock import Clock, naive_utc
from core.errors import LedgerUnavailable
from core.ledger.schema import budget_reservations, budgets
from core.ledger.writes import is_conflict as _is_conflict  # a write-write conflict or deadlock: run it again

_CONFLICT_RETRIES = 20
@dataclass(frozen=True)
class Reservation:
    """A worst-case amount held against a budget until the ledger settles the call."""

    id: str
    user_id: str
    month: str  # YYYY-MM in the budget time zone
    amount_usd: Decimal
    expires_at: datetime  # naive UTC; after it the hold stops counting
    remaining_usd: Decimal  # what the tightest applicable budget has left after this hold
    # (scope user, budget, spend bound): each applicable budget's spend once this call settles is at most the bound
    bounds: tuple[tuple[str, Decimal, Decimal], ...] = ()


# --- the book --------------------------------------------------------------------------

class BudgetBook:
    """Monthly USD budgets per user (and ``"*"`` for the organisation), held in the ledger DB."""

    def __init__(self, engine: Engine, *, tz: str = "UTC", thresholds: Iterable[int] = (50, 80, 100),
                 reservation_ttl_s: float = 900, clock: Clock, webhook_url: str | None = None,
                 post: Callable[[str, dict], object] | None = None,
                 sleep: Callable[[float], None] = time.sleep, durable_holds: bool = False) -> None:
        if reservation_ttl_s <= 0:
            raise ValueError("reservation_ttl_s must be positive (seconds).")
        self._engine, self._clock, self._pg = engine, clock, engine.dialect.name == "postgresql"
        self._duck, self._key = engine.dialect.name == "duckdb", str(engine.url)  # rendering the URL costs 13 µs
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT") if self._pg else engine
        self.tz, self._zone = tz, budget_zone(tz)
        self.thresholds = check_thresholds(thresholds)
        self._ttl = timedelta(seconds=reservation_ttl_s)
        self.webhook_url, self._post = webhook_url, post or budget_alerts.post_json
        self._last_purge: datetime | None = None
        self._alerted: set[tuple[str, str, int]] = set()  # thresholds known recorded: not tried again each call
        self._sleep = sleep  # between retries of a write conflict
        self.durable_holds = durable_holds  # PostgreSQL: False commits a hold without waiting for the WAL flush
        self.settle: Callable[[], object] = lambda: None  # the ledger's writer barrier (set by attach)
        self._ledger = None  # the ledger whose writer takes this book's holds (DuckDB, set by attach)
        self._combiner = combined.Combiner()  # PostgreSQL: one user's concurrent holds in one transaction

    def attach(self, ledger) -> None:
        """Settle ``ledger`` before reports; on DuckDB (one owning process) count holds in memory (core.budgets.tally)."""
        self.settle = ledger.settle
        if self._engine.dialect.name == "duckdb" and str(ledger.engine.url) == str(self._engine.url):
            self._ledger = ledger
            tallies.attach(self._engine, self._zone, ledger)

    def _tally(self) -> tallies.Tally | None:
        return tallies.tally_of(self._engine, self._key) if self._duck else None

    def surely_unbudgeted(self, user: str) -> bool:
        """True when it is known without I/O that no budget applies to ``user`` (DuckDB's tally, PostgreSQL's
        listener); False if unsure."""
        if self._pg:
            known = listen.listener(self._engine, self._key).cached()
            return known is not None and user not in known and GLOBAL not in known
        tally = self._tally()
        return tally is not None and tally.surely_unbudgeted(user)

    # --- plumbing ----------------------------------------------------------------------

    def _now(self, now: datetime | None) -> datetime:
        return naive_utc(now if now is not None else self._clock.now())

    def _write_lock(self) -> AbstractContextManager:
        """PostgreSQL locks rows itself; embedded engines get one process lock per database."""
        if self._pg:
            return nullcontext()
        with tallies.LOCKS_GUARD:
            return tallies.LOCKS.setdefault(str(self._engine.url), threading.Lock())

    def _tx(self, fn: Callable[[Connection], object], *, one_statement: bool = False) -> object:
        """Run ``fn(conn)`` in one write transaction, again on a transient conflict. ``one_statement``: ``fn``
        runs a single statement, which PostgreSQL commits by itself (one round trip, no BEGIN and COMMIT)."""
        for attempt in range(_CONFLICT_RETRIES):
            try:
                if one_statement and self._pg:
                    with self._autocommit.connect() as conn:
                        return fn(conn)
                with self._write_lock(), self._engine.connect() as conn:
                    if self._pg:  # each statement must see rows committed while we waited on a lock
                        conn.execution_options(isolation_level="READ COMMITTED")
                    with conn.begin():
                        return fn(conn)
            except DBAPIError as exc:
                if attempt == _CONFLICT_RETRIES - 1 or not _is_conflict(exc):
                    raise
                self._sleep(min(0.005 * 2 ** attempt, 0.25))  # let the other writer finish, then run again
        raise AssertionError("unreachable")

    def _budgets(self, conn: Connection, users: Iterable[str], *, lock: bool = False) -> dict[str, Decimal]:
        q = (select(budgets.c.user_id, budgets.c.monthly_usd)
             .where(budgets.c.user_id.in_(sorted(users))).order_by(budgets.c.user_id))
        if lock and self._pg:
            q = q.with_for_update()  # ordered, so every reserver locks "*" before its own row
        return {u: as_usd(v) for u, v in conn.execute(q).all()}

    def _used(self, conn: Connection, user: str, now: datetime) -> tuple[Decimal, Decimal]:
        """(spent this month, held by live reservations) for ``user``, or everyone for "*"."""
        start, end, _ = month_bounds(now, self._zone)
        both = conn.execute(spending.used_select(self._engine.dialect.name, user, start, end), {"now": now}).one()
        return as_usd(both[0]), as_usd(both[1])

    def _left(self, conn: Connection, user: str, budget: Decimal, now: datetime) -> Decimal:
        spent, held = self._used(conn, user, now)
        return budget - spent - held

    # --- administration ----------------------------------------------------------------

    def set_budget(self, user: str, usd: Decimal | str | int, by: str | None = None) -> Decimal:
        """Create or change a user's monthly budget ("*" = organisation-wide); returns the amount."""
        user = check_user(user)
        amount = checked_budget(user, parse_usd(usd, f"The budget for {user!r}"))
        values = {"monthly_usd": amount, "updated_at": self._now(None), "updated_by": by}

        def upsert(conn: Connection) -> None:
            forget_budgets(self._engine)  # under the write lock: a reload waits for this commit
            if not conn.execute(update(budgets).where(budgets.c.user_id == user).values(**values)).rowcount:
                conn.execute(insert(budgets).values(user_id=user, **values))

        try:
            self._tx(upsert)
        except IntegrityError:  # another process inserted the row first: update it instead
            self._tx(upsert)
        forget_budgets(self._engine)  # again once committed: a tally read meanwhile saw the old table
        return amount

    def remove_budget(self, user: str) -> bool:
        """Drop a user's budget (their calls are then limited only by "*", if set)."""
        def drop(conn: Connection) -> int:
            forget_budgets(self._engine)  # under the write lock: a reload waits for this commit
            return conn.execute(delete(budgets).where(budgets.c.user_id == user)).rowcount
        dropped = bool(self._tx(drop))
        forget_budgets(self._engine)  # again once committed: a tally read meanwhile saw the old table
        return dropped

    def _unbudgeted(self, user: str) -> bool:
        """True when neither ``user`` nor "*" has a budget, from a list kept in memory (DuckDB: this process's
        writes; PostgreSQL: while its listener hears every change), else by one autocommit read."""
        if self._pg:  # the list is kept by a LISTEN connection (core.budgets.listen), else read now
            known = listen.listener(self._engine, self._key).budgeted(self._budgeted_users)
            return user not in known and GLOBAL not in known
        key = str(self._engine.url)
        known = tallies.BUDGETED.get(key)
        if known is None:
            with self._write_lock(), self._engine.connect() as conn:  # no budget write can run meanwhile
                known = frozenset(conn.execute(select(budgets.c.user_id)).scalars())
                with tallies.LOCKS_GUARD:
                    tallies.BUDGETED[key] = known
        return user not in known and GLOBAL not in known

    def _budgeted_users(self) -> frozenset[str]:
        with self._autocommit.connect() as conn:
            return frozenset(conn.execute(select(budgets.c.user_id)).scalars())

    def get_budget(self, user: str) -> Decimal | None:
        """The user's own monthly budget in USD ("*" for the organisation's), or None."""
        with self._engine.connect() as conn:
            return self._budgets(conn, [user]).get(user)

    def load_file(self, path: str | Path) -> dict[str, Decimal]:
        """Apply a budgets TOML file (see data/budgets.example.toml); validated before any write."""
        path = Path(path)
        table, tz, thresholds = read_budget_file(path)
        if tz is not None:
            self.tz, self._zone = tz, budget_zone(tz)
            if (tally := self._tally()) is not None:
                tally.zone = self._zone
                tally.invalidate()
        if thresholds is not None:
            self.thresholds = thresholds
        for user, amount in table.items():
            self.set_budget(user, amount, by=f"file:{path.name}")
        return table

    # --- accounting --------------------------------------------------------------------

    def spent(self, user: str, now: datetime | None = None) -> Decimal:
        """USD recorded in the ledger for ``user`` this month, any status ("*" = everyone)."""
        self.settle()
        with self._engine.connect() as conn:
            return tidy_usd(self._used(conn, user, self._now(now))[0])

    def reserved(self, user: str, now: datetime | None = None) -> Decimal:
        """USD held by live, unsettled reservations of ``user`` ("*" = everyone)."""
        self.settle()
        with self._engine.connect() as conn:
            return tidy_usd(self._used(conn, user, self._now(now))[1])

    def remaining(self, user: str, now: datetime | None = None) -> Decimal | None:
        """USD the user can still reserve this month (tightest of own and "*"), or None if unlimited."""
        self.settle()
        t = self._now(now)
        with self._engine.connect() as conn:
            found = self._budgets(conn, {user, GLOBAL})
            lefts = [self._left(conn, u, b, t) for u, b in found.items()]
        return tidy_usd(max(Decimal(0), min(lefts))) if lefts else None

    def reserve(self, user: str, call_id: str, amount_usd: Decimal, now: datetime | None = None,
                replaces: str | None = None) -> Reservation | None:
        """Hold ``amount_usd`` for a call, or raise BudgetExceeded; None when no budget applies. ``replaces``:
        ``user``'s hold made ahead for this call (a run's row), dropped with the check (kept if refused)."""
        if check_user(user) == GLOBAL:
            raise ValueError('"*" names the organisation budget; reserve for a real user id.')
        amount, t = parse_usd(amount_usd, "The reserved amount"), self._now(now)
        if (tally := self._tally()) is not None:
            if getattr(getattr(self._ledger, "spool", None), "pending", bool)():  # the database takes no writes
                raise LedgerUnavailable()  # as without a tally: a budgeted call is refused
            held = tallied.reserve(self, tally, user, call_id, amount, t, Reservation, replaces)
            self._maybe_purge(t)
            return held
        try:
            if self._unbudgeted(user):
                return None
        except OperationalError as exc:
            raise LedgerUnavailable() from exc
        if self._pg and replaces is None:  # concurrent holds of this user share one transaction
            month, ask = month_bounds(t, self._zone)[2], combined.Ask(call_id, amount, t)
            held = self._combiner.reserve((user, month), ask, lambda batch: combined.hold_batch(
                self, user, month, batch, Reservation))
        else:
            held = self._reserve_one(user, call_id, amount, t, replaces)
        self._maybe_purge(t)
        return held

    def _reserve_one(self, user: str, call_id: str, amount: Decimal, t: datetime, replaces: str | None):
        """One hold in its own locking transaction (BudgetExceeded, LedgerUnavailable, ValueError)."""
        ask = combined.Ask(call_id, amount, t)
        combined.hold_batch(self, user, month_bounds(t, self._zone)[2], [ask], Reservation, replaces=replaces)
        return ask.outcome()

    def reserve_many(self, user: str, holds, now: datetime | None = None, **kw) -> bool:
        """Many holds for ``user``, all or nothing (a Message Batch's rows): see core.budgets.holds."""
        from core.budgets import holds as batch_holds

        return batch_holds.reserve_many(self, user, holds, now=now, **kw)

    def release(self, call_id: str) -> bool:
        """Drop a hold for a call that ended before any ledger row; True if one was held."""
        if (tally := self._tally()) is not None and tally.loaded:
            return tallied.release(self, tally, call_id)
        stmt = delete(budget_reservations).where(budget_reservations.c.id == call_id)
        return bool(self._tx(lambda c: c.execute(stmt).rowcount, one_statement=True))

    def _maybe_purge(self, now: datetime) -> None:
        """Delete holds long expired (crashed processes), at most once per TTL, best effort."""
        if self._last_purge is not None and now - self._last_purge < self._ttl:
            return
        self._last_purge = now
        # A grace of one more TTL keeps us clear of a ledger write settling a just-expired hold.
        stmt = delete(budget_reservations).where(budget_reservations.c.expires_at < now - self._ttl)
        try:
            self._tx(lambda c: c.execute(stmt), one_statement=True)
        except DBAPIError:
            pass  # stale holds already stop counting; the next purge will try again

    # --- alerts and reports (core.budgets.alerts) ---------------------------------------

    def alert_may_fire(self, held) -> bool:
        """False when ``held`` (a Reservation) shows its call cannot take a budget past a threshold not yet recorded."""
        return budget_alerts.may_fire(held, self.thresholds, self._alerted)

    def check_alerts(self, user: str, now: datetime | None = None) -> list[Alert]:
        """Record once a month, and post, each threshold crossed by the user's and by "*"'s spend."""
        t = self._now(now)
        if (tally := self._tally()) is not None:
            found, spends = tallied.spends(tally, user, t)  # no settle: the tally counts queued records
        elif self._unbudgeted(user):
            return []  # before settle: hurrying the writer for nothing would cut its batches short
        else:
            self.settle()
            with self._engine.connect() as conn:
                found = self._budgets(conn, {user, GLOBAL})
                spends = {u: self._used(conn, u, t)[0] for u in found}
        month = month_bounds(t, self._zone)[2]
        return [alert for u, budget in sorted(found.items()) for alert in budget_alerts.fire(
            self._tx, user=u, month=month, spent=tidy_usd(spends[u]), budget=tidy_usd(budget),
            thresholds=self.thresholds, now=t, webhook_url=self.webhook_url, post=self._post, seen=self._alerted)]

    def alerts(self, month: str | None = None):
        """Alerts recorded so far (optionally of one "YYYY-MM"), as a pandas DataFrame."""
        return budget_alerts.frame(self._engine, month)

    def status(self, now: datetime | None = None):
        """Every budget this month as a DataFrame: budget, spent, reserved, remaining, pct_used."""
        self.settle()
        start, end, month = month_bounds(t := self._now(now), self._zone)
        with self._engine.connect() as conn:
            table = conn.execute(select(budgets.c.user_id, budgets.c.monthly_usd).order_by(budgets.c.user_id)).all()
        used = spending.spent_and_held(self._engine, [u for u, _ in table], start, end, t)  # exact, one snapshot
        return budget_alerts.status_frame([(u, as_usd(b), *used[u]) for u, b in table], month)
