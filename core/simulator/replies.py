"""Deterministic replies: English-ish text seeded by the request, as a message or as SSE events.

One output token per word; a reply has 12 to 80 words, cut at ``max_tokens`` (stop_reason
"max_tokens") or at the first stop sequence (stop_reason "stop_sequence").
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
    """The generated answer and how it ended."""

    text: str
    output_tokens: int
    stop_reason: str
    stop_sequence: str | None

    def chunks(self) -> list[str]:
        """Text deltas, one per word, that join back to ``text``."""
        first, *rest = self.text.split(" ")
        return [c for c in [first, *(" " + p for p in rest)] if c]


def make_reply(model_id: str, system, messages, max_tokens: int, stop_sequences=()) -> Reply:
    """The deterministic reply for a request."""
    words = generate_words(request_seed(model_id, system, messages, max_tokens))
    stop_reason = "end_turn"
    if len(words) > max_tokens:
        words, stop_reason = words[:max_tokens], "max_tokens"
    text = " ".join(words)
    hits = [(text.find(s), s) for s in stop_sequences if s in text]
    if hits:
        at, seq = min(hits)
        text = text[:at]
        return Reply(text, max(1, len(text.split())), "stop_sequence", seq)
    return Reply(text, len(words), stop_reason, None)


def echo_reply(messages, max_tokens: int) -> Reply:
    """The last user message's text, word for word (the ``echo`` fault), cut at ``max_tokens`` words."""
    content = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    text = content if isinstance(content, str) else "".join(
        b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
    words = text.split(" ")
    if len(words) > max_tokens:
        return Reply(" ".join(words[:max_tokens]), max_tokens, "max_tokens", None)
    return Reply(text, max(1, len(words)), "end_turn", None)


def usage_dict(prompt: PromptUsage, output_tokens: int) -> dict:
    return {**prompt.as_api(), "output_tokens": output_tokens, "service_tier": "standard"}


def message_json(model: ModelInfo, reply: Reply, prompt: PromptUsage) -> dict:
    """A non-streaming Messages response body."""
    return {"id": new_id("msg_sim_"), "type": "message", "role": "assistant", "model": model.id,
            "content": [{"type": "text", "text": reply.text}],
            "stop_reason": reply.stop_reason, "stop_sequence": reply.stop_sequence,
            "usage": usage_dict(prompt, reply.output_tokens)}


def sse(event: str, data: dict) -> bytes:
    """One server-sent event as Anthropic frames it."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def stream_head(model: ModelInfo, prompt: PromptUsage) -> list[bytes]:
    """message_start (input and cache counts, output 1), content_block_start and a ping."""
    message = {"id": new_id("msg_sim_"), "type": "message", "role": "assistant", "model": model.id,
               "content": [], "stop_reason": None, "stop_sequence": None,
               "usage": usage_dict(prompt, 1)}
    return [sse("message_start", {"type": "message_start", "message": message}),
            sse("content_block_start", {"type": "content_block_start", "index": 0,
                                        "content_block": {"type": "text", "text": ""}}),
            sse("ping", {"type": "ping"})]


def text_delta(text: str) -> bytes:
    return sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                       "delta": {"type": "text_delta", "text": text}})


def stream_tail(reply: Reply) -> list[bytes]:
    """content_block_stop, message_delta (stop reason, final output tokens), message_stop."""
    return [sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
            sse("message_delta", {"type": "message_delta",
                                  "delta": {"stop_reason": reply.stop_reason,
                                            "stop_sequence": reply.stop_sequence},
                                  "usage": {"output_tokens": reply.output_tokens}}),
            sse("message_stop", {"type": "message_stop"})]


def stream_error(error_type: str, message: str, request_id: str) -> bytes:
    return sse("error", {"type": "error", "error": {"type": error_type, "message": message},
                         "request_id": request_id})


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
