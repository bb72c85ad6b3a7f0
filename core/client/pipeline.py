"""One call's state as it moves through the client, and the recording of how it ended.

Every outcome is made durable in the ledger's group-committed journal before the caller gets
the result (a billed one fsync'd even with TOLLGATE_JOURNAL_SYNC_MS), then written to the
database in batches by the ledger's writer thread, so a call costs one shared fsync rather
than one transaction. The background thread here runs the rest (budget-alert checks).
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from core.client.sinks import LedgerSink, Outcome, emit
from core.errors import TollgateError, scrub
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
    cache_writes: bool = False  # a block carries cache_control: input may be billed at cache-write prices
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
    priced: object | None = None  # core.catalog.pricing.Priced of the answer: its cost split and price notes
    api_key_id: str | None = None  # the gateway caller's Tollgate key id (public), for the ledger row
    run_id: str | None = None  # the batch run and row this call belongs to (core/batches), for the ledger row
    row_index: int | None = None
    batch: bool = False  # a Message Batches result: priced at the batch discount
    idempotency_key: str | None = None  # unique in the ledger: the call is sent and billed once
    run_hold: str | None = None  # a hold made ahead for this call (a run's row): its reservation replaces it


_STOP = object()
_KEEPS_KEY = frozenset({STATUS_OK, STATUS_CACHED})
_BATCH = 500  # $0 records written per transaction by the background thread


class Background:
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
        """Wait for the ledger's writer and for every queued item."""
        settle = getattr(self.ledger, "settle", None)
        if settle is not None:
            settle()
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
    """Turns each outcome into a ledger record and hands it to the sinks the factory listed."""

    def __init__(self, *, sinks: list, budgets, pricing, clock, store_prompts: bool, log_prompts: bool = False,
                 background: Background | None = None) -> None:
        self.sinks = sinks  # core.client.sinks: the LedgerSink first, so the record is durable before the rest
        self.budgets, self.pricing, self.clock = budgets, pricing, clock
        self.store_prompts, self.log_prompts = store_prompts, log_prompts
        self.background = background
        self.keeps_rows = any(isinstance(s, LedgerSink) for s in sinks)  # else record ids are None

    def _record(self, call: Call, status: str, *, durable: bool, usage: Usage | None = None,
                cost: Decimal = Decimal(0), price_version=None, unpriced=False, error_code=None, detail=None,
                latency_ms=None, ttft_ms=None, request_id=None, key_label=None, tokens_saved=0,
                prompt_sha=None, reply: str | None = None, error: TollgateError | None = None,
                parts: dict | None = None) -> str | None:
        rec = CallRecord(
            id=call.id, ts=call.ts, user=call.user or "(none)", model=call.model, status=status,
            error_code=error_code, usage=usage or Usage(), tokens_saved=tokens_saved, cost_usd=cost,
            price_version=price_version, unpriced=unpriced, streamed=call.streamed, retries=call.retries,
            latency_ms=latency_ms if latency_ms is not None else (self.clock.monotonic() - call.started) * 1000,
            ttft_ms=ttft_ms, request_id=request_id, key_label=key_label,
            prompt_sha256=prompt_sha or call.prompt_sha, prompt_text=call.prompt_text if self.store_prompts else None,
            source=call.source, detail=scrub(detail) if detail else None, cost_parts=parts,
            api_key_id=call.api_key_id, run_id=call.run_id, row_index=call.row_index, batch=call.batch,
            # A single call's failure is no final outcome (a retry with the key may send), so only an answer
            # holds the key; a batch row's outcome is final whatever it is (the API never runs it again).
            idempotency_key=call.idempotency_key if call.batch or status in _KEEPS_KEY else None)
        emit(self.sinks, Outcome(call, rec, durable, reply, error))
        return rec.id if self.keeps_rows else None

    def refused(self, call: Call, err: TollgateError, *, prompt_sha=None, detail=None) -> None:
        """A refusal before anything was sent: recorded as blocked with its reason; frees the reservation."""
        if call.reservation is not None and self.budgets is not None:
            try:
                self.budgets.release(call.id)
            except Exception:  # noqa: BLE001 - an unreleased reservation expires by itself
                log.warning("could not release reservation %s", call.id)
        self._record(call, STATUS_BLOCKED, durable=False, error_code=err.code,
                     detail=detail or err.message, prompt_sha=prompt_sha, error=err)

    def cached(self, call: Call, result: CallResult, status: str) -> str | None:
        # No tokens were used: the row keeps only what the hit saved, so usage sums stay true.
        return self._record(call, status, durable=False, price_version=result.price_version,
                            tokens_saved=result.tokens_saved, latency_ms=result.latency_ms,
                            request_id=result.request_id, reply=result.text if self.log_prompts else None)

    def succeeded(self, call: Call, result: CallResult) -> str | None:
        """An answer; ``call.priced`` gives the cost split and the price notes."""
        priced = call.priced
        return self._record(call, STATUS_OK, durable=True, usage=result.usage, cost=result.cost_usd,
                            price_version=result.price_version, unpriced=result.unpriced,
                            latency_ms=result.latency_ms, ttft_ms=result.ttft_ms, request_id=result.request_id,
                            key_label=result.key_label, detail=_notes(result, priced),
                            reply=result.text if self.log_prompts else None,
                            parts=priced.parts if priced is not None and not priced.unpriced else None)

    def failed(self, call: Call, err: TollgateError, *, usage: Usage | None = None, partial_text: str = "",
               request_id=None, key_label=None) -> str | None:
        """A call that was sent and failed; tokens it used (a cut-off stream) are priced and billed."""
        cost, version, unpriced, parts = Decimal(0), None, False, None
        if usage is not None and usage.total_tokens + len(partial_text):
            if partial_text:  # a cut-off stream reports no final count: bill at least what arrived
                from core.guards.tokens import estimate_text
                arrived = estimate_text(partial_text, call.tokenizer)
                usage = Usage(**{**usage.to_dict(), "output_tokens": max(usage.output_tokens, arrived)})
            priced = self.pricing.price(usage, call.model, call.ts)
            cost, version, unpriced = priced.cost, priced.price_version, priced.unpriced
            parts = None if unpriced else priced.parts
        return self._record(call, STATUS_ERROR, durable=True, usage=usage, cost=cost, price_version=version,
                            unpriced=unpriced, error_code=err.code, detail=err.message,
                            request_id=request_id or err.request_id, key_label=key_label, error=err, parts=parts)

    def flush(self) -> None:
        if self.background is not None:
            self.background.flush()

    def close(self) -> None:
        """Store every queued $0 record and end the background thread."""
        if self.background is not None:
            self.background.stop()


def _notes(result: CallResult, priced=None) -> str | None:
    """What an auditor should see on an ok row: an unpriced model, a price Tollgate could not know for
    sure (a priority tier, a geo with no multiplier), phrases the injection screen flagged."""
    notes = []
    if result.unpriced:
        notes.append("unpriced model: cost unknown")
    if priced is not None:
        notes.extend(priced.notes)
    if result.flags:
        notes.append("prompt-injection screen flagged: " + ", ".join(result.flags))
    return "; ".join(notes) or None
