"""Admins only: console accounts and roles, monthly budgets, gateway keys, and demo data."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.accounts.users import ROLES
from core.errors import TollgateError
from pages.widgets import door, money_table, require_user, show_error, usd

me = require_user()
if not me.is_admin:
    st.error("Only admins can manage users and budgets.", icon=":material/block:")
    st.stop()
d = door()

st.title("Users & budgets")

st.subheader("Accounts")
accounts = d.users(me)
st.dataframe(pd.DataFrame(accounts), hide_index=True, width="stretch")
if d.demo_accounts():
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
            d.add_user(me, username, name, role, password)
            st.toast(f"Added {username.strip().lower()} ({role}).")
            st.rerun()
        except TollgateError as err:
            show_error(err)

# The account is picked outside the form, so the form can start from that account's current values.
change.markdown("**Change an account**")
names = [a["username"] for a in accounts]
who = change.selectbox("Account", names, key="chg_who")
current = d.account(me, who)
saves = st.session_state.get("chg_saved", 0)  # a new key after each save: the form starts again from the file
with change.form(f"change_user_{saves}"):
    new_role = st.selectbox("Role", ROLES, index=ROLES.index(current.role) if current and current.role in ROLES else 1,
                            key=f"chg_role_{saves}_{who}")
    new_password = st.text_input("New password (leave empty to keep)", type="password", key=f"chg_pw_{saves}")
    b1, b2 = st.columns(2)
    save, delete = b1.form_submit_button("Save"), b2.form_submit_button("Remove account")
    try:
        if save and who:
            changed = d.change_user(me, who, role=new_role, password=new_password)
            st.session_state["chg_saved"] = saves + 1
            st.toast(f"Updated {who}: {' and '.join(changed)}." if changed else "Nothing to change.")
            st.rerun()
        if delete and who and d.remove_user(me, who):
            st.toast(f"Removed {who}.")
            st.rerun()
    except TollgateError as err:
        show_error(err)

st.subheader("Monthly budgets")
if not d.has_budgets:
    st.info("The ledger is off (TOLLGATE_LEDGER_URL=off), so budgets cannot be kept.")
else:
    money = ("budget_usd", "spent_usd", "reserved_usd", "remaining_usd")
    st.dataframe(money_table(d.budget_table(me), *money), hide_index=True, width="stretch",
                 column_config={"user_id": "user", **{k: k.removesuffix("_usd") for k in money},
                                "pct_used": st.column_config.NumberColumn("used", format="%.1f %%")})
    with st.form("budget"):
        cols = st.columns([2, 1, 1, 1])
        target = cols[0].selectbox("For", [d.EVERYONE] + [a["username"] for a in accounts],
                                   format_func=lambda u: "everyone together (*)" if u == d.EVERYONE else u)
        amount = cols[1].text_input("USD per month", "100")
        set_it, remove_it = cols[2].form_submit_button("Set"), cols[3].form_submit_button("Remove")
        try:
            if set_it:
                d.set_budget(me, target, amount)  # refreshes the budget snapshot too
                st.cache_data.clear()
                st.toast(f"Budget for {target} set to {usd(amount)} a month.")
                st.rerun()
            if remove_it:
                removed = d.remove_budget(me, target)
                st.cache_data.clear()
                st.toast("Removed." if removed else "There was no budget to remove.")
                st.rerun()
        except (TollgateError, ValueError) as err:
            st.error(getattr(err, "message", str(err)))
    st.markdown("**Alerts this month**")
    st.dataframe(money_table(d.budget_alerts(me), "spent_usd", "budget_usd"), hide_index=True, width="stretch",
                 column_config={"ts": st.column_config.DatetimeColumn("time (UTC)", format="YYYY-MM-DD HH:mm:ss"),
                                "user_id": "user", "threshold_pct": "threshold (%)", "spent_usd": "spent",
                                "budget_usd": "budget", "webhook_status": "webhook"})

st.subheader("Gateway keys")
st.caption("Keys for apps and SDKs that call Tollgate's /v1 routes (ANTHROPIC_BASE_URL at this server, the key as "
           "the API key). Each call is charged to the key's user. A key is shown once, when it is created.")
if not d.has_ledger:
    st.info("The ledger is off (TOLLGATE_LEDGER_URL=off), so gateway keys cannot be kept.")
else:
    made = st.session_state.pop("key_made", None)  # shown once, after the rerun that lists it
    if made:
        st.success("New key (copy it now: it is not shown again):", icon=":material/key:")
        st.code(made, language=None)
    st.dataframe(money_table(pd.DataFrame(d.keys(me)), "spent_usd"), hide_index=True, width="stretch",
                 column_config={"spent_usd": "spent", "last_used": st.column_config.DatetimeColumn(
                     "last used (UTC)", format="YYYY-MM-DD HH:mm")})
    kadd, krevoke = st.columns(2)
    with kadd.form("add_key", clear_on_submit=True):
        st.markdown("**Create a key**")
        key_user = st.selectbox("For user", [a["username"] for a in accounts], key="key_user")
        key_name = st.text_input("Name (what it is for)", key="key_name")
        key_days = st.number_input("Expires after (days, 0: never)", min_value=0, max_value=3660, value=90)
        key_models = st.multiselect("Models (none: every model)", d.models(legacy=True), key="key_models")
        if st.form_submit_button("Create"):
            try:
                _, secret = d.create_key(me, key_user, name=key_name.strip() or None,
                                         expires_days=int(key_days) or None, models=tuple(key_models))
                st.session_state["key_made"] = secret
                st.rerun()
            except TollgateError as err:
                show_error(err)
    with krevoke.form("revoke_key"):
        st.markdown("**Revoke a key**")
        key_id = st.text_input("Key id (from the table)", key="key_revoke_id")
        if st.form_submit_button("Revoke"):
            try:
                if d.revoke_key(me, key_id.strip()):
                    st.toast(f"Revoked key {key_id.strip()}.")
                    st.rerun()
                else:
                    st.warning(f"No active key {key_id.strip()!r}.")
            except TollgateError as err:
                show_error(err)

st.subheader("Demo data")
st.caption("90 days of realistic calls from several users and models, marked as demo data, so every chart has "
           "something to show. Removing deletes only those rows.")
if d.has_ledger:
    d1, d2 = st.columns(2)
    done = st.session_state.pop("demo_done", None)  # set before the rerun that redraws the tables above
    if done:
        st.success(done)
    if d1.button("Fill the ledger with demo data", key="demo_fill"):
        with st.spinner("Writing demo calls…"):
            n = d.fill_demo_data(me)
        st.cache_data.clear()
        st.session_state["demo_done"] = f"Added {n:,} demo calls."
        st.rerun()  # the budgets and alerts tables above were drawn before the fill
    if d2.button("Remove demo data", key="demo_remove"):
        n = d.remove_demo_data(me)
        st.cache_data.clear()
        st.session_state["demo_done"] = f"Removed {n:,} demo calls."
        st.rerun()
