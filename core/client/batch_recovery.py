"""Batches sent without their id recorded: found upstream and adopted, so what the API bills is billed here too.

A batch is recorded (``pending_…``) before it is sent. If the create's answer never arrived (a timeout, a
dropped connection, a 5xx, the process killed), the batch may exist upstream all the same, and the API
bills its rows. ``recover`` looks, once a record is older than ``grace_s``, for an upstream batch made
around that time that Tollgate does not know, with the same number of requests; once it has ended and its
results carry exactly the recorded ``custom_id`` s, the record takes its id, and its results are then
billed as any batch's (each row once, at the batch price). A record with no such batch upstream after the
grace was never created: its holds are released and it is dropped.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from core.client.batch_rows import ledger_read, row_id, row_key
from core.clock import naive_utc
from core.errors import (
    AuthenticationFailed,
    InvalidRequest,
    NotFound,
    Overloaded,
    PermissionDenied,
    RequestTooLarge,
    SpendCapReached,
    TollgateError,
    UpstreamRateLimited,
)

log = logging.getLogger("tollgate")
RECOVER_AFTER_S = 600.0  # a create answers in seconds: a record this old without an id lost its answer
SKEW = timedelta(minutes=2)  # between this machine's clock and the API's created_at
_PAGES, _PAGE = 20, 100  # how far back the upstream list is read, at most (batches, most recent first)

# Answers that say the create was refused, so no batch exists; anything else (a timeout, a dropped
# connection, a 5xx, an interrupt) may have come after the batch was made.
_ANSWERED = (InvalidRequest, AuthenticationFailed, PermissionDenied, NotFound, RequestTooLarge,
             UpstreamRateLimited, SpendCapReached, Overloaded)


def maybe_created(exc: BaseException) -> bool:
    """Whether a failed create may still have made the batch upstream."""
    return not isinstance(exc, _ANSWERED) and (not isinstance(exc, TollgateError) or exc.retryable)


def _created(batch: dict) -> datetime | None:
    try:
        return naive_utc(datetime.fromisoformat(str(batch.get("created_at")).replace("Z", "+00:00")))
    except ValueError:
        return None


def _requests(batch: dict) -> int:
    counts = batch.get("request_counts") or {}
    return sum(int(v or 0) for v in counts.values())


def _candidates(batches, since: datetime, until: datetime) -> list[dict]:
    """Upstream batches created in [since, until] that no Tollgate record names, newest first."""
    found, after = [], None
    for _ in range(_PAGES):
        page = batches._read(lambda a=after: batches.upstream.list(limit=_PAGE, after_id=a))
        for b in page.get("data") or []:
            at = _created(b)
            if at is not None and since <= at <= until and batches.records.get(b["id"]) is None:
                found.append(b)
        last = (page.get("data") or [{}])[-1]
        if not page.get("has_more") or (_created(last) or since) < since:
            break
        after = page.get("last_id")
    return found


def _ours(batches, batch: dict, custom_ids: set[str]) -> bool:
    lines = batches._read(lambda: list(batches.upstream.results(batch["id"])))
    return {str(ln.get("custom_id")) for ln in lines} == custom_ids


def recover(batches, *, grace_s: float = RECOVER_AFTER_S) -> list[tuple[str | None, str | None]]:
    """Adopt or drop every old enough pending record: ``[(run_id, batch_id or None when dropped)]``."""
    now = naive_utc(batches.client.clock.now())
    done = []
    for rec in batches.records.pending():
        born = naive_utc(rec["created_at"])
        if now - born < timedelta(seconds=grace_s):
            continue  # its create may still be on its way
        ids = set(rec["items"])
        waiting, adopted = False, None
        for b in _candidates(batches, born - SKEW, born + SKEW + timedelta(seconds=max(grace_s, 60))):
            if _requests(b) != len(ids):
                continue
            if b.get("processing_status") != "ended":
                waiting = True  # cannot be told apart yet: its results name its custom_ids
                continue
            if _ours(batches, b, ids) and batches.records.confirm(rec["id"], b["id"]):
                adopted = b["id"]
                break
        if adopted is not None:
            log.warning("Message Batch %s adopted: sent for %s without its id recorded", adopted, rec["user_id"])
            done.append((rec["run_id"], adopted))
        elif not waiting:
            batches._release(rec["reserved_usd"] > 0, [(row_id(rec["hold_prefix"] + k), None) for k in ids])
            batches.records.forget(rec["id"])
            log.info("A Message Batch recorded before sending was never created; its holds are released")
            done.append((rec["run_id"], None))
    return done


def gone(batches, batch_id: str) -> None:
    """Drop the record of a batch upstream no longer has; the holds of its rows not billed are released."""
    batches.client.recorder.flush()  # rows this process billed are in the database before anyone looks
    rec = None if batches.records is None else ledger_read(lambda: batches.records.get(batch_id))
    if rec is None:
        return
    billed = ledger_read(lambda: batches.records.billed(row_key(batch_id, cid) for cid in rec["items"]))
    batches._release(rec["reserved_usd"] > 0, [(row_id(rec["hold_prefix"] + cid), None) for cid in rec["items"]
                                               if row_key(batch_id, cid) not in billed])
    ledger_read(lambda: batches.records.forget(batch_id))
