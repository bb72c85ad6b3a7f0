"""The simulator's own tokenizer: BPE-like pieces, deliberately unlike ``core.guards.tokens``' estimate.

It is what the simulator bills, so tests can catch a client-side under-estimate. Like a real
byte-level BPE, every token covers at least one UTF-8 byte of its text, so a text never has
more tokens than bytes: each CJK character or unusual symbol is a token, an emoji two, a run
of ASCII letters one to several pieces (split at case changes, as base64 or camelCase are),
digits in threes, punctuation mostly one a character. "v2" (the 2026 tokenizer) splits about
30 % of words once more. Overheads are per request, per message and per content block.
Images and PDFs are billed from their bytes (``media``): pixels / 750 after scaling, 1,600 a page.
"""

from __future__ import annotations

import json
import re
import zlib

from .media import UNREAD_MEDIA_TOKENS, decode_base64, image_block_tokens, is_pdf, pdf_pages, pdf_text

REQUEST_TOKENS = 3  # start of the request and the assistant turn
MESSAGE_TOKENS = 4  # role and separators
BLOCK_TOKENS = 1  # a content block in a list
TOOLS_TOKENS = 300  # the tool-use system prompt added when tools are given
MEDIA_TOKENS = UNREAD_MEDIA_TOKENS  # an unreadable image, or a PDF page: about what a 1-megapixel image costs

_PIECE = re.compile(r" ?[A-Za-z]+| ?[0-9]+|\s+|([!-/:-@\[-`{-~])\1*|[^\x00-\x7f]", re.ASCII)
_CASE = re.compile(r"[A-Z]+[a-z]*|[a-z]+")


def _word(word: str, tokenizer: str) -> int:
    n = sum(max(1, -(-len(part) // 6)) for part in _CASE.findall(word))
    if tokenizer == "v2" and len(word) >= 2 and zlib.crc32(word.encode()) % 10 < 3:
        n = min(len(word), n + 1)
    return n


def _char(ch: str) -> int:
    """A non-ASCII character: emoji and other astral symbols are two tokens, the rest one."""
    return 2 if ord(ch) >= 0x10000 else 1


def count_text(text: str, tokenizer: str = "v1") -> int:
    """Tokens in one text; never more than its UTF-8 bytes."""
    total = 0
    for m in _PIECE.finditer(text or ""):
        piece = m.group(0)
        core = piece.lstrip(" ") if len(piece) > 1 else piece
        if core[:1].isascii() and core[:1].isalpha():
            total += _word(core, tokenizer)
        elif core[:1].isdigit() and core.isascii():
            total += -(-len(core) // 3)
        elif piece.isspace():
            total += piece.count("\n") + -(-len(piece.replace("\n", "")) // 4)
        elif m.group(1):  # a run of one punctuation character: "----", "===="
            total += -(-len(piece) // 4)
        else:
            total += _char(piece)
    return total


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def count_block(block, tokenizer: str = "v1") -> int:
    """Tokens of one content block (a bare string is a text block)."""
    if isinstance(block, str):
        return BLOCK_TOKENS + count_text(block, tokenizer)
    if not isinstance(block, dict):
        return BLOCK_TOKENS + count_text(_json(block), tokenizer)
    kind = block.get("type", "text")
    if kind == "text":
        body = count_text(str(block.get("text", "")), tokenizer)
    elif kind == "image":
        body = image_block_tokens(block.get("source"))
    elif kind == "document":  # its title and context are read too
        body = _document(block.get("source") or {}, tokenizer) + sum(
            count_text(block[k], tokenizer) for k in ("title", "context") if isinstance(block.get(k), str))
    elif kind == "tool_result":
        body = count_content(block.get("content", ""), tokenizer)
    elif kind == "tool_use":
        body = count_text(str(block.get("name", "")), tokenizer) + count_text(_json(block.get("input")), tokenizer)
    else:
        body = count_text(_json({k: v for k, v in block.items() if k != "cache_control"}), tokenizer)
    return BLOCK_TOKENS + body


def _document(source: dict, tokenizer: str) -> int:
    """A text document: its text; a content document: its blocks; a PDF: 1,600 a page plus its text."""
    if source.get("type") == "text":
        return count_text(str(source.get("data", "")), tokenizer)
    if source.get("type") == "content":
        return count_content(source.get("content"), tokenizer)
    raw = decode_base64(source.get("data") or "") if source.get("type") == "base64" else None
    if not is_pdf(raw):
        return MEDIA_TOKENS
    return pdf_pages(raw) * MEDIA_TOKENS + count_text(" ".join(pdf_text(raw)), tokenizer)


def count_content(content, tokenizer: str = "v1") -> int:
    """Tokens of a message's ``content``: a string, or a list of blocks."""
    if isinstance(content, str):
        return count_text(content, tokenizer)
    return sum(count_block(b, tokenizer) for b in content or ())


def count_request(system, messages, tokenizer: str = "v1", tools=None) -> int:
    """Every input token of a Messages request, as the simulator bills it."""
    total = REQUEST_TOKENS + count_content(system, tokenizer) if system else REQUEST_TOKENS
    if tools:
        total += TOOLS_TOKENS + count_text(_json(tools), tokenizer)
    for msg in messages or ():
        total += MESSAGE_TOKENS + count_content(msg.get("content"), tokenizer)
    return total
