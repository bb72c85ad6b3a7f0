"""Stale knowledge must not outlive the truth: a PostgreSQL outage seen by one long-running process.

The process reaches PostgreSQL through a loopback TCP proxy of its own; closing the proxy is an
outage for that process only (the machine's PostgreSQL keeps running for everyone else).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from core import errors
from core.factory import snapshot_path

ROOT = Path(__file__).resolve().parents[2]
CALL = dict(model="claude-opus-5-5", max_tokens=200)  # about $0.002 a call: 20 would pass $0.02
pytestmark = pytest.mark.postgres


class TcpProxy:
    """Forwards 127.0.0.1:<port> to ``target`` until ``close()``, which also cuts every live link."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.links: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.links += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def url(self, url: str) -> str:
        parts = urlsplit(url)
        netloc = parts.netloc.rsplit("@", 1)
        host = f"127.0.0.1:{self.port}"
        return urlunsplit(parts._replace(netloc=f"{netloc[0]}@{host}" if len(netloc) == 2 else host))

    def close(self) -> None:
        try:
            self.server.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(), so the port really closes
        except OSError:
            pass
        self.server.close()
        with self.lock:
            for s in self.links:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()


@pytest.fixture
def outage(pg_url, make_client, tmp_path):
    """(the long-running client behind its proxy, the proxy, the direct URL, the spool path)."""
    parts = urlsplit(pg_url)
    proxy = TcpProxy((parts.hostname, parts.port or 5432))
    spool = str(tmp_path / "spool" / "ledger.spool")
    client = make_client(ledger_url=proxy.url(pg_url), spool_path=spool, cache="off")
    assert client.ledger.open()
    yield client, proxy, pg_url, spool
    proxy.close()


def _budget_set_in_another_process(url: str, spool: str, user: str, usd: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "TOLLGATE_"))}
    env.update(TOLLGATE_LEDGER_URL=url, TOLLGATE_SPOOL_PATH=spool)
    done = subprocess.run([sys.executable, "-m", "core", "budget", "set", "--user", user, "--usd", usd],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]


def _try(client, user: str, n: int) -> dict[str, int]:
    out = {"ok": 0, "ledger_unavailable": 0}
    for i in range(n):
        try:
            client.create(f"question {i}", user=user, **CALL)
            out["ok"] += 1
        except errors.LedgerUnavailable:
            out["ledger_unavailable"] += 1
    return out


def test_the_snapshot_written_by_budget_set_beats_this_process_memory(outage, fresh_sim):
    client, proxy, url, spool = outage
    client.create("before any budget", user="bob", **CALL)  # this process now remembers: bob has no budget
    _budget_set_in_another_process(url, spool, "bob", "0.02")
    assert "bob" in Path(snapshot_path(client.settings)).read_text()
    proxy.close()  # PostgreSQL unreachable for this process only; no time passes on its clock
    assert _try(client, "bob", 20) == {"ok": 0, "ledger_unavailable": 20}
    assert fresh_sim.stats()["messages_requests"] == 1
    assert _try(client, "cy", 2) == {"ok": 2, "ledger_unavailable": 0}  # the snapshot: cy has no budget


def _heard(client, deadline_s: float = 10.0) -> None:
    """Wait (real time) until the client's budget listener no longer vouches that bob has no budget."""
    end = time.monotonic() + deadline_s
    while client.budgets.surely_unbudgeted("bob"):
        assert time.monotonic() < end, "the budget listener never heard the change"
        time.sleep(0.01)


def test_a_lost_listener_stops_vouching_for_who_has_no_budget(outage, fresh_sim):
    client, proxy, url, spool = outage
    client.create("before any budget", user="bob", **CALL)
    end = time.monotonic() + 10
    while not client.budgets.surely_unbudgeted("bob"):  # the listener is up and the list read
        assert time.monotonic() < end, "the budget listener never came up"
        client.create("before any budget", user="bob", **CALL)
    proxy.close()  # the listener's link is cut with the rest: memory is no longer kept up to date
    _heard(client)
    assert not client.budgets.surely_unbudgeted("bob")


def test_memory_of_who_has_no_budget_expires(outage, fresh_sim):
    client, proxy, url, spool = outage
    client.create("before any budget", user="bob", **CALL)
    Path(snapshot_path(client.settings)).unlink()  # no snapshot: memory alone decides
    from core.budgets.book import BudgetBook
    from core.clock import SystemClock
    from core.ledger.engine import make_engine

    other = make_engine(url)  # another process's library call: sets the budget, writes no snapshot
    BudgetBook(other, clock=SystemClock()).set_budget("bob", Decimal("0.02"))
    other.dispose()
    _heard(client)  # its NOTIFY reached this process's listener before the outage
    proxy.close()
    ttl = client.settings.unbudgeted_ttl_s
    assert ttl == 30.0
    client.fake_clock.advance(ttl - 1)
    assert _try(client, "bob", 1) == {"ok": 1, "ledger_unavailable": 0}  # still within what is trusted
    client.fake_clock.advance(2)
    assert _try(client, "bob", 20) == {"ok": 0, "ledger_unavailable": 20}
    assert fresh_sim.stats()["messages_requests"] == 2
