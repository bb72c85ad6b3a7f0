"""Every budget's month-to-date spend and live holds at once, for the budget table (``BudgetBook.status``).

The spend is read like the reports read it (core.ledger.rollup_read): the rollups over the month's whole
hours and days plus the raw rows not in them (unrolled, or in the month's partial edge hours), which
partition its calls exactly, so each figure equals the raw ``sum(cost_usd)`` of ``BudgetBook._used`` to the
1e-10 USD (money is BIGINT units of 1e-10 in the rollups; ``cost_usd`` has ten decimals). Two statements
in one snapshot (PostgreSQL: REPEATABLE READ): a settlement committing in between cannot hide its hold and
its cost, nor count both. The reservation's own check (``_used``) stays on the raw rows under its locks.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from core.budgets.alerts import as_usd
from core.budgets.amounts import GLOBAL
from core.ledger import rollup_read
from core.ledger.schema import budget_reservations


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
