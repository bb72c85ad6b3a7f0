"""Plans a reply's content blocks by rules a test can predict: tool use, thinking, tool results, citations.

Tool use: ``tool_choice`` {"type": "tool", "name": X} uses X, {"type": "any"} the first tool; with
"auto" (or none given) the first tool, in ``tools`` order, that the last user message's text names
(case-insensitively; "_" and "-" in a name also match a space), after a short text; "none" never.
Of the server tools only web search and web fetch run (in ``server_tools``). A last user turn
holding tool_result blocks is answered with text quoting each result. Thinking (enabled or
adaptive) puts a thinking block (or, for Anthropic's magic string, a redacted_thinking block)
first. Documents and search results with citations enabled are quoted in cited text blocks.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re

from .citations import cited_blocks
from .replies import Reply, echo_reply, generate_words, request_seed
from .schema_input import build_input, prompt_word
from .server_tools import web_fetch, web_search
from .tokenizer import count_text
from .validate import MessagesRequest
from .validate_params import SERVER_TOOLS, thinking_on

MAGIC_REDACTED = ("ANTHROPIC_MAGIC_STRING_TRIGGER_REDACTED_THINKING_"
                  "46C9A13E193C177646C7398A98432ECCCE4C1253D5E2D82641AC0E52CC2876CB")
REDACTED_TOKENS = 48  # what a redacted block is billed (its reasoning is hidden)
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_WORDS = re.compile(r"\S+")
Planned = list[tuple[dict, int]]  # (block, output tokens)
SERVER_RUNS = {"web_search": web_search, "web_fetch": web_fetch}


def block_id(prefix: str, seed: int, n: int = 0) -> str:
    """``prefix`` + 22 base62 characters derived from the request, as "toolu_01…" ids look."""
    number = int.from_bytes(hashlib.sha256(f"{seed}:{prefix}:{n}".encode()).digest(), "big")
    chars = []
    for _ in range(22):
        number, r = divmod(number, 62)
        chars.append(_BASE62[r])
    return prefix + "".join(chars)


def _text_of(content) -> str:
    if isinstance(content, str):
        return content
    return " ".join(b.get("text", "") for b in content or () if isinstance(b, dict) and b.get("type") == "text")


def _result_text(content) -> str:
    """A tool result's words: its text blocks and the text of its search results."""
    if isinstance(content, str):
        return content
    parts = []
    for b in content or ():
        parts.append(_text_of(b.get("content")) if b.get("type") == "search_result" else _text_of([b]))
    return " ".join(p for p in parts if p)


def last_user(messages) -> dict | None:
    return next((m for m in reversed(messages) if m.get("role") == "user"), None)


def names_tool(text: str, name: str) -> bool:
    """Whether ``text`` names the tool: the whole name, any case, with "_"/"-" also matching a space."""
    pattern = "".join("[_\\- ]" if ch in "_-" else re.escape(ch) for ch in name)
    return re.search(rf"(?<![A-Za-z0-9_-]){pattern}(?![A-Za-z0-9_-])", text, re.IGNORECASE) is not None


def chosen_tool(req: MessagesRequest) -> tuple[dict | None, bool]:
    """The tool the reply uses (None: no tool) and whether it was forced by ``tool_choice``."""
    tools = [t for t in req.tools or () if isinstance(t.get("name"), str)]
    choice = req.tool_choice or {"type": "auto"}
    if not tools or choice["type"] == "none":
        return None, False
    if choice["type"] in ("tool", "any"):  # a server tool the simulator cannot run gets plain text
        named = [t for t in tools if choice["type"] == "any" or t["name"] == choice["name"]]
        return next((t for t in named if _usable(t)), None), True
    user = last_user(req.messages)
    content = user.get("content") if user else None
    if isinstance(content, list) and any(b.get("type") == "tool_result" for b in content):
        return None, False  # the turn answers a tool: quote it
    text = _text_of(content)
    return next((t for t in tools if _usable(t) and names_tool(text, t["name"])), None), False


def _usable(tool: dict) -> bool:
    """Custom tools, web search and web fetch are simulated; other server tools are accepted but never run."""
    kind = tool.get("type") or "custom"
    return kind == "custom" or SERVER_TOOLS.get(kind) in SERVER_RUNS


def compose(req: MessagesRequest, *, echo: bool = False) -> Reply:
    """The deterministic reply for a validated request."""
    if echo:
        return echo_reply(req.messages, req.max_tokens)
    seed = request_seed(req.model.id, req.system, req.messages, req.max_tokens)
    planned: Planned = _thinking(req, seed) if thinking_on(req.thinking) else []
    tool, forced = chosen_tool(req)
    server = SERVER_TOOLS.get(tool.get("type") or "custom") if tool is not None else None
    if server in SERVER_RUNS:
        user = last_user(req.messages)
        prompt = _text_of(user.get("content") if user else "")
        planned += SERVER_RUNS[server](prompt, seed, block_id("srvtoolu_01", seed), forced=forced,
                                       tokenizer=req.model.tokenizer)
    elif tool is not None:
        planned += _tool_use(req, seed, tool, forced)
    else:
        planned += _answer(req, seed)
    stop = "tool_use" if planned and planned[-1][0]["type"] == "tool_use" else "end_turn"
    return finish(planned, req.max_tokens, req.stop_sequences, stop)


def _tokens(text: str, tokenizer: str) -> int:
    return count_text(text, tokenizer)


def _text(text: str) -> tuple[dict, int]:
    return {"type": "text", "text": text}, len(text.split())


def _thinking(req: MessagesRequest, seed: int) -> Planned:
    prompt = " ".join(_text_of(m.get("content")) for m in req.messages if m.get("role") == "user")
    if MAGIC_REDACTED in prompt:
        data = base64.b64encode(hashlib.sha512(f"redacted:{seed}".encode()).digest() * 3).decode()
        return [({"type": "redacted_thinking", "data": data}, REDACTED_TOKENS)]
    words = generate_words(seed ^ 0x7468696E6B)  # its own stream of words: "think"
    thinking = " ".join(words)
    signature = base64.b64encode(hashlib.sha512(f"sig:{seed}:{thinking}".encode()).digest() * 2).decode()
    shown = "" if req.thinking.get("display") == "omitted" else thinking
    return [({"type": "thinking", "thinking": shown, "signature": signature}, len(words))]


def _tool_use(req: MessagesRequest, seed: int, tool: dict, forced: bool) -> Planned:
    user = last_user(req.messages)
    word = prompt_word(_text_of(user.get("content") if user else ""),
                       exclude=[t.get("name", "") for t in req.tools or ()])
    tool_input = build_input(tool.get("input_schema"), word)
    block = {"type": "tool_use", "id": block_id("toolu_01", seed), "name": tool["name"], "input": tool_input}
    cost = _tokens(tool["name"], req.model.tokenizer) + _tokens(json.dumps(tool_input), req.model.tokenizer)
    planned = [] if forced else [_text(f"I'll use the {tool['name']} tool.")]
    return [*planned, (block, cost)]


def _answer(req: MessagesRequest, seed: int) -> Planned:
    """Plain text (quoting tool results first, if the turn carries them), then any cited blocks;
    with ``output_config.format``, one text block of JSON built from its schema instead."""
    if req.output_format is not None:
        user = last_user(req.messages)
        word = prompt_word(_text_of(user.get("content") if user else ""))
        return [_text(json.dumps(build_input(req.output_format["schema"], word)))]
    words = generate_words(seed)
    quotes = _tool_quotes(req.messages)
    text = " ".join([*quotes, *words]) if quotes else " ".join(words)
    return [_text(text), *((b, len(b["text"].split())) for b in cited_blocks(req.messages))]


def _tool_quotes(messages) -> list[str]:
    user = last_user(messages)
    content = user.get("content") if user else None
    if not isinstance(content, list):
        return []
    at = messages.index(user)
    before = messages[at - 1] if at > 0 else {}
    names = {b.get("id"): b.get("name") for b in before.get("content") or ()
             if isinstance(b, dict) and b.get("type") == "tool_use"}
    quotes = []
    for block in content:
        if block.get("type") == "tool_result":
            name = names.get(block.get("tool_use_id"), "tool")
            said = " ".join(_result_text(block.get("content", "")).split())
            verb = "failed with" if block.get("is_error") else "returned"
            quotes.append(f'The {name} tool {verb} "{said}".')
    return quotes


def finish(planned: Planned, max_tokens: int, stop_sequences, natural: str) -> Reply:
    """Cut the planned blocks at ``max_tokens`` (whole tool calls only), then at the first stop sequence."""
    kept: Planned = []
    used, stop = 0, natural
    for block, cost in planned:
        left = max_tokens - used
        if cost <= left:
            kept.append((block, cost))
            used += cost
            continue
        stop = "max_tokens"
        if block["type"] == "text" and left > 0:
            kept.append(({**block, "text": _first_words(block["text"], left)}, left))
        elif block["type"] == "thinking" and left > 0:
            shown = block["thinking"] and _first_words(block["thinking"], left)
            kept.append(({**block, "thinking": shown}, left))
        break
    sequence = None
    for i, (block, _cost) in enumerate(kept):
        if block["type"] != "text":
            continue
        hits = [(block["text"].find(s), s) for s in stop_sequences if s in block["text"]]
        if hits:
            at, sequence = min(hits)
            cut = block["text"][:at]
            kept = [*kept[:i], ({**block, "text": cut}, len(cut.split()))]
            stop = "stop_sequence"
            break
    if not kept:
        kept = [({"type": "text", "text": ""}, 0)]
    thinking = [c for b, c in kept if b["type"] in ("thinking", "redacted_thinking")]
    calls = [b["name"] for b, _ in kept if b["type"] == "server_tool_use"]
    return Reply(tuple(b for b, _ in kept), max(1, sum(c for _, c in kept)), stop, sequence,
                 thinking_tokens=sum(thinking) if thinking else None,
                 web_search_requests=calls.count("web_search"), web_fetch_requests=calls.count("web_fetch"))


def _first_words(text: str, n: int) -> str:
    matches = list(_WORDS.finditer(text))
    return text[:matches[n - 1].end()] if len(matches) >= n else text
