"""Widgets shared by the console's pages: login, sidebar, the process's guarded client, errors, money."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from core import money
from core.accounts import sessions
from core.accounts import users as auth
from core.config import Settings, load_settings
from core.console.advice import advice
from core.console.door import Console, open_console
from core.errors import TollgateError
from core.render import plain

PRINCIPAL = "tollgate_principal"
# This browser session's login (the names streamlit-authenticator used, kept for tests and tools).
AUTH, USERNAME = "authentication_status", "username"
VERSION = "tollgate_session_version"  # the account's session version at login
TICKET = "tollgate_cookie_ticket"  # (ticket, monotonic time issued) until the browser has its cookie
CLEAR_COOKIE = "tollgate_clear_cookie"  # the browser holds a cookie that is no longer good
ENDED = "tollgate_login_ended"  # why the login ended, shown once on the login page
log = logging.getLogger("tollgate.console")


@st.cache_resource(show_spinner=False)
def settings() -> Settings:
    """The console's settings, built once per process (st.secrets > env/.env > defaults)."""
    try:
        secrets = dict(st.secrets)
    except Exception:  # no secrets file: that's fine
        secrets = None
    return load_settings(secrets=secrets)


@st.cache_resource(show_spinner=False, on_release=lambda d: d.close())
def _door() -> Console:
    return open_console(settings())


_DOOR_OPENED = threading.Event()  # after the first build the door is a cache hit: no spinner to show


def door() -> Console:
    """The console's one door (core.console.door), built once per process: pages call only it.

    A page's first call shows a spinner while the client starts; a thread with no page (the gateway's
    workers, when an API call comes before any visitor) builds it quietly: a spinner there only logs a
    "missing ScriptRunContext" warning."""
    if _DOOR_OPENED.is_set() or get_script_run_ctx(suppress_warning=True) is None:
        built = _door()
    else:
        with st.spinner("Starting the guarded client…"):
            built = _door()
    _DOOR_OPENED.set()
    return built


def client():
    """The door's guarded client, for tests and tools (pages call the door's methods)."""
    return door().client


def _script(js: str, *, sidebar: bool = True) -> None:
    """Run a little JavaScript in the page (the cookie hand-over); it draws nothing."""
    with st.sidebar if sidebar else st.container():
        st.html(f"<script>{js}</script>", unsafe_allow_javascript=True)


def _post(path: str, body: str = "") -> str:
    return (f"fetch({json.dumps(path)}, {{method: 'POST', credentials: 'same-origin', headers: "
            f"{{'{sessions.CSRF_HEADER}': '1', 'content-type': 'text/plain'}}, body: {json.dumps(body)}}});")


def _end_session(reason: str | None = None) -> None:
    """Forget this browser session's login; the page clears the cookie on its next draw."""
    for name in (AUTH, USERNAME, "name", VERSION, TICKET, PRINCIPAL):
        st.session_state.pop(name, None)
    st.session_state[CLEAR_COOKIE] = True
    if reason:
        st.session_state[ENDED] = reason


def _current(store, key: str) -> auth.Principal | None:
    """Who this run belongs to: this session's login, else a valid cookie, checked against the account now."""
    ss = st.session_state
    if ss.get(AUTH) and ss.get(USERNAME):
        if ss.get(VERSION) is None:  # logged in by server code that did not note a version: take today's
            ss[VERSION] = store.session_version(ss[USERNAME])
        me = sessions.principal_for(store, sessions.Claims(ss[USERNAME], ss[VERSION], float("inf")))
        if me is None:
            _end_session("Your login has ended: the account was changed, locked or removed. Log in again.")
        return me
    token = st.context.cookies.get(sessions.COOKIE) if not ss.get(CLEAR_COOKIE) else None
    claims = sessions.read(token, key, now=time.time())
    me = sessions.principal_for(store, claims)
    if me is not None:
        ss[AUTH], ss[USERNAME], ss["name"], ss[VERSION] = True, me.username, me.name, claims.version
    elif token:
        ss[CLEAR_COOKIE] = True  # unreadable, expired or revoked: logged out, and the cookie goes
    return me


def _login_form(key: str) -> None:
    """The login page: a form, one message, the demo accounts in demo mode; stops the run."""
    st.title("Tollgate")
    st.caption("The guarded console for Claude: every call validated, limited, priced and recorded.")
    if reason := st.session_state.pop(ENDED, None):
        st.warning(reason, icon=":material/logout:")
    guard = door().login_guard()
    with st.form("login"):
        username = st.text_input("Username")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Login")
    if submitted:
        try:
            result = guard.login(username, password)
        except Exception:  # noqa: BLE001 - fail closed when the lock-out store is down
            log.exception("login check failed")
            st.error("Login is unavailable right now (the store of login attempts cannot be reached). "
                     "Try again shortly.")
            st.stop()
        if result.status == "ok":
            me, ss = result.principal, st.session_state
            ss[AUTH], ss[USERNAME], ss["name"], ss[VERSION] = True, me.username, me.name, result.version
            ss[TICKET] = (sessions.ticket(me.username, result.version, key, now=time.time()), time.monotonic())
            ss.pop(CLEAR_COOKIE, None)
            st.rerun()  # logged in just now: draw the console without the login form
        elif result.status == "locked":
            st.error(f"This account is locked after {guard.max_failures} wrong passwords. Try again in "
                     f"{max(1, math.ceil(result.retry_after_s / 60))} minutes, or ask an admin to set a new "
                     "password.", icon=":material/lock:")
        else:
            st.error("Wrong username or password.")
    demo = door().demo_accounts()
    if demo:
        st.info(f"Demo accounts: {', '.join(f'`{u}`' for u in demo)}, password `{auth.DEMO_PASSWORD}` "
                "(demo mode only; the production checklist fails while they exist).", icon=":material/key:")
    if st.session_state.get(CLEAR_COOKIE):  # the login page has no sidebar: run it below the form
        _script(_post(sessions.LOGOUT_PATH), sidebar=False)
    st.stop()


def login() -> auth.Principal:
    """Show only the login form until someone logs in; then return who it is (checked on every run)."""
    d = door()
    store = d.accounts
    d.ensure_demo_accounts()
    try:
        key = d.cookie_key()
    except auth.RefuseToStart as exc:
        st.error(str(exc), icon=":material/block:")
        st.stop()
    me = _current(store, key)
    if me is None:
        st.session_state.pop(PRINCIPAL, None)
        _login_form(key)
    st.session_state[PRINCIPAL] = me
    ticket = st.session_state.get(TICKET)
    if ticket is not None:  # hand the browser its cookie (kept on the page for the ticket's minute)
        if time.monotonic() - ticket[1] < sessions.TICKET_S:
            _script(_post(sessions.SESSION_PATH, ticket[0]))
        else:
            st.session_state.pop(TICKET, None)
    return me


def log_out() -> None:
    """End this account's logins everywhere (the session version moves on) and this session's."""
    username = st.session_state.get(USERNAME)
    if username:
        try:
            door().accounts.revoke(username)
        except Exception:  # noqa: BLE001 - the account is gone already: nothing to revoke
            pass
    _end_session()


def require_user() -> auth.Principal:
    """The logged-in user, checked against the account now; anyone else sees a notice and nothing more."""
    me, ss = st.session_state.get(PRINCIPAL), st.session_state
    if me is not None:
        store = door().accounts
        version = ss.get(VERSION, store.session_version(me.username))
        if sessions.principal_for(store, sessions.Claims(me.username, version, float("inf"))) != me:
            _end_session("Your login has ended: the account was changed, locked or removed. Log in again.")
            me = None
    if me is None:
        st.warning(ss.pop(ENDED, None) or "Log in to use the console.", icon=":material/lock:")
        st.stop()
    return me


def _spend(slot, me: auth.Principal) -> None:
    """Fill ``slot`` with the user's month-to-date spend and budget left, as the ledger says now."""
    with slot.container():
        try:
            spent, left = door().spend(me)
        except Exception:  # noqa: BLE001 - the ledger may be down; the Health page says why
            st.caption("Month-to-date spend unavailable (ledger unreachable).")
        else:
            st.metric("Spent this month", usd(spent))
            st.metric("Budget left", "no budget set" if left is None else usd(left))


def sidebar(me: auth.Principal):
    """Who is logged in, their month-to-date spend and budget left, demo mode, log out.

    Returns a callable that re-reads the spend: call it after the page ran, so a call the
    page just made is already counted (the slot keeps its place above the demo notice).
    """
    d = door()
    with st.sidebar:
        st.markdown(f"**{plain(me.name)}** · `{me.username}` · {me.role}")
        slot = st.empty() if d.has_budgets else None
        if slot is not None:
            _spend(slot, me)
        if d.demo:
            st.info("Demo mode: calls go to the built-in simulator; costs are what the real API would charge.",
                    icon=":material/science:")
        st.button("Log out", key="tg_logout", on_click=log_out)
    return (lambda: _spend(slot, me)) if slot is not None else (lambda: None)


def show_error(err: TollgateError) -> None:
    """An analyst-readable error box with what to do next (never a traceback, never a key)."""
    tz = ZoneInfo(door().budget_tz)
    text = f"**{err.message}**  \n{advice(err, datetime.now(UTC), tz)}  \n`{err.code}`"
    if err.request_id:
        text += f" · request `{err.request_id}`"
    (st.warning if err.retryable else st.error)(text)


def usd(amount) -> str:
    """A dollar amount for display (core.money.usd): exact figures stay in the ledger and exports."""
    return money.usd(amount)


def money_table(df, *columns: str):
    """A copy of ``df`` for display with the money ``columns`` as $ text (exact values stay in downloads)."""
    out = df.copy()
    for col in columns:
        if col in out.columns:
            out[col] = [usd(v) for v in out[col]]
    return out
