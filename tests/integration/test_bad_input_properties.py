"""Property tests: whatever goes into the library's public calls, only a typed error or a result comes out.

Arbitrary values (text with lone surrogates, numbers, NaN, nesting, objects JSON cannot hold) go into
``create``, ``stream``, ``count_tokens`` and ``load_settings``; anything but a ``TollgateError`` fails.
Valid requests really reach the simulator through the SDK, so success paths are exercised too.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.clock import FakeClock
from core.config import Settings, fields, load_settings
from core.errors import ConfigError, TollgateError
from core.factory import build_client
from core.simulator import Simulator
from core.types import CallResult
from tests.integration.conftest import PRIMARY

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Every code point, lone surrogates included (hypothesis leaves them out by default), plus the usual suspects.
ANY_TEXT = st.one_of(st.text(st.characters(exclude_categories=()), max_size=30),
                     st.sampled_from(["", " ", "Hello", "\ud800", "a\udfffb", "\x00", "*", "x" * 300]))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), ANY_TEXT)
JSONISH = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                       | st.dictionaries(ANY_TEXT, inner, max_size=3), max_leaves=8)


def _deep(depth: int):
    root = node = []
    for _ in range(depth):
        node.append([])
        node = node[0]
    return root


ODD = st.one_of(st.builds(object), st.binary(max_size=5), st.sets(st.integers(), max_size=2),
                st.integers(0, 3000).map(_deep), st.just(float("nan")), st.just(float("inf")))
ANYTHING = st.one_of(JSONISH, ODD)
BLOCK = st.one_of(st.fixed_dictionaries({"type": st.just("text"), "text": ANY_TEXT}),
                  st.fixed_dictionaries({"type": st.just("tool_use"), "id": ANY_TEXT, "name": ANY_TEXT,
                                         "input": st.one_of(JSONISH, st.integers(0, 3000).map(
                                             lambda d: {"deep": _deep(d)}))}),
                  st.dictionaries(ANY_TEXT, ANYTHING, max_size=3))
MESSAGE = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system", ""]),
                                 "content": st.one_of(ANY_TEXT, st.lists(BLOCK, max_size=3), ANYTHING)})
MESSAGES = st.one_of(st.none(), st.lists(MESSAGE, max_size=3), ANYTHING)
SYSTEM = st.one_of(st.none(), ANY_TEXT, st.lists(BLOCK, max_size=2), ANYTHING)
MODEL = st.one_of(st.none(), st.sampled_from(["simple", "claude-haiku-5-5", "balanced", "claude-nope", ""]),
                  ANY_TEXT, ANYTHING)
USER = st.one_of(st.sampled_from(["ana", " bob ", "", "*"]), ANY_TEXT, ANYTHING)
PROMPT = st.one_of(st.none(), st.sampled_from(["Hello", "Summarise this."]), ANY_TEXT, ANYTHING)
MAX_TOKENS = st.one_of(st.none(), st.integers(-5, 200), st.integers(), ANYTHING)
TEMPERATURE = st.one_of(st.none(), st.just(0), st.floats(), ANYTHING)
PARAMS = st.dictionaries(st.sampled_from(["top_k", "top_p", "stop_sequences", "metadata", "tools",
                                          "tool_choice", "colour", "\ud800name"]), ANYTHING, max_size=2)


@pytest.fixture(scope="module")
def client():
    with Simulator() as sim:
        sim.configure(ttft_s=0.0, tokens_per_s=0.0)
        clock = FakeClock()
        s = load_settings(env={}, load_keys=False, keys=(PRIMARY,), base_url=sim.url, ledger_url=None,
                          timeout_s=5.0)
        c = build_client(s, clock=clock, sleep=clock.sleep, use_ledger=False)
        yield c
        c.close()


def _typed_only(run) -> None:
    """Run ``run()``; a TollgateError is fine (its message must be valid text), anything else fails."""
    try:
        out = run()
    except TollgateError as err:
        err.message.encode("utf-8")
        event(f"refused: {err.code}")  # --hypothesis-show-statistics shows the mix of outcomes
        return
    assert out is None or isinstance(out, CallResult | int)
    event("answered")


@FAST
@given(prompt=PROMPT, user=USER, model=MODEL, messages=MESSAGES, system=SYSTEM, max_tokens=MAX_TOKENS,
       temperature=TEMPERATURE, params=PARAMS)
def test_create_gives_only_results_or_typed_errors(client, prompt, user, model, messages, system, max_tokens,
                                                   temperature, params):
    _typed_only(lambda: client.create(prompt, user=user, model=model, messages=messages, system=system,
                                      max_tokens=max_tokens, temperature=temperature, **params))


@FAST
@given(prompt=PROMPT, user=USER, model=MODEL, messages=MESSAGES, system=SYSTEM, max_tokens=MAX_TOKENS,
       temperature=TEMPERATURE, params=PARAMS)
def test_stream_gives_only_results_or_typed_errors(client, prompt, user, model, messages, system, max_tokens,
                                                   temperature, params):
    def run():
        s = client.stream(prompt, user=user, model=model, messages=messages, system=system,
                          max_tokens=max_tokens, temperature=temperature, **params)
        assert all(isinstance(d, str) for d in s)
        return s.result
    _typed_only(run)


@FAST
@given(prompt=PROMPT, model=MODEL, messages=MESSAGES, system=SYSTEM, exact=st.booleans())
def test_count_tokens_gives_only_counts_or_typed_errors(client, prompt, model, messages, system, exact):
    _typed_only(lambda: client.count_tokens(prompt, model=model, messages=messages, system=system, exact=exact))


@FAST
@given(prompt=st.one_of(st.text(min_size=1, max_size=40), ANY_TEXT), user=st.sampled_from(["ana", "bob", " c "]),
       model=st.sampled_from(["simple", "claude-haiku-5-5", "claude-sonnet-5-5", "complex"]),
       system=st.one_of(st.none(), st.text(max_size=20), ANY_TEXT), max_tokens=st.integers(1, 40),
       temperature=st.one_of(st.none(), st.floats(0, 1)), streamed=st.booleans(),
       params=st.dictionaries(st.sampled_from(["top_k", "stop_sequences", "metadata"]),
                              st.one_of(st.integers(0, 5), st.lists(ANY_TEXT, max_size=2),
                                        st.dictionaries(st.just("user_id"), ANY_TEXT, max_size=1)), max_size=1))
def test_nearly_valid_calls_are_answered_or_refused_with_a_type(client, prompt, user, model, system, max_tokens,
                                                               temperature, streamed, params):
    def run():
        kw = dict(user=user, model=model, system=system, max_tokens=max_tokens, temperature=temperature, **params)
        if not streamed:
            return client.create(prompt, **kw)
        s = client.stream(prompt, **kw)
        assert all(isinstance(d, str) for d in s)
        return s.result
    _typed_only(run)


VARIABLES = sorted(f.metadata["env"] for f in fields(Settings) if "env" in f.metadata)
RAW = st.one_of(ANY_TEXT, st.sampled_from(["0", "-1", "1", "NaN", "nan", "inf", "-Infinity", "1e999", "none",
                                           "garbage", "mysql://u@h/d", "duckdb:///:memory:", "true", "50,80",
                                           "postgresql+psycopg://u@h/d", "UTC", "redis"]))


@settings(max_examples=400, deadline=None)
@given(env=st.dictionaries(st.sampled_from(VARIABLES), RAW, max_size=4))
def test_load_settings_gives_only_settings_or_config_errors(env):
    try:
        s = load_settings(env=env, dotenv_path="/nonexistent/.env", load_keys=False)
    except ConfigError as err:
        assert err.variable in env and err.message.startswith(err.variable) and "\n" not in err.message
        err.message.encode("utf-8")
        return
    assert isinstance(s, Settings)
