"""The gateway server's transport: a response's head goes out with the chunk after it, or alone at the next turn."""

from __future__ import annotations

import asyncio

from core.gateway.one_write import HeldHead, OneWriteProtocol

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class Transport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name, default=None):
        return ("127.0.0.1", 1) if name in ("peername", "sockname") else default


def _run(steps):
    async def main():
        real = Transport()
        held = HeldHead(real, asyncio.get_running_loop())
        await steps(held)
        return real
    return asyncio.run(main())


def test_a_head_and_the_body_written_in_the_same_step_go_out_as_one_write():
    async def steps(t):
        t.write(HEAD)
        t.write(b"{}")
        t.write(b"more")
        await asyncio.sleep(0)
    assert _run(steps).writes == [HEAD + b"{}", b"more"]


def test_a_head_with_nothing_after_it_goes_out_alone_at_the_next_turn():
    async def steps(t):
        t.write(HEAD)
        assert t._transport.writes == []
        await asyncio.sleep(0)
        assert t._transport.writes == [HEAD]
        t.write(b"{}")
    assert _run(steps).writes == [HEAD, b"{}"]


def test_an_interim_continue_is_never_held_and_a_close_sends_what_is_held_first():
    async def steps(t):
        t.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        assert t._transport.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
        t.write(HEAD)
        t.close()
    real = _run(steps)
    assert real.writes == [b"HTTP/1.1 100 Continue\r\n\r\n", HEAD] and real.closed


def test_the_protocol_writes_through_a_held_head_transport():
    from uvicorn.config import Config
    from uvicorn.server import ServerState

    async def main():
        async def app(scope, receive, send):
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
            await send({"type": "http.response.body", "body": b"{}"})

        config = Config(app, http=OneWriteProtocol, lifespan="off")
        config.load()
        proto = OneWriteProtocol(config, ServerState(), app_state={})
        real = Transport()
        proto.connection_made(real)
        proto.data_received(b"GET /x HTTP/1.1\r\nhost: a\r\n\r\n")
        for _ in range(5):
            await asyncio.sleep(0)
        return real

    real = asyncio.run(main())
    assert len(real.writes) == 1 and real.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert real.writes[0].endswith(b"\r\n\r\n{}")
