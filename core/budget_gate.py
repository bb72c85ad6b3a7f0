"""The budget step of a call: reserve the worst case before anything is sent, or refuse.

Owns opening the stores (migrate, replay the spool, apply the budget file) before the first
budget is read, and the policy for when the budget store cannot be reached: only a user this
process has seen with no budget at all may go on (the record then waits in the spool);
everyone else is refused, since nobody can change a budget while its store is down.
"""

from __future__ import annotations

import json
import logging
import threading
from decimal import Decimal

from sqlalchemy.exc import SQLAlchemyError

from core.errors import LedgerUnavailable, NotConfigured
from core.tokens import estimate_text

log = logging.getLogger("tollgate")
REOPEN_EVERY_S = 30.0  # while the ledger is down, how often the first-use set-up is tried again


class BudgetGate:
    """Worst-case reservations against the user's and the organisation's monthly budgets."""

    def __init__(self, *, budgets, ledger, pricing, clock, margin: Decimal, budget_file: str | None) -> None:
        self.budgets, self.ledger, self.pricing, self.clock = budgets, ledger, pricing, clock
        self.margin, self.budget_file = margin, budget_file
        self.unbudgeted: set[str] = set()  # users this process saw with no user or global budget
        self._ready = False
        self._next_try = float("-inf")
        self._lock = threading.Lock()

    def _open(self) -> None:
        """Once, before budgets are read: migrate, replay the spool, apply the budget file."""
        if self._ready or self.clock.monotonic() < self._next_try:
            return
        with self._lock:
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
            if self.ledger is not None and self.ledger.spool.pending():
                # Spooled costs count against budgets only once they are in the ledger: replay first.
                self.ledger.replay_spool()
            worst = self.worst_case(call, v, max_tokens)
            if worst is None:
                if self.budgets.get_budget(call.user) is not None or self.budgets.get_budget("*") is not None:
                    raise NotConfigured(f"Model {v.model!r} has no price in the price table, so the "
                                        "budget cannot be enforced; pick a priced model.")
                return None
            reservation = self.budgets.reserve(call.user, call.id, worst, now=call.ts)
        except (SQLAlchemyError, OSError, LedgerUnavailable) as exc:
            if call.user in self.unbudgeted:
                log.warning("budget store unavailable (%s); %s had no budget: call proceeds, record spooled",
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
        return reservation
