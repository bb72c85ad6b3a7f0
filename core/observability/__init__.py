"""Observability of Tollgate: JSON logs, Prometheus metrics, health routes, tracing and Sentry.

One module per concern: ``redact`` (masking), ``logs`` (JSON lines through ``logging``),
``events`` (notable events), ``prom`` (Prometheus), ``tracing`` (OpenTelemetry), ``sentry``,
``registry`` (this process's clients), ``readiness`` and ``web`` (the /metrics, /healthz and
/readyz routes). ``attach`` is how the factory wires a new client in.
"""

from __future__ import annotations

from core.observability import registry
from core.observability.logs import JsonFormatter, TextFormatter, configure
from core.observability.prom import serve_metrics

__all__ = ["JsonFormatter", "TextFormatter", "attach", "configure", "serve_metrics"]


def attach(client, settings) -> None:
    """Make a newly built client visible to /metrics and /readyz; start Sentry if SENTRY_DSN is set."""
    from core.config_model import (
        reveal,  # defined there; core.config would close a loop through core.upstream.keys
    )
    from core.observability import prom, sentry

    prom.install_collector()
    registry.register(client)
    if settings is not None and settings.sentry_dsn:
        sentry.init(reveal(settings.sentry_dsn))
