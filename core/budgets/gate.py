"""The budget step of a call: reserve the worst case before anything is sent, or refuse.

Owns opening the stores (migrate, replay the spool, apply the budget file) before the first
budget is read, and the policy for when the budget store cannot be reached. Nobody can change a
budget while its store is down, so the last list of budgeted users is still true then: it is kept
in a snapshot file beside the spool, refreshed every minute by any process that can read the
store. A user with no budget on that list (and no global budget) goes on, the record waiting in
the spool; anyone else is refused. The snapshot, when there is one, wins over this process's
memory of who had no budget; without one, that memory holds for ``unbudgeted_ttl_s`` only.

The reservation is an upper bound on the real cost: input at the bound of
``core.guards.tokens.bound_request`` (text at its UTF-8 bytes, since a byte-level BPE never makes more
tokens than bytes; a base64 image by its pixel size), output at ``max_tokens``, every token price
times the data-residency factor the request asks for (``inference_geo``), plus each web search or
fetch tool's ``max_uses`` (else ``WEB_SEARCH_DEFAULT_USES``) at its per-use price. When that bound
does not fit what is left (or cannot be taken: PDFs, url/file sources), Anthropic's free
``count_tokens`` gives the input figure instead, times the margin; if it fails, refuse.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from core.budgets.snapshot import read_snapshot, write_snapshot
from core.cache.keys import marks_cache
from core.errors import BudgetExceeded, CostUnbounded, LedgerUnavailable, NotConfigured
from core.guards.tokens import bound_request, server_tool_uses

log = logging.getLogger("tollgate")
REOPEN_EVERY_S = 30.0  # while the ledger is down, how often the first-use set-up is tried again
SNAPSHOT_EVERY_S = 60.0  # how often the list of budgeted users is copied to the snapshot file


class BudgetGate:
    """Worst-case reservations against the user's and the organisation's monthly budgets."""

    def __init__(self, *, budgets, ledger, pricing, clock, margin: Decimal, budget_file: str | None,
                 snapshot_path: str | Path | None = None, count_tokens: Callable[[dict], int] | None = None,
                 unbudgeted_ttl_s: float = 30.0) -> None:
        self.budgets, self.ledger, self.pricing, self.clock = budgets, ledger, pricing, clock
        self.margin, self.budget_file, self.snapshot_path = margin, budget_file, snapshot_path
        self.count_tokens, self.unbudgeted_ttl_s = count_tokens, unbudgeted_ttl_s
        self._next_snapshot = float("-inf")
        self.unbudgeted: dict[str, float] = {}  # user -> when (monotonic s) this process saw them with no budget
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

    def _pricer(self, call, row, max_tokens: int) -> Callable[[int], Decimal]:
        """USD of ``n`` input tokens plus ``max_tokens`` output, at the dearest prices that may apply,
        plus the server-tool uses the request allows."""
        # The client's one pass found the markers; a bare body (a quote) is walked here.
        uses_cache = getattr(call, "cache_writes", None)
        if uses_cache is None:
            uses_cache = marks_cache(call.body)
        body = call.body
        geo = body.get("inference_geo")
        factor = self.pricing.geo_factor(row.model, geo if isinstance(geo, str) else None, call.ts)
        tools = self.pricing.tool_charge(server_tool_uses(body.get("tools")), call.ts)
        return lambda n: self.pricing.worst_case_cost(row, n, max_tokens, cache_writes=uses_cache,
                                                      factor=factor) + tools

    def _bound_tokens(self, call) -> int | None:
        """The offline bound on the request's input tokens, or None (PDFs, url/file sources: none)."""
        body = call.body
        return bound_request(body.get("system"), body.get("messages"), body.get("tools"))

    def _counted_tokens(self, call) -> int | None:
        """Anthropic's count of the input tokens times the margin, or None when it cannot be had."""
        if self.count_tokens is None:
            return None
        try:
            counted = self.count_tokens(call.body)
        except Exception as exc:  # noqa: BLE001 - any failure means no figure: the caller refuses
            log.warning("count_tokens failed (%s); the byte bound stands", type(exc).__name__)
            return None
        return math.ceil(Decimal(counted) * self.margin)

    def worst_case(self, call, v, max_tokens: int, remaining: Decimal | None = None) -> Decimal | None:
        """What ``reserve`` would hold (USD) given ``remaining``; None for a model with no price.

        The byte bound when it fits ``remaining`` (or no budget applies); else the counted figure
        when it is lower; None too when neither can be had (PDFs, url/file sources and count_tokens failed).
        """
        row = self.pricing.row_for(v.model, call.ts)
        if row is None:
            return None
        cost, bound = self._pricer(call, row, max_tokens), self._bound_tokens(call)
        cheap = None if bound is None else cost(bound)
        if cheap is not None and (remaining is None or cheap <= remaining):
            return cheap
        if cheap is None and remaining is None:
            return None
        if remaining is not None and cost(0) > remaining:
            return cheap  # the output alone does not fit: no count can help
        counted = self._counted_tokens(call)
        if counted is None:
            return cheap
        return cost(counted) if cheap is None else min(cheap, cost(counted))

    def _hold(self, call, v, max_tokens: int):
        """Reserve the byte bound; when it does not fit (or there is none), the counted figure."""
        if self.budgets.surely_unbudgeted(call.user):
            return None  # known in memory: no need to price the worst case
        row = self.pricing.row_for(v.model, call.ts)
        if row is None:
            if self.budgets.get_budget(call.user) is not None or self.budgets.get_budget("*") is not None:
                raise NotConfigured(f"Model {v.model!r} has no price in the price table, so the "
                                    "budget cannot be enforced; pick a priced model.")
            return None
        cost, bound = self._pricer(call, row, max_tokens), self._bound_tokens(call)
        if bound is not None:
            try:
                return self.budgets.reserve(call.user, call.id, cost(bound), now=call.ts, replaces=getattr(call, "run_hold", None))
            except BudgetExceeded as refused:
                if cost(0) > refused.remaining_usd:
                    raise refused from None  # the output alone does not fit: no count can help
                counted = self._counted_tokens(call)
                if counted is None or counted >= bound:
                    raise refused from None
                return self.budgets.reserve(call.user, call.id, cost(counted), now=call.ts, replaces=getattr(call, "run_hold", None))
        if self.budgets.remaining(call.user, now=call.ts) is None:
            return None  # no budget applies: no need to know the exact cost
        counted = self._counted_tokens(call)
        if counted is None:
            raise CostUnbounded()
        return self.budgets.reserve(call.user, call.id, cost(counted), now=call.ts, replaces=getattr(call, "run_hold", None))

    def reserve(self, call, v, max_tokens: int):
        """A reservation (None when no budget applies).

        Raises BudgetExceeded, CostUnbounded (PDFs or url/file sources, count_tokens failed), NotConfigured,
        LedgerUnavailable.
        """
        self._open()
        try:
            if self.ledger is not None:
                # In the background: a spooled call's reservation stays held until its row lands.
                self.ledger.replay_soon()
            reservation = self._hold(call, v, max_tokens)
        except (SQLAlchemyError, OSError, LedgerUnavailable) as exc:
            if self._known_unbudgeted(call.user):
                log.warning("budget store unavailable (%s); %s has no budget: call proceeds, record spooled",
                            type(exc).__name__, call.user)
                return None
            raise LedgerUnavailable() from None
        except Exception:
            self.unbudgeted.pop(call.user, None)
            raise
        if reservation is None:
            self.unbudgeted[call.user] = self.clock.monotonic()
        else:
            self.unbudgeted.pop(call.user, None)
        self._maybe_snapshot()
        return reservation

    def _known_unbudgeted(self, user: str) -> bool:
        """True when ``user`` has no budget: as the snapshot says, else as this process saw lately."""
        budgeted = read_snapshot(self.snapshot_path) if self.snapshot_path else None
        if budgeted is not None:  # written by `budget set` and every minute: it beats our memory
            return user not in budgeted and "*" not in budgeted
        seen = self.unbudgeted.get(user)
        return seen is not None and self.clock.monotonic() - seen < self.unbudgeted_ttl_s

    def _maybe_snapshot(self) -> None:
        """Refresh the snapshot of budgeted users now and then (never fails a call)."""
        if self.snapshot_path is None or self.ledger is None or self.clock.monotonic() < self._next_snapshot:
            return
        self._next_snapshot = self.clock.monotonic() + SNAPSHOT_EVERY_S
        try:
            write_snapshot(self.ledger.engine, self.snapshot_path)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("budget snapshot not refreshed (%s)", type(exc).__name__)
