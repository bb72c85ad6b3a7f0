"""``simulate``, ``health`` and ``config``: serve the simulator, check every collaborator, list the settings."""

from __future__ import annotations

import json

from core.cli import support


def add_simulate_parser(sub) -> None:
    s = sub.add_parser("simulate", help="serve the Anthropic-compatible simulator on 127.0.0.1")
    s.add_argument("--port", type=support.bounded_int(0, 65535, "a port"), default=8787)
    s.add_argument("--ttft", type=float, default=0.25, help="seconds to the first token")
    s.add_argument("--tps", type=float, default=120.0, help="output tokens per second (0: instant)")
    s.add_argument("--batch-seconds", type=float, default=30.0, help="seconds a Message Batch stays in progress")
    s.set_defaults(handler=cmd_simulate)


def add_health_parser(sub) -> None:
    h = sub.add_parser("health", help="API, cache, ledger, breaker, limiter and keys (masked)")
    h.add_argument("--json", action="store_true")
    h.set_defaults(handler=cmd_health)


def add_config_parser(sub) -> None:
    sub.add_parser("config", help="list every setting, its variable and default").set_defaults(handler=cmd_config)


def cmd_simulate(args) -> int:
    from core.simulator import serve

    print(f"Simulator on http://127.0.0.1:{args.port} (Ctrl-C to stop)", flush=True)
    serve(args.port, ttft_s=args.ttft, tokens_per_s=args.tps, batch_seconds=args.batch_seconds)
    return 0


def cmd_health(args) -> int:
    from core.factory import build_client
    from core.health.report import check

    with build_client(source="cli") as client:
        report = check(client)
    support.emit(report, args.json, json.dumps(report, indent=2, default=str))
    return 0 if report["ok"] else 1


def cmd_config(_args) -> int:
    from core.config_docs import documented

    for name, default, doc in documented():
        print(f"{name:32} {default or '(unset)':28} {doc}")
    return 0
