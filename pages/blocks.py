"""Draw a chat turn's content blocks safely: text as safe Markdown, tool calls and thinking folded away.

Model text goes through ``core.render.safe_markdown``; anything else a model or a user wrote (tool
names and inputs, cited passages, titles) is shown with ``st.json`` / ``st.code`` or escaped with
``plain``. Nothing here allows HTML.
"""

from __future__ import annotations

import json

import streamlit as st

from core.render import plain, safe_markdown

CITED_CHARS = 300  # of a cited passage shown under the text


def _label(text, limit: int = 64) -> str:
    return plain(str(text)[:limit])


def _where(c: dict) -> str:
    """Where a citation points, in words."""
    kind = c.get("type")
    if kind == "page_location":
        first, end = c.get("start_page_number"), c.get("end_page_number")
        return f"page {first}" if end in (None, first, (first or 0) + 1) else f"pages {first}–{end - 1}"
    if kind == "char_location":
        return f"characters {c.get('start_char_index')}–{c.get('end_char_index')}"
    if kind == "content_block_location":
        return f"block {c.get('start_block_index')}"
    if kind in ("web_search_result_location", "search_result_location"):
        return str(c.get("url") or c.get("source") or "")
    return str(kind or "")


def citations(cites: list[dict]) -> None:
    """One caption per citation: the passage quoted, the document it comes from, and where in it."""
    for n, c in enumerate(cites, 1):
        passage = str(c.get("cited_text") or "")
        if len(passage) > CITED_CHARS:
            passage = passage[:CITED_CHARS] + "…"
        title = c.get("document_title") or c.get("title") or f"document {c.get('document_index', '?')}"
        st.caption(f"[{n}] “{plain(passage)}” — {_label(title, 200)}, {plain(_where(c))}")


def _tool_result_body(content) -> str:
    if isinstance(content, str):
        return content
    parts = []
    for b in content or ():
        parts.append(b.get("text", "") if isinstance(b, dict) and b.get("type") == "text"
                     else json.dumps(b, ensure_ascii=False)[:500])
    return "\n".join(parts)


def _readable(value):
    """``value`` without the opaque encrypted fields server tools return (only the API can read them)."""
    if isinstance(value, list):
        return [_readable(v) for v in value]
    if isinstance(value, dict):
        return {k: _readable(v) for k, v in value.items() if not k.startswith("encrypted_")}
    return value


def block(b: dict) -> None:
    """Draw one content block."""
    kind = b.get("type")
    if kind == "text":
        st.markdown(safe_markdown(b.get("text", "")))
        if b.get("citations"):
            citations(b["citations"])
    elif kind in ("tool_use", "server_tool_use"):
        which = "Tool call" if kind == "tool_use" else "Server tool"
        with st.expander(f"{which}: {_label(b.get('name', '?'))}", icon=":material/build:"):
            st.json(b.get("input") or {})
            st.caption(f"id {plain(b.get('id', '?'))}")
    elif kind == "thinking":
        with st.expander("Thinking", icon=":material/psychology:"):
            st.markdown(safe_markdown(b.get("thinking", "")))
    elif kind == "redacted_thinking":
        st.caption("Redacted thinking: encrypted by the API's safety system, sent back unchanged.")
    elif kind == "tool_result":
        with st.expander(f"Tool result{' (error)' if b.get('is_error') else ''} for {_label(b.get('tool_use_id'))}",
                         icon=":material/output:"):
            st.code(_tool_result_body(b.get("content")), language=None)
    elif kind == "image":
        st.caption(f"Attached image ({plain(b.get('source', {}).get('media_type', 'image'))})")
    elif kind == "document":
        cite = " · cite sources" if (b.get("citations") or {}).get("enabled") else ""
        st.caption(f"Attached document: {_label(b.get('title') or 'untitled', 200)}{cite}")
    else:  # server tool results and blocks newer than this page: shown as data
        title = "Search results" if kind == "web_search_tool_result" else _label(kind or "block")
        with st.expander(title, icon=":material/data_object:"):
            st.json(_readable(b))


def turn_blocks(blocks: list[dict]) -> None:
    """Draw every block of a turn, in order."""
    for b in blocks:
        block(b)
