"""Time the ledger's dashboard queries on a big synthetic DuckDB ledger.

    python bench/ledger_queries.py [--rows 10000000] [--db path] [--runs 5] [--keep] [--writes]

Rows come from ``core.reports.demo_data``'s generator (the console's demo data, vectorised): a
year of calls from 200 users with a skewed share, the demo models, ~91 % ok / 5 % cached /
2 % error / 1.5 % blocked, realistic token mixes, exact costs from the price table. The schema comes from
``migrate`` (so the indexes are the real ones). Each query is timed cold (first run
on a fresh engine) and warm (median of ``--runs``), over a month and over the year.
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
    return out


def time_queries(db: Path, runs: int) -> list[tuple[str, float, float, int]]:
    """(label, cold seconds, warm median seconds, result rows) for each case."""
    results = []
    for label, fn in cases():
        engine = make_engine(f"duckdb:///{db}")
        t0 = time.perf_counter()
        df = fn(engine)
        cold = time.perf_counter() - t0
        warm = []
        for _ in range(runs):
            t0 = time.perf_counter()
            fn(engine)
            warm.append(time.perf_counter() - t0)
        engine.dispose()
        results.append((label, cold, statistics.median(warm), len(df)))
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--db", type=Path, help="DuckDB file to create (default: a temporary one)")
    ap.add_argument("--runs", type=int, default=5, help="warm runs per query (median reported)")
    ap.add_argument("--keep", action="store_true", help="reuse --db if it exists, keep it afterwards")
    ap.add_argument("--writes", action="store_true", help="also time Ledger.record per DuckDB pool size")
    args = ap.parse_args(argv)
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
    print(f"{'query':40} {'cold ms':>9} {'warm ms':>9} {'rows':>6}")
    worst = 0.0
    for label, cold, warm, n in time_queries(args.db, args.runs):
        worst = max(worst, warm)
        print(f"{label:40} {cold * 1000:9.1f} {warm * 1000:9.1f} {n:6d}")
    print(f"slowest warm query: {worst * 1000:.1f} ms")
    if args.writes:
        time_writes()
    if tmp is not None:
        tmp.cleanup()
    elif not args.keep:
        args.db.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
