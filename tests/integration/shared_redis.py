"""Redis for the shared-state tests: the machine's (one database, a fresh key prefix, cleaned up) or a private server.

The machine's Redis is never flushed or stopped: each test gets ``tollgate-test-<random>:`` keys in the
database ``TOLLGATE_TEST_REDIS_URL`` names, deleted afterwards. A test that stops Redis starts its own
``redis-server`` on a free port in 18700-18799 with a temporary directory and no persistence.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

from deploy.topology import drop_prefix, free_port

__all__ = ["PORTS", "PrivateRedis", "drop_prefix", "fresh_prefix", "machine_redis_url"]  # drop_prefix: re-exported for the tests
from tests.conftest import REDIS_URL

PORTS = range(18700, 18800)


def fresh_prefix() -> str:
    return f"tollgate-test-{uuid.uuid4().hex[:10]}:"


def _free_port() -> int:
    return free_port(ports=PORTS)


class PrivateRedis:
    """A redis-server subprocess of this test's own (``start``/``stop`` may be called again: same port)."""

    def __init__(self, tmp: Path) -> None:
        self.binary = shutil.which("redis-server")
        self.dir, self.port, self.proc = tmp, _free_port(), None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--dir", str(self.dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # our own child, by its pid
            self.proc.wait(10)
        self.proc = None


def machine_redis_url() -> str:
    return os.environ.get("TOLLGATE_TEST_REDIS_URL", REDIS_URL)
