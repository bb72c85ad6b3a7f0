"""Is the API up, the circuit closed, the cache and the ledger healthy?"""

import streamlit as st

from core.health import check
from pages.widgets import client, mode_banner

c = client()
st.title("Health")
mode_banner(c)
report = check(c)
st.metric("Overall", "healthy" if report["ok"] else "attention needed")
for part in ("api", "ledger", "cache", "breaker", "limiter", "keys", "metrics"):
    with st.expander(part.capitalize(), expanded=part in ("api", "ledger")):
        st.json(report[part])
