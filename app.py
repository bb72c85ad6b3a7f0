"""Tollgate console: the router. Pages render and call ``core``; nothing else lives here."""

import streamlit as st

st.set_page_config(page_title="Tollgate", page_icon=":material/toll:", layout="wide")

pages = [
    st.Page("pages/playground.py", title="Playground", icon=":material/chat:", default=True),
    st.Page("pages/usage.py", title="Usage & budgets", icon=":material/payments:"),
    st.Page("pages/health.py", title="Health", icon=":material/monitor_heart:"),
]
st.navigation(pages).run()
