"""A playground conversation as data, and its export as Markdown or JSON (costs as exact decimals)."""

from __future__ import annotations

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


def from_result(result, text: str | None = None) -> Turn:
    """An assistant turn from a ``CallResult``."""
    return Turn("assistant", result.text if text is None else text, model=result.model,
                cost_usd=str(result.cost_usd), usage=result.usage.to_dict(), latency_ms=round(result.latency_ms, 1),
                ttft_ms=None if result.ttft_ms is None else round(result.ttft_ms, 1), cached=result.cached,
                request_id=result.request_id)


def to_json(turns: list[Turn], *, user: str, system: str | None) -> str:
    return json.dumps({"user": user, "system": system, "turns": [asdict(t) for t in turns]},
                      ensure_ascii=False, indent=2)


def to_markdown(turns: list[Turn], *, user: str, system: str | None) -> str:
    """A readable transcript, safe to render: no image, no raw HTML, only http(s) and mailto links."""
    lines = [f"# Tollgate conversation ({user})", ""]
    if system:
        lines += ["**System prompt**", "", *[f"> {ln}" for ln in safe_markdown(system).splitlines()], ""]
    for t in turns:
        if t.role == "user":
            lines += [f"## You · {t.at}", "", safe_markdown(t.text), ""]
        elif t.role == "error":
            lines += [f"## Error · {t.at}", "", safe_markdown(t.text), ""]
        else:
            usage = t.usage or {}
            lines += [f"## {t.model} · {t.at}", "", safe_markdown(t.text), "",
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
