"""The Message Batches API, simulated: ``in_progress`` → ``ended`` over (simulated) time, results as JSONL.

A batch's requests are validated and answered when it is created (the prompt cache and the reply
are those a single call would get, usage reporting ``service_tier: "batch"``), but nothing shows
before the end: ``request_counts`` has every request ``processing`` until then, and results are
refused. Request ``i`` of ``n`` is done at ``created + seconds * (i + 1) / n``; the batch ends at
``created + seconds``. A cancel makes it ``canceling``, then ended with the requests not done by then
``canceled``. Faults on demand: a ``custom_id`` starting ``sim-errored`` gets an ``errored`` result
(an api_error), one starting ``sim-expired`` an ``expired`` one; ``expire`` (``POST
/_sim/batches/{id}/expire``) ends a batch at once with its unfinished requests ``expired``;
``finish`` (``POST /_sim/batches/{id}/finish``) ends it at once as if its time had run out.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from .compose import compose
from .prompt_cache import find_breakpoints
from .replies import Tier, message_json, new_id
from .request_error import RequestError
from .validate import invalid, parse_messages_body

CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_REQUESTS = 100_000
EXPIRY = timedelta(hours=24)
ERRORED_MARK, EXPIRED_MARK = "sim-errored", "sim-expired"


@dataclass
class SimBatch:
    """One batch: its requests' answers (kept hidden until the end) and its lifecycle times (aware UTC)."""

    id: str
    created_at: datetime
    ends_at: datetime
    results: list[tuple[str, dict]]  # (custom_id, result) in request order
    done_at: list[datetime]
    cancel_initiated_at: datetime | None = None
    ended_at: datetime | None = None
    outcome: dict[str, str] = field(default_factory=dict)  # custom_id -> result type, once ended


def _rfc3339(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat().replace("+00:00", "Z")


class BatchBook:
    """Every batch the simulator was given, behind one lock; ``clock.now()`` is aware UTC."""

    def __init__(self, state, *, seconds: float = 2.0, cancel_seconds: float = 0.0) -> None:
        self.state = state  # the simulator's SimState: catalogue, prompt cache, clock
        self.seconds, self.cancel_seconds = seconds, cancel_seconds
        self._batches: dict[str, SimBatch] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._batches.clear()

    # --- the API ------------------------------------------------------------------

    def create(self, body) -> SimBatch:
        """Validate ``{"requests": [{custom_id, params}]}`` and answer every request (hidden until the end)."""
        if not isinstance(body, dict):
            raise invalid("The request body must be a JSON object.")
        extra = sorted(set(body) - {"requests"})
        if extra:
            raise invalid(f"{extra[0]}: Extra inputs are not permitted")
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            raise invalid("requests: Input should be a non-empty list")
        if len(requests) > MAX_REQUESTS:
            raise invalid(f"requests: at most {MAX_REQUESTS} requests per batch")
        seen: set[str] = set()
        for i, item in enumerate(requests):
            if not isinstance(item, dict) or set(item) != {"custom_id", "params"}:
                raise invalid(f"requests.{i}: expected an object with custom_id and params")
            cid = item["custom_id"]
            if not isinstance(cid, str) or not CUSTOM_ID.match(cid):
                raise invalid(f"requests.{i}.custom_id: must be 1-64 characters of letters, digits, - and _")
            if cid in seen:
                raise invalid(f"requests.{i}.custom_id: {cid!r} is not unique within the batch")
            seen.add(cid)
            if not isinstance(item["params"], dict):
                raise invalid(f"requests.{i}.params: Input should be a valid dictionary")
            if item["params"].get("stream"):
                raise invalid(f"requests.{i}.params.stream: streaming is not supported in a batch")
        now = self.state.clock.now()
        n = len(requests)
        batch = SimBatch(id=new_id("msgbatch_sim_"), created_at=now, ends_at=now + timedelta(seconds=self.seconds),
                         results=[(r["custom_id"], self._answer(r["custom_id"], r["params"])) for r in requests],
                         done_at=[now + timedelta(seconds=self.seconds * (i + 1) / n) for i in range(n)])
        with self._lock:
            self._batches[batch.id] = batch
        return batch

    def _answer(self, custom_id: str, params: dict) -> dict:
        """What the request would get: a message priced at the batch tier, or an errored result."""
        if custom_id.startswith(ERRORED_MARK):
            return {"type": "errored", "error": {"type": "error", "error": {
                "type": "api_error", "message": "Internal server error (simulated)"}}}
        if custom_id.startswith(EXPIRED_MARK):
            return {"type": "expired"}
        st = self.state
        try:
            req = parse_messages_body(params, st.catalogue)
        except RequestError as exc:
            return {"type": "errored", "error": {"type": "error", "error": {
                "type": exc.error_type, "message": exc.message}}}
        breakpoints = find_breakpoints(req.model.id, req.system, req.messages, req.model.tokenizer, req.tools,
                                       req.cache_control)
        prompt = st.cache.account(breakpoints, req.prompt_tokens)
        message = message_json(req.model, compose(req), prompt, Tier("batch", req.inference_geo or "global"))
        return {"type": "succeeded", "message": message}

    def get(self, batch_id: str) -> SimBatch:
        """The batch, its state brought up to now; LookupError when there is none."""
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                raise LookupError(batch_id)
            self._advance(batch, self.state.clock.now())
            return batch

    def list(self) -> list[SimBatch]:
        """Every batch, most recent first, each brought up to now."""
        with self._lock:
            now = self.state.clock.now()
            batches = sorted(self._batches.values(), key=lambda b: (b.created_at, b.id), reverse=True)
            for b in batches:
                self._advance(b, now)
            return batches

    def cancel(self, batch_id: str) -> SimBatch:
        batch = self.get(batch_id)
        with self._lock:
            if batch.ended_at is None and batch.cancel_initiated_at is None:
                batch.cancel_initiated_at = self.state.clock.now()
            return batch

    def delete(self, batch_id: str) -> None:
        batch = self.get(batch_id)
        with self._lock:
            if batch.ended_at is None:
                raise invalid(f"Message Batch {batch_id} cannot be deleted while it is processing; cancel it first.")
            self._batches.pop(batch_id, None)

    def expire(self, batch_id: str) -> SimBatch:
        """A fault on demand: the batch reaches its 24 hours now; what is not done yet expires."""
        batch = self.get(batch_id)
        with self._lock:
            if batch.ended_at is None:
                self._end(batch, self.state.clock.now(), unfinished="expired")
            return batch

    def finish(self, batch_id: str) -> SimBatch:
        """End the batch now, every request done (tests that do not want to wait)."""
        batch = self.get(batch_id)
        with self._lock:
            if batch.ended_at is None:
                now = self.state.clock.now()
                batch.done_at = [min(t, now) for t in batch.done_at]
                self._end(batch, now, unfinished="canceled")
            return batch

    # --- the lifecycle ------------------------------------------------------------

    def _advance(self, batch: SimBatch, now: datetime) -> None:
        if batch.ended_at is not None:
            return
        cancel = batch.cancel_initiated_at
        if cancel is not None and now >= cancel + timedelta(seconds=self.cancel_seconds):
            self._end(batch, cancel, unfinished="canceled")
        elif now >= batch.ends_at:
            self._end(batch, batch.ends_at, unfinished="expired")
        elif now >= batch.created_at + EXPIRY:
            self._end(batch, batch.created_at + EXPIRY, unfinished="expired")

    def _end(self, batch: SimBatch, at: datetime, *, unfinished: str) -> None:
        batch.ended_at = at
        for (cid, result), done in zip(batch.results, batch.done_at, strict=True):
            batch.outcome[cid] = result["type"] if done <= at else unfinished

    # --- the wire -----------------------------------------------------------------

    def as_json(self, batch: SimBatch, base_url: str) -> dict:
        """The ``MessageBatch`` object as the API sends it."""
        counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
        if batch.ended_at is None:
            counts["processing"] = len(batch.results)
        else:
            for kind in batch.outcome.values():
                counts[kind] += 1
        status = "ended" if batch.ended_at else "canceling" if batch.cancel_initiated_at else "in_progress"
        return {"id": batch.id, "type": "message_batch", "processing_status": status, "request_counts": counts,
                "ended_at": _rfc3339(batch.ended_at), "created_at": _rfc3339(batch.created_at),
                "expires_at": _rfc3339(batch.created_at + EXPIRY), "archived_at": None,
                "cancel_initiated_at": _rfc3339(batch.cancel_initiated_at),
                "results_url": f"{base_url}/v1/messages/batches/{batch.id}/results" if batch.ended_at else None}

    def results_jsonl(self, batch: SimBatch) -> bytes:
        """One JSON line per request: its ``custom_id`` and ``result``; only once the batch has ended."""
        import json

        if batch.ended_at is None:
            raise invalid(f"Message Batch {batch.id} has not yet ended: results are available once its "
                          "processing_status is ended.")
        lines = []
        for cid, result in batch.results:
            kind = batch.outcome[cid]
            lines.append({"custom_id": cid, "result": result if kind == result["type"] else {"type": kind}})
        return b"".join(json.dumps(x, separators=(",", ":")).encode() + b"\n" for x in lines)
