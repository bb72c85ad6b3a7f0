"""Idempotent calls: a call with an idempotency key already answered returns that answer, sent and billed once.

The key is claimed (``core.ledger.idempotency``) after validation and before anything else: a
claim already ``done`` is replayed as a ``CallResult`` (its cost as recorded, ``replayed=True``, no
upstream call, no new billing); one still ``pending`` (a concurrent caller, here or in another
process) is waited for. The call that holds the claim completes it when answered and drops it
when it fails or is refused, so a retry with the same key may send.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from decimal import Decimal

from core.errors import CallInProgress, NotConfigured, OutcomeUnknown, ValidationError
from core.types import CallResult, Usage, message_data

log = logging.getLogger("tollgate")
POLL_S = 0.05  # how often a caller waiting on another's claim looks again (real time: it waits for real work)


def check_key(key) -> str:
    """A key the ledger can hold: 1-128 printable characters."""
    if not isinstance(key, str) or not 1 <= len(key) <= 128 or not key.isprintable():
        raise ValidationError("The idempotency key must be 1 to 128 printable characters.", field="idempotency_key")
    return key


def begin(client, call, *, wait_s: float = 120.0) -> CallResult | None:
    """Claim ``call.idempotency_key`` for ``call`` (None: go on and send), or the outcome recorded under it."""
    store = getattr(client, "idempotency", None)
    if store is None:
        raise NotConfigured("Idempotency keys need the ledger database (TOLLGATE_LEDGER_URL).")
    deadline = time.monotonic() + wait_s
    while True:
        found = store.claim(call.idempotency_key, call.user, call.id, client.clock.now())
        if found.state == "claimed":
            if found.took_over is not None and found.took_over != call.id:
                _lost(client, call, found.took_over)
            return None
        if found.user != call.user:
            raise ValidationError("This idempotency key was already used by another user's call.",
                                  field="idempotency_key")
        if found.state == "done" and found.result is not None:
            return replayed(found.result)
        if time.monotonic() >= deadline:
            raise CallInProgress()
        time.sleep(POLL_S)


def _lost(client, call, attempt_id: str) -> None:
    """Record a dead process's attempt at this keyed call ($0, ``outcome_unknown``): it was sent, and the API
    may have billed it, but no answer reached the ledger; nobody can know its usage, so it is flagged, not priced."""
    err = OutcomeUnknown(f"{OutcomeUnknown.default_message} The call was sent again as {call.id}.")
    try:
        client.recorder.failed(replace(call, id=attempt_id, idempotency_key=None, reservation=None, span=None), err)
    except Exception:  # noqa: BLE001 - the call itself goes on; the flag is an audit trail
        log.warning("the lost attempt %s of call %s was not recorded", attempt_id, call.id)


def finish(client, call, result: CallResult) -> None:
    """The keyed call was answered: store its outcome for later callers with the key."""
    if call.idempotency_key is None:
        return
    try:
        client.idempotency.complete(call.idempotency_key, call.id, outcome(result))
    except Exception:  # noqa: BLE001 - the row is in the ledger; its unique key still stops a second bill
        log.warning("idempotency key of call %s not completed; a retry may send again, billed once", call.id)


def abandon(client, call) -> None:
    """The keyed call failed or was refused: drop its claim so that a retry may send."""
    if call.idempotency_key is None or getattr(client, "idempotency", None) is None:
        return
    try:
        client.idempotency.release(call.idempotency_key, call.id)
    except Exception:  # noqa: BLE001 - a claim left pending is taken over once stale
        log.warning("idempotency claim of call %s not released", call.id)


def outcome(result: CallResult) -> dict:
    """What a replay needs: the result's JSON form and the whole message."""
    return {**result.to_dict(), "key_label": result.key_label, "message": message_data(result)}


def replayed(d: dict) -> CallResult:
    """The stored outcome as a ``CallResult`` again, marked ``replayed``."""
    usage = Usage(**{k: v for k, v in (d.get("usage") or {}).items() if k in Usage.__dataclass_fields__})
    return CallResult(
        text=d.get("text") or "", model=d["model"], usage=usage, cost_usd=Decimal(d.get("cost_usd") or "0"),
        price_version=d.get("price_version"), cached=bool(d.get("cached")), latency_ms=d.get("latency_ms") or 0.0,
        ttft_ms=d.get("ttft_ms"), request_id=d.get("request_id"), retries=d.get("retries") or 0,
        stop_reason=d.get("stop_reason"), key_label=d.get("key_label"), unpriced=bool(d.get("unpriced")),
        tokens_saved=d.get("tokens_saved") or 0, flags=tuple(d.get("flags") or ()), ledger_id=d.get("ledger_id"),
        message_id=d.get("message_id"), content=d.get("content") or [], stop_sequence=d.get("stop_sequence"),
        usage_detail=d.get("usage_detail") or {}, message=d.get("message"), replayed=True)
