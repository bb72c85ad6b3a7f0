"""Batch mode: the run as one Message Batch through the guarded client's ``client.batches``.

``create`` validates and reserves (the client holds each row's worst case at the batch price) before the
batch is sent; ``advance`` reads the batch and, once it ended, its results: each row settled by the client
(billed once, however often results are read) and its outcome copied to the run's item.
"""

from __future__ import annotations

from core.batches.store import UNFINISHED, custom_id
from core.clock import naive_utc
from core.errors import NotFound
from core.guards.validation import as_messages

OUTCOMES = {"succeeded": "succeeded", "errored": "failed", "canceled": "canceled", "expired": "expired"}


def requests_of(run: dict, prompts) -> list[dict]:
    """The Message Batches requests of a run: one per row, custom_id row-NNNNNN."""
    base = {"model": run["model"], "max_tokens": run["max_tokens"]}
    if run.get("system"):
        base["system"] = run["system"]
    if run.get("temperature") is not None:
        base["temperature"] = run["temperature"]
    return [{"custom_id": custom_id(i), "params": {**base, "messages": as_messages(p)}}
            for i, p in enumerate(prompts)]


def create(runs, run: dict, plan, spec) -> None:
    requests = requests_of(run, plan.prompts)
    sub = runs.client.batches.create(requests, user=run["user_id"], run_id=run["id"], source=spec.source,
                                     api_key_id=spec.api_key_id,
                                     row_indices={r["custom_id"]: i for i, r in enumerate(requests)})
    runs.store.set_run(run["id"], upstream_batch_id=sub.batch_id, state="in_progress",
                       reserved_usd=sub.reserved_usd)


def adopted(runs, run_id: str, batch_id: str | None) -> None:
    """A run whose create got no answer: its batch found upstream (then advanced as usual), or none was made."""
    now = naive_utc(runs.clock.now())
    if batch_id is not None:
        runs.store.set_run(run_id, upstream_batch_id=batch_id)
        runs.store.move(run_id, "in_progress", frm=("queued",))
        return
    rows = [i["row_index"] for i in runs.store.items(run_id, states=UNFINISHED)]
    runs.store.finish_items(run_id, [(i, {"state": "failed", "cost_usd": 0,
                                          "error": "the batch was never created upstream"}) for i in rows], now=now)
    runs.store.move(run_id, "failed", frm=("queued",), now=now)


def _row_indices(run: dict) -> dict[str, int]:
    return {custom_id(i): i for i in range(int(run["rows"]))}


def advance(runs, run: dict) -> bool:
    """Read the batch; once it ended, settle its results into the run. True if this call ended the run."""
    batch_id = run["upstream_batch_id"]
    if not batch_id:
        return False
    client, store = runs.client, runs.store
    try:
        batch = client.batches.retrieve(batch_id)
    except NotFound:
        return _vanished(runs, run)
    if batch.get("processing_status") != "ended":
        return False
    unfinished = {i["row_index"] for i in store.items(run["id"], states=UNFINISHED)}
    outcomes = []
    if unfinished:
        for r in client.batches.results(batch_id, user=run["user_id"], run_id=run["id"],
                                        row_indices=_row_indices(run)):
            if r.row_index not in unfinished:
                continue
            unfinished.discard(r.row_index)
            res = r.result
            outcomes.append((r.row_index, {"state": OUTCOMES.get(r.outcome, "failed"),
                                           "call_id": getattr(res, "ledger_id", None),
                                           "output": getattr(res, "text", None),
                                           "cost_usd": getattr(res, "cost_usd", 0) or 0, "error": r.error}))
    # a row the results did not mention: nothing came back for it, nothing is billed
    outcomes += [(i, {"state": "failed", "cost_usd": 0, "error": "no result came back for this row"})
                 for i in sorted(unfinished)]
    now = naive_utc(runs.clock.now())
    store.finish_items(run["id"], outcomes, now=now)
    return (store.move(run["id"], "ended", frm=("queued", "in_progress"), now=now)
            or store.move(run["id"], "canceled", frm=("canceling",), now=now))


def _vanished(runs, run: dict) -> bool:
    """The run's batch is gone upstream (deleted before the run read it): each row as the ledger billed it.

    ``client.batches.delete`` bills an ended batch's results before deleting it, so those rows are in the
    ledger; a batch deleted outside Tollgate took its unread results with it: those rows fail, holds freed."""
    runs.client.batches.gone(run["upstream_batch_id"])
    billed = runs.store.billed(run["id"])
    gone = "the batch was deleted upstream before this run read its results"
    outcomes = []
    for item in runs.store.items(run["id"], states=UNFINISHED):
        row = billed.get(item["row_index"])
        outcomes.append((item["row_index"], {"state": "failed", "cost_usd": 0, "error": gone} if row is None else
                         {"state": "succeeded" if row["status"] == "ok" else "failed", "call_id": row["id"],
                          "cost_usd": row["cost_usd"], "error": None if row["status"] == "ok" else gone}))
    now = naive_utc(runs.clock.now())
    runs.store.finish_items(run["id"], outcomes, now=now)
    to = "ended" if any(o["state"] == "succeeded" for _, o in outcomes) else "failed"
    return (runs.store.move(run["id"], to, frm=("queued", "in_progress"), now=now, detail=None if to == "ended"
                            else gone) or runs.store.move(run["id"], "canceled", frm=("canceling",), now=now))


def cancel(runs, run: dict) -> None:
    """Ask upstream to cancel; the poller settles the batch once it has ended (canceled rows release their holds)."""
    if run["upstream_batch_id"]:
        runs.client.batches.cancel(run["upstream_batch_id"])
    runs.store.move(run["id"], "canceling", frm=("queued", "in_progress"))
