"""Widgets shared by the console's pages, and the one cached guarded client of this process."""

from __future__ import annotations

import streamlit as st

from core.config import load_settings
from core.errors import TollgateError
from core.factory import build_client


@st.cache_resource(show_spinner="Starting the guarded client…", on_release=lambda c: c.close())
def client():
    """One guarded client per console process (demo simulator included when no key is set)."""
    try:
        secrets = dict(st.secrets)
    except Exception:  # no secrets file: that's fine
        secrets = None
    return build_client(load_settings(secrets=secrets), source="console")


def mode_banner(c) -> None:
    """Say plainly whether calls are real (and billed) or go to the simulator."""
    if c.demo:
        st.info("Demo mode: no API key is configured, so calls go to the built-in simulator. "
                "Costs shown are what the same call would cost on the real API.", icon=":material/science:")


def show_error(err: TollgateError) -> None:
    """An analyst-readable error box (the code helps engineers; the message never holds a key)."""
    text = f"**{err.message}**  \n`{err.code}`"
    if err.request_id:
        text += f" · request `{err.request_id}`"
    (st.warning if err.retryable else st.error)(text)


def usd(amount) -> str:
    """A dollar amount for display: exact figures stay in the ledger; six decimals fit a metric."""
    return f"${amount:,.6f}" if amount < 1 else f"${amount:,.2f}"
