"""A JSON answer read from the API's own JSON: kept as sent (relayed unchanged), the SDK Message built on read."""

from __future__ import annotations

import httpx2
import pytest
from anthropic.types import Message

from core.errors import MalformedResponse
from core.types import message_data
from tests.integration.sdk_wire import EVERY_BLOCK, Upstream, wire_client

ASK = dict(user="ana", model="claude-sonnet-5-5", max_tokens=200,
           messages=[{"role": "user", "content": "Weather at the memo's city?"}])


class Broken(Upstream):
    """A 200 whose body is ``body`` (not the Messages JSON)."""

    def __init__(self, body: bytes) -> None:
        super().__init__(EVERY_BLOCK)
        self.body = body

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        return httpx2.Response(200, content=self.body, headers={"content-type": "application/json",
                                                                 "request-id": "req_wire_broken"})


def test_the_answer_is_the_apis_json_as_sent_and_a_message_when_read():
    with wire_client(Upstream(EVERY_BLOCK)) as client:
        r = client.create(**ASK)
        assert message_data(r) == EVERY_BLOCK  # every field as the API sent it, nothing re-serialised
        assert r.content == EVERY_BLOCK["content"] and r.usage_detail == EVERY_BLOCK["usage"]
        assert r.text == "The memo is about San Francisco. Let me check the weather."
        assert (r.message_id, r.stop_reason, r.usage.output_tokens) == ("msg_01ThinkCiteTool", "tool_use", 89)
        assert isinstance(r.message, Message) and r.message.content[3].input == {"location": "San Francisco"}


@pytest.mark.parametrize("body", [b"<html>bad gateway</html>", b'{"id": "msg_1", "type": "message"}',
                                  b'{"content": ["text"], "usage": {}}', b"[]"])
def test_a_200_that_is_not_a_message_is_a_malformed_response(body):
    with wire_client(Broken(body)) as client, pytest.raises(MalformedResponse) as info:
        client.create(**ASK)
    assert info.value.request_id in (None, "req_wire_broken")
