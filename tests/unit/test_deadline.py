"""Read deadlines at the socket (core.upstream.deadline) and x-should-retry in the status table (core.errors)."""

from __future__ import annotations

import time

import httpcore2
import pytest

from core.upstream import deadline, sdk_errors


class _Recorder(httpcore2.NetworkStream):
    """A network stream that records the timeout of each read and write it is asked for."""

    def __init__(self) -> None:
        self.timeouts: list[float | None] = []

    def read(self, max_bytes, timeout=None):
        self.timeouts.append(timeout)
        return b"x"

    def write(self, buffer, timeout=None):
        self.timeouts.append(timeout)


class _Backend(httpcore2.NetworkBackend):
    def __init__(self) -> None:
        self.stream = _Recorder()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        return self.stream


def test_reads_without_a_deadline_keep_their_timeout():
    stream = deadline.DeadlineBackend(_Backend()).connect_tcp("127.0.0.1", 1)
    stream.read(10, timeout=5.0)
    stream.write(b"x", timeout=None)
    assert stream._inner.timeouts == [5.0, None]


def test_a_deadline_shortens_each_read_and_write_to_what_is_left():
    stream = deadline.DeadlineBackend(_Backend()).connect_tcp("127.0.0.1", 1)
    token = deadline.until(time.monotonic() + 1.0)
    try:
        stream.read(10, timeout=60.0)
        stream.read(10, timeout=None)
        stream.write(b"x", timeout=0.5)
    finally:
        deadline.release(token)
    first, second, third = stream._inner.timeouts
    assert 0 < first <= 1.0 and 0 < second <= 1.0 and third == 0.5


def test_a_passed_deadline_times_out_without_reading():
    stream = deadline.DeadlineBackend(_Backend()).connect_tcp("127.0.0.1", 1)
    token = deadline.until(time.monotonic() - 0.001)
    try:
        with pytest.raises(httpcore2.ReadTimeout):
            stream.read(10, timeout=60.0)
        with pytest.raises(httpcore2.WriteTimeout):
            stream.write(b"x", timeout=60.0)
    finally:
        deadline.release(token)
    assert stream._inner.timeouts == []


def test_install_wraps_every_pool_of_the_sdk_client_once():
    import anthropic

    http = anthropic.DefaultHttpxClient()
    try:
        assert deadline.install(http) and deadline.install(http)
        backend = http._transport._pool._network_backend
        assert isinstance(backend, deadline.DeadlineBackend)
        assert not isinstance(backend._inner, deadline.DeadlineBackend)  # installing twice wraps once
    finally:
        http.close()


@pytest.mark.parametrize(("status", "header", "retryable"), [
    (529, None, True), (529, "false", False), (500, "false", False), (400, None, False), (400, "true", True),
    (429, "bogus", True)])
def test_x_should_retry_wins_over_the_status_table(status, header, retryable):
    headers = {} if header is None else {"x-should-retry": header}
    assert sdk_errors.from_status(status, None, headers=headers).retryable is retryable


def test_connecting_counts_against_the_deadline():
    class _Connect(_Backend):
        def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
            self.stream.timeouts.append(timeout)
            return self.stream

    inner = _Connect()
    backend = deadline.DeadlineBackend(inner)
    token = deadline.until(time.monotonic() + 0.5)
    try:
        backend.connect_tcp("127.0.0.1", 1, timeout=10.0)
    finally:
        deadline.release(token)
    assert 0 < inner.stream.timeouts[0] <= 0.5
    token = deadline.until(time.monotonic() - 1)
    try:
        with pytest.raises(httpcore2.ConnectTimeout):
            backend.connect_tcp("127.0.0.1", 1, timeout=10.0)
    finally:
        deadline.release(token)
