"""The lean HTTP/1.1 path (core/upstream/wire.py) against a scripted loopback server: framing, keep-alive,
deadlines and failures as httpx's exceptions; and that the guard uses it only where httpx would send directly."""

from __future__ import annotations

import gzip
import socket
import threading
import time

import anthropic
import httpx2
import pytest

from core.upstream import deadline
from core.upstream.poster import Poster
from core.upstream.wire import Pool

TIMEOUT = httpx2.Timeout(2.0, connect=2.0)


class Server:
    """Accepts connections; answers each request with the next scripted list of byte pieces (sent apart)."""

    def __init__(self, answers: list[list[bytes]], close_after: bool = False, hold_s: float = 0.0) -> None:
        self.answers, self.close_after, self.hold_s = answers, close_after, hold_s
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = httpx2.URL(f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1/messages")
        self.connections = 0
        self.requests: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while self.answers:
            conn, _ = self.sock.accept()
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn) -> None:
        with conn:
            buf = b""
            while self.answers:
                while b"\r\n\r\n" not in buf:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buf += data
                head, _, rest = buf.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                while len(rest) < length:
                    rest += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + rest[:length])
                buf = rest[length:]
                for piece in self.answers.pop(0):
                    conn.sendall(piece)
                    time.sleep(0.005)
                if self.close_after:
                    return
            time.sleep(self.hold_s)  # a server that stalls: the connection stays open, silent


def post(pool: Pool, body: bytes = b"{}", stream: bool = False):
    response = pool.post(b"x-api-key: sk-ant-test-fake-wire\r\n", body, TIMEOUT)
    return response if stream else (response, response.read())


def test_content_length_and_chunked_bodies_split_anywhere_on_one_kept_alive_connection():
    chunked = [b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nrequest-id: req_2\r\n\r\n5\r\nhel",
               b"lo\r\n", b"6\r\n world\r", b"\n0\r\n", b"x-trailer: 1\r\n\r\n"]
    server = Server([[b"HTTP/1.1 200 OK\r\ncontent-length: 11\r\nRequest-Id: req_1\r\n\r\nhello", b" world"],
                     chunked, [b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]])
    pool = Pool(server.url)
    response, body = post(pool, b'{"a":1}')
    assert (response.status_code, body, response.headers.get("Request-ID")) == (200, b"hello world", "req_1")
    response, body = post(pool)
    assert body == b"hello world" and response.headers["request-id"] == "req_2"
    assert post(pool)[1] == b"ok"
    assert server.connections == 1  # kept alive across all three
    first = server.requests[0]
    assert first.startswith(b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1:") and first.endswith(b'\r\n\r\n{"a":1}')
    assert b"content-length: 7\r\n" in first and b"x-api-key: sk-ant-test-fake-wire\r\n" in first


def test_a_stream_gives_each_chunk_as_it_arrives_and_then_reuses_the_connection():
    events = [b"event: a\ndata: 1\n\n", b"event: b\ndata: 2\n\n"]
    server = Server([[b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
                      *(b"%x\r\n%s\r\n" % (len(e), e) for e in events), b"0\r\n\r\n"],
                     [b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]])
    pool = Pool(server.url)
    assert b"".join(post(pool, stream=True).iter_bytes()) == b"".join(events)
    assert post(pool)[1] == b"ok" and server.connections == 1


def test_a_gzip_body_is_read_decoded():
    body = gzip.compress(b'{"type":"message"}')
    server = Server([[b"HTTP/1.1 200 OK\r\ncontent-encoding: gzip\r\ncontent-length: %d\r\n\r\n" % len(body),
                      body[:5], body[5:]]])
    assert post(Pool(server.url))[1] == b'{"type":"message"}'


def test_a_connection_the_server_closed_is_not_reused():
    server = Server([[b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"]] * 2, close_after=True)
    pool = Pool(server.url)
    assert post(pool)[1] == b"ok"
    time.sleep(0.05)  # the server has closed it by now
    assert post(pool)[1] == b"ok" and server.connections == 2


def test_a_body_cut_short_is_a_protocol_error_and_a_stall_ends_at_the_deadline():
    server = Server([[b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc"]], close_after=True)
    with pytest.raises(httpx2.RemoteProtocolError):
        post(Pool(server.url))
    stall = Server([[b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc"]], hold_s=3.0)
    token = deadline.until(time.monotonic() + 0.2)
    started = time.monotonic()
    try:
        with pytest.raises(httpx2.ReadTimeout):
            post(Pool(stall.url))
    finally:
        deadline.release(token)
    assert time.monotonic() - started < 1.5


def test_nobody_listening_is_a_connect_error():
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    with pytest.raises(httpx2.ConnectError):
        post(Pool(httpx2.URL(f"http://127.0.0.1:{port}/v1/messages")))


def test_the_lean_path_only_where_httpx_would_send_straight_to_the_origin():
    def poster(http_client):
        sdk = anthropic.Anthropic(api_key="sk-ant-test-fake-wire", base_url="http://127.0.0.1:9", http_client=http_client)
        return Poster(sdk, http_client)

    assert poster(anthropic.DefaultHttpxClient())._pool is not None
    assert poster(httpx2.Client(transport=httpx2.MockTransport(lambda r: httpx2.Response(200))))._pool is None
    assert poster(httpx2.Client(proxy="http://127.0.0.1:3128"))._pool is None
    assert poster(httpx2.Client(transport=httpx2.HTTPTransport(uds="/tmp/none.sock")))._pool is None
