"""Try a prompt through the guarded client and see exactly what it cost."""

import streamlit as st

from core.errors import TollgateError
from pages.widgets import client, mode_banner, show_error, usd

c = client()
st.title("Playground")
mode_banner(c)

models = sorted(c.catalogue.models)
with st.form("ask"):
    user = st.text_input("User", value=st.session_state.get("user", "analyst"))
    col1, col2 = st.columns(2)
    model = col1.selectbox("Model", models, index=models.index(c.options.default_model))
    max_tokens = col2.number_input("Max output tokens", 1, c.catalogue.get(model).max_output_tokens, 512)
    system = st.text_input("System prompt (optional)")
    prompt = st.text_area("Prompt", height=150)
    stream = st.checkbox("Stream the answer", value=True)
    go = st.form_submit_button("Send", type="primary")

if go:
    st.session_state["user"] = user
    try:
        kw = dict(user=user, model=model, max_tokens=int(max_tokens), system=system or None)
        if stream:
            s = c.stream(prompt, **kw)
            st.write_stream(iter(s))
            result = s.result
        else:
            result = c.create(prompt, **kw)
            st.markdown(result.text)
    except TollgateError as err:
        show_error(err)
    else:
        cost = "unpriced" if result.unpriced else usd(result.cost_usd)
        cols = st.columns(5)
        cols[0].metric("Cost", cost, help=f"exact: ${result.cost_usd} ({result.price_version or 'no price row'})")
        cols[1].metric("Input tokens", result.usage.prompt_tokens)
        cols[2].metric("Output tokens", result.usage.output_tokens)
        cols[3].metric("Latency", f"{result.latency_ms:.0f} ms")
        cols[4].metric("Cached", "yes" if result.cached else "no")
        if result.flags:
            st.warning("Flagged by the prompt-injection screen: " + ", ".join(result.flags))
