"""Tollgate's typed errors as Anthropic error responses, in one table, so the official SDKs do the right thing.

The body is Anthropic's shape, ``{"type": "error", "error": {"type", "message"}, "request_id"}``.
A refusal the caller can fix or wait out is told apart for the SDKs by status and by
``x-should-retry`` (which every official SDK obeys before its status rules): a local rate limit
or an open circuit is retried after ``retry-after``; a budget refusal, a bad or revoked key, a
model the key may not use or a blocked prompt is final.
"""

from __future__ import annotations

import math

from starlette.responses import JSONResponse

from core import errors as e

# (class, HTTP status, Anthropic error.type), the first match wins: subclasses before their bases.
_TABLE: tuple[tuple[type[e.TollgateError], int, str], ...] = (
    (e.InvalidApiKey, 401, "authentication_error"),
    (e.ModelNotAllowed, 403, "permission_error"),
    (e.BudgetExceeded, 403, "permission_error"),
    (e.NotAuthorised, 403, "permission_error"),
    (e.RunNotFound, 404, "not_found_error"),
    (e.PromptBlocked, 400, "invalid_request_error"),
    (e.ConfigError, 500, "api_error"),
    (e.ValidationError, 400, "invalid_request_error"),
    (e.BatchNotEnded, 400, "invalid_request_error"),  # as the API answers results asked for too early
    (e.BatchInRun, 409, "invalid_request_error"),  # final (x-should-retry: false): the run must end first
    (e.CallInProgress, 409, "api_error"),  # the same idempotency key in flight: the SDKs retry a 409
    (e.RateLimited, 429, "rate_limit_error"),
    (e.CircuitOpen, 529, "overloaded_error"),
    (e.LedgerUnavailable, 503, "api_error"),
    # Redis down and the failure mode closed: a wait, not the caller's fault (the SDKs retry a 503).
    (e.SharedStateUnavailable, 503, "api_error"),
    (e.CostUnbounded, 503, "api_error"),
    (e.SpendCapReached, 429, "rate_limit_error"),
    (e.UpstreamRateLimited, 429, "rate_limit_error"),
    (e.Overloaded, 529, "overloaded_error"),
    # The server's own Anthropic key was rejected: not the caller's fault, and their key is fine.
    (e.AuthenticationFailed, 502, "api_error"),
    (e.PermissionDenied, 403, "permission_error"),
    (e.NotFound, 404, "not_found_error"),
    (e.RequestTooLarge, 413, "request_too_large"),
    (e.InvalidRequest, 400, "invalid_request_error"),
    (e.Timeout, 504, "timeout_error"),
    (e.ConnectionFailed, 502, "api_error"),
    (e.MalformedResponse, 502, "api_error"),
    (e.UpstreamServerError, 500, "api_error"),
)


def classify(err: e.TollgateError) -> tuple[int, str]:
    """(HTTP status, Anthropic error type) for a typed error; anything unlisted is a 500 api_error."""
    for cls, status, etype in _TABLE:
        if isinstance(err, cls):
            return status, etype
    return 500, "api_error"


def body(etype: str, message: str, request_id: str | None = None) -> dict:
    """Anthropic's error body."""
    out = {"type": "error", "error": {"type": etype, "message": message}}
    if request_id:
        out["request_id"] = request_id
    return out


def headers_for(err: e.TollgateError) -> dict[str, str]:
    """``x-should-retry`` from the error's own verdict, and ``retry-after`` (whole seconds) when it has a wait."""
    out = {"x-should-retry": "true" if err.retryable else "false"}
    wait = getattr(err, "retry_after_s", None)
    if err.retryable and wait is not None and math.isfinite(wait):
        out["retry-after"] = str(max(1, math.ceil(wait)))
        out["retry-after-ms"] = str(max(1, math.ceil(wait * 1000)))  # the SDKs read this first: no rounding up
    if isinstance(err, e.InvalidApiKey):
        out["www-authenticate"] = 'Bearer realm="tollgate"'
    return out


def response(err: e.TollgateError) -> JSONResponse:
    """The JSON error response for ``err`` (its message is already scrubbed of anything key-shaped)."""
    status, etype = classify(err)
    extra = headers_for(err)
    if err.request_id:
        extra["request-id"] = err.request_id
    return JSONResponse(body(etype, err.message, err.request_id), status_code=status, headers=extra)


def plain(status: int, etype: str, message: str, *, retry: bool = False) -> JSONResponse:
    """An error response the gateway makes itself (413, 404, 405), in the same shape."""
    return JSONResponse(body(etype, message), status_code=status,
                        headers={"x-should-retry": "true" if retry else "false"})
