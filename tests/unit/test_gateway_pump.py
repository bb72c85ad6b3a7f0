"""The gateway's stream pump and its worker pool: a stream opened and read in one pool thread, and the server's speedups."""

from __future__ import annotations

import asyncio
import threading
from typing import NamedTuple

import pytest

from core.cli.serve import speedups
from core.config import load_settings
from core.errors import BudgetExceeded, TollgateError
from core.gateway.app import Gateway
from core.gateway.pump import END, OPENED, Pump


class Event(NamedTuple):
    """What the pump reads of a stream event: its type (the first content delta ends the wait for it)."""

    type: str
    n: int = 0


START, DELTA, STOP = Event("message_start"), Event("content_block_delta", 1), Event("message_stop")


class Stream:
    """A guarded stream's surface as the pump uses it: ``events()`` and ``close()``, noting the threads used."""

    def __init__(self, events, fail: Exception | None = None):
        self._events, self._fail = events, fail
        self.threads: list[str] = []
        self.closed = False

    def events(self):
        self.threads.append(threading.current_thread().name)
        yield from self._events
        if self._fail is not None:
            raise self._fail

    def close(self):
        self.closed = True


def _gateway() -> Gateway:
    return Gateway(load_settings(env={}, load_keys=False), lambda: None, threads=2)


def _drain(open_stream) -> tuple[list, Exception | None, list[str]]:
    opened_in: list[str] = []

    def opener(skipped):
        opened_in.append(threading.current_thread().name)
        return open_stream()

    async def main():
        gw, got = _gateway(), []
        pump = Pump(opener, gw._run)
        try:
            assert await pump.next() is OPENED  # first, before any event: the reply may start
            while (item := await pump.next()) is not END:
                got.append(item)
        except TollgateError as err:
            return got, err
        finally:
            await pump.stop()
            gw.close()
        return got, None

    got, err = asyncio.run(main())
    return got, err, opened_in


def test_a_stream_is_opened_and_read_in_one_pool_thread_its_events_in_order():
    events = [START, DELTA, Event("content_block_delta", 2), STOP]
    stream = Stream(events)
    got, err, opened_in = _drain(lambda: stream)
    assert (got, err) == (events, None)
    assert opened_in == stream.threads and opened_in[0].startswith("tollgate-gateway")  # one hand-off, not two
    assert stream.closed


def test_a_refusal_while_opening_is_raised_from_next_and_nothing_is_closed():
    def refuse():
        raise BudgetExceeded("ana", 0, 1)
    got, err, _ = _drain(refuse)
    assert got == [] and isinstance(err, BudgetExceeded)


def test_a_failure_part_way_ends_the_events_with_it_and_a_bug_becomes_one_typed_error():
    stream = Stream([START, DELTA], fail=RuntimeError("boom"))
    got, err, _ = _drain(lambda: stream)
    assert got == [START, DELTA] and type(err) is TollgateError and "RuntimeError" in err.message
    assert stream.closed


def test_stop_before_the_end_closes_the_stream_at_its_next_event():
    stream = Stream([Event("content_block_delta", i) for i in range(1000)])

    async def main():
        gw = _gateway()
        pump = Pump(lambda _: stream, gw._run)
        assert await pump.next() is OPENED
        first = await pump.next()
        await pump.stop()
        gw.close()
        return first

    assert asyncio.run(main()) == Event("content_block_delta", 0)
    assert stream.closed


def test_ready_hands_over_what_has_arrived_and_leaves_the_end_for_next():
    stream = Stream([START, DELTA, Event("content_block_delta", 2), STOP])

    async def main():
        gw = _gateway()
        pump = Pump(lambda _: stream, gw._run)
        await pump._task  # the reader has finished: every event is queued
        assert await pump.next() is OPENED
        got = [await pump.next(), *pump.ready()]
        assert pump.ready() == []
        end = await pump.next()
        await pump.stop()
        gw.close()
        return got, end

    got, end = asyncio.run(main())
    assert got == [START, DELTA, Event("content_block_delta", 2), STOP] and end is END


def test_serve_uses_the_c_parser_and_uvloop_when_installed():
    pytest.importorskip("httptools")
    uvloop = pytest.importorskip("uvloop")
    assert speedups() == ("httptools", {"loop_factory": uvloop.new_event_loop})


def test_after_the_first_content_the_reader_waits_for_its_write_before_reading_on():
    order: list[str] = []

    class Watched(Stream):
        def events(self):
            yield START
            yield DELTA
            order.append("read on")
            yield STOP

    async def main():
        gw = _gateway()
        pump = Pump(lambda _: Watched([]), gw._run)
        assert await pump.next() is OPENED
        got = [await pump.next()]
        while len(got) < 2:
            got.append(await pump.next())
        await asyncio.sleep(0.01)  # the reader is parked: nothing past the first content has been read
        order.append("written")
        pump.written()
        got.append(await pump.next())
        end = await pump.next()
        await pump.stop()
        gw.close()
        return got, end

    got, end = asyncio.run(main())
    assert got == [START, DELTA, STOP] and end is END
    assert order == ["written", "read on"]


def test_a_writer_that_never_writes_holds_the_reader_only_for_the_bound(monkeypatch):
    import core.gateway.pump as pump_module

    monkeypatch.setattr(pump_module, "FIRST_WRITE_WAIT_S", 0.01)
    stream = Stream([START, DELTA, STOP])
    got, err, _ = _drain(lambda: stream)  # _drain never calls written()
    assert (got, err) == ([START, DELTA, STOP], None)


def test_a_burst_of_events_wakes_the_loop_once_and_keeps_their_order():
    import time

    events = [Event("content_block_delta", i) for i in range(200)]
    stream = Stream([START, *events, STOP])
    wakes = []

    async def main():
        gw = _gateway()
        pump = Pump(lambda _: stream, gw._run)
        real_wake = pump._wake
        pump._wake = lambda: (wakes.append(1), real_wake())
        await asyncio.sleep(0)  # the reader is handed to the pool
        time.sleep(0.2)  # the loop is busy meanwhile: the whole stream is read and handed over
        assert await pump.next() is OPENED
        got = [await pump.next(), *pump.ready()]
        end = await pump.next()
        await pump.stop()
        gw.close()
        return got, end

    got, end = asyncio.run(main())
    assert got == [START, *events, STOP] and end is END
    assert len(wakes) == 1  # one call_soon_threadsafe for 203 items, not one each
