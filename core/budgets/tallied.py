"""The budget book's holds on a DuckDB ledger owned by this process: checked against the tally in memory.

Same rules as the database path of ``BudgetBook`` (the user's and the organisation's budget, every
live hold counted whatever its month), with no round trip: a call's hold is queued to the ledger's
writer (``Ledger.queue_hold``), a batch run's holds are written at once (they must outlive this
process). A refusal reads the database again before it stands, in case a hold was deleted behind
the tally's back; a second look that still refuses is final.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import delete, insert
from sqlalchemy.exc import SQLAlchemyError

from core.budgets.alerts import tidy_usd
from core.budgets.amounts import GLOBAL
from core.budgets.tally import Tally
from core.errors import BudgetExceeded, LedgerUnavailable
from core.ledger.schema import budget_reservations
from core.ledger.writes import HoldWrite

_SCOPES = (("user", None), ("global", GLOBAL))


def _short(tally: Tally, user: str, amount: Decimal) -> tuple[list[Decimal], tuple[str, Decimal] | None]:
    """(what each applicable budget has left, the first scope ``amount`` does not fit with its left)."""
    lefts, short = [], None
    for scope, who in _SCOPES:
        left = tally.left(who or user)
        if left is None:
            continue
        lefts.append(left)
        if short is None and amount > left:
            short = (scope, left)
    return lefts, short


def _checked(tally: Tally, user: str, amount: Decimal, t: datetime):
    """(lefts, the scope short of ``amount`` or None), reading the database again before a refusal stands;
    (None, None) when no budget applies."""
    try:
        tally.current(t)
        lefts, short = _short(tally, user, amount)
        if short is not None:
            tally.load(t)
            tally.current(t)
            lefts, short = _short(tally, user, amount)
    except SQLAlchemyError as exc:
        raise LedgerUnavailable() from exc
    if not lefts:
        return None, None
    return lefts, short


def reserve(book, tally: Tally, user: str, call_id: str, amount: Decimal, t: datetime, make,
            replaces: str | None = None):
    """``BudgetBook.reserve`` on the tally: ``make(id, user, month, amount, expires, remaining)`` (a
    Reservation), None when no budget applies, or BudgetExceeded. ``replaces``: ``user``'s hold made ahead
    for this call, dropped under the same lock as the check (kept if refused)."""
    with tally.lock:
        lefts, short = _checked(tally, user, amount, t)
        old = None
        if replaces is not None and (h := tally.holds.get(replaces)) is not None and h.user == user:
            old = tally._drop(replaces)
            lefts, short = _checked(tally, user, amount, t)
        month = tally.month
        if lefts is None:
            if old is not None:
                _write_hold(book, HoldWrite(replaces))
            return None
        if short is not None:
            if old is not None:
                tally._add(replaces, old)
            scope, left = short
            raise BudgetExceeded(user, tidy_usd(max(Decimal(0), left)), tidy_usd(amount), scope)
        if old is not None:
            _write_hold(book, HoldWrite(replaces))
        if call_id in tally.holds:
            raise ValueError(f"A reservation with id {call_id!r} already exists.")
        expires = t + book._ttl
        tally.hold(call_id, user, amount, expires, own=True)
        row = {"id": call_id, "user_id": user, "month": month, "amount_usd": amount, "created_at": t,
               "expires_at": expires}
        _write_hold(book, HoldWrite(call_id, row))
    return make(call_id, user, month, amount, expires, tidy_usd(min(lefts) - amount))


def _write_hold(book, hold: HoldWrite) -> None:
    """Queue the hold's row to the book's ledger writer; a book with no ledger writes it now."""
    if book._ledger is not None:
        book._ledger.queue_hold(hold)
        return
    if hold.row is None:
        book._tx(lambda c: c.execute(delete(budget_reservations).where(budget_reservations.c.id == hold.id)))
    else:
        book._tx(lambda c: c.execute(insert(budget_reservations).values(**hold.row)))


def release(book, tally: Tally, call_id: str) -> bool:
    """Drop a call's hold in memory and, in the writer's next transaction, its row; True if it was held."""
    with tally.lock:
        held = tally.release(call_id)
        _write_hold(book, HoldWrite(call_id))
    return held


def reserve_many(book, tally: Tally, user: str, rows: list[dict], amounts: Sequence[Decimal], t: datetime,
                 refusal) -> bool:
    """``holds.reserve_many`` on the tally: every row's hold written now (in one transaction) and counted;
    ``refusal(user, amounts, left, scope)`` is the BudgetExceeded raised when they do not fit."""
    total = sum(amounts, Decimal(0))
    with tally.lock:
        lefts, short = _checked(tally, user, total, t)
        if lefts is None:
            return False
        if short is not None:
            raise refusal(user, amounts, short[1], short[0])
        if any(r["id"] in tally.holds for r in rows):
            raise ValueError("A hold with one of these ids already exists.")
        book._tx(lambda c: [c.execute(insert(budget_reservations), rows[i:i + 500]) for i in range(0, len(rows), 500)])
        for r in rows:
            tally.hold(r["id"], user, r["amount_usd"], r["expires_at"], own=False)
    return True


def release_many(book, tally: Tally, ids: list[str], delete_rows) -> int:
    """``holds.release_many`` on the tally: the rows deleted (``delete_rows()``) and the holds forgotten."""
    with tally.lock:
        n = delete_rows()
        for i in ids:
            tally.release(i)
    return n


def spends(tally: Tally, user: str, t: datetime) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """(budgets, spend this month) of ``user`` and "*" that have a budget, for the alert check."""
    with tally.lock:
        try:
            tally.current(t)
        except SQLAlchemyError as exc:
            raise LedgerUnavailable() from exc
        found = {u: tally.budgets[u] for u in (user, GLOBAL) if u in tally.budgets}
        return found, {u: tally.spent(u) for u in found}


