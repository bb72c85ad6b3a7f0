"""A gateway on a free loopback port (uvicorn in a thread) over a guarded client on the simulator."""

from __future__ import annotations

import contextlib
import threading
import time

import uvicorn

from core.accounts.keys import KeyStore
from core.cli.serve import protocol, speedups
from core.config import load_settings
from core.factory import build_client
from core.gateway.app import app
from deploy import topology
from tests.integration.conftest import PRIMARY

PORTS = range(18600, 18700)  # the range these helpers may bind


def free_port() -> int:
    """A port in PORTS nobody listens on now."""
    return topology.free_port(ports=PORTS)


@contextlib.contextmanager
def serving(asgi_app):
    """Serve ``asgi_app`` on 127.0.0.1 in a thread; yields its base URL."""
    for _ in range(5):  # another process may take the port between the probe and the bind
        port = free_port()
        server = uvicorn.Server(uvicorn.Config(asgi_app, host="127.0.0.1", port=port, log_level="error",
                                               lifespan="off", access_log=False, http=protocol(speedups()[0])))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        if server.started:
            break
        thread.join(5)
    else:
        raise RuntimeError("the gateway did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


class Gateway:
    """What a test needs: the URL, the guarded client behind it, its key store and a fresh key."""

    def __init__(self, url, client, keys):
        self.url, self.client, self.keys = url, client, keys

    def key(self, user: str = "ana", **kw) -> str:
        return self.keys.create(user, **kw)[1]


@contextlib.contextmanager
def gateway(sim, tmp_path, **overrides):
    """A gateway over a client on ``sim`` with a DuckDB ledger in ``tmp_path`` (settings overridable;
    ``keys=()`` is demo mode)."""
    settings = load_settings(env={}, load_keys=False, keys=overrides.pop("keys", (PRIMARY,)), base_url=sim.url,
                             ledger_url=f"duckdb:///{tmp_path / 'gw.duckdb'}", spool_path=str(tmp_path / "spool"),
                             users_file=str(tmp_path / "users.yaml"), timeout_s=overrides.pop("timeout_s", 5.0),
                             gateway_key_cache_s=overrides.pop("gateway_key_cache_s", 0.0), **overrides)
    client = build_client(settings, source="gateway")
    assert client.ledger.open()
    keys = KeyStore(client.ledger.engine, clock=client.clock)
    try:
        with serving(app(settings, client)) as url:
            yield Gateway(url, client, keys)
    finally:
        client.close()
