"""The byte bound holds for any text: the simulator's tokenizer never passes it (seeded random texts)."""

from __future__ import annotations

import random

import pytest

from core.guards import blocks
from core.guards.tokens import (
    BOUND_REQUEST_OVERHEAD,
    MESSAGE_OVERHEAD,
    REQUEST_OVERHEAD,
    bound_content,
    bound_request,
    estimate_request,
    estimate_text,
    media_tokens,
)
from core.simulator.tokenizer import count_content, count_request, count_text

# Code point ranges a prompt may draw from: ASCII, Latin-1, Cyrillic, CJK, Hangul, symbols, emoji,
# variation selectors and joiners, and the astral planes.
RANGES = [(0x20, 0x7E), (0x09, 0x0D), (0xA0, 0x24F), (0x400, 0x4FF), (0x3040, 0x30FF), (0x4E00, 0x9FFF),
          (0xAC00, 0xD7A3), (0x2000, 0x2BFF), (0xFE00, 0xFE0F), (0x200B, 0x200D), (0x1F300, 0x1FAFF),
          (0x20000, 0x2A6DF), (0x0, 0x1F)]


def random_text(rng: random.Random) -> str:
    out = []
    for _ in range(rng.randint(0, 12)):
        lo, hi = rng.choice(RANGES)
        out.append("".join(chr(rng.randint(lo, hi)) for _ in range(rng.randint(1, 40))))
    return "".join(out)


def random_content(rng: random.Random):
    if rng.random() < 0.4:
        return random_text(rng) or "x"
    blocks = []
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(["text", "tool_use", "tool_result", "other"])
        if kind == "text":
            blocks.append({"type": "text", "text": random_text(rng)})
        elif kind == "tool_use":
            blocks.append({"type": "tool_use", "id": "t1", "name": random_text(rng)[:20],
                           "input": {random_text(rng)[:10]: [random_text(rng), rng.random(), None, True]}})
        elif kind == "tool_result":
            blocks.append({"type": "tool_result", "tool_use_id": "t1", "content": random_text(rng)})
        else:
            blocks.append({"type": "thinking", "thinking": random_text(rng), "signature": random_text(rng)})
    return blocks


@pytest.mark.parametrize("tokenizer", ["v1", "v2"])
def test_no_text_has_more_tokens_than_utf8_bytes(tokenizer):
    rng = random.Random(20261201)
    for _ in range(800):
        text = random_text(rng)
        assert count_text(text, tokenizer) <= len(text.encode("utf-8")), repr(text)


@pytest.mark.parametrize("tokenizer", ["v1", "v2"])
def test_no_request_passes_the_bound(tokenizer):
    rng = random.Random(7)
    for _ in range(300):
        messages = [{"role": rng.choice(["user", "assistant"]), "content": random_content(rng)}
                    for _ in range(rng.randint(1, 4))]
        system = rng.choice([None, random_text(rng), [{"type": "text", "text": random_text(rng)}]])
        tools = rng.choice([None, [{"name": "f", "description": random_text(rng), "input_schema": {}}]])
        for m in messages:
            assert count_content(m["content"], tokenizer) <= bound_content(m["content"])
        assert count_request(system, messages, tokenizer, tools) <= bound_request(system, messages, tools)


def test_pdfs_and_url_or_file_sources_have_no_offline_bound():
    pdf = {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}}
    url_image = {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}
    file_image = {"type": "image", "source": {"type": "file", "file_id": "file_011CNha8iCJcU1wXNR6q4V8w"}}
    url_doc = {"type": "document", "source": {"type": "url", "url": "https://example.com/a.pdf"}}
    text_doc = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "東京"}}
    for block in (pdf, url_image, file_image, url_doc):
        assert bound_request(None, [{"role": "user", "content": [block]}]) is None, block
        assert bound_request(None, [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t", "content": [block]}]}]) is None
    assert bound_request(None, [{"role": "user", "content": [text_doc]}]) > BOUND_REQUEST_OVERHEAD + 6


def test_the_estimate_reads_every_block_the_size_limit_reads():
    # One walk over a message's texts serves the size limit and the estimate: a text document, a search
    # result, thinking and tool input (as its JSON text) all count towards the estimate.
    text = "x" * 400  # 100 tokens at 4 characters a token
    content = [{"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": text}},
               {"type": "search_result", "title": "t", "source": "https://example.test",
                "content": [{"type": "text", "text": text}]},
               {"type": "thinking", "thinking": text, "signature": "sig"},
               {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"q": text}}]
    read = list(blocks.texts(content))
    assert read.count(text) == 3 and '{"q": "' + text + '"}' in read
    assert estimate_request(None, [{"role": "user", "content": content}]) == (
        REQUEST_OVERHEAD + MESSAGE_OVERHEAD + sum(estimate_text(t) for t in read) + media_tokens(content))
    assert sum(estimate_text(t) for t in read) > 400
