"""Offline token estimates per tokenizer family, for validation and budget reservations.

Anthropic's ``count_tokens`` endpoint is the authority but costs a round trip and has
its own rate limit, so the guard estimates locally: about 4 characters a token for the
"v1" tokenizer, and 30 % more tokens for the "v2" tokenizer of Opus 4.7+ and Haiku 5.5.
That estimate can be low (CJK is about a token a character), so budgets reserve ``bound_request``
instead: a byte-level BPE never makes more tokens than the UTF-8 bytes of its text, and a base64
image never more than its pixel size allows (core/guards/media.py). PDFs and url/file sources
have no offline bound: the budget gate asks Anthropic's count_tokens for them.
"""

from __future__ import annotations

import json
import math

from core.guards import blocks
from core.guards.media import image_source_tokens

CHARS_PER_TOKEN_V1 = 4.0
V2_FACTOR = 1.3
MESSAGE_OVERHEAD = 4  # role and separators, per message
REQUEST_OVERHEAD = 3
MEDIA_TOKENS = 1600  # an image or document block: about what a 1-megapixel image costs
# With no max_uses, the web searches a request reserves: the model decides how often it searches, so
# this is an assumption, not a bound; a request that gives max_uses is reserved exactly that many.
WEB_SEARCH_DEFAULT_USES = 10
_SERVER_TOOLS = (("web_search_", "web_search_requests"), ("web_fetch_", "web_fetch_requests"))


def estimate_text(text: str, tokenizer: str = "v1") -> int:
    """Tokens in one text (0 for empty)."""
    if not text:
        return 0
    base = math.ceil(len(text) / CHARS_PER_TOKEN_V1)
    return math.ceil(base * V2_FACTOR) if tokenizer == "v2" else base


def media_tokens(content) -> int:
    """Estimated tokens of the image and document blocks in ``content``: a base64 image by its
    pixel size, any other image or document at ``MEDIA_TOKENS`` (tool results included)."""
    if isinstance(content, str):
        return 0
    n = 0
    for block in content or ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "image":
            n += image_source_tokens(block.get("source")) or MEDIA_TOKENS
        elif kind == "document":
            n += MEDIA_TOKENS
        elif kind == "tool_result":
            n += media_tokens(block.get("content", ""))
    return n


def estimate_request(system, messages, tokenizer: str = "v1") -> int:
    """Input tokens of a whole Messages request: system, every message, media and overheads."""
    total = REQUEST_OVERHEAD
    if system:
        total += sum(estimate_text(t, tokenizer) for t in blocks.texts(system))
    for msg in messages or ():
        content = msg.get("content")
        total += (MESSAGE_OVERHEAD + sum(estimate_text(t, tokenizer) for t in blocks.texts(content))
                  + media_tokens(content))
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
    """Most tokens one content block can be; None for a PDF or a url/file source (no offline bound)."""
    if isinstance(block, str):
        return BOUND_BLOCK_OVERHEAD + _bytes(block)
    if not isinstance(block, dict):
        return BOUND_BLOCK_OVERHEAD + _json_bytes(block)
    kind = block.get("type", "text")
    if kind == "image":  # a base64 one by its pixel size; its base64 text is not tokens
        n = image_source_tokens(block.get("source"))
        return None if n is None else BOUND_BLOCK_OVERHEAD + n
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
    """An upper bound on a request's input tokens for any byte-level tokenizer, or None (PDFs, url/file sources)."""
    total = BOUND_REQUEST_OVERHEAD
    parts = [bound_content(system) if system else 0]
    if tools:
        parts.append(BOUND_TOOLS_OVERHEAD + _json_bytes(tools))
    parts += [BOUND_MESSAGE_OVERHEAD + n if (n := bound_content(m.get("content"))) is not None else None
              for m in messages or ()]
    return None if None in parts else total + sum(parts)


def server_tool_uses(tools) -> dict[str, int]:
    """The server-tool uses a request may be billed for, by usage field: each web search or fetch tool's
    ``max_uses``, else ``WEB_SEARCH_DEFAULT_USES`` (what the budget reserves at their per-use price)."""
    uses: dict[str, int] = {}
    for tool in tools or ():
        kind = tool.get("type") if isinstance(tool, dict) else None
        for prefix, name in _SERVER_TOOLS:
            if isinstance(kind, str) and kind.startswith(prefix):
                cap = tool.get("max_uses")
                given = isinstance(cap, int) and not isinstance(cap, bool) and cap >= 0
                uses[name] = uses.get(name, 0) + (cap if given else WEB_SEARCH_DEFAULT_USES)
    return uses
