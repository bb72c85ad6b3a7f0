"""Keys from AWS Secrets Manager, against moto's server on loopback; boto3 only when configured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from core.errors import NotConfigured
from core.upstream.keys import KeyRing, load_keys

ROOT = Path(__file__).resolve().parents[2]
OLD = "sk-ant-test-fake-0000"
NEW = "sk-ant-test-fake-1111"
FAKE_AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def endpoint():
    """A moto server on a free loopback port for this module."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    """Fake credentials only, and no shared config or proxy that could send calls elsewhere."""
    for name, value in FAKE_AWS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")


def put_secret(endpoint: str, value: str, region: str = "us-east-1") -> str:
    import boto3

    name = f"tollgate/test-{uuid.uuid4().hex[:8]}"
    client = boto3.client("secretsmanager", region_name=region, endpoint_url=endpoint)
    client.create_secret(Name=name, SecretString=value)
    return name


def test_labelled_keys_from_a_json_secret(endpoint, aws_env):
    secret_id = put_secret(endpoint, json.dumps({"old": OLD, "new": NEW}), region="eu-west-1")
    keys = load_keys(env={"TOLLGATE_AWS_SECRET_ID": secret_id, "TOLLGATE_AWS_REGION": "eu-west-1",
                          "TOLLGATE_AWS_ENDPOINT_URL": endpoint})
    assert [(k.label, k.secret, k.source) for k in keys] == [("old", OLD, "aws"), ("new", NEW, "aws")]
    ring = KeyRing(keys)
    ring.mark_failing("old")
    assert ring.current().secret == NEW


def test_plain_and_named_secrets(endpoint, aws_env):
    plain = put_secret(endpoint, OLD)
    named = put_secret(endpoint, json.dumps({"ANTHROPIC_API_KEY": NEW}))
    for secret_id, expected in [(plain, OLD), (named, NEW)]:
        keys = load_keys(env={"TOLLGATE_AWS_SECRET_ID": secret_id, "TOLLGATE_AWS_ENDPOINT_URL": endpoint})
        assert [(k.label, k.secret) for k in keys] == [("primary", expected)]


def test_env_keys_come_before_aws_and_duplicates_are_dropped(endpoint, aws_env):
    secret_id = put_secret(endpoint, json.dumps({"rotated": NEW, "same": OLD}))
    keys = load_keys(env={"ANTHROPIC_API_KEY": OLD, "TOLLGATE_AWS_SECRET_ID": secret_id,
                          "TOLLGATE_AWS_ENDPOINT_URL": endpoint})
    assert [(k.label, k.source) for k in keys] == [("primary", "env"), ("rotated", "aws")]


def test_a_missing_secret_is_a_clear_error_without_secret_text(endpoint, aws_env):
    put_secret(endpoint, OLD)  # a real secret exists on the server; its value must not leak
    with pytest.raises(NotConfigured) as err:
        load_keys(env={"TOLLGATE_AWS_SECRET_ID": "tollgate/absent", "TOLLGATE_AWS_ENDPOINT_URL": endpoint})
    message = err.value.message
    assert "'tollgate/absent'" in message and "ResourceNotFoundException" in message
    assert "us-east-1" in message
    assert "fake" not in message and "sk-ant" not in str(err.value)
    assert err.value.__cause__ is None  # botocore's own text is not chained


def _boto3_imported(env: dict) -> bool:
    code = ("import sys, core.upstream.keys\n"
            f"core.upstream.keys.load_keys(env={env!r})\n"
            "print('boto3' in sys.modules)")
    run_env = {**os.environ, **FAKE_AWS, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=run_env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout.strip().splitlines()[-1] == "True"


def test_boto3_is_imported_only_when_aws_is_configured(endpoint, aws_env, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(NEW)
    assert _boto3_imported({"ANTHROPIC_API_KEY": OLD, "ANTHROPIC_API_KEY_FILE": str(key_file),
                            "TOLLGATE_AWS_REGION": "eu-west-1"}) is False
    secret_id = put_secret(endpoint, OLD)
    assert _boto3_imported({"TOLLGATE_AWS_SECRET_ID": secret_id,
                            "TOLLGATE_AWS_ENDPOINT_URL": endpoint}) is True
