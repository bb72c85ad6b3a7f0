"""The Simulator: an Anthropic-compatible HTTP server on loopback, run in a daemon thread.

Used by the integration tests (port 0, no latency) and by ``python -m core simulate``
(realistic latency). It binds to loopback only: it has no authentication worth the name.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable
from http.server import ThreadingHTTPServer

from core.clock import SystemClock

from .catalogue import Catalogue, default_catalogue
from .handler import SimHandler
from .state import SimState


def _check_loopback(host: str) -> None:
    if host == "localhost":
        return
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise ValueError(f"the simulator binds to loopback only (127.0.0.1, ::1, localhost), not {host!r}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # dozens of parallel clients connect at once

    def handle_error(self, request, client_address):  # quiet: a client hanging up is normal
        if self.state.verbose:
            super().handle_error(request, client_address)


class _Server6(_Server):
    address_family = socket.AF_INET6


class Simulator:
    """A fake Anthropic API. ``start()`` serves in a daemon thread; ``url`` once started."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, ttft_s: float = 0.0,
                 tokens_per_s: float = 0.0, rpm: float | None = None, input_tpm: float | None = None,
                 output_tpm: float | None = None, reject_keys=(), timeout_hold_s: float = 5.0, *,
                 catalogue: Catalogue | None = None, clock=None,
                 sleep: Callable[[float], object] | None = None, verbose: bool = False,
                 batch_seconds: float = 2.0) -> None:
        _check_loopback(host)
        self.host = host
        self._port = port
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        # Sleeps (latency, timeout holds) end early when the simulator stops.
        self._state_args = dict(clock=clock or SystemClock(), sleep=sleep or self._stopping.wait,
                                ttft_s=ttft_s, tokens_per_s=tokens_per_s, timeout_hold_s=timeout_hold_s,
                                rpm=rpm, input_tpm=input_tpm, output_tpm=output_tpm,
                                reject_keys=tuple(reject_keys), verbose=verbose, batch_seconds=batch_seconds)
        self._catalogue = catalogue
        self._state: SimState | None = None

    # --- lifecycle ----------------------------------------------------------------

    @property
    def state(self) -> SimState:
        if self._state is None:
            self._state = SimState(catalogue=self._catalogue or default_catalogue(), **self._state_args)
        return self._state

    def start(self) -> Simulator:
        if self._server is not None:
            return self
        cls = _Server6 if ":" in self.host else _Server
        server = cls((self.host, self._port), SimHandler, bind_and_activate=False)
        server.state = self.state
        try:
            server.server_bind()
            server.server_activate()
        except OSError:
            server.server_close()
            raise
        self._stopping.clear()
        self._server = server
        self._port = server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                                        name=f"anthropic-sim:{self._port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}"

    # --- control, mirroring /_sim/* ------------------------------------------------

    def script_faults(self, faults, *, append: bool = False) -> int:
        """Faults for the next /v1/messages (or batch create) requests, one each, in order; returns how many wait."""
        return self.state.script.load(faults, append=append)

    def pending_faults(self) -> list[dict]:
        return self.state.script.pending()

    def stats(self) -> dict:
        return self.state.snapshot()

    def reset(self) -> None:
        """Clear the fault script, stats, prompt cache and rate-limit state (config stays)."""
        self.state.reset()

    def configure(self, **changes) -> dict:
        """Change ttft_s, tokens_per_s, timeout_hold_s, rpm, input_tpm, output_tpm, reject_keys,
        count_tokens_fault, service_tier (the tier usage reports: None/"standard", "priority", "batch") or
        batch_seconds (how long a Message Batch stays in progress)."""
        return self.state.configure(**changes)

    def expire_batch(self, batch_id: str) -> None:
        """A fault on demand: the Message Batch ends now, its unfinished requests expired."""
        self.state.batches.expire(batch_id)

    def finish_batch(self, batch_id: str) -> None:
        """End the Message Batch now, every request done."""
        self.state.batches.finish(batch_id)

    def config(self) -> dict:
        return self.state.config()


def serve(port: int, host: str = "127.0.0.1", *, ready: Callable[[Simulator], object] | None = None,
          **config) -> None:
    """Run a simulator in the foreground until KeyboardInterrupt; ``ready`` gets it once listening."""
    sim = Simulator(host=host, port=port, **config).start()
    try:
        if ready is not None:
            ready(sim)
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
