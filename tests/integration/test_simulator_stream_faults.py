"""The simulator's hostile-server faults, seen through the bare SDK: cut, error and malformed streams,
trickled bodies and x-should-retry."""

from __future__ import annotations

import json
import time

import anthropic
import pytest

KEY = "sk-ant-test-fake-0000"
MODEL = "claude-haiku-5-5"
HELLO = [{"role": "user", "content": "How much did the team spend this week?"}]

pytestmark = pytest.mark.usefixtures("fresh_sim")


def events(sdk, fault: str, after: int | None = None) -> list:
    headers = {"x-simulate-fault": fault}
    if after is not None:
        headers["x-simulate-after"] = str(after)
    return list(sdk.messages.create(model=MODEL, max_tokens=50, messages=HELLO, stream=True,
                                    extra_headers=headers))


def test_truncate_ends_the_body_cleanly_before_message_stop(sdk):
    got = events(sdk, "truncate", after=2)
    kinds = [e.type for e in got]
    assert kinds.count("content_block_delta") == 2
    assert "message_delta" not in kinds and "message_stop" not in kinds
    assert kinds[-1] == "content_block_delta"


def test_truncate_on_a_plain_request_hangs_up_mid_body(sdk):
    with pytest.raises(anthropic.APIConnectionError):
        sdk.messages.create(model=MODEL, max_tokens=50, messages=HELLO,
                            extra_headers={"x-simulate-fault": "truncate"})


def test_error_event_comes_after_the_given_deltas(sdk):
    received = []
    with pytest.raises(anthropic.APIStatusError) as info:
        for ev in sdk.messages.create(model=MODEL, max_tokens=50, messages=HELLO, stream=True,
                                      extra_headers={"x-simulate-fault": "error-event", "x-simulate-after": "0"}):
            received.append(ev.type)
    assert "content_block_delta" not in received and received[0] == "message_start"
    assert info.value.status_code == 200 and info.value.body["error"]["type"] == "overloaded_error"


def test_malformed_event_is_not_json(sdk):
    with pytest.raises(json.JSONDecodeError):
        events(sdk, "malformed-event", after=1)


def test_malformed_plain_reply_is_not_json(sim):
    import urllib.request

    req = urllib.request.Request(sim.url + "/v1/messages", method="POST", data=json.dumps(
        {"model": MODEL, "max_tokens": 20, "messages": HELLO}).encode(),
        headers={"x-api-key": KEY, "content-type": "application/json", "x-simulate-fault": "malformed-event"})
    with urllib.request.urlopen(req, timeout=5) as resp:
        body = resp.read()
    with pytest.raises(ValueError):
        json.loads(body)


def test_trickle_sends_the_same_reply_slowly(sdk):
    plain = sdk.messages.create(model=MODEL, max_tokens=8, messages=HELLO)
    started = time.monotonic()
    slow = sdk.messages.create(model=MODEL, max_tokens=8, messages=HELLO,
                               extra_headers={"x-simulate-fault": "trickle", "x-simulate-hold-s": "0.001"})
    assert time.monotonic() - started > 0.001 * 200 and slow.content[0].text == plain.content[0].text


@pytest.mark.parametrize("value", ["true", "false"])
def test_error_faults_carry_x_should_retry_on_demand(sdk, value):
    with pytest.raises(anthropic.OverloadedError) as info:
        sdk.messages.create(model=MODEL, max_tokens=8, messages=HELLO,
                            extra_headers={"x-simulate-fault": "529", "x-simulate-should-retry": value})
    assert info.value.response.headers["x-should-retry"] == value


def test_scripted_stream_faults_take_after_and_should_retry(sim):
    assert sim.script_faults([{"fault": "truncate", "after": 1}, {"fault": "500", "should_retry": False}]) == 2
    assert sim.pending_faults()[0]["after"] == 1 and sim.pending_faults()[1]["should_retry"] is False
    for bad in ({"fault": "truncate", "after": 1.5}, {"fault": "truncate", "after": -1},
                {"fault": "500", "should_retry": "maybe"}):
        with pytest.raises(ValueError):
            sim.script_faults([bad])
