"""Tollgate console: the router. Log in, show the shared sidebar, then run the chosen page."""

import streamlit as st

from core.paths import PACKAGE_DATA
from pages import widgets

# A file served by the console itself: a :material/…: icon makes the browser fetch it from an outside host.
FAVICON = PACKAGE_DATA / "favicon.png"
st.set_page_config(page_title="Tollgate", page_icon=str(FAVICON), layout="wide")
me = widgets.login()
refresh_spend = widgets.sidebar(me)

pages = {
    "Use": [st.Page("pages/playground.py", title="Playground", icon=":material/chat:", default=True),
            st.Page("pages/batch.py", title="Batch runs", icon=":material/table_rows:"),
            st.Page("pages/models.py", title="Models & prices", icon=":material/sell:")],
    "Watch": [st.Page("pages/usage.py", title="Usage & cost", icon=":material/payments:"),
              st.Page("pages/health.py", title="Health", icon=":material/monitor_heart:"),
              st.Page("pages/checklist.py", title="Checklist", icon=":material/checklist:")],
}
if me.is_admin:
    pages["Admin"] = [st.Page("pages/admin.py", title="Users & budgets", icon=":material/group:")]
st.navigation(pages).run()
refresh_spend()  # after the page: a call it just made is already in the sidebar's spend
