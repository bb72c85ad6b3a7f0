"""``usage`` and ``reprice``: read-only reports over the ledger (spend per user, model or day; what-if prices)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from core.cli import support
from core.errors import ValidationError


def add_usage_parser(sub) -> None:
    u = sub.add_parser("usage", help="spend, tokens and calls from the ledger")
    u.add_argument("--since", type=date.fromisoformat, default=None, help="first day (default: 30 days ago)")
    u.add_argument("--until", type=date.fromisoformat, default=None, help="last day, included (default: today)")
    u.add_argument("--by", default="user", help="user, model or day (comma-separate for several)")
    u.add_argument("--tz", default="UTC")
    u.add_argument("--json", action="store_true")
    u.set_defaults(handler=cmd_usage)


def add_reprice_parser(sub) -> None:
    r = sub.add_parser("reprice", help="what-if: recompute cost with the price table (nothing is changed)")
    r.add_argument("--since", type=date.fromisoformat, default=None)
    r.add_argument("--until", type=date.fromisoformat, default=None)
    r.add_argument("--table", default=None, help="a hypothetical price table (TOML); default: the real one")
    r.add_argument("--json", action="store_true")
    r.set_defaults(handler=cmd_reprice)


def _range(args) -> tuple[date, date]:
    return support.date_range(args.since, args.until, date.today())


def cmd_usage(args) -> int:
    since, until = _range(args)
    from core.reports import queries

    with support.stores() as (_, _, _, engine):
        by = [b.strip() for b in args.by.split(",") if b.strip()]
        df = queries.usage_by(engine, by=by, since=since, until=until, tz=args.tz)
    return support.emit_frame(df, args.json, "No calls in that range.")


def cmd_reprice(args) -> int:
    from core.catalog.pricing import PriceTable
    from core.reports.reprice import reprice

    since, until = _range(args)
    if args.table is not None and not Path(args.table).is_file():
        raise ValidationError(f"--table {args.table}: no such price table file.", field="table")
    with support.stores() as (settings, _, _, engine):
        table = PriceTable.load(args.table or settings.pricing_file)
        df = reprice(engine, since, until, table=table)
    return support.emit_frame(df, args.json, "No calls in that range.")
