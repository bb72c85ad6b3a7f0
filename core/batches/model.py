"""The value types of batch runs: what to run (RunSpec), what it would cost (RunQuote), how it stands (RunStatus)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from core.errors import RunNotFound  # noqa: F401 - re-exported

MODES = ("batch", "now")
COUNT_KEYS = ("succeeded", "failed", "pending", "canceled", "expired")


@dataclass(frozen=True)
class RunSpec:
    """A prompt template over rows: each row's ``{{column}}`` values make one request."""

    user: str
    template: str
    rows: Sequence[Mapping[str, str]]
    model: str
    max_tokens: int
    system: str | None = None
    temperature: float | None = None
    mode: str = "batch"
    name: str | None = None
    source: str = "batch"
    api_key_id: str | None = None  # the gateway key a run came with (kept on the run and its ledger rows)


@dataclass(frozen=True)
class RunQuote:
    """The whole run's worst case at both prices, against what the user's budget has left."""

    rows: int
    standard_usd: Decimal
    batch_usd: Decimal
    budget_left: Decimal | None  # None: no budget applies
    fits_rows: int  # rows that fit, in order, at the chosen mode's price
    mode: str
    per_row: list[Decimal] = field(default_factory=list, repr=False)  # at the chosen mode's price

    @property
    def needed_usd(self) -> Decimal:
        return self.batch_usd if self.mode == "batch" else self.standard_usd

    @property
    def fits(self) -> bool:
        return self.fits_rows == self.rows

    def to_dict(self) -> dict:
        return {"rows": self.rows, "mode": self.mode, "standard_usd": str(self.standard_usd),
                "batch_usd": str(self.batch_usd), "needed_usd": str(self.needed_usd),
                "budget_left": None if self.budget_left is None else str(self.budget_left),
                "fits_rows": self.fits_rows, "fits": self.fits}


@dataclass(frozen=True)
class RunStatus:
    """Where a run stands, read from the ledger database (any process sees the same)."""

    id: str
    user: str
    name: str | None
    mode: str
    state: str
    model: str
    rows: int
    counts: dict[str, int]
    spent_usd: Decimal
    reserved_usd: Decimal
    created_at: datetime
    ended_at: datetime | None
    progress: float
    compare_key: str
    upstream_batch_id: str | None = None
    detail: str | None = None

    @property
    def done(self) -> bool:
        return self.state in ("ended", "canceled", "failed")

    def to_dict(self) -> dict:
        return {"id": self.id, "user": self.user, "name": self.name, "mode": self.mode, "state": self.state,
                "model": self.model, "rows": self.rows, "counts": dict(self.counts),
                "spent_usd": str(self.spent_usd), "reserved_usd": str(self.reserved_usd),
                "created_at": self.created_at.isoformat() + "Z",
                "ended_at": None if self.ended_at is None else self.ended_at.isoformat() + "Z",
                "progress": round(self.progress, 4), "compare_key": self.compare_key,
                "upstream_batch_id": self.upstream_batch_id, "detail": self.detail}


def compare_key(rows: Sequence[Mapping[str, str]]) -> str:
    """SHA-256 of the input rows (order and values): two runs with the same key ran over the same rows."""
    h = hashlib.sha256()
    for row in rows:
        h.update(json.dumps(dict(row), sort_keys=True, ensure_ascii=False).encode("utf-8", "surrogatepass"))
        h.update(b"\n")
    return h.hexdigest()
