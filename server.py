"""The console's launcher: Streamlit's ``st.App`` serving app.py plus the gateway, /metrics, /healthz and /readyz.

``streamlit run server.py`` (``make run``) finds the module-level ``app`` and serves it, so the
probes share the console's port and process (its guarded client included). Logging, Sentry
and the routes come from ``core.observability``; the pages stay unaware of them.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import streamlit as st
from starlette.middleware import Middleware
from streamlit.runtime.pages_manager import PagesManager

from core.config import load_settings, reveal
from core.console import web as console_web
from core.gateway import app as gateway
from core.health import web
from core.observability import configure, sentry

ROOT = Path(__file__).resolve().parent

_settings = load_settings(load_keys=False)  # logging and probes need no key; the client loads its own
configure(_settings)
sentry.init(reveal(_settings.sentry_dsn))

# app.py routes with st.navigation. Streamlit still treats a folder named pages/ beside the main
# script as a v1 multipage app until the first st.navigation call, so a process's first visitor
# could open any pages/*.py by URL, past the login. Declaring v2 up front closes that gap (each
# page also refuses anonymous visitors on its own).
PagesManager.uses_pages_directory = False


@cache
def _console_settings():
    """The settings the pages see (st.secrets included, read once the runtime is up), for the login routes."""
    try:
        secrets = dict(st.secrets)
    except Exception:  # no secrets file: that's fine
        secrets = None
    return load_settings(secrets=secrets, load_keys=False)


def _console_client():
    """The console's own guarded client (one per process, shared with the pages): the gateway charges through it."""
    from pages import widgets

    return widgets.door().client


# The gateway's /v1 and /api routes share the console's port, process and ledger (issue 13).
app = st.App(str(ROOT / "app.py"), routes=web.routes(_settings) + gateway.routes(_settings, _console_client)
             + console_web.session_routes(_console_settings),
             middleware=[Middleware(console_web.SecurityHeaders)], on_script_error=sentry.on_script_error)
