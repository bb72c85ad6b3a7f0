"""The budget check at scale: a hold's cost when the month already has many calls, on PostgreSQL and DuckDB.

    python bench/budget_check.py [--rows 1000000] [--runs 30] [--backend postgres|duckdb|both] [--pg URL] [--keep]

Fills one month with ``--rows`` calls (a quarter of them one heavy user's), folds them into the rollups,
adds a minute's calls not yet folded (as between two refreshes), gives the heavy user and the organisation
("*") a budget, then times side by side in one run: the raw ``sum(cost_usd)`` over the month's calls that
the check used to run (user and "*"), the check's read now (``BudgetBook.spent``: on PostgreSQL the rollups
plus the raw rows not in them; DuckDB sums raw calls) and a whole hold (``reserve`` then ``release``), each
the median of ``--runs``. A hold must not grow with the ledger: every call of a budgeted user takes one.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402

from core.budgets.amounts import budget_zone, month_bounds  # noqa: E402
from core.budgets.book import BudgetBook  # noqa: E402
from core.clock import SystemClock  # noqa: E402
from core.ledger import rollup  # noqa: E402
from core.ledger.engine import make_engine  # noqa: E402
from core.ledger.migrations import migrate  # noqa: E402

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SCHEMA = "bench_budget_check"
HEAVY = "heavy"


def _fill(engine, rows: int, now: datetime) -> None:
    """``rows`` priced calls spread over this month up to ``now``, folded into the rollups, then a last minute's
    worth not yet folded (``rows // 40``, at most 24,000: 400 calls/s between two refreshes)."""
    start, _, _ = month_bounds(now, budget_zone("UTC"))
    span_s = max(int((now.replace(tzinfo=None) - start).total_seconds()) - 60, 60)
    _insert(engine, rows, start, span_s, 0)
    rollup.refresh(engine, wait=True)
    _insert(engine, min(rows // 40, 24_000), start, span_s, rows)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE calls"))


def _insert(engine, rows: int, start: datetime, span_s: int, first: int) -> None:
    step = 100_000
    cols = ("id", "ts", "user_id", "model", "status", "input_tokens", "output_tokens", "cost_usd",
            "cache_creation_5m_tokens", "cache_creation_1h_tokens", "cache_read_tokens", "tokens_saved", "retries",
            "web_search_requests", "web_fetch_requests", "unpriced", "streamed", "batch", "source")
    for lo in range(0, rows, step):
        n = min(step, rows - lo)
        with engine.begin() as conn:
            conn.execute(text(f"""INSERT INTO calls ({", ".join(cols)})
                SELECT md5(CAST(g AS VARCHAR)), CAST(:start AS TIMESTAMP) + (g % :span) * INTERVAL '1 second',
                       CASE WHEN g % 4 = 0 THEN '{HEAVY}' ELSE 'u' || CAST(g % 200 AS VARCHAR) END,
                       'claude-sonnet-4-5', 'ok', 100, 50, 0.0000010000, 0, 0, 0, 0, 0, 0, 0, false, false, false, 'cli'
                FROM generate_series(:lo, :hi) AS t(g)"""),
                         {"start": start, "span": span_s, "lo": first + lo + 1, "hi": first + lo + n})


def _median_ms(fn, runs: int) -> float:
    fn()  # warm: the first run compiles statements and fills caches
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def run(label: str, url: str, rows: int, runs: int) -> None:
    engine = make_engine(url)
    migrate(engine)
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    _fill(engine, rows, now)
    print(f"{label}: {rows:,} calls this month written and rolled up in {time.perf_counter() - t0:.0f} s")
    book = BudgetBook(engine, clock=SystemClock())
    book.set_budget(HEAVY, "100000")
    book.set_budget("*", "1000000")
    start, end, _ = month_bounds(now, budget_zone("UTC"))
    raw = "SELECT coalesce(sum(cost_usd), 0) FROM calls WHERE ts >= :a AND ts < :b"

    def raw_sum(user: str | None):
        def go():
            with engine.connect() as conn:
                q, args = (raw, {"a": start, "b": end}) if user is None else \
                    (raw + " AND user_id = :u", {"a": start, "b": end, "u": user})
                return conn.execute(text(q), args).scalar()
        return go

    def hold():
        r = book.reserve(HEAVY, str(uuid.uuid4()), Decimal("0.001"))
        book.release(r.id)

    assert Decimal(raw_sum(None)()) == book.spent("*"), "the check's spend differs from the raw sum"
    figures = [("raw month sum, one user (the old check)", raw_sum(HEAVY)),
               ('raw month sum, "*" (the old check)', raw_sum(None)),
               ("the check's read now, one user", lambda: book.spent(HEAVY)),
               ('the check\'s read now, "*"', lambda: book.spent("*")),
               ('a whole hold now (user and "*" budgets)', hold)]
    for name, fn in figures:
        print(f"  {name:<44} {_median_ms(fn, runs):9.2f} ms")
    engine.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--backend", choices=("postgres", "duckdb", "both"), default="both")
    ap.add_argument("--pg", default=PG_DEFAULT)
    ap.add_argument("--keep", action="store_true", help=f"keep PostgreSQL schema {SCHEMA}")
    args = ap.parse_args()
    if args.backend in ("duckdb", "both"):
        with tempfile.TemporaryDirectory() as d:
            run("DuckDB", f"duckdb:///{Path(d) / 'ledger.duckdb'}", args.rows, args.runs)
    if args.backend in ("postgres", "both"):
        admin = make_engine(args.pg)
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        try:
            run("PostgreSQL", f"{args.pg}?options=-csearch_path%3D{SCHEMA}", args.rows, args.runs)
        finally:
            if not args.keep:
                with admin.begin() as conn:
                    conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
            admin.dispose()


if __name__ == "__main__":
    main()
