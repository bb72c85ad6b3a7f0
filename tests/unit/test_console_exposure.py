"""What an anonymous visitor can learn or reach: the metrics token item, private readiness reasons, the bind address."""

from __future__ import annotations

import pytest

from core.checklist import items as cl
from core.config import Settings, bind_address, load_settings, replace
from core.health.readiness import _private
from core.upstream.keys import ApiKey


@pytest.mark.parametrize(("environment", "token", "expected"), [
    ("production", None, cl.WARN), ("production", "t" * 32, cl.PASS), ("development", None, cl.PASS)])
def test_the_checklist_warns_while_metrics_are_open_in_production(environment, token, expected):
    settings = replace(Settings(), environment=environment, metrics_token=token)
    status, reason = cl.BY_ID["metrics_token"].check(cl.Facts(settings=settings, now=None))
    assert status == expected and "/metrics" in reason
    assert token is None or token not in reason


@pytest.mark.parametrize("reason", [
    'ledger unavailable: OperationalError: connection to server at "10.0.3.7", port 5433 failed: refused',
    "ledger not writable: IOException: IO Error: Cannot open file /srv/tollgate/ledger.duckdb: denied",
    'ledger unavailable: could not translate host name "db.internal.example" to address',
    "ledger unavailable: postgresql+psycopg://tollgate:hunter2@db.internal:5432/ledger unreachable",
    'ledger unavailable: connection to server at "::1", port 5432 failed'])
def test_readiness_reasons_name_no_host_port_path_or_url(reason):
    shown = _private(reason)
    assert shown.startswith("ledger")
    for secret in ("10.0.3.7", "5433", "5432", "/srv/tollgate", "db.internal", "hunter2", "::1"):
        assert secret not in shown, shown


def test_the_circuit_reason_is_kept_as_written():
    assert _private("circuit open: calls to the API are broken off for 30 s more") == (
        "circuit open: calls to the API are broken off for 30 s more")


def test_demo_mode_binds_loopback_unless_an_address_is_set():
    demo = load_settings(env={}, dotenv_path="/nonexistent")
    assert demo.demo and bind_address(demo) == "127.0.0.1"
    assert bind_address(load_settings(env={"TOLLGATE_ADDRESS": "0.0.0.0"}, dotenv_path="/nonexistent")) == "0.0.0.0"
    keyed = replace(Settings(), keys=(ApiKey("primary", "sk-ant-test-fake-primary-0000", "env"),))
    assert bind_address(keyed) == "0.0.0.0"
