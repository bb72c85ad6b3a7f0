"""Blocks the SDK declares reach the API through the guarded client; bad shapes never leave the process."""

from __future__ import annotations

import pytest

from core.errors import ValidationError
from tests.integration.conftest import messages_seen

DOC = {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "Q3 revenue rose 4 %."},
       "title": "memo", "citations": {"enabled": True}}
TURNS = [
    {"role": "user", "content": [DOC, {"type": "text", "text": "What does the memo say?"}]},
    {"role": "assistant", "content": [{"type": "thinking", "thinking": "Read the memo.", "signature": "c2ln"},
                                      {"type": "redacted_thinking", "data": "b3BhcXVl"},
                                      {"type": "text", "text": "Revenue rose."}]},
    {"role": "user", "content": [{"type": "search_result", "source": "https://example.com/q3", "title": "Q3",
                                  "content": [{"type": "text", "text": "4 % growth"}]},
                                 {"type": "text", "text": "And this source?"}]},
]


@pytest.mark.parametrize("call", ["create", "stream"])
def test_document_thinking_and_search_result_turns_are_sent(make_client, fresh_sim, call):
    client = make_client()
    before = messages_seen(fresh_sim)
    if call == "create":
        result = client.create(user="ana", model="claude-sonnet-5-5", messages=TURNS, max_tokens=50)
    else:
        s = client.stream(user="ana", model="claude-sonnet-5-5", messages=TURNS, max_tokens=50)
        "".join(s)
        result = s.result
    assert messages_seen(fresh_sim) == before + 1 and result.text and result.usage.input_tokens > 0


def test_a_malformed_document_is_refused_before_sending(make_client, fresh_sim):
    client = make_client()
    before = messages_seen(fresh_sim)
    bad = [{"role": "user", "content": [{"type": "document", "source": {"type": "base64", "data": "JVBERi0="}}]}]
    with pytest.raises(ValidationError) as err:
        client.create(user="ana", model="claude-sonnet-5-5", messages=bad, max_tokens=50)
    assert err.value.field == "messages[0].content" and "messages[0].content[0].source" in err.value.message
    assert messages_seen(fresh_sim) == before


def test_a_bad_tool_choice_is_refused_before_sending(make_client, fresh_sim):
    client = make_client()
    before = messages_seen(fresh_sim)
    with pytest.raises(ValidationError) as err:
        client.create("Hi", user="ana", model="claude-sonnet-5-5", max_tokens=50,
                      tools=[{"name": "calc", "input_schema": {"type": "object"}}], tool_choice={"type": "tool"})
    assert err.value.field == "tool_choice" and "needs 'name'" in err.value.message
    assert messages_seen(fresh_sim) == before
