"""Server-sent events decoded from the bytes of a response body, each with the exact bytes it came as.

The decoding is the SSE spec's (lines end with CRLF, LF or CR; a blank line ends an event; ``data``
lines join with ``\\n``; one space after the colon is dropped; ``:`` lines are comments), as the
SDK's own decoder does it, but on bytes, keeping every byte: a relay sends ``raw`` unchanged.
Chunks may split anywhere, even between the CR and LF of one line ending.
"""

from __future__ import annotations

import re

_EOL = re.compile(rb"\r\n|\r|\n")


class Decoder:
    """``feed(chunk)`` gives the events completed by ``chunk``: (event name or None, data, raw bytes).

    A block with no field (extra blank lines, comments only) comes out too, as (None, "", raw), so
    that the bytes of a body are the concatenation of every block's raw, in order.
    """

    __slots__ = ("_buf", "_data", "_name", "_scan")

    def __init__(self) -> None:
        self._buf = b""  # the bytes of the event not finished yet, from its first byte
        self._scan = 0  # where in _buf its next unread line starts
        self._name: str | None = None
        self._data: list[str] = []

    def feed(self, chunk: bytes, *, last: bool = False) -> list[tuple[str | None, str, bytes]]:
        """The events ``chunk`` completes; ``last``: the body ends with it (a final CR ends its line)."""
        buf = self._buf + chunk if self._buf else chunk
        out = []
        start = 0  # of the current event in buf
        pos = self._scan
        end = len(buf)
        for m in _EOL.finditer(buf, pos):
            if not last and m.end() == end and buf[m.start()] == 13 and m.end() - m.start() == 1:
                break  # a CR last in the chunk: its LF may be in the next one (one line ending, not two)
            line = buf[pos:m.start()]
            pos = m.end()
            if line:
                self._field(line)
                continue
            out.append((self._name, "\n".join(self._data), buf[start:pos]))
            self._name, self._data, start = None, [], pos
        self._buf, self._scan = buf[start:], pos - start
        return out

    def _field(self, line: bytes) -> None:
        if line[0] == 58:  # ":": a comment, kept in the raw bytes only
            return
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value.decode())
        elif name == b"event":
            self._name = value.decode() or None
        # id, retry and unknown fields: nothing a Messages stream uses (kept in the raw bytes)

    @property
    def pending(self) -> bytes:
        """Bytes of an event not ended by a blank line yet (at the end of a body: dropped, as the SDK does)."""
        return self._buf
