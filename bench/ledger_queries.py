"""Time the ledger's dashboard queries on a big synthetic DuckDB ledger.

    python bench/ledger_queries.py [--rows 10000000] [--db path] [--runs 5] [--keep] [--writes]

Rows are generated straight in DuckDB SQL (generate_series): a year of timestamps in
order, 200 users with a skewed share, six models, ~90 % ok / 5 % cached / 3 % error
/ 2 % blocked, plausible token counts and costs. The schema comes from
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

from core.ledger import queries  # noqa: E402
from core.ledger.engine import make_engine  # noqa: E402
from core.ledger.migrations import migrate  # noqa: E402
from core.ledger.reprice import reprice  # noqa: E402

START = datetime(2025, 12, 1)
SECONDS = 365 * 86400
MODELS = ["claude-haiku-5-5", "claude-sonnet-5-5", "claude-opus-5-5", "claude-fable-5-1",
          "claude-sonnet-4-5", "claude-haiku-4-5"]
# USD per token (input, output) per model, for plausible costs only.
PRICES = [(1, 5), (3, 15), (5, 25), (10, 50), (3, 15), (1, 5)]

GENERATE = """
INSERT INTO calls (id, ts, user_id, model, status, error_code, input_tokens, output_tokens,
  cache_creation_5m_tokens, cache_creation_1h_tokens, cache_read_tokens, tokens_saved, cost_usd,
  price_version, unpriced, latency_ms, ttft_ms, streamed, retries, request_id, key_label,
  prompt_sha256, prompt_text, source, detail)
SELECT
  gen_random_uuid()::VARCHAR,
  TIMESTAMP '{start}' + to_milliseconds((i * {span_ms} // {rows})::BIGINT),
  'user' || lpad((floor(pow(random(), 2) * 200))::INT::VARCHAR, 3, '0'),
  m.model,
  s.status,
  CASE s.status WHEN 'error' THEN 'overloaded' WHEN 'blocked' THEN 'budget_exceeded' END,
  t.inp, t.outp, t.c5, t.c1, t.cr,
  CASE s.status WHEN 'cached' THEN t.inp + t.outp ELSE 0 END,
  CASE WHEN s.status IN ('ok', 'error')
       THEN ((t.inp * m.pin + t.outp * m.pout + t.c5 * m.pin * 1.25 + t.c1 * m.pin * 2
              + t.cr * m.pin * 0.1) / 1000000.0)::DECIMAL(20, 10)
       ELSE 0 END,
  'bench/' || m.model || '@2025-01-01',
  FALSE,
  CASE WHEN s.status = 'blocked' THEN NULL ELSE 300 + random() * 4000 + t.outp * 8 END,
  CASE WHEN s.status = 'ok' THEN 150 + random() * 900 END,
  random() < 0.3,
  CASE WHEN random() < 0.05 THEN 1 ELSE 0 END,
  'req_' || i, 'primary', NULL, NULL,
  CASE WHEN random() < 0.7 THEN 'library' ELSE 'console' END,
  NULL
FROM (SELECT i, random() AS r, random() AS rm, random() AS rt FROM generate_series(0, {last}) g(i)) g
CROSS JOIN LATERAL (SELECT
    CASE WHEN g.r < 0.90 THEN 'ok' WHEN g.r < 0.95 THEN 'cached'
         WHEN g.r < 0.98 THEN 'error' ELSE 'blocked' END AS status) s
CROSS JOIN LATERAL (SELECT
    list_extract({models}, 1 + (floor(g.rm * 6))::INT) AS model,
    list_extract({pin}, 1 + (floor(g.rm * 6))::INT) AS pin,
    list_extract({pout}, 1 + (floor(g.rm * 6))::INT) AS pout) m
CROSS JOIN LATERAL (SELECT
    (50 + g.rt * 4000)::INT AS inp, (20 + g.rt * g.rt * 2000)::INT AS outp,
    CASE WHEN g.rt < 0.2 THEN 2000 ELSE 0 END AS c5, 0 AS c1,
    CASE WHEN g.rt > 0.6 THEN 8000 ELSE 0 END AS cr) t
"""


def generate(db: Path, rows: int) -> float:
    """Create the ledger at ``db`` with ``rows`` synthetic calls; returns the seconds it took."""
    engine = make_engine(f"duckdb:///{db}", pool_size=1)
    t0 = time.perf_counter()
    migrate(engine)
    sql = GENERATE.format(
        start=START.isoformat(sep=" "), span_ms=SECONDS * 1000, rows=rows, last=rows - 1,
        models="[" + ", ".join(f"'{m}'" for m in MODELS) + "]",
        pin="[" + ", ".join(str(p[0]) for p in PRICES) + "]",
        pout="[" + ", ".join(str(p[1]) for p in PRICES) + "]")
    with engine.begin() as conn:
        conn.execute(text(sql))
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
            (f"latency_by_model ({span})", lambda e, s=since, u=until: queries.latency_by_model(e, s, u)),
            (f"top_users ({span})", lambda e, s=since, u=until: queries.top_users(e, s, u)),
            (f"most_expensive_calls ({span})",
             lambda e, s=since, u=until: queries.most_expensive_calls(e, s, u)),
        ]
    out.append(("month_to_date_by_user (NY)",
                lambda e: queries.month_to_date_by_user(e, datetime(2026, 11, 20, tzinfo=UTC), ny)))
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
    import threading
    import uuid
    from decimal import Decimal

    from core.ledger.spool import Spool
    from core.ledger.store import Ledger
    from core.types import CallRecord, Usage

    def rec() -> CallRecord:
        return CallRecord(id=str(uuid.uuid4()), ts=datetime.now(UTC), user="bench", model=MODELS[0],
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

                def work(led: Ledger) -> None:
                    for _ in range(per_thread):
                        led.record(rec())

                workers = [threading.Thread(target=work, args=(ledger,)) for _ in range(threads)]
                t0 = time.perf_counter()
                for w in workers:
                    w.start()
                for w in workers:
                    w.join()
                rate = threads * per_thread / (time.perf_counter() - t0)
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
