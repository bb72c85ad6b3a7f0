"""A retired model through the real SDK: the API's own "has been retired" message reaches the analyst."""

from __future__ import annotations

import pytest

from core import errors
from core.upstream import sdk_errors


@pytest.mark.parametrize("model", ["claude-3-haiku-20240307", "claude-3-5-sonnet-20241022"])
def test_a_retired_models_404_keeps_the_apis_own_message(make_client, fresh_sim, model):
    with pytest.raises(errors.NotFound) as info:
        make_client().create("Hello", user="ana", model=model, max_tokens=50)
    err = info.value
    assert f"model: {model} has been retired" in err.message  # the upstream text, not only ours
    assert err.api_message == f"model: {model} has been retired"
    assert err.message.startswith(errors.NotFound.default_message)
    assert err.status_code == 404 and err.request_id and not err.retryable
    assert fresh_sim.stats()["messages_requests"] == 1  # not retried


def test_a_404_without_a_body_message_keeps_only_tollgates_text():
    err = sdk_errors.from_status(404, "not_found_error", api_message=None)
    assert err.message == errors.NotFound.default_message and err.api_message is None


def test_a_quoted_api_message_is_scrubbed_and_shortened():
    raw = "model: x has been retired; key sk-ant-test-fake-abcdefghijklmnop " + "y" * 1000
    err = sdk_errors.from_status(400, "invalid_request_error", api_message=raw)
    assert "abcdefghijklmnop" not in err.message and "[redacted]" in err.message
    assert len(err.message) < 420 and err.message.endswith("…")
    assert "abcdefghijklmnop" not in (err.api_message or "")


def test_a_server_error_does_not_quote_the_api():
    err = sdk_errors.from_status(500, "api_error", api_message="internal stack trace here")
    assert "stack trace" not in err.message
