"""``python -m core``: the engineers' command line (simulate, ask, usage, budget, reprice, health, config, demo-data, user)."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path

from core.cli import keys as cli_keys
from core.cli import serve as cli_serve
from core.cli import support as cli_support
from core.cli import via_gateway as cli_gateway
from core.errors import LedgerUnavailable, TollgateError, ValidationError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core", description="Tollgate: a guarded Claude client.")
    p.add_argument("-v", "--verbose", action="store_true", help="show every call's log line")
    sub = p.add_subparsers(dest="cmd", required=True)

    s = sub.add_parser("simulate", help="serve the Anthropic-compatible simulator on 127.0.0.1")
    s.add_argument("--port", type=cli_support.bounded_int(0, 65535, "a port"), default=8787)
    s.add_argument("--ttft", type=float, default=0.25, help="seconds to the first token")
    s.add_argument("--tps", type=float, default=120.0, help="output tokens per second (0: instant)")

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

    u = sub.add_parser("usage", help="spend, tokens and calls from the ledger")
    u.add_argument("--since", type=date.fromisoformat, default=None, help="first day (default: 30 days ago)")
    u.add_argument("--until", type=date.fromisoformat, default=None, help="last day, included (default: today)")
    u.add_argument("--by", default="user", help="user, model or day (comma-separate for several)")
    u.add_argument("--tz", default="UTC")
    u.add_argument("--json", action="store_true")

    b = sub.add_parser("budget", help="monthly budgets per user")
    bsub = b.add_subparsers(dest="action", required=True)
    bs = bsub.add_parser("set")
    bs.add_argument("--user", required=True, help='a user, or "*" for the organisation-wide budget')
    bs.add_argument("--usd", required=True, help=f"USD a month, 0 (blocks the user) to {1_000_000:,}")
    bs.add_argument("--force", action="store_true",
                    help="set it for a user with no console account and no calls yet")
    brm = bsub.add_parser("remove")
    brm.add_argument("--user", required=True)
    bsh = bsub.add_parser("show")
    bsh.add_argument("--json", action="store_true")
    bal = bsub.add_parser("alerts", help="alerts fired this month (or --month YYYY-MM)")
    bal.add_argument("--month", default=None)
    bal.add_argument("--json", action="store_true")

    r = sub.add_parser("reprice", help="what-if: recompute cost with the price table (nothing is changed)")
    r.add_argument("--since", type=date.fromisoformat, default=None)
    r.add_argument("--until", type=date.fromisoformat, default=None)
    r.add_argument("--table", default=None, help="a hypothetical price table (TOML); default: the real one")
    r.add_argument("--json", action="store_true")

    h = sub.add_parser("health", help="API, cache, ledger, breaker, limiter and keys (masked)")
    h.add_argument("--json", action="store_true")
    sub.add_parser("config", help="list every setting, its variable and default")
    us = sub.add_parser("user", help="console accounts: add, list, remove, passwd, role")
    usub = us.add_subparsers(dest="action", required=True)
    ua = usub.add_parser("add", help="add an account (password read from stdin or asked for)")
    ua.add_argument("username")
    ua.add_argument("--name", default="")
    ua.add_argument("--role", choices=["admin", "analyst"], default="analyst")
    usub.add_parser("list")
    urm = usub.add_parser("remove")
    urm.add_argument("username")
    upw = usub.add_parser("passwd", help="set a new password (read from stdin or asked for)")
    upw.add_argument("username")
    uro = usub.add_parser("role")
    uro.add_argument("username")
    uro.add_argument("role", choices=["admin", "analyst"])
    dd = sub.add_parser("demo-data", help="fill the ledger with demo calls (source demo-data), or --remove them")
    dd.add_argument("--days", type=cli_support.bounded_int(1, 3660, "--days"), default=90,
                    help="days of calls ending now (default 90, at most ten years)")
    dd.add_argument("--seed", type=int, default=0)
    dd.add_argument("--append", action="store_true", help="keep earlier demo data (default: replace it)")
    dd.add_argument("--remove", action="store_true", help="delete every demo-data row and demo budget")
    cli_keys.add_parser(sub)
    cli_serve.add_parser(sub)
    return p


def _emit(obj, as_json: bool, text: str | None = None) -> None:
    print(json.dumps(obj, default=str, ensure_ascii=False) if as_json else (text if text is not None else obj))


def _fail(err: TollgateError, as_json: bool) -> int:
    if as_json:
        print(json.dumps({"error": err.to_dict()}))
    else:
        print(f"error [{err.code}]: {err.message}", file=sys.stderr)
    return 2


def cmd_ask(args) -> int:
    from core.config import load_settings

    # Bad input: one line within a second. Keys are not loaded for it (that imports observability).
    cli_support.refuse_early(args, load_settings(load_keys=False))
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
            return _fail(cli_support.ledger_problem(client.ledger, asking=True) or err, args.json)
        except TollgateError as err:
            return _fail(err, args.json)
        if client.budgets is not None:
            try:
                result.month_to_date_usd = client.budgets.spent(args.user, client.clock.now())
                result.budget_remaining_usd = client.budgets.remaining(args.user, client.clock.now())
            except Exception:  # noqa: BLE001 - the ledger is unreachable: the call itself succeeded
                print("warning: the ledger is unreachable; spend figures left out (the record is spooled)",
                      file=sys.stderr)
        if args.json:
            _emit(result.to_dict(), True)
        else:
            if not args.stream:
                print(result.text)
            cost = "unpriced" if result.unpriced else f"${result.cost_usd}"
            extra = " (cached)" if result.cached else ""
            print(f"\n— {result.model}: {result.usage.input_tokens} in / {result.usage.output_tokens} out, "
                  f"{cost}{extra}, {result.latency_ms:.0f} ms, {result.retries} retries"
                  f"{cli_support.blocks_note(result)}", file=sys.stderr)
    return 0


def _range(args) -> tuple[date, date]:
    return cli_support.date_range(args.since, args.until, date.today())


@contextmanager
def _stores():
    """(settings, ledger, budgets, engine), the ledger opened (or one line saying why not); disposed after."""
    from core.clock import SystemClock
    from core.config import load_settings
    from core.factory import build_stores

    settings = load_settings()
    if not settings.ledger_url:
        raise TollgateError("The ledger is off (TOLLGATE_LEDGER_URL=off).")
    ledger, budgets, engine = build_stores(settings, SystemClock())
    try:  # disposed, so the DuckDB file is free again when the command returns (in-process callers too)
        problem = cli_support.ledger_problem(ledger)
        if problem is not None:
            raise problem
        yield settings, ledger, budgets, engine
    finally:
        engine.dispose()


def cmd_usage(args) -> int:
    since, until = _range(args)
    from core.reports import queries

    with _stores() as (_, _, _, engine):
        by = [b.strip() for b in args.by.split(",") if b.strip()]
        df = queries.usage_by(engine, by=by, since=since, until=until, tz=args.tz)
    return cli_support.emit_frame(df, args.json, "No calls in that range.")


def cmd_budget(args) -> int:
    usd = cli_support.budget_usd(args.usd) if args.action == "set" else None
    month = cli_support.month(args.month) if args.action == "alerts" else None
    with _stores() as (settings, _, budgets, engine):
        return _budget(args, settings, budgets, engine, usd, month)


def _budget(args, settings, budgets, engine, usd: Decimal | None, month: str | None) -> int:
    from core.accounts import admin
    from core.accounts.users import LOCAL_ADMIN
    from core.budgets.gate import write_snapshot
    from core.clock import SystemClock
    from core.factory import snapshot_path

    if args.action == "set":
        if not args.force and not cli_support.known_user(engine, settings.users_file, args.user):
            raise ValidationError(f"No console account and no calls for user {args.user!r}: check the spelling, "
                                  "or add --force to budget a user who has not started yet.", field="user")
        admin.set_budget(budgets, LOCAL_ADMIN, args.user, usd)
        write_snapshot(engine, snapshot_path(settings))
        note = (f" Every call by {args.user} is now refused (a $0 budget blocks; `budget remove` lifts it)."
                if usd == 0 else "")
        print(f"Budget for {args.user}: ${cli_support.plain(usd)} a month.{note}")
        return 0
    if args.action == "remove":
        found = admin.remove_budget(budgets, LOCAL_ADMIN, args.user)
        write_snapshot(engine, snapshot_path(settings))
        print(f"Budget for {args.user} removed." if found else f"{args.user} had no budget.")
        return 0
    if args.action == "alerts":
        return cli_support.emit_frame(budgets.alerts(month), args.json, "No alerts.")
    return cli_support.emit_frame(budgets.status(SystemClock().now()), args.json, "No budgets set.")


def cmd_key(args) -> int:
    with _stores() as (settings, _, _, engine):
        return cli_keys.run(args, engine, settings)


def cmd_serve(args) -> int:
    from core.factory import build_client

    with build_client(source="gateway") as client:
        return cli_serve.run(args, client)


def cmd_reprice(args) -> int:
    from core.catalog.pricing import PriceTable
    from core.reports.reprice import reprice

    since, until = _range(args)
    if args.table is not None and not Path(args.table).is_file():
        raise ValidationError(f"--table {args.table}: no such price table file.", field="table")
    with _stores() as (settings, _, _, engine):
        table = PriceTable.load(args.table or settings.pricing_file)
        df = reprice(engine, since, until, table=table)
    return cli_support.emit_frame(df, args.json, "No calls in that range.")


def cmd_health(args) -> int:
    from core.factory import build_client
    from core.health.report import check

    with build_client(source="cli") as client:
        report = check(client)
    _emit(report, args.json, json.dumps(report, indent=2, default=str))
    return 0 if report["ok"] else 1


def cmd_demo_data(args) -> int:
    from sqlalchemy.exc import DBAPIError

    from core.accounts import admin
    from core.accounts.users import LOCAL_ADMIN
    from core.budgets.gate import write_snapshot
    from core.config import load_settings
    from core.factory import snapshot_path
    from core.ledger.engine import make_engine, mask_url

    settings = load_settings()
    if not settings.ledger_url:
        raise TollgateError("The ledger is off (TOLLGATE_LEDGER_URL=off).")
    engine = make_engine(settings.ledger_url, pool_size=1)
    try:
        if args.remove:
            n = admin.remove_demo_data(engine, LOCAL_ADMIN)
            print(f"Removed {n:,} demo calls (real calls untouched).")
        else:
            n = admin.fill_demo_data(engine, LOCAL_ADMIN, days=args.days, seed=args.seed, replace=not args.append)
            print(f"Added {n:,} demo calls over {args.days} days (remove them with --remove).")
        write_snapshot(engine, snapshot_path(settings))
    except DBAPIError as exc:
        if "lock" in str(exc.orig).lower():  # DuckDB: one process may write a file at a time
            print(f"error: the ledger {mask_url(engine.url)} is in use by another process (the console?). "
                  "Stop it, or use the Demo data buttons on the console's Users & budgets page.", file=sys.stderr)
            return 2
        raise
    finally:
        engine.dispose()
    return 0


def _password() -> str:
    """A password from a terminal prompt (never echoed), or the first line of stdin when piped."""
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise TollgateError("The two passwords differ.")
        return first
    return sys.stdin.readline().rstrip("\n")


def cmd_user(args) -> int:
    from core.accounts import admin
    from core.accounts.users import LOCAL_ADMIN, UserStore
    from core.config import load_settings

    store = UserStore(load_settings().users_file)
    if args.action == "list":
        for u in store.users():
            print(f"{u['username']:24} {u['role']:8} {u['name']}{'  (demo account)' if u['demo'] else ''}")
    elif args.action == "add":
        who = admin.add_user(store, LOCAL_ADMIN, args.username, args.name, args.role, _password())
        print(f"Added {who.username} ({who.role}) to {store.path}.")
    elif args.action == "remove":
        found = admin.remove_user(store, LOCAL_ADMIN, args.username)
        print(f"Removed {args.username}." if found else f"No user {args.username!r}.")
    elif args.action == "passwd":
        admin.change_user(store, LOCAL_ADMIN, args.username, password=_password())
        print(f"New password set for {args.username}.")
    else:
        admin.change_user(store, LOCAL_ADMIN, args.username, role=args.role)
        print(f"{args.username} is now {args.role}.")
    return 0


def cmd_config(_args) -> int:
    from core.config import documented

    for name, default, doc in documented():
        print(f"{name:32} {default or '(unset)':28} {doc}")
    return 0


def cmd_simulate(args) -> int:
    from core.simulator import serve

    print(f"Simulator on http://127.0.0.1:{args.port} (Ctrl-C to stop)", flush=True)
    serve(args.port, ttft_s=args.ttft, tokens_per_s=args.tps)
    return 0


def main(argv: list[str] | None = None) -> int:
    import logging

    args = _parser().parse_args(argv)
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s")
    # Per-call log lines and the ledger's retry warnings are for services and operators; on a terminal
    # only errors show (with a one-line note where it matters) unless --verbose.
    logging.getLogger().handlers[0].setLevel(logging.INFO if args.verbose else logging.ERROR)
    handler = {"simulate": cmd_simulate, "ask": cmd_ask, "usage": cmd_usage, "budget": cmd_budget,
               "reprice": cmd_reprice, "health": cmd_health, "config": cmd_config,
               "demo-data": cmd_demo_data, "user": cmd_user, "key": cmd_key,
               "serve": cmd_serve}[args.cmd]
    try:
        handler = cli_gateway.instead(args) or handler  # TOLLGATE_GATEWAY_URL: ask, usage, budget show through it
        return handler(args)
    except TollgateError as err:
        return _fail(err, getattr(args, "json", False))
    except (ValueError, OSError) as err:  # bad settings, arguments or files: say which, no traceback
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug or an unexpected fault: one line; -v shows the traceback
        if args.verbose:
            raise
        return cli_support.unexpected(exc)


if __name__ == "__main__":
    sys.exit(main())
