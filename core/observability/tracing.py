"""OpenTelemetry spans of guarded calls, with the GenAI semantic-convention attributes.

One CLIENT span per logical call, from its start to its recorded outcome; each retry is a
span event; an error or refusal sets the span's status to ERROR with ``error.type``. The
``opentelemetry`` package is imported only when tracing is wanted, so the library works
without it. Mode ``auto`` traces only when an SDK tracer provider has been installed (by
the host, or ``opentelemetry-instrument``): no provider, no span, no cost.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext

log = logging.getLogger("tollgate.tracing")

SYSTEM = "anthropic"
_otel = None  # (trace module, ProxyTracerProvider, NoOpTracerProvider, SpanKind, Status, StatusCode)
_missing = False
_tracers: dict = {}


def _load():
    global _otel, _missing
    if _otel is None and not _missing:
        try:
            from opentelemetry import trace
            from opentelemetry.trace import (
                NoOpTracerProvider,
                ProxyTracerProvider,
                SpanKind,
                Status,
                StatusCode,
            )
        except ImportError:
            _missing = True
            log.info("TOLLGATE_TRACING is set but opentelemetry is not installed: no spans")
            return None
        _otel = (trace, ProxyTracerProvider, NoOpTracerProvider, SpanKind, Status, StatusCode)
    return _otel


def _tracer(mode: str):
    """The tracer to use now, or None (tracing off, not installed, or no provider in auto mode)."""
    if mode == "off":
        return None
    otel = _load()
    if otel is None:
        return None
    trace, proxy, noop = otel[0], otel[1], otel[2]
    provider = trace.get_tracer_provider()
    if mode == "auto" and isinstance(provider, proxy | noop):
        return None
    tracer = _tracers.get(id(provider))
    if tracer is None:
        tracer = _tracers[id(provider)] = provider.get_tracer("tollgate")
    return tracer


def start(mode: str, model: str, streamed: bool):
    """Start a call's span (None when not tracing); the Recorder ends it with ``end``."""
    tracer = _tracer(mode)
    if tracer is None:
        return None
    return tracer.start_span(f"chat {model}", kind=_otel[3].CLIENT, attributes={
        "gen_ai.operation.name": "chat", "gen_ai.system": SYSTEM, "gen_ai.provider.name": SYSTEM,
        "gen_ai.request.model": model, "tollgate.streamed": streamed})


def current(span):
    """A context in which ``span`` is the active span (the SDK's own HTTP span nests under it)."""
    if span is None:
        return _NOTHING
    return _otel[0].use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False)


_NOTHING = nullcontext()


def retry(span, attempt: int, code: str, wait_s: float) -> None:
    span.add_event("retry", {"attempt": attempt, "error.type": code, "tollgate.wait_s": wait_s})


def end(span, rec, max_tokens: int | None = None, *, message_id: str | None = None,
        response_model: str | None = None) -> None:
    """Set the outcome's attributes (no prompt, no user) and end the span."""
    usage = rec.usage
    attrs = {
        "gen_ai.request.model": rec.model,
        # The convention counts every input token, cached ones included, in input_tokens.
        "gen_ai.usage.input_tokens": usage.prompt_tokens,
        "gen_ai.usage.output_tokens": usage.output_tokens,
        "gen_ai.usage.cache_read.input_tokens": usage.cache_read_tokens,
        "gen_ai.usage.cache_creation.input_tokens": usage.cache_creation_5m_tokens
        + usage.cache_creation_1h_tokens,
        "tollgate.call_id": rec.id, "tollgate.status": rec.status, "tollgate.cached": rec.status == "cached",
        "tollgate.retries": rec.retries, "tollgate.cost_usd": str(rec.cost_usd),
    }
    if max_tokens is not None:
        attrs["gen_ai.request.max_tokens"] = max_tokens
    if rec.status in ("ok", "cached"):
        attrs["gen_ai.response.model"] = response_model or rec.model
    if message_id:
        attrs["gen_ai.response.id"] = message_id
    if rec.request_id:
        attrs["anthropic.request_id"] = rec.request_id
    span.update_name(f"chat {rec.model}")
    span.set_attributes(attrs)
    if rec.error_code:
        span.set_attribute("error.type", rec.error_code)
        span.set_status(_otel[4](_otel[5].ERROR, rec.error_code))
    span.end()
