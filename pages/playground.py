"""Try prompts through the guarded client: chat or compare models, with the cost before and after."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import streamlit as st

from core.console import conversation
from core.console.conversation import Turn
from core.errors import StreamInterrupted, TollgateError, ValidationError
from core.render import safe_markdown
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
    temperature = cols[0].slider("Temperature", 0.0, 1.0, 1.0, 0.05, key="pg_temperature",
                                 help="0 answers the same way each time (and can be served from the cache).")
    max_tokens = int(cols[1].number_input("Max output tokens", 1, d.max_output_tokens(model), 1024,
                                          key="pg_max_tokens"))
    stream = cols[2].toggle("Stream", value=True, key="pg_stream")
    preview = cols[3].toggle("Show cost before sending", value=True, key="pg_preview")
    system_text = st.text_area("System prompt (optional)", key="pg_system", height=80)
    cache_ttl = st.radio("Prompt-cache the system prompt", ["off", "5m", "1h"], horizontal=True, key="pg_cache",
                         help="Marks the system prompt with cache_control: later calls read it at the "
                              "cache-read price; the first one pays the cache-write price.")

system = None
if system_text.strip():
    system = ([{"type": "text", "text": system_text,
                "cache_control": {"type": "ephemeral", **({"ttl": "1h"} if cache_ttl == "1h" else {})}}]
              if cache_ttl != "off" else system_text)
params = {"temperature": temperature}


def history() -> list[dict]:
    """The conversation as API messages: answered exchanges only (a failed turn is not resent)."""
    msgs = []
    for i, t in enumerate(turns):
        if t.role == "user" and i + 1 < len(turns) and turns[i + 1].role == "assistant":
            msgs += [{"role": "user", "content": t.text}, {"role": "assistant", "content": turns[i + 1].text}]
    return msgs


def show_quote(prompt: str, for_model: str, where=st) -> bool:
    """Tokens, worst-case cost and budget fit of sending ``prompt`` now; False if it cannot be sent."""
    try:
        q = d.quote(me, model=for_model, messages=history() + [{"role": "user", "content": prompt}],
                  system=system, max_tokens=max_tokens, **params)
    except TollgateError as err:
        show_error(err)
        return False
    fits = "no budget set" if q.remaining_usd is None else (
        f"fits: {usd(q.remaining_usd)} left" if q.fits else f"does NOT fit: {usd(q.remaining_usd)} left")
    worst = "unpriced model" if q.worst_case_usd is None else f"up to {usd(q.worst_case_usd)}"
    where.caption(f"**{for_model}**: about {q.prompt_tokens:,} input tokens + up to {q.max_tokens:,} output · "
                  f"{worst} · {fits}")
    return q.fits


def result_caption(t: Turn) -> str:
    u = t.usage or {}
    cache = u.get("cache_read_tokens", 0) + u.get("cache_creation_5m_tokens", 0) + u.get("cache_creation_1h_tokens", 0)
    parts = [usd(Decimal(t.cost_usd)), f"{u.get('input_tokens', 0):,} in", f"{u.get('output_tokens', 0):,} out"]
    if cache:
        parts.append(f"{cache:,} cache")
    parts += [f"{t.latency_ms:.0f} ms"] + ([f"first token {t.ttft_ms:.0f} ms"] if t.ttft_ms is not None else [])
    parts += ["cached: yes" if t.cached else "cached: no", f"request {t.request_id or '-'}"]
    return " · ".join(parts)


def show_stream(s) -> None:
    """Stream an answer into one box, rendered safe (no remote images, only safe links) as it grows."""
    box, text, due = st.empty(), "", 0.0
    for delta in s:
        text += delta
        if time.monotonic() >= due:  # the whole text is re-rendered: wait 4x as long as that took (< 20 % CPU)
            started = time.monotonic()
            box.markdown(safe_markdown(text))
            due = time.monotonic() + max(0.1, 4 * (time.monotonic() - started))
    box.markdown(safe_markdown(text))


def send(prompt: str) -> None:
    """One chat turn through the guarded client, streamed or not; errors become an error turn."""
    messages = history() + [{"role": "user", "content": prompt}]
    mine = Turn("user", prompt)
    turns.append(mine)
    with st.chat_message("user"):
        echo = st.empty()
        echo.markdown(safe_markdown(prompt))
    with st.chat_message("assistant"):
        s = None
        try:
            kw = dict(model=model, messages=messages, system=system, max_tokens=max_tokens,
                      **params)
            if stream:
                s = d.stream(me, **kw)
                show_stream(s)
                result = s.result
            else:
                result = d.ask(me, **kw)
                st.markdown(safe_markdown(result.text))
        except StreamInterrupted as err:
            turns.append(Turn("error", f"{err.message} Partial answer: {err.partial_text}"))
            show_error(err)
            return
        except TollgateError as err:
            if isinstance(err, ValidationError):  # refused before sending: echo only its start and length
                mine.text = conversation.preview(prompt)
                echo.text(mine.text)
            turns.append(Turn("error", f"{err.message} ({err.code})"))
            show_error(err)
            return
        turn = conversation.from_result(result)
        turns.append(turn)
        st.caption(result_caption(turn))
        if result.flags:
            st.warning("Flagged by the prompt-injection screen: " + ", ".join(result.flags))


if mode == "Chat":
    for t in turns:
        with st.chat_message("assistant" if t.role == "error" else t.role,
                             avatar=":material/error:" if t.role == "error" else None):
            st.markdown(safe_markdown(t.text))
            if t.role == "assistant":
                st.caption(result_caption(t))
    prompt = st.chat_input("Message Claude")
    if prompt:
        if preview:
            st.session_state["pg_pending"] = prompt
        else:
            send(prompt)
    pending = st.session_state.get("pg_pending")
    if pending:
        box = st.empty()
        with box.container(border=True):
            st.markdown("**Ready to send**")
            st.text(conversation.preview(pending, 500))
            ok = show_quote(pending, model)
            b1, b2 = st.columns(2)
            go = b1.button("Send", type="primary", disabled=not ok, key="pg_send")
            if b2.button("Discard", key="pg_discard"):
                st.session_state.pop("pg_pending", None)
                st.rerun()
        if go:
            st.session_state.pop("pg_pending", None)
            box.empty()
            send(pending)
    if turns:
        d1, d2, d3 = st.columns(3)
        d1.download_button("Export Markdown", conversation.to_markdown(turns, user=me.username, system=system_text),
                           "conversation.md", "text/markdown")
        d2.download_button("Export JSON", conversation.to_json(turns, user=me.username, system=system_text),
                           "conversation.json", "application/json")
        if d3.button("Clear conversation"):
            turns.clear()
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
                st.caption(result_caption(conversation.from_result(out)))
                st.markdown(safe_markdown(out.text))
