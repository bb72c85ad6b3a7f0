"""One admitted call, from its send to its ending: what ``create`` and the stream both drive.

A ``CallRun`` holds the call (with its limiter permit and budget reservation) and the client
whose collaborators it uses; it knows how to send, and how to settle a success, a failure or
a cancellation through the breaker, the limiter, the recorder and the cache. The stream
talks to it, never to the client's internals.
"""

from __future__ import annotations

from core.cache import CachedResponse
from core.client import idempotent
from core.client.pipeline import Call
from core.errors import TollgateError
from core.observability import events, tracing
from core.types import CallResult


class CallRun:
    """The ending of one admitted call, settled exactly once by ``succeed``, ``fail`` or ``cancel``."""

    __slots__ = ("call", "client")

    def __init__(self, client, call: Call) -> None:
        self.client, self.call = client, call

    def send(self, attempt):
        """Retry loop → one SDK attempt (``attempt(body)``); a failure is settled and recorded, then raised."""
        call = self.call
        try:
            with tracing.current(call.span):
                out, call.retries = self.client.retrier.run(lambda: attempt(call.body), on_retry=self._retried)
            return out
        except TollgateError as err:
            call.retries = getattr(err, "retries", 0)
            self.fail(err)
            raise
        except BaseException as exc:  # KeyboardInterrupt, bugs: still settle and record
            self.fail(TollgateError(f"Interrupted: {type(exc).__name__}"))
            raise

    def open_stream(self, first_content: bool = True, on_skipped=None):
        """Send as a stream: the transport's open stream, once its first content (or only its head) has arrived."""
        transport = self.client.transport
        return self.send(lambda body: transport.open_stream(body, first_content=first_content, on_skipped=on_skipped))

    def _retried(self, attempt: int, err: BaseException, wait_s: float) -> None:
        """Attempt ``attempt`` failed and another follows in ``wait_s``: a log event, a metric, a span event."""
        call, code = self.call, getattr(err, "code", type(err).__name__)
        events.retried(call.id, call.model, attempt, code, wait_s)
        if call.span is not None:
            tracing.retry(call.span, attempt, code, wait_s)

    def cancel(self) -> None:
        """Abandoned before anything was sent: free the limiter slot and a probe, record it as blocked."""
        client, call = self.client, self.call
        err = TollgateError("Cancelled by the caller before it was sent.")
        client.breaker.record_failure(err)  # a local outcome: frees a half-open probe, counts nothing
        call.permit.settle(0, 0)
        call.permit.release()
        client.recorder.refused(call, err)
        idempotent.abandon(client, call)

    def fail(self, err: TollgateError, **kw) -> None:
        """Sent, and ended without an answer: tell the breaker, free the slot, record it (billing any tokens)."""
        client, call = self.client, self.call
        client.breaker.record_failure(err)
        usage = kw.get("usage")
        call.permit.settle(call.prompt_tokens, usage.output_tokens if usage else 0)
        call.permit.release()
        try:
            client.recorder.failed(call, err, **kw)
        finally:
            idempotent.abandon(client, call)

    def succeed(self, reply, ttft_s=None) -> CallResult:
        """Answered (``reply``: the transport's Reply): close the breaker, settle the limiter, price,
        record durably, then cache the whole message."""
        client, call = self.client, self.call
        usage = reply.usage
        client.breaker.record_success()
        call.message_id, call.response_model = reply.message_id, reply.response_model
        call.permit.settle(usage.prompt_tokens - usage.cache_read_tokens, usage.output_tokens)
        call.permit.release()
        client.limiter.observe_headers(reply.headers)  # after settling, so the server's figures have the last word
        priced = client.pricing.price(usage, call.model, call.ts)
        call.priced = priced  # the recorder stores its split by part and its notes
        now = client.clock.monotonic()
        result = CallResult(text=reply.text, model=call.model, usage=usage, cost_usd=priced.cost,
                            price_version=priced.price_version, unpriced=priced.unpriced,
                            latency_ms=(now - call.started) * 1000,
                            ttft_ms=None if ttft_s is None else ttft_s * 1000, request_id=reply.request_id,
                            retries=call.retries, stop_reason=reply.stop_reason, key_label=reply.key_label,
                            flags=call.flags, message_id=reply.message_id, content=reply.content,
                            stop_sequence=reply.stop_sequence, usage_detail=reply.usage_detail,
                            message=reply.message, raw_json=reply.raw_json)
        result.ledger_id = client.recorder.succeeded(call, result)
        idempotent.finish(client, call, result)
        if call.cache_key is not None:
            client.cache.set(call.cache_key, CachedResponse(
                text=reply.text, model=call.model, usage=usage, stop_reason=reply.stop_reason,
                request_id=reply.request_id, created_at=client.clock.now(), price_version=priced.price_version,
                cost_usd=priced.cost, message=_stored(reply)), client.options.cache_ttl_s)
        return result


def _stored(reply) -> dict:
    """The message as the cache keeps it: the SDK's JSON form of what the API sent (unset fields left out)."""
    msg = reply.message
    if isinstance(msg, dict):  # the API's JSON as it came
        return msg
    if isinstance(getattr(msg, "data", None), dict):  # a stream's, folded as JSON (core.upstream.accumulate)
        return msg.data
    if msg is not None and hasattr(msg, "to_dict"):
        return msg.to_dict(warnings=False)
    return {"id": reply.message_id, "type": "message", "role": "assistant", "model": reply.response_model,
            "content": reply.content, "stop_reason": reply.stop_reason, "stop_sequence": reply.stop_sequence,
            "usage": reply.usage_detail}
