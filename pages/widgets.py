"""Widgets shared by the console's pages: login, sidebar, the process's guarded client, errors, money."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import streamlit as st

from core import auth, money
from core.advice import advice
from core.clock import SystemClock
from core.config import Settings, load_settings
from core.errors import TollgateError
from core.factory import build_client

PRINCIPAL = "tollgate_principal"


@st.cache_resource(show_spinner=False)
def settings() -> Settings:
    """The console's settings, built once per process (st.secrets > env/.env > defaults)."""
    try:
        secrets = dict(st.secrets)
    except Exception:  # no secrets file: that's fine
        secrets = None
    return load_settings(secrets=secrets)


@st.cache_resource(show_spinner="Starting the guarded client…", on_release=lambda c: c.close())
def client():
    """One guarded client per console process (demo simulator included when no key is set)."""
    c = build_client(settings(), source="console")
    if c.ledger is not None:
        c.ledger.open()  # migrate and replay the spool now, so pages can read at once (False: Health says why)
    return c


@st.cache_resource(show_spinner=False)
def login_guard() -> auth.LoginGuard:
    """The process's login credentials and wrong-password lockout, shared by every session."""
    return auth.LoginGuard(auth.UserStore(settings().users_file), clock=SystemClock())


def login() -> auth.Principal:
    """Show only the login form until someone logs in; then return who it is (re-read from the users file)."""
    import streamlit_authenticator as stauth
    from streamlit_authenticator.utilities.exceptions import LoginError

    cfg = settings()
    store = auth.UserStore(cfg.users_file)
    auth.ensure_demo_accounts(store, cfg)
    try:
        key = auth.cookie_key(cfg)
    except auth.RefuseToStart as exc:
        st.error(str(exc), icon=":material/block:")
        st.stop()
    guard = login_guard()
    authenticator = stauth.Authenticate(guard.credentials(), "tollgate_auth", key, cfg.cookie_expiry_days,
                                        auto_hash=False)
    st.session_state["tollgate_authenticator"] = authenticator
    if not st.session_state.get("authentication_status"):
        st.title("Tollgate")
        st.caption("The guarded console for Claude: every call validated, limited, priced and recorded.")
        try:
            authenticator.login(location="main", key="login", max_login_attempts=guard.max_failures)
        except LoginError:
            st.error(f"This account is locked after {guard.max_failures} wrong passwords. Try again in "
                     f"{guard.lockout_s / 60:.0f} minutes, or ask an admin to set a new password.",
                     icon=":material/lock:")
        finally:
            guard.settle()
        if st.session_state.get("authentication_status") is False:
            st.error("Wrong username or password.")
        demo = store.demo_accounts()
        if demo:
            st.info(f"Demo accounts: {', '.join(f'`{u}`' for u in demo)}, password `{auth.DEMO_PASSWORD}` "
                    "(demo mode only; the production checklist fails while they exist).", icon=":material/key:")
        if not st.session_state.get("authentication_status"):
            st.session_state.pop(PRINCIPAL, None)
            st.stop()
        st.rerun()  # logged in just now: draw the console without the login form
    me = store.principal(st.session_state.get("username"))
    if me is None:  # the account was removed while logged in
        authenticator.logout(location="unrendered")
        st.session_state.pop(PRINCIPAL, None)
        st.rerun()
    st.session_state[PRINCIPAL] = me
    return me


def require_user() -> auth.Principal:
    """The logged-in user; an anonymous visitor sees a notice and nothing else of the page."""
    me = st.session_state.get(PRINCIPAL)
    if me is None:
        st.warning("Log in to use the console.", icon=":material/lock:")
        st.stop()
    return me


def _spend(slot, me: auth.Principal) -> None:
    """Fill ``slot`` with the user's month-to-date spend and budget left, as the ledger says now."""
    c = client()
    with slot.container():
        try:
            spent, left = c.budgets.spent(me.username), c.budgets.remaining(me.username)
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
    c = client()
    with st.sidebar:
        st.markdown(f"**{me.name}** · `{me.username}` · {me.role}")
        slot = st.empty() if c.budgets is not None else None
        if slot is not None:
            _spend(slot, me)
        if c.demo:
            st.info("Demo mode: calls go to the built-in simulator; costs are what the real API would charge.",
                    icon=":material/science:")
        authenticator = st.session_state.get("tollgate_authenticator")
        if authenticator is not None:
            authenticator.logout("Log out", location="sidebar", key="tg_logout")
    return (lambda: _spend(slot, me)) if slot is not None else (lambda: None)


def show_error(err: TollgateError) -> None:
    """An analyst-readable error box with what to do next (never a traceback, never a key)."""
    tz = ZoneInfo(settings().budget_tz)
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


def model_label(c, model: str) -> str:
    """A model with its tier and prices, for selectors: 'claude-haiku-5-5 · simple · $1 / $5 per MTok'."""
    tiers = [t for t, m in c.catalogue.tiers.items() if m == model]
    row = c.pricing.row_for(model)
    price = "unpriced" if row is None else f"${row.input:g} in / ${row.output:g} out per MTok"
    return " · ".join([model, *tiers, price])
