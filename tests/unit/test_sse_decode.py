"""The SSE decoder the relay reads upstream bodies with: events as the SDK's decoder sees them, every byte kept."""

from __future__ import annotations

import pytest
from anthropic._streaming import SSEDecoder

from core.upstream.sse_decode import Decoder

LF = (b'event: message_start\ndata: {"type":"message_start"}\n\n'
      b'event: ping\ndata: {"type": "ping"}\n\n'
      b': a comment on its own\n\n'
      b'event: content_block_delta\ndata: {"a":\ndata: 1}\nid: 7\nretry: 100\nx-unknown: y\n\n'
      b'\n\n'
      b'data: no name\n\n'
      b'event: text\ndata:no space\ndata:  two spaces\n\n'
      b'event: empty\n\n'
      b'event: message_stop\r\ndata: {"type":"message_stop"}\r\n\r\n'
      b'event: cr\rdata: only\r\r'
      b'event: caf\xc3\xa9\ndata: "\xe2\x82\xac"\n\n')
CRLF = LF.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")
CR = LF.replace(b"\r\n", b"\n").replace(b"\n", b"\r")


def decode(body: bytes, cuts: list[int]) -> list[tuple]:
    """The body fed in pieces cut at ``cuts``, then its end."""
    dec, out, at = Decoder(), [], 0
    for cut in [*cuts, len(body)]:
        out += dec.feed(body[at:cut])
        at = cut
    return out + dec.feed(b"", last=True)


def sdk_events(body: bytes) -> list[tuple]:
    """What the SDK's own decoder makes of the body: (event, data) of each event it yields."""
    return [(s.event, s.data) for s in SSEDecoder().iter_bytes(iter([body]))]


def named(events) -> list[tuple]:
    return [(name, data) for name, data, _ in events if name is not None or data]


@pytest.mark.parametrize("body", [LF, CRLF, CR], ids=["lf", "crlf", "cr"])
def test_split_at_every_byte_the_events_and_bytes_are_the_same(body):
    whole = decode(body, [])
    assert b"".join(raw for _, _, raw in whole) == body  # every byte, in order, comments and pings included
    assert named(whole) == [(n, d) for n, d in sdk_events(body) if n is not None or d]
    for cut in range(1, len(body)):
        assert decode(body, [cut]) == whole, cut
    assert decode(body, list(range(1, len(body)))) == whole  # one byte at a time


def test_fields_as_the_spec_reads_them():
    got = named(decode(LF, []))
    assert got[0] == ("message_start", '{"type":"message_start"}')
    assert ("ping", '{"type": "ping"}') in got
    assert ("content_block_delta", '{"a":\n1}') in got  # data lines joined by \n; id, retry, unknown ignored
    assert (None, "no name") in got
    assert ("text", "no space\n two spaces") in got  # one leading space dropped, not two
    assert ("empty", "") in got and ("cr", "only") in got
    assert got[-1] == ("café", '"€"')


def test_a_crlf_split_between_cr_and_lf_is_one_line_ending():
    dec = Decoder()
    assert dec.feed(b"event: a\r\ndata: 1\r\n\r") == []  # the last CR may be half of CRLF
    (name, data, raw), = dec.feed(b"\nevent: b")
    assert (name, data, raw) == ("a", "1", b"event: a\r\ndata: 1\r\n\r\n")
    assert dec.pending == b"event: b"


def test_an_unfinished_event_at_the_end_is_not_an_event():
    dec = Decoder()
    assert dec.feed(b"event: a\ndata: 1\n") == [] and dec.feed(b"", last=True) == []
    assert dec.pending == b"event: a\ndata: 1\n"
