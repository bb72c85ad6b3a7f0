"""The server tools the simulator runs: web search (two results, cited text) and web fetch (a page as a document).

Each returns the planned blocks (with their output tokens) for one call: an optional short text, the
``server_tool_use`` block, its result block (no output tokens: the API bills server results as input
in later turns) and the answer. ``usage.server_tool_use`` counts one request per call.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re

from .replies import generate_words
from .schema_input import prompt_word
from .tokenizer import count_text

Planned = list[tuple[dict, int]]  # (block, output tokens)
_URL = re.compile(r"https?://[^\s\"'<>]+")
RETRIEVED_AT = "2026-11-30T12:00:00Z"


def _text(text: str) -> tuple[dict, int]:
    return {"type": "text", "text": text}, len(text.split())


def _use(srv: str, name: str, tool_input: dict, tokenizer: str) -> tuple[dict, int]:
    block = {"type": "server_tool_use", "id": srv, "name": name, "input": tool_input}
    return block, count_text(json.dumps(tool_input), tokenizer)


def web_search(prompt: str, seed: int, srv: str, *, forced: bool, tokenizer: str) -> Planned:
    """A search for the prompt: two results on example.com, then text citing the first."""
    query = " ".join(prompt.split())[:200] or "example"
    word = prompt_word(query, exclude=["web", "search"])
    results = [{"type": "web_search_result", "url": f"https://example.com/{word.lower()}/{n}",
                "title": f"{word} - simulated result {n}",
                "encrypted_content": base64.b64encode(hashlib.sha256(f"{seed}:{n}".encode()).digest()).decode(),
                "page_age": "November 30, 2026"} for n in (1, 2)]
    found = {"type": "web_search_tool_result", "tool_use_id": srv, "content": results}
    answer = {"type": "text", "text": " ".join(generate_words(seed)), "citations": [
        {"type": "web_search_result_location", "url": results[0]["url"], "title": results[0]["title"],
         "encrypted_index": base64.b64encode(f"{seed}:1".encode()).decode(),
         "cited_text": f"A simulated page about {word}."}]}
    planned = [] if forced else [_text("I'll search the web for that.")]
    return [*planned, _use(srv, "web_search", {"query": query}, tokenizer), (found, 0),
            (answer, len(answer["text"].split()))]


def web_fetch(prompt: str, seed: int, srv: str, *, forced: bool, tokenizer: str) -> Planned:
    """A fetch of the prompt's first URL (else https://example.com/): the page as a text document, then text."""
    m = _URL.search(prompt)
    url = m.group(0).rstrip(".,;:!?)") if m else "https://example.com/"
    page = f"Simulated page at {url}. " + " ".join(generate_words(seed ^ 0xFE7C))
    document = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": page},
                "title": f"Simulated page at {url}"}
    found = {"type": "web_fetch_tool_result", "tool_use_id": srv,
             "content": {"type": "web_fetch_result", "url": url, "retrieved_at": RETRIEVED_AT,
                         "content": document}}
    planned = [] if forced else [_text("I'll fetch that page.")]
    return [*planned, _use(srv, "web_fetch", {"url": url}, tokenizer), (found, 0),
            _text(" ".join(generate_words(seed)))]
