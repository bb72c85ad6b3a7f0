"""Checks behind ``python -m core``: arguments an analyst can get wrong, and a ledger another process holds.

Each check raises a ``ValidationError`` (or returns a ``LedgerUnavailable``) whose message is the one
line the CLI prints: what is wrong and what to do. Heavy modules are imported inside the functions.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal, InvalidOperation

from core.errors import LedgerUnavailable, ValidationError

_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
POSTGRES_HINT = "set TOLLGATE_LEDGER_URL to a shared PostgreSQL (postgresql+psycopg://…)"


def plain(d: Decimal) -> str:
    """A Decimal as plain digits (``0.00000000``, ``1000000``), never exponent notation."""
    return format(d, "f")


def budget_usd(raw: str) -> Decimal:
    """``--usd`` as a finite amount from $0 to the cap, with at most the ledger's 10 decimal places."""
    from core.budgets import MAX_MONTHLY_USD, check_budget_amount

    try:
        amount = Decimal(raw.strip().removeprefix("$"))
    except InvalidOperation:
        raise ValidationError(f'--usd must be an amount in USD such as 25 or 25.50; got {raw!r}.',
                              field="usd") from None
    try:
        return check_budget_amount(amount)
    except ValueError as exc:
        raise ValidationError(f"--usd {raw}: {exc} (the cap is ${plain(MAX_MONTHLY_USD)} a month).",
                              field="usd") from None


def date_range(since: date | None, until: date | None, today: date) -> tuple[date, date]:
    """(first day, last day); the defaults are the 30 days up to today; a reversed range is refused."""
    from datetime import timedelta

    last = until or today
    first = since or last - timedelta(days=30)
    if first > last:
        raise ValidationError(f"--since {first} is after --until {last}{' (today)' if until is None else ''}: "
                              "give the earlier day first.", field="since")
    return first, last


def month(value: str | None) -> str | None:
    """``--month`` as YYYY-MM (or None for this month)."""
    if value is not None and not _MONTH.fullmatch(value):
        raise ValidationError(f"--month must be YYYY-MM, such as 2026-11; got {value!r}.", field="month")
    return value


def known_user(engine, users_file, user: str) -> bool:
    """True for "*", a console account, or a user the ledger has seen (a call or a budget)."""
    from sqlalchemy import select

    from core.auth import UserStore
    from core.ledger.schema import budgets, calls

    if user == "*" or any(u["username"] == user for u in UserStore(users_file).users()):
        return True
    with engine.connect() as conn:
        for table in (budgets, calls):
            if conn.execute(select(table.c.user_id).where(table.c.user_id == user).limit(1)).first():
                return True
    return False


def _where(engine) -> str:
    """The ledger's file (DuckDB) or masked URL, as an analyst would look for it."""
    from core.ledger.engine import mask_url

    if engine.dialect.name == "duckdb" and engine.url.database:
        return engine.url.database
    return mask_url(engine.url)


def ledger_problem(ledger, *, asking: bool = False) -> LedgerUnavailable | None:
    """None when the ledger opens (schema, spool replay); else the one line saying why and what to do."""
    if ledger.open():
        return None
    where, why = _where(ledger.engine), ledger.last_error or "no answer"
    if "lock" in why.lower():  # DuckDB: one process at a time may open the file
        head = f"The ledger {where} is in use by another process (the console?)"
        if asking:
            return LedgerUnavailable(f"{head}, so budgets cannot be checked and the call was not sent. "
                                     f"Ask in the console's Playground, stop the console, or {POSTGRES_HINT}.")
        return LedgerUnavailable(f"{head}. Stop it, or {POSTGRES_HINT} that both can share.")
    return LedgerUnavailable(f"The ledger {where} cannot be reached ({why}). Check that it is running, "
                             "or point TOLLGATE_LEDGER_URL at one that is.")
