"""The guarded client's Message Batches (``client.batches``): half price, the budget held for the whole batch.

``create`` checks every request like a single call (core.client.batch_rows), then holds each row's worst
case at the batch price against the user's budget, all or nothing (``BudgetBook.reserve_many``): a batch
that does not fit is refused before anything is sent, saying how many rows would fit. ``results`` (once
the batch ended) prices each succeeded row at the batch discount on every token type and records it with
its run, row number, ``batch=true`` and the idempotency key ``batch:{batch_id}:{custom_id}``; an errored,
canceled or expired row gets a $0 row. A row's ledger id is its hold's id, so the row's write settles or
releases its hold in the same transaction; rows already recorded come back from the ledger, so reading
results twice (two pollers, a restart) bills nothing twice.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Collection, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal

from core.client import batch_rows
from core.client.batch_recovery import RECOVER_AFTER_S, maybe_created
from core.client.batch_rows import ledger_read, row_id, row_key
from core.client.pipeline import Call
from core.errors import LedgerUnavailable, NotFound, TollgateError, ValidationError
from core.ledger.batches import PENDING
from core.types import CallRecord, CallResult, Usage

log = logging.getLogger("tollgate")
SETTLE_THREADS, SETTLE_CHUNK = 16, 256  # results recorded at once, and rows per round (yielded in order)
OUTCOME_CODES = {"errored": "batch_errored", "canceled": "batch_canceled", "expired": "batch_expired"}


@dataclass(frozen=True)
class BatchQuote:
    """A batch's worst case before sending: at the batch and at the standard price, per row, and what is left."""

    rows: int
    batch_usd: Decimal
    standard_usd: Decimal
    per_row: list[Decimal]  # at the batch price, in request order
    budget_left: Decimal | None  # for the ``user`` asked about; None: no budget applies (or none asked)
    per_row_standard: list[Decimal]


@dataclass(frozen=True)
class BatchSubmission:
    batch_id: str
    reserved_usd: Decimal  # 0 when no budget applies
    rows: int
    message_batch: dict  # the API's MessageBatch JSON


@dataclass(frozen=True)
class BatchRowResult:
    custom_id: str
    row_index: int | None
    outcome: str  # succeeded | errored | canceled | expired
    result: CallResult | None  # a succeeded row's answer (``replayed`` when already recorded)
    error: str | None = None
    raw: dict | None = None  # the API's own ``result`` object, as the results JSONL had it (for a relay)


class _RowEnded(TollgateError):
    """How a batch row that has no answer ended, as its $0 ledger row's error code and detail."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class GuardedBatches:
    """Message Batches through the guard: built by the factory beside the client it uses."""

    def __init__(self, client, upstream, records=None) -> None:
        self.client = client  # its catalogue, pricing, policy, budgets, recorder, retrier, clock
        self.upstream = upstream  # core.upstream.batches.BatchTransport
        self.records = records  # core.ledger.batches.BatchRecords, with the ledger

    # --- before sending ------------------------------------------------------------------

    def quote(self, requests, *, user: str | None = None, models: Collection[str] | None = None) -> BatchQuote:
        """The batch's worst case at both prices, per row, and the budget ``user`` has left."""
        rows = batch_rows.check(self.client, requests, at=self.client.clock.now(), models=models)
        left = None
        if user is not None and self.client.budgets is not None:
            self._open()
            left = self.client.budgets.remaining(user)
        per_row = [r.batch_usd for r in rows]
        standard = [r.standard_usd for r in rows]
        return BatchQuote(rows=len(rows), batch_usd=sum(per_row, Decimal(0)), standard_usd=sum(standard, Decimal(0)),
                          per_row=per_row, budget_left=left, per_row_standard=standard)

    def _open(self) -> None:
        gate = self.client.gate
        if gate is not None:
            gate._open()  # migrate, replay the spool, apply the budget file: once, before budgets are read

    def _call(self, user: str, model: str, *, source: str, api_key_id=None, run_id=None, row_index=None,
              call_id: str | None = None, key: str | None = None) -> Call:
        c = self.client
        return Call(id=call_id or str(uuid.uuid4()), user=user, model=model, source=source, streamed=False,
                    started=c.clock.monotonic(), ts=c.clock.now(), api_key_id=api_key_id, run_id=run_id,
                    row_index=row_index, batch=True, idempotency_key=key)

    def create(self, requests, *, user: str, run_id: str | None = None, source: str = "batch",
               api_key_id: str | None = None, row_indices: Mapping[str, int] | None = None,
               models: Collection[str] | None = None) -> BatchSubmission:
        """Check, hold the whole worst case (one hold per row), then send; refusals are recorded, nothing sent."""
        from core.client.guarded import _check_user

        first = requests[0].get("params", {}).get("model") if isinstance(requests, list | tuple) and requests \
            and isinstance(requests[0], dict) and isinstance(requests[0].get("params"), dict) else None
        refusal = self._call(user if isinstance(user, str) and user.strip() else "(none)",
                             first if isinstance(first, str) and len(first) <= 100 else "(invalid)",
                             source=source, api_key_id=api_key_id, run_id=run_id)
        admitted = False
        try:
            _check_user(user)
            user = user.strip()
            rows = batch_rows.check(self.client, requests, at=refusal.ts, models=models)
            refusal.model = rows[0].model
            self.client.breaker.before_call()  # an open circuit refuses before anything is held
            admitted = True
            prefix = f"batch:{run_id or 'adhoc'}:{uuid.uuid4().hex[:12]}:"
            holds = [(row_id(prefix + r.custom_id), r.batch_usd) for r in rows]
            held = False
            if self.client.budgets is not None:
                self._open()
                held = self.client.budgets.reserve_many(user, holds, now=refusal.ts)
        except TollgateError as err:
            if admitted:  # refused before it was sent: a local outcome frees a half-open probe, counts nothing
                self.client.breaker.record_failure(TollgateError(f"Refused before it was sent: {err.code}"))
            self.client.recorder.refused(refusal, err)
            raise
        sent = [{"custom_id": r.custom_id, "params": r.params} for r in rows]
        reserved = sum((a for _, a in holds), Decimal(0)) if held else Decimal(0)
        indices = dict(row_indices or {})
        pending = None
        if self.records is not None:  # recorded before it is sent: a crash or a lost answer leaves a trace
            pending = PENDING + uuid.uuid4().hex
            try:
                self.records.record(pending, user=user, api_key_id=api_key_id, run_id=run_id, source=source,
                                    reserved_usd=reserved, hold_prefix=prefix, now=refusal.ts,
                                    items={r.custom_id: (r.model, indices.get(r.custom_id, i))
                                           for i, r in enumerate(rows)})
            except Exception:  # noqa: BLE001 - nothing is sent that could not be billed
                self._release(held, holds)
                err = LedgerUnavailable("The ledger cannot record the batch, so it was not sent: try again.")
                self.client.breaker.record_failure(TollgateError(f"Refused before it was sent: {err.code}"))
                self.client.recorder.refused(refusal, err)
                raise err from None
        try:
            batch = self.upstream.create(sent)
        except BaseException as exc:
            err = exc if isinstance(exc, TollgateError) else TollgateError(f"Interrupted: {type(exc).__name__}")
            if maybe_created(exc):  # the batch may exist upstream: the poller adopts it or lets its holds go
                log.warning("A Message Batch create got no answer (%s); it is looked for upstream later", err.code)
            else:
                self._release(held, holds)
                if pending is not None:
                    ledger_read(lambda: self.records.forget(pending))
            self.client.breaker.record_failure(err)
            self.client.recorder.failed(refusal, err)
            raise
        self.client.breaker.record_success()
        if pending is not None:
            try:
                self.records.confirm(pending, batch["id"])
            except Exception:  # noqa: BLE001 - the batch exists upstream: its id must reach the caller
                log.error("Message Batch %s was created but its id not recorded; the poller adopts it", batch["id"])
        return BatchSubmission(batch_id=batch["id"], reserved_usd=reserved, rows=len(rows), message_batch=batch)

    def _release(self, held: bool, holds) -> None:
        if held:
            from core.budgets.holds import release_many
            release_many(self.client.budgets, [h for h, _ in holds])

    def recover(self, *, grace_s: float = RECOVER_AFTER_S) -> list[tuple[str | None, str | None]]:
        """Settle batches recorded before sending that never got their id (core.client.batch_recovery)."""
        from core.client.batch_recovery import recover

        return recover(self, grace_s=grace_s) if self.records is not None else []

    # --- reading and cancelling ----------------------------------------------------------

    def _read(self, fn):
        out, _ = self.client.retrier.run(fn)  # reads are safe to retry; a create is never retried
        return out

    def retrieve(self, batch_id: str) -> dict:
        return self._read(lambda: self.upstream.retrieve(_checked_id(batch_id)))

    def list(self, limit: int = 20, after_id: str | None = None, *, user: str | None = None) -> list[dict]:
        """The most recent batches: upstream's page, or (``user`` given) only that user's, from the ledger."""
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 1000:
            raise ValidationError("limit must be a whole number from 1 to 1000.", field="limit")
        if user is None:
            return self._read(lambda: self.upstream.list(limit=limit, after_id=after_id))["data"]
        if self.records is None:
            return []
        ids = ledger_read(lambda: self.records.of_user(user, limit=limit, after_id=after_id))
        return [b for b in map(self._still_there, ids) if b is not None]

    def _still_there(self, batch_id: str) -> dict | None:
        """The batch, or None when upstream no longer has it (deleted elsewhere, or past its retention)."""
        try:
            return self.retrieve(batch_id)
        except NotFound:
            return None

    def cancel(self, batch_id: str) -> dict:
        return self._read(lambda: self.upstream.cancel(_checked_id(batch_id)))

    def delete(self, batch_id: str) -> dict:
        """Delete an ended batch upstream (``{"id", "type": "message_batch_deleted"}``), its results billed first:
        once deleted they cannot be read, and every row that ran is billed by the API. In progress: upstream's 400."""
        batch_id = _checked_id(batch_id)
        if self.retrieve(batch_id).get("processing_status") == "ended":
            owner = self.owner(batch_id)
            if owner is not None:
                for _ in self.results(batch_id, user=owner):
                    pass
        gone = self.upstream.delete(batch_id)  # not retried: a repeat would find nothing to delete
        if self.records is not None:
            ledger_read(lambda: self.records.forget(batch_id))
        return gone

    def gone(self, batch_id: str) -> None:
        """Forget a batch upstream no longer has (deleted elsewhere): its rows not billed free their holds."""
        from core.client.batch_recovery import gone

        gone(self, _checked_id(batch_id))

    def owner(self, batch_id: str) -> str | None:
        """The user a batch was created for (None: not created through Tollgate, or no ledger)."""
        batch_id = _checked_id(batch_id)
        rec = None if self.records is None else ledger_read(lambda: self.records.get(batch_id))
        return None if rec is None else rec["user_id"]

    # --- results ------------------------------------------------------------------------

    def results(self, batch_id: str, *, user: str, run_id: str | None = None,
                row_indices: Mapping[str, int] | None = None) -> Iterator[BatchRowResult]:
        """Each row's outcome once the batch ended (BatchNotEnded before), each billed once at the batch price."""
        from core.client.guarded import _check_user

        _check_user(user)
        c, batch_id, user = self.client, _checked_id(batch_id), user.strip()
        rec = None if self.records is None else ledger_read(lambda: self.records.get(batch_id))
        if rec is not None and rec["user_id"] != user:
            raise ValidationError("This batch was created for another user: its results are billed to them.",
                                  field="user")
        lines = self._read(lambda: list(self.upstream.results(batch_id)))
        items = rec["items"] if rec is not None else {}
        prefix = rec["hold_prefix"] if rec is not None else f"batch:{batch_id}:"
        run_id = run_id or (rec["run_id"] if rec is not None else None)
        source = rec["source"] if rec is not None else "batch"
        api_key_id = rec["api_key_id"] if rec is not None else None
        held = rec is not None and rec["reserved_usd"] > 0
        if c.ledger is not None:
            c.ledger.settle()  # what this process recorded is in the database before we look
        billed = {} if self.records is None else ledger_read(
            lambda: self.records.billed(row_key(batch_id, ln.get("custom_id")) for ln in lines))
        seen = set()

        def settle(line: dict) -> BatchRowResult:
            cid, result = line.get("custom_id"), line.get("result") or {}
            model, index = items.get(cid, (None, None))
            if row_indices is not None and cid in row_indices:
                index = row_indices[cid]
            call = self._call(user, model or _model_of(result) or "(unknown)", source=source, api_key_id=api_key_id,
                              run_id=run_id, row_index=index, call_id=row_id(prefix + str(cid)), key=row_key(batch_id, cid))
            call.reservation = prefix if held else None  # a row that held budget: its bill is checked for alerts
            return self._settle(call, cid, result, billed.get(call.idempotency_key))

        # Rows are journaled from a few threads at once: concurrent appends share one fsync (group commit).
        with ThreadPoolExecutor(SETTLE_THREADS, thread_name_prefix="tollgate-batch-results") as pool:
            for start in range(0, len(lines), SETTLE_CHUNK):
                chunk = lines[start:start + SETTLE_CHUNK]
                seen.update(ln.get("custom_id") for ln in chunk)
                yield from pool.map(settle, chunk)
        unseen = [row_id(prefix + k) for k in items if k not in seen]
        if unseen and c.budgets is not None:  # nothing came back for them: nothing will be billed
            from core.budgets.holds import release_many
            release_many(c.budgets, unseen)

    def _settle(self, call: Call, cid: str, result: dict, recorded: CallRecord | None) -> BatchRowResult:
        kind = result.get("type")
        if kind == "succeeded" and isinstance(result.get("message"), dict):
            answer = self._answer(call, result["message"], recorded)
            return BatchRowResult(cid, call.row_index, "succeeded", answer, raw=result)
        kind = kind if kind in OUTCOME_CODES else "errored"
        error = _error_text(result) if kind == "errored" else f"The batch request was {kind} before it ran."
        if recorded is None:
            self.client.recorder.failed(call, _RowEnded(OUTCOME_CODES[kind], error))
        return BatchRowResult(cid, call.row_index, kind, None, error, raw=result)

    def _answer(self, call: Call, message: dict, recorded: CallRecord | None) -> CallResult:
        c = self.client
        usage = Usage.from_api(message.get("usage") or {})
        content = message.get("content") or []
        text = "".join(b.get("text") or "" for b in content if isinstance(b, dict) and b.get("type") == "text")
        result = CallResult(text=text, model=call.model, usage=usage, cost_usd=Decimal(0), price_version=None,
                            stop_reason=message.get("stop_reason"), message_id=message.get("id"), content=content,
                            stop_sequence=message.get("stop_sequence"), usage_detail=message.get("usage") or {},
                            message=message)
        if recorded is not None:  # billed already: the ledger's figures, nothing recorded again
            result.cost_usd, result.price_version = recorded.cost_usd, recorded.price_version
            result.unpriced, result.ledger_id, result.replayed = recorded.unpriced, recorded.id, True
            return result
        priced = c.pricing.price(usage, call.model, call.ts, batch=True)
        call.priced = priced
        result.cost_usd, result.price_version, result.unpriced = priced.cost, priced.price_version, priced.unpriced
        result.ledger_id = c.recorder.succeeded(call, result)
        return result


def _checked_id(batch_id) -> str:
    if not isinstance(batch_id, str) or not 1 <= len(batch_id) <= 64 or not batch_id.replace("_", "").isalnum():
        raise ValidationError("A batch id is 1-64 letters, digits and _ (msgbatch_…).", field="batch_id")
    return batch_id


def _model_of(result: dict) -> str | None:
    message = result.get("message")
    return message.get("model") if isinstance(message, dict) else None


def _error_text(result: dict) -> str:
    err = result.get("error") or {}
    inner = err.get("error") if isinstance(err.get("error"), dict) else err
    etype, msg = inner.get("type") or "error", inner.get("message") or ""
    return f"The batch request failed ({etype}): {msg}"[:500]
