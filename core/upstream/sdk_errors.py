"""The one translation from the anthropic SDK's errors (and HTTP statuses) to Tollgate's typed errors.

Messages are built from the status and error type, quoting the API's own ``error.message`` for
client errors such as a retired model's 404 (scrubbed, shortened); the server's retry headers
and ``x-should-retry`` set ``retry_after_s`` and ``retryable``.
"""

from __future__ import annotations

import json

from core.errors import (
    AuthenticationFailed,
    BatchNotEnded,
    ConnectionFailed,
    InvalidRequest,
    MalformedResponse,
    NotFound,
    Overloaded,
    PermissionDenied,
    RequestTooLarge,
    SpendCapReached,
    Timeout,
    TollgateError,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamServerError,
    scrub,
)

# Status codes the retry layer may try again (besides connection errors and timeouts).
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})

_BY_STATUS: dict[int, type[UpstreamError]] = {
    400: InvalidRequest, 401: AuthenticationFailed, 403: PermissionDenied, 404: NotFound,
    408: Timeout, 409: UpstreamServerError, 413: RequestTooLarge, 422: InvalidRequest,
    429: UpstreamRateLimited, 529: Overloaded,
}

_BY_TYPE: dict[str, type[UpstreamError]] = {
    "invalid_request_error": InvalidRequest, "authentication_error": AuthenticationFailed,
    "permission_error": PermissionDenied, "not_found_error": NotFound,
    "request_too_large": RequestTooLarge, "rate_limit_error": UpstreamRateLimited,
    "overloaded_error": Overloaded, "api_error": UpstreamServerError,
    "timeout_error": Timeout,
}


def retry_after_seconds(headers) -> float | None:
    """Seconds the server asked us to wait (``retry-after-ms`` wins), or None."""
    if headers is None:
        return None
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return float(raw_ms) / 1000.0
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is not None:
        try:
            return float(raw)
        except ValueError:
            return None
    return None


# Client errors whose own ``error.message`` tells the analyst what is wrong ("model: … has been
# retired"): it is quoted (scrubbed, shortened) after ours. Other statuses keep our text only.
_QUOTE_UPSTREAM = frozenset({400, 403, 404, 413, 422})
_UPSTREAM_MAX = 300  # characters of the API's message quoted


def upstream_message(body) -> str | None:
    """The API's own ``error.message`` from an error body, or None."""
    if not isinstance(body, dict):
        return None
    inner = body.get("error") if isinstance(body.get("error"), dict) else body
    msg = inner.get("message")
    return msg.strip() if isinstance(msg, str) and msg.strip() else None


def from_status(status: int, error_type: str | None, *, error_code: str | None = None,
                request_id: str | None = None, headers=None, api_message: str | None = None) -> UpstreamError:
    """Build the typed error for an HTTP status and Anthropic ``error.type`` (and the API's own message)."""
    if status == 429 and error_code == "enforced_spend_limit_reached":
        return SpendCapReached(request_id=request_id, status_code=status)
    cls = _BY_STATUS.get(status)
    if cls is None and error_type:
        cls = _BY_TYPE.get(error_type)
    if cls is None:
        cls = UpstreamServerError if status >= 500 else InvalidRequest
    message = None
    if api_message and status in _QUOTE_UPSTREAM:
        quoted = api_message if len(api_message) <= _UPSTREAM_MAX else api_message[:_UPSTREAM_MAX] + "…"
        message = f"{cls.default_message} The API said: {quoted}"
    err = cls(message, request_id=request_id, status_code=status)
    err.api_message = api_message and scrub(api_message)
    err.retry_after_s = retry_after_seconds(headers)
    # A 5xx we know about is retryable even when its type is unexpected.
    if status in RETRYABLE_STATUS and not err.retryable:
        err.retryable = True
    # The server's word wins over the status table, as in the SDK's own policy.
    should_retry = headers.get("x-should-retry") if headers is not None else None
    if should_retry in ("true", "false"):
        err.retryable = should_retry == "true"
    return err


def translate(exc: BaseException) -> TollgateError:
    """Translate an exception from the anthropic SDK into a Tollgate error (the only place)."""
    if isinstance(exc, TollgateError):
        return exc
    import anthropic
    import httpx2

    # The SDK wraps transport errors of a request, but not those raised while a stream is read.
    if isinstance(exc, (anthropic.APITimeoutError, httpx2.TimeoutException)):
        return Timeout()
    if isinstance(exc, (anthropic.APIConnectionError, httpx2.TransportError)):
        return ConnectionFailed()
    if isinstance(exc, anthropic.APIStatusError):
        err = from_status(exc.status_code, getattr(exc, "type", None),
                          error_code=getattr(exc, "error_code", None),
                          request_id=getattr(exc, "request_id", None),
                          headers=exc.response.headers, api_message=upstream_message(getattr(exc, "body", None)))
        err.__cause__ = None
        return err
    if isinstance(exc, (anthropic.APIResponseValidationError, json.JSONDecodeError)):
        return MalformedResponse()  # a body or stream event that is not the JSON the API sends
    if type(exc) is anthropic.AnthropicError and "results_url" in str(exc):
        return BatchNotEnded()  # the SDK's own word that a Message Batch has no results yet
    if isinstance(exc, anthropic.APIError):
        # e.g. an error event inside a 200 stream: body carries the Anthropic error shape.
        body = getattr(exc, "body", None)
        etype = None
        if isinstance(body, dict):
            etype = (body.get("error") or {}).get("type") or body.get("type")
        cls = _BY_TYPE.get(etype or "", UpstreamServerError)
        return cls()
    return TollgateError(f"Unexpected failure: {type(exc).__name__}.")
