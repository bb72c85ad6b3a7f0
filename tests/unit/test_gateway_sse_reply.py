"""The gateway's SSE reply: the events' bytes in order, an error event after a failure, the end after the pump's."""

from __future__ import annotations

import asyncio

from core.errors import Overloaded
from core.gateway.pump import END
from core.gateway.sse_reply import SseReply


class Ev:
    def __init__(self, raw: bytes) -> None:
        self.raw = raw

    def wire_bytes(self) -> bytes:
        return self.raw


class FakePump:
    """Hands out ``items`` one ``next()`` at a time (an exception is raised), noting writes and the stop."""

    def __init__(self, items, log: list) -> None:
        self._items, self.log = list(items), log

    def ready(self) -> list:
        return []

    def written(self) -> None:
        self.log.append("written")

    async def next(self):
        await asyncio.sleep(0)
        item = self._items.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    async def stop(self) -> None:
        self.log.append("stopped")


def _serve(first, rest, *, disconnect_after: int | None = None):
    """Serve a stream whose pump gives ``first`` then ``rest`` (its OPENED was taken before the reply)."""
    log: list = []
    sent: list[dict] = []
    pump = FakePump([first, *rest], log)

    async def main():
        gone = asyncio.Event()

        async def receive():
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)
            log.append(message["type"] + ("" if message.get("more_body", True) else " end"))
            if disconnect_after is not None and len(sent) == disconnect_after:
                gone.set()
                await asyncio.sleep(0.01)

        reply = SseReply(pump, {"request-id": "req_1", "cache-control": "no-cache"}, "req_1")
        await reply({"type": "http"}, receive, send)

    asyncio.run(main())
    return sent, log


def test_the_events_go_out_as_their_bytes_in_order_and_the_body_ends_after_the_pump_stopped():
    a, b, c = Ev(b"event: message_start\ndata: {}\n\n"), Ev(b"event: x\r\ndata: 1\r\n\r\n"), Ev(b"event: y\ndata: 2\n\n")
    sent, log = _serve(a, [b, c, END])
    assert sent[0]["type"] == "http.response.start" and sent[0]["status"] == 200
    headers = dict(sent[0]["headers"])
    assert headers[b"content-type"] == b"text/event-stream; charset=utf-8" and headers[b"request-id"] == b"req_1"
    assert b"".join(m.get("body", b"") for m in sent[1:]) == a.raw + b.raw + c.raw
    assert log.index("stopped") < log.index("http.response.body end")  # settled and recorded before the end
    assert log.count("written") == 3


def test_a_failure_part_way_ends_the_stream_with_anthropics_error_event():
    sent, log = _serve(Ev(b"event: message_start\ndata: {}\n\n"), [Overloaded("busy", request_id="req_2")])
    body = b"".join(m.get("body", b"") for m in sent[1:])
    assert body.endswith(b"\n\n") and b"event: error\ndata: " in body and b'"overloaded_error"' in body
    assert b'"request_id":"req_2"' in body and log.index("stopped") < log.index("http.response.body end")


def test_a_caller_who_leaves_stops_the_writer_and_the_pump_without_an_end():
    events = [Ev(b"event: d\ndata: %d\n\n" % i) for i in range(50)]
    sent, log = _serve(events[0], [*events[1:], END], disconnect_after=3)
    assert "stopped" in log and "http.response.body end" not in log
    assert len(sent) < 10

