"""Concurrent holds of one user share one locking transaction on PostgreSQL (group commit for reservations).

A hold locks the user's budget row (and the organisation's), sums what is spent and held, and inserts
itself, in one transaction: calls of one user are serialised on that row lock, and with many threads each
waiting transaction also waits for the GIL, so 16 threads held fewer calls a second than one. Here the
first hold of a user to arrive runs the transaction for every hold of that user and month that queued
meanwhile: each is checked in arrival order against what is left after the ones before it (a refusal
takes nothing), all admitted are inserted at once, one commit. The next batch's first hold then leads.
Across processes the row lock still orders the batches, so nothing is ever held twice over.
"""

from __future__ import annotations

import threading
from datetime import datetime
from decimal import Decimal

from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError, OperationalError

from core.budgets import pg_hold
from core.budgets.alerts import tidy_usd
from core.budgets.amounts import GLOBAL
from core.errors import BudgetExceeded, LedgerUnavailable
from core.ledger.schema import budget_reservations


class Ask:
    """One call's hold, waiting for the batch that decides it: ``result`` (a Reservation or None) or ``error``."""

    __slots__ = ("amount", "batch", "call_id", "done", "error", "result", "t")

    def __init__(self, call_id: str, amount: Decimal, t: datetime) -> None:
        self.call_id, self.amount, self.t = call_id, amount, t
        self.done = threading.Event()
        self.batch: list[Ask] | None = None  # set when this ask is to lead the next batch
        self.result, self.error = None, None

    def outcome(self):
        if self.error is not None:
            raise self.error
        return self.result


class Combiner:
    """Per (user, month): one batch in flight at a time, the asks arriving meanwhile queued for the next."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queued: dict[tuple[str, str], list[Ask]] = {}  # present while a batch of that key runs

    def reserve(self, key: tuple[str, str], ask: Ask, run) -> object:
        """``ask``'s outcome once ``run(batch)`` decided the batch it joined (run by this thread if it leads)."""
        with self._lock:
            waiting = self._queued.get(key)
            if waiting is not None:
                waiting.append(ask)
            else:
                self._queued[key] = []
                ask.batch = [ask]
        if ask.batch is None:
            ask.done.wait()
        if ask.batch is not None:  # this thread leads a batch
            batch = ask.batch
            run(batch)
            with self._lock:
                nxt = self._queued.pop(key)
                if nxt:
                    self._queued[key] = []
                    nxt[0].batch = nxt
            for other in batch:
                if other is not ask:
                    other.done.set()
            if nxt:
                nxt[0].done.set()  # it leads the next batch
        return ask.outcome()


def hold_batch(book, user: str, month: str, asks: list[Ask], reservation, *, replaces: str | None = None) -> None:
    """Decide every ask in one locking transaction of ``book`` (each gets its result or error; never raises):
    on PostgreSQL through psycopg one pipelined round trip (core.budgets.pg_hold), else statement by statement.

    ``replaces`` (one ask only): the user's hold made ahead for this call, dropped with the check, kept if refused."""
    t0 = min(a.t for a in asks)  # the earliest: every hold live then is counted (the safe side)

    def check_and_hold(conn) -> None:
        for a in asks:
            a.result = a.error = None  # a transaction run again after a conflict decides afresh
        if book._pg and not book.durable_holds:  # this transaction only; the calls' records stay durable
            conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        found = book._budgets(conn, {user, GLOBAL}, lock=True)
        if replaces is not None:
            conn.execute(delete(budget_reservations).where(budget_reservations.c.id == replaces,
                                                           budget_reservations.c.user_id == user))
        scopes = [(scope, u) for scope, u in (("user", user), ("global", GLOBAL)) if u in found]
        if not scopes:
            return
        left = {u: book._left(conn, u, found[u], t0) for _, u in scopes}
        rows = []
        for a in asks:
            over = next(((scope, u) for scope, u in scopes if a.amount > left[u]), None)
            if over is not None:
                a.error = BudgetExceeded(user, tidy_usd(max(Decimal(0), left[over[1]])), tidy_usd(a.amount), over[0])
                continue
            bounds = tuple((u, found[u], found[u] - left[u] + a.amount) for _, u in scopes)
            for _, u in scopes:
                left[u] -= a.amount
            expires = a.t + book._ttl
            rows.append({"id": a.call_id, "user_id": user, "month": month, "amount_usd": a.amount,
                         "created_at": a.t, "expires_at": expires})
            a.result = reservation(a.call_id, user, month, a.amount, expires, tidy_usd(min(left.values())), bounds)
        if replaces is not None and asks[0].error is not None:
            raise asks[0].error  # rolled back: the hold made ahead stays
        if rows:
            conn.execute(insert(budget_reservations), rows)

    try:
        if book._pg and pg_hold.usable(book._engine):  # one pipelined round trip (psycopg 3, libpq 14+)
            pg_hold.hold_batch(book, user, month, asks, reservation, replaces=replaces)
        else:
            book._tx(check_and_hold)
    except IntegrityError:  # an id held already: decide each alone, so only that one is refused
        if len(asks) == 1:
            asks[0].result, asks[0].error = None, ValueError(
                f"A reservation with id {asks[0].call_id!r} already exists.")
        else:
            for a in asks:
                hold_batch(book, user, month, [a], reservation)
    except OperationalError:
        for a in asks:
            a.result, a.error = None, LedgerUnavailable()
    except Exception as exc:  # noqa: BLE001 - every caller of the batch gets the failure
        for a in asks:
            a.result, a.error = None, exc
