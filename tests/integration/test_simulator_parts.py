"""The simulator's pieces without a socket (buckets, cache, replies, validation), and serve()."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest

from core.catalog.models import default_catalogue
from core.simulator import catalogue as sim_catalogue
from core.simulator.faults import FaultScript, parse_fault, retry_after_headers
from core.simulator.prompt_cache import PromptCache, find_breakpoints
from core.simulator.ratelimit import RateLimiter, TokenBucket
from core.simulator.replies import display_name, make_reply
from core.simulator.tokenizer import count_request as estimate_request  # what the simulator bills
from core.simulator.validate import RequestError, parse_messages_body

ROOT = Path(__file__).resolve().parents[2]


def test_token_bucket_refills_continuously(clock):
    bucket = TokenBucket(60, clock.monotonic())  # one a second
    bucket.take(60, clock.monotonic())
    assert bucket.wait_for(1, clock.monotonic()) == pytest.approx(1.0)
    clock.advance(0.5)
    assert bucket.level(clock.monotonic()) == pytest.approx(0.5)
    assert bucket.wait_for(2, clock.monotonic()) == pytest.approx(1.5)
    assert bucket.wait_for(61, clock.monotonic()) == 60.0  # never fits
    clock.advance(120)
    assert bucket.level(clock.monotonic()) == 60  # capped at capacity


def test_rate_limiter_refuses_without_taking(clock):
    limiter = RateLimiter(clock, rpm=2, output_tpm=100)
    assert limiter.admit(10, 60) is None
    refusal = limiter.admit(10, 60)  # 40 output tokens left
    assert refusal is not None and refusal.limit == "output-tokens"
    assert refusal.retry_after_s == pytest.approx(20 / (100 / 60))
    limiter.settle(60, 10)  # 50 unused output tokens come back
    assert limiter.admit(10, 60) is None
    headers = limiter.headers()
    assert headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert headers["anthropic-ratelimit-input-tokens-limit"] == "2000000"  # not configured
    reset = datetime.fromisoformat(headers["anthropic-ratelimit-requests-reset"].replace("Z", "+00:00"))
    assert (reset - clock.now()).total_seconds() == 60  # two requests' worth at 2 a minute


def cached(text="Context. " * 40, ttl="5m"):
    system = [{"type": "text", "text": text, "cache_control": {"type": "ephemeral", "ttl": ttl}}]
    messages = [{"role": "user", "content": "Question?"}]
    return system, messages


def test_breakpoint_keys_ignore_cache_control_but_not_content():
    a = find_breakpoints("m", *cached(ttl="5m"), "v1")
    b = find_breakpoints("m", *cached(ttl="1h"), "v1")
    c = find_breakpoints("m", *cached(text="Other. " * 40), "v1")
    d = find_breakpoints("other-model", *cached(ttl="5m"), "v1")
    assert a[0].key == b[0].key and a[0].key != c[0].key and a[0].key != d[0].key
    assert (a[0].ttl, b[0].ttl) == ("5m", "1h")


def test_prompt_cache_writes_reads_and_expires(clock):
    system, messages = cached(ttl="1h")
    bps = find_breakpoints("m", system, messages, "v1")
    total = estimate_request(system, messages, "v1")
    cache = PromptCache(clock)
    peek = cache.account(bps, total, commit=False)
    assert peek.cache_creation_1h == bps[0].tokens and len(cache) == 0
    first = cache.account(bps, total)
    assert first.cache_creation_1h == bps[0].tokens and first.input_tokens == total - bps[0].tokens
    clock.advance(3599)
    assert cache.account(bps, total).cache_read == bps[0].tokens
    clock.advance(3601)
    assert cache.account(bps, total).cache_read == 0


def test_reply_chunks_join_and_stop_reasons():
    reply = make_reply("m", None, [{"role": "user", "content": "hi"}], 1000)
    assert "".join(reply.chunks()) == reply.text and len(reply.chunks()) == reply.output_tokens
    assert reply.text[0].isupper() and reply.text.endswith(".")
    short = make_reply("m", None, [{"role": "user", "content": "hi"}], 3)
    assert short.stop_reason == "max_tokens" and short.output_tokens == 3


def test_display_names():
    assert display_name("claude-opus-4-5-20251101") == "Claude Opus 4.5"
    assert display_name("claude-3-5-sonnet-20241022") == "Claude 3.5 Sonnet"
    assert display_name("claude-fable-5-1") == "Claude Fable 5.1"


def test_the_simulator_reads_the_same_models_as_the_guard_with_its_own_code():
    guard, sim = default_catalogue(), sim_catalogue.default_catalogue()
    assert type(sim) is not type(guard)  # its own parser: a bug in the guard's loader cannot hide in both
    assert list(sim.models) == list(guard.models) and sim.aliases == guard.aliases
    for mid, info in guard.models.items():
        got = sim.models[mid]
        assert (got.family, got.context_window, got.max_output_tokens, got.tokenizer, got.status, got.aliases) == (
            info.family, info.context_window, info.max_output_tokens, info.tokenizer, info.status, info.aliases)


def test_validation_limits_breakpoints_and_checks_cache_control():
    cat = default_catalogue()
    blocks = [{"type": "text", "text": f"b{i}", "cache_control": {"type": "ephemeral"}} for i in range(5)]
    body = {"model": "claude-haiku-5-5", "max_tokens": 5, "messages": [{"role": "user", "content": blocks}]}
    with pytest.raises(RequestError, match="maximum of 4"):
        parse_messages_body(body, cat)
    blocks = [{"type": "text", "text": "x", "cache_control": {"type": "ephemeral", "ttl": "2h"}}]
    body["messages"][0]["content"] = blocks
    with pytest.raises(RequestError, match="ttl"):
        parse_messages_body(body, cat)


def test_fault_parsing_and_script():
    assert parse_fault("SPEND-CAP").kind == "spend-cap"
    with pytest.raises(ValueError):
        parse_fault("529", retry_after="soon")
    script = FaultScript()
    assert script.load(["529", {"fault": "timeout", "hold_s": 0.1}]) == 2
    assert script.load(["500"], append=True) == 3
    assert [script.next().kind for _ in range(3)] == ["529", "timeout", "500"]
    assert script.next() is None
    assert retry_after_headers(2.0) == {"retry-after": "2"}
    assert retry_after_headers(0.2) == {"retry-after": "1", "retry-after-ms": "200"}


def _ctrl_c_as_a_terminal_gives_it() -> None:
    """SIGINT delivered and handled by default in the child: an ignored or blocked SIGINT survives exec, and a
    library earlier in the test process may have left one so (then Python never raises KeyboardInterrupt)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def test_serve_runs_until_interrupted():
    code = ("from core.simulator import serve\n"
            "serve(0, ready=lambda s: print(s.url, flush=True))\n")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            preexec_fn=_ctrl_c_as_a_terminal_gives_it)
    try:
        url = proc.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "/_sim/health", timeout=5) as resp:
            assert json.loads(resp.read()) == {"ok": True}
        proc.send_signal(signal.SIGINT)
        # It exits within about 1 s (40 runs with both cores busy: at most 1.3 s); 30 s only bounds a hang, as a CI
        # run on the loaded machine once took over 10 s to end the process.
        assert proc.wait(timeout=30) == 0
        assert proc.stderr.read() == ""  # quiet: no request log, no traceback
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
