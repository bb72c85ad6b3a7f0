"""A TCP relay in front of PostgreSQL that counts what clients send: round trips and statements, on the wire.

The client's messages are read as the protocol frames them (after the untyped startup messages): each
Sync ('S', extended protocol, one per pipeline too) or simple Query ('Q') is answered by one ReadyForQuery
the client waits for, so their count is the round trips; each Execute ('E') or Query is a statement.
Plain TCP only (``sslmode=disable`` in the URL ``url`` gives).
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
from collections.abc import Iterator

_UNTYPED_REQUESTS = (80877103, 80877104)  # SSLRequest, GSSENCRequest: another startup message follows


class _Frames:
    """Splits one connection's client bytes into protocol messages; counts Syncs, Queries and Executes."""

    def __init__(self, counter: WireCounter) -> None:
        self.counter, self.buf, self.started = counter, b"", False

    def feed(self, data: bytes) -> None:
        self.buf += data
        while True:
            if not self.started:
                if len(self.buf) < 8:
                    return
                length, code = struct.unpack("!ii", self.buf[:8])
                if len(self.buf) < length:
                    return
                self.buf, self.started = self.buf[length:], code not in _UNTYPED_REQUESTS
                continue
            if len(self.buf) < 5:
                return
            kind, length = self.buf[:1], struct.unpack("!i", self.buf[1:5])[0]
            if len(self.buf) < 1 + length:
                return
            self.buf = self.buf[1 + length:]
            self.counter.count(kind)


class WireCounter:
    """Relays 127.0.0.1:<port> to ``target``; ``round_trips`` and ``statements`` count over every connection."""

    def __init__(self, target: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.target = target
        self._lock = threading.Lock()
        self.round_trips = self.statements = 0
        self._listen = socket.create_server(("127.0.0.1", 0))
        self.port = self._listen.getsockname()[1]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def count(self, kind: bytes) -> None:
        with self._lock:
            self.round_trips += kind in (b"S", b"Q")
            self.statements += kind in (b"E", b"Q")

    def reset(self) -> tuple[int, int]:
        """(round trips, statements) counted so far, and start again from 0."""
        with self._lock:
            counted = self.round_trips, self.statements
            self.round_trips = self.statements = 0
        return counted

    def url(self, pg_url: str) -> str:
        """``pg_url`` (which must name 127.0.0.1:5432) through this relay, without TLS."""
        url = pg_url.replace("127.0.0.1:5432", f"127.0.0.1:{self.port}", 1)
        return f"{url}{'&' if '?' in url else '?'}sslmode=disable"

    def _accept(self) -> None:
        self._listen.settimeout(0.2)
        while not self._stop.is_set():
            try:
                client, _ = self._listen.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            server = socket.create_connection(self.target)
            for s in (client, server):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._relay, args=(client, server), daemon=True).start()

    def _relay(self, client: socket.socket, server: socket.socket) -> None:
        sel, frames = selectors.DefaultSelector(), _Frames(self)
        sel.register(client, selectors.EVENT_READ, server)
        sel.register(server, selectors.EVENT_READ, client)
        try:
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.2):
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    if key.fileobj is client:
                        frames.feed(data)  # counted before the server can answer
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            sel.close()
            client.close()
            server.close()

    def close(self) -> None:
        self._stop.set()
        self._listen.close()


@contextlib.contextmanager
def wire_counter() -> Iterator[WireCounter]:
    counter = WireCounter()
    try:
        yield counter
    finally:
        counter.close()
