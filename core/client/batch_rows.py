"""A Message Batch's requests, each checked like a single call and priced at its worst case.

``check`` refuses the first request that a single guarded call would refuse (catalogue model, shapes,
size, the injection screen, a model the caller's key may not use), naming its ``custom_id``; each
request's worst case is its input bound plus ``max_tokens``, at the batch and at the standard price.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.exc import SQLAlchemyError

from core.cache.keys import marks_cache
from core.errors import (
    CostUnbounded,
    LedgerUnavailable,
    ModelNotAllowed,
    NotConfigured,
    TollgateError,
    ValidationError,
)
from core.guards import validation
from core.guards.tokens import bound_request, server_tool_uses

_HOLDS = uuid.UUID("6f0c1d2e-7a3b-4c5d-9e8f-0a1b2c3d4e5f")  # namespace of batch rows' hold and ledger ids


def row_id(hold_key: str) -> str:
    """The id of a batch row's budget hold and of its ledger row (the same: settled in one transaction)."""
    return str(uuid.uuid5(_HOLDS, hold_key))


def row_key(batch_id: str, custom_id) -> str:
    """The idempotency key of a batch row's ledger row: one billed row per batch and custom_id."""
    return f"batch:{batch_id}:{custom_id}"


def ledger_read(read):
    """``read()`` of the ledger, a database fault as LedgerUnavailable (typed, retryable)."""
    try:
        return read()
    except SQLAlchemyError:
        raise LedgerUnavailable("The ledger cannot be read, so the batch cannot be looked up or billed yet: "
                                "try again once it is back.") from None


CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")  # the API's rule
MAX_REQUESTS = 100_000  # the API's limit per batch
# Fields a request's params may not carry: a batch never streams, and headers belong to the whole batch.
_REFUSED = {"stream": "a batch request cannot stream", "extra_headers": "headers cannot be set per request"}


@dataclass(frozen=True)
class Row:
    """One checked request: what is sent, and its worst case at the batch and the standard price (USD)."""

    custom_id: str
    params: dict
    model: str  # the catalogue's id
    batch_usd: Decimal
    standard_usd: Decimal
    flags: tuple[str, ...] = ()


def _named(err: TollgateError, custom_id: str) -> TollgateError:
    """The error, its message saying which request it is about."""
    err.message = f"Request {custom_id!r}: {err.message}"
    err.args = (err.message,)
    err.custom_id = custom_id
    return err


def check(client, requests, *, at: datetime, models: Collection[str] | None = None) -> list[Row]:
    """Every request checked and priced, in order; the first bad one raises (a ValidationError or kin)."""
    if not isinstance(requests, list | tuple) or not requests:
        raise ValidationError("A batch needs a non-empty list of requests ({custom_id, params}).", field="requests")
    if len(requests) > MAX_REQUESTS:
        raise ValidationError(f"A batch holds at most {MAX_REQUESTS:,} requests; this one has {len(requests):,}.",
                              field="requests")
    seen: set[str] = set()
    rows = []
    for i, item in enumerate(requests):
        cid = item.get("custom_id") if isinstance(item, dict) else None
        if not isinstance(cid, str) or not CUSTOM_ID.match(cid):
            raise ValidationError(f"Request {i}: custom_id must be 1-64 letters, digits, - or _.", field="custom_id")
        if cid in seen:
            raise ValidationError(f"Request {cid!r}: custom_id is used twice in this batch.", field="custom_id")
        seen.add(cid)
        try:
            rows.append(_row(client, cid, item.get("params"), at, models))
        except TollgateError as err:
            raise _named(err, cid) from None
    return rows


def _row(client, cid: str, params, at: datetime, models) -> Row:
    if not isinstance(params, dict):
        raise ValidationError("params must be a Messages request (an object).", field="params")
    for name, why in _REFUSED.items():
        if params.get(name):
            raise ValidationError(f"{name}: {why}.", field=name)
    rest = {k: v for k, v in params.items() if k not in ("model", "messages", "max_tokens", "system")}
    max_tokens = params.get("max_tokens")
    if max_tokens is None:
        raise ValidationError("max_tokens is required in a batch request.", field="max_tokens")
    if not isinstance(params.get("messages"), list):
        raise ValidationError("messages must be a list of turns.", field="messages")
    v = validation.validate(params.get("model"), params["messages"], max_tokens=max_tokens,
                            system=params.get("system"), temperature=params.get("temperature"),
                            catalogue=client.catalogue, policy=client.policy, params=rest)
    if models and v.model not in models:
        raise ModelNotAllowed(v.model, sorted(models))
    body = {**params, "model": v.model}
    return Row(custom_id=cid, params=body, model=v.model, flags=tuple(v.flags),
               batch_usd=worst_case(client, body, v.model, max_tokens, at, batch=True),
               standard_usd=worst_case(client, body, v.model, max_tokens, at, batch=False))


def worst_case(client, body: dict, model: str, max_tokens: int, at: datetime, *, batch: bool) -> Decimal:
    """The most ``body`` can cost (USD): input at its offline bound (else Anthropic's count times the margin),
    output at ``max_tokens``, the dearest price that may apply, plus the server-tool uses it allows."""
    pricing = client.pricing
    row = pricing.row_for(model, at)
    if row is None:
        raise NotConfigured(f"Model {model!r} has no price in the price table, so a batch of it cannot be "
                            "priced; pick a priced model.")
    tokens = bound_request(body.get("system"), body.get("messages"), body.get("tools"))
    if tokens is None:  # PDFs, url/file sources: no offline bound
        try:
            counted = client.transport.count_tokens(body)
        except TollgateError:
            raise CostUnbounded() from None
        margin = getattr(client.settings, "estimate_margin", Decimal("1.2")) if client.settings else Decimal("1.2")
        tokens = math.ceil(Decimal(counted) * margin)
    geo = body.get("inference_geo")
    factor = pricing.geo_factor(model, geo if isinstance(geo, str) else None, at)
    tools = pricing.tool_charge(server_tool_uses(body.get("tools")), at)
    return pricing.worst_case_cost(row, tokens, max_tokens, cache_writes=marks_cache(body), batch=batch,
                                   factor=factor) + tools
