"""The month's spend and live holds of a DuckDB ledger, in memory: a reservation needs no database round trip.

A DuckDB file is owned by one process, so once the sums are read (``load``) every change to them
passes through here: each record (``recorded``, atomically with handing it to the ledger's writer),
each hold of a call (``reserve``, queued to the writer: it lands in the transaction of the next
batch, dropped unwritten when its call's record shares that batch), each batch run's holds
(``BudgetBook.reserve_many`` / ``release_many``, written at once as before). Rows written behind its
back (a replayed spool or dead process's journal, a budget changed, demo data) make it read the
database again before the next reservation; so does a refusal, since a hold another module deleted
directly (a now-mode run claiming its rows) only makes the tally count too much, never too little.
A call's own holds are kept across a reload: they are the truth until their record lands.
"""

from __future__ import annotations

import heapq
import threading
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select

from core.budgets.alerts import as_usd
from core.budgets.amounts import GLOBAL, month_bounds
from core.clock import naive_utc
from core.errors import LedgerUnavailable
from core.ledger import watch
from core.ledger.schema import budget_reservations, budgets, calls

_ZERO = Decimal(0)


@dataclass(frozen=True)
class Held:
    user: str
    amount: Decimal
    expires_at: datetime
    own: bool  # a call's hold made here (memory is its truth); else a database row's (a batch run's)


class Tally:
    """In-memory budgets, month spend and live holds of one DuckDB database (``core.ledger.watch``'s watcher)."""

    def __init__(self, engine, zone) -> None:
        self.engine, self.zone = engine, zone
        self.lock = threading.RLock()
        self.ledgers: list = []  # attached ledgers: their writers take the holds, their spools are replayed first
        self._gen = 0  # bumped by invalidate(); the loaded state is good while _loaded == _gen
        self._loaded: int | None = None
        self._month: tuple[datetime, datetime, str] | None = None
        self.budgets: dict[str, Decimal] = {}
        self._spent: dict[str, Decimal] = {}
        self._total = _ZERO
        self.holds: dict[str, Held] = {}
        self._held: dict[str, Decimal] = {}
        self._held_total = _ZERO
        self._expiry: list[tuple[datetime, str]] = []
        self._expired_to: datetime | None = None  # holds expiring at or before this were dropped

    # --- the watcher's side -------------------------------------------------------------

    @property
    def month(self) -> str:
        """The loaded month, "YYYY-MM" in the budget time zone."""
        return self._month[2]

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    def surely_unbudgeted(self, user: str) -> bool:
        """True when the loaded, fresh budgets show none for ``user`` nor "*" (no lock: a hint; False if unsure)."""
        return self._loaded == self._gen and user not in self.budgets and GLOBAL not in self.budgets

    def invalidate(self) -> None:
        self._gen += 1  # no lock: a load in progress sees the new generation and counts as stale

    def closed(self, ledger) -> None:
        """``ledger`` closed: when it was the database's last, the tally goes (another process may open the file)."""
        with _GUARD:
            if ledger in self.ledgers:
                self.ledgers.remove(ledger)
            if not self.ledgers:
                watch.unwatch(ledger.key, self)

    def recorded(self, rec, write):
        """Count ``rec`` (its cost, its hold settled), then ``write(rec)``, under the lock a load takes."""
        with self.lock:
            if self._loaded is not None:
                self._drop(rec.id)  # its hold is settled by the record
                start, end, _ = self._month
                ts = naive_utc(rec.ts)
                if start <= ts < end and rec.cost_usd:
                    cost = as_usd(rec.cost_usd)
                    self._spent[rec.user] = self._spent.get(rec.user, _ZERO) + cost
                    self._total += cost
                elif ts >= end and rec.cost_usd:
                    self.invalidate()  # a later month than the one loaded: read it when it comes
            return write(rec)

    # --- loading ------------------------------------------------------------------------

    def current(self, t: datetime) -> str:
        """Make the sums those of ``t``'s month and drop holds expired by ``t`` (reading the database if stale);
        returns the month ("YYYY-MM")."""
        m = self._month
        within = m is not None and m[0] <= t < m[1]
        stale = (self._loaded != self._gen or not within
                 or (self._expired_to is not None and t < self._expired_to))
        if stale:
            self.load(t)
        self._expire(t)
        return self._month[2]

    def load(self, t: datetime) -> None:
        """Read budgets, the month's spend and the live holds, after every queued write has landed."""
        gen = self._gen
        for ledger in list(self.ledgers):
            ledger.replay_spool()  # spooled rows count: the database must hold them before it is read
            if ledger.spool.pending():
                raise LedgerUnavailable()  # still down: keep what is counted in memory, refuse this check
            ledger.settle()
        start, end, label = month_bounds(t, self.zone)
        with self.engine.connect() as conn:
            table = {u: as_usd(b) for u, b in conn.execute(select(budgets.c.user_id, budgets.c.monthly_usd))}
            spent = {u: as_usd(s) for u, s in conn.execute(
                select(calls.c.user_id, func.sum(calls.c.cost_usd))
                .where(calls.c.ts >= start, calls.c.ts < end).group_by(calls.c.user_id))}
            rows = conn.execute(select(budget_reservations.c.id, budget_reservations.c.user_id,
                                       budget_reservations.c.amount_usd, budget_reservations.c.expires_at)
                                .where(budget_reservations.c.expires_at > t)).all()
        own = {i: h for i, h in self.holds.items() if h.own and h.expires_at > t}
        holds = {i: Held(u, as_usd(a), e, False) for i, u, a, e in rows if i not in own}
        holds.update(own)
        self.budgets, self._spent, self._total = table, spent, sum(spent.values(), _ZERO)
        self.holds, self._held, self._held_total, self._expiry = {}, {}, _ZERO, []
        for i, h in holds.items():
            self._add(i, h)
        self._month, self._expired_to, self._loaded = (start, end, label), None, gen

    # --- holds --------------------------------------------------------------------------

    def _add(self, hold_id: str, h: Held) -> None:
        self.holds[hold_id] = h
        self._held[h.user] = self._held.get(h.user, _ZERO) + h.amount
        self._held_total += h.amount
        heapq.heappush(self._expiry, (h.expires_at, hold_id))

    def _drop(self, hold_id: str) -> Held | None:
        h = self.holds.pop(hold_id, None)
        if h is not None:
            self._held[h.user] -= h.amount
            self._held_total -= h.amount
        return h

    def _expire(self, t: datetime) -> None:
        while self._expiry and self._expiry[0][0] <= t:
            expires, hold_id = heapq.heappop(self._expiry)
            h = self.holds.get(hold_id)
            if h is not None and h.expires_at == expires:
                self._drop(hold_id)
                self._expired_to = max(self._expired_to or expires, t)

    def left(self, user: str) -> Decimal | None:
        """What ``user``'s own budget ("*": the organisation's) has left, spent and held counted; None if unset."""
        budget = self.budgets.get(user)
        if budget is None:
            return None
        if user == GLOBAL:
            return budget - self._total - self._held_total
        return budget - self._spent.get(user, _ZERO) - self._held.get(user, _ZERO)

    def spent(self, user: str) -> Decimal:
        return self._total if user == GLOBAL else self._spent.get(user, _ZERO)

    def hold(self, hold_id: str, user: str, amount: Decimal, expires_at: datetime, *, own: bool) -> None:
        self._add(hold_id, Held(user, amount, expires_at, own))

    def release(self, hold_id: str) -> bool:
        return self._drop(hold_id) is not None


# --- one tally per database, shared by every book and ledger of it in this process -----

_GUARD = threading.Lock()
LOCKS: dict[str, threading.Lock] = {}  # a book without a tally: one write lock per embedded database
LOCKS_GUARD = threading.Lock()
# DuckDB only (one process owns a file): the budgeted user ids per database, read once and kept by this
# process's own writes, so a call for a user with no budget touches no table at all.
BUDGETED: dict[str, frozenset[str]] = {}


def forget_budgets(engine) -> None:
    """Drop what is known in memory of ``engine``'s budgets (after writing the tables directly): read them again."""
    with LOCKS_GUARD:
        BUDGETED.pop(str(engine.url), None)
    if engine.dialect.name == "postgresql":  # every process's listener (core.budgets.listen) reads them again
        from core.budgets.listen import notify

        with engine.execution_options(isolation_level="AUTOCOMMIT").connect() as conn:
            notify(conn)
    if (tally := tally_of(engine)) is not None:
        tally.invalidate()  # budgets, spend or holds changed behind its back


def attach(engine, zone, ledger) -> Tally:
    """The tally of ``engine``'s database (made at the first attach), with ``ledger`` among its writers."""
    key = str(engine.url)
    with _GUARD:
        tally = watch.watcher_of(key)
        if not isinstance(tally, Tally):
            tally = Tally(engine, zone)
            watch.watch(key, tally)
        if ledger not in tally.ledgers:
            tally.ledgers.append(ledger)
    return tally


def tally_of(engine, key: str | None = None) -> Tally | None:
    """The live tally of ``engine``'s database (``key``: its URL as text) in this process, or None (PostgreSQL,
    or no ledger attached)."""
    tally = watch.watcher_of(key or str(engine.url))
    return tally if isinstance(tally, Tally) else None
