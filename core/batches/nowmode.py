"""Now mode: each row an ordinary guarded call, within the limiter's rates and the concurrency limit.

A row is claimed (pending -> running), then sent with the row's idempotency key and its run hold: the
guarded call's own reservation replaces that hold in one transaction (nobody else can take the row's share
in between), and settles; whatever is left of the hold once the row ends (a refusal, a replay) is released.
A row sent again (a worker killed after the call, a redelivered message, a restarted console) replays the
ledger row already recorded, billing nothing.
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor

from core.batches import holds
from core.batches.plan import hold_id, idempotency_key
from core.batches.store import LIVE, claim
from core.clock import naive_utc
from core.errors import CallInProgress, RateLimited, TollgateError

log = logging.getLogger("tollgate.batches")
RATE_LIMIT_TRIES = 20  # a row waits out this many local rate-limit refusals before it counts as failed


def record_refusal(runs, spec, model: str, err: TollgateError) -> None:
    """A run refused whole (budget) as one ledger row with its reason, like a refused single call."""
    from core.client.pipeline import Call

    client = runs.client
    call = Call(id=str(uuid.uuid4()), user=spec.user.strip(), model=model, source=spec.source, streamed=False,
                started=client.clock.monotonic(), ts=client.clock.now(), api_key_id=spec.api_key_id)
    client.recorder.refused(call, err, detail=err.message)


def _send(runs, run: dict, row_index: int, prompt: str):
    client = runs.client
    kw = dict(user=run["user_id"], model=run["model"], system=run["system"], max_tokens=run["max_tokens"],
              use_cache=False, source=run["source"] or "batch", api_key_id=run["api_key_id"], run_id=run["id"],
              row_index=row_index, idempotency_key=idempotency_key(run["id"], row_index),
              run_hold=hold_id(run["id"], row_index))
    if run["temperature"] is not None:
        kw["temperature"] = run["temperature"]
    for attempt in range(RATE_LIMIT_TRIES):
        try:
            return client.create(prompt, **kw)
        except RateLimited as err:  # our own limiter said wait: this row waits its turn, like a queued call
            if attempt == RATE_LIMIT_TRIES - 1:
                raise
            runs.sleep(min(max(err.retry_after_s, 0.05), 5.0))
        except CallInProgress:  # the row's key is held by a call in flight (or by a process that died with it)
            if attempt == RATE_LIMIT_TRIES - 1:
                raise
            runs.sleep(1.0)
    raise AssertionError("unreachable")


def _outcome(runs, run: dict, row_index: int, prompt: str) -> dict:
    """Send one row; the values of its item row (succeeded with the answer, or failed with why)."""
    try:
        result = _send(runs, run, row_index, prompt)
    except TollgateError as err:
        return {"state": "failed", "cost_usd": 0, "error": f"{err.code}: {err.message}"[:2000]}
    except Exception as exc:  # noqa: BLE001 - a bug or fault in one row must not stop the others
        log.exception("batch run %s row %d failed", run["id"], row_index)
        return {"state": "failed", "cost_usd": 0, "error": f"unexpected: {type(exc).__name__}"}
    return {"state": "succeeded", "call_id": result.ledger_id, "output": result.text, "cost_usd": result.cost_usd,
            "latency_ms": result.latency_ms}


def work(runs, run_id: str, rows) -> None:
    """Send ``rows`` of a now-mode run one after another: claimed together, sent (a run canceled meanwhile sends
    no more of them; their holds are released), each outcome stored as it comes and what is left of its run
    hold released (the run ends when they were the last). A crash in between leaves them running, holds kept:
    sent again, each row's idempotency key replays what was already answered."""
    store = runs.store
    run = store.run(run_id)
    if run is None or run["mode"] != "now" or run["state"] not in LIVE:
        return
    if run["state"] == "queued":
        store.move(run_id, "in_progress", frm=("queued",))
    prompts = claim(store.engine, run_id, [int(r) for r in rows], naive_utc(runs.clock.now()))
    for n, row_index in enumerate(sorted(prompts)):
        if n and store.run(run_id)["state"] != "in_progress":  # canceled: the rest are not sent
            rest = sorted(prompts)[n:]
            store.finish_items(run_id, [(i, {"state": "canceled", "cost_usd": 0}) for i in rest],
                               now=naive_utc(runs.clock.now()))
            holds.release(runs.client.budgets, [hold_id(run_id, i) for i in rest])
            break
        # each row's outcome as it comes: the progress bar moves row by row
        store.finish_item(run_id, row_index, now=naive_utc(runs.clock.now()),
                          **_outcome(runs, run, row_index, prompts[row_index]))
        holds.release(runs.client.budgets, [hold_id(run_id, row_index)])  # none left if the call took it over
    store.end_if_done(run_id, naive_utc(runs.clock.now()))  # after the commits above: see finish_items


def run_all(runs, run_id: str) -> None:
    """Every row of a run on this process's threads, waited for (a dry run)."""
    rows = [i["row_index"] for i in runs.store.items(run_id)]
    workers = max(1, getattr(runs.settings, "batch_workers", 4))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tollgate-dry-run") as pool:
        list(pool.map(lambda i: work(runs, run_id, [i]), rows))
    maybe_end(runs, run_id)


def maybe_end(runs, run_id: str) -> bool:
    """Once no row is pending or running: in_progress -> ended, canceling -> canceled."""
    return runs.store.end_if_done(run_id, naive_utc(runs.clock.now()))


def cancel(runs, run: dict) -> None:
    store, now = runs.store, naive_utc(runs.clock.now())
    store.move(run["id"], "canceling", frm=LIVE)
    rows = store.cancel_pending(run["id"], now=now)
    holds.release(runs.client.budgets, [hold_id(run["id"], i) for i in rows])
    maybe_end(runs, run["id"])
