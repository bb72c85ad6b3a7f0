"""The playground's inputs beyond the prompt: tools and thinking, attached files, and results for tool calls.

Each draws its widgets and returns what it gathered, already checked by ``core.console`` (options,
attachments, conversation); a problem is shown in one line and returned, never raised.
"""

from __future__ import annotations

import streamlit as st

from core.console import attachments, conversation, options
from core.errors import ValidationError
from core.render import plain

FILES = "pg_files_n"  # the uploader's generation: moving it on empties the uploader


def tools_and_thinking(temperature: float, max_tokens: int, thinking_on: bool):
    """(the call's extra params, the ValidationError that stops sending or None), from the folded panel."""
    with st.expander("Tools and thinking", expanded=False):
        tools_on = st.toggle("Offer tools", value=False, key="pg_tools_on",
                             help="Tools the model may call, as JSON: a list of {name, description, input_schema}.")
        tools_text = st.text_area("Tools (JSON)", value=options.EXAMPLE_TOOLS, key="pg_tools", height=220,
                                  disabled=not tools_on)
        tools, problem = None, None
        if tools_on:
            try:
                tools = options.parse_tools(tools_text)
            except ValidationError as err:
                problem = err
        t1, t2 = st.columns(2)
        choice = t1.selectbox("Tool choice", options.choice_labels(tools or []), key="pg_tool_choice",
                              disabled=not tools, help="auto: the model decides; any: it must call one; none: it "
                                                       "must not; tool: it must call that one.")
        t2.toggle("Thinking", value=False, key="pg_thinking",
                  help="Extended thinking: the model reasons first (billed as output tokens); runs at temperature 1.")
        budget = int(t2.number_input("Thinking budget (tokens)", options.MIN_THINKING_BUDGET, 128_000, 2048, 256,
                                     key="pg_thinking_budget", disabled=not thinking_on,
                                     help="Must be below max output tokens."))
        params = {"temperature": temperature}
        if problem is None:
            try:
                params = options.request_params(temperature=temperature, max_tokens=max_tokens, tools=tools,
                                                choice=choice or "auto",
                                                thinking_budget=budget if thinking_on else None)
            except ValidationError as err:
                problem = err
        if problem is not None:
            st.error(problem.message, icon=":material/error:")
    return params, problem


def attachments_box() -> list[attachments.Attachment]:
    """The uploader (folded) and its files, checked; a refused file is named in one line, below, and left out."""
    key = f"pg_files_{st.session_state.get(FILES, 0)}"
    with st.expander("Attach images or PDFs", expanded=False, icon=":material/attach_file:"):
        st.file_uploader("Images (PNG, JPEG, GIF, WebP) or PDFs", type=list(attachments.ACCEPTED),
                         accept_multiple_files=True, key=key,
                         help="Sent with your next message as base64 blocks; images up to 5 MB, PDFs up to "
                              "20 MB and 100 pages.")
        cite = st.toggle("Cite sources (PDFs)", value=False, key="pg_cite",
                         help="Asks for citations: the answer points at the pages it used.")
    files = []
    for f in st.session_state.get(key) or ():
        try:
            files.append(attachments.from_upload(f.name, f.getvalue(), cite=cite))
        except ValidationError as err:
            st.error(err.message, icon=":material/attach_file:")
    try:
        attachments.check_message(files)
    except ValidationError as err:
        st.error(err.message, icon=":material/attach_file:")
        return []
    return files


def empty_uploader() -> None:
    """Start the next message with no files (the uploader's key moves on)."""
    st.session_state[FILES] = st.session_state.get(FILES, 0) + 1


def tool_answers(calls: list[dict]) -> list[dict] | None:
    """A form for each pending tool call's result; the tool_result blocks once submitted, else None."""
    with st.container(border=True):
        st.markdown("**The model asked to use a tool.** Run it yourself and type in what it returned.")
        answers = []
        for c in calls:
            name = plain(str(c.get("name", "?"))[:64])
            st.caption(f"{name} · id {plain(c.get('id', '?'))}")
            st.json(c.get("input") or {})
            key = f"pg_tr_{c.get('id')}"
            result = st.text_area(f"Result of {name}", key=key, height=80)
            failed = st.toggle("The tool failed (is_error)", key=key + "_err")
            answers.append((c.get("id"), result, failed))
        # Never disabled: a click right after typing is what commits the text area, so it must count.
        if st.button("Send tool result" + ("s" if len(calls) > 1 else ""), type="primary", key="pg_tool_send"):
            if all(a[1].strip() for a in answers):
                return conversation.tool_results(answers)
            st.warning("Type in what the tool returned first (for a failure, its error message and is_error).")
    return None
