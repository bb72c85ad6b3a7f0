"""Every budget's month-to-date spend and live holds at once, for the budget table (``BudgetBook.status``).

The spend is read like the reports read it (core.ledger.rollup_read): the rollups over the month's whole
hours and days plus the raw rows not in them (unrolled, or in the month's partial edge hours), which
partition its calls exactly, so each figure equals the raw ``sum(cost_usd)`` of the month's calls to the
1e-10 USD (money is BIGINT units of 1e-10 in the rollups; ``cost_usd`` has ten decimals). Two statements
in one snapshot (PostgreSQL: REPEATABLE READ): a settlement committing in between cannot hide its hold and
its cost, nor count both. The reservation's own check reads its spend the same way on PostgreSQL (``used_select``).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from functools import lru_cache

from sqlalchemy import bindparam, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql import Select

from core.budgets.alerts import as_usd
from core.budgets.amounts import GLOBAL
from core.ledger import rollup_read
from core.ledger.schema import budget_reservations, calls


def spent_and_held(engine: Engine, users: Iterable[str], start: datetime, end: datetime,
                   now: datetime) -> dict[str, tuple[Decimal, Decimal]]:
    """(USD spent in naive-UTC ``[start, end)``, USD held by holds live at ``now``) per user; "*" = everyone."""
    users = sorted(set(users))
    named = [u for u in users if u != GLOBAL]
    dialect = engine.dialect.name
    r = budget_reservations.c
    held_q = select(r.user_id, func.sum(r.amount_usd)).where(r.expires_at > now).group_by(r.user_id)
    conn_opts = {"isolation_level": "REPEATABLE READ"} if dialect == "postgresql" else {}
    spent: dict[str, Decimal] = {}
    with engine.connect().execution_options(**conn_opts) as conn, conn.begin():
        rollup_read.tune(conn)
        if named:
            stmt = rollup_read.usage_select(dialect, ["user"], start, end, "UTC", users=named, measures=("cost_usd",))
            spent.update((row.user, as_usd(row.cost_usd)) for row in conn.execute(stmt))
        if GLOBAL in users:
            total = rollup_read.usage_select(dialect, [], start, end, "UTC", measures=("cost_usd",))
            spent[GLOBAL] = as_usd(conn.execute(total).one().cost_usd)
        held = {u: as_usd(v) for u, v in conn.execute(held_q)}
    held[GLOBAL] = sum(held.values(), Decimal(0))
    return {u: (spent.get(u, Decimal(0)), held.get(u, Decimal(0))) for u in users}


@lru_cache(maxsize=4096)
def used_select(dialect: str, user: str, start: datetime, end: datetime) -> Select:
    """One SELECT of (USD spent in ``[start, end)``, USD held by holds live at ``:now``) for ``user`` ("*": everyone).

    The reservation's own check, under its row locks. PostgreSQL: the rollups' whole hours and days plus the
    raw rows not in them partition the period exactly, as for the budget table; the raw sum cost a hold 0.25 s
    with a million calls this month (bench/budget_check.py). DuckDB scans one column of a million rows in
    2 ms, faster than the rollup union, so it sums the raw calls. One statement, hence one snapshot even
    under READ COMMITTED: read apart, a settlement or a rollup refresh committing in between would hide a
    hold and its cost, or count a call twice. Cached: building the rollup union costs more than running it.
    """
    if dialect == "postgresql":
        spent = rollup_read.usage_select(dialect, [], start, end, users=None if user == GLOBAL else [user],
                                         measures=("cost_usd",)).subquery("spent").c.cost_usd
    else:
        raw = select(func.coalesce(func.sum(calls.c.cost_usd), 0)).where(calls.c.ts >= start, calls.c.ts < end)
        spent = (raw if user == GLOBAL else raw.where(calls.c.user_id == user)).scalar_subquery()
    r = budget_reservations.c
    # Every live hold counts whatever its month: holds last minutes, and one taken just before midnight
    # on the 1st may settle into the new month.
    held = select(func.coalesce(func.sum(r.amount_usd), 0)).where(r.expires_at > bindparam("now"))
    if user != GLOBAL:
        held = held.where(r.user_id == user)
    return select(spent, held.scalar_subquery())
