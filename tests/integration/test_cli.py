"""`python -m core`: ask (JSON, text, stream, failures), simulate, usage, budget, reprice, health, config."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import anthropic
import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cli(tmp_path, fresh_sim):
    """Run the CLI in a subprocess: no key, the session simulator, a private DuckDB ledger."""
    sim = fresh_sim
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "TOLLGATE_"))}
    env.update(ANTHROPIC_BASE_URL=sim.url, TOLLGATE_LEDGER_URL=f"duckdb:///{tmp_path / 'l.duckdb'}",
               TOLLGATE_SPOOL_PATH=str(tmp_path / "spool"))

    def run(*args, check_rc=0):
        p = subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=60)
        assert check_rc is None or p.returncode == check_rc, p.stdout + p.stderr
        return p
    return run


def test_ask_json_shape(cli):
    out = json.loads(cli("ask", "--user", "ana", "--model", "claude-haiku-5-5", "--json", "Hello there").stdout)
    assert set(out["usage"]) == {"input_tokens", "output_tokens", "cache_creation_5m_tokens",
                                 "cache_creation_1h_tokens", "cache_read_tokens"}
    assert Decimal(out["cost_usd"]) > 0 and isinstance(out["cost_usd"], str)
    assert out["cached"] is False and out["request_id"].startswith("req_") and out["retries"] == 0
    assert out["text"] and out["model"] == "claude-haiku-5-5" and out["latency_ms"] > 0
    assert out["ledger_id"] and Decimal(out["month_to_date_usd"]) == Decimal(out["cost_usd"])
    assert out["budget_remaining_usd"] is None
    # The whole message: every block as returned, the stop sequence, the usage object as reported.
    assert [b["type"] for b in out["content"]] == ["text"] and out["content"][0]["text"] == out["text"]
    assert out["stop_sequence"] is None and out["usage_detail"]["output_tokens"] == out["usage"]["output_tokens"]


def test_ask_stream_json_has_ttft(cli):
    out = json.loads(cli("ask", "--user", "ana", "--model", "simple", "--stream", "--json", "Hi").stdout)
    assert out["ttft_ms"] is not None and out["ttft_ms"] <= out["latency_ms"]


def test_ask_friendly_text(cli):
    p = cli("ask", "--user", "ana", "--model", "simple", "Hello")
    assert p.stdout.strip() and "$" in p.stderr and "claude-haiku-5-5" in p.stderr


def test_ask_failure_exits_2_with_the_error(cli):
    p = cli("ask", "--user", "ana", "--model", "claude-nope", "--json", "Hello", check_rc=2)
    err = json.loads(p.stdout)["error"]
    assert err["code"] == "unknown_model" and err["retryable"] is False and "claude-haiku-5-5" in err["message"]
    assert set(err) == {"code", "message", "retryable", "request_id"}


def test_budget_then_ask_reports_remaining_and_refuses_past_it(cli):
    cli("budget", "set", "--user", "ana", "--usd", "0.0005", "--force")  # ana has no calls yet
    out = json.loads(cli("ask", "--user", "ana", "--model", "simple", "--max-tokens", "64", "--json", "Hi").stdout)
    left = Decimal(out["budget_remaining_usd"])
    assert left == Decimal("0.0005") - Decimal(out["month_to_date_usd"])
    p = cli("ask", "--user", "ana", "--model", "claude-opus-5-5", "--max-tokens", "4000", "--json", "Hi",
            check_rc=2)
    assert json.loads(p.stdout)["error"]["code"] == "budget_exceeded"
    shown = json.loads(cli("budget", "show", "--json").stdout)
    assert shown[0]["user_id"] == "ana"


def test_usage_json_groups(cli):
    for user in ("ana", "bo", "ana"):
        cli("ask", "--user", user, "--model", "simple", "--json", f"Hi from {user} {time.time()}")
    rows = json.loads(cli("usage", "--by", "user", "--json").stdout)
    by_user = {r["user"]: r for r in rows}
    assert by_user["ana"]["calls"] == 2 and by_user["bo"]["calls"] == 1
    assert all(isinstance(r["cost_usd"], str) and Decimal(r["cost_usd"]) > 0 for r in rows)


def test_reprice_what_if_changes_nothing(cli, tmp_path):
    cli("ask", "--user", "ana", "--model", "simple", "--json", "Hi")
    before = json.loads(cli("usage", "--by", "model", "--json").stdout)
    table = (ROOT / "core" / "data" / "pricing.toml").read_text().replace('output = "0.50"', 'output = "5.00"', 1)
    (tmp_path / "whatif.toml").write_text(table)
    cli("reprice", "--table", str(tmp_path / "whatif.toml"), "--json")
    assert json.loads(cli("usage", "--by", "model", "--json").stdout) == before


def test_health_and_config(cli):
    report = json.loads(cli("health", "--json").stdout)
    assert report["ok"] and report["parts"]["upstream"]["status"] == "ok"
    assert report["parts"]["ledger"]["status"] == "ok" and report["parts"]["ledger"]["write_ms"] > 0
    assert "TOLLGATE_LEDGER_URL" in cli("config").stdout


def test_simulate_serves_the_sdk():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "core", "simulate", "--port", str(port), "--ttft", "0"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert "127.0.0.1" in proc.stdout.readline()
        client = anthropic.Anthropic(api_key="sk-ant-test-fake-0000", base_url=f"http://127.0.0.1:{port}",
                                     max_retries=0)
        for _ in range(50):
            try:
                msg = client.messages.create(model="claude-haiku-5-5", max_tokens=16,
                                             messages=[{"role": "user", "content": "hi"}])
                break
            except anthropic.APIConnectionError:
                time.sleep(0.1)
        assert msg.content[0].text
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_alerts_fire_once_and_budgets_can_be_removed(cli):
    cli("budget", "set", "--user", "ana", "--usd", "0.00005", "--force")
    for i in range(3):
        cli("ask", "--user", "ana", "--model", "simple", "--max-tokens", "32", "--json", f"q{i}", check_rc=None)
    alerts = json.loads(cli("budget", "alerts", "--json").stdout)
    fired = sorted(a["threshold_pct"] for a in alerts if a["user_id"] == "ana")
    assert fired and fired == sorted(set(fired)) and set(fired) <= {50, 80, 100}
    assert "removed" in cli("budget", "remove", "--user", "ana").stdout
    assert json.loads(cli("budget", "show", "--json").stdout) == []
