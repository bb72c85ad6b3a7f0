"""Faults the simulator serves on demand: their kinds, Anthropic-shaped error bodies, the script."""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass

# kind -> (HTTP status, error.type, message); spend-cap also carries error.details.
ERROR_FAULTS: dict[str, tuple[int, str, str]] = {
    "400": (400, "invalid_request_error", "Simulated invalid request."),
    "401": (401, "authentication_error", "invalid x-api-key"),
    "403": (403, "permission_error", "Your API key does not have permission to use the specified resource."),
    "404": (404, "not_found_error", "Not found (simulated)."),
    "413": (413, "request_too_large", "Request exceeds the maximum allowed number of bytes."),
    "429": (429, "rate_limit_error", "Number of requests has exceeded your per-minute rate limit (simulated)."),
    "500": (500, "api_error", "Internal server error"),
    "502": (502, "api_error", "Bad gateway"),
    "503": (503, "api_error", "Service unavailable"),
    "504": (504, "api_error", "Gateway timeout"),
    "529": (529, "overloaded_error", "Overloaded"),
    "spend-cap": (429, "rate_limit_error",
                  "You have reached your specified API usage limits. You will regain access on the "
                  "1st of next month at 00:00 UTC."),
}
SPEND_CAP_CODE = "enforced_spend_limit_reached"
# truncate / error-event / malformed-event: a 200 stream that ends early, carries an error event, or
# carries an event that is not JSON, after ``after`` text deltas; trickle: the body one byte per ``hold_s``;
# echo: the reply is the last user message's text, as a prompt-injected model might repeat an attacker's.
BEHAVIOUR_FAULTS = frozenset({"timeout", "disconnect", "stream-error", "truncate", "error-event",
                              "malformed-event", "trickle", "echo"})
SCRIPT_FIELDS = frozenset({"fault", "retry_after", "hold_s", "after", "should_retry"})
FAULT_KINDS = frozenset(ERROR_FAULTS) | BEHAVIOUR_FAULTS


@dataclass(frozen=True)
class Fault:
    """One fault to serve: its kind, an optional retry-after (s), a hold (s: timeout; per byte: trickle),
    the text deltas sent before a stream fault, and an ``x-should-retry`` header value for error replies."""

    kind: str
    retry_after: float | None = None
    hold_s: float | None = None
    after: int | None = None
    should_retry: bool | None = None


def parse_fault(kind, retry_after=None, hold_s=None, after=None, should_retry=None) -> Fault:
    """Build a Fault from header or script values; ValueError names what is wrong."""
    name = str(kind).strip().lower()
    if name not in FAULT_KINDS:
        raise ValueError(f"unknown fault {name!r}; known: {', '.join(sorted(FAULT_KINDS))}")
    ra = _non_negative(retry_after, "retry_after")
    hold = _non_negative(hold_s, "hold_s")
    count = _non_negative(after, "after")
    if count is not None and count != int(count):
        raise ValueError("after must be a whole number of text deltas")
    return Fault(name, ra, hold, None if count is None else int(count), _opt_bool(should_retry))


def _opt_bool(value) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"true", "false"}:
        return text == "true"
    raise ValueError("should_retry must be true or false")


def _non_negative(value, what: str) -> float | None:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be a number of seconds") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"{what} must be a non-negative number of seconds")
    return number


def error_body(error_type: str, message: str, request_id: str, details: dict | None = None) -> dict:
    """Anthropic's error JSON shape."""
    error: dict = {"type": error_type, "message": message}
    if details is not None:
        error["details"] = details
    return {"type": "error", "error": error, "request_id": request_id}


def fault_error(fault: Fault) -> tuple[int, str, str, dict | None]:
    """Status, error type, message and details for an error-reply fault."""
    status, etype, message = ERROR_FAULTS[fault.kind]
    details = {"error_code": SPEND_CAP_CODE} if fault.kind == "spend-cap" else None
    return status, etype, message, details


def retry_after_headers(seconds: float | None) -> dict[str, str]:
    """``retry-after`` in whole seconds (rounded up), plus ``retry-after-ms`` when fractional."""
    if seconds is None:
        return {}
    headers = {"retry-after": str(math.ceil(seconds))}
    if seconds != int(seconds):
        headers["retry-after-ms"] = str(round(seconds * 1000))
    return headers


class FaultScript:
    """Faults for the next requests to /v1/messages, served one per request, in order."""

    def __init__(self) -> None:
        self._queue: deque[Fault] = deque()
        self._lock = threading.Lock()

    def load(self, items, *, append: bool = False) -> int:
        """Replace (or extend) the script; items are dicts ({"fault", "retry_after", "hold_s"}) or kinds."""
        faults = []
        for item in items or ():
            if isinstance(item, dict):
                unknown = set(item) - SCRIPT_FIELDS
                if unknown or "fault" not in item:
                    raise ValueError(f"a scripted fault needs 'fault' (and optionally 'retry_after', "
                                     f"'hold_s', 'after', 'should_retry'); got {sorted(item)}")
                faults.append(parse_fault(item["fault"], item.get("retry_after"), item.get("hold_s"),
                                          item.get("after"), item.get("should_retry")))
            else:
                faults.append(parse_fault(item))
        with self._lock:
            if not append:
                self._queue.clear()
            self._queue.extend(faults)
            return len(self._queue)

    def next(self) -> Fault | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def pending(self) -> list[dict]:
        with self._lock:
            return [{"fault": f.kind, "retry_after": f.retry_after, "hold_s": f.hold_s, "after": f.after,
                     "should_retry": f.should_retry} for f in self._queue]

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
