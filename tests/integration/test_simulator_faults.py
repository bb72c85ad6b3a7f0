"""Faults, keys, rate limits, control endpoints and concurrency of the simulator, via the SDK."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import anthropic
import pytest

from core.simulator import Simulator

KEY = "sk-ant-test-fake-0000"
BAD_KEY = "sk-ant-test-fake-0bad"
MODEL = "claude-haiku-5-5"
HELLO = [{"role": "user", "content": "How much did the team spend this week?"}]

pytestmark = pytest.mark.usefixtures("fresh_sim")  # the shared simulator, reset and configured


def make_client(sim, key=KEY, timeout=5.0):
    return anthropic.Anthropic(api_key=key, base_url=sim.url, max_retries=0, timeout=timeout)


@pytest.fixture
def client(sim):
    with make_client(sim) as c:
        yield c


def create(client, fault=None, retry_after=None, max_tokens=50, **kw):
    headers = {}
    if fault:
        headers["x-simulate-fault"] = fault
    if retry_after is not None:
        headers["x-simulate-retry-after"] = str(retry_after)
    return client.messages.create(model=MODEL, max_tokens=max_tokens, messages=HELLO,
                                  extra_headers=headers, **kw)


def control(sim, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(sim.url + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())


# --- faults by header ---------------------------------------------------------------

@pytest.mark.parametrize(("fault", "exc_type", "status"), [
    ("429", anthropic.RateLimitError, 429),
    ("529", anthropic.OverloadedError, 529),
    ("500", anthropic.InternalServerError, 500),
    ("503", anthropic.ServiceUnavailableError, 503),
    ("401", anthropic.AuthenticationError, 401),
    ("400", anthropic.BadRequestError, 400),
])
def test_header_fault_raises_the_sdk_class(client, fault, exc_type, status):
    with pytest.raises(exc_type) as info:
        create(client, fault)
    err = info.value
    assert type(err) is exc_type and err.status_code == status
    assert err.request_id.startswith("req_sim_") and err.body["request_id"] == err.request_id
    assert err.response.headers["anthropic-ratelimit-requests-limit"]


def test_retry_after_header_whole_and_fractional(client):
    with pytest.raises(anthropic.RateLimitError) as whole:
        create(client, "429", retry_after=3)
    assert whole.value.response.headers["retry-after"] == "3"
    assert "retry-after-ms" not in whole.value.response.headers
    with pytest.raises(anthropic.OverloadedError) as frac:
        create(client, "529", retry_after=0.25)
    assert frac.value.response.headers["retry-after-ms"] == "250"
    assert frac.value.response.headers["retry-after"] == "1"


def test_spend_cap_is_the_enforced_spend_limit_error(client):
    with pytest.raises(anthropic.EnforcedSpendLimitReachedError) as info:
        create(client, "spend-cap")
    err = info.value
    assert isinstance(err, anthropic.RateLimitError) and err.status_code == 429
    assert err.error_code == "enforced_spend_limit_reached" and err.type == "rate_limit_error"


def test_unknown_fault_is_a_bad_request(client):
    with pytest.raises(anthropic.BadRequestError, match="unknown fault"):
        create(client, "teapot")


def test_timeout_holds_past_a_short_client_timeout():
    # A simulator of its own: the server still answers the abandoned request after its hold (as
    # the real API would still process it), which would count against a later test's rate limits.
    with Simulator() as sim:
        sim.configure(timeout_hold_s=1.0)
        with make_client(sim, timeout=0.3) as short, pytest.raises(anthropic.APITimeoutError):
            create(short, "timeout")
        # A patient client gets the normal answer after the hold.
        sim.script_faults([{"fault": "timeout", "hold_s": 0.2}])
        with make_client(sim, timeout=3.0) as patient:
            started = time.monotonic()
            msg = create(patient)
        assert time.monotonic() - started >= 0.2 and msg.content[0].text


def test_disconnect_is_a_connection_error(client):
    with pytest.raises(anthropic.APIConnectionError) as info:
        create(client, "disconnect")
    assert not isinstance(info.value, anthropic.APITimeoutError)
    assert create(client).content[0].text  # the client's pool recovers


def test_stream_error_after_some_text(client):
    received = []
    with pytest.raises(anthropic.APIStatusError) as info:  # noqa: SIM117 - the error comes mid-stream
        with client.messages.stream(model=MODEL, max_tokens=50, messages=HELLO,
                                    extra_headers={"x-simulate-fault": "stream-error"}) as stream:
            for text in stream.text_stream:
                received.append(text)
    assert len(received) >= 2
    assert info.value.body["error"]["type"] == "overloaded_error"
    full = create(client).content[0].text
    assert full.startswith("".join(received)) and len("".join(received)) < len(full)


def test_stream_error_on_a_plain_request_is_a_500(client):
    with pytest.raises(anthropic.InternalServerError) as info:
        create(client, "stream-error")
    assert info.value.status_code == 500


# --- scripted faults ------------------------------------------------------------------

def test_scripted_faults_are_consumed_in_order(sim, client):
    sim.script_faults([{"fault": "529"}, {"fault": "529", "retry_after": 0.2}])
    with pytest.raises(anthropic.OverloadedError) as first:
        create(client)
    assert "retry-after" not in first.value.response.headers
    with pytest.raises(anthropic.OverloadedError) as second:
        create(client)
    assert second.value.response.headers["retry-after-ms"] == "200"
    assert create(client).content[0].text
    stats = sim.stats()
    assert stats["faults_served"] == 2 and stats["faults"] == {"529": 2}
    assert stats["messages_requests"] == 3 and stats["pending_faults"] == 0


def test_script_over_http_and_header_precedence(sim, client):
    assert control(sim, "POST", "/_sim/faults", {"faults": [{"fault": "500"}, "429"]}) == {"pending": 2}
    with pytest.raises(anthropic.ServiceUnavailableError):
        create(client, "503")  # the header wins and leaves the script alone
    assert len(control(sim, "GET", "/_sim/faults")["pending"]) == 2
    with pytest.raises(anthropic.InternalServerError):
        create(client)
    with pytest.raises(anthropic.RateLimitError):
        create(client)
    client.messages.count_tokens(model=MODEL, messages=HELLO)  # not a /v1/messages call: no fault
    assert create(client).content
    stats = control(sim, "GET", "/_sim/stats")
    assert stats["paths"] == {"/v1/messages": 4, "/v1/messages/count_tokens": 1}
    assert stats["statuses"] == {"503": 1, "500": 1, "429": 1, "200": 2}


def test_bad_script_is_refused(sim):
    with pytest.raises(ValueError, match="unknown fault"):
        sim.script_faults([{"fault": "418"}])
    with pytest.raises(urllib.error.HTTPError) as info:
        control(sim, "POST", "/_sim/faults", {"faults": [{"fault": "529", "retry_after": -1}]})
    assert info.value.code == 400


def test_reset_clears_script_stats_and_cache(sim, client):
    system = [{"type": "text", "text": "Cached context. " * 50, "cache_control": {"type": "ephemeral"}}]
    create(client, system=system)
    sim.script_faults(["529"])
    control(sim, "POST", "/_sim/reset")
    assert sim.stats()["total_requests"] == 0 and sim.pending_faults() == []
    assert create(client, system=system).usage.cache_read_input_tokens == 0


# --- keys -------------------------------------------------------------------------------

def test_rejected_key_is_an_authentication_error_and_never_echoed(sim, client):
    sim.configure(reject_keys=[BAD_KEY])
    with make_client(sim, key=BAD_KEY) as bad, pytest.raises(anthropic.AuthenticationError) as info:
        create(bad)
    assert BAD_KEY not in info.value.response.text and BAD_KEY not in str(info.value)
    assert create(client).content  # the other key still works
    assert BAD_KEY not in json.dumps(sim.config()) and sim.config()["reject_keys"] == 1
    control(sim, "POST", "/_sim/config", {"reject_keys": [KEY]})
    with pytest.raises(anthropic.AuthenticationError):
        create(client)


def test_missing_key_is_an_authentication_error(sim):
    req = urllib.request.Request(sim.url + "/v1/models")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=5)
    body = json.loads(info.value.read())
    assert info.value.code == 401 and body["error"]["type"] == "authentication_error"


# --- server-side rate limits ----------------------------------------------------------------

def test_rpm_limit_refuses_with_retry_after(sim, client):
    sim.configure(rpm=2)
    first = client.messages.with_raw_response.create(model=MODEL, max_tokens=20, messages=HELLO)
    assert first.headers["anthropic-ratelimit-requests-limit"] == "2"
    assert first.headers["anthropic-ratelimit-requests-remaining"] == "1"
    create(client)
    with pytest.raises(anthropic.RateLimitError) as info:
        create(client)
    err = info.value
    assert 1 <= int(err.response.headers["retry-after"]) <= 30 and "2 requests per minute" in err.api_message
    assert err.response.headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert sim.stats()["rate_limited"] == 1


def test_token_limits_count_input_and_reserve_max_tokens(sim, client):
    sim.configure(input_tpm=30)
    long = [{"role": "user", "content": "word " * 200}]
    with pytest.raises(anthropic.RateLimitError, match="input tokens per minute"):
        client.messages.create(model=MODEL, max_tokens=10, messages=long)
    sim.configure(input_tpm=None, output_tpm=100)
    with pytest.raises(anthropic.RateLimitError, match="output tokens per minute"):
        create(client, max_tokens=500)
    raw = client.messages.with_raw_response.create(model=MODEL, max_tokens=90, messages=HELLO)
    used = raw.parse().usage.output_tokens
    after = client.messages.with_raw_response.create(model=MODEL, max_tokens=1, messages=HELLO)
    # max_tokens was reserved up front and the unused part given back.
    remaining = int(after.headers["anthropic-ratelimit-output-tokens-remaining"])
    assert 100 - used - 1 <= remaining <= 100 - used + 1


# --- latency and concurrency ---------------------------------------------------------------

def test_latency_settings_slow_the_reply(sim, client):
    sim.configure(ttft_s=0.05, tokens_per_s=400)
    started = time.monotonic()
    msg = create(client)
    assert time.monotonic() - started >= 0.05 + msg.usage.output_tokens / 400 - 0.01


def test_dozens_of_parallel_requests(sim):
    prompts = [[{"role": "user", "content": f"Question number {i}?"}] for i in range(40)]

    def plain_text(c, messages):
        return c.messages.create(model=MODEL, max_tokens=40, messages=messages).content[0].text

    def stream_text(c, messages):
        with c.messages.stream(model=MODEL, max_tokens=40, messages=messages) as stream:
            return "".join(stream.text_stream)

    with make_client(sim, timeout=10) as c, ThreadPoolExecutor(max_workers=20) as pool:
        plain = list(pool.map(lambda m: plain_text(c, m), prompts))
        streamed = list(pool.map(lambda m: stream_text(c, m), prompts))
    assert plain == streamed and len(set(plain)) > 30
    assert sim.stats()["messages_requests"] == 80 and sim.stats()["statuses"] == {"200": 80}
