"""`make run` in demo mode listens on loopback only (its login page shows the demo password)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

from core.config import ROOT
from tests.conftest import _reachable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _outward_ip() -> str | None:
    """This machine's address on its network (no packet is sent), or None with loopback only."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.123", 9))
            ip = s.getsockname()[0]
        except OSError:
            return None
    return None if ip.startswith("127.") else ip


def _run_recipe(tmp_path, port: int, **env_extra) -> subprocess.Popen:
    """The `run` recipe exactly as the Makefile writes it (make -n prints it; install steps are skipped)."""
    lines = subprocess.run(["make", "-n", "run", f"PORT={port}"], cwd=ROOT, capture_output=True, text=True,
                           check=True).stdout.replace("\\\n", " ").splitlines()
    recipe = next(line for line in lines if "streamlit run server.py" in line)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "TOLLGATE_"))}
    env.update(TOLLGATE_LEDGER_URL=f"duckdb:///{tmp_path / 'ledger.duckdb'}",
               TOLLGATE_SPOOL_PATH=str(tmp_path / "spool"), TOLLGATE_USERS_FILE=str(tmp_path / "users.yaml"),
               **env_extra)
    return subprocess.Popen(["bash", "-c", recipe], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


@pytest.mark.parametrize("address, outward", [(None, False), ("0.0.0.0", True)])
def test_demo_mode_listens_on_loopback_unless_an_address_is_set(tmp_path, address, outward):
    ip = _outward_ip()
    if ip is None:
        pytest.skip("this machine has no address besides loopback to test against")
    port = _free_port()
    proc = _run_recipe(tmp_path, port, **({"TOLLGATE_ADDRESS": address} if address else {}))
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).status == 200:
                    break
            except OSError:
                time.sleep(0.3)
        else:
            pytest.fail("the console did not start on 127.0.0.1")
        assert _reachable(ip, port) is outward, f"reachable on {ip}: {not outward}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
