"""A lean HTTP/1.1 client for the one request the guard makes most: a POST of a Messages body, kept alive.

httpx, httpcore and h11 between them cost about half the gateway's CPU per call (requests and
responses built and their headers validated three times over); the guard's request is always
the same shape, to one origin, with headers computed once per key. So ``Pool`` writes it on a
kept-alive socket (TLS with the SDK client's own SSL context) and reads the status, headers and
the body (``Content-Length``, chunked or up to close) itself. Used only when the SDK client's HTTP
transport is httpx's own for that origin (no proxy, no mock; ``core.upstream.poster`` decides);
every read, write and connect ends by the deadline in force (``core.upstream.deadline``), and
failures are httpx's own exceptions, so ``core.upstream.sdk_errors.translate`` stays the one translation.
"""

from __future__ import annotations

import select
import socket
import threading
import zlib
from collections import deque

import httpx2

from core.upstream import deadline

_MAX_IDLE = 64  # kept-alive connections waiting for the next call
_READ = 65536


class Headers(dict):
    """Response headers by lower-case name (the last of repeated ones), plus every pair as it came."""

    __slots__ = ("pairs",)

    def get(self, name: str, default=None):
        return dict.get(self, name.lower(), default)

    def __getitem__(self, name: str):
        return dict.__getitem__(self, name.lower())

    def __contains__(self, name) -> bool:
        return dict.__contains__(self, name.lower())

    def multi_items(self) -> list[tuple[str, str]]:
        return list(self.pairs)


class _Conn:
    __slots__ = ("buf", "sock")

    def __init__(self, sock) -> None:
        self.sock, self.buf = sock, b""

    def recv(self, timeout: float | None) -> bytes:
        self.sock.settimeout(deadline.clamp(timeout, httpx2.ReadTimeout))
        try:
            data = self.sock.recv(_READ)
        except TimeoutError:
            raise httpx2.ReadTimeout("The read timed out.") from None
        except OSError as exc:
            raise httpx2.ReadError(str(exc) or type(exc).__name__) from None
        return data

    def fill(self, timeout: float | None) -> None:
        data = self.recv(timeout)
        if not data:
            raise httpx2.RemoteProtocolError("The server closed the connection before the response ended.")
        self.buf += data

    def line(self, timeout: float | None) -> bytes:
        """The next CRLF-ended line (without it), reading as needed."""
        while (i := self.buf.find(b"\r\n")) < 0:
            if len(self.buf) > 65536:
                raise httpx2.RemoteProtocolError("A response line is too long.")
            self.fill(timeout)
        out, self.buf = self.buf[:i], self.buf[i + 2:]
        return out


class Response:
    """One response: ``status_code``, ``headers``; the body as ``content`` (read) or ``iter_bytes()`` (a stream)."""

    def __init__(self, pool: Pool, conn: _Conn, status: int, headers: Headers, keep: bool, read_s: float | None):
        self.status_code, self.headers = status, headers
        self.is_closed = False
        self._pool, self._conn, self._keep, self._read_s = pool, conn, keep, read_s
        self.content = b""
        te = headers.get("transfer-encoding", "").lower()
        length = headers.get("content-length")
        if status in (204, 304):
            self._mode, self._remaining = "length", 0
        elif "chunked" in te:
            self._mode, self._remaining = "chunked", 0
        elif length is not None and length.strip().isdigit():
            self._mode, self._remaining = "length", int(length)
        else:
            self._mode, self._remaining, self._keep = "close", -1, False

    def httpx(self) -> httpx2.Response:
        """This response as an ``httpx2.Response`` (what the SDK builds its status errors from)."""
        pool = self._pool
        url = f"{'https' if pool.https else 'http'}://{pool.host_header}{pool.target}"
        return httpx2.Response(self.status_code, headers=self.headers.pairs, content=self.content,
                               request=httpx2.Request("POST", url))

    def read(self) -> bytes:
        self.content = b"".join(self.iter_bytes())
        return self.content

    def iter_bytes(self):
        """The body as it arrives, decoded (gzip, deflate), each piece everything received so far."""
        coding = self.headers.get("content-encoding", "identity").strip().lower()
        if coding in ("", "identity"):
            return self._body()
        if coding not in ("gzip", "deflate"):
            self.close()
            raise httpx2.DecodingError(f"A response body in an encoding this client does not read: {coding}.")
        return _inflated(self._body(), zlib.decompressobj(47 if coding == "gzip" else 15))

    def _body(self):
        conn, timeout = self._conn, self._read_s
        try:
            if self._mode == "length":
                while self._remaining > 0:
                    if not conn.buf:
                        conn.fill(timeout)
                    piece, conn.buf = conn.buf[:self._remaining], conn.buf[self._remaining:]
                    self._remaining -= len(piece)
                    yield piece
            elif self._mode == "chunked":
                yield from self._chunks(conn, timeout)
            else:
                if conn.buf:
                    yield conn.buf
                    conn.buf = b""
                while data := conn.recv(timeout):
                    yield data
            self._done()
        finally:
            self.close()

    def _chunks(self, conn: _Conn, timeout):
        while True:
            pieces, ended = _ready_chunks(conn)
            if pieces:
                yield b"".join(pieces)
            if ended:
                return
            if not pieces:
                conn.fill(timeout)

    def _done(self) -> None:
        if self._keep and not conn_dirty(self._conn):
            self._pool.release(self._conn)
            self._conn = None

    def close(self) -> None:
        """Give the connection back if its body was read to the end, else close it."""
        self.is_closed = True
        if self._conn is not None:
            self._conn.sock.close()
            self._conn = None


def _inflated(pieces, inflater):
    """``pieces`` decompressed as they come (zlib raises on a corrupt body: httpx's DecodingError)."""
    try:
        for piece in pieces:
            if out := inflater.decompress(piece):
                yield out
        if out := inflater.flush():
            yield out
    except zlib.error as exc:
        raise httpx2.DecodingError(str(exc)) from None


def _ready_chunks(conn: _Conn) -> tuple[list[bytes], bool]:
    """The data of every whole chunk already received (taken from the buffer), and whether the body ended."""
    buf, pos, pieces = conn.buf, 0, []
    try:
        while (i := buf.find(b"\r\n", pos)) >= 0:
            size = int(buf[pos:i].split(b";", 1)[0].strip(), 16)
            if size == 0:
                k = buf.find(b"\r\n\r\n", i)  # the last chunk, then trailers (if any) up to a blank line
                if k < 0:
                    break
                conn.buf = buf[k + 4:]
                return pieces, True
            start = i + 2
            end = start + size
            if len(buf) < end + 2:
                break
            if buf[end:end + 2] != b"\r\n":
                raise httpx2.RemoteProtocolError("A chunk did not end with CRLF.")
            pieces.append(buf[start:end])
            pos = end + 2
    except ValueError:
        raise httpx2.RemoteProtocolError("A malformed chunk size.") from None
    if pos == 0 and len(buf) > 1 << 24:
        raise httpx2.RemoteProtocolError("A chunk larger than this client reads.")
    conn.buf = buf[pos:]
    return pieces, False


def conn_dirty(conn: _Conn) -> bool:
    """Bytes past the end of a response (a server out of step): the connection is not reused."""
    return bool(conn.buf)


class Pool:
    """Kept-alive connections to one origin, for ``post``; ``close`` ends the idle ones."""

    def __init__(self, url: httpx2.URL, ssl_context=None, socket_options=()) -> None:
        self.socket_options = tuple(socket_options)  # the SDK client's (TCP keep-alive probes)
        self.host, self.https = url.host, url.scheme == "https"
        self.port = url.port or (443 if self.https else 80)
        self.target = (url.raw_path or b"/").decode("ascii")
        host = self.host if ":" not in self.host else f"[{self.host}]"
        default = 443 if self.https else 80
        self.host_header = host if self.port == default else f"{host}:{self.port}"
        self.ssl_context = ssl_context
        self._idle: deque[_Conn] = deque()
        self._lock = threading.Lock()

    def _connect(self, timeout) -> _Conn:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=deadline.clamp(timeout.connect,
                                                                                   httpx2.ConnectTimeout))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for option in self.socket_options:
                sock.setsockopt(*option)
            if self.https:
                sock.settimeout(deadline.clamp(timeout.connect, httpx2.ConnectTimeout))
                sock = self.ssl_context.wrap_socket(sock, server_hostname=self.host)
        except TimeoutError:
            raise httpx2.ConnectTimeout("Connecting timed out.") from None
        except OSError as exc:
            raise httpx2.ConnectError(str(exc) or type(exc).__name__) from None
        return _Conn(sock)

    def _take(self) -> _Conn | None:
        with self._lock:
            while self._idle:
                conn = self._idle.pop()
                # An idle socket with something to read has been closed (or spoken out of turn) by the server.
                if not select.select([conn.sock], [], [], 0)[0]:
                    return conn
                conn.sock.close()
        return None

    def release(self, conn: _Conn) -> None:
        with self._lock:
            if len(self._idle) < _MAX_IDLE:
                self._idle.append(conn)
                return
        conn.sock.close()

    def close(self) -> None:
        with self._lock:
            while self._idle:
                self._idle.pop().sock.close()

    def post(self, head: bytes, body: bytes, timeout) -> Response:
        """Send ``head`` (the header lines after Host, each ending CRLF) and ``body``; the response's headers read."""
        conn = self._take() or self._connect(timeout)
        request = (f"POST {self.target} HTTP/1.1\r\nhost: {self.host_header}\r\n".encode() + head
                   + b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        try:
            try:
                conn.sock.settimeout(deadline.clamp(timeout.write, httpx2.WriteTimeout))
                conn.sock.sendall(request)
            except TimeoutError:
                raise httpx2.WriteTimeout("The write timed out.") from None
            except OSError as exc:
                raise httpx2.WriteError(str(exc) or type(exc).__name__) from None
            return self._response(conn, timeout.read)
        except BaseException:
            conn.sock.close()
            raise

    def _response(self, conn: _Conn, read_s: float | None) -> Response:
        while True:
            while (end := conn.buf.find(b"\r\n\r\n")) < 0:  # the status line and headers, read as one block
                if len(conn.buf) > 1 << 20:
                    raise httpx2.RemoteProtocolError("The response headers are too long.")
                conn.fill(read_s)
            lines = conn.buf[:end].split(b"\r\n")
            conn.buf = conn.buf[end + 4:]
            parts = lines[0].split(b" ", 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
                raise httpx2.RemoteProtocolError("The server did not answer in HTTP/1.1.")
            status = int(parts[1])
            if status >= 200 or status == 101:
                break  # 1xx interim answers (100 Continue) come before the real one
        pairs = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep:
                raise httpx2.RemoteProtocolError("A malformed response header.")
            pairs.append((name.strip().decode("latin-1").lower(), value.strip().decode("latin-1")))
        headers = Headers(pairs)
        headers.pairs = pairs
        keep = parts[0] == b"HTTP/1.1" and "close" not in headers.get("connection", "").lower()
        return Response(self, conn, status, headers, keep, read_s)
