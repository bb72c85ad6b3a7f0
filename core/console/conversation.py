"""A playground conversation as data: its turns, the API messages they make, and exports (exact costs).

An assistant turn keeps the reply's whole ``content`` (text with citations, tool_use, thinking, …), sent
back unchanged on the next call as the API requires; a user turn keeps what was sent (text, attachment
blocks, or the tool_result blocks that continue a tool loop).
"""

from __future__ import annotations

import copy
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from decimal import Decimal

from core.render import safe_markdown


@dataclass
class Turn:
    """One message; an assistant turn carries what its call cost and how it went."""

    role: str  # user | assistant | error
    text: str
    model: str | None = None
    cost_usd: str | None = None  # exact decimal as text
    usage: dict | None = None
    latency_ms: float | None = None
    ttft_ms: float | None = None
    cached: bool = False
    request_id: str | None = None
    at: str = field(default_factory=lambda: datetime.now().astimezone().isoformat(timespec="seconds"))
    content: list[dict] | None = None  # every block as sent or received; None: just ``text``
    stop_reason: str | None = None
    flags: list[str] = field(default_factory=list)  # prompt-injection phrases flagged on the way in

    def api_content(self) -> str | list[dict]:
        """What this turn sends as a message's ``content``."""
        return self.content if self.content else self.text

    def blocks(self) -> list[dict]:
        """The turn as content blocks (a plain text turn is one text block)."""
        return self.content if self.content else [{"type": "text", "text": self.text}]


def from_result(result, text: str | None = None) -> Turn:
    """An assistant turn from a ``CallResult``."""
    return Turn("assistant", result.text if text is None else text, model=result.model,
                cost_usd=str(result.cost_usd), usage=result.usage.to_dict(), latency_ms=round(result.latency_ms, 1),
                ttft_ms=None if result.ttft_ms is None else round(result.ttft_ms, 1), cached=result.cached,
                request_id=result.request_id, content=copy.deepcopy(result.content) or None, stop_reason=result.stop_reason,
                flags=list(result.flags))


def user_turn(text: str, blocks: list[dict] | None = None) -> Turn:
    """A user turn: the text alone, or the attachment / tool_result ``blocks`` followed by the text."""
    if not blocks:
        return Turn("user", text)
    return Turn("user", text, content=[*blocks, *([{"type": "text", "text": text}] if text.strip() else [])])


def messages(turns: list[Turn]) -> list[dict]:
    """The conversation as API messages: answered exchanges only (a failed turn is not resent)."""
    msgs = []
    for i, t in enumerate(turns):
        if t.role == "user" and i + 1 < len(turns) and turns[i + 1].role == "assistant":
            msgs += [{"role": "user", "content": t.api_content()},
                     {"role": "assistant", "content": turns[i + 1].api_content()}]
    return msgs


def pending_tool_uses(turns: list[Turn]) -> list[dict]:
    """The tool_use blocks of the last answer, when they still wait for their results (else [])."""
    answered = [t for t in turns if t.role == "assistant"]
    if not answered:
        return []
    return [b for b in answered[-1].blocks() if b.get("type") == "tool_use"]


def has_media(msgs: list[dict]) -> bool:
    """Whether any message carries an image or a document (tool results included)."""
    def media(content) -> bool:
        return isinstance(content, list) and any(
            isinstance(b, dict) and (b.get("type") in ("image", "document")
                                     or (b.get("type") == "tool_result" and media(b.get("content"))))
            for b in content)
    return any(media(m.get("content")) for m in msgs)


def tool_results(answers: list[tuple[str, str, bool]]) -> list[dict]:
    """tool_result blocks from (tool_use_id, result text, is_error) answers, in the calls' order."""
    return [{"type": "tool_result", "tool_use_id": tid, "content": text, **({"is_error": True} if err else {})}
            for tid, text, err in answers]


def _without_media(value):
    """A copy of blocks with base64 data replaced by its size (exports stay small and readable)."""
    if isinstance(value, list):
        return [_without_media(v) for v in value]
    if isinstance(value, dict):
        out = {k: _without_media(v) for k, v in value.items()}
        if value.get("type") == "base64" and isinstance(value.get("data"), str):
            out["data"] = f"<{len(value['data']):,} characters of base64 left out>"
        return out
    return value


def to_json(turns: list[Turn], *, user: str, system: str | None) -> str:
    return json.dumps({"user": user, "system": system, "turns": [_without_media(asdict(t)) for t in turns]},
                      ensure_ascii=False, indent=2)


def _block_markdown(b: dict) -> list[str]:
    kind = b.get("type")
    if kind == "text":
        return [safe_markdown(b.get("text", "")), ""]
    if kind in ("tool_use", "server_tool_use"):
        return [f"*Tool call `{b.get('name')}`*", "", "```json", json.dumps(b.get("input"), indent=2,
                ensure_ascii=False).replace("```", "` ` `"), "```", ""]
    if kind == "tool_result":
        body = b.get("content")
        body = body if isinstance(body, str) else json.dumps(_without_media(body), ensure_ascii=False)
        return [f"*Tool result{' (error)' if b.get('is_error') else ''}*", "", "```",
                body.replace("```", "` ` `"), "```", ""]
    if kind == "thinking":
        return ["*Thinking*", "", *[f"> {ln}" for ln in safe_markdown(b.get("thinking", "")).splitlines()], ""]
    if kind == "redacted_thinking":
        return ["*Redacted thinking (encrypted)*", ""]
    if kind in ("image", "document"):
        return [f"*Attached {kind}{': ' + safe_markdown(str(b['title'])) if b.get('title') else ''}*", ""]
    return [f"*{kind} block*", ""]


def to_markdown(turns: list[Turn], *, user: str, system: str | None) -> str:
    """A readable transcript, safe to render: no image, no raw HTML, only http(s) and mailto links."""
    lines = [f"# Tollgate conversation ({user})", ""]
    if system:
        lines += ["**System prompt**", "", *[f"> {ln}" for ln in safe_markdown(system).splitlines()], ""]
    for t in turns:
        body = [ln for b in t.blocks() for ln in _block_markdown(b)]
        if t.role == "user":
            lines += [f"## You · {t.at}", "", *body]
        elif t.role == "error":
            lines += [f"## Error · {t.at}", "", safe_markdown(t.text), ""]
        else:
            usage = t.usage or {}
            lines += [f"## {t.model} · {t.at}", "", *body,
                      f"*cost ${t.cost_usd} · input {usage.get('input_tokens', 0)} · output "
                      f"{usage.get('output_tokens', 0)} · latency {t.latency_ms} ms"
                      f"{' · cached' if t.cached else ''} · request {t.request_id or '-'}*", ""]
    total = sum((Decimal(t.cost_usd) for t in turns if t.cost_usd), Decimal(0))
    lines.append(f"Total: ${total}")
    return "\n".join(lines)


PREVIEW_CHARS = 80


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    """``text`` cut to its first ``limit`` characters plus its length, for echoing a refused prompt."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text):,} characters)"
