"""Anonymous probes say no more than they must: /metrics behind a token when set, /readyz without addresses."""

from __future__ import annotations

import json
import socket

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from core.config import Settings, replace
from core.health import readiness, web

TOKEN = "metrics-test-token-not-a-secret-0123456789"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


@pytest.fixture
def probes():
    def serve(settings) -> TestClient:
        return TestClient(Starlette(routes=web.routes(settings)))
    return serve


def test_metrics_need_the_bearer_token_when_one_is_set(probes):
    c = probes(replace(Settings(), metrics_token=TOKEN, ledger_url=None))
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN},
                    {"Authorization": f"Basic {TOKEN}"}):
        r = c.get("/metrics", headers=headers)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
        assert "tollgate_" not in r.text and TOKEN not in r.text
    r = c.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200 and "tollgate_calls_total" in r.text
    assert c.get("/healthz").status_code == 200  # liveness stays open for orchestrators


def test_metrics_stay_open_without_a_token(probes):
    r = probes(replace(Settings(), ledger_url=None)).get("/metrics")
    assert r.status_code == 200 and "tollgate_calls_total" in r.text


@pytest.mark.parametrize("kind", ["postgres", "duckdb"])
def test_readiness_reasons_name_no_host_port_or_path(tmp_path, kind):
    port = _closed_port()
    if kind == "postgres":
        url, needles = f"postgresql+psycopg://tollgate:hunter2@127.0.0.1:{port}/ledger?connect_timeout=2", (
            "127.0.0.1", str(port), "hunter2", "tollgate:")
    else:
        locked = tmp_path / "private-dir"
        locked.mkdir()
        (locked / "ledger.duckdb").write_text("not a duckdb file")
        url, needles = f"duckdb:///{locked / 'ledger.duckdb'}", (str(tmp_path), "private-dir")
    settings = replace(Settings(), ledger_url=url, spool_path=str(tmp_path / "spool" / "ledger.spool"))
    state = readiness.check(settings, clients=[])
    assert not state.ready and state.reasons and state.reasons[0].startswith("ledger")
    shown = json.dumps(state.to_dict())
    for needle in needles:
        assert needle not in shown, shown
