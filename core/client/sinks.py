"""Where a call's outcome goes: one small sink per destination, listed by the factory.

The recorder builds one ``Outcome`` per call and hands it to each sink in order. The
``LedgerSink`` comes first, so a record is durable (journaled, fsync'd) before
anything else hears of it; a failing sink is logged and skipped, never costing the ledger
its record or the caller their answer. Only the ledger's own failure (database and spool
both down) reaches the caller, after the other sinks have run.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from core.errors import TollgateError
from core.observability import prom, sentry, tracing
from core.observability.logs import FIELDS
from core.observability.redact import redact
from core.types import STATUS_CACHED, STATUS_ERROR, STATUS_OK, CallRecord

log = logging.getLogger("tollgate.calls")


@dataclass(frozen=True)
class Outcome:
    """How one call ended: its ledger record and what the sinks need besides."""

    call: object  # core.client.pipeline.Call
    record: CallRecord
    durable: bool  # billed: fsync'd in the journal before return even with TOLLGATE_JOURNAL_SYNC_MS > 0
    reply: str | None = None  # only when prompts may be logged
    error: TollgateError | None = None

    @property
    def billed(self) -> bool:
        """An answer, or a failure that cost money: budget thresholds may have been crossed."""
        return self.record.status == STATUS_OK or bool(self.record.cost_usd)


class LedgerSink:
    """The durable record: every row journaled (fsync'd, group-committed), then written in the background.

    A billed row is fsync'd before the caller sees its result even with TOLLGATE_JOURNAL_SYNC_MS > 0;
    the ledger's writer thread (core.ledger.writer) writes rows in batches, one transaction for many calls (a DuckDB commit
    costs ~8 ms, a shared journal fsync far less).
    """

    essential = True  # its failure is the caller's: the record could not be kept anywhere

    def __init__(self, ledger) -> None:
        self.ledger = ledger

    def emit(self, outcome: Outcome) -> None:
        self.ledger.record_later(outcome.record, billed=outcome.durable)  # durable before the caller sees it


class PrometheusSink:
    """Counters and histograms: the one metrics system (the health page reads its figures back from it)."""

    def __init__(self, per_user: bool = False) -> None:
        self.per_user = per_user

    def emit(self, outcome: Outcome) -> None:
        prom.observe_call(outcome.record, cache_lookup=outcome.call.cache_key is not None, per_user=self.per_user)


class SpanSink:
    """Ends the call's OpenTelemetry span, when it has one."""

    def emit(self, outcome: Outcome) -> None:
        call = outcome.call
        if call.span is not None:
            tracing.end(call.span, outcome.record, call.max_tokens, message_id=call.message_id,
                        response_model=call.response_model)


class ObserverSink:
    """A host's callback (``build_client(observer=...)``), given each record."""

    def __init__(self, observer) -> None:
        self.observer = observer

    def emit(self, outcome: Outcome) -> None:
        self.observer(outcome.record)


class LogSink:
    """One log line per call: no prompt or reply unless TOLLGATE_LOG_PROMPTS=1 (redacted)."""

    def __init__(self, log_prompts: bool = False) -> None:
        self.log_prompts = log_prompts

    def emit(self, outcome: Outcome) -> None:
        if not log.isEnabledFor(logging.INFO):
            return
        rec = outcome.record
        # The message reads well in a host's plain formatter; JsonFormatter writes the fields.
        log.info("call id=%s user=%s model=%s status=%s code=%s cost=%s latency_ms=%.1f retries=%d "
                 "request_id=%s key=%s", rec.id, rec.user, rec.model, rec.status, rec.error_code or "-",
                 rec.cost_usd, rec.latency_ms, rec.retries, rec.request_id or "-", rec.key_label or "-",
                 extra={FIELDS: self.fields(outcome)})

    def fields(self, outcome: Outcome) -> dict:
        rec, u = outcome.record, outcome.record.usage
        out = {"event": "call", "request": rec.id, "user": rec.user, "model": rec.model, "status": rec.status,
               "code": rec.error_code, "input_tokens": u.input_tokens, "output_tokens": u.output_tokens,
               "cache_creation_5m_tokens": u.cache_creation_5m_tokens,
               "cache_creation_1h_tokens": u.cache_creation_1h_tokens, "cache_read_tokens": u.cache_read_tokens,
               "cost_usd": str(rec.cost_usd), "latency_ms": round(rec.latency_ms, 3),
               "ttft_ms": None if rec.ttft_ms is None else round(rec.ttft_ms, 3), "retries": rec.retries,
               "request_id": rec.request_id, "key_label": rec.key_label, "cached": rec.status == STATUS_CACHED,
               "streamed": rec.streamed, "source": rec.source}
        if rec.detail and rec.status != STATUS_OK and rec.error_code != "prompt_blocked":
            out["detail"] = rec.detail  # the refusal's reason; a blocked prompt's phrases stay out
        if self.log_prompts:
            out["prompt"] = outcome.call.log_prompt
            out["reply"] = None if outcome.reply is None else redact(outcome.reply)
        return out


class SentrySink:
    """A sent call that failed is reported to Sentry (a no-op unless SENTRY_DSN set it up)."""

    def emit(self, outcome: Outcome) -> None:
        rec, err = outcome.record, outcome.error
        if rec.status == STATUS_ERROR and err is not None:
            sentry.capture_call_failure(err, call_id=rec.id, model=rec.model, code=err.code,
                                        request_id=rec.request_id)


class BudgetAlertSink:
    """Checks budget thresholds after billed outcomes, off the caller's path (a webhook may take seconds).

    Coalesced per user: a user already waiting for a check is not queued again, so 16 threads billing
    one user cost one check (and one ledger settle) per round, not one per call.
    """

    def __init__(self, budgets, background, clock) -> None:
        self.budgets, self.background, self.clock = budgets, background, clock
        self._lock = threading.Lock()
        self._pending: dict[str, object] = {}  # user -> the time of their latest billed outcome

    def emit(self, outcome: Outcome) -> None:
        if not outcome.billed or self.budgets.surely_unbudgeted(outcome.call.user):
            return
        if not self.budgets.alert_may_fire(outcome.call.reservation):  # no threshold within its reach
            return
        user, now = outcome.call.user, self.clock.now()
        with self._lock:
            queued = user in self._pending
            self._pending[user] = now
        if not queued:  # else its queued check runs after this record was handed to the ledger: it sees it
            self.background.submit(self._check)

    def _check(self) -> None:
        with self._lock:
            users, self._pending = self._pending, {}
        for user, now in sorted(users.items()):
            try:
                self.budgets.check_alerts(user, now)  # settles the ledger first, so it sees the records
            except Exception:  # noqa: BLE001 - alerts are best effort; the spend itself is recorded
                log.warning("budget alert check failed for user %s", user)


def emit(sinks: list, outcome: Outcome) -> None:
    """Hand ``outcome`` to every sink in order; only an essential sink's failure is raised (after the rest)."""
    failure: BaseException | None = None
    for sink in sinks:
        try:
            sink.emit(outcome)
        except Exception as exc:  # noqa: BLE001 - one destination down must not silence the others
            if getattr(sink, "essential", False):
                failure = failure or exc
            elif isinstance(sink, ObserverSink):
                log.exception("call observer failed for %s", outcome.record.id)
            else:
                log.exception("call sink %s failed for %s", type(sink).__name__, outcome.record.id)
    if failure is not None:
        raise failure
