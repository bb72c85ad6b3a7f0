"""A whole run's worst case held against the user's budget as one hold per row, all or nothing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import delete, insert
from sqlalchemy.exc import OperationalError

from core.budgets.alerts import tidy_usd
from core.budgets.amounts import GLOBAL, month_bounds
from core.errors import BudgetExceeded, LedgerUnavailable
from core.money import usd

HOLD_TTL = timedelta(hours=25)  # a batch may take 24 h: its holds outlive it, and purge (past expiry) leaves them


def fits(amounts: Sequence[Decimal], left: Decimal) -> int:
    """How many of ``amounts``, taken in order, fit in ``left``."""
    total, n = Decimal(0), 0
    for a in amounts:
        if total + a > left:
            break
        total, n = total + a, n + 1
    return n


def refusal(user: str, amounts: Sequence[Decimal], left: Decimal, scope: str) -> BudgetExceeded:
    """BudgetExceeded saying how many rows would fit (``fits`` on the error)."""
    needed = sum(amounts, Decimal(0))
    left = max(Decimal(0), left)
    err = BudgetExceeded(user, tidy_usd(left), tidy_usd(needed), scope)
    n = fits(amounts, left)
    whose = "the organisation has" if scope == "global" else "is"
    err.message = (f"This run needs {usd(needed)}; {usd(left)} {whose} left this month: "
                   f"{n} of {len(amounts)} rows would fit.")
    err.args = (err.message,)
    err.fits = n
    return err


def reserve_rows(book, user: str, holds: Sequence[tuple[str, Decimal]], *, now: datetime) -> bool:
    """Hold every ``(hold_id, usd)`` for ``user`` in one transaction, or raise BudgetExceeded (with ``fits``).

    Returns False when no budget applies to the user (nothing held). The user's and the organisation's
    budgets are both checked, as for a single call.
    """
    amounts = [a for _, a in holds]
    total = sum(amounts, Decimal(0))
    t = book._now(now)
    try:
        if book._unbudgeted(user):
            return False
    except OperationalError as exc:
        raise LedgerUnavailable() from exc
    month = month_bounds(t, book._zone)[2]

    def check_and_hold(conn) -> bool:
        found = book._budgets(conn, {user, GLOBAL}, lock=True)
        for scope, scope_user in (("user", user), ("global", GLOBAL)):
            if scope_user in found:
                left = book._left(conn, scope_user, found[scope_user], t)
                if total > left:
                    raise refusal(user, amounts, left, scope)
        if not found:
            return False
        conn.execute(insert(book_table()), [
            {"id": hid, "user_id": user, "month": month, "amount_usd": a, "created_at": t,
             "expires_at": t + HOLD_TTL} for hid, a in holds])
        return True

    try:
        return bool(book._tx(check_and_hold))
    except OperationalError as exc:
        raise LedgerUnavailable() from exc


def release(book, hold_ids: Sequence[str]) -> int:
    """Drop the holds of rows that ended without a bill (cancelled, failed before sending); how many there were."""
    if not hold_ids or book is None:
        return 0
    table = book_table()
    n = 0
    for i in range(0, len(hold_ids), 500):
        chunk = list(hold_ids[i:i + 500])
        n += int(book._tx(lambda c, ids=chunk: c.execute(delete(table).where(table.c.id.in_(ids))).rowcount) or 0)
    return n


def book_table():
    from core.ledger.schema import budget_reservations

    return budget_reservations
