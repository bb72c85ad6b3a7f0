"""Typed errors: the SDK's errors are translated once, each with a code, a flag and a readable message."""

import anthropic
import httpx2
import pytest

from core import errors
from core.upstream import sdk_errors

REQ = httpx2.Request("POST", "http://127.0.0.1/v1/messages")


def sdk_status_error(status, etype, *, headers=None, details=None):
    """A real SDK error, built the way the SDK builds it from a response."""
    body = {"type": "error", "error": {"type": etype, "message": "upstream words"}}
    if details:
        body["error"]["details"] = details
    resp = httpx2.Response(status, headers={"request-id": "req_test_1", **(headers or {})}, json=body,
                           request=REQ)
    client = anthropic.Anthropic(api_key="sk-ant-test-fake-0000", base_url="http://127.0.0.1:9")
    return client._make_status_error("Error", body=body, response=resp)


@pytest.mark.parametrize("status,etype,cls,retryable", [
    (400, "invalid_request_error", errors.InvalidRequest, False),
    (401, "authentication_error", errors.AuthenticationFailed, False),
    (403, "permission_error", errors.PermissionDenied, False),
    (404, "not_found_error", errors.NotFound, False),
    (413, "request_too_large", errors.RequestTooLarge, False),
    (429, "rate_limit_error", errors.UpstreamRateLimited, True),
    (500, "api_error", errors.UpstreamServerError, True),
    (503, "api_error", errors.UpstreamServerError, True),
    (529, "overloaded_error", errors.Overloaded, True),
])
def test_status_errors_translate(status, etype, cls, retryable):
    err = sdk_errors.translate(sdk_status_error(status, etype))
    assert type(err) is cls
    assert err.retryable is retryable
    assert err.request_id == "req_test_1"
    assert err.code and err.message.startswith(cls.default_message)
    # A client error quotes the API's own message after ours (a retired model's 404 says so);
    # auth, rate-limit and server errors keep only Tollgate's text.
    quoted = status in (400, 403, 404, 413)
    assert ("The API said: upstream words" in err.message) is quoted


def test_spend_cap_is_its_own_final_error():
    exc = sdk_status_error(429, "rate_limit_error", details={"error_code": "enforced_spend_limit_reached"})
    err = sdk_errors.translate(exc)
    assert isinstance(err, errors.SpendCapReached) and not err.retryable
    assert "1st" in err.message


def test_retry_after_header_is_kept():
    err = sdk_errors.translate(sdk_status_error(429, "rate_limit_error", headers={"retry-after": "3"}))
    assert err.retry_after_s == 3.0


def test_connection_and_timeout():
    assert isinstance(sdk_errors.translate(anthropic.APITimeoutError(REQ)), errors.Timeout)
    assert isinstance(sdk_errors.translate(anthropic.APIConnectionError(request=REQ)), errors.ConnectionFailed)


def test_messages_never_carry_a_key():
    err = errors.TollgateError("bad key sk-ant-test-fake-abcdefghijkl1234 rejected")
    assert "abcdefghijkl1234" not in str(err) and "redacted" in str(err)


def test_every_error_has_a_distinct_stable_code():
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.TollgateError)]
    concrete = [c for c in classes if c not in (errors.TollgateError, errors.UpstreamError)]
    codes = [c.code for c in concrete]
    assert len(codes) == len(set(codes)), codes


def test_to_dict_shape():
    d = errors.Overloaded(request_id="req_1").to_dict()
    assert set(d) == {"code", "message", "retryable", "request_id"} and d["retryable"] is True


def test_budget_error_says_what_is_left():
    from decimal import Decimal
    err = errors.BudgetExceeded("ana", Decimal("0.0123"), Decimal("0.05"))
    assert "0.0123" in err.message and err.remaining_usd == Decimal("0.0123")
