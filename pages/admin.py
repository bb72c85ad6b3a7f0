"""Admins only: console accounts and roles, monthly budgets, and demo data."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.auth import ROLES, UserStore
from core.budget_gate import write_snapshot
from core.budgets import GLOBAL
from core.errors import TollgateError
from core.factory import snapshot_path
from pages.widgets import client, money_table, require_user, settings, show_error, usd

me = require_user()
if not me.is_admin:
    st.error("Only admins can manage users and budgets.", icon=":material/block:")
    st.stop()
c = client()
store = UserStore(settings().users_file)


def budgets_changed() -> None:
    """Refresh the budget snapshot at once, so a ledger outage right after a change still refuses correctly."""
    write_snapshot(c.ledger.engine, snapshot_path(settings()))
    st.cache_data.clear()

st.title("Users & budgets")

st.subheader("Accounts")
accounts = store.users()
st.dataframe(pd.DataFrame(accounts), hide_index=True, width="stretch")
if store.demo_accounts():
    st.warning("Demo accounts exist: remove them (or give them real passwords) before production.",
               icon=":material/warning:")

add, change = st.columns(2)
with add.form("add_user", clear_on_submit=True):
    st.markdown("**Add an account**")
    username = st.text_input("Username")
    name = st.text_input("Full name")
    role = st.selectbox("Role", ROLES, index=1)
    password = st.text_input("Initial password", type="password")
    if st.form_submit_button("Add"):
        try:
            store.add(username, name, role, password)
            st.toast(f"Added {username.strip().lower()} ({role}).")
            st.rerun()
        except TollgateError as err:
            show_error(err)

with change.form("change_user"):
    st.markdown("**Change an account**")
    names = [a["username"] for a in accounts]
    who = st.selectbox("Account", names)
    new_role = st.selectbox("Role", ROLES, key="new_role")
    new_password = st.text_input("New password (leave empty to keep)", type="password")
    b1, b2 = st.columns(2)
    save, delete = b1.form_submit_button("Save"), b2.form_submit_button("Remove account")
    try:
        if save and who:
            if who == me.username and new_role != "admin":
                st.error("You cannot remove your own admin role.")
            else:
                store.set_role(who, new_role)
                if new_password:
                    store.set_password(who, new_password)
                st.success(f"Updated {who}.")
        if delete and who:
            if who == me.username:
                st.error("You cannot remove your own account.")
            elif store.remove(who):
                st.toast(f"Removed {who}.")
                st.rerun()
    except TollgateError as err:
        show_error(err)

st.subheader("Monthly budgets")
if c.budgets is None:
    st.info("The ledger is off (TOLLGATE_LEDGER_URL=off), so budgets cannot be kept.")
else:
    money = ("budget_usd", "spent_usd", "reserved_usd", "remaining_usd")
    st.dataframe(money_table(c.budgets.status(), *money), hide_index=True, width="stretch",
                 column_config={"user_id": "user", **{k: k.removesuffix("_usd") for k in money},
                                "pct_used": st.column_config.NumberColumn("used", format="%.1f %%")})
    with st.form("budget"):
        cols = st.columns([2, 1, 1, 1])
        target = cols[0].selectbox("For", [GLOBAL] + [a["username"] for a in accounts],
                                   format_func=lambda u: "everyone together (*)" if u == GLOBAL else u)
        amount = cols[1].text_input("USD per month", "100")
        set_it, remove_it = cols[2].form_submit_button("Set"), cols[3].form_submit_button("Remove")
        try:
            if set_it:
                c.budgets.set_budget(target, amount, by=me.username)
                budgets_changed()
                st.toast(f"Budget for {target} set to {usd(amount)} a month.")
                st.rerun()
            if remove_it:
                removed = c.budgets.remove_budget(target)
                budgets_changed()
                st.toast("Removed." if removed else "There was no budget to remove.")
                st.rerun()
        except (TollgateError, ValueError) as err:
            st.error(getattr(err, "message", str(err)))
    st.markdown("**Alerts this month**")
    st.dataframe(money_table(c.budgets.alerts(), "spent_usd", "budget_usd"), hide_index=True, width="stretch",
                 column_config={"ts": st.column_config.DatetimeColumn("time (UTC)", format="YYYY-MM-DD HH:mm:ss"),
                                "user_id": "user", "threshold_pct": "threshold (%)", "spent_usd": "spent",
                                "budget_usd": "budget", "webhook_status": "webhook"})

st.subheader("Demo data")
st.caption("90 days of realistic calls from several users and models, marked as demo data, so every chart has "
           "something to show. Removing deletes only those rows.")
if c.ledger is not None:
    from core import demo_data

    d1, d2 = st.columns(2)
    done = st.session_state.pop("demo_done", None)  # set before the rerun that redraws the tables above
    if done:
        st.success(done)
    if d1.button("Fill the ledger with demo data", key="demo_fill"):
        with st.spinner("Writing demo calls…"):
            n = demo_data.generate(c.ledger.engine)
        budgets_changed()
        st.session_state["demo_done"] = f"Added {n:,} demo calls."
        st.rerun()  # the budgets and alerts tables above were drawn before the fill
    if d2.button("Remove demo data", key="demo_remove"):
        n = demo_data.remove(c.ledger.engine)
        budgets_changed()
        st.session_state["demo_done"] = f"Removed {n:,} demo calls."
        st.rerun()
