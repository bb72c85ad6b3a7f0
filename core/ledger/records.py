"""One CallRecord as a ``calls`` row and as a spool line (JSON), losslessly both ways."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal

from core.catalog.pricing import COST_PARTS
from core.clock import naive_utc
from core.types import CALL_STATUSES, SERVER_TOOL_FIELDS, USAGE_FIELDS, CallRecord, Usage

COST_QUANTUM = Decimal("1e-10")  # the scale of the cost_usd column, NUMERIC(20, 10)
_PLAIN = ("id", "model", "status", "error_code", "tokens_saved", "price_version", "latency_ms",
          "ttft_ms", "streamed", "retries", "request_id", "key_label", "prompt_sha256",
          "prompt_text", "source", "unpriced", "detail", "api_key_id", "run_id", "row_index", "batch",
          "idempotency_key")
_WHERE = ("service_tier", "inference_geo")  # Usage's text fields, one column each
# cost part -> its column: named here, the one place (schema.py builds the calls table's columns from it), so that
# a CLI refusal spools a record without importing SQLAlchemy
PART_COLUMNS = {part: f"cost_{part}_usd" for part in COST_PARTS}
COST_PART_COLUMNS = tuple(PART_COLUMNS.values())
# Columns a record of an older release lacks (a spool or journal line written before version 6, 7 or 8): their defaults.
_LATER_DEFAULTS = {**dict.fromkeys(SERVER_TOOL_FIELDS, 0), **dict.fromkeys(_WHERE), **dict.fromkeys(COST_PART_COLUMNS),
                   "api_key_id": None, "run_id": None, "row_index": None, "batch": False, "idempotency_key": None}


def check(rec: CallRecord) -> None:
    """Refuse a record the table could never hold (a caller bug, not a database fault)."""
    if not rec.id or len(rec.id) > 36:
        raise ValueError(f"ledger record id must be 1-36 characters, got {rec.id!r}")
    if rec.status not in CALL_STATUSES:
        raise ValueError(f"ledger record status must be one of {sorted(CALL_STATUSES)}, got {rec.status!r}")
    if not isinstance(rec.ts, datetime):
        raise ValueError(f"ledger record ts must be a datetime, got {rec.ts!r}")
    if not rec.user or not rec.model:
        raise ValueError("ledger record needs a user and a model")
    if not Decimal(rec.cost_usd).is_finite():
        raise ValueError(f"ledger record cost must be finite, got {rec.cost_usd!r}")


def to_row(rec: CallRecord) -> dict:
    """Column values for the ``calls`` table (cost at the column's exact scale)."""
    row = {name: getattr(rec, name) for name in _PLAIN}
    row.update({name: getattr(rec.usage, name) for name in (*USAGE_FIELDS, *SERVER_TOOL_FIELDS, *_WHERE)})
    row["ts"] = naive_utc(rec.ts)
    row["user_id"] = rec.user
    row["cost_usd"] = _money(rec.cost_usd)
    parts = rec.cost_parts
    if parts is None and not row["cost_usd"]:
        parts = {}  # nothing billed: every part is 0, which is a split
    row.update({col: None if parts is None else _money(parts.get(part, 0)) for part, col in PART_COLUMNS.items()})
    return row


def _money(value) -> Decimal:
    return Decimal(value).quantize(COST_QUANTUM, rounding=ROUND_HALF_EVEN)


def from_row(row) -> CallRecord:
    """A CallRecord from a ``calls`` row mapping (ts comes back aware UTC, cost as Decimal)."""
    m = dict(row._mapping) if hasattr(row, "_mapping") else dict(row)
    usage = Usage(**{name: int(m.get(name) or 0) for name in (*USAGE_FIELDS, *SERVER_TOOL_FIELDS)},
                  **{name: m.get(name) for name in _WHERE})
    ts = m["ts"]
    if isinstance(ts, str):
        ts = datetime.fromisoformat(ts)
    kwargs = {name: m.get(name) for name in _PLAIN}
    parts = {part: Decimal(str(m[col])) for part, col in PART_COLUMNS.items() if m.get(col) is not None}
    if not any(parts.values()):
        parts = {}  # nothing billed (or not split): no split to carry, as the record had none
    kwargs.update(ts=ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC),
                  user=m["user_id"], usage=usage, cost_usd=Decimal(str(m.get("cost_usd") or 0)),
                  cost_parts=parts or None)
    for flag in ("streamed", "unpriced", "batch"):
        kwargs[flag] = bool(kwargs[flag])
    for count in ("tokens_saved", "retries"):
        kwargs[count] = int(kwargs[count] or 0)
    kwargs["source"] = kwargs["source"] or "library"
    return CallRecord(**kwargs)


def to_json(rec: CallRecord) -> str:
    """One spool line (no newline): every field, cost as an exact decimal string."""
    row = to_row(rec)
    row["ts"] = row["ts"].isoformat()
    for col in ("cost_usd", *COST_PART_COLUMNS):
        row[col] = None if row[col] is None else str(row[col])
    return json.dumps(row, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def row_from_json(line: str) -> dict:
    """Column values from a spool line (the inverse of ``to_json``)."""
    row = json.loads(line)
    if not isinstance(row, dict) or "id" not in row:
        raise ValueError("spool line is not a ledger record")
    row["ts"] = datetime.fromisoformat(row["ts"])
    row["cost_usd"] = Decimal(row["cost_usd"])
    for col, default in _LATER_DEFAULTS.items():  # every row of one INSERT must name the same columns
        row.setdefault(col, default)
    for col in COST_PART_COLUMNS:
        row[col] = None if row[col] is None else Decimal(row[col])
    return row
