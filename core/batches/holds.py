"""A now-mode run's worst case held against the user's budget, one hold per row, all or nothing.

The holding itself is the budget book's (``BudgetBook.reserve_many``, core.budgets.holds, shared with
``client.batches``); this module names what a run needs from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from core.budgets.holds import fitting, release_many


def fits(amounts: Sequence[Decimal], left: Decimal) -> int:
    """How many of ``amounts``, taken in order, fit in ``left``."""
    return fitting(amounts, left)


def reserve_rows(book, user: str, holds: Sequence[tuple[str, Decimal]], *, now: datetime) -> bool:
    """Hold every ``(hold_id, usd)``, or raise BudgetExceeded (with ``fits``); False when no budget applies."""
    return book.reserve_many(user, list(holds), now=now)


def release(book, hold_ids: Sequence[str]) -> int:
    """Drop the holds of rows that ended without a bill (canceled, or about to be sent and held by the call)."""
    if not hold_ids or book is None:
        return 0
    return release_many(book, list(hold_ids))
