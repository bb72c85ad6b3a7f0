"""What a cache stores (one answer and what it cost) and the interface every backend meets."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from core.types import Usage

PAYLOAD_VERSION = 2  # 2: the whole message is kept; 1 (text only) still loads, as one text block
_READABLE = (1, 2)


@dataclass(frozen=True)
class CachedResponse:
    """An answer worth replaying, as the whole message; frozen, so a memory backend can share it safely.

    ``cost_usd`` is what the original call cost (the tokens a hit saves are in ``usage``).
    ``message`` is the API's message as a JSON-ready dict (every block: tool_use, thinking,
    citations, ...); a hit hands out copies of it, never the stored dict. An entry written
    before messages were kept has none: ``whole_message`` makes it one text block.
    """

    text: str
    model: str
    usage: Usage
    stop_reason: str | None
    request_id: str | None
    created_at: datetime  # aware UTC: when the original call was answered
    price_version: str | None
    cost_usd: Decimal
    message: dict | None = None

    def whole_message(self) -> dict:
        """A fresh copy of the stored message (callers may change it), or one built from the text."""
        if self.message is not None:
            return json.loads(json.dumps(self.message, ensure_ascii=False))
        return {"id": None, "type": "message", "role": "assistant", "model": self.model,
                "content": [{"type": "text", "text": self.text}], "stop_reason": self.stop_reason,
                "stop_sequence": None, "usage": {"input_tokens": self.usage.input_tokens,
                                                 "output_tokens": self.usage.output_tokens}}

    def to_json(self) -> str:
        """Compact JSON; the cost as an exact decimal string, the time as ISO 8601 UTC."""
        created = self.created_at
        created = (created.replace(tzinfo=UTC) if created.tzinfo is None
                   else created.astimezone(UTC))
        return json.dumps({
            "v": PAYLOAD_VERSION, "text": self.text, "model": self.model,
            "usage": self.usage.to_dict(), "stop_reason": self.stop_reason,
            "request_id": self.request_id, "created_at": created.isoformat(),
            "price_version": self.price_version, "cost_usd": str(self.cost_usd), "message": self.message,
        }, separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> CachedResponse:
        """Parse ``to_json`` output; raises ValueError on anything else (a backend's miss)."""
        try:
            d = json.loads(text)
            if d.get("v") not in _READABLE:
                raise ValueError(f"unknown cache payload version {d.get('v')!r}")
            if d["v"] == 1 and d.get("stop_reason") == "tool_use":  # stored text-only: its tool calls were lost
                raise ValueError("a text-only entry of a tool_use answer")
            created = datetime.fromisoformat(d["created_at"])
            if created.tzinfo is None:
                created = created.replace(tzinfo=UTC)
            return cls(text=d["text"], model=d["model"], usage=Usage(**d["usage"]),
                       stop_reason=d.get("stop_reason"), request_id=d.get("request_id"),
                       created_at=created.astimezone(UTC),
                       price_version=d.get("price_version"), cost_usd=Decimal(d["cost_usd"]),
                       message=_message(d.get("message")))
        except ValueError:
            raise
        except Exception as exc:  # KeyError, TypeError, decimal.InvalidOperation, ...
            raise ValueError(f"not a cached response: {type(exc).__name__}") from None


def _message(value) -> dict | None:
    """A stored message: a dict with a list of content blocks, or None (a v1 entry); else not an entry."""
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("content"), list):
        raise ValueError("not a cached response: its message has no content list")
    return value


@runtime_checkable
class ResponseCache(Protocol):
    """The small interface every backend implements; none of its methods ever raises."""

    def get(self, key: str) -> CachedResponse | None: ...

    def set(self, key: str, value: CachedResponse, ttl_s: float) -> None: ...

    def delete(self, key: str) -> None: ...

    def clear(self) -> None: ...

    def stats(self) -> dict: ...  # hits, misses, size (when cheap), backend name
