"""Bad input through the real SDK's client: a typed ValidationError naming the field, never a Python crash."""

from __future__ import annotations

import pytest

from core.errors import ValidationError
from tests.integration.conftest import messages_seen


def _nested(depth: int) -> dict:
    """A tool input nested ``depth`` objects deep (built in a loop: no recursion here either)."""
    root = node = {}
    for _ in range(depth):
        node["a"] = {}
        node = node["a"]
    return root


def _tool_turns(tool_input) -> list:
    return [{"role": "user", "content": "Look it up."},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "lookup",
                                               "input": tool_input}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "done"}]}]


CASES = {
    "surrogate_in_prompt": (dict(prompt="Hello \ud800 there"), "messages[0].content"),
    "surrogate_in_system": (dict(prompt="Hello", system="Be brief \udc00"), "system"),
    "surrogate_in_system_block": (dict(prompt="Hi", system=[{"type": "text", "text": "x\ud83d"}]), "system"),
    "surrogate_in_messages": (dict(messages=[{"role": "user", "content": [{"type": "text", "text": "\ud83d"}]}]),
                              "messages"),
    "surrogate_in_tool_input": (dict(messages=_tool_turns({"q": "caf\udce9"})), "messages"),
    "surrogate_in_a_parameter": (dict(prompt="Hi", stop_sequences=["\ud800"]), "stop_sequences"),
    "user_is_a_number": (dict(prompt="Hello", user=5), "user"),
    "user_is_a_list": (dict(prompt="Hello", user=["ana"]), "user"),
    "model_is_a_list": (dict(prompt="Hello", model=["claude-haiku-5-5"]), "model"),
    "model_is_a_dict": (dict(prompt="Hello", model={"id": "claude-haiku-5-5"}), "model"),
    "model_is_an_empty_list": (dict(prompt="Hello", model=[]), "model"),
    "deeply_nested_tool_input": (dict(messages=_tool_turns(_nested(5000))), "messages"),
    "parameter_that_is_not_json": (dict(prompt="Hello", temperature=0, colour=object()), "colour"),
    "parameter_that_is_nan": (dict(prompt="Hello", top_k=float("nan")), "top_k"),
}


@pytest.fixture
def client(make_client):
    return make_client()


@pytest.mark.parametrize("call", ["create", "stream"])
@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_a_validation_error_naming_the_field(client, fresh_sim, call, case):
    kw, field = CASES[case]
    kw = {"user": "ana", "max_tokens": 20, **kw}
    with pytest.raises(ValidationError) as exc:
        getattr(client, call)(**kw)
    assert exc.value.field.startswith(field), exc.value.field
    exc.value.message.encode("utf-8")  # the message itself is valid text (no surrogate quoted back)
    assert messages_seen(fresh_sim) == 0  # refused before anything was sent


@pytest.mark.parametrize("case", [c for c in CASES if "user" not in c and "parameter" not in c])
def test_count_tokens_refuses_the_same_input(client, case):
    kw, field = CASES[case]
    with pytest.raises(ValidationError) as exc:
        client.count_tokens(**{k: v for k, v in kw.items() if k != "user"}, exact=True)
    assert exc.value.field.startswith(field)


def test_nesting_within_the_limit_is_sent(client, fresh_sim):
    r = client.create(messages=_tool_turns(_nested(40)), user="ana", model="simple", max_tokens=20)
    assert r.text and messages_seen(fresh_sim) == 1


@pytest.mark.parametrize(("variable", "raw"), [("TOLLGATE_LEDGER_URL", "garbage"), ("TOLLGATE_TIMEOUT_S", "0"),
                                               ("TOLLGATE_ESTIMATE_MARGIN", "NaN"), ("TOLLGATE_USER_RPM", "0"),
                                               ("TOLLGATE_PRICING_FILE", "/nonexistent/pricing.toml")])
def test_python_m_core_turns_a_bad_setting_into_one_line_and_exit_2(tmp_path, variable, raw):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "TOLLGATE_"))}
    # a private ledger and spool, in case a setting were (wrongly) accepted and a call made
    env.update(TOLLGATE_SPOOL_PATH=str(tmp_path / "spool"), TOLLGATE_LEDGER_URL=f"duckdb:///{tmp_path / 'l.duckdb'}")
    env[variable] = raw
    p = subprocess.run([sys.executable, "-m", "core", "ask", "--user", "ana", "Hello"], env=env, text=True,
                       capture_output=True, timeout=60, cwd=Path(__file__).resolve().parents[2])
    assert p.returncode == 2 and p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error [config_error]: {variable} "), p.stderr
