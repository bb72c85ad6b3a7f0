"""Many holds at once, all or nothing: a Message Batch's worst case, one hold per row (``BudgetBook.reserve_many``).

Checked like a single call's reservation (the user's and the organisation's budget, under the same
lock, in one transaction) against the sum of every row's worst case. Holds last ``ttl`` (a batch may
take 24 hours: 25 by default), so they keep counting for as long as the batch may run; the book's purge
only drops holds past their expiry. Each row's hold is settled by its ledger row (same id, one
transaction) or released when the row ends unbilled.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import delete, insert
from sqlalchemy.exc import IntegrityError, OperationalError

from core.budgets.alerts import tidy_usd
from core.budgets.amounts import GLOBAL, check_user, month_bounds, parse_usd
from core.errors import BudgetExceeded, LedgerUnavailable
from core.ledger.schema import budget_reservations

BATCH_HOLD_TTL = timedelta(hours=25)
_CHUNK = 500  # rows per INSERT / DELETE statement


def fitting(amounts: Sequence[Decimal], left: Decimal) -> int:
    """How many of ``amounts``, taken in order, fit in ``left``."""
    total, n = Decimal(0), 0
    for a in amounts:
        if total + a > left:
            break
        total, n = total + a, n + 1
    return n


def refusal(user: str, amounts: Sequence[Decimal], left: Decimal, scope: str) -> BudgetExceeded:
    """BudgetExceeded saying what the run needs, what is left and how many rows would fit (``fits``)."""
    from core.money import usd

    needed, left = sum(amounts, Decimal(0)), max(Decimal(0), left)
    n = fitting(amounts, left)
    whose = " for the organisation" if scope == "global" else ""
    return BudgetExceeded(user, tidy_usd(left), tidy_usd(needed), scope, fits=n, message=(
        f"This run needs {usd(needed)}; {usd(left)} is left this month{whose}: {n} of {len(amounts)} rows "
        "would fit."))


def reserve_many(book, user: str, holds: Sequence[tuple[str, Decimal]], *, now: datetime | None = None,
                 ttl: timedelta = BATCH_HOLD_TTL) -> bool:
    """Hold every ``(hold_id, usd)`` for ``user`` in one transaction, or raise BudgetExceeded (with ``fits``).

    False when no budget applies to the user (nothing held).
    """
    if check_user(user) == GLOBAL:
        raise ValueError('"*" names the organisation budget; reserve for a real user id.')
    amounts = [parse_usd(a, "The reserved amount") for _, a in holds]
    total, t = sum(amounts, Decimal(0)), book._now(now)
    try:
        if not holds or book._unbudgeted(user):
            return False
    except OperationalError as exc:
        raise LedgerUnavailable() from exc
    month = month_bounds(t, book._zone)[2]
    rows = [{"id": hid, "user_id": user, "month": month, "amount_usd": a, "created_at": t, "expires_at": t + ttl}
            for (hid, _), a in zip(holds, amounts, strict=True)]

    if (tally := book._tally()) is not None:
        from core.budgets import tallied

        return tallied.reserve_many(book, tally, user, rows, amounts, t, refusal)

    def check_and_hold(conn) -> bool:
        found = book._budgets(conn, {user, GLOBAL}, lock=True)
        if not found:
            return False
        for scope, scope_user in (("user", user), ("global", GLOBAL)):
            if scope_user in found:
                left = book._left(conn, scope_user, found[scope_user], t)
                if total > left:
                    raise refusal(user, amounts, left, scope)
        for i in range(0, len(rows), _CHUNK):
            conn.execute(insert(budget_reservations), rows[i:i + _CHUNK])
        return True

    try:
        return bool(book._tx(check_and_hold))
    except IntegrityError as exc:
        raise ValueError("A hold with one of these ids already exists.") from exc
    except OperationalError as exc:
        raise LedgerUnavailable() from exc


def release_many(book, hold_ids: Sequence[str]) -> int:
    """Drop the holds of rows that ended unbilled (or were never sent); how many there were."""
    ids = list(hold_ids)

    def drop() -> int:
        n = 0
        for i in range(0, len(ids), _CHUNK):
            stmt = delete(budget_reservations).where(budget_reservations.c.id.in_(ids[i:i + _CHUNK]))
            n += int(book._tx(lambda c, s=stmt: c.execute(s).rowcount, one_statement=True) or 0)
        return n
    if (tally := book._tally()) is not None and tally.loaded:
        from core.budgets import tallied

        return tallied.release_many(book, tally, ids, drop)
    return drop()
