"""One call's state as it moves through the client, and the recording of how it ended.

Billed outcomes (a reply, or a failure with tokens used) are written to the ledger
before the caller gets the result; $0 outcomes (cache hits, refusals) are made durable
in the ledger's group-committed journal first, then written to the database in batches by
a background thread, so a cache hit costs one shared fsync rather than one transaction.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from core.errors import TollgateError, scrub
from core.metrics import METRICS
from core.observability import prom, sentry, tracing
from core.observability.logs import FIELDS
from core.observability.redact import redact
from core.types import STATUS_BLOCKED, STATUS_CACHED, STATUS_ERROR, STATUS_OK, CallRecord, CallResult, Usage

log = logging.getLogger("tollgate.calls")


@dataclass
class Call:
    """A logical call in flight (never holds a key)."""

    id: str
    user: str
    model: str
    source: str
    streamed: bool
    started: float  # monotonic seconds
    ts: datetime  # aware UTC
    body: dict = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    prompt_tokens: int = 0
    prompt_sha: str | None = None
    prompt_text: str | None = None
    cache_key: str | None = None
    reservation: object | None = None
    permit: object | None = None
    retries: int = 0
    tokenizer: str = "v1"
    span: object | None = None  # the call's OpenTelemetry span, when tracing
    message_id: str | None = None  # the API's msg_… id of the answer, for the span
    response_model: str | None = None
    max_tokens: int | None = None
    log_prompt: str | None = None  # only when TOLLGATE_LOG_PROMPTS=1, and redacted


_STOP = object()
_BATCH = 500  # $0 records written per transaction by the background thread


class _Background:
    """A daemon thread that writes $0 records so the caller doesn't wait for the database."""

    def __init__(self, ledger) -> None:
        self.ledger = ledger
        self.q: queue.Queue = queue.Queue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

    def submit(self, item) -> None:
        """Queue a record to write, or a callable to run (e.g. a budget-alert check)."""
        if self.thread is None:
            with self.lock:
                if self.thread is None:
                    self.thread = threading.Thread(target=self._run, name="tollgate-ledger", daemon=True)
                    self.thread.start()
        self.q.put(item)

    def _run(self) -> None:
        while True:
            items = [self.q.get()]
            while len(items) < _BATCH and items[-1] is not _STOP:
                try:
                    items.append(self.q.get_nowait())
                except queue.Empty:
                    break
            records: list = []
            for item in items:  # in order: a callable runs after the records queued before it
                if isinstance(item, CallRecord):
                    records.append(item)
                    continue
                self._store(records)
                records = []
                if item is not _STOP:
                    self._do(item)
            self._store(records)
            for _ in items:
                self.q.task_done()
            if items[-1] is _STOP:
                return

    def _store(self, records: list) -> None:
        if records:
            self._do(lambda: self.ledger.store_remembered(records))

    @staticmethod
    def _do(work) -> None:
        try:
            work()
        except Exception:  # noqa: BLE001 - the ledger spools its own failures; never kill the thread
            log.exception("background ledger work failed")

    def flush(self) -> None:
        if self.thread is not None:
            self.q.join()

    def stop(self) -> None:
        """Finish what is queued and end the thread (a later submit starts a new one)."""
        with self.lock:
            thread, self.thread = self.thread, None
        if thread is not None:
            self.q.put(_STOP)
            thread.join(timeout=30)


class Recorder:
    """Turns each outcome into a ledger row, a log line, metrics and the end of its span."""

    def __init__(self, *, ledger, budgets, pricing, clock, observer, store_prompts: bool,
                 log_prompts: bool = False, metrics_per_user: bool = False) -> None:
        self.ledger, self.budgets, self.pricing, self.clock = ledger, budgets, pricing, clock
        self.observer = observer
        self.store_prompts = store_prompts
        self.log_prompts, self.metrics_per_user = log_prompts, metrics_per_user
        self.background = _Background(ledger) if ledger is not None else None

    def _record(self, call: Call, status: str, *, durable: bool, usage: Usage | None = None,
                cost: Decimal = Decimal(0), price_version=None, unpriced=False, error_code=None, detail=None,
                latency_ms=None, ttft_ms=None, request_id=None, key_label=None, tokens_saved=0,
                prompt_sha=None, reply: str | None = None) -> str | None:
        rec = CallRecord(
            id=call.id, ts=call.ts, user=call.user or "(none)", model=call.model, status=status,
            error_code=error_code, usage=usage or Usage(), tokens_saved=tokens_saved, cost_usd=cost,
            price_version=price_version, unpriced=unpriced, streamed=call.streamed, retries=call.retries,
            latency_ms=latency_ms if latency_ms is not None else (self.clock.monotonic() - call.started) * 1000,
            ttft_ms=ttft_ms, request_id=request_id, key_label=key_label,
            prompt_sha256=prompt_sha or call.prompt_sha, prompt_text=call.prompt_text if self.store_prompts else None,
            source=call.source, detail=scrub(detail) if detail else None)
        METRICS.observe(rec)
        prom.observe_call(rec, cache_lookup=call.cache_key is not None, per_user=self.metrics_per_user)
        if call.span is not None:
            tracing.end(call.span, rec, call.max_tokens, message_id=call.message_id,
                        response_model=call.response_model)
        if self.observer is not None:
            try:
                self.observer(rec)
            except Exception:  # noqa: BLE001 - a faulty observer must not cost the ledger its record
                log.exception("call observer failed for %s", rec.id)
        if log.isEnabledFor(logging.INFO):
            # The message reads well in a host's plain formatter; JsonFormatter writes the fields.
            log.info("call id=%s user=%s model=%s status=%s code=%s cost=%s latency_ms=%.1f retries=%d "
                     "request_id=%s key=%s", rec.id, rec.user, rec.model, status, error_code or "-", cost,
                     rec.latency_ms, rec.retries, request_id or "-", key_label or "-",
                     extra={FIELDS: self._log_fields(call, rec, reply)})
        if self.ledger is None:
            return None
        if durable:
            self.ledger.record(rec)
        elif self.ledger.remember(rec):  # durable in the journal before the caller sees the outcome
            self.background.submit(rec)
        return rec.id

    def _log_fields(self, call: Call, rec: CallRecord, reply: str | None) -> dict:
        """The call's structured log line: no prompt or reply unless TOLLGATE_LOG_PROMPTS=1 (redacted)."""
        u = rec.usage
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
            out["prompt"] = call.log_prompt
            out["reply"] = None if reply is None else redact(reply)
        return out

    def refused(self, call: Call, err: TollgateError, *, prompt_sha=None, detail=None) -> None:
        """A refusal before anything was sent: recorded as blocked with its reason; frees the reservation."""
        if call.reservation is not None and self.budgets is not None:
            try:
                self.budgets.release(call.id)
            except Exception:  # noqa: BLE001 - an unreleased reservation expires by itself
                log.warning("could not release reservation %s", call.id)
        self._record(call, STATUS_BLOCKED, durable=False, error_code=err.code,
                     detail=detail or err.message, prompt_sha=prompt_sha)

    def cached(self, call: Call, result: CallResult, status: str) -> str | None:
        # No tokens were used: the row keeps only what the hit saved, so usage sums stay true.
        return self._record(call, status, durable=False, price_version=result.price_version,
                            tokens_saved=result.tokens_saved, latency_ms=result.latency_ms,
                            request_id=result.request_id, reply=result.text if self.log_prompts else None)

    def succeeded(self, call: Call, result: CallResult) -> str | None:
        rid = self._record(call, STATUS_OK, durable=True, usage=result.usage, cost=result.cost_usd,
                           price_version=result.price_version, unpriced=result.unpriced,
                           latency_ms=result.latency_ms, ttft_ms=result.ttft_ms, request_id=result.request_id,
                           key_label=result.key_label, detail=_notes(result),
                           reply=result.text if self.log_prompts else None)
        self._alerts(call)
        return rid

    def failed(self, call: Call, err: TollgateError, *, usage: Usage | None = None, partial_text: str = "",
               request_id=None, key_label=None) -> str | None:
        """A call that was sent and failed; tokens it used (a cut-off stream) are priced and billed."""
        cost, version, unpriced = Decimal(0), None, False
        if usage is not None and usage.total_tokens + len(partial_text):
            if partial_text:  # a cut-off stream reports no final count: bill at least what arrived
                from core.tokens import estimate_text
                arrived = estimate_text(partial_text, call.tokenizer)
                usage = Usage(**{**usage.to_dict(), "output_tokens": max(usage.output_tokens, arrived)})
            priced = self.pricing.price(usage, call.model, call.ts)
            cost, version, unpriced = priced.cost, priced.price_version, priced.unpriced
        rid = self._record(call, STATUS_ERROR, durable=True, usage=usage, cost=cost, price_version=version,
                           unpriced=unpriced, error_code=err.code, detail=err.message,
                           request_id=request_id or err.request_id, key_label=key_label)
        sentry.capture_call_failure(err, call_id=call.id, model=call.model, code=err.code,
                                    request_id=request_id or err.request_id)
        if cost:
            self._alerts(call)
        return rid

    def _alerts(self, call: Call) -> None:
        """Check budget thresholds off the caller's path (a webhook may take seconds)."""
        if self.budgets is None or self.background is None:
            return
        user, now = call.user, self.clock.now()

        def check() -> None:
            try:
                self.budgets.check_alerts(user, now)
            except Exception:  # noqa: BLE001 - alerts are best effort; the spend itself is recorded
                log.warning("budget alert check failed for user %s", user)
        self.background.submit(check)

    def flush(self) -> None:
        if self.background is not None:
            self.background.flush()

    def close(self) -> None:
        """Store every queued $0 record and end the background thread."""
        if self.background is not None:
            self.background.stop()


def _notes(result: CallResult) -> str | None:
    """What an auditor should see on an ok row: an unpriced model, phrases the injection screen flagged."""
    notes = []
    if result.unpriced:
        notes.append("unpriced model: cost unknown")
    if result.flags:
        notes.append("prompt-injection screen flagged: " + ", ".join(result.flags))
    return "; ".join(notes) or None
