"""One attempt at each Message Batches call through the official SDK (``client.messages.batches.*``).

Uses the transport's SDK clients and its key rotation (``Transport._with_key``), so a rejected key
moves to the next one and every SDK error is translated once (core.upstream.sdk_errors). Answers
are the API's own JSON (dicts), read from the raw response: what the gateway relays as it came.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from core.errors import BatchNotEnded, MalformedResponse


def _json(raw) -> dict:
    try:
        data = json.loads(raw.http_response.content)
    except ValueError:
        raise MalformedResponse(request_id=raw.headers.get("request-id")) from None
    if not isinstance(data, dict):
        raise MalformedResponse(request_id=raw.headers.get("request-id"))
    return data


class BatchTransport:
    """The Message Batches endpoints over ``transport``'s SDK clients (no retries here: the caller's)."""

    def __init__(self, transport) -> None:
        self.transport = transport

    def create(self, requests: list[dict]) -> dict:
        """``POST /v1/messages/batches``: the new MessageBatch."""
        return self.transport._with_key(
            lambda sdk, key: _json(sdk.messages.batches.with_raw_response.create(requests=requests)))

    def retrieve(self, batch_id: str) -> dict:
        return self.transport._with_key(
            lambda sdk, key: _json(sdk.messages.batches.with_raw_response.retrieve(batch_id)))

    def list(self, *, limit: int = 20, after_id: str | None = None, before_id: str | None = None) -> dict:
        """One page: ``{"data": [MessageBatch…], "has_more", "first_id", "last_id"}``, most recent first."""
        kw = {"limit": limit, **({"after_id": after_id} if after_id else {}),
              **({"before_id": before_id} if before_id else {})}
        return self.transport._with_key(lambda sdk, key: _json(sdk.messages.batches.with_raw_response.list(**kw)))

    def cancel(self, batch_id: str) -> dict:
        return self.transport._with_key(
            lambda sdk, key: _json(sdk.messages.batches.with_raw_response.cancel(batch_id)))

    def delete(self, batch_id: str) -> dict:
        return self.transport._with_key(
            lambda sdk, key: _json(sdk.messages.batches.with_raw_response.delete(batch_id)))

    def results(self, batch_id: str) -> Iterator[dict]:
        """Every result line (``{"custom_id", "result"}``) of an ended batch; BatchNotEnded before the end."""
        def fetch(sdk, key) -> list[dict]:
            batch = _json(sdk.messages.batches.with_raw_response.retrieve(batch_id))
            if batch.get("processing_status") != "ended" or not batch.get("results_url"):
                raise BatchNotEnded()
            with sdk.messages.batches.with_streaming_response.results(batch_id) as resp:
                lines = []
                for line in resp.iter_lines():
                    if line.strip():
                        try:
                            lines.append(json.loads(line))
                        except ValueError:
                            raise MalformedResponse(request_id=resp.headers.get("request-id")) from None
                return lines
        return iter(self.transport._with_key(fetch))
