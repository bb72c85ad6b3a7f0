"""Timeouts mean what they say, against a server that trickles; and x-should-retry is obeyed.

TOLLGATE_TIMEOUT_S is the total time of one non-streamed attempt; a stream gets
TOLLGATE_STREAM_IDLE_TIMEOUT_S between events and, optionally, TOLLGATE_STREAM_TIMEOUT_S in all.
These tests run on real time (the network's), with short settings.
"""

from __future__ import annotations

import time

import pytest

from core import errors
from tests.integration.conftest import messages_seen

PROMPT = "List the open risks of the migration."
MODEL = "claude-haiku-5-5"


def timed(fn):
    started = time.monotonic()
    try:
        fn()
    except errors.TollgateError as err:
        return err, time.monotonic() - started
    return None, time.monotonic() - started


def test_a_trickled_reply_ends_at_the_total_timeout(make_client, fresh_sim):
    # One byte every 20 ms: every read is quick, the whole body would take over 10 s.
    client = make_client(timeout_s=0.6, max_attempts=1)
    fresh_sim.script_faults([{"fault": "trickle", "hold_s": 0.02}])
    err, took = timed(lambda: client.create(PROMPT, user="ana", model=MODEL, max_tokens=64))
    assert isinstance(err, errors.Timeout) and err.retryable
    assert 0.6 <= took < 2.0  # the old per-read timeout let this run for over 10 s


def test_a_trickled_reply_is_retried_as_a_timeout(make_client, fresh_sim):
    client = make_client(timeout_s=0.4, max_attempts=2)
    fresh_sim.script_faults([{"fault": "trickle", "hold_s": 0.02}])
    result = client.create(PROMPT, user="ana", model=MODEL, max_tokens=64)
    assert result.retries == 1 and messages_seen(fresh_sim) == 2 and result.text


def test_a_trickled_stream_ends_at_the_idle_timeout_and_is_retried(make_client, fresh_sim):
    # Each event takes seconds to arrive, a byte at a time: no single read is slow, the gap between events is.
    client = make_client(timeout_s=5.0, stream_idle_timeout_s=0.4, max_attempts=2)
    fresh_sim.script_faults([{"fault": "trickle", "hold_s": 0.02}])
    started = time.monotonic()
    s = client.stream(PROMPT, user="ana", model=MODEL, max_tokens=64)
    text = "".join(s)
    assert s.result.retries == 1 and text == s.result.text and time.monotonic() - started < 3.0


def test_a_silent_gap_mid_stream_is_an_interruption(make_client, fresh_sim):
    fresh_sim.configure(tokens_per_s=2)  # 0.5 s between deltas
    client = make_client(timeout_s=5.0, stream_idle_timeout_s=0.2)
    s = client.stream(PROMPT, user="ana", model=MODEL, max_tokens=64)
    got = []
    with pytest.raises(errors.StreamInterrupted) as info:
        for delta in s:
            got.append(delta)
    assert got and info.value.partial_text == "".join(got)
    assert isinstance(info.value.cause, errors.Timeout) and messages_seen(fresh_sim) == 1


def test_a_stream_total_deadline_cuts_a_long_answer(make_client, fresh_sim):
    fresh_sim.configure(tokens_per_s=20)  # a delta every 50 ms: never idle, but long
    client = make_client(timeout_s=5.0, stream_idle_timeout_s=1.0, stream_timeout_s=0.4)
    s = client.stream(PROMPT, user="ana", model=MODEL, max_tokens=200)
    err, took = timed(lambda: "".join(s))
    assert isinstance(err, errors.StreamInterrupted) and isinstance(err.cause, errors.Timeout)
    assert 0.4 <= took < 1.5 and err.partial_text


def test_a_stream_total_deadline_before_any_text_is_a_retried_timeout(make_client, fresh_sim):
    fresh_sim.configure(ttft_s=1.0)  # headers and message_start at once, the first text after 1 s
    client = make_client(timeout_s=5.0, stream_idle_timeout_s=2.0, stream_timeout_s=0.3, max_attempts=2)
    err, took = timed(lambda: "".join(client.stream(PROMPT, user="ana", model=MODEL, max_tokens=64)))
    assert isinstance(err, errors.Timeout) and err.retries == 1 and messages_seen(fresh_sim) == 2
    assert 0.6 <= took < 2.5


def test_streams_have_no_total_deadline_by_default(make_client, fresh_sim):
    fresh_sim.configure(tokens_per_s=50)
    client = make_client(timeout_s=0.3, stream_idle_timeout_s=0.3)
    s = client.stream(PROMPT, user="ana", model=MODEL, max_tokens=200)
    err, took = timed(lambda: "".join(s))
    # Longer than TOLLGATE_TIMEOUT_S in all, yet every gap is short: the stream completes.
    assert err is None and s.result.usage.output_tokens * 0.02 > 0.3 and took > 0.3


# --- x-should-retry ------------------------------------------------------------------

@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
def test_should_retry_false_makes_a_529_final(make_client, fresh_sim, streamed):
    client = make_client()
    fresh_sim.script_faults([{"fault": "529", "should_retry": False}])
    call = client.stream if streamed else client.create
    with pytest.raises(errors.Overloaded) as info:
        out = call(PROMPT, user="ana", model=MODEL, max_tokens=32)
        "".join(out) if streamed else out
    assert not info.value.retryable and messages_seen(fresh_sim) == 1 and client.fake_clock.sleeps == []


@pytest.mark.parametrize("streamed", [False, True], ids=["json", "stream"])
def test_should_retry_true_makes_a_409_or_400_retried(make_client, fresh_sim, streamed):
    client = make_client()
    fresh_sim.script_faults([{"fault": "400", "should_retry": True}])
    out = (client.stream if streamed else client.create)(PROMPT, user="ana", model=MODEL, max_tokens=32)
    result = (out.final() if streamed else out)
    assert result.retries == 1 and messages_seen(fresh_sim) == 2 and result.text
