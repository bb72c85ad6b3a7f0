"""Cited text blocks for the documents and search results of a request that ask for citations.

Each citable source (``citations: {"enabled": true}``) gets one text block quoting its start, with the
location type the API uses: char_location (text document), page_location (PDF), content_block_location
(content document), search_result_location (search_result block, also inside a tool_result).
Indexes count every document, and every search result, in request order, as the API's do.
"""

from __future__ import annotations

import re

from .media import decode_base64, is_pdf, pdf_text

MAX_CITED = 4  # sources quoted in one answer
QUOTE_CHARS = 200
_SENTENCE = re.compile(r"(?<=[.!?])\s|\n")


def first_sentence(text: str) -> str:
    """The text up to its first sentence end or line break, at most 200 characters."""
    text = text.strip()
    m = _SENTENCE.search(text)
    return (text[:m.start()] if m else text)[:QUOTE_CHARS].strip()


def _sources(messages):
    """(kind, block, index) for every document and search_result, including those inside tool results."""
    docs = results = 0
    for msg in messages:
        content = msg.get("content")
        for block in content if isinstance(content, list) else ():
            inner = block.get("content") if block.get("type") == "tool_result" else None
            for b in [block, *(inner if isinstance(inner, list) else ())]:
                if b.get("type") == "document":
                    yield "document", b, docs
                    docs += 1
                elif b.get("type") == "search_result":
                    yield "search_result", b, results
                    results += 1


def _enabled(block: dict) -> bool:
    return isinstance(block.get("citations"), dict) and block["citations"].get("enabled") is True


def citation_for(kind: str, block: dict, index: int) -> dict | None:
    """The citation of a source's opening, or None when the simulator cannot read it (url or file sources)."""
    if kind == "search_result":
        first = block["content"][0]["text"]
        return {"type": "search_result_location", "cited_text": first, "search_result_index": index,
                "source": block["source"], "title": block.get("title"), "start_block_index": 0,
                "end_block_index": 1}
    source, title = block.get("source") or {}, block.get("title")
    if source.get("type") == "text":
        quote = first_sentence(source.get("data", ""))
        start = source.get("data", "").find(quote)
        return {"type": "char_location", "cited_text": quote, "document_index": index, "document_title": title,
                "start_char_index": start, "end_char_index": start + len(quote)}
    if source.get("type") == "content":
        inner = source.get("content")
        first = inner if isinstance(inner, str) else next(
            (b.get("text", "") for b in inner if b.get("type") == "text"), "")
        return {"type": "content_block_location", "cited_text": first, "document_index": index,
                "document_title": title, "start_block_index": 0, "end_block_index": 1}
    raw = decode_base64(source.get("data") or "") if source.get("type") == "base64" else None
    if is_pdf(raw):
        shown = pdf_text(raw)
        return {"type": "page_location", "cited_text": first_sentence(shown[0]) if shown else "",
                "document_index": index, "document_title": title, "start_page_number": 1, "end_page_number": 2}
    return None


def cited_blocks(messages) -> list[dict]:
    """Text blocks, each quoting one citable source with its citation, in request order."""
    blocks = []
    for kind, block, index in _sources(messages):
        if len(blocks) == MAX_CITED:
            break
        citation = citation_for(kind, block, index) if _enabled(block) else None
        if citation is not None:
            quote = citation["cited_text"] or "(see the document)"
            blocks.append({"type": "text", "text": f" {quote}", "citations": [citation]})
    return blocks
