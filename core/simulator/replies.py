"""Deterministic replies: English-ish text seeded by the request, as a message or as SSE events.

One output token per word; a reply has 12 to 80 words, cut at ``max_tokens`` (stop_reason
"max_tokens") or at the first stop sequence (stop_reason "stop_sequence"). Replies with tools,
thinking or citations are planned in ``compose``; their SSE events are built in ``stream_events``.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import uuid
from dataclasses import dataclass

from .catalogue import ModelInfo
from .prompt_cache import PromptUsage

MIN_WORDS, MAX_WORDS = 12, 80

_VOCAB = (
    "the a an this that every some each our your their its of to in on for with from by about "
    "across after before between through under over into model answer request budget token cost "
    "limit ledger user team report query result value number price month window cache prompt "
    "reply system service client server signal pattern summary detail question reason choice "
    "plan step change review record entry table column metric trend risk check test is are was "
    "will can should may might must helps shows keeps makes takes gives finds builds explains "
    "measures tracks reduces improves follows compares covers clear simple careful steady quick "
    "small large recent useful exact stable likely common early later often usually already "
    "still also then now here there and but so because while when if"
)
_WORDS = tuple(_VOCAB.split())


def new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def request_seed(model_id: str, system, messages, max_tokens: int) -> int:
    """A stable seed for a request's reply."""
    raw = json.dumps([model_id, system, messages, max_tokens], sort_keys=True,
                     separators=(",", ":"), default=str)
    return int.from_bytes(hashlib.sha256(raw.encode()).digest()[:8], "big")


def generate_words(seed: int) -> list[str]:
    """The full reply for a seed: sentences of 5 to 13 words, the first capitalised."""
    rng = random.Random(seed)
    count = rng.randint(MIN_WORDS, MAX_WORDS)
    words: list[str] = []
    sentence_left = 0
    for i in range(count):
        word = rng.choice(_WORDS)
        if sentence_left == 0:
            word = word.capitalize()
            remaining = count - i
            sentence_left = rng.randint(5, 13)
            if remaining - sentence_left < 4:  # no stub sentence at the end
                sentence_left = remaining
        sentence_left -= 1
        if sentence_left == 0:
            word += "."
        elif sentence_left > 2 and rng.random() < 0.08:
            word += ","
        words.append(word)
    words[-1] = words[-1].rstrip(".,") + "."
    return words


@dataclass(frozen=True)
class Reply:
    """The generated answer: its content blocks (as the API returns them) and how it ended.

    ``thinking_tokens`` is the part of ``output_tokens`` spent thinking (None: no thinking ran);
    ``web_search_requests`` / ``web_fetch_requests`` count the server tool calls made.
    """

    content: tuple[dict, ...]
    output_tokens: int
    stop_reason: str
    stop_sequence: str | None
    thinking_tokens: int | None = None
    web_search_requests: int = 0
    web_fetch_requests: int = 0

    @property
    def text(self) -> str:
        """The text blocks joined, as a text-only client shows the answer."""
        return "".join(b["text"] for b in self.content if b["type"] == "text")

    def chunks(self) -> list[str]:
        """Text deltas, one per word, that join back to ``text``."""
        return word_chunks(self.text)

    @property
    def server_tool_use(self) -> dict | None:
        if not (self.web_search_requests or self.web_fetch_requests):
            return None
        return {"web_search_requests": self.web_search_requests, "web_fetch_requests": self.web_fetch_requests}


def word_chunks(text: str) -> list[str]:
    """A text cut before each space: the deltas a stream sends, one a word."""
    first, *rest = text.split(" ")
    return [c for c in [first, *(" " + p for p in rest)] if c]


def text_reply(text: str, output_tokens: int, stop_reason: str, stop_sequence: str | None = None) -> Reply:
    return Reply(({"type": "text", "text": text},), output_tokens, stop_reason, stop_sequence)


def make_reply(model_id: str, system, messages, max_tokens: int, stop_sequences=()) -> Reply:
    """The deterministic text reply for a request (no tools, thinking or citations)."""
    words = generate_words(request_seed(model_id, system, messages, max_tokens))
    stop_reason = "end_turn"
    if len(words) > max_tokens:
        words, stop_reason = words[:max_tokens], "max_tokens"
    text = " ".join(words)
    hits = [(text.find(s), s) for s in stop_sequences if s in text]
    if hits:
        at, seq = min(hits)
        text = text[:at]
        return text_reply(text, max(1, len(text.split())), "stop_sequence", seq)
    return text_reply(text, len(words), stop_reason)


def echo_reply(messages, max_tokens: int) -> Reply:
    """The last user message's text, word for word (the ``echo`` fault), cut at ``max_tokens`` words."""
    content = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    text = content if isinstance(content, str) else "".join(
        b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    words = text.split(" ")
    if len(words) > max_tokens:
        return text_reply(" ".join(words[:max_tokens]), max_tokens, "max_tokens")
    return text_reply(text, max(1, len(words)), "end_turn")


@dataclass(frozen=True)
class Tier:
    """Where the request ran, as usage reports it."""

    service_tier: str = "standard"  # "standard" | "priority" | "batch"
    inference_geo: str = "global"  # "global" | "us"


def usage_dict(prompt: PromptUsage, reply: Reply, tier: Tier = Tier()) -> dict:
    """The whole ``usage`` object: input and cache counts, output, tier and geo, server tools, thinking."""
    usage = {**prompt.as_api(), "output_tokens": reply.output_tokens, "service_tier": tier.service_tier,
             "inference_geo": tier.inference_geo}
    if reply.server_tool_use is not None:
        usage["server_tool_use"] = reply.server_tool_use
    if reply.thinking_tokens is not None:
        usage["output_tokens_details"] = {"thinking_tokens": reply.thinking_tokens}
    return usage


def message_json(model: ModelInfo, reply: Reply, prompt: PromptUsage, tier: Tier = Tier()) -> dict:
    """A non-streaming Messages response body."""
    return {"id": new_id("msg_sim_"), "type": "message", "role": "assistant", "model": model.id,
            "content": [dict(b) for b in reply.content],
            "stop_reason": reply.stop_reason, "stop_sequence": reply.stop_sequence, "stop_details": None,
            "usage": usage_dict(prompt, reply, tier)}


# --- models ------------------------------------------------------------------------

_DATED = re.compile(r"-(\d{4})(\d{2})(\d{2})$")
_LINES = {"haiku", "sonnet", "opus", "fable", "mythos"}


def display_name(model_id: str) -> str:
    """"claude-opus-4-5-20251101" -> "Claude Opus 4.5"; "claude-3-5-sonnet-…" -> "Claude 3.5 Sonnet"."""
    parts = _DATED.sub("", model_id).split("-")
    out: list[str] = []
    for part in parts:
        if part.isdigit() and out and out[-1][-1:].isdigit():
            out[-1] += "." + part
        else:
            out.append(part if part.isdigit() else part.capitalize())
    return " ".join(out)


def model_json(info: ModelInfo) -> dict:
    """A Models API entry; created_at from the id's date, else the epoch (as the API allows)."""
    m = _DATED.search(info.id)
    created = f"{m[1]}-{m[2]}-{m[3]}T00:00:00Z" if m else "1970-01-01T00:00:00Z"
    return {"type": "model", "id": info.id, "display_name": display_name(info.id),
            "created_at": created, "lifecycle": "retired" if info.status == "retired" else "active",
            "line": info.family if info.family in _LINES else None,
            "max_input_tokens": info.context_window, "max_tokens": info.max_output_tokens}
