"""Try prompts through the guarded client: chat or compare models, with the cost before and after."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import streamlit as st

from core.console import conversation
from core.console.conversation import Turn
from core.errors import StreamInterrupted, TollgateError, ValidationError
from core.render import plain, safe_markdown
from pages import composer
from pages.blocks import turn_blocks
from pages.widgets import door, require_user, show_error, usd

me = require_user()
d = door()
st.title("Playground")
turns: list[Turn] = st.session_state.setdefault("pg_turns", [])

with st.expander("Model and settings", expanded=True):
    left, right = st.columns([2, 1])
    legacy = right.toggle("Show legacy models", value=False, key="pg_legacy",
                          help="Older models that still answer; retired ones are never offered (the API refuses them).")
    models = d.models(legacy=legacy)
    default = d.default_model()
    model = left.selectbox("Model", models, index=models.index(default) if default in models else 0,
                           format_func=d.model_label, key="pg_model")
    mode = right.segmented_control("Mode", ["Chat", "Compare"], default="Chat", key="pg_mode") or "Chat"
    cols = st.columns(4)
    thinking_on = bool(st.session_state.get("pg_thinking"))  # drawn below; thinking needs temperature 1
    temperature = cols[0].slider("Temperature", 0.0, 1.0, 1.0, 0.05, key="pg_temperature", disabled=thinking_on,
                                 help="0 answers the same way each time (and can be served from the cache)."
                                      + (" Thinking is on: it always runs at temperature 1." if thinking_on else ""))
    max_tokens = int(cols[1].number_input("Max output tokens", 1, d.max_output_tokens(model), 1024,
                                          key="pg_max_tokens"))
    stream = cols[2].toggle("Stream", value=True, key="pg_stream")
    preview = cols[3].toggle("Show cost before sending", value=True, key="pg_preview")
    system_text = st.text_area("System prompt (optional)", key="pg_system", height=80)
    cache_ttl = st.radio("Prompt-cache the system prompt", ["off", "5m", "1h"], horizontal=True, key="pg_cache",
                         help="Marks the system prompt with cache_control: later calls read it at the "
                              "cache-read price; the first one pays the cache-write price.")

params, option_error = composer.tools_and_thinking(temperature, max_tokens, thinking_on)

system = None
if system_text.strip():
    system = ([{"type": "text", "text": system_text,
                "cache_control": {"type": "ephemeral", **({"ttl": "1h"} if cache_ttl == "1h" else {})}}]
              if cache_ttl != "off" else system_text)


def show_quote(content, for_model: str, where=st, files=()) -> bool:
    """Tokens, worst-case cost and budget fit of sending ``content`` now; False if it cannot be sent."""
    if option_error is not None:
        where.error(f"Fix the tools and thinking settings first: {option_error.message}")
        return False
    messages = conversation.messages(turns) + [{"role": "user", "content": content}]
    try:
        q = d.quote(me, model=for_model, messages=messages, system=system, max_tokens=max_tokens, **params)
    except TollgateError as err:
        show_error(err)
        return False
    fits = "no budget set" if q.remaining_usd is None else (
        f"fits: {usd(q.remaining_usd)} left" if q.fits else f"does NOT fit: {usd(q.remaining_usd)} left")
    if q.worst_case_usd is not None:
        worst = f"up to {usd(q.worst_case_usd)}"
    else:
        worst = ("worst case not known before sending (a PDF has no offline bound)"
                 if conversation.has_media(messages) else "unpriced model")
    where.caption(f"**{for_model}**: about {q.prompt_tokens:,} input tokens + up to {q.max_tokens:,} output · "
                  f"{worst} · {fits}")
    for row in d.attachment_costs(for_model, files):
        cost = "unpriced" if row["cost_usd"] is None else f"about {usd(row['cost_usd'])}"
        where.caption(f"{plain(row['name'])} ({row['detail']}): about {row['tokens']:,} input "
                      f"token{'s' if row['tokens'] != 1 else ''}, {cost}")
    return q.fits


def result_caption(t: Turn) -> str:
    u = t.usage or {}
    cache = u.get("cache_read_tokens", 0) + u.get("cache_creation_5m_tokens", 0) + u.get("cache_creation_1h_tokens", 0)
    parts = [usd(Decimal(t.cost_usd)), f"{u.get('input_tokens', 0):,} in", f"{u.get('output_tokens', 0):,} out"]
    if cache:
        parts.append(f"{cache:,} cache")
    parts += [f"{t.latency_ms:.0f} ms"] + ([f"first token {t.ttft_ms:.0f} ms"] if t.ttft_ms is not None else [])
    parts += ["cached: yes" if t.cached else "cached: no", f"request {t.request_id or '-'}"]
    if t.stop_reason == "tool_use":
        parts.append("stopped to call a tool")
    return " · ".join(parts)


def _doing(ev) -> str | None:
    """What a block that starts streaming is about to show (a note while it arrives), or None for text."""
    b = ev.event.content_block
    if b.type == "thinking":
        return "Thinking…"
    if b.type == "redacted_thinking":
        return "Thinking (redacted)…"
    if b.type in ("tool_use", "server_tool_use"):
        return f"Calling {plain(str(getattr(b, 'name', 'a tool'))[:64])}…"
    return None if b.type == "text" else f"Receiving {plain(b.type)}…"


def show_stream(s):
    """Stream an answer into one box, rendered safe as it grows, with a note while it thinks or calls a tool."""
    box, text, note, due = st.empty(), "", None, 0.0

    def draw() -> None:
        with box.container():
            if text:
                st.markdown(safe_markdown(text))
            if note:
                st.caption(note)

    for ev in s.events():
        if ev.type == "content_block_start":
            note = _doing(ev)
        elif ev.type == "content_block_delta" and getattr(ev.event.delta, "type", "") == "text_delta":
            text += ev.event.delta.text
        else:
            continue
        if time.monotonic() >= due:  # the whole text is re-rendered: wait 4x as long as that took (< 20 % CPU)
            started = time.monotonic()
            draw()
            due = time.monotonic() + max(0.1, 4 * (time.monotonic() - started))
    return box


def show_turn(t: Turn) -> None:
    """A turn's blocks: text with its citations, tool calls and thinking folded, attachments named."""
    if t.content:
        turn_blocks(t.content)
    else:
        st.markdown(safe_markdown(t.text))


def show_footer(t: Turn) -> None:
    """An answer's cost caption, and the injection screen's flags if any."""
    st.caption(result_caption(t))
    if t.flags:
        st.warning("Flagged by the prompt-injection screen: " + ", ".join(t.flags))


def send(text: str, blocks: list[dict] | None = None) -> None:
    """One chat turn through the guarded client, streamed or not; errors become an error turn."""
    mine = conversation.user_turn(text, blocks)
    messages = conversation.messages(turns) + [{"role": "user", "content": mine.api_content()}]
    turns.append(mine)
    with st.chat_message("user"):
        echo = st.empty()
        with echo.container():
            show_turn(mine)
    with st.chat_message("assistant"):
        if option_error is not None:  # the page said so above; nothing is sent
            turns.append(Turn("error", option_error.message))
            show_error(option_error)
            return
        s = None
        try:
            kw = dict(model=model, messages=messages, system=system, max_tokens=max_tokens,
                      **params)
            if stream:
                s = d.stream(me, **kw)
                box = show_stream(s)
                result = s.result
            else:
                result = d.ask(me, **kw)
                box = st.empty()
        except StreamInterrupted as err:
            turns.append(Turn("error", f"{err.message} Partial answer: {err.partial_text}"))
            show_error(err)
            return
        except TollgateError as err:
            if isinstance(err, ValidationError) and not blocks:  # refused before sending: echo only its start
                mine.text = conversation.preview(text)
                echo.text(mine.text)
            turns.append(Turn("error", f"{err.message} ({err.code})"))
            show_error(err)
            return
        turn = conversation.from_result(result)
        turns.append(turn)
        with box.container():  # the whole reply, every block (a stream showed its text as it came)
            show_turn(turn)
        show_footer(turn)
    if turn.stop_reason == "tool_use" or blocks:
        st.rerun()  # draw the tool-result form under the answer; empty the uploader of what was sent


def submit(text: str, blocks: list[dict] | None, files=()) -> None:
    """Quote first (when asked) or send at once."""
    if preview:
        st.session_state["pg_pending"] = {"text": text, "blocks": blocks, "files": list(files)}
        st.rerun()
    else:
        composer.empty_uploader()
        send(text, blocks)


if mode == "Chat":
    for t in turns:
        with st.chat_message("assistant" if t.role == "error" else t.role,
                             avatar=":material/error:" if t.role == "error" else None):
            show_turn(t)
            if t.role == "assistant":
                show_footer(t)
    calls = conversation.pending_tool_uses(turns)
    pending = st.session_state.get("pg_pending")
    if calls and not pending:
        blocks = composer.tool_answers(calls)
        if blocks:
            submit("", blocks)
    files = composer.attachments_box()
    if pending:
        box = st.empty()
        with box.container(border=True):
            st.markdown("**Ready to send**")
            if pending["text"]:
                st.text(conversation.preview(pending["text"], 500))
            if pending["blocks"]:
                turn_blocks([b for b in pending["blocks"] if b.get("type") != "text"])
            content = conversation.user_turn(pending["text"], pending["blocks"]).api_content()
            ok = show_quote(content, model, files=pending["files"])
            b1, b2 = st.columns(2)
            go = b1.button("Send", type="primary", disabled=not ok, key="pg_send")
            if b2.button("Discard", key="pg_discard"):
                st.session_state.pop("pg_pending", None)
                st.rerun()
        if go:
            st.session_state.pop("pg_pending", None)
            composer.empty_uploader()
            box.empty()
            send(pending["text"], pending["blocks"])
    calls = conversation.pending_tool_uses(turns)  # again: a send above may have answered them
    # Pinned to the bottom wherever it is called: last, so it knows whether a tool call still waits.
    prompt = st.chat_input("Answer the tool call above first (or clear the conversation)" if calls
                           else "Message Claude", disabled=bool(calls))
    if prompt:
        submit(prompt, [f.block for f in files] or None, files)
    if turns:
        d1, d2, d3 = st.columns(3)
        d1.download_button("Export Markdown", conversation.to_markdown(turns, user=me.username, system=system_text),
                           "conversation.md", "text/markdown")
        d2.download_button("Export JSON", conversation.to_json(turns, user=me.username, system=system_text),
                           "conversation.json", "application/json")
        if d3.button("Clear conversation"):
            turns.clear()
            st.session_state.pop("pg_pending", None)
            st.rerun()
else:
    picked = st.multiselect("Models to compare (2 or 3)", models, default=d.compare_defaults(2),
                            max_selections=3,
                            format_func=d.model_label, key="pg_compare_models")
    prompt = st.text_area("Prompt", key="pg_compare_prompt", height=120)
    for m in picked:
        if prompt.strip():
            show_quote(prompt, m)
    if st.button("Compare", type="primary", disabled=len(picked) < 2 or not prompt.strip(), key="pg_compare"):
        def ask(m):
            try:
                return d.ask(me, model=m, messages=[{"role": "user", "content": prompt}],
                                system=system, max_tokens=max_tokens, **params)
            except TollgateError as err:
                return err
        with st.spinner("Asking each model…"), ThreadPoolExecutor(len(picked)) as pool:
            outcomes = list(pool.map(ask, picked))
        for col, m, out in zip(st.columns(len(picked)), picked, outcomes, strict=True):
            with col:
                st.subheader(m)
                if isinstance(out, TollgateError):
                    show_error(out)
                    continue
                a, b = st.columns(2)
                a.metric("Cost", usd(out.cost_usd), help=f"exact: ${out.cost_usd} ({out.price_version})")
                b.metric("Latency", f"{out.latency_ms:.0f} ms")
                turn = conversation.from_result(out)
                st.caption(result_caption(turn))
                show_turn(turn)
