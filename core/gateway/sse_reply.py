"""ASGI: a guarded stream relayed as SSE, every event that has arrived written the moment it is handed over.

Written straight to the server's ``send``, not through Starlette's ``StreamingResponse``: under
uvicorn (ASGI 2.3) that starts an anyio task group per response before its first byte. One small
task listens for the caller leaving (``http.disconnect``) and stops the writer; the reader then
closes the stream at its next event, settled and recorded as closed by the caller. The body ends
(its last, empty chunk) only once the pump has ended, that is after the call was settled and recorded.
"""

from __future__ import annotations

import asyncio

import anyio

from core.errors import TollgateError
from core.gateway import errors as gw_errors
from core.gateway import relay
from core.gateway.pump import END

MEDIA_TYPE = b"text/event-stream; charset=utf-8"


class SseReply:
    """The ASGI response of a stream that has opened (the pump's OPENED is taken); ``pump`` gives its events."""

    __slots__ = ("_pump", "_request_id", "raw_headers", "status_code")

    def __init__(self, pump, headers: dict[str, str], request_id: str | None) -> None:
        self._pump, self._request_id = pump, request_id
        self.status_code = 200
        self.raw_headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        self.raw_headers.append((b"content-type", MEDIA_TYPE))

    async def __call__(self, scope, receive, send) -> None:
        me, gone = asyncio.current_task(), []

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.append(True)
            me.cancel()

        watcher = asyncio.get_running_loop().create_task(watch())
        pump = self._pump
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            try:
                item = await pump.next()
                while item is not END:  # what has arrived goes out in one write: the same bytes, fewer sends
                    body = b"".join([relay.wire(item), *map(relay.wire, pump.ready())])
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                    pump.written()
                    item = await pump.next()
            except TollgateError as err:
                _, etype = gw_errors.classify(getattr(err, "cause", None) or err)
                body = relay.error_event(etype, err.message, err.request_id or self._request_id)
                await send({"type": "http.response.body", "body": body, "more_body": True})
            watcher.cancel()  # the caller's disconnect after the end is no reason to stop anything
            await _stopped(pump)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            if not gone:
                raise
            me.uncancel()  # the caller left: the reader closes the stream; nothing more to send
        finally:
            watcher.cancel()
            await _stopped(pump)


async def _stopped(pump) -> None:
    """The reader has ended (the call settled and recorded), whatever cancels this request meanwhile."""
    with anyio.CancelScope(shield=True):
        await pump.stop()
