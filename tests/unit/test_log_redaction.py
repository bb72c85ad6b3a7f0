"""Redaction of keys and personal data, and the JSON/text formatters that apply it to every line."""

from __future__ import annotations

import io
import json
import logging

import pytest

from core.config import load_settings
from core.observability import logs
from core.observability.redact import CARD, EMAIL, KEY, PHONE, luhn_ok, redact, redact_value

CANARY_KEY = "sk-ant-api03-CANARYq1w2e3r4t5y6u7i8o9p0-AAAA"


@pytest.mark.parametrize(("text", "secret", "marker"), [
    (f"use {CANARY_KEY} please", CANARY_KEY, KEY),
    ("openai sk-proj-abcdefgh12345678 too", "sk-proj-abcdefgh12345678", KEY),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig", "eyJhbGciOiJIUzI1NiJ9", KEY),
    ("write to jane.doe+billing@example.co.uk now", "jane.doe+billing@example.co.uk", EMAIL),
    ("call +33 6 12 34 56 78 today", "6 12 34 56 78", PHONE),
    ("call (555) 123-4567 today", "123-4567", PHONE),
    ("call 555.123.4567 today", "555.123.4567", PHONE),
    ("call +15551234567 today", "15551234567", PHONE),
    ("card 4111 1111 1111 1111 exp 12/29", "4111 1111 1111 1111", CARD),
    ("card 5500-0000-0000-0004", "5500-0000-0000-0004", CARD),
    ("card 378282246310005", "378282246310005", CARD),
])
def test_secrets_and_personal_data_are_masked(text, secret, marker):
    out = redact(text)
    assert secret not in out
    assert marker in out


@pytest.mark.parametrize("text", [
    "2026-11-22T16:05:35.123Z", "cost 0.000123456 USD", "latency 123.456 ms", "year 2026, 42 items",
    "id 3f2a1b4c-1234-4abc-8def-1234567890ab", "on 2026-11-22", "from 192.168.100.200",
    "order 4111-1111-1111-1112 (not a card: fails Luhn)", "version 1.2.3", "req_011CYabc123",
])
def test_ordinary_values_survive(text):
    assert redact(text) == text


def test_luhn():
    assert luhn_ok("4111111111111111") and luhn_ok("378282246310005")
    assert not luhn_ok("4111111111111112")


def test_redact_value_walks_structures():
    out = redact_value({"a": ["mail a@b.example", 3], "b": ("x", CANARY_KEY), "c": None})
    assert out == {"a": [f"mail {EMAIL}", 3], "b": ("x", KEY), "c": None}


def _record(msg="plain %s", args=("arg",), fields=None, exc=None) -> logging.LogRecord:
    rec = logging.LogRecord("tollgate.test", logging.WARNING, __file__, 1, msg, args, exc)
    if fields is not None:
        setattr(rec, logs.FIELDS, fields)
    return rec


def test_json_formatter_writes_fields_redacted():
    line = logs.JsonFormatter().format(_record(fields={"event": "call", "user": "bob@example.com",
                                                         "prompt": f"key {CANARY_KEY}", "retries": 2}))
    obj = json.loads(line)
    assert obj["event"] == "call" and obj["level"] == "WARNING" and obj["logger"] == "tollgate.test"
    assert obj["user"] == EMAIL and obj["prompt"] == f"key {KEY}" and obj["retries"] == 2
    assert obj["ts"].endswith("Z")


def test_plain_messages_and_tracebacks_are_redacted_too():
    try:
        raise RuntimeError(f"boom with {CANARY_KEY}")
    except RuntimeError:
        import sys
        exc = sys.exc_info()
    obj = json.loads(logs.JsonFormatter().format(_record(msg="mail %s", args=("x@y.example",), exc=exc)))
    assert obj["event"] == "log" and obj["message"] == f"mail {EMAIL}"
    assert CANARY_KEY not in obj["exc"] and "RuntimeError: boom with [key]" in obj["exc"]
    text = logs.TextFormatter().format(_record(fields={"event": "retry", "code": "overloaded",
                                                      "note": CANARY_KEY}))
    assert "retry" in text and "code=overloaded" in text and CANARY_KEY not in text


def test_configure_installs_json_and_rotating_file(tmp_path):
    log = logging.getLogger("tollgate")
    saved = (log.handlers[:], log.propagate, log.level)
    stream = io.StringIO()
    settings = load_settings(env={}, load_keys=False, log_file=str(tmp_path / "t.log"), log_file_max_bytes=400,
                             log_file_backups=2)
    try:
        installed = logs.configure(settings, stream=stream)
        again = logs.configure(settings, stream=stream)  # idempotent: replaces its own handlers
        assert len([h for h in log.handlers if h in installed]) == 0 and all(h in log.handlers for h in again)
        for i in range(30):
            logs.event(logging.getLogger("tollgate.test"), "limiter_waited", user=f"u{i}", waited_s=0.5)
    finally:
        for h in log.handlers[:]:
            if h not in saved[0]:
                log.removeHandler(h)
                h.close()
        log.handlers[:], log.propagate, log.level = saved[0], saved[1], saved[2]
    lines = stream.getvalue().splitlines()
    assert len(lines) == 30 and all(json.loads(x)["event"] == "limiter_waited" for x in lines)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["t.log", "t.log.1", "t.log.2"]  # rotated at 400 bytes, two backups kept
    assert all(json.loads(x)["event"] == "limiter_waited" for x in (tmp_path / "t.log").read_text().splitlines())


def test_importing_the_library_adds_no_root_handler():
    import core.observability  # noqa: F401

    assert all(isinstance(h, logging.NullHandler) for h in logging.getLogger("tollgate").handlers
               if not getattr(h, "_tollgate_handler", False))
    assert not any(type(h).__module__.startswith("core.") for h in logging.getLogger().handlers)
