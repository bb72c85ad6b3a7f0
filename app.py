"""Tollgate console: the router. Log in, show the shared sidebar, then run the chosen page."""

import streamlit as st

from pages import widgets

st.set_page_config(page_title="Tollgate", page_icon=":material/toll:", layout="wide")
me = widgets.login()
widgets.sidebar(me)

pages = {
    "Use": [st.Page("pages/playground.py", title="Playground", icon=":material/chat:", default=True),
            st.Page("pages/models.py", title="Models & prices", icon=":material/sell:")],
    "Watch": [st.Page("pages/usage.py", title="Usage & cost", icon=":material/payments:"),
              st.Page("pages/health.py", title="Health", icon=":material/monitor_heart:"),
              st.Page("pages/checklist.py", title="Checklist", icon=":material/checklist:")],
}
if me.is_admin:
    pages["Admin"] = [st.Page("pages/admin.py", title="Users & budgets", icon=":material/group:")]
st.navigation(pages).run()
