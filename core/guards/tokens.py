"""Offline token estimates per tokenizer family, for validation and budget reservations.

Anthropic's ``count_tokens`` endpoint is the authority but costs a round trip and has
its own rate limit, so the guard estimates locally: about 4 characters a token for the
"v1" tokenizer, and 30 % more tokens for the "v2" tokenizer of Opus 4.7+ and Haiku 5.5.
That estimate can be low (CJK is about a token a character), so budgets reserve ``bound_request``
instead: a byte-level BPE never makes more tokens than the UTF-8 bytes of its text.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

CHARS_PER_TOKEN_V1 = 4.0
V2_FACTOR = 1.3
MESSAGE_OVERHEAD = 4  # role and separators, per message
REQUEST_OVERHEAD = 3
MEDIA_TOKENS = 1600  # an image or document block: about what a 1-megapixel image costs


def estimate_text(text: str, tokenizer: str = "v1") -> int:
    """Tokens in one text (0 for empty)."""
    if not text:
        return 0
    base = math.ceil(len(text) / CHARS_PER_TOKEN_V1)
    return math.ceil(base * V2_FACTOR) if tokenizer == "v2" else base


def iter_texts(content) -> Iterable[str]:
    """Every text in a message ``content`` (a string or a list of blocks)."""
    if isinstance(content, str):
        yield content
        return
    for block in content or ():
        if isinstance(block, str):
            yield block
        elif isinstance(block, dict):
            if block.get("type", "text") == "text":
                yield str(block.get("text", ""))
            elif block.get("type") == "tool_result":
                yield from iter_texts(block.get("content", ""))
            elif block.get("type") == "tool_use":
                yield str(block.get("input", ""))


def count_media(content) -> int:
    """Image and document blocks in a message ``content`` (tool results included)."""
    if isinstance(content, str):
        return 0
    n = 0
    for block in content or ():
        if isinstance(block, dict):
            if block.get("type") in ("image", "document"):
                n += 1
            elif block.get("type") == "tool_result":
                n += count_media(block.get("content", ""))
    return n


def estimate_request(system, messages, tokenizer: str = "v1") -> int:
    """Input tokens of a whole Messages request: system, every message, media and overheads."""
    total = REQUEST_OVERHEAD
    if system:
        total += sum(estimate_text(t, tokenizer) for t in iter_texts(system))
    for msg in messages or ():
        content = msg.get("content")
        total += (MESSAGE_OVERHEAD + sum(estimate_text(t, tokenizer) for t in iter_texts(content))
                  + MEDIA_TOKENS * count_media(content))
    return total


# --- the upper bound budgets reserve ---------------------------------------------------
# Every token of a byte-level BPE covers at least one byte, so text costs at most its UTF-8
# bytes; the special tokens around it are bounded by these overheads (assumed, generous).
BOUND_REQUEST_OVERHEAD = 16  # per request
BOUND_MESSAGE_OVERHEAD = 8  # per message: role and separators
BOUND_BLOCK_OVERHEAD = 4  # per content block
BOUND_TOOLS_OVERHEAD = 1000  # the tool-use system prompt the API adds when tools are given


def _bytes(text) -> int:
    text = str(text)
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _json_bytes(value) -> int:
    return _bytes(json.dumps(value, ensure_ascii=False, sort_keys=True, default=str))


def bound_block(block) -> int | None:
    """Most tokens one content block can be; None for an image or a binary document (no byte bound)."""
    if isinstance(block, str):
        return BOUND_BLOCK_OVERHEAD + _bytes(block)
    if not isinstance(block, dict):
        return BOUND_BLOCK_OVERHEAD + _json_bytes(block)
    kind = block.get("type", "text")
    if kind == "image":
        return None
    if kind == "text":
        return BOUND_BLOCK_OVERHEAD + _bytes(block.get("text", ""))
    if kind == "document":
        source = block.get("source") or {}
        if source.get("type") == "content":
            inner = bound_content(source.get("content"))
            return None if inner is None else BOUND_BLOCK_OVERHEAD + _json_bytes(block) + inner
        if source.get("type") != "text":
            return None
    if kind == "tool_result":
        inner = bound_content(block.get("content", ""))
        return None if inner is None else BOUND_BLOCK_OVERHEAD + inner
    return BOUND_BLOCK_OVERHEAD + _json_bytes(block)  # its text is inside its JSON


def bound_content(content) -> int | None:
    """Most tokens of a message ``content`` (a string or blocks); None when a block has no byte bound."""
    if isinstance(content, str):
        return _bytes(content)
    total = 0
    for block in content or ():
        n = bound_block(block)
        if n is None:
            return None
        total += n
    return total


def bound_request(system, messages, tools=None) -> int | None:
    """An upper bound on a request's input tokens for any byte-level tokenizer, or None (images, PDFs)."""
    total = BOUND_REQUEST_OVERHEAD
    parts = [bound_content(system) if system else 0]
    if tools:
        parts.append(BOUND_TOOLS_OVERHEAD + _json_bytes(tools))
    parts += [BOUND_MESSAGE_OVERHEAD + n if (n := bound_content(m.get("content"))) is not None else None
              for m in messages or ()]
    return None if None in parts else total + sum(parts)
