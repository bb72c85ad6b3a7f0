"""``python -m core serve``: the gateway alone (uvicorn, no Streamlit), for replicas that only relay."""

from __future__ import annotations

import importlib.util
import sys


def add_parser(sub) -> None:
    from core.cli.support import bounded_int

    s = sub.add_parser("serve", help="serve the gateway (/v1, /api, /healthz, /readyz, /metrics) with uvicorn")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=bounded_int(0, 65535, "a port"), default=8600)
    s.add_argument("--workers-threads", type=bounded_int(1, 1024, "--workers-threads"), default=128,
                   help="threads for guarded calls at once (each open stream holds one while it waits)")
    s.set_defaults(handler=cmd_serve)


def cmd_serve(args) -> int:
    from core.factory import build_client

    with build_client(source="gateway") as client:
        return run(args, client)


def speedups() -> tuple[str, dict]:
    """uvicorn's HTTP parser and anyio's loop options: httptools and uvloop when installed, else h11 and asyncio.

    The C parser and loop take about 0.5 ms off each relayed request (bench/gateway.py).
    """
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    if importlib.util.find_spec("uvloop") is None:
        return http, {}
    import uvloop

    return http, {"loop_factory": uvloop.new_event_loop}


def protocol(http: str):
    """uvicorn's ``http`` option for ``http``: with httptools, the same parser sending a response's head and
    first chunk in one write (``core.gateway.one_write``: one TCP segment, one wake-up of the caller, fewer)."""
    if http != "httptools":
        return http
    from core.gateway.one_write import OneWriteProtocol

    return OneWriteProtocol


def run(args, client) -> int:
    """Serve until interrupted; ``client`` is the guarded client every request goes through."""
    import anyio.to_thread
    import uvicorn

    from core.gateway.app import Gateway, app

    if client.ledger is not None and not client.ledger.open():
        print(f"warning: the ledger cannot be opened yet ({client.ledger.last_error or 'no answer'}); "
              "keys cannot be checked until it can", file=sys.stderr)
    if client.ledger is not None:  # batch runs: the poller advances batch-mode runs while the gateway serves
        from core.batches.poller import shared_runs

        shared_runs(client)
    refresher = None
    if client.ledger is not None:
        from core.ledger.rollup import Refresher

        # Every replica folds new rows into the rollups (one at a time, by lock), so the raw tail that reports
        # and PostgreSQL budget checks read stays short with no console running.
        refresher = Refresher.every(client.ledger.engine, client.settings.rollup_refresh_s)
    http, loop_options = speedups()
    gateway = Gateway(client.settings, lambda: client, threads=args.workers_threads)

    async def main() -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = args.workers_threads
        config = uvicorn.Config(app(client.settings, client, gateway=gateway), host=args.host, port=args.port,
                                log_level="warning", access_log=False, lifespan="off", http=protocol(http))
        print(f"Tollgate gateway on http://{args.host}:{args.port} (Ctrl-C to stop)", flush=True)
        await uvicorn.Server(config).serve()

    try:
        anyio.run(main, backend_options=loop_options)
    finally:
        gateway.close()
        if refresher is not None:
            refresher.stop()
    return 0
