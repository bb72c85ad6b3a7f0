"""Helpers for the batch-run tests: a run's spec, waiting for it, and what the ledger billed for it."""

from __future__ import annotations

import time
from decimal import Decimal

import sqlalchemy as sa

from core.batches.model import RunSpec
from core.ledger.schema import calls


def spec(n: int, *, mode: str = "now", user: str = "ana", max_tokens: int = 40, **kw) -> RunSpec:
    return RunSpec(user=user, template="Summarise ticket {{id}}: {{text}}", model="claude-haiku-5-5",
                   rows=[{"id": str(i), "text": f"the printer on floor {i} is jammed"} for i in range(n)],
                   max_tokens=max_tokens, mode=mode, **kw)


def wait_done(runs, run_id: str, timeout_s: float = 60.0, poll: bool = False):
    """The run's status once it ended (polling upstream meanwhile when ``poll``), or AssertionError."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if poll:
            runs.poll()
        st = runs.status(run_id)
        if st.done:
            return st
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} still {runs.status(run_id).state} after {timeout_s} s")


def billed(engine, user: str = "ana", source: str = "batch") -> tuple[int, Decimal]:
    """(ok rows, their cost) the ledger holds for ``user``'s calls from ``source``."""
    with engine.connect() as conn:
        n, cost = conn.execute(sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(calls.c.cost_usd), 0))
                               .where(calls.c.user_id == user, calls.c.source == source,
                                      calls.c.status == "ok")).one()
    return int(n), Decimal(str(cost))
