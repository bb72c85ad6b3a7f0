"""Prompt caching: prefixes marked with cache_control are written once, then read within their TTL.

A breakpoint is a tool, system or message content block carrying ``cache_control`` (or the last
block, for a top-level ``cache_control``); its prefix is everything from the start of the request
(tools first) up to and including that block. The
prefix's tokens are counted by the simulator's own tokenizer, as ``count_request`` counts the
whole request, so the three usage figures (uncached input, cache writes, cache reads) add up.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass

from .tokenizer import MESSAGE_TOKENS, REQUEST_TOKENS, TOOLS_TOKENS, count_block, count_text

TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}


@dataclass(frozen=True)
class Breakpoint:
    """One cacheable prefix: its key, its tokens and the TTL it asks for."""

    key: str
    tokens: int
    ttl: str  # "5m" | "1h"


@dataclass(frozen=True)
class PromptUsage:
    """How the prompt's tokens split: uncached input, writes per TTL, reads."""

    input_tokens: int
    cache_creation_5m: int = 0
    cache_creation_1h: int = 0
    cache_read: int = 0

    @property
    def cache_creation(self) -> int:
        return self.cache_creation_5m + self.cache_creation_1h

    @property
    def rate_limited_input(self) -> int:
        """What counts against input tokens per minute: cache reads do not."""
        return self.input_tokens + self.cache_creation

    def as_api(self) -> dict:
        """The cache and input part of an API ``usage`` object."""
        return {"input_tokens": self.input_tokens,
                "cache_creation_input_tokens": self.cache_creation,
                "cache_read_input_tokens": self.cache_read,
                "cache_creation": {"ephemeral_5m_input_tokens": self.cache_creation_5m,
                                   "ephemeral_1h_input_tokens": self.cache_creation_1h}}


def _strip(block):
    if isinstance(block, dict) and "cache_control" in block:
        return {k: v for k, v in block.items() if k != "cache_control"}
    return block


def find_breakpoints(model_id: str, system, messages, tokenizer: str, tools=None, auto=None) -> list[Breakpoint]:
    """Every cache_control block (tools, system, messages) in request order, with its prefix key and tokens.

    ``auto`` is the request's top-level ``cache_control``: it marks the last block of the last message.
    """
    digest = hashlib.sha256(model_id.encode())
    tokens = REQUEST_TOKENS
    found: list[Breakpoint] = []

    def feed(unit) -> None:
        # cache_control itself is not part of the cached content: changing a TTL still hits.
        digest.update(json.dumps(unit, sort_keys=True, separators=(",", ":"), default=str).encode())
        digest.update(b"\x1e")

    def mark(block) -> None:
        cc = block.get("cache_control") if isinstance(block, dict) else None
        if cc:
            found.append(Breakpoint(digest.copy().hexdigest(), tokens, cc.get("ttl", "5m")))

    for i, tool in enumerate(tools or ()):
        feed(["tool", _strip(tool)])
        if isinstance(tool, dict) and tool.get("cache_control"):  # a breakpoint after this tool definition
            found.append(Breakpoint(digest.copy().hexdigest(), tokens + _tools_tokens(tools[:i + 1], tokenizer),
                                    tool["cache_control"].get("ttl", "5m")))
    if tools:
        tokens += _tools_tokens(tools, tokenizer)
    if isinstance(system, str) and system:
        feed(["system", system])
        tokens += count_text(system, tokenizer)
    elif isinstance(system, list):
        for block in system:
            feed(["system", _strip(block)])
            tokens += count_block(block, tokenizer)
            mark(block)
    for msg in messages:
        feed(["message", msg.get("role")])
        tokens += MESSAGE_TOKENS
        content = msg.get("content")
        if isinstance(content, str):
            feed(content)
            tokens += count_text(content, tokenizer)
            continue
        for block in content or ():
            feed(_strip(block))
            tokens += count_block(block, tokenizer)
            mark(block)
    if auto is not None and messages:  # top-level cache_control: a breakpoint on the last block
        key = digest.copy().hexdigest()
        if not found or found[-1].key != key:
            found.append(Breakpoint(key, tokens, auto.get("ttl", "5m")))
    return found


def _tools_tokens(tools, tokenizer: str) -> int:
    return TOOLS_TOKENS + count_text(json.dumps(tools, ensure_ascii=False, sort_keys=True, default=str), tokenizer)


class PromptCache:
    """In-memory prefix cache with per-entry expiry; ``clock.monotonic()`` in seconds."""

    def __init__(self, clock) -> None:
        self._clock = clock
        self._expiry: dict[str, float] = {}
        self._lock = threading.Lock()

    def account(self, breakpoints: list[Breakpoint], prompt_tokens: int, *,
                commit: bool = True) -> PromptUsage:
        """Split ``prompt_tokens``: the longest live prefix is read, later breakpoints are written.

        With ``commit`` the writes are stored and the reads refresh their TTL, as the API does.
        """
        if not breakpoints:
            return PromptUsage(input_tokens=prompt_tokens)
        with self._lock:
            now = self._clock.monotonic()
            hit = -1
            for i in range(len(breakpoints) - 1, -1, -1):
                if self._expiry.get(breakpoints[i].key, -1.0) > now:
                    hit = i
                    break
            read = breakpoints[hit].tokens if hit >= 0 else 0
            covered = read
            created = {"5m": 0, "1h": 0}
            for bp in breakpoints[hit + 1:]:
                segment = max(0, bp.tokens - covered)
                created[bp.ttl] += segment
                covered = max(covered, bp.tokens)
            if commit:
                for bp in breakpoints:
                    self._expiry[bp.key] = max(self._expiry.get(bp.key, now), now + TTL_SECONDS[bp.ttl])
                if len(self._expiry) > 10_000:  # keep memory bounded in long-running use
                    self._expiry = {k: t for k, t in self._expiry.items() if t > now}
        covered = min(covered, prompt_tokens)
        return PromptUsage(input_tokens=prompt_tokens - covered, cache_creation_5m=created["5m"],
                           cache_creation_1h=created["1h"], cache_read=min(read, prompt_tokens))

    def clear(self) -> None:
        with self._lock:
            self._expiry.clear()

    def __len__(self) -> int:
        return len(self._expiry)
