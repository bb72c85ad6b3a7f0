"""``BatchRuns``: quote, reserve, submit, follow, cancel and resume batch runs; all state in the ledger database.

A run is checked whole before anything is sent (every row rendered and validated as a single call), its worst
case held against the user's budget (now mode: one hold per row at the standard price; batch mode: by
``client.batches.create`` at the batch price) and refused, with how many rows would fit, when it does not.
Now mode sends each row as an ordinary guarded call (the limiter and concurrency limit apply) with an
idempotency key per row, so a row sent again after a crash replays its ledger row instead of being billed
twice. Batch mode goes through the Message Batches API; ``poll`` advances it, in any number of processes.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from dataclasses import replace
from decimal import Decimal

from core.batches import batchmode, holds, nowmode
from core.batches.files import DEFAULT_MAX_ROWS
from core.batches.model import RunNotFound, RunQuote, RunSpec, RunStatus, compare_key
from core.batches.plan import hold_id, plan
from core.batches.store import ENDED, LIVE, UNFINISHED, RunStore, custom_id, delete_run
from core.budgets.alerts import tidy_usd
from core.client.batch_recovery import RECOVER_AFTER_S, maybe_created
from core.clock import naive_utc
from core.errors import BatchInRun, BudgetExceeded, LedgerUnavailable, NotConfigured, TollgateError

log = logging.getLogger("tollgate.batches")


class BatchRuns:
    """Batch runs over a guarded client (``BatchRuns(client)``); rows go to ``queue`` (threads by default)."""

    def __init__(self, client, *, queue=None, settings=None, sleep=time.sleep,
                 recover_after_s: float = RECOVER_AFTER_S) -> None:
        if client.ledger is None:
            raise NotConfigured("Batch runs keep their state in the ledger, which is off (TOLLGATE_LEDGER_URL).")
        self.client, self.clock, self.sleep = client, client.clock, sleep
        self.settings = settings or client.settings
        self.max_rows = getattr(self.settings, "batch_max_rows", DEFAULT_MAX_ROWS)
        self.store = RunStore(client.ledger.engine)
        self.recover_after_s = recover_after_s  # a batch sent without its id recorded is looked for after (s)
        if queue is None:
            from core.batches.queue import ThreadQueue

            queue = ThreadQueue(getattr(self.settings, "batch_workers", 4))
        self.queue = queue
        queue.bind(self)
        self._opened = False

    def close(self) -> None:
        self.queue.close()

    # --- reading -------------------------------------------------------------------------

    def open(self) -> None:
        """The schema is migrated before the first read or write of the run tables."""
        if not self._opened:
            if not self.client.ledger.open():
                raise LedgerUnavailable()
            self._opened = True

    def _run(self, run_id: str) -> dict:
        self.open()
        run = self.store.run(run_id) if isinstance(run_id, str) and len(run_id) <= 64 else None
        if run is None:
            raise RunNotFound(run_id)
        return run

    def owner(self, run_id: str) -> str:
        """The user a run belongs to (RunNotFound when there is no such run)."""
        return self._run(run_id)["user_id"]

    def deletable(self, batch_id: str) -> None:
        """Refuse (BatchInRun) to delete a Message Batch that a run still in progress has not read yet."""
        self.open()
        run_id = self.store.run_of_batch(batch_id, LIVE)
        if run_id is not None:
            raise BatchInRun(run_id)

    def status(self, run_id: str) -> RunStatus:
        run = self._run(run_id)
        return self._status(run, self.store.counts([run["id"]])[run["id"]])

    def list(self, user: str | None = None, limit: int = 200) -> list[RunStatus]:
        """Runs newest first: one user's, or everyone's (None)."""
        self.open()
        runs = self.store.runs(user=user, limit=limit)
        counts = self.store.counts([r["id"] for r in runs])
        return [self._status(r, counts[r["id"]]) for r in runs]

    @staticmethod
    def _status(run: dict, counted) -> RunStatus:
        by_state, spent = counted
        counts = {"succeeded": by_state.get("succeeded", 0), "failed": by_state.get("failed", 0),
                  "pending": sum(by_state.get(s, 0) for s in UNFINISHED),
                  "canceled": by_state.get("canceled", 0), "expired": by_state.get("expired", 0)}
        rows = int(run["rows"])
        done = rows - counts["pending"]
        return RunStatus(id=run["id"], user=run["user_id"], name=run["name"], mode=run["mode"], state=run["state"],
                         model=run["model"], rows=rows, counts=counts, spent_usd=tidy_usd(spent),
                         reserved_usd=tidy_usd(Decimal(str(run["reserved_usd"] or 0))), created_at=run["created_at"],
                         ended_at=run["ended_at"], progress=done / rows if rows else 1.0,
                         compare_key=run["compare_key"], upstream_batch_id=run["upstream_batch_id"],
                         detail=run["detail"])

    def results(self, run_id: str) -> list[dict]:
        """One dict per input row, in order: ``row`` (1-based), the input columns, then prompt, output, outcome,
        cost_usd, latency_ms, error (an input column with one of those names is kept as ``input.NAME``)."""
        self._run(run_id)
        out = []
        for item in self.store.items(run_id):
            mine = {"prompt": item["prompt"], "output": item["output"],
                    "outcome": "pending" if item["state"] in UNFINISHED else item["state"],
                    "cost_usd": None if item["cost_usd"] is None else Decimal(str(item["cost_usd"])),
                    "latency_ms": item["latency_ms"], "error": item["error"]}
            row = {"row": item["row_index"] + 1}
            for k, v in json.loads(item["input"]).items():
                row[f"input.{k}" if k in mine or k == "row" else k] = v
            out.append({**row, **mine})
        return out

    # --- before sending --------------------------------------------------------------------

    def preview(self, spec: RunSpec, n: int = 3) -> list[str]:
        """The first ``n`` rendered prompts (the whole run is checked, so a bad row shows now)."""
        return plan(self.client, spec, max_rows=self.max_rows, now=self.clock.now()).prompts[:max(0, n)]

    def quote(self, spec: RunSpec) -> RunQuote:
        """The run's worst case at the standard and batch prices, and how many rows the budget covers."""
        now = self.clock.now()
        p = plan(self.client, spec, max_rows=self.max_rows, now=now)
        left = None if self.client.budgets is None else self.client.budgets.remaining(spec.user.strip(), now)
        per_row = p.per_row(spec.mode)
        return RunQuote(rows=len(p.prompts), standard_usd=sum(p.standard, Decimal(0)),
                        batch_usd=sum(p.batch, Decimal(0)), budget_left=left,
                        fits_rows=len(per_row) if left is None else holds.fits(per_row, left), mode=spec.mode,
                        per_row=per_row)

    # --- sending ---------------------------------------------------------------------------

    def submit(self, spec: RunSpec) -> RunStatus:
        """Check, reserve and start a run; BudgetExceeded (with ``fits``) when it does not fit, nothing sent."""
        run_id = self._create(spec)
        if spec.mode == "now":
            self.queue.enqueue(run_id, list(range(len(spec.rows))))
        return self.status(run_id)

    def dry_run(self, spec: RunSpec, n: int) -> RunStatus:
        """The first ``n`` rows now, as a run of its own (mode now), waited for; its status once it ended."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            from core.errors import ValidationError

            raise ValidationError("A dry run needs a number of rows of at least 1.", field="n")
        name = f"dry run: {spec.name}" if spec.name else "dry run"
        run_id = self._create(replace(spec, rows=list(spec.rows[:n]), mode="now", name=name[:200]))
        nowmode.run_all(self, run_id)
        return self.status(run_id)

    def _create(self, spec: RunSpec) -> str:
        self.open()
        now = self.clock.now()
        p = plan(self.client, spec, max_rows=self.max_rows, now=now)
        user, run_id, at = spec.user.strip(), str(uuid.uuid4()), naive_utc(now)
        per_row = p.per_row(spec.mode)
        run = {"id": run_id, "user_id": user, "name": spec.name, "mode": spec.mode, "state": "queued",
               "model": p.model, "system": spec.system, "template": spec.template, "max_tokens": spec.max_tokens,
               "temperature": spec.temperature, "rows": len(p.prompts), "upstream_batch_id": None,
               "reserved_usd": sum(per_row, Decimal(0)), "created_at": at, "ended_at": None,
               "compare_key": compare_key(spec.rows), "source": spec.source, "api_key_id": spec.api_key_id}
        items = [{"run_id": run_id, "row_index": i, "custom_id": custom_id(i), "input": json.dumps(
                  dict(row), ensure_ascii=False), "prompt": prompt, "state": "pending", "updated_at": at}
                 for i, (row, prompt) in enumerate(zip(spec.rows, p.prompts, strict=True))]
        if spec.mode == "now":
            self._hold(spec, run_id, per_row, now, p.model)
            try:
                self.store.insert(run, items)
            except BaseException:
                holds.release(self.client.budgets, [hold_id(run_id, i) for i in range(len(items))])
                raise
            return run_id
        self.store.insert(run, items)
        try:
            batchmode.create(self, run, p, spec)
        except BaseException as exc:
            if not maybe_created(exc):  # refused before the batch existed upstream
                delete_run(self.store.engine, run_id)
            raise  # else the run stays queued: the poller adopts its batch, or fails the run if there is none
        return run_id

    def _hold(self, spec: RunSpec, run_id: str, per_row, now, model: str) -> None:
        """Reserve every row's worst case at once, or record the refusal and raise it (nothing sent)."""
        if self.client.budgets is None:
            return
        try:
            holds.reserve_rows(self.client.budgets, spec.user.strip(),
                               [(hold_id(run_id, i), a) for i, a in enumerate(per_row)], now=now)
        except BudgetExceeded as err:
            nowmode.record_refusal(self, spec, model, err)
            raise

    # --- after sending ---------------------------------------------------------------------

    def cancel(self, run_id: str) -> RunStatus:
        """Stop a run: rows not sent yet are canceled and their holds released; rows in flight finish."""
        run = self._run(run_id)
        if run["state"] in ENDED:
            return self.status(run_id)
        if run["mode"] == "batch":
            batchmode.cancel(self, run)
        else:
            nowmode.cancel(self, run)
        return self.status(run_id)

    def poll(self) -> int:
        """Advance every batch-mode run in progress; how many ended. Idempotent, safe in several processes."""
        self.open()
        try:
            for run_id, batch_id in self.client.batches.recover(grace_s=self.recover_after_s):
                if run_id is not None:
                    batchmode.adopted(self, run_id, batch_id)
        except TollgateError as err:
            log.warning("batches sent without their id not looked for: %s", err.message)
        ended = 0
        for run in self.store.runs(states=LIVE, mode="batch", limit=10_000):
            try:
                ended += bool(batchmode.advance(self, run))
            except TollgateError as err:
                log.warning("batch run %s not advanced: %s", run["id"], err.message)
        return ended

    def refresh(self, run_id: str) -> RunStatus:
        """The run's status after advancing it once (a batch-mode run in progress is read upstream)."""
        run = self._run(run_id)
        if run["mode"] == "batch" and run["state"] in LIVE:
            batchmode.advance(self, run)
        return self.status(run_id)

    def resume(self) -> int:
        """Queue again the unfinished rows of every live now-mode run (after a restart); how many rows."""
        self.open()
        queued = 0
        for run in self.store.runs(states=LIVE, mode="now", limit=10_000):
            rows = [i["row_index"] for i in self.store.items(run["id"], states=UNFINISHED)]
            if rows:
                self.queue.enqueue(run["id"], rows)
                queued += len(rows)
            else:
                nowmode.maybe_end(self, run["id"])
        return queued

    def work(self, run_id: str, rows) -> None:
        """Send the given rows of a now-mode run (what a queue's worker runs)."""
        nowmode.work(self, run_id, rows)
