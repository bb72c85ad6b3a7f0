"""``budget``: set, remove, show monthly budgets per user (or "*", the organisation's), and list alerts."""

from __future__ import annotations

from decimal import Decimal

from core.cli import support
from core.errors import ValidationError


def add_parser(sub) -> None:
    b = sub.add_parser("budget", help="monthly budgets per user")
    b.set_defaults(handler=cmd_budget)
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


def cmd_budget(args) -> int:
    usd = support.budget_usd(args.usd) if args.action == "set" else None
    month = support.month(args.month) if args.action == "alerts" else None
    with support.stores() as (settings, _, budgets, engine):
        return _budget(args, settings, budgets, engine, usd, month)


def _budget(args, settings, budgets, engine, usd: Decimal | None, month: str | None) -> int:
    from core.accounts import admin
    from core.accounts.users import LOCAL_ADMIN
    from core.budgets.snapshot import write_snapshot
    from core.clock import SystemClock
    from core.factory import snapshot_path

    if args.action == "set":
        if not args.force and not support.known_user(engine, settings.users_file, args.user):
            raise ValidationError(f"No console account and no calls for user {args.user!r}: check the spelling, "
                                  "or add --force to budget a user who has not started yet.", field="user")
        admin.set_budget(budgets, LOCAL_ADMIN, args.user, usd)
        write_snapshot(engine, snapshot_path(settings))
        note = (f" Every call by {args.user} is now refused (a $0 budget blocks; `budget remove` lifts it)."
                if usd == 0 else "")
        print(f"Budget for {args.user}: ${support.plain(usd)} a month.{note}")
        return 0
    if args.action == "remove":
        found = admin.remove_budget(budgets, LOCAL_ADMIN, args.user)
        write_snapshot(engine, snapshot_path(settings))
        print(f"Budget for {args.user} removed." if found else f"{args.user} had no budget.")
        return 0
    if args.action == "alerts":
        return support.emit_frame(budgets.alerts(month), args.json, "No alerts.")
    return support.emit_frame(budgets.status(SystemClock().now()), args.json, "No budgets set.")
