"""The budget step of a call: reserve the worst case before anything is sent, or refuse.

Owns opening the stores (migrate, replay the spool, apply the budget file) before the first
budget is read, and the policy for when the budget store cannot be reached. Nobody can change a
budget while its store is down, so the last list of budgeted users is still true then: it is kept
in a snapshot file beside the spool, refreshed every minute by any process that can read the
store. A user with no budget on that list (and no global budget) goes on, the record waiting in
the spool; anyone else, or everyone when there is no snapshot, is refused.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from core.errors import LedgerUnavailable, NotConfigured
from core.tokens import estimate_text

log = logging.getLogger("tollgate")
REOPEN_EVERY_S = 30.0  # while the ledger is down, how often the first-use set-up is tried again
SNAPSHOT_EVERY_S = 60.0  # how often the list of budgeted users is copied to the snapshot file


def write_snapshot(engine, path: str | Path) -> list[str]:
    """Copy the list of users with a budget ("*" for the global one) to ``path``, atomically."""
    from core.ledger.schema import budgets

    with engine.connect() as conn:
        users = sorted(conn.execute(select(budgets.c.user_id)).scalars())
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"budgeted_users": users}), encoding="utf-8")
    os.replace(tmp, path)
    return users


def read_snapshot(path: str | Path | None) -> set[str] | None:
    """The users with a budget as last seen by any process, or None when there is no snapshot."""
    try:
        return set(json.loads(Path(path).read_text(encoding="utf-8"))["budgeted_users"])
    except (OSError, TypeError, ValueError, KeyError):
        return None


class BudgetGate:
    """Worst-case reservations against the user's and the organisation's monthly budgets."""

    def __init__(self, *, budgets, ledger, pricing, clock, margin: Decimal, budget_file: str | None,
                 snapshot_path: str | Path | None = None) -> None:
        self.budgets, self.ledger, self.pricing, self.clock = budgets, ledger, pricing, clock
        self.margin, self.budget_file, self.snapshot_path = margin, budget_file, snapshot_path
        self._next_snapshot = float("-inf")
        self.unbudgeted: set[str] = set()  # users this process saw with no user or global budget
        self._ready = False
        self._next_try = float("-inf")
        self._lock = threading.Lock()

    def _open(self) -> None:
        """Once, before budgets are read: migrate, replay the spool, apply the budget file."""
        if self._ready:
            return
        with self._lock:  # a call arriving while another opens waits for it: the tables may not exist yet
            if self._ready or self.clock.monotonic() < self._next_try:
                return
            self._next_try = self.clock.monotonic() + REOPEN_EVERY_S
            if self.ledger is not None and not self.ledger.open():
                return
            if self.budget_file:
                try:
                    self.budgets.load_file(self.budget_file)
                except SQLAlchemyError as exc:
                    log.warning("budget file not applied yet (%s); will try again", type(exc).__name__)
                    return
            self._ready = True

    def worst_case(self, call, v, max_tokens: int) -> Decimal | None:
        """The most this call can cost (USD), or None for a model with no price."""
        row = self.pricing.row_for(v.model, call.ts)
        if row is None:
            return None
        tokens = v.prompt_tokens
        if call.body.get("tools"):  # tool definitions are billed input too
            tokens += estimate_text(json.dumps(call.body["tools"], default=str), v.info.tokenizer)
        estimate = int((Decimal(tokens) * self.margin).to_integral_value()) + 1
        uses_cache = '"cache_control"' in json.dumps(call.body, default=str)
        return self.pricing.worst_case_cost(row, estimate, max_tokens, cache_writes=uses_cache)

    def reserve(self, call, v, max_tokens: int):
        """A reservation (None when no budget applies); raises BudgetExceeded, NotConfigured, LedgerUnavailable."""
        self._open()
        try:
            if self.ledger is not None:
                # In the background: a spooled call's reservation stays held until its row lands.
                self.ledger.replay_soon()
            worst = self.worst_case(call, v, max_tokens)
            if worst is None:
                if self.budgets.get_budget(call.user) is not None or self.budgets.get_budget("*") is not None:
                    raise NotConfigured(f"Model {v.model!r} has no price in the price table, so the "
                                        "budget cannot be enforced; pick a priced model.")
                return None
            reservation = self.budgets.reserve(call.user, call.id, worst, now=call.ts)
        except (SQLAlchemyError, OSError, LedgerUnavailable) as exc:
            if self._known_unbudgeted(call.user):
                log.warning("budget store unavailable (%s); %s has no budget: call proceeds, record spooled",
                            type(exc).__name__, call.user)
                return None
            raise LedgerUnavailable() from None
        except Exception:
            self.unbudgeted.discard(call.user)
            raise
        if reservation is None:
            self.unbudgeted.add(call.user)
        else:
            self.unbudgeted.discard(call.user)
        self._maybe_snapshot()
        return reservation

    def _known_unbudgeted(self, user: str) -> bool:
        if user in self.unbudgeted:
            return True
        budgeted = read_snapshot(self.snapshot_path) if self.snapshot_path else None
        return budgeted is not None and user not in budgeted and "*" not in budgeted

    def _maybe_snapshot(self) -> None:
        """Refresh the snapshot of budgeted users now and then (never fails a call)."""
        if self.snapshot_path is None or self.ledger is None or self.clock.monotonic() < self._next_snapshot:
            return
        self._next_snapshot = self.clock.monotonic() + SNAPSHOT_EVERY_S
        try:
            write_snapshot(self.ledger.engine, self.snapshot_path)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("budget snapshot not refreshed (%s)", type(exc).__name__)
