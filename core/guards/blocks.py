"""The texts a request carries, block by block: what the size limit, control-character check and
injection screen read.

Every block the model reads as text is walked: text blocks, ``tool_result`` content (text or
nested blocks), ``document`` text and content sources with their title and context,
``search_result`` content and title, and thinking. Binary data (base64 images and PDFs, file
ids, URLs of media) is not text and is left out; tool input is included as its JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping


def texts(content) -> Iterator[str]:
    """Every text in a message ``content`` or ``system`` (a string or a list of blocks), in order."""
    if isinstance(content, str):
        yield content
        return
    for block in content or ():
        if isinstance(block, str):
            yield block
        elif isinstance(block, Mapping):
            yield from _block(block)


def _block(block: Mapping) -> Iterator[str]:
    kind = block.get("type", "text")
    if kind == "text":
        yield str(block.get("text", ""))
    elif kind == "tool_result":
        yield from texts(block.get("content") or ())
    elif kind == "document":
        yield from _labels(block)
        source = block.get("source")
        if isinstance(source, Mapping):
            if source.get("type") == "text":
                yield str(source.get("data", ""))
            elif source.get("type") == "content":
                yield from texts(source.get("content") or ())
    elif kind == "search_result":
        yield from _labels(block)
        yield from texts(block.get("content") or ())
    elif kind == "thinking":
        yield str(block.get("thinking", ""))
    elif kind in ("tool_use", "server_tool_use"):
        yield json.dumps(block.get("input", {}), ensure_ascii=False, default=str)


def _labels(block: Mapping) -> Iterator[str]:
    """A document's or search result's title and context: text the model reads beside the source."""
    for name in ("title", "context"):
        value = block.get(name)
        if isinstance(value, str) and value:
            yield value
