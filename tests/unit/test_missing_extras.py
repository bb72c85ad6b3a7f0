"""An optional feature switched on without its extra installed: one clear line, never a crash or a wrong lead."""

from __future__ import annotations

import logging
import sys

import pytest

from core.errors import NotConfigured
from core.observability import sentry
from core.upstream.keys import load_keys

FAKE_DSN = "https://fakepublickey0000@o0.ingest.example.invalid/1"


def test_sentry_dsn_without_sentry_sdk_is_one_line_not_a_crash(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, "sentry_sdk", None)  # what `import sentry_sdk` meets when it is absent
    with caplog.at_level(logging.ERROR, logger="tollgate.sentry"):
        assert sentry.init(FAKE_DSN) is False
    assert not sentry.enabled()
    lines = [r.getMessage() for r in caplog.records if r.name == "tollgate.sentry"]
    assert len(lines) == 1 and "\n" not in lines[0]
    assert "SENTRY_DSN" in lines[0] and "sentry-sdk" in lines[0] and "tollgate[sentry]" in lines[0]
    assert "fakepublickey" not in lines[0]  # the DSN carries a key: never quoted


def test_aws_secret_id_without_boto3_says_boto3_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(NotConfigured) as err:
        load_keys(env={"TOLLGATE_AWS_SECRET_ID": "tollgate/fake-keys"}, secrets=None)
    msg = str(err.value)
    assert "TOLLGATE_AWS_SECRET_ID" in msg and "boto3 is not installed" in msg and "tollgate[aws]" in msg
    assert "credentials" not in msg  # not the misleading "check the secret id, region, … credentials"
    assert "\n" not in msg


def test_the_console_starts_with_sentry_dsn_and_no_sentry_sdk(tmp_path):
    """server.py (what the image runs) used to die at import with ModuleNotFoundError."""
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = "import sys; sys.modules['sentry_sdk'] = None; import server; print('started')"
    env = {**os.environ, "SENTRY_DSN": FAKE_DSN, "TOLLGATE_LEDGER_URL": "off", "TOLLGATE_DATA_DIR": str(tmp_path),
           "PYTHONPATH": str(root)}
    p = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.strip().endswith("started"), p.stderr[-2000:]
    assert "sentry-sdk is not installed" in p.stderr and "Traceback" not in p.stderr
    assert "fakepublickey" not in p.stderr
