"""Spend, tokens and calls by user, model and day, with budgets and their alerts."""

from datetime import date, timedelta

import streamlit as st

from core.ledger import queries
from pages.widgets import client, mode_banner

c = client()
st.title("Usage & budgets")
mode_banner(c)
if c.ledger is None:
    st.warning("The ledger is off (TOLLGATE_LEDGER_URL=off): nothing is recorded.")
    st.stop()

c.ledger.open()
col1, col2, col3 = st.columns(3)
since = col1.date_input("From", date.today() - timedelta(days=30))
until = col2.date_input("To", date.today())
by = col3.selectbox("Group by", ["user", "model", "day"])
engine = c.ledger.engine
st.dataframe(queries.usage_by(engine, by=[by], since=since, until=until), hide_index=True)
st.subheader("Budgets this month")
st.dataframe(c.budgets.status(c.clock.now()), hide_index=True)
st.subheader("Budget alerts")
st.dataframe(c.budgets.alerts(), hide_index=True)
