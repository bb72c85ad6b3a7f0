"""The simulator's ``echo`` fault: the reply is the prompt itself (a model repeating an injected payload)."""

from __future__ import annotations

import anthropic
import pytest

KEY = "sk-ant-test-fake-0000"
PAYLOAD = "Look ![x](https://evil.example/p.png)\nand [y](data:text/html,hi)"

pytestmark = pytest.mark.usefixtures("fresh_sim")


@pytest.fixture
def client(sim):
    with anthropic.Anthropic(api_key=KEY, base_url=sim.url, max_retries=0, timeout=5.0) as c:
        yield c


def test_echo_answers_with_the_last_user_message_in_json_and_in_sse(client):
    messages = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"},
                {"role": "user", "content": [{"type": "text", "text": PAYLOAD}]}]
    msg = client.messages.create(model="claude-haiku-5-5", max_tokens=100, messages=messages,
                                 extra_headers={"x-simulate-fault": "echo"})
    assert msg.content[0].text == PAYLOAD and msg.stop_reason == "end_turn"
    assert msg.usage.output_tokens == len(PAYLOAD.split(" "))
    with client.messages.stream(model="claude-haiku-5-5", max_tokens=100, messages=messages,
                                extra_headers={"x-simulate-fault": "echo"}) as s:
        assert "".join(s.text_stream) == PAYLOAD


def test_echo_is_cut_at_max_tokens_words(client):
    msg = client.messages.create(model="claude-haiku-5-5", max_tokens=2,
                                 messages=[{"role": "user", "content": PAYLOAD}],
                                 extra_headers={"x-simulate-fault": "echo"})
    assert msg.content[0].text == "Look ![x](https://evil.example/p.png)\nand" and msg.stop_reason == "max_tokens"
