"""uvicorn's httptools protocol, sending a response's head and its first body chunk in one write.

uvicorn writes the status line and headers the moment ``http.response.start`` is sent, then each
body chunk: two writes, two TCP segments (uvloop sets TCP_NODELAY), so the caller wakes for the head
and again for the body. Here the head waits for the write that follows it in the same step of the
loop (a JSON answer's body, a stream's first events: the same bytes, in order); when nothing follows
at once, it goes out alone at the loop's next turn, so no head waits on a slow first chunk.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_CONTINUE = b"HTTP/1.1 100 "  # an interim answer the caller waits for before it sends its body: never held


class HeldHead:
    """A transport whose write of a response head is held until the next write, a close, or the loop's next turn."""

    __slots__ = ("_held", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport, self._loop = transport, loop
        self._held: bytes | None = None

    def write(self, data: bytes) -> None:
        if self._held is not None:
            data, self._held = self._held + data, None
        elif data[:5] == b"HTTP/" and not data.startswith(_CONTINUE):
            self._held = data
            self._loop.call_soon(self.flush)
            return
        self._transport.write(data)

    def flush(self) -> None:
        """Send a held head now (nothing followed it in the same step)."""
        if self._held is not None:
            data, self._held = self._held, None
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class OneWriteProtocol(HttpToolsProtocol):
    """``HttpToolsProtocol`` over a ``HeldHead`` transport (flow control and addresses read the real one)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.transport = HeldHead(transport, self.loop)  # type: ignore[assignment]

    def handle_websocket_upgrade(self) -> None:
        """A WebSocket takes the connection over: it gets the real transport, as uvicorn's own protocol gives it."""
        if isinstance(self.transport, HeldHead):
            self.transport.flush()
            self.transport = self.transport._transport
        super().handle_websocket_upgrade()
