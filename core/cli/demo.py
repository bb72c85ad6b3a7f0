"""``demo-data``: fill the ledger with seeded demo calls (source demo-data), or remove every one of them."""

from __future__ import annotations

import sys

from core.cli import support
from core.errors import TollgateError


def add_parser(sub) -> None:
    dd = sub.add_parser("demo-data", help="fill the ledger with demo calls (source demo-data), or --remove them")
    dd.add_argument("--days", type=support.bounded_int(1, 3660, "--days"), default=90,
                    help="days of calls ending now (default 90, at most ten years)")
    dd.add_argument("--seed", type=int, default=0)
    dd.add_argument("--append", action="store_true", help="keep earlier demo data (default: replace it)")
    dd.add_argument("--remove", action="store_true", help="delete every demo-data row and demo budget")
    dd.set_defaults(handler=cmd_demo_data)


def cmd_demo_data(args) -> int:
    from sqlalchemy.exc import DBAPIError

    from core.accounts import admin
    from core.accounts.users import LOCAL_ADMIN
    from core.budgets.snapshot import write_snapshot
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
