"""`python -m core serve` headless, and the CLI going through it while the server holds the DuckDB ledger."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx2
import pytest

from tests.integration.gateway_support import free_port

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.slow  # subprocesses: a CLI per step and a server


@pytest.fixture(scope="module")
def served(tmp_path_factory, sim):
    """A key made by the CLI, then `serve` on a free port holding the ledger; yields (cli, url, key)."""
    tmp_path, fresh_sim = tmp_path_factory.mktemp("served"), sim
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "TOLLGATE_"))}
    env.update(ANTHROPIC_BASE_URL=fresh_sim.url, ANTHROPIC_API_KEY="sk-ant-test-fake-cli-0000",
               TOLLGATE_LEDGER_URL=f"duckdb:///{tmp_path / 'l.duckdb'}", TOLLGATE_SPOOL_PATH=str(tmp_path / "spool"),
               TOLLGATE_USERS_FILE=str(tmp_path / "users.yaml"))

    def cli(*args, extra=None, rc=0):
        p = subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env={**env, **(extra or {})},
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == rc, p.stdout + p.stderr
        return p

    key = json.loads(cli("key", "create", "--user", "ana", "--json").stdout)["key"]
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "core", "serve", "--port", str(port)], cwd=ROOT, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            # /readyz, not /healthz: it answers 200 once the ledger is open, i.e. once the file is held.
            if httpx2.get(f"{url}/readyz", timeout=1).status_code == 200:
                break
            time.sleep(0.1)
        except httpx2.HTTPError:
            time.sleep(0.1)
    else:
        server.kill()
        pytest.fail("serve did not start: " + (server.stdout.read() if server.stdout else ""))
    try:
        yield cli, url, key
    finally:
        server.terminate()
        server.wait(10)


def test_serve_answers_the_probes_without_streamlit(served):
    _, url, _ = served
    assert httpx2.get(f"{url}/healthz").json() == {"status": "alive"}
    assert httpx2.get(f"{url}/readyz").status_code in (200, 503)
    assert httpx2.get(f"{url}/metrics").status_code == 200


def test_the_cli_goes_through_the_gateway_while_the_server_holds_the_ledger(served):
    cli, url, key = served
    assert "in use by another process" in cli("usage", rc=2).stderr  # without the gateway: the file is held
    via = {"TOLLGATE_GATEWAY_URL": url, "TOLLGATE_GATEWAY_KEY": key}
    out = json.loads(cli("ask", "--user", "ana", "--model", "simple", "--json", "Hello", extra=via).stdout)
    assert out["text"] and out["model"] == "claude-haiku-5-5" and float(out["cost_usd"]) > 0
    assert out["request_id"].startswith("req_sim_") and Decimal(out["month_to_date_usd"]) == Decimal(out["cost_usd"])
    streamed = cli("ask", "--user", "ana", "--model", "simple", "--stream", "Hi there", extra=via)
    assert streamed.stdout.strip() and "via http://127.0.0.1" in streamed.stderr
    assert "spent" in cli("usage", extra=via).stdout
    assert "No budget set for ana" in cli("budget", "show", extra=via).stdout
    wrong = cli("ask", "--user", "bo", "Hello", extra=via, rc=2)
    assert "belongs to 'ana'" in wrong.stderr and key not in wrong.stderr + wrong.stdout


def test_a_revoked_key_is_one_line_from_the_cli(served):
    cli, url, key = served
    via = {"TOLLGATE_GATEWAY_URL": url, "TOLLGATE_GATEWAY_KEY": key[:-3] + "xyz"}
    p = cli("ask", "--user", "ana", "Hello", extra=via, rc=2)
    assert "Not authenticated" in p.stderr and "Traceback" not in p.stderr and key[-20:] not in p.stderr
