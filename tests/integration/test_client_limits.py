"""Client-side limits through the whole client: rates never exceeded, server headers tighten them."""

from __future__ import annotations

import pytest

from core import errors

PROMPT = "Give me one line on cash flow."


def test_requests_per_minute_never_exceeded(make_client, fresh_sim):
    client = make_client(rpm=5, limit_max_wait_s=60, cache="off")
    clock = client.fake_clock
    times = []
    for _ in range(15):
        client.create(PROMPT, user="ana", model="claude-haiku-5-5", max_tokens=16)
        times.append(clock.monotonic())
    assert sum(clock.sleeps) > 0  # it had to wait
    # A continuously refilled bucket of 5 admits at most 5 + 5/60 * T calls in any span of T seconds.
    for i in range(len(times)):
        for j in range(i, len(times)):
            assert j - i + 1 <= 5 + (times[j] - times[i]) * 5 / 60 + 1e-6


def test_per_user_limit_refuses_with_the_wait(make_client, fresh_sim):
    client = make_client(user_rpm=2, limit_max_wait_s=1, cache="off")
    for _ in range(2):
        client.create(PROMPT, user="ana", model="claude-haiku-5-5", max_tokens=16)
    with pytest.raises(errors.RateLimited) as info:
        client.create(PROMPT, user="ana", model="claude-haiku-5-5", max_tokens=16)
    assert info.value.retry_after_s > 1 and info.value.user == "ana"
    # Another user is not held back by ana's limit.
    assert client.create(PROMPT, user="bo", model="claude-haiku-5-5", max_tokens=16).text
    assert fresh_sim.stats()["messages_requests"] == 3


def test_output_tokens_reserved_then_settled(make_client, fresh_sim):
    client = make_client(output_tpm=1000, limit_max_wait_s=0, cache="off")
    # max_tokens 900 is reserved up front; the reply uses far fewer, and the rest is given back.
    r = client.create(PROMPT, user="ana", model="claude-haiku-5-5", max_tokens=900)
    assert r.usage.output_tokens < 900
    level = client.limiter.snapshot()["global"]["output_tokens"]["level"]
    assert level == pytest.approx(1000 - r.usage.output_tokens, abs=1)
    client.create(PROMPT + " again", user="ana", model="claude-haiku-5-5", max_tokens=900)


def test_server_rate_limit_headers_tighten_the_limiter(make_client, fresh_sim):
    fresh_sim.configure(rpm=7)
    client = make_client(rpm=None, cache="off")
    client.create(PROMPT, user="ana", model="claude-haiku-5-5", max_tokens=16)
    requests = client.limiter.snapshot()["global"]["requests"]
    assert requests is not None and requests["capacity"] == 7


def test_concurrency_limit_with_real_threads(make_client, fresh_sim):
    import threading
    from concurrent.futures import ThreadPoolExecutor

    fresh_sim.configure(ttft_s=0.05)
    client = make_client(real_time=True, concurrency=2, cache="off")
    lock, in_flight, peak = threading.Lock(), [0], [0]
    send = client.transport.create

    def counting_send(body):  # wraps the transport boundary to see how many calls are out at once
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        try:
            return send(body)
        finally:
            with lock:
                in_flight[0] -= 1

    client.transport.create = counting_send
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda i: client.create(f"{PROMPT} {i}", user=f"u{i}", model="claude-haiku-5-5",
                                                        max_tokens=8), range(6)))
    assert len(results) == 6 and peak[0] == 2
