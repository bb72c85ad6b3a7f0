"""``ask``: one guarded call from the command line, streamed or not, with its cost on stderr."""

from __future__ import annotations

import sys

from core.cli import support
from core.errors import LedgerUnavailable, TollgateError


def add_parser(sub) -> None:
    a = sub.add_parser("ask", help="make one guarded call")
    a.add_argument("--user", required=True)
    a.add_argument("--model", default=None, help="model id, alias or tier (simple, balanced, complex)")
    a.add_argument("--max-tokens", type=int, default=None)
    a.add_argument("--system", default=None)
    a.add_argument("--temperature", type=float, default=None)
    a.add_argument("--no-cache", action="store_true", help="skip the response cache")
    a.add_argument("--stream", action="store_true")
    a.add_argument("--json", action="store_true")
    a.add_argument("prompt")
    a.set_defaults(handler=cmd_ask)


def cmd_ask(args) -> int:
    from core.config import load_settings

    # Bad input: one line within a second. Keys are not loaded for it (that imports observability).
    support.refuse_early(args, load_settings(load_keys=False))
    from core.factory import build_client

    # warm_sdk=False: the SDK (about 1.5 s to import) loads at the first send, not to refuse a call.
    with build_client(load_settings(), source="cli", warm_sdk=False) as client:
        kw = dict(user=args.user, model=args.model, max_tokens=args.max_tokens, system=args.system,
                  temperature=args.temperature, use_cache=not args.no_cache)
        try:
            if args.stream:
                stream = client.stream(args.prompt, **kw)
                for delta in stream:
                    if not args.json:
                        print(delta, end="", flush=True)
                result = stream.result
                if not args.json:
                    print()
            else:
                result = client.create(args.prompt, **kw)
        except LedgerUnavailable as err:  # say why the ledger is unreachable (the console holds it?)
            return support.fail(support.ledger_problem(client.ledger, asking=True) or err, args.json)
        except TollgateError as err:
            return support.fail(err, args.json)
        if client.budgets is not None:
            try:
                result.month_to_date_usd = client.budgets.spent(args.user, client.clock.now())
                result.budget_remaining_usd = client.budgets.remaining(args.user, client.clock.now())
            except Exception:  # noqa: BLE001 - the ledger is unreachable: the call itself succeeded
                print("warning: the ledger is unreachable; spend figures left out (the record is spooled)",
                      file=sys.stderr)
        if args.json:
            support.emit(result.to_dict(), True)
        else:
            if not args.stream:
                print(result.text)
            cost = "unpriced" if result.unpriced else f"${result.cost_usd}"
            extra = " (cached)" if result.cached else ""
            print(f"\n— {result.model}: {result.usage.input_tokens} in / {result.usage.output_tokens} out, "
                  f"{cost}{extra}, {result.latency_ms:.0f} ms, {result.retries} retries"
                  f"{support.blocks_note(result)}", file=sys.stderr)
    return 0
