"""A `python -m core serve` replica folds new ledger rows into the rollups itself: with no console running, the raw
tail that reports and PostgreSQL budget checks read stays short."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import anthropic
import httpx2
import pytest
import sqlalchemy as sa

from tests.conftest import pg_schema
from tests.integration.gateway_support import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_a_relay_rolls_up_the_rows_it_writes(sim, tmp_path):
    with pg_schema("t_serveroll_") as url:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "TOLLGATE_"))}
        env.update(ANTHROPIC_BASE_URL=sim.url, ANTHROPIC_API_KEY="sk-ant-test-fake-roll-0000",
                   TOLLGATE_LEDGER_URL=url, TOLLGATE_SPOOL_PATH=str(tmp_path / "spool"),
                   TOLLGATE_USERS_FILE=str(tmp_path / "users.yaml"), TOLLGATE_ROLLUP_REFRESH_S="0.2")
        made = subprocess.run([sys.executable, "-m", "core", "key", "create", "--user", "ana", "--json"], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=60)
        assert made.returncode == 0, made.stderr
        key = json.loads(made.stdout)["key"]
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "core", "serve", "--port", str(port)], cwd=ROOT, env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        engine = sa.create_engine(url)
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx2.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx2.HTTPError:
                    pass
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.1)
            sdk = anthropic.Anthropic(base_url=base, api_key=key, max_retries=0)
            for _ in range(3):
                sdk.messages.create(model="claude-haiku-5-5", max_tokens=20,
                                    messages=[{"role": "user", "content": "Hello"}])
            deadline = time.monotonic() + 30
            while True:
                with engine.connect() as conn:
                    rolled, total = conn.execute(sa.text(
                        "SELECT count(*) FILTER (WHERE rolled), count(*) FROM calls WHERE status = 'ok'")).one()
                if total == 3 and rolled == 3:
                    break
                assert time.monotonic() < deadline, f"{rolled} of {total} rows rolled up"
                time.sleep(0.1)
            with engine.connect() as conn:
                assert conn.execute(sa.text("SELECT sum(calls) FROM usage_hourly WHERE user_id = 'ana' "
                                            "AND status = 'ok'")).scalar() == 3
        finally:
            server.terminate()
            server.wait(10)
            engine.dispose()
