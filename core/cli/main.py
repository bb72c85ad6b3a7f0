"""``python -m core``: the engineers' command line; each command group is its own module in core/cli/.

Groups: ops (simulate, health, config), ask, reports (usage, reprice), budget, users (user), demo
(demo-data), keys (key: the gateway's), serve (the gateway alone); via_gateway reroutes ask, usage and
budget show through a running gateway. This module builds the parser from them and turns every failure into one line.
"""

from __future__ import annotations

import argparse
import sys

from core.cli import ask, batch, budget, demo, keys, ops, reports, serve, support, users, via_gateway, worker
from core.errors import TollgateError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core", description="Tollgate: a guarded Claude client.")
    p.add_argument("-v", "--verbose", action="store_true", help="show every call's log line")
    sub = p.add_subparsers(dest="cmd", required=True)
    # The order of `--help`'s list, as it always was.
    for add in (ops.add_simulate_parser, ask.add_parser, reports.add_usage_parser, budget.add_parser,
                reports.add_reprice_parser, ops.add_health_parser, ops.add_config_parser, users.add_parser,
                demo.add_parser, keys.add_parser, serve.add_parser, batch.add_parser, worker.add_parser):
        add(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    import logging

    args = _parser().parse_args(argv)
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    # Per-call log lines and the ledger's retry warnings are for services and operators; on a terminal
    # only errors show (with a one-line note where it matters) unless --verbose.
    logging.getLogger().handlers[0].setLevel(logging.INFO if args.verbose else logging.ERROR)
    try:
        # With TOLLGATE_GATEWAY_URL and _KEY set, ask, usage and budget show go through that gateway.
        return (via_gateway.instead(args) or args.handler)(args)
    except TollgateError as err:
        return support.fail(err, getattr(args, "json", False))
    except (ValueError, OSError) as err:  # bad settings, arguments or files: say which, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug or an unexpected fault: one line; -v shows the traceback
        if args.verbose:
            raise
        return support.unexpected(exc)


if __name__ == "__main__":
    sys.exit(main())
