"""The simulator's ``echo`` fault: the reply is the prompt itself (a model repeating an injected payload)."""

from __future__ import annotations

import pytest

PAYLOAD = "Look ![x](https://evil.example/p.png)\nand [y](data:text/html,hi)"

pytestmark = pytest.mark.usefixtures("fresh_sim")


def test_echo_answers_with_the_last_user_message_in_json_and_in_sse(sdk):
    messages = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"},
                {"role": "user", "content": [{"type": "text", "text": PAYLOAD}]}]
    msg = sdk.messages.create(model="claude-haiku-5-5", max_tokens=100, messages=messages,
                              extra_headers={"x-simulate-fault": "echo"})
    assert msg.content[0].text == PAYLOAD and msg.stop_reason == "end_turn"
    assert msg.usage.output_tokens == len(PAYLOAD.split(" "))
    with sdk.messages.stream(model="claude-haiku-5-5", max_tokens=100, messages=messages,
                             extra_headers={"x-simulate-fault": "echo"}) as s:
        assert "".join(s.text_stream) == PAYLOAD


def test_echo_is_cut_at_max_tokens_words(sdk):
    msg = sdk.messages.create(model="claude-haiku-5-5", max_tokens=2,
                              messages=[{"role": "user", "content": PAYLOAD}],
                              extra_headers={"x-simulate-fault": "echo"})
    assert msg.content[0].text == "Look ![x](https://evil.example/p.png)\nand" and msg.stop_reason == "max_tokens"
