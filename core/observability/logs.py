"""Structured logs through the standard ``logging`` module: a JSON formatter and its set-up.

Tollgate's loggers live under ``tollgate``; a structured line carries its fields in the
record's ``tollgate`` attribute (``logger.info(msg, extra={"tollgate": {...}})``) and
``JsonFormatter`` writes them as one JSON object a line, every string redacted. A library
import adds no handler (only a NullHandler on ``tollgate``); ``configure`` is for the
console and the CLI, and host applications may attach ``JsonFormatter`` to their own handlers.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import sys
from datetime import UTC, datetime

from core.observability.redact import redact, redact_value

ROOT_LOGGER = "tollgate"
FIELDS = "tollgate"  # the LogRecord attribute holding a structured line's fields
_HANDLER_MARK = "_tollgate_handler"
# Fields Tollgate itself generates (ids, enums, numbers as text): nothing in them to redact, and
# skipping them keeps a call line's formatting cheap. Everything else (user, prompt, reply,
# detail, message, any host field) is redacted.
SAFE_FIELDS = frozenset({"event", "request", "status", "code", "cost_usd", "request_id", "key_label",
                         "source", "limit", "previous", "state", "month", "spent_usd", "budget_usd"})

logging.getLogger(ROOT_LOGGER).addHandler(logging.NullHandler())


def fields_of(record: logging.LogRecord) -> dict:
    """The structured fields of a record: its event and data, or the plain message as event 'log'."""
    data = getattr(record, FIELDS, None)
    if data is None:
        return {"event": "log", "message": record.getMessage()}
    return data


def _timestamp(created: float) -> str:
    return datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ts (UTC), level, logger, event, then the event's fields; all redacted."""

    def format(self, record: logging.LogRecord) -> str:
        out = {"ts": _timestamp(record.created), "level": record.levelname, "logger": record.name}
        for key, value in fields_of(record).items():
            if key in SAFE_FIELDS or value is None or isinstance(value, int | float):
                out[key] = value
            else:
                out[key] = redact(value) if isinstance(value, str) else redact_value(value)
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, ensure_ascii=False, default=str, separators=(",", ":"))


class TextFormatter(logging.Formatter):
    """``ts level logger event k=v …`` for people reading a terminal; redacted like the JSON form."""

    def format(self, record: logging.LogRecord) -> str:
        data = dict(fields_of(record))
        event = data.pop("event", "log")
        parts = [_timestamp(record.created), record.levelname, record.name, event]
        parts += [f"{k}={'-' if v is None else v}" for k, v in data.items()]
        line = redact(" ".join(str(p) for p in parts))
        if record.exc_info:
            line += "\n" + redact(self.formatException(record.exc_info))
        return line


def formatter(fmt: str = "json") -> logging.Formatter:
    return JsonFormatter() if fmt == "json" else TextFormatter()


def configure(settings, stream=None) -> list[logging.Handler]:
    """Install Tollgate's handlers on the ``tollgate`` logger (stderr, plus the rotating file if set).

    Idempotent: handlers a previous call installed are replaced, others (a host's) are kept.
    Returns the handlers installed.
    """
    log = logging.getLogger(ROOT_LOGGER)
    log.setLevel(settings.log_level.upper())
    for old in [h for h in log.handlers if getattr(h, _HANDLER_MARK, False)]:
        log.removeHandler(old)
        old.close()
    handlers: list[logging.Handler] = [logging.StreamHandler(stream or sys.stderr)]
    if settings.log_file:
        handlers.append(logging.handlers.RotatingFileHandler(
            settings.log_file, maxBytes=settings.log_file_max_bytes, backupCount=settings.log_file_backups,
            encoding="utf-8"))
    for h in handlers:
        h.setFormatter(formatter(settings.log_format))
        setattr(h, _HANDLER_MARK, True)
        log.addHandler(h)
    log.propagate = False  # our lines are complete; a host's root handler would print them twice
    return handlers


def event(logger: logging.Logger, name: str, level: int = logging.INFO, msg: str | None = None,
          **data) -> None:
    """Log one notable event (``breaker_opened``, ``limiter_waited`` …) as a structured line."""
    if logger.isEnabledFor(level):
        logger.log(level, msg or name, extra={FIELDS: {"event": name, **data}})
