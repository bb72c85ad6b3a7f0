"""The small helpers written once and imported everywhere: naive UTC, key shapes, URL passwords, token columns."""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime, timedelta, timezone

import pytest

from core import errors
from core.cache._guard import describe
from core.checklist import scan as checklist_scan
from core.clock import naive_utc
from core.ledger import records
from core.ledger.engine import mask_url
from core.ledger.spool import write_all
from core.observability import prom
from core.observability.redact import redact
from core.reports import queries
from core.types import SERVER_TOOL_FIELDS, USAGE_FIELDS, CallRecord, Usage

FAKE = "sk-ant-test-fake-" + "a1" * 12


def test_naive_utc_converts_aware_keeps_naive_and_defaults_to_now():
    paris = timezone(timedelta(hours=1))
    assert naive_utc(datetime(2026, 1, 1, 0, 30, tzinfo=paris)) == datetime(2025, 12, 31, 23, 30)
    assert naive_utc(datetime(2026, 1, 1, 0, 30)) == datetime(2026, 1, 1, 0, 30)  # naive is UTC already
    before = datetime.now(UTC).replace(tzinfo=None)
    now = naive_utc()
    assert now.tzinfo is None and before <= now <= datetime.now(UTC).replace(tzinfo=None)


def test_one_key_alphabet_serves_scrub_scan_and_redaction():
    assert errors.scrub(f"bad {FAKE}!") == "bad sk-ant-…[redacted]!"
    assert errors.scrub("sk-ant-abc") == "sk-ant-abc"  # three characters are not a key yet
    assert [m.group() for m in checklist_scan.KEY_SHAPE.finditer(f"x {FAKE} sk-ant-short1234")] == [FAKE]
    assert redact(f"key {FAKE} end") == "key [key] end"
    assert errors.key_pattern(20).pattern == checklist_scan.KEY_SHAPE.pattern


@pytest.mark.parametrize("url", ["postgresql://tollgate:s3cret@db:5432/x", "redis://:s3cret@cache:6379/0"])
def test_url_passwords_are_masked_the_same_way_everywhere(url):
    masked = errors.mask_url_passwords(f"could not connect to {url} (timeout)")
    assert "s3cret" not in masked and "***@" in masked
    assert "s3cret" not in describe(RuntimeError(f"connect {url} failed"))
    assert "s3cret" not in mask_url(url + " not a url")  # the pattern fallback of an unparsable URL


def test_the_token_columns_are_the_usage_fields():
    # Every Usage field is a token count, a server-tool count, or where/how it ran: only the first are token columns.
    assert (*USAGE_FIELDS, *SERVER_TOOL_FIELDS, "service_tier", "inference_geo") == tuple(
        f.name for f in dataclasses.fields(Usage))
    assert USAGE_FIELDS == ("input_tokens", "output_tokens", "cache_creation_5m_tokens", "cache_creation_1h_tokens",
                            "cache_read_tokens")
    assert (*USAGE_FIELDS, "tokens_saved") == queries.TOKEN_COLUMNS
    assert [name for _, name in prom.TOKEN_TYPES] == list(USAGE_FIELDS)
    assert [label for label, _ in prom.TOKEN_TYPES] == ["input", "output", "cache_creation_5m",
                                                        "cache_creation_1h", "cache_read"]
    row = records.to_row(_record(Usage(1, 2, 3, 4, 5)))
    assert [row[n] for n in USAGE_FIELDS] == [1, 2, 3, 4, 5]


def _record(usage: Usage) -> CallRecord:
    return CallRecord(id="r1", ts=datetime(2026, 1, 1, tzinfo=UTC), user="ana", model="claude-haiku-5-5",
                      status="ok", usage=usage)


def test_write_all_writes_every_byte(tmp_path):
    data = bytes(range(256)) * (3 << 12)  # 3 MiB: more than one write may take at once
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)
    assert (tmp_path / "f").read_bytes() == data
