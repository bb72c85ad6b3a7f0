"""API keys: masking, never showing a secret, and rotation (sources: test_key_sources.py)."""

from __future__ import annotations

import logging
import pickle

import pytest

from core.errors import NotConfigured
from core.upstream.keys import ApiKey, KeyRing, mask
from tests.conftest import run_threads

OLD = "sk-ant-test-fake-0000"
NEW = "sk-ant-test-fake-1111"
THIRD = "sk-ant-test-fake-2222"


# --- mask -------------------------------------------------------------------------------

@pytest.mark.parametrize("secret, shown", [
    (OLD, "sk-ant-…0000"),
    ("sk-ant-api03-fake-abcd", "sk-ant-…abcd"),
    ("not-an-anthropic-key-wxyz", "…wxyz"),  # other prefixes are not kept
    ("sk-ant-ab12", "…12"),  # short tail: keeping the prefix and 4 chars would show it all
    ("shortish12", "…12"),
    ("abc", "****"),
    ("", "****"),
    (None, "****"),
    ("sk-ant-test-fake-00\x00\n", "****"),  # odd characters in the tail
])
def test_mask(secret, shown):
    assert mask(secret) == shown


def test_mask_shows_at_most_a_third_of_any_secret_and_never_more_than_four_characters():
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_"
    for n in range(0, 60):
        body = "".join(alphabet[(i * 7) % len(alphabet)] for i in range(n))
        for secret in (body, "sk-ant-" + body):
            shown = mask(secret)
            tail = shown.split("…", 1)[1] if "…" in shown else ""
            assert len(tail) <= 4 and len(tail) * 3 <= len(secret), (secret, shown)
            assert secret.endswith(tail)
            assert shown.startswith("sk-ant-…") == (secret.startswith("sk-ant-") and len(secret) >= 19)


# --- ApiKey never reveals its secret ---------------------------------------------------------

def test_apikey_repr_str_and_format_hide_the_secret():
    key = ApiKey("primary", OLD)
    shown = [repr(key), str(key), f"{key}", f"{key!r}", f"{key!s}", f"{key:>40}", format(key, ""),
             str([key]), repr({"k": key}), "%s %r" % (key, key)]  # noqa: UP031 - old-style on purpose
    for text in shown:
        assert OLD not in text
        assert "primary" in text
    assert repr(key) == "ApiKey(label='primary', masked='sk-ant-…0000')"
    assert key.masked == "sk-ant-…0000"
    assert key.secret == OLD  # still usable by the client


def test_apikey_in_logs_never_shows_the_secret(caplog):
    key = ApiKey("backup", NEW)
    log = logging.getLogger("tollgate.test")
    with caplog.at_level(logging.DEBUG):
        log.info("using %s", key)
        log.info("using %r", key)
        log.info("keys: %s", [key])
        log.info("key=%s", key, extra={"key": key})
    assert len(caplog.records) == 4
    assert NEW not in caplog.text
    assert all(NEW not in r.getMessage() for r in caplog.records)
    assert "backup" in caplog.text


def test_apikey_is_frozen_and_pickles_without_losing_the_secret():
    key = ApiKey("primary", OLD, source="env")
    with pytest.raises(AttributeError):
        key.secret = NEW  # type: ignore[misc]
    again = pickle.loads(pickle.dumps(key))
    assert again == key and again.secret == OLD and again.source == "env"


@pytest.mark.parametrize("bad, words", [
    ("", "empty"), ("   ", "empty"), ("sk-ant-test fake-0000", "whitespace"),
    ("sk-ant-test-\nfake-0000", "line break"), (f" {OLD}", "surrounding whitespace"), (123, "string"),
])
def test_apikey_rejects_bad_secrets_without_quoting_them(bad, words):
    with pytest.raises(NotConfigured) as err:
        ApiKey("primary", bad)
    assert words in err.value.message
    assert "'primary'" in err.value.message
    if isinstance(bad, str) and bad.strip():
        assert "fake" not in err.value.message


def test_apikey_needs_a_label():
    with pytest.raises(NotConfigured, match="label"):
        ApiKey("", OLD)


# --- KeyRing --------------------------------------------------------------------------------

def ring(clock, *labels_and_secrets):
    return KeyRing([ApiKey(label, secret) for label, secret in labels_and_secrets], clock)


def test_empty_ring_is_not_configured(clock):
    with pytest.raises(NotConfigured, match="ANTHROPIC_API_KEY"):
        KeyRing([], clock).current()
    assert KeyRing([], clock).snapshot() == []


def test_rotation_moves_from_old_to_new_on_authentication_failure(clock):
    keys = ring(clock, ("old", OLD), ("new", NEW))
    assert keys.current().label == "old"
    keys.mark_failing("old")  # the client saw a 401 with the old key
    assert keys.current().label == "new"
    assert keys.current().secret == NEW
    keys.mark_ok("old")
    assert keys.current().label == "old"


def test_when_every_key_failed_the_one_failing_longest_ago_is_tried(clock):
    keys = ring(clock, ("a", OLD), ("b", NEW), ("c", THIRD))
    keys.mark_failing("b")
    clock.advance(5)
    keys.mark_failing("a")
    clock.advance(5)
    keys.mark_failing("c")
    assert keys.current().label == "b"
    clock.advance(5)
    keys.mark_failing("b")  # failed again: now the most recent
    assert keys.current().label == "a"


def test_snapshot_for_the_health_page(clock):
    keys = ring(clock, ("old", OLD), ("new", NEW))
    clock.advance(30)
    keys.mark_failing("old")
    snap = keys.snapshot()
    assert [s["label"] for s in snap] == ["old", "new"]
    assert snap[0]["failing"] is True and snap[0]["since"] == clock.now()
    assert snap[1]["failing"] is False and snap[1]["since"] is None
    assert [s["current"] for s in snap] == [False, True]
    assert [s["masked"] for s in snap] == ["sk-ant-…0000", "sk-ant-…1111"]
    assert OLD not in repr(snap) and NEW not in repr(snap)


def test_unknown_or_duplicate_labels_are_refused(clock):
    keys = ring(clock, ("old", OLD))
    with pytest.raises(KeyError, match="nope"):
        keys.mark_failing("nope")
    with pytest.raises(KeyError):
        keys.mark_ok("nope")
    with pytest.raises(ValueError, match="unique"):
        ring(clock, ("same", OLD), ("same", NEW))
    assert keys.labels() == ["old"] and len(keys) == 1 and OLD not in repr(keys)


def test_ring_logs_labels_not_secrets(clock, caplog):
    keys = ring(clock, ("old", OLD), ("new", NEW))
    with caplog.at_level(logging.DEBUG, logger="tollgate.keys"):
        keys.mark_failing("old")
        keys.mark_ok("old")
    assert "old" in caplog.text and "1 of 2" in caplog.text
    assert OLD not in caplog.text and NEW not in caplog.text


def test_ring_is_consistent_under_concurrent_marks(clock):
    keys = ring(clock, *[(f"k{i}", f"sk-ant-test-fake-{i:04d}") for i in range(6)])

    def worker(n):
        for j in range(300):
            label = f"k{(n + j) % 6}"
            keys.mark_failing(label)
            assert keys.current().label in keys.labels()
            keys.snapshot()
            if j % 3:
                keys.mark_ok(label)

    assert run_threads(worker, 4) == []
    for label in keys.labels():
        keys.mark_ok(label)
    assert keys.current().label == "k0" and not any(s["failing"] for s in keys.snapshot())
