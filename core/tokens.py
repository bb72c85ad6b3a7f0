"""Offline token estimates per tokenizer family, for validation and budget reservations.

Anthropic's ``count_tokens`` endpoint is the authority but costs a round trip and has
its own rate limit, so the guard estimates locally: about 4 characters a token for the
"v1" tokenizer, and 30 % more tokens for the "v2" tokenizer of Opus 4.7+ and Haiku 5.5.
"""

from __future__ import annotations

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
