"""Sentry for script errors and failed guarded calls, never with prompts (only when SENTRY_DSN is set).

``sentry_sdk`` is imported only then. The Anthropic integration runs with
``include_prompts=False``, local variables are not sent (a frame's ``prompt`` would be),
no default PII, and every string of an event is redacted before it leaves the process.
"""

from __future__ import annotations

import logging

from core.observability.redact import redact_value

log = logging.getLogger("tollgate.sentry")

_enabled = False
# Keys whose values may hold prompt or reply text, dropped from any event outright.
_TEXT_KEYS = frozenset({"gen_ai.request.messages", "gen_ai.response.text", "gen_ai.prompt", "gen_ai.completion",
                        "ai.input_messages", "ai.responses", "messages", "prompt", "body"})


def _strip(value):
    if isinstance(value, dict):
        return {k: ("[removed]" if k in _TEXT_KEYS else _strip(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


def scrub_event(event: dict, hint=None) -> dict:
    """Sentry ``before_send``: drop text-bearing fields, then mask keys and personal data."""
    return redact_value(_strip(event))


def init(dsn: str | None, *, environment: str | None = None, transport=None) -> bool:
    """Start Sentry once per process when a DSN is given (a host's own set-up is left alone)."""
    global _enabled
    if not dsn:
        return False
    try:
        import sentry_sdk
        from sentry_sdk.integrations.anthropic import AnthropicIntegration
    except ImportError:  # a library user without the extra: say so once, keep running (the DSN is not quoted)
        log.error("SENTRY_DSN is set but sentry-sdk is not installed, so error reporting is off: "
                  "pip install 'tollgate[sentry]' (or sentry-sdk).")
        return False

    if sentry_sdk.is_initialized() and _enabled:
        return True
    kw = {"transport": transport} if transport is not None else {}
    sentry_sdk.init(dsn=dsn, environment=environment, include_local_variables=False,  # no PII by default
                    max_request_body_size="never", integrations=[AnthropicIntegration(include_prompts=False)],
                    before_send=scrub_event, before_send_transaction=scrub_event, **kw)
    _enabled = True
    log.info("Sentry error reporting on (prompts excluded)")
    return True


def enabled() -> bool:
    return _enabled


def capture_call_failure(err: BaseException, *, call_id: str, model: str, code: str | None,
                         request_id: str | None) -> None:
    """Report a guarded call that failed upstream (its message is already scrubbed; no prompt)."""
    if not _enabled:
        return
    import sentry_sdk

    with sentry_sdk.new_scope() as scope:
        scope.set_tag("tollgate.code", code or "error")
        scope.set_tag("gen_ai.request.model", model)
        scope.set_context("tollgate_call", {"call_id": call_id, "request_id": request_id})
        sentry_sdk.capture_exception(err)


def on_script_error(exc: BaseException) -> None:
    """``st.App``'s on_script_error hook: report, then let Streamlit show its usual error box."""
    if _enabled:
        import sentry_sdk

        sentry_sdk.capture_exception(exc)


def shutdown() -> None:
    """Flush and stop this process's Sentry client (tests, or a host tearing down)."""
    global _enabled
    if _enabled:
        import sentry_sdk

        sentry_sdk.get_client().close(timeout=2)
        _enabled = False
