"""The gateway's pure parts: the error table, the credential of a request, a Messages body into call arguments."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core import errors as e
from core.config import load_settings
from core.gateway import errors as gw
from core.gateway.auth import Authenticator, Caller, token_of
from core.gateway.relay import call_kwargs

ASK = {"model": "claude-haiku-5-5", "max_tokens": 10, "messages": [{"role": "user", "content": "Hi"}]}


@pytest.mark.parametrize("err,status,etype,retry", [
    (e.InvalidApiKey(), 401, "authentication_error", "false"),
    (e.ModelNotAllowed("claude-opus-5-5", ["claude-haiku-5-5"]), 403, "permission_error", "false"),
    (e.BudgetExceeded("ana", Decimal(0), Decimal("0.01")), 403, "permission_error", "false"),
    (e.PromptBlocked(["ignore previous"]), 400, "invalid_request_error", "false"),
    (e.UnknownModel("x", ["claude-haiku-5-5"]), 400, "invalid_request_error", "false"),
    (e.ValidationError("max_tokens: too big"), 400, "invalid_request_error", "false"),
    (e.RateLimited("requests per minute", 1.2), 429, "rate_limit_error", "true"),
    (e.CircuitOpen(29.5), 529, "overloaded_error", "true"),
    (e.LedgerUnavailable(), 503, "api_error", "true"),
    (e.SharedStateUnavailable(), 503, "api_error", "true"),  # Redis down, closed mode: a wait, not a 500
    (e.AuthenticationFailed(), 502, "api_error", "false"),  # the server's own key: not the caller's 401
    (e.SpendCapReached(), 429, "rate_limit_error", "false"),
    (e.Overloaded(), 529, "overloaded_error", "true"),
    (e.NotFound(), 404, "not_found_error", "false"),
    (e.Timeout(), 504, "timeout_error", "true"),
    (e.TollgateError("?"), 500, "api_error", "false"),
])
def test_each_typed_error_has_its_status_type_and_retry_verdict(err, status, etype, retry):
    r = gw.response(err)
    assert (r.status_code, r.headers["x-should-retry"]) == (status, retry)
    assert gw.classify(err) == (status, etype)


def test_a_wait_becomes_retry_after_in_whole_seconds_and_milliseconds():
    h = gw.headers_for(e.RateLimited("requests per minute", 1.2))
    assert (h["retry-after"], h["retry-after-ms"]) == ("2", "1200")
    assert "retry-after" not in gw.headers_for(e.BudgetExceeded("ana", Decimal(0), Decimal(1)))
    assert "retry-after" not in gw.headers_for(e.RateLimited("tokens", float("inf")))  # never fits


def test_the_body_is_anthropics_shape():
    assert gw.body("rate_limit_error", "slow down", "req_1") == {
        "type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}, "request_id": "req_1"}


@pytest.mark.parametrize("headers,token", [
    ({"x-api-key": "sk-tg-a"}, "sk-tg-a"), ({"authorization": "Bearer tok"}, "tok"),
    ({"authorization": "bearer  tok "}, "tok"), ({"authorization": "Basic abc"}, None), ({}, None),
    ({"x-api-key": "k", "authorization": "Bearer t"}, "k"),
])
def test_the_credential_of_a_request(headers, token):
    assert token_of(headers) == token


def test_without_keys_or_tokens_every_credential_is_refused():
    auth = Authenticator(None, None)
    for headers in ({}, {"x-api-key": "sk-tg-0123456789ab_" + "x" * 40}, {"x-api-key": "a.b.c"}):
        with pytest.raises(e.InvalidApiKey):
            auth.authenticate(headers)


def test_a_keys_models_are_checked_after_aliases():
    from core.catalog.models import load_catalogue

    cat = load_catalogue(tiers=load_settings(env={}, load_keys=False).tiers)
    Caller("ana", "k", ("claude-haiku-5-5",)).check_model("simple", cat)
    with pytest.raises(e.ModelNotAllowed):
        Caller("ana", "k", ("claude-haiku-5-5",)).check_model("complex", cat)
    Caller("ana", None).check_model("anything", cat)  # no list: every model


def test_a_body_into_call_arguments():
    kw = call_kwargs({**ASK, "stream": True, "temperature": 0}, {"anthropic-beta": "x-2026",
                                                                  "anthropic-version": "2023-06-01"})
    assert kw == {**ASK, "temperature": 0, "extra_headers": {"anthropic-beta": "x-2026",
                                                              "anthropic-version": "2023-06-01"}}
    assert call_kwargs(ASK, {}) == ASK  # no header: the SDK's own anthropic-version


@pytest.mark.parametrize("version", ["", "2023-06-01\r\nx-evil: 1", "2023 06 01", "v" * 40, "é"])
def test_an_anthropic_version_that_is_not_a_short_token_is_refused(version):
    with pytest.raises(e.ValidationError) as info:
        call_kwargs(ASK, {"anthropic-version": version})
    assert info.value.field == "anthropic-version"


@pytest.mark.parametrize("body,field", [
    ([], "body"), ({"messages": [], "max_tokens": 1}, "model"), ({**ASK, "user": "bo"}, "user"),
    ({**ASK, "extra_headers": {"x": "1"}}, "extra_headers"),
])
def test_bad_bodies_are_refused_naming_the_field(body, field):
    with pytest.raises(e.ValidationError) as info:
        call_kwargs(body, {})
    assert info.value.field == field


@pytest.mark.parametrize("kw,var", [({"jwt_secret": "tiny-s3cret"}, "TOLLGATE_JWT_SECRET"),
                                    ({"jwt_jwks_url": "file:///etc/jwks"}, "TOLLGATE_JWT_JWKS_URL"),
                                    ({"gateway_url": "127.0.0.1:8501"}, "TOLLGATE_GATEWAY_URL"),
                                    ({"gateway_max_body_bytes": 0}, "TOLLGATE_GATEWAY_MAX_BODY_BYTES")])
def test_gateway_settings_are_checked(kw, var):
    with pytest.raises(e.ConfigError) as info:
        load_settings(env={}, load_keys=False, **kw)
    assert info.value.variable == var and "tiny-s3cret" not in info.value.message


def test_a_verified_token_is_trusted_from_memory_for_the_cache_time_never_past_its_exp():
    import time

    import jwt

    from core.gateway.tokens import TokenVerifier

    secret = "unit-test-only-shared-secret-0123456789"
    now = [time.time()]
    verifier = TokenVerifier(secret=secret, cache_s=5.0, clock=lambda: now[0])
    token = jwt.encode({"sub": "ana", "exp": int(now[0]) + 3600}, secret, algorithm="HS256")
    assert verifier.verify(token) == "ana" and verifier.fresh(token)
    verifier.secret = "another-secret-0123456789abcdefghijkl"  # a re-check would now fail: memory answers
    assert verifier.verify(token) == "ana"
    now[0] += 5.1
    assert not verifier.fresh(token)
    with pytest.raises(e.InvalidApiKey):
        verifier.verify(token)
    verifier.secret = secret
    soon = jwt.encode({"sub": "bo", "exp": int(now[0]) + 2}, secret, algorithm="HS256")
    assert verifier.verify(soon) == "bo"
    now[0] += 3  # past its exp, within the cache time: verified again, and refused
    assert not verifier.fresh(soon)
    with pytest.raises(e.InvalidApiKey, match="expired"):
        TokenVerifier(secret=secret).verify(jwt.encode({"sub": "bo", "exp": int(time.time()) - 5}, secret,
                                                       algorithm="HS256"))
    uncached = TokenVerifier(secret=secret)
    assert uncached.verify(token) == "ana" and not uncached.fresh(token)
