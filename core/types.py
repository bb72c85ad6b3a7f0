"""Value types shared by the client, the ledger and the console: usage, results, records."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Usage:
    """What one call was billed for: token counts (each charged once at its own price), server-tool
    uses, and where and on which tier it ran (Anthropic's split, as the API reports it)."""

    input_tokens: int = 0  # uncached input only, as the API reports it
    output_tokens: int = 0  # the billed total, thinking tokens included
    cache_creation_5m_tokens: int = 0
    cache_creation_1h_tokens: int = 0
    cache_read_tokens: int = 0
    web_search_requests: int = 0  # server tools, charged per use on top of tokens
    web_fetch_requests: int = 0
    service_tier: str | None = None  # standard | priority | batch; None: not reported
    inference_geo: str | None = None  # e.g. global | us; None: not reported

    @property
    def prompt_tokens(self) -> int:
        """Every input token of the request: uncached + cache writes + cache reads."""
        return (self.input_tokens + self.cache_creation_5m_tokens
                + self.cache_creation_1h_tokens + self.cache_read_tokens)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.output_tokens

    def to_dict(self) -> dict[str, int | str | None]:
        return dataclasses.asdict(self)

    @classmethod
    def from_api(cls, usage) -> Usage:
        """Build from an SDK ``Usage`` (or a dict of the same shape, e.g. a stream's merged usage)."""
        get = _getter(usage)
        creation = get("cache_creation", None)
        cget = _getter(creation)
        c5 = cget("ephemeral_5m_input_tokens", None) if creation is not None else None
        c1 = cget("ephemeral_1h_input_tokens", None) if creation is not None else None
        total_creation = get("cache_creation_input_tokens", 0) or 0
        if c5 is None and c1 is None:
            c5, c1 = total_creation, 0  # no split reported: writes default to the 5-minute TTL
        tools = get("server_tool_use", None)
        tget = _getter(tools)
        return cls(input_tokens=get("input_tokens", 0) or 0,
                   output_tokens=get("output_tokens", 0) or 0,
                   cache_creation_5m_tokens=c5 or 0, cache_creation_1h_tokens=c1 or 0,
                   cache_read_tokens=get("cache_read_input_tokens", 0) or 0,
                   web_search_requests=(tget("web_search_requests", 0) or 0) if tools is not None else 0,
                   web_fetch_requests=(tget("web_fetch_requests", 0) or 0) if tools is not None else 0,
                   service_tier=_text(get("service_tier", None)), inference_geo=_text(get("inference_geo", None)))


def _getter(obj):
    """``get(key, default)`` over a dict or an SDK model alike."""
    return obj.get if isinstance(obj, dict) else (lambda k, d=None: getattr(obj, k, d))


def _text(value) -> str | None:
    """An SDK enum field as its plain string (None stays None)."""
    return None if value is None else str(getattr(value, "value", value))


# The token-count columns, in the API's order: the ledger and the reports use these as token columns.
USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_creation_5m_tokens", "cache_creation_1h_tokens",
                "cache_read_tokens")
SERVER_TOOL_FIELDS = ("web_search_requests", "web_fetch_requests")  # counts of uses, not tokens


@dataclass
class CallResult:
    """What a guarded call returns: the answer, its exact cost and how it went."""

    text: str
    model: str
    usage: Usage
    cost_usd: Decimal
    price_version: str | None
    cached: bool = False
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    request_id: str | None = None
    retries: int = 0
    stop_reason: str | None = None
    key_label: str | None = None
    unpriced: bool = False
    tokens_saved: int = 0  # a cache hit: the tokens the original call used
    flags: tuple[str, ...] = ()  # e.g. prompt-injection phrases flagged (not blocked)
    ledger_id: str | None = None
    message_id: str | None = None  # the API's msg_… id (None for a cache hit)
    month_to_date_usd: Decimal | None = None
    budget_remaining_usd: Decimal | None = None
    # The whole message: every block as the API returned it (JSON-ready dicts: text with citations,
    # tool_use, thinking, server tool blocks, ...), the stop sequence hit, the usage object as reported.
    content: list[dict] = field(default_factory=list)
    stop_sequence: str | None = None
    usage_detail: dict = field(default_factory=dict)
    message: Any = field(default=None, repr=False)  # the SDK Message; given a dict (a hit), built on first read
    raw_json: bytes | None = field(default=None, repr=False, compare=False)  # the API's JSON body as it came
    replayed: bool = False  # an idempotency key's recorded outcome, returned again: nothing sent, nothing billed

    @property
    def tool_uses(self) -> list[dict]:
        """The ``tool_use`` blocks of the answer, in order (empty unless it stopped to call tools)."""
        return [b for b in self.content if b.get("type") == "tool_use"]

    def to_dict(self) -> dict:
        """JSON-ready form (the CLI's ``--json``); cost as an exact decimal string."""
        d = {"text": self.text, "content": self.content, "stop_sequence": self.stop_sequence,
             "usage_detail": self.usage_detail, "model": self.model, "usage": self.usage.to_dict(),
             "cost_usd": str(self.cost_usd), "cached": self.cached,
             "latency_ms": round(self.latency_ms, 3),
             "ttft_ms": None if self.ttft_ms is None else round(self.ttft_ms, 3),
             "request_id": self.request_id, "retries": self.retries,
             "stop_reason": self.stop_reason, "price_version": self.price_version,
             "unpriced": self.unpriced, "tokens_saved": self.tokens_saved,
             "flags": list(self.flags), "ledger_id": self.ledger_id, "message_id": self.message_id,
             "replayed": self.replayed}
        d["month_to_date_usd"] = None if self.month_to_date_usd is None else str(self.month_to_date_usd)
        d["budget_remaining_usd"] = (None if self.budget_remaining_usd is None
                                     else str(self.budget_remaining_usd))
        return d


def _get_message(self: CallResult):
    """The SDK ``Message``: a stored dict is rebuilt on first read (constructing one costs ~0.1 ms)."""
    msg = self.__dict__.get("_message")
    if isinstance(msg, dict):
        from anthropic.types import Message

        msg = self.__dict__["_message"] = Message.construct(**msg)
    elif hasattr(msg, "sdk") and hasattr(msg, "data"):  # a stream's: the SDK's own accumulation, run now
        msg = self.__dict__["_message"] = msg.sdk()
    return msg


def message_data(result: CallResult) -> dict | None:
    """The message as a JSON-ready dict, without building the SDK ``Message`` when it is still the API's JSON."""
    msg = result.__dict__.get("_message")
    if msg is None or isinstance(msg, dict):
        return msg
    if hasattr(msg, "sdk") and hasattr(msg, "data"):  # a stream's message, not built as the SDK's yet
        return msg.data
    return msg.to_dict(mode="json", warnings=False)


def _set_message(self: CallResult, value) -> None:
    self.__dict__["_message"] = value


CallResult.message = property(_get_message, _set_message)  # after @dataclass, so __init__ sets it through this


# Statuses a ledger row can have.
STATUS_OK, STATUS_ERROR, STATUS_CACHED, STATUS_BLOCKED = "ok", "error", "cached", "blocked"
CALL_STATUSES = frozenset({STATUS_OK, STATUS_ERROR, STATUS_CACHED, STATUS_BLOCKED})  # what a calls row may say


@dataclass
class CallRecord:
    """One ledger row: a call attempt that reached a decision (never holds a key)."""

    id: str
    ts: datetime  # UTC, timezone-aware
    user: str
    model: str
    status: str  # ok | error | cached | blocked
    error_code: str | None = None
    usage: Usage = field(default_factory=Usage)
    tokens_saved: int = 0
    cost_usd: Decimal = Decimal("0")
    price_version: str | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    streamed: bool = False
    retries: int = 0
    request_id: str | None = None
    key_label: str | None = None
    prompt_sha256: str | None = None
    prompt_text: str | None = None  # only when TOLLGATE_STORE_PROMPTS=1
    source: str = "library"  # console | cli | library | demo
    unpriced: bool = False
    detail: str | None = None  # reason for a refusal, analyst-readable, scrubbed
    cost_parts: dict[str, Decimal] | None = None  # USD per part (core.catalog.pricing.COST_PARTS); None: not split
    api_key_id: str | None = None  # the Tollgate key's public id (gateway calls), never the key
    run_id: str | None = None  # the batch run (core/batches) this row belongs to
    row_index: int | None = None  # its row number in that run
    batch: bool = False  # priced at the Message Batches discount
    idempotency_key: str | None = None  # unique in the ledger: one billed row per key
