"""Time the ledger's dashboard queries on a big synthetic ledger, DuckDB and/or PostgreSQL, before and after rollups.

    python bench/ledger_queries.py [--rows 10000000] [--backend duckdb|postgres|both] [--db path] [--runs 5]
                                   [--keep] [--no-before] [--writes] [--pg-schema name] [--only text] [--upgrade]

Rows come from ``core.reports.demo_data``'s generator (the console's demo data, vectorised): a
year of calls from 200 users with a skewed share, the demo models, ~91 % ok / 5 % cached /
2 % error / 1.5 % blocked, realistic token mixes, exact costs from the price table. The schema comes from
``migrate`` (so the indexes are the real ones). Each query is timed cold (first run
on a fresh engine) and warm (median of ``--runs``), over a month and over the year: first with every row
unrolled (what the queries cost on raw calls: "before"), then after ``rollup.refresh`` (timed too) folded
them into the rollups ("after"), side by side in one run. PostgreSQL is loaded with COPY into the schema
``i14_rollup_bench`` of ``--pg-url`` (dropped afterwards unless ``--keep``).
``--upgrade`` first turns the ledger into a schema-9 one (no rollups, no ``rolled``) and times its upgrade.
``--writes`` also times ``Ledger.record`` from 50 threads for several DuckDB pool sizes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402

from bench import report_queries  # noqa: E402
from bench.threads import run_threads  # noqa: E402
from core.ledger.engine import make_engine  # noqa: E402
from core.ledger.migrations import migrate  # noqa: E402
from core.reports import (
    demo_data,  # noqa: E402
    queries,  # noqa: E402
)
from core.reports.reprice import reprice  # noqa: E402

START = datetime(2025, 12, 1)
DAYS = 365
USERS = [f"user{i:03d}" for i in range(200)]
USER_WEIGHTS = [1 / (i + 1) ** 0.8 for i in range(200)]  # a few heavy users, a long tail


def generate(db: Path, rows: int, *, start: datetime = START, days: int = DAYS, users=USERS,
             weights=USER_WEIGHTS) -> float:
    """Create the ledger at ``db`` with ``rows`` demo calls (core.reports.demo_data's generator); returns seconds."""
    engine = make_engine(f"duckdb:///{db}", pool_size=1)
    t0 = time.perf_counter()
    migrate(engine)
    for df in demo_data.chunks(rows, start, days, users=users, weights=weights):
        demo_data.insert_frame(engine, df)
    with engine.begin() as conn:
        conn.execute(text("CHECKPOINT"))
    engine.dispose()
    return time.perf_counter() - t0


PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_SCHEMA = "i14_rollup_bench"
BUDGETED = USERS[:20]
ONLY: str | None = None  # --only: a label substring
ROLLUP_TABLES = ("usage_hourly", "usage_hourly_all", "usage_daily", "latency_hourly", "latency_daily",
                 "latency_hourly_all", "latency_daily_all", "usage_daily_all", "usage_monthly")


def generate_pg(url: str, rows: int, *, keep: bool) -> float:
    """Create the ledger in schema PG_SCHEMA of ``url`` with ``rows`` demo calls (COPY); returns seconds."""
    import sqlalchemy as sa

    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if keep and conn.execute(sa.text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :s"),
                                 {"s": PG_SCHEMA}).scalar():
            return 0.0
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE'))
        conn.execute(sa.text(f'CREATE SCHEMA "{PG_SCHEMA}"'))
    admin.dispose()
    engine = make_engine(pg_schema_url(url))
    t0 = time.perf_counter()
    migrate(engine)
    for df in demo_data.chunks(rows, START, DAYS, users=USERS, weights=USER_WEIGHTS):
        copy_frame(engine, df)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE calls"))
    engine.dispose()
    return time.perf_counter() - t0


def pg_schema_url(url: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D%22{PG_SCHEMA}%22"  # quoted: a name may hold '-'


def copy_frame(engine, df) -> None:
    """COPY one ``demo_data.synth`` frame into ``calls`` as CSV (as ``insert_frame`` would store it, much faster)."""
    import io
    import uuid

    units = ("cost_units", *demo_data.PART_UNITS)
    money = ("cost_usd", *queries.COST_PART_COLUMNS)
    cols = [c for c in demo_data.COLUMNS if c not in units]
    out = df[cols].copy()
    for unit, col in zip(units, money, strict=True):
        digits = df[unit].astype("int64").astype(str).str.zfill(11)  # exact: 1e-10 USD units as decimal text
        out[col] = digits.str[:-10] + "." + digits.str[-10:]
    out.insert(0, "id", [str(uuid.uuid4()) for _ in range(len(df))])
    out["unpriced"] = False
    buf = io.StringIO()
    out.to_csv(buf, index=False, header=False)
    with engine.begin() as conn:
        cur = conn.connection.driver_connection.cursor()
        with cur.copy(f"COPY calls ({', '.join(out.columns)}) FROM STDIN WITH (FORMAT csv)") as copy:
            copy.write(buf.getvalue())


def cases() -> list[tuple[str, callable]]:
    """(label, fn(engine)) for every dashboard query, over a month and over the whole year."""
    month = (date(2026, 6, 1), date(2026, 6, 30))
    year = (date(2025, 12, 1), date(2026, 11, 30))
    ny = "America/New_York"
    out = []
    for span, (since, until) in (("month", month), ("year", year)):
        out += [
            (f"usage_by day ({span}, UTC)", lambda e, s=since, u=until: queries.usage_by(e, "day", s, u)),
            (f"usage_by day ({span}, NY)", lambda e, s=since, u=until: queries.usage_by(e, "day", s, u, ny)),
            (f"usage_by user ({span})", lambda e, s=since, u=until: queries.usage_by(e, "user", s, u)),
            (f"usage_by model ({span})", lambda e, s=since, u=until: queries.usage_by(e, "model", s, u)),
            (f"usage_by day+model ({span}, NY)",
             lambda e, s=since, u=until: queries.usage_by(e, ["day", "model"], s, u, ny)),
            (f"totals ({span})", lambda e, s=since, u=until: queries.totals(e, s, u)),
            (f"latency_by_model ({span})", lambda e, s=since, u=until: report_queries.latency_by_model(e, s, u)),
            (f"top_users ({span})", lambda e, s=since, u=until: report_queries.top_users(e, s, u)),
            (f"most_expensive_calls ({span})",
             lambda e, s=since, u=until: queries.most_expensive_calls(e, s, u)),
        ]
    out.append(("month_to_date_by_user (NY)",
                lambda e: report_queries.month_to_date_by_user(e, datetime(2026, 11, 20, tzinfo=UTC), ny)))
    out.append(("usage_by day, one user (year)",
                lambda e: queries.usage_by(e, "day", *year, users=["user007"])))
    out.append(("reprice by model (year)", lambda e: reprice(e, *year)))
    out += page_cases(month, year)
    return out


def page_cases(month, year) -> list[tuple[str, callable]]:
    """The Usage & cost page's whole run (every figure it draws), its what-if panel and its budget table."""
    from core.accounts.users import Principal
    from core.budgets.book import BudgetBook
    from core.clock import SystemClock
    from core.reports import usage

    admin, analyst = Principal("admin", "Admin", "admin"), Principal("user007", "User 7", "analyst")
    out = []
    for span, (since, until) in (("month", month), ("year", year)):
        for who in (admin, analyst):
            f = usage.Filters(since, until, "America/New_York")
            out.append((f"page: report ({span}, {who.role})", lambda e, f=f, w=who: usage.build(e, w, f)))
        f = usage.Filters(since, until, "UTC")
        out.append((f"page: what-if all on haiku ({span})", lambda e, f=f: usage.what_if(
            e, admin, f, usage.all_on("claude-haiku-5-5", queries.distinct(e, "model")))))
    out.append(("page: filter options (admin)", lambda e: usage.options(e, admin)))

    def budget_table(e):
        book = BudgetBook(e, tz="America/New_York", clock=SystemClock())
        return usage.budgets(book, admin, datetime(2026, 11, 20, tzinfo=UTC))
    out.append(("page: budget table (21 budgets)", budget_table))
    return out


def add_budgets(engine) -> None:
    """Budgets for the 20 heaviest users and the organisation (the page's budget table reads them)."""
    from core.ledger.schema import budgets

    with engine.begin() as conn:
        conn.execute(budgets.delete())
        conn.execute(budgets.insert(), [{"user_id": u, "monthly_usd": 100, "updated_at": datetime(2026, 1, 1)}
                                        for u in (*BUDGETED, "*")])


def time_queries(url: str, runs: int) -> list[tuple[str, float, float, int]]:
    """(label, cold seconds, warm median seconds, result rows) for each case."""
    results = []
    for label, fn in cases():
        if ONLY and ONLY not in label:
            continue
        engine = make_engine(url)
        t0 = time.perf_counter()
        df = fn(engine)
        cold = time.perf_counter() - t0
        warm = []
        for _ in range(runs):
            t0 = time.perf_counter()
            fn(engine)
            warm.append(time.perf_counter() - t0)
        engine.dispose()
        results.append((label, cold, statistics.median(warm), len(df) if hasattr(df, '__len__') else 1))
    return results


def time_writes(pool_sizes=(1, 2, 4, 8), threads: int = 50, per_thread: int = 40) -> None:
    """Ledger.record throughput with ``threads`` writers, per DuckDB pool size (file and memory)."""
    import uuid
    from decimal import Decimal

    from core.ledger.spool import Spool
    from core.ledger.store import Ledger
    from core.types import CallRecord, Usage

    def rec() -> CallRecord:
        return CallRecord(id=str(uuid.uuid4()), ts=datetime.now(UTC), user="bench", model=demo_data.FALLBACK_MODEL,
                          status="ok", usage=Usage(1200, 300), cost_usd=Decimal("0.0012"), latency_ms=900.0)

    print(f"\nLedger.record, {threads} threads x {per_thread} records (fsync'd commits)")
    print(f"{'backend':10} {'pool':>4} {'1 thread ms/rec':>16} {'threads rec/s':>14} {'spooled':>8}")
    with tempfile.TemporaryDirectory(prefix="tollgate-writes-") as tmp:
        for size in pool_sizes:
            for kind, url in (("file", f"duckdb:///{tmp}/w{size}.duckdb"), ("memory", "duckdb:///:memory:")):
                engine = make_engine(url, pool_size=size)
                ledger = Ledger(engine, Spool(f"{tmp}/w{size}{kind}.spool"))
                ledger.open()
                t0 = time.perf_counter()
                for _ in range(100):
                    ledger.record(rec())
                single = (time.perf_counter() - t0) * 10

                def work(_i: int, led: Ledger = ledger) -> None:
                    for _ in range(per_thread):
                        led.record(rec())

                rate = threads * per_thread / run_threads(work, threads)
                print(f"{kind:10} {size:4d} {single:16.2f} {rate:14.0f} {ledger.spool.count():8d}")
                engine.dispose()


def unroll(url: str) -> None:
    """Mark every row unrolled and empty the rollups: the ledger as the queries found it before rollups."""
    engine = make_engine(url)
    with engine.begin() as conn:
        for table in ROLLUP_TABLES:
            conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(text("UPDATE calls SET rolled = FALSE WHERE rolled"))
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE calls"))
    engine.dispose()


def as_v9(url: str) -> None:
    """Turn the ledger back into a schema-9 one (no rollups, no ``rolled``), as a ledger from before rollups is."""
    from core.ledger.ddl import indexes

    engine = make_engine(url)
    with engine.begin() as conn:
        for table in ROLLUP_TABLES:
            conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
        present = indexes(conn, "calls")
        kept = {} if engine.dialect.name == "postgresql" else present  # DuckDB alters no table that has indexes
        for name in kept:
            conn.execute(text(f"DROP INDEX {name}"))
        conn.execute(text("ALTER TABLE calls DROP COLUMN rolled"))  # PostgreSQL drops ix_calls_unrolled with it
        for sql in kept.values():
            if "rolled" not in sql:
                conn.execute(text(sql))
        conn.execute(text("DELETE FROM tollgate_schema WHERE version >= 10"))
        conn.execute(text("UPDATE alembic_version SET version_num = '0009'"))
    engine.dispose()


def upgrade(url: str) -> float:
    """Upgrade a schema-9 ledger to this code's schema (the step that adds the rollups folds its rows); seconds."""
    engine = make_engine(url)
    t0 = time.perf_counter()
    migrate(engine)
    secs = time.perf_counter() - t0
    with engine.connect() as conn:
        left = conn.execute(text("SELECT count(*) FROM calls WHERE NOT rolled")).scalar()
        folded = conn.execute(text("SELECT sum(calls) FROM usage_daily")).scalar()
    engine.dispose()
    print(f"upgrade from schema 9: {secs:.1f} s, {folded:,} rows in the rollups, {left:,} left unrolled")
    return secs


def refresh(url: str) -> float:
    """Fold every row into the rollups; returns seconds."""
    from core.ledger import rollup

    engine = make_engine(url)
    t0 = time.perf_counter()
    n = rollup.refresh(engine, wait=True)
    secs = time.perf_counter() - t0
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    with engine.connect() as conn:
        sizes = {t: conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()
                 for t in ROLLUP_TABLES}
    engine.dispose()
    print(f"refresh folded {n:,} rows in {secs:.1f} s; rollup rows: "
          + ", ".join(f"{t} {v:,}" for t, v in sizes.items()))
    return secs


def run_backend(name: str, url: str, args) -> None:
    if args.upgrade:
        as_v9(url)
        upgrade(url)
    engine = make_engine(url)
    t0 = time.perf_counter()
    migrate(engine)  # a kept ledger made by older code: brought to this code's schema first
    print(f"{name}: migrate {time.perf_counter() - t0:.1f} s")
    add_budgets(engine)
    engine.dispose()
    phases = {}
    if args.before:
        unroll(url)
        phases["before"] = time_queries(url, max(1, args.runs // 3))
    refresh(url)
    phases["after"] = time_queries(url, args.runs)
    heads = "".join(f" {p + ' cold':>12} {p + ' warm':>12}" for p in phases)
    print(f"\n{name}: ms per query (warm = median)\n{'query':42}{heads} {'rows':>6}")
    for i, (label, *_rest) in enumerate(phases["after"]):
        cells = "".join(f" {phases[p][i][1] * 1000:12.1f} {phases[p][i][2] * 1000:12.1f}" for p in phases)
        print(f"{label:42}{cells} {phases['after'][i][3]:6d}")
    for p, res in phases.items():
        worst = max(res, key=lambda r: r[2])
        print(f"{name} {p}: slowest warm {worst[0]} {worst[2] * 1000:.1f} ms")


def main(argv: list[str] | None = None) -> int:
    global PG_SCHEMA, ONLY  # noqa: PLW0603 - one run, one schema and one case filter
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--db", type=Path, help="DuckDB file to create (default: a temporary one)")
    ap.add_argument("--runs", type=int, default=5, help="warm runs per query (median reported)")
    ap.add_argument("--keep", action="store_true", help="reuse --db if it exists, keep it afterwards")
    ap.add_argument("--writes", action="store_true", help="also time Ledger.record per DuckDB pool size")
    ap.add_argument("--backend", choices=("duckdb", "postgres", "both"), default="duckdb")
    ap.add_argument("--pg-url", default=PG_URL, help="PostgreSQL database (schema i14_rollup_bench is used)")
    ap.add_argument("--pg-schema", default=PG_SCHEMA, help="PostgreSQL schema to load (default i14_rollup_bench)")
    ap.add_argument("--only", help="time only the cases whose label contains this text (e.g. 'page:')")
    ap.add_argument("--no-before", dest="before", action="store_false", help="skip the raw (before) timings")
    ap.add_argument("--upgrade", action="store_true",
                    help="first turn the ledger into a schema-9 one and time its upgrade (which folds every row)")
    args = ap.parse_args(argv)
    PG_SCHEMA, ONLY = args.pg_schema, args.only
    if args.backend in ("postgres", "both"):
        secs = generate_pg(args.pg_url, args.rows, keep=args.keep)
        if secs:
            print(f"postgres: generated {args.rows:,} rows in {secs:.1f} s ({args.rows / secs:,.0f} rows/s)")
        run_backend("postgres", pg_schema_url(args.pg_url), args)
        if not args.keep:
            import sqlalchemy as sa
            admin = sa.create_engine(args.pg_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE'))
            admin.dispose()
    if args.backend == "postgres":
        if args.writes:
            time_writes()
        return 0
    tmp = None
    if args.db is None:
        tmp = tempfile.TemporaryDirectory(prefix="tollgate-bench-")
        args.db = Path(tmp.name) / "ledger.duckdb"
    if args.keep and args.db.exists():
        print(f"reusing {args.db}")
    else:
        args.db.unlink(missing_ok=True)
        secs = generate(args.db, args.rows)
        size = args.db.stat().st_size / 2**20
        print(f"generated {args.rows:,} rows in {secs:.1f} s ({args.rows / secs:,.0f} rows/s), "
              f"file {size:,.0f} MiB")
    run_backend("duckdb", f"duckdb:///{args.db}", args)
    if args.writes:
        time_writes()
    if tmp is not None:
        tmp.cleanup()
    elif not args.keep:
        args.db.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
